//! References a registry accepts, and copies that are checked: `op push` reading skaffold v2's
//! real output (`tests/it/fixtures/skaffold-v2-build.txt`) and never recording a bare digest,
//! bare references qualified with the registry pushed to, and every crane copy (push --push-all,
//! promote-image) by digest, read back, with transient registry errors retried.

use crate::pipeline_tools::{CRANE, DIGEST, GIT, Pipeline, bed, read, strings};

const OLD_RESULT: &str = "{\"builds\":[{\"imageName\":\"api\",\"tag\":\"r.io/api:old\"}]}\n";

/// A skaffold that prints `$FIXTURE_TRANSCRIPT` and writes `$FIXTURE_SKAFFOLD_RESULT` as its
/// `--file-output`.
const SKAFFOLD_REPLAY: &str = r#"
out=""; prev=""
for a in "$@"; do [ "$prev" = "--file-output" ] && out="$a"; prev="$a"; done
[ -n "$FIXTURE_TRANSCRIPT" ] && cat "$FIXTURE_TRANSCRIPT"
[ -n "$out" ] && printf '%s' "$FIXTURE_SKAFFOLD_RESULT" > "$out"
exit 0
"#;

fn replaying() -> Pipeline {
    let mut pipeline = Pipeline::with_pinned(&[("skaffold", SKAFFOLD_REPLAY), ("crane", CRANE)]);
    pipeline.host_tool("git", GIT);
    pipeline.set("FIXTURE_DIGEST", DIGEST);
    pipeline
}

