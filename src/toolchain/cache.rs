//! The per-user cache: where each artifact lives, its install receipt, staging space and the
//! cross-process locks that make one download serve every concurrent `op`.
//!
//! ```text
//! <root>/tools/<tool>-<version>-<platform>-<sha12>/bin/<exe>      installed executable
//! <root>/tools/<tool>-<version>-<platform>-<sha12>/receipt.json   written before the dir goes live
//! <root>/staging/<key>.<pid>.<nonce>/                            work in progress (same filesystem)
//! <root>/locks/<key>.lock                                        per-artifact lock + holder pid
//! ```

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::OpError;
use crate::toolchain::lock::{ArchiveKind, Artifact, Tool};
use crate::toolchain::platform;

pub const RECEIPT: &str = "receipt.json";

#[derive(Clone, Debug)]
pub struct Cache {
    pub root: PathBuf,
}

/// What was verified at install time; lets the fast path trust a file without re-hashing it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Receipt {
    pub tool: String,
    pub version: String,
    pub platform: String,
    /// The lock URL (not the mirror URL), credentials redacted.
    pub url: String,
    /// Where the bytes actually came from (mirror rewriting applied), credentials redacted.
    pub source: String,
    pub sha256: String,
    pub size: u64,
    /// The executable's path relative to the entry directory.
    pub bin: String,
    pub bin_sha256: String,
    pub bin_size: u64,
    pub installed_at: u64,
}

/// One tool on one platform, resolved to its place in the cache.
#[derive(Clone, Debug)]
pub struct Entry {
    pub tool: String,
    pub version: String,
    pub platform: String,
    pub artifact: Artifact,
    pub key: String,
    pub dir: PathBuf,
    pub exe_name: String,
}

impl Entry {
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    pub fn exe(&self) -> PathBuf {
        self.bin_dir().join(&self.exe_name)
    }

    pub fn receipt_path(&self) -> PathBuf {
        self.dir.join(RECEIPT)
    }

    /// The fast path: the receipt exists, matches the lock, and the executable has the recorded
    /// size. No hashing and no network.
    pub fn installed_receipt(&self) -> Option<Receipt> {
        let bytes = std::fs::read(self.receipt_path()).ok()?;
        let receipt: Receipt = serde_json::from_slice(&bytes).ok()?;
        let meta = std::fs::metadata(self.exe()).ok()?;
        (receipt.sha256 == self.artifact.sha256
            && meta.is_file()
            && meta.len() == receipt.bin_size
            && receipt.bin == format!("bin/{}", self.exe_name))
        .then_some(receipt)
    }

    pub fn is_installed(&self) -> bool {
        self.installed_receipt().is_some()
    }

    pub fn label(&self) -> String {
        format!("{} {} ({})", self.tool, self.version, self.platform)
    }
}

impl Cache {
    /// `OP_CACHE_DIR`, else the OS per-user cache directory (`~/.cache/op` on Linux,
    /// `~/Library/Caches/dev.octopilot.op` on macOS, `%LOCALAPPDATA%\octopilot\op\cache` on Windows).
    pub fn new(explicit: Option<PathBuf>) -> Result<Cache> {
        let root = match explicit {
            Some(root) => std::path::absolute(&root).unwrap_or(root),
            None => directories::ProjectDirs::from("dev", "octopilot", "op")
                .map(|dirs| dirs.cache_dir().to_path_buf())
                .ok_or_else(|| {
                    OpError::config("cannot find a per-user cache directory (no home directory)")
                        .with_hint("set OP_CACHE_DIR to a writable directory")
                })?,
        };
        Ok(Cache { root })
    }

    pub fn tools_dir(&self) -> PathBuf {
        self.root.join("tools")
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("staging")
    }

    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    pub fn entry(&self, tool: &Tool, platform: &str, artifact: &Artifact) -> Entry {
        let key = format!(
            "{}-{}-{}-{}",
            tool.name,
            tool.version,
            platform,
            &artifact.sha256[..12]
        );
        let exe_name = match (&artifact.bin, artifact.archive) {
            (Some(bin), ArchiveKind::TarGz | ArchiveKind::Zip) => {
                bin.rsplit('/').next().unwrap_or(bin.as_str()).to_string()
            }
            _ if platform::is_windows(platform) => format!("{}.exe", tool.name),
            _ => tool.name.clone(),
        };
        Entry {
            tool: tool.name.clone(),
            version: tool.version.clone(),
            platform: platform.to_string(),
            artifact: artifact.clone(),
            dir: self.tools_dir().join(&key),
            key,
            exe_name,
        }
    }

