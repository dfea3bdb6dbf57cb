//! `op build-push`: pack for buildpacks artifacts, docker for Dockerfile artifacts, `:latest` on a
//! release tag, build_result.json written only when everything succeeded.

use std::path::Path;

use crate::pipeline_tools::{Pipeline, bed, last_call, leftovers, read, strings, text, tool_path};

const SKAFFOLD_YAML: &str = "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n    - image: web\n      context: web\n      docker:\n        dockerfile: Dockerfile.web\n    - image: api\n      context: services/api\n      buildpacks:\n        builder: paketobuildpacks/builder-jammy-base\nprofiles:\n  - name: push\n";

const OLD_RESULT: &str = "{\"builds\":[{\"imageName\":\"api\",\"tag\":\"r.io/api:old\"}]}\n";

fn app() -> Pipeline {
    let pipeline = bed();
    pipeline.write("skaffold.yaml", SKAFFOLD_YAML);
    pipeline.write("web/Dockerfile.web", "FROM scratch\n");
    pipeline
}

/// What pack is told for `localhost:5001`: the registry as the lifecycle container reaches it.
fn local_pack_flags() -> (&'static str, Vec<String>) {
    if cfg!(target_os = "linux") {
        (
            "127.0.0.1:5001",
            strings(&["--insecure-registry", "127.0.0.1:5001", "--network", "host"]),
        )
    } else {
        (
            "host.docker.internal:5001",
            strings(&["--insecure-registry", "host.docker.internal:5001"]),
        )
    }
}

#[test]
fn buildpacks_with_pack_dockerfiles_with_docker_and_latest_on_a_release() {
    let mut pipeline = app();
    pipeline.set("GITHUB_REF", "refs/tags/v2.0.0");
    pipeline.env.op(&["build-push"]).success();
    let work = pipeline.work();
    let (pack_repo, flags) = local_pack_flags();
    let pack = last_call(&pipeline, "pack");
    let mut expected = strings(&["build", &format!("{pack_repo}/api:2.0.0"), "--path"]);
    expected.push(text(&work.join("services/api")));
    expected.extend(strings(&[
        "--builder",
        "paketobuildpacks/builder-jammy-base",
        "--publish",
        "--tag",
        &format!("{pack_repo}/api:latest"),
    ]));
    expected.extend(flags);
    assert_eq!(pack.argv, expected);
    assert_eq!(Path::new(&pack.program), tool_path(&pipeline, "pack"));
    assert_eq!(Path::new(&pack.cwd), work);

    let dockerfile = text(&work.join("web/Dockerfile.web"));
    let docker: Vec<Vec<String>> = pipeline.argv_of("docker");
    assert_eq!(
        docker,
        [
            strings(&[
                "build",
                "-t",
                "localhost:5001/web:2.0.0",
                "-f",
                &dockerfile,
                &text(&work.join("web"))
            ]),
            strings(&["push", "localhost:5001/web:2.0.0"]),
            strings(&[
                "tag",
                "localhost:5001/web:2.0.0",
                "localhost:5001/web:latest"
            ]),
            strings(&["push", "localhost:5001/web:latest"]),
        ]
    );
    let tools: Vec<String> = pipeline.calls().into_iter().map(|call| call.tool).collect();
    assert_eq!(
        tools,
        strings(&["pack", "docker", "docker", "docker", "docker"]),
        "buildpacks first; GITHUB_REF is set, so git is not asked"
    );
    assert_eq!(
        read(&pipeline, "build_result.json"),
        "{\n  \"builds\": [\n    {\n      \"imageName\": \"api\",\n      \"tag\": \"localhost:5001/api:2.0.0\"\n    },\n    {\n      \"imageName\": \"web\",\n      \"tag\": \"localhost:5001/web:2.0.0\"\n    }\n  ]\n}\n",
        "the registry the user asked for, in skaffold's shape"
    );
    assert!(leftovers(&work).is_empty());
}

