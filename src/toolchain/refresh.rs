//! Keeping `toolchain.lock` true: `lock update TOOL@VERSION` (URLs from the tool's template,
//! digests from upstream checksum files, sizes from HEAD), `lock check` offline, and
//! `lock check --upstream` to catch assets re-published under the same name.
//! Nothing is downloaded but checksum files; the lock changes atomically or not at all.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::error::{Code, OpError};
use crate::output::Output;
use crate::settings::ToolchainSettings;
use crate::toolchain::fetch::{self, Source};
use crate::toolchain::lock::{Lock, Origin};
use crate::toolchain::platform;
use crate::toolchain::template::{self, Rendered};

/// The tools the pipeline commands need.
pub const REQUIRED: [&str; 5] = ["skaffold", "pack", "flux", "kubectl", "crane"];
const MAX_CHECKSUM_FILE: u64 = 4 << 20;

/// One line of a checksum file: the digest and, unless the file holds a bare digest, the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChecksumLine {
    pub sha256: String,
    pub name: Option<String>,
}

/// Parses `hex  name`, `hex *name` (binary mode) and bare `hex` lines; blank lines are skipped.
pub fn parse_checksums(text: &str, origin: &str) -> Result<Vec<ChecksumLine>, String> {
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (hex, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if hex.len() != 64 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(format!(
                "{origin}: line {}: expected `<64 hex digits>  <file name>`, got {line:?}",
                number + 1
            ));
        }
        let name = rest.trim().trim_start_matches('*').trim();
        lines.push(ChecksumLine {
            sha256: hex.to_ascii_lowercase(),
            name: (!name.is_empty()).then(|| name.to_string()),
        });
    }
    if lines.is_empty() {
        return Err(format!("{origin}: holds no checksum"));
    }
    Ok(lines)
}

/// The digest for `asset` in a parsed checksum file; missing or contradictory entries are errors.
pub fn digest_for(lines: &[ChecksumLine], asset: &str, origin: &str) -> Result<String, String> {
    if let [only] = lines
        && only.name.is_none()
    {
        return Ok(only.sha256.clone());
    }
    let matches: Vec<&ChecksumLine> = lines
        .iter()
        .filter(|line| {
            line.name
                .as_deref()
                .is_some_and(|name| name == asset || name.trim_start_matches("./") == asset)
        })
        .collect();
    match matches.as_slice() {
        [] => Err(format!("{origin}: has no entry for {asset}")),
        [first, rest @ ..] => {
            if rest.iter().any(|line| line.sha256 != first.sha256) {
                return Err(format!(
                    "{origin}: lists {asset} twice with different digests"
                ));
            }
            Ok(first.sha256.clone())
        }
    }
}

fn asset_name(url: &str) -> String {
    url.split(['?', '#'])
        .next()
        .and_then(|path| path.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

/// Tools the pipeline commands need that the lock does not pin. A lock may serve only some
/// commands (a deploy-only repository needs flux and kubectl), so this is a warning.
pub fn missing_required(lock: &Lock) -> Vec<&'static str> {
    REQUIRED
        .into_iter()
        .filter(|required| lock.tools.iter().all(|tool| tool.name != *required))
        .collect()
}

/// Offline problems: missing platforms, URLs that do not name the version, and artifacts that
/// differ from what the tool's template gives.
pub fn check_offline(lock: &Lock) -> Vec<String> {
    let mut problems = Vec::new();
    for tool in &lock.tools {
        for key in platform::KEYS {
            if !tool.platforms.contains_key(key) {
                problems.push(format!(
                    "{} {}: no entry for platform {key}",
                    tool.name, tool.version
                ));
            }
        }
        for (key, artifact) in &tool.platforms {
            if !artifact.url.contains(&tool.version) {
                problems.push(format!(
                    "{} {} ({key}): url {} does not contain the version",
                    tool.name, tool.version, artifact.url
                ));
            }
            let Some(template) = &tool.template else {
                continue;
            };
            match template.render(&tool.version, key) {
                Ok(Rendered { url, archive, bin }) => {
                    if url != artifact.url || archive != artifact.archive || bin != artifact.bin {
                        problems.push(format!(
                            "{} {} ({key}): the template gives {url} ({}{}) but the lock has {} ({}{})",
                            tool.name,
                            tool.version,
                            archive.as_str(),
                            bin.map(|bin| format!(", bin {bin}")).unwrap_or_default(),
                            artifact.url,
                            artifact.archive.as_str(),
                            artifact.bin.as_ref().map(|bin| format!(", bin {bin}")).unwrap_or_default(),
                        ));
                    }
                }
                Err(error) => problems.push(format!("{} ({key}): template: {error}", tool.name)),
            }
        }
    }
    problems
}

/// Reads checksum files through the mirror, each once.
struct Upstream<'a> {
    settings: &'a ToolchainSettings,
    client: Option<reqwest::Client>,
    files: BTreeMap<String, Vec<ChecksumLine>>,
}

