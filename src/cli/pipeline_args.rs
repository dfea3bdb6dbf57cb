//! The arguments of the pipeline commands (build, push, build-push, promote-image,
//! watch-deployment, run, start-registry).

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Registry for the images [env: SKAFFOLD_DEFAULT_REPO; default: .run.yaml, .registry local, localhost:5001]
    #[arg(long, value_name = "REPO")]
    pub repo: Option<String>,

    /// Print the commands instead of running them
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Registry to push to [env: SKAFFOLD_DEFAULT_REPO; default: from .registry]
    #[arg(long, value_name = "REPO")]
    pub default_repo: Option<String>,

    /// Which .registry entries to use
    #[arg(long, value_enum, default_value = "auto")]
    pub destination: crate::formats::registry_file::Destination,

    /// The .registry file [default: .registry in the project directory]
    #[arg(long, value_name = "FILE")]
    pub registry_file: Option<PathBuf>,

    /// After the push, copy every built image to every other ci registry of .registry (crane copy)
    #[arg(long)]
    pub push_all: bool,

    /// Skaffold profile ("" for none)
    #[arg(long, default_value = "push")]
    pub profile: String,

    /// Directory for build_result.json [default: current directory]
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Parse image references from skaffold's output instead of --file-output
    #[arg(long)]
    pub no_file_output: bool,

    /// With --no-file-output: a regex with named groups `image` and `tag`
    #[arg(
        long,
        value_name = "REGEX",
        requires = "no_file_output",
        allow_hyphen_values = true
    )]
    pub image_pattern: Option<String>,

    /// Print the commands instead of running them
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct BuildPushArgs {
    /// Registry to publish to [env: SKAFFOLD_DEFAULT_REPO; default: .run.yaml, .registry local, localhost:5001]
    #[arg(long, value_name = "REPO")]
    pub repo: Option<String>,

    /// Image tag [default: the release tag from GITHUB_REF or git, else latest]
    #[arg(long)]
    pub tag: Option<String>,

    /// skaffold.yaml to read the artifacts from
    #[arg(long, value_name = "FILE", default_value = "skaffold.yaml")]
    pub skaffold_file: PathBuf,

    /// Directory for build_result.json [default: current directory]
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// pack binary to use instead of the pinned one [env: PACK_CMD]
    #[arg(long, value_name = "PATH")]
    pub pack: Option<PathBuf>,

    /// Target platforms, os/arch[/variant] separated by commas; more than one publishes a multi-arch image [default: the builder's, docker's]
    #[arg(long, value_name = "LIST")]
    pub platform: Option<String>,

    /// pack's remote build cache (`pack --cache-image`), tagged per artifact and platform [env: OP_CACHE_IMAGE]
    #[arg(long, value_name = "REF")]
    pub cache_image: Option<String>,

    /// Directory for pack's SBOMs (`pack --sbom-output-dir`), one subdirectory per artifact
    #[arg(long, value_name = "DIR")]
    pub sbom_output_dir: Option<PathBuf>,

    /// Print the commands instead of running them
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Environment to copy from
    #[arg(long, value_enum)]
    pub source: crate::pipeline::config::Environment,

    /// Environment to copy to
    #[arg(long, value_enum)]
    pub destination: crate::pipeline::config::PromoteDestination,

    /// Promote only this image (imageName in build_result.json) [default: every image]
    #[arg(long, value_name = "NAME")]
    pub image_name: Option<String>,

    /// build_result.json, or a directory holding it
    #[arg(long, value_name = "PATH", default_value = "build_result.json")]
    pub build_result: PathBuf,

    /// Print the commands instead of running them
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Deployment and HelmRelease name
    #[arg(long)]
    pub component: String,

    /// Environment being deployed
    #[arg(long, value_enum)]
    pub environment: crate::pipeline::config::Environment,

    /// Kubernetes namespace
    #[arg(long, default_value = "default")]
    pub namespace: String,

    /// The deployment's container that runs the image [default: the component name]
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,

    /// Timeout for `kubectl rollout status` (kubectl's syntax: 90s, 10m, 1h30m; 0 waits forever)
    #[arg(long, default_value = "30m")]
    pub timeout: String,

    /// Give up if the deployment does not run the image within this time (e.g. 10m, 1m30s)
    #[arg(long, default_value = "10m")]
    pub poll_timeout: String,

    /// Time between polls (e.g. 10s, 500ms)
    #[arg(long, default_value = "10s")]
    pub interval: String,

    /// Image to wait for (imageName in build_result.json) [default: the component's, else the first]
    #[arg(long, value_name = "NAME")]
    pub image_name: Option<String>,

    /// build_result.json, or a directory holding it
    #[arg(long, value_name = "PATH", default_value = "build_result.json")]
    pub build_result: PathBuf,

    /// Print the commands instead of running them
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// `context list`, or the context (directory) of a skaffold.yaml artifact
    #[arg(required = true, value_name = "CONTEXT")]
    pub args: Vec<String>,

    /// skaffold.yaml to read the artifacts from
    #[arg(long, value_name = "FILE", default_value = "skaffold.yaml")]
    pub skaffold_file: PathBuf,

    /// Print the docker command instead of running it
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StartRegistryArgs {
    /// Registry image. The default is a tag, not pinned by digest: pin it with
    /// NAME@sha256:<64 hex digits>
    #[arg(
        long,
        env = "REGISTRY_TLS_IMAGE",
        hide_env_values = true,
        default_value = "ghcr.io/octopilot/registry-tls:latest"
    )]
    pub image: String,

    /// How long to wait for the started registry to answer on https://localhost:5001/v2/
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ready_timeout: u64,

    /// Where to copy the registry's certificate (never its key) [default: ~/.config/registry-tls/certs]
    #[arg(long, value_name = "DIR")]
    pub certs_dir: Option<PathBuf>,

    /// Add the certificate to the system trust store (sudo)
    #[arg(long)]
    pub trust_cert: bool,

    /// Install the certificate in the Colima VM's Docker (default)
    #[arg(long, overrides_with = "no_trust_cert_colima")]
    pub trust_cert_colima: bool,

    /// Do not install the certificate in Colima
    #[arg(long)]
    pub no_trust_cert_colima: bool,

    /// Do not restart Colima after installing the certificate
    #[arg(long)]
    pub no_restart_colima: bool,

    /// macOS: trust in the login keychain instead of the System keychain (no sudo)
    #[arg(long)]
    pub user_keychain: bool,

    /// Print the commands instead of running them
    #[arg(long)]
    pub dry_run: bool,
}
