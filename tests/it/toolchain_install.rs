//! `op toolchain install` happy paths: raw, tar.gz and zip artifacts through an HTTP mirror, an
//! HTTPS mirror trusted via SSL_CERT_FILE, and a file:// mirror; the cache layout; idempotence.

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::archive::{fixture_script, marker};
use crate::support::tls::Tls;
use crate::support::{
    Kind, Lock, Pin, Route, Server, TestEnv, host_platform, other_platform, third_platform,
};

/// Three fixture tools, one per archive kind.
pub fn three_tools() -> Lock {
    Lock::new(vec![
        Pin::fixture("fixture-raw", "1.2.3", Kind::Raw),
        Pin::fixture("fixture-tgz", "2.0.1", Kind::TarGz),
        Pin::fixture("fixture-zip", "0.9.0", Kind::Zip),
    ])
}

/// Every pin of `lock` is installed for the host where the documented layout says, executable,
/// holding exactly the fixture program, with a receipt.
#[track_caller]
pub fn assert_installed(env: &TestEnv, lock: &Lock) {
    for pin in &lock.pins {
        let platform = host_platform();
        let bin = env.bin_path(pin, platform);
        let bytes = std::fs::read(&bin).unwrap_or_else(|error| {
            panic!("{} not installed at {}: {error}", pin.tool, bin.display())
        });
        assert_eq!(
            bytes,
            fixture_script(&pin.tool, 0),
            "content of {}",
            bin.display()
        );
        #[cfg(unix)]
        let mode = std::fs::metadata(&bin).unwrap().permissions().mode();
        #[cfg(unix)]
        assert_eq!(
            mode & 0o111,
            0o111,
            "{} is not executable (mode {mode:o})",
            bin.display()
        );
        let receipt = env.tool_dir(pin, platform).join("receipt.json");
        let text = std::fs::read_to_string(&receipt)
            .unwrap_or_else(|error| panic!("no receipt {}: {error}", receipt.display()));
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|error| panic!("receipt {} is not JSON: {error}", receipt.display()));
    }
    assert_eq!(
        env.staging(),
        Vec::<String>::new(),
        "staging/ after install"
    );
}

/// The other commands after an install, through whichever mirror the env uses: which, exec,
/// list --json, env, verify, and prune finding nothing to remove.
#[track_caller]
fn tour(env: &TestEnv, lock: &Lock) {
    let platform = host_platform();
    for pin in &lock.pins {
        let bin = env.bin_path(pin, platform);
        env.op(&["toolchain", "which", &pin.tool])
            .success()
            .stdout_is(&format!("{}\n", bin.display()));
        env.op(&["toolchain", "exec", &pin.tool, "--", "tour"])
            .success()
            .stdout_has(&marker(&pin.tool))
            .stdout_has("arg=[tour]");
    }
    let json = env.op(&["toolchain", "list", "--json"]).success().json();
    for row in json.as_array().expect("a JSON array") {
        assert_eq!(row["installed"], true, "{json:#}");
    }
    let exported = env.op(&["toolchain", "env"]);
    exported.success();
    let verified = env.op(&["toolchain", "verify"]);
    verified.success();
    for pin in &lock.pins {
        let bin_dir = env.tool_dir(pin, platform).join("bin");
        exported.stdout_has(bin_dir.to_str().unwrap());
        verified.stdout_has(&pin.tool);
    }
    env.op(&["toolchain", "prune", "--dry-run"])
        .success()
        .stdout_is("");
    assert_installed(env, lock);
}

#[test]
fn installs_raw_tar_gz_and_zip_through_an_http_mirror() {
    let lock = three_tools();
    let (env, server) = TestEnv::served(&lock);

    let run = env.op(&["toolchain", "install"]);
    run.success();

    assert_installed(&env, &lock);
    let mut expected_dirs: Vec<String> = lock
        .pins
        .iter()
        .map(|pin| pin.dir_name(host_platform()))
        .collect();
    expected_dirs.sort();
    assert_eq!(
        env.installed(),
        expected_dirs,
        "tools/ holds exactly one entry per tool"
    );
    for artifact in lock.artifacts() {
        assert_eq!(
            server.gets(&artifact.server_path()),
            1,
            "GETs of {}",
            artifact.url
        );
    }
    // Without a terminal: one line per downloaded tool naming it, its version and the seconds.
    let seconds = regex::Regex::new(r"\d+(\.\d+)?\s?s\b").unwrap();
    for pin in &lock.pins {
        assert!(
            run.stderr.lines().any(|line| line.contains(&pin.tool)
                && line.contains(&pin.version)
                && seconds.is_match(line)),
            "no progress line for {} {} with seconds in:\n{}",
            pin.tool,
            pin.version,
            run.stderr
        );
    }
    run.stderr_lacks("\x1b[");
    tour(&env, &lock);
    assert_eq!(
        server.request_count(),
        3,
        "the tour downloaded: {:?}",
        server.requests()
    );
}

