//! Where the active lock is found: `--lock`, else `OP_TOOLCHAIN_LOCK`, else the nearest
//! `toolchain.lock` up to the repository root, else the built-in one.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{EMBEDDED, FILE_NAME, Lock, Origin};
use crate::bounded;
use crate::error::OpError;
use crate::settings;

impl Lock {
    /// Loads the active lock: `explicit` (`--lock`), else `OP_TOOLCHAIN_LOCK`, else a
    /// `toolchain.lock` in the current directory or a parent up to the repository root, else the
    /// built-in one.
    pub fn load(explicit: Option<&Path>) -> Result<Lock> {
        let (text, origin) = Lock::read(explicit)?;
        Lock::parse(&text, origin)
    }

    /// The active lock's text and where it came from (see [`Lock::load`]), not parsed.
    pub fn read(explicit: Option<&Path>) -> Result<(std::borrow::Cow<'static, str>, Origin)> {
        let chosen = explicit
            .map(Path::to_path_buf)
            .or_else(|| settings::var(settings::TOOLCHAIN_LOCK).map(PathBuf::from));
        let path = match chosen {
            Some(path) => Some(path),
            None => discover(&std::env::current_dir().map_err(|error| {
                OpError::config(format!("cannot read the current directory: {error}"))
            })?),
        };
        match path {
            None => Ok((EMBEDDED.into(), Origin::Embedded)),
            Some(path) => {
                let text = bounded::read_capped_to_string(&path, "lock file", bounded::LOCK_CAP)
                    .map_err(|mut error| {
                        error.hint.get_or_insert_with(|| {
                            "pass an existing file with --lock or OP_TOOLCHAIN_LOCK".into()
                        });
                        error
                    })?;
                let path = std::path::absolute(&path).unwrap_or(path);
                Ok((text.into(), Origin::File(path)))
            }
        }
    }
}

/// The nearest `toolchain.lock` in `start` or a parent, not looking above the repository root
/// (the first directory that holds `.git`). Anything by that name counts, even a directory or
/// a dangling link, so that reading it fails instead of another lock silently taking its place.
fn discover(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if bounded::exists(&candidate) {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::lock::tests::GOOD;

    #[test]
    fn discovery_stops_at_the_repository_root() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        let nested = repo.join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(root.path().join(FILE_NAME), GOOD).unwrap();
        std::fs::create_dir(repo.join(".git")).unwrap();
        assert_eq!(discover(&nested), None);
        std::fs::write(repo.join("a").join(FILE_NAME), GOOD).unwrap();
        assert_eq!(discover(&nested), Some(repo.join("a").join(FILE_NAME)));
    }
}
