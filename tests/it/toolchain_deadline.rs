//! Every download has an overall deadline (`OP_HTTP_DEADLINE`), over all its attempts and the
//! waits between them: a server that drips just above the speed floor, or keeps asking op to
//! come back later, cannot hold op past it.

use std::time::Duration;

use crate::support::archive::fixture_script;
use crate::support::{Artifact, Kind, Lock, Pin, Reply, Route, TestEnv, host_platform};

/// A raw fixture tool of about 4 KiB, served by a loopback mirror with `reply` for every GET.
fn dripped(reply: Reply) -> (TestEnv, crate::support::Server, Pin) {
    let mut body = fixture_script("fixture-tool", 0);
    body.extend_from_slice(format!("# {}\n", "x".repeat(4000)).as_bytes());
    let url = "https://github.com/acme/fixture-tool/releases/download/v1.2.3/fixture-tool";
    let pin = Pin::custom(
        "fixture-tool",
        "1.2.3",
        Artifact::new(host_platform(), url, body, Kind::Raw, None),
    );
    let lock = Lock::new(vec![pin.clone()]);
    let (env, server) = TestEnv::served(&lock);
    let path = pin.artifact().server_path();
    server.route(&path, Route::new(pin.artifact().body.clone()).then(reply));
    (env, server, pin)
}

#[test]
fn a_download_dripping_above_the_speed_floor_stops_at_the_deadline_with_exit_4() {
    // 64 bytes a second against a 32 bytes/s floor: never too slow, but over a minute for 4 KiB.
    let drip = Reply::Drip {
        chunk: 64,
        every: Duration::from_secs(1),
    };
    let (mut env, server, pin) = dripped(drip);
    env.set("OP_HTTP_TIMEOUT", "3")
        .set("OP_HTTP_MIN_SPEED", "32")
        .set("OP_HTTP_DEADLINE", "2");

    let run = env
        .spawn(&["toolchain", "install"])
        .wait(Duration::from_secs(15));

    run.code(4)
        .stderr_has(&pin.artifact().mirror_path())
        .stderr_has("2 s")
        .stderr_has("OP_HTTP_DEADLINE")
        .faster_than(Duration::from_secs(8));
    assert_eq!(
        server.gets(&pin.artifact().server_path()),
        1,
        "{:?}",
        server.requests()
    );
    env.assert_nothing_installed();
}

#[test]
fn the_deadline_covers_the_waits_between_retries() {
    // Retry-After: 30 would hold op for 90 s over three retries.
    let (mut env, server, pin) = dripped(Reply::TooMany { retry_after: 30 });
    env.set("OP_HTTP_RETRIES", "3").set("OP_HTTP_DEADLINE", "2");

    let run = env
        .spawn(&["toolchain", "install"])
        .wait(Duration::from_secs(15));

    run.code(4)
        .stderr_has(&pin.artifact().mirror_path())
        .stderr_has("OP_HTTP_DEADLINE")
        .stderr_has("429")
        .faster_than(Duration::from_secs(8));
    assert_eq!(
        server.gets(&pin.artifact().server_path()),
        1,
        "{:?}",
        server.requests()
    );
    env.assert_nothing_installed();
}

#[test]
fn the_deadline_names_the_url_without_its_credentials() {
    let drip = Reply::Drip {
        chunk: 64,
        every: Duration::from_secs(1),
    };
    let (mut env, server, _pin) = dripped(drip);
    let mirror = server
        .url()
        .replace("http://", "http://mirror-user:s3cr3t-t0ken@");
    env.mirror(mirror)
        .set("OP_HTTP_MIN_SPEED", "0")
        .set("OP_HTTP_DEADLINE", "1");

    env.spawn(&["toolchain", "install"])
        .wait(Duration::from_secs(15))
        .code(4)
        .stderr_has("OP_HTTP_DEADLINE")
        .stderr_has("***@127.0.0.1")
        .stderr_lacks("s3cr3t-t0ken");
}
