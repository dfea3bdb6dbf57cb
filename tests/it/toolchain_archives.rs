//! Archives read the way tar and unzip read them: every gzip member of a tar.gz, every central
//! directory record of a zip. Layouts where they could disagree about which bytes are the tool
//! (the bin twice across gzip members, a zip name listed twice, a local header naming another
//! file) are refused with exit 3; valid real-world layouts (split gzip members, trailing
//! padding, Go-style data descriptors, zip64 records) install and run.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::archive::{self, Entry, RawZipFile, fixture_script, marker};
use crate::support::{Artifact, Kind, Lock, Pin, Run, SYSTEM_PATH, TestEnv, host_platform};

const TOOL: &str = "fixture-layout";
#[cfg(unix)]
const BIN: &str = "fixture-layout-1.0.0/bin/fixture-layout";
/// op names a Windows executable `TOOL.exe`, and so do Windows releases.
#[cfg(windows)]
const BIN: &str = "fixture-layout-1.0.0/bin/fixture-layout.exe";

/// The program a release should carry.
fn good() -> Vec<u8> {
    fixture_script(TOOL, 0)
}

/// A different program under the same name.
fn evil() -> Vec<u8> {
    fixture_script("EVIL", 0)
}

/// Installs a one-tool lock whose artifact is `body`, packed as `kind`.
fn install(kind: Kind, body: Vec<u8>) -> (TestEnv, Run) {
    let url = format!(
        "https://github.com/acme/{TOOL}/releases/download/v1.0.0/{TOOL}{}",
        if kind == Kind::Zip { ".zip" } else { ".tar.gz" }
    );
    let pin = Pin::custom(
        TOOL,
        "1.0.0",
        Artifact::new(host_platform(), &url, body, kind, Some(BIN)),
    );
    let (env, _server) = TestEnv::served(&Lock::new(vec![pin]));
    let run = env.op(&["toolchain", "install"]);
    (env, run)
}

/// The install succeeded and `exec` runs the good program.
#[track_caller]
fn assert_runs_good(env: &TestEnv, run: &Run) {
    run.success();
    env.op(&["toolchain", "exec", TOOL, "--", "hello"])
        .success()
        .stdout_has(&marker(TOOL))
        .stdout_has("arg=[hello]");
}

/// The install was refused as an integrity failure naming the tool and `what`, and left nothing.
#[track_caller]
fn assert_refused(env: &TestEnv, run: &Run, what: &str) {
    run.code(3)
        .stderr_has(TOOL)
        .stderr_has(what)
        .stderr_has("nothing was installed");
    env.assert_nothing_installed();
}

/// A program on the system PATH the tests compare with, or `None` (and a note) without one.
#[expect(
    clippy::print_stderr,
    reason = "a skipped comparison says why in the test output"
)]
fn system_tool(name: &str) -> Option<PathBuf> {
    if cfg!(windows) {
        // Windows' own tar is bsdtar: the comparisons are with GNU tar and Info-ZIP's unzip.
        eprintln!("comparison skipped: no GNU {name} on Windows");
        return None;
    }
    let found = SYSTEM_PATH
        .split(':')
        .map(|dir| PathBuf::from(dir).join(name))
        .find(|path| path.is_file());
    if found.is_none() {
        eprintln!("comparison skipped: no {name} on {SYSTEM_PATH}");
    }
    found
}

/// Runs `tool args… file` on `bytes` written to a file; its exit status and stdout lines.
fn run_on(tool: &Path, args: &[&str], bytes: &[u8], cwd: &Path) -> (bool, Vec<String>) {
    let file = cwd.join("artifact");
    std::fs::write(&file, bytes).unwrap();
    let output = Command::new(tool)
        .args(args)
        .arg(&file)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", tool.display()));
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (output.status.success(), lines)
}

fn count(lines: &[String], name: &str) -> usize {
    lines.iter().filter(|line| *line == name).count()
}

/// The release tree of the fixture tool: a directory, a README, the bin.
fn release(bin: &[u8]) -> Vec<Entry> {
    vec![
        Entry::dir("fixture-layout-1.0.0/"),
        Entry::file("fixture-layout-1.0.0/README.md", b"fixture layout\n"),
        Entry::file(BIN, bin),
    ]
}

#[test]
fn a_tar_gz_split_across_two_gzip_members_installs_and_runs() {
    let tar = archive::tar(&release(&good()), true);
    let inside_bin = find(&tar, &good()) + 10;
    let body = archive::gzip_members(&[&tar[..inside_bin], &tar[inside_bin..]]);
    if let Some(tar_tool) = system_tool("tar") {
        let scratch = tempfile::tempdir().unwrap();
        let (ok, names) = run_on(&tar_tool, &["-tzf"], &body, scratch.path());
        assert!(ok && count(&names, BIN) == 1, "tar -tzf: {names:?}");
    }
    let (env, run) = install(Kind::TarGz, body);
    assert_runs_good(&env, &run);
}

#[test]
fn the_bin_in_two_gzip_members_is_refused() {
    // The first member ends without the tar end marker, so the second continues the archive:
    // tar lists the bin twice and extracts the later (good) copy over the earlier one.
    let first = archive::tar(&release(&evil()), false);
    let second = archive::tar(&[Entry::file(BIN, &good())], true);
    let body = archive::gzip_members(&[&first, &second]);
    if let Some(tar_tool) = system_tool("tar") {
        let scratch = tempfile::tempdir().unwrap();
        let (ok, names) = run_on(&tar_tool, &["-tzf"], &body, scratch.path());
        assert!(ok && count(&names, BIN) == 2, "tar -tzf: {names:?}");
        let (ok, _) = run_on(&tar_tool, &["-xzf"], &body, scratch.path());
        assert!(ok, "tar -xzf failed");
        assert_eq!(std::fs::read(scratch.path().join(BIN)).unwrap(), good());
    }
    let (env, run) = install(Kind::TarGz, body);
    assert_refused(&env, &run, &format!("{BIN:?} appears twice"));
}

