//! `op push`: skaffold build --push with the registry from flag → environment → properties →
//! `.registry`, build_result.json from skaffold's `--file-output` (or parsed from its output),
//! and `--push-all` copying every image to every other ci registry with crane.

use std::path::Path;

use crate::pipeline_tools::{
    DIGEST, Pipeline, bed, last, last_call, leftovers, read, strings, text, tool_path,
};

const OLD_RESULT: &str = "{\"builds\":[{\"imageName\":\"api\",\"tag\":\"r.io/api:old\"}]}\n";

/// The `--default-repo` of the last skaffold run.
#[track_caller]
fn pushed_to(pipeline: &Pipeline) -> String {
    let argv = last(pipeline, "skaffold");
    let at = argv.iter().position(|arg| arg == "--default-repo").unwrap();
    argv[at + 1].clone()
}

#[test]
fn push_runs_skaffold_and_writes_its_result_atomically() {
    let pipeline = bed();
    pipeline.write(".registry", "local: localhost:5001\nci: [ghcr.io/acme]\n");
    let run = pipeline.env.op(&["push"]);
    run.success();
    let work = pipeline.work();
    let skaffold = last_call(&pipeline, "skaffold");
    assert_eq!(
        skaffold.argv,
        strings(&[
            "build",
            "--file-output",
            &text(&work.join(".build_result.json.skaffold-output")),
            "--default-repo",
            "localhost:5001",
            "--push",
            "--profile",
            "push",
        ])
    );
    assert_eq!(
        Path::new(&skaffold.program),
        tool_path(&pipeline, "skaffold")
    );
    assert_eq!(Path::new(&skaffold.cwd), work);
    let result: serde_json::Value =
        serde_json::from_str(&read(&pipeline, "build_result.json")).unwrap();
    assert_eq!(
        result,
        serde_json::json!({"builds": [
            {"imageName": "api", "tag": format!("localhost:5001/api:fixture1@{DIGEST}")},
            {"imageName": "web", "tag": "localhost:5001/web:fixture1"},
        ]})
    );
    run.stderr_has(&format!(
        "wrote {}",
        work.join("build_result.json").display()
    ));
    assert!(leftovers(&work).is_empty(), "{:?}", leftovers(&work));
    assert!(
        pipeline.argv_of("crane").is_empty(),
        "no copies without --push-all"
    );
}

#[test]
fn push_registry_precedence_and_no_registry_at_all() {
    let mut pipeline = bed();
    pipeline
        .env
        .op(&["push"])
        .code(1)
        .stderr_has("no push registry is configured")
        .stderr_has("--default-repo");
    assert!(pipeline.calls().is_empty(), "nothing ran");
    pipeline.write(".registry", "local: registry.local:5001\n");
    pipeline.env.op(&["push"]).success();
    assert_eq!(pushed_to(&pipeline), "registry.local:5001");
    let config = pipeline.write("ci.properties", "GOOGLE_GKE_IMAGE_REPOSITORY=gke.io/p/\n");
    let config = config.to_str().unwrap();
    pipeline.env.op(&["--config", config, "push"]).success();
    assert_eq!(
        pushed_to(&pipeline),
        "gke.io/p",
        "properties beat .registry"
    );
    pipeline.set("SKAFFOLD_DEFAULT_REPO", "env.io/p");
    pipeline.env.op(&["--config", config, "push"]).success();
    assert_eq!(
        pushed_to(&pipeline),
        "env.io/p",
        "environment beats properties"
    );
    pipeline
        .env
        .op(&["--config", config, "push", "--default-repo", "flag.io/p"])
        .success();
    assert_eq!(
        pushed_to(&pipeline),
        "flag.io/p",
        "the flag beats everything"
    );
    pipeline.write(".run.yaml", "default_repo: run.io/p\n");
    pipeline.unset("SKAFFOLD_DEFAULT_REPO");
    pipeline.env.op(&["push"]).success();
    assert_eq!(
        pushed_to(&pipeline),
        "registry.local:5001",
        "push does not read .run.yaml"
    );
}

