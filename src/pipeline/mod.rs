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
use crate::error::OpError;
use crate::formats::build_result::Build;
use crate::formats::skaffold_yaml::{self, Artifact};
use crate::toolchain::Toolchain;
use config::Config;
use runner::Runner;

const IN_THE_APP: &str = "run op in the app repository (where skaffold.yaml is)";

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

    /// The artifacts of the project's skaffold file (`file` against the project directory), and
    /// its absolute path. The one rule of every command that runs skaffold or reads its file: a
    /// missing or malformed one is exit 2 naming it, before anything is installed or run. `flag`
    /// is the command's option naming another file, if it has one (for the hint).
    pub fn skaffold_file(
        &self,
        file: &Path,
        flag: Option<&str>,
    ) -> Result<(PathBuf, Vec<Artifact>)> {
        let path = self.absolute(file);
        if !crate::bounded::exists(&path) {
            let hint = match flag {
                Some(flag) => format!("{IN_THE_APP}, or pass {flag}"),
                None => IN_THE_APP.to_string(),
            };
            return Err(OpError::config(format!("{} not found", path.display()))
                .with_hint(hint)
                .into());
        }
        let artifacts = skaffold_yaml::load(&path)?;
        Ok((path, artifacts))
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
        Command::Toolchain(_) | Command::Completions { .. } | Command::Man { .. } => false,
    };
    let context = Context {
        runner: Runner::new(toolchain, dry_run),
        config,
        cwd,
    };
    let result = match command {
        Command::Build(args) => build::build(&context, &args),
        Command::Push(args) => push::push(&context, &args),
        Command::BuildPush(args) => build_push::build_push(&context, &args),
        Command::PromoteImage(args) => promote::promote(&context, &args),
        Command::WatchDeployment(args) => watch::watch(&context, &args),
        Command::Run(args) => run::run(&context, &args),
        Command::StartRegistry(args) => registry::start(&context, &args),
        Command::Toolchain(_) | Command::Completions { .. } | Command::Man { .. } => {
            unreachable!("not a pipeline command")
        }
    };
    // A tool's exit code can equal one of op's own (2 is also op's usage error): one line says
    // whose it is. (`op` prints nothing else of its own for it: the tool has had its say.)
    if let Err(error) = &result
        && let Some(failed) = error.downcast_ref::<runner::Failed>()
    {
        toolchain
            .output
            .report_error(&anyhow::Error::msg(failed.to_string()));
    }
    result
}
