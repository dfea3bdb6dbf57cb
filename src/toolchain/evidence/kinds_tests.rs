//! The record fields of the signed-checksums and provenance kinds.

use std::path::Path;

use super::*;
use crate::toolchain::lock::{Lock, Origin};

const SHA: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const SUM: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const BUNDLE: &str = "3333333333333333333333333333333333333333333333333333333333333333";

fn lock_with(policy: &str, record: &str) -> String {
    format!(
        "schema = 1\n[tools.demo]\nversion = \"1.0.0\"\n[tools.demo.platforms.linux-amd64]\nurl = \"https://example.com/v1.0.0/demo_linux_amd64.tar.gz\"\nsha256 = \"{SHA}\"\narchive = \"tar.gz\"\nbin = \"demo\"\n[tools.demo.evidence]\n{policy}\n[tools.demo.platforms.linux-amd64.evidence]\n{record}\n"
    )
}

const CHECKSUMS_POLICY: &str = "kind = \"cosign-signed-checksums\"\nidentity = \"https://github.com/acme/demo/.github/workflows/release.yaml@refs/tags/v{version}\"\nissuer = \"https://token.actions.githubusercontent.com\"";
const PROVENANCE_POLICY: &str = "kind = \"slsa-provenance\"\nsource = \"github.com/acme/demo\"";

fn checksums_record(extra: &str) -> String {
    format!("kind = \"cosign-signed-checksums\"\nsubject = \"{SUM}\"\n{extra}")
}

fn stored(extra: &str) -> String {
    checksums_record(&format!(
        "proof = \"toolchain.evidence/demo/1.0.0/checksums.sigstore.json\"\nproof_sha256 = \"{BUNDLE}\"\n{extra}"
    ))
}

fn error_of(policy: &str, record: &str) -> String {
    Lock::parse(
        &lock_with(policy, record),
        Origin::File("dir/t.lock".into()),
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn a_signed_checksums_record_names_the_file_whose_digest_is_the_subject() {
    let (checksums, bundle) = checksums_paths("demo", "1.0.0");
    assert_eq!(
        bundle,
        "toolchain.evidence/demo/1.0.0/checksums.sigstore.json"
    );
    let text = lock_with(
        CHECKSUMS_POLICY,
        &stored(&format!(
            "checksums = \"{checksums}\"\nname = \"demo.tgz\"\n"
        )),
    );
    let lock = Lock::parse(&text, Origin::File("/repo/toolchain.lock".into())).unwrap();
    let record = lock.tool("demo").unwrap().platforms["linux-amd64"]
        .evidence
        .clone()
        .unwrap();
    let file = record.checksums.unwrap();
    assert_eq!(file.sha256, SUM);
    assert_eq!(
        file.location(),
        Path::new("/repo")
            .join("toolchain.evidence/demo/1.0.0/checksums.txt")
            .display()
            .to_string()
    );
    assert_eq!(record.name.as_deref(), Some("demo.tgz"));
}

#[test]
fn a_provenance_policy_requires_the_version_tag_unless_it_names_one() {
    let record = format!("kind = \"slsa-provenance\"\nsubject = \"{SHA}\"\n");
    let lock = Lock::parse(&lock_with(PROVENANCE_POLICY, &record), Origin::Embedded).unwrap();
    let policy = lock.tool("demo").unwrap().evidence.clone().unwrap();
    assert_eq!(policy.tag.as_deref(), Some("v1.0.0"));
    assert_eq!(
        provenance_path("demo", "1.0.0"),
        "toolchain.evidence/demo/1.0.0/provenance.sigstore.json"
    );
}

#[test]
fn record_fields_of_the_wrong_kind_or_missing_their_pair_are_errors() {
    let blob_policy = "kind = \"cosign-keyless-blob\"\nidentity = \"x\"\nissuer = \"y\"";
    let blob = format!("kind = \"cosign-keyless-blob\"\nsubject = \"{SHA}\"\n");
    for (policy, record, message) in [
        (CHECKSUMS_POLICY, stored(""), "field `checksums`: missing"),
        (
            CHECKSUMS_POLICY,
            checksums_record("checksums = \"c.txt\"\n"),
            "field `proof`: missing",
        ),
        (
            CHECKSUMS_POLICY,
            stored("checksums = \"../c.txt\"\n"),
            "without `..`",
        ),
        (
            CHECKSUMS_POLICY,
            stored("checksums = \"c.txt\"\nname = \"a/b\"\n"),
            "field `name`: must be a file name",
        ),
        (
            blob_policy,
            format!("{blob}checksums = \"c.txt\"\n"),
            "field `checksums`: kind \"cosign-keyless-blob\" does not use it",
        ),
        (
            blob_policy,
            format!("{blob}name = \"demo\"\n"),
            "field `name`: kind \"cosign-keyless-blob\" does not use it",
        ),
        (
            PROVENANCE_POLICY,
            format!("kind = \"slsa-provenance\"\nsubject = \"{SUM}\"\n"),
            "is not the artifact's sha256",
        ),
    ] {
        let error = error_of(policy, &record);
        for part in ["tool `demo`", "platform `linux-amd64`", message] {
            assert!(error.contains(part), "{part} missing from {error}");
        }
    }
}
