//! `op build-push --platform`, `--cache-image` / `OP_CACHE_IMAGE` and `--sbom-output-dir`: the
//! exact pack and docker command lines, and the inputs refused before anything runs.

use std::path::Path;

use crate::pipeline_build_push::{PUSH_DIGEST, docker_push_transcript};
use crate::pipeline_tools::{Pipeline, bed, leftovers, read, strings, text};

/// Two buildpacks artifacts (one with a nested image path) and one Dockerfile artifact.
const SKAFFOLD_YAML: &str = "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n    - image: web\n      context: web\n      docker:\n        dockerfile: Dockerfile.web\n    - image: api\n      context: services/api\n      buildpacks:\n        builder: paketobuildpacks/builder-jammy-base\n    - image: team/worker\n      context: services/worker\n      buildpacks:\n        builder: paketobuildpacks/builder-jammy-base\n";

const BUILDER: &str = "paketobuildpacks/builder-jammy-base";

/// The digest the fixture `docker buildx build` writes to `--metadata-file`.
const INDEX_DIGEST: &str =
    "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

/// docker as in `docker_push_transcript`, and `docker buildx build` writing its
/// `--metadata-file` as buildx does (`FIXTURE_BUILDX_NO_DIGEST` leaves the digest out).
fn docker() -> String {
    format!(
        "{}{}",
        docker_push_transcript(),
        r##"
if [ "$1" = "buildx" ] && [ "$2" = "build" ]; then
  meta=""; prev=""
  for a in "$@"; do [ "$prev" = "--metadata-file" ] && meta="$a"; prev="$a"; done
  echo "#12 pushing manifest for ghcr.io/acme/web:2.0.0@$FIXTURE_INDEX_DIGEST done" >&2
  if [ -n "$FIXTURE_BUILDX_NO_DIGEST" ]; then
    printf '{"buildx.build.ref": "default/default/x"}' > "$meta"
  else
    printf '{"buildx.build.ref": "default/default/x", "containerimage.descriptor": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "%s", "size": 1609}, "containerimage.digest": "%s", "image.name": "ghcr.io/acme/web:2.0.0"}' \
      "$FIXTURE_INDEX_DIGEST" "$FIXTURE_INDEX_DIGEST" > "$meta"
  fi
fi
"##
    )
}

fn app() -> Pipeline {
    let mut pipeline = bed();
    pipeline.write("skaffold.yaml", SKAFFOLD_YAML);
    pipeline.write("web/Dockerfile.web", "FROM scratch\n");
    pipeline.host_tool("docker", &docker());
    pipeline
        .set("GITHUB_REF", "refs/tags/v2.0.0")
        .set("FIXTURE_PUSH_DIGEST", PUSH_DIGEST)
        .set("FIXTURE_INDEX_DIGEST", INDEX_DIGEST);
    pipeline
}

/// `pack build REF --path CTX --builder B --publish` and what follows.
fn pack_argv(work: &Path, reference: &str, context: &str, rest: &[&str]) -> Vec<String> {
    let mut argv = strings(&["build", reference, "--path"]);
    argv.push(text(&work.join(context)));
    argv.extend(strings(&["--builder", BUILDER, "--publish"]));
    argv.extend(strings(rest));
    argv
}

/// The argv with the value after `--metadata-file` replaced by `META`, and that value, which
/// must be an absolute path gone after the run.
fn without_metadata_file(mut argv: Vec<String>) -> Vec<String> {
    if let Some(at) = argv.iter().position(|arg| arg == "--metadata-file") {
        let path = Path::new(&argv[at + 1]);
        assert!(path.is_absolute(), "{argv:?}");
        assert!(!path.exists(), "the metadata file is removed: {argv:?}");
        argv[at + 1] = "META".into();
    }
    argv
}

/// `op build-push --repo ghcr.io/acme FLAGS`.
fn to_ghcr<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    [&["build-push", "--repo", "ghcr.io/acme"][..], flags].concat()
}

/// `op build-push --repo ghcr.io/acme --platform linux/amd64,linux/arm64 MORE`.
fn two_platforms<'a>(more: &[&'a str]) -> Vec<&'a str> {
    to_ghcr(&[&["--platform", "linux/amd64,linux/arm64"][..], more].concat())
}

/// `docker buildx imagetools create` joining the two platform images of `ghcr.io/acme/IMAGE`
/// into one index tagged `2.0.0` and `latest`.
fn index_of(image: &str) -> Vec<String> {
    let image = format!("ghcr.io/acme/{image}");
    strings(&[
        "buildx",
        "imagetools",
        "create",
        "-t",
        &format!("{image}:2.0.0"),
        "-t",
        &format!("{image}:latest"),
        &format!("{image}:2.0.0-linux-amd64"),
        &format!("{image}:2.0.0-linux-arm64"),
    ])
}

