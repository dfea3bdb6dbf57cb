//! The compiled fixture program (`tests/it/fixtures/fixture_tool.rs`) for hosts that cannot
//! run `#!/bin/sh` scripts: built once per test process with `rustc` (`$RUSTC` when set) into a
//! temp dir. `OP_IT_FIXTURE_EXE` names a prebuilt copy instead, for a test binary that runs
//! where no `rustc` for its target is at hand (a Windows build run under Wine, say).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// The fixture program's source, compiled by [`bytes`].
pub const SOURCE: &str = include_str!("../fixtures/fixture_tool.rs");

/// The fixture program's bytes (no trailer yet), built on first use.
pub fn bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| match std::env::var_os("OP_IT_FIXTURE_EXE") {
        Some(prebuilt) => std::fs::read(&prebuilt).unwrap_or_else(|error| {
            panic!(
                "read OP_IT_FIXTURE_EXE {}: {error}",
                Path::new(&prebuilt).display()
            )
        }),
        None => compile(),
    })
}

/// The fixture program standing in for `tool`, exiting `exit_code` unless `FIXTURE_EXIT` says
/// otherwise: its bytes and the trailer it reads back.
pub fn with_trailer(tool: &str, exit_code: i32) -> Vec<u8> {
    let mut program = bytes().to_vec();
    program.extend_from_slice(format!("\n#op-it-fixture:{tool}:{exit_code}\n").as_bytes());
    program
}

fn compile() -> Vec<u8> {
    let dir = tempfile::Builder::new()
        .prefix("op-it-fixture-")
        .tempdir()
        .expect("create a temp dir for the fixture program");
    let source = dir.path().join("fixture_tool.rs");
    std::fs::write(&source, SOURCE).expect("write the fixture source");
    let exe = dir
        .path()
        .join(format!("fixture_tool{}", std::env::consts::EXE_SUFFIX));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--edition", "2021", "--crate-name", "fixture_tool"])
        .args(["-C", "opt-level=1", "-C", "debuginfo=0", "-C", "strip=symbols"])
        .arg("-o")
        .arg(&exe)
        .arg(&source)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "run {} to build the fixture program: {error}; set RUSTC, or OP_IT_FIXTURE_EXE to a prebuilt one",
                Path::new(&rustc).display()
            )
        });
    assert!(
        output.status.success(),
        "rustc could not build the fixture program:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(&exe).expect("read the fixture program")
}
