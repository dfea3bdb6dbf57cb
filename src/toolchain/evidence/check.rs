//! The offline check of a stored proof at install: the bundle is the one the lock records, its
//! log entry is signed by a trusted transparency log, its certificate chains to a trusted
//! authority and names the policy's signer, and its signature is over the pinned digest.

use anyhow::Result;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};
use sha2::{Digest as _, Sha256};
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

use super::bundle::{self, Bundle};
use super::trust::TrustedRoot;
use super::{Kind, Policy, Record, checksums_sig, dsse};
use crate::error::{Code, OpError};
use crate::toolchain::lock::Artifact;

/// The extended key usage Fulcio gives signing certificates (id-kp-codeSigning).
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Fulcio's OIDC issuer extensions: v1 (the raw string) and v2 (a DER UTF8String).
const ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";

/// Why the stored proof of an artifact does not hold: what was found, the signer the policy
/// expects, and where the proof is.
#[derive(Debug)]
pub struct Problem {
    pub found: String,
    pub expected: String,
    pub proof: String,
}

impl Problem {
    /// One line, for a report that lists several artifacts (`op toolchain verify`).
    pub fn line(&self) -> String {
        format!(
            "the supply-chain evidence does not hold: {}; expected: {}; proof: {}",
            self.found, self.expected, self.proof
        )
    }
}

/// What a proof was verified to say: the signer, the log entry, and the digest signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The certificate's SAN.
    pub identity: String,
    pub log_index: u64,
    pub integrated_time: u64,
    /// Hex SHA-256 of what was signed (the artifact, the checksums file, or the artifact as an
    /// in-toto subject).
    pub subject: String,
}

/// The hint of every evidence failure.
pub const HINT: &str = "restore the proof from the repository, or re-gather it with `op toolchain lock update`; never install a tool whose evidence fails (README.md, \"Supply-chain evidence\")";

/// Verifies the stored proof of `artifact` when the lock records one; nothing to do otherwise.
/// A failure is exit 3 naming the tool, platform, the identity required and what was found.
pub fn verify_artifact(
    tool: &str,
    version: &str,
    platform: &str,
    artifact: &Artifact,
) -> Result<()> {
    match check_artifact(artifact)? {
        Ok(()) => Ok(()),
        Err(problem) => Err(OpError::new(
            Code::Integrity,
            format!(
                "{tool} {version} ({platform}): the supply-chain evidence does not hold: {}\n  expected: {}\n  proof: {}\nnothing was installed",
                problem.found, problem.expected, problem.proof
            ),
        )
        .with_hint(HINT)
        .into()),
    }
}

/// The offline check of the stored proof of `artifact` (`Ok(Ok(()))` when the lock records none).
/// The outer error is a trusted root that cannot be loaded; the inner one is the evidence failing.
pub fn check_artifact(artifact: &Artifact) -> Result<Result<(), Problem>> {
    let Some(record) = &artifact.evidence else {
        return Ok(Ok(()));
    };
    let (Some(proof), Some(policy)) = (&record.proof, &record.policy) else {
        return Ok(Ok(()));
    };
    let fail = |found: String| Problem {
        found,
        expected: expected(policy),
        proof: proof.location(),
    };
    let bytes = match proof.read() {
        Ok(bytes) => bytes,
        Err(reason) => return Ok(Err(fail(format!("the proof cannot be read: {reason}")))),
    };
    let found = crate::hex::encode(Sha256::digest(&bytes));
    if found != proof.sha256 {
        return Ok(Err(fail(format!(
            "the proof file has sha256 {found}, the lock records {} (it was changed or replaced)",
            proof.sha256
        ))));
    }
    let root = TrustedRoot::load()?;
    let verified = match record.kind {
        Kind::CosignKeylessBlob => bundle::parse(&bytes)
            .and_then(|bundle| check_bundle(&bundle, &artifact.sha256, policy, &root)),
        Kind::CosignSignedChecksums => checksums_sig::check_stored(&bytes, artifact, record, &root),
        Kind::SlsaProvenance => dsse::check_stored(&bytes, artifact, record, &root),
        Kind::DigestAgreement => {
            Err("a \"digest-agreement\" policy has no proof to store; remove `proof`".to_string())
        }
    };
    Ok(verified
        .and_then(|verified| check_recorded(record, &verified))
        .map_err(fail))
}

/// The proof is the log entry the lock records.
fn check_recorded(record: &Record, verified: &Verified) -> Result<(), String> {
    if record
        .log_index
        .is_some_and(|index| index != verified.log_index)
        || record
            .integrated_time
            .is_some_and(|time| time != verified.integrated_time)
    {
        return Err(format!(
            "the proof is log entry {} at {}, the lock records entry {} at {}",
            verified.log_index,
            verified.integrated_time,
            record
                .log_index
                .map_or("-".into(), |index| index.to_string()),
            record
                .integrated_time
                .map_or("-".into(), |time| time.to_string()),
        ));
    }
    Ok(())
}

