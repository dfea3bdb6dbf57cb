//! `-q/--quiet`, `-v/--verbose`, `--color` with `NO_COLOR` and `CLICOLOR_FORCE`, and an
//! interrupted download that says so.

#[cfg(unix)]
use std::time::Duration;

#[cfg(unix)]
use rustix::process::{Pid, Signal, kill_process};

#[cfg(unix)]
use crate::support::wait_until;
use crate::support::{Kind, Lock, Pin, Reply, Route, TestEnv};
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

#[cfg(unix)]
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
    let pid = Pid::from_raw(running.pid() as i32).expect("a child's pid");
    kill_process(pid, Signal::INT).expect("send SIGINT");
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

#[cfg(unix)]
/// `op ARGS` on a terminal `columns` wide (util-linux `script` makes one), Ctrl-C typed once
/// the download runs; `None` without `script`. Returns everything the terminal showed.
fn on_a_terminal(
    env: &TestEnv,
    server: &crate::support::Server,
    path: &str,
    columns: u16,
) -> Option<String> {
    use std::io::{Read, Write};
    let script = std::path::Path::new("/usr/bin/script");
    if !script.exists() {
        return None;
    }
    let op = assert_cmd::cargo::cargo_bin!("op");
    let mut command = env.std_command(script);
    command
        .args(["-qfec"])
        .arg(format!(
            "stty cols {columns} rows 24; exec {} toolchain install",
            op.display()
        ))
        .arg("/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = command.spawn().expect("run script");
    let started = wait_until(Duration::from_secs(20), || server.gets(path) > 0);
    // Long enough for several frames of the bar (it redraws every 120 ms).
    std::thread::sleep(Duration::from_millis(1500));
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"\x03");
    let _ = stdin.flush();
    let finished = wait_until(Duration::from_secs(20), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !finished {
        let _ = child.kill();
    }
    let mut shown = Vec::new();
    let _ = child.stdout.take().expect("stdout").read_to_end(&mut shown);
    let _ = child.wait();
    assert!(
        started && finished,
        "started {started}, finished {finished}"
    );
    Some(String::from_utf8_lossy(&shown).into_owned())
}

#[cfg(unix)]
#[test]
fn on_a_narrow_terminal_the_bar_fits_and_ctrl_c_clears_it() {
    let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    let lock = Lock::new(vec![pin.clone()]);
    let (mut env, server) = TestEnv::served(&lock);
    env.unset("OP_NO_PROGRESS").set("TERM", "xterm");
    let path = pin.artifact().server_path();
    server.route(
        &path,
        Route::new(pin.artifact().body.clone()).then(Reply::Drip {
            chunk: 1,
            every: Duration::from_millis(300),
        }),
    );
    let Some(shown) = on_a_terminal(&env, &server, &path, 50) else {
        return;
    };
    let (bars, after) = shown
        .split_once("interrupted: the downloads stopped")
        .unwrap_or_else(|| panic!("no interrupted line: {shown:?}"));
    let frames: Vec<String> = bars
        .split('\r')
        // The terminal echoes the typed Ctrl-C as `^C` after the last frame.
        .map(|frame| {
            console::strip_ansi_codes(&frame.replace("^C", ""))
                .trim_end()
                .to_string()
        })
        .filter(|frame| frame.contains('['))
        .collect();
    assert!(
        frames
            .iter()
            .any(|frame| frame.starts_with("fixture-tool 1.2.3 [")),
        "no bar was shown: {shown:?}"
    );
    for frame in &frames {
        assert!(
            console::measure_text_width(frame) <= 50,
            "wider than the terminal: {frame:?}"
        );
    }
    // The bar's line is erased before the message, and nothing is drawn after it.
    assert!(
        bars.ends_with("\x1b[2K"),
        "the bar was not cleared: {shown:?}"
    );
    assert!(!after.contains("fixture-tool"), "{shown:?}");
}
