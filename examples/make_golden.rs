//! Writes the golden segments of `formats/golden/` (see `nightcap_testkit::golden`).
//! Usage: cargo run --example make_golden [DIR]

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "formats/golden".into());
    nightcap_testkit::golden::write(std::path::Path::new(&dir), nightcap_stack::stats::measure);
    println!("golden segments written to {dir}");
}
