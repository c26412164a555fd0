//! Ring retention: which sealed segments to delete before a new segment is created.
//!
//! Policy, as a pure function so it can be tested as a table: the journal's files plus the
//! new segment must fit the byte budget (`--ring-size`), and the disk must keep its
//! reserve free after the new segment is allocated. Oldest sealed segments go first; the
//! active segment (and anything not sealed) is never deleted. If deleting every sealed
//! segment is not enough, the plan says so and the writer stops cleanly.
//!
//! Deleting is something the user turns on: a journal without a ring budget
//! (`--ring-size`) never loses a sealed segment. When its disk reaches the reserve the
//! plan says the disk is full and capture stops cleanly with everything sealed.

/// A sealed segment that retention may delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The segment's number.
    pub segno: u64,
    /// Its size on disk.
    pub bytes: u64,
}

/// The numbers retention decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Byte budget of the whole journal (`None` = no limit).
    pub ring_bytes: Option<u64>,
    /// Free bytes the disk must keep after the new segment is allocated.
    pub reserve_bytes: u64,
}

/// What retention decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Delete these segments (oldest first), then create the new one.
    Delete(Vec<u64>),
    /// Even with every sealed segment deleted the ring budget cannot hold the new segment.
    RingTooSmall {
        /// Bytes the new segment needs.
        needed: u64,
    },
    /// Even with every sealed segment deleted the disk cannot hold it and its reserve.
    DiskTooFull {
        /// Bytes the new segment and the reserve need.
        needed: u64,
        /// Bytes free.
        available: u64,
    },
}

/// Plans deletions before creating a segment of `new_bytes`.
///
/// `sealed` must be ordered oldest first; `other_bytes` is what the journal holds besides
/// sealed segments (the active segment, tails); `free_bytes` is the disk's free space now.
pub fn plan(
    sealed: &[Sealed],
    other_bytes: u64,
    new_bytes: u64,
    free_bytes: u64,
    budget: Budget,
) -> Plan {
    let mut used: u64 = sealed.iter().map(|s| s.bytes).sum::<u64>() + other_bytes;
    let mut free = free_bytes;
    let fits = |used: u64, free: u64| {
        budget.ring_bytes.is_none_or(|cap| used + new_bytes <= cap)
            && free >= new_bytes.saturating_add(budget.reserve_bytes)
    };
    if budget.ring_bytes.is_none() {
        return if fits(used, free) {
            Plan::Delete(Vec::new())
        } else {
            Plan::DiskTooFull {
                needed: new_bytes,
                available: free,
            }
        };
    }
    let mut delete = Vec::new();
    for s in sealed {
        if fits(used, free) {
            break;
        }
        delete.push(s.segno);
        used -= s.bytes;
        free += s.bytes;
    }
    if fits(used, free) {
        return Plan::Delete(delete);
    }
    if budget
        .ring_bytes
        .is_some_and(|cap| other_bytes + new_bytes > cap)
    {
        Plan::RingTooSmall { needed: new_bytes }
    } else {
        Plan::DiskTooFull {
            needed: new_bytes,
            available: free,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(sizes: &[u64]) -> Vec<Sealed> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &bytes)| Sealed {
                segno: i as u64,
                bytes,
            })
            .collect()
    }

    const BIG: u64 = 1 << 40;

    #[test]
    fn table() {
        let b = |ring: Option<u64>, reserve: u64| Budget {
            ring_bytes: ring,
            reserve_bytes: reserve,
        };
        type Case = (&'static [u64], u64, u64, u64, Budget, Plan);
        let cases: &[Case] = &[
            // Fits already.
            (&[10, 10], 0, 10, BIG, b(Some(100), 0), Plan::Delete(vec![])),
            // Budget forces the two oldest out.
            (
                &[10, 10, 10],
                5,
                30,
                BIG,
                b(Some(50), 0),
                Plan::Delete(vec![0, 1]),
            ),
            // Exactly at the budget is fine.
            (&[10, 10], 0, 30, BIG, b(Some(50), 0), Plan::Delete(vec![])),
            // With a ring budget the disk reserve forces deletion too.
            (
                &[10, 10, 10],
                0,
                10,
                15,
                b(Some(100), 10),
                Plan::Delete(vec![0]),
            ),
            // Without one nothing sealed is ever deleted: the disk is full.
            (
                &[10, 10, 10],
                0,
                10,
                15,
                b(None, 10),
                Plan::DiskTooFull {
                    needed: 10,
                    available: 15,
                },
            ),
            // Nothing sealed and the new segment alone exceeds the ring.
            (
                &[],
                5,
                100,
                BIG,
                b(Some(50), 0),
                Plan::RingTooSmall { needed: 100 },
            ),
            // Everything deleted and the disk still too full.
            (
                &[10],
                0,
                100,
                20,
                b(Some(BIG), 0),
                Plan::DiskTooFull {
                    needed: 100,
                    available: 30,
                },
            ),
            // The active segment's bytes count against the ring but are never deleted.
            (&[10], 40, 10, BIG, b(Some(50), 0), Plan::Delete(vec![0])),
            (
                &[10],
                45,
                10,
                BIG,
                b(Some(50), 0),
                Plan::RingTooSmall { needed: 10 },
            ),
        ];
        for (i, (sizes, other, new, free, budget, want)) in cases.iter().enumerate() {
            assert_eq!(
                &plan(&segs(sizes), *other, *new, *free, *budget),
                want,
                "case {i}"
            );
        }
    }
}
