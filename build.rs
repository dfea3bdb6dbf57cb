//! Compiles the proofs of the built-in lock (`toolchain.evidence/`, beside `toolchain.lock`) into
//! op, so that an install from the built-in lock checks them with nothing beside the binary.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let root =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=toolchain.evidence");
    println!("cargo:rerun-if-changed=toolchain.lock");
    let mut files = Vec::new();
    collect(&root.join("toolchain.evidence"), &mut files);
    files.sort();
    let mut table = String::from("&[\n");
    for file in &files {
        let relative = file
            .strip_prefix(&root)
            .expect("a file below the manifest directory");
        let key: Vec<&str> = relative
            .components()
            .map(|part| part.as_os_str().to_str().expect("proof paths are UTF-8"))
            .collect();
        // Relative to the manifest directory of the crate being compiled, so that an OUT_DIR
        // reused by another checkout of the same commit never names this one's files.
        table.push_str(&format!(
            "    ({0:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/\", {0:?}))),\n",
            key.join("/")
        ));
    }
    table.push_str("]\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("embedded_proofs.rs"), table).expect("cannot write embedded_proofs.rs");
}

/// Every regular file below `dir` (links are not followed: the proofs are files in the repository).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => collect(&entry.path(), files),
            Ok(kind) if kind.is_file() => files.push(entry.path()),
            _ => {}
        }
    }
}
