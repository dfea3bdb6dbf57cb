//! Fixture programs and the archives that carry them: tar.gz and zip, including hostile ones
//! (`..` and absolute names, links that escape, zip-slip) written byte for byte as given.

use std::io::{Cursor, Write};

/// A fixture stand-in for a tool (not the real tool): prints a marker, each argument as
/// `arg=[...]`, its PATH, copies stdin to stdout when `FIXTURE_STDIN` is set, and exits with
/// `$FIXTURE_EXIT`, else `exit_code`.
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

/// A gzip-compressed ustar archive of `entries`. Names and link targets go into the header
/// fields verbatim (the tar crate's path setters would refuse `..` and absolute names).
pub fn tar_gz(entries: &[Entry]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
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
    let encoder = builder.into_inner().expect("finish tar");
    encoder.finish().expect("finish gzip")
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

/// Lists the names inside a tar.gz (used to check the builders themselves).
pub fn tar_gz_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
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
                .to_string()
        })
        .collect()
}
