//! `op run <context>` and `op run context list`: a fixture `docker` on PATH, contexts from
//! skaffold.yaml, the image from build_result.json or the default repo, ports/env/volumes from
//! `.run.yaml`, the container port inferred from each kind of file, the first free host port.

use crate::pipeline_bed::{Pipeline, strings};

const SKAFFOLD_YAML: &str = "\
apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
    - image: api
      context: services/api
      buildpacks:
        builder: paketobuildpacks/builder-jammy-base
    - image: web
      context: web
      docker:
        dockerfile: Dockerfile
    - image: worker
      context: worker
    - image: site
      context: site
    - image: plain
      context: plain
";

/// A project with one artifact per kind of port source.
fn project() -> Pipeline {
    let pipeline = Pipeline::new();
    pipeline.write("skaffold.yaml", SKAFFOLD_YAML);
    pipeline.write(
        "services/api/Procfile",
        "release: ./migrate\nweb: gunicorn -b :${PORT:-5000} app\n",
    );
    pipeline.write(
        "worker/project.toml",
        "[_]\nschema-version = \"0.2\"\n[[io.buildpacks.build.env]]\nname = \"PORT\"\nvalue = \"3000\"\n",
    );
    pipeline.write("web/Dockerfile", "FROM nginx\n# EXPOSE 1\nEXPOSE 80\n");
    pipeline.write(
        "site/nginx.conf",
        "server {\n  listen 8081 default_server;\n}\n",
    );
    pipeline.write("plain/main.go", "package main\n");
    pipeline
}

#[test]
fn context_list_shows_each_context_and_its_container_port() {
    let pipeline = project();
    pipeline
        .env
        .op(&["run", "context", "list"])
        .success()
        .stdout_is(
            "Contexts (use: op run <context>):\n  services/api (container 5000)\n  web (container 80)\n  \
             worker (container 3000)\n  site (container 8081)\n  plain (container 8080)\n",
        );
    assert!(pipeline.calls().is_empty());
}

#[test]
fn runs_the_built_image_with_run_yaml_ports_env_and_volumes() {
    let pipeline = project();
    pipeline.write(
        ".run.yaml",
        "contexts:\n  services/api:\n    ports: [\"9000:5000\", \"9001:5001\"]\n    env: {DEBUG: true, PORT: 5001, EMPTY: null}\n    volumes: [\"./data:/data\", \"cache:/cache\"]\n",
    );
    pipeline.write(
        "build_result.json",
        r#"{"builds":[{"imageName":"web","tag":"ghcr.io/acme/web:7"},"ghcr.io/acme/api:7@sha256:ab"]}"#,
    );
    let run = pipeline.env.op(&["run", "services/api"]);
    run.success().stderr_has("Running: ");
    let calls = pipeline.calls();
    assert_eq!(calls.len(), 1);
    let docker = &calls[0];
    let work = pipeline.work();
    assert_eq!(
        docker.argv,
        strings(&[
            "run",
            "--rm",
            "-p",
            "9000:5000",
            "-p",
            "9001:5001",
            "-e",
            "PORT=5001",
            "-e",
            "DEBUG=true",
            "-e",
            "EMPTY=",
            "-v",
            &format!("{}/data:/data", work.display()),
            "-v",
            "cache:/cache",
            "ghcr.io/acme/api:7@sha256:ab"
        ]),
        "no -it without a terminal; PORT first; YAML spelling; absolute bind mounts"
    );
    assert_eq!(
        docker.program,
        pipeline.host_path("docker").to_str().unwrap()
    );
    assert_eq!(docker.cwd, work.to_str().unwrap());

    // By imageName; the image name is also accepted as the context.
    pipeline.clear_log();
    pipeline.env.op(&["run", "./web/"]).success();
    pipeline.env.op(&["run", "web"]).success();
    for argv in pipeline.argv_of("docker") {
        assert_eq!(argv.last().unwrap(), "ghcr.io/acme/web:7");
        assert!(argv.contains(&"PORT=80".to_string()), "{argv:?}");
        let port = &argv[3];
        assert!(port.ends_with(":80"), "{argv:?}");
    }
}

