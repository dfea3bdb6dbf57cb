//! A cache that is hostile or careless: links where op's directories belong, another user's
//! directories, modes that let others write, receipts that are FIFOs or endless. op never
//! follows a link it did not create, never deletes what it did not create, never runs what it
//! did not verify, and says which path is wrong (exit 2).

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::support::archive::marker;
use crate::support::{Kind, Lock, Pin, Server, TestEnv, host_platform, walk};

fn one_tool() -> (Lock, Pin) {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::TarGz);
    (Lock::new(vec![pin.clone()]), pin)
}

/// An env with the fixture tool installed.
fn installed() -> (TestEnv, Server, Pin) {
    let (lock, pin) = one_tool();
    let (env, server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();
    (env, server, pin)
}

/// A user's directory with names a careless sweep would take for op's: two dots, and even a
/// staging name in op's own shape.
fn precious(env: &TestEnv, name: &str) -> PathBuf {
    let dir = env.home().join(name);
    fs::create_dir_all(dir.join("a.b.c")).unwrap();
    fs::create_dir_all(
        dir.join("fixture-tool-1.2.3-linux-amd64-0123456789ab.1.0123456789abcdef/bin"),
    )
    .unwrap();
    fs::create_dir_all(dir.join("unrelated-9.9.9-linux-amd64-0123456789ab/bin")).unwrap();
    fs::write(dir.join("notes..txt"), "my notes").unwrap();
    fs::write(dir.join("a.b.c/inside"), "kept").unwrap();
    dir
}

#[track_caller]
fn assert_intact(dir: &Path) {
    let mut found: Vec<String> = walk(dir)
        .iter()
        .map(|path| {
            let relative = path.strip_prefix(dir).unwrap().display().to_string();
            relative.replace(std::path::MAIN_SEPARATOR, "/")
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "a.b.c",
            "a.b.c/inside",
            "fixture-tool-1.2.3-linux-amd64-0123456789ab.1.0123456789abcdef",
            "fixture-tool-1.2.3-linux-amd64-0123456789ab.1.0123456789abcdef/bin",
            "notes..txt",
            "unrelated-9.9.9-linux-amd64-0123456789ab",
            "unrelated-9.9.9-linux-amd64-0123456789ab/bin",
        ],
        "files under {} were touched",
        dir.display()
    );
    assert_eq!(
        fs::read_to_string(dir.join("notes..txt")).unwrap(),
        "my notes"
    );
}

#[cfg(unix)]
#[test]
fn a_staging_dir_that_is_a_link_is_refused_and_what_it_points_to_survives() {
    let (lock, _) = one_tool();
    let (env, _server) = TestEnv::served(&lock);
    let docs = precious(&env, "docs");
    fs::create_dir_all(env.cache()).unwrap();
    symlink(&docs, env.cache().join("staging")).unwrap();

    env.op(&["toolchain", "install"])
        .code(2)
        .stderr_has(&env.cache().join("staging").display().to_string())
        .stderr_has("symbolic link");
    assert_intact(&docs);

    // With the tool installed, a staging link planted later costs nothing: the tool runs.
    fs::remove_file(env.cache().join("staging")).unwrap();
    env.op(&["toolchain", "install"]).success();
    fs::remove_dir_all(env.cache().join("staging")).unwrap();
    symlink(&docs, env.cache().join("staging")).unwrap();
    env.op(&["toolchain", "exec", "fixture-tool"])
        .success()
        .stdout_has(&marker("fixture-tool"));
    // A prune that has an entry to remove needs staging/, and refuses the link.
    env.write_lock(&Lock::new(vec![Pin::fixture(
        "fixture-other",
        "1.0.0",
        Kind::Raw,
    )]));
    env.op(&["toolchain", "prune", "--unused-for", "0"])
        .code(2)
        .stderr_has("symbolic link");
    assert_intact(&docs);
}

#[cfg(unix)]
#[test]
fn a_tools_dir_that_is_a_link_is_refused_by_every_command() {
    let (env, _server, _pin) = installed();
    let docs = precious(&env, "docs");
    fs::remove_dir_all(env.cache().join("tools")).unwrap();
    symlink(&docs, env.cache().join("tools")).unwrap();

    for args in [
        &["toolchain", "prune", "--unused-for", "0"][..],
        &["toolchain", "install"],
        &["toolchain", "exec", "fixture-tool"],
        &["toolchain", "verify"],
        &["toolchain", "list"],
    ] {
        env.op(args)
            .code(2)
            .stderr_has(&env.cache().join("tools").display().to_string())
            .stderr_has("symbolic link");
        assert_intact(&docs);
    }
}

#[cfg(unix)]
#[test]
fn a_lock_file_that_is_a_link_is_neither_followed_nor_truncated() {
    let (lock, pin) = one_tool();
    let (env, _server) = TestEnv::served(&lock);
    let victim = env.home().join("victim.txt");
    fs::write(&victim, "precious").unwrap();
    fs::create_dir_all(env.cache().join("locks")).unwrap();
    let link = env
        .cache()
        .join("locks")
        .join(format!("{}.lock", pin.dir_name(host_platform())));
    symlink(&victim, &link).unwrap();

    env.op(&["toolchain", "install"])
        .code(2)
        .stderr_has(&link.display().to_string());
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
}

#[cfg(unix)]
/// A copy of the installed entry elsewhere, its executable swapped for a same-size program
/// that leaves `ran` behind when run.
fn planted_copy(env: &TestEnv, pin: &Pin) -> (PathBuf, PathBuf) {
    let entry = env.tool_dir(pin, host_platform());
    let planted = env.home().join("planted");
    fs::create_dir_all(planted.join("bin")).unwrap();
    fs::copy(entry.join("receipt.json"), planted.join("receipt.json")).unwrap();
    let exe = pin.exe_name(host_platform());
    let genuine = fs::read(entry.join("bin").join(&exe)).unwrap();
    let ran = env.home().join("planted-ran");
    let mut evil = format!("#!/bin/sh\ntouch '{}'\n", ran.display()).into_bytes();
    assert!(evil.len() < genuine.len());
    evil.resize(genuine.len(), b'#');
    fs::write(planted.join("bin").join(&exe), evil).unwrap();
    fs::set_permissions(
        planted.join("bin").join(&exe),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    (planted, ran)
}

#[cfg(unix)]
#[test]
fn an_entry_that_is_a_link_is_never_run() {
    let (env, _server, pin) = installed();
    let (planted, ran) = planted_copy(&env, &pin);
    let entry = env.tool_dir(&pin, host_platform());
    fs::remove_dir_all(&entry).unwrap();
    symlink(&planted, &entry).unwrap();

    env.op(&["toolchain", "exec", "fixture-tool"])
        .code(2)
        .stderr_has(&entry.display().to_string())
        .stderr_has("symbolic link");
    assert!(!ran.exists(), "op ran the program behind a planted link");
    env.op(&["toolchain", "which", "fixture-tool"]).code(2);
    assert!(
        planted.join("receipt.json").is_file(),
        "op deleted the link's target"
    );
}

#[cfg(unix)]
#[test]
fn a_cache_others_can_write_is_refused_with_the_fix() {
    let (env, _server, pin) = installed();
    let entry = env.tool_dir(&pin, host_platform());
    let targets = [
        env.cache(),
        env.cache().join("tools"),
        entry.clone(),
        entry.join("bin"),
        entry.join("bin").join(pin.exe_name(host_platform())),
        entry.join("receipt.json"),
    ];
    for path in &targets {
        let before = fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        for mode in [0o777, 0o1777, 0o775, 0o757] {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
            env.op(&["toolchain", "exec", "fixture-tool"])
                .code(2)
                .stderr_has(&path.display().to_string())
                .stderr_has("writable by")
                .stderr_has("chmod go-w")
                .stderr_lacks(&marker("fixture-tool"));
        }
        fs::set_permissions(path, fs::Permissions::from_mode(before)).unwrap();
    }
    env.op(&["toolchain", "exec", "fixture-tool"])
        .success()
        .stdout_has(&marker("fixture-tool"));
}

#[cfg(unix)]
/// Whether the tests run as root (CI does): only root can give files to another user.
fn root() -> bool {
    rustix::process::geteuid().is_root()
}

#[cfg(unix)]
#[test]
fn a_cache_or_entry_of_another_user_is_refused() {
    if !root() {
        #[expect(clippy::print_stderr, reason = "a skipped test says why")]
        {
            eprintln!("skipped: giving a directory to another user needs root");
        }
        return;
    }
    let (env, _server, pin) = installed();
    let entry = env.tool_dir(&pin, host_platform());
    let nobody = 65534;
    for path in [env.cache(), env.cache().join("tools"), entry.clone()] {
        std::os::unix::fs::chown(&path, Some(nobody), Some(nobody)).unwrap();
        env.op(&["toolchain", "exec", "fixture-tool"])
            .code(2)
            .stderr_has(&path.display().to_string())
            .stderr_has("belongs to uid 65534")
            .stderr_lacks(&marker("fixture-tool"));
        std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
    }
    // A work directory in op's own shape, but another user's, is not op's to sweep.
    let foreign = env.cache().join(format!(
        "staging/{}.1.0123456789abcdef",
        pin.dir_name(host_platform())
    ));
    fs::create_dir_all(foreign.join("entry")).unwrap();
    std::os::unix::fs::chown(&foreign, Some(nobody), Some(nobody)).unwrap();
    env.op(&["toolchain", "exec", "fixture-tool"]).success();
    assert!(
        foreign.join("entry").is_dir(),
        "the sweep removed another user's directory"
    );
}

#[cfg(unix)]
#[test]
fn what_op_creates_is_writable_only_by_its_user_whatever_the_umask() {
    let (lock, _) = one_tool();
    let (env, _server) = TestEnv::served(&lock);
    let op = assert_cmd::cargo::cargo_bin!("op");
    let status = env
        .std_command(Path::new("/bin/sh"))
        .args(["-c", "umask 000 && exec \"$0\" toolchain install"])
        .arg(op)
        .status()
        .unwrap();
    assert!(status.success());
    let loose: Vec<String> = walk(&env.cache())
        .into_iter()
        .chain([env.cache()])
        .filter(|path| fs::symlink_metadata(path).unwrap().permissions().mode() & 0o022 != 0)
        .map(|path| path.display().to_string())
        .collect();
    assert_eq!(
        loose,
        Vec::<String>::new(),
        "group/other-writable under umask 000"
    );
    env.op(&["toolchain", "exec", "fixture-tool"]).success();
}

#[cfg(unix)]
#[test]
fn a_receipt_that_is_a_fifo_or_endless_fails_at_once_naming_it() {
    let (env, _server, pin) = installed();
    let receipt = env.tool_dir(&pin, host_platform()).join("receipt.json");
    fs::remove_file(&receipt).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&receipt)
        .status()
        .unwrap();
    assert!(made.success());
    env.op(&["toolchain", "exec", "fixture-tool"])
        .code(2)
        .stderr_has(&receipt.display().to_string())
        .stderr_has("not a regular file");

    fs::remove_file(&receipt).unwrap();
    symlink("/dev/zero", &receipt).unwrap();
    env.op(&["toolchain", "exec", "fixture-tool"])
        .code(2)
        .stderr_has(&receipt.display().to_string());

    // A regular receipt far larger than any op writes is refused by size, not read whole.
    fs::remove_file(&receipt).unwrap();
    fs::File::create(&receipt)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    env.op(&["toolchain", "exec", "fixture-tool"])
        .code(2)
        .stderr_has("larger than");
}

#[test]
fn a_receipt_written_for_other_lock_contents_is_not_trusted() {
    let (env, server, pin) = installed();
    let receipt = env.tool_dir(&pin, host_platform()).join("receipt.json");
    let original = fs::read_to_string(&receipt).unwrap();
    for (field, value) in [("archive", "zip"), ("archive_bin", "other/fixture-tool")] {
        let mut json: serde_json::Value = serde_json::from_str(&original).unwrap();
        json[field] = value.into();
        fs::write(&receipt, json.to_string()).unwrap();
        let requests = server.request_count();
        env.op(&["toolchain", "exec", "fixture-tool"])
            .success()
            .stdout_has(&marker("fixture-tool"));
        assert_eq!(
            server.request_count(),
            requests + 1,
            "a receipt for {field} {value:?} was trusted"
        );
    }
    env.op(&["toolchain", "verify"]).success();
}

#[test]
fn a_cache_at_home_loses_nothing() {
    let (lock, _) = one_tool();
    let (mut env, _server) = TestEnv::served(&lock);
    let home = env.home();
    let tools = precious(&env, "tools");
    let staging = precious(&env, "staging");
    env.set("OP_CACHE_DIR", home.display().to_string());
    env.op(&["toolchain", "install"]).success();
    env.op(&["toolchain", "exec", "fixture-tool"]).success();
    env.write_lock(&Lock::new(vec![Pin::fixture(
        "fixture-other",
        "1.0.0",
        Kind::Raw,
    )]));
    env.op(&["toolchain", "prune", "--unused-for", "0"])
        .success();
    assert_intact(&staging);
    assert_intact(&tools);
}
