//! End-to-end tests of `op toolchain …` against loopback mirrors: the real download, mirror,
//! hash, unpack and install code, with fixture tools built here.
#![cfg(unix)]

mod support;

use std::time::{Duration, Instant};

use support::archive;
use support::server::{Fault, Server, Tls};
use support::{LockEntry, TestEnv, fixture_tool, noise, sha256_hex};

const TAR_PATH: &str = "/github.com/acme/fixture/releases/download/v1.0.0/fixture-a.tar.gz";
const ZIP_PATH: &str = "/github.com/acme/fixture/releases/download/v1.0.0/fixture-b.zip";
const RAW_PATH: &str = "/dl.example.com/fixture-c";

/// Three fixture tools (tar.gz, zip, raw) served by `server`, pinned by a lock in `env`.
fn three_tools(env: &mut TestEnv, server: &Server) {
    let tar = archive::tar_gz(&[
        ("README", b"fixture readme"),
        ("fixture-a", &fixture_tool("a")),
    ]);
    let zip = archive::zip(&[("fixture-b", &fixture_tool("b"))]);
    let raw = fixture_tool("c");
    env.write_lock(&[
        LockEntry::new(
            "toola",
            &format!("https:/{TAR_PATH}"),
            &tar,
            "tar.gz",
            Some("fixture-a"),
        ),
        LockEntry::new(
            "toolb",
            &format!("https:/{ZIP_PATH}"),
            &zip,
            "zip",
            Some("fixture-b"),
        ),
        LockEntry::new("toolc", &format!("https:/{RAW_PATH}"), &raw, "raw", None),
    ]);
    server.route(TAR_PATH, tar, Fault::None);
    server.route(ZIP_PATH, zip, Fault::None);
    server.route(RAW_PATH, raw, Fault::None);
    env.set("OP_TOOLCHAIN_MIRROR", server.base_url());
}

#[test]
fn install_list_which_exec_env_verify_over_http_mirror() {
    let server = Server::http();
    let mut env = TestEnv::new();
    three_tools(&mut env, &server);

    env.op(&["toolchain", "install"])
        .expect_code(0)
        .stderr_has(&[
            "installed toola 1.0.0",
            "installed toolb 1.0.0",
            "installed toolc 1.0.0",
            "3 tool(s) ready",
        ]);
    assert_eq!(server.gets(TAR_PATH), 1);
    assert!(
        env.staging().is_empty(),
        "staging left behind: {:?}",
        env.staging()
    );

    // Idempotent: the second run makes no request at all.
    let before = server.requests().len();
    env.op(&["toolchain", "install"])
        .expect_code(0)
        .stderr_has(&["0 installed now, 3 already present"]);
    assert_eq!(server.requests().len(), before);

    let list = env.op(&["toolchain", "list", "--json"]);
    list.expect_code(0);
    let rows: serde_json::Value = serde_json::from_str(&list.stdout()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|row| row["installed"] == true && row["platform"] == "linux-amd64")
    );

    let which = env.op(&["toolchain", "which", "toolb"]);
    which.expect_code(0);
    let path = which.stdout().trim().to_string();
    assert!(
        path.starts_with(env.cache().to_str().unwrap()) && path.ends_with("/bin/fixture-b"),
        "{path}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), fixture_tool("b"));

    let exec = env.op(&["toolchain", "exec", "toola", "--", "--flag", "value"]);
    exec.expect_code(0);
    let out = exec.stdout();
    assert!(out.contains("fixture a args:--flag value"), "{out}");
    let child_path = out
        .lines()
        .find_map(|line| line.strip_prefix("fixture a PATH="))
        .unwrap();
    let first: Vec<&str> = child_path.split(':').take(3).collect();
    assert!(
        first
            .iter()
            .all(|dir| dir.starts_with(env.cache().to_str().unwrap())),
        "{child_path}"
    );

    let mut failing = env.command();
    failing
        .args(["toolchain", "exec", "toolc", "x"])
        .env("FIXTURE_EXIT", "7");
    assert_eq!(
        failing.output().unwrap().status.code(),
        Some(7),
        "exit code passes through"
    );

    let line = env.op(&["toolchain", "env"]);
    line.expect_code(0);
    assert!(
        line.stdout().starts_with("export PATH=\"")
            && line.stdout().trim_end().ends_with(":$PATH\"")
    );
    let github = env.path().join("github_path");
    std::fs::write(&github, "").unwrap();
    let mut gh = env.command();
    gh.args(["toolchain", "env", "--github"])
        .env("GITHUB_PATH", &github);
    let out = gh.output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&github).unwrap().lines().count(), 3);
    env.op(&["toolchain", "env", "--github"])
        .expect_code(2)
        .stderr_has(&["GITHUB_PATH"]);

    let verify = env.op(&["toolchain", "verify"]);
    verify.expect_code(0);
    assert_eq!(
        verify.stdout().matches("ok ").count(),
        3,
        "{}",
        verify.stdout()
    );
}

