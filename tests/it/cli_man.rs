//! Man pages: `op man --dir DIR` writes `op.1` and a page for every subcommand a page names,
//! each with ENVIRONMENT, FILES and EXIT STATUS, rendering cleanly, the same bytes every time.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use regex::Regex;

use crate::support::{TestEnv, dir_names};

/// Every `NAME(1)` reference in `roff`, as the file name `NAME.1` (escaped hyphens undone).
fn references(roff: &str) -> BTreeSet<String> {
    let text = roff.replace("\\-", "-");
    Regex::new(r"\b(op(?:-[a-z]+)*)\(1\)")
        .unwrap()
        .captures_iter(&text)
        .map(|found| format!("{}.1", &found[1]))
        .collect()
}

/// The page rendered as text by groff, or `None` when groff is not installed; panics on any
/// warning groff prints.
fn render(page: &Path) -> Option<String> {
    let output = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .ok()?;
    let warnings = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && warnings.trim().is_empty(),
        "groff on {}: {warnings}",
        page.display()
    );
    let text = Command::new("groff")
        .args(["-man", "-Tutf8"])
        .arg(page)
        .output()
        .ok()?;
    // grotty emboldens by overstriking (`N\x08N`): keep the second of each pair.
    let plain = Regex::new(".\x08").unwrap();
    Some(
        plain
            .replace_all(&String::from_utf8_lossy(&text.stdout), "")
            .into_owned(),
    )
}

#[test]
fn every_page_op_man_names_exists_and_renders() {
    let env = TestEnv::new();
    let dir = env.root().join("man1");
    env.op(&["man", "--dir", dir.to_str().unwrap()])
        .success()
        .stderr_has("man pages in");
    let names = dir_names(&dir);
    for expected in [
        "op.1",
        "op-build.1",
        "op-toolchain.1",
        "op-toolchain-install.1",
        "op-toolchain-lock-update.1",
        "op-toolchain-mirror-verify.1",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} not in {names:?}"
        );
    }
    // `op man` (stdout) is op.1, and every page any page refers to was written.
    let main = env.op(&["man"]);
    main.success();
    assert_eq!(main.stdout, fs::read_to_string(dir.join("op.1")).unwrap());
    let mut named = references(&main.stdout);
    for name in &names {
        let roff = fs::read_to_string(dir.join(name)).unwrap();
        named.extend(references(&roff));
        for section in ["ENVIRONMENT", "FILES", "EXIT STATUS"] {
            assert!(
                roff.contains(&format!(".SH \"{section}\"")),
                "{name} lacks {section}"
            );
        }
        assert!(
            roff.starts_with(".ie") || roff.contains(".TH"),
            "{name}: no .TH"
        );
        if let Some(text) = render(&dir.join(name)) {
            for heading in ["NAME", "SYNOPSIS", "ENVIRONMENT", "EXIT STATUS"] {
                assert!(
                    text.contains(heading),
                    "{name} renders without {heading}:\n{text}"
                );
            }
        }
    }
    assert!(named.contains("op-toolchain-install.1"), "{named:?}");
    let missing: Vec<&String> = named.iter().filter(|name| !names.contains(name)).collect();
    assert!(missing.is_empty(), "named but not written: {missing:?}");
}

#[test]
fn pages_are_the_same_bytes_every_time() {
    let env = TestEnv::new();
    let first = env.root().join("a");
    let second = env.root().join("b");
    env.op(&["man", "--dir", first.to_str().unwrap()]).success();
    env.op(&["man", "--dir", second.to_str().unwrap()])
        .success();
    let names = dir_names(&first);
    assert_eq!(names, dir_names(&second));
    for name in &names {
        assert_eq!(
            fs::read(first.join(name)).unwrap(),
            fs::read(second.join(name)).unwrap(),
            "{name} differs between two runs"
        );
    }
}
