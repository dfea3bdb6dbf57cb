//! The install transaction: fast path, then per-artifact lock, re-check, streamed and verified
//! download into staging, unpack, receipt, and one atomic rename into place.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::error::{Code, Failures, OpError};
use crate::output::Output;
use crate::settings::ToolchainSettings;
use crate::toolchain::cache::store::{self, Dir, Kind, mode};
use crate::toolchain::cache::{
    ARTIFACT, Cache, Entry, RECEIPT, Receipt, STAGING, State, TOOLS, now_unix, staging_key,
    staging_name,
};
use crate::toolchain::evidence;
use crate::toolchain::fetch::{self, Source};
use crate::toolchain::lock::ArchiveKind;
use crate::toolchain::unpack;

/// What `ensure` did for one entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Already in the cache (fast path, or another process installed it while we waited).
    Present,
    /// Downloaded, verified and installed by this process.
    Installed { bytes: u64, seconds: f64 },
}

/// Makes sure every entry is installed (with `force`, reinstalled: the new copy replaces the
/// old one only once it is verified). Installs missing ones in parallel; fails with every
/// failure (in the given order), one [`Failures`] when there are several.
pub fn ensure(
    cache: &Cache,
    settings: &ToolchainSettings,
    output: &Output,
    entries: &[Entry],
    force: bool,
) -> Result<Vec<Outcome>> {
    sweep_staging(cache);
    let mut missing = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        if force || !matches!(entry.state(cache)?, State::Installed(_)) {
            missing.push(index);
        }
    }
    let mut outcomes = vec![Outcome::Present; entries.len()];
    if missing.is_empty() {
        return Ok(outcomes);
    }

    let mut sources = Vec::with_capacity(missing.len());
    let mut offline = Vec::new();
    for &index in &missing {
        let entry = &entries[index];
        let mut list = fetch::sources(&entry.artifact, &settings.mirrors)?;
        if settings.offline {
            // Offline, only `file://` sources are tried, in their order.
            list.retain(|source| matches!(source, Source::File(_)));
            if list.is_empty() {
                offline.push(entry);
            }
        }
        sources.push(list);
    }
    if !offline.is_empty() {
        return Err(offline_error(&offline)?);
    }
    let client = if sources
        .iter()
        .flatten()
        .any(|source| matches!(source, Source::Http(_)))
    {
        Some(fetch::client(settings)?)
    } else {
        None
    };

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
    let labels: Vec<String> = missing
        .iter()
        .map(|&index| entries[index].label())
        .collect();
    let phase = output.download_phase(&labels);
    let results = runtime.block_on(async {
        let tasks: Vec<_> = missing
            .iter()
            .zip(sources)
            .map(|(&index, source)| {
                let shared = Arc::clone(&shared);
                let entry = entries[index].clone();
                tokio::spawn(async move { install_one(&shared, &entry, &source, force).await })
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
    drop(phase);

    let mut errors = Vec::new();
    for (&index, result) in missing.iter().zip(results) {
        match result {
            Ok(outcome) => outcomes[index] = outcome,
            Err(error) => errors.push(error),
        }
    }
    match errors.len() {
        0 => Ok(outcomes),
        1 => Err(errors.remove(0)),
        _ => Err(Failures {
            errors,
            attempted: missing.len(),
            noun: "tool",
            outcome: "could not be installed",
        }
        .into()),
    }
}

struct Shared {
    cache: Cache,
    settings: ToolchainSettings,
    output: Output,
    client: Option<reqwest::Client>,
}

/// Every tool that would need the network, in one error: what to fetch and where to put it.
fn offline_error(entries: &[&Entry]) -> Result<anyhow::Error> {
    let mut lines = Vec::new();
    for entry in entries {
        let place = format!(
            "fetch: {}\n  put it at: <mirror>/{}",
            fetch::redact(&entry.artifact.url),
            fetch::mirror_path(&entry.artifact.url)?
        );
        lines.push(match entries {
            [_] => format!("  {place}"),
            _ => format!("  {}\n  {}", entry.label(), place.replace("\n", "\n  ")),
        });
    }
    let what = match entries {
        [one] => format!("{} is", one.label()),
        more => format!("{} are", crate::output::count(more.len(), "tool")),
    };
    Ok(OpError::new(
        Code::Offline,
        format!(
            "{what} not in the cache and OP_OFFLINE is set, so nothing can be downloaded\n{}",
            lines.join("\n")
        ),
    )
    .with_hint("point OP_TOOLCHAIN_MIRROR at a file:// mirror directory holding those paths (it works offline), or unset OP_OFFLINE")
    .into())
}

async fn install_one(
    shared: &Shared,
    entry: &Entry,
    sources: &[Source],
    force: bool,
) -> Result<Outcome> {
    let started = Instant::now();
    let lock = {
        let cache = shared.cache.clone();
        let output = shared.output.clone();
        let key = entry.key.clone();
        let label = entry.label();
        let timeout = shared.settings.lock_timeout;
        tokio::task::spawn_blocking(move || {
            let waited = Instant::now();
            let lock = cache.lock(&key, timeout, &|holder| {
                output.info(&format!(
                    "{label}: waiting for {holder}, which is installing it"
                ));
            });
            output.trace(&format!(
                "{label}: cache lock {key} taken after {:.3}s",
                waited.elapsed().as_secs_f64()
            ));
            lock
        })
        .await??
    };
    // Another process may have finished the install while we waited for the lock.
    if matches!(entry.state(&shared.cache)?, State::Installed(_)) && !force {
        return Ok(Outcome::Present);
    }
    let (root, staging) = shared.cache.create_sub(STAGING)?;
    let tools = Arc::new(root.create_dir(TOOLS, mode::SHARED_DIR)?);
    let work_name = staging_name(&entry.key);
    let work = Arc::new(staging.create_new_dir(&work_name, mode::PRIVATE_DIR)?);
    let result = transact(shared, entry, sources, &work, &tools).await;
    // Whatever is left in the work directory (a failed build, or the entry it replaced) goes.
    let _ = staging.remove_tree(&work_name);
    drop(lock);
    let bytes = result?;
    let seconds = started.elapsed().as_secs_f64();
    shared.output.installed(entry, bytes, seconds);
    Ok(Outcome::Installed { bytes, seconds })
}

/// Download and verify into `work` from the first source that serves the pinned bytes, then
/// build the entry there and swap it into `tools`. A source that fails or serves other bytes is
/// reported and its leftovers removed before the next one starts from scratch.
async fn transact(
    shared: &Shared,
    entry: &Entry,
    sources: &[Source],
    work: &Arc<Dir>,
    tools: &Arc<Dir>,
) -> Result<u64> {
    let mut failed = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let fetched = match fetch_from(shared, entry, source, work).await {
            Ok(fetched) => fetched,
            Err(error) => {
                let failure = match error {
                    Failure::Wrong(failure) => failure,
                    Failure::Other(error) => fetch::Failed::sort(entry, source, error)?,
                };
                // What the unpacker wrote and the download go; the next source starts clean.
                work.remove_tree(BUILT)?;
                work.remove_tree(DOWNLOAD)?;
                if index + 1 < sources.len() {
                    shared
                        .output
                        .warn(&format!("{}; trying the next source", failure.line()));
                }
                failed.push(failure);
                continue;
            }
        };
        let Fetched {
            size,
            built,
            bin,
            streamed,
        } = fetched;
        let entry = entry.clone();
        let source = source.clone();
        let work = Arc::clone(work);
        let tools = Arc::clone(tools);
        tokio::task::spawn_blocking(move || {
            build(&entry, &source, &work, (&built, &bin), size, streamed)?;
            place(&entry, &work, &tools)
        })
        .await??;
        return Ok(size);
    }
    Err(fetch::all_failed(entry, failed))
}

/// A verified download in `work`, and the entry directory it is being unpacked into.
struct Fetched {
    size: u64,
    built: Dir,
    bin: Dir,
    streamed: Option<Result<unpack::Unpacked>>,
}

enum Failure {
    /// The whole download arrived, with another digest or size than the lock pins.
    Wrong(fetch::Failed),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Other(error)
    }
}

/// One source: download into `work/download`, unpacking a tar.gz into `work/entry` as it
/// arrives, and check the digest.
async fn fetch_from(
    shared: &Shared,
    entry: &Entry,
    source: &Source,
    work: &Dir,
) -> Result<Fetched, Failure> {
    let download_path = work.join(DOWNLOAD);
    let mut file = work.create_file(DOWNLOAD, mode::SHARED_FILE)?;
    let built = work.create_new_dir(BUILT, mode::PRIVATE_DIR)?;
    let bin = built.create_new_dir("bin", mode::SHARED_DIR)?;
    let exe = bin.join(&entry.exe_name);
    let (tee, unpacking) = match unpack::start_streaming(
        entry.artifact.archive,
        entry.artifact.bin.as_deref(),
        &download_path,
        &exe,
    )? {
        Some((tee, unpacking)) => (Some(tee), Some(unpacking)),
        None => (None, None),
    };
    let mut sink = fetch::Sink::new(&mut file, tee);
    let progress = shared.output.download_bar(entry);
    let downloaded = fetch::download_to(
        shared.client.as_ref(),
        &shared.settings,
        entry,
        source,
        (&mut sink, &download_path),
        progress.as_ref(),
    )
    .await;
    progress.finish();
    let restarted = sink.restarted();
    drop(sink);
    drop(file);
    // Dropping the sink stops an unpacker still waiting for bytes; wait for it even when the
    // download failed, so that nothing writes into the work directory while it is removed.
    let streamed = match unpacking {
        Some(unpacking) => Some(unpacking.await.map_err(anyhow::Error::from)?),
        None => None,
    };
    let downloaded = downloaded?;
    if let Err(error) = fetch::check_digest(entry, source, &downloaded) {
        return Err(Failure::Wrong(fetch::Failed::wrong_digest(
            entry,
            source,
            error,
            &downloaded.sha256,
            downloaded.size,
        )));
    }
    // A download that started over cut its unpacker off: unpack the finished file instead.
    let streamed = streamed.filter(|_| !restarted);
    Ok(Fetched {
        size: downloaded.size,
        built,
        bin,
        streamed,
    })
}

/// The name of the download inside a work directory.
const DOWNLOAD: &str = "download";
/// The name of the entry being built inside a work directory.
const BUILT: &str = "entry";

/// Finishes `work/entry` from the verified download: the executable (already unpacked when
/// `streamed`, else unpacked now, or the download itself renamed when it is not an archive),
/// the archive kept beside it, and the receipt. The work directory is `0700`, so nobody else
/// can open a file in it while it is being written; the finished entry is opened up to `0755`
/// last, after one sync that makes all of it durable before the rename that commits it.
fn build(
    entry: &Entry,
    source: &Source,
    work: &Dir,
    (built, bin): (&Dir, &Dir),
    size: u64,
    streamed: Option<Result<unpack::Unpacked>>,
) -> Result<()> {
    // The digest matched; the stored proof (when the lock records one) says who signed it.
    evidence::verify_artifact(
        &entry.tool,
        &entry.version,
        &entry.platform,
        &entry.artifact,
    )?;
    let exe = bin.join(&entry.exe_name);
    let unpacked = match streamed {
        Some(result) => result,
        None if entry.artifact.archive == ArchiveKind::Raw => {
            adopt_download(entry, work, bin, size)
        }
        None => {
            // A streaming unpacker cut off by a restart may have left part of a file.
            match std::fs::remove_file(&exe) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    Err(anyhow::Error::new(error)
                        .context(format!("cannot remove {}", exe.display())))
                }
                _ => unpack::extract(
                    entry.artifact.archive,
                    entry.artifact.bin.as_deref(),
                    &work.join(DOWNLOAD),
                    &exe,
                ),
            }
        }
    }
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
    if entry.artifact.archive != ArchiveKind::Raw {
        // The lock's digest is the only trust anchor: `verify` re-derives the executable
        // from this copy of the verified archive.
        work.rename(DOWNLOAD, built, ARTIFACT)?;
    }
    let receipt = Receipt {
        tool: entry.tool.clone(),
        version: entry.version.clone(),
        platform: entry.platform.clone(),
        url: fetch::redact(&entry.artifact.url),
        source: source.describe(),
        sha256: entry.artifact.sha256.clone(),
        size,
        archive: entry.artifact.archive.as_str().to_string(),
        archive_bin: entry.archive_bin().to_string(),
        bin: format!("bin/{}", entry.exe_name),
        bin_sha256: unpacked.sha256,
        bin_size: unpacked.size,
        installed_at: now_unix(),
    };
    let mut file = built.create_file(RECEIPT, mode::SHARED_FILE)?;
    file.write_all(&serde_json::to_vec_pretty(&receipt)?)
        .with_context(|| format!("cannot write {}", built.join(RECEIPT).display()))?;
    drop(file);
    built.set_mode(mode::SHARED_DIR)?;
    // One sync for the executable, the kept archive, the receipt and their directories.
    let files = [exe, built.join(ARTIFACT), built.join(RECEIPT)];
    built
        .sync_tree(&files, &[bin, built])
        .with_context(|| format!("cannot flush {}", built.path().display()))?;
    Ok(())
}

