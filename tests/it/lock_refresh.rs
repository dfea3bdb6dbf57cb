//! The bot loop: the Renovate preset's regex managers against the real toolchain.lock, and the
//! `lock-refresh` mode (scripts/lock-refresh.sh) in a scratch git repository: with a stand-in
//! `op` that records what it is asked, and end to end with the real `op` re-locking what a bot
//! bumped so that `lock check` passes again. Shell is checked with shellcheck when installed.

use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::process::Command;

#[cfg(unix)]
use crate::lock_lifecycle::setup;
#[cfg(unix)]
use crate::support::sha256_hex;

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[cfg(unix)]
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[cfg(unix)]
/// Runs scripts/lock-refresh.sh with `command` (a `bash` command) in `dir` with `vars` set.
fn refresh(mut command: Command, dir: &Path, vars: &[(&str, &str)]) -> (i32, String) {
    command
        .arg(repo_file("scripts/lock-refresh.sh"))
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    for (key, value) in vars {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// The `(depName, datasource, packageName, regex)` of each custom manager of the preset.
fn managers() -> Vec<(String, String, String, regex::Regex, Vec<regex::Regex>)> {
    let text = std::fs::read_to_string(repo_file("renovate/toolchain.json")).unwrap();
    let preset: serde_json::Value = serde_json::from_str(&text).unwrap();
    preset["customManagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|manager| {
            assert_eq!(manager["customType"], "regex");
            let strings = manager["matchStrings"].as_array().unwrap();
            assert_eq!(strings.len(), 1);
            let files = manager["managerFilePatterns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pattern| {
                    let pattern = pattern.as_str().unwrap();
                    let inner = pattern
                        .strip_prefix('/')
                        .and_then(|rest| rest.strip_suffix('/'))
                        .expect("a /regex/ pattern");
                    regex::Regex::new(inner).unwrap()
                })
                .collect();
            (
                manager["depNameTemplate"].as_str().unwrap().to_string(),
                manager["datasourceTemplate"].as_str().unwrap().to_string(),
                manager["packageNameTemplate"].as_str().unwrap().to_string(),
                regex::Regex::new(strings[0].as_str().unwrap()).unwrap(),
                files,
            )
        })
        .collect()
}

#[test]
fn the_renovate_preset_finds_each_pinned_version_in_the_real_lock() {
    let lock_text = std::fs::read_to_string(repo_file("toolchain.lock")).unwrap();
    let lock: toml::Table = toml::from_str(&lock_text).unwrap();
    let tools = lock["tools"].as_table().unwrap();
    let expected = [
        ("skaffold", "GoogleContainerTools/skaffold"),
        ("pack", "buildpacks/pack"),
        ("flux", "fluxcd/flux2"),
        ("kubectl", "kubernetes/kubernetes"),
        ("crane", "google/go-containerregistry"),
    ];
    let managers = managers();
    assert_eq!(managers.len(), tools.len(), "one manager per pinned tool");
    for (tool, package) in expected {
        let (_, datasource, package_name, pattern, files) = managers
            .iter()
            .find(|(name, ..)| name == tool)
            .unwrap_or_else(|| panic!("no manager for {tool}"));
        assert_eq!(datasource, "github-releases", "{tool}");
        assert_eq!(package_name, package, "{tool}");
        let found: Vec<&str> = pattern
            .captures_iter(&lock_text)
            .map(|captures| captures.name("currentValue").unwrap().as_str())
            .collect();
        let pinned = tools[tool]["version"].as_str().unwrap();
        assert_eq!(found, [pinned], "{tool}: exactly the pinned version");
        for (path, matches) in [
            ("toolchain.lock", true),
            ("ci/toolchain.lock", true),
            ("toolchain.lock.orig", false),
            ("mytoolchain.lock", false),
        ] {
            assert_eq!(
                files.iter().any(|file| file.is_match(path)),
                matches,
                "{tool}: {path}"
            );
        }
    }
    // A bump as Renovate writes it (only the version line) is found at its new value.
    let bumped = lock_text.replacen("version = \"2.7.5\"", "version = \"2.8.0\"", 1);
    let (.., flux, _) = managers.iter().find(|(name, ..)| name == "flux").unwrap();
    assert_eq!(&flux.captures(&bumped).unwrap()["currentValue"], "2.8.0");
}

