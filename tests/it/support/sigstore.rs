//! A throwaway Sigstore: a Fulcio-like CA (P-384) issuing short-lived P-256 leaf certificates
//! with a signer identity (SAN) and the OIDC issuer extension, a transparency log whose P-256 key
//! signs entry timestamps, a trusted root JSON naming both, bundles (v0.3) of blob signatures
//! made with them, detached `.sig`/`.cert` files as cosign writes them, and a loopback
//! Rekor-like log server ([`LogServer`]) that serves their entries.

pub mod log_server;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::json;

use super::sha256_hex;

/// 2025-01-01T00:00:00Z: leaves are issued then, for [`LEAF_LIFETIME`] seconds.
pub const ISSUED_AT: u64 = 1_735_689_600;
pub const LEAF_LIFETIME: u64 = 600;
/// When the log integrated a signature made with a fresh leaf.
pub const INTEGRATED_AT: u64 = ISSUED_AT + 300;

/// The DER prefix of a P-256 SubjectPublicKeyInfo before its 65-byte uncompressed point.
const P256_SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

pub struct Authority {
    der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    pub fn new(name: &str) -> Authority {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let cert = params.self_signed(&key).expect("self-sign CA");
        Authority {
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }
}

/// A transparency log's signing key.
pub struct Log {
    key: EcdsaKeyPair,
}

impl Log {
    pub fn new() -> Log {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("log key");
        Log {
            key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
                .expect("load log key"),
        }
    }

    fn spki(&self) -> Vec<u8> {
        let mut spki = op_cli::hex::decode(P256_SPKI_PREFIX).expect("prefix");
        spki.extend_from_slice(self.key.public_key().as_ref());
        spki
    }

    fn id(&self) -> Vec<u8> {
        op_cli::hex::decode(sha256_hex(&self.spki())).expect("hex")
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key
            .sign(&SystemRandom::new(), message)
            .expect("log signature")
            .as_ref()
            .to_vec()
    }
}

/// The instance tests trust: one authority and one log.
pub struct Sigstore {
    pub authority: Authority,
    pub log: Log,
}

/// What one bundle claims; every field can be bent by a test.
pub struct Signing<'a> {
    pub identity: &'a str,
    pub issuer: &'a str,
    /// The bytes the leaf key signs (the artifact for a good signature).
    pub signed: &'a [u8],
    /// The digest the bundle says was signed (hex), usually `sha256(signed)`.
    pub digest: String,
    pub integrated_time: u64,
    pub log_index: u64,
}

impl<'a> Signing<'a> {
    pub fn of(artifact: &'a [u8], identity: &'a str, issuer: &'a str) -> Signing<'a> {
        Signing {
            identity,
            issuer,
            signed: artifact,
            digest: sha256_hex(artifact),
            integrated_time: INTEGRATED_AT,
            log_index: 4242,
        }
    }
}

impl Sigstore {
    pub fn new() -> Sigstore {
        Sigstore {
            authority: Authority::new("op tests throwaway Fulcio"),
            log: Log::new(),
        }
    }

    /// The trusted root JSON naming this instance's authority and log (at a dead address).
    pub fn trusted_root(&self) -> String {
        self.trusted_root_with_log("http://127.0.0.1:9")
    }

