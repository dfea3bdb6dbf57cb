//! Fallback sources: `OP_TOOLCHAIN_MIRROR` mirrors in order, then (when no mirror is set, or the
//! list ends with `origin`) the artifact's `mirrors` and its `url`. A source that fails or serves
//! other bytes is reported on one line and skipped; every byte is held to the one pinned digest.

use crate::support::archive::{self, Entry, fixture_script};
use crate::support::server::dead_url;
use crate::support::{Kind, Lock, Pin, Reply, Route, Server, TestEnv, sha256_hex};
use crate::toolchain_install::assert_installed;

/// A tar.gz fixture tool (so the streaming unpacker runs), the lock holding it, and a valid
/// tar.gz with the same layout whose executable differs: what a lying source serves.
fn tool() -> (Pin, Vec<u8>) {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::TarGz);
    let bin = pin.artifact().bin.clone().unwrap();
    let wrong = archive::tar_gz(&[
        Entry::dir("fixture-tool-1.2.3/"),
        Entry::dir("fixture-tool-1.2.3/bin/"),
        Entry::file(&bin, &fixture_script("fixture-tool", 7)),
    ]);
    (pin, wrong)
}

/// A server that answers the artifact's mirror path with `route`.
fn serving(pin: &Pin, route: Route) -> Server {
    let server = Server::http();
    server.route(&pin.artifact().server_path(), route);
    server
}

/// `server`'s URL of the artifact, laid out as a mirror (`<server>/github.com/...`).
fn at(server: &Server, pin: &Pin) -> String {
    format!("{}{}", server.url(), pin.artifact().server_path())
}

/// The lock text of `pin` with its `url` pointing at `origin` and `mirrors` listing `mirrors`.
fn lock_text(pin: &Pin, origin: &str, mirrors: &[String]) -> String {
    let mut pin = pin.clone();
    pin.artifact_mut().url = origin.to_string();
    let text = Lock::new(vec![pin]).text();
    let url_line = format!("url = {origin:?}\n");
    let list: Vec<String> = mirrors.iter().map(|m| format!("  {m:?},\n")).collect();
    let with = format!("{url_line}mirrors = [\n{}]\n", list.concat());
    assert!(text.contains(&url_line));
    text.replacen(&url_line, &with, 1)
}

fn env_with(text: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.write_file("work/toolchain.lock", text);
    env.set("OP_HTTP_RETRIES", "0").set("OP_HTTP_TIMEOUT", "2");
    env
}

#[test]
fn a_mirror_that_serves_wrong_bytes_is_skipped_for_the_origin() {
    let (pin, wrong) = tool();
    let liar = serving(&pin, Route::new(wrong.clone()));
    let origin = serving(&pin, Route::new(pin.artifact().body.clone()));
    let env = env_with(&lock_text(&pin, &at(&origin, &pin), &[at(&liar, &pin)]));

    env.op(&["toolchain", "install"])
        .success()
        .stderr_has(&format!(
            "warning: {}: served bytes with sha256 {}, the lock pins {}; trying the next source",
            at(&liar, &pin),
            sha256_hex(&wrong),
            pin.artifact().sha256
        ));

    assert_installed(&env, &Lock::new(vec![pin.clone()]));
    assert_eq!(env.staging(), Vec::<String>::new());
    env.op(&["toolchain", "verify"]).success();
    assert_eq!(liar.gets(&pin.artifact().server_path()), 1);
    assert_eq!(origin.gets(&pin.artifact().server_path()), 1);
    let receipt = std::fs::read_to_string(
        env.tool_dir(&pin, crate::support::host_platform())
            .join("receipt.json"),
    )
    .unwrap();
    assert!(receipt.contains(&at(&origin, &pin)), "{receipt}");
}

