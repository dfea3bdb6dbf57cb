//! Takes the one executable a lock names out of a verified artifact (raw, tar.gz or zip).
//! Hostile archives are refused: absolute paths, `..`, drive prefixes, and a `bin` entry that is
//! a link, device or directory. Only the `bin` entry is ever written, and only to `dest`.
//!
//! Archives are read the way `tar -xzf` and `unzip` read them, and refused where readers could
//! disagree on which bytes are the `bin`: every gzip member of a tar.gz is read, and a `bin`
//! entry that appears twice (in one member or across members, or twice in a zip's central
//! directory) is refused, as is a zip whose local header names another file than the central
//! directory does for the `bin`.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::toolchain::fetch::Watermark;
use crate::toolchain::lock::ArchiveKind;

/// The largest executable `op` will unpack.
pub const MAX_ENTRY: u64 = 1 << 30;
/// The most entries a zip may list: the zip reader holds its whole central directory in
/// memory, and real tool archives list a few hundred at most.
pub const MAX_ZIP_ENTRIES: u64 = 10_000;
/// The most bytes of central directory op reads (names, extra fields and comments included).
pub const MAX_CENTRAL_DIRECTORY: u64 = 2 << 20;

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("archive entry {0:?} has an unsafe path (absolute, `..` or a drive prefix)")]
    UnsafePath(String),
    #[error("archive entry {entry:?} is a {kind}, not a regular file")]
    NotAFile { entry: String, kind: &'static str },
    #[error("archive has no entry {wanted:?}; it has: {found}")]
    Missing { wanted: String, found: String },
    #[error("archive entry {0:?} is larger than {MAX_ENTRY} bytes")]
    TooLarge(String),
    #[error("archive entry {0:?} appears twice, so which copy is the tool depends on the reader")]
    Twice(String),
    #[error(
        "zip entry {central:?} is named {local:?} in its local header; the central directory \
         and the local header must agree"
    )]
    NameMismatch { central: String, local: String },
    #[error("archive is corrupt: {0}")]
    Corrupt(String),
    #[error("zip lists {0} entries; op reads at most {MAX_ZIP_ENTRIES}")]
    TooManyEntries(u64),
    #[error("zip central directory is larger than {MAX_CENTRAL_DIRECTORY} bytes")]
    DirectoryTooLarge,
}

/// What was written to `dest`.
#[derive(Debug)]
pub struct Unpacked {
    pub size: u64,
    pub sha256: String,
}

/// Writes the executable from `artifact` (a downloaded, verified file) to `dest`.
pub fn extract(
    kind: ArchiveKind,
    bin: Option<&str>,
    artifact: &Path,
    dest: &Path,
) -> Result<Unpacked> {
    let mut input = File::open(artifact)
        .with_context(|| format!("cannot open downloaded file {}", artifact.display()))?;
    let unpacked = match (kind, bin) {
        (ArchiveKind::Raw, _) | (_, None) => copy_to(&mut input, dest, "artifact")?,
        (ArchiveKind::TarGz, Some(bin)) => extract_tar_gz(input, bin, dest)?,
        (ArchiveKind::Zip, Some(bin)) => extract_zip(input, bin, dest)?,
    };
    set_executable(dest)?;
    Ok(unpacked)
}

