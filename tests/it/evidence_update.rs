//! Supply-chain evidence gathered at `lock update` for kubectl's keyless blob signatures: the
//! detached `.sig`/`.cert` of every platform from a loopback dl.k8s.io, each looked up in a
//! loopback transparency log and verified against a throwaway trusted root, stored as Sigstore
//! bundles beside the lock; every failure leaves the lock, DEPENDENCIES.md and the proofs as
//! they were; `lock check --upstream` re-verifies what is stored.

use std::path::{Path, PathBuf};

use crate::support::archive;
use crate::support::sigstore::log_server::LogServer;
use crate::support::sigstore::{Authority, Detached, Signing, Sigstore};
use crate::support::{Route, Server, TestEnv, sha256_hex};

const IDENTITY: &str = "krel-staging@k8s-releng-prod.iam.gserviceaccount.com";
const ISSUER: &str = "https://accounts.google.com";
const KEYS: [&str; 5] = [
    "linux-amd64",
    "linux-arm64",
    "darwin-amd64",
    "darwin-arm64",
    "windows-amd64",
];
const NEW: &str = "1.35.3";
/// The platform the failure cases break (the others are signed and logged properly).
const BROKEN: &str = "linux-arm64";

/// A kubectl lock at 1.35.2 (placeholder digests) whose policy requires a keyless blob
/// signature by [`IDENTITY`] beside every binary.
fn lock_text() -> String {
    let mut text = String::from(
        "schema = 1\n\n[tools.kubectl]\nversion = \"1.35.2\"\nchecksums = \"{url}.sha256\"\n\n\
         [tools.kubectl.evidence]\nkind = \"cosign-keyless-blob\"\n\
         identity = \"krel-staging@k8s-releng-prod.iam.gserviceaccount.com\"\n\
         issuer = \"https://accounts.google.com\"\nsignature = \"{url}.sig\"\ncertificate = \"{url}.cert\"\n\n\
         [tools.kubectl.template]\nurl = \"https://dl.k8s.io/release/v{version}/bin/{os}/{arch}/kubectl{exe}\"\narchive = \"raw\"\n",
    );
    for (index, key) in KEYS.iter().enumerate() {
        text.push_str(&format!(
            "\n[tools.kubectl.platforms.{key}]\nurl = \"https://dl.k8s.io/release/v1.35.2/{}\"\nsha256 = \"{}\"\narchive = \"raw\"\n",
            binary(key),
            index.to_string().repeat(64)
        ));
    }
    text
}

/// `bin/<os>/<arch>/kubectl[.exe]`.
fn binary(key: &str) -> String {
    let (os, arch) = key.split_once('-').unwrap();
    let exe = if os == "windows" { ".exe" } else { "" };
    format!("bin/{os}/{arch}/kubectl{exe}")
}

/// How a test signs (or fails to sign) the binary of [`BROKEN`].
type Breaker<'a> = &'a dyn Fn(&Case, &[u8]);

/// A loopback dl.k8s.io (as `OP_TOOLCHAIN_MIRROR`), a loopback log, and a trusted root naming
/// this case's Sigstore and log.
struct Case {
    env: TestEnv,
    server: Server,
    log: LogServer,
    sigstore: Sigstore,
    lock: PathBuf,
}

impl Case {
    fn new() -> Case {
        let server = Server::http();
        let log = LogServer::start();
        let sigstore = Sigstore::new();
        let mut env = TestEnv::new();
        let root = env.write_file(
            "trust/trusted_root.json",
            &sigstore.trusted_root_with_log(&log.url()),
        );
        env.set("OP_SIGSTORE_TRUSTED_ROOT", root.display().to_string())
            .set("OP_TOOLCHAIN_PLATFORM", "linux-amd64")
            .mirror(server.url());
        let lock = env.write_file("work/toolchain.lock", &lock_text());
        env.write_file("work/DEPENDENCIES.md", "stale\n");
        Case {
            env,
            server,
            log,
            sigstore,
            lock,
        }
    }

    /// Serves `version`'s binary and `.sha256` for every platform; the bodies by platform.
    fn publish(&self, version: &str) -> Vec<(&'static str, Vec<u8>)> {
        KEYS.iter()
            .map(|key| {
                let body = archive::fixture_script(&format!("kubectl-{version}-{key}"), 0);
                let path = format!("/dl.k8s.io/release/v{version}/{}", binary(key));
                self.server.route(&path, Route::new(body.clone()));
                self.server.route(
                    &format!("{path}.sha256"),
                    Route::new(format!("{}\n", sha256_hex(&body))),
                );
                (*key, body)
            })
            .collect()
    }

