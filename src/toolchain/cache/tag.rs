//! `CACHEDIR.TAG` in the cache root (<https://bford.info/cachedir/>): backup tools (tar
//! `--exclude-caches`, restic, borg) and indexers skip a directory that holds one.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use super::store::{Dir, Kind, mode};

pub const NAME: &str = "CACHEDIR.TAG";

/// The file as written: the signature line the specification fixes, then a comment.
pub const CONTENTS: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by op (octopipeline).\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// Writes the tag when the root has none. Whatever already holds the name is left as it is: a
/// file (op's tag, or the user's own) is never rewritten, and a link or a directory is neither
/// followed nor removed, only reported once. The tag is advice to other programs, so nothing
/// here fails an install.
pub fn ensure(root: &Dir) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let warn = |problem: &str| {
        if !WARNED.swap(true, Ordering::Relaxed) {
            crate::output::warn(&format!(
                "{}: {problem}; left as it is, so backup tools may not skip the cache",
                root.join(NAME).display()
            ));
        }
    };
    match root.kind(NAME) {
        Ok(Some(Kind::File)) => {}
        Ok(Some(kind)) => warn(&format!("it is {}, not op's tag file", kind.describe())),
        Ok(None) => {
            // Exclusive and without following a link: one planted since the check stays.
            let Ok(mut file) = root.create_file(NAME, mode::SHARED_FILE) else {
                return;
            };
            if file.write_all(CONTENTS.as_bytes()).is_err() {
                warn("it could not be written");
            }
        }
        Err(_) => {}
    }
}
