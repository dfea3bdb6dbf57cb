//! Gathering the evidence of a pin from upstream (`lock update`, `lock check --upstream`): a
//! keyless blob's detached `.sig` and `.cert`, the transparency-log entry that records them
//! (looked up once, since detached files carry no proof), all of it verified like an install
//! verifies a stored proof and kept as a Sigstore bundle.

use std::sync::Arc;

use anyhow::Result;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::trust::TrustedRoot;
use super::{Kind, Policy, bundle, check, rekor};
use crate::error::{Code, OpError};
use crate::settings::ToolchainSettings;
use crate::toolchain::{fetch, template};

pub mod release;

/// A detached signature is ~100 bytes, its certificate a few KiB; nothing larger is read.
const MAX_DETACHED: u64 = 64 << 10;

/// What was verified for one artifact, and the bundle that proves it.
#[derive(Clone, Debug)]
pub struct Gathered {
    pub platform: String,
    pub kind: Kind,
    /// What was signed: the artifact's digest, or the checksums file's.
    pub subject: String,
    pub identity: Option<String>,
    pub log_index: u64,
    pub integrated_time: u64,
    /// Where the bundle goes, relative to the lock ([`super::proof_path`]).
    pub proof: String,
    pub bundle: Vec<u8>,
    /// `cosign-signed-checksums`: where the signed checksums file goes, and its bytes.
    pub checksums: Option<(String, Vec<u8>)>,
}

impl Gathered {
    pub fn proof_sha256(&self) -> String {
        crate::hex::encode(Sha256::digest(&self.bundle))
    }

    /// The files to store beside the lock, by path relative to it (several platforms of one
    /// version share them).
    pub fn files(&self) -> Vec<(&str, &[u8])> {
        let mut files = vec![(self.proof.as_str(), self.bundle.as_slice())];
        if let Some((path, bytes)) = &self.checksums {
            files.push((path.as_str(), bytes.as_slice()));
        }
        files
    }
}

/// Fetches and verifies evidence; the HTTP client and the trusted root are set up on first use.
pub struct Gatherer<'a> {
    settings: &'a ToolchainSettings,
    client: Option<reqwest::Client>,
    root: Option<Arc<TrustedRoot>>,
}

