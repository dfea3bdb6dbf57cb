//! Fixture programs and the archives that carry them: tar.gz and zip, including hostile ones
//! (`..` and absolute names, links that escape, zip-slip) written byte for byte as given.

use std::io::{Cursor, Write};

/// A fixture stand-in for a tool (not the real tool): prints a marker, each argument as
/// `arg=[...]`, its PATH, copies stdin to stdout when `FIXTURE_STDIN` is set, and exits with
/// `$FIXTURE_EXIT`, else `exit_code`. A `#!/bin/sh` script on Unix; on Windows the compiled
/// fixture program ([`super::fixture_exe`]) with a trailer naming `tool` and `exit_code`.
#[cfg(unix)]
pub fn fixture_script(tool: &str, exit_code: i32) -> Vec<u8> {
    format!(
        "#!/bin/sh\n\
         # fixture stand-in for {tool}, made by the op integration tests; not the real tool\n\
         echo \"{}\"\n\
         for arg in \"$@\"; do echo \"arg=[$arg]\"; done\n\
         echo \"PATH=$PATH\"\n\
         if [ -n \"$FIXTURE_STDIN\" ]; then cat; fi\n\
         exit ${{FIXTURE_EXIT:-{exit_code}}}\n",
        marker(tool)
    )
    .into_bytes()
}

/// See the Unix version: the compiled fixture program, its trailer naming `tool` and `exit_code`.
#[cfg(not(unix))]
pub fn fixture_script(tool: &str, exit_code: i32) -> Vec<u8> {
    super::fixture_exe::with_trailer(tool, exit_code)
}

/// The first line a fixture tool prints.
pub fn marker(tool: &str) -> String {
    format!("fixture {tool} ran")
}

/// What an archive entry is.
#[derive(Clone, Debug)]
pub enum EntryKind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
    /// A character device or FIFO node (tar only).
    Special(tar::EntryType),
}

/// One archive entry; `name` is written exactly as given (no normalisation, no safety checks).
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
    pub mode: u32,
}

impl Entry {
    pub fn file(name: &str, data: &[u8]) -> Entry {
        Entry {
            name: name.to_string(),
            kind: EntryKind::File(data.to_vec()),
            mode: 0o755,
        }
    }

    pub fn dir(name: &str) -> Entry {
        Entry {
            name: name.to_string(),
            kind: EntryKind::Dir,
            mode: 0o755,
        }
    }

    pub fn symlink(name: &str, target: &str) -> Entry {
        Entry {
            name: name.to_string(),
            kind: EntryKind::Symlink(target.to_string()),
            mode: 0o777,
        }
    }

    /// A character-device (`b'3'`) or FIFO (`b'6'`) node, which no tool archive should hold.
    pub fn special(name: &str, entry_type: u8) -> Entry {
        Entry {
            name: name.to_string(),
            kind: EntryKind::Special(tar::EntryType::new(entry_type)),
            mode: 0o755,
        }
    }

    pub fn hardlink(name: &str, target: &str) -> Entry {
        Entry {
            name: name.to_string(),
            kind: EntryKind::Hardlink(target.to_string()),
            mode: 0o644,
        }
    }
}

/// A gzip-compressed ustar archive of `entries` (one gzip member).
pub fn tar_gz(entries: &[Entry]) -> Vec<u8> {
    gzip(&tar(entries, true))
}

/// An uncompressed ustar archive of `entries`. Names and link targets go into the header fields
/// verbatim (the tar crate's path setters would refuse `..` and absolute names). Without `end`,
/// the two zero blocks that end an archive are left off, so that what follows (the next gzip
/// member, say) continues it.
pub fn tar(entries: &[Entry], end: bool) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        let (entry_type, data): (tar::EntryType, &[u8]) = match &entry.kind {
            EntryKind::File(data) => (tar::EntryType::Regular, data),
            EntryKind::Dir => (tar::EntryType::Directory, &[]),
            EntryKind::Symlink(_) => (tar::EntryType::Symlink, &[]),
            EntryKind::Hardlink(_) => (tar::EntryType::Link, &[]),
            EntryKind::Special(kind) => (*kind, &[]),
        };
        header.set_entry_type(entry_type);
        header.set_size(data.len() as u64);
        header.set_mode(entry.mode);
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        let raw = header.as_old_mut();
        assert!(entry.name.len() < raw.name.len(), "tar name too long");
        raw.name[..entry.name.len()].copy_from_slice(entry.name.as_bytes());
        if let EntryKind::Symlink(target) | EntryKind::Hardlink(target) = &entry.kind {
            assert!(target.len() < raw.linkname.len(), "tar link name too long");
            raw.linkname[..target.len()].copy_from_slice(target.as_bytes());
        }
        header.set_cksum();
        builder.append(&header, data).expect("append tar entry");
    }
    if end {
        builder.into_inner().expect("finish tar")
    } else {
        builder.get_ref().clone()
    }
}

/// `bytes` as one gzip member.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("finish gzip")
}

/// Each part compressed as its own gzip member, the members back to back (what
/// `cat a.gz b.gz` gives; `gzip -d` and `tar -xzf` read them as one stream).
pub fn gzip_members(parts: &[&[u8]]) -> Vec<u8> {
    parts.iter().flat_map(|part| gzip(part)).collect()
}

