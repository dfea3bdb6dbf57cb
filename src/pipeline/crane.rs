//! Copies between registries with the pinned crane, verified: the source is pinned by digest
//! (the one recorded in its reference, else `crane digest SRC`), copied with
//! `crane copy REPO@DIGEST DST`, and the destination's digest read back with `crane digest DST`;
//! a difference is exit 1 naming both. Each crane run that fails with HTTP 429, a 5xx or a
//! connection error (seen in crane's stderr) is retried with a doubling backoff, at most
//! `OP_HTTP_RETRIES` times, each retry logged.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context as _, Result};
use regex::Regex;

use crate::error::{Code, OpError};
use crate::pipeline::runner::child;
use crate::pipeline::{Context, args};
use crate::redact;

/// The wait before the first retry; doubled for each next one, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The pinned crane of one command.
pub struct Crane<'c, 'a> {
    context: &'c Context<'a>,
    program: PathBuf,
}

impl<'c, 'a> Crane<'c, 'a> {
    pub fn new(context: &'c Context<'a>) -> Result<Crane<'c, 'a>> {
        Ok(Crane {
            context,
            program: context.runner.pinned("crane")?,
        })
    }

    /// `reference` pinned by its digest, `repository@digest`: the digest recorded in it, else
    /// the one `crane digest` reads (under `--dry-run`, which reads nothing, `reference` itself).
    pub fn pin(&self, reference: &str) -> Result<String> {
        let digest = match digest_of(reference) {
            Some(digest) => digest.to_string(),
            None if self.context.runner.dry_run() => {
                self.run("digest", &[reference])?;
                return Ok(reference.to_string());
            }
            None => self.digest(reference)?,
        };
        Ok(format!("{}@{digest}", repository(reference)))
    }

    /// Copies `from` to `to` by digest (see [`Crane::pin`]) and checks that `to` reads back with
    /// that digest afterwards.
    pub fn copy_verified(&self, from: &str, to: &str) -> Result<()> {
        let source = self.pin(from)?;
        self.run("copy", &[&source, to])?;
        let digest = match digest_of(&source) {
            Some(digest) if !self.context.runner.dry_run() => digest,
            _ => {
                self.run("digest", &[to])?;
                return Ok(());
            }
        };
        let copied = self.digest(to)?;
        if copied != digest {
            return Err(OpError::new(
                Code::Failure,
                format!(
                    "the copy of {} to {} does not match: the source is {digest}, the destination reads back as {copied}",
                    redact::reference(from),
                    redact::reference(to)
                ),
            )
            .with_hint("something else wrote to the destination during the copy, or the registry rewrote the manifest; run the command again and check the destination registry")
            .into());
        }
        self.context
            .say(&format!("verified {} at {digest}", redact::reference(to)));
        Ok(())
    }

    /// `crane digest REFERENCE`, checked to be a digest.
    pub fn digest(&self, reference: &str) -> Result<String> {
        let printed = self.run("digest", &[reference])?;
        let printed = printed.trim();
        if is_digest(printed) {
            return Ok(printed.to_string());
        }
        Err(OpError::new(
            Code::Failure,
            format!(
                "crane digest {} printed {:?}, not a digest",
                redact::reference(reference),
                printed.chars().take(200).collect::<String>()
            ),
        )
        .into())
    }

    /// Runs `crane STEP ARGS…` (printed instead under `--dry-run`), retrying transient failures;
    /// returns its stdout. crane's stderr is shown after each run.
    fn run(&self, step: &str, rest: &[&str]) -> Result<String> {
        let mut argv = args([step]);
        argv.extend(args(rest.iter().copied()));
        let runner = &self.context.runner;
        if runner.dry_run() {
            runner.run(&self.program, &argv, Some(&self.context.cwd), &[])?;
            return Ok(String::new());
        }
        let output = &runner.toolchain().output;
        let retries = runner.toolchain().settings.retries;
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (outcome, stdout, stderr) = self.once(&argv)?;
            let stderr = String::from_utf8_lossy(&stderr).into_owned();
            if !stderr.trim().is_empty() {
                output.info(stderr.trim_end());
            }
            if outcome.success() {
                outcome.check()?;
                return Ok(String::from_utf8_lossy(&stdout).into_owned());
            }
            let code = outcome.code();
            // Ends `op` here when a signal stopped crane: a retry is not what was asked for.
            let failed = match outcome.check() {
                Err(failed) => failed,
                Ok(()) => anyhow::anyhow!("crane {step} failed with exit code {code}"),
            };
            match transient(&stderr) {
                Some(reason) if attempt <= retries => {
                    output.warn(&format!(
                        "crane {step} failed with a transient error ({reason}); retry {attempt} of {retries} in {}s",
                        backoff.as_secs_f64()
                    ));
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                reason => {
                    let after = match reason {
                        Some(_) => format!(" after {retries} retries (OP_HTTP_RETRIES)"),
                        None => String::new(),
                    };
                    output.report_error(&anyhow::anyhow!(
                        "crane {step} {} failed with exit code {code}{after}",
                        rest.iter()
                            .map(|arg| redact::reference(arg))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ));
                    return Err(failed);
                }
            }
        }
    }