#[test]
fn repo_tag_skaffold_file_and_output_flags() {
    let mut pipeline = bed();
    pipeline.write("deploy/skaffold.yaml", SKAFFOLD_YAML);
    pipeline.write("deploy/web/Dockerfile.web", "FROM scratch\n");
    pipeline.set("GITHUB_REF", "refs/tags/v9.0.0");
    pipeline
        .env
        .op(&[
            "build-push",
            "--skaffold-file",
            "deploy/skaffold.yaml",
            "--output",
            "results/new",
            "--tag",
            "pr-7",
            "--repo",
            "ghcr.io/acme/",
        ])
        .success();
    let work = pipeline.work();
    let pack = last_call(&pipeline, "pack");
    assert_eq!(
        pack.argv,
        strings(&[
            "build",
            "ghcr.io/acme/api:pr-7",
            "--path",
            &text(&work.join("deploy/services/api")),
            "--builder",
            "paketobuildpacks/builder-jammy-base",
            "--publish",
        ]),
        "contexts are relative to skaffold.yaml; --tag wins and earns no :latest; a remote registry is not rewritten"
    );
    assert_eq!(Path::new(&pack.cwd), work.join("deploy"));
    assert_eq!(
        pipeline.argv_of("docker").len(),
        2,
        "build and push, no latest"
    );
    assert_eq!(
        pipeline.argv_of("docker")[0][4],
        text(&work.join("deploy/web/Dockerfile.web"))
    );
    let result = read(&pipeline, "results/new/build_result.json");
    assert!(result.contains("\"ghcr.io/acme/web:pr-7\""), "{result}");
    assert!(!work.join("build_result.json").exists());

    pipeline
        .unset("GITHUB_REF")
        .set("FIXTURE_GIT_TAG", "v1.5.0");
    pipeline
        .env
        .op(&["build-push", "--skaffold-file", "deploy/skaffold.yaml"])
        .success();
    let pack = last_call(&pipeline, "pack");
    let (pack_repo, _) = local_pack_flags();
    assert_eq!(
        pack.argv[1],
        format!("{pack_repo}/api:1.5.0"),
        "tag from git describe"
    );
    assert!(pack.argv.contains(&format!("{pack_repo}/api:latest")));

    pipeline.unset("FIXTURE_GIT_TAG");
    pipeline
        .env
        .op(&["build-push", "--skaffold-file", "deploy/skaffold.yaml"])
        .success();
    let pack = last_call(&pipeline, "pack");
    assert_eq!(
        pack.argv[1],
        format!("{pack_repo}/api:latest"),
        "no release: latest"
    );
    assert!(!pack.argv.contains(&"--tag".to_string()));
}

#[test]
fn another_pack_binary_from_the_flag_pack_cmd_or_properties() {
    let mut pipeline = app();
    pipeline.set("GITHUB_REF", "refs/heads/main");
    let flag_pack = pipeline.host_tool("flag-pack", "");
    std::fs::create_dir_all(pipeline.work().join("tools")).unwrap();
    std::fs::copy(&flag_pack, pipeline.work().join("tools/my-pack")).unwrap();
    pipeline.host_tool("env-pack", "");
    pipeline.host_tool("file-pack", "");
    let config = pipeline.write("ci.properties", "PACK_CMD=file-pack\n");
    let config = config.to_str().unwrap();

    pipeline
        .env
        .op(&["--config", config, "build-push"])
        .success();
    assert_eq!(
        pipeline.argv_of("file-pack").len(),
        1,
        "PACK_CMD from the properties file"
    );
    pipeline.set("PACK_CMD", "env-pack");
    pipeline
        .env
        .op(&["--config", config, "build-push"])
        .success();
    assert_eq!(
        pipeline.argv_of("env-pack").len(),
        1,
        "the environment beats the file"
    );
    pipeline
        .env
        .op(&["--config", config, "build-push", "--pack", "tools/my-pack"])
        .success();
    let call = last_call(&pipeline, "flag-pack");
    assert_eq!(
        Path::new(&call.program),
        pipeline.work().join("tools/my-pack"),
        "the flag beats both; a relative path is the project's"
    );
    assert_eq!(call.argv[0], "build");
    assert!(
        pipeline.argv_of("pack").is_empty(),
        "the pinned pack never ran"
    );
    pipeline.set("PACK_CMD", "no-such-pack");
    pipeline
        .env
        .op(&["build-push"])
        .code(1)
        .stderr_has("`no-such-pack` was not found on PATH");
}

