//! How pipeline commands run tools: pinned tools by absolute path (the toolchain is ensured
//! first), `docker`/`git` from PATH, the pinned tools first on every child's PATH, `--dry-run`
//! printing instead of running, SIGINT/SIGTERM/SIGHUP relayed to the child (see [`child`]), and
//! the child's exit code passed through (128+N for signal N).

pub(crate) mod child;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result};

use crate::error::{Code, OpError};
use crate::redact;
use crate::toolchain::cache::Entry;
use crate::toolchain::{Toolchain, exec};

/// Runs (or, with `--dry-run`, prints) the child processes and file writes of one command.
pub struct Runner<'a> {
    toolchain: &'a Toolchain,
    dry_run: bool,
    entries: OnceLock<Vec<Entry>>,
}

impl<'a> Runner<'a> {
    pub fn new(toolchain: &'a Toolchain, dry_run: bool) -> Runner<'a> {
        // From the start, not only from the first child: as PID 1 a signal nobody handles is
        // dropped, so `docker stop` would wait out a download. A failure shows at the first spawn.
        let _ = child::listen();
        Runner {
            toolchain,
            dry_run,
            entries: OnceLock::new(),
        }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    pub fn toolchain(&self) -> &Toolchain {
        self.toolchain
    }

    /// Installs the whole pinned toolchain once (fast path when already cached).
    fn entries(&self) -> Result<&[Entry]> {
        if let Some(entries) = self.entries.get() {
            return Ok(entries);
        }
        let entries = self.toolchain.ensure_all()?;
        Ok(self.entries.get_or_init(|| entries))
    }

    /// Absolute path of a pinned tool (`skaffold`, `pack`, `flux`, `kubectl`, `crane`).
    pub fn pinned(&self, tool: &str) -> Result<PathBuf> {
        self.toolchain.lock.tool(tool)?;
        let entries = self.entries()?;
        entries
            .iter()
            .find(|entry| entry.tool == tool)
            .map(Entry::exe)
            .ok_or_else(|| anyhow::anyhow!("{tool} is missing from the installed toolchain"))
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

    /// The PATH for children: the pinned tools' directories first.
    fn child_path(&self) -> Result<OsString> {
        exec::path_with(&Toolchain::bin_dirs(self.entries()?))
    }

    fn command(
        &self,
        program: &Path,
        args: &[OsString],
        cwd: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Command> {
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
        let mut command = self.command(program, args, cwd, env)?;
        child::spawn(&mut command)
            .map_err(|error| launch_error(program, error))?
            .wait()
            .with_context(|| format!("waiting for {} failed", program.display()))?
            .check()
    }

    /// Runs a child and returns its stdout (stderr passes through). Runs even under
    /// `--dry-run`: it is for reading state (`git describe`, `kubectl get`), never for changes.
    pub fn capture(&self, program: &Path, args: &[OsString], cwd: Option<&Path>) -> Result<String> {
        let mut command = self.command(program, args, cwd, &[])?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let (outcome, stdout, _) = child::spawn(&mut command)
            .and_then(child::Child::wait_with_output)
            .with_context(|| format!("cannot run {}", program.display()))?;
        outcome
            .check()
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
        let (outcome, stdout, stderr) = child::spawn(&mut command)
            .map_err(|error| launch_error(program, error))?
            .wait_with_output()
            .with_context(|| format!("waiting for {} failed", program.display()))?;
        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        if !outcome.success() {
            self.toolchain.output.info(stderr.trim_end());
            self.toolchain.output.info(stdout.trim_end());
        }
        outcome
            .check()
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
        let mut child = child::spawn(&mut command).map_err(|error| launch_error(program, error))?;
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
        outcome
            .check()
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
