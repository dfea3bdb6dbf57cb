//! Every download has an overall deadline (`OP_HTTP_DEADLINE`), over all its attempts and the
//! waits between them: a server that drips just above the speed floor, or keeps asking op to
//! come back later, cannot hold op past it.

use std::time::Duration;

use crate::support::{Pin, Reply, Route, Server, TestEnv};
use crate::toolchain_concurrency::padded_tool;

/// A raw fixture tool of about 4 KiB, served by a loopback mirror with `reply` for every GET.
fn dripped(reply: Reply) -> (TestEnv, Server, Pin) {
    let (lock, pin) = padded_tool();
    let (env, server) = TestEnv::served(&lock);
    let path = pin.artifact().server_path();
    server.route(&path, Route::new(pin.artifact().body.clone()).then(reply));
    (env, server, pin)
}

fn sixty_four_bytes_a_second() -> Reply {
    Reply::Drip {
        chunk: 64,
        every: Duration::from_secs(1),
    }
}

/// `op toolchain install` ends with exit 4 within 8 s, its message naming the artifact,
/// `OP_HTTP_DEADLINE` and each of `says`, after one GET and with nothing installed.
#[track_caller]
fn stops_at_the_deadline(env: &TestEnv, server: &Server, pin: &Pin, says: &[&str]) {
    let run = env
        .spawn(&["toolchain", "install"])
        .wait(Duration::from_secs(15));
    run.code(4)
        .stderr_has(&pin.artifact().mirror_path())
        .stderr_has("OP_HTTP_DEADLINE");
    for said in says {
        run.stderr_has(said);
    }
    run.faster_than(Duration::from_secs(8));
    assert_eq!(
        server.gets(&pin.artifact().server_path()),
        1,
        "{:?}",
        server.requests()
    );
    env.assert_nothing_installed();
}

#[test]
fn a_download_dripping_above_the_speed_floor_stops_at_the_deadline_with_exit_4() {
    // 64 bytes a second against a 32 bytes/s floor: never too slow, but over a minute for 4 KiB.
    let (mut env, server, pin) = dripped(sixty_four_bytes_a_second());
    env.set("OP_HTTP_TIMEOUT", "3")
        .set("OP_HTTP_MIN_SPEED", "32")
        .set("OP_HTTP_DEADLINE", "2");

    stops_at_the_deadline(&env, &server, &pin, &["2 s"]);
}

#[test]
fn the_deadline_covers_the_waits_between_retries() {
    // Retry-After: 30 would hold op for 90 s over three retries.
    let (mut env, server, pin) = dripped(Reply::TooMany { retry_after: 30 });
    env.set("OP_HTTP_RETRIES", "3").set("OP_HTTP_DEADLINE", "2");

    stops_at_the_deadline(&env, &server, &pin, &["429"]);
}

#[test]
fn the_deadline_names_the_url_without_its_credentials() {
    let (mut env, server, _pin) = dripped(sixty_four_bytes_a_second());
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
