//! `op toolchain verify`: every installed entry re-derived from the lock alone. The lock's
//! SHA-256 is the only trust anchor; the receipt is not believed. A raw tool's executable must
//! hash to the lock's digest; an archived tool's kept archive must hash to it, and the
//! executable must equal the `bin` unpacked afresh from that archive. When the lock records a
//! stored proof for the platform, it is re-checked offline as at install.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::error::{Code, OpError};
use crate::toolchain::Toolchain;
use crate::toolchain::cache::store::Dir;
use crate::toolchain::cache::{ARTIFACT, Entry, TOOLS, read_receipt};
use crate::toolchain::evidence;
use crate::toolchain::lock::ArchiveKind;
use crate::toolchain::unpack;

/// One row of `verify --json`.
#[derive(Serialize)]
struct Row {
    tool: String,
    version: String,
    platform: String,
    /// `ok`, `bad` (differs from the lock) or `missing` (not installed; host platform only).
    status: &'static str,
    path: PathBuf,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct Body {
    lock: String,
    /// Every installed tool matches the lock.
    ok: bool,
    tools: Vec<Row>,
}

pub fn run(toolchain: &Toolchain, json: bool) -> Result<()> {
    // With --json the table lines are for humans, on stderr beside the document.
    let line = |text: &str| {
        if json {
            toolchain.output.info(text);
        } else {
            toolchain.output.data(text);
        }
    };
    let mut rows = Vec::new();
    let mut row = |entry: &Entry, status, problems| {
        rows.push(Row {
            tool: entry.tool.clone(),
            version: entry.version.clone(),
            platform: entry.platform.clone(),
            status,
            path: entry.exe(),
            problems,
        });
    };
    let host = toolchain.platform(None)?;
    let tools = match toolchain.cache.open_root(false)? {
        Some(root) => root.open_dir(TOOLS)?,
        None => None,
    };
    let mut bad = Vec::new();
    let mut evidence_failed = false;
    let mut checked = 0;
    for tool in &toolchain.lock()?.tools {
        for (platform, artifact) in &tool.platforms {
            let entry = toolchain.cache.entry(tool, platform, artifact);
            let dir = match tools.as_ref().map(|tools| tools.open_dir(&entry.key)) {
                None | Some(Ok(None)) => {
                    if *platform == host {
                        line(&format!("missing {}", entry.label()));
                        row(&entry, "missing", Vec::new());
                    }
                    continue;
                }
                Some(Ok(Some(dir))) => Ok(dir),
                Some(Err(error)) => Err(format!("{error:#}")),
            };
            checked += 1;
            let evidence =
                evidence::check_artifact(&entry.artifact)?.map_err(|problem| problem.line());
            evidence_failed |= evidence.is_err();
            match dir.and_then(|dir| check(&entry, &dir)).and(evidence) {
                Ok(()) => {
                    line(&format!(
                        "ok      {}  {}",
                        entry.label(),
                        entry.exe().display()
                    ));
                    row(&entry, "ok", Vec::new());
                }
                Err(problem) => {
                    line(&format!("BAD     {}  {problem}", entry.label()));
                    bad.push(format!("{}: {problem}", entry.label()));
                    row(&entry, "bad", vec![problem]);
                }
            }
        }
    }
    if json {
        toolchain.output.json(
            "toolchain verify",
            &Body {
                lock: toolchain.lock()?.origin.to_string(),
                ok: bad.is_empty(),
                tools: rows,
            },
        )?;
    }
    if !bad.is_empty() {
        return Err(OpError::new(
            Code::Integrity,
            format!(
                "{} {} from the lock:\n  {}",
                crate::output::count(bad.len(), "installed tool"),
                if bad.len() == 1 { "differs" } else { "differ" },
                bad.join("\n  ")
            ),
        )
        .with_hint(if evidence_failed {
            "restore the proofs the lock records from the repository (or re-gather them with `op toolchain lock update`), and reinstall the other tools with `op toolchain install --force TOOL`"
        } else {
            "reinstall them with `op toolchain install --force TOOL`"
        })
        .into());
    }
    toolchain.output.info(&format!(
        "{} {} {}",
        crate::output::count(checked, "installed tool"),
        if checked == 1 { "matches" } else { "match" },
        toolchain.lock()?.origin
    ));
    Ok(())
}

fn check(entry: &Entry, dir: &Dir) -> Result<(), String> {
    let text = |error: anyhow::Error| format!("{error:#}");
    let receipt = read_receipt(dir).map_err(text)??;
    entry.matches(&receipt)?;

    let bin = dir
        .open_dir("bin")
        .map_err(text)?
        .ok_or("no bin directory")?;
    let exe = bin
        .open_file(&entry.exe_name)
        .map_err(text)?
        .ok_or_else(|| format!("{} is missing", entry.exe().display()))?;
    let (exe_size, exe_sha256) =
        unpack::hash_reader(exe, &entry.exe().display().to_string()).map_err(text)?;

    let (expected_size, expected_sha256) = match entry.artifact.archive {
        ArchiveKind::Raw => {
            check_artifact(entry, exe_size, &exe_sha256, "the executable")?;
            return Ok(());
        }
        ArchiveKind::TarGz | ArchiveKind::Zip => {
            let kept = dir.open_file(ARTIFACT).map_err(text)?.ok_or(
                "the verified archive it was unpacked from is missing, so the executable cannot be checked",
            )?;
            let (size, sha256) =
                unpack::hash_reader(kept, &dir.join(ARTIFACT).display().to_string())
                    .map_err(text)?;
            check_artifact(entry, size, &sha256, "its kept archive")?;
            unpack_again(entry, &dir.join(ARTIFACT)).map_err(text)?
        }
    };
    if exe_sha256 != expected_sha256 || exe_size != expected_size {
        return Err(format!(
            "{} was modified: sha256 {exe_sha256} ({exe_size} bytes), but the archive the lock pins holds {expected_sha256} ({expected_size} bytes)",
            entry.exe().display()
        ));
    }
    Ok(())
}

fn check_artifact(entry: &Entry, size: u64, sha256: &str, what: &str) -> Result<(), String> {
    let size_ok = entry.artifact.size.is_none_or(|pinned| pinned == size);
    if sha256 == entry.artifact.sha256 && size_ok {
        return Ok(());
    }
    Err(format!(
        "{what} was modified: sha256 {sha256} ({size} bytes), the lock pins {}",
        entry.artifact.sha256
    ))
}

/// The size and digest of `bin` unpacked from the kept archive into a private temp directory.
fn unpack_again(entry: &Entry, archive: &std::path::Path) -> Result<(u64, String)> {
    let scratch = tempfile::Builder::new()
        .prefix("op-verify-")
        .tempdir()
        .context("cannot create a temporary directory to unpack into")?;
    let unpacked = unpack::extract(
        entry.artifact.archive,
        entry.artifact.bin.as_deref(),
        archive,
        &scratch.path().join(&entry.exe_name),
    )?;
    Ok((unpacked.size, unpacked.sha256))
}
