//! `cosign-signed-checksums`: a keyless signature over a checksums file (goreleaser `signs:`),
//! and the file listing every artifact's SHA-256. One stored pair serves every platform of a
//! version: the bundle verifies over the file's digest, the stored file is the one the lock
//! records (`subject`), and it lists the pinned digest on the line naming the artifact.

use sha2::{Digest as _, Sha256};

use super::check::{Verified, check_bundle};
use super::trust::TrustedRoot;
use super::{Policy, Record, bundle};
use crate::toolchain::lock::Artifact;

/// Verifies a cosign bundle over `checksums` against `policy`'s signer, and that `checksums`
/// lists `artifact_sha256` for `file_name`. `Err` says what was found.
pub fn verify_signed_checksums(
    bundle_bytes: &[u8],
    checksums: &[u8],
    file_name: &str,
    artifact_sha256: &str,
    policy: &Policy,
    root: &TrustedRoot,
) -> Result<Verified, String> {
    let bundle = bundle::parse(bundle_bytes)?;
    let subject = crate::hex::encode(Sha256::digest(checksums));
    let verified = check_bundle(&bundle, &subject, policy, root)?;
    let listed = listed_digest(checksums, file_name)?;
    if listed != artifact_sha256 {
        return Err(format!(
            "the signed checksums file lists {file_name} with sha256 {listed}, the lock pins {artifact_sha256}"
        ));
    }
    Ok(verified)
}

/// The SHA-256 a checksums file (`<hex>  <name>` or `<hex> *<name>` lines) lists for `name`.
pub fn listed_digest(checksums: &[u8], name: &str) -> Result<String, String> {
    let text = std::str::from_utf8(checksums)
        .map_err(|_| "the signed checksums file is not UTF-8 text".to_string())?;
    let mut found: Option<String> = None;
    for line in text.lines() {
        let Some((digest, rest)) = line.trim_end_matches('\r').split_once([' ', '\t']) else {
            continue;
        };
        let listed = rest.trim_start_matches([' ', '\t']);
        let listed = listed.strip_prefix('*').unwrap_or(listed);
        if listed != name {
            continue;
        }
        if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "the signed checksums file lists {name} with {digest:?}, which is not a SHA-256"
            ));
        }
        let digest = digest.to_ascii_lowercase();
        match &found {
            Some(earlier) if *earlier != digest => {
                return Err(format!(
                    "the signed checksums file lists {name} twice, with sha256 {earlier} and {digest}"
                ));
            }
            _ => found = Some(digest),
        }
    }
    found.ok_or_else(|| format!("the signed checksums file does not list {name}"))
}

/// The file name the checksums file or provenance names the artifact by: the record's `name`,
/// else the last path segment of its URL.
pub(super) fn artifact_name(artifact: &Artifact, record: &Record) -> String {
    if let Some(name) = &record.name {
        return name.clone();
    }
    let path = artifact.url.split(['?', '#']).next().unwrap_or_default();
    path.rsplit('/').next().unwrap_or_default().to_string()
}

/// The check at install of a stored pair: `bundle_bytes` (already matched to `proof_sha256`)
/// and the checksums file the record names.
pub(super) fn check_stored(
    bundle_bytes: &[u8],
    artifact: &Artifact,
    record: &Record,
    root: &TrustedRoot,
) -> Result<Verified, String> {
    let policy = record.policy.as_ref().ok_or("the record has no policy")?;
    let stored = record
        .checksums
        .as_ref()
        .ok_or("the lock names no stored checksums file (`checksums`) for the bundle to sign")?;
    let checksums = stored.read().map_err(|reason| {
        format!(
            "the signed checksums file {} cannot be read: {reason}",
            stored.location()
        )
    })?;
    let found = crate::hex::encode(Sha256::digest(&checksums));
    if found != record.subject {
        return Err(format!(
            "the checksums file {} has sha256 {found}, the lock records subject {} (it was changed or replaced)",
            stored.location(),
            record.subject
        ));
    }
    let name = artifact_name(artifact, record);
    verify_signed_checksums(
        bundle_bytes,
        &checksums,
        &name,
        &artifact.sha256,
        policy,
        root,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn the_line_naming_the_file_gives_its_digest() {
        let text = format!(
            "{B}  flux_2.7.0_darwin_arm64.tar.gz\n{}  flux_2.7.0_linux_amd64.tar.gz\r\n{B} *flux_2.7.0_windows_amd64.zip\n",
            A.to_uppercase()
        );
        assert_eq!(
            listed_digest(text.as_bytes(), "flux_2.7.0_linux_amd64.tar.gz").unwrap(),
            A
        );
        assert_eq!(
            listed_digest(text.as_bytes(), "flux_2.7.0_windows_amd64.zip").unwrap(),
            B
        );
    }

    #[test]
    fn a_name_missing_listed_twice_or_with_a_bad_digest_is_an_error() {
        let text = format!("{A}  x.tar.gz\n{A}  x.tar.gz.sbom\n");
        assert!(
            listed_digest(text.as_bytes(), "x")
                .unwrap_err()
                .contains("does not list x")
        );
        let twice = format!("{A}  x\n{B}  x\n");
        assert!(
            listed_digest(twice.as_bytes(), "x")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            listed_digest(b"abc  x\n", "x")
                .unwrap_err()
                .contains("not a SHA-256")
        );
        assert!(
            listed_digest(&[0xff, 0xfe], "x")
                .unwrap_err()
                .contains("UTF-8")
        );
    }
}