    /// The trusted root JSON naming this instance's authority, and its log served at `log_url`.
    pub fn trusted_root_with_log(&self, log_url: &str) -> String {
        serde_json::to_string_pretty(&json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": log_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": STANDARD.encode(self.log.spki()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": "2024-01-01T00:00:00Z" }
                },
                "logId": { "keyId": STANDARD.encode(self.log.id()) }
            }],
            "certificateAuthorities": [{
                "subject": { "organization": "op tests", "commonName": "fulcio" },
                "uri": "http://127.0.0.1:9",
                "certChain": { "certificates": [{ "rawBytes": STANDARD.encode(&self.authority.der) }] },
                "validFor": { "start": "2024-01-01T00:00:00Z" }
            }],
            "ctlogs": [],
            "timestampAuthorities": []
        }))
        .expect("trusted root JSON")
    }

    /// A v0.3 bundle of `signing`, its leaf issued by `authority` (this instance's unless a test
    /// brings another) and its entry signed by this instance's log.
    pub fn bundle(&self, signing: &Signing<'_>, authority: Option<&Authority>) -> String {
        let signed = self.sign(signing, authority);
        serde_json::to_string_pretty(&json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": { "rawBytes": STANDARD.encode(&signed.leaf_der) },
                "tlogEntries": [{
                    "logIndex": signing.log_index.to_string(),
                    "logId": { "keyId": STANDARD.encode(&signed.log_id) },
                    "kindVersion": { "kind": "hashedrekord", "version": "0.0.1" },
                    "integratedTime": signing.integrated_time.to_string(),
                    "inclusionPromise": { "signedEntryTimestamp": STANDARD.encode(&signed.timestamp) },
                    "canonicalizedBody": signed.body
                }]
            },
            "messageSignature": {
                "messageDigest": {
                    "algorithm": "SHA2_256",
                    "digest": STANDARD.encode(op_cli::hex::decode(&signing.digest).expect("hex digest"))
                },
                "signature": STANDARD.encode(&signed.signature)
            }
        }))
        .expect("bundle JSON")
    }

    /// `signing` as cosign leaves it beside an artifact (`.sig`, `.cert`) and as the log serves
    /// its entry.
    pub fn detached(&self, signing: &Signing<'_>, authority: Option<&Authority>) -> Detached {
        let signed = self.sign(signing, authority);
        let entry = json!({
            "body": signed.body,
            "integratedTime": signing.integrated_time,
            "logID": op_cli::hex::encode(&signed.log_id),
            "logIndex": signing.log_index,
            "verification": { "signedEntryTimestamp": STANDARD.encode(&signed.timestamp) }
        });
        Detached {
            signature: format!("{}\n", STANDARD.encode(&signed.signature)),
            certificate: STANDARD.encode(&signed.leaf_pem),
            uuid: sha256_hex(signed.body.as_bytes()),
            entry,
        }
    }

    /// A leaf certificate for `signing`, the signature, and the log entry recording both.
    fn sign(&self, signing: &Signing<'_>, authority: Option<&Authority>) -> Signed {
        let authority = authority.unwrap_or(&self.authority);
        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        let san = rcgen::string::Ia5String::try_from(signing.identity).expect("ia5 identity");
        params.subject_alt_names = vec![if signing.identity.contains('@')
            && !signing.identity.contains("://")
        {
            SanType::Rfc822Name(san)
        } else {
            SanType::URI(san)
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let issued = rcgen::date_time_ymd(2025, 1, 1);
        params.not_before = issued;
        params.not_after = issued + std::time::Duration::from_secs(LEAF_LIFETIME);
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
                signing.issuer.as_bytes().to_vec(),
            ),
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 8],
                utf8_string(signing.issuer),
            ),
        ];
        let leaf = params
            .signed_by(&leaf_key, &authority.issuer)
            .expect("issue leaf");
        let leaf_der = leaf.der().to_vec();

        let rng = SystemRandom::new();
        let signer = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &leaf_key.serialize_der(),
            &rng,
        )
        .expect("leaf signer");
        let signature = signer
            .sign(&rng, signing.signed)
            .expect("sign")
            .as_ref()
            .to_vec();

        let body = serde_json::to_vec(&json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": { "hash": { "algorithm": "sha256", "value": signing.digest } },
                "signature": {
                    "content": STANDARD.encode(&signature),
                    "publicKey": { "content": STANDARD.encode(leaf.pem()) }
                }
            }
        }))
        .expect("entry body");
        let body = STANDARD.encode(body);
        let log_id = self.log.id();
        let payload = format!(
            "{{\"body\":\"{body}\",\"integratedTime\":{},\"logID\":\"{}\",\"logIndex\":{}}}",
            signing.integrated_time,
            op_cli::hex::encode(&log_id),
            signing.log_index
        );
        let timestamp = self.log.sign(payload.as_bytes());
        Signed {
            leaf_der,
            leaf_pem: leaf.pem(),
            signature,
            body,
            log_id,
            timestamp,
        }
    }
}

/// One signing's parts: the leaf, the signature, and the log entry's body and timestamp.
struct Signed {
    leaf_der: Vec<u8>,
    leaf_pem: String,
    signature: Vec<u8>,
    /// The entry body, base64.
    body: String,
    log_id: Vec<u8>,
    timestamp: Vec<u8>,
}

/// A detached blob signature: the `.sig` (base64 DER) and `.cert` (base64 of PEM) files, and
/// the log's entry for it (Rekor API shape) under its UUID.
pub struct Detached {
    pub signature: String,
    pub certificate: String,
    pub uuid: String,
    pub entry: serde_json::Value,
}

/// DER UTF8String of a short `text`.
fn utf8_string(text: &str) -> Vec<u8> {
    assert!(text.len() < 0x80, "short issuers only");
    let mut der = vec![0x0c, text.len() as u8];
    der.extend_from_slice(text.as_bytes());
    der
}
