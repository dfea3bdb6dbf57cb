//! `op start-registry`: the local TLS registry on localhost:5001 in docker (replacing an old
//! one), its certificate copied out, and trusted where asked (system store, Colima's Docker).

pub mod trust;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::StartRegistryArgs;
use crate::error::{Code, OpError};
use crate::pipeline::runner::{describe, find_on_path};
use crate::pipeline::{Context, args};
use crate::settings;
use trust::{HostOs, Keychain, LinuxStore, TrustTarget};

const CONTAINER: &str = "registry";
const CERTS_IN_CONTAINER: &str = "/etc/envoy/certs";
/// Names another hosts file to check instead of the OS's (tests, unusual setups).
pub const HOSTS_FILE_ENV: &str = "OP_HOSTS_FILE";
const CERT_WAIT: Duration = Duration::from_secs(15);
const PULL_HINT: &str =
    "To pull: docker pull registry.local:5001/<image> or host.docker.internal:5001/<image>.";
const TRUSTED_RESTART_DOCKER: &str =
    "Cert installed for system trust. You may need to restart Docker for it to take effect.";

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

/// Runs a command whose failure stops `start-registry`: says which one failed, then passes its
/// exit code on.
fn checked(context: &Context, program: &Path, argv: &[OsString]) -> Result<()> {
    context
        .runner
        .run(program, argv, None, &[])
        .inspect_err(|_| {
            let failed = OpError::new(
                Code::Failure,
                format!("Command failed: {}", describe(program, argv, None, &[])),
            );
            context
                .runner
                .toolchain()
                .output
                .report_error(&anyhow::Error::new(failed));
        })
}

