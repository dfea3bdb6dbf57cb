//! Looking a signature up in a Rekor (v1 API) transparency log: the entries that record a
//! digest (`POST /api/v1/index/retrieve`), and each entry with its signed entry timestamp
//! (`GET /api/v1/log/entries/{uuid}`). What the answers claim is checked by the caller.

use anyhow::Result;
use serde::Deserialize;

use crate::error::{Code, OpError};
use crate::settings::ToolchainSettings;
use crate::toolchain::fetch;

/// No index answer is larger than this (a digest signed a few times lists a few UUIDs).
const MAX_INDEX: u64 = 64 << 10;
/// No entry is larger than this (a body with a certificate, an inclusion proof).
const MAX_ENTRY: u64 = 256 << 10;
/// At most this many entries of one digest are read.
pub const MAX_ENTRIES: usize = 16;

/// One log entry as the log serves it.
#[derive(Debug)]
pub struct Entry {
    /// The canonicalized body, base64, as the signed entry timestamp covers it.
    pub body: String,
    pub integrated_time: u64,
    /// Hex SHA-256 of the log's key.
    pub log_id: String,
    pub log_index: u64,
    /// Base64 signed entry timestamp, when the log gave one.
    pub signed_entry_timestamp: Option<String>,
    /// The entry's inclusion proof as the log served it (carried into the bundle).
    pub inclusion_proof: Option<serde_json::Value>,
}

/// The UUIDs of the entries that record `sha256`, at most [`MAX_ENTRIES`].
pub async fn search(
    client: &reqwest::Client,
    settings: &ToolchainSettings,
    base: &str,
    sha256: &str,
    label: &str,
) -> Result<Vec<String>> {
    let url = format!("{}/api/v1/index/retrieve", base.trim_end_matches('/'));
    let body = serde_json::json!({ "hash": format!("sha256:{sha256}") }).to_string();
    let request = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body);
    let bytes = send(request, settings, &url, label, MAX_INDEX).await?;
    let uuids: Vec<String> = serde_json::from_slice(&bytes)
        .map_err(|error| bad_answer(label, &url, &format!("not a list of entry UUIDs: {error}")))?;
    if let Some(bad) = uuids.iter().find(|uuid| !is_uuid(uuid)) {
        return Err(bad_answer(
            label,
            &url,
            &format!("{bad:?} is not an entry UUID"),
        ));
    }
    Ok(uuids.into_iter().take(MAX_ENTRIES).collect())
}

/// The entry `uuid` (checked by [`search`] to be hex, so it is safe in a path).
pub async fn entry(
    client: &reqwest::Client,
    settings: &ToolchainSettings,
    base: &str,
    uuid: &str,
    label: &str,
) -> Result<Entry> {
    let url = format!("{}/api/v1/log/entries/{uuid}", base.trim_end_matches('/'));
    let request = client
        .get(&url)
        .header(reqwest::header::ACCEPT, "application/json");
    let bytes = send(request, settings, &url, label, MAX_ENTRY).await?;
    let answer: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|error| bad_answer(label, &url, &format!("not a log entry: {error}")))?;
    let Some((_, raw)) = answer.into_iter().next() else {
        return Err(bad_answer(label, &url, "the answer holds no entry"));
    };
    let raw: RawEntry = serde_json::from_value(raw)
        .map_err(|error| bad_answer(label, &url, &format!("not a log entry: {error}")))?;
    let verification = raw.verification.unwrap_or_default();
    Ok(Entry {
        body: raw.body,
        integrated_time: raw.integrated_time,
        log_id: raw.log_id,
        log_index: raw.log_index,
        signed_entry_timestamp: verification.signed_entry_timestamp,
        inclusion_proof: verification.inclusion_proof,
    })
}

/// Rekor's entry UUIDs: the 64-hex leaf hash, optionally after a 16-hex tree id.
fn is_uuid(text: &str) -> bool {
    matches!(text.len(), 64 | 80) && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

fn bad_answer(label: &str, url: &str, what: &str) -> anyhow::Error {
    OpError::new(
        Code::Integrity,
        format!(
            "{label}: the transparency log {}: {what}",
            fetch::redact(url)
        ),
    )
    .into()
}

/// Sends `request` under the download deadline and reads at most `max` bytes of a 2xx answer.
async fn send(
    request: reqwest::RequestBuilder,
    settings: &ToolchainSettings,
    url: &str,
    label: &str,
    max: u64,
) -> Result<Vec<u8>> {
    let shown = fetch::redact(url);
    let failed = |why: String| -> anyhow::Error {
        OpError::new(
            Code::Download,
            format!("{label}: cannot read the transparency log {shown}: {why}"),
        )
        .with_hint("check the network and proxy (HTTPS_PROXY); a private Sigstore instance's log is the `baseUrl` of the trusted root in OP_SIGSTORE_TRUSTED_ROOT")
        .into()
    };
    let deadline = fetch::deadline(settings, Some(max));
    let exchange = async {
        let mut response = request
            .send()
            .await
            .map_err(|error| failed(error.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("HTTP {status}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| failed(error.to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > max {
                return Err(failed(format!("the answer is larger than {max} bytes")));
            }
        }
        Ok(body)
    };
    match tokio::time::timeout(deadline, exchange).await {
        Ok(result) => result,
        Err(_) => Err(failed(format!("no answer within {} s", deadline.as_secs()))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    body: String,
    integrated_time: u64,
    #[serde(rename = "logID")]
    log_id: String,
    log_index: u64,
    verification: Option<RawVerification>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawVerification {
    signed_entry_timestamp: Option<String>,
    inclusion_proof: Option<serde_json::Value>,
}
