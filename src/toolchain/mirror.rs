//! `op toolchain mirror DIR`: a verified copy of the lock's artifacts laid out as
//! `DIR/<host>/<path>` — the `OP_TOOLCHAIN_MIRROR` layout — so any static file server or a
//! `file://` path can serve fleets that cannot reach the origins. An artifact whose lock entry
//! records a stored proof has it copied beside it as `<path>.sigstore.json` (and the signed
//! checksums file the proof is over as `<path>.checksums.txt`). `mirror verify` re-hashes them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Code, OpError};
use crate::output::Output;
use crate::settings::ToolchainSettings;
use crate::toolchain::cache::{Cache, Entry};
use crate::toolchain::evidence::Proof;
use crate::toolchain::fetch::{self, Source};
use crate::toolchain::lock::Lock;
use crate::toolchain::unpack;

pub const MANIFEST: &str = "op-mirror.json";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub artifacts: Vec<ManifestEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestEntry {
    pub tool: String,
    pub version: String,
    pub platform: String,
    pub url: String,
    /// Relative to the mirror root, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// The copy of the artifact's stored proof, relative to the mirror root, when the lock
    /// records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// The copy of the signed checksums file the proof is over, relative to the mirror root,
    /// when the lock records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksums: Option<String>,
}

/// Where the mirror keeps the proof of the artifact at `relative`: beside it.
fn proof_relative(relative: &str) -> String {
    format!("{relative}.sigstore.json")
}

/// Where the mirror keeps the signed checksums file of the artifact at `relative`: beside it.
fn checksums_relative(relative: &str) -> String {
    format!("{relative}.checksums.txt")
}

/// The stored files of `entry`'s evidence and where the mirror keeps each, relative to the
/// artifact's path: the proof, then the checksums file it signs.
fn stored_files<'a>(entry: &'a Entry, relative: &str) -> Vec<(&'a Proof, String)> {
    let Some(record) = entry.artifact.evidence.as_ref() else {
        return Vec::new();
    };
    let proof = record
        .proof
        .iter()
        .map(|proof| (proof, proof_relative(relative)));
    let checksums = record
        .checksums
        .iter()
        .map(|file| (file, checksums_relative(relative)));
    proof.chain(checksums).collect()
}

/// Copies the stored proof files of `entry` (when the lock records them) beside its artifact
/// at `relative`, after checking each is the one the lock records; returns the copies' paths
/// (proof, checksums file).
fn export_proofs(
    entry: &Entry,
    dir: &Path,
    relative: &str,
) -> Result<(Option<String>, Option<String>)> {
    let mut copies = Vec::new();
    for (proof, copy) in stored_files(entry, relative) {
        copies.push(export_proof(entry, proof, dir, copy)?);
    }
    let mut copies = copies.into_iter();
    Ok((copies.next(), copies.next()))
}

/// Copies one stored file of `entry`'s evidence to `copy` in `dir`.
fn export_proof(entry: &Entry, proof: &Proof, dir: &Path, copy: String) -> Result<String> {
    let refuse = |what: String| -> anyhow::Error {
        OpError::new(
            Code::Integrity,
            format!("{}: the proof {} {what}", entry.label(), proof.location()),
        )
        .with_hint("restore the proof from the repository, or re-gather it with `op toolchain lock update` (README.md, \"Supply-chain evidence\")")
        .into()
    };
    let bytes = proof
        .read()
        .map_err(|reason| refuse(format!("cannot be read: {reason}")))?;
    let sha256 = crate::hex::encode(Sha256::digest(&bytes));
    if sha256 != proof.sha256 {
        return Err(refuse(format!(
            "has sha256 {sha256}, the lock records {}",
            proof.sha256
        )));
    }
    let path = target(dir, &copy);
    if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
        crate::atomic::write_atomic(&path, &bytes)?;
    }
    Ok(copy)
}

fn target(dir: &Path, relative: &str) -> PathBuf {
    relative
        .split('/')
        .filter(|part| !part.is_empty())
        .fold(dir.to_path_buf(), |path, part| path.join(part))
}

/// A manifest lists a few dozen artifacts; far larger is not one op wrote.
const MANIFEST_CAP: u64 = 4 << 20;

fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    let Some(bytes) =
        crate::bounded::read_capped_if_present(&path, "mirror manifest", MANIFEST_CAP)?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|error| {
        OpError::config(format!(
            "{}: not a valid mirror manifest: {error}",
            path.display()
        ))
        .into()
    })
}

