//! A pipeline test bed: fixture stand-ins (not the real tools) for the pinned `skaffold`, `pack`,
//! `flux`, `kubectl` and `crane`, installed by `op` from a test lock through a `file://` toolchain
//! mirror exactly as real tools would be, and fixture host programs (`docker`, `colima`, `sudo`, …)
//! first on PATH. Every fixture appends its name, `$0`, cwd, PATH and argv to a log.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{Artifact, Kind, Lock, Pin, TestEnv, host_platform};

/// The pinned tools of the pipeline commands.
pub const PINNED: [&str; 5] = ["skaffold", "pack", "flux", "kubectl", "crane"];

/// kubectl: `get deployment` prints (like `-o jsonpath=…`, no newline) `$FIXTURE_OLD_IMAGE` until
/// poll number `$FIXTURE_POLLS`, then `$FIXTURE_IMAGE`; with `$FIXTURE_GET_FAILS` set, the early
/// polls fail as for a deployment that does not exist yet. `rollout status` exits
/// `$FIXTURE_ROLLOUT_EXIT`.
pub const KUBECTL: &str = r#"
case "$*" in
  *"get deployment"*)
    n=$(cat "$FIXTURE_LOG.polls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$FIXTURE_LOG.polls"
    if [ "$n" -ge "${FIXTURE_POLLS:-1}" ]; then printf '%s' "$FIXTURE_IMAGE"; exit 0; fi
    if [ -n "$FIXTURE_GET_FAILS" ]; then echo 'Error from server (NotFound): deployments.apps not found' >&2; exit 1; fi
    printf '%s' "${FIXTURE_OLD_IMAGE:-old.io/app:0.9.0}" ;;
  *"rollout status"*)
    echo "deployment rolled out (fixture)"; exit "${FIXTURE_ROLLOUT_EXIT:-0}" ;;
esac
"#;

/// flux: `reconcile` talks on stderr and exits `$FIXTURE_FLUX_EXIT`.
pub const FLUX: &str = r#"
echo "fixture flux: annotating HelmRelease" >&2
exit "${FIXTURE_FLUX_EXIT:-0}"
"#;

/// docker: `ps` lists `$FIXTURE_DOCKER_ID`; `run` exits `$FIXTURE_DOCKER_EXIT`; `exec` (the
/// certificate probe) succeeds from call `$FIXTURE_CERT_AFTER` on; `cp` writes `tls.crt` holding
/// `$FIXTURE_CERT` into the target directory.
pub const DOCKER: &str = r#"
case "$1" in
  ps) if [ -n "$FIXTURE_DOCKER_ID" ]; then echo "$FIXTURE_DOCKER_ID"; fi ;;
  run) if [ "$2" = "-d" ]; then echo "$FIXTURE_DOCKER_ID"; fi; exit "${FIXTURE_DOCKER_EXIT:-0}" ;;
  exec)
    n=$(cat "$FIXTURE_LOG.exec" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$FIXTURE_LOG.exec"
    [ "$n" -ge "${FIXTURE_CERT_AFTER:-1}" ] || exit 1 ;;
  cp) mkdir -p "$3" && printf 'fixture certificate %s\n' "${FIXTURE_CERT:-one}" > "$3/tls.crt" ;;
esac
"#;

/// colima: `status` exits `$FIXTURE_COLIMA_STATUS`; `ssh` saves its stdin and exits
/// `$FIXTURE_COLIMA_SSH_EXIT`; `restart` succeeds.
pub const COLIMA: &str = r#"
case "$1" in
  status) exit "${FIXTURE_COLIMA_STATUS:-0}" ;;
  ssh) cat > "$FIXTURE_LOG.stdin"; if [ -n "$FIXTURE_COLIMA_SSH_EXIT" ]; then echo "fixture colima: ssh failed" >&2; exit "$FIXTURE_COLIMA_SSH_EXIT"; fi ;;
esac
"#;

pub struct Pipeline {
    pub env: TestEnv,
    pub log: PathBuf,
    bin: PathBuf,
}

/// One logged fixture run.
#[derive(Clone, Debug)]
pub struct Call {
    pub tool: String,
    /// `$0`: how the fixture was started (the absolute path `op` ran).
    pub program: String,
    pub cwd: String,
    pub path: String,
    pub argv: Vec<String>,
}

/// A fixture script: logs the call, then runs `behaviour`.
pub fn fixture(name: &str, behaviour: &str) -> Vec<u8> {
    format!(
        "#!/bin/sh\n\
         # fixture stand-in for {name}, made by the op integration tests; not the real tool\n\
         {{ printf '%s\\037%s\\037%s\\037%s' '{name}' \"$0\" \"$PWD\" \"$PATH\"; \
         for arg in \"$@\"; do printf '\\037%s' \"$arg\"; done; printf '\\036\\n'; }} >> \"$FIXTURE_LOG\"\n\
         {behaviour}\n\
         exit 0\n"
    )
    .into_bytes()
}

