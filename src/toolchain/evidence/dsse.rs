//! `slsa-provenance`: a keyless-signed DSSE envelope of an in-toto statement whose subjects are
//! the artifacts (slsa-github-generator's `multiple.intoto.jsonl`), stored as a Sigstore bundle
//! with its certificate and log entry. The certificate must be a trusted builder's, for the
//! policy's source repository and tag; the envelope's signature (over its PAE) must verify
//! with it; the log entry must be signed by a trusted log and record this envelope; and one
//! subject must be the artifact.

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::bundle::{self, Envelope};
use super::check::{Verified, check_chain, check_timestamp, identities, issuer};
use super::checksums_sig::artifact_name;
use super::fulcio::{self, repository};
use super::trust::TrustedRoot;
use super::{Policy, Record};
use crate::toolchain::lock::Artifact;

/// The builder trusted when the policy names no `identity`: slsa-github-generator's generic
/// SLSA3 workflow, at a release tag (`@refs/tags/v…`).
pub const SLSA_GENERIC_BUILDER: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml";
/// The OIDC issuer required when the policy names none.
const GITHUB_ACTIONS: &str = "https://token.actions.githubusercontent.com";
const IN_TOTO: &str = "application/vnd.in-toto+json";

/// The builder, issuer, source and tag `policy` requires, for messages.
pub(super) fn expected(policy: &Policy) -> String {
    format!(
        "builder {} issued by {}, for source {} at refs/tags/{}",
        policy
            .identity
            .clone()
            .unwrap_or_else(|| format!("{SLSA_GENERIC_BUILDER}@refs/tags/v*")),
        policy.issuer.as_deref().unwrap_or(GITHUB_ACTIONS),
        policy.source.as_deref().unwrap_or("(any)"),
        policy.tag.as_deref().unwrap_or("(any)"),
    )
}

/// DSSE's pre-authentication encoding: what the envelope's signature is over.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Verifies a provenance bundle against `policy` and that one of its subjects is the artifact
/// `file_name` with `artifact_sha256`. `Err` says what was found.
pub fn verify_provenance(
    bundle_bytes: &[u8],
    file_name: &str,
    artifact_sha256: &str,
    policy: &Policy,
    root: &TrustedRoot,
) -> Result<Verified, String> {
    let bundle = bundle::parse_envelope(bundle_bytes)?;
    let entry = &bundle.entry;
    check_timestamp(entry, root)?;
    let leaf = &bundle.certificates[0];
    check_chain(leaf, &bundle.certificates[1..], entry.integrated_time, root)?;
    let (_, cert) = X509Certificate::from_der(leaf)
        .map_err(|error| format!("the signing certificate cannot be read: {error}"))?;
    let builder = identities(&cert).into_iter().next().unwrap_or_default();
    let issuer = issuer(&cert);
    let wanted_issuer = policy.issuer.as_deref().unwrap_or(GITHUB_ACTIONS);
    if !trusted_builder(&builder, policy) || issuer.as_deref() != Some(wanted_issuer) {
        return Err(format!(
            "found builder {} issued by {}",
            if builder.is_empty() {
                "(none)"
            } else {
                &builder
            },
            issuer.as_deref().unwrap_or("(no issuer extension)")
        ));
    }
    let workflow = fulcio::workflow(&cert);
    check_source(
        "the certificate",
        workflow.source.as_deref(),
        workflow.source_ref.as_deref(),
        policy,
    )?;
    let envelope = &bundle.envelope;
    let [signature] = envelope.signatures.as_slice() else {
        return Err(format!(
            "the DSSE envelope holds {} signatures, op expects one",
            envelope.signatures.len()
        ));
    };
    let point = cert.public_key().subject_public_key.data.as_ref();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(&pae(&envelope.payload_type, &envelope.payload), signature)
        .map_err(|_| {
            "the DSSE envelope's signature does not verify with the signing certificate's key (the provenance was changed, or signed by another key)".to_string()
        })?;
    check_body(&entry.body, envelope, leaf)?;
    if envelope.payload_type != IN_TOTO {
        return Err(format!(
            "the DSSE payload type is {:?}, not {IN_TOTO:?}",
            envelope.payload_type
        ));
    }
    let statement: Value = serde_json::from_slice(&envelope.payload)
        .map_err(|error| format!("the provenance is not an in-toto statement: {error}"))?;
    check_subject(&statement, file_name, artifact_sha256)?;
    check_predicate(&statement, &builder, policy)?;
    Ok(Verified {
        identity: builder,
        log_index: entry.log_index,
        integrated_time: entry.integrated_time,
        subject: artifact_sha256.to_string(),
    })
}

