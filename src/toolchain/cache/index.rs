//! Where each tool of a lock is written in its text, so that `op toolchain exec` and the
//! pipeline commands parse only the tables of the tools they run, whatever the lock's size.
//!
//! ```text
//! <root>/index/<16 hex>    lines `<tool> <start> <end>`: byte offsets of `[tools.<tool>]`
//! ```
//!
//! The name is a 64-bit foldhash of op's version and the lock's bytes: any edit to the lock (or
//! a new op) looks up another file. It needs no resistance to crafted collisions: what an
//! index says is checked against the lock's own text on every read. An index is written only after the whole lock parsed and
//! validated, and only for locks where each tool's span, parsed alone, gives exactly the tool
//! the whole file gives. It is a hint and nothing more: a reader re-parses the span of the
//! lock's own text it points at and takes the tool only when that span is one complete
//! `[tools.<tool>]` definition, the only `[tools.<tool>]` header line of the file, so a
//! planted, stale or colliding index can at worst send op down the full parse; what runs is still checked against its receipt for the lock's own pins.

use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};

use super::store::{Dir, mode};
use crate::toolchain::lock::{self, Lock, Origin, Tool};

pub const INDEX: &str = "index";
/// An index line is a few dozen bytes per tool; the lock itself is capped at 4 MiB.
const INDEX_CAP: u64 = 4 * 1024 * 1024;

/// The index file name for lock `text`.
pub fn name(text: &str) -> String {
    // foldhash with a fixed seed: the same name in every process of this op, at well under an
    // instruction per byte (SipHash took 2.6, and SHA-256 needs the CPU's SHA instructions).
    let mut hasher = foldhash::fast::FixedState::with_seed(0).build_hasher();
    hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.write_u8(0);
    hasher.write(text.as_bytes());
    format!("{:016x}", hasher.finish())
}

/// Whether `name` is one op writes under `index/` (an index, or one on its way in).
pub fn is_own(name: &str) -> bool {
    let hash = name.split('.').next().unwrap_or(name);
    hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An index read from the cache: unverified lines until [`Index::tool`] checks one.
pub struct Index {
    body: String,
}

impl Index {
    /// The index of lock `text` under `root`, when there is one (any problem reads as none).
    pub fn open(root: &Dir, text: &str) -> Option<Index> {
        let dir = root.open_dir(INDEX).ok()??;
        let file = dir.open_file(&name(text)).ok()??;
        let mut body = String::with_capacity(4096);
        file.take(INDEX_CAP).read_to_string(&mut body).ok()?;
        Some(Index { body })
    }

    /// Tool `name` of lock `text`, parsed from the span this index names; `None` when the
    /// index has no such line or the span is not exactly that tool's definition.
    pub fn tool(&self, text: &str, name: &str, origin: &Origin) -> Option<Tool> {
        let (start, end) = self.body.lines().find_map(|line| {
            let mut fields = line.split(' ');
            (fields.next()? == name).then_some(())?;
            let start: usize = fields.next()?.parse().ok()?;
            let end: usize = fields.next()?.parse().ok()?;
            fields.next().is_none().then_some((start, end))
        })?;
        let fragment = text.get(start..end)?;
        // A span starts a line: a header planted mid-line (inside a string) is not one.
        if start > 0 && !text[..start].ends_with('\n') {
            return None;
        }
        // And it holds the file's one `[tools.NAME]` header line: a look-alike inside a
        // multi-line string elsewhere makes the index useless for that tool.
        let header = format!("[tools.{name}]");
        let bytes = text.as_bytes();
        let headers = memchr::memmem::find_iter(bytes, header.as_bytes())
            .filter(|&at| {
                let line_start =
                    memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |newline| newline + 1);
                let line_end =
                    memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |newline| at + newline);
                text[line_start..line_end].trim() == header
            })
            .count();
        if headers != 1 {
            return None;
        }
        lock::tool_from_fragment(fragment, name, origin)
    }
}

