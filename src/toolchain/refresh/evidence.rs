//! The evidence step of `lock update`: gather and verify the evidence of every new pin that the
//! tool's policy asks for, and refuse (before anything is written) a pin without it unless
//! `--accept-missing-evidence TOOL` names that tool, which the lock then records.

use anyhow::Result;

use super::Bump;
use crate::error::{Code, OpError};
use crate::output::Output;
use crate::settings::ToolchainSettings;
use crate::toolchain::evidence::gather::Gatherer;
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
                _ if !policy.gatherable() => missing.push((
                    Code::Integrity,
                    format!(
                        "{} {}: op cannot gather {:?} evidence yet, so none of its {} platform(s) would carry any",
                        bump.name,
                        bump.version,
                        policy.kind.as_str(),
                        bump.platforms.len()
                    ),
                )),
                _ => {
                    for plan in &bump.platforms {
                        let at = (bump.name.as_str(), bump.version.as_str(), plan.platform.as_str());
                        match gatherer
                            .gather(at, &policy, &plan.rendered.url, &plan.sha256)
                            .await
                        {
                            Ok(found) => {
                                output.info(&format!(
                                    "{} {} ({}): signed by {}, log entry {} at {}",
                                    bump.name,
                                    bump.version,
                                    plan.platform,
                                    found.identity.as_deref().unwrap_or("(any)"),
                                    found.log_index,
                                    found.integrated_time
                                ));
                                bump.evidence.push(found);
                            }
                            Err(error) => match code(&error) {
                                Code::Offline | Code::Config => return Err(error),
                                other => missing.push((other, format!("{error:#}"))),
                            },
                        }
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
        table.insert("kind", toml_edit::value(Kind::CosignKeylessBlob.as_str()));
        table.insert("subject", toml_edit::value(found.subject.as_str()));
        if let Some(identity) = &found.identity {
            table.insert("identity", toml_edit::value(identity.as_str()));
        }
        let number = |value: u64| toml_edit::value(i64::try_from(value).unwrap_or(i64::MAX));
        table.insert("log_index", number(found.log_index));
        table.insert("integrated_time", number(found.integrated_time));
        table.insert("proof", toml_edit::value(found.proof.as_str()));
        table.insert("proof_sha256", toml_edit::value(found.proof_sha256()));
        entry.insert("evidence", toml_edit::Item::Table(table));
    }
}

/// The exit code an error chain carries (1 when none).
fn code(error: &anyhow::Error) -> Code {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<OpError>())
        .map_or(Code::Failure, |error| error.code)
}
