//! `op start-registry`: fixture `docker`, `colima`, `sudo` and trust-store programs first on PATH
//! (the real ones are never reached), the exact argv of every step, each trust branch, the
//! idempotent system-trust sentinel, failures and `--dry-run`.

use std::path::{Path, PathBuf};

use crate::pipeline_bed::{COLIMA, Pipeline, strings};

const ANCHOR: &str = "/usr/local/share/ca-certificates/registry-tls-localhost.crt";

/// A pipeline whose hosts file maps registry.local, with an old registry container `abc123`,
/// a running fixture Colima, and fixtures for every trust program.
fn registry() -> Pipeline {
    let mut pipeline = Pipeline::new();
    let hosts = pipeline.write("hosts", "127.0.0.1 localhost\n::1 registry.local # op\n");
    pipeline
        .set("OP_HOSTS_FILE", hosts.to_str().unwrap())
        .set("FIXTURE_DOCKER_ID", "abc123");
    pipeline.host_tool("colima", COLIMA);
    // Tests may run as root, when op calls these without sudo: never the real ones.
    for tool in [
        "sudo",
        "cp",
        "update-ca-certificates",
        "update-ca-trust",
        "security",
    ] {
        pipeline.host_tool(tool, "");
    }
    pipeline
}

fn certs(pipeline: &Pipeline) -> PathBuf {
    pipeline.env.root().join("certs")
}

fn start(pipeline: &Pipeline, extra: &[&str]) -> crate::support::Run {
    let certs = certs(pipeline);
    let mut args = vec!["start-registry", "--certs-dir", certs.to_str().unwrap()];
    args.extend_from_slice(extra);
    pipeline.env.op(&args)
}

fn running_as_root() -> bool {
    let output = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// The system-trust commands that ran, with `sudo` folded away (asserted separately).
fn trust_commands(pipeline: &Pipeline) -> Vec<Vec<String>> {
    let root = running_as_root();
    pipeline
        .calls()
        .into_iter()
        .filter_map(|call| match call.tool.as_str() {
            "sudo" => {
                assert!(!root, "no sudo as root: {call:?}");
                Some(call.argv)
            }
            "cp" | "update-ca-certificates" | "security" => {
                assert!(root, "sudo when not root: {call:?}");
                Some([vec![call.tool], call.argv].concat())
            }
            _ => None,
        })
        .collect()
}

fn linux_trust(cert: &Path) -> Vec<Vec<String>> {
    vec![
        strings(&["cp", cert.to_str().unwrap(), ANCHOR]),
        strings(&["update-ca-certificates"]),
    ]
}

fn docker_run(image: &str) -> Vec<String> {
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
    pipeline.set(
        "OP_HOSTS_FILE",
        pipeline.env.root().join("missing").to_str().unwrap(),
    );
    start(&pipeline, &[]).code(1);
    assert!(pipeline.calls().is_empty());
}

#[test]
fn replaces_the_container_copies_certs_and_installs_them_into_colima() {
    let mut pipeline = registry();
    pipeline.set("FIXTURE_CERT_AFTER", "3");
    let run = start(&pipeline, &["--image", "fixture/registry:1"]);
    let certs = certs(&pipeline);
    run.success()
        .stderr_has(&format!("Certs copied to {}", certs.display()))
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
    let probe = strings(&["exec", "abc123", "test", "-f", "/etc/envoy/certs/tls.crt"]);
    assert_eq!(
        pipeline.argv_of("docker"),
        vec![
            ps.clone(),
            strings(&["stop", "abc123"]),
            strings(&["rm", "abc123"]),
            docker_run("fixture/registry:1"),
            ps,
            probe.clone(),
            probe.clone(),
            probe,
            strings(&["cp", "abc123:/etc/envoy/certs/.", certs.to_str().unwrap()]),
        ]
    );
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
    assert_eq!(pipeline.stdin_of_last_ssh(), "fixture certificate one\n");
    assert!(
        trust_commands(&pipeline).is_empty(),
        "no system trust with Colima"
    );
    assert!(certs.join("tls.crt").is_file());

    // --no-restart-colima; REGISTRY_TLS_IMAGE names the image.
    pipeline.clear_log();
    pipeline
        .set("REGISTRY_TLS_IMAGE", "env/registry:2")
        .unset("FIXTURE_CERT_AFTER");
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
        .stderr_has("Docker Desktop (or other runtime) detected.")
        .stderr_has("Cert installed for system trust. Restart Docker if pull still fails.");
    assert_eq!(pipeline.argv_of("colima"), vec![strings(&["status"])]);
    assert_eq!(trust_commands(&pipeline), linux_trust(&cert));
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
    assert_eq!(trust_commands(&pipeline), linux_trust(&cert));
}

#[test]
fn trust_cert_and_no_trust_cert_colima() {
    let pipeline = registry();
    let cert = certs(&pipeline).join("tls.crt");
    start(&pipeline, &["--no-trust-cert-colima", "--trust-cert"])
        .success()
        .stderr_has("Cert installed for system trust. You may need to restart Docker for it to take effect.");
    assert_eq!(trust_commands(&pipeline), linux_trust(&cert));
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
    assert_eq!(trust_commands(&pipeline), linux_trust(&cert));
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

#[test]
fn dry_run_prints_every_step_and_runs_nothing() {
    let pipeline = registry();
    let certs_dir = certs(&pipeline);
    let cert = certs_dir.join("tls.crt");
    let run = start(
        &pipeline,
        &["--dry-run", "--trust-cert", "--no-restart-colima"],
    );
    run.success().stderr_has("(dry run) Certs copied to");
    let docker = pipeline.host_path("docker");
    let colima = pipeline.host_path("colima");
    let out = &run.stdout;
    for line in [
        format!(
            "# stop and remove each container listed by: {} ps -a --filter 'name=^registry$' --format {{{{.ID}}}}",
            docker.display()
        ),
        format!(
            "{} run -d -p 5001:5001 -v registry-data:/var/lib/registry -v registry-certs:/etc/envoy/certs --restart unless-stopped --name registry ghcr.io/octopilot/registry-tls:latest",
            docker.display()
        ),
        format!(
            "{} exec registry test -f /etc/envoy/certs/tls.crt",
            docker.display()
        ),
        format!("# create directory {}", certs_dir.display()),
        format!(
            "{} cp registry:/etc/envoy/certs/. {}",
            docker.display(),
            certs_dir.display()
        ),
        format!("{} {ANCHOR}", cert.display()),
        format!("# if `{} status` succeeds:", colima.display()),
        format!("{} ssh -- sudo sh -c 'mkdir -p", colima.display()),
        "# otherwise (Docker Desktop or another runtime):".to_string(),
    ] {
        assert!(out.contains(&line), "stdout lacks {line:?}:\n{out}");
    }
    assert!(out.contains("update-ca-certificates"), "{out}");
    assert!(out.contains(".system-trust-installed"), "{out}");
    assert!(
        !out.contains(&format!("{} restart", colima.display())),
        "--no-restart-colima: {out}"
    );
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
    assert!(!certs_dir.exists());
}
