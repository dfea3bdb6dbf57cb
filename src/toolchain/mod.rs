//! The hermetic toolchain: the active lock, the host platform, the cache, and making sure the
//! pinned tools are installed before anything runs them: only the tools that will run, and the
//! pinned tools those start themselves ([`starts`]).

pub mod audit;
pub mod cache;
pub mod checksums;
pub mod evidence;
pub mod exec;
pub mod fetch;
pub mod install;
pub mod lock;
pub mod mirror;
pub mod platform;
pub mod refresh;
pub mod releases;
pub mod template;
pub mod timestamp;
pub mod unpack;
pub mod version;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Result;

use crate::output::Output;
use crate::settings::ToolchainSettings;
use cache::index::Index;
use cache::{Cache, Entry};
use lock::{Lock, Origin, Tool};

/// Everything a command needs to find, install and run pinned tools.
pub struct Toolchain {
    /// The whole lock, parsed and validated; see [`Toolchain::load`] for when.
    lock: OnceLock<Lock>,
    /// The lock's text, as read (the key of its [`cache::index`]).
    pub lock_text: Cow<'static, str>,
    origin: Origin,
    /// The lock's index, when the cache has one and the whole lock is not parsed yet.
    index: Option<Index>,
    pub cache: Cache,
    pub settings: ToolchainSettings,
    pub output: Output,
}

impl Toolchain {
    /// Reads the lock and parses it whole, so that a command stops at a malformed lock before
    /// doing anything else.
    pub fn load(lock_file: Option<&Path>, output: Output) -> Result<Toolchain> {
        Toolchain::read(lock_file, output, false)
    }

    /// Reads the lock; when the cache holds its index (written after this very text parsed
    /// and validated whole), the tools a command runs are read from their own tables and the
    /// rest of the lock is parsed only if something asks for it. Else the lock is parsed
    /// whole now.
    pub fn load_lazily(lock_file: Option<&Path>, output: Output) -> Result<Toolchain> {
        Toolchain::read(lock_file, output, true)
    }

    fn read(lock_file: Option<&Path>, output: Output, lazy: bool) -> Result<Toolchain> {
        let settings = ToolchainSettings::from_env()?;
        let (lock_text, origin) = Lock::read(lock_file)?;
        let cache = Cache::new(settings.cache_dir.clone());
        let index = match cache.as_ref().map(|cache| cache.open_root(false)) {
            Ok(Ok(Some(root))) if lazy => Index::open(&root, &lock_text),
            _ => None,
        };
        let lock = OnceLock::new();
        if index.is_none() {
            // A malformed lock is reported before anything else.
            let _ = lock.set(Lock::parse(&lock_text, origin.clone())?);
        }
        Ok(Toolchain {
            lock,
            lock_text,
            origin,
            index,
            cache: cache?,
            settings,
            output,
        })
    }

    /// The whole lock, parsed (and validated) on first use.
    pub fn lock(&self) -> Result<&Lock> {
        if let Some(lock) = self.lock.get() {
            return Ok(lock);
        }
        let lock = Lock::parse(&self.lock_text, self.origin.clone())?;
        Ok(self.lock.get_or_init(|| lock))
    }

