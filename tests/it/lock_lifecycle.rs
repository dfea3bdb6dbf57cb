//! `op toolchain lock update|check` and `op toolchain mirror [verify]` against a loopback
//! "upstream" that serves fixture assets and checksum files in each upstream format, with HEAD
//! answers with and without `Content-Length`.

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::archive::{self, Entry};
use crate::support::{Reply, Route, Run, Server, TestEnv, dir_names, sha256_hex, walk};

pub(crate) const BASE: &str = "/github.com/acme/fixture/releases/download";
pub(crate) const KEYS: [&str; 5] = [
    "linux-amd64",
    "linux-arm64",
    "darwin-amd64",
    "darwin-arm64",
    "windows-amd64",
];

/// A lock with two templated tools: `fixture` (tar.gz/zip, one checksums.txt per release) and
/// `rawfix` (raw, one `<asset>.sha256` per artifact), both at 1.0.0 with placeholder digests.
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
    for (index, key) in KEYS.iter().enumerate() {
        let (os, arch) = key.split_once('-').unwrap();
        let (ext, archive, bin) = if os == "windows" {
            ("zip", "zip", "fixture.exe")
        } else {
            ("tar.gz", "tar.gz", "fixture")
        };
        text.push_str(&format!(
            "\n# pinned for {key}\n[tools.fixture.platforms.{key}]\nurl = \"https://github.com/acme/fixture/releases/download/v1.0.0/fixture_1.0.0_{os}_{arch}.{ext}\"\n\
             sha256 = \"{}\"\narchive = \"{archive}\"\nbin = \"{bin}\"\n",
            index.to_string().repeat(64)
        ));
    }
    text.push_str(
        "\n[tools.rawfix]\nversion = \"1.0.0\"\nchecksums = \"{url}.sha256\"\n\n[tools.rawfix.template]\n\
         url = \"https://dl.example.com/rawfix/v{version}/rawfix-{os}-{arch}{exe}\"\narchive = \"raw\"\n",
    );
    for (index, key) in KEYS.iter().enumerate() {
        let exe = if key.starts_with("windows") {
            ".exe"
        } else {
            ""
        };
        text.push_str(&format!(
            "\n[tools.rawfix.platforms.{key}]\nurl = \"https://dl.example.com/rawfix/v1.0.0/rawfix-{key}{exe}\"\nsha256 = \"{}\"\narchive = \"raw\"\n",
            (index + 5).to_string().repeat(64)
        ));
    }
    text
}

pub(crate) struct Upstream {
    pub(crate) server: Server,
    /// (request target, body) of every version-2 artifact.
    pub(crate) artifacts: Vec<(String, Vec<u8>)>,
    /// (request target, body) of everything served: artifacts and checksum files.
    files: Vec<(String, Vec<u8>)>,
}

impl Upstream {
    fn body(&self, suffix: &str) -> &[u8] {
        &self
            .artifacts
            .iter()
            .find(|(path, _)| path.ends_with(suffix))
            .unwrap_or_else(|| panic!("no artifact {suffix}"))
            .1
    }

    pub(crate) fn sums_path() -> String {
        format!("{BASE}/v2.0.0/checksums.txt")
    }
}

