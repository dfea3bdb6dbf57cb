//! Gathering the evidence one release publishes for all its platforms at once: a checksums file
//! with its detached keyless `.sig` and certificate (`cosign-signed-checksums`, goreleaser
//! `signs:`), or SLSA provenance (`slsa-provenance`, slsa-github-generator's
//! `multiple.intoto.jsonl`: a Sigstore bundle, or a bare DSSE envelope whose log entry is looked
//! up once). Each file is fetched and looked up once per version, then verified for every
//! platform's artifact.

use std::collections::BTreeMap;

use anyhow::Result;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{Gathered, Gatherer, detached_urls, pretty, render, tlog_entry};
use crate::error::{Code, OpError};
use crate::toolchain::evidence::trust::TrustedRoot;
use crate::toolchain::evidence::{self, Kind, Policy, Verified, bundle, dsse, rekor};
use crate::toolchain::fetch;

/// A checksums file lists a few dozen assets; nothing larger is read.
const MAX_CHECKSUMS: u64 = 1 << 20;
/// Provenance of a few dozen subjects with its certificate is some tens of KiB.
const MAX_PROVENANCE: u64 = 4 << 20;

/// The release whose evidence is gathered, and the URL of its evidence file.
#[derive(Clone, Copy)]
struct Release<'a> {
    label: &'a str,
    tool: &'a str,
    version: &'a str,
    policy: &'a Policy,
    url: &'a str,
}

/// One platform of a release: its key, artifact URL and pinned digest.
pub struct Artifact<'a> {
    pub platform: &'a str,
    pub url: &'a str,
    pub sha256: &'a str,
}

/// Each platform's verified evidence, or why it does not hold (exit 3).
pub type PerPlatform = Vec<(String, Result<Gathered>)>;

