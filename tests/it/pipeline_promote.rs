//! `op promote-image`: crane copy of the built images between the environment registries
//! (GOOGLE_GKE_IMAGE_*, else PROMOTE_SOURCE/DESTINATION_REPOSITORY), never double-prefixed.

use std::path::Path;

use crate::pipeline_tools::{DIGEST, Pipeline, bed, last_call, strings, text, tool_path};

fn promotable() -> Pipeline {
    let mut pipeline = bed();
    pipeline.write(
        "build_result.json",
        &format!(
            "{{\"builds\":[{{\"imageName\":\"api\",\"tag\":\"dev.io/p/api:1.0.0@{DIGEST}\"}},{{\"imageName\":\"web\",\"tag\":\"web:1.0.0\"}},\"dev.io/p/team/worker:1.0.0\"]}}"
        ),
    );
    pipeline
        .set("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io/p")
        .set("GOOGLE_GKE_IMAGE_PP_REPOSITORY", "pp.io/p/")
        .set("GOOGLE_GKE_IMAGE_PROD_REPOSITORY", "prod.io/p");
    pipeline
}

#[test]
fn promote_copies_every_built_image_to_the_destination_registry() {
    let pipeline = promotable();
    pipeline
        .env
        .op(&["promote-image", "--source", "dev", "--destination", "pp"])
        .success()
        .stderr_has("promoting dev.io/p/web:1.0.0 -> pp.io/p/web:1.0.0");
    assert_eq!(
        pipeline.argv_of("crane"),
        [
            strings(&[
                "copy",
                &format!("dev.io/p/api:1.0.0@{DIGEST}"),
                "pp.io/p/api:1.0.0"
            ]),
            strings(&["copy", "dev.io/p/web:1.0.0", "pp.io/p/web:1.0.0"]),
            strings(&[
                "copy",
                "dev.io/p/team/worker:1.0.0",
                "pp.io/p/team/worker:1.0.0"
            ]),
        ],
        "the source registry replaced (never prefixed twice), a bare tag prefixed, the image path kept"
    );
    let crane = last_call(&pipeline, "crane");
    assert_eq!(Path::new(&crane.program), tool_path(&pipeline, "crane"));
    assert_eq!(Path::new(&crane.cwd), pipeline.work());
}

#[test]
fn image_name_and_build_result_path() {
    let pipeline = promotable();
    std::fs::create_dir_all(pipeline.work().join("out")).unwrap();
    std::fs::rename(
        pipeline.work().join("build_result.json"),
        pipeline.work().join("out/build_result.json"),
    )
    .unwrap();
    for build_result in ["out", "out/build_result.json"] {
        pipeline.clear_log();
        pipeline
            .env
            .op(&[
                "promote-image",
                "--source",
                "pp",
                "--destination",
                "prod",
                "--image-name",
                "web",
                "--build-result",
                build_result,
            ])
            .success();
        assert_eq!(
            pipeline.argv_of("crane"),
            [strings(&[
                "copy",
                "pp.io/p/web:1.0.0",
                "prod.io/p/web:1.0.0"
            ])],
            "--build-result {build_result}"
        );
    }
    pipeline.clear_log();
    pipeline
        .env
        .op(&[
            "promote-image",
            "--source",
            "dev",
            "--destination",
            "prod",
            "--image-name",
            "team/worker",
            "--build-result",
            "out",
        ])
        .success();
    assert_eq!(
        pipeline.argv_of("crane").len(),
        1,
        "an image path matches by its last part"
    );
    pipeline
        .env
        .op(&[
            "promote-image",
            "--source",
            "dev",
            "--destination",
            "prod",
            "--image-name",
            "nope",
            "--build-result",
            "out",
        ])
        .code(1)
        .stderr_has("has no image `nope`; it has: api, web, worker");
    pipeline
        .env
        .op(&["promote-image", "--source", "dev", "--destination", "prod"])
        .code(2)
        .stderr_has(&text(&pipeline.work().join("build_result.json")))
        .stderr_has("run `op push` or `op build-push` first");
}

#[test]
fn registries_from_properties_fallbacks_and_missing_ones() {
    let mut pipeline = bed();
    pipeline.write("build_result.json", "{\"builds\":[\"app:7\"]}");
    let config = pipeline.write(
        "ci.properties",
        "PROMOTE_SOURCE_REPOSITORY=src-file.io\nGOOGLE_GKE_IMAGE_PROD_REPOSITORY=prod-file.io\n",
    );
    let config = config.to_str().unwrap();
    let promote = [
        "--config",
        config,
        "promote-image",
        "--source",
        "pp",
        "--destination",
        "prod",
    ];
    pipeline.env.op(&promote).success();
    assert_eq!(
        last_call(&pipeline, "crane").argv,
        strings(&["copy", "src-file.io/app:7", "prod-file.io/app:7"])
    );
    pipeline
        .set("GOOGLE_GKE_IMAGE_PP_REPOSITORY", "pp-env.io")
        .set("GOOGLE_GKE_IMAGE_PROD_REPOSITORY", "prod-env.io");
    pipeline.env.op(&promote).success();
    assert_eq!(
        last_call(&pipeline, "crane").argv,
        strings(&["copy", "pp-env.io/app:7", "prod-env.io/app:7"]),
        "an environment's own registry beats the fallback; the environment beats the file"
    );

    let mut bare = bed();
    bare.write("build_result.json", "{\"builds\":[\"app:7\"]}");
    bare.set("PROMOTE_DESTINATION_REPOSITORY", "dst.io");
    bare.env
        .op(&["promote-image", "--source", "dev", "--destination", "pp"])
        .code(1)
        .stderr_has("the source registry of the promotion is not configured")
        .stderr_has("PROMOTE_SOURCE_REPOSITORY");
    bare.unset("PROMOTE_DESTINATION_REPOSITORY")
        .set("PROMOTE_SOURCE_REPOSITORY", "src.io");
    bare.env
        .op(&["promote-image", "--source", "dev", "--destination", "pp"])
        .code(1)
        .stderr_has("the destination registry of the promotion is not configured");
    assert!(bare.calls().is_empty());
}

#[test]
fn environments_are_checked_and_crane_failures_pass_through() {
    let mut pipeline = promotable();
    pipeline
        .env
        .op(&["promote-image", "--source", "dev", "--destination", "dev"])
        .code(2)
        .stderr_has("[possible values: pp, prod]");
    pipeline
        .env
        .op(&["promote-image", "--source", "qa", "--destination", "pp"])
        .code(2);
    pipeline
        .env
        .op(&["promote-image", "--source", "dev"])
        .code(2);
    assert!(pipeline.calls().is_empty());
    pipeline.set("FIXTURE_CRANE_EXIT", "6");
    pipeline
        .env
        .op(&["promote-image", "--source", "pp", "--destination", "pp"])
        .code(6);
    assert_eq!(
        pipeline.argv_of("crane").len(),
        1,
        "stops at the first failure"
    );
}

#[test]
fn dry_run_prints_each_copy_and_runs_nothing() {
    let pipeline = promotable();
    let run = pipeline.env.op(&[
        "promote-image",
        "--source",
        "dev",
        "--destination",
        "prod",
        "--image-name",
        "api",
        "--dry-run",
    ]);
    run.success();
    run.stdout_is(&format!(
        "(cd {} && {} copy dev.io/p/api:1.0.0@{DIGEST} prod.io/p/api:1.0.0)\n",
        text(&pipeline.work()),
        text(&tool_path(&pipeline, "crane"))
    ));
    run.stderr_has("(dry run) promoting");
    assert!(pipeline.calls().is_empty());
}