#[test]
fn the_lock_mirrors_are_tried_in_order_before_the_url() {
    let (pin, _) = tool();
    let broken = serving(&pin, Route::new(Vec::new()).then(Reply::Status(503)));
    let missing = Server::http();
    let good = serving(&pin, Route::new(pin.artifact().body.clone()));
    let origin = serving(&pin, Route::new(pin.artifact().body.clone()));
    let mirrors = [at(&broken, &pin), at(&missing, &pin), at(&good, &pin)];
    let env = env_with(&lock_text(&pin, &at(&origin, &pin), &mirrors));

    let run = env.op(&["toolchain", "install"]);
    run.success()
        .stderr_has(&format!(
            "{}: failed after 1 attempt: HTTP 503",
            at(&broken, &pin)
        ))
        .stderr_has(&format!("{}: answered HTTP 404", at(&missing, &pin)));
    assert_eq!(run.stderr.matches("trying the next source").count(), 2);

    assert_installed(&env, &Lock::new(vec![pin.clone()]));
    let path = pin.artifact().server_path();
    assert_eq!(
        [broken.gets(&path), missing.gets(&path), good.gets(&path)],
        [1, 1, 1]
    );
    assert_eq!(origin.gets(&path), 0, "the url is the last resort");
    let receipt: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            env.tool_dir(&pin, crate::support::host_platform())
                .join("receipt.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(receipt["source"], at(&good, &pin).as_str());
    assert_eq!(receipt["url"], at(&origin, &pin).as_str());
}

#[test]
fn a_dead_first_mirror_leaves_it_to_the_second() {
    let (pin, _) = tool();
    let lock = Lock::new(vec![pin.clone()]);
    let second = Server::http();
    second.publish(&lock);
    let mut env = TestEnv::new();
    env.write_lock(&lock);
    let dead = dead_url();
    env.mirror(format!("{dead}, {}", second.url()))
        .set("OP_HTTP_RETRIES", "0");

    env.op(&["toolchain", "install"])
        .success()
        .stderr_has(&format!(
            "warning: {dead}{}: failed after 1 attempt: cannot connect",
            pin.artifact().server_path()
        ))
        .stderr_has("trying the next source");

    assert_installed(&env, &lock);
    assert_eq!(second.gets(&pin.artifact().server_path()), 1);
}

#[test]
fn two_mirrors_separated_by_whitespace_are_both_used_in_order() {
    let (pin, wrong) = tool();
    let lock = Lock::new(vec![pin.clone()]);
    let first = serving(&pin, Route::new(wrong));
    let second = Server::http();
    second.publish(&lock);
    let mut env = TestEnv::new();
    env.write_lock(&lock);
    env.mirror(format!("{}\n  {}", first.url(), second.url()));

    env.op(&["toolchain", "install"])
        .success()
        .stderr_has(&format!("warning: {}: served bytes", at(&first, &pin)));

    assert_installed(&env, &lock);
    let path = pin.artifact().server_path();
    assert_eq!([first.gets(&path), second.gets(&path)], [1, 1]);
}

#[test]
fn op_toolchain_mirror_replaces_the_lock_urls_unless_it_ends_with_origin() {
    let (pin, wrong) = tool();
    let origin = serving(&pin, Route::new(pin.artifact().body.clone()));
    let path = pin.artifact().server_path();
    let origin_url = at(&origin, &pin);
    // A mirror holds the origin `http://127.0.0.1:P/github.com/…` at `127.0.0.1:P/github.com/…`.
    let liar = Server::http();
    let in_mirror = format!("/{}", origin_url.split_once("://").unwrap().1);
    liar.route(&in_mirror, Route::new(wrong.clone()));
    let mut env = env_with(&lock_text(&pin, &origin_url, &[]));

    // An air-gapped fleet's mirror is the only source: the origin is never contacted.
    env.mirror(liar.url());
    env.op(&["toolchain", "install"])
        .code(3)
        .stderr_has(&sha256_hex(&wrong));
    env.assert_nothing_installed();
    assert_eq!(origin.gets(&path), 0);

    env.mirror(format!("{},origin", liar.url()));
    env.op(&["toolchain", "install"])
        .success()
        .stderr_has("trying the next source");
    assert_installed(&env, &Lock::new(vec![pin.clone()]));
    assert_eq!(origin.gets(&path), 1);

    env.mirror(format!("origin {}", liar.url()));
    env.op(&["toolchain", "install", "--force"])
        .code(2)
        .stderr_has("OP_TOOLCHAIN_MIRROR")
        .stderr_has("must come last");
}

#[test]
fn every_source_serving_wrong_bytes_exits_3_listing_each_with_nothing_cached() {
    let (pin, wrong) = tool();
    let liar = serving(&pin, Route::new(wrong.clone()));
    let missing = Server::http();
    let origin = serving(&pin, Route::new(b"not even an archive".to_vec()));
    let env = env_with(&lock_text(
        &pin,
        &at(&origin, &pin),
        &[at(&liar, &pin), at(&missing, &pin)],
    ));

    env.op(&["toolchain", "install"])
        .code(3)
        .stderr_has("none of its 3 sources served the pinned bytes")
        .stderr_has(&format!(
            "  {}: served bytes with sha256 {}",
            at(&liar, &pin),
            sha256_hex(&wrong)
        ))
        .stderr_has(&format!("  {}: answered HTTP 404", at(&missing, &pin)))
        .stderr_has(&format!(
            "  {}: served bytes with sha256 {}",
            at(&origin, &pin),
            sha256_hex(b"not even an archive")
        ))
        .stderr_has("nothing was installed");

    env.assert_nothing_installed();
    env.op(&["toolchain", "which", "fixture-tool"]).code(1);
}

#[test]
fn every_source_unreachable_exits_4_listing_each() {
    let (pin, _) = tool();
    let missing = Server::http();
    let dead = format!("{}{}", dead_url(), pin.artifact().server_path());
    let env = env_with(&lock_text(&pin, &dead, &[at(&missing, &pin)]));

    env.op(&["toolchain", "install"])
        .code(4)
        .stderr_has("none of its 2 sources served the pinned bytes")
        .stderr_has(&format!("  {}: answered HTTP 404", at(&missing, &pin)))
        .stderr_has(&format!("  {dead}: failed after 1 attempt: cannot connect"));
    env.assert_nothing_installed();
}

#[test]
fn offline_a_file_mirror_in_the_lock_is_used_and_no_socket_opened() {
    let (pin, _) = tool();
    let lock = Lock::new(vec![pin.clone()]);
    let mut env = TestEnv::new();
    let mirror = lock.write_file_mirror(&env.root().join("mirror"));
    let file = format!("{mirror}/{}", pin.artifact().mirror_path());
    env.write_file(
        "work/toolchain.lock",
        &lock_text(&pin, &pin.artifact().url, &[file]),
    );
    env.set("OP_OFFLINE", "1");

    env.op(&["toolchain", "install"]).success();
    assert_installed(&env, &lock);
}

#[test]
fn lock_check_list_and_mirror_work_with_lock_mirrors_and_show_the_origin() {
    let (pin, _) = tool();
    // `lock check` wants every platform pinned; the host's entry is the one with `mirrors`.
    let others = [
        "linux-amd64",
        "linux-arm64",
        "darwin-amd64",
        "darwin-arm64",
        "windows-amd64",
    ];
    let pin = others
        .into_iter()
        .filter(|platform| *platform != crate::support::host_platform())
        .fold(pin, |pin, platform| pin.and_platform(platform, Kind::TarGz));
    let mut pin = pin;
    for artifact in pin.artifacts.iter_mut().skip(1) {
        // Distinct pins per platform (`lock check` flags one digest under several URLs).
        artifact.sha256 = sha256_hex(artifact.platform.as_bytes());
    }
    let (_, wrong) = tool();
    let liar = serving(&pin, Route::new(wrong));
    let origin = serving(&pin, Route::new(pin.artifact().body.clone()));
    let env = env_with(&lock_text(&pin, &at(&origin, &pin), &[at(&liar, &pin)]));

    env.op(&["toolchain", "lock", "check"]).success();
    for format in ["--json", "--markdown"] {
        env.op(&["toolchain", "list", format])
            .success()
            .stdout_has(&at(&origin, &pin))
            .stderr_lacks(&liar.url());
    }

    // The export tries the sources as `install` does, and lays the file out by the origin.
    let dir = env.root().join("exported");
    let dir_arg = dir.to_str().unwrap();
    env.op(&["toolchain", "mirror", dir_arg])
        .success()
        .stderr_has(&format!("warning: {}: ", at(&liar, &pin)));
    env.op(&["toolchain", "mirror", "verify", dir_arg])
        .success();
    let origin_path = at(&origin, &pin);
    let relative = origin_path.split_once("://").unwrap().1;
    assert_eq!(
        std::fs::read(dir.join(relative)).unwrap(),
        pin.artifact().body
    );
}
