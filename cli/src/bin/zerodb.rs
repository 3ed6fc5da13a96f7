//! The `zerodb` binary; everything lives in the `zerodb_cli` library.
fn main() {
    std::process::exit(zerodb_cli::main());
}
