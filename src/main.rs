//! The `flagctl` command-line tool; everything lives in [`flagctl::cli`].

/// Loading a large flag root allocates and frees many small values; mimalloc
/// does that much faster than the system allocator (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    flagctl::cli::main()
}
