//! The `lrp` command line (filled in by the CLI issue).
fn main() {
    println!("lrp {}", env!("CARGO_PKG_VERSION"));
}
