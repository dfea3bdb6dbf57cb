//! Shared by the unpack targets: arbitrary bytes as an artifact of `kind`; extraction fails
//! cleanly or writes exactly one regular file, the destination, and nothing else anywhere.
use op_cli::toolchain::lock::ArchiveKind;
use op_cli::toolchain::unpack::extract;

pub fn check(kind: ArchiveKind, data: &[u8]) {
    let root = tempfile::tempdir().unwrap();
    let artifact = root.path().join("artifact");
    std::fs::write(&artifact, data).unwrap();
    let out = root.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let dest = out.join("tool");
    let result = extract(kind, Some("dir/tool"), &artifact, &dest);
    let mut found: Vec<std::path::PathBuf> = Vec::new();
    let mut stack = vec![root.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in std::fs::read_dir(&dir).unwrap().flatten() {
            let file_type = item.file_type().unwrap();
            if file_type.is_dir() {
                stack.push(item.path());
            } else {
                found.push(item.path());
            }
        }
    }
    found.retain(|path| path != &artifact);
    match result {
        Ok(unpacked) => {
            assert_eq!(found, vec![dest.clone()], "extra files written");
            let meta = std::fs::symlink_metadata(&dest).unwrap();
            assert!(meta.file_type().is_file(), "the bin is not a regular file");
            assert_eq!(meta.len(), unpacked.size);
        }
        Err(_) => {
            for path in &found {
                assert!(
                    path.starts_with(&out),
                    "wrote {} outside the destination",
                    path.display()
                );
            }
        }
    }
}