/// Writes the index of `lock` (parsed from `text`) under `root`, unless one is there. Best
/// effort: a read-only or full cache only loses the shortcut.
pub fn write(root: &Dir, lock: &Lock, text: &str) {
    let Some(body) = lines(lock, text) else {
        return;
    };
    let Ok(dir) = root.create_dir(INDEX, mode::SHARED_DIR) else {
        return;
    };
    let file_name = name(text);
    if !matches!(dir.kind(&file_name), Ok(None)) {
        return;
    }
    let partial = super::staging_name(&file_name);
    let Ok(mut file) = dir.create_file(&partial, mode::SHARED_FILE) else {
        return;
    };
    // No fsync: a torn index after a crash is only a hint that fails its checks.
    let written = file.write_all(body.as_bytes()).is_ok();
    drop(file);
    if !written || dir.rename(&partial, &dir, &file_name).is_err() {
        let _ = dir.remove_tree(&partial);
    }
}

/// The index lines of `lock`, or `None` when some tool's table cannot be read alone.
fn lines(lock: &Lock, text: &str) -> Option<String> {
    let mut body = String::new();
    for tool in &lock.tools {
        let (start, end) = lock::tool_span(text, &tool.name)?;
        let alone = lock::tool_from_fragment(&text[start..end], &tool.name, &lock.origin)?;
        if alone != *tool {
            return None;
        }
        body.push_str(&format!("{} {start} {end}\n", tool.name));
    }
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "schema = 1\n\n[tools.a]\nversion = \"1\"\n\n[tools.a.platforms.linux-amd64]\nurl = \"https://e/a\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\narchive = \"raw\"\n\n[tools.b]\nversion = \"2\"\n\n[tools.b.platforms.linux-amd64]\nurl = \"https://e/b\"\nsha256 = \"1111111111111111111111111111111111111111111111111111111111111111\"\narchive = \"raw\"\n";

    #[test]
    fn spans_give_the_tools_of_the_whole_file() {
        let lock = Lock::parse(TEXT, Origin::Embedded).unwrap();
        let body = lines(&lock, TEXT).expect("indexable");
        let index = Index { body };
        for tool in &lock.tools {
            assert_eq!(
                index.tool(TEXT, &tool.name, &lock.origin).as_ref(),
                Some(tool)
            );
        }
        assert!(index.tool(TEXT, "c", &lock.origin).is_none());
    }

    #[test]
    fn the_built_in_lock_is_indexed() {
        let lock = Lock::parse(lock::EMBEDDED, Origin::Embedded).unwrap();
        let body = lines(&lock, lock::EMBEDDED).expect("indexable");
        assert_eq!(body.lines().count(), lock.tools.len());
    }

    #[test]
    fn a_lying_index_gives_nothing() {
        let origin = Origin::Embedded;
        let b_start = TEXT.find("[tools.b]").unwrap();
        for body in [
            // a's name over b's span, a span cut short, a span off a line start, garbage.
            format!("a {b_start} {}\n", TEXT.len()),
            format!("a 12 {}\n", b_start - 20),
            format!("a 13 {b_start}\n"),
            "a x y\n".to_string(),
            format!("a 0 {}\n", TEXT.len()),
            format!("a 12 {}\n", TEXT.len() + 5),
        ] {
            let index = Index { body: body.clone() };
            assert!(index.tool(TEXT, "a", &origin).is_none(), "{body}");
        }
    }

    #[test]
    fn a_look_alike_table_in_a_string_makes_the_index_useless_for_that_tool() {
        // The only strings that may hold newlines are the URLs; a second `[tools.a]` line there
        // stops the index from choosing between the two.
        let text = TEXT.replace(
            "url = \"https://e/b\"",
            "url = \"\"\"https://e/b\n[tools.a]\nversion = \"9\"\n\"\"\"",
        );
        let lock = Lock::parse(&text, Origin::Embedded).unwrap();
        let a = &lock.tools[0];
        let (start, end) = lock::tool_span(&text, "a").unwrap();
        let index = Index {
            body: format!("a {start} {end}\n"),
        };
        assert_eq!(a.version, "1");
        assert!(index.tool(&text, "a", &lock.origin).is_none());
    }

    #[test]
    fn a_lock_whose_tables_interleave_is_not_indexed() {
        let moved = TEXT.replace(
            "[tools.a.platforms.linux-amd64]",
            "[tools.c]\nversion = \"3\"\n[tools.c.platforms.linux-amd64]\nurl = \"https://e/c\"\nsha256 = \"2222222222222222222222222222222222222222222222222222222222222222\"\narchive = \"raw\"\n[tools.a.platforms.linux-amd64]",
        );
        let lock = Lock::parse(&moved, Origin::Embedded).unwrap();
        assert!(lines(&lock, &moved).is_none());
    }
}