impl Gatherer<'_> {
    /// The evidence of every artifact of `tool` at `version` that `policy` asks for: the release's
    /// file fetched (and looked up in the log) once, verified for each. The outer error stops
    /// every platform: exit 4 when upstream or the log cannot be read, 3 when what they serve is
    /// unusable, 2 when the policy says nowhere to look.
    pub async fn gather_release(
        &mut self,
        (tool, version): (&str, &str),
        policy: &Policy,
        artifacts: &[Artifact<'_>],
    ) -> Result<PerPlatform> {
        let label = format!("{tool} {version}");
        let (field, pattern) = match policy.kind {
            Kind::CosignSignedChecksums => ("checksums_file", &policy.checksums_file),
            Kind::SlsaProvenance => ("provenance", &policy.provenance),
            other => {
                return Err(OpError::config(format!(
                    "{label}: {:?} evidence is not gathered once per release",
                    other.as_str()
                ))
                .into());
            }
        };
        let Some(pattern) = pattern else {
            let example = if field == "provenance" {
                "provenance = \"https://github.com/OWNER/REPO/releases/download/v{version}/multiple.intoto.jsonl\""
            } else {
                "checksums_file = \"https://github.com/OWNER/REPO/releases/download/v{version}/NAME_{version}_checksums.txt\", signature = \"{url}.sig\", certificate = \"{url}.pem\""
            };
            return Err(OpError::config(format!(
                "{label}: the evidence policy names no `{field}` URL pattern, so op cannot find the release's evidence"
            ))
            .with_hint(format!("add it to [tools.{tool}.evidence], for example {example}"))
            .into());
        };
        // Every platform normally renders the same URL: one fetch serves them all.
        let mut groups: BTreeMap<String, Vec<&Artifact<'_>>> = BTreeMap::new();
        for artifact in artifacts {
            let url = render(pattern, artifact.url, version, &label, field)?;
            groups.entry(url).or_default().push(artifact);
        }
        let mut out = Vec::new();
        for (url, members) in groups {
            let at = Release {
                label: &label,
                tool,
                version,
                policy,
                url: &url,
            };
            if policy.kind == Kind::CosignSignedChecksums {
                let (checksums, bundle) = self.signed_checksums(&at).await?;
                let root = self.root()?;
                for artifact in members {
                    let result = checksums_record(&at, artifact, &checksums, &bundle, &root);
                    out.push((artifact.platform.to_string(), result));
                }
            } else {
                let bundle = self.provenance(&label, &url).await?;
                let root = self.root()?;
                for artifact in members {
                    let result = provenance_record(&at, artifact, &bundle, &root);
                    out.push((artifact.platform.to_string(), result));
                }
            }
        }
        Ok(out)
    }

    /// The checksums file at `url` and the bundle of its detached signature.
    async fn signed_checksums(&mut self, at: &Release<'_>) -> Result<(Vec<u8>, Vec<u8>)> {
        let (label, url) = (at.label, at.url);
        let checksums = self.bounded(url, label, MAX_CHECKSUMS).await?;
        let sha256 = crate::hex::encode(Sha256::digest(&checksums));
        let (signature_url, certificate_url) =
            detached_urls(at.policy, url, at.version, at.tool, label)?;
        let (bundle, _) = self
            .detached_bundle(label, &signature_url, &certificate_url, &sha256)
            .await?;
        Ok((checksums, bundle))
    }

    /// The provenance at `url` as a Sigstore bundle: as served when it is one, else built from
    /// its DSSE envelope and the log entry that records the envelope's signature.
    async fn provenance(&mut self, label: &str, url: &str) -> Result<Vec<u8>> {
        let bytes = self.bounded(url, label, MAX_PROVENANCE).await?;
        let unusable = |why: String| -> anyhow::Error {
            OpError::new(
                Code::Integrity,
                format!("{label}: the provenance {}: {why}", fetch::redact(url)),
            )
            .into()
        };
        let documents: Vec<Value> = serde_json::Deserializer::from_slice(&bytes)
            .into_iter::<Value>()
            .take(3)
            .collect::<Result<_, _>>()
            .map_err(|error| unusable(format!("not JSON lines: {error}")))?;
        let [document] = documents.as_slice() else {
            return Err(unusable(format!(
                "holds {} JSON documents, op reads provenance of one",
                documents.len()
            )));
        };
        if document["mediaType"]
            .as_str()
            .is_some_and(|media| media.starts_with("application/vnd.dev.sigstore.bundle"))
        {
            return Ok(bytes);
        }
        let (Some(payload_type), Some(payload), Some(sig)) = (
            document["payloadType"].as_str(),
            document["payload"].as_str(),
            document["signatures"][0]["sig"].as_str(),
        ) else {
            return Err(unusable(
                "is neither a Sigstore bundle nor a DSSE envelope (`payloadType`, `payload`, `signatures`)".into(),
            ));
        };
        let decoded = |field: &str, text: &str| bundle::decode(field, text).map_err(&unusable);
        let payload_sha256 = crate::hex::encode(Sha256::digest(decoded("payload", payload)?));
        let signature = decoded("sig", sig)?;

        let (_, base) = self.log()?;
        let client = self.client(label, "looking the provenance up in the transparency log")?;
        let uuids = rekor::search(&client, self.settings, &base, &payload_sha256, label).await?;
        let mut found = None;
        for uuid in &uuids {
            let entry = rekor::entry(&client, self.settings, &base, uuid, label).await?;
            if let Some(certificate) = logged_envelope(&entry.body, &signature) {
                found = Some((entry, certificate));
                break;
            }
        }
        let Some((entry, certificate)) = found else {
            return Err(OpError::new(
                Code::Integrity,
                format!(
                    "{label}: the transparency log {} holds {} entr{} for the provenance's payload sha256 {payload_sha256}, but none records its signature: {} was never logged",
                    fetch::redact(&base),
                    uuids.len(),
                    if uuids.len() == 1 { "y" } else { "ies" },
                    fetch::redact(url)
                ),
            )
            .into());
        };
        let bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": { "rawBytes": STANDARD.encode(certificate) },
                "tlogEntries": [tlog_entry(&entry).map_err(&unusable)?],
            },
            "dsseEnvelope": {
                "payload": payload,
                "payloadType": payload_type,
                "signatures": [{ "sig": sig, "keyid": "" }],
            },
        });
        pretty(&bundle).map_err(unusable)
    }
}

