//! `op start-registry`: the local TLS registry on localhost:5001 in docker (replacing an old
//! one), waited for until it answers, its certificate (never its key) copied out, and trusted
//! where asked (system store, Colima's Docker).

pub mod install;
pub mod ready;
pub mod store;
pub mod trust;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::cli::StartRegistryArgs;
use crate::error::{Code, OpError};
use crate::pipeline::runner::describe;
use crate::pipeline::{Context, args};
use crate::settings;
use install::Trust;
use trust::{HostOs, Keychain};

const CONTAINER: &str = "registry";
const CERT_IN_CONTAINER: &str = "/etc/envoy/certs/tls.crt";
/// Names another hosts file to check instead of the OS's (tests, unusual setups).
pub const HOSTS_FILE_ENV: &str = "OP_HOSTS_FILE";
/// Names another `https://HOST:PORT` to wait for instead of the registry's (tests, unusual
/// setups).
pub const REGISTRY_URL_ENV: &str = "OP_LOCAL_REGISTRY_URL";
/// Names another root for the Linux trust store than `/` (tests, unusual setups).
pub const TRUST_STORE_ROOT_ENV: &str = "OP_TRUST_STORE_ROOT";
const LOGS_HINT: &str = "see `docker logs registry`";
const PULL_HINT: &str =
    "To pull: docker pull registry.local:5001/<image> or host.docker.internal:5001/<image>.";

/// `docker run` of the registry: TLS on 5001 only (5000, plain HTTP, is never published).
pub fn docker_run_argv(image: &str) -> Vec<OsString> {
    args([
        "run",
        "-d",
        "-p",
        "5001:5001",
        "-v",
        "registry-data:/var/lib/registry",
        "-v",
        "registry-certs:/etc/envoy/certs",
        "--restart",
        "unless-stopped",
        "--name",
        CONTAINER,
        image,
    ])
}

/// Runs a command whose failure stops `start-registry`: says which one failed (and what to do,
/// when `hint` says), then passes its exit code on.
fn checked(context: &Context, program: &Path, argv: &[OsString], hint: Option<&str>) -> Result<()> {
    context
        .runner
        .run(program, argv, None, &[])
        .inspect_err(|_| {
            let mut failed = OpError::new(
                Code::Failure,
                format!("Command failed: {}", describe(program, argv, None, &[])),
            );
            if let Some(hint) = hint {
                failed = failed.with_hint(hint);
            }
            context
                .runner
                .toolchain()
                .output
                .report_error(&anyhow::Error::new(failed));
        })
}

/// Is `image` pinned by digest? A malformed digest is a usage error.
pub fn pinned_by_digest(image: &str) -> Result<bool> {
    let Some((_, digest)) = image.rsplit_once('@') else {
        return Ok(false);
    };
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() == 64
        && hex
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(true)
    } else {
        Err(OpError::new(
            Code::Config,
            format!("--image {image}: a digest reference needs @sha256: and 64 hex digits"),
        )
        .with_hint("e.g. ghcr.io/octopilot/registry-tls@sha256:<digest>, as `docker buildx imagetools inspect IMAGE` shows it")
        .into())
    }
}

