//! Reading an input file that a pull request, a careless link or another process may have
//! planted: only a regular file (after following links) is read, and only up to a size cap, so
//! that a FIFO cannot block `op`, and `/dev/zero` or a growing file cannot take the machine's
//! memory. Every refusal is exit 2 naming the file, what it is and what to do.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

use crate::error::OpError;

const MIB: u64 = 1024 * 1024;

/// `toolchain.lock` (`--lock`, `OP_TOOLCHAIN_LOCK` or discovered).
pub const LOCK_CAP: u64 = 4 * MIB;
/// The `--config` `.properties` file.
pub const PROPERTIES_CAP: u64 = MIB;
/// `.registry`.
pub const REGISTRY_CAP: u64 = MIB;
/// `.run.yaml` (or `.github/octopilot.yaml`).
pub const RUN_FILE_CAP: u64 = MIB;
/// `skaffold.yaml`.
pub const SKAFFOLD_CAP: u64 = 4 * MIB;
/// `build_result.json`.
pub const BUILD_RESULT_CAP: u64 = 4 * MIB;
/// The app files `op run` reads a port from (`Procfile`, `project.toml`, `Dockerfile`, `nginx.conf`).
pub const APP_FILE_CAP: u64 = MIB;

/// The bytes of `path`, a regular file (after links) of at most `cap` bytes; `what` names the
/// kind of file in messages ("lock file"). A missing file is an error too (without a hint, so
/// that the caller can add one saying how to create it).
pub fn read_capped(path: &Path, what: &str, cap: u64) -> Result<Vec<u8>, OpError> {
    let fail = |reason: String| {
        OpError::config(format!("cannot read {what} {}: {reason}", path.display()))
    };
    // Look before opening: opening a device can have effects of its own (a tape rewinds).
    let before = std::fs::metadata(path).map_err(|error| match dangling_target(path) {
        Some(target) => fail(format!(
            "it is a symbolic link to {}, which does not exist",
            target.display()
        ))
        .with_hint(format!("fix or remove the link {}", path.display())),
        None => fail(error.to_string()),
    })?;
    refuse_unless_regular(&before, path, what, cap, &fail)?;
    let file = open(path).map_err(|error| fail(error.to_string()))?;
    // The handle's own type and size, not the path's: the path may have been swapped since.
    let opened = file.metadata().map_err(|error| fail(error.to_string()))?;
    refuse_unless_regular(&opened, path, what, cap, &fail)?;
    let mut bytes = Vec::with_capacity(opened.len().min(cap) as usize + 1);
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| fail(error.to_string()))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(path, what, cap, &fail, None));
    }
    Ok(bytes)
}

/// Like [`read_capped`], but `None` when nothing at all is at `path` (a dangling link is there,
/// and is an error).
pub fn read_capped_if_present(
    path: &Path,
    what: &str,
    cap: u64,
) -> Result<Option<Vec<u8>>, OpError> {
    if !exists(path) {
        return Ok(None);
    }
    read_capped(path, what, cap).map(Some)
}

/// [`read_capped`] as UTF-8 text, a leading byte-order mark removed; text that is not UTF-8 is
/// an error giving the line, column and byte offset of the first bad byte.
pub fn read_capped_to_string(path: &Path, what: &str, cap: u64) -> Result<String, OpError> {
    read_capped(path, what, cap).and_then(|bytes| text(bytes, path, what))
}

/// [`read_capped_if_present`] as UTF-8 text (see [`read_capped_to_string`]).
pub fn read_capped_to_string_if_present(
    path: &Path,
    what: &str,
    cap: u64,
) -> Result<Option<String>, OpError> {
    read_capped_if_present(path, what, cap)?
        .map(|bytes| text(bytes, path, what))
        .transpose()
}

/// Whether anything, even a dangling link, is at `path`.
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// `bytes` as UTF-8 text without a leading byte-order mark; `path` and `what` are for messages.
pub fn text(mut bytes: Vec<u8>, path: &Path, what: &str) -> Result<String, OpError> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    String::from_utf8(bytes).map_err(|error| {
        let bytes = error.as_bytes();
        let reason = if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
            "it is UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8".to_string()
        } else {
            let utf8 = error.utf8_error();
            let at = utf8.valid_up_to();
            let valid = &bytes[..at];
            let line_start = valid
                .iter()
                .rposition(|&byte| byte == b'\n')
                .map_or(0, |newline| newline + 1);
            let line = 1 + valid.iter().filter(|&&byte| byte == b'\n').count();
            let column = 1 + String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count();
            let what_is_there = match utf8.error_len() {
                Some(_) => format!("byte 0x{:02X} is not UTF-8", bytes[at]),
                None => "the file ends inside a UTF-8 character".to_string(),
            };
            format!(
                "not UTF-8 text: line {line} column {column} (byte offset {at}): {what_is_there}"
            )
        };
        OpError::config(format!("cannot read {what} {}: {reason}", path.display()))
            .with_hint(format!("save {} as UTF-8 text", path.display()))
    })
}