#[cfg(unix)]
/// A scratch repository on `main` holding `lock` and a DEPENDENCIES.md, then a `bot` branch
/// where a bot changed two version lines.
fn scratch(lock: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    git(path, &["init", "-q", "-b", "main"]);
    std::fs::write(path.join("toolchain.lock"), lock).unwrap();
    std::fs::write(path.join("DEPENDENCIES.md"), "old\n").unwrap();
    git(path, &["add", "."]);
    git(path, &["commit", "-q", "-m", "base"]);
    dir
}

#[cfg(unix)]
const SMALL: &str = "schema = 1\n\n[tools.flux]\nversion = \"2.7.5\"\n\n[tools.flux.platforms.linux-amd64]\nurl = \"u\"\n\n\
[tools.kubectl] # comment\nversion = \"1.35.2\"\n\n[tools.crane]\nversion = \"0.21.5\"\n";

#[cfg(unix)]
/// A stand-in `op` that logs its argv and, the first time, rewrites DEPENDENCIES.md.
fn fake_op(dir: &Path) -> PathBuf {
    let op = dir.join("fake-op");
    std::fs::write(
        &op,
        "#!/bin/sh\necho \"$*\" >> \"$OP_LOG\"\necho relocked > DEPENDENCIES.md\n",
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&op).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&op, permissions).unwrap();
    op
}

#[cfg(unix)]
#[test]
fn lock_refresh_relocks_exactly_the_versions_the_bot_changed_and_commits() {
    let repo = scratch(SMALL);
    let path = repo.path();
    let tools = tempfile::tempdir().unwrap();
    let op = fake_op(tools.path());
    let log = tools.path().join("op.log");
    let vars = |base: &'static str| {
        vec![
            ("OP", op.to_str().unwrap().to_string()),
            ("OP_LOG", log.to_str().unwrap().to_string()),
            ("BASE_REF", base.to_string()),
        ]
    };
    let run = |base: &'static str| {
        let owned = vars(base);
        let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        refresh(Command::new("bash"), path, &borrowed)
    };

    // Nothing changed since main: op is not run.
    let (code, text) = run("main");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("nothing to re-lock"), "{text}");
    assert!(!log.exists());

    git(path, &["checkout", "-q", "-b", "bot"]);
    let bumped = SMALL
        .replace("\"2.7.5\"", "\"2.8.0\"")
        .replace("\"1.35.2\"", "\"1.36.0\"");
    std::fs::write(path.join("toolchain.lock"), bumped).unwrap();
    git(path, &["commit", "-q", "-am", "Update flux and kubectl"]);
    let (code, text) = run("main");
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "toolchain lock update --lock toolchain.lock flux@2.8.0 kubectl@1.36.0\n"
    );
    assert_eq!(
        git(path, &["log", "-1", "--format=%s"]).trim(),
        "toolchain.lock: re-lock flux@2.8.0 kubectl@1.36.0"
    );
    assert_eq!(git(path, &["status", "--porcelain"]), "", "all committed");
    assert_eq!(
        git(path, &["show", "--name-only", "--format=", "HEAD"]).trim(),
        "DEPENDENCIES.md"
    );

    // Run again: op finds nothing to change, and no empty commit is made.
    let commits = git(path, &["rev-list", "--count", "HEAD"]);
    let (code, text) = run("main");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("nothing to commit"), "{text}");
    assert_eq!(git(path, &["rev-list", "--count", "HEAD"]), commits);

    // Without a base (the schedule): every tool at its newest release.
    std::fs::remove_file(&log).unwrap();
    let owned = [
        ("OP", op.to_str().unwrap().to_string()),
        ("OP_LOG", log.to_str().unwrap().to_string()),
        ("MIN_AGE", "3d".to_string()),
        ("COMMIT", "false".to_string()),
    ];
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, text) = refresh(Command::new("bash"), path, &borrowed);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "toolchain lock update --all --lock toolchain.lock --min-age 3d\n"
    );

    // A base the clone does not have is a clear error.
    let (code, text) = run("origin/nowhere");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("fetch-depth: 0"), "{text}");
}

