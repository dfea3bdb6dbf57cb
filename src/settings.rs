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
pub const HTTP_DEADLINE: &str = "OP_HTTP_DEADLINE";
pub const NO_PROGRESS: &str = "OP_NO_PROGRESS";
pub const NO_COLOR: &str = "NO_COLOR";
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
pub const GITHUB_PATH: &str = "GITHUB_PATH";
/// Sent as `Authorization: Bearer` to GitHub hosts only (`OP_GITHUB_TOKEN` wins).
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
pub const OP_GITHUB_TOKEN: &str = "OP_GITHUB_TOKEN";
/// `build-push`: pack's remote build cache image, as `--cache-image`.
pub const CACHE_IMAGE: &str = "OP_CACHE_IMAGE";

/// A non-empty environment variable, or `None`.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The proxy a request to `url` goes through, as reqwest's system-proxy support picks it from
/// the environment (`HTTPS_PROXY`/`HTTP_PROXY`, lower case too, then `ALL_PROXY`; none for a
/// host `NO_PROXY` lists), so that an error can name it.
pub fn proxy_for(scheme: &str, host: &str) -> Option<String> {
    let any = |names: &[&str]| names.iter().find_map(|name| var(name));
    let no_proxy = any(&["NO_PROXY", "no_proxy"]).unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let bypassed = no_proxy.split(',').map(str::trim).any(|entry| {
        let entry = entry.trim_start_matches('.');
        entry == "*"
            || (!entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}"))))
    });
    if bypassed {
        return None;
    }
    let scheme_proxy = match scheme {
        "https" => any(&["HTTPS_PROXY", "https_proxy"]),
        "http" => any(&["HTTP_PROXY", "http_proxy"]),
        _ => None,
    };
    scheme_proxy.or_else(|| any(&["ALL_PROXY", "all_proxy"]))
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

/// The accepted values of a numeric variable: its documented range and default.
struct Range {
    name: &'static str,
    min: u64,
    max: u64,
    default: u64,
    /// How the range reads in a message: "seconds", "a whole number", ….
    unit: &'static str,
    /// Said after the upper bound, e.g. " (100 MiB/s)".
    max_note: &'static str,
    /// Said after the lower bound, e.g. " (off)".
    min_note: &'static str,
    /// Replaces "default N" in messages when the default is not one number.
    default_note: &'static str,
}

impl Range {
    /// `OP_X=value is out of range: give seconds between 1 and 3600 (default 30)`.
    fn error(&self, text: &str, problem: &str) -> anyhow::Error {
        let shown =
            if !text.is_empty() && text.len() <= 40 && text.chars().all(|c| c.is_ascii_graphic()) {
                text.to_string()
            } else {
                let mut quoted: String = format!("{text:?}").chars().take(60).collect();
                if quoted.len() < format!("{text:?}").len() {
                    quoted.push('…');
                }
                quoted
            };
        let default = if self.default_note.is_empty() {
            format!("default {}", self.default)
        } else {
            self.default_note.to_string()
        };
        OpError::config(format!(
            "{}={shown} {problem}: give {} between {}{} and {}{} ({default})",
            self.name, self.unit, self.min, self.min_note, self.max, self.max_note
        ))
        .with_hint(format!(
            "fix or unset {} (README.md, section \"Environment variables\", gives the range of each)",
            self.name
        ))
        .into()
    }

    /// Seconds, fractions allowed; `None` (unset or empty) is the default.
    fn seconds(&self) -> Result<Duration> {
        let Some(text) = var(self.name) else {
            return Ok(Duration::from_secs(self.default));
        };
        let value: f64 = match text.trim().parse::<f64>() {
            Ok(value) if !value.is_nan() => value,
            _ => return Err(self.error(&text, "is not a number")),
        };
        // Also refuses ±inf and the huge values `Duration::from_secs_f64` panics on.
        if !(self.min as f64..=self.max as f64).contains(&value) {
            return Err(self.error(&text, "is out of range"));
        }
        Ok(Duration::from_secs_f64(value))
    }

    /// A whole number (digits only); `None` (unset or empty) is the default.
    fn whole(&self) -> Result<u64> {
        let Some(text) = var(self.name) else {
            return Ok(self.default);
        };
        let digits = text.trim();
        if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(self.error(&text, "is not a whole number"));
        }
        match digits.parse::<u64>() {
            Ok(value) if (self.min..=self.max).contains(&value) => Ok(value),
            _ => Err(self.error(&text, "is out of range")),
        }
    }
}

