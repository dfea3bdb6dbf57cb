//! Test harness: a scrubbed environment per test, fixture tools and archives, and loopback
//! HTTP(S) servers with a request log and scripted faults. Nothing here leaves 127.0.0.1.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub mod archive;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `len` incompressible bytes (xorshift), so that gzip keeps an archive that large.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A fixture program: a shell script that prints a marker, its argv and PATH, and exits with
/// `$FIXTURE_EXIT` (default 0). It stands in for a real tool; it is not one.
pub fn fixture_tool(name: &str) -> Vec<u8> {
    format!(
        "#!/bin/sh\necho \"fixture {name} args:$*\"\necho \"fixture {name} PATH=$PATH\"\nexit ${{FIXTURE_EXIT:-0}}\n"
    )
    .into_bytes()
}

/// One platform entry of a test lock.
pub struct LockEntry {
    pub tool: String,
    pub version: String,
    pub platform: String,
    pub url: String,
    pub sha256: String,
    pub archive: &'static str,
    pub bin: Option<String>,
    pub size: Option<u64>,
}

impl LockEntry {
    pub fn new(
        tool: &str,
        url: &str,
        body: &[u8],
        archive: &'static str,
        bin: Option<&str>,
    ) -> LockEntry {
        LockEntry {
            tool: tool.into(),
            version: "1.0.0".into(),
            platform: "linux-amd64".into(),
            url: url.into(),
            sha256: sha256_hex(body),
            archive,
            bin: bin.map(Into::into),
            size: None,
        }
    }
}

pub fn lock_text(entries: &[LockEntry]) -> String {
    let mut text = String::from("schema = 1\n");
    let mut seen_tools = Vec::new();
    for entry in entries {
        if !seen_tools.contains(&entry.tool) {
            text.push_str(&format!(
                "\n[tools.{}]\nversion = \"{}\"\n",
                entry.tool, entry.version
            ));
            seen_tools.push(entry.tool.clone());
        }
        text.push_str(&format!(
            "\n[tools.{}.platforms.{}]\nurl = \"{}\"\nsha256 = \"{}\"\narchive = \"{}\"\n",
            entry.tool, entry.platform, entry.url, entry.sha256, entry.archive
        ));
        if let Some(bin) = &entry.bin {
            text.push_str(&format!("bin = \"{bin}\"\n"));
        }
        if let Some(size) = entry.size {
            text.push_str(&format!("size = {size}\n"));
        }
    }
    text
}

/// A temporary home, cache and working directory, and an `op` command with a scrubbed env.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "cache", "work"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        // The work dir is its own repository root so no toolchain.lock above it is found.
        std::fs::create_dir_all(dir.path().join("work/.git")).unwrap();
        TestEnv {
            dir,
            vars: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    pub fn work(&self) -> PathBuf {
        self.path().join("work")
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut TestEnv {
        self.vars.retain(|(name, _)| name != key);
        self.vars.push((key.into(), value.into()));
        self
    }

    /// Writes `toolchain.lock` in the work dir (discovered by `op`) and returns its path.
    pub fn write_lock(&self, entries: &[LockEntry]) -> PathBuf {
        let path = self.work().join("toolchain.lock");
        std::fs::write(&path, lock_text(entries)).unwrap();
        path
    }

    pub fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_op"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path().join("home"))
            .env("OP_CACHE_DIR", self.cache())
            .env("OP_NO_PROGRESS", "1")
            .env("OP_TOOLCHAIN_PLATFORM", "linux-amd64")
            .current_dir(self.work());
        for (key, value) in &self.vars {
            command.env(key, value);
        }
        command
    }

    pub fn op(&self, args: &[&str]) -> Run {
        let output = self.command().args(args).output().expect("run op");
        Run(output)
    }

    /// Entry directories under `tools/`.
    pub fn installed(&self) -> Vec<String> {
        list_names(&self.cache().join("tools"))
    }

    pub fn staging(&self) -> Vec<String> {
        list_names(&self.cache().join("staging"))
    }
}

pub fn list_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
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

/// The outcome of one `op` run, with assertions that print stdout/stderr on failure.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, parts: &[&str]) -> &Run {
        let stderr = self.stderr();
        for part in parts {
            assert!(stderr.contains(part), "stderr lacks {part:?}:\n{stderr}");
        }
        self
    }
}
