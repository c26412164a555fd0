//! Recovery policy: what a reader does when a record is not valid, as one pure function.
//!
//! I/O errors are never decided here: they always propagate. Only corruption is tolerated,
//! and how depends on the segment's state (see `formats/segment.md`, "Reading rules"):
//! an active segment (or a copy of one) yields its valid prefix, because anything after a
//! hole may be newer than the hole; a sealed segment is complete by construction, so the
//! reader steps over a damaged record and resynchronises on the next valid header.

use super::format::{FormatFault, SegmentState};

/// What to do at a record that is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Normal end of the written records; nothing to report.
    End,
    /// Stop: the records before this offset are the valid prefix; report the rest.
    Truncate,
    /// Report this record and look for the next valid header at the following
    /// aligned offsets.
    Resync,
}

/// The policy table.
pub fn on_bad_record(state: SegmentState, fault: &FormatFault) -> Action {
    match (state, fault) {
        (SegmentState::Sealed, _) => Action::Resync,
        (_, FormatFault::Zero) => Action::End,
        (_, _) => Action::Truncate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FormatFault as F;
    use SegmentState as S;

    #[test]
    fn policy_table() {
        let table = [
            (S::Active, F::Zero, Action::End),
            (S::Active, F::RecordCrc, Action::Truncate),
            (S::Active, F::PayloadCrc, Action::Truncate),
            (S::Active, F::PastEnd, Action::Truncate),
            (S::Active, F::Salt, Action::Truncate),
            (S::Tmp, F::RecordMagic, Action::Truncate),
            (S::Sealed, F::Zero, Action::Resync),
            (S::Sealed, F::RecordCrc, Action::Resync),
            (S::Sealed, F::PayloadCrc, Action::Resync),
            (S::Sealed, F::RecordField("raw_len"), Action::Resync),
        ];
        for (state, fault, want) in table {
            assert_eq!(on_bad_record(state, &fault), want, "{state:?} {fault:?}");
        }
    }
}