#[test]
fn registry_interpolation_forms() {
    let mut pipeline = bed();
    pipeline
        .set("REG", "a.io")
        .set("REG_ORG", "team")
        .set("REG_EMPTY", "")
        .set("REG_SLASH", "x.io/");
    for (entry, expected) in [
        ("${REG}", "a.io"),
        ("$REG/$REG_ORG", "a.io/team"),
        ("${REG}/${REG_ORG}/images", "a.io/team/images"),
        ("${REG_UNSET:-d.io}", "d.io"),
        ("${REG_EMPTY:-d.io}", "d.io"),
        ("${REG:-d.io}", "a.io"),
        ("r.io/a$$b", "r.io/a$b"),
        ("r.io/$$REG", "r.io/$REG"),
        ("${REG_SLASH}", "x.io/"),
        ("b.io/${REG_UNSET}x", "b.io/x"),
        ("c.io/${}", "c.io/${}"),
    ] {
        pipeline.write(".registry", &format!("local: '{entry}'\n"));
        pipeline
            .env
            .op(&["push", "--destination", "local"])
            .success();
        assert_eq!(pushed_to(&pipeline), expected, "local: {entry}");
        pipeline.write(
            ".registry",
            &format!("ci:\n  - url: \"{entry}\"\n    name: x\n"),
        );
        pipeline.env.op(&["push", "--destination", "ci"]).success();
        assert_eq!(pushed_to(&pipeline), expected, "ci url: {entry}");
    }
    pipeline.write(".registry", "local: ${REG_UNSET}\n");
    pipeline
        .env
        .op(&["push", "--destination", "local"])
        .code(1)
        .stderr_has("no push registry");
}

#[test]
fn destinations_local_ci_all_auto() {
    let mut pipeline = bed();
    pipeline.write(
        ".registry",
        "local: localhost:5001\ndestinations: [ghcr.io/acme, quay.io/acme]\n",
    );
    for (args, github_actions, expected) in [
        (&["push"][..], "", "localhost:5001"),
        (&["push"][..], "true", "ghcr.io/acme"),
        (&["push"][..], "TRUE", "localhost:5001"),
        (
            &["push", "--destination", "auto"][..],
            "1",
            "localhost:5001",
        ),
        (&["push", "--destination", "ci"][..], "", "ghcr.io/acme"),
        (
            &["push", "--destination", "all"][..],
            "true",
            "localhost:5001",
        ),
        (
            &["push", "--destination", "local"][..],
            "true",
            "localhost:5001",
        ),
    ] {
        pipeline.set("GITHUB_ACTIONS", github_actions);
        pipeline.env.op(args).success();
        assert_eq!(
            pushed_to(&pipeline),
            expected,
            "{args:?} GITHUB_ACTIONS={github_actions}"
        );
    }
    pipeline.set("GITHUB_ACTIONS", "");
    pipeline
        .env
        .op(&["push", "--destination", "everywhere"])
        .code(2);
}

#[test]
fn registry_file_is_read_itself() {
    let pipeline = bed();
    pipeline.write(".registry", "ci: [ghcr.io/acme]\n");
    let custom = pipeline.write("conf/team.registry", "ci:\n  - quay.io/team\n");
    pipeline
        .env
        .op(&[
            "push",
            "--registry-file",
            custom.to_str().unwrap(),
            "--destination",
            "ci",
        ])
        .success();
    assert_eq!(pushed_to(&pipeline), "quay.io/team");
    pipeline
        .env
        .op(&[
            "push",
            "--registry-file",
            "conf/team.registry",
            "--destination",
            "ci",
        ])
        .success();
    assert_eq!(
        pushed_to(&pipeline),
        "quay.io/team",
        "relative to the project"
    );
    pipeline
        .env
        .op(&["push", "--registry-file", "conf/missing.registry"])
        .code(2)
        .stderr_has("conf/missing.registry does not exist");
}