pub fn start(context: &Context, options: &StartRegistryArgs) -> Result<()> {
    let pinned = pinned_by_digest(&options.image)?;
    let endpoint = ready::Endpoint::parse(
        settings::var(REGISTRY_URL_ENV)
            .as_deref()
            .unwrap_or(ready::DEFAULT_BASE),
    )
    .map_err(|problem| OpError::new(Code::Config, format!("{REGISTRY_URL_ENV}={problem}")))?;
    check_hosts(context)?;
    if !pinned {
        context.runner.toolchain().output.warn(&format!(
            "{} is a tag, not pinned by digest: the registry it runs can change from one run to the next. Pin it with --image (or REGISTRY_TLS_IMAGE) NAME@sha256:<digest>.",
            options.image
        ));
    }
    let home = settings::var("HOME")
        .map(PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|dirs| dirs.home_dir().to_path_buf()))
        .unwrap_or_default();
    let certs_dir = options
        .certs_dir
        .as_deref()
        .map(|dir| context.absolute(dir))
        .unwrap_or_else(|| home.join(".config/registry-tls/certs"));
    let store_root = settings::var(TRUST_STORE_ROOT_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let docker = context.runner.from_path("docker")?;
    let id = start_container(context, &docker, &options.image)?;
    wait_until_ready(context, &endpoint, options.ready_timeout)?;
    let cert = copy_cert(context, &docker, &id, &certs_dir)?;

    let trust = Trust {
        context,
        cert: &cert,
        sentinel: certs_dir.join(trust::SENTINEL),
        os: HostOs::current(),
        home: &home,
        store_root: &store_root,
    };
    let keychain = if options.user_keychain {
        Keychain::login(&home)
    } else {
        Keychain::System
    };
    let trusted_restart = (
        "Cert installed for system trust. You may need to restart Docker for it to take effect.",
        "Would install the cert for system trust; then restart Docker for it to take effect.",
    );
    if options.trust_cert && !trust.system(&keychain)? {
        trust.unsupported();
    }
    if !options.no_trust_cert_colima {
        trust.colima_or_desktop(options.no_restart_colima)?;
    } else if options.trust_cert {
        trust.say(trusted_restart.0, trusted_restart.1);
    } else if !context.runner.dry_run() && std::io::stdin().is_terminal() && ask_to_trust(context) {
        if trust.system(&keychain)? {
            trust.say(trusted_restart.0, trusted_restart.1);
        } else {
            trust.unsupported();
        }
    } else {
        trust.say(
            "Skipped Colima cert install (--no-trust-cert-colima). To trust later: op start-registry --trust-cert-colima, or add insecure-registries in Docker.",
            "Would skip the Colima cert install (--no-trust-cert-colima). To trust later: op start-registry --trust-cert-colima, or add insecure-registries in Docker.",
        );
    }
    context.say(PULL_HINT);
    Ok(())
}

