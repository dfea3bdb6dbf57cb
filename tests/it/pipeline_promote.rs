//! `op promote-image`: crane copy of the built images between the environment registries
//! (GOOGLE_GKE_IMAGE_*, else PROMOTE_SOURCE/DESTINATION_REPOSITORY) by the one rule: source
//! registry + the image path below the registry it was built in → destination registry + path.

use std::path::Path;

use crate::pipeline_tools::{DIGEST, Pipeline, bed, last_call, text, tool_path};

/// The `crane copy SRC DST` runs so far.
fn copies(pipeline: &Pipeline) -> Vec<(String, String)> {
    pipeline
        .argv_of("crane")
        .into_iter()
        .filter(|argv| argv[0] == "copy")
        .map(|argv| (argv[1].clone(), argv[2].clone()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(from, to)| (from.to_string(), to.to_string()))
        .collect()
}

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
        copies(&pipeline),
        pairs(&[
            (&format!("dev.io/p/api@{DIGEST}"), "pp.io/p/api:1.0.0"),
            (&format!("dev.io/p/web@{DIGEST}"), "pp.io/p/web:1.0.0"),
            (
                &format!("dev.io/p/team/worker@{DIGEST}"),
                "pp.io/p/team/worker:1.0.0"
            ),
        ]),
        "by digest; the source registry replaced (never prefixed twice), a bare tag prefixed, the image path kept"
    );
    assert_eq!(
        pipeline.argv_of("crane")[1],
        ["digest", "pp.io/p/api:1.0.0"],
        "each destination read back"
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
            copies(&pipeline),
            pairs(&[(&format!("pp.io/p/web@{DIGEST}"), "prod.io/p/web:1.0.0")]),
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
        copies(&pipeline).len(),
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
        copies(&pipeline).pop().unwrap(),
        (
            format!("src-file.io/app@{DIGEST}"),
            "prod-file.io/app:7".into()
        )
    );
    pipeline
        .set("GOOGLE_GKE_IMAGE_PP_REPOSITORY", "pp-env.io")
        .set("GOOGLE_GKE_IMAGE_PROD_REPOSITORY", "prod-env.io");
    pipeline.env.op(&promote).success();
    assert_eq!(
        copies(&pipeline).pop().unwrap(),
        (
            format!("pp-env.io/app@{DIGEST}"),
            "prod-env.io/app:7".into()
        ),
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
    let (work, crane) = (text(&pipeline.work()), text(&tool_path(&pipeline, "crane")));
    run.stdout_is(&format!(
        "(cd {work} && {crane} copy dev.io/p/api@{DIGEST} prod.io/p/api:1.0.0)\n(cd {work} && {crane} digest prod.io/p/api:1.0.0)\n"
    ));
    run.stderr_has("(dry run) promoting");
    assert!(pipeline.calls().is_empty());
}

#[test]
fn every_source_and_destination_keeps_the_nested_path() {
    let mut pipeline = bed();
    pipeline.write(
        "build_result.json",
        &format!(
            "{{\"builds\":[{{\"imageName\":\"team/api\",\"tag\":\"dev.io/p/team/api:1.0.0@{DIGEST}\"}},\"team/web:2\",\"pp.io/q/team/worker:3\"]}}"
        ),
    );
    let registries = [
        ("dev", "dev.io/p"),
        ("pp", "pp.io/q"),
        ("prod", "prod.io/r/images"),
    ];
    pipeline
        .set("GOOGLE_GKE_IMAGE_REPOSITORY", registries[0].1)
        .set("GOOGLE_GKE_IMAGE_PP_REPOSITORY", registries[1].1)
        .set("GOOGLE_GKE_IMAGE_PROD_REPOSITORY", registries[2].1);
    for (source, from) in registries {
        for (destination, to) in &registries[1..] {
            pipeline.clear_log();
            pipeline
                .env
                .op(&[
                    "promote-image",
                    "--source",
                    source,
                    "--destination",
                    destination,
                ])
                .success();
            assert_eq!(
                copies(&pipeline),
                pairs(&[
                    (
                        &format!("{from}/team/api@{DIGEST}"),
                        &format!("{to}/team/api:1.0.0")
                    ),
                    (
                        &format!("{from}/team/web@{DIGEST}"),
                        &format!("{to}/team/web:2")
                    ),
                    (
                        &format!("{from}/team/worker@{DIGEST}"),
                        &format!("{to}/team/worker:3")
                    ),
                ]),
                "--source {source} --destination {destination}: from the source registry, the path below the built registry kept"
            );
        }
    }
}

#[test]
fn a_reference_below_no_known_registry_copies_nothing() {
    let mut pipeline = bed();
    pipeline.write(
        "build_result.json",
        "{\"builds\":[\"dev.io/p/api:1\",\"other.io/x/team/api:1\"]}",
    );
    pipeline
        .set("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io/p")
        .set("GOOGLE_GKE_IMAGE_PP_REPOSITORY", "pp.io/q");
    let promote = ["promote-image", "--source", "dev", "--destination", "pp"];
    pipeline
        .env
        .op(&promote)
        .code(1)
        .stderr_has("cannot tell which registry other.io/x/team/api:1 was built in")
        .stderr_has("GOOGLE_GKE_IMAGE_REPOSITORY");
    assert!(pipeline.calls().is_empty(), "planned before the first copy");
    pipeline.write(".registry", "ci: [other.io/x]\n");
    pipeline.env.op(&promote).success();
    assert_eq!(
        copies(&pipeline)[1],
        (
            format!("dev.io/p/team/api@{DIGEST}"),
            "pp.io/q/team/api:1".into()
        ),
        "a registry of .registry counts as a built registry"
    );
}
