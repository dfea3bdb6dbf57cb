//! Downloads that go wrong: retried 5xx and 429 (Retry-After), unretried 404, dropped and
//! truncated bodies, a dead port, a read timeout; and offline mode (exit 6, file:// works).

use std::time::Duration;

use crate::support::archive::fixture_script;
use crate::support::server::dead_url;
use crate::support::{Artifact, Kind, Lock, Pin, Reply, Route, TestEnv, host_platform};
use crate::toolchain_install::assert_installed;

/// One raw fixture tool with a body large enough to cut in the middle.
fn one_tool() -> (Lock, Pin) {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    (Lock::new(vec![pin.clone()]), pin)
}

/// `TestEnv::served`, with `route` (built on the artifact's body) replacing the plain route.
fn served_with(
    route: impl FnOnce(Route) -> Route,
) -> (TestEnv, crate::support::Server, Lock, String) {
    let (lock, pin) = one_tool();
    let (env, server) = TestEnv::served(&lock);
    let path = pin.artifact().server_path();
    server.route(&path, route(Route::new(pin.artifact().body.clone())));
    (env, server, lock, path)
}

#[test]
fn server_errors_are_retried_until_the_download_succeeds() {
    let (env, server, lock, path) =
        served_with(|route| route.script([Reply::Status(500), Reply::Status(503)]));

    env.op(&["toolchain", "install"]).success();

    assert_eq!(server.gets(&path), 3, "{:?}", server.requests());
    assert_installed(&env, &lock);
}

#[test]
fn retries_are_bounded_by_op_http_retries() {
    let (mut env, server, _lock, path) = served_with(|route| route.then(Reply::Status(500)));
    env.set("OP_HTTP_RETRIES", "2");

    env.op(&["toolchain", "install"])
        .code(4)
        .stderr_has("500")
        .faster_than(Duration::from_secs(30));

    assert_eq!(server.gets(&path), 3, "{:?}", server.requests());
    env.assert_nothing_installed();
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let (env, server, lock, path) =
        served_with(|route| route.script([Reply::TooMany { retry_after: 1 }]));

    env.op(&["toolchain", "install"]).success();

    let gets: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|request| request.target == path)
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    let waited = gets[1].at - gets[0].at;
    assert!(
        waited >= Duration::from_millis(900),
        "Retry-After: 1 not honoured: retried after {waited:?}"
    );
    assert_installed(&env, &lock);
}

#[test]
fn not_found_is_not_retried_and_names_the_url() {
    let (env, server, lock, path) = served_with(|route| route.then(Reply::Status(404)));

    env.op(&["toolchain", "install"])
        .code(4)
        .stderr_has("404")
        .stderr_has(&lock.pins[0].artifact().mirror_path());

    assert_eq!(
        server.gets(&path),
        1,
        "4xx must not be retried: {:?}",
        server.requests()
    );
    env.assert_nothing_installed();
}

#[test]
fn a_connection_dropped_mid_body_is_retried_from_scratch() {
    let (env, server, lock, path) = served_with(|route| route.script([Reply::DropAfter(40)]));

    env.op(&["toolchain", "install"]).success();

    assert_eq!(server.gets(&path), 2, "{:?}", server.requests());
    assert_installed(&env, &lock);
}

#[test]
fn a_body_shorter_than_content_length_is_retried() {
    let (env, server, lock, path) =
        served_with(|route| route.script([Reply::ShortBody { missing: 100 }]));

    env.op(&["toolchain", "install"]).success();

    assert_eq!(server.gets(&path), 2, "{:?}", server.requests());
    assert_installed(&env, &lock);
}

#[test]
fn a_connection_that_always_drops_exits_4_with_nothing_installed() {
    let (mut env, server, lock, path) = served_with(|route| route.then(Reply::DropAfter(40)));
    env.set("OP_HTTP_RETRIES", "1");

    env.op(&["toolchain", "install"])
        .code(4)
        .stderr_has(&lock.pins[0].artifact().mirror_path());

    assert_eq!(server.gets(&path), 2, "{:?}", server.requests());
    env.assert_nothing_installed();
}

#[test]
fn a_dead_server_exits_4_in_bounded_time() {
    let (lock, pin) = one_tool();
    let mut env = TestEnv::new();
    env.write_lock(&lock);
    env.mirror(dead_url())
        .set("OP_HTTP_RETRIES", "1")
        .set("OP_HTTP_TIMEOUT", "2");

    env.op(&["toolchain", "install"])
        .code(4)
        .stderr_has(&pin.artifact().mirror_path())
        .faster_than(Duration::from_secs(20));
    env.assert_nothing_installed();
}

#[test]
fn a_server_that_never_answers_times_out_with_exit_4() {
    let (mut env, server, _lock, path) = served_with(|route| route.delay(Duration::from_secs(20)));
    env.set("OP_HTTP_RETRIES", "0").set("OP_HTTP_TIMEOUT", "1");

    env.op(&["toolchain", "install"])
        .code(4)
        .faster_than(Duration::from_secs(8));

    assert_eq!(server.gets(&path), 1, "{:?}", server.requests());
    env.assert_nothing_installed();
}