/// `OP_HTTP_TIMEOUT`: 0 would time every connection out at once; over an hour of silence is a
/// dead server.
const HTTP_TIMEOUT_RANGE: Range = Range {
    name: HTTP_TIMEOUT,
    min: 1,
    max: 3600,
    default: 30,
    unit: "seconds",
    min_note: "",
    max_note: "",
    default_note: "",
};

/// `OP_LOCK_TIMEOUT`: 0 means "do not wait": fail at once if another process holds the lock.
const LOCK_TIMEOUT_RANGE: Range = Range {
    name: LOCK_TIMEOUT,
    min: 0,
    max: 86_400,
    default: 300,
    unit: "seconds",
    min_note: "",
    max_note: "",
    default_note: "",
};

/// `OP_HTTP_RETRIES`: 20 retries with the backoff capped at a minute is already a quarter of an
/// hour of a failing server.
const HTTP_RETRIES_RANGE: Range = Range {
    name: HTTP_RETRIES,
    min: 0,
    max: 20,
    default: 3,
    unit: "a whole number",
    min_note: "",
    max_note: "",
    default_note: "",
};

/// `OP_HTTP_MIN_SPEED`: 0 turns the floor off.
const HTTP_MIN_SPEED_RANGE: Range = Range {
    name: HTTP_MIN_SPEED,
    min: 0,
    max: 100 * 1024 * 1024,
    default: 1024,
    unit: "bytes per second",
    min_note: " (off)",
    max_note: " (100 MiB/s)",
    default_note: "",
};

/// `OP_HTTP_DEADLINE`: the whole of one download, every attempt and wait included. Unset, it is
/// derived from the pinned size (`fetch::deadline`).
const HTTP_DEADLINE_RANGE: Range = Range {
    name: HTTP_DEADLINE,
    min: 1,
    max: 86_400,
    default: 3600,
    unit: "seconds",
    min_note: "",
    max_note: "",
    default_note: "default: from the pinned size, at most 3600",
};

/// Settings of the toolchain layer, from the environment.
#[derive(Clone, Debug)]
pub struct ToolchainSettings {
    pub cache_dir: Option<PathBuf>,
    /// The first of [`ToolchainSettings::mirrors`]: where checksum lists, release listings and
    /// proofs are read from.
    pub mirror: Option<String>,
    /// `OP_TOOLCHAIN_MIRROR`, every entry: the mirrors artifacts are fetched from, in order.
    pub mirrors: Mirrors,
    pub offline: bool,
    pub platform: Option<String>,
    pub lock_timeout: Duration,
    pub retries: u32,
    pub http_timeout: Duration,
    /// A download slower than this (bytes per second, averaged over each `http_timeout`
    /// window) is abandoned and retried; 0 disables the floor.
    pub min_speed: u64,
    /// How long one download may take, all attempts and waits included; `None`: derived from
    /// the artifact's pinned size (see `fetch::deadline`).
    pub deadline: Option<Duration>,
    pub progress: bool,
    pub ca_file: Option<PathBuf>,
    /// `OP_GITHUB_TOKEN`, else `GITHUB_TOKEN`: masked in every line printed.
    pub github_token: Option<Secret>,
}

/// `OP_TOOLCHAIN_MIRROR`: mirror base URLs separated by commas or whitespace, tried in the
/// order given. They replace the lock's own URLs unless the list ends with the word `origin`,
/// which lets the artifact's `mirrors` and `url` follow them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirrors {
    pub bases: Vec<String>,
    /// Whether the lock's own URLs are tried after the mirrors (always, when there are none).
    pub then_origin: bool,
}

