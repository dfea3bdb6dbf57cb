//! The lock: malformed files (exit 2, naming file, tool, platform and field), which lock is
//! active (--lock > OP_TOOLCHAIN_LOCK > discovered > embedded), the embedded lock and
//! DEPENDENCIES.md, and platform selection (OP_TOOLCHAIN_PLATFORM, exit 5).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::server::dead_url;
use crate::support::{Kind, Lock, Pin, TestEnv, host_platform, other_platform, third_platform};

const PLATFORMS: [&str; 5] = [
    "linux-amd64",
    "linux-arm64",
    "darwin-amd64",
    "darwin-arm64",
    "windows-amd64",
];

const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A one-tool lock text with `platform_body` as the platform table's body.
fn lock_with(platform_body: &str) -> String {
    format!(
        "schema = 1\n\n[tools.fixture-tool]\nversion = \"1.2.3\"\n\n[tools.fixture-tool.platforms.{}]\n{platform_body}",
        host_platform()
    )
}

/// Runs `list` and `install` against `text` as the discovered lock; both must exit 2 and name
/// the file and each of `parts`. A safe env: offline, and a dead mirror.
#[track_caller]
fn assert_rejected(text: &str, parts: &[&str]) {
    let mut env = TestEnv::new();
    env.mirror(dead_url()).set("OP_OFFLINE", "1");
    let path = env.write_file("work/toolchain.lock", text);
    for command in ["list", "install"] {
        let run = env.op(&["toolchain", command]);
        run.code(2).stderr_has(path.to_str().unwrap());
        for part in parts {
            run.stderr_has(part);
        }
    }
    env.assert_nothing_installed();
}

#[test]
fn a_toml_syntax_error_exits_2_naming_the_file() {
    assert_rejected(
        "schema = 1\n[tools.fixture-tool\nversion = \"1.2.3\"\n",
        &[],
    );
}

#[test]
fn an_unknown_key_exits_2_naming_tool_platform_and_key() {
    let text = lock_with(&format!(
        "url = \"https://github.com/acme/x/releases/download/v1/x\"\nsha256 = \"{DIGEST}\"\narchive = \"raw\"\nchecksum_typo = \"oops\"\n"
    ));
    assert_rejected(&text, &["fixture-tool", host_platform(), "checksum_typo"]);
}

#[test]
fn an_unknown_key_of_a_tool_exits_2_naming_tool_and_key() {
    let text = format!(
        "schema = 1\n\n[tools.fixture-tool]\nversion = \"1.2.3\"\nverison = \"1.2.4\"\n\n[tools.fixture-tool.platforms.{}]\nurl = \"https://github.com/acme/x/releases/download/v1/x\"\nsha256 = \"{DIGEST}\"\narchive = \"raw\"\n",
        host_platform()
    );
    assert_rejected(&text, &["fixture-tool", "verison"]);
}

#[test]
fn a_63_hex_digit_digest_exits_2_naming_the_field() {
    let text = lock_with(&format!(
        "url = \"https://github.com/acme/x/releases/download/v1/x\"\nsha256 = \"{}\"\narchive = \"raw\"\n",
        &DIGEST[..63]
    ));
    assert_rejected(&text, &["fixture-tool", host_platform(), "sha256"]);
}

#[test]
fn a_digest_with_a_non_hex_digit_exits_2_naming_the_field() {
    let text = lock_with(&format!(
        "url = \"https://github.com/acme/x/releases/download/v1/x\"\nsha256 = \"{}g\"\narchive = \"raw\"\n",
        &DIGEST[..63]
    ));
    assert_rejected(&text, &["fixture-tool", host_platform(), "sha256"]);
}

#[test]
fn a_missing_url_exits_2_naming_the_field() {
    let text = lock_with(&format!("sha256 = \"{DIGEST}\"\narchive = \"raw\"\n"));
    assert_rejected(&text, &["fixture-tool", host_platform(), "url"]);
}

#[test]
fn an_unknown_archive_kind_exits_2_naming_the_field() {
    let text = lock_with(&format!(
        "url = \"https://github.com/acme/x/releases/download/v1/x.rar\"\nsha256 = \"{DIGEST}\"\narchive = \"rar\"\nbin = \"x\"\n"
    ));
    assert_rejected(&text, &["fixture-tool", host_platform(), "archive", "rar"]);
}

#[test]
fn an_archive_without_a_bin_exits_2_naming_the_field() {
    let text = lock_with(&format!(
        "url = \"https://github.com/acme/x/releases/download/v1/x.tar.gz\"\nsha256 = \"{DIGEST}\"\narchive = \"tar.gz\"\n"
    ));
    assert_rejected(&text, &["fixture-tool", host_platform(), "bin"]);
}