#[test]
fn a_failed_build_passes_its_code_and_leaves_build_result_untouched() {
    let mut pipeline = app();
    pipeline.set("GITHUB_REF", "refs/heads/main");
    pipeline.write("build_result.json", OLD_RESULT);
    pipeline.set("FIXTURE_PACK_EXIT", "7");
    pipeline.env.op(&["build-push"]).code(7);
    assert!(
        pipeline.argv_of("docker").is_empty(),
        "stopped at the first failure"
    );
    assert_eq!(read(&pipeline, "build_result.json"), OLD_RESULT);

    pipeline
        .unset("FIXTURE_PACK_EXIT")
        .set("FIXTURE_DOCKER_FAIL", "push")
        .set("FIXTURE_DOCKER_EXIT", "3");
    pipeline
        .env
        .op(&["build-push"])
        .code(3)
        .stderr_has("fixture docker: push failed");
    assert_eq!(read(&pipeline, "build_result.json"), OLD_RESULT);
    assert!(leftovers(&pipeline.work()).is_empty());
}

#[test]
fn artifacts_it_cannot_build_and_files_that_are_missing() {
    let mut pipeline = app();
    pipeline.set("GITHUB_REF", "refs/heads/main");
    std::fs::remove_file(pipeline.work().join("web/Dockerfile.web")).unwrap();
    pipeline
        .env
        .op(&["build-push"])
        .code(1)
        .stderr_has(&format!(
            "Dockerfile not found: {}",
            pipeline.work().join("web/Dockerfile.web").display()
        ))
        .stderr_has("artifact web of");
    assert!(pipeline.calls().is_empty(), "checked before anything runs");
    pipeline
        .env
        .op(&["build-push", "--dry-run"])
        .code(1)
        .stderr_has("Dockerfile not found");

    pipeline.write(
        "skaffold.yaml",
        "build:\n  artifacts:\n    - image: jvm\n      jib: {}\n    - image: site\n",
    );
    pipeline.write("Dockerfile", "FROM scratch\n");
    pipeline.env.op(&["build-push"]).success().stderr_has(
        "skipping artifact jvm: build-push builds buildpacks and Dockerfile artifacts, not jib",
    );
    assert_eq!(
        pipeline.argv_of("docker")[0][..3],
        strings(&["build", "-t", "localhost:5001/site:latest"]),
        "an artifact without a builder is skaffold's default, a Dockerfile build"
    );

    pipeline.write(
        "skaffold.yaml",
        "build:\n  artifacts:\n    - image: jvm\n      ko: {}\n",
    );
    pipeline
        .env
        .op(&["build-push"])
        .code(1)
        .stderr_has("No buildpacks or docker artifacts in");
    pipeline.write(
        "skaffold.yaml",
        "apiVersion: skaffold/v4beta11\nkind: Config\n",
    );
    pipeline.env.op(&["build-push"]).code(1);
    pipeline
        .env
        .op(&["build-push", "--skaffold-file", "nowhere/skaffold.yaml"])
        .code(2)
        .stderr_has("nowhere/skaffold.yaml not found");
}

#[test]
fn pack_network_host_turns_the_local_registry_rewrite_off() {
    let mut pipeline = app();
    pipeline
        .set("GITHUB_REF", "refs/heads/main")
        .set("OP_PACK_NETWORK", "host");
    pipeline.env.op(&["build-push"]).success();
    let pack = last_call(&pipeline, "pack");
    assert_eq!(pack.argv[1], "localhost:5001/api:latest");
    assert_eq!(
        pack.argv[pack.argv.len() - 2..],
        strings(&["--network", "host"])
    );
    assert!(!pack.argv.contains(&"--insecure-registry".to_string()));
}