#[test]
fn without_a_terminal_progress_is_one_plain_line_per_download() {
    let lock = three_tools();
    let (mut env, _server) = TestEnv::served(&lock);
    // Not a TTY (stderr is a pipe), and neither OP_NO_PROGRESS nor NO_COLOR is set.
    env.unset("OP_NO_PROGRESS").unset("NO_COLOR");

    let run = env.op(&["toolchain", "install"]);

    run.success().stderr_lacks("\x1b[").stderr_lacks("\r");
    for pin in &lock.pins {
        let lines = run
            .stderr
            .lines()
            .filter(|line| line.contains(&pin.tool) && line.contains(&pin.version))
            .count();
        assert!(lines >= 1, "no line for {}:\n{}", pin.tool, run.stderr);
    }
    assert_installed(&env, &lock);
}

#[test]
fn staging_left_by_a_killed_run_is_swept_even_when_its_tool_is_installed() {
    // A kill between the rename into tools/ and the clean-up leaves staging behind for an
    // artifact that is installed; the next command must not keep it forever.
    let lock = three_tools();
    let (env, server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();
    let pin = &lock.pins[0];
    let key = pin.dir_name(host_platform());
    let leftover = env
        .cache()
        .join(format!("staging/{key}.999999.0123456789abcdef"));
    std::fs::create_dir_all(leftover.join("entry/bin")).unwrap();
    std::fs::write(leftover.join("download"), b"partial").unwrap();
    let requests = server.request_count();

    env.op(&["toolchain", "exec", &pin.tool]).success();

    assert_eq!(env.staging(), Vec::<String>::new(), "leftover survived");
    assert_eq!(
        server.request_count(),
        requests,
        "the sweep downloaded something"
    );
    env.op(&["toolchain", "verify"]).success();
}

#[test]
fn a_second_install_makes_no_request() {
    let lock = three_tools();
    let (env, server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();
    let requests = server.request_count();
    assert_eq!(requests, 3, "first install: {:?}", server.requests());

    env.op(&["toolchain", "install"]).success();
    env.op(&["toolchain", "which", "fixture-zip"]).success();
    env.op(&["toolchain", "exec", "fixture-raw"]).success();
    env.op(&["toolchain", "list", "--json"]).success();

    assert_eq!(server.request_count(), requests, "{:?}", server.requests());
    assert_installed(&env, &lock);
}

#[test]
fn installs_through_an_https_mirror_trusted_via_ssl_cert_file() {
    let lock = three_tools();
    let tls = Tls::throwaway();
    let server = Server::https(&tls);
    server.publish(&lock);
    let mut env = TestEnv::new();
    let ca = env.root().join("fixture-ca.pem");
    tls.write_ca(&ca);
    env.mirror(server.url())
        .set("SSL_CERT_FILE", ca.to_str().unwrap());
    env.write_lock(&lock);

    env.op(&["toolchain", "install"]).success();

    assert_installed(&env, &lock);
    for artifact in lock.artifacts() {
        assert_eq!(
            server.gets(&artifact.server_path()),
            1,
            "GETs of {}",
            artifact.url
        );
    }
    tour(&env, &lock);
}

#[test]
fn an_https_mirror_with_an_untrusted_certificate_fails_with_exit_4() {
    let lock = Lock::new(vec![Pin::fixture("fixture-tool", "1.2.3", Kind::Raw)]);
    let tls = Tls::throwaway();
    let server = Server::https(&tls);
    server.publish(&lock);
    let mut env = TestEnv::new();
    env.mirror(server.url())
        .set("OP_HTTP_RETRIES", "0")
        .set("OP_HTTP_TIMEOUT", "5");
    env.write_lock(&lock);

    env.op(&["toolchain", "install"])
        .code(4)
        .stderr_has("fixture-tool")
        .faster_than(Duration::from_secs(30));
    env.assert_nothing_installed();
    assert_eq!(server.gets(&lock.pins[0].artifact().server_path()), 0);
}

#[test]
fn installs_from_a_file_mirror() {
    let lock = three_tools();
    let mut env = TestEnv::new();
    let url = lock.write_file_mirror(&env.root().join("mirror"));
    env.mirror(url);
    env.write_lock(&lock);

    env.op(&["toolchain", "install"]).success();

    assert_installed(&env, &lock);
    tour(&env, &lock);
}

#[test]
fn installs_only_the_named_tools() {
    let lock = three_tools();
    let (env, server) = TestEnv::served(&lock);

    env.op(&["toolchain", "install", "fixture-tgz"]).success();

    let tgz = lock.pin("fixture-tgz");
    assert_eq!(env.installed(), vec![tgz.dir_name(host_platform())]);
    assert_eq!(server.request_count(), 1, "{:?}", server.requests());
    env.op(&["toolchain", "which", "fixture-raw"]).code(1);
}

#[test]
fn the_platform_flag_installs_another_platforms_artifact() {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::TarGz)
        .and_platform(other_platform(), Kind::TarGz)
        .and_platform(third_platform(), Kind::Zip);
    let lock = Lock::new(vec![pin.clone()]);
    let (env, server) = TestEnv::served(&lock);

    env.op(&["toolchain", "install", "--platform", other_platform()])
        .success();

    assert_eq!(env.installed(), vec![pin.dir_name(other_platform())]);
    let bin = env.bin_path(&pin, other_platform());
    assert_eq!(
        std::fs::read(&bin).unwrap(),
        fixture_script("fixture-tool", 0)
    );
    assert_eq!(
        server.gets(&pin.artifact_for(other_platform()).server_path()),
        1
    );
    assert_eq!(server.gets(&pin.artifact().server_path()), 0);

    env.op(&["toolchain", "install", "--platform", third_platform()])
        .success();
    assert!(env.bin_path(&pin, third_platform()).is_file());
}

#[test]
fn a_raw_windows_artifact_is_installed_with_an_exe_suffix() {
    let pin = Pin::fixture_for("fixture-tool", "1.2.3", Kind::Raw, "windows-amd64");
    let lock = Lock::new(vec![pin.clone()]);
    let (mut env, _server) = TestEnv::served(&lock);
    env.set("OP_TOOLCHAIN_PLATFORM", "windows-amd64");

    env.op(&["toolchain", "install"]).success();

    let exe = env
        .tool_dir(&pin, "windows-amd64")
        .join("bin")
        .join("fixture-tool.exe");
    assert_eq!(
        std::fs::read(&exe).unwrap(),
        fixture_script("fixture-tool", 0)
    );
    env.op(&["toolchain", "which", "fixture-tool"])
        .success()
        .stdout_is(&format!("{}\n", exe.display()));
}

#[test]
fn bytes_are_hashed_as_served_even_with_a_content_encoding_header() {
    // Some release hosts label .tar.gz files `Content-Encoding: gzip`; decoding them would
    // change the bytes and break the digest.
    let lock = Lock::new(vec![Pin::fixture("fixture-tool", "1.2.3", Kind::TarGz)]);
    let (env, server) = TestEnv::served(&lock);
    let artifact = lock.pins[0].artifact();
    server.route(
        &artifact.server_path(),
        Route::new(artifact.body.clone()).header("Content-Encoding", "gzip"),
    );

    env.op(&["toolchain", "install"]).success();

    assert_installed(&env, &lock);
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        requests[0].header("accept-encoding"),
        Some("identity"),
        "{requests:?}"
    );
}

#[test]
fn a_lock_url_query_string_is_kept_on_the_mirror() {
    let mut pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    pin.artifact_mut().url.push_str("?raw=true");
    let lock = Lock::new(vec![pin.clone()]);
    let (env, server) = TestEnv::served(&lock);

    env.op(&["toolchain", "install"]).success();

    assert_eq!(
        server.gets(&pin.artifact().server_path()),
        1,
        "{:?}",
        server.requests()
    );
}
