//! The `zerodb` binary; everything lives in the `zerodb_cli` library.

/// mimalloc instead of glibc's malloc: a node allocates and frees many
/// small buffers per message, and under a write load glibc's allocator
/// (with its chunk consolidation) took about a quarter of the server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(zerodb_cli::main());
}
