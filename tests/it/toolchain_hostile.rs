//! Hostile archives (correct digest, evil content): `..` and absolute entry names, a link as the
//! bin that points outside, zip-slip; and a bin entry that is missing. Each must fail, name
//! the tool, write nothing outside the cache and install nothing.

use std::path::Path;

use crate::support::archive::{self, Entry, RawZipFile, fixture_script};
use crate::support::{Artifact, Kind, Lock, Pin, Run, TestEnv, host_platform, walk};

#[cfg(unix)]
const BIN: &str = "fixture-evil-1.0.0/bin/fixture-evil";
/// op names a Windows executable `TOOL.exe`, and so do Windows releases.
#[cfg(windows)]
const BIN: &str = "fixture-evil-1.0.0/bin/fixture-evil.exe";

/// A target outside the cache that a hostile archive aims at; it must stay untouched.
const ORIGINAL: &[u8] = b"original content outside the cache\n";

/// Installs a one-tool lock whose artifact is `body` (packed as `kind`), after creating
/// `outside/target` under the test root. Returns the env and the run.
fn install_hostile(kind: Kind, body: Vec<u8>) -> (TestEnv, Run) {
    let url = format!(
        "https://github.com/acme/fixture-evil/releases/download/v1.0.0/fixture-evil{}",
        if kind == Kind::Zip { ".zip" } else { ".tar.gz" }
    );
    let pin = Pin::custom(
        "fixture-evil",
        "1.0.0",
        Artifact::new(host_platform(), &url, body, kind, Some(BIN)),
    );
    let lock = Lock::new(vec![pin]);
    let (env, _server) = TestEnv::served(&lock);
    env.write_file("outside/target", std::str::from_utf8(ORIGINAL).unwrap());
    let run = env.op(&["toolchain", "install"]);
    (env, run)
}

/// The install failed, named the tool, installed nothing, left staging empty, and wrote no
/// file whose name holds `escapee` anywhere under the test root (nor changed `outside/target`).
#[track_caller]
fn assert_refused(env: &TestEnv, run: &Run, escapee: &str) {
    run.failure().stderr_has("fixture-evil");
    env.assert_nothing_installed();
    let escaped: Vec<_> = walk(env.root())
        .into_iter()
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().contains(escapee))
        })
        .collect();
    assert!(escaped.is_empty(), "hostile entry written: {escaped:?}");
    assert_eq!(
        std::fs::read(env.root().join("outside/target")).unwrap(),
        ORIGINAL,
        "outside/target was modified"
    );
}

fn evil_bin() -> Vec<u8> {
    fixture_script("fixture-evil", 0)
}

#[test]
fn a_tar_entry_with_dot_dot_is_refused() {
    let body = archive::tar_gz(&[
        Entry::file("../op-it-escape-dotdot", b"escaped\n"),
        Entry::file("fixture-evil-1.0.0/../../op-it-escape-nested", b"escaped\n"),
        Entry::file(BIN, &evil_bin()),
    ]);
    assert_eq!(archive::tar_gz_names(&body)[0], "../op-it-escape-dotdot");
    let (env, run) = install_hostile(Kind::TarGz, body);
    assert_refused(&env, &run, "op-it-escape");
}

#[test]
fn a_tar_entry_with_an_absolute_path_is_refused() {
    let probe = tempfile::tempdir().unwrap();
    let absolute = probe.path().join("op-it-escape-absolute");
    let name = absolute.to_str().unwrap().to_string();
    let body = archive::tar_gz(&[
        Entry::file(&name, b"escaped\n"),
        Entry::file(BIN, &evil_bin()),
    ]);
    assert_eq!(archive::tar_gz_names(&body)[0], name);
    let (env, run) = install_hostile(Kind::TarGz, body);
    assert_refused(&env, &run, "op-it-escape");
    assert!(!absolute.exists(), "{} was written", absolute.display());
}

