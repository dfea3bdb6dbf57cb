//! Several `op` processes on one cache: one download per artifact, a SIGKILLed download that
//! the next run cleans up, and the per-artifact lock (who waits, for whom, and for how long).

use std::time::Duration;

use crate::support::archive::fixture_script;
use crate::support::{
    Artifact, Kind, Lock, Pin, Reply, Route, Server, TestEnv, host_platform, wait_until,
};
use crate::toolchain_install::{assert_installed, three_tools};

/// A raw fixture tool of about 4 KiB (a script padded with a comment), slow to drip.
pub fn padded_tool() -> (Lock, Pin) {
    let mut body = fixture_script("fixture-tool", 0);
    body.extend_from_slice(format!("# {}\n", "x".repeat(4000)).as_bytes());
    let url = "https://github.com/acme/fixture-tool/releases/download/v1.2.3/fixture-tool";
    let pin = Pin::custom(
        "fixture-tool",
        "1.2.3",
        Artifact::new(host_platform(), url, body, Kind::Raw, None),
    );
    (Lock::new(vec![pin.clone()]), pin)
}

/// Serves `lock` with `route` applied to its only artifact.
fn serve(lock: &Lock, route: Route) -> (TestEnv, Server, String) {
    let (env, server) = TestEnv::served(lock);
    let path = lock.pins[0].artifact().server_path();
    server.route(&path, route);
    (env, server, path)
}

#[test]
fn eight_concurrent_installs_download_each_artifact_once() {
    let lock = three_tools();
    let (env, server) = TestEnv::served(&lock);
    // Slow answers keep the processes overlapping.
    for artifact in lock.artifacts() {
        server.route(
            &artifact.server_path(),
            Route::new(artifact.body.clone()).delay(Duration::from_millis(400)),
        );
    }

    let children: Vec<_> = (0..8)
        .map(|_| env.spawn(&["toolchain", "install"]))
        .collect();
    let runs: Vec<_> = children
        .into_iter()
        .map(|child| child.wait(Duration::from_secs(120)))
        .collect();

    for run in &runs {
        run.success();
    }
    for artifact in lock.artifacts() {
        assert_eq!(
            server.gets(&artifact.server_path()),
            1,
            "GETs of {}: {:?}",
            artifact.url,
            server.requests()
        );
    }
    assert_installed(&env, &lock);
}

#[test]
fn a_download_killed_midway_leaves_nothing_installed_and_the_rerun_cleans_up() {
    let (lock, pin) = padded_tool();
    let body = pin.artifact().body.clone();
    let drip = Reply::Drip {
        chunk: 256,
        every: Duration::from_millis(300),
    };
    let (env, server, path) = serve(&lock, Route::new(body).script([drip]));

    let child = env.spawn(&["toolchain", "install"]);
    assert!(
        wait_until(Duration::from_secs(30), || server.bytes_sent(&path) >= 512),
        "the download never started: {:?}\n{}",
        server.requests(),
        child.stderr_so_far()
    );
    let killed = child.kill();
    assert_eq!(
        killed.code, None,
        "op ended before it was killed:\n{}",
        killed.stderr
    );
    assert_eq!(
        env.installed(),
        Vec::<String>::new(),
        "a killed install must not be in tools/"
    );
    // Precondition: the killed run left its partial work behind for the next run to clean.
    assert_ne!(
        env.staging(),
        Vec::<String>::new(),
        "nothing in staging/ after the kill"
    );

    env.op(&["toolchain", "install"]).success();

    assert_installed_padded(&env, &pin);
    assert_eq!(
        env.staging(),
        Vec::<String>::new(),
        "leftovers of the killed run"
    );
    assert_eq!(server.gets(&path), 2, "{:?}", server.requests());
}

#[test]
fn a_waiter_gives_up_after_op_lock_timeout_and_names_the_holder() {
    let (lock, pin) = padded_tool();
    // 64 bytes a second: the holder needs over a minute, far longer than this test.
    let drip = Reply::Drip {
        chunk: 64,
        every: Duration::from_secs(1),
    };
    let (mut env, server, path) = serve(&lock, Route::new(pin.artifact().body.clone()).then(drip));

    let holder = env.spawn(&["toolchain", "install"]);
    assert!(
        wait_until(Duration::from_secs(30), || server.bytes_sent(&path) > 0),
        "the holder never started downloading: {}",
        holder.stderr_so_far()
    );
    env.set("OP_LOCK_TIMEOUT", "1");

    let waiter = env.op(&["toolchain", "install"]);

    waiter
        .failure()
        .stderr_has("waiting for")
        .stderr_has(&holder.pid().to_string())
        .faster_than(Duration::from_secs(10));
    assert_eq!(
        server.gets(&path),
        1,
        "the waiter downloaded too: {:?}",
        server.requests()
    );
    assert_eq!(env.installed(), Vec::<String>::new());
    let holder = holder.kill();
    assert_eq!(
        holder.code, None,
        "the holder finished early:\n{}",
        holder.stderr
    );
}

#[test]
fn a_waiter_reuses_the_holders_download() {
    let (lock, pin) = padded_tool();
    // About four seconds for the holder, whatever the size of the fixture on this OS.
    let drip = Reply::Drip {
        chunk: (pin.artifact().body.len() / 16).max(256),
        every: Duration::from_millis(250),
    };
    let (env, server, path) = serve(&lock, Route::new(pin.artifact().body.clone()).then(drip));

    let holder = env.spawn(&["toolchain", "install"]);
    assert!(
        wait_until(Duration::from_secs(30), || server.bytes_sent(&path) > 0),
        "the holder never started downloading: {}",
        holder.stderr_so_far()
    );
    let holder_pid = holder.pid();
    let waiter = env.op(&["toolchain", "exec", "fixture-tool", "--", "after-wait"]);
    let holder = holder.wait(Duration::from_secs(60));

    holder.success();
    waiter.success().stdout_has("arg=[after-wait]");
    waiter
        .stderr_has("waiting for")
        .stderr_has(&holder_pid.to_string());
    assert_eq!(server.gets(&path), 1, "{:?}", server.requests());
    assert_installed_padded(&env, &pin);
}

fn assert_installed_padded(env: &TestEnv, pin: &Pin) {
    let bin = env.bin_path(pin, host_platform());
    assert_eq!(std::fs::read(&bin).unwrap(), pin.artifact().body);
    assert_eq!(env.staging(), Vec::<String>::new());
}

#[test]
fn tools_installed_at_once_into_a_fresh_cache_share_its_directories() {
    // One op installs every tool at once: each install creates staging/, tools/ and locks/
    // if missing, so on a fresh cache they race to create the same directories.
    let pins: Vec<Pin> = (0..8)
        .map(|index| Pin::fixture(&format!("fixture-{index}"), "1.0.0", Kind::Raw))
        .collect();
    let lock = Lock::new(pins);
    for round in 0..3 {
        let (env, _server) = TestEnv::served(&lock);
        let run = env.op(&["toolchain", "install"]);
        assert!(run.code == Some(0), "round {round}: {}", run.stderr);
        assert_installed(&env, &lock);
    }
}
