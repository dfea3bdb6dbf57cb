//! The command line: clap types only. Commands receive plain values, never these types' parser.

mod help;
pub mod man;
mod pipeline_args;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use help::{named_command, path_option, protect_exec_args};
pub use pipeline_args::*;

const AFTER_HELP: &str = "\
Examples:
  op toolchain install                 fetch and verify every pinned tool
  op toolchain exec skaffold -- version
  eval \"$(op toolchain env)\"            put the pinned tools first on PATH

Exit codes: 0 ok, 1 failed, 2 usage/config error, 3 integrity failure,
4 download failed, 5 no pinned build for this platform, 6 offline and not
cached; a wrapped tool's own code passes through.";

/// The heading of the options every command accepts.
pub const GLOBAL_HEADING: &str = "Global options";

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
    #[arg(long, value_name = "FILE", help_heading = GLOBAL_HEADING)]
    pub lock: Option<PathBuf>,

    /// Pipeline settings file (key=value lines); environment variables win over it
    /// [env: OCTOPILOT_PIPELINE_PROPERTIES]
    #[arg(long, value_name = "FILE", help_heading = GLOBAL_HEADING)]
    pub config: Option<PathBuf>,

    /// Print errors only
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL_HEADING)]
    pub quiet: bool,

    /// Also print each HTTP attempt, lock wait and child command line, with timings
    #[arg(short, long, global = true, help_heading = GLOBAL_HEADING)]
    pub verbose: bool,

    /// Colour the output: auto (a terminal, unless NO_COLOR is set or CLICOLOR_FORCE forces it),
    /// always or never
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto,
        help_heading = GLOBAL_HEADING
    )]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build every artifact of skaffold.yaml with the pinned skaffold (no push)
    #[command(after_help = "\
Examples:
  op build
  op build --repo ghcr.io/acme --dry-run
Runs: skaffold build --cache-artifacts=false --default-repo REPO [--tag TAG] [--profile P] [--label L]
[--namespace N]. TAG comes from GITHUB_REF (refs/tags/v1.2.3 -> 1.2.3) or `git describe`; P, L and N
from SKAFFOLD_PROFILE, SKAFFOLD_LABEL and SKAFFOLD_NAMESPACE.")]
    Build(BuildArgs),

    /// Build and push with skaffold (profile `push`), write build_result.json, optionally copy to every ci registry
    #[command(after_help = "\
Examples:
  op push                                   registry from .registry (ci in GitHub Actions, else local)
  op push --default-repo ghcr.io/acme --push-all
  op push --no-file-output --image-pattern 'Pushed (?P<image>\\S+):(?P<tag>\\S+)'")]
    Push(PushArgs),

    /// Build each skaffold.yaml artifact with pack (buildpacks) or docker (Dockerfile), publish, write build_result.json
    #[command(
        name = "build-push",
        after_help = "\
Examples:
  op build-push                              to localhost:5001 (see `op start-registry`)
  op build-push --repo ghcr.io/acme --tag 1.4.0
  op build-push --repo ghcr.io/acme --platform linux/amd64,linux/arm64 --cache-image ghcr.io/acme/cache
  PACK_CMD=/opt/pack/bin/pack op build-push  a pack binary other than the pinned one
build_result.json pins each Dockerfile image to the digest docker reported (REF@sha256:…)."
    )]
    BuildPush(BuildPushArgs),

    /// Copy the built images from one environment's registry to another's with crane
    #[command(
        name = "promote-image",
        after_help = "\
Examples:
  op promote-image --source dev --destination pp
  op promote-image --source pp --destination prod --image-name api --build-result out/
Registries: GOOGLE_GKE_IMAGE_REPOSITORY (dev), GOOGLE_GKE_IMAGE_PP_REPOSITORY (pp),
GOOGLE_GKE_IMAGE_PROD_REPOSITORY (prod), else PROMOTE_SOURCE_REPOSITORY / PROMOTE_DESTINATION_REPOSITORY."
    )]
    PromoteImage(PromoteArgs),

    /// Reconcile the Flux HelmRelease, wait until the deployment runs the built image, then wait for the rollout
    #[command(
        name = "watch-deployment",
        after_help = "\
Examples:
  op watch-deployment --component api --environment dev
  op watch-deployment --component api --environment prod --namespace apps --poll-timeout 15m --interval 5s
  op watch-deployment --component backend --container api --environment pp --timeout 10m
