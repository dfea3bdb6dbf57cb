//! `op toolchain lock update|check` and `op toolchain mirror [verify]` against a loopback
//! "upstream" that serves fixture assets and checksum files in each upstream format.
#![cfg(unix)]

mod support;

use support::archive;
use support::server::{Fault, Server};
use support::{TestEnv, fixture_tool, sha256_hex};

const BASE: &str = "/github.com/acme/fixture/releases/download";

/// A lock with two templated tools: `fixture` (tar.gz/zip, one checksums.txt per release) and
/// `rawfix` (raw, one `<asset>.sha256` per artifact).
fn lock_v1() -> String {
    let mut text = String::from(
        "# team lock: keep this comment\nschema = 1\n\n[tools.fixture]\nversion = \"1.0.0\"\n\
         checksums = \"https://github.com/acme/fixture/releases/download/v{version}/checksums.txt\"\n\n\
         [tools.fixture.template]\n\
         url = \"https://github.com/acme/fixture/releases/download/v{version}/fixture_{version}_{os}_{arch}.{ext}\"\n\
         archive = \"tar.gz\"\next = \"tar.gz\"\nbin = \"fixture{exe}\"\n\n\
         [tools.fixture.template.platforms]\nlinux-amd64 = {}\nlinux-arm64 = {}\ndarwin-amd64 = {}\ndarwin-arm64 = {}\n\
         windows-amd64 = { ext = \"zip\", archive = \"zip\" }\n",
    );
    for key in [
        "linux-amd64",
        "linux-arm64",
        "darwin-amd64",
        "darwin-arm64",
        "windows-amd64",
    ] {
        let (os, arch) = key.split_once('-').unwrap();
        let (ext, archive, bin) = if os == "windows" {
            ("zip", "zip", "fixture.exe")
        } else {
            ("tar.gz", "tar.gz", "fixture")
        };
        text.push_str(&format!(
            "\n# pinned for {key}\n[tools.fixture.platforms.{key}]\nurl = \"https://github.com/acme/fixture/releases/download/v1.0.0/fixture_1.0.0_{os}_{arch}.{ext}\"\n\
             sha256 = \"{}\"\narchive = \"{archive}\"\nbin = \"{bin}\"\n",
            "0".repeat(64)
        ));
    }
    text.push_str(
        "\n[tools.rawfix]\nversion = \"1.0.0\"\nchecksums = \"{url}.sha256\"\n\n[tools.rawfix.template]\n\
         url = \"https://dl.example.com/rawfix/v{version}/rawfix-{os}-{arch}{exe}\"\narchive = \"raw\"\n",
    );
    for key in [
        "linux-amd64",
        "linux-arm64",
        "darwin-amd64",
        "darwin-arm64",
        "windows-amd64",
    ] {
        let exe = if key.starts_with("windows") {
            ".exe"
        } else {
            ""
        };
        text.push_str(&format!(
            "\n[tools.rawfix.platforms.{key}]\nurl = \"https://dl.example.com/rawfix/v1.0.0/rawfix-{key}{exe}\"\nsha256 = \"{}\"\narchive = \"raw\"\n",
            "1".repeat(64)
        ));
    }
    text
}

struct Upstream {
    server: Server,
    /// (lock url path, body) of every version-2 artifact.
    artifacts: Vec<(String, Vec<u8>)>,
}

