//! `op toolchain which`, `list`, `env`, `verify` and `prune`, and `--version`/`--help` of both
//! binaries, over fixture tools served by a loopback mirror.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::support::{Kind, Lock, Pin, TestEnv, host_platform, other_platform};
use crate::toolchain_install::three_tools;

/// The bin dirs of every pin of `lock` for the host, as strings, sorted.
fn bin_dirs(env: &TestEnv, lock: &Lock) -> BTreeSet<String> {
    lock.pins
        .iter()
        .map(|pin| {
            env.tool_dir(pin, host_platform())
                .join("bin")
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn which_prints_the_absolute_path_of_the_installed_tool() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();

    for pin in &lock.pins {
        let expected = env.bin_path(pin, host_platform());
        // `TOOL.exe` on Windows, whether the artifact is raw or an archive.
        let name = crate::support::exe(&pin.tool);
        assert_eq!(expected.file_name(), Some(std::ffi::OsStr::new(&name)));
        env.op(&["toolchain", "which", &pin.tool])
            .success()
            .stdout_is(&format!("{}\n", expected.display()));
    }
}

#[test]
fn which_before_install_exits_1_with_a_hint_and_no_download() {
    let lock = three_tools();
    let (env, server) = TestEnv::served(&lock);

    env.op(&["toolchain", "which", "fixture-raw"])
        .code(1)
        .stdout_is("")
        .stderr_has("op toolchain install");
    assert_eq!(server.request_count(), 0);
    assert_eq!(env.installed(), Vec::<String>::new());
}

#[test]
fn which_of_a_tool_the_lock_lacks_exits_2() {
    let (env, _server) = TestEnv::served(&three_tools());
    env.op(&["toolchain", "which", "no-such-tool"])
        .code(2)
        .stderr_has("no-such-tool");
}

#[test]
fn list_shows_every_tool_before_and_after_install() {
    let lock = three_tools();
    let (env, server) = TestEnv::served(&lock);

    let text = env.op(&["toolchain", "list"]);
    text.success();
    for pin in &lock.pins {
        text.stdout_has(&pin.tool).stdout_has(&pin.version);
    }

    let check = |installed: bool| {
        let json = env.op(&["toolchain", "list", "--json"]).json();
        let rows = json.as_array().expect("a JSON array");
        assert_eq!(rows.len(), lock.pins.len(), "{json:#}");
        for pin in &lock.pins {
            let row = rows
                .iter()
                .find(|row| row["tool"] == pin.tool.as_str())
                .unwrap_or_else(|| panic!("{} missing from {json:#}", pin.tool));
            assert_eq!(row["version"], pin.version.as_str(), "{row}");
            assert_eq!(row["platform"], host_platform(), "{row}");
            assert_eq!(row["installed"], installed, "{row}");
            let path = env.bin_path(pin, host_platform());
            assert_eq!(row["path"], path.to_str().unwrap(), "{row}");
        }
    };
    check(false);
    assert_eq!(server.request_count(), 0, "list must not download");
    env.op(&["toolchain", "install"]).success();
    check(true);
}

#[test]
fn list_json_with_the_platform_flag_describes_that_platform() {
    let pin =
        Pin::fixture("fixture-tool", "1.2.3", Kind::Raw).and_platform(other_platform(), Kind::Zip);
    let lock = Lock::new(vec![pin.clone()]);
    let (env, _server) = TestEnv::served(&lock);

    let json = env
        .op(&[
            "toolchain",
            "list",
            "--json",
            "--platform",
            other_platform(),
        ])
        .json();
    let row = &json[0];
    assert_eq!(row["platform"], other_platform(), "{json:#}");
    assert_eq!(row["installed"], false, "{json:#}");
    let path = env.bin_path(&pin, other_platform());
    assert_eq!(row["path"], path.to_str().unwrap(), "{json:#}");
}

#[cfg(unix)]
#[test]
fn env_prints_one_export_line_that_puts_the_tools_first_on_path() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);

    // Installs on demand.
    let run = env.op(&["toolchain", "env"]);
    run.success();
    assert_eq!(env.installed().len(), 3, "env installs the tools");

    let line = run.stdout.strip_suffix('\n').unwrap_or(&run.stdout);
    assert!(!line.contains('\n'), "one line expected:\n{}", run.stdout);
    let dirs = line
        .strip_prefix("export PATH=\"")
        .and_then(|rest| rest.strip_suffix(":$PATH\""))
        .unwrap_or_else(|| panic!("not an export PATH line: {line}"));
    let listed: BTreeSet<String> = dirs.split(':').map(str::to_string).collect();
    assert_eq!(listed, bin_dirs(&env, &lock));

    // A POSIX shell that evaluates the line finds the pinned tools first.
    let script = format!("{line}\ncommand -v fixture-tgz\n");
    let output = std::process::Command::new("/bin/sh")
        .env_clear()
        .env("PATH", crate::support::SYSTEM_PATH)
        .args(["-c", &script])
        .output()
        .expect("run sh");
    let expected = env.bin_path(lock.pin("fixture-tgz"), host_platform());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{}\n", expected.display())
    );
}