#[test]
fn verify_names_a_modified_tool_and_force_repairs_it() {
    let server = Server::http();
    let mut env = TestEnv::new();
    three_tools(&mut env, &server);
    env.op(&["toolchain", "install"]).expect_code(0);
    let path = env
        .op(&["toolchain", "which", "toola"])
        .stdout()
        .trim()
        .to_string();
    let mut tampered = std::fs::read(&path).unwrap();
    tampered[12] ^= 1;
    std::fs::write(&path, &tampered).unwrap();
    env.op(&["toolchain", "verify"])
        .expect_code(3)
        .stderr_has(&["toola", "install --force"]);
    env.op(&["toolchain", "install", "--force", "toola"])
        .expect_code(0);
    env.op(&["toolchain", "verify"]).expect_code(0);
}

#[test]
fn https_mirror_with_a_private_ca_from_ssl_cert_file() {
    let tls = Tls::throwaway();
    let server = Server::https(&tls);
    let mut env = TestEnv::new();
    three_tools(&mut env, &server);
    // Without the CA: a clear TLS error, not retried, exit 4.
    env.op(&["toolchain", "install", "toolc"])
        .expect_code(4)
        .stderr_has(&["SSL_CERT_FILE"]);
    assert_eq!(
        server.requests().len(),
        0,
        "no request got through the TLS handshake"
    );
    let ca = env.path().join("ca.pem");
    tls.write_ca(&ca);
    env.set("SSL_CERT_FILE", ca.to_str().unwrap());
    env.op(&["toolchain", "install"]).expect_code(0);
    env.op(&["toolchain", "exec", "toolb"]).expect_code(0);
}

#[test]
fn file_mirror_works_and_works_offline() {
    let mut env = TestEnv::new();
    let mirror = env.path().join("mirror");
    let tar = archive::tar_gz(&[("fixture-a", &fixture_tool("a"))]);
    let file = mirror.join(TAR_PATH.trim_start_matches('/'));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &tar).unwrap();
    env.write_lock(&[LockEntry::new(
        "toola",
        &format!("https:/{TAR_PATH}"),
        &tar,
        "tar.gz",
        Some("fixture-a"),
    )]);

    // Offline without a mirror: exit 6 naming the URL and where to put the file.
    env.set("OP_OFFLINE", "1");
    env.op(&["toolchain", "install"])
        .expect_code(6)
        .stderr_has(&[
            &format!("https:/{TAR_PATH}"),
            TAR_PATH.trim_start_matches('/'),
        ]);
    assert!(env.installed().is_empty());

    // A file:// mirror opens no socket, so it works offline.
    env.set(
        "OP_TOOLCHAIN_MIRROR",
        format!("file://{}", mirror.display()),
    );
    env.op(&["toolchain", "install"]).expect_code(0);
    env.op(&["toolchain", "exec", "toola", "hi"]).expect_code(0);
}

#[test]
fn wrong_digest_is_exit_3_and_installs_nothing() {
    let server = Server::http();
    let mut env = TestEnv::new();
    let tar = archive::tar_gz(&[("fixture-a", &fixture_tool("a"))]);
    let mut entry = LockEntry::new(
        "toola",
        &format!("https://user:s3cret@{}", &TAR_PATH[1..]),
        &tar,
        "tar.gz",
        Some("fixture-a"),
    );
    let actual = entry.sha256.clone();
    entry.sha256 = sha256_hex(b"something else");
    let expected = entry.sha256.clone();
    env.write_lock(&[entry]);
    server.route(TAR_PATH, tar.clone(), Fault::None);
    env.set("OP_TOOLCHAIN_MIRROR", server.base_url());
    let run = env.op(&["toolchain", "install"]);
    run.expect_code(3).stderr_has(&[
        "toola",
        "1.0.0",
        "linux-amd64",
        &expected,
        &actual,
        &format!("{} bytes", tar.len()),
        "https://***@github.com",
        "nothing was installed",
    ]);
    assert!(
        !run.stderr().contains("s3cret"),
        "credentials leaked: {}",
        run.stderr()
    );
    assert!(env.installed().is_empty() && env.staging().is_empty());
    assert_eq!(
        server.gets(TAR_PATH),
        1,
        "integrity failures are not retried"
    );
}

