//! Test harness: a scrubbed environment per test (`TestEnv`), the outcome of one `op` run with
//! assertions (`Run`), background `op` processes (`Spawned`), and small helpers.
#![allow(
    dead_code,
    reason = "not every test module uses every helper of the harness"
)]

pub mod archive;
pub mod fixture_exe;
pub mod host;
pub mod kube;
pub mod lock;
pub mod registry;
pub mod server;
pub mod sigstore;
pub mod sigstore_dsse;
pub mod tls;
pub mod wire;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

// All of it: the torture suite, which shares this harness, uses only some.
pub use host::*;
pub use lock::{Artifact, Kind, Lock, Pin};
pub use server::{Reply, Route, Server};

/// The longest any single `op` run may take before the test calls it hung.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

pub fn sha256_hex(bytes: &[u8]) -> String {
    op_cli::hex::encode(Sha256::digest(bytes))
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sets the modification time of `path` (a file or directory) to `ago` before now: op records
/// an entry's last use there.
pub fn age(path: &Path, ago: Duration) {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(windows)]
    {
        // Windows opens a directory only with FILE_FLAG_BACKUP_SEMANTICS, and sets its times
        // through FILE_WRITE_ATTRIBUTES.
        use std::os::windows::fs::OpenOptionsExt;
        options.access_mode(0x80 | 0x100).custom_flags(0x0200_0000);
    }
    let file = options
        .open(path)
        .unwrap_or_else(|error| panic!("open {}: {error}", path.display()));
    let when = std::time::SystemTime::now() - ago;
    file.set_times(fs::FileTimes::new().set_modified(when).set_accessed(when))
        .unwrap_or_else(|error| panic!("set the times of {}: {error}", path.display()));
}