fn expected(policy: &Policy) -> String {
    if policy.kind == Kind::SlsaProvenance {
        return dsse::expected(policy);
    }
    format!(
        "signer {} issued by {}",
        policy.identity.as_deref().unwrap_or("(any)"),
        policy.issuer.as_deref().unwrap_or("(any)")
    )
}

/// Every check of a message-signature bundle against the signed `sha256` and the policy's
/// signer.
pub(super) fn check_bundle(
    bundle: &Bundle,
    sha256: &str,
    policy: &Policy,
    root: &TrustedRoot,
) -> Result<Verified, String> {
    let signed = crate::hex::encode(&bundle.digest);
    if bundle.digest_algorithm != "SHA2_256" || signed != sha256 {
        return Err(format!(
            "the signature is over {} {signed}, the lock pins sha256 {sha256}",
            bundle.digest_algorithm
        ));
    }
    check_log_entry(bundle, sha256, root)?;
    let leaf = &bundle.certificates[0];
    check_chain(
        leaf,
        &bundle.certificates[1..],
        bundle.integrated_time,
        root,
    )?;
    let (_, cert) = X509Certificate::from_der(leaf)
        .map_err(|error| format!("the signing certificate cannot be read: {error}"))?;
    let identities = identities(&cert);
    let identity = identities.first().cloned().unwrap_or_default();
    let issuer = issuer(&cert);
    let identity_ok = policy
        .identity
        .as_ref()
        .is_none_or(|wanted| identities.contains(wanted));
    let issuer_ok = policy
        .issuer
        .as_ref()
        .is_none_or(|wanted| issuer.as_ref() == Some(wanted));
    if !identity_ok || !issuer_ok {
        return Err(format!(
            "found signer {} issued by {}",
            if identities.is_empty() {
                "(none)".to_string()
            } else {
                identities.join(", ")
            },
            issuer.as_deref().unwrap_or("(no issuer extension)")
        ));
    }
    let point = cert.public_key().subject_public_key.data.as_ref();
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map_err(|_| "the signing certificate's key is not ECDSA P-256".to_string())?;
    let signature = p256::ecdsa::Signature::from_der(&bundle.signature)
        .map_err(|_| "the signature is not a DER ECDSA signature".to_string())?;
    key.verify_prehash(&bundle.digest, &signature).map_err(|_| {
        format!(
            "the signature does not verify over sha256 {sha256} with the signing certificate's key"
        )
    })?;
    Ok(Verified {
        identity,
        log_index: bundle.log_index,
        integrated_time: bundle.integrated_time,
        subject: sha256.to_string(),
    })
}

/// The log entry is signed by a trusted log (its signed entry timestamp) and records this very
/// signature, certificate and digest.
fn check_log_entry(bundle: &Bundle, sha256: &str, root: &TrustedRoot) -> Result<(), String> {
    check_timestamp(
        &bundle::Entry {
            log_index: bundle.log_index,
            log_id: bundle.log_id.clone(),
            integrated_time: bundle.integrated_time,
            signed_entry_timestamp: bundle.signed_entry_timestamp.clone(),
            body_base64: bundle.body_base64.clone(),
            body: Vec::new(),
        },
        root,
    )?;
    check_hashedrekord(bundle, sha256)
}

/// The log entry is signed by a log of the trusted root valid at its integrated time (its
/// signed entry timestamp).
pub(super) fn check_timestamp(entry: &bundle::Entry, root: &TrustedRoot) -> Result<(), String> {
    let log_id = crate::hex::encode(&entry.log_id);
    let log = root
        .logs
        .iter()
        .find(|log| log.key_id == entry.log_id)
        .ok_or_else(|| {
            format!(
                "the log entry is from log {log_id}, which {} does not trust",
                root.origin
            )
        })?;
    if !log.valid.contains(entry.integrated_time) {
        return Err(format!(
            "log {log_id} was not valid at the entry's integrated time {}",
            entry.integrated_time
        ));
    }
    let timestamp = entry.signed_entry_timestamp.as_ref().ok_or(
        "the log entry carries no signed entry timestamp (inclusion promise), which op needs to check it offline",
    )?;
    let payload = format!(
        "{{\"body\":{},\"integratedTime\":{},\"logID\":\"{log_id}\",\"logIndex\":{}}}",
        serde_json::Value::String(entry.body_base64.clone()),
        entry.integrated_time,
        entry.log_index
    );
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&log.spki)
        .map_err(|error| format!("log {log_id}'s key cannot be read: {error}"))?;
    let algorithm: &dyn ring::signature::VerificationAlgorithm = match log.key_details.as_str() {
        "PKIX_ECDSA_P256_SHA_256" => &ring::signature::ECDSA_P256_SHA256_ASN1,
        "PKIX_ED25519" => &ring::signature::ED25519,
        other => {
            return Err(format!(
                "log {log_id}'s key type {other:?} is not supported"
            ));
        }
    };
    ring::signature::UnparsedPublicKey::new(algorithm, spki.subject_public_key.data.as_ref())
        .verify(payload.as_bytes(), timestamp)
        .map_err(|_| {
            format!(
                "the signed entry timestamp of entry {} does not verify with log {log_id}'s key",
                entry.log_index
            )
        })
}

