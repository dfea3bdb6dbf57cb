//! The pipeline commands end to end: fixture `skaffold`, `pack`, `flux`, `kubectl` and `crane`
//! installed through the toolchain (a test lock + file:// mirror, exactly like real tools), and
//! fixture `docker` and `git` on PATH. Every fixture logs its argv and working directory.
#![cfg(unix)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::{LockEntry, Run, TestEnv};

/// A fixture program: logs `name␟cwd␟arg␟arg…` to $FIXTURE_LOG, then does what `behaviour` says.
fn fixture(name: &str, behaviour: &str) -> Vec<u8> {
    format!(
        "#!/bin/sh\n# fixture {name}: stands in for the real tool in tests\n\
         ( IFS=$(printf '\\037'); printf '%s\\037%s\\037%s\\n' {name} \"$PWD\" \"$*\" >> \"$FIXTURE_LOG\" )\n\
         {behaviour}\nexit 0\n"
    )
    .into_bytes()
}

const SKAFFOLD: &str = r#"
prev=""; repo=""; out=""
for a in "$@"; do
  [ "$prev" = "--default-repo" ] && repo="$a"
  [ "$prev" = "--file-output" ] && out="$a"
  prev="$a"
done
if [ -n "$FIXTURE_SKAFFOLD_WAIT" ]; then
  trap 'echo "fixture skaffold: got TERM" >> "$FIXTURE_LOG.signals"; exit 42' TERM
  i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; exit 0
fi
if [ -n "$FIXTURE_SKAFFOLD_EXIT" ]; then echo "fixture skaffold: failing" >&2; exit "$FIXTURE_SKAFFOLD_EXIT"; fi
if [ -n "$out" ]; then printf '{"builds":[{"imageName":"app","tag":"%s/app:fixture1"},{"imageName":"web","tag":"%s/web:fixture1"}]}' "$repo" "$repo" > "$out"; fi
echo "Tagged app as $repo/app:abc123"
"#;

const KUBECTL: &str = r#"
case "$*" in
  *"get deployment"*)
    count=$(cat "$FIXTURE_LOG.polls" 2>/dev/null || echo 0); count=$((count + 1)); echo "$count" > "$FIXTURE_LOG.polls"
    if [ "$count" -ge "${FIXTURE_POLLS:-1}" ]; then echo "$FIXTURE_IMAGE"; else echo "old.io/app:0.9.0"; fi ;;
  *"rollout status"*) exit "${FIXTURE_ROLLOUT_EXIT:-0}" ;;
esac
"#;

const DOCKER: &str = r#"
case "$1" in
  ps) [ -n "$FIXTURE_DOCKER_ID" ] && echo "$FIXTURE_DOCKER_ID" ;;
  cp) mkdir -p "$3" && echo "fixture cert" > "$3/tls.crt" ;;
  run) exit "${FIXTURE_DOCKER_EXIT:-0}" ;;
esac
"#;

const GIT: &str = r#"
if [ -n "$FIXTURE_GIT_TAG" ]; then echo "$FIXTURE_GIT_TAG"; else exit 128; fi
"#;

struct Pipeline {
    env: TestEnv,
    log: PathBuf,
}

