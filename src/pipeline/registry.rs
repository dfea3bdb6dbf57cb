//! `op start-registry`: the local TLS registry on localhost:5001 in docker (replacing an old
//! one), its certificate copied out, and trusted where asked (system store, Colima's Docker).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::cli::StartRegistryArgs;
use crate::error::{Code, OpError};
use crate::pipeline::{Context, args};
use crate::settings;

const CONTAINER: &str = "registry";
const CERT_IN_CONTAINER: &str = "/etc/envoy/certs/tls.crt";
const SENTINEL: &str = ".system-trust-installed";
const PULL_HINT: &str =
    "to pull: docker pull registry.local:5001/<image> or host.docker.internal:5001/<image>";

/// Does a hosts file map `registry.local`?
pub fn hosts_has_registry(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() >= 2 && fields[1..].contains(&"registry.local")
    })
}

/// The argv that adds `cert` to the system trust store on this OS (`None` where unsupported).
pub fn trust_commands(cert: &Path, user_keychain: bool, home: &Path) -> Option<Vec<Vec<String>>> {
    let cert = cert.display().to_string();
    if cfg!(target_os = "macos") {
        // The login keychain needs no root; the System keychain does.
        let (sudo, keychain) = if user_keychain {
            let db = home.join("Library/Keychains/login.keychain-db");
            let keychain = if db.exists() {
                db
            } else {
                home.join("Library/Keychains/login.keychain")
            };
            (false, keychain.display().to_string())
        } else {
            (true, "/Library/Keychains/System.keychain".to_string())
        };
        let mut argv: Vec<String> = if sudo {
            vec!["sudo".into()]
        } else {
            Vec::new()
        };
        argv.extend(
            [
                "security",
                "add-trusted-cert",
                "-d",
                "-r",
                "trustRoot",
                "-k",
            ]
            .into_iter()
            .map(String::from),
        );
        argv.extend([keychain, cert]);
        Some(vec![argv])
    } else if cfg!(target_os = "linux") {
        Some(vec![
            vec![
                "sudo".into(),
                "cp".into(),
                cert,
                "/usr/local/share/ca-certificates/registry-tls-localhost.crt".into(),
            ],
            vec!["sudo".into(), "update-ca-certificates".into()],
        ])
    } else {
        None
    }
}