/// Normalises an entry name (`./a/b` → `a/b`) or refuses it.
fn entry_path(raw: &str) -> Result<String, UnpackError> {
    let name = raw.trim_end_matches('/');
    let unsafe_path = name.starts_with('/')
        || name.starts_with('\\')
        || name.contains('\\')
        || name.split('/').any(|part| part == "..")
        || name.chars().nth(1) == Some(':');
    if unsafe_path {
        return Err(UnpackError::UnsafePath(raw.to_string()));
    }
    Ok(name
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/"))
}

fn wanted_path(bin: &str) -> String {
    bin.trim_start_matches("./").to_string()
}

/// What a streaming unpacker is fed by, and what it gives when done.
pub type Streaming = (Arc<Watermark>, tokio::task::JoinHandle<Result<Unpacked>>);

/// Starts unpacking a tar.gz's `bin` to `dest` on a blocking thread, reading `download` as it
/// is written, as far as the returned [`Watermark`] says; `None` for an artifact that cannot be
/// unpacked before it is complete (a zip's directory is at its end) or is not an archive.
/// Nothing it writes is trusted until the whole download matched the lock.
pub fn start_streaming(
    kind: ArchiveKind,
    bin: Option<&str>,
    download: &Path,
    dest: &Path,
) -> Result<Option<Streaming>> {
    let (ArchiveKind::TarGz, Some(bin)) = (kind, bin) else {
        return Ok(None);
    };
    let file = File::open(download)
        .with_context(|| format!("cannot open {} to unpack it", download.display()))?;
    let mark = Arc::new(Watermark::default());
    let reader = Following {
        file,
        at: 0,
        mark: Arc::clone(&mark),
    };
    let (bin, dest): (String, PathBuf) = (bin.to_string(), dest.to_path_buf());
    let handle = tokio::task::spawn_blocking(move || {
        let unpacked = extract_tar_gz(reader, &bin, &dest)?;
        set_executable(&dest)?;
        Ok(unpacked)
    });
    Ok(Some((mark, handle)))
}

/// A download file read as it grows: up to its [`Watermark`], waiting for more.
struct Following {
    file: File,
    at: u64,
    mark: Arc<Watermark>,
}

impl Read for Following {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let Some(written) = self.mark.wait_past(self.at)? else {
            return Ok(0);
        };
        let want = buffer
            .len()
            .min(usize::try_from(written - self.at).unwrap_or(usize::MAX));
        let read = self.file.read(&mut buffer[..want])?;
        if read == 0 {
            return Err(std::io::Error::other(
                "the download file shrank while it was read",
            ));
        }
        self.at += read as u64;
        Ok(read)
    }
}

fn extract_tar_gz(input: impl Read, bin: &str, dest: &Path) -> Result<Unpacked> {
    let wanted = wanted_path(bin);
    // Every member, as gzip -d (and so tar -xzf) reads them: the tar stream may go on in a
    // later member, and a later copy of the bin is what tar would leave on disk.
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(input));
    let mut seen = Vec::new();
    let mut result = None;
    let entries = archive
        .entries()
        .map_err(|error| UnpackError::Corrupt(error.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|error| UnpackError::Corrupt(error.to_string()))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = entry_path(&raw)?;
        if let Some(target) = entry.link_name_bytes() {
            // A link anywhere in the archive that points out of it is a sign of a hostile archive.
            entry_path(&String::from_utf8_lossy(&target))?;
        }
        if name != wanted {
            if seen.len() < 20 {
                seen.push(name);
            }
            continue;
        }
        let kind = entry.header().entry_type();
        let refuse = |kind: &'static str| UnpackError::NotAFile {
            entry: raw.clone(),
            kind,
        };
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Symlink => return Err(refuse("symbolic link").into()),
            tar::EntryType::Link => return Err(refuse("hard link").into()),
            tar::EntryType::Char | tar::EntryType::Block => return Err(refuse("device").into()),
            tar::EntryType::Directory => return Err(refuse("directory").into()),
            tar::EntryType::Fifo => return Err(refuse("fifo").into()),
            _ => return Err(refuse("special entry").into()),
        }
        if entry.size() > MAX_ENTRY {
            return Err(UnpackError::TooLarge(raw).into());
        }
        if result.is_some() {
            return Err(UnpackError::Twice(raw).into());
        }
        result = Some(copy_to(&mut entry, dest, &raw)?);
    }
    result.ok_or_else(|| missing(&wanted, &seen).into())
}

