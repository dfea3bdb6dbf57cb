//! Supply-chain evidence at install: a stored Sigstore bundle is checked offline against the
//! lock's policy and a trusted root (a throwaway Sigstore of the tests' own); any failure is
//! exit 3 naming the tool, platform and the signer required, and nothing is installed.

use crate::support::sigstore::{
    Authority, INTEGRATED_AT, ISSUED_AT, LEAF_LIFETIME, Signing, Sigstore,
};
use crate::support::{Kind, Lock, Pin, Server, TestEnv, host_platform, sha256_hex};

const IDENTITY: &str =
    "https://github.com/acme/fixture-tool/.github/workflows/release.yaml@refs/tags/v1.2.3";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// A served fixture tool whose lock requires a keyless blob signature by [`IDENTITY`], and
/// the trusted root of `sigstore` in `OP_SIGSTORE_TRUSTED_ROOT`.
struct Case {
    env: TestEnv,
    _server: Server,
    pin: Pin,
    lock: Lock,
    sigstore: Sigstore,
}

impl Case {
    fn new() -> Case {
        let pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
        let lock = Lock::new(vec![pin.clone()]);
        let (mut env, server) = TestEnv::served(&lock);
        let sigstore = Sigstore::new();
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

    fn artifact(&self) -> &[u8] {
        &self.pin.artifact().body
    }

    fn proof_relative(&self) -> String {
        format!(
            "toolchain.evidence/fixture-tool/1.2.3/{}.sigstore.json",
            host_platform()
        )
    }

    /// Stores `bundle` as the proof and writes the lock recording it (log entry 4242 at
    /// `integrated_time`).
    fn record(&self, bundle: &str, integrated_time: u64) {
        let proof = self.proof_relative();
        self.env.write_file(&format!("work/{proof}"), bundle);
        let text = format!(
            "{}\n[tools.fixture-tool.evidence]\nkind = \"cosign-keyless-blob\"\n\
             identity = \"https://github.com/acme/fixture-tool/.github/workflows/release.yaml@refs/tags/v{{version}}\"\n\
             issuer = \"{ISSUER}\"\n\n\
             [tools.fixture-tool.platforms.{}.evidence]\nkind = \"cosign-keyless-blob\"\n\
             subject = \"{}\"\nidentity = \"{IDENTITY}\"\nlog_index = 4242\nintegrated_time = {integrated_time}\n\
             proof = \"{proof}\"\nproof_sha256 = \"{}\"\n",
            self.lock.text(),
            host_platform(),
            self.pin.artifact().sha256,
            sha256_hex(bundle.as_bytes()),
        );
        self.env.write_file("work/toolchain.lock", &text);
    }

    /// The genuine signing: this case's artifact signed by [`IDENTITY`] issued by [`ISSUER`].
    fn genuine(&self) -> Signing<'_> {
        Signing::of(self.artifact(), IDENTITY, ISSUER)
    }

    /// Stores a bundle of `signing` (leaf issued by `authority`, this case's own unless given) and
    /// records it at the signing's integrated time; returns the bundle.
    fn sign_and_record(&self, signing: &Signing<'_>, authority: Option<&Authority>) -> String {
        let bundle = self.sigstore.bundle(signing, authority);
        self.record(&bundle, signing.integrated_time);
        bundle
    }

    /// `op toolchain install` fails with exit 3 saying what the evidence lacks, and installs
    /// nothing.
    fn refused(&self, found: &str) {
        self.env
            .op(&["toolchain", "install"])
            .code(3)
            .stderr_has("fixture-tool 1.2.3")
            .stderr_has(host_platform())
            .stderr_has(&format!("expected: signer {IDENTITY} issued by {ISSUER}"))
            .stderr_has(found)
            .stderr_has("nothing was installed");
        self.env.assert_nothing_installed();
    }
}

#[test]
fn a_valid_stored_proof_installs_and_the_warm_path_does_not_read_it_again() {
    let case = Case::new();
    case.sign_and_record(&case.genuine(), None);
    case.env.op(&["toolchain", "install"]).success();
    assert_eq!(case.env.installed().len(), 1, "{:?}", case.env.installed());
    // Verified at install, not at every run: the installed tool runs without the proof.
    std::fs::remove_file(case.env.work().join(case.proof_relative())).unwrap();
    case.env.op(&["toolchain", "install"]).success();
    case.env
        .op(&["toolchain", "exec", "fixture-tool"])
        .success();
}

/// A bundle of the artifact signed by `identity` with a certificate issued by `issuer` is
/// refused, the message naming the signer it found.
fn refused_signer(identity: &str, issuer: &str) {
    let case = Case::new();
    case.sign_and_record(&Signing::of(case.artifact(), identity, issuer), None);
    case.refused(&format!("found signer {identity} issued by {issuer}"));
}

#[test]
fn another_signer_is_refused() {
    let evil = "https://github.com/evil/fork/.github/workflows/release.yaml@refs/tags/v1.2.3";
    refused_signer(evil, ISSUER);
}

#[test]
fn another_oidc_issuer_is_refused() {
    refused_signer(IDENTITY, "https://accounts.google.com");
}

#[test]
fn a_certificate_from_an_untrusted_authority_is_refused() {
    let case = Case::new();
    let rogue = Authority::new("rogue Fulcio");
    case.sign_and_record(&case.genuine(), Some(&rogue));
    case.refused("does not chain to a certificate authority of");
}

