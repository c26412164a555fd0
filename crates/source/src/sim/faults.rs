//! Deterministic fault injection for the simulated camera.
//!
//! A [`FaultPlan`] names, by frame index (the camera's frame slot, 0-based), what goes
//! wrong: a timeout, a jump in the driver's sequence counter, an error-flagged buffer, or
//! the device vanishing for a number of frame slots. The plan is pure data, so a test
//! that injects `timeout@10` sees the timeout at exactly the eleventh slot every run.
//!
//! Text form (for `--sim-faults`): comma-separated `kind@index[:count]` items,
//! `timeout@10,skip@20:3,error@30,gone@40:5`; `none` or an empty string is no faults.
//! For soak tests a fault can also strike at random with a probability per frame slot,
//! `kind~probability[:count]` (`error~0.01,gone~0.001:5`), decided by hashing the
//! simulation seed and the slot, so it is still the same every run. Slots claimed by an
//! indexed fault ignore the rates; among rates, the first listed that strikes wins.

use std::fmt;
use std::str::FromStr;

use super::rng::{hash2, unit};

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

/// Faults by frame index (sorted, no two claiming the same slot) and random faults
/// with a probability per slot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    events: Vec<(u64, Fault)>,
    rates: Vec<(Fault, f64)>,
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
    #[error("fault `{item}`: the probability must be a number in (0, 1], e.g. `error~0.01`")]
    Probability { item: String },
    #[error(
        "fault `{item}`: skips need a frame index (`skip@20:3`), not a rate: a random \
         skip would make every frame's driver_seq depend on all earlier frames"
    )]
    RateUnsupported { item: String },
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
        Ok(FaultPlan {
            events,
            rates: Vec::new(),
        })
    }

    /// Parses the text form described in the module docs.
    pub fn parse(spec: &str) -> Result<FaultPlan, FaultSpecError> {
        let spec = spec.trim();
        if spec.is_empty() || spec.eq_ignore_ascii_case("none") {
            return Ok(FaultPlan::none());
        }
        let mut events = Vec::new();
        let mut rates = Vec::new();
        for item in spec.split(',').map(str::trim) {
            match parse_item(item)? {
                Item::At(index, fault) => events.push((index, fault)),
                Item::Rate(fault, p) => rates.push((fault, p)),
            }
        }
        let mut plan = FaultPlan::from_events(events)?;
        plan.rates = rates;
        Ok(plan)
    }

    /// Adds a random fault striking each slot with probability `p` (clamped to [0, 1]).
    /// `SkipDriverSeq` cannot be random (see [`FaultSpecError::RateUnsupported`]).
    pub fn with_rate(mut self, fault: Fault, p: f64) -> Result<FaultPlan, FaultSpecError> {
        if matches!(fault, Fault::SkipDriverSeq(_)) {
            return Err(FaultSpecError::RateUnsupported {
                item: format!("{fault:?}"),
            });
        }
        self.rates
            .push((fault, if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }));
        Ok(self)
    }

    /// The random faults and their probabilities per slot.
    pub fn rates(&self) -> &[(Fault, f64)] {
        &self.rates
    }

    /// The faults, sorted by frame index.
    pub fn events(&self) -> &[(u64, Fault)] {
        &self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.rates.is_empty()
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

    /// What frame slot `index` delivers; `seed` drives the random faults.
    pub(crate) fn outcome(&self, index: u64, seed: u64) -> SlotOutcome {
        // The last event at or before `index` is the only one that can cover it.
        let pos = self.events.partition_point(|&(at, _)| at <= index);
        if let Some(&(at, fault)) = pos.checked_sub(1).map(|p| &self.events[p]) {
            let claimed = match fault {
                Fault::DeviceGone { frames } if index - at < frames => Some(SlotOutcome::Gone),
                Fault::Timeout if at == index => Some(SlotOutcome::Timeout),
                Fault::ErrorFlagged if at == index => Some(SlotOutcome::Corrupt),
                Fault::SkipDriverSeq(_) if at == index => Some(SlotOutcome::Frame),
                _ => None,
            };
            if let Some(outcome) = claimed {
                return outcome;
            }
        }
        self.random_outcome(index, seed)
    }

    fn random_outcome(&self, index: u64, seed: u64) -> SlotOutcome {
        for (i, &(fault, p)) in self.rates.iter().enumerate() {
            let key = hash2(seed ^ 0xfa17_fa17, i as u64);
            let strikes = |slot: u64| unit(hash2(key, slot)) < p;
            let outcome = match fault {
                Fault::Timeout if strikes(index) => SlotOutcome::Timeout,
                Fault::ErrorFlagged if strikes(index) => SlotOutcome::Corrupt,
                // Gone for `frames` slots from any slot where it struck.
                Fault::DeviceGone { frames }
                    if (index.saturating_sub(frames.max(1) - 1)..=index).any(strikes) =>
                {
                    SlotOutcome::Gone
                }
                _ => continue,
            };
            return outcome;
        }
        SlotOutcome::Frame
    }
}

/// One parsed item of a spec.
enum Item {
    At(u64, Fault),
    Rate(Fault, f64),
}

fn parse_item(item: &str) -> Result<Item, FaultSpecError> {
    let syntax = || FaultSpecError::Syntax {
        item: item.to_string(),
    };
    if let Some((kind, rest)) = item.split_once('~') {
        return parse_rate(item, kind, rest);
    }
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
    let fault = make_fault(item, &kind, index, count_text)?;
    Ok(Item::At(index, fault))
}

