//! The `octopipeline` binary: the same program as `op`, under a name no other CLI uses.

fn main() -> std::process::ExitCode {
    op_cli::main()
}