    /// One crane run, output captured, signals relayed (see [`child`]).
    fn once(&self, argv: &[OsString]) -> Result<(child::Outcome, Vec<u8>, Vec<u8>)> {
        let mut command = Command::new(&self.program);
        command
            .args(argv)
            .current_dir(&self.context.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = child::spawn(&mut command).map_err(|error| {
            OpError::new(
                Code::Failure,
                format!("cannot run {}: {error}", self.program.display()),
            )
        })?;
        started
            .wait_with_output()
            .with_context(|| format!("waiting for {} failed", self.program.display()))
    }
}

/// Why crane's stderr says the failure may pass (HTTP 429 or 5xx, a dropped or refused
/// connection, a timeout): the first line saying so, shortened.
pub fn transient(stderr: &str) -> Option<String> {
    static TRANSIENT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"unexpected status code (?:408|429|5\d\d)\b|\b(?:TOOMANYREQUESTS|UNAVAILABLE)\b",
            r"|\b(?:429 Too Many Requests|500 Internal Server Error|502 Bad Gateway",
            r"|503 Service Unavailable|504 Gateway Timeout)\b",
            r"|connection refused|connection reset|broken pipe|i/o timeout|unexpected EOF",
            r"|TLS handshake timeout|timeout awaiting response headers|Client\.Timeout exceeded",
            r"|no route to host|network is unreachable"
        ))
        .expect("the pattern is valid")
    });
    stderr
        .lines()
        .find(|line| TRANSIENT.is_match(line))
        .map(|line| line.trim().chars().take(160).collect())
}

/// The digest a reference pins (`…@sha256:…`), if any.
pub fn digest_of(reference: &str) -> Option<&str> {
    // The last `@`: a reference may carry credentials (`user:pass@r.io/api`).
    reference
        .rsplit_once('@')
        .map(|(_, digest)| digest)
        .filter(|digest| is_digest(digest))
}

/// A reference without its tag and digest: `r.io:5000/team/api:1@sha256:…` → `r.io:5000/team/api`.
pub fn repository(reference: &str) -> &str {
    let named = match reference.rsplit_once('@') {
        Some((named, digest)) if is_digest(digest) => named,
        _ => reference,
    };
    let slash = named.rfind('/').map_or(0, |index| index + 1);
    match named[slash..].rfind(':') {
        Some(colon) => &named[..slash + colon],
        None => named,
    }
}

/// `sha256:` and 64 lowercase hex digits (or sha384/sha512), as a registry reports it.
pub fn is_digest(text: &str) -> bool {
    let Some((algorithm, hex)) = text.split_once(':') else {
        return false;
    };
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == length
        && hex
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_told_from_permanent_ones() {
        for line in [
            "Error: GET https://r.io/v2/api/manifests/1: unexpected status code 429 Too Many Requests",
            "Error: PUT https://r.io/v2/api/blobs/uploads/x: TOOMANYREQUESTS: retry later",
            "Error: HEAD https://r.io/v2/api/manifests/1: unexpected status code 503 Service Unavailable (HEAD responses have no body, use GET for details)",
            "Error: Get \"https://r.io/v2/\": dial tcp 127.0.0.1:5000: connect: connection refused",
            "Error: Get \"https://r.io/v2/\": read tcp 1.2.3.4:1->5.6.7.8:443: read: connection reset by peer",
            "Error: Get \"https://r.io/v2/\": net/http: TLS handshake timeout",
        ] {
            assert!(
                transient(&format!("2026/01/01 copying\n{line}\n")).is_some(),
                "{line}"
            );
        }
        for line in [
            "Error: GET https://r.io/v2/api/manifests/1: MANIFEST_UNKNOWN: manifest unknown",
            "Error: GET https://r.io/token: UNAUTHORIZED: authentication required",
            "Error: unexpected status code 404 Not Found",
            "Error: parsing reference \"Api\": could not parse reference",
        ] {
            assert_eq!(transient(line), None, "{line}");
        }
    }

    #[test]
    fn references_and_digests() {
        let digest = format!("sha256:{}", "0a".repeat(32));
        assert_eq!(
            digest_of(&format!("r.io/api:1@{digest}")),
            Some(digest.as_str())
        );
        assert_eq!(digest_of("r.io/api:1"), None);
        assert_eq!(digest_of("r.io/api@sha256:short"), None);
        assert_eq!(
            repository(&format!("r.io:5000/team/api:1@{digest}")),
            "r.io:5000/team/api"
        );
        assert_eq!(repository("localhost:5001/api"), "localhost:5001/api");
        assert_eq!(repository("api:1"), "api");
        let with_credentials = format!("u:p@r.io/api:1@{digest}");
        assert_eq!(digest_of(&with_credentials), Some(digest.as_str()));
        assert_eq!(repository(&with_credentials), "u:p@r.io/api");
        assert!(is_digest(&digest) && !is_digest(&digest.to_uppercase()) && !is_digest("latest"));
    }
}
