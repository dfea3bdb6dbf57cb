//! The cache's housekeeping: a `CACHEDIR.TAG` in its root (never written through a link, never
//! over a file that is there), `op toolchain dir`, and `prune` removing lock files nobody holds.

use std::fs;
use std::os::unix::fs::symlink;

use crate::support::{Kind, Lock, Pin, TestEnv};

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