fn refuse_unless_regular(
    meta: &Metadata,
    path: &Path,
    what: &str,
    cap: u64,
    fail: &dyn Fn(String) -> OpError,
) -> Result<(), OpError> {
    if !meta.is_file() {
        let kind = kind_of(meta);
        let reason = match std::fs::read_link(path) {
            Ok(target) => format!(
                "it is a symbolic link to {}, {kind}, not a regular file",
                target.display()
            ),
            Err(_) => format!("it is {kind}, not a regular file"),
        };
        return Err(fail(reason).with_hint(format!(
            "op reads a {what} only from a regular file; replace {} with one",
            path.display()
        )));
    }
    if meta.len() > cap {
        return Err(too_large(path, what, cap, fail, Some(meta.len())));
    }
    Ok(())
}

fn too_large(
    path: &Path,
    what: &str,
    cap: u64,
    fail: &dyn Fn(String) -> OpError,
    size: Option<u64>,
) -> OpError {
    let size = size
        .map(|size| format!(" ({})", size_words(size)))
        .unwrap_or_default();
    fail(format!(
        "it is larger than {}{size}, the most op reads from a {what}",
        size_words(cap)
    ))
    .with_hint(format!(
        "check that {} is the file you meant; a {what} of this size is not one op wrote or expects",
        path.display()
    ))
}

fn size_words(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{bytes} bytes")
    }
}

/// The target of `path` when it is a symbolic link whose target does not exist.
fn dangling_target(path: &Path) -> Option<std::path::PathBuf> {
    let link = std::fs::symlink_metadata(path).ok()?;
    if !link.file_type().is_symlink() || std::fs::metadata(path).is_ok() {
        return None;
    }
    std::fs::read_link(path).ok()
}

/// Opens for reading without blocking on a FIFO and without taking a terminal as the controlling
/// terminal (`open(2)`); reads from a regular file ignore `O_NONBLOCK`.
#[cfg(unix)]
fn open(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(not(unix))]
fn open(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

#[cfg(unix)]
fn kind_of(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a file"
    }
}

#[cfg(not(unix))]
fn kind_of(meta: &Metadata) -> &'static str {
    if meta.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn message(error: &OpError) -> String {
        format!(
            "{} / hint: {}",
            error.message,
            error.hint.as_deref().unwrap_or("")
        )
    }

    #[test]
    fn reads_a_regular_file_and_a_link_to_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, "a: 1\n").unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_capped(&file, "test file", 5).unwrap(), b"a: 1\n");
        assert_eq!(
            read_capped_to_string(&link, "test file", 5).unwrap(),
            "a: 1\n"
        );
        assert_eq!(
            read_capped_to_string_if_present(&dir.path().join("none"), "test file", 5).unwrap(),
            None
        );
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("gone"), &dangling).unwrap();
        for (path, needle) in [
            (&fifo, "is a FIFO (named pipe), not a regular file"),
            (
                &zero,
                "is a symbolic link to /dev/zero, a character device, not a regular file",
            ),
            (
                &dir.path().to_path_buf(),
                "is a directory, not a regular file",
            ),
            (&dangling, "which does not exist"),
        ] {
            let started = Instant::now();
            let error = read_capped_if_present(path, "test file", 10).unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(5));
            assert_eq!(error.code, crate::error::Code::Config);
            let text = message(&error);
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(needle), "{text}");
        }
        let missing = read_capped(&dir.path().join("none"), "test file", 10).unwrap_err();
        assert!(
            missing.message.contains("No such file"),
            "{}",
            missing.message
        );
        assert!(missing.hint.is_none());
    }

    #[test]
    fn refuses_a_file_over_the_cap_without_reading_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.json");
        std::fs::write(&file, vec![b'x'; 11]).unwrap();
        let error = read_capped(&file, "build result", 10).unwrap_err();
        assert!(
            error.message.contains(
                "is larger than 10 bytes (11 bytes), the most op reads from a build result"
            ),
            "{}",
            error.message
        );
        assert_eq!(read_capped(&file, "build result", 11).unwrap().len(), 11);
        assert_eq!(size_words(4 * MIB), "4 MiB");
        assert_eq!(size_words(300_000_000), "286.1 MiB");
    }

    #[test]
    fn text_strips_a_bom_and_places_bad_bytes() {
        let path = Path::new("dir/x.yaml");
        assert_eq!(
            text(b"\xEF\xBB\xBFa: 1".to_vec(), path, "f").unwrap(),
            "a: 1"
        );
        for (bytes, needle) in [
            (
                &b"ok\nh\xC3\xA9 \xFF"[..],
                "line 2 column 4 (byte offset 7): byte 0xFF is not UTF-8",
            ),
            (&b"\xFF\xFEa\0"[..], "UTF-16"),
            (
                &b"ab\xC3"[..],
                "line 1 column 3 (byte offset 2): the file ends inside a UTF-8 character",
            ),
        ] {
            let error = text(bytes.to_vec(), path, "f").unwrap_err();
            let text = message(&error);
            assert!(text.starts_with("cannot read f dir/x.yaml: "), "{text}");
            assert!(text.contains(needle), "{text}");
            assert!(text.contains("save dir/x.yaml as UTF-8"), "{text}");
        }
    }
}
