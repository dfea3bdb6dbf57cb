//! Running a pinned tool: PATH with the pinned tools first, then `exec` on Unix (nothing of `op`
//! stays around) or spawn-and-wait elsewhere, passing the exit code through.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::error::{ChildExit, Code, OpError};

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

    #[test]
    fn pinned_dirs_come_first_once() {
        let first = PathBuf::from("/pinned/a");
        let path = path_with(std::slice::from_ref(&first)).unwrap();
        let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        assert_eq!(dirs[0], first);
        assert_eq!(dirs.iter().filter(|dir| **dir == first).count(), 1);
    }
}