#[test]
fn falls_back_to_the_default_repo_and_tag_and_maps_the_first_free_port() {
    let mut pipeline = project();
    pipeline.write(
        ".run.yaml",
        "default_repo: registry.local:5001/\ntag: dev\n",
    );
    let run = pipeline.env.op(&["run", "site"]);
    run.success().stderr_has("Mapped to http://localhost:");
    let argv = pipeline.argv_of("docker").remove(0);
    assert_eq!(argv.last().unwrap(), "registry.local:5001/site:dev");
    let (host, container) = argv[3].split_once(':').unwrap();
    let host: u16 = host.parse().unwrap();
    assert!((8080..=8179).contains(&host), "{argv:?}");
    assert_eq!(container, "8081");
    assert!(
        run.stderr
            .contains(&format!("Mapped to http://localhost:{host}"))
    );
    assert_eq!(argv[4..6], strings(&["-e", "PORT=8081"]));

    // The environment beats .run.yaml (one precedence order); the tag stays .run.yaml's.
    pipeline.clear_log();
    pipeline.set("SKAFFOLD_DEFAULT_REPO", "env.io/acme");
    pipeline.env.op(&["run", "plain"]).success();
    assert_eq!(
        pipeline.argv_of("docker")[0].last().unwrap(),
        "env.io/acme/plain:dev"
    );

    // .github/octopilot.yaml only when .run.yaml is absent; latest without a tag.
    pipeline.clear_log();
    pipeline.unset("SKAFFOLD_DEFAULT_REPO");
    std::fs::remove_file(pipeline.work().join(".run.yaml")).unwrap();
    pipeline.write(".github/octopilot.yaml", "default_repo: legacy.io/x\n");
    pipeline.env.op(&["run", "plain"]).success();
    assert_eq!(
        pipeline.argv_of("docker")[0].last().unwrap(),
        "legacy.io/x/plain:latest"
    );
    std::fs::remove_file(pipeline.work().join(".github/octopilot.yaml")).unwrap();
    pipeline.clear_log();
    pipeline.env.op(&["run", "plain"]).success();
    assert_eq!(
        pipeline.argv_of("docker")[0].last().unwrap(),
        "localhost:5001/plain:latest"
    );
}

#[test]
fn contexts_are_relative_to_the_skaffold_file() {
    let pipeline = Pipeline::new();
    pipeline.write(
        "deploy/skaffold.yaml",
        "build:\n  artifacts:\n    - image: site\n      context: site\n",
    );
    pipeline.write("site/nginx.conf", "server { listen 9999; }\n");
    pipeline.write("deploy/site/nginx.conf", "server { listen 8082; }\n");
    pipeline
        .env
        .op(&[
            "run",
            "context",
            "list",
            "--skaffold-file",
            "deploy/skaffold.yaml",
        ])
        .success()
        .stdout_has("  site (container 8082)");
}

#[test]
fn errors_say_what_to_do() {
    let mut pipeline = project();
    pipeline.write(
        "build_result.json",
        r#"{"builds":[{"imageName":"api","tag":"ghcr.io/acme/api:7"},"ghcr.io/acme/job:7"]}"#,
    );
    pipeline
        .env
        .op(&["run", "web"])
        .code(1)
        .stderr_has("error: Context 'web' (image web) was not in the last build.\n")
        .stderr_has("build_result.json contains: ghcr.io/acme/api:7, ghcr.io/acme/job:7.")
        .stderr_has("hint: Build this image with 'op build-push' or 'op push'");
    pipeline
        .env
        .op(&["run", "nope"])
        .code(1)
        .stderr_has("Unknown context: nope. Use \"op run context list\" to list contexts.")
        .stderr_has("services/api, web, worker, site, plain");
    for args in [&["run", "a", "b"][..], &["run", "context", "list", "extra"]] {
        pipeline
            .env
            .op(args)
            .code(2)
            .stderr_has("Usage: op run context list  |  op run <context>");
    }
    pipeline
        .env
        .op(&["run"])
        .code(2)
        .stderr_has("op run context list");

    // docker's own exit code passes through; a missing docker is a clear error.
    pipeline.set("FIXTURE_DOCKER_EXIT", "125");
    pipeline.env.op(&["run", "services/api"]).code(125);
    pipeline.remove_host_tool("docker");
    pipeline.without_local_bin();
    pipeline
        .env
        .op(&["run", "services/api"])
        .code(1)
        .stderr_has("`docker` was not found on PATH");

    // Bad files: exit 2 naming the file and field (.run.yaml), exit 1 when nothing is built.
    pipeline.host_tool("docker", crate::pipeline_bed::DOCKER);
    pipeline.write(".run.yaml", "contexts:\n  web:\n    ports: 80\n");
    pipeline
        .env
        .op(&["run", "web"])
        .code(2)
        .stderr_has(".run.yaml")
        .stderr_has("expected a list");
    pipeline.write(
        "skaffold.yaml",
        "apiVersion: skaffold/v4beta11\nkind: Config\n",
    );
    pipeline
        .env
        .op(&["run", "web"])
        .code(1)
        .stderr_has("No artifacts in ")
        .stderr_has("skaffold.yaml.");
    std::fs::remove_file(pipeline.work().join("skaffold.yaml")).unwrap();
    pipeline
        .env
        .op(&["run", "context", "list"])
        .failure()
        .stderr_has("skaffold.yaml");
}

#[test]
fn dry_run_prints_the_docker_command_and_runs_nothing() {
    let pipeline = project();
    pipeline.write(
        ".run.yaml",
        "contexts:\n  web:\n    ports: [\"8000:80\"]\n    env: {GREETING: hello world}\n",
    );
    let run = pipeline.env.op(&["run", "web", "--dry-run"]);
    run.success().stdout_is(&format!(
        "(cd {work} && {docker} run --rm -p 8000:80 -e PORT=80 -e 'GREETING=hello world' localhost:5001/web:latest)\n",
        work = pipeline.work().display(),
        docker = pipeline.host_path("docker").display()
    ));
    assert!(pipeline.calls().is_empty());
}