#[test]
fn env_for_fish_and_powershell_names_every_bin_dir() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    for shell in ["fish", "powershell", "sh"] {
        let run = env.op(&["toolchain", "env", "--shell", shell]);
        run.success();
        for dir in bin_dirs(&env, &lock) {
            // fish and sh on Windows are the MSYS shells (Git Bash): `C:\x\y` is `/c/x/y`
            // there, a drive colon would split PATH.
            let shown = match dir.split_once(":\\") {
                Some((drive, rest)) if cfg!(windows) && shell != "powershell" => {
                    format!(
                        "/{}/{}",
                        drive.to_ascii_lowercase(),
                        rest.replace('\\', "/")
                    )
                }
                _ => dir,
            };
            run.stdout_has(&shown);
        }
    }
}

#[test]
fn env_github_appends_each_dir_to_github_path_and_prints_nothing() {
    let lock = three_tools();
    let (mut env, _server) = TestEnv::served(&lock);
    let github_path = env.write_file("runner/github_path", "/already/there\n");
    env.set("GITHUB_PATH", github_path.to_str().unwrap());

    env.op(&["toolchain", "env", "--github"])
        .success()
        .stdout_is("");

    let text = std::fs::read_to_string(&github_path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("/already/there"), "{text}");
    let appended: BTreeSet<String> = lines.map(str::to_string).collect();
    assert_eq!(appended, bin_dirs(&env, &lock), "{text}");
}

#[test]
fn env_github_without_github_path_exits_2() {
    let (env, _server) = TestEnv::served(&three_tools());
    env.op(&["toolchain", "env", "--github"])
        .code(2)
        .stderr_has("GITHUB_PATH");
}

#[test]
fn verify_reports_ok_for_each_installed_tool() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();

    let run = env.op(&["toolchain", "verify"]);
    run.success();
    for pin in &lock.pins {
        assert_has_ok_line(&run.stdout, &pin.tool, &pin.version);
    }
}

/// A stdout line whose whitespace-separated words start `ok <tool> <version>`.
#[track_caller]
fn assert_has_ok_line(stdout: &str, tool: &str, version: &str) {
    assert!(
        stdout.lines().any(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.len() >= 3 && words[..3] == ["ok", tool, version]
        }),
        "no line `ok {tool} {version} ...`:\n{stdout}"
    );
}

#[test]
fn verify_fails_with_exit_3_when_an_installed_binary_was_modified() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();
    let bin = env.bin_path(lock.pin("fixture-tgz"), host_platform());
    std::fs::OpenOptions::new()
        .append(true)
        .open(&bin)
        .unwrap()
        .write_all(b"echo tampered\n")
        .unwrap();

    env.op(&["toolchain", "verify"])
        .code(3)
        .stderr_has("fixture-tgz");
}

