//! The command line: clap types only. Commands receive plain values, never these types' parser.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Examples:
  op toolchain install            prepare this machine: fetch and verify every pinned tool
  op toolchain exec skaffold -- version
  eval \"$(op toolchain env)\"       put the pinned tools first on PATH in this shell

Exit codes: 0 ok, 1 failed, 2 usage/config error, 3 integrity failure, 4 download failed,
5 no pinned build for this platform, 6 offline and not cached; a wrapped tool's own code passes through.";

/// One pipeline toolchain for Skaffold + Cloud Native Buildpacks app repos.
///
/// `op` pins skaffold, pack, flux, kubectl and crane in toolchain.lock, installs exactly those
/// releases into a per-user cache after checking their SHA-256, and runs them and nothing else.
#[derive(Debug, Parser)]
#[command(
    name = "op",
    version,
    propagate_version = true,
    arg_required_else_help = true,
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub struct Cli {
    /// Use this lock file instead of the discovered or built-in toolchain.lock [env: OP_TOOLCHAIN_LOCK]
    #[arg(long, global = true, value_name = "FILE")]
    pub lock: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install, inspect and run the pinned tools (skaffold, pack, flux, kubectl, crane)
    #[command(subcommand)]
    Toolchain(ToolchainCommand),

    /// Print a shell completion script to stdout
    #[command(
        after_help = "Example:\n  op completions bash > ~/.local/share/bash-completion/completions/op"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the man page (roff) to stdout
    #[command(after_help = "Example:\n  op man > /usr/local/share/man/man1/op.1")]
    Man,
}

#[derive(Debug, Subcommand)]
pub enum ToolchainCommand {
    /// Download, verify and install the pinned tools (all of them by default)
    #[command(after_help = "\
Examples:
  op toolchain install                      every tool for this machine
  op toolchain install kubectl crane        just these two
  op toolchain install --platform linux-arm64   another platform's tools (for images, mirrors)
  op toolchain install --force skaffold     reinstall, discarding what the cache holds")]
    Install(InstallArgs),

    /// Show every pinned tool, its version, and whether it is installed
    #[command(
        after_help = "Examples:\n  op toolchain list\n  op toolchain list --json | jq -r '.[] | select(.installed | not) | .tool'\n  op toolchain list --markdown > DEPENDENCIES.md"
    )]
    List(ListArgs),

    /// Print the absolute path of an installed tool
    #[command(after_help = "Example:\n  \"$(op toolchain which kubectl)\" version --client")]
    Which {
        /// Tool name from toolchain.lock
        tool: String,
    },

    /// Run a pinned tool (installing the toolchain first if needed), with the pinned tools first on PATH
    #[command(
        after_help = "Examples:\n  op toolchain exec kubectl -- get pods -n apps\n  op toolchain exec skaffold version"
    )]
    Exec(ExecArgs),

    /// Print a line that puts the pinned tools first on PATH
    #[command(after_help = "\
Examples:
  eval \"$(op toolchain env)\"                     sh, bash, zsh
  op toolchain env --shell fish | source
  op toolchain env --shell powershell | Invoke-Expression
  op toolchain env --github                      GitHub Actions: append to $GITHUB_PATH")]
    Env(EnvArgs),

    /// Re-hash every installed tool and compare it with the lock and install receipt
    #[command(after_help = "Example:\n  op toolchain verify || op toolchain install --force")]
    Verify,

    /// Refresh pins from upstream checksum files, or check the lock
    #[command(subcommand)]
    Lock(LockCommand),

    /// Copy the lock's artifacts into a directory laid out for OP_TOOLCHAIN_MIRROR, or verify one
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "\
Examples:
  op toolchain mirror /srv/op-mirror --all-platforms      on a connected machine
  op toolchain mirror verify /srv/op-mirror
  OP_TOOLCHAIN_MIRROR=https://mirror.example.com/op op toolchain install   on the fleet"
    )]
    Mirror(MirrorArgs),

    /// Remove cached tools that the active lock does not pin
    #[command(after_help = "Examples:\n  op toolchain prune --dry-run\n  op toolchain prune")]
    Prune {
        /// Only print what would be removed
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Pin new versions: URLs from each tool's template, digests from upstream checksum files
    #[command(after_help = "\
Examples:
  op toolchain lock update flux@2.8.0
  op toolchain lock update kubectl@1.36.0 crane@0.22.0 --lock ci/toolchain.lock
Only checksum files and HEAD requests are made (through OP_TOOLCHAIN_MIRROR when set). On any
error the lock and DEPENDENCIES.md stay exactly as they were.")]
    Update {
        /// TOOL@VERSION, for example flux@2.8.0
        #[arg(required = true, value_name = "TOOL@VERSION")]
        specs: Vec<String>,
    },

    /// Check that every tool and platform is pinned and consistent; --upstream also compares
    /// the digests with the ones upstream publishes now (exit 3 on a re-uploaded asset)
    #[command(
        after_help = "Examples:\n  op toolchain lock check\n  op toolchain lock check --upstream     e.g. in a scheduled CI job"
    )]
    Check {
        /// Re-read the upstream checksum files and compare
        #[arg(long)]
        upstream: bool,
    },
}

#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Directory to fill (created if needed)
    #[arg(value_name = "DIR", required = true)]
    pub dir: Option<PathBuf>,

    /// Platforms to copy (repeatable; default: this machine's) [env: OP_TOOLCHAIN_PLATFORM]
    #[arg(
        long = "platform",
        value_name = "KEY",
        conflicts_with = "all_platforms"
    )]
    pub platforms: Vec<String>,

    /// Copy every platform the lock pins
    #[arg(long)]
    pub all_platforms: bool,

    #[command(subcommand)]
    pub command: Option<MirrorCommand>,
}

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Re-hash a mirror directory against the lock (exit 3 on any difference)
    Verify {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Tools to install (default: every tool in the lock)
    pub tools: Vec<String>,

    /// Install another platform's build [env: OP_TOOLCHAIN_PLATFORM]
    #[arg(long, value_name = "KEY")]
    pub platform: Option<String>,

    /// Reinstall even when the cache already holds the tool
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array instead of a table
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,

    /// Print every tool and platform of the lock as Markdown (the source of DEPENDENCIES.md)
    #[arg(long)]
    pub markdown: bool,

    /// Show another platform's entries [env: OP_TOOLCHAIN_PLATFORM]
    #[arg(long, value_name = "KEY")]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Tool name from toolchain.lock
    pub tool: String,

    /// Arguments passed to the tool unchanged
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Append the tool directories to the file named by $GITHUB_PATH instead of printing
    #[arg(long)]
    pub github: bool,

    /// Syntax of the printed line
    #[arg(long, value_enum, default_value_t = ShellKind::default_for_host())]
    pub shell: ShellKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShellKind {
    Sh,
    Fish,
    Powershell,
}

impl ShellKind {
    fn default_for_host() -> ShellKind {
        if cfg!(windows) {
            ShellKind::Powershell
        } else {
            ShellKind::Sh
        }
    }
}