#[test]
fn body_longer_than_pinned_size_is_rejected() {
    let server = Server::http();
    let mut env = TestEnv::new();
    let raw = fixture_tool("c");
    let mut entry = LockEntry::new("toolc", &format!("https:/{RAW_PATH}"), &raw, "raw", None);
    entry.size = Some(raw.len() as u64);
    env.write_lock(&[entry]);
    server.route(RAW_PATH, raw, Fault::Longer { extra: 4096 });
    env.set("OP_TOOLCHAIN_MIRROR", server.base_url());
    env.op(&["toolchain", "install"])
        .expect_code(3)
        .stderr_has(&["toolc", "more than the expected"]);
    assert!(env.installed().is_empty() && env.staging().is_empty());
}

#[test]
fn server_errors_are_retried_until_success() {
    let server = Server::http();
    let mut env = TestEnv::new();
    three_tools(&mut env, &server);
    server.route(RAW_PATH, fixture_tool("c"), Fault::Statuses(vec![500, 503]));
    server.route(
        ZIP_PATH,
        archive::zip(&[("fixture-b", &fixture_tool("b"))]),
        Fault::TooManyRequests {
            times: 1,
            retry_after: 1,
        },
    );
    let started = Instant::now();
    env.op(&["toolchain", "install"]).expect_code(0);
    assert_eq!(server.gets(RAW_PATH), 3);
    assert_eq!(server.gets(ZIP_PATH), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
}

#[test]
fn not_found_fails_at_once_with_exit_4() {
    let server = Server::http();
    let mut env = TestEnv::new();
    let raw = fixture_tool("c");
    env.write_lock(&[LockEntry::new(
        "toolc",
        "https://dl.example.com/missing",
        &raw,
        "raw",
        None,
    )]);
    env.set("OP_TOOLCHAIN_MIRROR", server.base_url());
    env.op(&["toolchain", "install"])
        .expect_code(4)
        .stderr_has(&["404", "/dl.example.com/missing"]);
    assert_eq!(server.gets("/dl.example.com/missing"), 1);
}

#[test]
fn dropped_connections_retry_then_give_up_without_partial_installs() {
    let server = Server::http();
    let mut env = TestEnv::new();
    let body = archive::tar_gz(&[("fixture-a", &vec![7u8; 200_000])]);
    env.write_lock(&[LockEntry::new(
        "toola",
        &format!("https:/{TAR_PATH}"),
        &body,
        "tar.gz",
        Some("fixture-a"),
    )]);
    env.set("OP_TOOLCHAIN_MIRROR", server.base_url());

    server.route(
        TAR_PATH,
        body.clone(),
        Fault::DropAfter {
            bytes: 100,
            times: 1,
        },
    );
    env.op(&["toolchain", "install"]).expect_code(0);
    assert_eq!(server.gets(TAR_PATH), 2);

    let env2 = {
        let mut env2 = TestEnv::new();
        env2.write_lock(&[LockEntry::new(
            "toola",
            &format!("https:/{TAR_PATH}"),
            &body,
            "tar.gz",
            Some("fixture-a"),
        )]);
        env2.set("OP_TOOLCHAIN_MIRROR", server.base_url())
            .set("OP_HTTP_RETRIES", "2");
        env2
    };
    server.route(
        TAR_PATH,
        body,
        Fault::DropAfter {
            bytes: 100,
            times: 100,
        },
    );
    env2.op(&["toolchain", "install"])
        .expect_code(4)
        .stderr_has(&["toola", "3 attempt(s)"]);
    assert!(env2.installed().is_empty() && env2.staging().is_empty());
}

#[test]
fn dead_server_is_exit_4_in_bounded_time() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut env = TestEnv::new();
    env.write_lock(&[LockEntry::new(
        "toolc",
        &format!("https:/{RAW_PATH}"),
        b"x",
        "raw",
        None,
    )]);
    env.set("OP_TOOLCHAIN_MIRROR", format!("http://127.0.0.1:{port}"))
        .set("OP_HTTP_RETRIES", "1");
    let started = Instant::now();
    env.op(&["toolchain", "install"])
        .expect_code(4)
        .stderr_has(&["cannot connect"]);
    assert!(started.elapsed() < Duration::from_secs(20));
}

