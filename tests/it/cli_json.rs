//! `--json` on install, verify, lock check and outdated: one document on stdout with
//! `"schema": 1`, human lines on stderr, the exit code unchanged (a failing verify still exits 3
//! and still prints a row per tool).

use std::path::Path;

use crate::lock_lifecycle::{setup, update};
use crate::support::{Kind, Lock, Pin, Route, TestEnv, host_platform, sha256_hex};

/// The row of `tool` in a document's `list` array.
#[track_caller]
fn row<'a>(document: &'a serde_json::Value, list: &str, tool: &str) -> &'a serde_json::Value {
    document[list]
        .as_array()
        .unwrap_or_else(|| panic!("no `{list}` array: {document}"))
        .iter()
        .find(|row| row["tool"] == tool)
        .unwrap_or_else(|| panic!("no row for {tool}: {document}"))
}

#[track_caller]
fn header(document: &serde_json::Value, command: &str) {
    assert_eq!(document["schema"], 1, "{document}");
    assert_eq!(document["command"], command, "{document}");
}

#[test]
fn install_json_has_a_row_per_tool_also_when_one_fails() {
    let good = Pin::fixture("fixture-good", "1.0.0", Kind::TarGz);
    let mut bad = Pin::fixture("fixture-bad", "1.0.0", Kind::Raw);
    bad.artifact_mut().sha256 = sha256_hex(b"not the bytes the mirror serves");
    let (env, _server) = TestEnv::served(&Lock::new(vec![good.clone()]));

    let run = env.op(&["toolchain", "install", "--json"]);
    run.success().stderr_has("1 tool ready");
    let document = run.json();
    header(&document, "toolchain install");
    assert_eq!(document["ok"], true);
    assert_eq!(document["platform"], host_platform());
    let tool = row(&document, "tools", "fixture-good");
    assert_eq!(tool["version"], "1.0.0");
    assert_eq!(tool["platform"], host_platform());
    assert_eq!(tool["status"], "installed");
    assert!(tool["bytes"].as_u64().unwrap() > 0, "{tool}");
    assert_eq!(tool["problems"], serde_json::json!([]));
    let path = tool["path"].as_str().unwrap();
    assert_eq!(Path::new(path), env.bin_path(&good, host_platform()));
    assert!(Path::new(path).is_file(), "{path}");

    let run = env.op(&["toolchain", "install", "--json"]);
    assert_eq!(
        row(&run.success().json(), "tools", "fixture-good")["status"],
        "present"
    );

    // One corrupt tool next to the installed one: exit 3 as without --json, and the document
    // says which one failed and why.
    let (env, _server) = TestEnv::served(&Lock::new(vec![good.clone(), bad.clone()]));
    env.op(&["toolchain", "install", "fixture-good"]).success();
    let run = env.op(&["toolchain", "install", "--json"]);
    run.code(3).stderr_has("fixture-bad");
    let document = run.json();
    header(&document, "toolchain install");
    assert_eq!(document["ok"], false);
    assert_eq!(row(&document, "tools", "fixture-good")["status"], "present");
    let failed = row(&document, "tools", "fixture-bad");
    assert_eq!(failed["status"], "failed");
    let problems = failed["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{failed}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .contains(&bad.artifact().sha256),
        "{failed}"
    );
}

