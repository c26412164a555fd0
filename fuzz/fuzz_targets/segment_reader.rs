//! Fuzzes the segment reader: arbitrary bytes as a sealed segment and as an active one.
//! The reader must never panic, never allocate beyond its caps, and return only frames
//! whose checksums match (see `nightcap_testkit::fuzz_segment_bytes`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nightcap_testkit::fuzz_segment_bytes(data);
});
