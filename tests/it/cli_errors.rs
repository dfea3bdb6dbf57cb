//! Errors once, in words: one line per failed tool, one hint, a closing count; the proxy named;
//! every missing tool listed offline; and the wording of a few messages.

use crate::support::{Kind, Lock, Pin, Route, TestEnv};
use crate::toolchain_install::three_tools;

/// The lines of `stderr` that start with `prefix`.
fn lines<'a>(stderr: &'a str, prefix: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|line| line.starts_with(prefix))
        .collect()
}

#[test]
fn behind_a_broken_proxy_install_prints_one_line_per_tool_one_hint_and_a_count() {
    // No mirror: the lock's github.com URLs go through the harness's dead proxy.
    let lock = three_tools();
    let mut env = TestEnv::new();
    env.write_lock(&lock);
    env.set("OP_HTTP_RETRIES", "1");
    let run = env.op(&["toolchain", "install"]);
    run.code(4)
        .stderr_has("through the proxy http://127.0.0.1:9")
        .stderr_has("3 of 3 tools could not be installed")
        .stderr_lacks("caused by")
        .stderr_lacks("client error (Connect)");
    let errors = lines(&run.stderr, "error: ");
    assert_eq!(errors.len(), 4, "{}", run.stderr);
    for (line, pin) in errors.iter().zip(&lock.pins) {
        assert!(
            line.starts_with(&format!("error: {} ", pin.tool)),
            "order: {}",
            run.stderr
        );
    }
    assert_eq!(lines(&run.stderr, "hint: ").len(), 1, "{}", run.stderr);
    env.assert_nothing_installed();
}

#[test]
fn offline_lists_every_missing_tool() {
    let lock = three_tools();
    let mut env = TestEnv::new();
    env.write_lock(&lock);
    env.set("OP_OFFLINE", "1");
    let run = env.op(&["toolchain", "install"]);
    run.code(6).stderr_has("3 tools are not in the cache");
    for pin in &lock.pins {
        run.stderr_has(&format!("{} {}", pin.tool, pin.version))
            .stderr_has(&format!("<mirror>/{}", pin.artifact().mirror_path()));
    }
    assert_eq!(lines(&run.stderr, "hint: ").len(), 1, "{}", run.stderr);
}

#[test]
fn a_mistyped_tool_gets_a_did_you_mean() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    let run = env.op(&["toolchain", "which", "fixture-rwa"]);
    run.code(2)
        .stderr_has("has no tool `fixture-rwa` (did you mean `fixture-raw`?)")
        .stderr_has("it pins fixture-raw, fixture-tgz, fixture-zip")
        .stderr_lacks(": has no tool");
}

#[test]
fn a_digest_with_a_non_hex_character_says_which() {
    let mut pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    pin.artifact_mut().sha256 = format!("{}g{}", "a".repeat(10), "b".repeat(53));
    let env = TestEnv::new();
    let path = env.write_lock(&Lock::new(vec![pin]));
    env.op(&["toolchain", "list"])
        .code(2)
        .stderr_has(path.to_str().unwrap())
        .stderr_has("expected 64 hexadecimal characters, but character 11 is 'g'")
        .stderr_lacks("got 64");
}

#[test]
fn a_mismatch_without_a_pinned_size_says_it_is_the_size() {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    let lock = Lock::new(vec![pin.clone()]);
    let (env, server) = TestEnv::served(&lock);
    server.route(
        &pin.artifact().server_path(),
        Route::new(b"#!/bin/sh\necho tampered\n".to_vec()),
    );
    env.op(&["toolchain", "install"])
        .code(3)
        .stderr_has("(size not pinned)")
        .stderr_lacks(" (not pinned)");
    env.assert_nothing_installed();
}

#[test]
fn counts_agree_with_their_nouns() {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    let (env, _server) = TestEnv::served(&Lock::new(vec![pin]));
    env.op(&["toolchain", "install"])
        .success()
        .stderr_has("1 tool ready")
        .stderr_lacks("(s)");
    env.op(&["toolchain", "verify"])
        .success()
        .stderr_has("1 installed tool matches")
        .stderr_lacks("(s)");
}