/// `kind~probability[:count]`.
fn parse_rate(item: &str, kind: &str, rest: &str) -> Result<Item, FaultSpecError> {
    let (p_text, count_text) = match rest.split_once(':') {
        Some((p, c)) => (p, Some(c)),
        None => (rest, None),
    };
    let p: f64 = p_text
        .trim()
        .parse()
        .ok()
        .filter(|p: &f64| *p > 0.0 && *p <= 1.0)
        .ok_or_else(|| FaultSpecError::Probability {
            item: item.to_string(),
        })?;
    let kind = kind.trim().to_ascii_lowercase();
    if kind == "skip" {
        return Err(FaultSpecError::RateUnsupported {
            item: item.to_string(),
        });
    }
    // Rates have no index; error messages show 0 where one would go.
    let fault = make_fault(item, &kind, 0, count_text)?;
    Ok(Item::Rate(fault, p))
}

/// The fault of `kind` with an optional `:count`, checked.
fn make_fault(
    item: &str,
    kind: &str,
    index: u64,
    count_text: Option<&str>,
) -> Result<Fault, FaultSpecError> {
    let kind = kind.to_string();
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
        (true, Some(text)) => text
            .trim()
            .parse::<u64>()
            .map_err(|_| FaultSpecError::Number {
                item: item.to_string(),
                text: text.to_string(),
            })?,
        (false, None) => 0,
    };
    if takes_count && !(1..=MAX_FAULT_COUNT).contains(&count) {
        return Err(FaultSpecError::CountRange {
            item: item.to_string(),
        });
    }
    Ok(match kind.as_str() {
        "timeout" => Fault::Timeout,
        "error" => Fault::ErrorFlagged,
        // The count is capped at MAX_FAULT_COUNT, well inside u32.
        "skip" => Fault::SkipDriverSeq(count as u32),
        _ => Fault::DeviceGone { frames: count },
    })
}

impl FromStr for FaultPlan {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<FaultPlan, FaultSpecError> {
        FaultPlan::parse(spec)
    }
}

impl fmt::Display for FaultPlan {
    /// The text form, which [`FaultPlan::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let items = self
            .events
            .iter()
            .map(|&(at, fault)| (fault, format!("@{at}")))
            .chain(
                self.rates
                    .iter()
                    .map(|&(fault, p)| (fault, format!("~{p}"))),
            );
        for (i, (fault, when)) in items.enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match fault {
                Fault::Timeout => write!(f, "timeout{when}")?,
                Fault::SkipDriverSeq(n) => write!(f, "skip{when}:{n}")?,
                Fault::ErrorFlagged => write!(f, "error{when}")?,
                Fault::DeviceGone { frames } => write!(f, "gone{when}:{frames}")?,
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
        let outcomes: Vec<SlotOutcome> = (0..9).map(|i| plan.outcome(i, 0)).collect();
        use SlotOutcome::*;
        assert_eq!(
            outcomes,
            [Frame, Timeout, Frame, Corrupt, Frame, Gone, Gone, Frame, Frame]
        );
        let skips: Vec<u64> = (0..10).map(|i| plan.skips_through(i)).collect();
        assert_eq!(skips, [0, 0, 3, 3, 3, 3, 3, 3, 4, 4]);
    }

    #[test]
    fn random_faults_strike_at_their_rate_and_repeatably() {
        let plan = FaultPlan::parse("error~0.05,gone~0.01:3,timeout@7").unwrap();
        assert_eq!(plan.to_string(), "timeout@7,error~0.05,gone~0.01:3");
        assert_eq!(FaultPlan::parse(&plan.to_string()).unwrap(), plan);
        let run =
            |seed| -> Vec<SlotOutcome> { (0..20_000).map(|i| plan.outcome(i, seed)).collect() };
        let a = run(1);
        assert_eq!(a, run(1));
        assert_ne!(a, run(2));
        assert_eq!(a[7], SlotOutcome::Timeout, "indexed faults win");
        let count = |o| a.iter().filter(|&&x| x == o).count();
        // 5% of slots corrupt (error is listed before gone, so it wins where both strike).
        assert!(
            (800..1200).contains(&count(SlotOutcome::Corrupt)),
            "{}",
            count(SlotOutcome::Corrupt)
        );
        // Gone strikes ~1% of slots and lasts 3: about 3% of slots, in runs.
        assert!(
            (350..850).contains(&count(SlotOutcome::Gone)),
            "{}",
            count(SlotOutcome::Gone)
        );
        let first_gone = a.iter().position(|&x| x == SlotOutcome::Gone).unwrap();
        assert!(a[first_gone..first_gone + 3]
            .iter()
            .all(|&x| x != SlotOutcome::Frame));
        let err = |s: &str| FaultPlan::parse(s).unwrap_err();
        assert!(matches!(err("error~0"), FaultSpecError::Probability { .. }));
        assert!(matches!(
            err("error~1.5"),
            FaultSpecError::Probability { .. }
        ));
        assert!(matches!(err("error~x"), FaultSpecError::Probability { .. }));
        assert!(matches!(
            err("skip~0.1:2"),
            FaultSpecError::RateUnsupported { .. }
        ));
        assert!(matches!(
            err("gone~0.1"),
            FaultSpecError::MissingCount { .. }
        ));
        assert!(FaultPlan::none()
            .with_rate(Fault::SkipDriverSeq(1), 0.1)
            .is_err());
    }
}
