//! `op toolchain lock check`: offline consistency of the lock, and with `--upstream` a
//! comparison with the digests upstream publishes now, to catch assets re-uploaded under the
//! same name.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::error::{Code, OpError};
use crate::output::Output;
use crate::settings::ToolchainSettings;
use crate::toolchain::checksums::Upstream;
use crate::toolchain::fetch;
use crate::toolchain::lock::Lock;
use crate::toolchain::platform;
use crate::toolchain::refresh::runtime;
use crate::toolchain::template::Rendered;

/// The tools the pipeline commands need.
pub const REQUIRED: [&str; 5] = ["skaffold", "pack", "flux", "kubectl", "crane"];

/// Tools the pipeline commands need that the lock does not pin. A lock may serve only some
/// commands (a deploy-only repository needs flux and kubectl), so this is a warning.
pub fn missing_required(lock: &Lock) -> Vec<&'static str> {
    REQUIRED
        .into_iter()
        .filter(|required| lock.tools.iter().all(|tool| tool.name != *required))
        .collect()
}

/// Offline problems: missing platforms, URLs that do not name the version, one digest pinned
/// for two different URLs (a copy-paste slip), and artifacts that differ from what the tool's
/// template gives.
pub fn check_offline(lock: &Lock) -> Vec<String> {
    let mut problems = Vec::new();
    for tool in &lock.tools {
        let name = format!("{} {}", tool.name, tool.version);
        for key in platform::KEYS {
            if !tool.platforms.contains_key(key) {
                problems.push(format!("{name}: no entry for platform {key}"));
            }
        }
        let mut seen: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for (key, artifact) in &tool.platforms {
            if !artifact.url.contains(&tool.version) {
                problems.push(format!(
                    "{name} ({key}): url {} does not contain the version",
                    fetch::redact(&artifact.url)
                ));
            }
            match seen.get(artifact.sha256.as_str()) {
                Some((other, url)) if *url != artifact.url => problems.push(format!(
                    "{name} ({key}): sha256 {} is also pinned for {other}, a different url",
                    artifact.sha256
                )),
                Some(_) => {}
                None => {
                    seen.insert(&artifact.sha256, (key, &artifact.url));
                }
            }
            let Some(template) = &tool.template else {
                continue;
            };
            match template.render(&tool.version, key) {
                Ok(Rendered { url, archive, bin }) => {
                    if url != artifact.url || archive != artifact.archive || bin != artifact.bin {
                        let describe = |url: &str, archive: &str, bin: &Option<String>| {
                            let bin = bin.as_ref().map(|bin| format!(", bin {bin}"));
                            format!(
                                "{} ({archive}{})",
                                fetch::redact(url),
                                bin.unwrap_or_default()
                            )
                        };
                        problems.push(format!(
                            "{name} ({key}): the template gives {} but the lock has {}",
                            describe(&url, archive.as_str(), &bin),
                            describe(&artifact.url, artifact.archive.as_str(), &artifact.bin)
                        ));
                    }
                }
                Err(error) => problems.push(format!("{name} ({key}): template: {error}")),
            }
        }
    }
    problems
}

/// `op toolchain lock check [--upstream]`.
pub fn check(
    lock: &Lock,
    upstream: bool,
    settings: &ToolchainSettings,
    output: &Output,
) -> Result<()> {
    let missing = missing_required(lock);
    if !missing.is_empty() {
        output.warn(&format!(
            "{} does not pin {}; the pipeline commands that run them will fail",
            lock.origin,
            missing.join(", ")
        ));
    }
    let problems = check_offline(lock);
    for problem in &problems {
        output.data(&format!("problem: {problem}"));
    }
    if !problems.is_empty() {
        return Err(OpError::config(format!(
            "{}: {} problem(s) found",
            lock.origin,
            problems.len()
        ))
        .into());
    }
    output.info(&format!(
        "{}: every tool and platform is pinned and consistent",
        lock.origin
    ));
    if upstream {
        check_upstream(lock, settings, output)?;
    }
    Ok(())
}

/// Compares every pinned digest with what upstream publishes now. A changed digest, or a
/// checksum file that lacks the asset or is malformed, is reported and the check goes on (exit 3
/// at the end); a file that cannot be fetched stops it (exit 4).
fn check_upstream(lock: &Lock, settings: &ToolchainSettings, output: &Output) -> Result<()> {
    let mut reader = Upstream::new(settings);
    let mut changed = Vec::new();
    let mut unreadable = Vec::new();
    let mut matching = 0;
    runtime()?.block_on(async {
        for tool in &lock.tools {
            if tool.checksums.is_empty() {
                output.warn(&format!(
                    "{} has no `checksums`; not checked upstream",
                    tool.name
                ));
                continue;
            }
            for (key, artifact) in &tool.platforms {
                let label = format!("{} {} ({key})", tool.name, tool.version);
                match reader
                    .digest(&tool.checksums, &artifact.url, &tool.version, &label)
                    .await
                {
                    Ok(published) if published == artifact.sha256 => matching += 1,
                    Ok(published) => changed.push(format!(
                        "{label}: upstream now publishes sha256 {published} for {}, the lock pins {}",
                        fetch::redact(&artifact.url),
                        artifact.sha256
                    )),
                    Err(error) if crate::error::exit_code(&error) == Code::Integrity as i32 => {
                        unreadable.push(error.to_string());
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        anyhow::Ok(())
    })?;
    for line in &changed {
        output.data(&format!("changed: {line}"));
    }
    for line in &unreadable {
        output.data(&format!("problem: {line}"));
    }
    if changed.is_empty() && unreadable.is_empty() {
        output.info(&format!(
            "{matching} artifact(s) match their upstream checksums"
        ));
        return Ok(());
    }
    let mut summary = Vec::new();
    if !changed.is_empty() {
        summary.push(format!(
            "{} asset(s) no longer match their published digest (re-uploaded upstream?)",
            changed.len()
        ));
    }
    if !unreadable.is_empty() {
        summary.push(format!(
            "{} asset(s) have no usable upstream digest",
            unreadable.len()
        ));
    }
    Err(OpError::new(Code::Integrity, summary.join("; "))
        .with_hint("find out why before trusting the new bytes; `op toolchain lock update TOOL@VERSION --accept-reupload` records them")
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::lock::Origin;

    #[test]
    fn the_builtin_lock_is_consistent_with_its_templates() {
        let lock = Lock::parse(crate::toolchain::lock::EMBEDDED, Origin::Embedded).unwrap();
        assert_eq!(check_offline(&lock), Vec::<String>::new());
        assert!(missing_required(&lock).is_empty());
        let mut broken = lock.clone();
        broken.tools[0].version = "9.9.9".into();
        assert!(!check_offline(&broken).is_empty());
        let mut copied = lock.clone();
        let digest = copied.tools[1].platforms["linux-amd64"].sha256.clone();
        copied.tools[1]
            .platforms
            .get_mut("darwin-arm64")
            .unwrap()
            .sha256 = digest;
        let problems = check_offline(&copied);
        assert!(
            problems.len() == 1 && problems[0].contains("also pinned for darwin-arm64"),
            "{problems:?}"
        );
    }
}
