//! The evidence step of `lock update`: gather and verify the evidence of every new pin that the
//! tool's policy asks for, and refuse (before anything is written) a pin without it unless
//! `--accept-missing-evidence TOOL` names that tool, which the lock then records.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Bump;
use crate::error::{self, Code, OpError};
use crate::output::Output;
use crate::settings::ToolchainSettings;
use crate::toolchain::evidence::gather::release::Artifact;
use crate::toolchain::evidence::gather::{Gathered, Gatherer};
use crate::toolchain::evidence::{self, Kind, Policy};
use crate::toolchain::lock::Lock;

/// Every `--accept-missing-evidence` name must be a tool being updated.
pub fn check_accepted(updated: &[&str], accepted: &[String]) -> Result<()> {
    for name in accepted {
        if !updated.contains(&name.as_str()) {
            return Err(OpError::config(format!(
                "--accept-missing-evidence {name}: {name} is not among the tools being updated ({})",
                updated.join(", ")
            ))
            .with_hint("name a tool given as TOOL@VERSION")
            .into());
        }
    }
    Ok(())
}

/// The policy `[tools.NAME.evidence]` of `original` means at `version` (its `{version}` is the
/// new version's).
fn policy_at(original: &str, name: &str, version: &str, sources: usize) -> Result<Option<Policy>> {
    let document: toml::Table = toml::from_str(original)
        .map_err(|error| OpError::config(format!("invalid TOML: {error}")))?;
    let value = document
        .get("tools")
        .and_then(|tools| tools.get(name))
        .and_then(|tool| tool.get("evidence"));
    value
        .map(|value| evidence::parse_policy(value, version, sources))
        .transpose()
        .map_err(|error| OpError::config(format!("tools.{name}: {error}")).into())
}

/// Fills each bump's `evidence` and `accepted_missing`, or fails with every tool whose new pins
/// would lack evidence: exit 3 when evidence is missing or does not hold, exit 4 when only a
/// source could not be read. Nothing is written here.
pub fn gather(
    lock: &Lock,
    original: &str,
    bumps: &mut [Bump],
    accepted: &[String],
    settings: &ToolchainSettings,
    output: &Output,
) -> Result<()> {
    let mut gatherer = Gatherer::new(settings);
    let mut refusals: Vec<(Code, String, String)> = Vec::new();
    super::runtime()?.block_on(async {
        for bump in bumps.iter_mut() {
            let old = lock.tool(&bump.name)?;
            let Some(policy) = policy_at(original, &bump.name, &bump.version, old.checksums.len())?
            else {
                continue;
            };
            let mut missing: Vec<(Code, String)> = Vec::new();
            match policy.kind {
                // Every `checksums` source agreeing is that evidence, and plan() checked it.
                Kind::DigestAgreement => continue,
                Kind::CosignKeylessBlob => {
                    for plan in &bump.platforms {
                        let at = (bump.name.as_str(), bump.version.as_str(), plan.platform.as_str());
                        let result = gatherer
                            .gather(at, &policy, &plan.rendered.url, &plan.sha256)
                            .await;
                        take(
                            result,
                            (&bump.name, &bump.version),
                            &mut bump.evidence,
                            &mut missing,
                            output,
                        )?;
                    }
                }
                Kind::CosignSignedChecksums | Kind::SlsaProvenance => {
                    let artifacts: Vec<Artifact<'_>> = bump
                        .platforms
                        .iter()
                        .map(|plan| Artifact {
                            platform: &plan.platform,
                            url: &plan.rendered.url,
                            sha256: &plan.sha256,
                        })
                        .collect();
                    let at = (bump.name.as_str(), bump.version.as_str());
                    match gatherer.gather_release(at, &policy, &artifacts).await {
                        Ok(results) => {
                            for (_, result) in results {
                                take(
                            result,
                            (&bump.name, &bump.version),
                            &mut bump.evidence,
                            &mut missing,
                            output,
                        )?;
                            }
                        }
                        Err(error) => match error::code(&error) {
                            Code::Offline | Code::Config => return Err(error),
                            other => missing.push((other, format!("{error:#}"))),
                        },
                    }
                }
            }
            if missing.is_empty() {
                continue;
            }
            let lost: Vec<&str> = old
                .platforms
                .iter()
                .filter(|(key, artifact)| {
                    artifact.evidence.is_some()
                        && !bump.evidence.iter().any(|found| found.platform == **key)
                })
                .map(|(key, _)| key.as_str())
                .collect();
            let (name, version) = (bump.name.as_str(), bump.version.as_str());
            if accepted.iter().any(|tool| tool == name) {
                for (_, line) in &missing {
                    output.warn(&format!("{line}; going on (--accept-missing-evidence {name})"));
                }
                if !lost.is_empty() {
                    output.warn(&format!(
                        "{name}: dropping the verified evidence the lock held for {} {} ({}), as --accept-missing-evidence {name} asks",
                        old.name,
                        old.version,
                        lost.join(", ")
                    ));
                }
                output.warn(&format!(
                    "{name} {version}: recording accepted_missing = \"{version}\" in [tools.{name}.evidence]"
                ));
                bump.accepted_missing = Some(version.to_string());
                continue;
            }
            let severity = if missing.iter().any(|(code, _)| *code == Code::Integrity) {
                Code::Integrity
            } else {
                missing[0].0
            };
            let lines: Vec<String> = missing.into_iter().map(|(_, line)| line).collect();
            let message = if lost.is_empty() {
                format!(
                    "{name} {version}: the evidence its policy requires could not be gathered and verified:\n  {}",
                    lines.join("\n  ")
                )
            } else {
                format!(
                    "{name}: the lock holds verified evidence for {name} {} ({}) and pinning {version} would drop it; op never drops evidence silently:\n  {}",
                    old.version,
                    lost.join(", "),
                    lines.join("\n  ")
                )
            };
            let hint = if lost.is_empty() {
                format!(
                    "find out why upstream's evidence is missing or does not verify; to pin {name} {version} without it, re-run with --accept-missing-evidence {name} (the lock records accepted_missing = \"{version}\")"
                )
            } else {
                format!(
                    "if upstream really stopped publishing it, re-run with --accept-missing-evidence {name}: only that flag naming {name} itself drops its evidence, and the lock records accepted_missing = \"{version}\""
                )
            };
            refusals.push((severity, message, hint));
        }
        anyhow::Ok(())
    })?;
    if refusals.is_empty() {
        return Ok(());
    }
    let code = if refusals.iter().any(|(code, _, _)| *code == Code::Integrity) {
        Code::Integrity
    } else {
        refusals[0].0
    };
    let messages: Vec<&str> = refusals
        .iter()
        .map(|(_, message, _)| message.as_str())
        .collect();
    let hints: Vec<&str> = refusals.iter().map(|(_, _, hint)| hint.as_str()).collect();
    Err(OpError::new(
        code,
        format!(
            "{}\nthe lock, DEPENDENCIES.md and the evidence proofs were not changed",
            messages.join("\n")
        ),
    )
    .with_hint(hints.join("; "))
    .into())
}