#[cfg(unix)]
#[test]
fn lock_refresh_with_the_real_op_turns_a_bot_bump_into_a_consistent_lock() {
    let (env, up, lock) = setup();
    let dir = env.work();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "toolchain.lock", "DEPENDENCIES.md"]);
    git(&dir, &["commit", "-q", "-m", "base"]);
    git(&dir, &["checkout", "-q", "-b", "renovate/fixture-2.x"]);
    // What Renovate writes: the version line, nothing else.
    let text = std::fs::read_to_string(&lock).unwrap();
    let bumped = text.replacen(
        "[tools.fixture]\nversion = \"1.0.0\"",
        "[tools.fixture]\nversion = \"2.0.0\"",
        1,
    );
    assert_ne!(bumped, text);
    std::fs::write(&lock, &bumped).unwrap();
    git(&dir, &["commit", "-q", "-am", "Update fixture to v2.0.0"]);
    env.op(&["toolchain", "lock", "check"]).code(2);

    let op = env!("CARGO_BIN_EXE_op");
    let (code, output) = refresh(
        env.std_command(Path::new("bash")),
        &dir,
        &[("BASE_REF", "main"), ("OP", op)],
    );
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("fixture 1.0.0 -> 2.0.0"), "{output}");
    let relocked = std::fs::read_to_string(&lock).unwrap();
    for (path, body) in up
        .artifacts
        .iter()
        .filter(|(path, _)| path.contains("fixture_"))
    {
        assert!(relocked.contains(&sha256_hex(body)), "{path} not pinned");
    }
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&dir, &["log", "-1", "--format=%s"]).trim(),
        "toolchain.lock: re-lock fixture@2.0.0"
    );
    assert!(
        std::fs::read_to_string(dir.join("DEPENDENCIES.md"))
            .unwrap()
            .contains("2.0.0")
    );
    // The gate that was red after the bot's commit is green again.
    env.op(&["toolchain", "lock", "check"])
        .success()
        .stderr_has("every tool and platform is pinned and consistent");
}

#[cfg(unix)]
/// shellcheck, when installed, on the script and on every `run:` of action.yml.
#[test]
fn the_action_and_script_pass_shellcheck() {
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        #[expect(clippy::print_stderr, reason = "a skipped test says why")]
        {
            eprintln!("skipped: shellcheck is not installed");
        }
        return;
    }
    let check = |path: &Path| {
        let output = Command::new("shellcheck")
            .args(["--shell=bash", "--severity=style"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stdout)
        );
    };
    check(&repo_file("scripts/lock-refresh.sh"));
    let action: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(repo_file("action.yml")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let expression = regex::Regex::new(r"\$\{\{[^}]*\}\}").unwrap();
    let mut checked = 0;
    for (index, step) in action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let Some(run) = step["run"].as_str() else {
            continue;
        };
        let script = dir.path().join(format!("step-{index}.sh"));
        std::fs::write(&script, expression.replace_all(run, "EXPR").as_bytes()).unwrap();
        check(&script);
        checked += 1;
    }
    assert!(checked >= 3, "{checked} run steps");
    let modes = action["inputs"]["mode"]["description"].as_str().unwrap();
    assert!(modes.contains("lock-refresh"));
    // actionlint, when installed, on the example workflow the README shows.
    if Command::new("actionlint").arg("--version").output().is_ok() {
        let output = Command::new("actionlint")
            .arg(repo_file("docs/examples/toolchain-lock-refresh.yml"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}
