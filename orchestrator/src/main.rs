//! The `updraft` binary: see `updraft --help`.

fn main() -> std::process::ExitCode {
    updraft::cli::main()
}
