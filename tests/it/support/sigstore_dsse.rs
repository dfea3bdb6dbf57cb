//! A throwaway Sigstore for the GitHub-workflow kinds of evidence: a Fulcio-like CA issuing
//! leaves with the workflow claims (SAN, OIDC issuer, source repository URI and ref, build
//! signer), a transparency log key signing entry timestamps, and bundles of a keyless signature
//! over a checksums file (`hashedrekord`) or of a DSSE envelope of an in-toto statement
//! (`intoto` v0.0.2 or `dsse` v0.0.1 log entries).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use super::sha256_hex;
use super::sigstore::{Detached, INTEGRATED_AT, LEAF_LIFETIME};

pub const GITHUB_ACTIONS: &str = "https://token.actions.githubusercontent.com";
/// slsa-github-generator's generic SLSA3 workflow at a release, as the SAN of its leaves.
pub const SLSA_BUILDER: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.1.0";

/// The DER prefix of a P-256 SubjectPublicKeyInfo before its 65-byte uncompressed point.
const P256_SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

/// One CA and one log, as a trusted root names them.
pub struct Instance {
    ca_der: Vec<u8>,
    ca: Issuer<'static, KeyPair>,
    log: EcdsaKeyPair,
}

/// The claims of the job a leaf is issued to, and the log entry of what it signs; every field
/// can be bent by a test.
#[derive(Clone)]
pub struct Job {
    pub identity: String,
    pub issuer: String,
    /// Source Repository URI (`https://github.com/owner/repo`).
    pub source: String,
    /// Source Repository Ref (`refs/tags/v1.2.3`).
    pub source_ref: String,
    pub integrated_time: u64,
    pub log_index: u64,
}

impl Job {
    /// A job of `repo` (`owner/name`) at tag `v<version>`, signing as `identity`.
    pub fn new(identity: &str, repo: &str, version: &str) -> Job {
        Job {
            identity: identity.to_string(),
            issuer: GITHUB_ACTIONS.to_string(),
            source: format!("https://github.com/{repo}"),
            source_ref: format!("refs/tags/v{version}"),
            integrated_time: INTEGRATED_AT,
            log_index: 4242,
        }
    }
}

/// How the log recorded a DSSE envelope.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Intoto,
    Dsse,
}

impl Instance {
    pub fn new() -> Instance {
        Instance::named("op tests workflow Fulcio")
    }

    /// An instance whose CA is called `name`.
    pub fn named(name: &str) -> Instance {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let cert = params.self_signed(&key).expect("self-sign CA");
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("log key");
        Instance {
            ca_der: cert.der().to_vec(),
            ca: Issuer::new(params, key),
            log: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
                .expect("load log key"),
        }
    }

    fn log_spki(&self) -> Vec<u8> {
        let mut spki = op_cli::hex::decode(P256_SPKI_PREFIX).expect("prefix");
        spki.extend_from_slice(self.log.public_key().as_ref());
        spki
    }

    fn log_id(&self) -> Vec<u8> {
        op_cli::hex::decode(sha256_hex(&self.log_spki())).expect("hex")
    }

    /// The trusted root JSON naming this instance's CA and log (at a dead address).
    pub fn trusted_root(&self) -> String {
        self.trusted_root_with_log("http://127.0.0.1:9")
    }

