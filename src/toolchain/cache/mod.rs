//! The per-user cache: where each artifact lives, its install receipt, staging space and the
//! cross-process locks that make one download serve every concurrent `op`. All access goes
//! through [`store::Dir`], which never follows a link and refuses what another user could write.
//!
//! ```text
//! <root>/tools/<key>/bin/<exe>        installed executable
//! <root>/tools/<key>/artifact         the verified download, kept for archives (`verify`)
//! <root>/tools/<key>/receipt.json     written before the entry goes live
//! <root>/staging/<key>.<pid>.<nonce>/ work in progress and entries on their way out
//! <root>/locks/<key>.lock             per-artifact lock + holder pid
//! <root>/index/<16 hex>               where each tool sits in a lock's text (see [`index`])
//! <root>/CACHEDIR.TAG                 tells backup and indexing tools to skip the cache (see [`tag`])
//! ```
//!
//! `<key>` is `<tool>-<version>-<platform>-<12 hex>`, the hex taken from a digest of the
//! artifact's SHA-256, its archive kind and its `bin`: two locks that unpack one artifact
//! differently get two entries. An entry's modification time records its last use (`prune`).

pub mod index;
pub mod store;
pub mod tag;

use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::OpError;
use crate::toolchain::lock::{ArchiveKind, Artifact, Tool};
use crate::toolchain::platform;
use store::{Dir, mode};