pub fn start(context: &Context, options: &StartRegistryArgs) -> Result<()> {
    let hosts = settings::var("OP_HOSTS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/hosts"));
    if !hosts_has_registry(&std::fs::read_to_string(&hosts).unwrap_or_default()) {
        return Err(OpError::new(Code::Failure, format!("{} does not map registry.local", hosts.display()))
            .with_hint("add it, then run op start-registry again: echo '127.0.0.1 registry.local' | sudo tee -a /etc/hosts")
            .into());
    }
    let home = settings::var("HOME").map(PathBuf::from).unwrap_or_default();
    let certs_dir = options
        .certs_dir
        .as_deref()
        .map(|dir| context.absolute(dir))
        .unwrap_or_else(|| home.join(".config/registry-tls/certs"));
    let docker = context.runner.from_path("docker")?;
    let runner = &context.runner;
    let find = args([
        "ps",
        "-a",
        "--filter",
        &format!("name=^{CONTAINER}$"),
        "--format",
        "{{.ID}}",
    ]);

    // Replace any registry container from before.
    if !runner.dry_run() {
        for id in runner
            .capture(&docker, &find, None)?
            .lines()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        {
            let _ = runner.capture(&docker, &args(["stop", id]), None);
            let _ = runner.capture(&docker, &args(["rm", id]), None);
        }
    }
    let run = args([
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
        &options.image,
    ]);
    runner.run(&docker, &run, None, &[])?;
    let id = if runner.dry_run() {
        CONTAINER.to_string()
    } else {
        runner
            .capture(&docker, &find, None)?
            .lines()
            .map(str::trim)
            .find(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                OpError::new(
                    Code::Failure,
                    "the registry container started but is not listed by `docker ps`",
                )
            })?
    };

    // The image creates its certificate on first start.
    let probe = args(["exec", &id, "test", "-f", CERT_IN_CONTAINER]);
    if runner.dry_run() {
        runner.run(&docker, &probe, None, &[])?;
    } else {
        let deadline = Instant::now() + Duration::from_secs(15);
        while runner.capture(&docker, &probe, None).is_err() {
            if Instant::now() >= deadline {
                return Err(OpError::new(Code::Failure, format!("timed out after 15s waiting for {CERT_IN_CONTAINER} in the registry container")).into());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        std::fs::create_dir_all(&certs_dir).map_err(|error| {
            OpError::new(
                Code::Failure,
                format!("cannot create {}: {error}", certs_dir.display()),
            )
        })?;
    }
    let copy = args([
        "cp".to_string(),
        format!("{id}:/etc/envoy/certs/."),
        certs_dir.display().to_string(),
    ]);
    runner.run(&docker, &copy, None, &[])?;
    let cert = certs_dir.join("tls.crt");
    if !runner.dry_run() && !cert.is_file() {
        return Err(OpError::new(
            Code::Failure,
            format!("expected {} after docker cp", cert.display()),
        )
        .into());
    }
    context.say(&format!("certificates copied to {}", certs_dir.display()));

    if options.trust_cert {
        trust_system(context, &cert, &certs_dir, options.user_keychain, &home)?;
    }
    if !options.no_trust_cert_colima {
        trust_colima(context, &cert, options.no_restart_colima)?;
    } else if !options.trust_cert {
        context.say("skipped the Colima certificate install (--no-trust-cert-colima); trust it later with --trust-cert, or configure insecure-registries in Docker");
    }
    context.say(PULL_HINT);
    Ok(())
}

fn run_argv(context: &Context, argv: &[String]) -> Result<()> {
    let program = context.runner.from_path(&argv[0])?;
    context
        .runner
        .run(&program, &args(argv[1..].iter().cloned()), None, &[])
}

fn fingerprint(cert: &Path) -> Option<String> {
    std::fs::read(cert)
        .ok()
        .map(|bytes| hex::encode(Sha256::digest(bytes)))
}

/// Adds the certificate to the system trust store once per certificate (a sentinel in the certs
/// dir records which one was trusted).
fn trust_system(
    context: &Context,
    cert: &Path,
    certs_dir: &Path,
    user_keychain: bool,
    home: &Path,
) -> Result<()> {
    let sentinel = certs_dir.join(SENTINEL);
    let current = fingerprint(cert);
    if current.is_some()
        && std::fs::read_to_string(&sentinel)
            .ok()
            .map(|text| text.trim().to_string())
            == current
    {
        context.say("the certificate is already trusted; skipping");
        return Ok(());
    }
    let Some(commands) = trust_commands(cert, user_keychain, home) else {
        context.runner.toolchain().output.warn(
            "system trust is supported on macOS and Linux only; the certificates were copied",
        );
        return Ok(());
    };
    for argv in commands {
        run_argv(context, &argv)?;
    }
    if let Some(current) = current {
        context
            .runner
            .write_file(&sentinel, format!("{current}\n").as_bytes())?;
    }
    context.say("certificate added to the system trust store; restart Docker if pulls still fail");
    Ok(())
}

/// Installs the certificate into the Colima VM's Docker (and restarts Colima unless told not to).
fn trust_colima(context: &Context, cert: &Path, no_restart: bool) -> Result<()> {
    let Ok(colima) = context.runner.from_path("colima") else {
        context.say("Colima is not installed; for Docker Desktop or another runtime, pass --trust-cert to trust the certificate system-wide");
        return Ok(());
    };
    if !context.runner.dry_run()
        && context
            .runner
            .capture(&colima, &args(["status"]), None)
            .is_err()
    {
        context.say(
            "Colima is not running; start it and run op start-registry again, or pass --trust-cert",
        );
        return Ok(());
    }
    let dirs = [
        "localhost:5001",
        "host.docker.internal:5001",
        "registry.local:5001",
    ];
    let mkdirs: Vec<String> = dirs
        .iter()
        .map(|dir| format!("/etc/docker/certs.d/{dir}"))
        .collect();
    let copies: Vec<String> = dirs
        .iter()
        .map(|dir| format!("cp /tmp/registry-ca.crt /etc/docker/certs.d/{dir}/ca.crt"))
        .collect();
    let script = format!(
        "mkdir -p {} && cat > /tmp/registry-ca.crt && {}",
        mkdirs.join(" "),
        copies.join(" && ")
    );
    let pem = if context.runner.dry_run() {
        Vec::new()
    } else {
        std::fs::read(cert)?
    };
    context.runner.run_with_input(
        &colima,
        &args(["ssh", "--", "sudo", "sh", "-c", &script]),
        &pem,
    )?;
    if no_restart {
        context.say(
            "certificate installed in the Colima VM; run `colima restart` for Docker to use it",
        );
    } else {
        context.say("restarting Colima so Docker picks up the new CA");
        context.runner.run(&colima, &args(["restart"]), None, &[])?;
        context.say("certificate installed in the Colima VM; Docker and pack trust localhost:5001");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_check() {
        assert!(hosts_has_registry(
            "127.0.0.1 localhost registry.local # dev\n"
        ));
        assert!(hosts_has_registry("::1\tregistry.local\n"));
        assert!(!hosts_has_registry(
            "# 127.0.0.1 registry.local\n127.0.0.1 registry.local.example\n"
        ));
    }

    #[test]
    fn trust_argv_per_os() {
        let commands = trust_commands(Path::new("/c/tls.crt"), false, Path::new("/home/me"));
        if cfg!(target_os = "linux") {
            let commands = commands.unwrap();
            assert_eq!(
                commands[0],
                [
                    "sudo",
                    "cp",
                    "/c/tls.crt",
                    "/usr/local/share/ca-certificates/registry-tls-localhost.crt"
                ]
            );
            assert_eq!(commands[1], ["sudo", "update-ca-certificates"]);
        }
    }
}