pub fn start(context: &Context, options: &StartRegistryArgs) -> Result<()> {
    let hosts = settings::var(HOSTS_FILE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(trust::default_hosts_file);
    let hosts_text =
        crate::bounded::read_capped_to_string(&hosts, "hosts file", crate::bounded::APP_FILE_CAP)
            .unwrap_or_default();
    if !trust::hosts_has_registry(&hosts_text) {
        return Err(OpError::new(
            Code::Failure,
            format!("Add '127.0.0.1 registry.local' to {} before using the local registry, then re-run op start-registry.", hosts.display()),
        )
        .with_hint("Example: echo '127.0.0.1 registry.local' | sudo tee -a /etc/hosts")
        .into());
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
    let docker = context.runner.from_path("docker")?;
    let id = start_container(context, &docker, &options.image)?;
    let cert = copy_certs(context, &docker, &id, &certs_dir)?;

    let trust = Trust {
        context,
        cert: &cert,
        sentinel: certs_dir.join(trust::SENTINEL),
        os: HostOs::current(),
        home: &home,
    };
    if options.trust_cert {
        let keychain = if options.user_keychain {
            Keychain::login(&home)
        } else {
            Keychain::System
        };
        if !trust.system(&keychain)? {
            context
                .runner
                .toolchain()
                .output
                .warn("System trust is supported only on macOS and Linux. Certs were copied.");
        }
    }
    context.say(&format!("Certs copied to {}", certs_dir.display()));
    if !options.no_trust_cert_colima {
        trust.colima_or_desktop(options.no_restart_colima)?;
    } else if options.trust_cert {
        context.say(TRUSTED_RESTART_DOCKER);
    } else if !context.runner.dry_run() && std::io::stdin().is_terminal() && ask_to_trust(context) {
        let keychain = if options.user_keychain {
            Keychain::login(&home)
        } else {
            Keychain::System
        };
        if trust.system(&keychain)? {
            context.say(TRUSTED_RESTART_DOCKER);
        } else {
            context
                .runner
                .toolchain()
                .output
                .warn("System trust is supported only on macOS and Linux. Certs were copied.");
        }
    } else {
        context.say("Skipped Colima cert install (--no-trust-cert-colima). To trust later: op start-registry --trust-cert-colima, or add insecure-registries in Docker.");
    }
    context.say(PULL_HINT);
    Ok(())
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
    checked(context, docker, &docker_run_argv(image))?;
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

/// Waits for the certificate the image creates on first start and copies it to `certs_dir`.
fn copy_certs(context: &Context, docker: &Path, id: &str, certs_dir: &Path) -> Result<PathBuf> {
    let runner = &context.runner;
    let probe = args([
        "exec".to_string(),
        id.to_string(),
        "test".into(),
        "-f".into(),
        format!("{CERTS_IN_CONTAINER}/tls.crt"),
    ]);
    let copy = args([
        "cp".to_string(),
        format!("{id}:{CERTS_IN_CONTAINER}/."),
        certs_dir.display().to_string(),
    ]);
    let cert = certs_dir.join("tls.crt");
    if runner.dry_run() {
        runner.run(docker, &probe, None, &[])?;
        runner
            .toolchain()
            .output
            .data(&format!("# create directory {}", certs_dir.display()));
        runner.run(docker, &copy, None, &[])?;
        return Ok(cert);
    }
    let deadline = Instant::now() + CERT_WAIT;
    while runner.capture(docker, &probe, None).is_err() {
        if Instant::now() >= deadline {
            return Err(OpError::new(
                Code::Failure,
                format!(
                    "Timed out waiting for certs inside container ({CERTS_IN_CONTAINER}/tls.crt, {}s)",
                    CERT_WAIT.as_secs()
                ),
            )
            .with_hint(format!("see `docker logs {id}`"))
            .into());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    std::fs::create_dir_all(certs_dir).map_err(|error| {
        OpError::new(
            Code::Failure,
            format!("cannot create {}: {error}", certs_dir.display()),
        )
    })?;
    checked(context, docker, &copy)?;
    if !cert.is_file() {
        return Err(OpError::new(
            Code::Failure,
            format!("Expected {} after docker cp", cert.display()),
        )
        .into());
    }
    Ok(cert)
}

/// The trust steps for one copied certificate.
struct Trust<'a> {
    context: &'a Context<'a>,
    cert: &'a Path,
    sentinel: PathBuf,
    os: HostOs,
    home: &'a Path,
}

impl Trust<'_> {
    /// Adds the certificate to the system store and records it in the sentinel; `false` when
    /// this OS has no supported store.
    fn system(&self, keychain: &Keychain) -> Result<bool> {
        let target = TrustTarget {
            os: self.os,
            cert: self.cert,
            keychain,
            linux: LinuxStore::detect(Path::new("/")),
            root: is_root(),
        };
        let Some(commands) = trust::system_trust_argv(&target) else {
            return Ok(false);
        };
        for argv in commands {
            let program = self.context.runner.from_path(&argv[0])?;
            checked(self.context, &program, &args(argv[1..].iter().cloned()))?;
        }
        if let Some(fingerprint) = trust::fingerprint(self.cert) {
            self.context
                .runner
                .write_file(&self.sentinel, format!("{fingerprint}\n").as_bytes())?;
        } else if self.context.runner.dry_run() {
            // The certificate is not there yet; the sentinel will hold its SHA-256 in hex.
            let placeholder = format!("{}\n", "0".repeat(64));
            self.context
                .runner
                .write_file(&self.sentinel, placeholder.as_bytes())?;
        }
        Ok(true)
    }

    /// The default: install into Colima's Docker when Colima runs, else (Docker Desktop or
    /// another runtime) into the system store once per certificate.
    fn colima_or_desktop(&self, no_restart: bool) -> Result<()> {
        let runner = &self.context.runner;
        let Some(colima) = find_on_path("colima") else {
            return self.desktop();
        };
        if runner.dry_run() {
            // Whether Colima runs is only known by running `colima status`.
            runner
                .toolchain()
                .output
                .data(&format!("# if `{} status` succeeds:", colima.display()));
            self.colima(&colima, no_restart)?;
            runner
                .toolchain()
                .output
                .data("# otherwise (Docker Desktop or another runtime):");
            return self.desktop();
        }
        match runner.capture_all(&colima, &args(["status"]), None) {
            Ok(_) => self.colima(&colima, no_restart),
            Err(_) => self.desktop(),
        }
    }

    fn colima(&self, colima: &Path, no_restart: bool) -> Result<()> {
        let context = self.context;
        let pem = if context.runner.dry_run() {
            Vec::new()
        } else {
            std::fs::read(self.cert).map_err(|error| {
                OpError::new(
                    Code::Failure,
                    format!("cannot read {}: {error}", self.cert.display()),
                )
            })?
        };
        let install = args(["ssh", "--", "sudo", "sh", "-c", &trust::colima_script()]);
        context
            .runner
            .run_with_input(colima, &install, &pem)
            .map_err(|error| {
                OpError::new(
                    Code::Failure,
                    format!("Failed to install cert in Colima VM: {error}"),
                )
            })?;
        if no_restart {
            context.say(
                "Cert installed in Colima VM. Restart Colima (colima restart) for Docker to use it.",
            );
        } else {
            context.say("Restarting Colima so Docker picks up the new CA...");
            checked(context, colima, &args(["restart"]))?;
        }
        context.say("Cert installed in Colima VM; Docker and pack will trust localhost:5001.");
        Ok(())
    }

    fn desktop(&self) -> Result<()> {
        let context = self.context;
        if trust::already_trusted(self.cert, &self.sentinel) {
            context.say("Cert already trusted (idempotent); skipping install.");
            return Ok(());
        }
        context.say("Docker Desktop (or other runtime) detected. Installing the registry's self-signed cert so Docker can trust HTTPS to localhost:5001 / registry.local:5001.");
        // The login keychain is the user's own: no password prompt for a default run.
        if self.system(&Keychain::login(self.home))? {
            context.say("Cert installed for system trust. Restart Docker if pull still fails.");
        } else {
            context.runner.toolchain().output.warn(&format!(
                "System trust is supported only on macOS and Linux: trust {} in your Docker runtime, or add localhost:5001 to its insecure-registries",
                self.cert.display()
            ));
        }
        Ok(())
    }
}

#[cfg(unix)]
fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
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
