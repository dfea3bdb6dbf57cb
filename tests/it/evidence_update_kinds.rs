//! Supply-chain evidence gathered at `lock update` once per release: flux's checksums file signed
//! keyless (goreleaser `signs:`: `.sig` and `.pem` beside it, looked up once in a loopback log)
//! and crane's SLSA provenance (`multiple.intoto.jsonl`, a Sigstore bundle or a bare DSSE
//! envelope whose log entry is looked up once), verified for every platform against a throwaway
//! trusted root and stored beside the lock; every failure leaves the lock, DEPENDENCIES.md and
//! the proofs as they were; `lock check --upstream` re-verifies both.

use std::path::PathBuf;

use crate::support::archive::{self, Entry};
use crate::support::sigstore::log_server::LogServer;
use crate::support::sigstore_dsse::{Body, Instance, Job, SLSA_BUILDER, statement};
use crate::support::{Route, Server, TestEnv, sha256_hex};

const KEYS: [&str; 5] = [
    "linux-amd64",
    "linux-arm64",
    "darwin-amd64",
    "darwin-arm64",
    "windows-amd64",
];
const FLUX: &str = "https://github.com/fluxcd/flux2/releases/download";
const CRANE: &str = "https://github.com/google/go-containerregistry/releases/download";
const NEW: &str = "2.7.6";
const CRANE_NEW: &str = "0.21.6";

fn flux_identity(version: &str) -> String {
    format!("https://github.com/fluxcd/flux2/.github/workflows/release.yaml@refs/tags/v{version}")
}

/// Where a tool's digests come from: the signed checksums file itself (as flux's real lock has
/// it), or per-asset `.sha256` files (so that the signed file can disagree with them).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Digests {
    SignedFile,
    Sidecars,
}

/// A flux lock at 2.7.5 (placeholder digests) whose policy requires a checksums file signed by
/// flux2's release workflow.
fn flux_lock(digests: Digests) -> String {
    let checksums = match digests {
        Digests::SignedFile => format!("{FLUX}/v{{version}}/flux_{{version}}_checksums.txt"),
        Digests::Sidecars => "{url}.sha256".to_string(),
    };
    let mut text = format!(
        "schema = 1\n\n[tools.flux]\nversion = \"2.7.5\"\nchecksums = \"{checksums}\"\n\n\
         [tools.flux.evidence]\nkind = \"cosign-signed-checksums\"\n\
         identity = \"https://github.com/fluxcd/flux2/.github/workflows/release.yaml@refs/tags/v{{version}}\"\n\
         issuer = \"https://token.actions.githubusercontent.com\"\n\
         checksums_file = \"{FLUX}/v{{version}}/flux_{{version}}_checksums.txt\"\n\
         signature = \"{{url}}.sig\"\ncertificate = \"{{url}}.pem\"\n\n\
         [tools.flux.template]\nurl = \"{FLUX}/v{{version}}/flux_{{version}}_{{os}}_{{arch}}.tar.gz\"\n\
         archive = \"tar.gz\"\nbin = \"flux{{exe}}\"\n",
    );
    for (index, key) in KEYS.iter().enumerate() {
        text.push_str(&format!(
            "\n[tools.flux.platforms.{key}]\nurl = \"{FLUX}/v2.7.5/{}\"\nsha256 = \"{}\"\narchive = \"tar.gz\"\nbin = \"{}\"\n",
            asset("flux", "2.7.5", key),
            index.to_string().repeat(64),
            bin("flux", key)
        ));
    }
    text
}

