//! The back-pressure policy of the capture pipeline, as pure functions.
//!
//! When compression falls behind, frames pile up in the buffer pool. Before any frame is
//! dropped, the pipeline makes compression cheaper, one step at a time: lower zstd levels,
//! then zstd's fast negative levels, then storing frames uncompressed (level 0). When the
//! backlog drains it climbs back toward the configured level. Only when every buffer is in
//! use does the capture thread drop a frame (and a GAP record says so).

/// The ladder of levels from `configured` down to "stored" (0), cheapest last.
pub fn ladder(configured: i32) -> Vec<i32> {
    let mut steps: Vec<i32> = Vec::new();
    if configured > 0 {
        steps.extend((1..=configured).rev());
        steps.extend([-1, -3, -7]);
    } else if configured < 0 {
        steps.extend(
            [configured, -7]
                .iter()
                .copied()
                .filter(|&l| l <= configured),
        );
        steps.dedup();
    }
    steps.push(0);
    steps
}

/// The next rung given the backlog: `in_flight` buffers of `capacity` are busy.
/// Steps down at ≥ 3/4 full, up at ≤ 1/4 full, one rung per decision.
pub fn next_rung(rung: usize, rungs: usize, in_flight: usize, capacity: usize) -> usize {
    if capacity == 0 || rungs == 0 {
        return rung;
    }
    if in_flight * 4 >= capacity * 3 {
        (rung + 1).min(rungs - 1)
    } else if in_flight * 4 <= capacity {
        rung.saturating_sub(1)
    } else {
        rung
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders() {
        assert_eq!(ladder(3), vec![3, 2, 1, -1, -3, -7, 0]);
        assert_eq!(ladder(1), vec![1, -1, -3, -7, 0]);
        assert_eq!(ladder(0), vec![0]);
        assert_eq!(ladder(-3), vec![-3, -7, 0]);
    }

    #[test]
    fn rungs_move_one_step_with_the_backlog() {
        // (rung, in_flight, capacity) -> next, with 5 rungs
        let table = [
            ((0, 0, 8), 0),
            ((0, 6, 8), 1),
            ((4, 8, 8), 4),
            ((2, 4, 8), 2),
            ((2, 2, 8), 1),
            ((0, 2, 8), 0),
            ((3, 1, 4), 2),
        ];
        for ((rung, busy, cap), want) in table {
            assert_eq!(next_rung(rung, 5, busy, cap), want, "{rung} {busy}/{cap}");
        }
    }
}