impl<'a> Gatherer<'a> {
    pub fn new(settings: &'a ToolchainSettings) -> Gatherer<'a> {
        Gatherer {
            settings,
            client: None,
            root: None,
        }
    }

    fn client(&mut self, label: &str, what: &str) -> Result<reqwest::Client> {
        if self.settings.offline {
            return Err(OpError::new(
                Code::Offline,
                format!("{label}: {what} needs the network, and OP_OFFLINE is set"),
            )
            .with_hint("unset OP_OFFLINE to gather supply-chain evidence")
            .into());
        }
        if self.client.is_none() {
            self.client = Some(fetch::client(self.settings)?);
        }
        Ok(self.client.clone().expect("set above"))
    }

    fn root(&mut self) -> Result<Arc<TrustedRoot>> {
        if self.root.is_none() {
            self.root = Some(Arc::new(TrustedRoot::load()?));
        }
        Ok(self.root.clone().expect("set above"))
    }

    /// A small upstream file, through `OP_TOOLCHAIN_MIRROR` as checksum files are read.
    async fn small(&mut self, url: &str, label: &str) -> Result<Vec<u8>> {
        self.bounded(url, label, MAX_DETACHED).await
    }

    /// An upstream file of at most `max` bytes, through `OP_TOOLCHAIN_MIRROR`.
    async fn bounded(&mut self, url: &str, label: &str, max: u64) -> Result<Vec<u8>> {
        let source = fetch::resolve(url, self.settings.mirror.as_deref())?;
        let client = match source {
            fetch::Source::Http(_) => {
                Some(self.client(label, &format!("reading {}", source.describe()))?)
            }
            fetch::Source::File(_) => None,
        };
        fetch::fetch_small(client.as_ref(), self.settings, &source, label, max).await
    }

    /// The evidence that the artifact at `url` with digest `sha256` (platform `platform` of
    /// `tool` at `version`) satisfies `policy`, verified; exit 3 when it is missing or does not
    /// hold, exit 4 when upstream or the log cannot be read.
    pub async fn gather(
        &mut self,
        (tool, version, platform): (&str, &str, &str),
        policy: &Policy,
        url: &str,
        sha256: &str,
    ) -> Result<Gathered> {
        let label = format!("{tool} {version} ({platform})");
        if policy.kind != Kind::CosignKeylessBlob {
            return Err(OpError::new(
                Code::Integrity,
                format!(
                    "{label}: {:?} evidence is gathered once per version, not per artifact",
                    policy.kind.as_str()
                ),
            )
            .into());
        }
        let (signature_url, certificate_url) = detached_urls(policy, url, version, tool, &label)?;
        let (bundle, root) = self
            .detached_bundle(&label, &signature_url, &certificate_url, sha256)
            .await?;
        let (log_index, integrated_time) = check::verify_bundle(&bundle, sha256, policy, &root)
            .map_err(|found| {
                OpError::new(
                    Code::Integrity,
                    format!(
                        "{label}: the supply-chain evidence does not hold: {found}\n  expected: signer {} issued by {}\n  signature: {}",
                        policy.identity.as_deref().unwrap_or("(any)"),
                        policy.issuer.as_deref().unwrap_or("(any)"),
                        fetch::redact(&signature_url)
                    ),
                )
            })?;
        Ok(Gathered {
            platform: platform.to_string(),
            kind: Kind::CosignKeylessBlob,
            subject: sha256.to_string(),
            identity: policy.identity.clone(),
            log_index,
            integrated_time,
            proof: super::proof_path(tool, version, platform),
            bundle,
            checksums: None,
        })
    }

    /// The trusted root and the base URL of its transparency log that is still in use.
    fn log(&mut self) -> Result<(Arc<TrustedRoot>, String)> {
        let root = self.root()?;
        let base = root
            .logs
            .iter()
            .filter(|log| log.valid.end.is_none())
            .find_map(|log| log.base_url.clone())
            .ok_or_else(|| {
                OpError::config(format!(
                    "{}: no transparency log that is still in use names a `baseUrl`, so op cannot look signatures up",
                    root.origin
                ))
            })?;
        Ok((root, base))
    }

    /// The bundle of a detached keyless signature over the blob with digest `sha256`: the `.sig`
    /// and certificate at these URLs and the log entry that records both (looked up once).
    /// Not verified yet; the trusted root to verify it with comes with it.
    async fn detached_bundle(
        &mut self,
        label: &str,
        signature_url: &str,
        certificate_url: &str,
        sha256: &str,
    ) -> Result<(Vec<u8>, Arc<TrustedRoot>)> {
        let unreadable = |url: &str, why: String| -> anyhow::Error {
            OpError::new(
                Code::Integrity,
                format!("{label}: {}: {why}", fetch::redact(url)),
            )
            .into()
        };
        let signature_bytes = self.small(signature_url, label).await?;
        let signature =
            decode_signature(&signature_bytes).map_err(|why| unreadable(signature_url, why))?;
        let certificate_bytes = self.small(certificate_url, label).await?;
        let certificate = decode_certificate(&certificate_bytes)
            .map_err(|why| unreadable(certificate_url, why))?;

        let (root, base) = self.log()?;
        let client = self.client(label, "looking the signature up in the transparency log")?;
        let uuids = rekor::search(&client, self.settings, &base, sha256, label).await?;
        if uuids.is_empty() {
            return Err(OpError::new(
                Code::Integrity,
                format!(
                    "{label}: the transparency log {} holds no entry for sha256 {sha256}: the signature {} was never logged",
                    fetch::redact(&base),
                    fetch::redact(signature_url)
                ),
            )
            .into());
        }
        let mut found = None;
        for uuid in &uuids {
            let entry = rekor::entry(&client, self.settings, &base, uuid, label).await?;
            let body = STANDARD.decode(entry.body.trim()).unwrap_or_default();
            if bundle::logged_signature(&body).is_ok_and(|logged| {
                logged.signature == signature && logged.certificate == certificate
            }) {
                found = Some(entry);
                break;
            }
        }
        let Some(entry) = found else {
            return Err(OpError::new(
                Code::Integrity,
                format!(
                    "{label}: the transparency log {} holds {} entr{} for sha256 {sha256}, but none records the signature {} with the certificate {}",
                    fetch::redact(&base),
                    uuids.len(),
                    if uuids.len() == 1 { "y" } else { "ies" },
                    fetch::redact(signature_url),
                    fetch::redact(certificate_url)
                ),
            )
            .into());
        };
        let bundle = bundle_json(&certificate, &signature, sha256, &entry)
            .map_err(|why| unreadable(&base, why))?;
        Ok((bundle, root))
    }
}

/// The policy's `signature` and `certificate` patterns rendered with `url` (the signed file's).
fn detached_urls(
    policy: &Policy,
    url: &str,
    version: &str,
    tool: &str,
    label: &str,
) -> Result<(String, String)> {
    let (Some(signature), Some(certificate)) = (&policy.signature, &policy.certificate) else {
        return Err(OpError::config(format!(
            "{label}: the evidence policy names no `signature` and `certificate` URL patterns, so op cannot find the detached signature"
        ))
        .with_hint(format!(
            "add them to [tools.{tool}.evidence], for example signature = \"{{url}}.sig\" and certificate = \"{{url}}.cert\""
        ))
        .into());
    };
    Ok((
        render(signature, url, version, label, "signature")?,
        render(certificate, url, version, label, "certificate")?,
    ))
}

/// An evidence URL `pattern` (field `field`) rendered like a `checksums` pattern.
fn render(pattern: &str, url: &str, version: &str, label: &str, field: &str) -> Result<String> {
    template::checksums_url(pattern, url, version)
        .map_err(|error| OpError::config(format!("{label}: evidence `{field}`: {error}")).into())
}

/// A detached signature: base64 of a DER ECDSA signature (cosign's format), or the DER itself.
fn decode_signature(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let text = String::from_utf8_lossy(bytes);
    match STANDARD.decode(text.trim()) {
        Ok(der) if der.first() == Some(&0x30) => Ok(der),
        _ if bytes.first() == Some(&0x30) => Ok(bytes.to_vec()),
        _ => Err("not a signature (base64 of a DER signature)".into()),
    }
}

/// A detached certificate: PEM, base64 of PEM (cosign's `--output-certificate`), or DER.
fn decode_certificate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let pem = |text: &str| -> Option<Vec<u8>> {
        let body: String = text
            .lines()
            .map(str::trim)
            .skip_while(|line| !line.starts_with("-----BEGIN CERTIFICATE"))
            .skip(1)
            .take_while(|line| !line.starts_with("-----END"))
            .collect();
        STANDARD.decode(body).ok()
    };
    let text = String::from_utf8_lossy(bytes);
    let der = if text.trim_start().starts_with("-----BEGIN") {
        pem(&text)
    } else if let Ok(decoded) = STANDARD.decode(text.trim()) {
        match String::from_utf8(decoded.clone()) {
            Ok(inner) if inner.trim_start().starts_with("-----BEGIN") => pem(&inner),
            _ => Some(decoded),
        }
    } else {
        Some(bytes.to_vec())
    };
    der.filter(|der| der.first() == Some(&0x30))
        .ok_or_else(|| "not a certificate (PEM, base64 of PEM, or DER)".into())
}

