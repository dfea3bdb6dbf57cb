//! `op start-registry`: fixture `docker`, `colima`, `sudo` and trust-store programs first on PATH
//! (the real ones are never reached), a loopback TLS stand-in for the registry's `/v2/`, a trust
//! store of the test's own, the exact argv of every step, each trust branch, the idempotent
//! system trust, failures, the image reference and `--dry-run`.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use crate::pipeline_bed::{COLIMA, Pipeline, strings};
use crate::support::tls::Tls;
use crate::support::{Route, Server};

/// The registry's stand-in for `docker`: `ps` lists `$FIXTURE_DOCKER_ID`; `run` exits
/// `$FIXTURE_DOCKER_EXIT`; `exec` fails as in an image without shell tools (unless
/// `$FIXTURE_EXEC_OK`); `cp` of `/etc/envoy/certs/tls.crt` writes a PEM certificate named by
/// `$FIXTURE_CERT`, and `cp` of the whole directory also the private key `tls.key`, as the real
/// container holds both.
pub const DOCKER: &str = r#"
cert() { printf '%s\n' '-----BEGIN CERTIFICATE-----' "Zml4dHVyZS${FIXTURE_CERT:-one}" '-----END CERTIFICATE-----'; }
case "$1" in
  ps) if [ -n "$FIXTURE_DOCKER_ID" ]; then echo "$FIXTURE_DOCKER_ID"; fi ;;
  run) if [ "$2" = "-d" ]; then echo "$FIXTURE_DOCKER_ID"; fi; exit "${FIXTURE_DOCKER_EXIT:-0}" ;;
  exec)
    if [ -n "$FIXTURE_EXEC_OK" ]; then exit 0; fi
    echo "OCI runtime exec failed: exec: \"$3\": executable file not found in \$PATH" >&2; exit 126 ;;
  cp)
    case "$2" in
      *:/etc/envoy/certs/tls.crt) cert > "$3" ;;
      *:/etc/envoy/certs/tls.key) printf '%s\n' '-----BEGIN PRIVATE KEY-----' 'a2V5' '-----END PRIVATE KEY-----' > "$3" ;;
      *:/etc/envoy/certs|*:/etc/envoy/certs/|*:/etc/envoy/certs/.)
        mkdir -p "$3" && cert > "$3/tls.crt" &&
          printf '%s\n' '-----BEGIN PRIVATE KEY-----' 'a2V5' '-----END PRIVATE KEY-----' > "$3/tls.key" ;;
      *) echo "Error response from daemon: Could not find the file $2 in container" >&2; exit 1 ;;
    esac ;;
esac
"#;

