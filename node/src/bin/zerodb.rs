//! The `zerodb` binary; everything lives in `zerodb_node::cli`.
fn main() {
    std::process::exit(zerodb_node::cli::main());
}
