//! A Sigstore bundle (v0.1–v0.3 JSON): the signing certificate, the transparency-log entry with
//! its signed entry timestamp, and either a message signature over a digest or a DSSE envelope.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// The parts of a bundle that op checks, decoded.
#[derive(Debug)]
pub struct Bundle {
    /// The leaf certificate first, then any intermediates the bundle carries.
    pub certificates: Vec<Vec<u8>>,
    pub log_index: u64,
    pub log_id: Vec<u8>,
    pub integrated_time: u64,
    /// The signed entry timestamp (`inclusionPromise`), when the log gave one.
    pub signed_entry_timestamp: Option<Vec<u8>>,
    /// The log entry's body as the log stored it (base64 text, as signed in the timestamp).
    pub body_base64: String,
    pub body: Vec<u8>,
    pub digest_algorithm: String,
    pub digest: Vec<u8>,
    pub signature: Vec<u8>,
}

pub fn parse(bytes: &[u8]) -> Result<Bundle, String> {
    let (raw, certificates, entry) = material(bytes)?;
    let signature = raw
        .message_signature
        .ok_or("the bundle holds no message signature (a DSSE envelope is not a blob signature)")?;
    let digest = signature
        .message_digest
        .ok_or("the message signature names no digest")?;
    Ok(Bundle {
        certificates,
        log_index: entry.log_index,
        log_id: entry.log_id,
        integrated_time: entry.integrated_time,
        signed_entry_timestamp: entry.signed_entry_timestamp,
        body_base64: entry.body_base64,
        body: entry.body,
        digest_algorithm: digest.algorithm,
        digest: decode("messageDigest", &digest.digest)?,
        signature: decode("signature", &signature.signature)?,
    })
}

/// A transparency-log entry of a bundle, decoded.
#[derive(Debug)]
pub struct Entry {
    pub log_index: u64,
    pub log_id: Vec<u8>,
    pub integrated_time: u64,
    /// The signed entry timestamp (`inclusionPromise`), when the log gave one.
    pub signed_entry_timestamp: Option<Vec<u8>>,
    /// The entry's body as the log stored it (base64 text, as signed in the timestamp).
    pub body_base64: String,
    pub body: Vec<u8>,
}

/// A DSSE envelope (`dsseEnvelope` of a v0.2+ bundle): what was signed and its signatures.
#[derive(Debug)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<Vec<u8>>,
}

/// A bundle of a DSSE envelope signed keyless (an attestation such as SLSA provenance).
#[derive(Debug)]
pub struct EnvelopeBundle {
    /// The leaf certificate first, then any intermediates the bundle carries.
    pub certificates: Vec<Vec<u8>>,
    pub entry: Entry,
    pub envelope: Envelope,
}

pub fn parse_envelope(bytes: &[u8]) -> Result<EnvelopeBundle, String> {
    let (raw, certificates, entry) = material(bytes)?;
    let envelope = raw
        .dsse_envelope
        .ok_or("the bundle holds no DSSE envelope (a message signature is not an attestation)")?;
    Ok(EnvelopeBundle {
        certificates,
        entry,
        envelope: Envelope {
            payload: decode("payload", &envelope.payload)?,
            payload_type: envelope.payload_type,
            signatures: envelope
                .signatures
                .iter()
                .map(|signature| decode("sig", &signature.sig))
                .collect::<Result<_, _>>()?,
        },
    })
}