/// Serves version 2.0.0 of both tools: artifacts, checksums.txt (`hex  name` lines, one
/// `hex *name`, one unrelated asset), and per-asset `.sha256` files (bare hex for most,
/// `hex  name` for one). The HEAD of fixture's linux-amd64 asset has no Content-Length.
fn upstream() -> Upstream {
    let server = Server::http();
    let mut artifacts = Vec::new();
    let mut files = Vec::new();
    let mut sums = String::new();
    for (index, key) in KEYS.iter().enumerate() {
        let (os, arch) = key.split_once('-').unwrap();
        let (ext, body) = if os == "windows" {
            let script = archive::fixture_script("fixture-windows", 0);
            ("zip", archive::zip(&[Entry::file("fixture.exe", &script)]))
        } else {
            let script = archive::fixture_script(&format!("fixture-{key}"), 0);
            (
                "tar.gz",
                archive::tar_gz(&[Entry::file("fixture", &script)]),
            )
        };
        let name = format!("fixture_2.0.0_{os}_{arch}.{ext}");
        let star = if index == 1 { "*" } else { " " };
        sums.push_str(&format!("{} {star}{name}\n", sha256_hex(&body)));
        let path = format!("{BASE}/v2.0.0/{name}");
        let route = Route::new(body.clone());
        server.route(
            &path,
            if *key == "linux-amd64" {
                route.head(Reply::NoLength)
            } else {
                route
            },
        );
        artifacts.push((path, body));

        let exe = if os == "windows" { ".exe" } else { "" };
        let raw = archive::fixture_script(&format!("rawfix-{key}"), 0);
        let raw_path = format!("/dl.example.com/rawfix/v2.0.0/rawfix-{key}{exe}");
        let sha = if index == 0 {
            format!("{}  rawfix-{key}{exe}\n", sha256_hex(&raw))
        } else {
            format!("{}\n", sha256_hex(&raw))
        };
        server.route(&format!("{raw_path}.sha256"), Route::new(sha.clone()));
        server.route(&raw_path, Route::new(raw.clone()));
        files.push((format!("{raw_path}.sha256"), sha.into_bytes()));
        artifacts.push((raw_path, raw));
    }
    sums.push_str(&format!("{}  unrelated-file.txt\n", sha256_hex(b"other")));
    server.route(&Upstream::sums_path(), Route::new(sums.clone()));
    files.push((Upstream::sums_path(), sums.into_bytes()));
    files.extend(artifacts.iter().cloned());
    Upstream {
        server,
        artifacts,
        files,
    }
}

/// A work dir with `lock_v1()` as its toolchain.lock, a DEPENDENCIES.md beside it, and the
/// loopback upstream as `OP_TOOLCHAIN_MIRROR`.
pub(crate) fn setup() -> (TestEnv, Upstream, PathBuf) {
    let up = upstream();
    let mut env = TestEnv::new();
    let lock = env.work().join("toolchain.lock");
    std::fs::write(&lock, lock_v1()).unwrap();
    std::fs::write(env.work().join("DEPENDENCIES.md"), "stale\n").unwrap();
    env.mirror(up.server.url())
        .set("OP_TOOLCHAIN_PLATFORM", "linux-amd64");
    (env, up, lock)
}

/// A machine of the fleet: its own cache, the same lock, the given mirror.
fn fleet(source: &TestEnv, mirror: &str) -> TestEnv {
    let mut fleet = TestEnv::new();
    std::fs::copy(
        source.work().join("toolchain.lock"),
        fleet.work().join("toolchain.lock"),
    )
    .unwrap();
    fleet
        .mirror(mirror)
        .set("OP_TOOLCHAIN_PLATFORM", "linux-amd64");
    fleet
}

pub(crate) fn update(env: &TestEnv, extra: &[&str]) -> Run {
    let mut args = vec![
        "toolchain",
        "lock",
        "update",
        "fixture@2.0.0",
        "rawfix@2.0.0",
    ];
    args.extend_from_slice(extra);
    env.op(&args)
}

/// The body of `[tools.TOOL.platforms.KEY]` in lock text (up to the next table).
fn entry_block<'a>(text: &'a str, tool: &str, key: &str) -> &'a str {
    let header = format!("[tools.{tool}.platforms.{key}]");
    let start = text
        .find(&header)
        .unwrap_or_else(|| panic!("{header} missing:\n{text}"));
    let rest = &text[start + header.len()..];
    &rest[..rest.find("\n[").unwrap_or(rest.len())]
}