impl Pipeline {
    fn new() -> Pipeline {
        let mut env = TestEnv::new();
        let mirror = env.path().join("mirror");
        let mut entries = Vec::new();
        for (tool, behaviour) in [
            ("skaffold", SKAFFOLD),
            ("pack", ""),
            ("flux", ""),
            ("kubectl", KUBECTL),
            ("crane", "exit ${FIXTURE_CRANE_EXIT:-0}"),
        ] {
            let body = fixture(tool, behaviour);
            let path = format!("fixtures.example.com/{tool}");
            std::fs::create_dir_all(mirror.join("fixtures.example.com")).unwrap();
            std::fs::write(mirror.join(&path), &body).unwrap();
            entries.push(LockEntry::new(
                tool,
                &format!("https://{path}"),
                &body,
                "raw",
                None,
            ));
        }
        let lock = env.path().join("fixture-tools.lock");
        std::fs::write(&lock, support::lock_text(&entries)).unwrap();
        let bin = env.path().join("host-bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (name, behaviour) in [("docker", DOCKER), ("git", GIT)] {
            std::fs::write(bin.join(name), fixture(name, behaviour)).unwrap();
            std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let log = env.path().join("fixture.log");
        let path = format!("{}:/usr/bin:/bin", bin.display());
        env.set("OP_TOOLCHAIN_LOCK", lock.to_str().unwrap())
            .set(
                "OP_TOOLCHAIN_MIRROR",
                format!("file://{}", mirror.display()),
            )
            .set("FIXTURE_LOG", log.to_str().unwrap())
            .set("PATH", path);
        Pipeline { env, log }
    }

    fn op(&self, args: &[&str]) -> Run {
        let mut command = self.env.command();
        command.args(args);
        for (key, value) in &self.env.vars {
            command.env(key, value);
        }
        Run(command.output().unwrap())
    }

    /// `(tool, cwd, argv)` of every fixture call, in order.
    fn calls(&self) -> Vec<(String, String, Vec<String>)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let mut fields = line.split('\u{1f}');
                let tool = fields.next().unwrap().to_string();
                let cwd = fields.next().unwrap().to_string();
                (tool, cwd, fields.map(str::to_string).collect())
            })
            .collect()
    }

    fn argv_of(&self, tool: &str) -> Vec<Vec<String>> {
        self.calls()
            .into_iter()
            .filter(|(name, _, _)| name == tool)
            .map(|(_, _, argv)| argv)
            .collect()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.env.work().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn set(&mut self, key: &str, value: &str) -> &mut Pipeline {
        self.env.set(key, value);
        self
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

const SKAFFOLD_YAML: &str = "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n    - image: api\n      context: services/api\n      buildpacks:\n        builder: paketobuildpacks/builder-jammy-base\n    - image: web\n      context: web\n      docker:\n        dockerfile: Dockerfile\n";

#[test]
fn build_runs_pinned_skaffold_with_tag_and_config_settings() {
    let mut pipeline = Pipeline::new();
    pipeline.op(&["build"]).expect_code(0);
    assert_eq!(
        pipeline.argv_of("skaffold"),
        [strings(&[
            "build",
            "--cache-artifacts=false",
            "--default-repo",
            "localhost:5001"
        ])]
    );
    let (_, cwd, _) = &pipeline.calls()[0];
    assert_eq!(Path::new(cwd), pipeline.env.work().canonicalize().unwrap());

    let config = pipeline.write(
        "ci.properties",
        "# pipeline settings\nSKAFFOLD_PROFILE = prod\nSKAFFOLD_DEFAULT_REPO=file.io/acme\n",
    );
    pipeline
        .set("GITHUB_REF", "refs/tags/v1.2.3")
        .set("SKAFFOLD_LABEL", "team=core")
        .set("SKAFFOLD_DEFAULT_REPO", "env.io/acme");
    pipeline
        .op(&["--config", config.to_str().unwrap(), "build"])
        .expect_code(0);
    assert_eq!(
        pipeline.argv_of("skaffold")[1],
        strings(&[
            "build",
            "--cache-artifacts=false",
            "--default-repo",
            "env.io/acme",
            "--tag",
            "1.2.3",
            "--profile",
            "prod",
            "--label",
            "team=core"
        ])
    );
    pipeline
        .op(&[
            "--config",
            config.to_str().unwrap(),
            "build",
            "--repo",
            "flag.io/x/",
        ])
        .expect_code(0);
    assert_eq!(pipeline.argv_of("skaffold")[2][3], "flag.io/x");
}

#[test]
fn default_repo_precedence_for_local_commands() {
    let mut pipeline = Pipeline::new();
    let repo = |pipeline: &Pipeline| pipeline.argv_of("skaffold").last().unwrap()[3].clone();
    pipeline.write(
        ".registry",
        "local: ${LOCAL_REG:-registry.local:5001}\nci: [ghcr.io/acme]\n",
    );
    pipeline.op(&["build"]).expect_code(0);
    assert_eq!(
        repo(&pipeline),
        "registry.local:5001",
        ".registry local with a default"
    );
    pipeline.write(".github/octopilot.yaml", "default_repo: legacy.io/x\n");
    pipeline.op(&["build"]).expect_code(0);
    assert_eq!(
        repo(&pipeline),
        "legacy.io/x",
        "octopilot.yaml when .run.yaml is absent"
    );
    pipeline.write(".run.yaml", "default_repo: run.io/x/\n");
    pipeline.op(&["build"]).expect_code(0);
    assert_eq!(
        repo(&pipeline),
        "run.io/x",
        ".run.yaml beats .registry and octopilot.yaml"
    );
    let config = pipeline.write("p.properties", "GOOGLE_GKE_IMAGE_REPOSITORY=props.io/x\n");
    pipeline
        .op(&["--config", config.to_str().unwrap(), "build"])
        .expect_code(0);
    assert_eq!(repo(&pipeline), "props.io/x", "properties beat repo files");
    pipeline.set("SKAFFOLD_DEFAULT_REPO", "env.io/x");
    pipeline
        .op(&["--config", config.to_str().unwrap(), "build"])
        .expect_code(0);
    assert_eq!(repo(&pipeline), "env.io/x", "environment beats properties");
}

#[test]
fn config_file_errors_stop_before_anything_runs() {
    let mut pipeline = Pipeline::new();
    pipeline
        .op(&["--config", "missing.properties", "build"])
        .expect_code(2)
        .stderr_has(&["missing.properties"]);
    pipeline.set("OCTOPILOT_PIPELINE_PROPERTIES", "also-missing.properties");
    pipeline
        .op(&["build"])
        .expect_code(2)
        .stderr_has(&["also-missing.properties"]);
    assert!(pipeline.calls().is_empty());
}

#[test]
fn dry_run_prints_absolute_commands_and_runs_nothing() {
    let pipeline = Pipeline::new();
    let run = pipeline.op(&["build", "--dry-run"]);
    run.expect_code(0);
    let line = run.stdout();
    assert!(
        line.contains("/tools/skaffold-1.0.0-linux-amd64-")
            && line.contains(
                "/bin/skaffold build --cache-artifacts=false --default-repo localhost:5001"
            ),
        "{line}"
    );
    assert!(pipeline.argv_of("skaffold").is_empty());
    pipeline.write("skaffold.yaml", SKAFFOLD_YAML);
    let run = pipeline.op(&["build-push", "--dry-run"]);
    run.expect_code(0);
    assert!(
        run.stdout().contains("would write") && run.stdout().contains("build_result.json"),
        "{}",
        run.stdout()
    );
    // Reading state (the release tag from git) is allowed; nothing that changes anything ran.
    assert!(
        pipeline.calls().iter().all(|(tool, _, _)| tool == "git"),
        "{:?}",
        pipeline.calls()
    );
    assert!(!pipeline.env.work().join("build_result.json").exists());
}

#[test]
fn push_writes_build_result_and_fans_out_with_push_all() {
    let mut pipeline = Pipeline::new();
    pipeline.write(".registry", "local: localhost:5001\nci:\n  - ghcr.io/acme\n  - url: ${GAR}/images\n    name: gar\n  - ghcr.io/acme/\n");
    pipeline
        .set("GITHUB_ACTIONS", "true")
        .set("GAR", "europe-docker.pkg.dev/p");
    pipeline.op(&["push", "--push-all"]).expect_code(0);
    let skaffold = &pipeline.argv_of("skaffold")[0];
    assert_eq!(skaffold[0], "build");
    assert_eq!(skaffold[1], "--file-output");
    assert_eq!(
        &skaffold[3..],
        strings(&[
            "--default-repo",
            "ghcr.io/acme",
            "--push",
            "--profile",
            "push"
        ])
    );
    let result = std::fs::read_to_string(pipeline.env.work().join("build_result.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&result).unwrap();
    assert_eq!(parsed["builds"][0]["imageName"], "app");
    assert_eq!(parsed["builds"][1]["tag"], "ghcr.io/acme/web:fixture1");
    assert_eq!(
        pipeline.argv_of("crane"),
        [
            strings(&[
                "copy",
                "ghcr.io/acme/app:fixture1",
                "europe-docker.pkg.dev/p/images/app:fixture1"
            ]),
            strings(&[
                "copy",
                "ghcr.io/acme/web:fixture1",
                "europe-docker.pkg.dev/p/images/web:fixture1"
            ]),
        ]
    );
    assert_eq!(
        support::list_names(&pipeline.env.work())
            .iter()
            .filter(|name| name.contains(".tmp"))
            .count(),
        0
    );
}

#[test]
fn failed_push_keeps_the_old_build_result_and_passes_the_exit_code() {
    let mut pipeline = Pipeline::new();
    let old = "{\"builds\":[{\"imageName\":\"app\",\"tag\":\"r.io/app:old\"}]}\n";
    pipeline.write("build_result.json", old);
    pipeline.set("FIXTURE_SKAFFOLD_EXIT", "9");
    pipeline
        .op(&["push", "--default-repo", "r.io"])
        .expect_code(9);
    assert_eq!(
        std::fs::read_to_string(pipeline.env.work().join("build_result.json")).unwrap(),
        old
    );
    assert_eq!(
        support::list_names(&pipeline.env.work())
            .iter()
            .filter(|name| name.contains(".tmp"))
            .count(),
        0
    );
}

#[test]
fn push_without_registry_and_output_parsing() {
    let pipeline = Pipeline::new();
    pipeline
        .op(&["push"])
        .expect_code(1)
        .stderr_has(&["no push registry", "--default-repo"]);
    assert!(pipeline.calls().is_empty());
    pipeline
        .op(&[
            "push",
            "--default-repo",
            "r.io/acme",
            "--no-file-output",
            "--profile",
            "",
        ])
        .expect_code(0);
    assert_eq!(
        pipeline.argv_of("skaffold")[0],
        strings(&["build", "--default-repo", "r.io/acme", "--push"])
    );
    let result = std::fs::read_to_string(pipeline.env.work().join("build_result.json")).unwrap();
    assert!(result.contains("r.io/acme/app:abc123"), "{result}");
    pipeline
        .op(&[
            "push",
            "--default-repo",
            "r.io",
            "--no-file-output",
            "--image-pattern",
            "Tagged (?P<image>\\S+) as (?P<tag>\\S+)",
        ])
        .expect_code(0);
    let result = std::fs::read_to_string(pipeline.env.work().join("build_result.json")).unwrap();
    assert!(result.contains("\"app:r.io/app:abc123\""), "{result}");
    pipeline
        .op(&[
            "push",
            "--default-repo",
            "r.io",
            "--no-file-output",
            "--image-pattern",
            "(unclosed",
        ])
        .expect_code(2);
    assert_eq!(
        pipeline.argv_of("skaffold").len(),
        2,
        "a bad pattern runs nothing"
    );
}

#[test]
fn build_push_uses_pack_for_buildpacks_and_docker_for_dockerfiles() {
    let mut pipeline = Pipeline::new();
    pipeline.write("skaffold.yaml", SKAFFOLD_YAML);
    pipeline.write("web/Dockerfile", "FROM scratch\n");
    pipeline.set("GITHUB_REF", "refs/tags/v2.0.0");
    pipeline.op(&["build-push"]).expect_code(0);
    let work = pipeline.env.work().canonicalize().unwrap();
    let pack = &pipeline.argv_of("pack")[0];
    let mut expected = strings(&["build", "127.0.0.1:5001/api:2.0.0", "--path"]);
    expected.push(work.join("services/api").display().to_string());
    expected.extend(strings(&[
        "--builder",
        "paketobuildpacks/builder-jammy-base",
        "--publish",
        "--tag",
        "127.0.0.1:5001/api:latest",
        "--insecure-registry",
        "127.0.0.1:5001",
        "--network",
        "host",
    ]));
    assert_eq!(*pack, expected);
    let docker = pipeline.argv_of("docker");
    assert_eq!(
        docker[0][..3],
        strings(&["build", "-t", "localhost:5001/web:2.0.0"])
    );
    assert_eq!(docker[1], strings(&["push", "localhost:5001/web:2.0.0"]));
    assert_eq!(
        docker[2],
        strings(&[
            "tag",
            "localhost:5001/web:2.0.0",
            "localhost:5001/web:latest"
        ])
    );
    assert_eq!(docker[3], strings(&["push", "localhost:5001/web:latest"]));
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("build_result.json")).unwrap())
            .unwrap();
    assert_eq!(
        result["builds"][0]["tag"], "localhost:5001/api:2.0.0",
        "the user-facing registry is recorded"
    );

    // --repo, PACK_CMD, and a tag from git when GITHUB_REF is not a tag.
    let custom_pack = pipeline.env.path().join("my-pack");
    std::fs::write(&custom_pack, fixture("custom-pack", "")).unwrap();
    std::fs::set_permissions(&custom_pack, std::fs::Permissions::from_mode(0o755)).unwrap();
    pipeline
        .set("GITHUB_REF", "")
        .set("FIXTURE_GIT_TAG", "v3.1.0")
        .set("PACK_CMD", custom_pack.to_str().unwrap());
    pipeline
        .op(&["build-push", "--repo", "ghcr.io/acme"])
        .expect_code(0);
    let custom = &pipeline.argv_of("custom-pack")[0];
    assert_eq!(custom[..2], strings(&["build", "ghcr.io/acme/api:3.1.0"]));
    assert!(!custom.contains(&"--insecure-registry".to_string()));
    assert_eq!(
        pipeline.argv_of("git")[0],
        strings(&["describe", "--exact-match", "--tags", "HEAD"])
    );
}

#[test]
fn promote_copies_between_environment_registries() {
    let mut pipeline = Pipeline::new();
    pipeline.write(
        "out/build_result.json",
        "{\"builds\":[{\"imageName\":\"api\",\"tag\":\"dev.io/p/api:1.0.0\"},\"web:1.0.0\"]}",
    );
    pipeline
        .op(&[
            "promote-image",
            "--source",
            "dev",
            "--destination",
            "pp",
            "--build-result",
            "out",
        ])
        .expect_code(1)
        .stderr_has(&["GOOGLE_GKE_IMAGE_PP_REPOSITORY"]);
    let config = pipeline.write("env.properties", "GOOGLE_GKE_IMAGE_PP_REPOSITORY=pp.io/p\n");
    pipeline.set("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io/p");
    pipeline
        .op(&[
            "--config",
            config.to_str().unwrap(),
            "promote-image",
            "--source",
            "dev",
            "--destination",
            "pp",
            "--build-result",
            "out",
        ])
        .expect_code(0);
    assert_eq!(
        pipeline.argv_of("crane"),
        [
            strings(&["copy", "dev.io/p/api:1.0.0", "pp.io/p/api:1.0.0"]),
            strings(&["copy", "dev.io/p/web:1.0.0", "pp.io/p/web:1.0.0"])
        ]
    );
    pipeline.set("FIXTURE_CRANE_EXIT", "4");
    pipeline
        .op(&[
            "--config",
            config.to_str().unwrap(),
            "promote-image",
            "--source",
            "dev",
            "--destination",
            "pp",
            "--build-result",
            "out/build_result.json",
            "--image-name",
            "api",
        ])
        .expect_code(4);
    pipeline.write("bad.json", "{\"builds\": []}");
    pipeline
        .op(&[
            "--config",
            config.to_str().unwrap(),
            "promote-image",
            "--source",
            "dev",
            "--destination",
            "pp",
            "--build-result",
            "bad.json",
        ])
        .expect_code(2)
        .stderr_has(&["bad.json", "empty"]);
}

#[test]
fn watch_deployment_polls_until_the_image_matches_then_waits_for_rollout() {
    let mut pipeline = Pipeline::new();
    pipeline.write(
        "build_result.json",
        "{\"builds\":[{\"imageName\":\"api\",\"tag\":\"dev.io/p/api:1.2.0\"}]}",
    );
    pipeline
        .set("FIXTURE_POLLS", "3")
        .set("FIXTURE_IMAGE", "dev.io/p/api:1.2.0");
    pipeline
        .op(&[
            "watch-deployment",
            "--component",
            "api",
            "--environment",
            "dev",
            "--namespace",
            "apps",
            "--interval",
            "50ms",
        ])
        .expect_code(0);
    let kubectl = pipeline.argv_of("kubectl");
    assert_eq!(
        kubectl[0],
        strings(&[
            "-n",
            "apps",
            "get",
            "deployment",
            "api",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ])
    );
    assert_eq!(kubectl.len(), 4, "three polls, then the rollout");
    assert_eq!(
        kubectl[3],
        strings(&[
            "-n",
            "apps",
            "rollout",
            "status",
            "deployment/api",
            "--timeout",
            "30m"
        ])
    );
    assert_eq!(
        pipeline.argv_of("flux")[0],
        strings(&["reconcile", "helmrelease", "api", "-n", "apps"])
    );

    // Rollout failure passes kubectl's code through.
    std::fs::remove_file(pipeline.log.with_extension("log.polls")).ok();
    pipeline
        .set("FIXTURE_ROLLOUT_EXIT", "5")
        .set("FIXTURE_POLLS", "1");
    pipeline
        .op(&[
            "watch-deployment",
            "--component",
            "api",
            "--environment",
            "dev",
            "--interval",
            "10ms",
        ])
        .expect_code(5);

    // The image never arrives: a clear error within the poll timeout.
    pipeline.set("FIXTURE_IMAGE", "dev.io/p/api:1.1.0");
    let started = std::time::Instant::now();
    pipeline
        .op(&[
            "watch-deployment",
            "--component",
            "api",
            "--environment",
            "dev",
            "--poll-timeout",
            "300ms",
            "--interval",
            "50ms",
        ])
        .expect_code(1)
        .stderr_has(&[
            "gave up after 300ms",
            "dev.io/p/api:1.2.0",
            "dev.io/p/api:1.1.0",
        ]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn run_lists_contexts_and_runs_the_built_image() {
    let mut pipeline = Pipeline::new();
    pipeline.write("skaffold.yaml", SKAFFOLD_YAML);
    pipeline.write(
        "services/api/Procfile",
        "web: gunicorn -b :${PORT:-5000} app\n",
    );
    pipeline.write("web/Dockerfile", "FROM nginx\nEXPOSE 80\n");
    let list = pipeline.op(&["run", "context", "list"]);
    list.expect_code(0);
    assert!(
        list.stdout()
            .contains("  services/api (image api, container port 5000)"),
        "{}",
        list.stdout()
    );
    assert!(
        list.stdout()
            .contains("  web (image web, container port 80)"),
        "{}",
        list.stdout()
    );

    pipeline.write(".run.yaml", "contexts:\n  services/api:\n    ports: [\"9000:5000\"]\n    env: {DEBUG: true, PORT: 5001}\n    volumes: [\"./data:/data\"]\n");
    pipeline.write(
        "build_result.json",
        "{\"builds\":[{\"imageName\":\"api\",\"tag\":\"ghcr.io/acme/api:7\"}]}",
    );
    pipeline.op(&["run", "services/api"]).expect_code(0);
    let work = pipeline.env.work().canonicalize().unwrap();
    assert_eq!(
        pipeline.argv_of("docker")[0],
        strings(&[
            "run",
            "--rm",
            "-p",
            "9000:5000",
            "-e",
            "PORT=5001",
            "-e",
            "DEBUG=true",
            "-v",
            &format!("{}/./data:/data", work.display()),
            "ghcr.io/acme/api:7"
        ])
    );
    pipeline.op(&["run", "web"]).expect_code(1).stderr_has(&[
        "image web",
        "not in the last build",
        "ghcr.io/acme/api:7",
    ]);
    pipeline
        .op(&["run", "nope"])
        .expect_code(1)
        .stderr_has(&["unknown context `nope`", "services/api"]);
    pipeline.set("FIXTURE_DOCKER_EXIT", "125");
    pipeline.op(&["run", "services/api"]).expect_code(125);
    pipeline.write(".run.yaml", "contexts:\n  web:\n    ports: 80\n");
    pipeline
        .op(&["run", "web"])
        .expect_code(2)
        .stderr_has(&[".run.yaml", "contexts.web.ports must be a list"]);
}

#[test]
fn start_registry_checks_hosts_then_starts_and_copies_certs() {
    let mut pipeline = Pipeline::new();
    let hosts = pipeline.write("hosts", "127.0.0.1 localhost\n");
    pipeline.set("OP_HOSTS_FILE", hosts.to_str().unwrap());
    pipeline
        .op(&["start-registry"])
        .expect_code(1)
        .stderr_has(&["registry.local", "sudo tee -a /etc/hosts"]);
    assert!(pipeline.calls().is_empty());
    pipeline.write("hosts", "127.0.0.1 localhost registry.local\n");
    let certs = pipeline.env.path().join("certs");
    pipeline.set("FIXTURE_DOCKER_ID", "abc123");
    pipeline
        .op(&[
            "start-registry",
            "--certs-dir",
            certs.to_str().unwrap(),
            "--no-trust-cert-colima",
            "--image",
            "fixture/registry:1",
        ])
        .expect_code(0);
    let docker = pipeline.argv_of("docker");
    assert_eq!(
        docker[0],
        strings(&[
            "ps",
            "-a",
            "--filter",
            "name=^registry$",
            "--format",
            "{{.ID}}"
        ])
    );
    assert_eq!(docker[1], strings(&["stop", "abc123"]));
    assert_eq!(docker[2], strings(&["rm", "abc123"]));
    assert_eq!(
        docker[3],
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
            "fixture/registry:1"
        ])
    );
    assert_eq!(
        docker[5],
        strings(&["exec", "abc123", "test", "-f", "/etc/envoy/certs/tls.crt"])
    );
    assert_eq!(
        docker[6],
        strings(&["cp", "abc123:/etc/envoy/certs/.", certs.to_str().unwrap()])
    );
    assert!(certs.join("tls.crt").is_file());
}

#[test]
fn github_actions_errors_are_annotations_and_bad_files_are_exit_2() {
    let mut pipeline = Pipeline::new();
    pipeline.write(".registry", "ci: ghcr.io/acme\n");
    pipeline.set("GITHUB_ACTIONS", "true");
    let run = pipeline.op(&["push"]);
    run.expect_code(2);
    assert!(run.stderr().starts_with("::error::"), "{}", run.stderr());
    assert!(
        run.stderr().contains(".registry") && run.stderr().contains("`ci` must be a list"),
        "{}",
        run.stderr()
    );
    std::fs::remove_file(pipeline.env.work().join(".registry")).unwrap();
    pipeline.write("skaffold.yaml", "build: {artifacts: [");
    pipeline
        .op(&["build-push"])
        .expect_code(2)
        .stderr_has(&["skaffold.yaml", "invalid YAML"]);
    assert!(pipeline.calls().is_empty());
}

#[test]
fn sigterm_reaches_the_child_and_its_exit_code_comes_back() {
    let mut pipeline = Pipeline::new();
    pipeline.set("FIXTURE_SKAFFOLD_WAIT", "1");
    let mut command = pipeline.env.command();
    command.arg("build").stdin(std::process::Stdio::null());
    for (key, value) in &pipeline.env.vars {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pipeline.argv_of("skaffold").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "skaffold never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(
        exit.code(),
        Some(42),
        "op exits with the child's code after relaying SIGTERM"
    );
    let signals = std::fs::read_to_string(pipeline.log.with_extension("log.signals")).unwrap();
    assert!(signals.contains("got TERM"));
}

#[test]
#[cfg(target_os = "linux")]
fn start_registry_dry_run_shows_the_trust_commands() {
    let mut pipeline = Pipeline::new();
    let hosts = pipeline.write("hosts", "::1 registry.local\n");
    pipeline.set("OP_HOSTS_FILE", hosts.to_str().unwrap());
    let certs = pipeline.env.path().join("certs");
    let run = pipeline.op(&[
        "start-registry",
        "--dry-run",
        "--trust-cert",
        "--no-restart-colima",
        "--certs-dir",
        certs.to_str().unwrap(),
    ]);
    run.expect_code(0);
    let out = run.stdout();
    let crt = certs.join("tls.crt");
    assert!(
        out.contains(&format!(
            "sudo cp {} /usr/local/share/ca-certificates/registry-tls-localhost.crt",
            crt.display()
        )),
        "{out}"
    );
    assert!(out.contains("sudo update-ca-certificates"), "{out}");
    assert!(out.contains("colima ssh -- sudo sh -c"), "{out}");
    assert!(!out.contains("colima restart"), "{out}");
    assert!(run.stderr().contains("(dry run)"), "{}", run.stderr());
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
    assert!(!certs.exists());
}

#[test]
fn push_flags_destination_registry_file_output_and_profile() {
    let pipeline = Pipeline::new();
    pipeline.write(".registry", "local: localhost:5001\nci: [ghcr.io/acme]\n");
    let repo_of = |pipeline: &Pipeline| pipeline.argv_of("skaffold").last().unwrap()[4].clone();
    pipeline.op(&["push"]).expect_code(0);
    assert_eq!(
        repo_of(&pipeline),
        "localhost:5001",
        "auto outside CI is local"
    );
    pipeline.op(&["push", "--destination", "ci"]).expect_code(0);
    assert_eq!(repo_of(&pipeline), "ghcr.io/acme");
    pipeline
        .op(&["push", "--destination", "all"])
        .expect_code(0);
    assert_eq!(
        repo_of(&pipeline),
        "localhost:5001",
        "all starts with local"
    );
    let custom = pipeline.write("conf/team.registry", "ci:\n  - quay.io/team\n");
    pipeline
        .op(&[
            "push",
            "--registry-file",
            custom.to_str().unwrap(),
            "--destination",
            "ci",
            "--profile",
            "release",
        ])
        .expect_code(0);
    let argv = pipeline.argv_of("skaffold").last().unwrap().clone();
    assert_eq!(argv[4], "quay.io/team", "the named file itself is read");
    assert_eq!(argv[6..], strings(&["--profile", "release"]));
    pipeline
        .op(&["push", "--registry-file", "conf/missing.registry"])
        .expect_code(2)
        .stderr_has(&["missing.registry"]);

    pipeline.op(&["push", "--output", "out"]).expect_code(0);
    let work = pipeline.env.work().canonicalize().unwrap();
    let (_, cwd, argv) = pipeline
        .calls()
        .into_iter()
        .rfind(|(tool, _, _)| tool == "skaffold")
        .unwrap();
    assert_eq!(
        Path::new(&cwd),
        work,
        "skaffold runs in the project directory"
    );
    assert!(
        Path::new(&argv[2]).starts_with(work.join("out")),
        "{argv:?}"
    );
    assert!(work.join("out/build_result.json").is_file());
    assert!(!work.join("out/out").exists());
}

#[test]
fn build_push_flags_skaffold_file_output_tag_and_missing_dockerfile() {
    let pipeline = Pipeline::new();
    pipeline.write("deploy/skaffold.yaml", SKAFFOLD_YAML);
    pipeline.write("deploy/web/Dockerfile", "FROM scratch\n");
    pipeline
        .op(&[
            "build-push",
            "--skaffold-file",
            "deploy/skaffold.yaml",
            "--output",
            "results",
            "--tag",
            "pr-7",
            "--repo",
            "ghcr.io/acme",
        ])
        .expect_code(0);
    let work = pipeline.env.work().canonicalize().unwrap();
    let pack = &pipeline.argv_of("pack")[0];
    assert_eq!(pack[1], "ghcr.io/acme/api:pr-7");
    assert_eq!(
        pack[3],
        work.join("deploy/services/api").display().to_string(),
        "contexts are relative to skaffold.yaml"
    );
    assert!(
        !pack.contains(&"--tag".to_string()),
        "no :latest without a release tag"
    );
    let docker = pipeline.argv_of("docker");
    assert_eq!(docker.len(), 2, "build and push, no latest: {docker:?}");
    assert_eq!(
        docker[0][4],
        work.join("deploy/web/Dockerfile").display().to_string()
    );
    let result = std::fs::read_to_string(work.join("results/build_result.json")).unwrap();
    assert!(result.contains("\"ghcr.io/acme/web:pr-7\""), "{result}");

    std::fs::remove_file(work.join("deploy/web/Dockerfile")).unwrap();
    pipeline
        .op(&[
            "build-push",
            "--skaffold-file",
            "deploy/skaffold.yaml",
            "--output",
            "results",
        ])
        .expect_code(1)
        .stderr_has(&["Dockerfile not found"]);
    pipeline.write(
        "empty/skaffold.yaml",
        "apiVersion: skaffold/v4beta11\nkind: Config\n",
    );
    pipeline
        .op(&["build-push", "--skaffold-file", "empty/skaffold.yaml"])
        .expect_code(2)
        .stderr_has(&["no buildpacks or docker artifacts"]);
    pipeline
        .op(&["build-push", "--skaffold-file", "nowhere/skaffold.yaml"])
        .expect_code(2)
        .stderr_has(&["nowhere/skaffold.yaml"]);
}

#[test]
fn watch_flags_image_name_digest_and_timeout() {
    let mut pipeline = Pipeline::new();
    pipeline.write("res/build_result.json", "{\"builds\":[{\"imageName\":\"web\",\"tag\":\"r.io/web:3\"},{\"imageName\":\"api\",\"tag\":\"r.io/api:3@sha256:beef\"}]}");
    pipeline.set("FIXTURE_IMAGE", "prod.io/api:3@sha256:beef");
    pipeline
        .op(&[
            "watch-deployment",
            "--component",
            "backend",
            "--environment",
            "prod",
            "--image-name",
            "api",
            "--build-result",
            "res",
            "--timeout",
            "5m",
            "--interval",
            "10ms",
        ])
        .expect_code(0);
    let kubectl = pipeline.argv_of("kubectl");
    assert_eq!(kubectl.last().unwrap()[5..], strings(&["--timeout", "5m"]));
    pipeline
        .op(&[
            "watch-deployment",
            "--component",
            "x",
            "--environment",
            "prod",
            "--image-name",
            "nope",
            "--build-result",
            "res",
        ])
        .expect_code(1)
        .stderr_has(&["no image `nope`", "web, api"]);
    pipeline
        .op(&[
            "watch-deployment",
            "--component",
            "x",
            "--environment",
            "qa",
        ])
        .expect_code(2);
    pipeline
        .op(&[
            "watch-deployment",
            "--component",
            "x",
            "--environment",
            "dev",
            "--build-result",
            "res",
            "--poll-timeout",
            "soon",
        ])
        .expect_code(2)
        .stderr_has(&["--poll-timeout"]);
    pipeline
        .op(&[
            "watch-deployment",
            "--component",
            "x",
            "--environment",
            "dev",
            "--build-result",
            "missing.json",
        ])
        .expect_code(2)
        .stderr_has(&["missing.json"]);
}

#[test]
fn run_falls_back_to_repo_and_tag_and_maps_a_free_port() {
    let pipeline = Pipeline::new();
    pipeline.write(
        "app/skaffold.yaml",
        "build:\n  artifacts:\n    - image: site\n      context: site\n",
    );
    // Contexts are relative to skaffold.yaml, as for skaffold itself: ./site is not consulted.
    pipeline.write("site/nginx.conf", "server { listen 9999; }\n");
    pipeline.write(".run.yaml", "default_repo: registry.local:5001\ntag: dev\n");
    pipeline.write("app/site/nginx.conf", "server { listen 8081; }\n");
    let run = pipeline.op(&["run", "site", "--skaffold-file", "app/skaffold.yaml"]);
    run.expect_code(0);
    let argv = &pipeline.argv_of("docker")[0];
    assert_eq!(argv.last().unwrap(), "registry.local:5001/site:dev");
    let port = &argv[3];
    assert!(
        port.ends_with(":8081") && port.split(':').next().unwrap().parse::<u16>().unwrap() >= 8080,
        "{argv:?}"
    );
    assert!(argv.contains(&"PORT=8081".to_string()));
    run.stderr_has(&["mapped to http://localhost:"]);
    pipeline.op(&["run", "a", "b"]).expect_code(2);
    pipeline.op(&["run"]).expect_code(2);
}