    /// Serves `detached` as the `.sig` and `.cert` beside `key`'s binary of `version`.
    fn serve_detached(&self, version: &str, key: &str, detached: &Detached) {
        let path = format!("/dl.k8s.io/release/v{version}/{}", binary(key));
        self.server.route(
            &format!("{path}.sig"),
            Route::new(detached.signature.clone()),
        );
        self.server.route(
            &format!("{path}.cert"),
            Route::new(detached.certificate.clone()),
        );
    }

    /// Publishes `version`, signed properly (log entries 100, 101, …) and logged, except that
    /// [`BROKEN`]'s signing is `broken(body)` when given.
    fn release(&self, version: &str, broken: Option<Breaker<'_>>) {
        for (index, (key, body)) in self.publish(version).into_iter().enumerate() {
            if key == BROKEN
                && let Some(broken) = broken
            {
                broken(self, &body);
                continue;
            }
            let signing = Signing {
                log_index: 100 + index as u64,
                ..Signing::of(&body, IDENTITY, ISSUER)
            };
            let detached = self.sigstore.detached(&signing, None);
            self.serve_detached(version, key, &detached);
            self.log.add(&sha256_hex(&body), &detached);
        }
    }

    /// Signs `body` as `signing` says (leaf from `authority`), serves and logs it for [`BROKEN`].
    fn sign_broken(&self, signing: &Signing<'_>, authority: Option<&Authority>, body: &[u8]) {
        let detached = self.sigstore.detached(signing, authority);
        self.serve_detached(NEW, BROKEN, &detached);
        self.log.add(&sha256_hex(body), &detached);
    }

    fn update(&self, spec: &str, extra: &[&str]) -> crate::support::Run {
        let mut args = vec!["toolchain", "lock", "update", spec];
        args.extend_from_slice(extra);
        self.env.op(&args)
    }

    fn evidence_dir(&self) -> PathBuf {
        self.env.work().join("toolchain.evidence")
    }

    /// `lock update kubectl@NEW` fails with `code` saying `message` about [`BROKEN`], and the
    /// lock, DEPENDENCIES.md and the proofs are as they were.
    fn refused(&self, code: i32, message: &str) {
        let before = std::fs::read(&self.lock).unwrap();
        self.update(&format!("kubectl@{NEW}"), &[])
            .code(code)
            .stderr_has(&format!("kubectl {NEW} ({BROKEN})"))
            .stderr_has(message)
            .stderr_has("--accept-missing-evidence kubectl")
            .stderr_has("the lock, DEPENDENCIES.md and the evidence proofs were not changed");
        assert_eq!(
            std::fs::read(&self.lock).unwrap(),
            before,
            "the lock changed"
        );
        assert_eq!(
            std::fs::read_to_string(self.env.work().join("DEPENDENCIES.md")).unwrap(),
            "stale\n"
        );
        assert!(!self.evidence_dir().exists(), "a proof was written");
    }
}

/// The body of `[tools.kubectl.platforms.KEY.evidence]` in lock text.
fn evidence_block<'a>(text: &'a str, key: &str) -> &'a str {
    let header = format!("[tools.kubectl.platforms.{key}.evidence]");
    let start = text
        .find(&header)
        .unwrap_or_else(|| panic!("{header} missing:\n{text}"));
    let rest = &text[start + header.len()..];
    &rest[..rest.find("\n[").unwrap_or(rest.len())]
}

fn proof(work: &Path, version: &str, key: &str) -> PathBuf {
    work.join(format!(
        "toolchain.evidence/kubectl/{version}/{key}.sigstore.json"
    ))
}

