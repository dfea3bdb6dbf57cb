//! Supply-chain evidence: the policy a tool's pins must satisfy (`[tools.X.evidence]`), what
//! was verified for each platform (`[tools.X.platforms.P.evidence]`), and the offline re-check of
//! a stored Sigstore bundle at install.

mod bundle;
mod check;
mod checksums_sig;
mod dsse;
mod fulcio;
pub mod gather;
mod rekor;
pub mod trust;

use std::path::PathBuf;

use toml::Value;

use crate::toolchain::lock::{optional_string, safe_relative_path};

pub use check::{HINT, Problem, Verified, check_artifact, verify_artifact};
pub use checksums_sig::{listed_digest, verify_signed_checksums};
pub use dsse::{SLSA_GENERIC_BUILDER, verify_provenance};

/// Every file of `toolchain.evidence/` beside the built-in lock, by path relative to the lock,
/// compiled in by build.rs (the scheduled `evidence` job proposes the proofs of the current pins).
const EMBEDDED_PROOFS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_proofs.rs"));

/// What kind of evidence upstream publishes for a tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A cosign keyless signature (Fulcio certificate) over each artifact's SHA-256.
    CosignKeylessBlob,
    /// A cosign keyless signature over a checksums file that lists every artifact.
    CosignSignedChecksums,
    /// SLSA provenance whose subjects are the artifacts' digests.
    SlsaProvenance,
    /// No signature: the digest must agree across independent `checksums` sources.
    DigestAgreement,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::CosignKeylessBlob,
        Kind::CosignSignedChecksums,
        Kind::SlsaProvenance,
        Kind::DigestAgreement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CosignKeylessBlob => "cosign-keyless-blob",
            Kind::CosignSignedChecksums => "cosign-signed-checksums",
            Kind::SlsaProvenance => "slsa-provenance",
            Kind::DigestAgreement => "digest-agreement",
        }
    }

    fn parse(text: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<String> = Kind::ALL
                    .iter()
                    .map(|kind| format!("{:?}", kind.as_str()))
                    .collect();
                format!(
                    "field `kind`: unknown kind {text:?}; expected {}",
                    known.join(", ")
                )
            })
    }
}

/// `[tools.X.evidence]`: what every platform's pin must be proven by. `{version}` in `identity`
/// and `tag` is the tool's version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub kind: Kind,
    /// The signer: the certificate's subject alternative name (an e-mail or a workflow URI).
    pub identity: Option<String>,
    /// The OIDC issuer recorded by Fulcio in the signer's certificate.
    pub issuer: Option<String>,
    /// The source repository provenance must name (`github.com/owner/repo`).
    pub source: Option<String>,
    /// The tag provenance must name (`slsa-provenance`: `v{version}` unless given).
    pub tag: Option<String>,
    /// Where the detached signature and certificate are: URL patterns with `{url}`, `{asset}`
    /// and `{version}` like `checksums` (`"{url}.sig"`, `"{url}.cert"`). `{url}` is the
    /// artifact's URL (`cosign-keyless-blob`) or the checksums file's (`cosign-signed-checksums`).
    pub signature: Option<String>,
    pub certificate: Option<String>,
    /// `cosign-signed-checksums`: where the signed checksums file is (a pattern like
    /// `checksums`; every platform's renders the same URL, fetched once per version).
    pub checksums_file: Option<String>,
    /// `slsa-provenance`: where the provenance is (a pattern like `checksums`), a Sigstore bundle
    /// or a bare DSSE envelope line (`multiple.intoto.jsonl`).
    pub provenance: Option<String>,
    /// The version `lock update` was told to pin without evidence
    /// (`--accept-missing-evidence TOOL`): its platforms may lack an evidence record.
    pub accepted_missing: Option<String>,
}

impl Policy {
    /// Whether `lock update` knows how to gather this kind of evidence.
    pub fn gatherable(&self) -> bool {
        self.kind != Kind::DigestAgreement
    }

    /// Whether the policy says where upstream publishes the evidence (so that it can be fetched).
    pub fn located(&self) -> bool {
        match self.kind {
            Kind::CosignKeylessBlob => self.signature.is_some(),
            Kind::CosignSignedChecksums => {
                self.checksums_file.is_some() && self.signature.is_some()
            }
            Kind::SlsaProvenance => self.provenance.is_some(),
            Kind::DigestAgreement => false,
        }
    }
}

