//! `op` / `octopipeline` as a library: parse the command line, run one command, print any error once, exit.

pub mod atomic;
pub mod bounded;
pub mod cli;
pub mod commands;
pub mod error;
pub mod formats;
pub mod output;
pub mod pipeline;
pub mod program;
pub mod redact;
pub mod settings;
pub mod toolchain;

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::output::Output;
use crate::toolchain::Toolchain;

/// The whole program; both binaries call this.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // `op toolchain exec` of an installed tool: becomes the tool here, or returns.
    #[cfg(unix)]
    toolchain::exec::warm(&args);
    let name = program::from_argv0(args.first().map(OsString::as_os_str));
    program::set(name);
    let output = Output::from_env();
    let command = named_command(name);
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
            let mut command = named_command(name);
            clap_complete::generate(shell, &mut command, name, &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let command = named_command(name);
            clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
            Ok(())
        }
    }
}

/// The command line definition under the invoked name, its help texts and examples speaking of
/// that name too (`octopipeline toolchain install`, not `op toolchain install`).
fn named_command(name: &'static str) -> clap::Command {
    fn rename_texts(command: clap::Command) -> clap::Command {
        let mut command = command;
        for text in [
            command.get_after_help().map(|text| text.to_string()),
            command.get_after_long_help().map(|text| text.to_string()),
        ]
        .into_iter()
        .enumerate()
        {
            if let (index, Some(text)) = text {
                let renamed = program::rename(&text).into_owned();
                command = if index == 0 {
                    command.after_help(renamed)
                } else {
                    command.after_long_help(renamed)
                };
            }
        }
        let names: Vec<String> = command
            .get_subcommands()
            .map(|sub| sub.get_name().to_string())
            .collect();
        for sub in names {
            command = command.mut_subcommand(sub, rename_texts);
        }
        command
    }
    let command = Cli::command().name(name).bin_name(name);
    if name == "op" {
        command
    } else {
        rename_texts(command)
    }
}
