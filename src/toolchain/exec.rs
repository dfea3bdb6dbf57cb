//! Running a pinned tool: PATH with the pinned tools first, then `exec` on Unix (nothing of `op`
//! stays around) or spawn-and-wait elsewhere, passing the exit code through; one retry rule
//! for an entry that vanished between its check and its launch ([`relaunch`]); and the warm
//! path of `op toolchain exec` ([`warm`]), which looks at nothing but the tool it runs.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::error::{ChildExit, Code, OpError};
use crate::settings::ToolchainSettings;
use crate::toolchain::cache::index::Index;
use crate::toolchain::cache::{Cache, State, TOOLS};
use crate::toolchain::lock::Lock;
use crate::toolchain::{Toolchain, platform, starts};

/// Runs `launch` (an `exec` or a spawn of `exe`). When it fails because `exe` is gone (another
/// op's `prune`, or an install on a filesystem without atomic swaps, took the entry between its
/// check and the launch), `reinstall` puts it back and `launch` runs again, twice at most.
/// `reinstall` says `false` when `exe` is no pinned tool's: the first failure stands.
pub fn relaunch<T>(
    exe: &Path,
    mut reinstall: impl FnMut() -> Result<bool>,
    mut launch: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut attempts = 0;
    loop {
        match launch() {
            Err(error) if attempts < 2 && exe.symlink_metadata().is_err() => {
                attempts += 1;
                if !reinstall()? {
                    return Err(error);
                }
            }
            result => return result,
        }
    }
}

/// The warm path of `op [--lock FILE] [--config FILE] toolchain exec TOOL [--] ARGS`: when the
/// lock has an index in the cache and TOOL (with the pinned tools it starts) is installed,
/// this process becomes the tool (on Windows: runs it and exits with its code) without building
/// the command-line parser, parsing the whole lock or starting anything else. It returns when it cannot take that path (another command
/// line, no index yet, an entry missing or stale, any error at all): the caller then runs the
/// command the ordinary way, which installs what is missing and reports every problem.
pub fn warm(argv: &[OsString]) {
    let Some((lock_file, tool, args)) = warm_command(argv) else {
        return;
    };
    if let Some((exe, path)) = warm_entries(lock_file, tool)
        && let Err(error) = replace_process(&exe, args, &path)
        && let Some(ChildExit(code)) = error.downcast_ref::<ChildExit>()
    {
        // Where there is no exec (Windows) the tool ran as a child: its exit is op's.
        std::process::exit(*code);
    }
}

/// The lock file, tool and arguments of an `exec` command line in the one shape the warm path
/// reads exactly as clap does; `None` for anything else.
fn warm_command(argv: &[OsString]) -> Option<(Option<&Path>, &str, &[OsString])> {
    let mut rest = argv.get(1..)?;
    let (mut lock, mut config) = (None, false);
    loop {
        let word = rest.first()?.to_str()?;
        if word == "toolchain" {
            break;
        }
        let (name, value, used) = match word.split_once('=') {
            Some((name, value)) => (name, value, 1),
            None => (word, rest.get(1)?.to_str()?, 2),
        };
        let plain = !value.is_empty() && !value.starts_with('-');
        match name {
            "--lock" if lock.is_none() && plain => lock = Some(Path::new(value)),
            "--config" if !config && plain => config = true,
            _ => return None,
        }
        rest = &rest[used..];
    }
    let [_, exec, tool, args @ ..] = rest else {
        return None;
    };
    let tool = tool.to_str()?;
    if exec != "exec" || tool.starts_with('-') {
        return None;
    }
    let args = match args.first().and_then(|first| first.to_str()) {
        Some("--") => &args[1..],
        Some(first) if first.starts_with('-') => return None,
        _ => args,
    };
    Some((lock, tool, args))
}

/// The executable of `tool` and the PATH to run it with, when the warm path can take them.
fn warm_entries(lock_file: Option<&Path>, tool: &str) -> Option<(PathBuf, OsString)> {
    let settings = ToolchainSettings::from_env().ok()?;
    let (text, origin) = Lock::read(lock_file).ok()?;
    let platform = match settings.platform {
        Some(key) => platform::validate(&key).ok().map(|()| key)?,
        None => platform::host().ok()?.to_string(),
    };
    let cache = Cache::new(settings.cache_dir).ok()?;
    let root = cache.open_root(false).ok()??;
    let index = Index::open(&root, &text)?;
    let tools = root.open_dir(TOOLS).ok()??;
    let pinned = index.tool(&text, tool, &origin)?;
    let mut entries = vec![cache.entry(&pinned, &platform, pinned.platforms.get(&platform)?)];
    for name in starts(tool) {
        // A companion the index does not list: the ordinary path tells whether the lock pins it.
        let companion = index.tool(&text, name, &origin)?;
        if let Some(artifact) = companion.platforms.get(&platform) {
            entries.push(cache.entry(&companion, &platform, artifact));
        }
    }
    for entry in &entries {
        if !matches!(entry.state_in(&tools).ok()?, State::Installed(_)) {
            return None;
        }
    }
    let path = path_with(&Toolchain::bin_dirs(&entries)).ok()?;
    // As every command does: what a killed op left in `staging/` goes.
    crate::toolchain::install::sweep_staging(&cache);
    Some((entries[0].exe(), path))
}

