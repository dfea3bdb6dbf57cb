//! Torture runs of `op toolchain install`: SIGKILL at random moments, 16 installers on one
//! cache, a fault-injecting mirror, a read-only cache and a full disk. Every test is
//! `#[ignore]`d: `.ci/run` runs them with small counts, `scripts/torture` with the full ones.
//! Each test writes a markdown table of its trials to `target/torture/<test>.md`.
//!
//! Counts: `OP_TORTURE_KILLS` (kill trials, default 20), `OP_TORTURE_ROUNDS` (concurrency
//! rounds, default 3), `OP_TORTURE_MB` (size of the big fixture artifacts, default 50),
//! `OP_TORTURE_SEED` (random seed; default: the clock, printed in the report).
//! Nothing leaves 127.0.0.1; every loop and wait is bounded.
#![cfg(unix)]

#[path = "../it/support/mod.rs"]
mod support;

mod concurrency;
mod disk;
mod faults;
mod kill;
mod swap;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::archive::{self, Entry};
use support::{Artifact, Kind, Lock, Pin, TestEnv, host_platform, sha256_hex};

/// A whole number from the environment, or `default`.
pub fn count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(default)
}

/// The seed for this run: `OP_TORTURE_SEED`, else the clock.
pub fn seed() -> u64 {
    count(
        "OP_TORTURE_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_nanos() as u64)
            .unwrap_or(1),
    )
    .max(1)
}

/// xorshift64*: quick, deterministic fixture bytes and kill delays.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, bound)`.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// A fixture executable of `len` bytes: a shell script that prints its name and exits, padded
/// with incompressible bytes the shell never reads.
pub fn big_script(tool: &str, len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut body = format!("#!/bin/sh\necho {tool}\nexit 0\n").into_bytes();
    let pad = len.saturating_sub(body.len());
    body.extend(rng.bytes(pad));
    body
}

/// One fixture tool packed as `kind`, and the SHA-256 its installed executable must have.
pub struct Big {
    pub pin: Pin,
    pub bin_sha256: String,
    pub bin_len: u64,
}

pub fn big_tool(tool: &str, kind: Kind, len: usize, rng: &mut Rng) -> Big {
    let script = big_script(tool, len, rng);
    let bin_sha256 = sha256_hex(&script);
    let bin_len = script.len() as u64;
    let url = format!(
        "https://github.com/acme/{tool}/releases/download/v1.0.0/{tool}-{}{}",
        host_platform(),
        match kind {
            Kind::Raw => "",
            Kind::TarGz => ".tar.gz",
            Kind::Zip => ".zip",
        }
    );
    let bin = format!("{tool}-1.0.0/bin/{tool}");
    let entries = [
        Entry::dir(&format!("{tool}-1.0.0/")),
        Entry::file(&format!("{tool}-1.0.0/README.md"), b"fixture\n"),
        Entry::file(&bin, &script),
    ];
    let artifact = match kind {
        Kind::Raw => Artifact::new(host_platform(), &url, script, kind, None),
        Kind::TarGz => Artifact::new(
            host_platform(),
            &url,
            archive::tar_gz(&entries),
            kind,
            Some(&bin),
        ),
        Kind::Zip => Artifact::new(
            host_platform(),
            &url,
            archive::zip(&entries),
            kind,
            Some(&bin),
        ),
    };
    Big {
        pin: Pin::custom(tool, "1.0.0", artifact),
        bin_sha256,
        bin_len,
    }
}

/// Megabytes of the big fixture artifacts.
pub fn big_len() -> usize {
    count("OP_TORTURE_MB", 50) as usize * 1024 * 1024
}

/// The torture toolchain: a raw, a tar.gz and a zip fixture tool (the zip a fifth the size).
pub fn torture_tools(rng: &mut Rng) -> Vec<Big> {
    let len = big_len();
    vec![
        big_tool("fixture-raw", Kind::Raw, len, rng),
        big_tool("fixture-tgz", Kind::TarGz, len, rng),
        big_tool("fixture-zip", Kind::Zip, len / 5, rng),
    ]
}

pub fn lock_of(tools: &[Big]) -> Lock {
    Lock::new(tools.iter().map(|big| big.pin.clone()).collect())
}

/// The cache invariant: every entry under `tools/` is one of `tools`, has its receipt, and its
/// executable has exactly the pinned bytes. Returns how many are installed, or what is wrong.
pub fn check_cache(env: &TestEnv, tools: &[Big]) -> Result<usize, String> {
    let mut installed = 0;
    for name in env.installed() {
        let Some(big) = tools
            .iter()
            .find(|big| big.pin.dir_name(host_platform()) == name)
        else {
            return Err(format!("unexpected entry tools/{name}"));
        };
        let dir = env.cache().join("tools").join(&name);
        if !dir.join("receipt.json").is_file() {
            return Err(format!("tools/{name} has no receipt.json"));
        }
        let bin = env.bin_path(&big.pin, host_platform());
        let meta =
            fs::symlink_metadata(&bin).map_err(|error| format!("{}: {error}", bin.display()))?;
        if !meta.file_type().is_file() || meta.len() != big.bin_len {
            return Err(format!(
                "{}: {} bytes, expected {}",
                bin.display(),
                meta.len(),
                big.bin_len
            ));
        }
        let digest = sha256_hex(&fs::read(&bin).map_err(|error| error.to_string())?);
        if digest != big.bin_sha256 {
            return Err(format!(
                "{}: digest {digest} is not the pinned one",
                bin.display()
            ));
        }
        installed += 1;
    }
    Ok(installed)
}

/// Files anywhere under the cache's `staging/`.
pub fn staging_files(env: &TestEnv) -> usize {
    support::walk(&env.cache().join("staging")).len()
}

/// A markdown report of one torture test, written to `target/torture/<name>.md`.
pub struct Report {
    name: String,
    text: String,
}

impl Report {
    pub fn new(name: &str, title: &str) -> Report {
        let mut text = format!("## {title}\n\n");
        let _ = writeln!(
            text,
            "Run {} on {} core(s), kernel {}.\n",
            now_utc(),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
        );
        Report {
            name: name.to_string(),
            text,
        }
    }

    pub fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let _ = writeln!(self.text, "| {} |", header.join(" | "));
        let _ = writeln!(
            self.text,
            "|{}",
            header.iter().map(|_| "---|").collect::<String>()
        );
        for row in rows {
            let _ = writeln!(self.text, "| {} |", row.join(" | "));
        }
        self.text.push('\n');
    }

    /// Writes the report (also when the test is about to fail, so the figures survive).
    pub fn write(&self) -> PathBuf {
        let dir = report_dir();
        fs::create_dir_all(&dir).expect("create report dir");
        let path = dir.join(format!("{}.md", self.name));
        fs::write(&path, &self.text).expect("write report");
        path
    }
}

fn report_dir() -> PathBuf {
    std::env::var_os("OP_TORTURE_REPORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/torture"))
}

fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn secs(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64())
}

/// Median, 95th percentile and maximum of `values`.
pub fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), values[values.len() - 1])
}

/// A fresh, empty cache for `env`.
pub fn empty_cache(env: &TestEnv) {
    let cache = env.cache();
    if cache.exists() {
        fs::remove_dir_all(&cache).expect("remove cache");
    }
    fs::create_dir_all(&cache).expect("create cache");
}