/// `[tools.X.platforms.P.evidence]`: what was verified for one artifact, and its stored proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    /// Lowercase hex SHA-256 of what was signed: the artifact (`cosign-keyless-blob`), the
    /// checksums file (`cosign-signed-checksums`), or the artifact as an in-toto subject of the
    /// provenance (`slsa-provenance`).
    pub subject: String,
    /// The signer the certificate names (its SAN).
    pub identity: Option<String>,
    /// The transparency-log entry of the signature.
    pub log_index: Option<u64>,
    /// When the log integrated the entry (Unix seconds).
    pub integrated_time: Option<u64>,
    /// The stored Sigstore bundle, relative to the lock, and its SHA-256.
    pub proof: Option<Proof>,
    /// `cosign-signed-checksums`: the stored checksums file the bundle signs, relative to the
    /// lock; its SHA-256 is `subject`.
    pub checksums: Option<Proof>,
    /// The artifact's file name as the checksums file or the provenance's subject names it
    /// (default: the last path segment of the artifact's URL).
    pub name: Option<String>,
    /// The tool's policy (copied here so that an install sees it with the artifact).
    pub policy: Option<Policy>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    pub path: String,
    pub sha256: String,
    /// The directory of the lock (`None` for the built-in lock, whose proofs are compiled in).
    pub lock_dir: Option<PathBuf>,
}

impl Proof {
    /// Where the proof is, for messages.
    pub fn location(&self) -> String {
        match &self.lock_dir {
            Some(dir) => dir.join(&self.path).display().to_string(),
            None => format!("{} (built in)", self.path),
        }
    }

    /// The proof's bytes; `Err` says why they cannot be read.
    pub fn read(&self) -> Result<Vec<u8>, String> {
        match &self.lock_dir {
            Some(dir) => crate::bounded::read_capped(
                &dir.join(&self.path),
                "evidence proof",
                crate::bounded::LOCK_CAP,
            )
            .map_err(|error| error.to_string()),
            None => EMBEDDED_PROOFS
                .iter()
                .find(|(path, _)| *path == self.path)
                .map(|(_, text)| text.as_bytes().to_vec())
                .ok_or_else(|| format!("the built-in lock holds no proof {}", self.path)),
        }
    }
}

/// The documented place of a proof, relative to the lock.
pub fn proof_path(tool: &str, version: &str, platform: &str) -> String {
    format!("toolchain.evidence/{tool}/{version}/{platform}.sigstore.json")
}

/// The documented places of a signed checksums file and of its bundle (one pair per version,
/// serving every platform), relative to the lock.
pub fn checksums_paths(tool: &str, version: &str) -> (String, String) {
    let dir = format!("toolchain.evidence/{tool}/{version}");
    (
        format!("{dir}/checksums.txt"),
        format!("{dir}/checksums.sigstore.json"),
    )
}

/// The documented place of a provenance bundle (one per version, serving every platform).
pub fn provenance_path(tool: &str, version: &str) -> String {
    format!("toolchain.evidence/{tool}/{version}/provenance.sigstore.json")
}

