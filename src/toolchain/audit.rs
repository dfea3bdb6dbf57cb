//! `op toolchain lock check`: offline consistency of the lock, and with `--upstream` a
//! comparison with the digests upstream publishes now, to catch assets re-uploaded under the
//! same name, and a re-check of each pin's supply-chain evidence (the stored proof, and the
//! signature upstream serves now).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::error::{self, Code, OpError};
use crate::output::Output;
use crate::settings::ToolchainSettings;
use crate::toolchain::checksums::Upstream;
use crate::toolchain::evidence::gather::{Gatherer, release::Artifact};
use crate::toolchain::evidence::{self, Kind};
use crate::toolchain::fetch;
use crate::toolchain::lock::{Lock, Tool};
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

/// `lock check --json`.
#[derive(Serialize)]
struct Body<'a> {
    lock: String,
    /// No problem found (the exit is 0).
    ok: bool,
    /// Tools the pipeline commands run that the lock does not pin.
    missing_required: Vec<&'static str>,
    /// The lock's own inconsistencies (exit 2).
    problems: &'a [String],
    /// With `--upstream`: one row per tool and platform; `null` without.
    upstream: Option<Vec<Row>>,
}

/// One tool and platform of `lock check --upstream --json`.
#[derive(Serialize)]
struct Row {
    tool: String,
    version: String,
    platform: String,
    /// `ok`, `changed` (upstream publishes another digest), `evidence` (a proof does not hold),
    /// `problem` (no usable upstream digest), `unreachable` (a source could not be read) or
    /// `unchecked` (the tool lists no `checksums`).
    status: &'static str,
    problems: Vec<String>,
}

/// A line of findings: data on stdout, or with `--json` a line for humans beside the document.
fn say(output: &Output, json: bool, line: &str) {
    if json {
        output.info(line);
    } else {
        output.data(line);
    }
}

/// `op toolchain lock check [--upstream] [--json]`.
pub fn check(
    lock: &Lock,
    upstream: bool,
    json: bool,
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
        say(output, json, &format!("problem: {problem}"));
    }
    let document = |ok: bool, upstream: Option<Vec<Row>>| {
        output.json(
            "toolchain lock check",
            &Body {
                lock: lock.origin.to_string(),
                ok,
                missing_required: missing.clone(),
                problems: &problems,
                upstream,
            },
        )
    };
    if !problems.is_empty() {
        if json {
            document(false, None)?;
        }
        return Err(OpError::config(format!(
            "{}: {} found",
            lock.origin,
            crate::output::count(problems.len(), "problem")
        ))
        .into());
    }
    output.info(&format!(
        "{}: every tool and platform is pinned and consistent",
        lock.origin
    ));
    if !upstream {
        return if json { document(true, None) } else { Ok(()) };
    }
    let mut rows = Vec::new();
    let result = check_upstream(lock, settings, output, json, &mut rows);
    if json {
        document(result.is_ok(), Some(rows))?;
    }
    result
}

impl Row {
    fn of(tool: &Tool, platform: &str, status: &'static str, problems: Vec<String>) -> Row {
        Row {
            tool: tool.name.clone(),
            version: tool.version.clone(),
            platform: platform.to_string(),
            status,
            problems,
        }
    }
}

/// Platforms with one kind of finding, and the lines that explain them (one per source).
#[derive(Default)]
struct Findings {
    platforms: usize,
    lines: Vec<String>,
}

impl Findings {
    /// One platform's lines of this kind, if it has any (a line several platforms share, such
    /// as a release's evidence that cannot be read, is listed once).
    fn platform(&mut self, lines: Vec<String>) {
        if !lines.is_empty() {
            self.platforms += 1;
            for line in lines {
                if !self.lines.contains(&line) {
                    self.lines.push(line);
                }
            }
        }
    }

    fn add(&mut self, other: Findings) {
        self.platforms += other.platforms;
        self.lines.extend(other.lines);
    }
}

/// What `lock check --upstream` found, for one tool or for all.
#[derive(Default)]
struct Found {
    matching: usize,
    /// A source now publishes another digest than the pin (a re-upload).
    changed: Findings,
    /// A source lacks the asset, is malformed, or has no digest for it.
    problems: Findings,
    /// A source could not be read.
    unreachable: Findings,
    /// The stored proof does not hold, or upstream no longer serves a valid signature.
    evidence: Findings,
}

impl Found {
    fn add(&mut self, other: Found) {
        self.matching += other.matching;
        self.changed.add(other.changed);
        self.problems.add(other.problems);
        self.unreachable.add(other.unreachable);
        self.evidence.add(other.evidence);
    }
}