/// The DER certificate of an `intoto` v0.0.2 or `dsse` v0.0.1 log entry (`body`, base64) when it
/// records `signature`.
fn logged_envelope(body: &str, signature: &[u8]) -> Option<Vec<u8>> {
    let body: Value = serde_json::from_slice(&STANDARD.decode(body.trim()).ok()?).ok()?;
    let (logged, sig, key, double) = match (body["kind"].as_str()?, body["apiVersion"].as_str()?) {
        ("intoto", "0.0.2") => (
            &body["spec"]["content"]["envelope"]["signatures"][0],
            "sig",
            "publicKey",
            true,
        ),
        ("dsse", "0.0.1") => (
            &body["spec"]["signatures"][0],
            "signature",
            "verifier",
            false,
        ),
        _ => return None,
    };
    let mut logged_signature = STANDARD.decode(logged[sig].as_str()?).ok()?;
    if double {
        // intoto v0.0.2 stores the envelope's base64 signature base64-encoded again.
        logged_signature = STANDARD
            .decode(String::from_utf8(logged_signature).ok()?.trim())
            .ok()?;
    }
    if logged_signature != signature {
        return None;
    }
    let pem = String::from_utf8(STANDARD.decode(logged[key].as_str()?).ok()?).ok()?;
    let der: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(der).ok()
}

/// The file name a checksums file or provenance names an artifact by.
fn file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    path.rsplit('/').next().unwrap_or_default()
}

impl Release<'_> {
    /// The error that says `artifact`'s evidence from this release does not hold: what was
    /// `found` against what was `expected`.
    fn failed(&self, artifact: &Artifact<'_>, found: &str, expected: &str) -> anyhow::Error {
        OpError::new(
            Code::Integrity,
            format!(
                "{} ({}): the supply-chain evidence does not hold: {found}\n  expected: {expected}\n  evidence: {}",
                self.label,
                artifact.platform,
                fetch::redact(self.url)
            ),
        )
        .into()
    }
}

fn checksums_record(
    at: &Release<'_>,
    artifact: &Artifact<'_>,
    checksums: &[u8],
    bundle: &[u8],
    root: &TrustedRoot,
) -> Result<Gathered> {
    let (name, policy) = (file_name(artifact.url), at.policy);
    let verified: Verified =
        evidence::verify_signed_checksums(bundle, checksums, name, artifact.sha256, policy, root)
            .map_err(|found| {
            let expected = format!(
                "signer {} issued by {}",
                policy.identity.as_deref().unwrap_or("(any)"),
                policy.issuer.as_deref().unwrap_or("(any)")
            );
            at.failed(artifact, &found, &expected)
        })?;
    let (checksums_path, proof) = evidence::checksums_paths(at.tool, at.version);
    Ok(Gathered {
        platform: artifact.platform.to_string(),
        kind: Kind::CosignSignedChecksums,
        subject: verified.subject,
        identity: policy.identity.clone(),
        log_index: verified.log_index,
        integrated_time: verified.integrated_time,
        proof,
        bundle: bundle.to_vec(),
        checksums: Some((checksums_path, checksums.to_vec())),
    })
}

fn provenance_record(
    at: &Release<'_>,
    artifact: &Artifact<'_>,
    bundle: &[u8],
    root: &TrustedRoot,
) -> Result<Gathered> {
    let (name, policy) = (file_name(artifact.url), at.policy);
    let verified = evidence::verify_provenance(bundle, name, artifact.sha256, policy, root)
        .map_err(|found| at.failed(artifact, &found, &dsse::expected(policy)))?;
    Ok(Gathered {
        platform: artifact.platform.to_string(),
        kind: Kind::SlsaProvenance,
        subject: artifact.sha256.to_string(),
        identity: Some(verified.identity),
        log_index: verified.log_index,
        integrated_time: verified.integrated_time,
        proof: evidence::provenance_path(at.tool, at.version),
        bundle: bundle.to_vec(),
        checksums: None,
    })
}