#[test]
fn a_missing_digest_exits_2_naming_the_field() {
    let text = lock_with(
        "url = \"https://github.com/acme/x/releases/download/v1/x\"\narchive = \"raw\"\n",
    );
    assert_rejected(&text, &["fixture-tool", host_platform(), "sha256"]);
}

#[test]
fn a_tool_without_a_version_exits_2_naming_the_field() {
    let text = format!(
        "schema = 1\n\n[tools.fixture-tool]\n\n[tools.fixture-tool.platforms.{}]\nurl = \"https://github.com/acme/x/releases/download/v1/x\"\nsha256 = \"{DIGEST}\"\narchive = \"raw\"\n",
        host_platform()
    );
    assert_rejected(&text, &["fixture-tool", "version"]);
}

#[test]
fn a_malformed_lock_given_with_the_lock_flag_is_named() {
    let mut env = TestEnv::new();
    env.mirror(dead_url()).set("OP_OFFLINE", "1");
    let path = env.write_file("elsewhere/custom.lock", &lock_with("archive = \"raw\"\n"));
    env.op(&["toolchain", "list", "--lock", path.to_str().unwrap()])
        .code(2)
        .stderr_has(path.to_str().unwrap())
        .stderr_has("url");
}

/// The tool names `op toolchain list --json` reports, sorted.
fn listed_tools(env: &TestEnv, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["toolchain", "list", "--json"];
    args.extend_from_slice(extra);
    let json = env.op(&args).success().json();
    let mut tools: Vec<String> = json
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|row| row["tool"].as_str().expect("a tool name").to_string())
        .collect();
    tools.sort();
    tools
}

fn named_lock(tool: &str) -> String {
    Lock::new(vec![Pin::fixture(tool, "1.0.0", Kind::Raw)]).text()
}

fn embedded_tools() -> Vec<String> {
    let mut tools: Vec<String> = ["crane", "flux", "kubectl", "pack", "skaffold"]
        .map(String::from)
        .to_vec();
    tools.sort();
    tools
}

#[test]
fn the_lock_in_the_working_directory_or_a_parent_is_discovered() {
    let mut env = TestEnv::new();
    env.write_file("work/toolchain.lock", &named_lock("from-work"));
    assert_eq!(listed_tools(&env, &[]), ["from-work"]);

    let deep = env.work().join("services/api/src");
    std::fs::create_dir_all(&deep).unwrap();
    env.cwd(&deep);
    assert_eq!(listed_tools(&env, &[]), ["from-work"]);

    env.write_file("work/services/toolchain.lock", &named_lock("from-services"));
    assert_eq!(
        listed_tools(&env, &[]),
        ["from-services"],
        "the nearest lock wins"
    );
}

#[test]
fn discovery_stops_at_the_repository_root() {
    let mut env = TestEnv::new();
    // Above work/, which has .git: never read.
    env.write_file("toolchain.lock", &named_lock("above-the-repository"));
    let sub = env.work().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    env.cwd(&sub);
    assert_eq!(listed_tools(&env, &[]), embedded_tools());
}

#[test]
fn the_lock_flag_beats_the_environment_which_beats_discovery() {
    let mut env = TestEnv::new();
    env.write_file("work/toolchain.lock", &named_lock("from-discovery"));
    let from_env = env.write_file("locks/env.lock", &named_lock("from-env"));
    let from_flag = env.write_file("locks/flag.lock", &named_lock("from-flag"));
    let flag = from_flag.to_str().unwrap();

    assert_eq!(listed_tools(&env, &[]), ["from-discovery"]);
    env.set("OP_TOOLCHAIN_LOCK", from_env.to_str().unwrap());
    assert_eq!(listed_tools(&env, &[]), ["from-env"]);
    assert_eq!(listed_tools(&env, &["--lock", flag]), ["from-flag"]);
    // The flag is global: also before the subcommand.
    let json = env
        .op(&["--lock", flag, "toolchain", "list", "--json"])
        .success()
        .json();
    assert_eq!(json[0]["tool"], "from-flag", "{json:#}");
}

/// The repository's toolchain.lock, parsed: tool → (version, platform → (sha256, archive, bin)).
fn repo_lock() -> toml::Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("toolchain.lock");
    let text = std::fs::read_to_string(&path).expect("read toolchain.lock");
    text.parse::<toml::Table>().expect("toolchain.lock is TOML")
}

