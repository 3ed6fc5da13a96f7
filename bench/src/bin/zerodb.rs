//! The `zerodb` binary, built inside this crate's own workspace so that the
//! benchmark needs one release build: the same two lines as the node
//! crate's `src/bin/zerodb.rs`.
fn main() {
    std::process::exit(zerodb_cli::main());
}