/// Compares every pinned digest with what every upstream source publishes now, for every tool
/// whatever happens to another: a changed digest or an unusable source (exit 3) and a source
/// that cannot be read (exit 4) are reported and the check goes on. The exit code is the most
/// severe found: 3 (integrity) over 4 (download) over 0. Only a failure that is not one
/// source's (offline, a `checksums` pattern that does not render) stops it at once.
fn check_upstream(
    lock: &Lock,
    settings: &ToolchainSettings,
    output: &Output,
    json: bool,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let mut reader = Upstream::new(settings);
    let mut gatherer = Gatherer::new(settings);
    let mut total = Found::default();
    runtime()?.block_on(async {
        for tool in &lock.tools {
            let name = format!("{} {}", tool.name, tool.version);
            if tool.checksums.is_empty() {
                output.warn(&format!("{name} has no `checksums`; not checked upstream"));
                for key in tool.platforms.keys() {
                    rows.push(Row::of(tool, key, "unchecked", Vec::new()));
                }
                continue;
            }
            let mut found = Found::default();
            let mut unproven = 0;
            let mut release = upstream_release(tool, &mut gatherer).await?;
            for (key, artifact) in &tool.platforms {
                let label = format!("{name} ({key})");
                let sources = reader
                    .each_digest(&tool.checksums, &artifact.url, &tool.version, &label)
                    .await;
                let (mut changed, mut problems, mut unreachable) = (vec![], vec![], vec![]);
                for (shown, result) in sources {
                    match result {
                        Ok(published) if published == artifact.sha256 => {}
                        Ok(published) => changed.push(format!(
                            "{label}: upstream now publishes sha256 {published} for {} ({shown}), the lock pins {}",
                            fetch::redact(&artifact.url),
                            artifact.sha256
                        )),
                        Err(error) => match crate::error::exit_code(&error) {
                            code if code == Code::Integrity as i32 => {
                                problems.push(error.to_string());
                            }
                            code if code == Code::Download as i32 => {
                                unreachable.push(error.to_string());
                            }
                            _ => return Err(error),
                        },
                    }
                }
                let mut failed = Vec::new();
                match &artifact.evidence {
                    None => {
                        unproven += usize::from(
                            tool.evidence
                                .as_ref()
                                .is_some_and(|policy| policy.kind != Kind::DigestAgreement),
                        );
                    }
                    Some(record) => {
                        if let Err(problem) = evidence::check_artifact(artifact)? {
                            failed.push(format!("{label}: stored proof: {}", problem.line()));
                        }
                        let upstream = match record.policy.as_ref() {
                            Some(policy)
                                if policy.kind == Kind::CosignKeylessBlob && policy.located() =>
                            {
                                let at = (tool.name.as_str(), tool.version.as_str(), key.as_str());
                                Some(
                                    gatherer
                                        .gather(at, policy, &artifact.url, &artifact.sha256)
                                        .await
                                        .map(drop),
                                )
                            }
                            _ => release.as_mut().and_then(|release| release.take(key)),
                        };
                        if let Some(Err(error)) = upstream {
                            match crate::error::exit_code(&error) {
                                code if code == Code::Download as i32 => {
                                    unreachable.push(format!("{error:#}"));
                                }
                                code if code == Code::Integrity as i32 => {
                                    failed.push(format!("{error:#}"));
                                }
                                _ => return Err(error),
                            }
                        }
                    }
                }
                let status = [
                    ("changed", &changed),
                    ("evidence", &failed),
                    ("problem", &problems),
                    ("unreachable", &unreachable),
                ]
                .into_iter()
                .find(|(_, lines)| !lines.is_empty())
                .map_or("ok", |(status, _)| status);
                if status == "ok" {
                    found.matching += 1;
                }
                let all = [&changed, &failed, &problems, &unreachable]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                rows.push(Row::of(tool, key, status, all));
                found.evidence.platform(failed);
                found.changed.platform(changed);
                found.problems.platform(problems);
                found.unreachable.platform(unreachable);
            }
            if unproven > 0 {
                let accepted = tool
                    .evidence
                    .as_ref()
                    .and_then(|policy| policy.accepted_missing.as_ref())
                    .filter(|version| **version == tool.version)
                    .map_or(String::new(), |version| {
                        format!(" (accepted_missing = \"{version}\")")
                    });
                output.warn(&format!(
                    "{name}: {} {} no supply-chain evidence though [tools.{}.evidence] asks for it{accepted}; `op toolchain lock update {}@{}` gathers it",
                    crate::output::count(unproven, "platform"),
                    if unproven == 1 { "records" } else { "record" },
                    tool.name, tool.name, tool.version
                ));
            }
            report(&name, &found, output, json);
            total.add(found);
        }
        anyhow::Ok(())
    })?;
    verdict(&total, output)
}

/// What upstream serves now for a release's evidence (signed checksums, provenance), verified
/// for every platform that records such evidence: fetched once per tool.
enum Release {
    /// Each platform's outcome.
    Platforms(BTreeMap<String, Result<()>>),
    /// The release's evidence could not be fetched or used: every platform's outcome.
    Failed(anyhow::Error),
}

