//! `op toolchain lock update TOOL@VERSION`: URLs from the tool's template, digests from upstream
//! checksum files, sizes from HEAD requests, supply-chain evidence for every platform
//! ([`evidence`]). Nothing is downloaded but checksum files and evidence, and the lock (with a
//! DEPENDENCIES.md and the evidence proofs beside it) changes all together or not at all.

mod evidence;

use anyhow::{Context, Result};

use crate::error::{Code, OpError};
use crate::output::Output;
use crate::settings::ToolchainSettings;
use crate::toolchain::checksums::Upstream;
use crate::toolchain::evidence::gather::Gathered;
use crate::toolchain::fetch;
use crate::toolchain::lock::{Lock, Origin, Tool};
use crate::toolchain::template::Rendered;

/// A single-threaded runtime for the few sequential requests these commands make.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}

/// One platform's new pin, as `lock update` computed it.
#[derive(Clone, Debug)]
pub struct Planned {
    pub platform: String,
    pub rendered: Rendered,
    pub sha256: String,
    pub size: Option<u64>,
}

/// One tool's new pins.
#[derive(Clone, Debug)]
pub struct Bump {
    pub name: String,
    pub version: String,
    pub platforms: Vec<Planned>,
    /// The verified evidence of each platform that has it.
    pub evidence: Vec<Gathered>,
    /// The version pinned without (all) evidence by `--accept-missing-evidence`.
    pub accepted_missing: Option<String>,
}

/// `TOOL@VERSION` (a `v` before the version is dropped) → the tool and the version. A version
/// older than the pinned one is refused unless `allow_downgrade`.
fn parse_spec<'a>(lock: &'a Lock, spec: &str, allow_downgrade: bool) -> Result<(&'a Tool, String)> {
    let Some((name, version)) = spec
        .split_once('@')
        .filter(|(name, version)| !name.is_empty() && !version.is_empty())
    else {
        return Err(OpError::config(format!(
            "{spec:?}: expected TOOL@VERSION, for example flux@2.8.0"
        ))
        .into());
    };
    let version = crate::toolchain::version::strip_v(version);
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    {
        return Err(OpError::config(format!(
            "{spec:?}: {version:?} is not a version (letters, digits, `.`, `_`, `+`, `-`)"
        ))
        .into());
    }
    let tool = lock.tool(name)?;
    crate::toolchain::version::check_downgrade(name, &tool.version, version, allow_downgrade)?;
    let Some(template) = &tool.template else {
        return Err(needs_template(lock, name));
    };
    if tool.checksums.is_empty() {
        return Err(needs_template(lock, name));
    }
    for key in template.platform_keys() {
        template
            .render(version, &key)
            .map_err(|error| OpError::config(format!("{name} ({key}): template: {error}")))?;
    }
    Ok((tool, version.to_string()))
}

fn needs_template(lock: &Lock, name: &str) -> anyhow::Error {
    OpError::config(format!(
        "{}: tool `{name}` needs both `template` and `checksums` for `lock update`",
        lock.origin
    ))
    .with_hint("README.md, section \"toolchain.lock\", shows both")
    .into()
}

/// Reads the published digest (every checksum source) and HEAD size of each platform of each
/// requested tool.
fn plan(
    lock: &Lock,
    specs: &[String],
    allow_downgrade: bool,
    settings: &ToolchainSettings,
) -> Result<Vec<Bump>> {
    let mut wanted: Vec<(&Tool, String)> = Vec::new();
    for spec in specs {
        let (tool, version) = parse_spec(lock, spec, allow_downgrade)?;
        if wanted.iter().any(|(seen, _)| seen.name == tool.name) {
            return Err(OpError::config(format!("{} is named twice", tool.name)).into());
        }
        wanted.push((tool, version));
    }
    let mut upstream = Upstream::new(settings);
    runtime()?.block_on(async {
        let mut bumps = Vec::new();
        for (tool, version) in wanted {
            let template = tool.template.as_ref().expect("parse_spec checked it");
            let mut platforms = Vec::new();
            for key in template.platform_keys() {
                let rendered = template
                    .render(&version, &key)
                    .expect("parse_spec checked it");
                let label = format!("{} {version} ({key})", tool.name);
                let sha256 = upstream
                    .digest(&tool.checksums, &rendered.url, &version, &label)
                    .await?;
                let size = upstream.size(&rendered.url, &label).await?;
                platforms.push(Planned {
                    platform: key,
                    rendered,
                    sha256,
                    size,
                });
            }
            bumps.push(Bump {
                name: tool.name.clone(),
                version,
                platforms,
                evidence: Vec::new(),
                accepted_missing: None,
            });
        }
        anyhow::Ok(bumps)
    })
}

