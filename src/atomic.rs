//! Writing a file so that readers see the old or the new contents, never half of either.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Temp file beside `path`, synced, then renamed over it.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    stage(path, contents)?.commit()
}

/// New contents for a file, written and synced beside it but not yet in place; dropping it
/// without [`Staged::commit`] removes the temp file and leaves `path` as it was. Staging
/// several files before committing any narrows a multi-file update to a few renames.
pub struct Staged {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
}

/// Writes `contents` into a temp file in `path`'s directory. A symlink at `path` is followed,
/// so the file it points to is replaced and the link kept. The file gets the mode of the file
/// it replaces, or `0644` when new (temp files are created `0600`).
pub fn stage(path: &Path, contents: &[u8]) -> Result<Staged> {
    use std::io::Write;
    let path = if path.is_symlink() {
        std::fs::canonicalize(path).with_context(|| format!("cannot resolve {}", path.display()))?
    } else {
        path.to_path_buf()
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".op-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    temp.write_all(contents)
        .and_then(|()| match std::fs::metadata(&path) {
            Ok(meta) => temp.as_file().set_permissions(meta.permissions()),
            Err(_) => share(temp.as_file()),
        })
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Staged { temp, path })
}

impl Staged {
    /// Renames the temp file over the target.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        self.temp
            .persist(&path)
            .map_err(|error| error.error)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    }
}

/// Makes a file readable by everyone (`0644`), as files meant to be served or committed are.
pub fn share(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn keeps_the_mode_and_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.txt");
        write_atomic(&fresh, b"one").unwrap();
        assert_eq!(mode(&fresh), 0o644);

        let kept = dir.path().join("kept.txt");
        std::fs::write(&kept, b"old").unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&kept, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(link.is_symlink());
        assert_eq!(std::fs::read(&kept).unwrap(), b"new");
        assert_eq!(mode(&kept), 0o640);
    }

    #[test]
    fn an_uncommitted_stage_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.txt");
        std::fs::write(&path, b"old").unwrap();
        drop(stage(&path, b"new").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