/// Serves version 2.0.0 of both tools: artifacts, checksums.txt (`hex  name`, one `hex *name`
/// line), and per-asset `.sha256` files (bare hex for most, `hex  name` for one). The
/// linux-amd64 HEAD answers without Content-Length.
fn upstream() -> Upstream {
    let server = Server::http();
    let mut artifacts = Vec::new();
    let mut sums = String::new();
    for (index, key) in [
        "linux-amd64",
        "linux-arm64",
        "darwin-amd64",
        "darwin-arm64",
        "windows-amd64",
    ]
    .iter()
    .enumerate()
    {
        let (os, arch) = key.split_once('-').unwrap();
        let (ext, body) = if os == "windows" {
            (
                "zip",
                archive::zip(&[("fixture.exe", &fixture_tool("fixture"))]),
            )
        } else {
            (
                "tar.gz",
                archive::tar_gz(&[("fixture", &fixture_tool(&format!("fixture-{key}")))]),
            )
        };
        let name = format!("fixture_2.0.0_{os}_{arch}.{ext}");
        let star = if index == 1 { "*" } else { " " };
        sums.push_str(&format!("{} {star}{name}\n", sha256_hex(&body)));
        let path = format!("{BASE}/v2.0.0/{name}");
        server.route(
            &path,
            body.clone(),
            if *key == "linux-amd64" {
                Fault::NoLength
            } else {
                Fault::None
            },
        );
        artifacts.push((path, body));

        let exe = if os == "windows" { ".exe" } else { "" };
        let raw = fixture_tool(&format!("rawfix-{key}"));
        let raw_path = format!("/dl.example.com/rawfix/v2.0.0/rawfix-{key}{exe}");
        let sha = if index == 0 {
            format!("{}  rawfix-{key}{exe}\n", sha256_hex(&raw))
        } else {
            format!("{}\n", sha256_hex(&raw))
        };
        server.route(&format!("{raw_path}.sha256"), sha.into_bytes(), Fault::None);
        server.route(&raw_path, raw.clone(), Fault::None);
        artifacts.push((raw_path, raw));
    }
    sums.push_str(&format!("{}  unrelated-file.txt\n", sha256_hex(b"other")));
    server.route(
        &format!("{BASE}/v2.0.0/checksums.txt"),
        sums.into_bytes(),
        Fault::None,
    );
    Upstream { server, artifacts }
}

fn setup() -> (TestEnv, Upstream, std::path::PathBuf) {
    let up = upstream();
    let mut env = TestEnv::new();
    let lock = env.work().join("toolchain.lock");
    std::fs::write(&lock, lock_v1()).unwrap();
    std::fs::write(env.work().join("DEPENDENCIES.md"), "stale\n").unwrap();
    env.set("OP_TOOLCHAIN_MIRROR", up.server.base_url());
    (env, up, lock)
}

#[test]
fn update_fills_every_platform_from_checksum_files_and_head_requests() {
    let (env, up, lock) = setup();
    env.op(&[
        "toolchain",
        "lock",
        "update",
        "fixture@2.0.0",
        "rawfix@v2.0.0",
    ])
    .expect_code(0);
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(
        text.starts_with("# team lock: keep this comment\n"),
        "comments kept:\n{text}"
    );
    assert!(text.contains("# pinned for darwin-arm64"), "{text}");
    assert!(
        !text.contains("1.0.0"),
        "no trace of the old version:\n{text}"
    );
    for (path, body) in &up.artifacts {
        assert!(
            text.contains(&format!("url = \"https:/{path}\"")),
            "{path} missing:\n{text}"
        );
        assert!(text.contains(&sha256_hex(body)), "digest of {path} missing");
        // Only checksum files and HEAD requests: no artifact was downloaded.
        assert_eq!(up.server.gets(path), 0, "{path} was downloaded");
    }
    let heads = up
        .server
        .requests()
        .iter()
        .filter(|request| request.method == "HEAD")
        .count();
    assert_eq!(heads, 10);
    let windows = &up
        .artifacts
        .iter()
        .find(|(path, _)| path.ends_with("windows_amd64.zip"))
        .unwrap()
        .1;
    assert!(
        text.contains(&format!("size = {}", windows.len())),
        "{text}"
    );
    let linux_block = text
        .split("[tools.fixture.platforms.linux-amd64]")
        .nth(1)
        .unwrap();
    let linux_block = linux_block.split("\n[").next().unwrap();
    assert!(
        !linux_block.contains("size"),
        "no Content-Length, no size: {linux_block}"
    );
    assert_eq!(
        up.server.gets(&format!("{BASE}/v2.0.0/checksums.txt")),
        1,
        "checksums.txt read once"
    );

    // The rewritten lock is consistent, installable, and DEPENDENCIES.md follows it.
    env.op(&["toolchain", "lock", "check"]).expect_code(0);
    let deps = std::fs::read_to_string(env.work().join("DEPENDENCIES.md")).unwrap();
    assert!(
        deps.contains("| fixture | 2.0.0 |") && deps.contains("| rawfix | 2.0.0 |"),
        "{deps}"
    );
    env.op(&["toolchain", "install"]).expect_code(0);
    let run = env.op(&["toolchain", "exec", "fixture", "ok"]);
    run.expect_code(0);
    assert!(
        run.stdout().contains("fixture fixture-linux-amd64 args:ok"),
        "{}",
        run.stdout()
    );
}

