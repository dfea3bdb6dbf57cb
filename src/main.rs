//! The `op` binary.

fn main() -> std::process::ExitCode {
    op_cli::main()
}