/// The check at install of a stored provenance bundle (already matched to `proof_sha256`).
pub(super) fn check_stored(
    bundle_bytes: &[u8],
    artifact: &Artifact,
    record: &Record,
    root: &TrustedRoot,
) -> Result<Verified, String> {
    let policy = record.policy.as_ref().ok_or("the record has no policy")?;
    let name = artifact_name(artifact, record);
    verify_provenance(bundle_bytes, &name, &artifact.sha256, policy, root)
}

/// The SAN is the policy's `identity` (exactly, or with any `@ref`), else the generic SLSA3
/// generator at a release tag.
fn trusted_builder(san: &str, policy: &Policy) -> bool {
    let (workflow, reference) = san.split_once('@').unwrap_or((san, ""));
    match &policy.identity {
        Some(identity) => san == identity || workflow == identity,
        None => workflow == SLSA_GENERIC_BUILDER && reference.starts_with("refs/tags/v"),
    }
}

/// `source` and `reference` (as `what` names them) are the policy's repository and tag.
fn check_source(
    what: &str,
    source: Option<&str>,
    reference: Option<&str>,
    policy: &Policy,
) -> Result<(), String> {
    let wanted_source = policy.source.as_deref().map(repository);
    let wanted_ref = policy.tag.as_ref().map(|tag| format!("refs/tags/{tag}"));
    let found_source = source.map(repository);
    if wanted_source.is_some() && found_source != wanted_source
        || wanted_ref.is_some() && reference != wanted_ref.as_deref()
    {
        return Err(format!(
            "{what} is for source {} at {}",
            found_source.as_deref().unwrap_or("(none)"),
            reference.unwrap_or("(no ref)")
        ));
    }
    Ok(())
}

/// The log entry (`intoto` v0.0.2 or `dsse` v0.0.1) records this envelope's signature,
/// certificate and payload digest.
fn check_body(body: &[u8], envelope: &Envelope, leaf: &[u8]) -> Result<(), String> {
    let entry: Value = serde_json::from_slice(body)
        .map_err(|error| format!("the log entry is not JSON: {error}"))?;
    let text = |value: &Value| value.as_str().map(str::to_string);
    let kind = (
        entry["kind"].as_str().unwrap_or_default(),
        entry["apiVersion"].as_str().unwrap_or_default(),
    );
    let (signatures, signature_field, key_field, payload_hash, double) = match kind {
        ("intoto", "0.0.2") => (
            &entry["spec"]["content"]["envelope"]["signatures"],
            "sig",
            "publicKey",
            &entry["spec"]["content"]["payloadHash"],
            true,
        ),
        ("dsse", "0.0.1") => (
            &entry["spec"]["signatures"],
            "signature",
            "verifier",
            &entry["spec"]["payloadHash"],
            false,
        ),
        (kind, version) => {
            return Err(format!(
                "the log entry is a {kind:?} {version:?} entry, not an intoto 0.0.2 or dsse 0.0.1 one"
            ));
        }
    };
    let [logged] = signatures.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err("the log entry does not record exactly one signature".into());
    };
    let mut signature = bundle::decode(
        signature_field,
        &text(&logged[signature_field]).unwrap_or_default(),
    )?;
    if double {
        // intoto v0.0.2 stores the envelope's base64 signature base64-encoded again.
        let inner =
            String::from_utf8(signature).map_err(|_| "the logged signature is not base64")?;
        signature = bundle::decode(signature_field, &inner)?;
    }
    let pem = bundle::decode(key_field, &text(&logged[key_field]).unwrap_or_default())?;
    let pem = String::from_utf8(pem).map_err(|_| "the log entry's certificate is not PEM text")?;
    let der: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect();
    let certificate = bundle::decode(key_field, &der)?;
    if signature != envelope.signatures[0] || certificate != leaf {
        return Err(
            "the log entry records another signature or certificate than the bundle".into(),
        );
    }
    let payload_sha256 = crate::hex::encode(Sha256::digest(&envelope.payload));
    let logged_hash = payload_hash["value"].as_str().unwrap_or_default();
    if payload_hash["algorithm"].as_str() != Some("sha256")
        || !logged_hash.eq_ignore_ascii_case(&payload_sha256)
    {
        return Err(format!(
            "the log entry records payload sha256 {logged_hash:?}, the bundle's payload has {payload_sha256}"
        ));
    }
    Ok(())
}