#[test]
fn update_fails_closed_and_leaves_the_lock_untouched() {
    let sums_path = format!("{BASE}/v2.0.0/checksums.txt");
    let cases: Vec<(&str, Option<Vec<u8>>, i32, &str)> = vec![
        (
            "asset missing from checksums.txt",
            Some(format!("{}  something-else.tar.gz\n", "a".repeat(64)).into_bytes()),
            3,
            "has no entry for fixture_2.0.0_",
        ),
        (
            "corrupted line",
            Some(b"zzzz  fixture_2.0.0_linux_amd64.tar.gz\n".to_vec()),
            3,
            "line 1",
        ),
        ("two digests disagree", None, 3, "different digests"),
        ("checksums.txt not published", Some(Vec::new()), 4, "404"),
    ];
    for (name, body, code, message) in cases {
        let (env, up, lock) = setup();
        match (name, body) {
            ("two digests disagree", _) => {
                let mut sums = String::new();
                for key in [
                    "linux_amd64.tar.gz",
                    "linux_arm64.tar.gz",
                    "darwin_amd64.tar.gz",
                    "darwin_arm64.tar.gz",
                    "windows_amd64.zip",
                ] {
                    sums.push_str(&format!("{}  fixture_2.0.0_{key}\n", "b".repeat(64)));
                }
                sums.push_str(&format!(
                    "{}  fixture_2.0.0_darwin_arm64.tar.gz\n",
                    "c".repeat(64)
                ));
                up.server.route(&sums_path, sums.into_bytes(), Fault::None);
            }
            ("checksums.txt not published", _) => {
                up.server
                    .route(&sums_path, Vec::new(), Fault::Statuses(vec![404; 10]))
            }
            (_, Some(body)) => up.server.route(&sums_path, body, Fault::None),
            _ => unreachable!(),
        }
        let before = std::fs::read(&lock).unwrap();
        env.op(&[
            "toolchain",
            "lock",
            "update",
            "rawfix@2.0.0",
            "fixture@2.0.0",
        ])
        .expect_code(code)
        .stderr_has(&[message]);
        assert_eq!(
            std::fs::read(&lock).unwrap(),
            before,
            "{name}: the lock changed"
        );
        assert_eq!(
            std::fs::read_to_string(env.work().join("DEPENDENCIES.md")).unwrap(),
            "stale\n",
            "{name}"
        );
        assert_eq!(
            support::list_names(&env.work())
                .iter()
                .filter(|name| name.starts_with(".op-"))
                .count(),
            0,
            "{name}: temp file left"
        );
    }
}

#[test]
fn update_needs_a_lock_file_and_known_tools() {
    let (env, _up, _lock) = setup();
    env.op(&["toolchain", "lock", "update", "nosuch@1.0.0"])
        .expect_code(2)
        .stderr_has(&["nosuch"]);
    env.op(&["toolchain", "lock", "update", "fixture"])
        .expect_code(2)
        .stderr_has(&["TOOL@VERSION"]);
    let bare = TestEnv::new();
    bare.op(&["toolchain", "lock", "update", "flux@2.8.0"])
        .expect_code(2)
        .stderr_has(&["built-in lock"]);
}

#[test]
fn check_upstream_reports_a_reuploaded_asset() {
    let (env, up, _lock) = setup();
    env.op(&[
        "toolchain",
        "lock",
        "update",
        "fixture@2.0.0",
        "rawfix@2.0.0",
    ])
    .expect_code(0);
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .expect_code(0);
    // Upstream re-publishes one asset under the same name.
    let path = "/dl.example.com/rawfix/v2.0.0/rawfix-darwin-arm64";
    up.server.route(
        &format!("{path}.sha256"),
        format!("{}\n", sha256_hex(b"re-uploaded")).into_bytes(),
        Fault::None,
    );
    let run = env.op(&["toolchain", "lock", "check", "--upstream"]);
    run.expect_code(3).stderr_has(&["re-uploaded"]);
    assert!(
        run.stdout().contains("rawfix 2.0.0 (darwin-arm64)")
            && run.stdout().contains(&sha256_hex(b"re-uploaded")),
        "{}",
        run.stdout()
    );
}