#[test]
fn verify_json_reports_each_tool_and_still_exits_3() {
    let first = Pin::fixture("fixture-tool", "1.2.3", Kind::TarGz);
    let second = Pin::fixture("fixture-raw", "2.0.0", Kind::Raw);
    let absent = Pin::fixture("fixture-absent", "3.0.0", Kind::Raw);
    let (env, _server) = TestEnv::served(&Lock::new(vec![first.clone(), second.clone(), absent]));
    env.op(&["toolchain", "install", "fixture-tool", "fixture-raw"])
        .success();

    let run = env.op(&["toolchain", "verify", "--json"]);
    run.success();
    let document = run.json();
    header(&document, "toolchain verify");
    assert_eq!(document["ok"], true);
    let ok = row(&document, "tools", "fixture-tool");
    assert_eq!(ok["status"], "ok");
    assert_eq!(ok["version"], "1.2.3");
    assert_eq!(ok["platform"], host_platform());
    assert_eq!(
        Path::new(ok["path"].as_str().unwrap()),
        env.bin_path(&first, host_platform())
    );
    assert_eq!(
        row(&document, "tools", "fixture-absent")["status"],
        "missing"
    );

    std::fs::write(
        env.bin_path(&second, host_platform()),
        "#!/bin/sh\necho evil\n",
    )
    .unwrap();
    let run = env.op(&["toolchain", "verify", "--json"]);
    // The table lines are on stderr beside the document, the error as without --json.
    run.code(3)
        .stderr_has("BAD     fixture-raw 2.0.0")
        .stderr_has("1 installed tool differs from the lock");
    let document = run.json();
    assert_eq!(document["ok"], false);
    assert_eq!(row(&document, "tools", "fixture-tool")["status"], "ok");
    let bad = row(&document, "tools", "fixture-raw");
    assert_eq!(bad["status"], "bad");
    assert!(
        bad["problems"][0]
            .as_str()
            .unwrap()
            .contains("was modified"),
        "{bad}"
    );
}

#[test]
fn lock_check_json_without_and_with_upstream() {
    let (env, up, _lock) = setup();
    update(&env, &[]).success();

    let run = env.op(&["toolchain", "lock", "check", "--json"]);
    run.success();
    let document = run.json();
    header(&document, "toolchain lock check");
    assert_eq!(document["ok"], true);
    assert_eq!(document["problems"], serde_json::json!([]));
    assert_eq!(document["upstream"], serde_json::Value::Null);

    // One asset re-uploaded upstream: exit 3, and its row says `changed`.
    let sidecar = "/dl.example.com/rawfix/v2.0.0/rawfix-darwin-arm64.sha256";
    up.server.route(
        sidecar,
        Route::new(format!("{}\n", sha256_hex(b"re-uploaded"))),
    );
    let run = env.op(&["toolchain", "lock", "check", "--upstream", "--json"]);
    run.code(3)
        .stderr_has("changed: rawfix 2.0.0 (darwin-arm64)")
        .stderr_has("1 asset no longer matches");
    let document = run.json();
    header(&document, "toolchain lock check");
    assert_eq!(document["ok"], false);
    let rows = document["upstream"].as_array().unwrap();
    let status = |tool: &str, platform: &str| {
        let found = rows
            .iter()
            .find(|row| row["tool"] == tool && row["platform"] == platform)
            .unwrap_or_else(|| panic!("no {tool} {platform}: {document}"));
        assert_eq!(found["version"], "2.0.0");
        found.clone()
    };
    let changed = status("rawfix", "darwin-arm64");
    assert_eq!(changed["status"], "changed");
    assert!(
        changed["problems"][0]
            .as_str()
            .unwrap()
            .contains(&sha256_hex(b"re-uploaded")),
        "{changed}"
    );
    assert_eq!(status("rawfix", "linux-amd64")["status"], "ok");
    assert_eq!(status("fixture", "linux-amd64")["status"], "ok");
}

#[cfg(unix)]
/// `env --shell SHELL` evaluated by that shell puts the pinned tools first on PATH.
#[test]
fn env_output_evaluated_in_bash_and_zsh_finds_the_tools() {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::TarGz);
    let (env, _server) = TestEnv::served(&Lock::new(vec![pin.clone()]));
    let expected = env.bin_path(&pin, host_platform());
    for shell in ["bash", "zsh", "sh"] {
        let Ok(found) = which(shell) else {
            assert_ne!(shell, "bash", "bash is needed for this test");
            continue;
        };
        let run = env.op(&["toolchain", "env", "--shell", shell]);
        run.success();
        let script = format!("{}\ncommand -v fixture-tool", run.stdout.trim_end());
        let output = std::process::Command::new(found)
            .args(["-c", &script])
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}: {output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            expected.display().to_string(),
            "{shell}"
        );
    }
}

#[cfg(unix)]
fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    ["/bin", "/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
        .ok_or(())
}