/// Names that are absolute or climb out on Windows: a drive (either slash), a UNC share, a
/// rooted backslash path, and `..` spelled with backslashes. Refused on every host, in tar.gz
/// and in zip, since an archive unpacked on Linux may be a Windows tool's (`--platform`).
#[test]
fn windows_drive_unc_and_backslash_names_are_refused_in_tar_gz_and_zip() {
    let names = [
        r"C:\op-it-escape-drive",
        "C:/op-it-escape-drive",
        r"\\server\share\op-it-escape-unc",
        r"\op-it-escape-rooted",
        r"..\op-it-escape-backslash",
        r"fixture-evil-1.0.0\..\..\op-it-escape-nested",
    ];
    for name in names {
        for kind in [Kind::TarGz, Kind::Zip] {
            let body = match kind {
                Kind::Zip => archive::raw_zip(&[
                    RawZipFile::new(name, b"escaped\n"),
                    RawZipFile::new(BIN, &evil_bin()),
                ]),
                _ => archive::tar_gz(&[
                    Entry::file(name, b"escaped\n"),
                    Entry::file(BIN, &evil_bin()),
                ]),
            };
            let (env, run) = install_hostile(kind, body);
            run.stderr_has("unsafe path");
            assert_refused(&env, &run, "op-it-escape");
        }
    }
    if cfg!(windows) {
        for written in [r"C:\op-it-escape-drive", r"\op-it-escape-rooted"] {
            assert!(!Path::new(written).exists(), "{written} was written");
        }
    }
}

#[test]
fn a_symlink_as_the_bin_pointing_outside_is_refused() {
    for target in ["/etc/passwd", "../../../outside/target"] {
        let body = archive::tar_gz(&[Entry::symlink(BIN, target)]);
        let (env, run) = install_hostile(Kind::TarGz, body);
        assert_refused(&env, &run, "op-it-escape");
        assert_no_link_installed(&env);
    }
}

#[test]
fn a_symlink_as_the_bin_pointing_inside_the_archive_is_refused() {
    let body = archive::tar_gz(&[
        Entry::file("fixture-evil-1.0.0/real", &evil_bin()),
        Entry::symlink(BIN, "../real"),
    ]);
    let (env, run) = install_hostile(Kind::TarGz, body);
    assert_refused(&env, &run, "op-it-escape");
}

#[test]
fn a_hard_link_as_the_bin_is_refused() {
    for target in ["/etc/passwd", "fixture-evil-1.0.0/real"] {
        let body = archive::tar_gz(&[
            Entry::file("fixture-evil-1.0.0/real", &evil_bin()),
            Entry::hardlink(BIN, target),
        ]);
        let (env, run) = install_hostile(Kind::TarGz, body);
        assert_refused(&env, &run, "op-it-escape");
    }
}

#[test]
fn a_device_or_fifo_as_the_bin_is_refused() {
    for entry_type in [b'3', b'6'] {
        let body = archive::tar_gz(&[Entry::special(BIN, entry_type)]);
        let (env, run) = install_hostile(Kind::TarGz, body);
        assert_refused(&env, &run, "op-it-escape");
    }
}

#[test]
fn a_zip_slip_entry_is_refused() {
    let body = archive::zip(&[
        Entry::file("../op-it-escape-zip", b"escaped\n"),
        Entry::file(BIN, &evil_bin()),
    ]);
    assert_eq!(archive::zip_names(&body)[0], "../op-it-escape-zip");
    let (env, run) = install_hostile(Kind::Zip, body);
    assert_refused(&env, &run, "op-it-escape");
}

#[test]
fn a_zip_symlink_as_the_bin_is_refused() {
    let body = archive::zip(&[Entry::symlink(BIN, "/etc/passwd")]);
    let (env, run) = install_hostile(Kind::Zip, body);
    assert_refused(&env, &run, "op-it-escape");
    assert_no_link_installed(&env);
}

#[test]
fn a_directory_as_the_bin_is_refused() {
    let body = archive::tar_gz(&[
        Entry::dir(&format!("{BIN}/")),
        Entry::file(&format!("{BIN}/x"), b"x"),
    ]);
    let (env, run) = install_hostile(Kind::TarGz, body);
    assert_refused(&env, &run, "op-it-escape");
}

#[test]
fn a_missing_bin_entry_is_an_error_naming_it() {
    for kind in [Kind::TarGz, Kind::Zip] {
        let entries = [
            Entry::dir("fixture-evil-1.0.0/"),
            Entry::file("fixture-evil-1.0.0/README.md", b"no executable here\n"),
            Entry::file("fixture-evil-1.0.0/bin/other-tool", &evil_bin()),
        ];
        let body = match kind {
            Kind::Zip => archive::zip(&entries),
            _ => archive::tar_gz(&entries),
        };
        let (env, run) = install_hostile(kind, body);
        run.failure().stderr_has(BIN);
        assert_refused(&env, &run, "op-it-escape");
    }
}

/// No symbolic link anywhere under the cache's `tools/`.
#[track_caller]
fn assert_no_link_installed(env: &TestEnv) {
    let links: Vec<_> = walk(&env.cache().join("tools"))
        .into_iter()
        .filter(|path| is_symlink(path))
        .collect();
    assert!(links.is_empty(), "links installed: {links:?}");
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink())
}
