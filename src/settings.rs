//! Every environment variable `op` reads, resolved once into plain values.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::error::OpError;

pub const CACHE_DIR: &str = "OP_CACHE_DIR";
pub const TOOLCHAIN_LOCK: &str = "OP_TOOLCHAIN_LOCK";
pub const TOOLCHAIN_MIRROR: &str = "OP_TOOLCHAIN_MIRROR";
pub const OFFLINE: &str = "OP_OFFLINE";
pub const TOOLCHAIN_PLATFORM: &str = "OP_TOOLCHAIN_PLATFORM";
pub const LOCK_TIMEOUT: &str = "OP_LOCK_TIMEOUT";
pub const HTTP_RETRIES: &str = "OP_HTTP_RETRIES";
pub const HTTP_TIMEOUT: &str = "OP_HTTP_TIMEOUT";
pub const HTTP_MIN_SPEED: &str = "OP_HTTP_MIN_SPEED";
pub const NO_PROGRESS: &str = "OP_NO_PROGRESS";
pub const NO_COLOR: &str = "NO_COLOR";
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
pub const GITHUB_PATH: &str = "GITHUB_PATH";

/// A non-empty environment variable, or `None`.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// A boolean flag variable: set, non-empty and not `0`/`false`/`no`/`off`.
pub fn flag(name: &str) -> bool {
    var(name).is_some_and(|value| {
        !matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        )
    })
}

fn seconds(name: &str, default: u64) -> Result<Duration> {
    match var(name) {
        None => Ok(Duration::from_secs(default)),
        Some(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite() && *value >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                OpError::config(format!(
                    "{name}={text:?} is not a number of seconds (for example {name}={default})"
                ))
                .into()
            }),
    }
}

/// Settings of the toolchain layer, from the environment.
#[derive(Clone, Debug)]
pub struct ToolchainSettings {
    pub cache_dir: Option<PathBuf>,
    pub mirror: Option<String>,
    pub offline: bool,
    pub platform: Option<String>,
    pub lock_timeout: Duration,
    pub retries: u32,
    pub http_timeout: Duration,
    /// A download slower than this (bytes per second, averaged over each `http_timeout`
    /// window) is abandoned and retried; 0 disables the floor.
    pub min_speed: u64,
    pub progress: bool,
    pub ca_file: Option<PathBuf>,
}

impl ToolchainSettings {
    pub fn from_env() -> Result<Self> {
        let retries = match var(HTTP_RETRIES) {
            None => 3,
            Some(text) => text.trim().parse::<u32>().map_err(|_| {
                OpError::config(format!(
                    "{HTTP_RETRIES}={text:?} is not a whole number of retries (for example {HTTP_RETRIES}=3)"
                ))
            })?,
        };
        let min_speed = match var(HTTP_MIN_SPEED) {
            None => 1024,
            Some(text) => text.trim().parse::<u64>().map_err(|_| {
                OpError::config(format!(
                    "{HTTP_MIN_SPEED}={text:?} is not a whole number of bytes per second (for example {HTTP_MIN_SPEED}=1024; 0 turns the floor off)"
                ))
            })?,
        };
        Ok(Self {
            cache_dir: var(CACHE_DIR).map(PathBuf::from),
            mirror: var(TOOLCHAIN_MIRROR),
            offline: flag(OFFLINE),
            platform: var(TOOLCHAIN_PLATFORM),
            lock_timeout: seconds(LOCK_TIMEOUT, 300)?,
            retries,
            http_timeout: seconds(HTTP_TIMEOUT, 30)?,
            min_speed,
            progress: !flag(NO_PROGRESS),
            ca_file: var(SSL_CERT_FILE).map(PathBuf::from),
        })
    }
}