#[test]
fn a_certificate_expired_at_the_integrated_time_is_refused() {
    let case = Case::new();
    let late = ISSUED_AT + LEAF_LIFETIME + 60;
    let signing = Signing {
        integrated_time: late,
        ..case.genuine()
    };
    case.sign_and_record(&signing, None);
    case.refused(&format!("not valid at the entry's integrated time {late}"));
}

#[test]
fn a_signature_over_other_bytes_is_refused() {
    let case = Case::new();
    let signing = Signing {
        signed: b"some other release",
        ..case.genuine()
    };
    case.sign_and_record(&signing, None);
    case.refused("the signature does not verify over sha256");
}

#[test]
fn a_bundle_for_another_digest_is_refused() {
    let case = Case::new();
    let other = b"some other release";
    case.sign_and_record(&Signing::of(other, IDENTITY, ISSUER), None);
    case.refused(&format!(
        "the signature is over SHA2_256 {}",
        sha256_hex(other)
    ));
}

#[test]
fn a_changed_proof_file_is_refused() {
    let case = Case::new();
    let bundle = case.sign_and_record(&case.genuine(), None);
    let path = case.env.work().join(case.proof_relative());
    std::fs::write(&path, bundle.replace("4242", "4243")).unwrap();
    case.refused("the proof file has sha256");
}

#[test]
fn a_missing_proof_file_is_refused() {
    let case = Case::new();
    case.sign_and_record(&case.genuine(), None);
    std::fs::remove_file(case.env.work().join(case.proof_relative())).unwrap();
    case.refused("the proof cannot be read");
}

#[test]
fn a_forged_log_entry_time_fails_the_log_signature() {
    let case = Case::new();
    let bundle = case.sigstore.bundle(&case.genuine(), None);
    let forged_time = INTEGRATED_AT + 1;
    let forged = bundle.replace(
        &format!("\"{INTEGRATED_AT}\""),
        &format!("\"{forged_time}\""),
    );
    assert_ne!(forged, bundle);
    case.record(&forged, forged_time);
    case.refused("the signed entry timestamp of entry 4242 does not verify");
}

#[test]
fn an_entry_from_an_untrusted_log_is_refused() {
    let case = Case::new();
    let other = Sigstore::new();
    let bundle = other.bundle(&case.genuine(), None);
    case.record(&bundle, INTEGRATED_AT);
    case.refused("does not trust");
}

#[test]
fn verify_rechecks_the_stored_proof_of_an_installed_tool() {
    let case = Case::new();
    let bundle = case.sign_and_record(&case.genuine(), None);
    case.env.op(&["toolchain", "install"]).success();
    case.env
        .op(&["toolchain", "verify"])
        .success()
        .stdout_has("ok      fixture-tool 1.2.3");
    let refused = |found: &str| {
        case.env
            .op(&["toolchain", "verify"])
            .code(3)
            .stdout_has("BAD     fixture-tool 1.2.3")
            .stderr_has(&format!("fixture-tool 1.2.3 ({})", host_platform()))
            .stderr_has("the supply-chain evidence does not hold")
            .stderr_has(&format!("expected: signer {IDENTITY} issued by {ISSUER}"))
            .stderr_has(found);
    };
    // Changed after install: the installed tool is no longer backed by the proof the lock records.
    let path = case.env.work().join(case.proof_relative());
    std::fs::write(&path, bundle.replace("4242", "4243")).unwrap();
    refused("the proof file has sha256");
    std::fs::remove_file(&path).unwrap();
    refused("the proof cannot be read");
}

/// The mirror copy of this case's artifact's proof: `<artifact's mirror path>.sigstore.json`.
fn mirrored_proof(dir: &std::path::Path) -> std::path::PathBuf {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("op-mirror.json")).unwrap()).unwrap();
    let entry = &manifest["artifacts"][0];
    let proof = entry["proof"]
        .as_str()
        .expect("the manifest names the proof");
    assert_eq!(
        proof,
        format!("{}.sigstore.json", entry["path"].as_str().unwrap())
    );
    dir.join(proof)
}

#[test]
fn mirror_export_carries_the_proof_and_mirror_verify_checks_it() {
    let case = Case::new();
    let bundle = case.sign_and_record(&case.genuine(), None);
    let dir = case.env.root().join("mirror");
    let dir_arg = dir.to_str().unwrap();
    case.env.op(&["toolchain", "mirror", dir_arg]).success();
    let proof = mirrored_proof(&dir);
    assert_eq!(std::fs::read_to_string(&proof).unwrap(), bundle);
    case.env
        .op(&["toolchain", "mirror", "verify", dir_arg])
        .success()
        .stdout_has("ok      fixture-tool 1.2.3");

    std::fs::write(&proof, bundle.replace("4242", "4243")).unwrap();
    case.env
        .op(&["toolchain", "mirror", "verify", dir_arg])
        .code(3)
        .stdout_has("BAD     fixture-tool 1.2.3")
        .stderr_has(&format!("fixture-tool 1.2.3 ({})", host_platform()))
        .stderr_has(".sigstore.json has sha256")
        .stderr_has(&format!(
            "the lock records {}",
            sha256_hex(bundle.as_bytes())
        ));
    std::fs::remove_file(&proof).unwrap();
    case.env
        .op(&["toolchain", "mirror", "verify", dir_arg])
        .code(3)
        .stderr_has(".sigstore.json is missing");

    // Re-running the export restores it.
    case.env.op(&["toolchain", "mirror", dir_arg]).success();
    assert_eq!(std::fs::read_to_string(&proof).unwrap(), bundle);
    case.env
        .op(&["toolchain", "mirror", "verify", dir_arg])
        .success();
}
