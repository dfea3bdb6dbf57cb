//! The fixture tools themselves: the compiled fixture program (what Windows runs) prints and
//! exits exactly as the `#!/bin/sh` fixture script does, so a test means the same on every OS.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::archive::marker;
use crate::support::{SYSTEM_PATH, exe, fixture_exe};

/// Runs `program` with `args`, PATH=[`SYSTEM_PATH`], `vars`, and `input` on stdin; its exit
/// code and stdout.
fn run(program: &Path, args: &[&str], vars: &[(&str, &str)], input: &str) -> (Option<i32>, String) {
    let mut command = Command::new(program);
    command
        .args(args)
        .env("PATH", SYSTEM_PATH)
        .env_remove("FIXTURE_STDIN")
        .env_remove("FIXTURE_EXIT")
        .envs(vars.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("run {}: {error}", program.display()));
    let mut stdin = child.stdin.take().expect("stdin");
    // Without FIXTURE_STDIN the fixture does not read its input and may be gone already.
    match stdin.write_all(input.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            panic!("write stdin: {error}")
        }
        _ => {}
    }
    drop(stdin);
    let output = child.wait_with_output().expect("wait for the fixture");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Writes `bytes` as an executable `name` in `dir`.
fn install(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(exe(name));
    std::fs::write(&path, bytes).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

#[test]
fn the_compiled_fixture_prints_and_exits_as_the_script_does() {
    let dir = tempfile::tempdir().unwrap();
    // What the tests run on this OS (the script on Unix, the program on Windows), and the
    // compiled program everywhere.
    let programs = [
        install(
            dir.path(),
            "fixture-probe",
            &crate::support::archive::fixture_script("fixture-probe", 7),
        ),
        install(
            dir.path(),
            "fixture-probe-compiled",
            &fixture_exe::with_trailer("fixture-probe", 7),
        ),
    ];
    let args = ["two words", "--flag=x", ""];
    let printed = format!(
        "{}\narg=[two words]\narg=[--flag=x]\narg=[]\nPATH={SYSTEM_PATH}\n",
        marker("fixture-probe")
    );
    for program in &programs {
        let shown = program.display();
        assert_eq!(
            run(program, &args, &[], "not copied\n"),
            (Some(7), printed.clone()),
            "{shown}"
        );
        assert_eq!(
            run(program, &args, &[("FIXTURE_STDIN", "1")], "from stdin\n"),
            (Some(7), format!("{printed}from stdin\n")),
            "{shown}"
        );
        assert_eq!(
            run(program, &[], &[("FIXTURE_EXIT", "42")], "").0,
            Some(42),
            "{shown}"
        );
        assert_eq!(
            run(program, &[], &[("FIXTURE_EXIT", "")], "").0,
            Some(7),
            "{shown}"
        );
    }
}