/// Parses `[tools.X.evidence]`; `checksum_sources` is how many `checksums` the tool names.
pub fn parse_policy(
    value: &Value,
    version: &str,
    checksum_sources: usize,
) -> Result<Policy, String> {
    let (table, kind) = evidence_table(
        value,
        &[
            "kind",
            "identity",
            "issuer",
            "source",
            "tag",
            "signature",
            "certificate",
            "checksums_file",
            "provenance",
            "accepted_missing",
        ],
    )?;
    let expand = |field: &str| -> Result<Option<String>, String> {
        let text = optional_string(table, field).map_err(in_field)?;
        match text {
            Some(text) if text.trim().is_empty() => {
                Err(in_field(format!("field `{field}`: must not be empty")))
            }
            Some(text) => Ok(Some(text.replace("{version}", version))),
            None => Ok(None),
        }
    };
    let mut policy = Policy {
        kind,
        identity: expand("identity")?,
        issuer: expand("issuer")?,
        source: expand("source")?,
        tag: expand("tag")?,
        // Expanded per artifact, with its URL, when the files are fetched.
        signature: pattern(table, "signature")?,
        certificate: pattern(table, "certificate")?,
        checksums_file: pattern(table, "checksums_file")?,
        provenance: pattern(table, "provenance")?,
        accepted_missing: pattern(table, "accepted_missing")?,
    };
    if policy.signature.is_some() != policy.certificate.is_some() {
        return Err(in_field(
            "fields `signature` and `certificate`: name both (where the detached signature and its certificate are) or neither".into(),
        ));
    }
    let signs = matches!(kind, Kind::CosignKeylessBlob | Kind::CosignSignedChecksums);
    if !signs && policy.signature.is_some() {
        return Err(in_field(format!(
            "fields `signature` and `certificate`: kind {:?} does not use them; remove them",
            kind.as_str()
        )));
    }
    for (field, set, wanted) in [
        (
            "checksums_file",
            policy.checksums_file.is_some(),
            Kind::CosignSignedChecksums,
        ),
        (
            "provenance",
            policy.provenance.is_some(),
            Kind::SlsaProvenance,
        ),
    ] {
        if set && kind != wanted {
            return Err(in_field(format!(
                "field `{field}`: kind {:?} does not use it; remove it",
                kind.as_str()
            )));
        }
    }
    if kind == Kind::CosignSignedChecksums
        && policy.checksums_file.is_some() != policy.signature.is_some()
    {
        return Err(in_field(
            "fields `checksums_file`, `signature` and `certificate`: name all three (where the signed checksums file, its detached signature and its certificate are) or none".into(),
        ));
    }
    if kind == Kind::SlsaProvenance && policy.tag.is_none() {
        policy.tag = Some(format!("v{version}"));
    }
    let present = |field: &str| match field {
        "identity" => policy.identity.is_some(),
        "issuer" => policy.issuer.is_some(),
        "source" => policy.source.is_some(),
        _ => policy.tag.is_some(),
    };
    let (needs, forbids): (&[&str], &[&str]) = match kind {
        Kind::CosignKeylessBlob | Kind::CosignSignedChecksums => {
            (&["identity", "issuer"], &["source", "tag"])
        }
        Kind::SlsaProvenance => (&["source"], &[]),
        Kind::DigestAgreement => (&[], &["identity", "issuer", "source", "tag"]),
    };
    for field in needs {
        if !present(field) {
            return Err(in_field(format!(
                "field `{field}`: missing; kind {:?} requires it",
                kind.as_str()
            )));
        }
    }
    for field in forbids {
        if present(field) {
            return Err(in_field(format!(
                "field `{field}`: kind {:?} does not use it; remove it",
                kind.as_str()
            )));
        }
    }
    if kind == Kind::DigestAgreement && checksum_sources < 2 {
        return Err(in_field(format!(
            "kind \"digest-agreement\" needs at least two `checksums` sources, the tool names {checksum_sources}"
        )));
    }
    Ok(policy)
}