    /// The trusted root JSON naming this instance's CA, and its log served at `log_url`.
    pub fn trusted_root_with_log(&self, log_url: &str) -> String {
        serde_json::to_string_pretty(&json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": log_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": STANDARD.encode(self.log_spki()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": "2024-01-01T00:00:00Z" }
                },
                "logId": { "keyId": STANDARD.encode(self.log_id()) }
            }],
            "certificateAuthorities": [{
                "subject": { "organization": "op tests", "commonName": "fulcio" },
                "uri": "http://127.0.0.1:9",
                "certChain": { "certificates": [{ "rawBytes": STANDARD.encode(&self.ca_der) }] },
                "validFor": { "start": "2024-01-01T00:00:00Z" }
            }],
            "ctlogs": [],
            "timestampAuthorities": []
        }))
        .expect("trusted root JSON")
    }

    /// A leaf for `job` issued by `authority`'s CA (this instance's unless given): its DER, PEM
    /// and signing key.
    fn leaf(&self, job: &Job, authority: Option<&Instance>) -> (Vec<u8>, String, EcdsaKeyPair) {
        let authority = authority.unwrap_or(self);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        let san = rcgen::string::Ia5String::try_from(job.identity.as_str()).expect("ia5");
        params.subject_alt_names = vec![SanType::URI(san)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let issued = rcgen::date_time_ymd(2025, 1, 1);
        params.not_before = issued;
        params.not_after = issued + std::time::Duration::from_secs(LEAF_LIFETIME);
        let claim = |last: u64, text: &str| {
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, last], utf8(text))
        };
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
                job.issuer.as_bytes().to_vec(),
            ),
            claim(8, &job.issuer),
            claim(9, &job.identity),
            claim(12, &job.source),
            claim(14, &job.source_ref),
        ];
        let leaf = params.signed_by(&key, &authority.ca).expect("issue leaf");
        let rng = SystemRandom::new();
        let signer =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der(), &rng)
                .expect("leaf signer");
        (leaf.der().to_vec(), leaf.pem(), signer)
    }

    /// `body` logged for `job`: its base64, the log's id and the signed entry timestamp.
    fn logged(&self, job: &Job, body: &Value) -> (String, Vec<u8>, Vec<u8>) {
        let body = STANDARD.encode(serde_json::to_vec(body).expect("entry body"));
        let log_id = self.log_id();
        let payload = format!(
            "{{\"body\":\"{body}\",\"integratedTime\":{},\"logID\":\"{}\",\"logIndex\":{}}}",
            job.integrated_time,
            op_cli::hex::encode(&log_id),
            job.log_index
        );
        let timestamp = self
            .log
            .sign(&SystemRandom::new(), payload.as_bytes())
            .expect("log signature")
            .as_ref()
            .to_vec();
        (body, log_id, timestamp)
    }

    /// The `verificationMaterial` of a bundle: the leaf and a log entry of `body` whose entry
    /// timestamp this instance's log signs.
    fn material(&self, job: &Job, leaf: &[u8], kind: &str, version: &str, body: &Value) -> Value {
        let (body, log_id, timestamp) = self.logged(job, body);
        json!({
            "certificate": { "rawBytes": STANDARD.encode(leaf) },
            "tlogEntries": [{
                "logIndex": job.log_index.to_string(),
                "logId": { "keyId": STANDARD.encode(&log_id) },
                "kindVersion": { "kind": kind, "version": version },
                "integratedTime": job.integrated_time.to_string(),
                "inclusionPromise": { "signedEntryTimestamp": STANDARD.encode(timestamp) },
                "canonicalizedBody": body
            }]
        })
    }

    /// The log entry of `body` for `job` as a Rekor-like log serves it, and its UUID.
    fn api_entry(&self, job: &Job, body: &Value) -> (String, Value) {
        let (body, log_id, timestamp) = self.logged(job, body);
        let uuid = sha256_hex(body.as_bytes());
        let entry = json!({
            "body": body,
            "integratedTime": job.integrated_time,
            "logID": op_cli::hex::encode(&log_id),
            "logIndex": job.log_index,
            "verification": { "signedEntryTimestamp": STANDARD.encode(timestamp) }
        });
        (uuid, entry)
    }

    /// A keyless signature by `job` over `signed` (a checksums file) as goreleaser's `signs:`
    /// leaves it beside the file (`.sig`: base64 DER; `.pem`: base64 of the PEM certificate),
    /// and the log's entry recording it, found under `sha256(signed)`.
    pub fn detached_checksums(
        &self,
        job: &Job,
        signed: &[u8],
        authority: Option<&Instance>,
    ) -> Detached {
        let (_, pem, signer) = self.leaf(job, authority);
        let signature = signer
            .sign(&SystemRandom::new(), signed)
            .expect("sign")
            .as_ref()
            .to_vec();
        let (uuid, entry) =
            self.api_entry(job, &hashedrekord(&sha256_hex(signed), &signature, &pem));
        Detached {
            signature: format!("{}\n", STANDARD.encode(&signature)),
            certificate: STANDARD.encode(&pem),
            uuid,
            entry,
        }
    }

    /// A v0.3 bundle of a keyless signature by `job` over `signed` (usually a checksums file),
    /// claiming the digest `digest` (usually `sha256(signed)`).
    pub fn blob_bundle(
        &self,
        job: &Job,
        signed: &[u8],
        digest: &str,
        authority: Option<&Instance>,
    ) -> String {
        let (der, pem, signer) = self.leaf(job, authority);
        let signature = signer
            .sign(&SystemRandom::new(), signed)
            .expect("sign")
            .as_ref()
            .to_vec();
        let body = hashedrekord(digest, &signature, &pem);
        serde_json::to_string_pretty(&json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": self.material(job, &der, "hashedrekord", "0.0.1", &body),
            "messageSignature": {
                "messageDigest": {
                    "algorithm": "SHA2_256",
                    "digest": STANDARD.encode(op_cli::hex::decode(digest).expect("hex digest"))
                },
                "signature": STANDARD.encode(&signature)
            }
        }))
        .expect("bundle JSON")
    }

    /// A v0.3 bundle of a DSSE envelope of `statement` signed by `job`, logged as `body`.
    pub fn provenance_bundle(
        &self,
        job: &Job,
        statement: &Value,
        body: Body,
        authority: Option<&Instance>,
    ) -> String {
        let signed = self.envelope(job, statement, body, authority);
        serde_json::to_string_pretty(&json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": self.material(job, &signed.leaf, signed.kind, signed.version, &signed.body),
            "dsseEnvelope": signed.envelope
        }))
        .expect("bundle JSON")
    }

    /// A bare DSSE envelope line of `statement` signed by `job` (`.intoto.jsonl` of older
    /// generators, which carries no certificate), and the log's entry (logged as `body`, holding
    /// the certificate) with its UUID, found under the payload's sha256 (the third value).
    pub fn provenance_envelope(
        &self,
        job: &Job,
        statement: &Value,
        body: Body,
        authority: Option<&Instance>,
    ) -> (String, Detached, String) {
        let signed = self.envelope(job, statement, body, authority);
        let (uuid, entry) = self.api_entry(job, &signed.body);
        let line = format!(
            "{}\n",
            serde_json::to_string(&signed.envelope).expect("envelope")
        );
        let detached = Detached {
            signature: String::new(),
            certificate: String::new(),
            uuid,
            entry,
        };
        (line, detached, signed.payload_sha256)
    }

    /// A DSSE envelope of `statement` signed by a leaf for `job`, and its log entry body.
    fn envelope(
        &self,
        job: &Job,
        statement: &Value,
        body: Body,
        authority: Option<&Instance>,
    ) -> Enveloped {
        let (der, pem, signer) = self.leaf(job, authority);
        let payload = serde_json::to_vec(statement).expect("statement");
        let payload_type = "application/vnd.in-toto+json";
        let mut pae = format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            payload.len()
        )
        .into_bytes();
        pae.extend_from_slice(&payload);
        let signature = signer
            .sign(&SystemRandom::new(), &pae)
            .expect("sign")
            .as_ref()
            .to_vec();
        let sig = STANDARD.encode(&signature);
        let payload_hash = json!({ "algorithm": "sha256", "value": sha256_hex(&payload) });
        let envelope = json!({
            "payload": STANDARD.encode(&payload),
            "payloadType": payload_type,
            "signatures": [{ "sig": sig, "keyid": "" }]
        });
        let envelope_hash = json!({
            "algorithm": "sha256",
            "value": sha256_hex(&serde_json::to_vec(&envelope).expect("envelope"))
        });
        let (kind, version, body) = match body {
            Body::Intoto => (
                "intoto",
                "0.0.2",
                json!({
                    "apiVersion": "0.0.2",
                    "kind": "intoto",
                    "spec": { "content": {
                        "envelope": {
                            "payloadType": payload_type,
                            "signatures": [{
                                "publicKey": STANDARD.encode(&pem),
                                "sig": STANDARD.encode(&sig)
                            }]
                        },
                        "hash": envelope_hash,
                        "payloadHash": payload_hash
                    }}
                }),
            ),
            Body::Dsse => (
                "dsse",
                "0.0.1",
                json!({
                    "apiVersion": "0.0.1",
                    "kind": "dsse",
                    "spec": {
                        "envelopeHash": envelope_hash,
                        "payloadHash": payload_hash,
                        "signatures": [{ "signature": sig, "verifier": STANDARD.encode(&pem) }]
                    }
                }),
            ),
        };
        Enveloped {
            leaf: der,
            kind,
            version,
            body,
            envelope,
            payload_sha256: sha256_hex(&payload),
        }
    }
}