/// The v0.3 bundle of a blob signature and its log entry, as pretty JSON (diff-friendly).
fn bundle_json(
    certificate: &[u8],
    signature: &[u8],
    sha256: &str,
    entry: &rekor::Entry,
) -> Result<Vec<u8>, String> {
    let digest = crate::hex::decode(sha256).ok_or_else(|| format!("{sha256:?} is not hex"))?;
    pretty(&json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": { "rawBytes": STANDARD.encode(certificate) },
            "tlogEntries": [tlog_entry(entry)?],
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": STANDARD.encode(digest) },
            "signature": STANDARD.encode(signature),
        },
    }))
}

/// A bundle as pretty JSON with a final newline (diff-friendly).
fn pretty(bundle: &serde_json::Value) -> Result<Vec<u8>, String> {
    let mut text = serde_json::to_string_pretty(bundle).map_err(|error| error.to_string())?;
    text.push('\n');
    Ok(text.into_bytes())
}

/// A log entry as a bundle's `tlogEntries` item.
fn tlog_entry(entry: &rekor::Entry) -> Result<serde_json::Value, String> {
    let log_id = crate::hex::decode(&entry.log_id)
        .ok_or_else(|| format!("log id {:?} is not hex", entry.log_id))?;
    let body: serde_json::Value = STANDARD
        .decode(entry.body.trim())
        .ok()
        .and_then(|body| serde_json::from_slice(&body).ok())
        .ok_or("the entry's body is not base64 JSON")?;
    let mut tlog_entry = json!({
        "logIndex": entry.log_index.to_string(),
        "logId": { "keyId": STANDARD.encode(&log_id) },
        "kindVersion": {
            "kind": body["kind"].as_str().unwrap_or("hashedrekord"),
            "version": body["apiVersion"].as_str().unwrap_or("0.0.1"),
        },
        "integratedTime": entry.integrated_time.to_string(),
        "canonicalizedBody": entry.body,
    });
    if let Some(timestamp) = &entry.signed_entry_timestamp {
        tlog_entry["inclusionPromise"] = json!({ "signedEntryTimestamp": timestamp });
    }
    if let Some(proof) = entry.inclusion_proof.as_ref().and_then(inclusion_proof) {
        tlog_entry["inclusionProof"] = proof;
    }
    Ok(tlog_entry)
}