impl<'a> Upstream<'a> {
    fn new(settings: &'a ToolchainSettings) -> Result<Upstream<'a>> {
        if settings.offline {
            return Err(OpError::new(
                Code::Offline,
                "reading upstream checksum files needs the network, and OP_OFFLINE is set",
            )
            .with_hint("unset OP_OFFLINE, or point OP_TOOLCHAIN_MIRROR at a file:// mirror")
            .into());
        }
        Ok(Upstream {
            settings,
            client: Some(fetch::client(settings)?),
            files: BTreeMap::new(),
        })
    }

    fn source(&self, url: &str) -> Result<Source> {
        fetch::resolve(url, self.settings.mirror.as_deref())
    }

    /// The published digest of the artifact at `url`, from the tool's checksum file.
    async fn digest(
        &mut self,
        pattern: &str,
        url: &str,
        version: &str,
        label: &str,
    ) -> Result<String> {
        let checksums = template::checksums_url(pattern, url, version)
            .map_err(|error| OpError::config(format!("{label}: checksums: {error}")))?;
        if !self.files.contains_key(&checksums) {
            let source = self.source(&checksums)?;
            let bytes = fetch::fetch_small(
                self.client.as_ref(),
                self.settings,
                &source,
                label,
                MAX_CHECKSUM_FILE,
            )
            .await?;
            let text = String::from_utf8_lossy(&bytes);
            let lines = parse_checksums(&text, &fetch::redact(&checksums))
                .map_err(|error| OpError::new(Code::Integrity, error))?;
            self.files.insert(checksums.clone(), lines);
        }
        digest_for(
            &self.files[&checksums],
            &asset_name(url),
            &fetch::redact(&checksums),
        )
        .map_err(|error| OpError::new(Code::Integrity, format!("{label}: {error}")).into())
    }

    async fn size(&self, url: &str, label: &str) -> Result<Option<u64>> {
        let source = self.source(url)?;
        fetch::content_length(self.client.as_ref(), self.settings, &source, label).await
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}

/// A new platform entry computed for `lock update`.
struct Planned {
    platform: String,
    rendered: Rendered,
    sha256: String,
    size: Option<u64>,
}

/// `op toolchain lock update TOOL@VERSION...`: rewrites the lock file (and a DEPENDENCIES.md
/// beside it) or, on any error, leaves both byte-for-byte as they were.
pub fn update(
    lock: &Lock,
    specs: &[String],
    settings: &ToolchainSettings,
    output: &Output,
) -> Result<()> {
    let Origin::File(path) = &lock.origin else {
        return Err(OpError::config(
            "`lock update` rewrites a lock file, but the built-in lock is in use",
        )
        .with_hint("run it in a repository with a toolchain.lock, or pass --lock FILE")
        .into());
    };
    let original =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut plans = Vec::new();
    for spec in specs {
        let Some((name, version)) = spec
            .split_once('@')
            .filter(|(name, version)| !name.is_empty() && !version.is_empty())
        else {
            return Err(OpError::config(format!(
                "{spec:?}: expected TOOL@VERSION, for example flux@2.8.0"
            ))
            .into());
        };
        let version = version.trim_start_matches('v');
        let tool = lock.tool(name)?;
        let (Some(template), Some(checksums)) = (&tool.template, &tool.checksums) else {
            return Err(OpError::config(format!(
                "{}: tool `{name}` needs both `template` and `checksums` for `lock update`",
                lock.origin
            ))
            .with_hint("README.md, section \"toolchain.lock\", shows both")
            .into());
        };
        let mut entries = Vec::new();
        for key in template.platform_keys() {
            let rendered = template
                .render(version, &key)
                .map_err(|error| OpError::config(format!("{name} ({key}): template: {error}")))?;
            entries.push((key, rendered));
        }
        plans.push((
            name.to_string(),
            version.to_string(),
            checksums.clone(),
            entries,
        ));
    }

    let mut upstream = Upstream::new(settings)?;
    let mut computed = Vec::new();
    runtime()?.block_on(async {
        for (name, version, checksums, entries) in &plans {
            let mut planned = Vec::new();
            for (key, rendered) in entries {
                let label = format!("{name} {version} ({key})");
                let sha256 = upstream
                    .digest(checksums, &rendered.url, version, &label)
                    .await?;
                let size = upstream.size(&rendered.url, &label).await?;
                planned.push(Planned {
                    platform: key.clone(),
                    rendered: rendered.clone(),
                    sha256,
                    size,
                });
            }
            computed.push((name.clone(), version.clone(), planned));
        }
        anyhow::Ok(())
    })?;

    let mut document: toml_edit::DocumentMut = original
        .parse()
        .map_err(|error| OpError::config(format!("{}: {error}", path.display())))?;
    for (name, version, planned) in &computed {
        let tool = &mut document["tools"][name.as_str()];
        tool["version"] = toml_edit::value(version.as_str());
        let platforms = tool["platforms"]
            .as_table_mut()
            .context("`platforms` is not a table")?;
        platforms.retain(|key, _| planned.iter().any(|plan| plan.platform == key));
        for plan in planned {
            if !platforms.contains_key(&plan.platform) {
                platforms.insert(
                    &plan.platform,
                    toml_edit::Item::Table(toml_edit::Table::new()),
                );
            }
            let entry = platforms[plan.platform.as_str()]
                .as_table_mut()
                .context("a platform entry is not a table")?;
            entry["url"] = toml_edit::value(plan.rendered.url.as_str());
            entry["sha256"] = toml_edit::value(plan.sha256.as_str());
            entry["archive"] = toml_edit::value(plan.rendered.archive.as_str());
            match &plan.rendered.bin {
                Some(bin) => entry["bin"] = toml_edit::value(bin.as_str()),
                None => {
                    entry.remove("bin");
                }
            }
            match plan.size {
                Some(size) => entry["size"] = toml_edit::value(size as i64),
                None => {
                    entry.remove("size");
                }
            }
        }
    }
    let updated = document.to_string();
    // Whatever is written must be a lock `op` accepts.
    let parsed = Lock::parse(&updated, lock.origin.clone())?;
    let dependencies = path.with_file_name("DEPENDENCIES.md");
    crate::atomic::write_atomic(path, updated.as_bytes())?;
    if dependencies.is_file() {
        crate::atomic::write_atomic(&dependencies, format!("{}\n", parsed.markdown()).as_bytes())?;
    }
    for (name, version, planned) in &computed {
        let old = lock
            .tool(name)
            .map(|tool| tool.version.clone())
            .unwrap_or_default();
        output.info(&format!(
            "{name} {old} -> {version}: {} platform(s)",
            planned.len()
        ));
        for plan in planned {
            output.data(&format!(
                "{name} {version} {} sha256 {} size {}",
                plan.platform,
                plan.sha256,
                plan.size
                    .map_or_else(|| "unknown".to_string(), |size| size.to_string())
            ));
        }
    }
    output.info(&format!(
        "updated {}{}",
        path.display(),
        if dependencies.is_file() {
            " and DEPENDENCIES.md"
        } else {
            ""
        }
    ));
    Ok(())
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
    if !upstream {
        return Ok(());
    }
    let mut reader = Upstream::new(settings)?;
    let mut changed = Vec::new();
    let mut checked = 0;
    runtime()?.block_on(async {
        for tool in &lock.tools {
            let Some(checksums) = &tool.checksums else {
                output.warn(&format!("{} has no `checksums`; not checked upstream", tool.name));
                continue;
            };
            for (key, artifact) in &tool.platforms {
                let label = format!("{} {} ({key})", tool.name, tool.version);
                let published = reader.digest(checksums, &artifact.url, &tool.version, &label).await?;
                checked += 1;
                if published != artifact.sha256 {
                    changed.push(format!(
                        "{label}: upstream now publishes sha256 {published} for {}, the lock pins {}",
                        fetch::redact(&artifact.url),
                        artifact.sha256
                    ));
                }
            }
        }
        anyhow::Ok(())
    })?;
    for line in &changed {
        output.data(&format!("changed: {line}"));
    }
    if !changed.is_empty() {
        return Err(OpError::new(
            Code::Integrity,
            format!("{} asset(s) no longer match their published digest (re-uploaded upstream?)", changed.len()),
        )
        .with_hint("find out why before trusting the new bytes; then `op toolchain lock update TOOL@VERSION` records them")
        .into());
    }
    output.info(&format!(
        "{checked} artifact(s) match their upstream checksums"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1e92141e8498289e4b27411385aeb18396053176cf297b0cb99abd6ca8293e75";
    const B: &str = "89d3ebb47ee5f7a0def33217e8dcb885e0bec41d01d0e23fc84e9aba0416c24e";

    #[test]
    fn parses_each_checksum_format() {
        let text = format!("{A}  flux_linux_amd64.tar.gz\n{B} *flux_linux_arm64.tar.gz\n\n");
        let lines = parse_checksums(&text, "sums").unwrap();
        assert_eq!(
            digest_for(&lines, "flux_linux_arm64.tar.gz", "sums").unwrap(),
            B
        );
        let bare = parse_checksums(&format!("{A}\n"), "kubectl.sha256").unwrap();
        assert_eq!(digest_for(&bare, "kubectl", "kubectl.sha256").unwrap(), A);
    }

    #[test]
    fn malformed_missing_and_contradictory_entries_fail() {
        let error = parse_checksums(&format!("{A}  a\nnot-a-digest  b\n"), "sums").unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        let lines = parse_checksums(&format!("{A}  a\n{B}  a\n"), "sums").unwrap();
        assert!(
            digest_for(&lines, "a", "sums")
                .unwrap_err()
                .contains("different digests")
        );
        assert!(
            digest_for(&lines, "b", "sums")
                .unwrap_err()
                .contains("no entry for b")
        );
    }

    #[test]
    fn the_builtin_lock_is_consistent_with_its_templates() {
        let lock = Lock::parse(crate::toolchain::lock::EMBEDDED, Origin::Embedded).unwrap();
        assert_eq!(check_offline(&lock), Vec::<String>::new());
        assert!(missing_required(&lock).is_empty());
        let mut broken = lock.clone();
        broken.tools[0].version = "9.9.9".into();
        assert!(!check_offline(&broken).is_empty());
    }
}