#[test]
fn verify_reports_a_tool_that_is_not_installed_without_failing() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install", "fixture-raw"]).success();

    let run = env.op(&["toolchain", "verify"]);
    run.success();
    assert_has_ok_line(&run.stdout, "fixture-raw", "1.2.3");
    assert!(
        run.stdout.contains("fixture-zip") || run.stderr.contains("fixture-zip"),
        "fixture-zip (not installed) is not reported:\n{}{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn prune_removes_only_ops_own_entries_the_lock_does_not_pin_and_nobody_used_lately() {
    let old = Pin::fixture("fixture-tool", "1.0.0", Kind::Raw);
    let new = Pin::fixture("fixture-tool", "2.0.0", Kind::TarGz)
        .and_platform(other_platform(), Kind::Raw);
    let old_lock = Lock::new(vec![old.clone()]);
    let new_lock = Lock::new(vec![new.clone()]);
    let (env, server) = TestEnv::served(&old_lock);
    server.publish(&new_lock);
    env.op(&["toolchain", "install"]).success();
    env.write_lock(&new_lock);
    env.op(&["toolchain", "install"]).success();
    env.op(&["toolchain", "install", "--platform", other_platform()])
        .success();
    // Key-shaped, but without an op receipt: not op's to delete.
    let stray = env
        .cache()
        .join("tools/unrelated-9.9.9-linux-amd64-0123456789ab");
    std::fs::create_dir_all(stray.join("bin")).unwrap();
    let old_dir = env.tool_dir(&old, host_platform());
    let kept: Vec<PathBuf> = vec![
        env.tool_dir(&new, host_platform()),
        env.tool_dir(&new, other_platform()),
    ];
    let printed =
        |stdout: &str| -> BTreeSet<String> { stdout.lines().map(str::to_string).collect() };

    // The old entry ran a minute ago (another repository may still use it): kept.
    env.op(&["toolchain", "prune", "--dry-run"])
        .success()
        .stdout_is("")
        .stderr_has("kept 1 used within 1d")
        .stderr_has("left alone 1 name under tools/");

    crate::support::age(&old_dir, Duration::from_secs(2 * 86_400));
    let expected: BTreeSet<String> = [old_dir.display().to_string()].into();
    let dry = env.op(&["toolchain", "prune", "--dry-run"]);
    dry.success();
    assert_eq!(printed(&dry.stdout), expected, "dry run output");
    assert!(old_dir.is_dir(), "--dry-run deleted something");

    let run = env.op(&["toolchain", "prune"]);
    run.success();
    assert_eq!(printed(&run.stdout), expected, "prune output");
    assert!(!old_dir.exists(), "{} survived", old_dir.display());
    assert!(
        stray.join("bin").is_dir(),
        "prune removed a directory op did not create"
    );
    for dir in &kept {
        assert!(dir.is_dir(), "{} was pruned", dir.display());
    }
    assert_eq!(env.staging(), Vec::<String>::new());
    env.op(&["toolchain", "prune", "--unused-for", "0"])
        .success()
        .stdout_is("");
    env.op(&["toolchain", "which", "fixture-tool"]).success();
    env.op(&["toolchain", "prune", "--unused-for", "1w"])
        .code(2)
        .stderr_has("--unused-for");
}

#[test]
fn version_and_help_name_the_binary_they_were_invoked_as() {
    let env = TestEnv::new();
    let semver = regex::Regex::new(r"^(op|octopipeline) \d+\.\d+\.\d+\S*\n$").unwrap();
    let run = env.op(&["--version"]);
    run.success();
    assert!(
        semver.is_match(&run.stdout) && run.stdout.starts_with("op "),
        "{}",
        run.stdout
    );
    let run = env.octopipeline(&["--version"]);
    run.success();
    assert!(
        semver.is_match(&run.stdout) && run.stdout.starts_with("octopipeline "),
        "{}",
        run.stdout
    );
    env.octopipeline(&["--help"])
        .success()
        .stdout_has("Usage: octopipeline");
    // A usage error names the invoked name too, so the suggested command runs this program.
    env.octopipeline(&["--no-such-flag"])
        .code(2)
        .stderr_has("Usage: octopipeline")
        .stderr_lacks("Usage: op ");
}

#[test]
fn run_as_octopipeline_every_hint_and_example_names_octopipeline() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    let run = env.octopipeline(&["toolchain", "which", "fixture-raw"]);
    run.code(1)
        .stderr_has("run `octopipeline toolchain install fixture-raw`")
        .stderr_lacks("`op ");
    env.op(&["toolchain", "which", "fixture-raw"])
        .code(1)
        .stderr_has("run `op toolchain install fixture-raw`");
    let help = env.octopipeline(&["toolchain", "prune", "--help"]);
    help.success()
        .stdout_has("  octopipeline toolchain prune --dry-run");
    assert!(!help.stdout.contains("  op toolchain"), "{}", help.stdout);
    let man = env.octopipeline(&["man"]);
    man.success().stdout_has("octopipeline toolchain install");
    assert!(!man.stdout.contains("  op toolchain"), "{}", man.stdout);
}
