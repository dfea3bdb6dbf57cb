//! How pipeline commands run tools: pinned tools by absolute path, each installed when first
//! asked for (with the pinned tools it starts itself, nothing else of the lock), `docker`/`git`
//! from PATH, the pinned tools installed so far first on every child's PATH, `--dry-run` printing
//! instead of running (and installing nothing), SIGINT/SIGTERM/SIGHUP relayed to the child (see
//! [`child`]), and the child's exit code passed through (128+N for signal N) with a [`Failed`]
//! line naming the tool and the step.

pub(crate) mod child;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, Result};

use crate::error::{Code, OpError};
use crate::redact;
use crate::toolchain::cache::Entry;
use crate::toolchain::{Toolchain, exec, fetch};

/// Runs (or, with `--dry-run`, prints) the child processes and file writes of one command.
pub struct Runner<'a> {
    toolchain: &'a Toolchain,
    dry_run: bool,
    /// The pinned tools asked for so far (installed, or under `--dry-run` listed), in order.
    entries: Mutex<Vec<Entry>>,
}

impl<'a> Runner<'a> {
    pub fn new(toolchain: &'a Toolchain, dry_run: bool) -> Runner<'a> {
        // From the start, not only from the first child: as PID 1 a signal nobody handles is
        // dropped, so `docker stop` would wait out a download. A failure shows at the first spawn.
        let _ = child::listen();
        Runner {
            toolchain,
            dry_run,
            entries: Mutex::new(Vec::new()),
        }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    pub fn toolchain(&self) -> &Toolchain {
        self.toolchain
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Absolute path of a pinned tool (`skaffold`, `pack`, `flux`, `kubectl`, `crane`), installed
    /// first if missing, together with the pinned tools it starts itself
    /// ([`crate::toolchain::starts`]); the rest of the lock is left alone. Under `--dry-run`
    /// nothing is downloaded: what a real run would install is listed instead.
    pub fn pinned(&self, tool: &str) -> Result<PathBuf> {
        let wanted = self.toolchain.entries_for(tool)?;
        let exe = wanted[0].exe();
        let new: Vec<Entry> = {
            let known = self.entries();
            wanted
                .into_iter()
                .filter(|entry| !known.iter().any(|known| known.key == entry.key))
                .collect()
        };
        if self.dry_run {
            for entry in &new {
                if !entry.is_installed(&self.toolchain.cache) {
                    self.toolchain.output.info(&format!(
                        "(dry run) would install: {} from {}",
                        entry.label(),
                        self.source(entry)
                    ));
                }
            }
        } else {
            self.toolchain.ensure(&new)?;
            self.toolchain.write_index();
        }
        self.entries().extend(new);
        Ok(exe)
    }

    /// Spawns `command` (which runs `program`), putting a pinned tool's entry back when it
    /// vanished after [`Runner::pinned`] checked it: the rule `op toolchain exec` follows.
    fn spawn(&self, program: &Path, command: &mut Command) -> Result<child::Child> {
        exec::relaunch(
            program,
            || {
                let gone: Vec<Entry> = self
                    .entries()
                    .iter()
                    .filter(|entry| entry.exe() == program)
                    .cloned()
                    .collect();
                if gone.is_empty() {
                    return Ok(false);
                }
                self.toolchain.ensure(&gone)?;
                Ok(true)
            },
            || child::spawn(command).map_err(|error| launch_error(program, error)),
        )
    }

    /// Where a real run would download `entry` from (the mirror's copy when one is set).
    fn source(&self, entry: &Entry) -> String {
        let url = &entry.artifact.url;
        fetch::resolve(url, self.toolchain.settings.mirror.as_deref())
            .map_or_else(|_| fetch::redact(url), |source| source.describe())
    }

    /// Absolute path of an unpinned program taken from PATH (`docker`, `git`).
    pub fn from_path(&self, program: &str) -> Result<PathBuf> {
        // A dry run only prints the command, so a program this machine lacks is no obstacle.
        if self.dry_run && find_on_path(program).is_none() {
            return Ok(PathBuf::from(program));
        }
        find_on_path(program).ok_or_else(|| {
            OpError::new(
                Code::Failure,
                format!("`{program}` was not found on PATH; this command needs it"),
            )
            .with_hint(match program {
                "docker" => "install Docker (or Colima/Podman with a docker CLI) and make sure `docker` is on PATH",
                "git" => "install git and make sure `git` is on PATH",
                _ => "install it and make sure it is on PATH",
            })
            .into()
        })
    }

    /// The PATH for children: the directories of the pinned tools asked for so far first (a
    /// command asks for every pinned tool before it runs it), then op's own PATH.
    fn child_path(&self) -> Result<OsString> {
        exec::path_with(&Toolchain::bin_dirs(&self.entries()))
    }

    fn command(
        &self,
        program: &Path,
        args: &[OsString],
        cwd: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Command> {
        self.toolchain
            .output
            .trace(&format!("running {}", describe(program, args, cwd, env)));
        let mut command = Command::new(program);
        command.args(args).env("PATH", self.child_path()?);
        for (key, value) in env {
            command.env(key, value);
        }
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        Ok(command)
    }

    /// Runs a child with inherited stdio; with `--dry-run`, prints the command line instead.
    pub fn run(
        &self,
        program: &Path,
        args: &[OsString],
        cwd: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<()> {
        if self.dry_run {
            self.toolchain
                .output
                .data(&describe(program, args, cwd, env));
            return Ok(());
        }
        let _group = self
            .toolchain
            .output
            .group(&describe(program, args, None, &[]));
        let mut command = self.command(program, args, cwd, env)?;
        let started = std::time::Instant::now();
        let outcome = self
            .spawn(program, &mut command)?
            .wait()
            .with_context(|| format!("waiting for {} failed", program.display()))?;
        self.toolchain.output.trace(&format!(
            "{} ended after {:.3}s",
            program.display(),
            started.elapsed().as_secs_f64()
        ));
        check(outcome, program, args)
    }

    /// Runs a child and returns its stdout (stderr passes through). Runs even under
    /// `--dry-run`: it is for reading state (`git describe`, `kubectl get`), never for changes.
    pub fn capture(&self, program: &Path, args: &[OsString], cwd: Option<&Path>) -> Result<String> {
        let mut command = self.command(program, args, cwd, &[])?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let (outcome, stdout, _) = self
            .spawn(program, &mut command)?
            .wait_with_output()
            .with_context(|| format!("cannot run {}", program.display()))?;
        check(outcome, program, args)
            .with_context(|| format!("{} failed", describe(program, args, cwd, &[])))?;
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    }

    /// Runs a child to completion with stdout and stderr captured (for parsing its output).
    /// A failure prints what it captured and passes its exit code on.
    pub fn capture_all(
        &self,
        program: &Path,
        args: &[OsString],
        cwd: Option<&Path>,
    ) -> Result<(String, String)> {
        let mut command = self.command(program, args, cwd, &[])?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (outcome, stdout, stderr) = self
            .spawn(program, &mut command)?
            .wait_with_output()
            .with_context(|| format!("waiting for {} failed", program.display()))?;
        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        if !outcome.success() {
            self.toolchain.output.info(stderr.trim_end());
            self.toolchain.output.info(stdout.trim_end());
        }
        check(outcome, program, args)
            .with_context(|| format!("{} failed", describe(program, args, cwd, &[])))?;
        Ok((stdout, stderr))
    }

    /// Runs a child with `input` on its stdin (output captured); with `--dry-run`, prints it.
    pub fn run_with_input(&self, program: &Path, args: &[OsString], input: &[u8]) -> Result<()> {
        if self.dry_run {
            self.toolchain.output.data(&format!(
                "{} < ({} bytes on stdin)",
                describe(program, args, None, &[]),
                input.len()
            ));
            return Ok(());
        }
        let mut command = self.command(program, args, None, &[])?;
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.spawn(program, &mut command)?;
        // Written in full before the output is read: the inputs are small (a certificate).
        let written = child.stdin().map(|mut stdin| {
            use std::io::Write;
            stdin.write_all(input)
        });
        let (outcome, stdout, stderr) = child
            .wait_with_output()
            .with_context(|| format!("waiting for {} failed", program.display()))?;
        let detail = String::from_utf8_lossy(if stderr.is_empty() { &stdout } else { &stderr })
            .trim()
            .to_string();
        check(outcome, program, args)
            .with_context(|| format!("{} failed: {detail}", describe(program, args, None, &[])))?;
        if let Some(Err(error)) = written {
            return Err(error).with_context(|| format!("cannot write to {}", program.display()));
        }
        Ok(())
    }

    /// Writes a file atomically (temp file in the same directory, then rename), so a reader
    /// never sees half of it and a failure leaves the old file; with `--dry-run`, says so instead.
    pub fn write_file(&self, path: &Path, contents: &[u8]) -> Result<()> {
        if self.dry_run {
            self.toolchain.output.data(&format!(
                "# would write {} ({} bytes)",
                path.display(),
                contents.len()
            ));
            return Ok(());
        }
        write_atomic(path, contents)
    }
}

pub use crate::atomic::write_atomic;

/// A child that ended unsuccessfully: the tool, the step it was at and the exit code `op`
/// passes on. It sits (as context) on the [`crate::error::ChildExit`] that carries the code, so
/// that whoever ends the command can say in one line why `op` exits with a tool's code.
#[derive(Debug)]
pub struct Failed {
    pub tool: String,
    pub step: String,
    pub code: i32,
}

impl Failed {
    fn new(program: &Path, args: &[OsString], code: i32) -> Failed {
        let tool = program.file_stem().map_or_else(
            || program.display().to_string(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        let step = step(&tool, args);
        Failed { tool, step, code }
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failed at step `{}` with exit code {}; op exits with {}'s code",
            self.tool, self.step, self.code, self.tool
        )
    }
}

/// `Ok` when the child succeeded; else its code passed on, with a [`Failed`] naming it. (A
/// signal `op` received while the child ran ends `op` inside [`child::Outcome::check`].)
fn check(outcome: child::Outcome, program: &Path, args: &[OsString]) -> Result<()> {
    let code = outcome.code();
    outcome
        .check()
        .map_err(|error| error.context(Failed::new(program, args, code)))
}

/// The tool and its subcommand (`skaffold build`, `kubectl rollout status`, `crane copy`): the
/// first one or two plain words of its arguments, skipping options and the value after an
/// option written without `=` (`-n apps`).
fn step(tool: &str, args: &[OsString]) -> String {
    let plain = |word: &str| {
        !word.is_empty()
            && word.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            && !word.starts_with('-')
    };
    let mut words = vec![tool.to_string()];
    let mut after_option = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if arg.starts_with('-') {
            after_option = !arg.contains('=');
            if words.len() > 1 {
                break;
            }
            continue;
        }
        if after_option {
            after_option = false;
            continue;
        }
        if !plain(&arg) || words.len() == 3 {
            break;
        }
        words.push(arg.into_owned());
    }
    words.join(" ")
}

/// A shell-like rendering of a command line, for `--dry-run` and error messages; credentials
/// in an argument or a variable (`--default-repo user:pass@r.io/x`) are hidden.
pub fn describe(
    program: &Path,
    args: &[OsString],
    cwd: Option<&Path>,
    env: &[(String, String)],
) -> String {
    let mut parts = Vec::new();
    if let Some(cwd) = cwd {
        parts.push(format!("(cd {} &&", quote(cwd.as_os_str())));
    }
    for (key, value) in env {
        parts.push(format!(
            "{key}={}",
            quote(OsStr::new(&redact::reference(value)))
        ));
    }
    parts.push(quote(program.as_os_str()));
    parts.extend(args.iter().map(|arg| {
        let arg = arg.to_string_lossy();
        quote(OsStr::new(&redact::reference(&arg)))
    }));
    let mut line = parts.join(" ");
    if cwd.is_some() {
        line.push(')');
    }
    line
}

fn quote(text: &OsStr) -> String {
    let text = text.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%{}[]".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The executable `program` on PATH, if there is one.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let names: Vec<String> = if cfg!(windows) {
        vec![
            format!("{program}.exe"),
            format!("{program}.cmd"),
            program.to_string(),
        ]
    } else {
        vec![program.to_string()]
    };
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

fn launch_error(program: &Path, error: std::io::Error) -> anyhow::Error {
    OpError::new(
        Code::Failure,
        format!("cannot run {}: {error}", program.display()),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_quotes_only_what_needs_it() {
        let line = describe(
            Path::new("/c/bin/skaffold"),
            &["build".into(), "--tag".into(), "v 1".into(), "it's".into()],
            Some(Path::new("/repo")),
            &[],
        );
        assert_eq!(
            line,
            "(cd /repo && /c/bin/skaffold build --tag 'v 1' 'it'\\''s')"
        );
    }

    #[test]
    fn a_step_is_the_tool_and_its_subcommand() {
        let step = |tool: &str, args: &[&str]| {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            step(tool, &args)
        };
        assert_eq!(
            step(
                "skaffold",
                &["build", "--cache-artifacts=false", "--default-repo", "r.io"]
            ),
            "skaffold build"
        );
        assert_eq!(
            step(
                "kubectl",
                &["-n", "apps", "rollout", "status", "deployment/api"]
            ),
            "kubectl rollout status"
        );
        assert_eq!(
            step("crane", &["copy", "r.io/api:1", "s.io/api:1"]),
            "crane copy"
        );
        assert_eq!(
            step("flux", &["reconcile", "helmrelease", "api", "-n", "apps"]),
            "flux reconcile helmrelease"
        );
        assert_eq!(
            step("docker", &["run", "--rm", "-p", "8080:5000", "img"]),
            "docker run"
        );
        assert_eq!(step("pack", &["--version"]), "pack");
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("build_result.json");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, b"{\"builds\":[]}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"builds\":[]}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