Runs `flux reconcile helmrelease C -n NS` and `kubectl -n NS get deployment C -o
jsonpath={.spec.template.spec.containers[?(@.name==\"NAME\")].image}` every --interval until the
container NAME (--container, default C) runs the build: the environment's registry plus the
image path below the registry it was built in (or the pushed reference itself), with the built
tag (and digest, when pinned). Then `kubectl -n NS rollout status deployment/C --timeout T`.
Durations are kubectl's: 90s, 10m, 1h, 1m30s. kubectl failing the same way 3 polls in a row
(no such deployment, API server down, forbidden) stops the wait; a failing flux reconcile is a
warning. The image is build_result.json's --image-name entry, else the one named like the
component, else the first. The environment's registry: GOOGLE_GKE_IMAGE_REPOSITORY (dev),
GOOGLE_GKE_IMAGE_PP_REPOSITORY (pp), GOOGLE_GKE_IMAGE_PROD_REPOSITORY (prod), else
WATCH_DESTINATION_REPOSITORY."
    )]
    WatchDeployment(WatchArgs),

    /// Run a built image locally with docker (ports, env and volumes from .run.yaml)
    #[command(
        arg_required_else_help = true,
        after_help = "\
Examples:
  op run context list          each artifact's context and inferred container port
  op run services/api          docker run the image of the artifact with context services/api
  op run web --dry-run         print the docker command line instead
The image is the artifact's entry in ./build_result.json, else <default repo>/<image>:<.run.yaml tag
or latest>. The container port comes from Procfile, project.toml, Dockerfile (EXPOSE) or nginx.conf
(listen), else 8080; the host port is the first free one from 8080 unless .run.yaml sets ports."
    )]
    Run(RunArgs),

    /// Start the local TLS registry on localhost:5001 (docker), copy its certificate out, optionally trust it
    #[command(
        name = "start-registry",
        after_help = "\
Examples:
  op start-registry                          with Colima: installs the CA in the VM and restarts it
  op start-registry --no-trust-cert-colima --trust-cert
  op start-registry --trust-cert --user-keychain   macOS: the login keychain, no sudo
  op start-registry --dry-run
Needs `127.0.0.1 registry.local` in /etc/hosts. Without a running Colima (Docker Desktop, another
runtime), the default installs the certificate for system trust once (Linux: sudo
update-ca-certificates; macOS: the login keychain)."
    )]
    StartRegistry(StartRegistryArgs),

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

    /// Print the man page (roff) to stdout, or write every page into a directory
    #[command(after_help = "\
Examples:
  op man > /usr/local/share/man/man1/op.1
  op man --dir /usr/local/share/man/man1     op.1, op-build.1, op-toolchain-install.1, ...")]
    Man {
        /// Write op.1 and one page per subcommand into this directory instead
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ToolchainCommand {
    /// Download, verify and install the pinned tools (all of them by default)
    #[command(after_help = "\
Examples:
  op toolchain install                      every tool for this machine
  op toolchain install kubectl crane        just these two
  op toolchain install --platform linux-arm64   another platform's tools (for images, mirrors)
  op toolchain install --force skaffold     reinstall, discarding what the cache holds
  op toolchain install --json | jq -r '.tools[].path'")]
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
    #[command(
        after_help = "Examples:\n  op toolchain verify || op toolchain install --force\n  op toolchain verify --json | jq -r '.tools[] | select(.status == \"bad\") | .tool'"
    )]
    Verify {
        /// One JSON document on stdout, a row per tool and platform (the exit code is unchanged)
        #[arg(long)]
        json: bool,
    },

    /// Show the newest upstream release of each pinned tool; exit 100 when a pin is behind
    #[command(after_help = "\
Examples:
  op toolchain outdated
  op toolchain outdated --json | jq -r '.tools[] | select(.outdated) | .tool'
  op toolchain outdated kubectl --min-age 3d