/// Serves every file under `dir` at `/<its path relative to dir>`, as a static server would.
fn serve_dir(server: &Server, dir: &Path) {
    for path in walk(dir).into_iter().filter(|path| path.is_file()) {
        let relative = path
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        server.route(
            &format!("/{relative}"),
            Route::new(std::fs::read(&path).unwrap()),
        );
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
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
    .success()
    .stderr_has("fixture 1.0.0 -> 2.0.0: 5 platforms")
    .stderr_has("and DEPENDENCIES.md");
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
    }
    // Only checksum files (GET, each once) and one HEAD per artifact: nothing downloaded.
    let mut gets: Vec<String> = up
        .server
        .requests()
        .iter()
        .filter(|request| request.method == "GET")
        .map(|request| request.target.clone())
        .collect();
    gets.sort();
    let mut expected: Vec<String> = up
        .files
        .iter()
        .map(|(path, _)| path.clone())
        .filter(|path| path.ends_with(".sha256") || path.ends_with("checksums.txt"))
        .collect();
    expected.sort();
    assert_eq!(gets, expected);
    let mut heads: Vec<String> = up
        .server
        .requests()
        .iter()
        .filter(|request| request.method == "HEAD")
        .map(|request| request.target.clone())
        .collect();
    heads.sort();
    let mut artifacts: Vec<String> = up.artifacts.iter().map(|(path, _)| path.clone()).collect();
    artifacts.sort();
    assert_eq!(heads, artifacts);
    // Sizes from Content-Length; none where HEAD gave none.
    let windows = up.body("windows_amd64.zip");
    assert!(
        entry_block(&text, "fixture", "windows-amd64")
            .contains(&format!("size = {}\n", windows.len())),
        "{text}"
    );
    let linux = entry_block(&text, "fixture", "linux-amd64");
    assert!(
        !linux.contains("size"),
        "no Content-Length, no size: {linux}"
    );

    // The rewritten lock is consistent, installable, and DEPENDENCIES.md follows it.
    env.op(&["toolchain", "lock", "check"]).success();
    let deps = std::fs::read_to_string(env.work().join("DEPENDENCIES.md")).unwrap();
    assert!(
        deps.contains("| fixture | 2.0.0 |") && deps.contains("| rawfix | 2.0.0 |"),
        "{deps}"
    );
    assert_eq!(
        deps,
        format!(
            "{}\n",
            env.op(&["toolchain", "list", "--markdown"])
                .success()
                .stdout
                .trim_end()
        )
    );
    env.op(&["toolchain", "install"]).success();
    env.op(&["toolchain", "exec", "fixture", "ok"])
        .success()
        .stdout_has(&archive::marker("fixture-linux-amd64"))
        .stdout_has("arg=[ok]");
}

#[test]
fn update_fails_closed_and_leaves_the_lock_untouched() {
    let digest = |fill: char| fill.to_string().repeat(64);
    let disagreeing: String = [
        "linux_amd64.tar.gz",
        "linux_arm64.tar.gz",
        "darwin_amd64.tar.gz",
        "darwin_arm64.tar.gz",
        "windows_amd64.zip",
    ]
    .iter()
    .map(|name| format!("{}  fixture_2.0.0_{name}\n", digest('b')))
    .chain([format!(
        "{}  fixture_2.0.0_darwin_arm64.tar.gz\n",
        digest('c')
    )])
    .collect();
    let cases: Vec<(&str, Route, i32, &str)> = vec![
        (
            "asset missing from checksums.txt",
            Route::new(format!("{}  something-else.tar.gz\n", digest('a'))),
            3,
            "has no entry for fixture_2.0.0_",
        ),
        (
            "corrupted line",
            Route::new("zzzz  fixture_2.0.0_linux_amd64.tar.gz\n"),
            3,
            "checksums.txt: line 1",
        ),
        (
            "two digests disagree",
            Route::new(disagreeing),
            3,
            "lists fixture_2.0.0_darwin_arm64.tar.gz twice with different digests",
        ),
        (
            "checksums.txt not published",
            Route::new(Vec::new()).then(Reply::Status(404)),
            4,
            "404",
        ),
    ];
    for (name, route, code, message) in cases {
        let (env, up, lock) = setup();
        up.server.route(&Upstream::sums_path(), route);
        let before = std::fs::read(&lock).unwrap();
        env.op(&[
            "toolchain",
            "lock",
            "update",
            "rawfix@2.0.0",
            "fixture@2.0.0",
        ])
        .code(code)
        .stderr_has(message);
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
        let temp: Vec<String> = dir_names(&env.work())
            .into_iter()
            .filter(|name| name.starts_with(".op-"))
            .collect();
        assert!(temp.is_empty(), "{name}: temp files left: {temp:?}");
    }
}