#[test]
fn push_all_copies_every_image_to_every_other_ci_registry() {
    let mut pipeline = bed();
    pipeline.write(
        ".registry",
        "local: localhost:5001\nci:\n  - ghcr.io/acme\n  - url: ${GAR}/images\n    name: gar\n  - ghcr.io/acme/\n  - quay.io/acme\n  - quay.io/acme\n",
    );
    pipeline
        .set("GITHUB_ACTIONS", "true")
        .set("GAR", "europe-docker.pkg.dev/p");
    pipeline.env.op(&["push", "--push-all"]).success();
    assert_eq!(pushed_to(&pipeline), "ghcr.io/acme");
    let api = format!("ghcr.io/acme/api@{DIGEST}");
    let (gar, quay) = ("europe-docker.pkg.dev/p/images", "quay.io/acme");
    assert_eq!(
        pipeline.argv_of("crane"),
        [
            strings(&["copy", &api, &format!("{gar}/api:fixture1")]),
            strings(&["digest", &format!("{gar}/api:fixture1")]),
            strings(&["copy", &api, &format!("{quay}/api:fixture1")]),
            strings(&["digest", &format!("{quay}/api:fixture1")]),
            strings(&["digest", "ghcr.io/acme/web:fixture1"]),
            strings(&[
                "copy",
                &format!("ghcr.io/acme/web@{DIGEST}"),
                &format!("{gar}/web:fixture1")
            ]),
            strings(&["digest", &format!("{gar}/web:fixture1")]),
            strings(&[
                "copy",
                &format!("ghcr.io/acme/web@{DIGEST}"),
                &format!("{quay}/web:fixture1")
            ]),
            strings(&["digest", &format!("{quay}/web:fixture1")]),
        ],
        "the source pinned by digest (read with crane digest when not recorded), each destination tagged and read back, the pushed-to registry and duplicates skipped"
    );
    let crane = last_call(&pipeline, "crane");
    assert_eq!(Path::new(&crane.program), tool_path(&pipeline, "crane"));

    pipeline.set("FIXTURE_CRANE_EXIT", "5");
    pipeline
        .env
        .op(&["push", "--push-all"])
        .code(5)
        .stderr_has(&format!(
            "crane copy {api} {gar}/api:fixture1 failed with exit code 5"
        ));

    pipeline.write(".registry", "ci: [ghcr.io/acme]\n");
    pipeline.clear_log();
    pipeline
        .env
        .op(&["push", "--push-all"])
        .success()
        .stderr_has("nothing to copy");
    assert!(pipeline.argv_of("crane").is_empty());
}

#[test]
fn a_failed_push_passes_its_code_and_leaves_build_result_untouched() {
    let mut pipeline = bed();
    pipeline.write("build_result.json", OLD_RESULT);
    pipeline.set("FIXTURE_SKAFFOLD_EXIT", "9");
    pipeline
        .env
        .op(&["push", "--default-repo", "r.io", "--push-all"])
        .code(9)
        .stderr_has("fixture skaffold: build failed");
    assert_eq!(read(&pipeline, "build_result.json"), OLD_RESULT);
    assert!(pipeline.argv_of("crane").is_empty());

    pipeline
        .unset("FIXTURE_SKAFFOLD_EXIT")
        .set("FIXTURE_SKAFFOLD_NO_OUTPUT", "1");
    pipeline
        .env
        .op(&["push", "--default-repo", "r.io"])
        .code(1)
        .stderr_has("skaffold succeeded but wrote no --file-output");
    assert_eq!(read(&pipeline, "build_result.json"), OLD_RESULT);
    assert!(leftovers(&pipeline.work()).is_empty());
}

#[test]
fn output_directory_and_profile() {
    let pipeline = bed();
    pipeline
        .env
        .op(&[
            "push",
            "--default-repo",
            "r.io",
            "--output",
            "out/push",
            "--profile",
            "",
        ])
        .success();
    let work = pipeline.work();
    let skaffold = last_call(&pipeline, "skaffold");
    assert_eq!(
        Path::new(&skaffold.cwd),
        work,
        "skaffold runs in the project directory"
    );
    assert_eq!(
        skaffold.argv,
        strings(&[
            "build",
            "--file-output",
            &text(&work.join("out/push/.build_result.json.skaffold-output")),
            "--default-repo",
            "r.io",
            "--push",
        ]),
        "an absolute --file-output; --profile \"\" passes no profile"
    );
    assert!(work.join("out/push/build_result.json").is_file());
    assert!(!work.join("build_result.json").exists());
    pipeline
        .env
        .op(&["push", "--default-repo", "r.io", "--profile", "release"])
        .success();
    assert_eq!(
        last(&pipeline, "skaffold")[6..],
        strings(&["--profile", "release"])
    );
}