/// One subject of the statement is the artifact: its sha256, under its file name.
fn check_subject(statement: &Value, file_name: &str, sha256: &str) -> Result<(), String> {
    let subjects = statement["subject"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let digest_of = |subject: &Value| {
        subject["digest"]["sha256"]
            .as_str()
            .map(str::to_ascii_lowercase)
    };
    let named = |subject: &&Value| subject["name"].as_str() == Some(file_name);
    if subjects
        .iter()
        .any(|subject| named(&subject) && digest_of(subject).as_deref() == Some(sha256))
    {
        return Ok(());
    }
    match subjects.iter().find(named).and_then(digest_of) {
        Some(other) => Err(format!(
            "the provenance's subject {file_name} has sha256 {other}, the lock pins {sha256}"
        )),
        None => Err(format!(
            "the provenance has no subject {file_name} (it names {}); the lock pins sha256 {sha256}",
            crate::output::count(subjects.len(), "subject")
        )),
    }
}

/// The predicate (SLSA v0.2 or v1) names the same builder, source and tag as the certificate.
fn check_predicate(statement: &Value, builder: &str, policy: &Policy) -> Result<(), String> {
    let predicate = &statement["predicate"];
    let builder_id = predicate["builder"]["id"]
        .as_str()
        .or(predicate["runDetails"]["builder"]["id"].as_str());
    let (source, reference) =
        if let Some(uri) = predicate["invocation"]["configSource"]["uri"].as_str() {
            let (source, reference) = uri.rsplit_once('@').unwrap_or((uri, ""));
            (source.to_string(), reference.to_string())
        } else {
            let workflow = &predicate["buildDefinition"]["externalParameters"]["workflow"];
            (
                workflow["repository"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                workflow["ref"].as_str().unwrap_or_default().to_string(),
            )
        };
    if builder_id.is_some_and(|id| id != builder) {
        return Err(format!(
            "the provenance names builder {}, its certificate {builder}",
            builder_id.unwrap_or_default()
        ));
    }
    let present = |text: &str| (!text.is_empty()).then_some(text.to_string());
    check_source(
        "the provenance",
        present(&source).as_deref(),
        present(&reference).as_deref(),
        policy,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::evidence::Kind;

    fn policy() -> Policy {
        Policy {
            kind: Kind::SlsaProvenance,
            identity: None,
            issuer: None,
            source: Some("github.com/google/go-containerregistry".into()),
            tag: Some("v0.20.2".into()),
            signature: None,
            certificate: None,
            checksums_file: None,
            provenance: None,
            accepted_missing: None,
        }
    }

    /// slsa-github-generator's published provenance of example-package v14 (testdata/README.md).
    const REAL: &[u8] =
        include_bytes!("testdata/slsa-generic-v2.1.0-example-package-v14.sigstore.json");
    const REAL_NAME: &str = "gha_generic-binary-linux-amd64-v14";
    const REAL_SHA256: &str = "376e7e01348585b6e6643bc6663146b9d525d9b41228bf180eaeb4d4a3706caa";

    fn public_root() -> TrustedRoot {
        TrustedRoot::parse(
            crate::toolchain::evidence::trust::EMBEDDED,
            "the built-in root",
        )
        .unwrap()
    }

    fn real_policy() -> Policy {
        Policy {
            source: Some("github.com/slsa-framework/example-package".into()),
            tag: Some("v14".into()),
            ..policy()
        }
    }

    #[test]
    fn published_provenance_verifies_against_the_public_trusted_root() {
        let verified =
            verify_provenance(REAL, REAL_NAME, REAL_SHA256, &real_policy(), &public_root())
                .unwrap();
        assert_eq!(
            verified,
            Verified {
                identity: format!("{SLSA_GENERIC_BUILDER}@refs/tags/v2.1.0"),
                log_index: 174_298_180,
                integrated_time: 1_740_517_937,
                subject: REAL_SHA256.into(),
            }
        );
    }

    #[test]
    fn published_provenance_is_refused_for_another_tag_repository_or_artifact() {
        let root = public_root();
        let other_tag = Policy {
            tag: Some("v15".into()),
            ..real_policy()
        };
        let error = verify_provenance(REAL, REAL_NAME, REAL_SHA256, &other_tag, &root).unwrap_err();
        assert!(error.contains("at refs/tags/v14"), "{error}");
        let error = verify_provenance(REAL, REAL_NAME, REAL_SHA256, &policy(), &root).unwrap_err();
        assert!(
            error.contains("is for source github.com/slsa-framework/example-package"),
            "{error}"
        );
        let error =
            verify_provenance(REAL, REAL_NAME, &"0".repeat(64), &real_policy(), &root).unwrap_err();
        assert!(
            error.contains(&format!("has sha256 {REAL_SHA256}")),
            "{error}"
        );
        // One byte of the statement changed: the envelope's signature no longer holds.
        let text = std::str::from_utf8(REAL).unwrap();
        let tampered = text.replacen("\"payload\":\"eyJf", "\"payload\":\"eyJg", 1);
        assert_ne!(tampered, text);
        let error = verify_provenance(
            tampered.as_bytes(),
            REAL_NAME,
            REAL_SHA256,
            &real_policy(),
            &root,
        )
        .unwrap_err();
        assert!(error.contains("does not verify"), "{error}");
    }

    #[test]
    fn pae_is_the_dsse_v1_encoding() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
    }

    #[test]
    fn only_the_generic_generator_at_a_release_tag_is_trusted_by_default() {
        let at = |reference: &str| format!("{SLSA_GENERIC_BUILDER}@{reference}");
        assert!(trusted_builder(&at("refs/tags/v2.1.0"), &policy()));
        assert!(!trusted_builder(&at("refs/heads/main"), &policy()));
        let fork = "https://github.com/evil/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.1.0";
        assert!(!trusted_builder(fork, &policy()));
        let mine = Policy {
            identity: Some("https://github.com/acme/builder/.github/workflows/b.yml".into()),
            ..policy()
        };
        assert!(trusted_builder(
            "https://github.com/acme/builder/.github/workflows/b.yml@refs/heads/x",
            &mine
        ));
        assert!(!trusted_builder(&at("refs/tags/v2.1.0"), &mine));
    }

    #[test]
    fn predicates_of_slsa_v02_and_v1_name_source_and_tag() {
        let builder = format!("{SLSA_GENERIC_BUILDER}@refs/tags/v2.1.0");
        let v02 = serde_json::json!({"predicate": {
            "builder": {"id": builder},
            "invocation": {"configSource": {
                "uri": "git+https://github.com/google/go-containerregistry@refs/tags/v0.20.2"}}}});
        assert_eq!(check_predicate(&v02, &builder, &policy()), Ok(()));
        let v1 = serde_json::json!({"predicate": {
            "runDetails": {"builder": {"id": builder}},
            "buildDefinition": {"externalParameters": {"workflow": {
                "repository": "https://github.com/google/go-containerregistry",
                "ref": "refs/tags/v0.20.1"}}}}});
        let error = check_predicate(&v1, &builder, &policy()).unwrap_err();
        assert!(error.contains("at refs/tags/v0.20.1"), "{error}");
        let other = serde_json::json!({"predicate": {"builder": {"id": "x"}}});
        let error = check_predicate(&other, &builder, &policy()).unwrap_err();
        assert!(error.contains("names builder x"), "{error}");
    }

    #[test]
    fn the_subject_must_be_the_artifact_by_name_and_digest() {
        let a = "a".repeat(64);
        let statement = serde_json::json!({"subject": [
            {"name": "crane_Linux_x86_64.tar.gz", "digest": {"sha256": a}},
        ]});
        assert_eq!(
            check_subject(&statement, "crane_Linux_x86_64.tar.gz", &a),
            Ok(())
        );
        let b = "b".repeat(64);
        let error = check_subject(&statement, "crane_Linux_x86_64.tar.gz", &b).unwrap_err();
        assert!(error.contains(&format!("has sha256 {a}")), "{error}");
        let error = check_subject(&statement, "crane_Darwin_arm64.tar.gz", &a).unwrap_err();
        assert!(
            error.contains("has no subject crane_Darwin_arm64"),
            "{error}"
        );
    }
}
