//! Signals and exit codes of the pipeline commands: SIGINT/SIGTERM/SIGHUP sent to `op` reach the
//! child that runs (inherited or captured output alike) and `op` exits with its code; between
//! children `op` stops at once with 128+N; a child killed by signal N gives 128+N on every path.
//! The fixture tools `trap` the signal, record it and sleep in a bounded loop.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::pipeline_bed::{DOCKER, KUBECTL, Pipeline};
use crate::support::{Route, Server, Spawned, wait_until};

/// Long enough for a cold toolchain install on a busy machine.
const STARTUP: Duration = Duration::from_secs(60);
/// How long `op` may take to end after the signal: far less than the fixtures' 30 s sleep and the
/// 30 s `start-registry` wait for the registry, so a hang shows as a failure rather than a slow pass.
const STOP: Duration = Duration::from_secs(8);

/// A fixture behaviour for `tool`, chosen by `$FIXTURE_<TOOL>_SIGNAL`:
/// - `trap`: records its pid in `$FIXTURE_LOG.<tool>.pid`, then waits up to 30 s; on SIGTERM,
///   SIGINT or SIGHUP it appends `<tool> <SIGNAL>` to `$FIXTURE_LOG.signals` and exits 42;
/// - `KILL` / `TERM`: kills itself with that signal;
/// - unset: `otherwise`.
fn signalling(tool: &str, otherwise: &str) -> String {
    let var = format!("FIXTURE_{}_SIGNAL", tool.to_uppercase());
    format!(
        r#"
case "${var}" in
  trap)
    for signal in TERM INT HUP; do
      trap "echo '{tool} '$signal >> \"\$FIXTURE_LOG.signals\"; exit 42" $signal
    done
    echo $$ > "$FIXTURE_LOG.{tool}.pid.tmp" && mv "$FIXTURE_LOG.{tool}.pid.tmp" "$FIXTURE_LOG.{tool}.pid"
    i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done; exit 0 ;;
  KILL|TERM) kill -s "${var}" $$; sleep 5; exit 0 ;;
esac
{otherwise}
"#
    )
}

fn bed() -> Pipeline {
    let pipeline = Pipeline::with_pinned(&[
        ("skaffold", &signalling("skaffold", "")),
        ("flux", "exit 0"),
        ("kubectl", &signalling("kubectl", KUBECTL)),
    ]);
    pipeline.host_tool("docker", &signalling("docker", DOCKER));
    pipeline.write(
        "skaffold.yaml",
        crate::pipeline_tools::MINIMAL_SKAFFOLD_YAML,
    );
    pipeline
}

/// The pid a `trap` fixture recorded, once it has (bounded by [`STARTUP`]).
#[track_caller]
fn trapping_pid(pipeline: &Pipeline, spawned: &Spawned, tool: &str) -> u32 {
    let file = PathBuf::from(format!("{}.{tool}.pid", pipeline.log.display()));
    let mut pid = None;
    let started = wait_until(STARTUP, || {
        pid = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| text.trim().parse().ok());
        pid.is_some()
    });
    assert!(started, "{tool} never started: {}", spawned.stderr_so_far());
    pid.unwrap()
}

/// Sends `signal` (`TERM`, `INT`, `HUP`) to `pid`.
fn send(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {signal} {pid}");
}

fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .expect("run kill")
        .success()
}

/// Waits for `op` to end (bounded by [`STOP`], then SIGKILL); returns its status and stderr.
fn ended(mut spawned: Spawned) -> (ExitStatus, String) {
    let status = reaped(&mut spawned.child);
    (status, spawned.stderr_so_far())
}

/// Sends SIGTERM to `op` once `tool` (a `trap` fixture) runs, and checks that the signal
/// reached `tool`, that `op` ended with its code (42) and that `tool` is gone.
#[track_caller]
fn sigterm_reaches(pipeline: &Pipeline, spawned: Spawned, tool: &str) {
    let child = trapping_pid(pipeline, &spawned, tool);
    send("TERM", spawned.pid());
    let (status, stderr) = ended(spawned);
    assert_eq!(
        status.code(),
        Some(42),
        "{tool}'s code: {status:?}\n{stderr}"
    );
    assert_eq!(signals_seen(pipeline), format!("{tool} TERM\n"));
    assert!(!alive(child), "{tool} left running after op ended");
}