#[test]
fn update_needs_a_lock_file_and_known_tools() {
    let (env, _up, lock) = setup();
    let before = std::fs::read(&lock).unwrap();
    env.op(&["toolchain", "lock", "update", "nosuch@1.0.0"])
        .code(2)
        .stderr_has("nosuch");
    env.op(&["toolchain", "lock", "update", "fixture"])
        .code(2)
        .stderr_has("TOOL@VERSION");
    env.op(&["toolchain", "lock", "update", "fixture@2.0.0", "fixture@3"])
        .code(2)
        .stderr_has("named twice");
    env.op(&["toolchain", "lock", "update", "fixture@2.0/../x"])
        .code(2)
        .stderr_has("is not a version");
    assert_eq!(std::fs::read(&lock).unwrap(), before);
    let bare = TestEnv::new();
    bare.op(&["toolchain", "lock", "update", "flux@2.8.0"])
        .code(2)
        .stderr_has("built-in lock");
}

#[test]
fn update_refuses_a_changed_digest_for_a_pinned_url_unless_accepted() {
    let (env, up, lock) = setup();
    update(&env, &[]).success();
    let pinned = std::fs::read(&lock).unwrap();
    let deps = std::fs::read(env.work().join("DEPENDENCIES.md")).unwrap();

    // The same version again, nothing changed upstream: nothing changes here.
    update(&env, &[])
        .success()
        .stderr_has("fixture 2.0.0 (same version)")
        .stderr_has("already up to date");
    assert_eq!(std::fs::read(&lock).unwrap(), pinned);

    // Upstream re-uploads one asset: refused, naming it, with both files untouched.
    let path = "/dl.example.com/rawfix/v2.0.0/rawfix-darwin-arm64";
    let old = sha256_hex(up.body("rawfix-darwin-arm64"));
    let new = sha256_hex(b"re-uploaded");
    up.server
        .route(&format!("{path}.sha256"), Route::new(format!("{new}\n")));
    update(&env, &[])
        .code(3)
        .stderr_has("rawfix 2.0.0 (darwin-arm64)")
        .stderr_has(&new)
        .stderr_has(&old)
        .stderr_has("the lock was not changed")
        .stderr_has("--accept-reupload");
    assert_eq!(std::fs::read(&lock).unwrap(), pinned, "the lock changed");
    assert_eq!(
        std::fs::read(env.work().join("DEPENDENCIES.md")).unwrap(),
        deps
    );

    // Accepted on purpose: recorded, with a warning.
    update(&env, &["--accept-reupload"])
        .success()
        .stderr_has("warning: rawfix 2.0.0 (darwin-arm64)");
    let text = std::fs::read_to_string(&lock).unwrap();
    let block = entry_block(&text, "rawfix", "darwin-arm64");
    assert!(block.contains(&new) && !block.contains(&old), "{block}");

    // A pinned size that contradicts the server's for the same digest is refused too.
    let block = entry_block(&text, "rawfix", "linux-arm64");
    let size_line = block.lines().find(|line| line.starts_with("size")).unwrap();
    let wrong = text.replacen(block, &block.replace(size_line, "size = 999999"), 1);
    std::fs::write(&lock, &wrong).unwrap();
    update(&env, &[])
        .code(3)
        .stderr_has("rawfix 2.0.0 (linux-arm64)")
        .stderr_has("size = 999999");
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), wrong);
}