/// `cp` that copies for real, but only into the test's trust store.
const CP: &str = r#"
[ -n "$OP_TRUST_STORE_ROOT" ] || { echo "fixture cp: no test trust store" >&2; exit 1; }
case "$2" in
  "$OP_TRUST_STORE_ROOT"/*) exec /bin/cp "$1" "$2" ;;
  *) echo "fixture cp: refusing to write $2 outside the test's trust store" >&2; exit 1 ;;
esac
"#;

/// `update-ca-certificates`: rebuilds the test store's bundle from its anchors, as Debian's does.
const UPDATE_CA_CERTIFICATES: &str = r#"
[ -n "$OP_TRUST_STORE_ROOT" ] || exit 1
cat "$OP_TRUST_STORE_ROOT"/usr/local/share/ca-certificates/*.crt > "$OP_TRUST_STORE_ROOT/etc/ssl/certs/ca-certificates.crt" 2>/dev/null
exit 0
"#;

/// A pipeline set up for `start-registry`, with the loopback registry stand-in it probes.
pub struct Registry {
    pub pipeline: Pipeline,
    /// Answers `GET /v2/` over TLS, as the started registry would.
    pub server: Server,
}

impl Deref for Registry {
    type Target = Pipeline;
    fn deref(&self) -> &Pipeline {
        &self.pipeline
    }
}

impl DerefMut for Registry {
    fn deref_mut(&mut self) -> &mut Pipeline {
        &mut self.pipeline
    }
}

/// A pipeline whose hosts file maps registry.local, with an old registry container `abc123`,
/// a running fixture Colima, fixtures for every trust program, a Debian-style trust store under
/// the temp root, and a registry that answers at once.
pub fn registry() -> Registry {
    let mut pipeline = Pipeline::new();
    let hosts = pipeline.write("hosts", "127.0.0.1 localhost\n::1 registry.local # op\n");
    let store = pipeline.env.root().join("trust-store");
    for dir in ["usr/local/share/ca-certificates", "etc/ssl/certs"] {
        std::fs::create_dir_all(store.join(dir)).unwrap();
    }
    let server = Server::https(&Tls::throwaway());
    server.route("/v2/", Route::new("{}"));
    pipeline
        .set("OP_HOSTS_FILE", hosts.to_str().unwrap())
        .set("OP_TRUST_STORE_ROOT", store.to_str().unwrap())
        .set("OP_LOCAL_REGISTRY_URL", &server.url())
        .set("FIXTURE_DOCKER_ID", "abc123");
    pipeline.host_tool("docker", DOCKER);
    pipeline.host_tool("colima", COLIMA);
    // Tests may run as root, when op calls these without sudo: never the real ones.
    pipeline.host_tool("sudo", "exec \"$@\"");
    pipeline.host_tool("cp", CP);
    pipeline.host_tool("update-ca-certificates", UPDATE_CA_CERTIFICATES);
    for tool in ["update-ca-trust", "security"] {
        pipeline.host_tool(tool, "");
    }
    Registry { pipeline, server }
}

pub fn certs(pipeline: &Pipeline) -> PathBuf {
    pipeline.env.root().join("certs")
}

/// Where the Debian-style trust store of the test keeps op's anchor.
pub fn anchor(pipeline: &Pipeline) -> PathBuf {
    pipeline
        .env
        .root()
        .join("trust-store/usr/local/share/ca-certificates/registry-tls-localhost.crt")
}

/// The PEM the fixture `docker cp` writes for `$FIXTURE_CERT=name`.
pub fn fixture_cert(name: &str) -> String {
    format!("-----BEGIN CERTIFICATE-----\nZml4dHVyZS{name}\n-----END CERTIFICATE-----\n")
}

pub fn start(pipeline: &Pipeline, extra: &[&str]) -> crate::support::Run {
    let certs = certs(pipeline);
    let mut args = vec!["start-registry", "--certs-dir", certs.to_str().unwrap()];
    args.extend_from_slice(extra);
    pipeline.env.op(&args)
}

fn running_as_root() -> bool {
    let output = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// The system-trust commands that ran, with `sudo` folded away (asserted separately): as root
/// op runs them itself, otherwise through `sudo` (whose fixture runs them in turn).
pub fn trust_commands(pipeline: &Pipeline) -> Vec<Vec<String>> {
    let root = running_as_root();
    pipeline
        .calls()
        .into_iter()
        .filter_map(|call| match call.tool.as_str() {
            "sudo" => {
                assert!(!root, "no sudo as root: {call:?}");
                Some(call.argv)
            }
            "cp" | "update-ca-certificates" | "security" if root => {
                Some([vec![call.tool], call.argv].concat())
            }
            _ => None,
        })
        .collect()
}

pub fn linux_trust(pipeline: &Pipeline, cert: &Path) -> Vec<Vec<String>> {
    let anchor = anchor(pipeline);
    vec![
        strings(&["cp", cert.to_str().unwrap(), anchor.to_str().unwrap()]),
        strings(&["update-ca-certificates"]),
    ]
}

pub fn docker_run(image: &str) -> Vec<String> {
    strings(&[
        "run",
        "-d",
        "-p",
        "5001:5001",
        "-v",
        "registry-data:/var/lib/registry",
        "-v",
        "registry-certs:/etc/envoy/certs",
        "--restart",
        "unless-stopped",
        "--name",
        "registry",
        image,
    ])
}

/// `docker cp` of the certificate alone, into a fresh directory inside the certs directory.
#[track_caller]
pub fn assert_copies_only_the_certificate(argv: &[String], certs: &Path) {
    assert_eq!(argv.len(), 3, "{argv:?}");
    assert_eq!(
        argv[..2],
        strings(&["cp", "abc123:/etc/envoy/certs/tls.crt"])
    );
    let target = Path::new(&argv[2]);
    assert_eq!(target.file_name().unwrap(), "tls.crt", "{argv:?}");
    assert_eq!(
        target.parent().unwrap().parent().unwrap(),
        certs,
        "{argv:?}"
    );
}

#[test]
fn needs_registry_local_in_the_hosts_file() {
    let mut pipeline = registry();
    let hosts = pipeline.write(
        "hosts",
        "127.0.0.1 localhost registry.local.example\n# 127.0.0.1 registry.local\n",
    );
    pipeline.set("OP_HOSTS_FILE", hosts.to_str().unwrap());
    start(&pipeline, &[])
        .code(1)
        .stderr_has("Add '127.0.0.1 registry.local' to ")
        .stderr_has("before using the local registry, then re-run op start-registry.")
        .stderr_has("hint: Example: echo '127.0.0.1 registry.local' | sudo tee -a /etc/hosts");
    let missing = pipeline.env.root().join("missing");
    pipeline.set("OP_HOSTS_FILE", missing.to_str().unwrap());
    start(&pipeline, &[]).code(1);
    assert!(pipeline.calls().is_empty());
}

#[test]
fn replaces_the_container_copies_the_certificate_and_installs_it_into_colima() {
    let mut pipeline = registry();
    let run = start(&pipeline, &["--image", "fixture/registry:1"]);
    let certs = certs(&pipeline);
    let cert = certs.join("tls.crt");
    run.success()
        .stderr_has(&format!("Certificate copied to {}", cert.display()))
        .stderr_has("Restarting Colima so Docker picks up the new CA...")
        .stderr_has("Cert installed in Colima VM; Docker and pack will trust localhost:5001.")
        .stderr_has("To pull: docker pull registry.local:5001/<image> or host.docker.internal:5001/<image>.");
    let ps = strings(&[
        "ps",
        "-a",
        "--filter",
        "name=^registry$",
        "--format",
        "{{.ID}}",
    ]);
    let docker = pipeline.argv_of("docker");
    assert_eq!(
        docker[..5],
        [
            ps.clone(),
            strings(&["stop", "abc123"]),
            strings(&["rm", "abc123"]),
            docker_run("fixture/registry:1"),
            ps,
        ]
    );
    assert_eq!(docker.len(), 6, "{docker:?}");
    assert_copies_only_the_certificate(&docker[5], &certs);
    let script = "mkdir -p /etc/docker/certs.d/localhost:5001 /etc/docker/certs.d/host.docker.internal:5001 \
                  /etc/docker/certs.d/registry.local:5001 && cat > /tmp/registry-ca.crt && \
                  cp /tmp/registry-ca.crt /etc/docker/certs.d/localhost:5001/ca.crt && \
                  cp /tmp/registry-ca.crt /etc/docker/certs.d/host.docker.internal:5001/ca.crt && \
                  cp /tmp/registry-ca.crt /etc/docker/certs.d/registry.local:5001/ca.crt";
    assert_eq!(
        pipeline.argv_of("colima"),
        vec![
            strings(&["status"]),
            strings(&["ssh", "--", "sudo", "sh", "-c", script]),
            strings(&["restart"]),
        ]
    );
    assert_eq!(pipeline.stdin_of_last_ssh(), fixture_cert("one"));
    assert!(
        trust_commands(&pipeline).is_empty(),
        "no system trust with Colima"
    );
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), fixture_cert("one"));
    assert_eq!(
        crate::support::dir_names(&certs),
        ["tls.crt"],
        "the temporary directory is gone"
    );

    // --no-restart-colima; REGISTRY_TLS_IMAGE names the image.
    pipeline.clear_log();
    pipeline.set("REGISTRY_TLS_IMAGE", "env/registry:2");
    start(&pipeline, &["--no-restart-colima"])
        .success()
        .stderr_has(
            "Cert installed in Colima VM. Restart Colima (colima restart) for Docker to use it.",
        );
    assert_eq!(pipeline.argv_of("docker")[3], docker_run("env/registry:2"));
    assert!(!pipeline.argv_of("colima").contains(&strings(&["restart"])));
}

#[test]
fn without_running_colima_trusts_the_cert_once_per_certificate() {
    let mut pipeline = registry();
    pipeline.set("FIXTURE_COLIMA_STATUS", "1");
    let certs = certs(&pipeline);
    let cert = certs.join("tls.crt");
    start(&pipeline, &[])
        .success()
        .stderr_has("Colima is not running: adding the registry's self-signed cert to the system trust store")
        .stderr_has("Cert installed for system trust. Restart Docker if pull still fails.")
        .stderr_lacks("detected");
    assert_eq!(pipeline.argv_of("colima"), vec![strings(&["status"])]);
    assert_eq!(trust_commands(&pipeline), linux_trust(&pipeline, &cert));
    let sentinel = std::fs::read_to_string(certs.join(".system-trust-installed")).unwrap();
    assert_eq!(
        sentinel.trim().len(),
        64,
        "the certificate's SHA-256: {sentinel}"
    );

    // The same certificate again: nothing to do.
    pipeline.clear_log();
    start(&pipeline, &[])
        .success()
        .stderr_has("Cert already trusted (idempotent); skipping install.");
    assert!(trust_commands(&pipeline).is_empty());

    // A new certificate (the registry volume was recreated): installed again. No Colima at all
    // is the same branch.
    pipeline.clear_log();
    pipeline.set("FIXTURE_CERT", "two");
    pipeline.remove_host_tool("colima");
    start(&pipeline, &[])
        .success()
        .stderr_has("Cert installed for system trust.");
    assert_eq!(trust_commands(&pipeline), linux_trust(&pipeline, &cert));
}

#[test]
fn trust_cert_and_no_trust_cert_colima() {
    let pipeline = registry();
    let cert = certs(&pipeline).join("tls.crt");
    start(&pipeline, &["--no-trust-cert-colima", "--trust-cert"])
        .success()
        .stderr_has("Cert installed for system trust. You may need to restart Docker for it to take effect.");
    assert_eq!(trust_commands(&pipeline), linux_trust(&pipeline, &cert));
    assert!(pipeline.argv_of("colima").is_empty());

    // Without --trust-cert and without a terminal to ask on: skipped, with how to trust later.
    pipeline.clear_log();
    start(&pipeline, &["--no-trust-cert-colima"])
        .success()
        .stderr_has("Skipped Colima cert install (--no-trust-cert-colima). To trust later:");
    assert!(trust_commands(&pipeline).is_empty());
    assert!(pipeline.argv_of("colima").is_empty());

    // The last of --trust-cert-colima / --no-trust-cert-colima wins.
    pipeline.clear_log();
    start(
        &pipeline,
        &["--no-trust-cert-colima", "--trust-cert-colima"],
    )
    .success();
    assert_eq!(pipeline.argv_of("colima")[0], strings(&["status"]));

    // --trust-cert with Colima: both the system store and the VM.
    pipeline.clear_log();
    start(&pipeline, &["--trust-cert"]).success();
    assert_eq!(trust_commands(&pipeline), linux_trust(&pipeline, &cert));
    assert_eq!(pipeline.argv_of("colima").len(), 3);
}

#[test]
fn failures_stop_with_the_failing_step() {
    let mut pipeline = registry();
    pipeline.set("FIXTURE_DOCKER_EXIT", "125");
    start(&pipeline, &[])
        .code(125)
        .stderr_has("error: Command failed: ")
        .stderr_has("docker run -d -p 5001:5001");
    assert!(!certs(&pipeline).exists());

    pipeline
        .unset("FIXTURE_DOCKER_EXIT")
        .set("FIXTURE_DOCKER_ID", "");
    start(&pipeline, &[])
        .code(1)
        .stderr_has("Container started but not found");

    pipeline
        .set("FIXTURE_DOCKER_ID", "abc123")
        .set("FIXTURE_COLIMA_SSH_EXIT", "3");
    start(&pipeline, &[])
        .code(1)
        .stderr_has("Failed to install cert in Colima VM: ")
        .stderr_has("fixture colima: ssh failed");

    pipeline
        .unset("FIXTURE_COLIMA_SSH_EXIT")
        .set("GITHUB_ACTIONS", "true");
    pipeline.remove_host_tool("docker");
    pipeline.without_local_bin();
    start(&pipeline, &[])
        .code(1)
        .stderr_has("::error::`docker` was not found on PATH");
}

/// The default image is a tag until a digest is pinned: `--help` says so and how to pin it, a run
/// says so once, a digest reference goes to `docker run` as given, and a malformed one is refused
/// before anything runs.
#[test]
fn the_image_reference_is_pinned_by_digest_or_says_it_is_not() {
    let mut pipeline = registry();
    let help = pipeline.env.op(&["start-registry", "--help"]);
    help.success()
        .stdout_has("ghcr.io/octopilot/registry-tls:latest")
        .stdout_has("not pinned by digest")
        .stdout_has("@sha256:")
        .stdout_has("REGISTRY_TLS_IMAGE");

    start(&pipeline, &[]).success().stderr_has(
        "warning: ghcr.io/octopilot/registry-tls:latest is a tag, not pinned by digest",
    );

    pipeline.clear_log();
    let pinned = format!("ghcr.io/octopilot/registry-tls@sha256:{}", "ab".repeat(32));
    start(&pipeline, &["--image", &pinned])
        .success()
        .stderr_lacks("not pinned by digest");
    assert_eq!(pipeline.argv_of("docker")[3], docker_run(&pinned));

    pipeline.clear_log();
    pipeline.set(
        "REGISTRY_TLS_IMAGE",
        "ghcr.io/octopilot/registry-tls@sha256:abc",
    );
    start(&pipeline, &[])
        .code(2)
        .stderr_has("--image ghcr.io/octopilot/registry-tls@sha256:abc")
        .stderr_has("64 hex digits");
    assert!(pipeline.calls().is_empty());
}

#[test]
fn dry_run_prints_every_step_and_runs_nothing() {
    let pipeline = registry();
    let certs_dir = certs(&pipeline);
    let cert = certs_dir.join("tls.crt");
    let run = start(
        &pipeline,
        &["--dry-run", "--trust-cert", "--no-restart-colima"],
    );
    run.success()
        .stderr_has(&format!(
            "(dry run) Would copy the certificate to {}",
            cert.display()
        ))
        .stderr_lacks("Certs copied")
        .stderr_lacks("Cert installed")
        .stderr_lacks("detected");
    let docker = pipeline.host_path("docker");
    let colima = pipeline.host_path("colima");
    let out = &run.stdout;
    let url = format!("{}/v2/", pipeline.server.url());
    for line in [
        format!(
            "# stop and remove each container listed by: {} ps -a --filter 'name=^registry$' --format {{{{.ID}}}}",
            docker.display()
        ),
        format!(
            "{} run -d -p 5001:5001 -v registry-data:/var/lib/registry -v registry-certs:/etc/envoy/certs --restart unless-stopped --name registry ghcr.io/octopilot/registry-tls:latest",
            docker.display()
        ),
        format!("# wait up to 30 s until {url} answers (HTTP 200 or 401)"),
        format!("# create directory {}", certs_dir.display()),
        format!(
            "{} cp registry:/etc/envoy/certs/tls.crt {}/",
            docker.display(),
            certs_dir.display()
        ),
        format!("# move it to {}", cert.display()),
        format!("{} {}", cert.display(), anchor(&pipeline).display()),
        format!("# if `{} status` succeeds:", colima.display()),
        format!("{} ssh -- sudo sh -c 'mkdir -p", colima.display()),
        "# otherwise (Docker Desktop or another runtime):".to_string(),
    ] {
        assert!(out.contains(&line), "stdout lacks {line:?}:\n{out}");
    }
    assert!(!out.contains(" exec "), "no probe inside the image: {out}");
    assert!(out.contains("update-ca-certificates"), "{out}");
    assert!(out.contains(".system-trust-installed"), "{out}");
    assert!(
        !out.contains(&format!("{} restart", colima.display())),
        "--no-restart-colima: {out}"
    );
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
    assert!(!certs_dir.exists());
    assert_eq!(
        pipeline.server.request_count(),
        0,
        "a dry run waits for nothing"
    );
}

/// A dry run on a machine without the hosts entry, Docker or Colima still shows every step,
/// the hosts-file step among them, and claims nothing happened.
#[test]
fn dry_run_without_hosts_entry_or_docker_shows_the_steps_it_would_take() {
    let mut pipeline = registry();
    let hosts = pipeline.write("hosts", "127.0.0.1 localhost\n");
    pipeline.set("OP_HOSTS_FILE", hosts.to_str().unwrap());
    pipeline.remove_host_tool("docker");
    pipeline.remove_host_tool("colima");
    pipeline.without_local_bin();
    let run = start(&pipeline, &["--dry-run"]);
    run.success()
        .stdout_has(&format!(
            "# add '127.0.0.1 registry.local' to {} (it lacks the entry; a real run stops here)",
            hosts.display()
        ))
        .stdout_has("docker run -d -p 5001:5001")
        .stdout_has("docker cp registry:/etc/envoy/certs/tls.crt ")
        .stderr_has("(dry run) Would copy the certificate to ")
        .stderr_has("(dry run) Would add the registry's self-signed cert to the system trust store")
        .stderr_lacks("Docker Desktop (or other runtime) detected")
        .stderr_lacks("Certs copied")
        .stderr_lacks("Cert installed")
        .stderr_lacks("Installing");
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
}