fn check_hashedrekord(bundle: &Bundle, sha256: &str) -> Result<(), String> {
    let logged = bundle::logged_signature(&bundle.body)?;
    if logged.sha256 != sha256 {
        return Err(format!(
            "the log entry records sha256 {}, the lock pins {sha256}",
            logged.sha256
        ));
    }
    if logged.signature != bundle.signature || logged.certificate != bundle.certificates[0] {
        return Err(
            "the log entry records another signature or certificate than the bundle".into(),
        );
    }
    Ok(())
}

/// The leaf chains to an authority of the trusted root that was valid at `time`, and was itself
/// valid then, for code signing.
pub(super) fn check_chain(
    leaf: &[u8],
    extra: &[Vec<u8>],
    time: u64,
    root: &TrustedRoot,
) -> Result<(), String> {
    let mut anchors: Vec<TrustAnchor<'_>> = Vec::new();
    let mut intermediates: Vec<CertificateDer<'_>> = extra
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    for authority in root
        .authorities
        .iter()
        .filter(|authority| authority.valid.contains(time))
    {
        let Some((top, below)) = authority.chain.split_last() else {
            continue;
        };
        let top = CertificateDer::from(top.as_slice());
        let anchor = webpki::anchor_from_trusted_cert(&top)
            .map_err(|error| format!("{} holds an unreadable authority: {error}", root.origin))?
            .to_owned();
        anchors.push(anchor);
        intermediates.extend(below.iter().map(|der| CertificateDer::from(der.as_slice())));
    }
    if anchors.is_empty() {
        return Err(format!(
            "{} has no certificate authority valid at the entry's integrated time {time}",
            root.origin
        ));
    }
    let leaf_der = CertificateDer::from(leaf);
    let leaf_cert = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|error| format!("the signing certificate cannot be read: {error}"))?;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(time));
    leaf_cert
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            at,
            webpki::KeyUsage::required(CODE_SIGNING),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|error| match error {
            webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => format!(
                "the signing certificate was not valid at the entry's integrated time {time} ({error})"
            ),
            webpki::Error::UnknownIssuer => format!(
                "the signing certificate does not chain to a certificate authority of {}",
                root.origin
            ),
            other => format!("the signing certificate's chain does not verify: {other}"),
        })
}

/// The certificate's subject alternative names (e-mail addresses and URIs).
pub(super) fn identities(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(names)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    names
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::RFC822Name(text) | GeneralName::URI(text) => Some(text.to_string()),
            _ => None,
        })
        .collect()
}

/// Fulcio's OIDC issuer: the v2 extension (a DER UTF8String) when present, else v1.
pub(super) fn issuer(cert: &X509Certificate<'_>) -> Option<String> {
    let find = |oid: &str| {
        cert.extensions()
            .iter()
            .find(|extension| extension.oid.to_id_string() == oid)
            .map(|extension| extension.value)
    };
    if let Some(value) = find(ISSUER_V2) {
        // UTF8String: tag 0x0c, a short or long length, the text.
        let (&tag, rest) = value.split_first()?;
        let (&length, rest) = rest.split_first()?;
        let text = match length {
            0..=0x7f => rest.get(..usize::from(length))?,
            0x81 => rest.get(1..1 + usize::from(*rest.first()?))?,
            _ => return None,
        };
        return (tag == 0x0c).then(|| String::from_utf8(text.to_vec()).ok())?;
    }
    find(ISSUER_V1).and_then(|value| String::from_utf8(value.to_vec()).ok())
}

/// Checks bundle `bytes` (as `lock update` builds them) against the pinned `sha256`, `policy`
/// and `root`: the log entry and where it is (`(log_index, integrated_time)`), or what failed.
pub fn verify_bundle(
    bytes: &[u8],
    sha256: &str,
    policy: &Policy,
    root: &TrustedRoot,
) -> Result<(u64, u64), String> {
    let bundle = bundle::parse(bytes)?;
    let verified = check_bundle(&bundle, sha256, policy, root)?;
    Ok((verified.log_index, verified.integrated_time))
}
