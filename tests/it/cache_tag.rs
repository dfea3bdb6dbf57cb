//! The cache's housekeeping: a `CACHEDIR.TAG` in its root (never written through a link, never
//! over a file that is there), `op toolchain dir`, and `prune` removing lock files nobody holds.

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::symlink;
#[cfg(unix)]
use std::time::Duration;

use crate::support::{Kind, Lock, Pin, TestEnv};
#[cfg(unix)]
use crate::support::{host_platform, wait_until};

const SIGNATURE: &str = "Signature: 8a477f597d28d172789f06886806bc55";

fn one_tool() -> (TestEnv, crate::support::Server, Pin) {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::TarGz);
    let (env, server) = TestEnv::served(&Lock::new(vec![pin.clone()]));
    (env, server, pin)
}

#[test]
fn install_tags_the_cache_once_and_keeps_a_users_file() {
    let (env, _server, _pin) = one_tool();
    env.op(&["toolchain", "install"]).success();
    let tag = env.cache().join("CACHEDIR.TAG");
    let text = fs::read_to_string(&tag).unwrap();
    assert_eq!(text.lines().next(), Some(SIGNATURE), "{text}");
    assert!(text.lines().nth(1).unwrap().starts_with('#'), "{text}");

    // A file already there, the user's, is never rewritten.
    fs::write(&tag, "mine\n").unwrap();
    env.op(&["toolchain", "install", "--force"]).success();
    assert_eq!(fs::read_to_string(&tag).unwrap(), "mine\n");
}

#[cfg(unix)]
#[test]
fn a_link_named_cachedir_tag_is_not_followed() {
    let (env, _server, _pin) = one_tool();
    fs::create_dir_all(env.cache()).unwrap();
    let target = env.home().join("elsewhere.txt");
    let tag = env.cache().join("CACHEDIR.TAG");
    symlink(&target, &tag).unwrap();
    // The tag is advice to backup tools: the install goes on, says what it left alone.
    env.op(&["toolchain", "install"])
        .success()
        .stderr_has(&tag.display().to_string())
        .stderr_has("symbolic link");
    assert!(!target.exists(), "written through the link");
    assert!(fs::symlink_metadata(&tag).unwrap().file_type().is_symlink());
}

#[test]
fn toolchain_dir_prints_the_cache_directory_op_cache_dir_names() {
    let mut env = TestEnv::new();
    env.op(&["toolchain", "dir"])
        .success()
        .stdout_is(&format!("{}\n", env.cache().display()));
    let other = env.root().join("other cache");
    env.set("OP_CACHE_DIR", other.display().to_string());
    env.op(&["toolchain", "dir"])
        .success()
        .stdout_is(&format!("{}\n", other.display()));
    assert!(!other.exists(), "printing the directory creates nothing");
}

#[cfg(unix)]
/// `locks/` names in the cache.
fn lock_files(env: &TestEnv) -> Vec<String> {
    crate::support::dir_names(&env.cache().join("locks"))
}

#[cfg(unix)]
#[test]
fn prune_removes_the_lock_files_of_entries_gone_but_not_a_held_one() {
    let (env, server, pin) = one_tool();
    env.op(&["toolchain", "install"]).success();
    let key = env.tool_dir(&pin, host_platform());
    let key = key.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(lock_files(&env), [format!("{key}.lock")]);
    // Two keys that never completed: one free, one held by another process (flock(1)).
    let locks = env.cache().join("locks");
    let free = "ghost-1.0.0-linux-amd64-0123456789ab.lock";
    let held = "ghost-2.0.0-linux-amd64-0123456789ab.lock";
    fs::write(locks.join(free), "pid 1").unwrap();
    fs::write(locks.join(held), "pid 1").unwrap();
    let mut holder = std::process::Command::new("flock")
        .arg(locks.join(held))
        .args(["sleep", "30"])
        .spawn()
        .expect("flock(1) from util-linux");
    assert!(
        wait_until(Duration::from_secs(10), || {
            // The lock is taken once a non-blocking flock(1) of our own fails.
            !std::process::Command::new("flock")
                .args(["-n"])
                .arg(locks.join(held))
                .arg("true")
                .status()
                .unwrap()
                .success()
        }),
        "flock(1) did not take the lock"
    );

    // Prune with a lock that does not pin the installed tool: its entry and lock file go.
    let other = Lock::new(vec![Pin::fixture("fixture-other", "2.0.0", Kind::Raw)]);
    server.publish(&other);
    let other = env.write_file("other.lock", &other.text());
    env.op(&[
        "--lock",
        other.to_str().unwrap(),
        "toolchain",
        "prune",
        "--unused-for",
        "0",
    ])
    .success()
    .stderr_has("removed 2 unused lock files");
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(!env.tool_dir(&pin, host_platform()).exists());
    assert_eq!(
        lock_files(&env),
        [held.to_string()],
        "only the held one stays"
    );

    // The next install takes a fresh lock file and works.
    env.op(&["toolchain", "install"]).success();
    assert!(lock_files(&env).contains(&format!("{key}.lock")));
}

#[cfg(unix)]
#[test]
fn prune_dry_run_and_a_live_entry_keep_their_lock_files() {
    let (env, _server, pin) = one_tool();
    env.op(&["toolchain", "install"]).success();
    let locks = env.cache().join("locks");
    let stale = "ghost-1.0.0-linux-amd64-0123456789ab.lock";
    fs::write(locks.join(stale), "").unwrap();
    // A name op would not have made, and a link, are not op's lock files.
    fs::write(locks.join("notes.lock"), "mine").unwrap();
    symlink(
        env.home().join("target"),
        locks.join("ghost-3.0.0-linux-amd64-0123456789ab.lock"),
    )
    .unwrap();
    env.op(&["toolchain", "prune", "--dry-run", "--unused-for", "0"])
        .success();
    assert!(locks.join(stale).exists(), "a dry run removes nothing");
    env.op(&["toolchain", "prune", "--unused-for", "0"])
        .success();
    let mut left = lock_files(&env);
    left.sort();
    let dir = env.tool_dir(&pin, host_platform());
    let own = format!("{}.lock", dir.file_name().unwrap().to_str().unwrap());
    let mut expected = vec![
        "ghost-3.0.0-linux-amd64-0123456789ab.lock".to_string(),
        "notes.lock".to_string(),
        own,
    ];
    expected.sort();
    assert_eq!(left, expected, "the pinned entry keeps its lock file");
}