/// The hosts file must map registry.local; a dry run shows the step instead of stopping.
fn check_hosts(context: &Context) -> Result<()> {
    let hosts = settings::var(HOSTS_FILE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(trust::default_hosts_file);
    let hosts_text =
        crate::bounded::read_capped_to_string(&hosts, "hosts file", crate::bounded::APP_FILE_CAP)
            .unwrap_or_default();
    if trust::hosts_has_registry(&hosts_text) {
        return Ok(());
    }
    if context.runner.dry_run() {
        context.runner.toolchain().output.data(&format!(
            "# add '127.0.0.1 registry.local' to {} (it lacks the entry; a real run stops here)",
            hosts.display()
        ));
        return Ok(());
    }
    Err(OpError::new(
        Code::Failure,
        format!("Add '127.0.0.1 registry.local' to {} before using the local registry, then re-run op start-registry.", hosts.display()),
    )
    .with_hint("Example: echo '127.0.0.1 registry.local' | sudo tee -a /etc/hosts")
    .into())
}

fn ask_to_trust(context: &Context) -> bool {
    context
        .runner
        .toolchain()
        .output
        .info("Install cert for system trust? This may ask for your password (sudo). [y/N]");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && trust::is_yes(&answer)
}

/// Replaces any container named `registry` with a new one; returns its id.
fn start_container(context: &Context, docker: &Path, image: &str) -> Result<String> {
    let runner = &context.runner;
    let find = args([
        "ps",
        "-a",
        "--filter",
        &format!("name=^{CONTAINER}$"),
        "--format",
        "{{.ID}}",
    ]);
    let list = || -> Result<Vec<String>> {
        Ok(runner
            .capture(docker, &find, None)?
            .lines()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .collect())
    };
    if runner.dry_run() {
        runner.toolchain().output.data(&format!(
            "# stop and remove each container listed by: {}",
            describe(docker, &find, None, &[])
        ));
    } else {
        for id in list()? {
            // A container that is already stopped or gone is fine.
            let _ = runner.capture(docker, &args(["stop", &id]), None);
            let _ = runner.capture(docker, &args(["rm", &id]), None);
        }
    }
    checked(context, docker, &docker_run_argv(image), None)?;
    if runner.dry_run() {
        // docker accepts the container's name wherever it takes its id.
        return Ok(CONTAINER.to_string());
    }
    list()?.into_iter().next().ok_or_else(|| {
        OpError::new(
            Code::Failure,
            format!(
                "Container started but not found: `docker ps` lists no container named {CONTAINER}"
            ),
        )
        .into()
    })
}

/// Waits until the registry answers on its `/v2/` endpoint. A registry that already has its
/// certificate (every run after the first) is still starting when `docker run` returns.
fn wait_until_ready(context: &Context, endpoint: &ready::Endpoint, seconds: u64) -> Result<()> {
    let output = &context.runner.toolchain().output;
    let url = endpoint.url();
    if context.runner.dry_run() {
        output.data(&format!(
            "# wait up to {seconds} s until {url} answers (HTTP 200 or 401)"
        ));
        return Ok(());
    }
    output.info(&format!(
        "Waiting up to {seconds} s for the registry at {url} ..."
    ));
    match ready::wait(endpoint, Duration::from_secs(seconds)) {
        Ok(status) => {
            output.info(&format!("Registry answers at {url} (HTTP {status})."));
            Ok(())
        }
        Err(last) => Err(OpError::new(
            Code::Failure,
            format!("The registry did not answer at {url} within {seconds} s (last: {last})"),
        )
        .with_hint(format!(
            "{LOGS_HINT}; a slow machine may need --ready-timeout SECONDS"
        ))
        .into()),
    }
}

/// Copies the registry's certificate, and only it, to `certs_dir/tls.crt`: through a fresh
/// directory inside `certs_dir`, checked on the host to hold a PEM certificate and no private
/// key, then renamed into place. Nothing runs inside the image (it may have no shell tools).
fn copy_cert(context: &Context, docker: &Path, id: &str, certs_dir: &Path) -> Result<PathBuf> {
    let runner = &context.runner;
    let cert = certs_dir.join("tls.crt");
    let copy = |target: &Path| {
        args([
            OsString::from("cp"),
            format!("{id}:{CERT_IN_CONTAINER}").into(),
            target.as_os_str().to_owned(),
        ])
    };
    let copied = (
        format!("Certificate copied to {}", cert.display()),
        format!("Would copy the certificate to {}", cert.display()),
    );
    if runner.dry_run() {
        let output = &runner.toolchain().output;
        output.data(&format!("# create directory {}", certs_dir.display()));
        runner.run(
            docker,
            &copy(&certs_dir.join(".incoming-XXXXXX/tls.crt")),
            None,
            &[],
        )?;
        output.data(&format!(
            "# move it to {} once it holds a PEM certificate and no private key",
            cert.display()
        ));
        context.say(&copied.1);
        return Ok(cert);
    }
    let cannot = |what: &str, path: &Path, error: std::io::Error| {
        OpError::new(
            Code::Failure,
            format!("cannot {what} {}: {error}", path.display()),
        )
    };
    std::fs::create_dir_all(certs_dir).map_err(|error| cannot("create", certs_dir, error))?;
    let incoming = tempfile::Builder::new()
        .prefix(".incoming-")
        .tempdir_in(certs_dir)
        .map_err(|error| cannot("create a directory in", certs_dir, error))?;
    let target = incoming.path().join("tls.crt");
    checked(context, docker, &copy(&target), Some(LOGS_HINT))?;
    let regular = std::fs::symlink_metadata(&target).is_ok_and(|meta| meta.is_file());
    let text = if regular {
        crate::bounded::read_capped_to_string(
            &target,
            "registry certificate",
            crate::bounded::APP_FILE_CAP,
        )?
    } else {
        String::new()
    };
    if text.contains("PRIVATE KEY") || store::certificate_bodies(&text).is_empty() {
        return Err(OpError::new(
            Code::Failure,
            format!(
                "{CERT_IN_CONTAINER} in container {id} is not a PEM certificate alone{}; nothing was copied",
                if text.contains("PRIVATE KEY") { " (it holds a private key)" } else { "" }
            ),
        )
        .with_hint(LOGS_HINT)
        .into());
    }
    std::fs::rename(&target, &cert).map_err(|error| cannot("write", &cert, error))?;
    context.say(&copied.0);
    let stale_key = certs_dir.join("tls.key");
    if stale_key.exists() {
        runner.toolchain().output.warn(&format!(
            "{} holds a private key (an earlier op start-registry copied it): the host does not need the registry's key; delete it",
            stale_key.display()
        ));
    }
    Ok(cert)
}

#[cfg(unix)]
fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_container_publishes_only_tls() {
        let argv: Vec<String> = docker_run_argv("img:1")
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            argv,
            [
                "run",
                "-d",
                "-p",
                "5001:5001",
                "-v",
                "registry-data:/var/lib/registry",
                "-v",
                "registry-certs:/etc/envoy/certs",
                "--restart",
                "unless-stopped",
                "--name",
                "registry",
                "img:1"
            ]
        );
        assert!(!argv.iter().any(|arg| arg.contains("5000")));
    }
}
