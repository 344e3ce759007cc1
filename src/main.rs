//! The `flagctl` command-line tool; everything lives in [`flagctl::cli`].

fn main() -> std::process::ExitCode {
    flagctl::cli::main()
}