fn extract_zip(input: File, bin: &str, dest: &Path) -> Result<Unpacked> {
    let wanted = wanted_path(bin);
    let mut raw_file = input
        .try_clone()
        .context("cannot open the downloaded file a second time")?;
    check_zip_size(&mut raw_file)?;
    // The zip reader keeps what it reads of the central directory: a budget bounds it even
    // where the end record understates the directory.
    let budget = Arc::new(AtomicU64::new(MAX_CENTRAL_DIRECTORY + 64 * 1024));
    let reader = Budgeted {
        inner: input,
        budget: Arc::clone(&budget),
    };
    let opened = zip::ZipArchive::new(reader);
    let over = budget.load(Ordering::Relaxed) == 0;
    budget.store(u64::MAX, Ordering::Relaxed);
    let mut archive = match opened {
        Ok(archive) => archive,
        Err(_) if over => return Err(UnpackError::DirectoryTooLarge.into()),
        Err(error) => return Err(UnpackError::Corrupt(error.to_string()).into()),
    };
    let mut seen = Vec::new();
    let mut names = HashSet::new();
    let mut records = HashSet::new();
    let mut found = None;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|error| UnpackError::Corrupt(error.to_string()))?;
        let raw = entry
            .name()
            .map_err(|error| UnpackError::Corrupt(error.to_string()))?
            .to_string();
        let name = entry_path(&raw)?;
        records.insert(entry.central_header_start());
        names.insert(raw.clone());
        if name == wanted {
            if found.is_some() {
                return Err(UnpackError::Twice(raw).into());
            }
            found = Some(index);
        } else if seen.len() < 20 {
            seen.push(name);
        }
    }
    hidden_duplicates(
        &mut raw_file,
        archive.central_directory_start(),
        &records,
        &names,
        &wanted,
    )?;
    let Some(index) = found else {
        return Err(missing(&wanted, &seen).into());
    };
    let (central, local) = archive
        .by_index_raw(index)
        .map(|entry| (entry.central_header_start(), entry.header_start()))
        .map_err(|error| UnpackError::Corrupt(error.to_string()))?;
    // `raw_file` shares its offset with the archive's file: done with it before reading data.
    same_local_name(&mut raw_file, central, local)?;
    let mut entry = archive
        .by_index(index)
        .map_err(|error| UnpackError::Corrupt(error.to_string()))?;
    let raw = entry
        .name()
        .map_err(|error| UnpackError::Corrupt(error.to_string()))?
        .to_string();
    let is_symlink = entry
        .unix_mode()
        .is_some_and(|mode| mode & 0o170000 == 0o120000);
    if is_symlink {
        return Err(UnpackError::NotAFile {
            entry: raw,
            kind: "symbolic link",
        }
        .into());
    }
    if entry.is_dir() {
        return Err(UnpackError::NotAFile {
            entry: raw,
            kind: "directory",
        }
        .into());
    }
    if entry.size() > MAX_ENTRY {
        return Err(UnpackError::TooLarge(raw).into());
    }
    copy_to(&mut entry, dest, &raw)
}

/// A reader that fails once it has read `budget` bytes (`u64::MAX`: no limit).
struct Budgeted {
    inner: File,
    budget: Arc<AtomicU64>,
}

impl Read for Budgeted {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let left = self.budget.load(Ordering::Relaxed);
        if left == 0 {
            return Err(std::io::Error::other("central directory over its budget"));
        }
        let want = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buffer[..want])?;
        if left != u64::MAX {
            self.budget.store(left - read as u64, Ordering::Relaxed);
        }
        Ok(read)
    }
}

impl Seek for Budgeted {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

const END_SIGNATURE: u32 = 0x0605_4b50;
const END64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const END64_SIGNATURE: u32 = 0x0606_4b50;

/// Refuses a zip whose end record (or zip64 end record) lists more than [`MAX_ZIP_ENTRIES`]
/// entries or a central directory over [`MAX_CENTRAL_DIRECTORY`] bytes, before any of it is
/// read. Like `unzip`, it looks for the end record only in the last 64 KiB.
fn check_zip_size(file: &mut File) -> Result<(), UnpackError> {
    let corrupt = |error: std::io::Error| UnpackError::Corrupt(format!("end record: {error}"));
    let length = file.seek(SeekFrom::End(0)).map_err(corrupt)?;
    // The end record is 22 bytes plus a comment of at most 65,535.
    let tail_start = length.saturating_sub(22 + 65_535);
    file.seek(SeekFrom::Start(tail_start)).map_err(corrupt)?;
    let mut tail = Vec::new();
    Read::take(&mut *file, 22 + 65_535)
        .read_to_end(&mut tail)
        .map_err(corrupt)?;
    let Some(at) = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&at| le32(&tail, at) == END_SIGNATURE)
    else {
        return Err(UnpackError::Corrupt(
            "no end of central directory record in the last 64 KiB".to_string(),
        ));
    };
    let mut entries = le16(&tail, at + 10) as u64;
    let mut size = u64::from(le32(&tail, at + 12));
    let end = tail_start + at as u64;
    if (entries == 0xFFFF || size == 0xFFFF_FFFF) && end >= 20 {
        let mut locator = [0u8; 20];
        file.seek(SeekFrom::Start(end - 20)).map_err(corrupt)?;
        file.read_exact(&mut locator).map_err(corrupt)?;
        if le32(&locator, 0) == END64_LOCATOR_SIGNATURE {
            let mut record = [0u8; 56];
            file.seek(SeekFrom::Start(le64(&locator, 8)))
                .map_err(corrupt)?;
            file.read_exact(&mut record).map_err(corrupt)?;
            if le32(&record, 0) == END64_SIGNATURE {
                entries = entries.max(le64(&record, 32));
                size = size.max(le64(&record, 40));
            }
        }
    }
    if entries > MAX_ZIP_ENTRIES {
        return Err(UnpackError::TooManyEntries(entries));
    }
    if size > MAX_CENTRAL_DIRECTORY {
        return Err(UnpackError::DirectoryTooLarge);
    }
    Ok(())
}