    /// Tool `name` of the lock: from its own table when the index places it, else from the
    /// whole lock (an error naming the lock when it pins no such tool).
    fn tool(&self, name: &str) -> Result<Cow<'_, Tool>> {
        if self.lock.get().is_none()
            && let Some(tool) = self
                .index
                .as_ref()
                .and_then(|index| index.tool(&self.lock_text, name, &self.origin))
        {
            return Ok(Cow::Owned(tool));
        }
        self.lock()?.tool(name).map(Cow::Borrowed)
    }

    /// `--platform`, else `OP_TOOLCHAIN_PLATFORM`, else the host.
    pub fn platform(&self, explicit: Option<&str>) -> Result<String> {
        match explicit.or(self.settings.platform.as_deref()) {
            Some(key) => {
                platform::validate(key)?;
                Ok(key.to_string())
            }
            None => Ok(platform::host()?.to_string()),
        }
    }

    /// Cache entries for the named tools (all of the lock's when `names` is empty).
    pub fn entries(&self, platform: &str, names: &[String]) -> Result<Vec<Entry>> {
        let lock = self.lock()?;
        let tools: Vec<&lock::Tool> = if names.is_empty() {
            lock.tools.iter().collect()
        } else {
            names
                .iter()
                .map(|name| lock.tool(name))
                .collect::<Result<_>>()?
        };
        tools
            .into_iter()
            .map(|tool| {
                let artifact = tool.artifact(platform, &lock.origin)?;
                Ok(self.cache.entry(tool, platform, artifact))
            })
            .collect()
    }

    pub fn ensure(&self, entries: &[Entry]) -> Result<Vec<install::Outcome>> {
        install::ensure(&self.cache, &self.settings, &self.output, entries, false)
    }

    /// Reinstalls `entries`; each old copy stays in place until its replacement is verified.
    pub fn reinstall(&self, entries: &[Entry]) -> Result<Vec<install::Outcome>> {
        install::ensure(&self.cache, &self.settings, &self.output, entries, true)
    }

    /// The host platform's entries for `tool` and for the pinned tools it starts itself (see
    /// [`starts`]; those the lock pins for this platform), `tool` first. Nothing is installed.
    pub fn entries_for(&self, tool: &str) -> Result<Vec<Entry>> {
        let platform = self.platform(None)?;
        let pinned = self.tool(tool)?;
        let artifact = pinned.artifact(&platform, &self.origin)?;
        let mut entries = vec![self.cache.entry(&pinned, &platform, artifact)];
        for name in starts(tool) {
            // Not in the index: the whole lock says whether it pins that tool.
            let companion = match self.tool(name) {
                Ok(companion) => Some(companion),
                Err(_) if self.lock.get().is_some() => None,
                Err(error) => return Err(error),
            };
            if let Some(companion) = companion
                && let Some(artifact) = companion.platforms.get(&platform)
            {
                entries.push(self.cache.entry(&companion, &platform, artifact));
            }
        }
        Ok(entries)
    }

    /// Installs `tool` and the pinned tools it starts (nothing else of the lock) and returns
    /// their entries, `tool` first.
    pub fn ensure_for(&self, tool: &str) -> Result<Vec<Entry>> {
        let entries = self.entries_for(tool)?;
        self.ensure(&entries)?;
        Ok(entries)
    }

    /// Installs every tool of the lock for the host platform and returns their entries.
    pub fn ensure_all(&self) -> Result<Vec<Entry>> {
        let platform = self.platform(None)?;
        let entries = self.entries(&platform, &[])?;
        self.ensure(&entries)?;
        Ok(entries)
    }

    /// Records where each tool sits in the lock's text, so that the next `exec` reads only
    /// the tables it needs (see [`cache::index`]). Best effort.
    pub fn write_index(&self) {
        if self.index.is_some() {
            return;
        }
        if let (Some(lock), Ok(Some(root))) = (self.lock.get(), self.cache.open_root(false)) {
            cache::index::write(&root, lock, &self.lock_text);
        }
    }

    pub fn bin_dirs(entries: &[Entry]) -> Vec<PathBuf> {
        entries.iter().map(Entry::bin_dir).collect()
    }
}

/// The other pinned tools `tool` runs from its PATH, which come with it wherever it runs
/// (`op toolchain exec`, the pipeline commands): skaffold starts `kubectl` itself (its deployers
/// and cluster commands), and the custom builders and hooks of a skaffold.yaml run `pack` from
/// the PATH skaffold was given. The other pinned tools start none.
pub fn starts(tool: &str) -> &'static [&'static str] {
    match tool {
        "skaffold" => &["kubectl", "pack"],
        _ => &[],
    }
}