/// The lock's entries for `platforms` (every platform of each tool when `platforms` is empty).
fn entries(lock: &Lock, cache: &Cache, platforms: &[String]) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for tool in &lock.tools {
        if platforms.is_empty() {
            for (key, artifact) in &tool.platforms {
                entries.push(cache.entry(tool, key, artifact));
            }
        } else {
            for key in platforms {
                entries.push(cache.entry(tool, key, tool.artifact(key, &lock.origin)?));
            }
        }
    }
    Ok(entries)
}

/// Fills `dir` with the artifacts, fetching only what is missing or wrong.
pub fn export(
    lock: &Lock,
    cache: &Cache,
    dir: &Path,
    platforms: &[String],
    settings: &ToolchainSettings,
    output: &Output,
) -> Result<()> {
    let entries = entries(lock, cache, platforms)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut manifest = read_manifest(dir)?.unwrap_or_default();
    manifest.schema = 1;
    // Each artifact's sources in the order `install` tries them (offline: the `file://` ones).
    let sources: Vec<Vec<Source>> = entries
        .iter()
        .map(|entry| {
            let mut list = fetch::sources(&entry.artifact, &settings.mirrors)?;
            if settings.offline {
                list.retain(|source| matches!(source, Source::File(_)));
            }
            Ok(list)
        })
        .collect::<Result<_>>()?;
    let needs_network = sources
        .iter()
        .flatten()
        .any(|source| matches!(source, Source::Http(_)));
    let client = if needs_network && !settings.offline {
        Some(fetch::client(settings)?)
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the download runtime")?;
    let (mut fetched, mut present) = (0, 0);
    // On a failure the manifest still records what did land, so `mirror verify` covers it.
    let mut outcome = Ok(());
    for (entry, source) in entries.iter().zip(&sources) {
        let relative = fetch::mirror_path(&entry.artifact.url)?;
        let path = target(dir, &relative);
        let existing = if path.is_file() {
            Some(unpack::hash_file(&path)?)
        } else {
            None
        };
        let size = match existing {
            Some((size, sha256)) if sha256 == entry.artifact.sha256 => {
                present += 1;
                size
            }
            existing => {
                if let Some((_, sha256)) = existing {
                    output.warn(&format!(
                        "{}: {relative} has sha256 {sha256}, not the pinned one; fetching it again",
                        entry.label()
                    ));
                }
                if source.is_empty() {
                    outcome = Err(OpError::new(
                        Code::Offline,
                        format!("{}: not in the mirror and OP_OFFLINE is set", entry.label()),
                    )
                    .into());
                    break;
                }
                fetched += 1;
                let fetch = fetch_any(client.as_ref(), settings, output, entry, source, &path);
                match runtime.block_on(fetch) {
                    Ok(size) => size,
                    Err(error) => {
                        outcome = Err(error);
                        break;
                    }
                }
            }
        };
        let proofs = export_proofs(entry, dir, &relative);
        manifest.artifacts.retain(|known| known.path != relative);
        manifest.artifacts.push(ManifestEntry {
            tool: entry.tool.clone(),
            version: entry.version.clone(),
            platform: entry.platform.clone(),
            url: fetch::redact(&entry.artifact.url),
            path: relative,
            sha256: entry.artifact.sha256.clone(),
            size,
            proof: proofs.as_ref().ok().and_then(|copies| copies.0.clone()),
            checksums: proofs.as_ref().ok().and_then(|copies| copies.1.clone()),
        });
        if let Err(error) = proofs {
            outcome = Err(error);
            break;
        }
    }
    manifest.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    crate::atomic::write_atomic(&dir.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
    outcome?;
    output.info(&format!(
        "mirror {}: {}, {fetched} fetched, {present} already present and verified",
        dir.display(),
        crate::output::count(entries.len(), "artifact")
    ));
    output.info(&format!(
        "serve it, then set OP_TOOLCHAIN_MIRROR=<its URL> (or file://{})",
        std::path::absolute(dir)
            .unwrap_or(dir.to_path_buf())
            .display()
    ));
    Ok(())
}

/// Downloads into a temp file beside `path`, verifies it against the lock, renames it in place.
/// [`fetch_into`] from the first of `sources` that serves the pinned bytes; each that fails is
/// reported and skipped.
async fn fetch_any(
    client: Option<&reqwest::Client>,
    settings: &ToolchainSettings,
    output: &Output,
    entry: &Entry,
    sources: &[Source],
    path: &Path,
) -> Result<u64> {
    let mut failed = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        match fetch_into(client, settings, output, entry, source, path).await {
            Ok(size) => return Ok(size),
            Err(error) => {
                let failure = fetch::Failed::sort(entry, source, error)?;
                if index + 1 < sources.len() {
                    output.warn(&format!("{}; trying the next source", failure.line()));
                }
                failed.push(failure);
            }
        }
    }
    Err(fetch::all_failed(entry, failed))
}

async fn fetch_into(
    client: Option<&reqwest::Client>,
    settings: &ToolchainSettings,
    output: &Output,
    entry: &Entry,
    source: &Source,
    path: &Path,
) -> Result<u64> {
    let parent = path.parent().context("mirror paths have a parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let temp = tempfile::Builder::new()
        .prefix(".op-")
        .suffix(".partial")
        .tempfile_in(parent)
        .with_context(|| format!("cannot create a temporary file in {}", parent.display()))?;
    let mut file = temp.reopen()?;
    let bar = output.download_bar(entry);
    let started = std::time::Instant::now();
    let result = fetch::download(
        client,
        settings,
        entry,
        source,
        (&mut file, temp.path()),
        bar.as_ref(),
    )
    .await;
    bar.finish();
    let downloaded = result?;
    fetch::check_digest(entry, source, &downloaded)?;
    // A static file server running as another user must be able to read it.
    crate::atomic::share(&file)?;
    file.sync_all()?;
    temp.persist(path)
        .map_err(|error| error.error)
        .with_context(|| format!("cannot move the download into {}", path.display()))?;
    output.info(&format!(
        "mirrored {} {} ({}) {} in {:.1}s",
        entry.tool,
        entry.version,
        entry.platform,
        crate::output::human_bytes(downloaded.size),
        started.elapsed().as_secs_f64()
    ));
    Ok(downloaded.size)
}

/// Re-hashes every artifact of the lock found in `dir` (and every one the manifest lists), and
/// the copy of its stored proof when the lock records one.
pub fn verify(lock: &Lock, cache: &Cache, dir: &Path, output: &Output) -> Result<()> {
    let manifest = read_manifest(dir)?.ok_or_else(|| {
        OpError::config(format!(
            "{} has no {MANIFEST}; it was not made by `op toolchain mirror`",
            dir.display()
        ))
    })?;
    let mut bad = Vec::new();
    let mut checked = 0;
    for entry in entries(lock, cache, &[])? {
        let relative = fetch::mirror_path(&entry.artifact.url)?;
        let path = target(dir, &relative);
        let listed = manifest
            .artifacts
            .iter()
            .any(|known| known.path == relative);
        if !path.exists() {
            if listed {
                bad.push(format!("{}: {relative} is missing", entry.label()));
            }
            continue;
        }
        checked += 1;
        let mut problems = Vec::new();
        let (size, sha256) = unpack::hash_file(&path)?;
        if sha256 != entry.artifact.sha256 {
            problems.push(format!(
                "{}: {relative} has sha256 {sha256} ({size} bytes), the lock pins {}",
                entry.label(),
                entry.artifact.sha256
            ));
        }
        for (proof, copy) in stored_files(&entry, &relative) {
            let path = target(dir, &copy);
            if !path.is_file() {
                problems.push(format!("{}: {copy} is missing", entry.label()));
            } else {
                let (_, sha256) = unpack::hash_file(&path)?;
                if sha256 != proof.sha256 {
                    problems.push(format!(
                        "{}: {copy} has sha256 {sha256}, the lock records {} for its proof",
                        entry.label(),
                        proof.sha256
                    ));
                }
            }
        }
        let status = if problems.is_empty() {
            "ok     "
        } else {
            "BAD    "
        };
        output.data(&format!("{status} {}  {relative}", entry.label()));
        bad.extend(problems);
    }
    if !bad.is_empty() {
        return Err(OpError::new(
            Code::Integrity,
            format!(
                "{} the lock:\n  {}",
                if bad.len() == 1 {
                    "1 mirror file does not match".to_string()
                } else {
                    format!("{} mirror files do not match", bad.len())
                },
                bad.join("\n  ")
            ),
        )
        .with_hint("re-run `op toolchain mirror DIR` to fetch them again")
        .into());
    }
    if checked == 0 {
        return Err(OpError::new(
            Code::Failure,
            format!(
                "{} holds none of the artifacts {} pins",
                dir.display(),
                lock.origin
            ),
        )
        .into());
    }
    output.info(&format!(
        "{} {} {}",
        crate::output::count(checked, "mirror artifact"),
        if checked == 1 { "matches" } else { "match" },
        lock.origin
    ));
    Ok(())
}