#[test]
fn lock_update_gathers_verified_evidence_for_every_platform_and_installs_offline_from_it() {
    let case = Case::new();
    case.release(NEW, None);
    case.update(&format!("kubectl@{NEW}"), &[])
        .success()
        .stderr_has(&format!(
            "kubectl {NEW} (windows-amd64): signed by {IDENTITY}, log entry 104"
        ))
        .stderr_has("and DEPENDENCIES.md and 5 evidence proofs");
    let text = std::fs::read_to_string(&case.lock).unwrap();
    for (index, key) in KEYS.iter().enumerate() {
        let block = evidence_block(&text, key);
        let path = proof(&case.env.work(), NEW, key);
        let bundle = std::fs::read(&path).unwrap_or_else(|_| panic!("{} missing", path.display()));
        for line in [
            "kind = \"cosign-keyless-blob\"".to_string(),
            format!("identity = \"{IDENTITY}\""),
            format!("log_index = {}", 100 + index),
            format!("proof = \"toolchain.evidence/kubectl/{NEW}/{key}.sigstore.json\""),
            format!("proof_sha256 = \"{}\"", sha256_hex(&bundle)),
        ] {
            assert!(block.contains(&line), "{key}: {line} missing:\n{block}");
        }
    }
    // Each signature was looked up once: one search per platform, one entry read each.
    let requests = case.log.requests();
    let searches = requests
        .iter()
        .filter(|request| *request == "POST /api/v1/index/retrieve")
        .count();
    assert_eq!((searches, requests.len()), (5, 10), "{requests:?}");

    // The install checks the stored proof with no log at all.
    let Case { env, log, .. } = case;
    drop(log);
    env.op(&["toolchain", "install"]).success();
    assert_eq!(env.installed().len(), 1, "{:?}", env.installed());
    env.op(&["toolchain", "verify"])
        .success()
        .stdout_has(&format!("ok      kubectl {NEW}"));
}

