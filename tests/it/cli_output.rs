//! `-q/--quiet`, `-v/--verbose`, `--color` with `NO_COLOR` and `CLICOLOR_FORCE`, and an
//! interrupted download that says so.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{Kind, Lock, Pin, Reply, Route, TestEnv, wait_until};
use crate::toolchain_install::three_tools;

const ESCAPE: &str = "\x1b[";

#[test]
fn quiet_prints_errors_only() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    let run = env.op(&["toolchain", "install", "--quiet"]);
    run.success();
    assert_eq!(run.stderr, "", "--quiet printed:\n{}", run.stderr);
    // Data still goes to stdout, and errors still show.
    env.op(&["-q", "toolchain", "which", "fixture-raw"])
        .success()
        .stdout_has("fixture-raw");
    env.op(&["-q", "toolchain", "which", "no-such-tool"])
        .code(2)
        .stderr_has("error:");
    // Without it, the same install says what it did.
    let (env, _server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"])
        .success()
        .stderr_has("3 tools ready");
}

#[test]
fn verbose_shows_each_attempt_and_lock_wait_with_timings() {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    let lock = Lock::new(vec![pin.clone()]);
    let (env, server) = TestEnv::served(&lock);
    let path = pin.artifact().server_path();
    server.route(
        &path,
        Route::new(pin.artifact().body.clone()).script([Reply::Status(503)]),
    );
    let run = env.op(&["toolchain", "install", "-v"]);
    run.success()
        .stderr_has("attempt 1 failed: HTTP 503")
        .stderr_has("attempt 2 done")
        .stderr_has("cache lock");
    let timed = run
        .stderr
        .lines()
        .filter(|line| line.starts_with('[') && line.contains("s] "))
        .count();
    assert!(timed >= 4, "lines without timings:\n{}", run.stderr);

    // Quiet and verbose together are a usage error.
    env.op(&["toolchain", "install", "-q", "-v"]).code(2);
    // Without --verbose, none of it.
    env.op(&["toolchain", "install", "--force"])
        .success()
        .stderr_lacks("attempt 1");
}

#[test]
fn colour_follows_the_flag_no_color_and_clicolor_force() {
    let mut env = TestEnv::new();
    let failing = ["toolchain", "which", "no-such-tool"];
    // Off a terminal and with NO_COLOR (the harness default): plain.
    let run = env.op(&failing);
    run.code(2);
    assert!(!run.stderr.contains(ESCAPE), "{:?}", run.stderr);
    // --color always wins over NO_COLOR.
    let mut always = failing.to_vec();
    always.push("--color=always");
    env.op(&always).code(2).stderr_has("\x1b[1;31merror:");

    // CLICOLOR_FORCE colours off a terminal, unless NO_COLOR or --color never.
    env.set("CLICOLOR_FORCE", "1");
    let run = env.op(&failing);
    assert!(
        !run.stderr.contains(ESCAPE),
        "NO_COLOR lost: {:?}",
        run.stderr
    );
    env.unset("NO_COLOR");
    env.op(&failing).code(2).stderr_has("\x1b[1;31merror:");
    let mut never = failing.to_vec();
    never.extend(["--color", "never"]);
    let run = env.op(&never);
    assert!(!run.stderr.contains(ESCAPE), "{:?}", run.stderr);
    env.set("CLICOLOR_FORCE", "0");
    let run = env.op(&failing);
    assert!(!run.stderr.contains(ESCAPE), "{:?}", run.stderr);
}

#[test]
fn an_interrupted_download_says_so() {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    let lock = Lock::new(vec![pin.clone()]);
    let (env, server) = TestEnv::served(&lock);
    let path = pin.artifact().server_path();
    server.route(
        &path,
        Route::new(pin.artifact().body.clone()).then(Reply::Drip {
            chunk: 1,
            every: Duration::from_millis(500),
        }),
    );
    let running = env.spawn(&["toolchain", "install"]);
    assert!(
        wait_until(Duration::from_secs(20), || server.gets(&path) > 0),
        "the download never started"
    );
    kill(Pid::from_raw(running.pid() as i32), Signal::SIGINT).expect("send SIGINT");
    let run = running.wait(Duration::from_secs(20));
    run.code(130)
        .stderr_has("interrupted: the downloads stopped");
    env.op(&["toolchain", "which", "fixture-tool"]).code(1);
}

#[test]
fn global_flags_after_the_tool_of_exec_belong_to_the_tool() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    let run = env.op(&[
        "toolchain",
        "exec",
        "fixture-raw",
        "-v",
        "-q",
        "--color",
        "always",
    ]);
    run.success();
    for arg in ["-v", "-q", "--color", "always"] {
        run.stdout_has(&format!("arg=[{arg}]"));
    }
    // Before the tool, they are op's: verbose shows the command line it runs.
    env.op(&["toolchain", "exec", "-v", "fixture-raw", "x"])
        .success()
        .stdout_has("arg=[x]")
        .stderr_has("running ");
}
