//! Pipeline commands (build, push, build-push, promote-image, watch-deployment, run,
//! start-registry) on top of the pinned toolchain.

pub mod build;
pub mod build_push;
pub mod config;
pub mod crane;
pub mod ports;
pub mod promote;
pub mod push;
pub mod registry;
pub mod run;
pub mod runner;
pub mod skaffold_output;
pub mod tag;
pub mod watch;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::cli::Command;
use crate::formats::build_result::Build;
use crate::toolchain::Toolchain;
use config::Config;
use runner::Runner;

/// What every pipeline command works with.
pub struct Context<'a> {
    pub runner: Runner<'a>,
    pub config: Config,
    /// The project directory (the current directory), absolute.
    pub cwd: PathBuf,
}

impl Context<'_> {
    /// `path` made absolute against the project directory, once.
    pub fn absolute(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.cwd.join(path)
        }
    }

    /// A progress line for people; marked as such during `--dry-run`, when nothing happened.
    pub fn say(&self, message: &str) {
        if self.runner.dry_run() {
            self.runner
                .toolchain()
                .output
                .info(&format!("(dry run) {message}"));
        } else {
            self.runner.toolchain().output.info(message);
        }
    }
}

/// The builds as build_result.json keeps them: references without credentials (a registry's
/// password has no place in a file that is read, uploaded and logged later).
pub fn for_file(builds: &[Build]) -> Vec<Build> {
    builds
        .iter()
        .map(|build| Build {
            image_name: build.image_name.clone(),
            tag: crate::redact::without_credentials(&build.tag),
        })
        .collect()
}

/// Converts string arguments for a child's argv.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    items.into_iter().map(Into::into).collect()
}

/// Runs one pipeline command.
pub fn run(toolchain: &Toolchain, config_file: Option<&Path>, command: Command) -> Result<()> {
    let config = Config::load(config_file)?;
    if let Some(file) = &config.file {
        for line in &config.ignored_lines {
            let place = format!("{}:{line}", file.display());
            toolchain
                .output
                .warn(&format!("{place}: no `=` on this line; ignored"));
        }
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dry_run = match &command {
        Command::Build(args) => args.dry_run,
        Command::Push(args) => args.dry_run,
        Command::BuildPush(args) => args.dry_run,
        Command::PromoteImage(args) => args.dry_run,
        Command::WatchDeployment(args) => args.dry_run,
        Command::Run(args) => args.dry_run,
        Command::StartRegistry(args) => args.dry_run,
        Command::Toolchain(_) | Command::Completions { .. } | Command::Man => false,
    };
    let context = Context {
        runner: Runner::new(toolchain, dry_run),
        config,
        cwd,
    };
    match command {
        Command::Build(args) => build::build(&context, &args),
        Command::Push(args) => push::push(&context, &args),
        Command::BuildPush(args) => build_push::build_push(&context, &args),
        Command::PromoteImage(args) => promote::promote(&context, &args),
        Command::WatchDeployment(args) => watch::watch(&context, &args),
        Command::Run(args) => run::run(&context, &args),
        Command::StartRegistry(args) => registry::start(&context, &args),
        Command::Toolchain(_) | Command::Completions { .. } | Command::Man => {
            unreachable!("not a pipeline command")
        }
    }
}