/// A crane lock at 0.21.5 whose policy requires SLSA provenance of google/go-containerregistry.
fn crane_lock() -> String {
    let mut text = format!(
        "schema = 1\n\n[tools.crane]\nversion = \"0.21.5\"\nchecksums = \"{CRANE}/v{{version}}/checksums.txt\"\n\n\
         [tools.crane.evidence]\nkind = \"slsa-provenance\"\nsource = \"github.com/google/go-containerregistry\"\n\
         tag = \"v{{version}}\"\nprovenance = \"{CRANE}/v{{version}}/multiple.intoto.jsonl\"\n\n\
         [tools.crane.template]\nurl = \"{CRANE}/v{{version}}/go-containerregistry_{{os}}_{{arch}}.tar.gz\"\n\
         archive = \"tar.gz\"\nbin = \"crane{{exe}}\"\n",
    );
    for (index, key) in KEYS.iter().enumerate() {
        text.push_str(&format!(
            "\n[tools.crane.platforms.{key}]\nurl = \"{CRANE}/v0.21.5/{}\"\nsha256 = \"{}\"\narchive = \"tar.gz\"\nbin = \"{}\"\n",
            asset("crane", "0.21.5", key),
            index.to_string().repeat(64),
            bin("crane", key)
        ));
    }
    text
}

fn asset(tool: &str, version: &str, key: &str) -> String {
    let (os, arch) = key.split_once('-').unwrap();
    match tool {
        "flux" => format!("flux_{version}_{os}_{arch}.tar.gz"),
        _ => format!("go-containerregistry_{os}_{arch}.tar.gz"),
    }
}

fn bin(tool: &str, key: &str) -> String {
    if key.starts_with("windows") {
        format!("{tool}.exe")
    } else {
        tool.to_string()
    }
}

/// A loopback github.com (as `OP_TOOLCHAIN_MIRROR`), a loopback log, and a trusted root naming
/// this case's Sigstore and log.
struct Case {
    env: TestEnv,
    server: Server,
    log: LogServer,
    sigstore: Instance,
    lock: PathBuf,
    tool: &'static str,
}

impl Case {
    fn new(tool: &'static str, lock: &str) -> Case {
        let server = Server::http();
        let log = LogServer::start();
        let sigstore = Instance::new();
        let mut env = TestEnv::new();
        let root = env.write_file(
            "trust/trusted_root.json",
            &sigstore.trusted_root_with_log(&log.url()),
        );
        env.set("OP_SIGSTORE_TRUSTED_ROOT", root.display().to_string())
            .set("OP_TOOLCHAIN_PLATFORM", "linux-amd64")
            .mirror(server.url());
        let lock = env.write_file("work/toolchain.lock", lock);
        env.write_file("work/DEPENDENCIES.md", "stale\n");
        Case {
            env,
            server,
            log,
            sigstore,
            lock,
            tool,
        }
    }

    fn flux(digests: Digests) -> Case {
        Case::new("flux", &flux_lock(digests))
    }

    fn crane() -> Case {
        Case::new("crane", &crane_lock())
    }