/// `lock update` refuses a release whose [`BROKEN`] platform is signed as `signing` (given the
/// artifact) says, with `message`.
fn refused_signing(message: &str, signing: impl Fn(&[u8]) -> (Signing<'_>, Option<Authority>)) {
    let case = Case::new();
    case.release(
        NEW,
        Some(&|case: &Case, body: &[u8]| {
            let (signed, authority) = signing(body);
            case.sign_broken(&signed, authority.as_ref(), body);
        }),
    );
    case.refused(3, message);
}

#[test]
fn a_signature_by_another_identity_is_refused() {
    refused_signing(
        &format!("found signer someone@evil.example issued by {ISSUER}"),
        |body| (Signing::of(body, "someone@evil.example", ISSUER), None),
    );
}

#[test]
fn a_signature_certified_by_another_issuer_is_refused() {
    refused_signing(
        &format!("found signer {IDENTITY} issued by https://evil.example"),
        |body| (Signing::of(body, IDENTITY, "https://evil.example"), None),
    );
}

#[test]
fn a_certificate_from_an_untrusted_authority_is_refused() {
    refused_signing("does not chain to a certificate authority of", |body| {
        (
            Signing::of(body, IDENTITY, ISSUER),
            Some(Authority::new("rogue Fulcio")),
        )
    });
}

#[test]
fn a_signature_over_another_digest_is_refused() {
    refused_signing("the signature does not verify over sha256", |body| {
        let signing = Signing {
            signed: b"another kubectl build",
            ..Signing::of(body, IDENTITY, ISSUER)
        };
        (signing, None)
    });
}

#[test]
fn a_signature_the_log_does_not_hold_is_refused() {
    let case = Case::new();
    case.release(
        NEW,
        Some(&|case: &Case, body: &[u8]| {
            let detached = case
                .sigstore
                .detached(&Signing::of(body, IDENTITY, ISSUER), None);
            case.serve_detached(NEW, BROKEN, &detached);
        }),
    );
    case.refused(3, "holds no entry for sha256");
}

#[test]
fn a_log_entry_that_records_another_signature_is_refused() {
    let case = Case::new();
    case.release(
        NEW,
        Some(&|case: &Case, body: &[u8]| {
            let served = case
                .sigstore
                .detached(&Signing::of(body, IDENTITY, ISSUER), None);
            let logged = case
                .sigstore
                .detached(&Signing::of(body, IDENTITY, ISSUER), None);
            case.serve_detached(NEW, BROKEN, &served);
            case.log.add(&sha256_hex(body), &logged);
        }),
    );
    case.refused(3, "holds 1 entry for sha256 ");
}

#[test]
fn upstream_without_a_sig_fails_closed_unless_the_tool_is_named_and_then_it_is_recorded() {
    let case = Case::new();
    case.release(NEW, Some(&|_: &Case, _: &[u8]| {}));
    case.refused(4, "bin/linux/arm64/kubectl.sig");
    // The flag must name a tool being updated.
    case.update(
        &format!("kubectl@{NEW}"),
        &["--accept-missing-evidence", "crane"],
    )
    .code(2)
    .stderr_has("--accept-missing-evidence crane: crane is not among the tools being updated");
    assert!(
        !case
            .evidence_dir()
            .join("kubectl")
            .join(NEW)
            .join(format!("{BROKEN}.sigstore.json"))
            .exists()
    );

    case.update(
        &format!("kubectl@{NEW}"),
        &["--accept-missing-evidence", "kubectl"],
    )
    .success()
    .stderr_has("going on (--accept-missing-evidence kubectl)")
    .stderr_has(&format!("recording accepted_missing = \"{NEW}\""));
    let text = std::fs::read_to_string(&case.lock).unwrap();
    assert!(
        text.contains(&format!("accepted_missing = \"{NEW}\"")),
        "{text}"
    );
    assert!(
        !text.contains(&format!("[tools.kubectl.platforms.{BROKEN}.evidence]")),
        "{text}"
    );
    evidence_block(&text, "linux-amd64");
    assert!(!proof(&case.env.work(), NEW, BROKEN).exists());
    case.env
        .op(&["toolchain", "lock", "check", "--upstream"])
        .success()
        .stderr_has(&format!(
            "kubectl {NEW}: 1 platform records no supply-chain evidence though [tools.kubectl.evidence] asks for it (accepted_missing = \"{NEW}\")"
        ));
}

#[test]
fn an_update_that_would_drop_the_evidence_the_lock_holds_is_refused() {
    let case = Case::new();
    case.release(NEW, None);
    case.update(&format!("kubectl@{NEW}"), &[]).success();
    let before = std::fs::read(&case.lock).unwrap();
    let newer = "1.35.4";
    case.publish(newer);
    case.update(&format!("kubectl@{newer}"), &[])
        .code(4)
        .stderr_has(&format!(
            "the lock holds verified evidence for kubectl {NEW} (darwin-amd64, darwin-arm64, linux-amd64, linux-arm64, windows-amd64) and pinning {newer} would drop it"
        ))
        .stderr_has("only that flag naming kubectl itself drops its evidence");
    assert_eq!(
        std::fs::read(&case.lock).unwrap(),
        before,
        "the lock changed"
    );
    assert!(!case.evidence_dir().join("kubectl").join(newer).exists());

    case.update(
        &format!("kubectl@{newer}"),
        &["--accept-missing-evidence", "kubectl"],
    )
    .success()
    .stderr_has(&format!(
        "dropping the verified evidence the lock held for kubectl {NEW}"
    ));
    let text = std::fs::read_to_string(&case.lock).unwrap();
    assert!(
        text.contains(&format!("accepted_missing = \"{newer}\"")),
        "{text}"
    );
    // The old version's proofs, which the lock no longer records, are gone.
    assert!(
        !case.evidence_dir().join("kubectl").join(NEW).exists(),
        "stale proofs kept"
    );
    for key in KEYS {
        let header = format!("[tools.kubectl.platforms.{key}.evidence]");
        assert!(!text.contains(&header), "{header} kept:\n{text}");
    }
}

#[test]
fn lock_check_upstream_detects_a_tampered_proof_and_a_signature_upstream_no_longer_serves() {
    let case = Case::new();
    case.release(NEW, None);
    case.update(&format!("kubectl@{NEW}"), &[]).success();
    let check = || case.env.op(&["toolchain", "lock", "check", "--upstream"]);
    check()
        .success()
        .stdout_has(&format!("tool: kubectl {NEW}: ok, 5 platforms match"));

    let path = proof(&case.env.work(), NEW, "darwin-amd64");
    let original = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, original.replace("\"102\"", "\"103\"")).unwrap();
    check()
        .code(3)
        .stdout_has(&format!(
            "evidence: kubectl {NEW} (darwin-amd64): stored proof: the supply-chain evidence does not hold: the proof file has sha256"
        ))
        .stdout_has(&format!(
            "tool: kubectl {NEW}: 4 match, 1 with evidence that does not hold"
        ))
        .stderr_has("1 asset has supply-chain evidence that does not hold");
    std::fs::write(&path, original).unwrap();

    // Upstream now serves a signature by someone else beside one binary.
    let body = archive::fixture_script(&format!("kubectl-{NEW}-windows-amd64"), 0);
    let evil = case
        .sigstore
        .detached(&Signing::of(&body, "someone@evil.example", ISSUER), None);
    case.serve_detached(NEW, "windows-amd64", &evil);
    case.log.add(&sha256_hex(&body), &evil);
    check()
        .code(3)
        .stdout_has(&format!(
            "evidence: kubectl {NEW} (windows-amd64): the supply-chain evidence does not hold: found signer someone@evil.example"
        ));
}