impl Pipeline {
    /// Pinned fixtures with the behaviours above, and a fixture `docker` on PATH.
    pub fn new() -> Pipeline {
        Pipeline::with_pinned(&[("flux", FLUX), ("kubectl", KUBECTL)])
    }

    /// Like [`Pipeline::new`], with other behaviours for some pinned tools.
    pub fn with_pinned(behaviours: &[(&str, &str)]) -> Pipeline {
        let mut env = TestEnv::new();
        let pins = PINNED
            .iter()
            .map(|tool| {
                let behaviour = behaviours
                    .iter()
                    .find(|(name, _)| name == tool)
                    .map_or("", |(_, behaviour)| behaviour);
                let url = format!(
                    "https://github.com/acme/{tool}/releases/download/v1.0.0/{tool}-{}",
                    host_platform()
                );
                let body = fixture(tool, behaviour);
                Pin::custom(
                    tool,
                    "1.0.0",
                    Artifact::new(host_platform(), &url, body, Kind::Raw, None),
                )
            })
            .collect();
        let lock = Lock::new(pins);
        let mirror = lock.write_file_mirror(&env.root().join("mirror"));
        let lock_path = env.write_file("fixture-tools.lock", &lock.text());
        let bin = env.root().join("host-bin");
        fs::create_dir_all(&bin).expect("create host-bin");
        let log = env.root().join("fixture.log");
        env.mirror(mirror)
            .set("OP_TOOLCHAIN_LOCK", lock_path.to_str().expect("utf-8 path"))
            .set("FIXTURE_LOG", log.to_str().expect("utf-8 path"))
            .set(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
            );
        let pipeline = Pipeline { env, log, bin };
        pipeline.host_tool("docker", DOCKER);
        pipeline
    }

    /// Puts a fixture program `name` first on PATH.
    pub fn host_tool(&self, name: &str, behaviour: &str) -> PathBuf {
        let path = self.bin.join(name);
        fs::write(&path, fixture(name, behaviour)).expect("write fixture");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod fixture");
        path
    }

    pub fn remove_host_tool(&self, name: &str) {
        fs::remove_file(self.bin.join(name)).expect("remove fixture");
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut Pipeline {
        self.env.set(key, value);
        self
    }

    pub fn unset(&mut self, key: &str) -> &mut Pipeline {
        self.env.unset(key);
        self
    }

    /// Writes `text` at `relative` under the project directory (`work/`).
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        self.env.write_file(&format!("work/{relative}"), text)
    }

    /// Every fixture call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .split("\u{1e}\n")
            .filter(|record| !record.is_empty())
            .map(|record| {
                let mut fields = record.split('\u{1f}').map(str::to_string);
                let mut next = || fields.next().expect("a complete log record");
                Call {
                    tool: next(),
                    program: next(),
                    cwd: next(),
                    path: next(),
                    argv: fields.collect(),
                }
            })
            .collect()
    }

    /// The argv of each call of `tool`.
    pub fn argv_of(&self, tool: &str) -> Vec<Vec<String>> {
        self.calls()
            .into_iter()
            .filter(|call| call.tool == tool)
            .map(|call| call.argv)
            .collect()
    }

    /// Forgets the calls so far (and the fixtures' counters).
    pub fn clear_log(&self) {
        for suffix in ["", ".polls", ".exec", ".stdin"] {
            let _ = fs::remove_file(format!("{}{suffix}", self.log.display()));
        }
    }

    /// What a fixture read on stdin (colima ssh).
    pub fn stdin_of_last_ssh(&self) -> String {
        fs::read_to_string(format!("{}.stdin", self.log.display())).unwrap_or_default()
    }

    /// Where `op` installs (and runs) the pinned `tool`, computed from the lock: also before it
    /// is installed, as under `--dry-run`, which installs nothing.
    pub fn pinned_path(&self, tool: &str) -> PathBuf {
        crate::pipeline_tools::tool_path(self, tool)
    }

    pub fn host_path(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// PATH without `/usr/local/bin`, where this machine may have a real `docker` CLI: for tests
    /// of a missing program.
    pub fn without_local_bin(&mut self) -> &mut Pipeline {
        let path = format!("{}:/usr/bin:/bin", self.bin.display());
        self.set("PATH", &path)
    }

    /// The project directory as the fixtures see it (`$PWD`).
    pub fn work(&self) -> PathBuf {
        self.env.work()
    }
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// Does `path` lie under `dir`?
pub fn under(path: &str, dir: &Path) -> bool {
    Path::new(path).starts_with(dir)
}
