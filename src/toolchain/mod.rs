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

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::output::Output;
use crate::settings::ToolchainSettings;
use cache::{Cache, Entry};
use lock::Lock;

/// Everything a command needs to find, install and run pinned tools.
pub struct Toolchain {
    pub lock: Lock,
    pub cache: Cache,
    pub settings: ToolchainSettings,
    pub output: Output,
}

impl Toolchain {
    pub fn load(lock_file: Option<&Path>, output: Output) -> Result<Toolchain> {
        let settings = ToolchainSettings::from_env()?;
        let lock = Lock::load(lock_file)?;
        let cache = Cache::new(settings.cache_dir.clone())?;
        Ok(Toolchain {
            lock,
            cache,
            settings,
            output,
        })
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
        let tools: Vec<&lock::Tool> = if names.is_empty() {
            self.lock.tools.iter().collect()
        } else {
            names
                .iter()
                .map(|name| self.lock.tool(name))
                .collect::<Result<_>>()?
        };
        tools
            .into_iter()
            .map(|tool| {
                let artifact = tool.artifact(platform, &self.lock.origin)?;
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
        let pinned = self.lock.tool(tool)?;
        let artifact = pinned.artifact(&platform, &self.lock.origin)?;
        let mut entries = vec![self.cache.entry(pinned, &platform, artifact)];
        for name in starts(tool) {
            let companion = self.lock.tools.iter().find(|other| other.name == *name);
            if let Some((companion, artifact)) = companion.and_then(|companion| {
                companion
                    .platforms
                    .get(&platform)
                    .map(|artifact| (companion, artifact))
            }) {
                entries.push(self.cache.entry(companion, &platform, artifact));
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
