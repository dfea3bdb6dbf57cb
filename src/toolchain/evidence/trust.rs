//! The Sigstore trusted root: the certificate authorities (Fulcio) and transparency logs
//! (Rekor) whose signatures op accepts. The public one is compiled in;
//! `OP_SIGSTORE_TRUSTED_ROOT=FILE` replaces it (air-gapped or private Sigstore instances).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::bundle::{RawChain, RawLogId};
use crate::error::OpError;

/// The public Sigstore trusted root (`trusted_root.json` of the Sigstore TUF repository).
pub const EMBEDDED: &str = include_str!("trusted_root.json");
/// SHA-256 of [`EMBEDDED`]; a unit test keeps the two in step.
pub const EMBEDDED_SHA256: &str =
    "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66";
/// The variable naming a trusted root file to use instead of the built-in one.
pub const TRUSTED_ROOT_VAR: &str = "OP_SIGSTORE_TRUSTED_ROOT";

/// A certificate authority: its chain (leaf-most first, root last) and when it issued.
#[derive(Debug)]
pub struct Authority {
    pub chain: Vec<Vec<u8>>,
    pub valid: Window,
}

/// A transparency log: its key (DER SubjectPublicKeyInfo), log id and validity.
#[derive(Debug)]
pub struct Log {
    pub key_id: Vec<u8>,
    pub spki: Vec<u8>,
    pub key_details: String,
    pub valid: Window,
    /// Where its API is (`baseUrl`), for looking entries up at `lock update`.
    pub base_url: Option<String>,
}

/// Seconds since the Unix epoch; `end` open when absent.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: u64,
    pub end: Option<u64>,
}

impl Window {
    pub fn contains(&self, time: u64) -> bool {
        self.start <= time && self.end.is_none_or(|end| time <= end)
    }
}

#[derive(Debug)]
pub struct TrustedRoot {
    /// Where it came from, for messages.
    pub origin: String,
    pub authorities: Vec<Authority>,
    pub logs: Vec<Log>,
}

impl TrustedRoot {
    /// `OP_SIGSTORE_TRUSTED_ROOT` when set, else the built-in root.
    pub fn load() -> Result<TrustedRoot, OpError> {
        match crate::settings::var(TRUSTED_ROOT_VAR) {
            Some(path) => TrustedRoot::from_file(&PathBuf::from(path)),
            None => TrustedRoot::parse(EMBEDDED, "the built-in Sigstore trusted root"),
        }
    }

    pub fn from_file(path: &Path) -> Result<TrustedRoot, OpError> {
        let text = crate::bounded::read_capped_to_string(
            path,
            "Sigstore trusted root",
            crate::bounded::LOCK_CAP,
        )
        .map_err(|error| {
            error.with_hint(format!(
                "point {TRUSTED_ROOT_VAR} at a readable trusted_root.json, or unset it to use the built-in root"
            ))
        })?;
        TrustedRoot::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<TrustedRoot, OpError> {
        let fail = |message: String| {
            OpError::config(format!("{origin}: {message}")).with_hint(
                "use a Sigstore trusted_root.json (media type application/vnd.dev.sigstore.trustedroot+json)",
            )
        };
        let raw: RawRoot = serde_json::from_str(text)
            .map_err(|error| fail(format!("not a Sigstore trusted root: {error}")))?;
        let mut authorities = Vec::new();
        for (index, authority) in raw.certificate_authorities.iter().enumerate() {
            let place = format!("certificateAuthorities[{index}]");
            let chain = authority
                .cert_chain
                .certificates
                .iter()
                .map(|cert| decode(&cert.raw_bytes))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| fail(format!("{place}: {error}")))?;
            if chain.is_empty() {
                return Err(fail(format!("{place}: the chain holds no certificate")));
            }
            let valid = window(&authority.valid_for).map_err(|e| fail(format!("{place}: {e}")))?;
            authorities.push(Authority { chain, valid });
        }
        let mut logs = Vec::new();
        for (index, log) in raw.tlogs.iter().enumerate() {
            let place = format!("tlogs[{index}]");
            let spki =
                decode(&log.public_key.raw_bytes).map_err(|e| fail(format!("{place}: {e}")))?;
            let key_id = decode(&log.log_id.key_id).map_err(|e| fail(format!("{place}: {e}")))?;
            let valid =
                window(&log.public_key.valid_for).map_err(|e| fail(format!("{place}: {e}")))?;
            logs.push(Log {
                key_id,
                spki,
                key_details: log.public_key.key_details.clone(),
                valid,
                base_url: log.base_url.clone(),
            });
        }
        Ok(TrustedRoot {
            origin: origin.to_string(),
            authorities,
            logs,
        })
    }
}

fn decode(text: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(text.trim())
        .map_err(|error| format!("invalid base64: {error}"))
}

fn window(valid: &RawWindow) -> Result<Window, String> {
    let start = match &valid.start {
        Some(start) => rfc3339(start)?,
        None => 0,
    };
    let end = valid.end.as_deref().map(rfc3339).transpose()?;
    Ok(Window { start, end })
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (the fraction is dropped).
pub fn rfc3339(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a UTC time like 2024-01-31T12:00:00Z");
    let body = text.strip_suffix('Z').ok_or_else(bad)?;
    let body = body.split('.').next().ok_or_else(bad)?;
    let (date, time) = body.split_once('T').ok_or_else(bad)?;
    let numbers = |part: &str, count: usize, separator: char| -> Result<Vec<i64>, String> {
        let fields: Vec<i64> = part
            .split(separator)
            .map(|field| field.parse::<i64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        if fields.len() == count {
            Ok(fields)
        } else {
            Err(bad())
        }
    };
    let (d, t) = (numbers(date, 3, '-')?, numbers(time, 3, ':')?);
    let (year, month, day) = (d[0], d[1], d[2]);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || t[0] > 23 || t[1] > 59 || t[2] > 60
    {
        return Err(bad());
    }
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2];
    u64::try_from(seconds).map_err(|_| bad())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    cert_chain: RawChain,
    #[serde(default)]
    valid_for: RawWindow,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    public_key: RawKey,
    log_id: RawLogId,
    #[serde(default)]
    base_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: String,
    #[serde(default)]
    key_details: String,
    #[serde(default)]
    valid_for: RawWindow,
}

#[derive(Deserialize, Default)]
struct RawWindow {
    start: Option<String>,
    end: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_root_is_the_recorded_one_and_parses() {
        use sha2::Digest as _;
        assert_eq!(
            crate::hex::encode(sha2::Sha256::digest(EMBEDDED)),
            EMBEDDED_SHA256
        );
        let root = TrustedRoot::parse(EMBEDDED, "built-in").unwrap();
        assert!(root.authorities.len() >= 2, "{root:?}");
        assert!(
            root.logs
                .iter()
                .any(|log| log.key_details == "PKIX_ECDSA_P256_SHA_256")
        );
        // Rekor v1's log id is the SHA-256 of its key.
        for log in root
            .logs
            .iter()
            .filter(|log| log.key_details == "PKIX_ECDSA_P256_SHA_256")
        {
            use sha2::Digest as _;
            assert_eq!(sha2::Sha256::digest(&log.spki).to_vec(), log.key_id);
        }
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(rfc3339("2021-03-07T03:20:29Z"), Ok(1_615_087_229));
        assert_eq!(rfc3339("2022-12-31T23:59:59.999Z"), Ok(1_672_531_199));
        assert!(rfc3339("2022-12-31 23:59:59").is_err());
        assert!(rfc3339("2022-13-01T00:00:00Z").is_err());
    }
}