    fn base(&self) -> &'static str {
        if self.tool == "flux" { FLUX } else { CRANE }
    }

    fn serve(&self, url: &str, body: impl Into<Vec<u8>>) {
        let path = url.strip_prefix("https:/").unwrap();
        self.server.route(path, Route::new(body.into()));
    }

    /// Serves `version`'s archive (and its `.sha256`) for every platform; `(asset, sha256)` of
    /// each, and the checksums file listing them.
    fn publish(&self, version: &str) -> (Vec<(String, String)>, String) {
        let mut listed = Vec::new();
        for key in KEYS {
            let script = archive::fixture_script(&format!("{}-{version}-{key}", self.tool), 0);
            let body = archive::tar_gz(&[Entry::file(&bin(self.tool, key), &script)]);
            let name = asset(self.tool, version, key);
            let url = format!("{}/v{version}/{name}", self.base());
            self.serve(&format!("{url}.sha256"), format!("{}\n", sha256_hex(&body)));
            self.serve(&url, body.clone());
            listed.push((name, sha256_hex(&body)));
        }
        let mut checksums = format!("{}  flux_{version}_sbom.spdx.json\n", "e".repeat(64));
        for (name, sha256) in &listed {
            checksums.push_str(&format!("{sha256}  {name}\n"));
        }
        let file = if self.tool == "flux" {
            format!("flux_{version}_checksums.txt")
        } else {
            "checksums.txt".to_string()
        };
        self.serve(
            &format!("{}/v{version}/{file}", self.base()),
            checksums.clone(),
        );
        (listed, checksums)
    }

    fn checksums_url(version: &str) -> String {
        format!("{FLUX}/v{version}/flux_{version}_checksums.txt")
    }

    /// Signs `signed` as the checksums file of flux `version` by `job`, serves the `.sig` and
    /// `.pem`, and logs the signature.
    fn sign_checksums(&self, version: &str, job: &Job, signed: &str) {
        let detached = self
            .sigstore
            .detached_checksums(job, signed.as_bytes(), None);
        let url = Case::checksums_url(version);
        self.serve(&format!("{url}.sig"), detached.signature.clone());
        self.serve(&format!("{url}.pem"), detached.certificate.clone());
        self.log.add(&sha256_hex(signed.as_bytes()), &detached);
    }

    /// Publishes flux `version`, its checksums file signed by flux2's release workflow.
    fn release_flux(&self, version: &str) -> String {
        let (_, checksums) = self.publish(version);
        let job = Job::new(&flux_identity(version), "fluxcd/flux2", version);
        self.sign_checksums(version, &job, &checksums);
        checksums
    }

    fn provenance_url(version: &str) -> String {
        format!("{CRANE}/v{version}/multiple.intoto.jsonl")
    }

    fn builder(version: &str) -> Job {
        Job::new(SLSA_BUILDER, "google/go-containerregistry", version)
    }

    /// Publishes crane `version` with provenance of `subjects` by `job` as a bundle
    /// (`bare == false`) or as a bare envelope whose entry the log holds. The served file.
    fn release_crane(&self, version: &str, job: &Job, bare: bool) -> String {
        let (subjects, _) = self.publish(version);
        let statement = statement(&subjects, &job.source, &job.source_ref, &job.identity);
        let served = if bare {
            let (line, entry, payload_sha256) =
                self.sigstore
                    .provenance_envelope(job, &statement, Body::Dsse, None);
            self.log.add(&payload_sha256, &entry);
            line
        } else {
            self.sigstore
                .provenance_bundle(job, &statement, Body::Intoto, None)
        };
        self.serve(&Case::provenance_url(version), served.clone());
        served
    }

    fn update(&self, spec: &str, extra: &[&str]) -> crate::support::Run {
        let mut args = vec!["toolchain", "lock", "update", spec];
        args.extend_from_slice(extra);
        self.env.op(&args)
    }

    fn evidence(&self, version: &str) -> PathBuf {
        self.env
            .work()
            .join(format!("toolchain.evidence/{}/{version}", self.tool))
    }

    fn lock_text(&self) -> String {
        std::fs::read_to_string(&self.lock).unwrap()
    }

    /// `lock update TOOL@version` fails with `code` saying `messages`, and the lock,
    /// DEPENDENCIES.md and the proofs are as they were.
    fn refused(&self, version: &str, code: i32, messages: &[&str]) {
        let before = std::fs::read(&self.lock).unwrap();
        let dependencies = self.env.work().join("DEPENDENCIES.md");
        let dependencies_before = std::fs::read(&dependencies).unwrap();
        let evidence_before = crate::support::walk(&self.env.work().join("toolchain.evidence"));
        let run = self.update(&format!("{}@{version}", self.tool), &[]);
        run.code(code)
            .stderr_has(&format!("--accept-missing-evidence {}", self.tool))
            .stderr_has("the lock, DEPENDENCIES.md and the evidence proofs were not changed");
        for message in messages {
            run.stderr_has(message);
        }
        assert_eq!(
            std::fs::read(&self.lock).unwrap(),
            before,
            "the lock changed"
        );
        assert_eq!(
            std::fs::read(&dependencies).unwrap(),
            dependencies_before,
            "DEPENDENCIES.md changed"
        );
        assert_eq!(
            crate::support::walk(&self.env.work().join("toolchain.evidence")),
            evidence_before,
            "the proofs changed"
        );
        assert!(!self.evidence(version).exists(), "a proof was written");
    }
}