#[test]
fn several_platforms_build_per_platform_with_pack_and_with_buildx_for_dockerfiles() {
    let pipeline = app();
    pipeline.env.op(&two_platforms(&[])).success();
    let work = pipeline.work();
    let on = |reference: &str, context: &str, platform: &str| {
        pack_argv(&work, reference, context, &["--platform", platform])
    };
    assert_eq!(
        pipeline.argv_of("pack"),
        [
            on(
                "ghcr.io/acme/api:2.0.0-linux-amd64",
                "services/api",
                "linux/amd64"
            ),
            on(
                "ghcr.io/acme/api:2.0.0-linux-arm64",
                "services/api",
                "linux/arm64"
            ),
            on(
                "ghcr.io/acme/team/worker:2.0.0-linux-amd64",
                "services/worker",
                "linux/amd64",
            ),
            on(
                "ghcr.io/acme/team/worker:2.0.0-linux-arm64",
                "services/worker",
                "linux/arm64",
            ),
        ],
        "pack 0.40 builds one platform per run: one build per platform, to its own tag"
    );
    let docker: Vec<Vec<String>> = pipeline
        .argv_of("docker")
        .into_iter()
        .map(without_metadata_file)
        .collect();
    assert_eq!(
        docker,
        [
            index_of("api"),
            index_of("team/worker"),
            strings(&[
                "buildx",
                "build",
                "--platform",
                "linux/amd64,linux/arm64",
                "-t",
                "ghcr.io/acme/web:2.0.0",
                "-t",
                "ghcr.io/acme/web:latest",
                "-f",
                &text(&work.join("web/Dockerfile.web")),
                "--metadata-file",
                "META",
                "--push",
                &text(&work.join("web")),
            ]),
        ],
        "the per-platform images joined into one index; Dockerfiles built and pushed by buildx"
    );
    let result = read(&pipeline, "build_result.json");
    assert!(
        result.contains(&format!("\"ghcr.io/acme/web:2.0.0@{INDEX_DIGEST}\"")),
        "buildx's digest from its metadata file: {result}"
    );
    assert!(result.contains("\"ghcr.io/acme/api:2.0.0\""), "{result}");
    assert!(leftovers(&work).is_empty());

    pipeline.clear_log();
    let run = pipeline.env.op(&two_platforms(&["--dry-run"]));
    run.success();
    assert!(
        run.stdout.contains(" buildx imagetools create -t ghcr.io/acme/api:2.0.0 -t ghcr.io/acme/api:latest ghcr.io/acme/api:2.0.0-linux-amd64 ghcr.io/acme/api:2.0.0-linux-arm64)"),
        "{}",
        run.stdout
    );
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
}

#[test]
fn one_platform_is_passed_on_and_keeps_the_usual_tags() {
    let mut pipeline = app();
    pipeline.set("FIXTURE_BUILDX_NO_DIGEST", "1");
    pipeline
        .env
        .op(&to_ghcr(&["--platform", "linux/arm64/v8"]))
        .success()
        .stderr_has("docker buildx wrote no digest for ghcr.io/acme/web:2.0.0");
    let work = pipeline.work();
    assert_eq!(
        pipeline.argv_of("pack")[0],
        pack_argv(
            &work,
            "ghcr.io/acme/api:2.0.0",
            "services/api",
            &[
                "--tag",
                "ghcr.io/acme/api:latest",
                "--platform",
                "linux/arm64/v8"
            ],
        )
    );
    let docker = pipeline.argv_of("docker");
    assert_eq!(docker.len(), 1, "no index to make: {docker:?}");
    assert_eq!(
        without_metadata_file(docker[0].clone())[..4],
        strings(&["buildx", "build", "--platform", "linux/arm64/v8"])
    );
    assert!(read(&pipeline, "build_result.json").contains("\"ghcr.io/acme/web:2.0.0\""));
}

