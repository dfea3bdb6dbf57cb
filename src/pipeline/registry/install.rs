//! Making Docker trust the copied certificate: the system store (once per certificate, checked
//! against the store itself) or Colima's Docker. Under `--dry-run` every message says what
//! would happen, never that it did.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::store;
use super::trust::{self, HostOs, Keychain, LinuxStore, TrustTarget};
use super::{checked, is_root};
use crate::error::{Code, OpError};
use crate::pipeline::runner::find_on_path;
use crate::pipeline::{Context, args};

/// The trust steps for one copied certificate.
pub struct Trust<'a> {
    pub context: &'a Context<'a>,
    pub cert: &'a Path,
    pub sentinel: PathBuf,
    pub os: HostOs,
    pub home: &'a Path,
    /// Where the Linux trust store lives (`/`).
    pub store_root: &'a Path,
}

impl Trust<'_> {
    /// `done` on a real run, `would` (marked as a dry run) under `--dry-run`.
    pub fn say(&self, done: &str, would: &str) {
        self.context.say(if self.context.runner.dry_run() {
            would
        } else {
            done
        });
    }

    pub fn unsupported(&self) {
        let copied = if self.context.runner.dry_run() {
            "the certificate would still be copied"
        } else {
            "the certificate was copied"
        };
        self.context.runner.toolchain().output.warn(&format!(
            "System trust is supported only on macOS and Linux; {copied}."
        ));
    }

    /// Adds the certificate to the system store and records it in the sentinel; `false` when
    /// this OS has no supported store.
    pub fn system(&self, keychain: &Keychain) -> Result<bool> {
        let target = TrustTarget {
            os: self.os,
            cert: self.cert,
            keychain,
            linux: LinuxStore::detect(self.store_root),
            store_root: self.store_root,
            root: is_root(),
        };
        let Some(commands) = trust::system_trust_argv(&target) else {
            return Ok(false);
        };
        for argv in commands {
            let program = self.context.runner.from_path(&argv[0])?;
            checked(
                self.context,
                &program,
                &args(argv[1..].iter().cloned()),
                None,
            )?;
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
    pub fn colima_or_desktop(&self, no_restart: bool) -> Result<()> {
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
            self.say(
                "Cert installed in Colima VM. Restart Colima (colima restart) for Docker to use it.",
                "Would install the cert in the Colima VM; then restart Colima (colima restart) for Docker to use it.",
            );
        } else {
            self.say(
                "Restarting Colima so Docker picks up the new CA...",
                "Would restart Colima so Docker picks up the new CA.",
            );
            checked(context, colima, &args(["restart"]), None)?;
        }
        self.say(
            "Cert installed in Colima VM; Docker and pack will trust localhost:5001.",
            "Would install the cert in the Colima VM, so that Docker and pack trust localhost:5001.",
        );
        Ok(())
    }

    fn desktop(&self) -> Result<()> {
        if trust::already_trusted(self.cert, &self.sentinel) {
            match self.missing_from_store()? {
                None => {
                    self.say(
                        "Cert already trusted (idempotent); skipping install.",
                        "Cert already trusted (idempotent); a real run skips the install.",
                    );
                    return Ok(());
                }
                Some(place) => self.context.say(&format!(
                    "{} is recorded in {} but is no longer in the system trust store ({place}); installing it again.",
                    self.cert.display(),
                    self.sentinel.display()
                )),
            }
        }
        const FOR: &str = "so that Docker Desktop or another runtime trusts HTTPS to localhost:5001 / registry.local:5001.";
        self.say(
            &format!(
                "Colima is not running: adding the registry's self-signed cert to the system trust store {FOR}"
            ),
            &format!("Would add the registry's self-signed cert to the system trust store {FOR}"),
        );
        // The login keychain is the user's own: no password prompt for a default run.
        if self.system(&Keychain::login(self.home))? {
            if !self.context.runner.dry_run() {
                self.context
                    .say("Cert installed for system trust. Restart Docker if pull still fails.");
            }
        } else {
            self.context.runner.toolchain().output.warn(&format!(
                "System trust is supported only on macOS and Linux: trust {} in your Docker runtime, or add localhost:5001 to its insecure-registries",
                self.cert.display()
            ));
        }
        Ok(())
    }

    /// Where the store lacks the certificate (`None`: it holds it).
    fn missing_from_store(&self) -> Result<Option<String>> {
        let pem = std::fs::read_to_string(self.cert).unwrap_or_default();
        Ok(match self.os {
            HostOs::Linux => {
                store::linux_missing(self.store_root, LinuxStore::detect(self.store_root), &pem)
            }
            HostOs::MacOs => store::macos_missing(self.context, &Keychain::login(self.home), &pem)?,
            HostOs::Other => Some("no supported store".to_string()),
        })
    }
}