#[test]
fn no_file_output_parses_skaffolds_output() {
    let pipeline = bed();
    pipeline
        .env
        .op(&["push", "--default-repo", "r.io/acme", "--no-file-output"])
        .success();
    assert_eq!(
        last(&pipeline, "skaffold"),
        strings(&[
            "build",
            "--default-repo",
            "r.io/acme",
            "--push",
            "--profile",
            "push"
        ])
    );
    let result: serde_json::Value =
        serde_json::from_str(&read(&pipeline, "build_result.json")).unwrap();
    assert_eq!(
        result,
        serde_json::json!({"builds": [
            {"imageName": "api", "tag": "r.io/acme/api:fixture1"},
            {"imageName": "web", "tag": "r.io/acme/web:fixture1"},
        ]}),
        "skaffold v2's ` - NAME -> REF` lines"
    );
    pipeline
        .env
        .op(&[
            "push",
            "--default-repo",
            "r.io/acme",
            "--no-file-output",
            "--image-pattern",
            r"-> (?P<image>\S+):(?P<tag>[^:\s]+)$",
        ])
        .success();
    let result: serde_json::Value =
        serde_json::from_str(&read(&pipeline, "build_result.json")).unwrap();
    assert_eq!(
        result,
        serde_json::json!({"builds": [{"tag": "r.io/acme/api:fixture1"}, {"tag": "r.io/acme/web:fixture1"}]})
    );
    let calls = pipeline.calls().len();
    for (pattern, needle) in [
        ("(unclosed", "--image-pattern: regex parse error"),
        ("(?P<image>\\S+)", "no named group `tag`"),
    ] {
        pipeline
            .env
            .op(&[
                "push",
                "--default-repo",
                "r.io",
                "--no-file-output",
                "--image-pattern",
                pattern,
            ])
            .code(2)
            .stderr_has(needle);
    }
    pipeline
        .env
        .op(&["push", "--default-repo", "r.io", "--image-pattern", "x"])
        .code(2);
    assert_eq!(pipeline.calls().len(), calls, "a bad pattern runs nothing");
}

#[test]
fn no_file_output_failures() {
    let mut pipeline = Pipeline::with_pinned(&[(
        "skaffold",
        "echo 'Building... done'; echo 'nothing pushed' >&2; exit ${FIXTURE_SKAFFOLD_EXIT:-0}",
    )]);
    pipeline.write("build_result.json", OLD_RESULT);
    pipeline
        .env
        .op(&["push", "--default-repo", "r.io", "--no-file-output"])
        .code(1)
        .stderr_has("could not find an image reference in skaffold's output");
    pipeline.set("FIXTURE_SKAFFOLD_EXIT", "4");
    pipeline
        .env
        .op(&["push", "--default-repo", "r.io", "--no-file-output"])
        .code(4)
        .stderr_has("nothing pushed")
        .stderr_has("Building... done");
    assert_eq!(read(&pipeline, "build_result.json"), OLD_RESULT);
}

#[test]
fn dry_run_prints_the_command_and_the_file_and_runs_nothing() {
    let pipeline = bed();
    pipeline.write(
        ".registry",
        "local: localhost:5001\nci: [ghcr.io/acme, quay.io/acme]\n",
    );
    let run = pipeline
        .env
        .op(&["push", "--destination", "ci", "--push-all", "--dry-run"]);
    run.success();
    let w = text(&pipeline.work());
    run.stdout_is(&format!(
        "(cd {w} && {} build --file-output {w}/.build_result.json.skaffold-output --default-repo ghcr.io/acme --push --profile push)\n# would write {w}/build_result.json from skaffold's output\n",
        text(&tool_path(&pipeline, "skaffold"))
    ));
    run.stderr_has("--push-all would copy each built image to: quay.io/acme");
    assert!(pipeline.calls().is_empty());
    assert!(!pipeline.work().join("build_result.json").exists());
}