#[test]
fn bytes_after_the_tar_end_marker_are_not_read() {
    // Zero padding (which gzip ignores) and a stray gzip member after the end of the tar: tar
    // stops at the end marker, and so does op.
    let tar = archive::tar(&release(&good()), true);
    let stray = archive::tar(&[Entry::file(BIN, &evil())], true);
    let padded = [archive::gzip(&tar), vec![0; 1024]].concat();
    let stray_member = archive::gzip_members(&[&tar, &stray]);
    for body in [padded, stray_member] {
        if let Some(tar_tool) = system_tool("tar") {
            let scratch = tempfile::tempdir().unwrap();
            let (ok, names) = run_on(&tar_tool, &["-xzf"], &body, scratch.path());
            assert!(ok, "tar -xzf: {names:?}");
            assert_eq!(std::fs::read(scratch.path().join(BIN)).unwrap(), good());
        }
        let (env, run) = install(Kind::TarGz, body);
        assert_runs_good(&env, &run);
    }
}

#[test]
fn garbage_after_the_last_gzip_member_of_an_unended_tar_is_refused() {
    // Without the end marker the tar stream runs to the end of the gzip stream, where gzip
    // finds bytes that are not a gzip member: tar -xzf fails, and op refuses the archive.
    let tar = archive::tar(&release(&good()), false);
    let body = [archive::gzip(&tar), b"not a gzip member\n".to_vec()].concat();
    if let Some(tar_tool) = system_tool("tar") {
        let scratch = tempfile::tempdir().unwrap();
        let (ok, _) = run_on(&tar_tool, &["-tzf"], &body, scratch.path());
        assert!(!ok, "tar -tzf accepted trailing garbage");
    }
    let (env, run) = install(Kind::TarGz, body);
    assert_refused(&env, &run, "archive is corrupt");
}

#[test]
fn a_zip_listing_the_bin_twice_is_refused() {
    let body = archive::raw_zip(&[
        RawZipFile::new("fixture-layout-1.0.0/README.md", b"fixture layout\n"),
        RawZipFile::new(BIN, &good()),
        RawZipFile::new(BIN, &evil()),
    ]);
    if let Some(unzip) = system_tool("unzip") {
        let scratch = tempfile::tempdir().unwrap();
        let (_, names) = run_on(&unzip, &["-Z1"], &body, scratch.path());
        assert_eq!(count(&names, BIN), 2, "unzip -Z1: {names:?}");
    }
    let (env, run) = install(Kind::Zip, body);
    assert_refused(&env, &run, &format!("{BIN:?} appears twice"));
}

#[test]
fn a_zip_listing_another_file_twice_still_installs() {
    // Only the bin is extracted; a repeated README changes nothing op writes (as with tar).
    let body = archive::raw_zip(&[
        RawZipFile::new("fixture-layout-1.0.0/README.md", b"one\n"),
        RawZipFile::new("fixture-layout-1.0.0/README.md", b"two\n"),
        RawZipFile::new(BIN, &good()),
    ]);
    let (env, run) = install(Kind::Zip, body);
    assert_runs_good(&env, &run);
}

#[test]
fn a_zip_whose_local_header_names_another_file_is_refused() {
    // unzip trusts the central directory; a reader that walks local headers (a streaming
    // unzip) would see another file: the two views must agree for the bin op extracts.
    let body = archive::raw_zip(&[
        RawZipFile::new(BIN, &evil()).local_name("fixture-layout-1.0.0/bin/decoy")
    ]);
    if let Some(unzip) = system_tool("unzip") {
        let scratch = tempfile::tempdir().unwrap();
        let (ok, lines) = run_on(&unzip, &["-t"], &body, scratch.path());
        let warned = lines.iter().any(|line| line.contains("mismatching"));
        assert!(!ok && warned, "unzip -t: {lines:?}");
    }
    let (env, run) = install(Kind::Zip, body);
    assert_refused(&env, &run, "fixture-layout-1.0.0/bin/decoy");
    run.stderr_has(BIN).stderr_has("local header");
}

#[test]
fn go_style_zips_with_data_descriptors_and_zip64_records_install() {
    // Go's archive/zip (goreleaser's Windows zips) puts CRC and sizes in a data descriptor.
    let descriptors = archive::raw_zip(&[
        RawZipFile::new("fixture-layout-1.0.0/README.md", b"fixture layout\n").with_descriptor(),
        RawZipFile::new(BIN, &good()).with_descriptor(),
    ]);
    assert_unzip_accepts(&descriptors);
    let (env, run) = install(Kind::Zip, descriptors);
    assert_runs_good(&env, &run);

    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755)
        .large_file(true);
    writer.start_file(BIN, options).unwrap();
    std::io::Write::write_all(&mut writer, &good()).unwrap();
    let zip64 = writer.finish().unwrap().into_inner();
    assert_unzip_accepts(&zip64);
    let (env, run) = install(Kind::Zip, zip64);
    assert_runs_good(&env, &run);
}

/// `unzip -t` finds no error in `zip` (when there is an unzip to ask).
#[track_caller]
fn assert_unzip_accepts(zip: &[u8]) {
    if let Some(unzip) = system_tool("unzip") {
        let scratch = tempfile::tempdir().unwrap();
        let (ok, lines) = run_on(&unzip, &["-t"], zip, scratch.path());
        assert!(ok, "unzip -t: {lines:?}");
    }
}

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("needle in haystack")
}