#[test]
fn update_requires_every_checksum_source_to_agree() {
    let (env, up, lock) = setup();
    let two_sources = std::fs::read_to_string(&lock).unwrap().replace(
        "checksums = \"https://github.com/acme/fixture/releases/download/v{version}/checksums.txt\"",
        "checksums = [\"https://github.com/acme/fixture/releases/download/v{version}/checksums.txt\", \"{url}.sha256\"]",
    );
    std::fs::write(&lock, &two_sources).unwrap();
    let fixtures: Vec<(String, Vec<u8>)> = up
        .artifacts
        .iter()
        .filter(|(path, _)| path.contains("/fixture_2.0.0_"))
        .cloned()
        .collect();
    for (path, body) in &fixtures {
        let name = path.rsplit('/').next().unwrap();
        let digest = if name.contains("darwin_amd64") {
            sha256_hex(b"something else")
        } else {
            sha256_hex(body)
        };
        up.server.route(
            &format!("{path}.sha256"),
            Route::new(format!("{digest} *{name}\n")),
        );
    }
    update(&env, &[])
        .code(3)
        .stderr_has("disagree about fixture_2.0.0_darwin_amd64.tar.gz")
        .stderr_has("checksums.txt says");
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), two_sources);

    let (path, body) = fixtures
        .iter()
        .find(|(path, _)| path.contains("darwin_amd64"))
        .unwrap();
    up.server.route(
        &format!("{path}.sha256"),
        Route::new(format!("{}\n", sha256_hex(body))),
    );
    let reads = |path: &str| up.server.gets(&format!("{path}.sha256"));
    let before: Vec<usize> = fixtures.iter().map(|(path, _)| reads(path)).collect();
    update(&env, &[]).success();
    for ((path, _), before) in fixtures.iter().zip(before) {
        assert_eq!(reads(path), before + 1, "{path}: both sources are read");
    }
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .success();
}

#[test]
fn update_through_a_file_mirror_offline_keeps_the_mode_and_comments() {
    let (mut env, up, lock) = setup();
    let copy = env.root().join("upstream-copy");
    for (path, body) in &up.files {
        let file = copy.join(&path[1..]);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body).unwrap();
    }
    env.mirror(crate::support::file_url(&copy))
        .set("OP_OFFLINE", "1");
    let commented = std::fs::read_to_string(&lock).unwrap().replacen(
        "version = \"1.0.0\"\nchecksums = \"{url}",
        "version = \"1.0.0\"  # rawfix: bump with care\nchecksums = \"{url}",
        1,
    );
    std::fs::write(&lock, commented).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o640)).unwrap();

    update(&env, &[]).success();
    assert_eq!(up.server.request_count(), 0, "a socket was used");
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(
        text.contains("version = \"2.0.0\"  # rawfix: bump with care\n"),
        "{text}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&lock), 0o640);
    // Without HEAD, a file mirror's sizes are the files' own.
    let body = up.body("fixture_2.0.0_linux_amd64.tar.gz");
    let block = entry_block(&text, "fixture", "linux-amd64");
    assert!(
        block.contains(&format!("size = {}\n", body.len())),
        "{block}"
    );
}

#[test]
fn head_answers_decide_the_sizes() {
    let (env, up, lock) = setup();
    let before = std::fs::read(&lock).unwrap();
    // The checksum file lists the asset but the server does not have it: the template is wrong.
    up.server.route(
        "/dl.example.com/rawfix/v2.0.0/rawfix-linux-arm64",
        Route::new(Vec::new())
            .head(Reply::Status(404))
            .then(Reply::Status(404)),
    );
    update(&env, &[])
        .code(4)
        .stderr_has("rawfix 2.0.0 (linux-arm64)")
        .stderr_has("404");
    assert_eq!(std::fs::read(&lock).unwrap(), before);

    // A server that does not do HEAD (405) gives no sizes, and that is not an error.
    for (path, body) in &up.artifacts {
        up.server
            .route(path, Route::new(body.clone()).head(Reply::Status(405)));
    }
    update(&env, &[]).success().stdout_has("size unknown");
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(!text.contains("size ="), "{text}");
    for (path, _) in &up.artifacts {
        assert_eq!(up.server.gets(path), 0, "{path} was downloaded");
    }
}