/// `dirs` followed by the current PATH.
pub fn path_with(dirs: &[PathBuf]) -> Result<OsString> {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let mut all: Vec<PathBuf> = dirs.to_vec();
    all.extend(std::env::split_paths(&current).filter(|dir| !dirs.contains(dir)));
    std::env::join_paths(all).map_err(|error| {
        OpError::config(format!(
            "cannot build PATH from the cache directory: {error}"
        ))
        .with_hint("set OP_CACHE_DIR to a path without the PATH separator character")
        .into()
    })
}

/// Replaces this process with `exe` (Unix) or runs it and exits with its code (elsewhere).
/// Returns only on failure.
pub fn replace_process(exe: &Path, args: &[OsString], path: &OsStr) -> Result<()> {
    let mut command = Command::new(exe);
    command.args(args).env("PATH", path);
    run_replacing(command, exe)
}

#[cfg(unix)]
fn run_replacing(mut command: Command, exe: &Path) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let error = command.exec();
    Err(launch_error(exe, error))
}

#[cfg(not(unix))]
fn run_replacing(mut command: Command, exe: &Path) -> Result<()> {
    let status = command.status().map_err(|error| launch_error(exe, error))?;
    Err(ChildExit(status.code().unwrap_or(1)).into())
}

/// Runs `command` to completion; a non-zero exit becomes [`ChildExit`] with the same code
/// (128 + signal number when the child was killed by a signal).
pub fn run(mut command: Command, exe: &Path) -> Result<()> {
    let status = command.status().map_err(|error| launch_error(exe, error))?;
    if status.success() {
        return Ok(());
    }
    Err(ChildExit(exit_code(&status)).into())
}

#[cfg(unix)]
fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}

#[cfg(not(unix))]
fn exit_code(status: &std::process::ExitStatus) -> i32 {
    status.code().unwrap_or(1)
}

fn launch_error(exe: &Path, error: std::io::Error) -> anyhow::Error {
    OpError::new(
        Code::Failure,
        format!("cannot run {}: {error}", exe.display()),
    )
    .with_hint("run `op toolchain verify`; the platform of the installed tool may not match this machine (OP_TOOLCHAIN_PLATFORM)")
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn the_warm_path_reads_only_command_lines_clap_reads_the_same_way() {
        type Parsed<'a> = Option<(Option<&'a str>, &'a str, &'a [&'a str])>;
        let cases: [(&str, Parsed); 10] = [
            ("op toolchain exec kubectl", Some((None, "kubectl", &[]))),
            (
                "op toolchain exec kubectl -- version --client",
                Some((None, "kubectl", &["version", "--client"])),
            ),
            (
                "op --lock x.lock toolchain exec crane ls -v",
                Some((Some("x.lock"), "crane", &["ls", "-v"])),
            ),
            (
                "op --config p --lock=a=b toolchain exec pack --",
                Some((Some("a=b"), "pack", &[])),
            ),
            ("op toolchain exec kubectl --help", None),
            ("op toolchain exec --help", None),
            ("op --lock a --lock b toolchain exec kubectl", None),
            ("op --lock toolchain exec kubectl", None),
            ("op toolchain --lock a exec kubectl", None),
            ("op toolchain install kubectl", None),
        ];
        for (line, expected) in cases {
            let argv = words(line);
            let got = warm_command(&argv).map(|(lock, tool, args)| {
                (
                    lock.map(|lock| lock.to_str().unwrap().to_string()),
                    tool.to_string(),
                    args.iter()
                        .map(|arg| arg.to_str().unwrap().to_string())
                        .collect::<Vec<_>>(),
                )
            });
            let expected = expected.map(|(lock, tool, args)| {
                (
                    lock.map(str::to_string),
                    tool.to_string(),
                    args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>(),
                )
            });
            assert_eq!(got, expected, "{line}");
        }
    }

    #[test]
    fn a_vanished_executable_is_reinstalled_once_and_launched_again() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("tool");
        let reinstalls = std::cell::Cell::new(0);
        let launched = relaunch(
            &exe,
            || {
                reinstalls.set(reinstalls.get() + 1);
                std::fs::write(&exe, "x")?;
                Ok(true)
            },
            || {
                if exe.exists() {
                    Ok("ran")
                } else {
                    Err(anyhow::anyhow!("gone"))
                }
            },
        );
        assert_eq!(launched.unwrap(), "ran");
        assert_eq!(reinstalls.get(), 1);
        // Not a pinned tool's: the launch error stands.
        let missing = dir.path().join("docker");
        let error = relaunch(
            &missing,
            || Ok(false),
            || Err::<(), _>(anyhow::anyhow!("gone")),
        );
        assert_eq!(error.unwrap_err().to_string(), "gone");
    }

    #[test]
    fn pinned_dirs_come_first_once() {
        let first = PathBuf::from("/pinned/a");
        let path = path_with(std::slice::from_ref(&first)).unwrap();
        let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        assert_eq!(dirs[0], first);
        assert_eq!(dirs.iter().filter(|dir| **dir == first).count(), 1);
    }
}
