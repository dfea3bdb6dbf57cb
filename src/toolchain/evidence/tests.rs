use std::path::Path;

use super::*;
use crate::toolchain::lock::{EMBEDDED, Lock, Origin};

const SHA: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn lock_with(evidence: &str) -> String {
    format!(
        r#"schema = 1
[tools.demo]
version = "1.0.0"
[tools.demo.platforms.linux-amd64]
url = "https://example.com/demo"
sha256 = "{SHA}"
archive = "raw"
{evidence}"#
    )
}

const POLICY: &str = r#"
[tools.demo.evidence]
kind = "cosign-keyless-blob"
identity = "https://github.com/acme/demo/.github/workflows/release.yaml@refs/tags/v{version}"
issuer = "https://token.actions.githubusercontent.com"
"#;

fn record(extra: &str) -> String {
    format!(
        "{POLICY}\n[tools.demo.platforms.linux-amd64.evidence]\nkind = \"cosign-keyless-blob\"\nsubject = \"{SHA}\"\n{extra}"
    )
}

fn error_of(evidence: &str) -> String {
    Lock::parse(&lock_with(evidence), Origin::File("dir/t.lock".into()))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_policy_and_a_record_parse_and_the_proof_is_relative_to_the_lock() {
    let text = lock_with(&record(
        "identity = \"https://github.com/acme/demo/.github/workflows/release.yaml@refs/tags/v1.0.0\"\nlog_index = 7\nintegrated_time = 1700000000\nproof = \"toolchain.evidence/demo/1.0.0/linux-amd64.sigstore.json\"\nproof_sha256 = \"2222222222222222222222222222222222222222222222222222222222222222\"\n",
    ));
    let lock = Lock::parse(&text, Origin::File("/repo/toolchain.lock".into())).unwrap();
    let tool = lock.tool("demo").unwrap();
    let policy = tool.evidence.as_ref().unwrap();
    assert_eq!(
        policy.identity.as_deref(),
        Some("https://github.com/acme/demo/.github/workflows/release.yaml@refs/tags/v1.0.0")
    );
    let record = tool.platforms["linux-amd64"].evidence.as_ref().unwrap();
    assert_eq!(record.policy.as_ref(), Some(policy));
    assert_eq!(
        (record.log_index, record.integrated_time),
        (Some(7), Some(1_700_000_000))
    );
    let proof = record.proof.as_ref().unwrap();
    assert_eq!(proof.path, proof_path("demo", "1.0.0", "linux-amd64"));
    assert_eq!(
        proof.location(),
        Path::new("/repo")
            .join("toolchain.evidence/demo/1.0.0/linux-amd64.sigstore.json")
            .display()
            .to_string()
    );
}

#[test]
fn policy_errors_name_the_tool_and_field() {
    for (policy, message) in [
        ("kind = \"pgp\"", "unknown kind \"pgp\""),
        (
            "kind = \"cosign-keyless-blob\"\nissuer = \"x\"",
            "field `identity`: missing",
        ),
        (
            "kind = \"cosign-keyless-blob\"\nidentity = \"x\"\nissuer = \"y\"\nsource = \"z\"",
            "does not use it",
        ),
        ("kind = \"slsa-provenance\"", "field `source`: missing"),
        (
            "kind = \"digest-agreement\"",
            "at least two `checksums` sources",
        ),
        (
            "kind = \"cosign-keyless-blob\"\nidentity = \"x\"\nissuer = \"y\"\nsigner = \"z\"",
            "unknown field `signer`",
        ),
        (
            "kind = \"cosign-keyless-blob\"\nidentity = \"\"\nissuer = \"y\"",
            "must not be empty",
        ),
    ] {
        let error = error_of(&format!("[tools.demo.evidence]\n{policy}\n"));
        for part in ["dir/t.lock", "tool `demo`", "evidence", message] {
            assert!(
                error.contains(part),
                "{policy}: {part} missing from {error}"
            );
        }
    }
}

#[test]
fn record_errors_name_the_platform_and_field() {
    for (evidence, message) in [
        (record("proof = \"p.json\"\n"), "`proof_sha256`: missing"),
        (
            record(&format!(
                "proof = \"../p.json\"\nproof_sha256 = \"{SHA}\"\n"
            )),
            "without `..`",
        ),
        (record("log_index = -1\n"), "non-negative integer"),
        (record("tlog = 1\n"), "unknown field `tlog`"),
        (
            record("identity = \"someone else\"\n"),
            "is not the policy's",
        ),
        (
            record("").replace(
                &format!("subject = \"{SHA}\""),
                &format!("subject = \"{}\"", "3".repeat(64)),
            ),
            "is not the artifact's sha256",
        ),
        (
            record("").replace(POLICY, ""),
            "declares no evidence policy",
        ),
        (
            record("").replace(
                "kind = \"cosign-keyless-blob\"\nsubject",
                "kind = \"slsa-provenance\"\nsubject",
            ),
            "differs from the tool's policy",
        ),
    ] {
        let error = error_of(&evidence);
        for part in ["tool `demo`", "platform `linux-amd64`", "evidence", message] {
            assert!(error.contains(part), "{part} missing from {error}");
        }
    }
}

#[test]
fn the_embedded_lock_carries_policies_for_the_signed_tools() {
    let lock = Lock::parse(EMBEDDED, Origin::Embedded).unwrap();
    let kind = |name: &str| {
        lock.tool(name)
            .unwrap()
            .evidence
            .as_ref()
            .map(|policy| policy.kind)
    };
    assert_eq!(kind("kubectl"), Some(Kind::CosignKeylessBlob));
    assert_eq!(kind("flux"), Some(Kind::CosignSignedChecksums));
    assert_eq!(kind("crane"), Some(Kind::SlsaProvenance));
    let flux = lock.tool("flux").unwrap();
    assert_eq!(
        flux.evidence.as_ref().unwrap().identity.as_deref(),
        Some(
            format!(
                "https://github.com/fluxcd/flux2/.github/workflows/release.yaml@refs/tags/v{}",
                flux.version
            )
            .as_str()
        )
    );
    // Every embedded proof the lock names is compiled in.
    for tool in &lock.tools {
        for record in tool
            .platforms
            .values()
            .filter_map(|artifact| artifact.evidence.as_ref())
        {
            if let Some(proof) = &record.proof {
                assert!(proof.read().is_ok(), "{}", proof.path);
            }
        }
    }
}

#[test]
fn every_file_of_toolchain_evidence_is_compiled_in_as_it_is() {
    fn walk(dir: &std::path::Path, root: &std::path::Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(&entry.path(), root, found);
            } else if kind.is_file() {
                let relative = entry.path().strip_prefix(root).unwrap().to_path_buf();
                let key: Vec<String> = relative
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy().into_owned())
                    .collect();
                found.push((
                    key.join("/"),
                    std::fs::read_to_string(entry.path()).unwrap(),
                ));
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut on_disk = Vec::new();
    walk(&root.join("toolchain.evidence"), root, &mut on_disk);
    on_disk.sort();
    let mut embedded: Vec<(String, String)> = super::EMBEDDED_PROOFS
        .iter()
        .map(|(path, text)| (path.to_string(), text.to_string()))
        .collect();
    embedded.sort();
    assert!(
        on_disk
            .iter()
            .any(|(path, _)| path == "toolchain.evidence/README.md"),
        "{on_disk:?}"
    );
    assert_eq!(embedded, on_disk);
}