#[cfg(unix)]
#[test]
fn a_checksum_list_in_a_file_mirror_that_is_a_fifo_is_exit_2_not_a_hang() {
    let (mut env, up, _lock) = setup();
    let copy = env.root().join("upstream-copy");
    for (path, body) in &up.files {
        let file = copy.join(&path[1..]);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body).unwrap();
    }
    let list = copy.join("github.com/acme/fixture/releases/download/v2.0.0/checksums.txt");
    std::fs::remove_file(&list).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&list)
        .status()
        .unwrap();
    assert!(made.success());
    env.mirror(crate::support::file_url(&copy))
        .set("OP_OFFLINE", "1");
    env.spawn(&["toolchain", "lock", "update", "fixture@2.0.0"])
        .wait(std::time::Duration::from_secs(30))
        .code(2)
        .stderr_has(&list.display().to_string())
        .stderr_has("FIFO");
}

#[test]
fn check_upstream_reports_a_reuploaded_asset() {
    let (env, up, _lock) = setup();
    update(&env, &[]).success();
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .success()
        .stderr_has("10 artifacts match their upstream checksums");
    // Upstream re-publishes one asset under the same name.
    let path = "/dl.example.com/rawfix/v2.0.0/rawfix-darwin-arm64";
    let reuploaded = sha256_hex(b"re-uploaded");
    up.server.route(
        &format!("{path}.sha256"),
        Route::new(format!("{reuploaded}\n")),
    );
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .code(3)
        .stderr_has("re-uploaded")
        .stdout_has("changed: rawfix 2.0.0 (darwin-arm64)")
        .stdout_has(&reuploaded);

    // An asset dropped from checksums.txt is reported too, and the check goes on past it.
    let sums = &up
        .files
        .iter()
        .find(|(path, _)| *path == Upstream::sums_path())
        .unwrap()
        .1;
    let trimmed: String = String::from_utf8_lossy(sums)
        .lines()
        .filter(|line| !line.contains("windows_amd64"))
        .map(|line| format!("{line}\n"))
        .collect();
    up.server.route(&Upstream::sums_path(), Route::new(trimmed));
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .code(3)
        .stderr_has("1 asset no longer matches")
        .stderr_has("1 asset has no usable")
        .stdout_has("problem: fixture 2.0.0 (windows-amd64)")
        .stdout_has("has no entry for fixture_2.0.0_windows_amd64.zip")
        .stdout_has("changed: rawfix 2.0.0 (darwin-arm64)");
}

#[test]
fn check_offline_finds_missing_platforms_and_template_drift() {
    let env = TestEnv::new();
    let path = env.root().join("drift.lock");
    let drifted = lock_v1()
        .replace(
            "fixture_1.0.0_darwin_arm64.tar.gz",
            "fixture_1.0.0_macos_arm64.tar.gz",
        )
        .replace(&"2".repeat(64), &"1".repeat(64));
    std::fs::write(&path, drifted).unwrap();
    env.op(&[
        "--lock",
        path.to_str().unwrap(),
        "toolchain",
        "lock",
        "check",
    ])
    .code(2)
    .stdout_has("fixture 1.0.0 (darwin-arm64): the template gives")
    .stdout_has("fixture 1.0.0 (linux-arm64): sha256 1111")
    .stdout_has("is also pinned for darwin-amd64, a different url")
    .stderr_has("does not pin skaffold, pack, flux, kubectl, crane");
    env.op(&["toolchain", "lock", "check"])
        .success()
        .stderr_has("the built-in toolchain.lock: every tool and platform is pinned");
}