/// Parses `[tools.X.platforms.P.evidence]` of an artifact whose lock digest is `sha256`.
pub fn parse_record(value: &Value, sha256: &str) -> Result<Record, String> {
    let (table, kind) = evidence_table(
        value,
        &[
            "kind",
            "subject",
            "identity",
            "log_index",
            "integrated_time",
            "proof",
            "proof_sha256",
            "checksums",
            "name",
        ],
    )?;
    let subject = hex64(table, "subject").map_err(in_field)?;
    let subject = subject.ok_or_else(|| in_field("field `subject`: missing".into()))?;
    if matches!(kind, Kind::CosignKeylessBlob | Kind::SlsaProvenance) && subject != sha256 {
        return Err(in_field(format!(
            "field `subject`: {subject} is not the artifact's sha256 {sha256}; a {:?} proof is about the artifact itself",
            kind.as_str()
        )));
    }
    let number = |field: &str| match table.get(field) {
        None => Ok(None),
        Some(Value::Integer(number)) if *number >= 0 => Ok(Some(*number as u64)),
        Some(other) => Err(in_field(format!(
            "field `{field}`: expected a non-negative integer, got {other}"
        ))),
    };
    let proof = match (
        optional_string(table, "proof").map_err(in_field)?,
        hex64(table, "proof_sha256").map_err(in_field)?,
    ) {
        (None, None) => None,
        (Some(path), Some(sha256)) => {
            if !safe_relative_path(&path) {
                return Err(in_field(format!(
                    "field `proof`: {path:?} must be a relative path below the lock's directory without `..`"
                )));
            }
            Some(Proof {
                path,
                sha256,
                lock_dir: None,
            })
        }
        (Some(_), None) => {
            return Err(in_field(
                "field `proof_sha256`: missing; a stored proof needs its SHA-256".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(in_field(
                "field `proof`: missing; `proof_sha256` is the digest of the proof file".into(),
            ));
        }
    };
    let checksums = optional_string(table, "checksums").map_err(in_field)?;
    let name = optional_string(table, "name").map_err(in_field)?;
    let signs_checksums = kind == Kind::CosignSignedChecksums;
    if !signs_checksums && checksums.is_some() {
        return Err(in_field(format!(
            "field `checksums`: kind {:?} does not use it; remove it",
            kind.as_str()
        )));
    }
    if !matches!(kind, Kind::CosignSignedChecksums | Kind::SlsaProvenance) && name.is_some() {
        return Err(in_field(format!(
            "field `name`: kind {:?} does not use it; remove it",
            kind.as_str()
        )));
    }
    if name
        .as_ref()
        .is_some_and(|name| name.is_empty() || name.contains(['/', '\\', '\n']))
    {
        return Err(in_field(
            "field `name`: must be a file name without `/`".into(),
        ));
    }
    let checksums = match (checksums, &proof) {
        (Some(path), Some(_)) if safe_relative_path(&path) => Some(Proof {
            path,
            sha256: subject.clone(),
            lock_dir: None,
        }),
        (Some(path), Some(_)) => {
            return Err(in_field(format!(
                "field `checksums`: {path:?} must be a relative path below the lock's directory without `..`"
            )));
        }
        (Some(_), None) => {
            return Err(in_field(
                "field `proof`: missing; a stored checksums file needs the bundle that signs it"
                    .into(),
            ));
        }
        (None, Some(_)) if signs_checksums => {
            return Err(in_field(
                "field `checksums`: missing; the bundle signs a checksums file, store it and name it here".into(),
            ));
        }
        (None, _) => None,
    };
    Ok(Record {
        kind,
        subject,
        identity: optional_string(table, "identity").map_err(in_field)?,
        log_index: number("log_index")?,
        integrated_time: number("integrated_time")?,
        proof,
        checksums,
        name,
        policy: None,
    })
}

/// Checks a platform's record against its tool's policy and attaches the policy to it.
pub fn attach(policy: Option<&Policy>, record: &mut Record) -> Result<(), String> {
    let Some(policy) = policy else {
        return Err(
            "field `evidence`: the tool declares no evidence policy; add [tools.<tool>.evidence]"
                .into(),
        );
    };
    if record.kind != policy.kind {
        return Err(format!(
            "field `evidence`: kind {:?} differs from the tool's policy {:?}",
            record.kind.as_str(),
            policy.kind.as_str()
        ));
    }
    if let (Some(found), Some(expected)) = (&record.identity, &policy.identity)
        && found != expected
    {
        return Err(format!(
            "field `evidence`: identity {found:?} is not the policy's {expected:?}"
        ));
    }
    record.policy = Some(policy.clone());
    Ok(())
}

/// Gives every stored proof of a lock read from a file the directory it is relative to.
pub fn locate(tools: &mut [crate::toolchain::lock::Tool], lock_dir: Option<&std::path::Path>) {
    let records = tools
        .iter_mut()
        .flat_map(|tool| tool.platforms.values_mut())
        .filter_map(|artifact| artifact.evidence.as_mut());
    for record in records {
        for proof in [&mut record.proof, &mut record.checksums]
            .into_iter()
            .flatten()
        {
            proof.lock_dir = Some(lock_dir.map_or_else(PathBuf::new, std::path::Path::to_path_buf));
        }
    }
}

/// A non-empty string field kept as written.
fn pattern(table: &toml::Table, field: &str) -> Result<Option<String>, String> {
    match optional_string(table, field).map_err(in_field)? {
        Some(text) if text.trim().is_empty() => {
            Err(in_field(format!("field `{field}`: must not be empty")))
        }
        other => Ok(other),
    }
}

/// `message` placed in the `evidence` field.
fn in_field(message: String) -> String {
    format!("field `evidence`: {message}")
}

/// An `evidence` table holding only `known` keys, and its required `kind`.
fn evidence_table<'a>(value: &'a Value, known: &[&str]) -> Result<(&'a toml::Table, Kind), String> {
    let Value::Table(table) = value else {
        return Err(in_field("must be a table".into()));
    };
    known_keys(table, known).map_err(in_field)?;
    let kind = Kind::parse(&required(table, "kind").map_err(in_field)?).map_err(in_field)?;
    Ok((table, kind))
}

fn known_keys(table: &toml::Table, known: &[&str]) -> Result<(), String> {
    for key in table.keys() {
        if !known.contains(&key.as_str()) {
            let expected: Vec<String> = known.iter().map(|key| format!("`{key}`")).collect();
            return Err(format!(
                "unknown field `{key}`; expected {}",
                expected.join(", ")
            ));
        }
    }
    Ok(())
}

fn required(table: &toml::Table, field: &str) -> Result<String, String> {
    optional_string(table, field)?.ok_or_else(|| format!("field `{field}`: missing"))
}

fn hex64(table: &toml::Table, field: &str) -> Result<Option<String>, String> {
    match optional_string(table, field)? {
        None => Ok(None),
        Some(text) if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(Some(text.to_ascii_lowercase()))
        }
        Some(text) => Err(format!(
            "field `{field}`: expected 64 hexadecimal characters, {} ({text:?})",
            crate::toolchain::lock::not_hex64(&text).unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod kinds_tests;
#[cfg(test)]
mod tests;