/// Compares the plan with what the lock pins for the same URLs. A different digest for the same
/// URL is a re-upload: refused (exit 3) unless `accept_reupload`. A HEAD size that contradicts
/// the size pinned with the same digest is refused too; a size HEAD did not give is kept.
fn reconcile(
    lock: &Lock,
    bumps: &mut [Bump],
    accept_reupload: bool,
    output: &Output,
) -> Result<()> {
    let mut refused = Vec::new();
    for bump in bumps.iter_mut() {
        let tool = lock.tool(&bump.name)?;
        for plan in &mut bump.platforms {
            let Some(pinned) = tool.platforms.get(&plan.platform) else {
                continue;
            };
            if pinned.url != plan.rendered.url {
                continue;
            }
            let label = format!("{} {} ({})", bump.name, bump.version, plan.platform);
            let url = fetch::redact(&pinned.url);
            if pinned.sha256 != plan.sha256 {
                let line = format!(
                    "{label}: upstream now publishes sha256 {} for {url}, the lock pins {}",
                    plan.sha256, pinned.sha256
                );
                if accept_reupload {
                    output.warn(&format!("{line}; recording it (--accept-reupload)"));
                } else {
                    refused.push(line);
                }
                continue;
            }
            match (pinned.size, plan.size) {
                (Some(size), None) => plan.size = Some(size),
                (Some(size), Some(announced)) if size != announced => refused.push(format!(
                    "{label}: the server announces {announced} bytes for {url}, but the lock pins size = {size} with the same sha256"
                )),
                _ => {}
            }
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(OpError::new(
        Code::Integrity,
        format!(
            "{} changed upstream under the same URL (re-uploaded?); the lock was not changed:\n  {}",
            crate::output::count(refused.len(), "pinned artifact"),
            refused.join("\n  ")
        ),
    )
    .with_hint("find out why before trusting the new bytes; to record them anyway, re-run with --accept-reupload")
    .into())
}

/// Sets `key` to `value`, keeping the comment and spacing around an existing value.
fn set(table: &mut toml_edit::Table, key: &str, value: impl Into<toml_edit::Value>) {
    let mut value = value.into();
    match table.get_mut(key).and_then(toml_edit::Item::as_value_mut) {
        Some(old) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        None => {
            table.insert(key, toml_edit::Item::Value(value));
        }
    }
}

/// Applies `bumps` to the lock text, keeping comments, the order of tables and keys, and the
/// decoration of every value it rewrites. New platform tables follow the tool's others.
pub fn edit(original: &str, bumps: &[Bump]) -> Result<String> {
    let mut document: toml_edit::DocumentMut = original
        .parse()
        .map_err(|error| OpError::config(format!("invalid TOML: {error}")))?;
    let not_table = |what: String| {
        OpError::config(format!(
            "`lock update` edits standard tables, but {what} is not one"
        ))
        .with_hint("write it as a [table] header, as README.md's toolchain.lock section does")
    };
    for bump in bumps {
        let tool = document["tools"][bump.name.as_str()]
            .as_table_mut()
            .ok_or_else(|| not_table(format!("tools.{}", bump.name)))?;
        set(tool, "version", bump.version.as_str());
        let platforms = tool["platforms"]
            .as_table_mut()
            .ok_or_else(|| not_table(format!("tools.{}.platforms", bump.name)))?;
        platforms.retain(|key, _| bump.platforms.iter().any(|plan| plan.platform == key));
        for plan in &bump.platforms {
            let entry = platforms
                .entry(&plan.platform)
                .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
                .as_table_mut()
                .ok_or_else(|| {
                    not_table(format!("tools.{}.platforms.{}", bump.name, plan.platform))
                })?;
            set(entry, "url", plan.rendered.url.as_str());
            set(entry, "sha256", plan.sha256.as_str());
            set(entry, "archive", plan.rendered.archive.as_str());
            match &plan.rendered.bin {
                Some(bin) => set(entry, "bin", bin.as_str()),
                None => drop(entry.remove("bin")),
            }
            match plan.size.and_then(|size| i64::try_from(size).ok()) {
                Some(size) => set(entry, "size", size),
                None => drop(entry.remove("size")),
            }
        }
        evidence::edit(tool, bump);
    }
    Ok(document.to_string())
}

/// What `lock update` may accept that it refuses by default.
#[derive(Clone, Debug, Default)]
pub struct Accept {
    /// A new digest for a URL the lock already pins.
    pub reupload: bool,
    /// Tools whose new pins may lack evidence (`--accept-missing-evidence TOOL`).
    pub missing_evidence: Vec<String>,
    /// A version older than the pinned one (`--allow-downgrade`).
    pub downgrade: bool,
}

/// `op toolchain lock update TOOL@VERSION...`: rewrites the lock file (and a DEPENDENCIES.md and
/// the evidence proofs beside it) or, on any error, leaves all of them byte-for-byte as they were.
pub fn update(
    lock: &Lock,
    specs: &[String],
    accept: &Accept,
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
        crate::bounded::read_capped_to_string(path, "lock file", crate::bounded::LOCK_CAP)?;
    let names: Vec<&str> = specs
        .iter()
        .map(|spec| spec.split_once('@').map_or(spec.as_str(), |(name, _)| name))
        .collect();
    evidence::check_accepted(&names, &accept.missing_evidence)?;
    let mut bumps = plan(lock, specs, accept.downgrade, settings)?;
    reconcile(lock, &mut bumps, accept.reupload, output)?;
    evidence::gather(
        lock,
        &original,
        &mut bumps,
        &accept.missing_evidence,
        settings,
        output,
    )?;
    let updated =
        edit(&original, &bumps).with_context(|| format!("cannot update {}", path.display()))?;
    // Whatever is written must be a lock `op` accepts.
    let parsed = Lock::parse(&updated, lock.origin.clone())?;
    for bump in &bumps {
        let old = &lock.tool(&bump.name)?.version;
        let change = if *old == bump.version {
            format!("{} {old} (same version)", bump.name)
        } else {
            format!("{} {old} -> {}", bump.name, bump.version)
        };
        output.info(&format!(
            "{change}: {}",
            crate::output::count(bump.platforms.len(), "platform")
        ));
        for plan in &bump.platforms {
            let size = plan.size.map_or("unknown".into(), |size| size.to_string());
            output.data(&format!(
                "{} {} {} sha256 {} size {size}",
                bump.name, bump.version, plan.platform, plan.sha256
            ));
        }
    }
    // Proofs that are not on disk yet, or differ from what is.
    let lock_dir = path.parent().unwrap_or(std::path::Path::new(""));
    let mut seen = std::collections::BTreeSet::new();
    let proofs: Vec<(std::path::PathBuf, &[u8])> = bumps
        .iter()
        .flat_map(|bump| &bump.evidence)
        .flat_map(Gathered::files)
        .filter(|(path, _)| seen.insert(*path))
        .map(|(path, bytes)| (lock_dir.join(path), bytes))
        .filter(|(proof, bundle)| {
            crate::bounded::read_capped_if_present(
                proof,
                "evidence proof",
                crate::bounded::LOCK_CAP,
            )
            .ok()
            .flatten()
            .as_deref()
                != Some(*bundle)
        })
        .collect();
    let stale = evidence::stale_proofs(lock, &bumps, lock_dir);
    if updated == original && proofs.is_empty() {
        output.info(&format!("{} is already up to date", path.display()));
        return Ok(());
    }
    // Stage every file before replacing any, so a failure leaves all of them as they were.
    let staged_proofs = proofs
        .iter()
        .map(|(proof, bundle)| crate::atomic::stage(proof, bundle))
        .collect::<Result<Vec<_>>>()?;
    let dependencies = path.with_file_name("DEPENDENCIES.md");
    let staged_dependencies = if dependencies.is_file() {
        let text = format!("{}\n", parsed.markdown());
        Some(crate::atomic::stage(&dependencies, text.as_bytes())?)
    } else {
        None
    };
    let staged_lock = crate::atomic::stage(path, updated.as_bytes())?;
    for staged in staged_proofs {
        staged.commit()?;
    }
    staged_lock.commit()?;
    let also = match staged_dependencies {
        Some(staged) => {
            staged.commit()?;
            " and DEPENDENCIES.md"
        }
        None => "",
    };
    let proofs = match proofs.len() {
        0 => String::new(),
        count => format!(" and {}", crate::output::count(count, "evidence proof")),
    };
    output.info(&format!("updated {}{also}{proofs}", path.display()));
    evidence::remove_stale(&stale, output);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::lock::ArchiveKind;

    const BEFORE: &str = r#"# team lock
schema = 1

[tools.demo]
version = "1.0.0"   # bumped by `op toolchain lock update`
checksums = "{url}.sha256"

[tools.demo.template]
url = "https://example.com/demo/v{version}/demo-{os}-{arch}"

# the only platform so far
[tools.demo.platforms.linux-amd64]
url = "https://example.com/demo/v1.0.0/demo-linux-amd64"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"   # from upstream
archive = "raw"
size = 10

[tools.other]
version = "3"
"#;

    fn planned(platform: &str, sha: char, size: Option<u64>) -> Planned {
        Planned {
            platform: platform.into(),
            rendered: Rendered {
                url: format!("https://example.com/demo/v2.0.0/demo-{platform}"),
                archive: ArchiveKind::Raw,
                bin: None,
            },
            sha256: sha.to_string().repeat(64),
            size,
        }
    }

    #[test]
    fn edit_keeps_comments_order_and_decoration() {
        let bump = Bump {
            name: "demo".into(),
            version: "2.0.0".into(),
            platforms: vec![
                planned("linux-amd64", 'a', None),
                planned("darwin-arm64", 'b', Some(42)),
            ],
            evidence: Vec::new(),
            accepted_missing: None,
        };
        let after = edit(BEFORE, &[bump]).unwrap();
        let expected = BEFORE
            .replace("\"1.0.0\"", "\"2.0.0\"")
            .replace("v1.0.0", "v2.0.0")
            .replace(&"0".repeat(64), &"a".repeat(64))
            .replace("size = 10\n", "")
            .replace(
                "\n[tools.other]",
                &format!(
                    "\n[tools.demo.platforms.darwin-arm64]\nurl = \"https://example.com/demo/v2.0.0/demo-darwin-arm64\"\nsha256 = \"{}\"\narchive = \"raw\"\nsize = 42\n\n[tools.other]",
                    "b".repeat(64)
                ),
            );
        assert_eq!(after, expected);
    }
}