    /// Creates `dir` (and parents) with a message that names it.
    pub fn create_dir(dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|error| {
            unwritable(
                format!("cannot create cache directory {}", dir.display()),
                error,
            )
        })
    }

    /// Takes the per-artifact lock, waiting up to `timeout` for another process that holds it.
    pub fn lock(
        &self,
        key: &str,
        timeout: Duration,
        on_wait: &dyn Fn(&str),
    ) -> Result<ArtifactLock> {
        let dir = self.locks_dir();
        Cache::create_dir(&dir)?;
        let path = dir.join(format!("{key}.lock"));
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| {
                unwritable(format!("cannot open lock file {}", path.display()), error)
            })?;
        let started = Instant::now();
        let mut announced = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !announced {
                        let mut holder = String::new();
                        let _ = file.read_to_string(&mut holder);
                        let _ = file.rewind();
                        let holder = holder.trim();
                        on_wait(if holder.is_empty() {
                            "another process"
                        } else {
                            holder
                        });
                        announced = true;
                    }
                    if started.elapsed() >= timeout {
                        return Err(OpError::new(
                            crate::error::Code::Failure,
                            format!(
                                "gave up after {:.0?} waiting for the cache lock {} held by another op process",
                                timeout,
                                path.display()
                            ),
                        )
                        .with_hint("raise OP_LOCK_TIMEOUT, or stop the other op process")
                        .into());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(error).with_context(|| format!("cannot lock {}", path.display()));
                }
            }
        }
        // Record the holder so that waiters can say whom they wait for.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "pid {}", std::process::id());
        let _ = file.flush();
        Ok(ArtifactLock { _file: file })
    }
}

/// Held while an artifact is installed; the OS releases it when the file closes, even on kill -9.
pub struct ArtifactLock {
    _file: File,
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// A cache this process cannot write: what failed, and the ways out.
fn unwritable(what: String, error: std::io::Error) -> anyhow::Error {
    OpError::new(crate::error::Code::Failure, format!("{what}: {error}"))
        .with_hint(
            "the cache must be writable to install into it: free some space, fix its permissions, \
             or point OP_CACHE_DIR at a writable directory (tools already in a read-only cache \
             still run)",
        )
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::lock::{Lock, Origin};

    #[test]
    fn entry_names_follow_the_layout() {
        let cache = Cache::new(Some("/c".into())).unwrap();
        let lock = Lock::parse(crate::toolchain::lock::EMBEDDED, Origin::Embedded).unwrap();
        let pack = lock.tool("pack").unwrap();
        let entry = cache.entry(pack, "windows-amd64", &pack.platforms["windows-amd64"]);
        assert_eq!(entry.key, "pack-0.40.0-windows-amd64-e732d4ebba88");
        assert_eq!(
            entry.exe(),
            Path::new("/c/tools/pack-0.40.0-windows-amd64-e732d4ebba88/bin/pack.exe")
        );
        let skaffold = lock.tool("skaffold").unwrap();
        let entry = cache.entry(
            skaffold,
            "windows-amd64",
            &skaffold.platforms["windows-amd64"],
        );
        assert_eq!(entry.exe_name, "skaffold.exe");
        let entry = cache.entry(skaffold, "linux-amd64", &skaffold.platforms["linux-amd64"]);
        assert_eq!(entry.exe_name, "skaffold");
        assert!(!entry.is_installed());
    }

    #[test]
    fn second_locker_waits_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(Some(dir.path().to_path_buf())).unwrap();
        let _held = cache.lock("k", Duration::from_secs(1), &|_| {}).unwrap();
        let seen = std::sync::Mutex::new(String::new());
        let error = cache
            .lock("k", Duration::from_millis(200), &|holder| {
                *seen.lock().unwrap() = holder.to_string();
            })
            .err()
            .expect("the lock is held");
        assert!(
            error.to_string().contains("OP_LOCK_TIMEOUT")
                || crate::error::hint(&error)
                    .unwrap()
                    .contains("OP_LOCK_TIMEOUT")
        );
        assert_eq!(*seen.lock().unwrap(), format!("pid {}", std::process::id()));
    }
}