impl Release {
    /// The upstream outcome for `platform`, if it was checked.
    fn take(&mut self, platform: &str) -> Option<Result<()>> {
        match self {
            Release::Platforms(outcomes) => outcomes.remove(platform),
            Release::Failed(error) => Some(Err(anyhow::Error::from(OpError::new(
                error::code(error),
                format!("{error:#}"),
            )))),
        }
    }
}

/// Re-gathers `tool`'s release evidence from upstream when its policy is of a per-release
/// kind, says where upstream publishes it, and some platform records it; `None` otherwise.
/// Offline and configuration errors stop the check.
async fn upstream_release(
    tool: &crate::toolchain::lock::Tool,
    gatherer: &mut Gatherer<'_>,
) -> Result<Option<Release>> {
    let Some(policy) = tool.evidence.as_ref().filter(|policy| {
        matches!(
            policy.kind,
            Kind::CosignSignedChecksums | Kind::SlsaProvenance
        ) && policy.located()
    }) else {
        return Ok(None);
    };
    let artifacts: Vec<Artifact<'_>> = tool
        .platforms
        .iter()
        .filter(|(_, artifact)| artifact.evidence.is_some())
        .map(|(key, artifact)| Artifact {
            platform: key,
            url: &artifact.url,
            sha256: &artifact.sha256,
        })
        .collect();
    if artifacts.is_empty() {
        return Ok(None);
    }
    let at = (tool.name.as_str(), tool.version.as_str());
    match gatherer.gather_release(at, policy, &artifacts).await {
        Ok(results) => Ok(Some(Release::Platforms(
            results
                .into_iter()
                .map(|(platform, result)| (platform, result.map(drop)))
                .collect(),
        ))),
        Err(error) => match error::code(&error) {
            Code::Offline | Code::Config => Err(error),
            _ => Ok(Some(Release::Failed(error))),
        },
    }
}

/// One tool's lines: each finding, then `tool: NAME VERSION: RESULT`.
fn report(name: &str, found: &Found, output: &Output, json: bool) {
    let kinds = [
        ("changed", "changed", &found.changed),
        (
            "evidence",
            "with evidence that does not hold",
            &found.evidence,
        ),
        ("problem", "without a usable digest", &found.problems),
        (
            "unreachable",
            "with a source unreachable",
            &found.unreachable,
        ),
    ];
    let mut parts = Vec::new();
    for (prefix, what, findings) in kinds {
        for line in &findings.lines {
            say(output, json, &format!("{prefix}: {line}"));
        }
        if findings.platforms > 0 {
            parts.push(format!("{} {what}", findings.platforms));
        }
    }
    let result = if parts.is_empty() {
        format!(
            "ok, {}",
            agreeing(found.matching, "platform", ("matches", "match"))
        )
    } else {
        format!("{} match, {}", found.matching, parts.join(", "))
    };
    say(output, json, &format!("tool: {name}: {result}"));
}

/// `N noun(s)` and the verb that agrees with N: `(for one, for several)`.
fn agreeing(n: usize, noun: &str, (one, several): (&str, &str)) -> String {
    let verb = if n == 1 { one } else { several };
    format!("{} {verb}", crate::output::count(n, noun))
}

/// The exit of the whole check: the most severe finding, 3 over 4 over 0.
fn verdict(total: &Found, output: &Output) -> Result<()> {
    let kinds = [
        (
            &total.changed,
            ("no longer matches", "no longer match"),
            "their published digest (re-uploaded upstream?)",
        ),
        (
            &total.problems,
            ("has", "have"),
            "no usable upstream digest",
        ),
        (
            &total.evidence,
            ("has", "have"),
            "supply-chain evidence that does not hold",
        ),
        (
            &total.unreachable,
            ("could", "could"),
            "not be fully checked: a checksum or evidence source could not be read",
        ),
    ];
    let summary: Vec<String> = kinds
        .into_iter()
        .filter(|(findings, _, _)| findings.platforms > 0)
        .map(|(findings, verb, rest)| {
            format!("{} {rest}", agreeing(findings.platforms, "asset", verb))
        })
        .collect();
    if summary.is_empty() {
        output.info(&format!(
            "{} their upstream checksums",
            agreeing(total.matching, "artifact", ("matches", "match"))
        ));
        return Ok(());
    }
    let summary = summary.join("; ");
    if total.changed.platforms == 0
        && total.problems.platforms == 0
        && total.evidence.platforms == 0
    {
        return Err(OpError::new(Code::Download, summary)
            .with_hint("check the network, proxy (HTTPS_PROXY) and OP_TOOLCHAIN_MIRROR, then run the check again")
            .into());
    }
    Err(OpError::new(Code::Integrity, summary)
        .with_hint(if total.evidence.platforms > 0 {
            evidence::HINT
        } else {
            "find out why before trusting the new bytes; `op toolchain lock update TOOL@VERSION --accept-reupload` records them"
        })
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
