//! A tar.gz is unpacked while it downloads, yet only a download whose whole SHA-256 matched the
//! lock is ever installed; a download that starts over is unpacked again from the finished
//! file. A zip's central directory is read only up to a bound, so a zip listing a million
//! entries is refused (exit 3, naming its URL) instead of being held in memory.

use crate::support::archive::{self, Entry, fixture_script, marker};
use crate::support::{Artifact, Kind, Lock, Pin, Reply, Route, Run, TestEnv, host_platform};

const TOOL: &str = "fixture-stream";
#[cfg(unix)]
const BIN: &str = "fixture-stream-1.0.0/bin/fixture-stream";
/// op names a Windows executable `TOOL.exe`, and so do Windows releases.
#[cfg(windows)]
const BIN: &str = "fixture-stream-1.0.0/bin/fixture-stream.exe";

fn url(kind: Kind) -> String {
    format!(
        "https://github.com/acme/{TOOL}/releases/download/v1.0.0/{TOOL}{}",
        if kind == Kind::Zip { ".zip" } else { ".tar.gz" }
    )
}

/// A one-tool lock pinning `pinned` (its digest), served by a loopback mirror.
fn served(kind: Kind, pinned: Vec<u8>) -> (TestEnv, crate::support::Server, Artifact) {
    let artifact = Artifact::new(host_platform(), &url(kind), pinned, kind, Some(BIN));
    let pin = Pin::custom(TOOL, "1.0.0", artifact.clone());
    let (env, server) = TestEnv::served(&Lock::new(vec![pin]));
    (env, server, artifact)
}

/// A tar.gz holding the tool `program` at [`BIN`], after enough other data that it arrives in
/// many chunks.
fn release(program: &[u8]) -> Vec<u8> {
    let filler: Vec<u8> = (0..3_000_000u32).flat_map(|n| n.to_le_bytes()).collect();
    archive::tar_gz(&[
        Entry::file("fixture-stream-1.0.0/LICENSE", &filler),
        Entry::file(BIN, program),
    ])
}

#[track_caller]
fn assert_runs(env: &TestEnv, run: &Run, who: &str) {
    run.success();
    env.op(&["toolchain", "exec", TOOL, "--", "hello"])
        .success()
        .stdout_has(&marker(who))
        .stdout_has("arg=[hello]");
    env.op(&["toolchain", "verify"]).success();
}

#[test]
fn a_tar_gz_cut_off_mid_download_is_unpacked_again_from_the_retried_download() {
    let body = release(&fixture_script(TOOL, 0));
    let (env, server, artifact) = served(Kind::TarGz, body.clone());
    // The first answer stops half-way, after the unpacker has been fed part of the archive.
    server.route(
        &artifact.server_path(),
        Route::new(body.clone()).script([Reply::DropAfter(body.len() / 2)]),
    );

    let run = env.op(&["toolchain", "install"]);

    assert_eq!(server.gets(&artifact.server_path()), 2);
    assert_runs(&env, &run, TOOL);
    assert_eq!(env.staging(), Vec::<String>::new());
}

#[test]
fn a_tar_gz_unpacked_while_downloading_is_not_installed_when_its_digest_differs() {
    let pinned = release(&fixture_script(TOOL, 0));
    let (env, server, artifact) = served(Kind::TarGz, pinned);
    // A well-formed archive with another program in it: it unpacks fine, but is not what the
    // lock pins.
    server.route(
        &artifact.server_path(),
        Route::new(release(&fixture_script("EVIL", 0))),
    );

    env.op(&["toolchain", "install"])
        .code(3)
        .stderr_has("SHA-256 mismatch")
        .stderr_has("nothing was installed");

    env.assert_nothing_installed();
    let exec = env.op(&["toolchain", "exec", TOOL, "--", "hello"]);
    exec.failure();
    assert!(!exec.stdout.contains(&marker("EVIL")), "{}", exec.stdout);
}

/// A zip whose `entries` central directory records all point at one stored local header (the
/// tool, listed first); names are `name_len` bytes. Over 65,535 entries, the counts are in zip64
/// end records. `understate` makes the end record claim a 100-byte directory.
fn wide_zip(entries: usize, name_len: usize, program: &[u8], understate: bool) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(program);
    let crc = crc.sum();
    let mut out = Vec::new();
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    for value in [20u16, 0, 0, 0, 0x21] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&crc.to_le_bytes());
    for _ in 0..2 {
        out.extend_from_slice(&(program.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&(BIN.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(BIN.as_bytes());
    out.extend_from_slice(program);
    let central_offset = out.len();
    for index in 0..entries {
        let name = if index == 0 {
            BIN.to_string()
        } else {
            format!("{index:0>name_len$}")
        };
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        for value in [0x031eu16, 20, 0, 0, 0, 0x21] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&crc.to_le_bytes());
        for _ in 0..2 {
            out.extend_from_slice(&(program.len() as u32).to_le_bytes());
        }
        for value in [name.len() as u16, 0, 0, 0, 0] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&(0o100_755u32 << 16).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    let central_size = out.len() - central_offset;
    let zip64 = entries > 0xFFFF;
    if zip64 {
        let record = out.len() as u64;
        out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for value in [entries, entries, central_size, central_offset] {
            out.extend_from_slice(&(value as u64).to_le_bytes());
        }
        out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&record.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    let count = if zip64 { 0xFFFF } else { entries as u16 };
    for value in [0u16, 0, count, count] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    let claimed = if understate { 100 } else { central_size as u32 };
    out.extend_from_slice(&claimed.to_le_bytes());
    out.extend_from_slice(&(central_offset as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[test]
fn a_zip_of_a_few_entries_still_installs() {
    let (env, _server, _artifact) = served(
        Kind::Zip,
        wide_zip(300, 40, &fixture_script(TOOL, 0), false),
    );

    let run = env.op(&["toolchain", "install"]);

    assert_runs(&env, &run, TOOL);
}

#[test]
fn a_zip_listing_a_million_entries_is_refused_naming_its_url() {
    let body = wide_zip(1_000_000, 6, &fixture_script(TOOL, 0), false);
    let (env, _server, artifact) = served(Kind::Zip, body);

    env.op(&["toolchain", "install"])
        .code(3)
        .stderr_has(&artifact.url)
        .stderr_has("1000000 entries")
        .stderr_has("nothing was installed");

    env.assert_nothing_installed();
}

#[test]
fn a_zip_whose_directory_is_too_large_for_its_entry_count_is_refused() {
    // 4,000 entries (under the cap) whose 1,000-byte names make a 4 MB central directory.
    // Whether the end record says so or understates it, the directory is not read past the
    // bound.
    for understate in [false, true] {
        let body = wide_zip(4_000, 1_000, &fixture_script(TOOL, 0), understate);
        let (env, _server, artifact) = served(Kind::Zip, body);

        env.op(&["toolchain", "install"])
            .code(3)
            .stderr_has(&artifact.url)
            .stderr_has("central directory is larger than")
            .stderr_has("nothing was installed");

        env.assert_nothing_installed();
    }
}
