//! Supply-chain evidence of the GitHub-workflow kinds, checked offline at install from stored
//! proofs: a keyless signature over a checksums file listing every platform's artifact
//! (`cosign-signed-checksums`, as flux publishes), and SLSA provenance whose subjects are the
//! artifacts (`slsa-provenance`, as crane publishes). One stored proof serves every platform;
//! any failure is exit 3 naming the tool, platform, what was required and what was found.

use crate::support::sigstore::{INTEGRATED_AT, ISSUED_AT, LEAF_LIFETIME};
use crate::support::sigstore_dsse::{Body, GITHUB_ACTIONS, Instance, Job, SLSA_BUILDER, statement};
use crate::support::{Kind, Lock, Pin, Server, TestEnv, host_platform, other_platform, sha256_hex};

const TOOL: &str = "fixture-tool";
const VERSION: &str = "1.2.3";
const REPO: &str = "acme/fixture-tool";
const IDENTITY: &str =
    "https://github.com/acme/fixture-tool/.github/workflows/release.yaml@refs/tags/v1.2.3";
const DIR: &str = "toolchain.evidence/fixture-tool/1.2.3";
const GENERIC: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml";

/// A served fixture tool for the host and one other platform, and a throwaway Sigstore whose
/// trusted root is in `OP_SIGSTORE_TRUSTED_ROOT`.
struct Case {
    env: TestEnv,
    _server: Server,
    pin: Pin,
    lock: Lock,
    sigstore: Instance,
}

impl Case {
    fn new() -> Case {
        let pin =
            Pin::fixture(TOOL, VERSION, Kind::TarGz).and_platform(other_platform(), Kind::TarGz);
        let lock = Lock::new(vec![pin.clone()]);
        let (mut env, server) = TestEnv::served(&lock);
        let sigstore = Instance::new();
        let root = env.write_file("trust/trusted_root.json", &sigstore.trusted_root());
        env.set("OP_SIGSTORE_TRUSTED_ROOT", root.display().to_string());
        Case {
            env,
            _server: server,
            pin,
            lock,
            sigstore,
        }
    }

    /// `(file name, sha256)` of every platform's artifact, as upstream lists them.
    fn artifacts(&self) -> Vec<(String, String)> {
        self.pin
            .artifacts
            .iter()
            .map(|artifact| {
                let name = artifact.url.rsplit('/').next().unwrap().to_string();
                (name, artifact.sha256.clone())
            })
            .collect()
    }

    fn host_file(&self) -> String {
        format!("{TOOL}-{}.tar.gz", host_platform())
    }

    /// A checksums file listing `artifacts` and an unrelated file.
    fn checksums(artifacts: &[(String, String)]) -> String {
        let mut text = format!("{}  {TOOL}_{VERSION}_checksums.sbom.json\n", "0".repeat(64));
        for (name, sha256) in artifacts {
            text.push_str(&format!("{sha256}  {name}\n"));
        }
        text
    }

    /// Writes the lock: the tool's `policy` lines and, for every platform, a record of `kind`
    /// whose subject is `subject` (the artifact's sha256 when `None`) plus `extra` lines.
    fn write_lock(&self, kind: &str, policy: &str, subject: Option<&str>, extra: &str) {
        let mut text = format!(
            "{}\n[tools.{TOOL}.evidence]\nkind = \"{kind}\"\n{policy}\n",
            self.lock.text()
        );
        for artifact in &self.pin.artifacts {
            text.push_str(&format!(
                "\n[tools.{TOOL}.platforms.{}.evidence]\nkind = \"{kind}\"\nsubject = \"{}\"\nlog_index = 4242\n{extra}",
                artifact.platform,
                subject.unwrap_or(&artifact.sha256),
            ));
        }
        self.env.write_file("work/toolchain.lock", &text);
    }

