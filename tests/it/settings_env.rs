//! Numeric environment variables: each has a documented range; anything outside it (huge, zero
//! where zero means nothing, negative, NaN, infinite, garbage) is exit 2 naming the variable, the
//! value and the range, never a panic. `OP_LOCK_TIMEOUT=0` means "do not wait".

use std::time::Duration;

use crate::support::{Kind, Lock, Pin, Reply, Route, TestEnv, wait_until};

/// Runs `op toolchain list` with `name=value` and expects exit 2 naming both and `range`.
#[track_caller]
fn refused(name: &str, value: &str, range: &str) {
    let mut env = TestEnv::new();
    env.set(name, value);
    let run = env.op(&["toolchain", "list"]);
    assert_ne!(
        run.code,
        Some(101),
        "{name}={value} panicked:\n{}",
        run.stderr
    );
    run.code(2)
        .stderr_has(&format!("{name}={value}"))
        .stderr_has(range)
        .stderr_lacks("panicked");
}

#[test]
fn op_http_timeout_outside_1_to_3600_seconds_is_exit_2() {
    for value in [
        "1e30", "0", "0.5", "3601", "-1", "nan", "inf", "-inf", "30s", "abc",
    ] {
        refused("OP_HTTP_TIMEOUT", value, "seconds between 1 and 3600");
    }
}

#[test]
fn op_lock_timeout_outside_0_to_86400_seconds_is_exit_2() {
    for value in [
        "1e30", "86401", "-1", "-0.5", "NaN", "infinity", "5m", "abc",
    ] {
        refused("OP_LOCK_TIMEOUT", value, "seconds between 0 and 86400");
    }
}

#[test]
fn op_http_retries_outside_0_to_20_is_exit_2() {
    for value in ["21", "4294967296", "1e30", "-1", "2.5", "abc"] {
        refused("OP_HTTP_RETRIES", value, "a whole number between 0 and 20");
    }
}

#[test]
fn op_http_min_speed_outside_its_range_is_exit_2() {
    for value in [
        "104857601",
        "99999999999999999999",
        "1e30",
        "-1",
        "1.5",
        "abc",
    ] {
        refused(
            "OP_HTTP_MIN_SPEED",
            value,
            "bytes per second between 0 (off) and 104857600",
        );
    }
}

#[test]
fn op_http_deadline_outside_1_to_86400_seconds_is_exit_2() {
    for value in ["1e30", "0", "86401", "-1", "nan", "inf", "abc"] {
        refused("OP_HTTP_DEADLINE", value, "seconds between 1 and 86400");
    }
}

#[test]
fn a_value_with_control_characters_is_shown_escaped() {
    let mut env = TestEnv::new();
    env.set("OP_HTTP_TIMEOUT", "3\n::warning::x");
    let run = env.op(&["toolchain", "list"]);
    run.code(2)
        .stderr_has(r#"OP_HTTP_TIMEOUT="3\n::warning::x""#);
    assert!(
        !run.stderr
            .lines()
            .any(|line| line.starts_with("::warning::")),
        "{}",
        run.stderr
    );
}

#[test]
fn values_at_the_edges_of_each_range_are_accepted() {
    for (name, value) in [
        ("OP_HTTP_TIMEOUT", "1"),
        ("OP_HTTP_TIMEOUT", " 3600 "),
        ("OP_HTTP_TIMEOUT", "2.5"),
        ("OP_LOCK_TIMEOUT", "0"),
        ("OP_LOCK_TIMEOUT", "86400"),
        ("OP_HTTP_RETRIES", "0"),
        ("OP_HTTP_RETRIES", "20"),
        ("OP_HTTP_MIN_SPEED", "0"),
        ("OP_HTTP_MIN_SPEED", "104857600"),
        ("OP_HTTP_DEADLINE", "1"),
        ("OP_HTTP_DEADLINE", "86400"),
        // Empty is unset: the default.
        ("OP_HTTP_TIMEOUT", ""),
    ] {
        let mut env = TestEnv::new();
        env.set(name, value);
        env.op(&["toolchain", "list"]).success();
    }
}

#[test]
fn op_lock_timeout_0_gives_up_at_once_when_another_op_installs() {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    let lock = Lock::new(vec![pin.clone()]);
    let (mut env, server) = TestEnv::served(&lock);
    let path = pin.artifact().server_path();
    // About 8 bytes a second: the holder is still downloading when the waiter runs.
    let drip = Reply::Drip {
        chunk: 8,
        every: Duration::from_secs(1),
    };
    server.route(&path, Route::new(pin.artifact().body.clone()).then(drip));
    env.set("OP_HTTP_MIN_SPEED", "0");
    let holder = env.spawn(&["toolchain", "install"]);
    assert!(
        wait_until(Duration::from_secs(30), || server.bytes_sent(&path) > 0),
        "the holder never started downloading: {}",
        holder.stderr_so_far()
    );
    env.set("OP_LOCK_TIMEOUT", "0");

    env.op(&["toolchain", "install"])
        .code(1)
        .stderr_has("OP_LOCK_TIMEOUT")
        .faster_than(Duration::from_secs(5));

    assert_eq!(server.gets(&path), 1, "{:?}", server.requests());
    drop(holder);
}
