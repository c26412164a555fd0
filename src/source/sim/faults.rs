//! Deterministic fault injection for the simulated camera.
//!
//! A [`FaultPlan`] names, by frame index (the camera's frame slot, 0-based), what goes
//! wrong: a timeout, a jump in the driver's sequence counter, an error-flagged buffer, or
//! the device vanishing for a number of frame slots. The plan is pure data, so a test
//! that injects `timeout@10` sees the timeout at exactly the eleventh slot every run.
//!
//! Text form (for `--sim-faults`): comma-separated `kind@index[:count]` items,
//! `timeout@10,skip@20:3,error@30,gone@40:5`; `none` or an empty string is no faults.

use std::fmt;

/// Largest `count` accepted in a fault spec: a cap so a typo cannot mean "gone forever".
pub const MAX_FAULT_COUNT: u64 = 1_000_000;

/// One thing that goes wrong at a frame slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No frame arrives for this slot: `next_frame` returns `SourceError::Timeout` once.
    Timeout,
    /// The driver's sequence counter jumps by `n` before this frame (frames lost inside
    /// the driver); this and every later frame carry `driver_seq = index + skips so far`.
    SkipDriverSeq(u32),
    /// The driver flags this frame's buffer as corrupt: `SourceError::CorruptBuffer`.
    ErrorFlagged,
    /// The device is gone for `frames` slots starting here: that many calls return
    /// `SourceError::DeviceGone`, then frames resume (the clock kept running).
    DeviceGone { frames: u64 },
}

/// Faults by frame index, sorted, with no two claiming the same slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    events: Vec<(u64, Fault)>,
}

/// What a frame slot delivers once the plan is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotOutcome {
    Frame,
    Timeout,
    Corrupt,
    Gone,
}

/// Why a fault spec could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    #[error("fault `{item}` is not `kind@index[:count]` (e.g. `timeout@10`, `gone@40:5`)")]
    Syntax { item: String },
    #[error("fault kind `{kind}` is unknown: use timeout, skip, error or gone")]
    UnknownKind { kind: String },
    #[error("fault `{item}`: `{text}` is not a whole number")]
    Number { item: String, text: String },
    #[error("fault `{item}` needs a count after `:` (e.g. `{kind}@{index}:3`)")]
    MissingCount {
        item: String,
        kind: String,
        index: u64,
    },
    #[error("fault `{item}` takes no count: write `{kind}@{index}`")]
    UnexpectedCount {
        item: String,
        kind: String,
        index: u64,
    },
    #[error("fault `{item}`: count must be 1..={MAX_FAULT_COUNT}")]
    CountRange { item: String },
    #[error("faults at frame {index} overlap: give each frame slot at most one fault")]
    Overlap { index: u64 },
}

impl FaultPlan {
    /// A plan with no faults.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// Builds a plan from `(index, fault)` pairs; fails if two faults claim one slot
    /// (a `DeviceGone` claims `frames` slots).
    pub fn from_events(mut events: Vec<(u64, Fault)>) -> Result<FaultPlan, FaultSpecError> {
        events.sort_by_key(|&(index, _)| index);
        let mut free_from = 0u64;
        for &(index, fault) in &events {
            if index < free_from {
                return Err(FaultSpecError::Overlap { index });
            }
            let span = match fault {
                Fault::DeviceGone { frames } => frames.max(1),
                _ => 1,
            };
            free_from = index.saturating_add(span);
        }
        Ok(FaultPlan { events })
    }

