//! `slsa-provenance`: one DSSE-signed in-toto statement proves every platform.

use super::*;

#[test]
fn provenance_proves_every_platform_and_either_log_entry_kind_is_accepted() {
    let case = Case::new();
    case.prove(&Case::builder_job());
    case.installs_every_platform();
    case.env
        .op(&["toolchain", "verify"])
        .success()
        .stdout_has(&format!("ok      {TOOL} {VERSION}"));

    let case = Case::new();
    let bundle = case.provenance(&Case::builder_job(), &case.artifacts(), Body::Dsse);
    case.record_provenance(&bundle);
    case.installs_every_platform();
}

#[test]
fn provenance_from_another_builder_or_issuer_is_refused() {
    let fork = "https://github.com/evil/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.1.0";
    let branch = format!("{GENERIC}@refs/heads/main");
    for job in [
        Job::new(fork, REPO, VERSION),
        Job::new(&branch, REPO, VERSION),
        Job {
            issuer: "https://accounts.google.com".into(),
            ..Case::builder_job()
        },
    ] {
        let case = Case::new();
        case.prove(&job);
        case.refused_provenance(&format!(
            "found builder {} issued by {}",
            job.identity, job.issuer
        ));
    }
}

#[test]
fn provenance_of_another_source_repository_or_tag_is_refused() {
    let case = Case::new();
    let job = Job {
        source: "https://github.com/evil/fork".into(),
        ..Case::builder_job()
    };
    case.prove(&job);
    case.refused_provenance(
        "the certificate is for source github.com/evil/fork at refs/tags/v1.2.3",
    );

    let job = Job {
        source_ref: "refs/tags/v1.2.4".into(),
        ..Case::builder_job()
    };
    case.prove(&job);
    case.refused_provenance(&format!(
        "the certificate is for source github.com/{REPO} at refs/tags/v1.2.4"
    ));

    // The certificate is right, the predicate names another ref.
    let statement = statement(
        &case.artifacts(),
        &format!("https://github.com/{REPO}"),
        "refs/heads/main",
        SLSA_BUILDER,
    );
    let bundle =
        case.sigstore
            .provenance_bundle(&Case::builder_job(), &statement, Body::Intoto, None);
    case.record_provenance(&bundle);
    case.refused_provenance(&format!(
        "the provenance is for source github.com/{REPO} at refs/heads/main"
    ));
}

#[test]
fn provenance_from_an_untrusted_or_expired_certificate_is_refused() {
    let case = Case::new();
    let statement = statement(
        &case.artifacts(),
        &format!("https://github.com/{REPO}"),
        &format!("refs/tags/v{VERSION}"),
        SLSA_BUILDER,
    );
    let rogue = Instance::named("rogue Fulcio");
    let bundle = case.sigstore.provenance_bundle(
        &Case::builder_job(),
        &statement,
        Body::Intoto,
        Some(&rogue),
    );
    case.record_provenance(&bundle);
    case.refused_provenance("does not chain to a certificate authority of");

    let late = ISSUED_AT + LEAF_LIFETIME + 60;
    case.prove(&Job {
        integrated_time: late,
        ..Case::builder_job()
    });
    case.refused_provenance(&format!("not valid at the entry's integrated time {late}"));

    // Signed by another log than the trusted root names.
    let bundle =
        Instance::new().provenance_bundle(&Case::builder_job(), &statement, Body::Intoto, None);
    case.record_provenance(&bundle);
    case.refused_provenance("does not trust");
}

#[test]
fn provenance_without_the_artifact_as_a_subject_is_refused() {
    let case = Case::new();
    let others: Vec<_> = case
        .artifacts()
        .into_iter()
        .filter(|(name, _)| *name != case.host_file())
        .collect();
    let bundle = case.provenance(&Case::builder_job(), &others, Body::Intoto);
    case.record_provenance(&bundle);
    case.refused_provenance(&format!(
        "the provenance has no subject {}",
        case.host_file()
    ));

    let mut renamed = case.artifacts();
    for (name, sha256) in &mut renamed {
        if *name == case.host_file() {
            *sha256 = "e".repeat(64);
        }
    }
    let bundle = case.provenance(&Case::builder_job(), &renamed, Body::Intoto);
    case.record_provenance(&bundle);
    case.refused_provenance(&format!(
        "the provenance's subject {} has sha256 {}",
        case.host_file(),
        "e".repeat(64)
    ));
}

#[test]
fn a_changed_provenance_bundle_is_refused() {
    use base64::Engine as _;
    let case = Case::new();
    let bundle = case.prove(&Case::builder_job());
    // Another statement in the envelope, recorded with the bundle's new digest.
    let mut json: serde_json::Value = serde_json::from_str(&bundle).unwrap();
    let mut forged = case.artifacts();
    forged.push(("extra".into(), "d".repeat(64)));
    let payload = statement(
        &forged,
        &format!("https://github.com/{REPO}"),
        &format!("refs/tags/v{VERSION}"),
        SLSA_BUILDER,
    );
    json["dsseEnvelope"]["payload"] = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&payload).unwrap())
        .into();
    case.record_provenance(&serde_json::to_string(&json).unwrap());
    case.refused_provenance("the DSSE envelope's signature does not verify");

    // The log entry's time forged: the log's signed entry timestamp no longer holds.
    let forged_time = INTEGRATED_AT + 1;
    case.record_provenance(&bundle.replace(
        &format!("\"{INTEGRATED_AT}\""),
        &format!("\"{forged_time}\""),
    ));
    case.refused_provenance("the signed entry timestamp of entry 4242 does not verify");

    // Changed without updating the lock: the proof's digest is wrong.
    case.record_provenance(&bundle);
    std::fs::write(
        case.env.work().join(DIR).join("provenance.sigstore.json"),
        "{}",
    )
    .unwrap();
    case.refused_provenance("the proof file has sha256");
}

#[test]
fn verify_and_mirror_report_a_provenance_bundle_changed_after_install() {
    let case = Case::new();
    let bundle = case.prove(&Case::builder_job());
    case.env.op(&["toolchain", "install"]).success();
    let dir = case.env.root().join("mirror");
    let dir_arg = dir.to_str().unwrap();
    case.env.op(&["toolchain", "mirror", dir_arg]).success();
    std::fs::write(
        case.env.work().join(DIR).join("provenance.sigstore.json"),
        "{}",
    )
    .unwrap();
    case.env
        .op(&["toolchain", "verify"])
        .code(3)
        .stdout_has(&format!("BAD     {TOOL} {VERSION}"))
        .stderr_has(&format!("{TOOL} {VERSION} ({})", host_platform()))
        .stderr_has(&format!(
            "for source github.com/{REPO} at refs/tags/v{VERSION}"
        ))
        .stderr_has("the proof file has sha256");
    // The mirror copy was taken before the change and is still the recorded one.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("op-mirror.json")).unwrap()).unwrap();
    for entry in manifest["artifacts"].as_array().unwrap() {
        assert!(entry.get("checksums").is_none(), "{entry}");
        let proof = dir.join(entry["proof"].as_str().unwrap());
        assert_eq!(std::fs::read_to_string(proof).unwrap(), bundle);
    }
    case.env
        .op(&["toolchain", "mirror", "verify", dir_arg])
        .success();
}