pub const RECEIPT: &str = "receipt.json";
/// The verified download of an archive, kept in its entry so `verify` can re-derive the binary.
pub const ARTIFACT: &str = "artifact";
pub const TOOLS: &str = "tools";
pub const STAGING: &str = "staging";
pub const LOCKS: &str = "locks";
/// A receipt is a few hundred bytes; anything larger was not written by op.
pub const RECEIPT_CAP: u64 = 64 * 1024;
/// How stale an entry's last-use mark may get before the fast path renews it.
const USE_MARK_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct Cache {
    pub root: PathBuf,
    /// `tools/`, opened (and checked) once per process by the first look at an entry.
    tools: Arc<OnceLock<Dir>>,
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
    /// `raw`, `tar.gz` or `zip`, as the lock said at install time; empty in receipts written
    /// before entry keys covered it.
    #[serde(default)]
    pub archive: String,
    /// The lock's `bin` (the path inside the archive); empty for raw artifacts.
    #[serde(default)]
    pub archive_bin: String,
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

/// What the cache holds for an entry.
#[derive(Debug)]
pub enum State {
    /// Complete, op's own, and matching the lock.
    Installed(Box<Receipt>),
    /// Nothing there.
    Missing,
    /// An entry directory of op's that is incomplete or was made for other lock contents.
    Stale(String),
}

impl Entry {
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    pub fn exe(&self) -> PathBuf {
        self.bin_dir().join(&self.exe_name)
    }

    pub fn label(&self) -> String {
        format!("{} {} ({})", self.tool, self.version, self.platform)
    }

    /// The lock's `bin` as a receipt records it.
    pub fn archive_bin(&self) -> &str {
        match self.artifact.archive {
            ArchiveKind::Raw => "",
            _ => self.artifact.bin.as_deref().unwrap_or(""),
        }
    }

    /// Whether `receipt` was written for exactly this lock entry.
    pub fn matches(&self, receipt: &Receipt) -> Result<(), String> {
        let expected = [
            ("tool", self.tool.as_str(), receipt.tool.as_str()),
            ("version", &self.version, &receipt.version),
            ("platform", &self.platform, &receipt.platform),
            ("sha256", &self.artifact.sha256, &receipt.sha256),
            ("archive", self.artifact.archive.as_str(), &receipt.archive),
            ("bin", self.archive_bin(), &receipt.archive_bin),
        ];
        for (field, wanted, found) in expected {
            if wanted != found {
                return Err(format!(
                    "its receipt is for {field} {found:?}, the lock says {wanted:?}"
                ));
            }
        }
        if receipt.bin != format!("bin/{}", self.exe_name) {
            return Err(format!(
                "its receipt names the executable {:?}",
                receipt.bin
            ));
        }
        Ok(())
    }

    /// The fast path: no hashing, no network, no link followed. `Installed` when the entry is
    /// op's own, its receipt is for this lock entry, and the executable has the recorded size.
    /// An error when something there is not op's to use (a link, another user's directory).
    pub fn state(&self, cache: &Cache) -> Result<State> {
        let Some(tools) = cache.open_tools()? else {
            return Ok(State::Missing);
        };
        self.state_in(tools)
    }

    /// [`Entry::state`] in an open `tools/` directory.
    pub fn state_in(&self, tools: &Dir) -> Result<State> {
        let Some(dir) = tools.open_dir(&self.key)? else {
            return Ok(State::Missing);
        };
        let state = self.check_entry(&dir)?;
        if matches!(state, State::Installed(_))
            && dir
                .modified()
                .and_then(|at| at.elapsed().ok())
                .is_none_or(|age| age > USE_MARK_EVERY)
        {
            dir.touch();
        }
        Ok(state)
    }

    fn check_entry(&self, dir: &Dir) -> Result<State> {
        let receipt = match read_receipt(dir)? {
            Ok(receipt) => receipt,
            Err(problem) => return Ok(State::Stale(problem)),
        };
        if let Err(problem) = self.matches(&receipt) {
            return Ok(State::Stale(problem));
        }
        let Some(bin) = dir.open_dir("bin")? else {
            return Ok(State::Stale("it has no bin directory".into()));
        };
        let Some(exe) = bin.open_file(&self.exe_name)? else {
            return Ok(State::Stale(format!("bin/{} is missing", self.exe_name)));
        };
        let size = exe
            .metadata()
            .with_context(|| format!("cannot inspect {}", self.exe().display()))?
            .len();
        if size != receipt.bin_size {
            return Ok(State::Stale(format!(
                "bin/{} has {size} bytes, its receipt says {}",
                self.exe_name, receipt.bin_size
            )));
        }
        Ok(State::Installed(Box::new(receipt)))
    }

    /// `state` reduced to "can it run as is" (a cache op must not use counts as no).
    pub fn is_installed(&self, cache: &Cache) -> bool {
        matches!(self.state(cache), Ok(State::Installed(_)))
    }
}

/// The receipt of the entry directory `dir`: `Err(problem)` inside when it has none or one op
/// cannot read (the entry is stale); an error outside when something there is not op's to read.
pub fn read_receipt(dir: &Dir) -> Result<Result<Receipt, String>> {
    let Some(bytes) = dir.read_file(RECEIPT, RECEIPT_CAP)? else {
        return Ok(Err(
            "it has no install receipt; the install did not finish".into()
        ));
    };
    Ok(serde_json::from_slice(&bytes)
        .map_err(|error| format!("its install receipt is unreadable: {error}")))
}

/// The entry key: `<tool>-<version>-<platform>-<12 hex>` (see the module documentation).
pub fn key(tool: &str, version: &str, platform: &str, artifact: &Artifact) -> String {
    key_of(
        tool,
        version,
        platform,
        [
            &artifact.sha256,
            artifact.archive.as_str(),
            match artifact.archive {
                ArchiveKind::Raw => "",
                _ => artifact.bin.as_deref().unwrap_or(""),
            },
        ],
    )
}

/// The key of the entry a receipt was written for. A receipt without `archive` is from the
/// layout before keys covered what was unpacked: `…-<first 12 hex of the artifact digest>`.
pub fn receipt_key(receipt: &Receipt) -> String {
    if receipt.archive.is_empty() {
        let short = receipt.sha256.get(..12).unwrap_or(&receipt.sha256);
        return format!(
            "{}-{}-{}-{short}",
            receipt.tool, receipt.version, receipt.platform
        );
    }
    key_of(
        &receipt.tool,
        &receipt.version,
        &receipt.platform,
        [&receipt.sha256, &receipt.archive, &receipt.archive_bin],
    )
}

fn key_of(tool: &str, version: &str, platform: &str, unpacked: [&str; 3]) -> String {
    let mut hasher = Sha256::new();
    for part in unpacked {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = crate::hex::encode(hasher.finalize());
    format!("{tool}-{version}-{platform}-{}", &digest[..12])
}

/// Whether `name` has the shape of an entry key (`…-<platform>-<12 lowercase hex>`).
pub fn is_key(name: &str) -> bool {
    let Some((rest, hash)) = name.rsplit_once('-') else {
        return false;
    };
    hash.len() == 12
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && platform::KEYS.iter().any(|platform| {
            rest.strip_suffix(platform)
                .and_then(|head| head.strip_suffix('-'))
                .is_some_and(|head| head.contains('-') && !head.starts_with('-'))
        })
}

/// The key of a staging directory name `<key>.<pid>.<16 hex nonce>`, or `None` when the name
/// is not one op makes.
pub fn staging_key(name: &str) -> Option<&str> {
    let mut parts = name.rsplitn(3, '.');
    let nonce = parts.next()?;
    let pid = parts.next()?;
    let key = parts.next()?;
    let shaped = nonce.len() == 16
        && nonce.bytes().all(|b| b.is_ascii_hexdigit())
        && !pid.is_empty()
        && pid.len() <= 10
        && pid.bytes().all(|b| b.is_ascii_digit())
        && is_key(key);
    shaped.then_some(key)
}

/// A fresh staging name for `key`, unique to this process and call.
pub fn staging_name(key: &str) -> String {
    format!("{key}.{}.{}", std::process::id(), nonce())
}

fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", hasher.finish())
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
        Ok(Cache {
            root,
            tools: Arc::default(),
        })
    }

    /// `tools/`, checked; `None` while the cache or its `tools/` does not exist.
    pub fn open_tools(&self) -> Result<Option<&Dir>> {
        if let Some(tools) = self.tools.get() {
            return Ok(Some(tools));
        }
        let Some(root) = self.open_root(false)? else {
            return Ok(None);
        };
        let Some(tools) = root.open_dir(TOOLS)? else {
            return Ok(None);
        };
        Ok(Some(self.tools.get_or_init(|| tools)))
    }

    /// The root, checked; `None` when it does not exist and `create` is not set.
    pub fn open_root(&self, create: bool) -> Result<Option<Dir>> {
        Dir::open_root(&self.root, create)
    }

    /// The root and one of its directories, created when absent.
    pub fn create_sub(&self, name: &str) -> Result<(Dir, Dir)> {
        let root = self
            .open_root(true)?
            .expect("open_root(true) creates the root");
        tag::ensure(&root);
        let sub = root.create_dir(name, mode::SHARED_DIR)?;
        Ok((root, sub))
    }

    pub fn tools_dir(&self) -> PathBuf {
        self.root.join(TOOLS)
    }

    pub fn entry(&self, tool: &Tool, platform: &str, artifact: &Artifact) -> Entry {
        let key = key(&tool.name, &tool.version, platform, artifact);
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

    /// Whether op ever took the lock of `key` here (it does before it stages anything for it).
    pub fn has_lock_file(&self, key: &str) -> bool {
        let Ok(Some(root)) = self.open_root(false) else {
            return false;
        };
        let Ok(Some(locks)) = root.open_dir(LOCKS) else {
            return false;
        };
        matches!(
            locks.kind(&format!("{key}.lock")),
            Ok(Some(store::Kind::File))
        )
    }

    /// Takes the per-artifact lock, waiting up to `timeout` for another process that holds it.
    pub fn lock(
        &self,
        key: &str,
        timeout: Duration,
        on_wait: &dyn Fn(&str),
    ) -> Result<ArtifactLock> {
        let (_root, locks) = self.create_sub(LOCKS)?;
        let name = format!("{key}.lock");
        let path = locks.join(&name);
        let mut file = locks.open_lock_file(&name)?;
        let started = Instant::now();
        let mut announced = false;
        loop {
            match file.try_lock() {
                // `prune` may have unlinked a free lock file between the open and the lock.
                Ok(()) if !locks.same_file(&name, &file) => {
                    file = locks.open_lock_file(&name)?;
                }
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !announced {
                        let mut holder = String::new();
                        let _ = (&mut file).take(64).read_to_string(&mut holder);
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
    _file: std::fs::File,
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
        assert!(
            entry.key.starts_with("pack-0.40.0-windows-amd64-"),
            "{}",
            entry.key
        );
        assert!(is_key(&entry.key), "{}", entry.key);
        // The cache directory is made absolute (on Windows, on the current drive).
        let root = std::path::absolute("/c").unwrap();
        assert_eq!(
            entry.exe(),
            root.join("tools")
                .join(&entry.key)
                .join("bin")
                .join("pack.exe")
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
        assert!(!entry.is_installed(&cache));
    }

    #[test]
    fn the_key_covers_what_is_unpacked() {
        let lock = Lock::parse(crate::toolchain::lock::EMBEDDED, Origin::Embedded).unwrap();
        let flux = lock.tool("flux").unwrap();
        let artifact = &flux.platforms["linux-amd64"];
        let other_bin = Artifact {
            bin: Some("other".into()),
            ..artifact.clone()
        };
        let other_kind = Artifact {
            archive: ArchiveKind::Zip,
            ..artifact.clone()
        };
        let keys: std::collections::BTreeSet<String> = [artifact, &other_bin, &other_kind]
            .iter()
            .map(|artifact| key("flux", &flux.version, "linux-amd64", artifact))
            .collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
    }

    #[test]
    fn staging_names_are_recognised_only_in_ops_shape() {
        let name = staging_name("kubectl-1.32.0-linux-amd64-0123456789ab");
        assert_eq!(
            staging_key(&name),
            Some("kubectl-1.32.0-linux-amd64-0123456789ab")
        );
        for foreign in [
            "notes..txt",
            "a.b.c",
            "kubectl-1.32.0-linux-amd64-0123456789ab.12.xyz",
            "kubectl-1.32.0-plan9-0123456789ab.12.0123456789abcdef",
            "kubectl-1.32.0-linux-amd64-0123456789AB.12.0123456789abcdef",
            "..0123456789abcdef",
        ] {
            assert_eq!(staging_key(foreign), None, "{foreign}");
        }
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