fn le64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;

/// The zip crate keeps one entry per name, so a name listed twice in the central directory
/// (which `unzip` extracts twice) is invisible through it. Walks the central directory records
/// from `start` and refuses one the crate dropped if it names the bin, or if it cannot be
/// matched to a name the crate kept (another encoding of the same name, say).
fn hidden_duplicates(
    file: &mut File,
    start: u64,
    kept: &HashSet<u64>,
    names: &HashSet<String>,
    wanted: &str,
) -> Result<(), UnpackError> {
    let corrupt =
        |error: std::io::Error| UnpackError::Corrupt(format!("central directory: {error}"));
    file.seek(SeekFrom::Start(start)).map_err(corrupt)?;
    let mut reader = BufReader::new(file);
    let mut position = start;
    // Each record is at least 46 bytes and the walk stops at the first non-record (the end
    // records) or at the end of the file, so it is bounded by the file's size.
    loop {
        let mut fixed = [0u8; 46];
        if reader.read_exact(&mut fixed).is_err() || le32(&fixed, 0) != CENTRAL_SIGNATURE {
            return Ok(());
        }
        let name_len = le16(&fixed, 28);
        let rest_len = le16(&fixed, 30) + le16(&fixed, 32);
        let mut name = vec![0u8; name_len];
        reader.read_exact(&mut name).map_err(corrupt)?;
        reader.seek_relative(rest_len as i64).map_err(corrupt)?;
        if !kept.contains(&position) {
            let raw = String::from_utf8_lossy(&name).into_owned();
            if entry_path(&raw)? == wanted {
                return Err(UnpackError::Twice(raw));
            }
            if !names.contains(&raw) {
                return Err(UnpackError::Corrupt(format!(
                    "two central directory entries share a name, one written as {raw:?}"
                )));
            }
        }
        position += (46 + name_len + rest_len) as u64;
    }
}

/// Refuses an entry whose local header (at `local`) names another file than its central
/// directory record (at `central`) does: readers that walk local headers would see that one.
fn same_local_name(file: &mut File, central: u64, local: u64) -> Result<(), UnpackError> {
    let corrupt = |error: std::io::Error| UnpackError::Corrupt(format!("zip headers: {error}"));
    let mut record = [0u8; 46];
    file.seek(SeekFrom::Start(central)).map_err(corrupt)?;
    file.read_exact(&mut record).map_err(corrupt)?;
    let mut central_name = vec![0u8; le16(&record, 28)];
    file.read_exact(&mut central_name).map_err(corrupt)?;
    let mut header = [0u8; 30];
    file.seek(SeekFrom::Start(local)).map_err(corrupt)?;
    file.read_exact(&mut header).map_err(corrupt)?;
    if le32(&header, 0) != LOCAL_SIGNATURE {
        return Err(UnpackError::Corrupt(format!(
            "no local header at offset {local} for entry {:?}",
            String::from_utf8_lossy(&central_name)
        )));
    }
    let mut local_name = vec![0u8; le16(&header, 26)];
    file.read_exact(&mut local_name).map_err(corrupt)?;
    if local_name != central_name {
        return Err(UnpackError::NameMismatch {
            central: String::from_utf8_lossy(&central_name).into_owned(),
            local: String::from_utf8_lossy(&local_name).into_owned(),
        });
    }
    Ok(())
}