fn hostile(files: archive::TarEntries) -> Vec<u8> {
    archive::raw_tar_gz(files)
}

#[test]
fn hostile_archives_are_refused_and_nothing_escapes() {
    let tool = fixture_tool("a");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            hostile(&[
                ("../escaped-x", b"evil", b'0', ""),
                ("fixture-a", &tool, b'0', ""),
            ]),
            "tar.gz",
        ),
        (
            "absolute",
            hostile(&[
                ("/tmp/op-test-escaped-abs", b"evil", b'0', ""),
                ("fixture-a", &tool, b'0', ""),
            ]),
            "tar.gz",
        ),
        (
            "symlink-bin",
            hostile(&[("fixture-a", b"", b'2', "/bin/sh")]),
            "tar.gz",
        ),
        (
            "symlink-escape",
            hostile(&[
                ("link", b"", b'2', "../../outside"),
                ("fixture-a", &tool, b'0', ""),
            ]),
            "tar.gz",
        ),
        (
            "hardlink-bin",
            hostile(&[("fixture-a", b"", b'1', "/etc/passwd")]),
            "tar.gz",
        ),
        (
            "device-bin",
            hostile(&[("fixture-a", b"", b'3', "")]),
            "tar.gz",
        ),
        (
            "zip-slip",
            archive::zip(&[("../zip-escaped", b"evil"), ("fixture-a", &tool)]),
            "zip",
        ),
        (
            "missing-bin",
            archive::tar_gz(&[("other", &tool)]),
            "tar.gz",
        ),
    ];
    for (name, body, kind) in cases {
        let server = Server::http();
        let mut env = TestEnv::new();
        env.write_lock(&[LockEntry::new(
            "toola",
            &format!("https:/{TAR_PATH}"),
            &body,
            kind,
            Some("fixture-a"),
        )]);
        server.route(TAR_PATH, body, Fault::None);
        env.set("OP_TOOLCHAIN_MIRROR", server.base_url());
        let run = env.op(&["toolchain", "install"]);
        assert_ne!(run.code(), 0, "{name} was accepted:\n{}", run.stderr());
        run.stderr_has(&["toola"]);
        assert!(env.installed().is_empty(), "{name}: {:?}", env.installed());
        assert!(env.staging().is_empty(), "{name}: {:?}", env.staging());
        assert!(
            !std::path::Path::new("/tmp/op-test-escaped-abs").exists(),
            "{name}"
        );
        for dir in [env.path().to_path_buf(), env.cache(), env.work()] {
            assert!(
                !dir.join("escaped-x").exists() && !dir.join("zip-escaped").exists(),
                "{name}"
            );
        }
        if name == "missing-bin" {
            run.stderr_has(&["\"fixture-a\"", "other"]);
        }
    }
}