/// The exit code as a shell reports it: the code, or 128+N when killed by signal N.
fn shell_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .expect("an exit code or a signal")
}

fn signals_seen(pipeline: &Pipeline) -> String {
    std::fs::read_to_string(pipeline.log.with_extension("log.signals")).unwrap_or_default()
}

#[test]
fn sigterm_during_a_captured_push_reaches_skaffold_and_its_code_comes_back() {
    let mut pipeline = bed();
    pipeline.set("FIXTURE_SKAFFOLD_SIGNAL", "trap");
    let spawned = pipeline
        .env
        .spawn(&["push", "--default-repo", "r.io", "--no-file-output"]);
    sigterm_reaches(&pipeline, spawned, "skaffold");
    assert!(
        !pipeline.work().join("build_result.json").exists(),
        "nothing written after an interrupted build"
    );
}

#[test]
fn sigterm_during_a_kubectl_poll_reaches_it_and_stops_the_polling() {
    let mut pipeline = bed();
    pipeline
        .env
        .built_api_on_dev("1.2.0")
        .set("FIXTURE_KUBECTL_SIGNAL", "trap");
    let spawned = pipeline.env.spawn(&[
        "watch-deployment",
        "--component",
        "api",
        "--environment",
        "dev",
        "--namespace",
        "apps",
        "--interval",
        "50ms",
    ]);
    sigterm_reaches(&pipeline, spawned, "kubectl");
    assert_eq!(
        pipeline.argv_of("kubectl").len(),
        1,
        "no poll after the signal"
    );
}

/// A bed for `start-registry` whose registry never answers (a 30 s wait).
fn registry_never_ready() -> Pipeline {
    let mut pipeline = bed();
    let hosts = pipeline.write("hosts", "127.0.0.1 registry.local\n");
    let dead = crate::support::server::dead_url().replace("http://", "https://");
    pipeline
        .set("OP_HOSTS_FILE", hosts.to_str().unwrap())
        .set("OP_LOCAL_REGISTRY_URL", &dead)
        .set("FIXTURE_DOCKER_ID", "abc123");
    pipeline
}

/// Has `docker run` come and gone, and the wait for the registry begun (after the second
/// `docker ps`)?
fn probing(pipeline: &Pipeline) -> bool {
    let listings = pipeline
        .argv_of("docker")
        .iter()
        .filter(|argv| argv.first().is_some_and(|first| first == "ps"))
        .count();
    listings >= 2
}

/// `start-registry` after `docker run` has come and gone, waiting for a registry that never
/// answers (a 30 s wait): each signal ends it promptly with 128+N.
#[test]
fn a_signal_after_a_child_finished_stops_op_with_128_plus_n() {
    for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let pipeline = registry_never_ready();
        let certs = pipeline.env.root().join("certs");
        let spawned =
            pipeline
                .env
                .spawn(&["start-registry", "--certs-dir", certs.to_str().unwrap()]);
        assert!(
            wait_until(STARTUP, || probing(&pipeline)),
            "never probed: {}",
            spawned.stderr_so_far()
        );
        send(signal, spawned.pid());
        let (status, stderr) = ended(spawned);
        assert_eq!(
            shell_code(status),
            code,
            "SIG{signal} after docker run: {status:?}\n{stderr}"
        );
        assert!(!certs.exists(), "nothing copied after SIG{signal}");
    }
}

