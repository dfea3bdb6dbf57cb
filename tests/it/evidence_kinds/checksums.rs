//! `cosign-signed-checksums`: one signed checksums file proves every platform.

use super::*;

#[test]
fn a_signed_checksums_file_proves_every_platform() {
    let case = Case::new();
    case.sign_checksums(&Case::release_job());
    case.installs_every_platform();
    case.env
        .op(&["toolchain", "verify"])
        .success()
        .stdout_has(&format!("ok      {TOOL} {VERSION}"));
}

#[test]
fn signed_checksums_by_another_signer_or_issuer_are_refused() {
    let evil = "https://github.com/evil/fork/.github/workflows/release.yaml@refs/tags/v1.2.3";
    for job in [
        Job::new(evil, "evil/fork", VERSION),
        Job {
            issuer: "https://accounts.google.com".into(),
            ..Case::release_job()
        },
    ] {
        let case = Case::new();
        case.sign_checksums(&job);
        case.refused_checksums(&format!(
            "found signer {} issued by {}",
            job.identity, job.issuer
        ));
    }
}

#[test]
fn signed_checksums_from_an_untrusted_or_expired_certificate_are_refused() {
    let case = Case::new();
    let checksums = Case::checksums(&case.artifacts());
    let digest = sha256_hex(checksums.as_bytes());
    let rogue = Instance::named("rogue Fulcio");
    let bundle = case.sigstore.blob_bundle(
        &Case::release_job(),
        checksums.as_bytes(),
        &digest,
        Some(&rogue),
    );
    case.record_checksums(&checksums, &bundle);
    case.refused_checksums("does not chain to a certificate authority of");

    let late = ISSUED_AT + LEAF_LIFETIME + 60;
    let job = Job {
        integrated_time: late,
        ..Case::release_job()
    };
    case.sign_checksums(&job);
    case.refused_checksums(&format!("not valid at the entry's integrated time {late}"));
}

#[test]
fn a_signature_over_another_file_is_refused() {
    let case = Case::new();
    let checksums = Case::checksums(&case.artifacts());
    let other = b"another release's checksums\n";
    let bundle = case
        .sigstore
        .blob_bundle(&Case::release_job(), other, &sha256_hex(other), None);
    case.record_checksums(&checksums, &bundle);
    case.refused_checksums(&format!(
        "the signature is over SHA2_256 {}",
        sha256_hex(other)
    ));

    // The digest claimed is the file's, the signature is over other bytes.
    let bundle = case.sigstore.blob_bundle(
        &Case::release_job(),
        other,
        &sha256_hex(checksums.as_bytes()),
        None,
    );
    case.record_checksums(&checksums, &bundle);
    case.refused_checksums("the signature does not verify over sha256");
}

#[test]
fn an_artifact_the_signed_checksums_file_does_not_list_is_refused() {
    let case = Case::new();
    let others: Vec<_> = case
        .artifacts()
        .into_iter()
        .filter(|(name, _)| *name != case.host_file())
        .collect();
    let checksums = Case::checksums(&others);
    let bundle = case.sigstore.blob_bundle(
        &Case::release_job(),
        checksums.as_bytes(),
        &sha256_hex(checksums.as_bytes()),
        None,
    );
    case.record_checksums(&checksums, &bundle);
    case.refused_checksums(&format!(
        "the signed checksums file does not list {}",
        case.host_file()
    ));
    // The other platform is listed: it installs.
    case.env
        .op(&["toolchain", "install", "--platform", other_platform()])
        .success();
}

#[test]
fn a_changed_stored_checksums_file_or_bundle_is_refused() {
    let case = Case::new();
    let (checksums, bundle) = case.sign_checksums(&Case::release_job());
    let stored = case.env.work().join(DIR).join("checksums.txt");
    let forged = checksums.replace(&case.pin.artifact().sha256, &"f".repeat(64));
    std::fs::write(&stored, &forged).unwrap();
    case.refused_checksums("checksums.txt has sha256");
    case.refused_checksums("(it was changed or replaced)");

    // A forged file recorded as the subject: the signature is over the genuine one.
    let digest = sha256_hex(checksums.as_bytes());
    case.record_checksums(&forged, &bundle);
    case.refused_checksums(&format!("the signature is over SHA2_256 {digest}"));

    // A bundle changed and recorded with its new digest: the log's timestamp no longer holds.
    case.record_checksums(&checksums, &bundle.replace("\"4242\"", "\"4243\""));
    case.refused_checksums("the signed entry timestamp of entry 4243 does not verify");
}

#[test]
fn verify_reports_a_signed_checksums_file_changed_after_install() {
    let case = Case::new();
    case.sign_checksums(&Case::release_job());
    case.env.op(&["toolchain", "install"]).success();
    std::fs::write(case.env.work().join(DIR).join("checksums.txt"), "changed\n").unwrap();
    case.env
        .op(&["toolchain", "verify"])
        .code(3)
        .stdout_has(&format!("BAD     {TOOL} {VERSION}"))
        .stderr_has(&format!("{TOOL} {VERSION} ({})", host_platform()))
        .stderr_has(&format!(
            "expected: signer {IDENTITY} issued by {GITHUB_ACTIONS}"
        ))
        .stderr_has("checksums.txt has sha256");
}

#[test]
fn mirror_export_carries_the_signed_checksums_and_an_offline_install_checks_them() {
    let mut case = Case::new();
    let (checksums, bundle) = case.sign_checksums(&Case::release_job());
    let dir = case.env.root().join("mirror");
    let dir_arg = dir.to_str().unwrap().to_string();
    case.env
        .op(&["toolchain", "mirror", &dir_arg, "--all-platforms"])
        .success();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("op-mirror.json")).unwrap()).unwrap();
    let entries = manifest["artifacts"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for entry in entries {
        let path = entry["path"].as_str().unwrap();
        assert_eq!(entry["proof"], format!("{path}.sigstore.json"));
        assert_eq!(entry["checksums"], format!("{path}.checksums.txt"));
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("{path}.checksums.txt"))).unwrap(),
            checksums
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("{path}.sigstore.json"))).unwrap(),
            bundle
        );
    }
    case.env
        .op(&["toolchain", "mirror", "verify", &dir_arg])
        .success();

    // Offline from the mirror: the proof is checked with no network at all.
    case.env
        .mirror(format!("file://{}", dir.display()))
        .set("OP_OFFLINE", "1");
    case.installs_every_platform();

    let copy = dir.join(format!(
        "{}.checksums.txt",
        entries[0]["path"].as_str().unwrap()
    ));
    std::fs::write(&copy, "changed\n").unwrap();
    case.env
        .op(&["toolchain", "mirror", "verify", &dir_arg])
        .code(3)
        .stderr_has(".checksums.txt has sha256")
        .stderr_has(&sha256_hex(checksums.as_bytes()));
}