fn transcript() -> String {
    format!(
        "{}/tests/it/fixtures/skaffold-v2-build.txt",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `build_result.json` records exactly `builds` (image name, reference), in order.
#[track_caller]
fn assert_builds(pipeline: &Pipeline, builds: &[(&str, &str)], why: &str) {
    let result: serde_json::Value =
        serde_json::from_str(&read(pipeline, "build_result.json")).unwrap();
    let builds: Vec<serde_json::Value> = builds
        .iter()
        .map(|(name, tag)| serde_json::json!({"imageName": name, "tag": tag}))
        .collect();
    assert_eq!(result, serde_json::json!({ "builds": builds }), "{why}");
}

/// crane's calls copying `ghcr.io/acme/IMAGE:TAG` to quay.io/acme: the source's digest, the
/// copy by that digest, the destination's digest read back.
fn copied_to_quay(image: &str, tag: &str) -> Vec<Vec<String>> {
    vec![
        strings(&["digest", &format!("ghcr.io/acme/{image}:{tag}")]),
        strings(&[
            "copy",
            &format!("ghcr.io/acme/{image}@{DIGEST}"),
            &format!("quay.io/acme/{image}:{tag}"),
        ]),
        strings(&["digest", &format!("quay.io/acme/{image}:{tag}")]),
    ]
}

/// A promotion from dev (`dev.io/p`) to pp (`pp.io/p`) of `dev.io/p/api:1@DIGEST`.
fn promotable(pipeline: &mut Pipeline) -> &mut Pipeline {
    pipeline.write(
        "build_result.json",
        &format!("{{\"builds\":[\"dev.io/p/api:1@{DIGEST}\"]}}"),
    );
    pipeline
        .set("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io/p")
        .set("GOOGLE_GKE_IMAGE_PP_REPOSITORY", "pp.io/p")
}

#[test]
fn no_file_output_reads_skaffold_v2_tag_lines_not_the_push_digest() {
    let mut pipeline = replaying();
    pipeline.set("FIXTURE_TRANSCRIPT", &transcript());
    pipeline
        .env
        .op(&["push", "--default-repo", "ghcr.io/acme", "--no-file-output"])
        .success();
    assert_builds(
        &pipeline,
        &[
            ("api", "ghcr.io/acme/api:v1.4.0-3-g1a2b3c4"),
            ("team/worker", "ghcr.io/acme/team/worker:v1.4.0-3-g1a2b3c4"),
        ],
        "every artifact by its ` - NAME -> REF` line; never docker push's `TAG: digest: sha256:…`",
    );
}

#[test]
fn output_naming_only_a_digest_is_refused_and_nothing_is_recorded() {
    let mut pipeline = replaying();
    pipeline.write("build_result.json", OLD_RESULT);
    let only_digest = pipeline.write(
        "skaffold.log",
        &format!("Starting build...\nBuilding [api]...\nlatest: digest: {DIGEST} size: 735\nBuild [api] succeeded\n"),
    );
    pipeline.set("FIXTURE_TRANSCRIPT", only_digest.to_str().unwrap());
    pipeline
        .env
        .op(&["push", "--default-repo", "r.io", "--no-file-output"])
        .code(1)
        .stderr_has(&format!("skaffold's output names only a digest ({DIGEST})"))
        .stderr_has("op does not record a bare digest as an image");
    assert_eq!(read(&pipeline, "build_result.json"), OLD_RESULT);

    pipeline.unset("FIXTURE_TRANSCRIPT").set(
        "FIXTURE_SKAFFOLD_RESULT",
        &format!("{{\"builds\":[{{\"imageName\":\"api\",\"tag\":\"{DIGEST}\"}}]}}"),
    );
    pipeline
        .env
        .op(&["push", "--default-repo", "r.io"])
        .code(1)
        .stderr_has(&format!(
            "skaffold reported the bare digest {DIGEST} for image `api`"
        ));
    assert_eq!(read(&pipeline, "build_result.json"), OLD_RESULT);
}

#[test]
fn push_all_copies_bare_references_from_the_registry_pushed_to() {
    let mut pipeline = replaying();
    pipeline.write(".registry", "ci: [ghcr.io/acme, quay.io/acme]\n");
    pipeline.set("GITHUB_ACTIONS", "true").set(
        "FIXTURE_SKAFFOLD_RESULT",
        r#"{"builds":[{"imageName":"app","tag":"app:1"},{"imageName":"web","tag":"abc123"}]}"#,
    );
    pipeline.env.op(&["push", "--push-all"]).success();
    assert_builds(
        &pipeline,
        &[
            ("app", "ghcr.io/acme/app:1"),
            ("web", "ghcr.io/acme/web:abc123"),
        ],
        "a bare reference is in the registry pushed to; a bare tag is <imageName>:tag",
    );
    assert_eq!(
        pipeline.argv_of("crane"),
        [copied_to_quay("app", "1"), copied_to_quay("web", "abc123")].concat(),
        "never `app:1` as it is (docker.io/library/app:1 to crane)"
    );
}

#[test]
fn a_destination_that_reads_back_another_digest_fails_naming_both() {
    let mut pipeline = bed();
    pipeline.write(".registry", "ci: [ghcr.io/acme, quay.io/acme]\n");
    let rewritten = format!("sha256:{}", "f".repeat(64));
    pipeline
        .set("GITHUB_ACTIONS", "true")
        .set("FIXTURE_CRANE_REWRITES", &rewritten);
    pipeline
        .env
        .op(&["push", "--push-all"])
        .code(1)
        .stderr_has(&format!(
            "the copy of ghcr.io/acme/api@{DIGEST} to quay.io/acme/api:fixture1 does not match: the source is {DIGEST}, the destination reads back as {rewritten}"
        ));
    assert_eq!(
        pipeline.argv_of("crane").len(),
        2,
        "stops at the first copy that does not match"
    );

    let mut promote = bed();
    promotable(&mut promote).set("FIXTURE_CRANE_REWRITES", &rewritten);
    promote
        .env
        .op(&["promote-image", "--source", "dev", "--destination", "pp"])
        .code(1)
        .stderr_has(&format!(
            "the source is {DIGEST}, the destination reads back as {rewritten}"
        ));
}

#[test]
fn crane_is_retried_on_429_5xx_and_connection_errors_only() {
    let mut pipeline = bed();
    promotable(&mut pipeline);
    let promote = ["promote-image", "--source", "dev", "--destination", "pp"];
    let too_many = "Error: PUT https://pp.io/v2/p/api/manifests/1: unexpected status code 429 Too Many Requests";
    pipeline
        .set("FIXTURE_CRANE_FAILS", "2")
        .set("FIXTURE_CRANE_STDERR", too_many);
    pipeline
        .env
        .op(&promote)
        .success()
        .stderr_has(too_many)
        .stderr_has("crane copy failed with a transient error (Error: PUT https://pp.io/v2/p/api/manifests/1: unexpected status code 429 Too Many Requests); retry 1 of 3 in 1s")
        .stderr_has("retry 2 of 3 in 2s")
        .stderr_has(&format!("verified pp.io/p/api:1 at {DIGEST}"));
    assert_eq!(
        pipeline.argv_of("crane"),
        [
            strings(&["copy", &format!("dev.io/p/api@{DIGEST}"), "pp.io/p/api:1"]),
            strings(&["copy", &format!("dev.io/p/api@{DIGEST}"), "pp.io/p/api:1"]),
            strings(&["copy", &format!("dev.io/p/api@{DIGEST}"), "pp.io/p/api:1"]),
            strings(&["digest", "pp.io/p/api:1"]),
        ]
    );

    for (stderr, retried) in [
        (
            "Error: Get \"https://pp.io/v2/\": dial tcp 10.0.0.1:443: connect: connection refused",
            true,
        ),
        (
            "Error: GET https://pp.io/v2/p/api/blobs/x: unexpected status code 502 Bad Gateway",
            true,
        ),
        (
            "Error: GET https://pp.io/v2/p/api/manifests/1: MANIFEST_UNKNOWN: manifest unknown",
            false,
        ),
        (
            "Error: GET https://pp.io/token: UNAUTHORIZED: authentication required",
            false,
        ),
    ] {
        pipeline.clear_log();
        let _ = std::fs::remove_file(format!("{}.cranefails", pipeline.log.display()));
        pipeline
            .set("FIXTURE_CRANE_FAILS", "9")
            .set("FIXTURE_CRANE_STDERR", stderr)
            .set("OP_HTTP_RETRIES", "1");
        let run = pipeline.env.op(&promote);
        run.code(1).stderr_has(stderr);
        if retried {
            run.stderr_has("retry 1 of 1 in 1s")
                .stderr_has("failed with exit code 1 after 1 retries (OP_HTTP_RETRIES)");
        } else {
            run.stderr_lacks("retry");
        }
        assert_eq!(
            pipeline.argv_of("crane").len(),
            if retried { 2 } else { 1 },
            "{stderr}"
        );
    }
}