/// The documented cache path of a tool of the repository lock.
fn embedded_bin_path(env: &TestEnv, tool: &str, entry: &toml::Value, platform: &str) -> PathBuf {
    let version = entry["version"].as_str().unwrap();
    let artifact = &entry["platforms"][platform];
    let sha = artifact["sha256"].as_str().unwrap();
    let exe = match (artifact["archive"].as_str().unwrap(), artifact.get("bin")) {
        ("raw", _) | (_, None) if platform == "windows-amd64" => format!("{tool}.exe"),
        ("raw", _) | (_, None) => tool.to_string(),
        (_, Some(bin)) => bin
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string(),
    };
    env.cache()
        .join("tools")
        .join(crate::support::lock::entry_key(
            tool,
            version,
            platform,
            sha,
            artifact["archive"].as_str().unwrap(),
            artifact.get("bin").and_then(|bin| bin.as_str()),
        ))
        .join("bin")
        .join(exe)
}

#[test]
fn without_any_lock_the_embedded_lock_pins_the_five_tools() {
    let env = TestEnv::new();
    let expected: BTreeSet<(String, String)> = [
        ("skaffold", "2.14.0"),
        ("pack", "0.40.0"),
        ("flux", "2.7.5"),
        ("kubectl", "1.35.2"),
        ("crane", "0.21.5"),
    ]
    .iter()
    .map(|(tool, version)| (tool.to_string(), version.to_string()))
    .collect();
    let tools = repo_lock()["tools"].as_table().unwrap().clone();

    for platform in PLATFORMS {
        let json = env
            .op(&["toolchain", "list", "--json", "--platform", platform])
            .success()
            .json();
        let rows = json.as_array().expect("a JSON array");
        let listed: BTreeSet<(String, String)> = rows
            .iter()
            .map(|row| {
                (
                    row["tool"].as_str().unwrap().to_string(),
                    row["version"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(listed, expected, "{platform}: {json:#}");
        assert_eq!(rows.len(), 5, "{json:#}");
        for row in rows {
            let tool = row["tool"].as_str().unwrap();
            assert_eq!(row["platform"], platform, "{row}");
            assert_eq!(row["installed"], false, "{row}");
            let path = embedded_bin_path(&env, tool, &tools[tool], platform);
            assert_eq!(row["path"], path.to_str().unwrap(), "{row}");
        }
    }
    // And the host's own platform by default.
    assert_eq!(listed_tools(&env, &[]), embedded_tools());
}

#[test]
fn dependencies_md_agrees_with_toolchain_lock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let markdown =
        std::fs::read_to_string(root.join("DEPENDENCIES.md")).expect("read DEPENDENCIES.md");
    let locked: BTreeSet<(String, String)> = repo_lock()["tools"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(tool, entry)| (tool.clone(), entry["version"].as_str().unwrap().to_string()))
        .collect();

    // The table whose header starts `| tool | version |`.
    let mut documented = BTreeSet::new();
    let mut in_table = false;
    for line in markdown.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if !line.trim_start().starts_with('|') {
            in_table = false;
        } else if cells.len() >= 2 && cells[0] == "tool" && cells[1] == "version" {
            in_table = true;
        } else if in_table && !cells[0].starts_with("---") && !cells[0].starts_with(":-") {
            documented.insert((
                cells[0].trim_matches('`').to_string(),
                cells[1].trim_matches('`').to_string(),
            ));
        }
    }
    assert!(
        !documented.is_empty(),
        "no `| tool | version |` table in DEPENDENCIES.md"
    );
    assert_eq!(
        documented, locked,
        "DEPENDENCIES.md (left) vs toolchain.lock (right)"
    );
}

#[test]
fn op_toolchain_platform_selects_another_platforms_entry() {
    let pin = Pin::fixture_for("fixture-tool", "1.2.3", Kind::TarGz, other_platform())
        .and_platform(third_platform(), Kind::Zip);
    let lock = Lock::new(vec![pin.clone()]);
    let (mut env, server) = TestEnv::served(&lock);

    // Exit 5 names the tool and every platform the lock has for it.
    env.op(&["toolchain", "install"])
        .code(5)
        .stderr_has("fixture-tool")
        .stderr_has(other_platform())
        .stderr_has(third_platform());
    assert_eq!(server.request_count(), 0);
    env.op(&["toolchain", "exec", "fixture-tool"]).code(5);

    env.set("OP_TOOLCHAIN_PLATFORM", other_platform());
    env.op(&["toolchain", "install"]).success();
    assert!(env.bin_path(&pin, other_platform()).is_file());
    env.op(&["toolchain", "which", "fixture-tool"])
        .success()
        .stdout_is(&format!(
            "{}\n",
            env.bin_path(&pin, other_platform()).display()
        ));
}