Exit 0: every pin is current; 100: a release newer than a pin is at least --min-age old.")]
    Outdated(OutdatedArgs),

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

    /// Print the cache directory (OP_CACHE_DIR, else the per-user cache directory)
    #[command(
        after_help = "Examples:\n  op toolchain dir\n  du -sh \"$(op toolchain dir)\"\n\nThe directory holds a CACHEDIR.TAG, so backup tools that honour it skip it."
    )]
    Dir,

    /// Remove cached tools that the active lock does not pin and nothing used lately
    #[command(
        after_help = "A cache shared by several repositories holds tools of other locks too: an entry\n\
is kept while any op used it within --unused-for (every run of a tool marks its entry).\n\
Only directories op created (an entry name and an op receipt) are ever removed.\n\n\
Examples:\n  op toolchain prune --dry-run\n  op toolchain prune\n  op toolchain prune --unused-for 0    remove every entry this lock does not pin, now"
    )]
    Prune {
        /// Only print what would be removed
        #[arg(long)]
        dry_run: bool,
        /// Keep entries used within this long (`30d`, `12h`, `90m`, `0` for none)
        #[arg(long, value_name = "AGE", default_value = "1d")]
        unused_for: String,
    },
}

/// How `outdated` and `lock update TOOL@latest` choose among upstream releases.
#[derive(Debug, Args)]
pub struct LatestArgs {
    /// Only releases published at least this long ago count (`24h`, `3d`, `90m`, `0`)
    #[arg(long, value_name = "AGE", default_value = "24h")]
    pub min_age: String,
    /// Consider pre-releases (`2.0.0-rc.1`) too
    #[arg(long)]
    pub pre: bool,
}

#[derive(Debug, Args)]
pub struct OutdatedArgs {
    /// Only these tools [default: every tool whose template lists `releases`]
    #[arg(value_name = "TOOL")]
    pub tools: Vec<String>,
    /// One JSON document on stdout, a row per tool
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub latest: LatestArgs,
}

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Pin new versions: URLs from each tool's template, digests from upstream checksum files
    #[command(after_help = "\
Examples:
  op toolchain lock update flux@2.8.0
  op toolchain lock update kubectl@1.36.0 crane@0.22.0 --lock ci/toolchain.lock
  op toolchain lock update skaffold@2.14.0 --accept-reupload   after checking why it changed
  op toolchain lock update flux@latest      the newest release at least --min-age old
  op toolchain lock update --all --min-age 3d
Only release listings, checksum files, signatures and HEAD requests are made (through
OP_TOOLCHAIN_MIRROR when set), and the transparency log is asked about each signature. On any
error the lock, DEPENDENCIES.md and the evidence proofs stay exactly as they were.")]
    Update {
        /// TOOL@VERSION (flux@2.8.0) or TOOL@latest
        #[arg(
            required_unless_present = "all",
            conflicts_with = "all",
            value_name = "TOOL@VERSION"
        )]
        specs: Vec<String>,

        /// Every tool whose template lists `releases`, at its newest release (TOOL@latest)
        #[arg(long)]
        all: bool,

        #[command(flatten)]
        latest: LatestArgs,

        /// Pin a version older than the one pinned now
        #[arg(long)]
        allow_downgrade: bool,

        /// Record a new digest for a URL the lock already pins (an asset re-uploaded upstream)
        /// instead of refusing with exit 3
        #[arg(long)]
        accept_reupload: bool,

        /// Pin TOOL even though the supply-chain evidence its policy requires cannot be gathered
        /// or verified (repeatable; recorded in the lock as `accepted_missing = "VERSION"`)
        #[arg(long, value_name = "TOOL")]
        accept_missing_evidence: Vec<String>,
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
        /// One JSON document on stdout: the problems, and with --upstream one row per platform
        #[arg(long)]
        json: bool,
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
        /// The mirror directory (as filled by `op toolchain mirror DIR`)
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

    /// One JSON document on stdout, a row per tool (also when some fail; the exit code is unchanged)
    #[arg(long)]
    pub json: bool,
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
    /// POSIX sh, dash, ksh
    Sh,
    Bash,
    Zsh,
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