#[test]
fn dry_run_prints_every_command_and_the_file_and_runs_nothing() {
    let mut pipeline = app();
    pipeline.set("GITHUB_REF", "refs/tags/v1.0.0");
    let run = pipeline
        .env
        .op(&["build-push", "--repo", "ghcr.io/acme", "--dry-run"]);
    run.success();
    let work = pipeline.work();
    let (w, pack) = (text(&work), text(&tool_path(&pipeline, "pack")));
    let docker = text(&pipeline.host_path("docker"));
    let (listed, written) = run.stdout.rsplit_once("# would write ").unwrap();
    assert!(
        written.starts_with(&format!("{w}/build_result.json (")),
        "{}",
        run.stdout
    );
    assert_eq!(
        listed,
        format!(
            "(cd {w} && {pack} build ghcr.io/acme/api:1.0.0 --path {w}/services/api --builder paketobuildpacks/builder-jammy-base --publish --tag ghcr.io/acme/api:latest)\n\
         (cd {w} && {docker} build -t ghcr.io/acme/web:1.0.0 -f {w}/web/Dockerfile.web {w}/web)\n\
         (cd {w} && {docker} push ghcr.io/acme/web:1.0.0)\n\
         (cd {w} && {docker} tag ghcr.io/acme/web:1.0.0 ghcr.io/acme/web:latest)\n\
         (cd {w} && {docker} push ghcr.io/acme/web:latest)\n"
        )
    );
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
    assert!(!work.join("build_result.json").exists());
}

#[test]
fn a_missing_docker_stops_before_the_first_build() {
    let mut pipeline = app();
    pipeline.remove_host_tool("docker");
    let host_bin = pipeline.host_path("docker").parent().unwrap().to_path_buf();
    pipeline
        .set("PATH", host_bin.to_str().unwrap())
        .set("GITHUB_REF", "refs/heads/main");
    pipeline
        .env
        .op(&["build-push"])
        .code(1)
        .stderr_has("`docker` was not found on PATH");
    assert!(
        pipeline.argv_of("pack").is_empty(),
        "pack did not run either"
    );
    assert!(!pipeline.work().join("build_result.json").exists());
}

/// The digest the fixture `docker push` reports.
pub const PUSH_DIGEST: &str =
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// `docker push` as the real CLI prints it: per-layer progress lines, then
/// `<tag>: digest: sha256:… size: N` (`FIXTURE_DOCKER_NO_DIGEST` leaves that line out).
pub fn docker_push_transcript() -> String {
    format!(
        "{}{}",
        crate::pipeline_tools::DOCKER,
        r#"
if [ "$1" = "push" ]; then
  tag="${2##*:}"
  echo "The push refers to repository [${2%:*}]"
  echo "5f70bf18a086: Preparing"
  echo "8d3ac3489996: Preparing"
  echo "8d3ac3489996: Pushed"
  echo "5f70bf18a086: Layer already exists"
  [ -z "$FIXTURE_DOCKER_NO_DIGEST" ] && echo "$tag: digest: $FIXTURE_PUSH_DIGEST size: 1234"
fi
"#
    )
}

#[test]
fn docker_push_digest_is_recorded_in_build_result() {
    let mut pipeline = app();
    pipeline.host_tool("docker", &docker_push_transcript());
    pipeline
        .set("GITHUB_REF", "refs/tags/v2.0.0")
        .set("FIXTURE_PUSH_DIGEST", PUSH_DIGEST);
    let run = pipeline.env.op(&["build-push"]);
    run.success();
    let result = read(&pipeline, "build_result.json");
    assert!(
        result.contains(&format!("\"localhost:5001/web:2.0.0@{PUSH_DIGEST}\"")),
        "the digest docker push reported, pinned to the version tag: {result}"
    );
    assert!(
        run.stderr.contains("8d3ac3489996: Pushed"),
        "docker's progress is still shown: {}",
        run.stderr
    );
    assert!(result.contains("\"localhost:5001/api:2.0.0\""), "{result}");

    pipeline.set("FIXTURE_DOCKER_NO_DIGEST", "1");
    pipeline
        .env
        .op(&["build-push"])
        .success()
        .stderr_has("docker push printed no digest for localhost:5001/web:2.0.0");
    let result = read(&pipeline, "build_result.json");
    assert!(
        result.contains("\"localhost:5001/web:2.0.0\""),
        "without a digest, the tag alone: {result}"
    );
}