/// The body of `[tools.TOOL.platforms.KEY.evidence]` in lock text.
fn evidence_block<'a>(text: &'a str, tool: &str, key: &str) -> &'a str {
    let header = format!("[tools.{tool}.platforms.{key}.evidence]");
    let start = text
        .find(&header)
        .unwrap_or_else(|| panic!("{header} missing:\n{text}"));
    let rest = &text[start + header.len()..];
    &rest[..rest.find("\n[").unwrap_or(rest.len())]
}

fn searches(log: &LogServer) -> (usize, usize) {
    let requests = log.requests();
    let searches = requests
        .iter()
        .filter(|request| *request == "POST /api/v1/index/retrieve")
        .count();
    (searches, requests.len())
}

#[test]
fn lock_update_gathers_signed_checksums_for_every_platform_and_installs_offline_after() {
    let case = Case::flux(Digests::SignedFile);
    let checksums = case.release_flux(NEW);
    case.update(&format!("flux@{NEW}"), &[])
        .success()
        .stderr_has(&format!(
            "flux {NEW} (windows-amd64): signed by {}, log entry 4242",
            flux_identity(NEW)
        ))
        .stderr_has("and DEPENDENCIES.md and 2 evidence proofs");
    let dir = case.evidence(NEW);
    assert_eq!(
        std::fs::read_to_string(dir.join("checksums.txt")).unwrap(),
        checksums
    );
    let bundle = std::fs::read(dir.join("checksums.sigstore.json")).unwrap();
    let text = case.lock_text();
    for key in KEYS {
        let block = evidence_block(&text, "flux", key);
        for line in [
            "kind = \"cosign-signed-checksums\"".to_string(),
            format!("subject = \"{}\"", sha256_hex(checksums.as_bytes())),
            format!("identity = \"{}\"", flux_identity(NEW)),
            "log_index = 4242".to_string(),
            format!("proof = \"toolchain.evidence/flux/{NEW}/checksums.sigstore.json\""),
            format!("proof_sha256 = \"{}\"", sha256_hex(&bundle)),
            format!("checksums = \"toolchain.evidence/flux/{NEW}/checksums.txt\""),
        ] {
            assert!(block.contains(&line), "{key}: {line} missing:\n{block}");
        }
    }
    // The release's signature was looked up once for all five platforms.
    assert_eq!(searches(&case.log), (1, 2), "{:?}", case.log.requests());

    // The install checks the stored pair with no log at all.
    let Case {
        env, log, server, ..
    } = case;
    drop(log);
    env.op(&["toolchain", "install"]).success();
    assert_eq!(env.installed().len(), 1, "{:?}", env.installed());
    env.op(&["toolchain", "verify"])
        .success()
        .stdout_has(&format!("ok      flux {NEW}"));
    drop(server);
}

#[test]
fn a_newer_signed_release_replaces_the_old_versions_checksums_and_bundle() {
    let case = Case::flux(Digests::SignedFile);
    case.release_flux(NEW);
    case.update(&format!("flux@{NEW}"), &[]).success();
    assert!(case.evidence(NEW).join("checksums.txt").is_file());
    let newer = "2.7.7";
    case.release_flux(newer);
    case.update(&format!("flux@{newer}"), &[]).success();
    assert!(case.evidence(newer).join("checksums.txt").is_file());
    assert!(
        case.evidence(newer)
            .join("checksums.sigstore.json")
            .is_file()
    );
    assert!(
        !case.evidence(NEW).exists(),
        "the old version's proofs were kept"
    );
}

