//! An entry's life in a cache others share: the key covers what was unpacked, `install --force`
//! never loses the good copy, `verify` trusts only the lock, and removal or replacement never
//! makes a concurrent `exec` fail.

use std::fs;
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

use crate::support::archive::{Entry, fixture_script, marker, tar_gz};
use crate::support::server::dead_url;
use crate::support::{Artifact, Kind, Lock, Pin, Route, TestEnv, host_platform, repeat_op};

/// One tar.gz holding two programs, `a/tool` and `b/tool`, and a pin taking `bin` from it.
fn shared_archive_pin(bin: &str) -> Pin {
    let body = tar_gz(&[
        Entry::file("a/tool", &fixture_script("tool-a", 0)),
        Entry::file("b/tool", &fixture_script("tool-b", 0)),
    ]);
    let url = "https://github.com/acme/tool/releases/download/v1.0.0/tool.tar.gz";
    Pin::custom(
        "tool",
        "1.0.0",
        Artifact::new(host_platform(), url, body, Kind::TarGz, Some(bin)),
    )
}

#[test]
fn two_locks_unpacking_one_artifact_differently_each_run_their_own_program() {
    let lock_a = Lock::new(vec![shared_archive_pin("a/tool")]);
    let lock_b = Lock::new(vec![shared_archive_pin("b/tool")]);
    let (env, _server) = TestEnv::served(&lock_a);
    let b = env.write_file("b.lock", &lock_b.text());
    let b = b.to_str().unwrap();

    env.op(&["toolchain", "exec", "tool"])
        .success()
        .stdout_has(&marker("tool-a"));
    env.op(&["--lock", b, "toolchain", "exec", "tool"])
        .success()
        .stdout_has(&marker("tool-b"))
        .stderr_lacks("tool-a");
    env.op(&["toolchain", "exec", "tool"])
        .success()
        .stdout_has(&marker("tool-a"));
    assert_eq!(env.installed().len(), 2, "{:?}", env.installed());
    env.op(&["toolchain", "verify"]).success();
    env.op(&["--lock", b, "toolchain", "verify"]).success();
}

fn tgz_tool() -> (Lock, Pin) {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::TarGz);
    (Lock::new(vec![pin.clone()]), pin)
}

#[test]
fn install_force_keeps_the_good_copy_when_no_new_one_can_be_had() {
    let (lock, pin) = tgz_tool();
    let (mut env, server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();
    let runs = |env: &TestEnv| {
        env.op(&["toolchain", "exec", "fixture-tool"])
            .success()
            .stdout_has(&marker("fixture-tool"));
        env.op(&["toolchain", "verify"]).success();
        assert_eq!(env.staging(), Vec::<String>::new(), "staging/ after a run");
    };

    // Offline.
    env.set("OP_OFFLINE", "1");
    env.op(&["toolchain", "install", "--force"]).code(6);
    runs(&env);
    env.unset("OP_OFFLINE");

    // A dead mirror.
    let good = server.url();
    env.mirror(dead_url()).set("OP_HTTP_RETRIES", "0");
    env.op(&["toolchain", "install", "--force"]).code(4);
    runs(&env);

    // A mirror that serves other bytes.
    env.mirror(&good);
    let path = pin.artifact().server_path();
    server.route(&path, Route::new(b"tampered".to_vec()));
    env.op(&["toolchain", "install", "--force"]).code(3);
    runs(&env);

    // A hostile archive with the right digest cannot exist, but an unpack failure must not
    // lose the copy either: a lock pinning tampered bytes as another version shows it.
    server.route(&path, Route::new(pin.artifact().body.clone()));
    let requests = server.gets(&path);
    env.op(&["toolchain", "install", "--force"]).success();
    assert_eq!(server.gets(&path), requests + 1, "--force did not download");
    runs(&env);
}

/// Overwrites `path` (a read-only file of op's) with `bytes`.
fn overwrite(path: &std::path::Path, bytes: &[u8]) {
    #[cfg(unix)]
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    #[cfg(windows)]
    {
        let mut permissions = fs::metadata(path).unwrap().permissions();
        #[expect(
            clippy::permissions_set_readonly_false,
            reason = "Windows only: clears the read-only attribute"
        )]
        permissions.set_readonly(false);
        fs::set_permissions(path, permissions).unwrap();
    }
    fs::write(path, bytes).unwrap();
}

#[test]
fn verify_fails_a_swapped_binary_however_the_receipt_was_edited() {
    let (lock, pin) = tgz_tool();
    let (env, _server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();
    let entry = env.tool_dir(&pin, host_platform());
    let exe = env.bin_path(&pin, host_platform());
    let evil = b"#!/bin/sh\necho swapped\n";

    // The binary swapped, and the receipt edited to describe the new binary.
    overwrite(&exe, evil);
    let receipt_path = entry.join("receipt.json");
    let mut receipt: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&receipt_path).unwrap()).unwrap();
    receipt["bin_sha256"] = crate::support::sha256_hex(evil).into();
    receipt["bin_size"] = evil.len().into();
    fs::write(&receipt_path, receipt.to_string()).unwrap();
    env.op(&["toolchain", "verify"])
        .code(3)
        .stdout_has("BAD")
        .stderr_has(&exe.display().to_string())
        .stderr_has("was modified");

    // The kept archive swapped too, for one that holds the swapped binary.
    let bin = pin.artifact().bin.clone().unwrap();
    overwrite(&entry.join("artifact"), &tar_gz(&[Entry::file(&bin, evil)]));
    env.op(&["toolchain", "verify"])
        .code(3)
        .stderr_has("kept archive was modified")
        .stderr_has(&pin.artifact().sha256);

    // The archive removed: verify cannot vouch for the binary.
    fs::remove_file(entry.join("artifact")).unwrap();
    env.op(&["toolchain", "verify"])
        .code(3)
        .stderr_has("archive it was unpacked from is missing");

    env.op(&["toolchain", "install", "--force"]).success();
    env.op(&["toolchain", "verify"]).success();
    env.op(&["toolchain", "exec", "fixture-tool"])
        .success()
        .stdout_has(&marker("fixture-tool"));
}

