//! Supply-chain evidence of the GitHub-workflow kinds, checked offline at install from stored
//! proofs: a keyless signature over a checksums file listing every platform's artifact
//! (`cosign-signed-checksums`, as flux publishes), and SLSA provenance whose subjects are the
//! artifacts (`slsa-provenance`, as crane publishes). One stored proof serves every platform;
//! any failure is exit 3 naming the tool, platform, what was required and what was found.

use crate::support::sigstore::{INTEGRATED_AT, ISSUED_AT, LEAF_LIFETIME};
use crate::support::sigstore_dsse::{Body, GITHUB_ACTIONS, Instance, Job, SLSA_BUILDER, statement};
use crate::support::{Kind, Lock, Pin, Server, TestEnv, host_platform, other_platform, sha256_hex};

mod checksums;
mod provenance;

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