#[test]
fn a_checksums_file_signed_by_another_workflow_is_refused() {
    let case = Case::flux(Digests::SignedFile);
    let (_, checksums) = case.publish(NEW);
    let evil = "https://github.com/evil/flux2/.github/workflows/release.yaml@refs/tags/v2.7.6";
    case.sign_checksums(NEW, &Job::new(evil, "evil/flux2", NEW), &checksums);
    case.refused(
        NEW,
        3,
        &[
            &format!("flux {NEW} (linux-arm64): the supply-chain evidence does not hold"),
            &format!("found signer {evil} issued by https://token.actions.githubusercontent.com"),
            &format!("expected: signer {}", flux_identity(NEW)),
        ],
    );
}

#[test]
fn an_artifact_missing_from_the_signed_checksums_file_is_refused() {
    let case = Case::flux(Digests::Sidecars);
    let (_, checksums) = case.publish(NEW);
    let missing = asset("flux", NEW, "darwin-arm64");
    let signed: String = checksums
        .lines()
        .filter(|line| !line.ends_with(&missing))
        .map(|line| format!("{line}\n"))
        .collect();
    case.sign_checksums(
        NEW,
        &Job::new(&flux_identity(NEW), "fluxcd/flux2", NEW),
        &signed,
    );
    case.serve(&Case::checksums_url(NEW), signed);
    case.refused(
        NEW,
        3,
        &[&format!(
            "flux {NEW} (darwin-arm64): the supply-chain evidence does not hold: the signed checksums file does not list {missing}"
        )],
    );
}

#[test]
fn lock_check_upstream_detects_a_tampered_checksums_file() {
    let case = Case::flux(Digests::Sidecars);
    let checksums = case.release_flux(NEW);
    case.update(&format!("flux@{NEW}"), &[]).success();
    let check = || case.env.op(&["toolchain", "lock", "check", "--upstream"]);
    check()
        .success()
        .stdout_has(&format!("tool: flux {NEW}: ok, 5 platforms match"));

    // The stored checksums file changed.
    let stored = case.evidence(NEW).join("checksums.txt");
    std::fs::write(&stored, checksums.replace("eeee", "ffff")).unwrap();
    check()
        .code(3)
        .stdout_has(&format!(
            "evidence: flux {NEW} (linux-amd64): stored proof: the supply-chain evidence does not hold: the checksums file"
        ))
        .stdout_has(&format!(
            "tool: flux {NEW}: 0 match, 5 with evidence that does not hold"
        ));
    std::fs::write(&stored, &checksums).unwrap();

    // Upstream now serves another checksums file, which nobody signed.
    case.serve(&Case::checksums_url(NEW), checksums.replace("eeee", "ffff"));
    check()
        .code(3)
        .stdout_has(&format!("evidence: flux {NEW}: the transparency log"))
        .stdout_has("holds no entry for sha256")
        .stderr_has("5 assets have supply-chain evidence that does not hold");
}

#[test]
fn provenance_is_gathered_for_every_platform_from_a_bundle_or_a_bare_envelope() {
    for bare in [false, true] {
        let case = Case::crane();
        let served = case.release_crane(CRANE_NEW, &Case::builder(CRANE_NEW), bare);
        case.update(&format!("crane@{CRANE_NEW}"), &[])
            .success()
            .stderr_has(&format!(
                "crane {CRANE_NEW} (darwin-arm64): signed by {SLSA_BUILDER}, log entry 4242"
            ))
            .stderr_has("and DEPENDENCIES.md and 1 evidence proof");
        let path = case.evidence(CRANE_NEW).join("provenance.sigstore.json");
        let bundle = std::fs::read(&path).unwrap();
        if !bare {
            assert_eq!(
                bundle,
                served.as_bytes(),
                "a served bundle is stored as served"
            );
        }
        let text = case.lock_text();
        for key in KEYS {
            let block = evidence_block(&text, "crane", key);
            for line in [
                "kind = \"slsa-provenance\"".to_string(),
                format!("identity = \"{SLSA_BUILDER}\""),
                format!(
                    "proof = \"toolchain.evidence/crane/{CRANE_NEW}/provenance.sigstore.json\""
                ),
                format!("proof_sha256 = \"{}\"", sha256_hex(&bundle)),
            ] {
                assert!(block.contains(&line), "{key}: {line} missing:\n{block}");
            }
        }
        // A bundle carries its log entry; a bare envelope's is looked up once.
        let expected = if bare { (1, 2) } else { (0, 0) };
        assert_eq!(searches(&case.log), expected, "{:?}", case.log.requests());
        let Case { env, log, .. } = case;
        drop(log);
        env.op(&["toolchain", "install"]).success();
        env.op(&["toolchain", "verify"])
            .success()
            .stdout_has(&format!("ok      crane {CRANE_NEW}"));
    }
}