/// The bundle's JSON, its certificates (leaf first) and its first log entry.
fn material(bytes: &[u8]) -> Result<(RawBundle, Vec<Vec<u8>>, Entry), String> {
    let mut raw: RawBundle =
        serde_json::from_slice(bytes).map_err(|error| format!("not a Sigstore bundle: {error}"))?;
    if !raw
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
    {
        return Err(format!(
            "media type {:?} is not a Sigstore bundle",
            raw.media_type
        ));
    }
    let material = &mut raw.verification_material;
    let certificates = match (&material.certificate, &material.x509_certificate_chain) {
        (Some(leaf), _) => vec![decode("certificate", &leaf.raw_bytes)?],
        (None, Some(chain)) => chain
            .certificates
            .iter()
            .map(|cert| decode("x509CertificateChain", &cert.raw_bytes))
            .collect::<Result<_, _>>()?,
        (None, None) => {
            return Err(
                "the bundle holds no signing certificate (a key-signed bundle is not keyless)"
                    .into(),
            );
        }
    };
    if certificates.is_empty() {
        return Err("the bundle's certificate chain is empty".into());
    }
    if material.tlog_entries.is_empty() {
        return Err("the bundle holds no transparency-log entry".into());
    }
    let entry = material.tlog_entries.swap_remove(0);
    let number = |field: &str, text: &str| {
        text.parse::<u64>()
            .map_err(|_| format!("tlog entry `{field}` {text:?} is not a number"))
    };
    let entry = Entry {
        log_index: number("logIndex", &entry.log_index)?,
        log_id: decode("logId", &entry.log_id.key_id)?,
        integrated_time: number("integratedTime", &entry.integrated_time)?,
        signed_entry_timestamp: entry
            .inclusion_promise
            .map(|promise| decode("signedEntryTimestamp", &promise.signed_entry_timestamp))
            .transpose()?,
        body: decode("canonicalizedBody", &entry.canonicalized_body)?,
        body_base64: entry.canonicalized_body,
    };
    Ok((raw, certificates, entry))
}

/// What a `hashedrekord` log entry says was signed.
#[derive(Debug)]
pub struct LoggedSignature {
    pub sha256: String,
    pub signature: Vec<u8>,
    /// The DER certificate the entry records.
    pub certificate: Vec<u8>,
}

pub fn logged_signature(body: &[u8]) -> Result<LoggedSignature, String> {
    let raw: RawEntry = serde_json::from_slice(body)
        .map_err(|error| format!("the log entry is not a hashedrekord entry: {error}"))?;
    if raw.kind != "hashedrekord" {
        return Err(format!(
            "the log entry is a {:?} entry, not hashedrekord",
            raw.kind
        ));
    }
    let hash = raw.spec.data.hash;
    if hash.algorithm != "sha256" {
        return Err(format!("the log entry hashes with {:?}", hash.algorithm));
    }
    let pem = decode("publicKey", &raw.spec.signature.public_key.content)?;
    let pem = String::from_utf8(pem).map_err(|_| "the log entry's public key is not PEM text")?;
    let base64: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect();
    Ok(LoggedSignature {
        sha256: hash.value.to_ascii_lowercase(),
        signature: decode("signature", &raw.spec.signature.content)?,
        certificate: decode("certificate", &base64)?,
    })
}

pub(super) fn decode(field: &str, text: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(text.trim())
        .map_err(|error| format!("`{field}` is not base64: {error}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    verification_material: RawMaterial,
    message_signature: Option<RawMessageSignature>,
    dsse_envelope: Option<RawEnvelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<RawEnvelopeSignature>,
}

#[derive(Deserialize)]
struct RawEnvelopeSignature {
    sig: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    certificate: Option<RawBytes>,
    x509_certificate_chain: Option<RawChain>,
    #[serde(default)]
    tlog_entries: Vec<RawTlogEntry>,
}

// `X509CertificateChain`, `X509Certificate` and `LogId` of the Sigstore protobuf specs, shared
// with the trusted root.
#[derive(Deserialize)]
pub(super) struct RawChain {
    pub(super) certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawBytes {
    pub(super) raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTlogEntry {
    log_index: String,
    log_id: RawLogId,
    integrated_time: String,
    inclusion_promise: Option<RawPromise>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawLogId {
    pub(super) key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessageSignature {
    message_digest: Option<RawDigest>,
    signature: String,
}

#[derive(Deserialize)]
struct RawDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
struct RawEntry {
    kind: String,
    spec: RawSpec,
}

#[derive(Deserialize)]
struct RawSpec {
    data: RawData,
    signature: RawEntrySignature,
}

#[derive(Deserialize)]
struct RawData {
    hash: RawHash,
}

#[derive(Deserialize)]
struct RawHash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntrySignature {
    content: String,
    public_key: RawContent,
}

#[derive(Deserialize)]
struct RawContent {
    content: String,
}