/// The word that, last in `OP_TOOLCHAIN_MIRROR`, lets the lock's own URLs follow the mirrors.
pub const ORIGIN: &str = "origin";

impl Mirrors {
    pub fn parse(value: &str) -> Result<Mirrors, OpError> {
        let entries: Vec<&str> = value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .collect();
        let mut mirrors = Mirrors::default();
        for (index, entry) in entries.iter().enumerate() {
            if *entry == ORIGIN {
                if index + 1 != entries.len() {
                    return Err(OpError::config(format!(
                        "{TOOLCHAIN_MIRROR}: `{ORIGIN}` must come last (the lock's own URLs are tried after every mirror), got {:?}",
                        crate::redact::url(value)
                    )));
                }
                mirrors.then_origin = true;
            } else if !mirrors.bases.iter().any(|base| base == entry) {
                mirrors.bases.push((*entry).to_string());
            }
        }
        if mirrors.bases.is_empty() {
            mirrors.then_origin = true;
        }
        Ok(mirrors)
    }
}

/// A value that is never shown: `Debug` prints a mask, and [`crate::redact`] knows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    fn remembered(value: &str) -> Secret {
        crate::redact::remember(value);
        Secret(value.to_string())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::redact::MASK)
    }
}

impl ToolchainSettings {
    pub fn from_env() -> Result<Self> {
        let retries = HTTP_RETRIES_RANGE.whole()?;
        let mirrors = var(TOOLCHAIN_MIRROR)
            .map(|value| Mirrors::parse(&value))
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            cache_dir: var(CACHE_DIR).map(PathBuf::from),
            mirror: mirrors.bases.first().cloned(),
            mirrors,
            offline: flag(OFFLINE),
            platform: var(TOOLCHAIN_PLATFORM),
            lock_timeout: LOCK_TIMEOUT_RANGE.seconds()?,
            retries: u32::try_from(retries).unwrap_or(u32::MAX),
            http_timeout: HTTP_TIMEOUT_RANGE.seconds()?,
            min_speed: HTTP_MIN_SPEED_RANGE.whole()?,
            deadline: var(HTTP_DEADLINE)
                .map(|_| HTTP_DEADLINE_RANGE.seconds())
                .transpose()?,
            progress: !flag(NO_PROGRESS),
            ca_file: var(SSL_CERT_FILE).map(PathBuf::from),
            github_token: var(OP_GITHUB_TOKEN)
                .or_else(|| var(GITHUB_TOKEN))
                .map(|token| token.trim().to_string())
                .filter(|token| !token.is_empty())
                .map(|token| Secret::remembered(&token)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bases(value: &str) -> (Vec<String>, bool) {
        let mirrors = Mirrors::parse(value).unwrap();
        (mirrors.bases, mirrors.then_origin)
    }

    #[test]
    fn mirrors_are_separated_by_commas_or_whitespace_in_order() {
        let both = vec!["https://a/m".to_string(), "file:///srv/m".to_string()];
        assert_eq!(bases("https://a/m"), (both[..1].to_vec(), false));
        assert_eq!(bases("https://a/m,file:///srv/m"), (both.clone(), false));
        assert_eq!(
            bases(" https://a/m \n\tfile:///srv/m "),
            (both.clone(), false)
        );
        assert_eq!(bases("https://a/m, file:///srv/m,"), (both.clone(), false));
        assert_eq!(
            bases("https://a/m https://a/m file:///srv/m"),
            (both, false)
        );
    }

    #[test]
    fn origin_last_lets_the_lock_urls_follow() {
        assert_eq!(
            bases("https://a/m, origin"),
            (vec!["https://a/m".to_string()], true)
        );
        assert_eq!(bases("origin"), (vec![], true));
        assert_eq!(bases(" , "), (vec![], true));
        let error = Mirrors::parse("origin https://a/m").unwrap_err();
        assert_eq!(error.code, crate::error::Code::Config);
        assert!(
            error.message.contains("must come last"),
            "{}",
            error.message
        );
    }
}
