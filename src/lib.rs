//! `op` / `octopipeline` as a library: parse the command line, run one command, print any error once, exit.

pub mod atomic;
pub mod bounded;
pub mod cli;
pub mod commands;
pub mod error;
pub mod formats;
pub mod output;
pub mod pipeline;
pub mod redact;
pub mod settings;
pub mod toolchain;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::output::Output;
use crate::toolchain::Toolchain;

/// The whole program; both binaries call this.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let name = invoked_name(args.first());
    let output = Output::from_env();
    let command = Cli::command().name(name).bin_name(name);
    let matches = match command.try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(error.exit_code().clamp(0, 255) as u8);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(2);
        }
    };
    match run(cli, name, &output) {
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
            let toolchain = Toolchain::load(cli.lock.as_deref(), output.clone())?;
            commands::toolchain::run(&toolchain, command)
        }
        Command::Build(_)
        | Command::Push(_)
        | Command::BuildPush(_)
        | Command::PromoteImage(_)
        | Command::WatchDeployment(_)
        | Command::Run(_)
        | Command::StartRegistry(_) => {
            let toolchain = Toolchain::load(cli.lock.as_deref(), output.clone())?;
            pipeline::run(&toolchain, cli.config.as_deref(), cli.command)
        }
        Command::Completions { shell } => {
            let mut command = Cli::command().name(name).bin_name(name);
            clap_complete::generate(shell, &mut command, name, &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let command = Cli::command().name(name).bin_name(name);
            clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
            Ok(())
        }
    }
}

/// `op` or `octopipeline`, from how this binary was invoked (help and errors use that name).
fn invoked_name(argv0: Option<&OsString>) -> &'static str {
    let stem = argv0.and_then(|arg| Path::new(arg).file_stem());
    if stem.is_some_and(|stem| stem == "octopipeline") {
        "octopipeline"
    } else {
        "op"
    }
}