/// Keeps one platform's verified evidence (and says so), or notes why it is missing; offline
/// and configuration errors stop the update.
fn take(
    result: Result<Gathered>,
    (name, version): (&str, &str),
    evidence: &mut Vec<Gathered>,
    missing: &mut Vec<(Code, String)>,
    output: &Output,
) -> Result<()> {
    match result {
        Ok(found) => {
            output.info(&format!(
                "{name} {version} ({}): signed by {}, log entry {} at {}",
                found.platform,
                found.identity.as_deref().unwrap_or("(any)"),
                found.log_index,
                found.integrated_time
            ));
            evidence.push(found);
            Ok(())
        }
        Err(error) => match error::code(&error) {
            Code::Offline | Code::Config => Err(error),
            other => {
                missing.push((other, format!("{error:#}")));
                Ok(())
            }
        },
    }
}

/// Sets the platform `evidence` tables and the tool's `accepted_missing` in the lock document.
pub fn edit(tool: &mut toml_edit::Table, bump: &Bump) {
    if let Some(policy) = tool
        .get_mut("evidence")
        .and_then(toml_edit::Item::as_table_like_mut)
    {
        match &bump.accepted_missing {
            Some(version) => {
                policy.insert("accepted_missing", toml_edit::value(version.as_str()));
            }
            None => drop(policy.remove("accepted_missing")),
        }
    }
    let Some(platforms) = tool
        .get_mut("platforms")
        .and_then(toml_edit::Item::as_table_mut)
    else {
        return;
    };
    for (key, item) in platforms.iter_mut() {
        let Some(entry) = item.as_table_mut() else {
            continue;
        };
        let Some(found) = bump
            .evidence
            .iter()
            .find(|found| found.platform == key.get())
        else {
            entry.remove("evidence");
            continue;
        };
        let mut table = toml_edit::Table::new();
        table.insert("kind", toml_edit::value(found.kind.as_str()));
        table.insert("subject", toml_edit::value(found.subject.as_str()));
        if let Some(identity) = &found.identity {
            table.insert("identity", toml_edit::value(identity.as_str()));
        }
        let number = |value: u64| toml_edit::value(i64::try_from(value).unwrap_or(i64::MAX));
        table.insert("log_index", number(found.log_index));
        table.insert("integrated_time", number(found.integrated_time));
        table.insert("proof", toml_edit::value(found.proof.as_str()));
        table.insert("proof_sha256", toml_edit::value(found.proof_sha256()));
        if let Some((path, _)) = &found.checksums {
            table.insert("checksums", toml_edit::value(path.as_str()));
        }
        entry.insert("evidence", toml_edit::Item::Table(table));
    }
}