/// A verified raw download is the executable: renamed into `bin/`, not copied and hashed again.
fn adopt_download(entry: &Entry, work: &Dir, bin: &Dir, size: u64) -> Result<unpack::Unpacked> {
    if size > unpack::MAX_ENTRY {
        return Err(unpack::UnpackError::TooLarge(entry.artifact.url.clone()).into());
    }
    work.rename(DOWNLOAD, bin, &entry.exe_name)?;
    unpack::set_executable(&bin.join(&entry.exe_name))?;
    Ok(unpack::Unpacked {
        size,
        sha256: entry.artifact.sha256.clone(),
    })
}

/// Puts `work/entry` at `tools/<key>`. An entry already there (a stale one, or the one
/// `install --force` replaces) is swapped out in one step and left in `work` for removal, so a
/// concurrent `exec` finds the old entry or the new one, never neither.
fn place(entry: &Entry, work: &Dir, tools: &Dir) -> Result<()> {
    match tools.kind(&entry.key)? {
        None => work.rename(BUILT, tools, &entry.key)?,
        Some(Kind::Dir) => {
            if !work.exchange(BUILT, tools, &entry.key)? {
                // No atomic swap on this filesystem: step the old entry aside first.
                tools.rename(&entry.key, work, "replaced")?;
                work.rename(BUILT, tools, &entry.key)?;
            }
        }
        Some(kind) => {
            return Err(store::refuse(
                &entry.dir,
                &format!("it is {} where op expects its own entry", kind.describe()),
                "remove it; op never follows links or replaces files it did not create",
            ));
        }
    }
    tools.sync();
    Ok(())
}

/// Removes what killed processes left in `staging/`: work directories and entries on their way
/// out, including ones whose tool is installed by now (a kill between the rename and the
/// clean-up). Only names in op's own `<key>.<pid>.<nonce>` shape are removed, and only when
/// they are directories owned by this user whose `locks/<key>.lock` exists and is free (no
/// running op is using them). Best effort and silent: a read-only cache must still run the
/// tools it holds. Returns how many directories were removed.
pub fn sweep_staging(cache: &Cache) -> usize {
    let Ok(Some(root)) = cache.open_root(false) else {
        return 0;
    };
    let Ok(Some(staging)) = root.open_dir(STAGING) else {
        return 0;
    };
    let Ok(names) = staging.names() else {
        return 0;
    };
    let mut removed = 0;
    for (name, kind) in names {
        let Some(key) = staging_key(&name) else {
            continue;
        };
        // op takes `locks/<key>.lock` before it makes any staging directory for the key.
        if kind != Kind::Dir || !staging.is_own_dir(&name) || !cache.has_lock_file(key) {
            continue;
        }
        if let Ok(_lock) = cache.lock(key, std::time::Duration::ZERO, &|_| {})
            && staging.remove_tree(&name).is_ok()
        {
            removed += 1;
        }
    }
    removed
}