    /// Stores `checksums` and `bundle` and records them for every platform.
    fn record_checksums(&self, checksums: &str, bundle: &str) {
        self.env
            .write_file(&format!("work/{DIR}/checksums.txt"), checksums);
        self.env
            .write_file(&format!("work/{DIR}/checksums.sigstore.json"), bundle);
        self.write_lock(
            "cosign-signed-checksums",
            &format!(
                "identity = \"https://github.com/{REPO}/.github/workflows/release.yaml@refs/tags/v{{version}}\"\nissuer = \"{GITHUB_ACTIONS}\""
            ),
            Some(&sha256_hex(checksums.as_bytes())),
            &format!(
                "identity = \"{IDENTITY}\"\nproof = \"{DIR}/checksums.sigstore.json\"\nproof_sha256 = \"{}\"\nchecksums = \"{DIR}/checksums.txt\"\n",
                sha256_hex(bundle.as_bytes())
            ),
        );
    }

    /// Signs the checksums file of every artifact as `job` and records the pair.
    fn sign_checksums(&self, job: &Job) -> (String, String) {
        let checksums = Case::checksums(&self.artifacts());
        let digest = sha256_hex(checksums.as_bytes());
        let bundle = self
            .sigstore
            .blob_bundle(job, checksums.as_bytes(), &digest, None);
        self.record_checksums(&checksums, &bundle);
        (checksums, bundle)
    }

    fn release_job() -> Job {
        Job::new(IDENTITY, REPO, VERSION)
    }

    fn builder_job() -> Job {
        Job::new(SLSA_BUILDER, REPO, VERSION)
    }

    /// Stores `bundle` as the provenance and records it for every platform.
    fn record_provenance(&self, bundle: &str) {
        self.env
            .write_file(&format!("work/{DIR}/provenance.sigstore.json"), bundle);
        self.write_lock(
            "slsa-provenance",
            &format!("source = \"github.com/{REPO}\""),
            None,
            &format!(
                "proof = \"{DIR}/provenance.sigstore.json\"\nproof_sha256 = \"{}\"\n",
                sha256_hex(bundle.as_bytes())
            ),
        );
    }

    /// Provenance of `subjects` built from this case's repository at `v1.2.3`, signed as `job`.
    fn provenance(&self, job: &Job, subjects: &[(String, String)], body: Body) -> String {
        let statement = statement(
            subjects,
            &format!("https://github.com/{REPO}"),
            &format!("refs/tags/v{VERSION}"),
            &job.identity,
        );
        self.sigstore.provenance_bundle(job, &statement, body, None)
    }

    fn prove(&self, job: &Job) -> String {
        let bundle = self.provenance(job, &self.artifacts(), Body::Intoto);
        self.record_provenance(&bundle);
        bundle
    }

    /// `op toolchain install` fails with exit 3 naming the tool, platform, `expected` and
    /// `found`, and installs nothing.
    fn refused(&self, expected: &str, found: &str) {
        self.env
            .op(&["toolchain", "install"])
            .code(3)
            .stderr_has(&format!("{TOOL} {VERSION} ({})", host_platform()))
            .stderr_has("the supply-chain evidence does not hold")
            .stderr_has(&format!("expected: {expected}"))
            .stderr_has(found)
            .stderr_has("nothing was installed");
        self.env.assert_nothing_installed();
    }

    fn refused_checksums(&self, found: &str) {
        self.refused(
            &format!("signer {IDENTITY} issued by {GITHUB_ACTIONS}"),
            found,
        );
    }

    fn refused_provenance(&self, found: &str) {
        self.refused(
            &format!(
                "builder {GENERIC}@refs/tags/v* issued by {GITHUB_ACTIONS}, for source github.com/{REPO} at refs/tags/v{VERSION}"
            ),
            found,
        );
    }

    fn installs_every_platform(&self) {
        self.env.op(&["toolchain", "install"]).success();
        self.env
            .op(&["toolchain", "install", "--platform", other_platform()])
            .success();
        assert_eq!(self.env.installed().len(), 2, "{:?}", self.env.installed());
        self.env.op(&["toolchain", "exec", TOOL]).success();
    }
}

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