/// The proofs the lock records for the updated tools that the update does not write again (the
/// old version's): removed once the new lock is in place, so none lingers unreferenced.
pub fn stale_proofs(lock: &Lock, bumps: &[Bump], lock_dir: &Path) -> Vec<PathBuf> {
    let mut stale = Vec::new();
    for bump in bumps {
        let Ok(tool) = lock.tool(&bump.name) else {
            continue;
        };
        let recorded = tool
            .platforms
            .values()
            .filter_map(|artifact| artifact.evidence.as_ref())
            .flat_map(|record| [&record.proof, &record.checksums])
            .flatten();
        for proof in recorded {
            let kept = bump
                .evidence
                .iter()
                .flat_map(Gathered::files)
                .any(|(path, _)| path == proof.path);
            let path = lock_dir.join(&proof.path);
            if !kept && !stale.contains(&path) {
                stale.push(path);
            }
        }
    }
    stale
}

/// Removes `stale` proof files (regular files only) and the version directories they leave empty.
pub fn remove_stale(stale: &[PathBuf], output: &Output) {
    for path in stale {
        if !std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file()) {
            continue;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {
                output.info(&format!(
                    "removed {}, which the lock no longer records",
                    path.display()
                ));
                if let Some(dir) = path.parent() {
                    // Only succeeds when the directory is empty.
                    let _ = std::fs::remove_dir(dir);
                }
            }
            Err(error) => output.warn(&format!(
                "cannot remove {}, which the lock no longer records: {error}",
                path.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::lock::ArchiveKind;
    use crate::toolchain::refresh::Planned;
    use crate::toolchain::template::Rendered;

    const BEFORE: &str = r#"schema = 1

[tools.demo]
version = "1.0.0"
checksums = "{url}.sha256"

[tools.demo.evidence]
kind = "cosign-keyless-blob"
identity = "signer@example.com"
issuer = "https://issuer.example"
signature = "{url}.sig"
certificate = "{url}.cert"
accepted_missing = "1.0.0"

[tools.demo.platforms.linux-amd64]
url = "https://example.com/demo/v1.0.0/demo-linux-amd64"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
archive = "raw"

[tools.demo.platforms.darwin-arm64]
url = "https://example.com/demo/v1.0.0/demo-darwin-arm64"
sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
archive = "raw"

[tools.demo.platforms.darwin-arm64.evidence]
kind = "cosign-keyless-blob"
subject = "1111111111111111111111111111111111111111111111111111111111111111"
proof = "toolchain.evidence/demo/1.0.0/darwin-arm64.sigstore.json"
proof_sha256 = "2222222222222222222222222222222222222222222222222222222222222222"
"#;

    fn bump(evidence: Vec<Gathered>, accepted_missing: Option<String>) -> Bump {
        let planned = |platform: &str, sha: char| Planned {
            platform: platform.into(),
            rendered: Rendered {
                url: format!("https://example.com/demo/v2.0.0/demo-{platform}"),
                archive: ArchiveKind::Raw,
                bin: None,
            },
            sha256: sha.to_string().repeat(64),
            size: None,
        };
        Bump {
            name: "demo".into(),
            version: "2.0.0".into(),
            platforms: vec![planned("linux-amd64", 'a'), planned("darwin-arm64", 'b')],
            evidence,
            accepted_missing,
        }
    }

    #[test]
    fn evidence_tables_follow_their_platform_and_accepted_missing_follows_the_outcome() {
        let found = Gathered {
            platform: "linux-amd64".into(),
            kind: Kind::CosignKeylessBlob,
            checksums: None,
            subject: "a".repeat(64),
            identity: Some("signer@example.com".into()),
            log_index: 7,
            integrated_time: 1_700_000_000,
            proof: "toolchain.evidence/demo/2.0.0/linux-amd64.sigstore.json".into(),
            bundle: b"{}\n".to_vec(),
        };
        let after = super::super::edit(BEFORE, &[bump(vec![found], None)]).unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let proof_sha256 = crate::hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"{}\n"));
        let expected = format!(
            r#"schema = 1

[tools.demo]
version = "2.0.0"
checksums = "{{url}}.sha256"

[tools.demo.evidence]
kind = "cosign-keyless-blob"
identity = "signer@example.com"
issuer = "https://issuer.example"
signature = "{{url}}.sig"
certificate = "{{url}}.cert"

[tools.demo.platforms.linux-amd64]
url = "https://example.com/demo/v2.0.0/demo-linux-amd64"
sha256 = "{a}"
archive = "raw"

[tools.demo.platforms.linux-amd64.evidence]
kind = "cosign-keyless-blob"
subject = "{a}"
identity = "signer@example.com"
log_index = 7
integrated_time = 1700000000
proof = "toolchain.evidence/demo/2.0.0/linux-amd64.sigstore.json"
proof_sha256 = "{proof_sha256}"

[tools.demo.platforms.darwin-arm64]
url = "https://example.com/demo/v2.0.0/demo-darwin-arm64"
sha256 = "{b}"
archive = "raw"
"#
        );
        assert_eq!(after, expected);
        // Pinned without evidence: recorded, and no platform keeps an evidence table.
        let after = super::super::edit(BEFORE, &[bump(Vec::new(), Some("2.0.0".into()))]).unwrap();
        assert!(
            after.contains("certificate = \"{url}.cert\"\naccepted_missing = \"2.0.0\"\n"),
            "{after}"
        );
        assert!(
            !after.contains(".evidence]\nkind = \"cosign-keyless-blob\"\nsubject"),
            "{after}"
        );
    }
}