#[test]
fn concurrent_installers_share_one_download_per_artifact() {
    let server = Server::http();
    let mut env = TestEnv::new();
    three_tools(&mut env, &server);
    let tar = archive::tar_gz(&[("fixture-a", &noise(300_000))]);
    env.write_lock(&[
        LockEntry::new(
            "toola",
            &format!("https:/{TAR_PATH}"),
            &tar,
            "tar.gz",
            Some("fixture-a"),
        ),
        LockEntry::new(
            "toolc",
            &format!("https:/{RAW_PATH}"),
            &fixture_tool("c"),
            "raw",
            None,
        ),
    ]);
    server.route(
        TAR_PATH,
        tar,
        Fault::Slow {
            chunk: 64 * 1024,
            delay: Duration::from_millis(30),
        },
    );
    let children: Vec<_> = (0..8)
        .map(|_| {
            env.command()
                .args(["toolchain", "install"])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(server.gets(TAR_PATH), 1);
    assert_eq!(server.gets(RAW_PATH), 1);
    assert!(env.staging().is_empty());
}

#[test]
fn lock_wait_names_the_holder_and_times_out() {
    let server = Server::http();
    let mut env = TestEnv::new();
    let tar = archive::tar_gz(&[("fixture-a", &noise(100_000))]);
    env.write_lock(&[LockEntry::new(
        "toola",
        &format!("https:/{TAR_PATH}"),
        &tar,
        "tar.gz",
        Some("fixture-a"),
    )]);
    server.route(
        TAR_PATH,
        tar,
        Fault::Slow {
            chunk: 1024,
            delay: Duration::from_millis(100),
        },
    );
    env.set("OP_TOOLCHAIN_MIRROR", server.base_url());
    let mut holder = env
        .command()
        .args(["toolchain", "install"])
        .spawn()
        .unwrap();
    wait_until(|| server.gets(TAR_PATH) == 1);
    env.set("OP_LOCK_TIMEOUT", "1");
    let waiter = env.op(&["toolchain", "install"]);
    waiter.expect_code(1).stderr_has(&[
        "waiting for pid",
        &holder.id().to_string(),
        "OP_LOCK_TIMEOUT",
    ]);
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn sigkill_mid_download_then_rerun_repairs_the_cache() {
    let server = Server::http();
    let mut env = TestEnv::new();
    let tar = archive::tar_gz(&[("fixture-a", &fixture_tool("a")), ("pad", &noise(200_000))]);
    env.write_lock(&[LockEntry::new(
        "toola",
        &format!("https:/{TAR_PATH}"),
        &tar,
        "tar.gz",
        Some("fixture-a"),
    )]);
    server.route(
        TAR_PATH,
        tar.clone(),
        Fault::Slow {
            chunk: 4096,
            delay: Duration::from_millis(50),
        },
    );
    env.set("OP_TOOLCHAIN_MIRROR", server.base_url());
    let mut child = env
        .command()
        .args(["toolchain", "install"])
        .spawn()
        .unwrap();
    wait_until(|| server.gets(TAR_PATH) == 1 && !env.staging().is_empty());
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        env.installed().is_empty(),
        "a killed download installed nothing"
    );
    assert!(
        !env.staging().is_empty(),
        "the killed run left its staging dir (the next run cleans it)"
    );

    server.route(TAR_PATH, tar, Fault::None);
    env.op(&["toolchain", "install"]).expect_code(0);
    assert!(
        env.staging().is_empty(),
        "leftovers were removed: {:?}",
        env.staging()
    );
    env.op(&["toolchain", "verify"]).expect_code(0);
}

#[test]
fn platform_override_and_missing_platform() {
    let server = Server::http();
    let mut env = TestEnv::new();
    let raw = fixture_tool("c");
    let mut entry = LockEntry::new("toolc", &format!("https:/{RAW_PATH}"), &raw, "raw", None);
    entry.platform = "darwin-arm64".into();
    env.write_lock(&[entry]);
    server.route(RAW_PATH, raw, Fault::None);
    env.set("OP_TOOLCHAIN_MIRROR", server.base_url());
    env.op(&["toolchain", "install"])
        .expect_code(5)
        .stderr_has(&["toolc", "linux-amd64", "darwin-arm64"]);
    env.set("OP_TOOLCHAIN_PLATFORM", "darwin-arm64");
    env.op(&["toolchain", "install"]).expect_code(0);
    assert_eq!(env.installed().len(), 1);
    assert!(env.installed()[0].contains("darwin-arm64"));
    env.op(&["toolchain", "install", "--platform", "windows-arm64"])
        .expect_code(2)
        .stderr_has(&["windows-arm64"]);
}

#[test]
fn malformed_locks_are_exit_2_naming_file_tool_platform_field() {
    let env = TestEnv::new();
    let good = support::lock_text(&[LockEntry::new(
        "demo",
        "https://x.example/demo",
        b"x",
        "raw",
        None,
    )]);
    let cases = [
        (
            good.replace("[tools.demo]", "[tools.demo"),
            vec!["invalid TOML"],
        ),
        (
            good.replace("archive = \"raw\"", "archive = \"raw\"\nmirror = \"x\""),
            vec!["demo", "linux-amd64", "mirror"],
        ),
        (
            good.replace("sha256 = \"", "sha256 = \"0"),
            vec!["demo", "linux-amd64", "sha256", "65"],
        ),
        (
            good.replace("url = ", "link = "),
            vec!["demo", "linux-amd64", "link"],
        ),
        (
            good.replace("\"raw\"", "\"rar\""),
            vec!["demo", "linux-amd64", "archive", "rar"],
        ),
        (good.replace("schema = 1", "schema = 2"), vec!["schema"]),
    ];
    for (index, (text, parts)) in cases.iter().enumerate() {
        let path = env.path().join(format!("bad{index}.lock"));
        std::fs::write(&path, text).unwrap();
        let run = env.op(&["--lock", path.to_str().unwrap(), "toolchain", "list"]);
        run.expect_code(2)
            .stderr_has(&[&format!("bad{index}.lock")]);
        run.stderr_has(&parts.iter().map(|part| &**part).collect::<Vec<_>>());
    }
    // A 63-digit digest names the field and the count.
    let digest = sha256_hex(b"x");
    let path = env.path().join("short.lock");
    std::fs::write(&path, good.replace(&digest, &digest[1..])).unwrap();
    env.op(&["--lock", path.to_str().unwrap(), "toolchain", "list"])
        .expect_code(2)
        .stderr_has(&["demo", "linux-amd64", "sha256", "63"]);
    env.op(&["--lock", "/nonexistent/toolchain.lock", "toolchain", "list"])
        .expect_code(2)
        .stderr_has(&["/nonexistent/toolchain.lock"]);
}

#[test]
fn lock_selection_order() {
    let mut env = TestEnv::new();
    let lock = |tool: &str| {
        support::lock_text(&[LockEntry::new(
            tool,
            "https://x.example/t",
            b"x",
            "raw",
            None,
        )])
    };
    let nested = env.work().join("a/b");
    std::fs::create_dir_all(&nested).unwrap();
    let tools = |run: support::Run| -> Vec<String> {
        let rows: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| row["tool"].as_str().unwrap().to_string())
            .collect()
    };
    // Above the repository root: ignored, so the built-in lock is used.
    std::fs::write(env.path().join("toolchain.lock"), lock("outside")).unwrap();
    let builtin = tools(env.op(&["toolchain", "list", "--json"]));
    assert_eq!(builtin, ["skaffold", "pack", "flux", "kubectl", "crane"]);
    // A parent inside the repository is found from a subdirectory.
    std::fs::write(env.work().join("toolchain.lock"), lock("discovered")).unwrap();
    let mut cmd = env.command();
    cmd.current_dir(&nested)
        .args(["toolchain", "list", "--json"]);
    assert_eq!(tools(support::Run(cmd.output().unwrap())), ["discovered"]);
    // OP_TOOLCHAIN_LOCK beats discovery; --lock beats both.
    std::fs::write(env.path().join("env.lock"), lock("fromenv")).unwrap();
    std::fs::write(env.path().join("flag.lock"), lock("fromflag")).unwrap();
    env.set(
        "OP_TOOLCHAIN_LOCK",
        env.path().join("env.lock").to_str().unwrap().to_string(),
    );
    assert_eq!(tools(env.op(&["toolchain", "list", "--json"])), ["fromenv"]);
    let flag = env.path().join("flag.lock");
    assert_eq!(
        tools(env.op(&[
            "toolchain",
            "list",
            "--json",
            "--lock",
            flag.to_str().unwrap()
        ])),
        ["fromflag"]
    );
}

#[test]
fn builtin_lock_covers_five_tools_on_five_platforms() {
    let env = TestEnv::new();
    let expected = [
        ("skaffold", "2.14.0"),
        ("pack", "0.40.0"),
        ("flux", "2.7.5"),
        ("kubectl", "1.35.2"),
        ("crane", "0.21.5"),
    ];
    for platform in [
        "linux-amd64",
        "linux-arm64",
        "darwin-amd64",
        "darwin-arm64",
        "windows-amd64",
    ] {
        let run = env.op(&["toolchain", "list", "--json", "--platform", platform]);
        run.expect_code(0);
        let rows: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
        let rows = rows.as_array().unwrap();
        let got: Vec<(&str, &str)> = rows
            .iter()
            .map(|row| {
                (
                    row["tool"].as_str().unwrap(),
                    row["version"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expected, "{platform}");
        for row in rows {
            let digest = row["sha256"].as_str().unwrap();
            assert!(
                digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
                "{digest}"
            );
            assert_eq!(row["installed"], false);
        }
    }
    let out = env.op(&["toolchain", "list", "--markdown"]).stdout();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/DEPENDENCIES.md")).unwrap();
    assert_eq!(
        out.trim_end(),
        committed.trim_end(),
        "DEPENDENCIES.md disagrees with toolchain.lock"
    );
}

#[test]
fn prune_removes_what_the_lock_no_longer_pins() {
    let server = Server::http();
    let mut env = TestEnv::new();
    three_tools(&mut env, &server);
    env.op(&["toolchain", "install"]).expect_code(0);
    let raw = fixture_tool("c");
    env.write_lock(&[LockEntry::new(
        "toolc",
        &format!("https:/{RAW_PATH}"),
        &raw,
        "raw",
        None,
    )]);
    let dry = env.op(&["toolchain", "prune", "--dry-run"]);
    dry.expect_code(0);
    assert_eq!(
        dry.stdout().matches("would remove").count(),
        2,
        "{}",
        dry.stdout()
    );
    assert_eq!(env.installed().len(), 3, "dry run removed nothing");
    let prune = env.op(&["toolchain", "prune"]);
    prune.expect_code(0);
    assert_eq!(env.installed().len(), 1);
    assert!(env.installed()[0].starts_with("toolc-1.0.0-linux-amd64-"));
    env.op(&["toolchain", "exec", "toolc"]).expect_code(0);
}

#[test]
#[expect(clippy::print_stderr, reason = "say why the test is skipped")]
fn real_kubectl_installs_and_runs_through_the_mirror() {
    let Some(kubectl) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("kubectl"))
        .find(|path| path.is_file())
    else {
        eprintln!("no kubectl on PATH; skipping");
        return;
    };
    let body = std::fs::read(&kubectl).unwrap();
    let server = Server::http();
    let mut env = TestEnv::new();
    let path = "/dl.k8s.io/release/v1.35.2/bin/linux/amd64/kubectl";
    env.write_lock(&[LockEntry::new(
        "kubectl",
        &format!("https:/{path}"),
        &body,
        "raw",
        None,
    )]);
    server.route(path, body, Fault::None);
    env.set("OP_TOOLCHAIN_MIRROR", server.base_url());
    let run = env.op(&["toolchain", "exec", "kubectl", "version", "--client"]);
    run.expect_code(0);
    assert!(run.stdout().contains("Client Version"), "{}", run.stdout());
}

#[test]
fn invoked_name_and_usage_errors() {
    let env = TestEnv::new();
    let version = env.op(&["--version"]);
    version.expect_code(0);
    assert!(version.stdout().starts_with("op "), "{}", version.stdout());
    let alias = std::process::Command::new(env!("CARGO_BIN_EXE_octopipeline"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&alias.stdout).contains("Usage: octopipeline"));
    env.op(&[]).expect_code(2);
    env.op(&["toolchain", "bogus"]).expect_code(2);
    env.op(&["toolchain", "which", "nope"])
        .expect_code(2)
        .stderr_has(&["nope", "skaffold"]);
    env.op(&["toolchain", "which", "kubectl"])
        .expect_code(1)
        .stderr_has(&["op toolchain install kubectl"]);
}

/// Polls `condition` every 20 ms for at most 10 s.
fn wait_until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "condition not reached within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn downloads_go_through_the_http_proxy_from_the_environment() {
    let proxy = Server::http();
    let mut env = TestEnv::new();
    let raw = fixture_tool("c");
    env.write_lock(&[LockEntry::new(
        "toolc",
        &format!("https:/{RAW_PATH}"),
        &raw,
        "raw",
        None,
    )]);
    // The mirror host does not exist; only the proxy can answer for it.
    let proxied = format!("http://mirror.invalid{RAW_PATH}");
    proxy.route(&proxied, raw, Fault::None);
    env.set("OP_TOOLCHAIN_MIRROR", "http://mirror.invalid")
        .set("HTTP_PROXY", proxy.base_url());
    env.op(&["toolchain", "install"]).expect_code(0);
    assert_eq!(proxy.gets(&proxied), 1);

    // NO_PROXY sends it direct, where the host does not resolve: exit 4.
    let mut direct = TestEnv::new();
    direct.write_lock(&[LockEntry::new(
        "toolc",
        &format!("https:/{RAW_PATH}"),
        b"x",
        "raw",
        None,
    )]);
    direct
        .set("OP_TOOLCHAIN_MIRROR", "http://mirror.invalid")
        .set("HTTP_PROXY", proxy.base_url())
        .set("NO_PROXY", "mirror.invalid")
        .set("OP_HTTP_RETRIES", "0");
    direct.op(&["toolchain", "install"]).expect_code(4);
    assert_eq!(proxy.gets(&proxied), 1, "the proxy saw no second request");
}