/// Rekor's inclusion proof (hex hashes, numbers) in the bundle's form (base64, strings); `None`
/// when a part is missing. Carried for other verifiers: op checks the signed entry timestamp.
fn inclusion_proof(proof: &serde_json::Value) -> Option<serde_json::Value> {
    let base64 = |value: &serde_json::Value| -> Option<String> {
        crate::hex::decode(value.as_str()?).map(|bytes| STANDARD.encode(bytes))
    };
    let hashes: Option<Vec<String>> = proof["hashes"].as_array()?.iter().map(base64).collect();
    Some(json!({
        "logIndex": proof["logIndex"].as_u64()?.to_string(),
        "rootHash": base64(&proof["rootHash"])?,
        "treeSize": proof["treeSize"].as_u64()?.to_string(),
        "hashes": hashes?,
        "checkpoint": { "envelope": proof["checkpoint"].as_str()? },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detached_files_in_each_form_decode() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x01];
        let b64 = STANDARD.encode(&der);
        assert_eq!(
            decode_signature(format!("{b64}\n").as_bytes()),
            Ok(der.clone())
        );
        assert_eq!(decode_signature(&der), Ok(der.clone()));
        assert!(decode_signature(b"not a signature").is_err());
        let pem = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
        assert_eq!(decode_certificate(pem.as_bytes()), Ok(der.clone()));
        let wrapped = STANDARD.encode(&pem);
        assert_eq!(decode_certificate(wrapped.as_bytes()), Ok(der.clone()));
        assert_eq!(decode_certificate(b64.as_bytes()), Ok(der.clone()));
        assert!(decode_certificate(b"<html>not found</html>").is_err());
    }

    #[test]
    fn the_policy_names_both_detached_files_and_only_for_blob_signatures() {
        let policy = |extra: &str| {
            let text = format!(
                "kind = \"cosign-keyless-blob\"\nidentity = \"a@b.c\"\nissuer = \"https://i\"\n{extra}"
            );
            super::super::parse_policy(&toml::from_str(&text).unwrap(), "1.2.3", 1)
        };
        let both = policy(
            "signature = \"{url}.sig\"\ncertificate = \"{url}.cert\"\naccepted_missing = \"1.2.3\"",
        )
        .unwrap();
        assert_eq!(both.signature.as_deref(), Some("{url}.sig"));
        assert_eq!(both.accepted_missing.as_deref(), Some("1.2.3"));
        assert!(both.gatherable());
        let error = policy("signature = \"{url}.sig\"").unwrap_err();
        assert!(error.contains("name both"), "{error}");
        let text = "kind = \"slsa-provenance\"\nsource = \"github.com/a/b\"\nsignature = \"x\"\ncertificate = \"y\"";
        let error = super::super::parse_policy(&toml::from_str(text).unwrap(), "1", 1).unwrap_err();
        assert!(error.contains("does not use them"), "{error}");
    }
}
