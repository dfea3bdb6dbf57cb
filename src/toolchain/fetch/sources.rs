//! Fallback sources: every place an artifact's bytes may come from, in the order they are
//! tried, and the one error when none of them served the pinned bytes.
//!
//! The order: each `OP_TOOLCHAIN_MIRROR` mirror (as `<mirror>/<host>/<path>` of the lock's
//! `url`), then, when no mirror is set or the list ends with `origin`, the artifact's own
//! `mirrors` and last its `url`. Every source is held to the one pinned digest and size.

use anyhow::Result;

use super::{Source, redact, resolve};
use crate::error::{Code, OpError};
use crate::settings::Mirrors;
use crate::toolchain::cache::Entry;
use crate::toolchain::lock::Artifact;

/// Every source of `artifact`, in the order tried, each once.
pub fn sources(artifact: &Artifact, mirrors: &Mirrors) -> Result<Vec<Source>> {
    let mut list: Vec<Source> = Vec::new();
    let mut push = |source: Source| {
        if !list.contains(&source) {
            list.push(source);
        }
    };
    for base in &mirrors.bases {
        push(resolve(&artifact.url, Some(base))?);
    }
    if mirrors.bases.is_empty() || mirrors.then_origin {
        for url in artifact.mirrors.iter().chain([&artifact.url]) {
            push(resolve(url, None)?);
        }
    }
    Ok(list)
}

/// Why one source was given up.
pub struct Failed {
    pub source: Source,
    pub error: anyhow::Error,
    /// One line: what the source did.
    pub reason: String,
    /// It answered, with bytes other than the pinned ones (as opposed to: it could not be read).
    pub wrong_bytes: bool,
}

impl Failed {
    /// Sorts the error a download from `source` ended with: `None` when it is not the source's
    /// fault (a full disk, say) and trying another would not help.
    pub fn sort(entry: &Entry, source: &Source, error: anyhow::Error) -> Result<Failed> {
        let Some(op) = error.downcast_ref::<OpError>() else {
            return Err(error);
        };
        let wrong_bytes = match op.code {
            Code::Integrity => true,
            Code::Download => false,
            _ => return Err(error),
        };
        let line = op.message.lines().next().unwrap_or_default();
        let label = format!("{}: ", entry.label());
        let reason = line.strip_prefix(&label).unwrap_or(line).to_string();
        Ok(Failed {
            source: source.clone(),
            error,
            reason,
            wrong_bytes,
        })
    }

    /// A complete download whose digest or size is not the pinned one.
    pub fn wrong_digest(
        entry: &Entry,
        source: &Source,
        error: anyhow::Error,
        sha256: &str,
        size: u64,
    ) -> Failed {
        let pinned = match entry.artifact.size {
            Some(pinned) if pinned != size => format!(" ({pinned} bytes)"),
            _ => String::new(),
        };
        let served = match entry.artifact.size {
            Some(pinned) if pinned != size => format!(" ({size} bytes)"),
            _ => String::new(),
        };
        Failed {
            source: source.clone(),
            error,
            reason: format!(
                "served bytes with sha256 {sha256}{served}, the lock pins {}{pinned}",
                entry.artifact.sha256
            ),
            wrong_bytes: true,
        }
    }

    /// `<source>: <reason>`, the source named once.
    pub fn line(&self) -> String {
        let source = self.source.describe();
        let reason = self
            .reason
            .replacen(&format!("download of {source} "), "", 1)
            .replacen(&format!("{source} "), "", 1);
        format!("{source}: {reason}")
    }
}

/// The error when every source failed: a single source's own error as it is; else exit 3 when
/// any source served wrong bytes (and none the right ones), exit 4 when none could be read,
/// listing each source and why.
pub fn all_failed(entry: &Entry, mut failed: Vec<Failed>) -> anyhow::Error {
    if failed.len() == 1 {
        return failed.remove(0).error;
    }
    let wrong = failed.iter().filter(|failed| failed.wrong_bytes).count();
    let lines: Vec<String> = failed
        .iter()
        .map(|failed| format!("  {}", failed.line()))
        .collect();
    let (code, hint) = if wrong > 0 {
        (
            Code::Integrity,
            "a source that serves other bytes than toolchain.lock pins is never used: fix or drop it (OP_TOOLCHAIN_MIRROR, the artifact's `mirrors`), or refresh the lock if upstream re-published the artifact",
        )
    } else {
        (
            Code::Download,
            "check the network, proxy (HTTPS_PROXY), OP_TOOLCHAIN_MIRROR and the artifact's `mirrors`, then run the command again",
        )
    };
    OpError::new(
        code,
        format!(
            "{}: none of its {} sources served the pinned bytes (sha256 {}; origin {})\n{}\nnothing was installed",
            entry.label(),
            failed.len(),
            entry.artifact.sha256,
            redact(&entry.artifact.url),
            lines.join("\n")
        ),
    )
    .with_hint(hint)
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::lock::ArchiveKind;

    fn artifact(mirrors: &[&str]) -> Artifact {
        Artifact {
            url: "https://github.com/a/b/v1/x.tgz".into(),
            mirrors: mirrors.iter().map(|m| m.to_string()).collect(),
            sha256: "0".repeat(64),
            archive: ArchiveKind::TarGz,
            bin: Some("x".into()),
            size: None,
            evidence: None,
        }
    }

    /// A file:// URL of an absolute path on this platform (with a drive on Windows).
    const SRV: &str = if cfg!(windows) {
        "file:///C:/srv"
    } else {
        "file:///srv"
    };

    fn described(artifact: &Artifact, mirror: &str) -> Vec<String> {
        let mirrors = Mirrors::parse(mirror).unwrap();
        sources(artifact, &mirrors)
            .unwrap()
            .iter()
            .map(Source::describe)
            .collect()
    }

    #[test]
    fn without_a_mirror_the_lock_mirrors_come_before_the_url() {
        let file = format!("{SRV}/x.tgz");
        let artifact = artifact(&["https://m.internal/x.tgz", &file]);
        assert_eq!(
            described(&artifact, ""),
            [
                "https://m.internal/x.tgz",
                file.as_str(),
                "https://github.com/a/b/v1/x.tgz"
            ]
        );
    }

    #[test]
    fn op_toolchain_mirror_replaces_the_lock_urls_unless_it_ends_with_origin() {
        let artifact = artifact(&["https://m.internal/x.tgz"]);
        assert_eq!(
            described(&artifact, &format!("http://127.0.0.1:9/a, {SRV}/b")),
            [
                "http://127.0.0.1:9/a/github.com/a/b/v1/x.tgz".to_string(),
                format!("{SRV}/b/github.com/a/b/v1/x.tgz")
            ]
        );
        assert_eq!(
            described(&artifact, "http://127.0.0.1:9/a origin"),
            [
                "http://127.0.0.1:9/a/github.com/a/b/v1/x.tgz",
                "https://m.internal/x.tgz",
                "https://github.com/a/b/v1/x.tgz"
            ]
        );
    }

    #[test]
    fn a_bad_mirror_url_is_a_config_error() {
        let mirrors = Mirrors::parse("ftp://m").unwrap();
        let error = sources(&artifact(&[]), &mirrors).unwrap_err();
        let error = error.downcast_ref::<OpError>().unwrap();
        assert_eq!(error.code, Code::Config);
    }
}