/// A signed DSSE envelope, its leaf and the log entry body recording it.
struct Enveloped {
    leaf: Vec<u8>,
    kind: &'static str,
    version: &'static str,
    body: Value,
    envelope: Value,
    payload_sha256: String,
}

/// The body of a `hashedrekord` entry of `signature` over `digest` by the leaf `pem`.
fn hashedrekord(digest: &str, signature: &[u8], pem: &str) -> Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": digest } },
            "signature": {
                "content": STANDARD.encode(signature),
                "publicKey": { "content": STANDARD.encode(pem) }
            }
        }
    })
}

/// An in-toto statement with SLSA v0.2 provenance by `builder` of `source` (a repository URI)
/// at `reference`, whose subjects are `(name, sha256)`.
pub fn statement(
    subjects: &[(String, String)],
    source: &str,
    reference: &str,
    builder: &str,
) -> Value {
    let subjects: Vec<Value> = subjects
        .iter()
        .map(|(name, sha256)| json!({ "name": name, "digest": { "sha256": sha256 } }))
        .collect();
    json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": subjects,
        "predicate": {
            "builder": { "id": builder },
            "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
            "invocation": {
                "configSource": {
                    "uri": format!("git+{source}@{reference}"),
                    "digest": { "sha1": "0123456789abcdef0123456789abcdef01234567" },
                    "entryPoint": ".github/workflows/release.yml"
                }
            }
        }
    })
}

/// DER UTF8String of `text`.
fn utf8(text: &str) -> Vec<u8> {
    let mut der = vec![0x0c];
    match text.len() {
        length @ 0..0x80 => der.push(length as u8),
        length @ 0x80..0x100 => der.extend([0x81, length as u8]),
        length => der.extend([0x82, (length >> 8) as u8, length as u8]),
    }
    der.extend_from_slice(text.as_bytes());
    der
}
