//! The install transaction: fast path, then per-artifact lock, re-check, streamed and verified
//! download into staging, unpack, receipt, and one atomic rename into place.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::error::{Code, OpError};
use crate::output::Output;
use crate::settings::ToolchainSettings;
use crate::toolchain::cache::{Cache, Entry, RECEIPT, Receipt, now_unix};
use crate::toolchain::fetch::{self, Source};
use crate::toolchain::unpack;

/// What `ensure` did for one entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Already in the cache (fast path, or another process installed it while we waited).
    Present,
    /// Downloaded, verified and installed by this process.
    Installed { bytes: u64, seconds: f64 },
}

/// Makes sure every entry is installed. Installs missing ones in parallel; reports every
/// failure and returns the first one (in the given order) as the error.
pub fn ensure(
    cache: &Cache,
    settings: &ToolchainSettings,
    output: &Output,
    entries: &[Entry],
) -> Result<Vec<Outcome>> {
    sweep_staging(cache);
    let missing: Vec<usize> = (0..entries.len())
        .filter(|&index| !entries[index].is_installed())
        .collect();
    let mut outcomes = vec![Outcome::Present; entries.len()];
    if missing.is_empty() {
        return Ok(outcomes);
    }

    let mut sources = Vec::with_capacity(missing.len());
    for &index in &missing {
        let entry = &entries[index];
        let source = fetch::resolve(&entry.artifact.url, settings.mirror.as_deref())?;
        if settings.offline && matches!(source, Source::Http(_)) {
            return Err(offline_error(entry)?);
        }
        sources.push(source);
    }
    let client = if sources
        .iter()
        .any(|source| matches!(source, Source::Http(_)))
    {
        Some(fetch::client(settings)?)
    } else {
        None
    };

    Cache::create_dir(&cache.tools_dir())?;
    Cache::create_dir(&cache.staging_dir())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the download runtime")?;
    let shared = Arc::new(Shared {
        cache: cache.clone(),
        settings: settings.clone(),
        output: output.clone(),
        client,
    });
    let results = runtime.block_on(async {
        let tasks: Vec<_> = missing
            .iter()
            .zip(sources)
            .map(|(&index, source)| {
                let shared = Arc::clone(&shared);
                let entry = entries[index].clone();
                tokio::spawn(async move { install_one(&shared, &entry, &source).await })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(match task.await {
                Ok(result) => result,
                Err(join) => Err(anyhow::anyhow!("install task failed: {join}")),
            });
        }
        results
    });
    drop(runtime);

    let mut first_error = None;
    for (&index, result) in missing.iter().zip(results) {
        match result {
            Ok(outcome) => outcomes[index] = outcome,
            Err(error) => {
                if first_error.is_some() {
                    output.report_error(&error);
                } else {
                    first_error = Some(error);
                }
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(outcomes),
    }
}

struct Shared {
    cache: Cache,
    settings: ToolchainSettings,
    output: Output,
    client: Option<reqwest::Client>,
}

fn offline_error(entry: &Entry) -> Result<anyhow::Error> {
    let mirror_path = fetch::mirror_path(&entry.artifact.url)?;
    Ok(OpError::new(
        Code::Offline,
        format!(
            "{} is not in the cache and OP_OFFLINE is set, so it cannot be downloaded\n  fetch: {}\n  put it at: <mirror>/{mirror_path}",
            entry.label(),
            fetch::redact(&entry.artifact.url),
        ),
    )
    .with_hint("point OP_TOOLCHAIN_MIRROR at a file:// mirror directory holding that path (it works offline), or unset OP_OFFLINE")
    .into())
}

async fn install_one(shared: &Shared, entry: &Entry, source: &Source) -> Result<Outcome> {
    let started = Instant::now();
    let lock = {
        let cache = shared.cache.clone();
        let output = shared.output.clone();
        let key = entry.key.clone();
        let label = entry.label();
        let timeout = shared.settings.lock_timeout;
        tokio::task::spawn_blocking(move || {
            cache.lock(&key, timeout, &|holder| {
                output.info(&format!(
                    "{label}: waiting for {holder}, which is installing it"
                ));
            })
        })
        .await??
    };
    // Another process may have finished the install while we waited for the lock.
    if entry.is_installed() {
        return Ok(Outcome::Present);
    }
    discard_leftovers(&shared.cache, entry)?;

    let staging = shared.cache.staging_dir().join(format!(
        "{}.{}.{}",
        entry.key,
        std::process::id(),
        nonce()
    ));
    Cache::create_dir(&staging)?;
    let result = transact(shared, entry, source, &staging).await;
    let _ = std::fs::remove_dir_all(&staging);
    drop(lock);
    let bytes = result?;
    let seconds = started.elapsed().as_secs_f64();
    shared.output.installed(entry, bytes, seconds);
    Ok(Outcome::Installed { bytes, seconds })
}

/// Download, verify, unpack, write the receipt, then rename the finished entry into place.
async fn transact(shared: &Shared, entry: &Entry, source: &Source, staging: &Path) -> Result<u64> {
    let download_path = staging.join("download");
    let mut file = std::fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&download_path)
        .with_context(|| format!("cannot create {}", download_path.display()))?;
    let progress = shared.output.download_bar(entry);
    let downloaded = fetch::download(
        shared.client.as_ref(),
        &shared.settings,
        entry,
        source,
        (&mut file, &download_path),
        progress.as_ref(),
    )
    .await;
    progress.finish();
    let downloaded = downloaded?;
    fetch::check_digest(entry, source, &downloaded)?;
    drop(file);

    let entry = entry.clone();
    let staging = staging.to_path_buf();
    let source = source.clone();
    let size = downloaded.size;
    tokio::task::spawn_blocking(move || commit(&entry, &source, &staging, &download_path, size))
        .await??;
    Ok(size)
}

fn commit(
    entry: &Entry,
    source: &Source,
    staging: &Path,
    download: &Path,
    size: u64,
) -> Result<()> {
    let built = staging.join("entry");
    let bin_dir = built.join("bin");
    Cache::create_dir(&bin_dir)?;
    let exe = bin_dir.join(&entry.exe_name);
    let unpacked = unpack::extract(
        entry.artifact.archive,
        entry.artifact.bin.as_deref(),
        download,
        &exe,
    )
    .map_err(|error| {
        let code = if error.downcast_ref::<unpack::UnpackError>().is_some() {
            Code::Integrity
        } else {
            Code::Failure
        };
        anyhow::Error::new(OpError::new(
            code,
            format!(
                "{}: cannot unpack {}: {error:#}\nnothing was installed",
                entry.label(),
                fetch::redact(&entry.artifact.url)
            ),
        ))
    })?;
    let receipt = Receipt {
        tool: entry.tool.clone(),
        version: entry.version.clone(),
        platform: entry.platform.clone(),
        url: fetch::redact(&entry.artifact.url),
        source: source.describe(),
        sha256: entry.artifact.sha256.clone(),
        size,
        bin: format!("bin/{}", entry.exe_name),
        bin_sha256: unpacked.sha256,
        bin_size: unpacked.size,
        installed_at: now_unix(),
    };
    write_synced(&built.join(RECEIPT), &serde_json::to_vec_pretty(&receipt)?)?;
    sync_dir(&bin_dir);
    sync_dir(&built);
    std::fs::rename(&built, &entry.dir).with_context(|| {
        format!(
            "cannot move {} into place at {}",
            built.display(),
            entry.dir.display()
        )
    })?;
    if let Some(parent) = entry.dir.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// Under the artifact lock: removes what a killed process left behind for this artifact — its
/// staging directories and an entry directory without a valid receipt.
fn discard_leftovers(cache: &Cache, entry: &Entry) -> Result<()> {
    if let Ok(dir) = std::fs::read_dir(cache.staging_dir()) {
        let prefix = format!("{}.", entry.key);
        for leftover in dir.flatten() {
            if leftover.file_name().to_string_lossy().starts_with(&prefix) {
                remove_any(&leftover.path())?;
            }
        }
    }
    if entry.dir.exists() || entry.dir.symlink_metadata().is_ok() {
        remove_any(&entry.dir)?;
    }
    Ok(())
}

/// Removes what killed processes left in `staging/` for any artifact, including ones that are
/// installed by now (a kill between the rename and the clean-up). A staging directory
/// `<key>.<pid>.<nonce>` whose artifact lock is free belongs to no running install. Best
/// effort and silent: a read-only cache must still run the tools it holds. Returns how many
/// directories were removed.
pub fn sweep_staging(cache: &Cache) -> usize {
    let Ok(dir) = std::fs::read_dir(cache.staging_dir()) else {
        return 0;
    };
    let mut removed = 0;
    for item in dir.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        // The key itself may contain dots; the last two fields are the pid and the nonce.
        let Some(key) = name.rsplitn(3, '.').nth(2) else {
            continue;
        };
        if let Ok(_lock) = cache.lock(key, std::time::Duration::ZERO, &|_| {})
            && remove_any(&item.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

pub fn remove_any(path: &Path) -> Result<()> {
    let meta = match path.symlink_metadata() {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot inspect {}", path.display()));
        }
    };
    let result = if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    result.with_context(|| format!("cannot remove {}", path.display()))
}

fn write_synced(path: &PathBuf, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Flushes a directory's entries to disk so a rename survives power loss (a no-op elsewhere).
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = std::fs::File::open(path) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", hasher.finish())
}