#[test]
fn provenance_of_another_source_repository_or_tag_is_refused() {
    let case = Case::crane();
    let fork = Job {
        source: "https://github.com/evil/fork".into(),
        ..Case::builder(CRANE_NEW)
    };
    case.release_crane(CRANE_NEW, &fork, false);
    case.refused(
        CRANE_NEW,
        3,
        &[
            &format!("crane {CRANE_NEW} (linux-amd64): the supply-chain evidence does not hold"),
            "the certificate is for source github.com/evil/fork at refs/tags/v0.21.6",
            "for source github.com/google/go-containerregistry at refs/tags/v0.21.6",
        ],
    );

    let case = Case::crane();
    let other_tag = Job {
        source_ref: "refs/tags/v0.21.5".into(),
        ..Case::builder(CRANE_NEW)
    };
    case.release_crane(CRANE_NEW, &other_tag, true);
    case.refused(
        CRANE_NEW,
        3,
        &["the certificate is for source github.com/google/go-containerregistry at refs/tags/v0.21.5"],
    );
}

#[test]
fn a_release_without_provenance_fails_closed_and_is_recorded_with_the_flag() {
    let case = Case::crane();
    case.publish(CRANE_NEW);
    case.refused(
        CRANE_NEW,
        4,
        &[&format!("crane {CRANE_NEW}"), "multiple.intoto.jsonl"],
    );
    case.update(
        &format!("crane@{CRANE_NEW}"),
        &["--accept-missing-evidence", "crane"],
    )
    .success()
    .stderr_has("going on (--accept-missing-evidence crane)")
    .stderr_has(&format!("recording accepted_missing = \"{CRANE_NEW}\""));
    let text = case.lock_text();
    assert!(
        text.contains(&format!("accepted_missing = \"{CRANE_NEW}\"")),
        "{text}"
    );
    assert!(
        !text.contains(".evidence]\nkind = \"slsa-provenance\"\nsubject"),
        "{text}"
    );
    assert!(!case.evidence(CRANE_NEW).exists());
}

#[test]
fn an_update_that_would_drop_provenance_the_lock_holds_is_refused() {
    let case = Case::crane();
    case.release_crane(CRANE_NEW, &Case::builder(CRANE_NEW), false);
    case.update(&format!("crane@{CRANE_NEW}"), &[]).success();
    let newer = "0.21.8";
    case.publish(newer);
    case.refused(
        newer,
        4,
        &[&format!(
            "the lock holds verified evidence for crane {CRANE_NEW} (darwin-amd64, darwin-arm64, linux-amd64, linux-arm64, windows-amd64) and pinning {newer} would drop it"
        )],
    );
    case.update(
        &format!("crane@{newer}"),
        &["--accept-missing-evidence", "crane"],
    )
    .success()
    .stderr_has(&format!(
        "dropping the verified evidence the lock held for crane {CRANE_NEW}"
    ));
    assert!(
        !case.evidence(CRANE_NEW).exists(),
        "the old version's provenance was kept"
    );
}