#[test]
fn mirror_export_then_install_offline_over_file_and_http() {
    let (env, up, _lock) = setup();
    update(&env, &[]).success();
    let dir = env.root().join("mirror");
    let dir_arg = dir.to_str().unwrap();
    env.op(&["toolchain", "mirror", dir_arg, "--all-platforms"])
        .success()
        .stderr_has("10 artifacts, 10 fetched");
    for (path, body) in &up.artifacts {
        let file = dir.join(&path[1..]);
        assert_eq!(std::fs::read(&file).unwrap(), *body, "{path}");
        // A static file server running as another user must be able to read it.
        #[cfg(unix)]
        assert_eq!(mode(&file), 0o644, "{path}");
        assert_eq!(up.server.gets(path), 1);
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("op-mirror.json")).unwrap()).unwrap();
    assert_eq!(manifest["artifacts"].as_array().unwrap().len(), 10);
    env.op(&["toolchain", "mirror", "verify", dir_arg])
        .success()
        .stderr_has("10 mirror artifacts match");

    // Re-running fetches only what is missing.
    let (missing, _) = &up.artifacts[3];
    std::fs::remove_file(dir.join(&missing[1..])).unwrap();
    env.op(&["toolchain", "mirror", dir_arg, "--all-platforms"])
        .success()
        .stderr_has("1 fetched, 9 already present");
    for (path, _) in &up.artifacts {
        let expected = if path == missing { 2 } else { 1 };
        assert_eq!(up.server.gets(path), expected, "{path}");
    }

    // An isolated fleet machine: offline, file:// mirror.
    let mut offline = fleet(&env, &crate::support::file_url(&dir));
    offline.set("OP_OFFLINE", "1");
    offline.op(&["toolchain", "install"]).success();
    offline
        .op(&["toolchain", "exec", "rawfix"])
        .success()
        .stdout_has(&archive::marker("rawfix-linux-amd64"));

    // The same directory behind a static HTTP server.
    let static_server = Server::http();
    serve_dir(&static_server, &dir);
    let online = fleet(&env, &static_server.url());
    online.op(&["toolchain", "install"]).success();
    assert_eq!(
        up.server.gets(&up.artifacts[0].0),
        1,
        "upstream was not asked"
    );
    assert!(static_server.gets(&up.artifacts[0].0) >= 1);
}

#[test]
fn a_tampered_mirror_is_caught_by_verify_and_by_install() {
    let (env, up, _lock) = setup();
    update(&env, &[]).success();
    let dir = env.root().join("mirror");
    let dir_arg = dir.to_str().unwrap();
    env.op(&["toolchain", "mirror", dir_arg]).success();
    let (path, _) = up
        .artifacts
        .iter()
        .find(|(path, _)| path.ends_with("rawfix-linux-amd64"))
        .unwrap();
    let file = dir.join(&path[1..]);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    env.op(&["toolchain", "mirror", "verify", dir_arg])
        .code(3)
        .stderr_has("rawfix 2.0.0 (linux-amd64)")
        .stderr_has("rawfix-linux-amd64 has sha256");

    let target = fleet(&env, &crate::support::file_url(&dir));
    target
        .op(&["toolchain", "install", "rawfix"])
        .code(3)
        .stderr_has("SHA-256 mismatch");
    target.assert_nothing_installed();

    // Served over HTTP, the tampered file is refused the same way.
    let static_server = Server::http();
    serve_dir(&static_server, &dir);
    let remote = fleet(&env, &static_server.url());
    remote
        .op(&["toolchain", "install", "rawfix"])
        .code(3)
        .stderr_has("SHA-256 mismatch");
    remote.assert_nothing_installed();

    // Re-running the export repairs it, as `mirror verify`'s hint says.
    env.op(&["toolchain", "mirror", dir_arg])
        .success()
        .stderr_has("fetching it again");
    env.op(&["toolchain", "mirror", "verify", dir_arg])
        .success();
    target.op(&["toolchain", "install", "rawfix"]).success();
}