    /// Parses the text form described in the module docs.
    pub fn parse(spec: &str) -> Result<FaultPlan, FaultSpecError> {
        let spec = spec.trim();
        if spec.is_empty() || spec.eq_ignore_ascii_case("none") {
            return Ok(FaultPlan::none());
        }
        let events = spec
            .split(',')
            .map(|item| parse_item(item.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        FaultPlan::from_events(events)
    }

    /// The faults, sorted by frame index.
    pub fn events(&self) -> &[(u64, Fault)] {
        &self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Total driver sequence skips at or before frame `index`.
    pub(crate) fn skips_through(&self, index: u64) -> u64 {
        self.events
            .iter()
            .take_while(|&&(at, _)| at <= index)
            .map(|&(_, f)| match f {
                Fault::SkipDriverSeq(n) => u64::from(n),
                _ => 0,
            })
            .sum()
    }

    /// What frame slot `index` delivers.
    pub(crate) fn outcome(&self, index: u64) -> SlotOutcome {
        // The last event at or before `index` is the only one that can cover it.
        let pos = self.events.partition_point(|&(at, _)| at <= index);
        let Some(&(at, fault)) = pos.checked_sub(1).map(|p| &self.events[p]) else {
            return SlotOutcome::Frame;
        };
        match fault {
            Fault::DeviceGone { frames } if index - at < frames => SlotOutcome::Gone,
            Fault::Timeout if at == index => SlotOutcome::Timeout,
            Fault::ErrorFlagged if at == index => SlotOutcome::Corrupt,
            _ => SlotOutcome::Frame,
        }
    }
}

fn parse_item(item: &str) -> Result<(u64, Fault), FaultSpecError> {
    let syntax = || FaultSpecError::Syntax {
        item: item.to_string(),
    };
    let (kind, rest) = item.split_once('@').ok_or_else(syntax)?;
    let (index_text, count_text) = match rest.split_once(':') {
        Some((i, c)) => (i, Some(c)),
        None => (rest, None),
    };
    let number = |text: &str| {
        text.trim()
            .parse::<u64>()
            .map_err(|_| FaultSpecError::Number {
                item: item.to_string(),
                text: text.to_string(),
            })
    };
    let index = number(index_text)?;
    let kind = kind.trim().to_ascii_lowercase();
    let takes_count = match kind.as_str() {
        "timeout" | "error" => false,
        "skip" | "gone" => true,
        _ => return Err(FaultSpecError::UnknownKind { kind }),
    };
    let count = match (takes_count, count_text) {
        (true, None) => {
            return Err(FaultSpecError::MissingCount {
                item: item.to_string(),
                kind,
                index,
            })
        }
        (false, Some(_)) => {
            return Err(FaultSpecError::UnexpectedCount {
                item: item.to_string(),
                kind,
                index,
            })
        }
        (true, Some(text)) => number(text)?,
        (false, None) => 0,
    };
    if takes_count && !(1..=MAX_FAULT_COUNT).contains(&count) {
        return Err(FaultSpecError::CountRange {
            item: item.to_string(),
        });
    }
    let fault = match kind.as_str() {
        "timeout" => Fault::Timeout,
        "error" => Fault::ErrorFlagged,
        // The count is capped at MAX_FAULT_COUNT, well inside u32.
        "skip" => Fault::SkipDriverSeq(count as u32),
        _ => Fault::DeviceGone { frames: count },
    };
    Ok((index, fault))
}

impl fmt::Display for FaultPlan {
    /// The text form, which [`FaultPlan::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.events.is_empty() {
            return f.write_str("none");
        }
        for (i, &(at, fault)) in self.events.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match fault {
                Fault::Timeout => write!(f, "timeout@{at}")?,
                Fault::SkipDriverSeq(n) => write!(f, "skip@{at}:{n}")?,
                Fault::ErrorFlagged => write!(f, "error@{at}")?,
                Fault::DeviceGone { frames } => write!(f, "gone@{at}:{frames}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let plan = FaultPlan::parse("timeout@10, skip@20:3,error@30,GONE@40:5").unwrap();
        assert_eq!(
            plan.events(),
            &[
                (10, Fault::Timeout),
                (20, Fault::SkipDriverSeq(3)),
                (30, Fault::ErrorFlagged),
                (40, Fault::DeviceGone { frames: 5 }),
            ]
        );
        assert_eq!(plan.to_string(), "timeout@10,skip@20:3,error@30,gone@40:5");
        assert_eq!(FaultPlan::parse(&plan.to_string()).unwrap(), plan);
        assert!(FaultPlan::parse("").unwrap().is_empty());
        assert!(FaultPlan::parse("none").unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        let err = |s: &str| FaultPlan::parse(s).unwrap_err();
        assert!(matches!(err("timeout"), FaultSpecError::Syntax { .. }));
        assert!(matches!(err("melt@3"), FaultSpecError::UnknownKind { kind } if kind == "melt"));
        assert!(matches!(err("error@x"), FaultSpecError::Number { text, .. } if text == "x"));
        assert!(matches!(err("error@-1"), FaultSpecError::Number { .. }));
        assert!(matches!(err("gone@4"), FaultSpecError::MissingCount { .. }));
        assert!(matches!(
            err("timeout@4:2"),
            FaultSpecError::UnexpectedCount { .. }
        ));
        assert!(matches!(err("skip@4:0"), FaultSpecError::CountRange { .. }));
        assert!(matches!(
            err("skip@4:99999999999"),
            FaultSpecError::CountRange { .. }
        ));
        assert!(matches!(
            err("gone@4:3,error@6"),
            FaultSpecError::Overlap { index: 6 }
        ));
        assert!(matches!(
            err("error@6,timeout@6"),
            FaultSpecError::Overlap { index: 6 }
        ));
        assert!(err("gone@4").to_string().contains("gone@4:3"));
    }

    #[test]
    fn outcomes_and_skips_by_slot() {
        let plan = FaultPlan::parse("timeout@1,skip@2:3,error@3,gone@5:2,skip@8:1").unwrap();
        let outcomes: Vec<SlotOutcome> = (0..9).map(|i| plan.outcome(i)).collect();
        use SlotOutcome::*;
        assert_eq!(
            outcomes,
            [Frame, Timeout, Frame, Corrupt, Frame, Gone, Gone, Frame, Frame]
        );
        let skips: Vec<u64> = (0..10).map(|i| plan.skips_through(i)).collect();
        assert_eq!(skips, [0, 0, 3, 3, 3, 3, 3, 3, 4, 4]);
    }
}
