//! `op toolchain exec`: on-demand install of that tool alone, argv and exit code passed
//! through, stdin inherited, its bin dir first on the child's PATH; and a real kubectl run
//! through a mirror.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::support::archive::{fixture_script, marker};
use crate::support::{
    Artifact, Kind, Lock, PATH_SEPARATOR, Pin, SYSTEM_PATH, TestEnv, exe, host_platform,
};
use crate::toolchain_install::three_tools;

#[test]
fn exec_installs_on_demand_and_passes_the_arguments() {
    let lock = three_tools();
    let (env, server) = TestEnv::served(&lock);

    let run = env.op(&[
        "toolchain",
        "exec",
        "fixture-zip",
        "--",
        "build",
        "two words",
        "--flag=x",
        "-v",
    ]);
    run.success()
        .stdout_has(&marker("fixture-zip"))
        .stdout_has("arg=[build]\narg=[two words]\narg=[--flag=x]\narg=[-v]\n");
    // Only the tool that runs is ensured, not the rest of the lock.
    assert_eq!(
        env.installed(),
        [lock.pin("fixture-zip").dir_name(host_platform())],
        "{:?}",
        env.installed()
    );
    assert_eq!(server.request_count(), 1);
}

#[test]
fn exec_without_a_double_dash_passes_the_arguments_too() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    env.op(&["toolchain", "exec", "fixture-raw", "version", "--client"])
        .success()
        .stdout_has("arg=[version]\narg=[--client]\n");
}

#[test]
fn exec_passes_the_childs_exit_code_through() {
    let script = fixture_script("fixture-tool", 7);
    let url = "https://github.com/acme/fixture/releases/download/v1.2.3/fixture-tool";
    let pin = Pin::custom(
        "fixture-tool",
        "1.2.3",
        Artifact::new(host_platform(), url, script, Kind::Raw, None),
    );
    let (mut env, _server) = TestEnv::served(&Lock::new(vec![pin]));

    env.op(&["toolchain", "exec", "fixture-tool"])
        .code(7)
        .stdout_has(&marker("fixture-tool"));
    env.set("FIXTURE_EXIT", "42");
    env.op(&["toolchain", "exec", "fixture-tool", "--", "x"])
        .code(42);
    env.set("FIXTURE_EXIT", "0");
    env.op(&["toolchain", "exec", "fixture-tool"]).success();
}

#[test]
fn exec_puts_the_tools_bin_dir_first_on_the_childs_path() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);

    let run = env.op(&["toolchain", "exec", "fixture-raw"]);
    run.success();
    let path = run
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("PATH="))
        .unwrap_or_else(|| panic!("the fixture printed no PATH:\n{}", run.stdout));
    let entries: Vec<&str> = path.split(PATH_SEPARATOR).collect();
    // Only the tool's own: the other lock tools are not installed (none of them is one that
    // fixture-raw starts).
    let expected: BTreeSet<String> = [lock.pin("fixture-raw")]
        .into_iter()
        .map(|pin| {
            env.tool_dir(pin, host_platform())
                .join("bin")
                .display()
                .to_string()
        })
        .collect();
    let first: BTreeSet<String> = entries[..expected.len()]
        .iter()
        .map(|entry| entry.to_string())
        .collect();
    assert_eq!(first, expected, "child PATH={path}");
    for other in ["fixture-zip", "fixture-tgz"] {
        let dir = env.tool_dir(lock.pin(other), host_platform()).join("bin");
        assert!(
            !entries.contains(&dir.to_str().unwrap()),
            "{other} is not on the PATH: {path}"
        );
    }
    assert!(
        path.ends_with(SYSTEM_PATH),
        "the caller's PATH should follow the tool dirs: {path}"
    );
}

#[test]
fn exec_inherits_stdin() {
    let lock = three_tools();
    let (mut env, _server) = TestEnv::served(&lock);
    env.set("FIXTURE_STDIN", "1");
    env.op_with_stdin(
        &["toolchain", "exec", "fixture-tgz"],
        "line from the caller's stdin\n",
    )
    .success()
    .stdout_has("line from the caller's stdin");
}

#[test]
fn exec_of_a_tool_the_lock_lacks_fails_and_names_it() {
    let (env, _server) = TestEnv::served(&three_tools());
    env.op(&["toolchain", "exec", "no-such-tool", "--", "x"])
        .failure()
        .stderr_has("no-such-tool");
}

/// The first `name` on the system PATH, following symlinks.
fn system_binary(name: &str) -> Option<PathBuf> {
    SYSTEM_PATH
        .split(PATH_SEPARATOR)
        .map(|dir| PathBuf::from(dir).join(exe(name)))
        .find(|path| path.is_file())
}

#[test]
#[expect(
    clippy::print_stderr,
    reason = "a skipped test says why in the test output"
)]
fn a_real_kubectl_installs_and_runs_through_exec() {
    let Some(kubectl) = system_binary("kubectl") else {
        eprintln!("skipped: no kubectl on {SYSTEM_PATH}");
        return;
    };
    let body = std::fs::read(&kubectl).expect("read kubectl");
    let url = "https://dl.k8s.io/release/v0.0.0-local/bin/linux/amd64/kubectl";
    let pin = Pin::custom(
        "kubectl",
        "0.0.0-local",
        Artifact::new(host_platform(), url, body, Kind::Raw, None),
    );
    let lock = Lock::new(vec![pin.clone()]);
    let (env, server) = TestEnv::served(&lock);

    env.op(&["toolchain", "exec", "kubectl", "--", "version", "--client"])
        .success()
        .stdout_has("Client Version");
    assert_eq!(server.gets(&pin.artifact().server_path()), 1);
    env.op(&["toolchain", "which", "kubectl"])
        .success()
        .stdout_is(&format!(
            "{}\n",
            env.bin_path(&pin, host_platform()).display()
        ));
}