fn le16(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn missing(wanted: &str, seen: &[String]) -> UnpackError {
    UnpackError::Missing {
        wanted: wanted.to_string(),
        found: if seen.is_empty() {
            "no files".to_string()
        } else {
            seen.join(", ")
        },
    }
}

/// Copies at most [`MAX_ENTRY`] bytes into a new file at `dest`, hashing them. Not synced: the
/// install makes the whole entry durable in one go before it commits it.
fn copy_to(input: &mut dyn Read, dest: &Path, name: &str) -> Result<Unpacked> {
    let mut output = File::options()
        .write(true)
        .create_new(true)
        .open(dest)
        .with_context(|| format!("cannot create {}", dest.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = input
            .read(&mut buffer)
            .map_err(|error| UnpackError::Corrupt(format!("{name}: {error}")))?;
        if read == 0 {
            break;
        }
        size += read as u64;
        if size > MAX_ENTRY {
            return Err(UnpackError::TooLarge(name.to_string()).into());
        }
        hasher.update(&buffer[..read]);
        output
            .write_all(&buffer[..read])
            .with_context(|| format!("cannot write {}", dest.display()))?;
    }
    Ok(Unpacked {
        size,
        sha256: crate::hex::encode(hasher.finalize()),
    })
}

/// SHA-256 of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    hash_reader(file, &path.display().to_string())
}

/// Size and SHA-256 of everything `reader` yields, streamed; `what` names it in errors.
pub fn hash_reader(mut reader: impl Read, what: &str) -> Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let read = reader
            .read(&mut buffer)
            .with_context(|| format!("cannot read {what}"))?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok((size, crate::hex::encode(hasher.finalize())))
}

#[cfg(unix)]
pub fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
pub fn set_executable(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_are_normalised_or_refused() {
        assert_eq!(entry_path("./pack").unwrap(), "pack");
        assert_eq!(entry_path("dir/./flux").unwrap(), "dir/flux");
        for hostile in ["../x", "/etc/passwd", "a/../../x", "C:/x", "a\\..\\x"] {
            assert!(entry_path(hostile).is_err(), "{hostile}");
        }
    }

    fn tar_gz(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    fn regular(builder: &mut tar::Builder<Vec<u8>>, name: &str, body: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, body).unwrap();
    }

    fn run(kind: ArchiveKind, bytes: &[u8], bin: &str) -> (Result<Unpacked>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let artifact = dir.path().join("artifact");
        std::fs::write(&artifact, bytes).unwrap();
        let dest = dir.path().join("out");
        (extract(kind, Some(bin), &artifact, &dest), dir)
    }

    #[test]
    fn extracts_only_the_named_entry() {
        let body = b"#!/bin/sh\necho fixture\n";
        let bytes = tar_gz(|builder| {
            regular(builder, "LICENSE", b"text");
            regular(builder, "./tool", body);
        });
        let (result, dir) = run(ArchiveKind::TarGz, &bytes, "tool");
        assert_eq!(result.unwrap().size, body.len() as u64);
        assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), body);
        assert!(!dir.path().join("LICENSE").exists());
    }

    #[test]
    fn symlink_as_bin_is_refused() {
        let bytes = tar_gz(|builder| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, "tool", "/bin/sh").unwrap();
        });
        let (result, dir) = run(ArchiveKind::TarGz, &bytes, "tool");
        let error = result.unwrap_err().to_string();
        assert!(
            error.contains("unsafe path") || error.contains("symbolic link"),
            "{error}"
        );
        assert!(!dir.path().join("out").exists());
    }

    #[test]
    fn missing_entry_lists_what_is_there() {
        let bytes = tar_gz(|builder| regular(builder, "other", b"x"));
        let (result, _dir) = run(ArchiveKind::TarGz, &bytes, "tool");
        let error = result.unwrap_err().to_string();
        assert!(
            error.contains("\"tool\"") && error.contains("other"),
            "{error}"
        );
    }

    #[test]
    fn zip_slip_is_refused() {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("../evil", options).unwrap();
        writer.write_all(b"x").unwrap();
        writer.start_file("tool", options).unwrap();
        writer.write_all(b"y").unwrap();
        let bytes = writer.finish().unwrap().into_inner();
        let (result, _dir) = run(ArchiveKind::Zip, &bytes, "tool");
        assert!(result.unwrap_err().to_string().contains("../evil"));
    }
}