#[test]
fn an_entry_a_killed_prune_moved_aside_is_swept_and_never_reported() {
    // A prune killed after moving an entry out of tools/ leaves it in staging/, where the
    // next command sweeps it; tools/ only ever holds complete entries.
    let (lock, pin) = tgz_tool();
    let other = Pin::fixture("fixture-other", "2.0.0", Kind::Raw);
    let other_lock = Lock::new(vec![other]);
    let (env, server) = TestEnv::served(&lock);
    server.publish(&other_lock);
    env.op(&["toolchain", "install"]).success();
    let key = pin.dir_name(host_platform());
    let aside = env
        .cache()
        .join(format!("staging/{key}.4242.0123456789abcdef"));
    fs::rename(env.tool_dir(&pin, host_platform()), &aside).unwrap();
    fs::remove_file(aside.join("receipt.json")).unwrap();

    let other_file = env.write_file("other.lock", &other_lock.text());
    env.op(&[
        "--lock",
        other_file.to_str().unwrap(),
        "toolchain",
        "install",
    ])
    .success();
    let verified = env.op(&[
        "--lock",
        other_file.to_str().unwrap(),
        "toolchain",
        "verify",
    ]);
    verified.success();
    assert!(!verified.stdout.contains("BAD"), "{}", verified.stdout);
    assert_eq!(env.staging(), Vec::<String>::new());
    env.op(&["toolchain", "exec", "fixture-tool"]).success();
}

#[test]
fn exec_never_fails_while_another_op_reinstalls_or_another_lock_prunes() {
    let (lock, _pin) = tgz_tool();
    let (env, server) = TestEnv::served(&lock);
    // Another repository's lock on the same cache, which pins none of this lock's tools.
    let other_lock = Lock::new(vec![Pin::fixture("fixture-other", "2.0.0", Kind::Raw)]);
    server.publish(&other_lock);
    let other = env.write_file("other.lock", &other_lock.text());
    let other = other.to_str().unwrap();
    env.op(&["toolchain", "install"]).success();
    env.op(&["--lock", other, "toolchain", "install"]).success();

    let reinstall = repeat_op(&env, &["toolchain", "install", "--force"], 40);
    let prune = repeat_op(&env, &["--lock", other, "toolchain", "prune"], 40);
    let exec = repeat_op(&env, &["toolchain", "exec", "fixture-tool"], 120);

    let mut failures = exec.join().unwrap();
    failures.extend(reinstall.join().unwrap());
    failures.extend(prune.join().unwrap());
    assert_eq!(failures, Vec::<String>::new());
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "120 execs beside 40 reinstalls and 40 prunes: 0 failures"
    );
    env.op(&["toolchain", "verify"]).success();
}

#[test]
fn an_entry_of_the_earlier_layout_is_reinstalled_under_its_new_key_then_pruned() {
    let (lock, pin) = tgz_tool();
    let (env, server) = TestEnv::served(&lock);
    let artifact = pin.artifact();
    let legacy_name = format!(
        "{}-{}-{}-{}",
        pin.tool,
        pin.version,
        host_platform(),
        &artifact.sha256[..12]
    );
    let legacy = env.cache().join("tools").join(&legacy_name);
    fs::create_dir_all(legacy.join("bin")).unwrap();
    let script = fixture_script("fixture-tool", 0);
    let exe = crate::support::exe("fixture-tool");
    fs::write(legacy.join("bin").join(&exe), &script).unwrap();
    let receipt = serde_json::json!({
        "tool": pin.tool, "version": pin.version, "platform": host_platform(),
        "url": artifact.url, "source": artifact.url, "sha256": artifact.sha256,
        "size": artifact.body.len(), "bin": format!("bin/{exe}"),
        "bin_sha256": crate::support::sha256_hex(&script), "bin_size": script.len(),
        "installed_at": 1,
    });
    fs::write(legacy.join("receipt.json"), receipt.to_string()).unwrap();

    env.op(&["toolchain", "exec", "fixture-tool"])
        .success()
        .stdout_has(&marker("fixture-tool"));
    assert_eq!(server.gets(&artifact.server_path()), 1);
    assert!(env.tool_dir(&pin, host_platform()).is_dir());
    crate::support::age(&legacy, std::time::Duration::from_secs(2 * 86_400));
    env.op(&["toolchain", "prune"])
        .success()
        .stdout_is(&format!("{}\n", legacy.display()));
    assert!(!legacy.exists());
    env.op(&["toolchain", "verify"]).success();
}