/// A deflate zip archive of `entries` (hard links are not a zip concept and are refused).
pub fn zip(entries: &[Entry]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for entry in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(entry.mode);
        match &entry.kind {
            EntryKind::File(data) => {
                writer
                    .start_file(entry.name.as_str(), options)
                    .expect("zip entry");
                writer.write_all(data).expect("zip data");
            }
            EntryKind::Dir => writer
                .add_directory(entry.name.as_str(), options)
                .expect("zip dir"),
            EntryKind::Symlink(target) => writer
                .add_symlink(entry.name.as_str(), target.as_str(), options)
                .expect("zip symlink"),
            EntryKind::Hardlink(_) | EntryKind::Special(_) => {
                panic!("zip has no hard links or device nodes")
            }
        }
    }
    writer.finish().expect("finish zip").into_inner()
}

/// Lists the names inside a tar.gz, every gzip member (used to check the builders themselves).
pub fn tar_gz_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(bytes));
    archive
        .entries()
        .expect("tar entries")
        .map(|entry| String::from_utf8_lossy(&entry.expect("tar entry").path_bytes()).into_owned())
        .collect()
}

/// Lists the names inside a zip.
pub fn zip_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    (0..archive.len())
        .map(|index| {
            archive
                .by_index_raw(index)
                .expect("zip entry")
                .name()
                .expect("zip entry name")
                .to_string()
        })
        .collect()
}

/// One file of a zip written byte for byte by [`raw_zip`]: deflated, mode 0755, named `name` in
/// the central directory and `local_name` in its local header.
#[derive(Clone, Debug)]
pub struct RawZipFile {
    pub name: String,
    pub local_name: String,
    pub data: Vec<u8>,
    /// CRC and sizes after the data (flag bit 3) instead of in the local header, as Go's
    /// `archive/zip` (and so goreleaser) writes every file.
    pub descriptor: bool,
}

impl RawZipFile {
    pub fn new(name: &str, data: &[u8]) -> RawZipFile {
        RawZipFile {
            name: name.to_string(),
            local_name: name.to_string(),
            data: data.to_vec(),
            descriptor: false,
        }
    }

    /// Gives the local header a name of its own (the central directory keeps `name`).
    pub fn local_name(mut self, name: &str) -> RawZipFile {
        self.local_name = name.to_string();
        self
    }

    pub fn with_descriptor(mut self) -> RawZipFile {
        self.descriptor = true;
        self
    }
}

/// A zip of `files` in exactly this order, each with its own central directory record, so the
/// same name can appear twice (the zip crate's writer refuses that).
pub fn raw_zip(files: &[RawZipFile]) -> Vec<u8> {
    fn u16le(out: &mut Vec<u8>, value: usize) {
        out.extend_from_slice(&u16::try_from(value).expect("fits u16").to_le_bytes());
    }
    fn u32le(out: &mut Vec<u8>, value: usize) {
        out.extend_from_slice(&u32::try_from(value).expect("fits u32").to_le_bytes());
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for file in files {
        let mut crc = flate2::Crc::new();
        crc.update(&file.data);
        let crc = crc.sum() as usize;
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&file.data).expect("deflate");
        let compressed = encoder.finish().expect("finish deflate");
        let flags = if file.descriptor { 0x0008 } else { 0 };
        let offset = out.len();
        // Local file header: signature, version needed, flags, method (8 = deflate), time,
        // date (1980-01-01), CRC, compressed and uncompressed sizes, name and extra lengths.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        for value in [20, flags, 8, 0, 0x21] {
            u16le(&mut out, value);
        }
        let (local_crc, local_compressed, local_size) = if file.descriptor {
            (0, 0, 0)
        } else {
            (crc, compressed.len(), file.data.len())
        };
        for value in [local_crc, local_compressed, local_size] {
            u32le(&mut out, value);
        }
        u16le(&mut out, file.local_name.len());
        u16le(&mut out, 0);
        out.extend_from_slice(file.local_name.as_bytes());
        out.extend_from_slice(&compressed);
        if file.descriptor {
            out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            for value in [crc, compressed.len(), file.data.len()] {
                u32le(&mut out, value);
            }
        }
        // Central directory record: made by Unix 3.0, then as above, then comment length,
        // disk, internal and external attributes (a 0755 file), local header offset, name.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        for value in [0x031e, 20, flags, 8, 0, 0x21] {
            u16le(&mut central, value);
        }
        for value in [crc, compressed.len(), file.data.len()] {
            u32le(&mut central, value);
        }
        for value in [file.name.len(), 0, 0, 0, 0] {
            u16le(&mut central, value);
        }
        u32le(&mut central, 0o100_755 << 16);
        u32le(&mut central, offset);
        central.extend_from_slice(file.name.as_bytes());
    }
    let central_offset = out.len();
    out.extend_from_slice(&central);
    // End of central directory: disk numbers, entry counts, directory size and offset, comment.
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for value in [0, 0, files.len(), files.len()] {
        u16le(&mut out, value);
    }
    u32le(&mut out, central.len());
    u32le(&mut out, central_offset);
    u16le(&mut out, 0);
    out
}