/// Runs `op ARGS` `times` times, one after another, on a thread of its own (in `env`'s
/// environment); the thread returns what failed, one line per failed run.
pub fn repeat_op(env: &TestEnv, args: &[&str], times: u64) -> std::thread::JoinHandle<Vec<String>> {
    let op = Path::new(assert_cmd::cargo::cargo_bin!("op"));
    let template = env.std_command(op);
    let envs: Vec<(std::ffi::OsString, std::ffi::OsString)> = template
        .get_envs()
        .filter_map(|(key, value)| Some((key.to_owned(), value?.to_owned())))
        .collect();
    let cwd = template.get_current_dir().map(Path::to_path_buf);
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    let op = op.to_path_buf();
    std::thread::spawn(move || {
        let mut failures = Vec::new();
        for round in 0..times {
            let mut command = Command::new(&op);
            command.args(&args).env_clear().envs(envs.iter().cloned());
            if let Some(cwd) = &cwd {
                command.current_dir(cwd);
            }
            let output = command.output().expect("run op");
            if !output.status.success() {
                failures.push(format!(
                    "round {round}: {args:?} exited {:?}: {}",
                    output.status.code(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
        }
        failures
    })
}

/// Names of the entries of `dir`, sorted; empty when `dir` does not exist.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every path under `dir` (recursively, links not followed).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found
}

/// A temp root holding `home/`, `cache/` and `work/` (a repository root: it has `.git`, so no
/// `toolchain.lock` above it is ever discovered), `names/` (op's second name, a link), and the
/// environment `op` runs with.
pub struct TestEnv {
    root: tempfile::TempDir,
    /// `None`: removed from the environment (also one of the harness defaults).
    vars: BTreeMap<String, Option<String>>,
    cwd: PathBuf,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let root = tempfile::Builder::new()
            .prefix("op-it-")
            .tempdir()
            .expect("create temp dir");
        for sub in ["home", "cache", "work/.git", "logs"] {
            fs::create_dir_all(root.path().join(sub)).expect("create test dirs");
        }
        let cwd = root.path().join("work");
        TestEnv {
            root,
            vars: BTreeMap::new(),
            cwd,
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }

    pub fn work(&self) -> PathBuf {
        self.root().join("work")
    }

    /// Sets an environment variable for every later `op` run.
    pub fn set(&mut self, key: &str, value: impl AsRef<str>) -> &mut TestEnv {
        self.vars
            .insert(key.to_string(), Some(value.as_ref().to_string()));
        self
    }

    /// Removes `key` from `op`'s environment, including the harness defaults.
    pub fn unset(&mut self, key: &str) -> &mut TestEnv {
        self.vars.insert(key.to_string(), None);
        self
    }

    /// Runs later `op` commands in `dir` instead of `work/`.
    pub fn cwd(&mut self, dir: impl Into<PathBuf>) -> &mut TestEnv {
        self.cwd = dir.into();
        self
    }

    /// Points `OP_TOOLCHAIN_MIRROR` at `url` (a server's base URL or a `file://` URL).
    pub fn mirror(&mut self, url: impl AsRef<str>) -> &mut TestEnv {
        self.set("OP_TOOLCHAIN_MIRROR", url)
    }

    /// A test env whose `toolchain.lock` is `lock`, served (without faults) by a new loopback
    /// HTTP mirror that `OP_TOOLCHAIN_MIRROR` points at.
    pub fn served(lock: &Lock) -> (TestEnv, Server) {
        let server = Server::http();
        server.publish(lock);
        let mut env = TestEnv::new();
        env.mirror(server.url());
        env.write_lock(lock);
        (env, server)
    }

    /// Writes `lock` as `work/toolchain.lock`, where `op` discovers it, and returns the path.
    pub fn write_lock(&self, lock: &Lock) -> PathBuf {
        self.write_file("work/toolchain.lock", &lock.text())
    }

    /// Writes `text` at `relative` (`/`-separated) under the temp root (creating parents);
    /// returns the path, spelled with this host's separator.
    pub fn write_file(&self, relative: &str, text: &str) -> PathBuf {
        let path = relative
            .split('/')
            .fold(self.root().to_path_buf(), |path, part| path.join(part));
        fs::create_dir_all(path.parent().expect("a parent")).expect("create parent dir");
        fs::write(&path, text).expect("write file");
        path
    }

    /// A project whose last build pushed `api` as `dev.io/p/api:TAG` (its `build_result.json`),
    /// with the dev environment's repository, `GOOGLE_GKE_IMAGE_REPOSITORY`, at `dev.io/p`.
    pub fn built_api_on_dev(&mut self, tag: &str) -> &mut TestEnv {
        let result = format!(r#"{{"builds":[{{"imageName":"api","tag":"dev.io/p/api:{tag}"}}]}}"#);
        self.write_file("work/build_result.json", &result);
        self.set("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io/p")
    }

    /// The `op` command with a scrubbed environment: only PATH, HOME, the cache, plain output,
    /// and a dead proxy so that any request not aimed at 127.0.0.1 fails instead of leaving the
    /// machine; then whatever the test set.
    pub fn std_command(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .env("HOME", self.home())
            .env("OP_CACHE_DIR", self.cache())
            .env("OP_NO_PROGRESS", "1")
            .env("NO_COLOR", "1")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .current_dir(&self.cwd);
        if cfg!(windows) {
            // Windows programs need these (Winsock fails to start without SystemRoot; temp
            // files go to TEMP); USERPROFILE is HOME's counterpart.
            for key in ["SystemRoot", "SystemDrive", "windir", "TEMP", "TMP"] {
                if let Some(value) = std::env::var_os(key) {
                    command.env(key, value);
                }
            }
            command.env("USERPROFILE", self.home());
        }
        for (key, value) in &self.vars {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
    }

    /// Runs `op ARGS` to completion (bounded by [`RUN_TIMEOUT`]).
    pub fn op(&self, args: &[&str]) -> Run {
        self.run(assert_cmd::cargo::cargo_bin!("op"), args, None)
    }

    /// Runs `op ARGS` with `input` on stdin.
    pub fn op_with_stdin(&self, args: &[&str], input: &str) -> Run {
        self.run(assert_cmd::cargo::cargo_bin!("op"), args, Some(input))
    }

    /// Runs `op` as the packages install its second name: through a symbolic link called
    /// `octopipeline` (there is no second binary); on Windows, a copy `octopipeline.exe`.
    pub fn octopipeline(&self, args: &[&str]) -> Run {
        let link = self.root().join("names").join(exe("octopipeline"));
        if !link.exists() {
            std::fs::create_dir_all(link.parent().expect("a parent")).expect("create names/");
            let op = assert_cmd::cargo::cargo_bin!("op");
            #[cfg(unix)]
            std::os::unix::fs::symlink(op, &link).expect("link octopipeline to op");
            #[cfg(not(unix))]
            std::fs::copy(op, &link).expect("copy op to octopipeline.exe");
        }
        self.run(&link, args, None)
    }

    fn run(&self, binary: &Path, args: &[&str], input: Option<&str>) -> Run {
        let mut std_command = self.std_command(binary);
        std_command.args(args);
        let mut command = assert_cmd::Command::from_std(std_command);
        command.timeout(RUN_TIMEOUT);
        if let Some(input) = input {
            command.write_stdin(input.to_string());
        }
        let started = Instant::now();
        let output = command.output().expect("spawn op");
        Run {
            args: args.iter().map(|arg| arg.to_string()).collect(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }

    /// Starts `op ARGS` in the background; its stdout and stderr go to files under `logs/`.
    pub fn spawn(&self, args: &[&str]) -> Spawned {
        let index = dir_names(&self.root().join("logs")).len();
        let out = self.root().join(format!("logs/{index}.out"));
        let err = self.root().join(format!("logs/{index}.err"));
        let mut command = self.std_command(assert_cmd::cargo::cargo_bin!("op"));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).expect("create log"))
            .stderr(fs::File::create(&err).expect("create log"));
        let child = command.spawn().expect("spawn op");
        Spawned {
            child,
            out,
            err,
            args: args.iter().map(|arg| arg.to_string()).collect(),
            started: Instant::now(),
        }
    }

    /// The cache directory of `pin`'s artifact for `platform`, as the documented layout names it.
    pub fn tool_dir(&self, pin: &Pin, platform: &str) -> PathBuf {
        self.cache().join("tools").join(pin.dir_name(platform))
    }

    /// Where the documented layout puts `pin`'s executable for `platform`.
    pub fn bin_path(&self, pin: &Pin, platform: &str) -> PathBuf {
        self.tool_dir(pin, platform)
            .join("bin")
            .join(pin.exe_name(platform))
    }

    /// Entry names under `tools/`.
    pub fn installed(&self) -> Vec<String> {
        dir_names(&self.cache().join("tools"))
    }

    /// Entry names under `staging/` (must be empty after every run that ended).
    pub fn staging(&self) -> Vec<String> {
        dir_names(&self.cache().join("staging"))
    }

    /// After a failed install: nothing was installed and no temp files were left behind.
    #[track_caller]
    pub fn assert_nothing_installed(&self) {
        assert_eq!(
            self.installed(),
            Vec::<String>::new(),
            "tools/ after a failure"
        );
        assert_eq!(self.staging(), Vec::<String>::new(), "staging/ after a run");
    }
}

/// The outcome of one finished `op` run. Assertions print the whole run when they fail.
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    fn dump(&self) -> String {
        format!(
            "op {:?}\nexit code: {:?} after {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.args, self.code, self.elapsed, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Run {
        self.code(0)
    }

    #[track_caller]
    pub fn failure(&self) -> &Run {
        assert!(
            matches!(self.code, Some(code) if code != 0),
            "expected a non-zero exit code\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, part: &str) -> &Run {
        assert!(
            self.stdout.contains(part),
            "stdout lacks {part:?}\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, part: &str) -> &Run {
        assert!(
            self.stderr.contains(part),
            "stderr lacks {part:?}\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, part: &str) -> &Run {
        assert!(
            !self.stderr.contains(part) && !self.stdout.contains(part),
            "output shows {part:?}\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stdout_is(&self, expected: &str) -> &Run {
        assert_eq!(self.stdout, expected, "stdout\n{}", self.dump());
        self
    }

    #[track_caller]
    pub fn faster_than(&self, limit: Duration) -> &Run {
        assert!(
            self.elapsed < limit,
            "took {:?}, limit {limit:?}\n{}",
            self.elapsed,
            self.dump()
        );
        self
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON: {error}\n{}", self.dump()))
    }
}

/// An `op` process running in the background. Killed when dropped.
pub struct Spawned {
    pub child: Child,
    out: PathBuf,
    err: PathBuf,
    args: Vec<String>,
    started: Instant,
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stderr written so far.
    pub fn stderr_so_far(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits (bounded by `timeout`, then kills) and returns the run.
    pub fn wait(mut self, timeout: Duration) -> Run {
        let deadline = Instant::now() + timeout;
        let mut killed = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                killed = true;
                break self.child.wait().expect("reap child");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            args: self.args.clone(),
            // Killed: no exit code, on Windows (where TerminateProcess leaves 1) as on Unix.
            code: if killed && cfg!(windows) {
                None
            } else {
                status.code()
            },
            stdout: fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: fs::read_to_string(&self.err).unwrap_or_default(),
            elapsed: self.started.elapsed(),
        }
    }

    /// SIGKILL (TerminateProcess on Windows), then reap. A run that was still going when
    /// killed has no exit code, as on Unix (Windows would report 1).
    pub fn kill(mut self) -> Run {
        let running = matches!(self.child.try_wait(), Ok(None));
        let _ = self.child.kill();
        let mut run = self.wait(Duration::from_secs(10));
        if running && cfg!(windows) {
            run.code = None;
        }
        run
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
