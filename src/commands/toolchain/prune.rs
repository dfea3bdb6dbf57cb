//! `op toolchain prune`: removes cache entries the active lock does not pin, but only op's own
//! (an entry name, a directory of this user's, an op receipt written for that very name), and
//! only those no op used within `--unused-for`: a cache shared by several repositories' locks
//! keeps what the others run. An entry leaves `tools/` in one rename before it is deleted, so a
//! killed prune never leaves a half-emptied entry behind.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::error::OpError;
use crate::toolchain::Toolchain;
use crate::toolchain::cache::store::{Dir, Kind, mode};
use crate::toolchain::cache::{
    LOCKS, STAGING, TOOLS, index, is_key, read_receipt, receipt_key, staging_key, staging_name,
};
use crate::toolchain::install;

pub fn run(toolchain: &Toolchain, dry_run: bool, unused_for: &str) -> Result<()> {
    let keep_used_within = parse_age(unused_for)?;
    let cache = &toolchain.cache;
    let keep: BTreeSet<String> = toolchain
        .lock()?
        .tools
        .iter()
        .flat_map(|tool| {
            tool.platforms
                .iter()
                .map(|(platform, artifact)| cache.entry(tool, platform, artifact).key)
        })
        .collect();
    let root = cache.open_root(false)?;
    let tools = match &root {
        Some(root) => root.open_dir(TOOLS)?,
        None => None,
    };
    let mut tally = Tally::default();
    if let (Some(root), Some(tools)) = (&root, &tools) {
        for (name, kind) in tools.names()? {
            if keep.contains(&name) {
                continue;
            }
            let Some(entry) = own_entry(tools, &name, kind) else {
                tally.foreign += 1;
                continue;
            };
            let idle = entry
                .modified()
                .and_then(|at| at.elapsed().ok())
                .unwrap_or(Duration::MAX);
            if idle < keep_used_within {
                tally.recent += 1;
                continue;
            }
            let bytes = dir_size(entry.path());
            drop(entry);
            // stdout carries bare paths (one per line, scriptable); the verb is in the
            // summary on stderr.
            if !dry_run {
                // Hold the artifact's lock so that no install of it is in flight.
                let Ok(_lock) = cache.lock(&name, Duration::ZERO, &|_| {}) else {
                    toolchain.output.warn(&format!(
                        "skipping {}: an op process is using it",
                        tools.join(&name).display()
                    ));
                    continue;
                };
                let staging = root.create_dir(STAGING, mode::SHARED_DIR)?;
                let aside = staging_name(&name);
                tools.rename(&name, &staging, &aside)?;
                staging.remove_tree(&aside)?;
            }
            toolchain
                .output
                .data(&tools.join(&name).display().to_string());
            tally.removed += 1;
            tally.freed += bytes;
        }
    }
    if !dry_run {
        install::sweep_staging(cache);
        if let Some(root) = &root {
            prune_indexes(root, &index::name(&toolchain.lock_text));
            tally.locks = prune_locks(root, tools.as_ref());
        }
    }
    let mut summary = format!(
        "{} {}, {} ({})",
        if dry_run { "would remove" } else { "removed" },
        crate::output::count(tally.removed, "cached tool"),
        crate::output::human_bytes(tally.freed),
        cache.root.display()
    );
    if tally.recent > 0 {
        summary.push_str(&format!(
            "; kept {} used within {unused_for} (--unused-for 0 removes them too)",
            tally.recent
        ));
    }
    if tally.locks > 0 {
        summary.push_str(&format!(
            "; removed {} of entries no longer cached",
            crate::output::count(tally.locks, "unused lock file")
        ));
    }
    if tally.foreign > 0 {
        summary.push_str(&format!(
            "; left alone {} under tools/ that op did not create",
            crate::output::count(tally.foreign, "name")
        ));
    }
    toolchain.output.info(&summary);
    Ok(())
}

#[derive(Default)]
struct Tally {
    removed: u64,
    freed: u64,
    recent: u64,
    foreign: u64,
    locks: u64,
}

/// The entry `name` when it is op's own: a key-shaped directory of this user's holding a
/// receipt written for exactly that key.
fn own_entry(tools: &Dir, name: &str, kind: Kind) -> Option<Dir> {
    if kind != Kind::Dir || !is_key(name) || !tools.is_own_dir(name) {
        return None;
    }
    let entry = tools.open_dir(name).ok()??;
    let receipt = read_receipt(&entry).ok()?.ok()?;
    (receipt_key(&receipt) == name).then_some(entry)
}

/// Removes the lock indexes of other locks (and any a killed op left half-written): each is
/// only a shortcut, written again by the next `exec` of a lock that still exists.
/// Removes `locks/<key>.lock` of each key with no entry under `tools/` (pruned, or never
/// completed) when it is this user's and no process holds it; one that is held stays, and so
/// does one whose key still has work in `staging/` (the staging sweep needs its lock file).
fn prune_locks(root: &Dir, tools: Option<&Dir>) -> u64 {
    let Ok(Some(locks)) = root.open_dir(LOCKS) else {
        return 0;
    };
    let staged: BTreeSet<String> = match root.open_dir(STAGING) {
        Ok(Some(staging)) => staging
            .names()
            .unwrap_or_default()
            .iter()
            .filter_map(|(name, _)| staging_key(name).map(str::to_string))
            .collect(),
        _ => BTreeSet::new(),
    };
    let mut removed = 0;
    for (name, kind) in locks.names().unwrap_or_default() {
        let Some(key) = name.strip_suffix(".lock") else {
            continue;
        };
        if kind != Kind::File || !is_key(key) || staged.contains(key) {
            continue;
        }
        let cached = tools.is_some_and(|tools| !matches!(tools.kind(key), Ok(None)));
        if !cached && locks.remove_free_lock(&name).unwrap_or(false) {
            removed += 1;
        }
    }
    removed
}

fn prune_indexes(root: &Dir, keep: &str) {
    let Ok(Some(dir)) = root.open_dir(index::INDEX) else {
        return;
    };
    for (name, kind) in dir.names().unwrap_or_default() {
        if kind == Kind::File && index::is_own(&name) && name != keep {
            let _ = dir.remove_tree(&name);
        }
    }
}

/// `0`, or a whole number with a unit: `90s`, `90m`, `12h`, `30d`.
fn parse_age(text: &str) -> Result<Duration> {
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale = match unit {
        "s" => Some(1),
        "m" => Some(60),
        "h" => Some(3600),
        "d" => Some(86_400),
        _ => None,
    };
    number
        .parse::<u64>()
        .ok()
        .zip(scale)
        .and_then(|(number, scale)| number.checked_mul(scale))
        .filter(|seconds| *seconds <= 3650 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            OpError::config(format!(
                "--unused-for {text:?}: expected 0 or a whole number with a unit, like 90m, 12h or 30d (at most 3650d)"
            ))
            .into()
        })
}

fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = path.symlink_metadata() else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|dir| dir.flatten().map(|item| dir_size(&item.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_age("90m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_age("30d").unwrap(), Duration::from_secs(30 * 86_400));
        for bad in [
            "",
            "1",
            "-1d",
            "1.5h",
            "1w",
            "99999999999999999999d",
            "4000d",
        ] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