/// `unshare` arguments that make a new PID namespace on this machine (as a container's), if any.
fn pid_namespace() -> Option<&'static [&'static str]> {
    [
        &["--pid", "--fork", "--kill-child"][..],
        &[
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--kill-child",
        ][..],
    ]
    .into_iter()
    .find(|flags| {
        Command::new("unshare")
            .args(*flags)
            .arg("true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

/// `op ARGS` as PID 1 of a new PID namespace; returns `unshare` and the pid of `op` as this
/// namespace sees it. `None` (the test then skips) where no namespace can be made.
fn spawn_as_pid_1(pipeline: &Pipeline, args: &[&str]) -> Option<(Child, u32)> {
    let Some(flags) = pid_namespace() else {
        #[expect(clippy::print_stderr, reason = "a skipped test says why")]
        {
            eprintln!("skipped: cannot make a PID namespace here (unshare)");
        }
        return None;
    };
    let mut command = pipeline.env.std_command(Path::new("/usr/bin/env"));
    let err = std::fs::File::create(pipeline.env.root().join("pid1.err")).unwrap();
    command
        .arg("unshare")
        .args(flags)
        .arg(assert_cmd::cargo::cargo_bin!("op"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err);
    let unshare = command.spawn().expect("spawn unshare");
    let children = format!("/proc/{0}/task/{0}/children", unshare.id());
    let mut op = None;
    let found = wait_until(STARTUP, || {
        op = std::fs::read_to_string(&children)
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok());
        op.is_some()
    });
    assert!(found, "op never started under unshare");
    Some((unshare, op.unwrap()))
}

/// `status` of `child` once it has ended (bounded by [`STOP`], then SIGKILL).
fn reaped(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + STOP;
    loop {
        if let Some(status) = child.try_wait().expect("poll") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return child.wait().expect("reap");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM to `op` (PID 1 under `unshare`) and checks that it ends with 143 (`when`
/// says at which point).
#[track_caller]
fn sigterm_ends_pid_1(pipeline: &Pipeline, unshare: &mut Child, op: u32, when: &str) {
    send("TERM", op);
    let status = reaped(unshare);
    let stderr = std::fs::read_to_string(pipeline.env.root().join("pid1.err")).unwrap();
    assert_eq!(shell_code(status), 143, "{when}: {status:?}\n{stderr}");
}

/// As PID 1 (a container's `docker stop`), where the kernel drops signals nobody handles,
/// SIGTERM still ends `op` with 143: while the toolchain downloads, before any child, and
/// after a child has finished.
#[test]
fn as_pid_1_sigterm_ends_op_before_and_after_children() {
    // A mirror that holds every download for 30 s.
    let mut pipeline = bed();
    let server = Server::http();
    for tool in crate::pipeline_bed::PINNED {
        let path = format!(
            "/github.com/acme/{tool}/releases/download/v1.0.0/{tool}-{}",
            crate::support::host_platform()
        );
        server.route(&path, Route::new("stalled").delay(Duration::from_secs(30)));
    }
    pipeline.env.mirror(server.url());
    let Some((mut unshare, op)) = spawn_as_pid_1(&pipeline, &["build"]) else {
        return;
    };
    assert!(
        wait_until(STARTUP, || server.request_count() > 0),
        "no download started"
    );
    sigterm_ends_pid_1(&pipeline, &mut unshare, op, "during the download");

    let pipeline = registry_never_ready();
    let certs = pipeline.env.root().join("certs");
    let Some((mut unshare, op)) = spawn_as_pid_1(
        &pipeline,
        &["start-registry", "--certs-dir", certs.to_str().unwrap()],
    ) else {
        return;
    };
    assert!(wait_until(STARTUP, || probing(&pipeline)), "never probed");
    sigterm_ends_pid_1(&pipeline, &mut unshare, op, "after docker run");
}

/// A child killed by signal N gives 128+N, with inherited output and with captured output.
#[test]
fn a_child_killed_by_a_signal_gives_128_plus_n_on_every_path() {
    for (signal, code) in [("KILL", 137), ("TERM", 143)] {
        let mut pipeline = bed();
        pipeline.set("FIXTURE_SKAFFOLD_SIGNAL", signal);
        for (mode, extra) in [("inherited", None), ("captured", Some("--no-file-output"))] {
            let mut args = vec!["push", "--default-repo", "r.io"];
            args.extend(extra);
            let run = pipeline.env.op(&args);
            assert_eq!(
                run.code,
                Some(code),
                "{mode} skaffold killed by SIG{signal}\n{}",
                run.stderr
            );
        }
    }
}
