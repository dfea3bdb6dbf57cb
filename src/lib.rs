//! `op` / `octopipeline` as a library: parse the command line, run one command, print any error once, exit.

pub mod atomic;
pub mod bounded;
pub mod cli;
pub mod commands;
pub mod error;
pub mod formats;
pub mod hex;
pub mod output;
pub mod pipeline;
pub mod program;
pub mod redact;
pub mod settings;
pub mod toolchain;

use std::ffi::OsString;
use std::process::ExitCode;

use std::io::Write;

use anyhow::{Context, Result};
use clap::FromArgMatches;

use crate::cli::{Cli, Command};
use crate::output::Output;
use crate::toolchain::Toolchain;

/// The whole program: `op` and its `octopipeline` link (src/main.rs).
pub fn main() -> ExitCode {
    let args = cli::protect_exec_args(std::env::args_os().collect());
    // `op toolchain exec` of an installed tool: becomes (or, on Windows, runs) the tool here, or
    // returns.
    toolchain::exec::warm(&args);
    let name = program::from_argv0(args.first().map(OsString::as_os_str));
    program::set(name);
    let command = cli::named_command(name).color(output::clap_color(&args));
    let matches = match command.try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(error.exit_code().clamp(0, 255) as u8);
        }
    };
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(2);
        }
    };
    cli.lock = cli::path_option(&matches, "lock");
    cli.config = cli::path_option(&matches, "config");
    let output = Output::from_env(output::Options {
        quiet: cli.quiet,
        verbose: cli.verbose,
        color: cli.color,
    });
    let result = run(cli, name, &output);
    output.finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = error::exit_code(&error);
            if error.downcast_ref::<error::ChildExit>().is_none() {
                output.report_error(&error);
            }
            ExitCode::from(code.clamp(0, 255) as u8)
        }
    }
}

fn run(cli: Cli, name: &'static str, output: &Output) -> Result<()> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("cannot install the TLS crypto provider"))?;
    match cli.command {
        Command::Toolchain(command) => {
            // `exec` reads only the tables of the tools it runs when the cache indexes the lock.
            let toolchain = if matches!(command, crate::cli::ToolchainCommand::Exec(_)) {
                Toolchain::load_lazily(cli.lock.as_deref(), output.clone())?
            } else {
                Toolchain::load(cli.lock.as_deref(), output.clone())?
            };
            commands::toolchain::run(&toolchain, command)
        }
        Command::Build(_)
        | Command::Push(_)
        | Command::BuildPush(_)
        | Command::PromoteImage(_)
        | Command::WatchDeployment(_)
        | Command::Run(_)
        | Command::StartRegistry(_) => {
            let toolchain = Toolchain::load_lazily(cli.lock.as_deref(), output.clone())?;
            pipeline::run(&toolchain, cli.config.as_deref(), cli.command)
        }
        Command::Completions { shell } => {
            let mut command = cli::named_command(name);
            clap_complete::generate(shell, &mut command, name, &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir: None } => {
            let pages = cli::man::pages(cli::named_command(name))?;
            let (_, main_page) = pages.first().context("no man page rendered")?;
            std::io::stdout()
                .write_all(main_page)
                .context("cannot write the man page to stdout")?;
            Ok(())
        }
        Command::Man { dir: Some(dir) } => {
            let written = cli::man::write_all(cli::named_command(name), &dir)?;
            output.info(&format!(
                "wrote {} in {}",
                output::count(written.len(), "man page"),
                dir.display()
            ));
            Ok(())
        }
    }
}