#[test]
fn cache_image_and_sbom_output_dir_per_artifact_and_platform() {
    let mut pipeline = app();
    let work = pipeline.work();
    let sboms = text(&work.join("sboms"));
    pipeline
        .env
        .op(&to_ghcr(&[
            "--tag",
            "pr-7",
            "--cache-image",
            "ghcr.io/acme/cache",
            "--sbom-output-dir",
            "sboms",
        ]))
        .success();
    assert_eq!(
        pipeline.argv_of("pack"),
        [
            pack_argv(
                &work,
                "ghcr.io/acme/api:pr-7",
                "services/api",
                &[
                    "--cache-image",
                    "ghcr.io/acme/cache:api",
                    "--sbom-output-dir",
                    &format!("{sboms}/api"),
                ],
            ),
            pack_argv(
                &work,
                "ghcr.io/acme/team/worker:pr-7",
                "services/worker",
                &[
                    "--cache-image",
                    "ghcr.io/acme/cache:team-worker",
                    "--sbom-output-dir",
                    &format!("{sboms}/team/worker"),
                ],
            ),
        ],
        "one cache image and one SBOM directory per artifact, so builds do not overwrite each other"
    );
    let docker = pipeline.argv_of("docker");
    assert_eq!(
        docker[0][..3],
        strings(&["build", "-t", "ghcr.io/acme/web:pr-7"]),
        "Dockerfile builds are not pack's: no cache image, no SBOM"
    );

    pipeline.clear_log();
    pipeline.set("OP_CACHE_IMAGE", "registry.example:5000/ci/cache:main");
    pipeline
        .env
        .op(&two_platforms(&["--sbom-output-dir", &sboms]))
        .success();
    let pack = pipeline.argv_of("pack");
    assert_eq!(
        pack[1],
        pack_argv(
            &work,
            "ghcr.io/acme/api:2.0.0-linux-arm64",
            "services/api",
            &[
                "--platform",
                "linux/arm64",
                "--cache-image",
                "registry.example:5000/ci/cache:main-api-linux-arm64",
                "--sbom-output-dir",
                &format!("{sboms}/api/linux-arm64"),
            ],
        ),
        "OP_CACHE_IMAGE; its tag leads; one cache and one SBOM directory per platform too"
    );

    pipeline.clear_log();
    pipeline
        .env
        .op(&["build-push", "--cache-image", "localhost:5001/cache"])
        .success();
    // The local registry as pack's lifecycle container reaches it, for the cache image too.
    let (local, flags) = if cfg!(target_os = "linux") {
        ("127.0.0.1:5001", &["--network", "host"][..])
    } else {
        ("host.docker.internal:5001", &[][..])
    };
    let mut rest = strings(&[
        "--tag",
        &format!("{local}/api:latest"),
        "--insecure-registry",
        local,
    ]);
    rest.extend(strings(flags));
    rest.extend(strings(&["--cache-image", &format!("{local}/cache:api")]));
    assert_eq!(
        pipeline.argv_of("pack")[0][7..],
        rest,
        "the flag beats OP_CACHE_IMAGE; a cache image in the local registry is rewritten too"
    );
}

#[test]
fn bad_platforms_cache_images_and_sbom_dirs_are_usage_errors_naming_the_flag() {
    let mut pipeline = app();
    pipeline.write("not-a-dir", "x\n");
    for (flags, needle) in [
        (
            &["--platform", "linux/sparc"][..],
            "--platform linux/sparc: unknown architecture `sparc`",
        ),
        (
            &["--platform", "linux/amd64,plan9/amd64"],
            "--platform plan9/amd64: unknown operating system `plan9`",
        ),
        (&["--platform", "linux"], "--platform linux: give os/arch"),
        (
            &["--platform", "linux/amd64,"],
            "--platform: an empty entry",
        ),
        (
            &["--platform", "linux/amd64,linux/amd64"],
            "--platform linux/amd64: listed twice",
        ),
        (
            &["--platform", "linux/amd64/v9x"],
            "--platform linux/amd64/v9x: unknown variant `v9x`",
        ),
        (
            &["--cache-image", "ghcr.io/Acme/cache"],
            "--cache-image ghcr.io/Acme/cache is not a valid image reference",
        ),
        (
            &["--cache-image", "ghcr.io/acme/cache:"],
            "--cache-image ghcr.io/acme/cache: is not a valid image reference",
        ),
        (
            &[
                "--cache-image",
                &format!("ghcr.io/acme/cache@{PUSH_DIGEST}"),
            ],
            "a cache image is written to: give a tag, not a digest",
        ),
        (
            &["--cache-image", "ghcr.io/acme/ca che"],
            "is not a valid image reference",
        ),
        (
            &["--sbom-output-dir", "not-a-dir"],
            "--sbom-output-dir not-a-dir: not a directory",
        ),
    ] {
        let mut argv = vec!["build-push"];
        argv.extend_from_slice(flags);
        pipeline.env.op(&argv).code(2).stderr_has(needle);
        argv.push("--dry-run");
        pipeline.env.op(&argv).code(2).stderr_has(needle);
    }
    pipeline.set("OP_CACHE_IMAGE", "-x");
    pipeline
        .env
        .op(&["build-push"])
        .code(2)
        .stderr_has("OP_CACHE_IMAGE=-x is not a valid image reference");
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
    assert!(!pipeline.work().join("build_result.json").exists());
}