#[test]
fn check_offline_finds_missing_platforms_and_template_drift() {
    let env = TestEnv::new();
    let path = env.path().join("drift.lock");
    let drifted = lock_v1().replace(
        "fixture_1.0.0_darwin_arm64.tar.gz",
        "fixture_1.0.0_macos_arm64.tar.gz",
    );
    std::fs::write(&path, drifted).unwrap();
    let run = env.op(&[
        "--lock",
        path.to_str().unwrap(),
        "toolchain",
        "lock",
        "check",
    ]);
    run.expect_code(2);
    let out = run.stdout();
    assert!(
        out.contains("fixture 1.0.0 (darwin-arm64): the template gives"),
        "{out}"
    );
    run.stderr_has(&["does not pin skaffold, pack, flux, kubectl, crane"]);
    env.op(&["toolchain", "lock", "check"]).expect_code(0);
}

#[test]
fn mirror_export_then_install_offline_over_file_and_http() {
    let (env, up, _lock) = setup();
    env.op(&[
        "toolchain",
        "lock",
        "update",
        "fixture@2.0.0",
        "rawfix@2.0.0",
    ])
    .expect_code(0);
    let dir = env.path().join("mirror");
    env.op(&[
        "toolchain",
        "mirror",
        dir.to_str().unwrap(),
        "--all-platforms",
    ])
    .expect_code(0);
    for (path, body) in &up.artifacts {
        assert_eq!(
            std::fs::read(dir.join(&path[1..])).unwrap(),
            *body,
            "{path}"
        );
        assert_eq!(up.server.gets(path), 1);
    }
    assert!(dir.join("op-mirror.json").is_file());
    env.op(&["toolchain", "mirror", "verify", dir.to_str().unwrap()])
        .expect_code(0);

    // Re-running fetches only what is missing.
    let (missing, _) = &up.artifacts[3];
    std::fs::remove_file(dir.join(&missing[1..])).unwrap();
    env.op(&[
        "toolchain",
        "mirror",
        dir.to_str().unwrap(),
        "--all-platforms",
    ])
    .expect_code(0);
    for (path, _) in &up.artifacts {
        assert_eq!(
            up.server.gets(path),
            if path == missing { 2 } else { 1 },
            "{path}"
        );
    }

    // An isolated fleet machine: offline, file:// mirror.
    let mut fleet = TestEnv::new();
    std::fs::copy(
        env.work().join("toolchain.lock"),
        fleet.work().join("toolchain.lock"),
    )
    .unwrap();
    fleet
        .set("OP_OFFLINE", "1")
        .set("OP_TOOLCHAIN_MIRROR", format!("file://{}", dir.display()));
    fleet.op(&["toolchain", "install"]).expect_code(0);
    fleet.op(&["toolchain", "exec", "rawfix"]).expect_code(0);

    // The same directory behind a static HTTP server.
    let static_server = Server::http();
    static_server.serve_dir(&dir);
    let mut http_fleet = TestEnv::new();
    std::fs::copy(
        env.work().join("toolchain.lock"),
        http_fleet.work().join("toolchain.lock"),
    )
    .unwrap();
    http_fleet.set("OP_TOOLCHAIN_MIRROR", static_server.base_url());
    http_fleet.op(&["toolchain", "install"]).expect_code(0);
}

#[test]
fn a_tampered_mirror_is_caught_by_verify_and_by_install() {
    let (env, up, _lock) = setup();
    env.op(&[
        "toolchain",
        "lock",
        "update",
        "fixture@2.0.0",
        "rawfix@2.0.0",
    ])
    .expect_code(0);
    let dir = env.path().join("mirror");
    env.op(&["toolchain", "mirror", dir.to_str().unwrap()])
        .expect_code(0);
    let (path, _) = up
        .artifacts
        .iter()
        .find(|(path, _)| path.contains("rawfix-linux-amd64"))
        .unwrap();
    let file = dir.join(&path[1..]);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    env.op(&["toolchain", "mirror", "verify", dir.to_str().unwrap()])
        .expect_code(3)
        .stderr_has(&["rawfix 2.0.0 (linux-amd64)", "rawfix-linux-amd64"]);
    let mut fleet = TestEnv::new();
    std::fs::copy(
        env.work().join("toolchain.lock"),
        fleet.work().join("toolchain.lock"),
    )
    .unwrap();
    fleet.set("OP_TOOLCHAIN_MIRROR", format!("file://{}", dir.display()));
    fleet
        .op(&["toolchain", "install", "rawfix"])
        .expect_code(3)
        .stderr_has(&["SHA-256 mismatch"]);
    assert!(fleet.installed().is_empty());
}