#[test]
fn a_server_that_drips_under_the_speed_floor_is_abandoned_with_exit_4() {
    // One byte every 100 ms never trips the 1 s read timeout; the speed floor catches it.
    let drip = Reply::Drip {
        chunk: 1,
        every: Duration::from_millis(100),
    };
    let (mut env, server, _lock, path) = served_with(|route| route.then(drip));
    env.set("OP_HTTP_RETRIES", "1")
        .set("OP_HTTP_TIMEOUT", "1")
        .set("OP_HTTP_MIN_SPEED", "1000");

    env.op(&["toolchain", "install"])
        .code(4)
        .stderr_has("too slow")
        .stderr_has("OP_HTTP_MIN_SPEED")
        .faster_than(Duration::from_secs(4));

    assert_eq!(server.gets(&path), 2, "{:?}", server.requests());
    env.assert_nothing_installed();
}

#[test]
fn a_redirect_loop_fails_at_once_with_exit_4_and_is_not_retried() {
    let (mut env, server, _lock, path) = served_with(|route| {
        let path = route_path();
        route.then(Reply::Status(302)).header("Location", &path)
    });
    env.set("OP_HTTP_RETRIES", "3");

    env.op(&["toolchain", "install"])
        .code(4)
        .stderr_has("redirects in a loop");

    // reqwest follows 10 redirects; one attempt is 11 GETs and there is no second attempt.
    assert_eq!(server.gets(&path), 11, "{:?}", server.requests());
    env.assert_nothing_installed();
}

/// The request target of [`one_tool`]'s artifact.
fn route_path() -> String {
    one_tool().1.artifact().server_path()
}

#[test]
fn a_slow_download_above_the_speed_floor_completes() {
    // About 50 pieces (the fixture is a script of some 400 bytes on Unix, a program of some
    // 800 KiB on Windows), 8 bytes at the least: over 40 bytes/s, but slow.
    let size = one_tool().1.artifact().body.len();
    let drip = Reply::Drip {
        chunk: (size / 50).max(8),
        every: Duration::from_millis(100),
    };
    let (mut env, server, _lock, path) = served_with(|route| route.script([drip]));
    env.set("OP_HTTP_TIMEOUT", "1")
        .set("OP_HTTP_MIN_SPEED", "40");

    env.op(&["toolchain", "install"]).success();
    assert_eq!(server.gets(&path), 1, "{:?}", server.requests());
}

#[test]
fn offline_with_an_empty_cache_exits_6_and_says_what_to_fetch() {
    let (lock, pin) = one_tool();
    let (mut env, server) = TestEnv::served(&lock);
    env.set("OP_OFFLINE", "1");
    let artifact = pin.artifact();

    for mirror in [Some(server.url()), None] {
        match mirror {
            Some(url) => env.mirror(url),
            None => env.unset("OP_TOOLCHAIN_MIRROR"),
        };
        env.op(&["toolchain", "install"])
            .code(6)
            .stderr_has("fixture-tool")
            .stderr_has(&artifact.url)
            .stderr_has(&artifact.mirror_path());
        env.op(&["toolchain", "exec", "fixture-tool"]).code(6);
    }
    assert_eq!(
        server.request_count(),
        0,
        "offline made requests: {:?}",
        server.requests()
    );
    env.assert_nothing_installed();
}

#[test]
fn offline_installs_from_a_file_mirror() {
    let (lock, _pin) = one_tool();
    let mut env = TestEnv::new();
    let url = lock.write_file_mirror(&env.root().join("mirror"));
    env.mirror(url).set("OP_OFFLINE", "1");
    env.write_lock(&lock);

    env.op(&["toolchain", "install"]).success();
    assert_installed(&env, &lock);
}

#[test]
fn offline_runs_what_the_cache_already_holds() {
    let (lock, _pin) = one_tool();
    let (mut env, server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();
    let requests = server.request_count();
    env.set("OP_OFFLINE", "1");

    env.op(&["toolchain", "exec", "fixture-tool", "--", "hello"])
        .success()
        .stdout_has("arg=[hello]");
    env.op(&["toolchain", "install"]).success();
    assert_eq!(server.request_count(), requests);
}

#[test]
fn a_large_artifact_streams_through_intact() {
    // 3 MiB of script comment: larger than any buffer a streaming implementation would hold.
    let mut body = fixture_script("fixture-big", 0);
    let filler: String = (0..3 * 1024 * 1024 / 64)
        .map(|index| format!("# filler line {index:048}\n"))
        .collect();
    body.extend_from_slice(filler.as_bytes());
    let url = "https://github.com/acme/fixture-big/releases/download/v1.0.0/fixture-big";
    let pin = Pin::custom(
        "fixture-big",
        "1.0.0",
        Artifact::new(host_platform(), url, body.clone(), Kind::Raw, None),
    );
    let lock = Lock::new(vec![pin.clone()]);
    let (env, _server) = TestEnv::served(&lock);

    env.op(&["toolchain", "exec", "fixture-big", "--", "ok"])
        .success()
        .stdout_has("arg=[ok]");
    assert_eq!(
        std::fs::read(env.bin_path(&pin, host_platform())).unwrap(),
        body
    );
}
