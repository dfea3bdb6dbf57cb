//! Bad input in every file format the pipeline commands read, through the real commands: each
//! is exit 2 with the file, the line (or field) and what was expected, before anything runs.

use crate::pipeline_tools::{Pipeline, project as bed};

/// Writes `relative` with `text`, runs `op args`, and checks exit 2, the message parts and that
/// no tool ran.
#[track_caller]
fn rejects(pipeline: &Pipeline, relative: &str, text: &str, args: &[&str], needles: &[&str]) {
    pipeline.clear_log();
    pipeline.write(relative, text);
    let run = pipeline.env.op(args);
    run.code(2);
    let path = pipeline.work().join(relative);
    run.stderr_has(&format!("error: {}: ", path.display()));
    for needle in needles {
        run.stderr_has(needle);
    }
    assert!(
        pipeline.calls().is_empty(),
        "{text:?}: {:?}",
        pipeline.calls()
    );
}

#[test]
fn registry_file() {
    let mut pipeline = bed();
    pipeline.set("GITHUB_REF", "refs/heads/main");
    let push = ["push"];
    for (text, needles) in [
        (
            "- ghcr.io/acme\n",
            &[
                "line 1 column 1: expected a mapping",
                "hint: a .registry looks like",
            ][..],
        ),
        (
            "ci: ghcr.io/acme\n",
            &["line 1 column 5: expected a list"][..],
        ),
        (
            "local: 5001\n",
            &[
                "line 1 column 1: invalid type: integer `5001`, expected a registry: a string, or {url, name}",
            ][..],
        ),
        (
            "ci:\n  - url: a.io\n    nmae: x\n",
            &["line 3 column 5: unknown field `nmae`, expected one of url, name"][..],
        ),
        ("ci:\n  - name: gar\n", &["missing field `url`"][..]),
        (
            "remote: a.io\n",
            &["unknown field `remote`, expected one of local, ci, destinations"][..],
        ),
        ("local: 'a.io\n", &["line 1 column 8: unclosed quote"][..]),
        ("local: a.io\nlocal: b.io\n", &["duplicate mapping key"][..]),
    ] {
        rejects(&pipeline, ".registry", text, &push, needles);
    }
    rejects(
        &pipeline,
        ".registry",
        "ci: a.io\n",
        &["build"],
        &["expected a list"],
    );
    pipeline.write(".registry", "");
    pipeline
        .env
        .op(&push)
        .code(1)
        .stderr_has("no push registry");
    pipeline.write(".registry", "# registries come later\n");
    pipeline.env.op(&["build"]).success();
}

#[test]
fn run_file_and_its_legacy_location() {
    let mut pipeline = bed();
    pipeline.set("GITHUB_REF", "refs/heads/main");
    let build = ["build"];
    for (text, needles) in [
        (
            "[a]\n",
            &["line 1 column 1: expected a mapping", "hint: expected:"][..],
        ),
        (
            "default_repo: [a]\n",
            &["line 1 column 15: expected a text value"][..],
        ),
        (
            "contexts:\n  api:\n    ports: 8080\n",
            &["line 3 column 12: expected a list"][..],
        ),
        (
            "contexts:\n  api:\n    env: {A: {b: c}}\n",
            &["line 3 column 14"][..],
        ),
        (
            "repo: x\n",
            &["unknown field `repo`, expected one of default_repo, tag, contexts"][..],
        ),
        (
            "contexts:\n  api:\n    volume: [a]\n",
            &["unknown field `volume`, expected one of ports, env, volumes"][..],
        ),
        ("contexts: {api: [}\n", &["line 1"][..]),
    ] {
        rejects(&pipeline, ".run.yaml", text, &build, needles);
    }
    std::fs::remove_file(pipeline.work().join(".run.yaml")).unwrap();
    rejects(
        &pipeline,
        ".github/octopilot.yaml",
        "default_repo: {a: b}\n",
        &build,
        &["expected a text value"],
    );
    pipeline.write(".run.yaml", "");
    pipeline.env.op(&build).success();
    assert_eq!(
        crate::pipeline_tools::last(&pipeline, "skaffold")[3],
        "localhost:5001",
        "an empty .run.yaml wins; the bad octopilot.yaml is not read"
    );
}

#[test]
fn skaffold_yaml() {
    let mut pipeline = bed();
    pipeline.set("GITHUB_REF", "refs/heads/main");
    let build_push = ["build-push"];
    for (text, needles) in [
        (
            "- image: a\n",
            &[
                "line 1 column 1: expected a mapping",
                "hint: expected skaffold's schema",
            ][..],
        ),
        (
            "build:\n  artifacts: {image: a}\n",
            &["line 2 column 14: expected a list"][..],
        ),
        (
            "build:\n  artifacts:\n    - context: x\n",
            &["missing field `image`"][..],
        ),
        (
            "build:\n  artifacts:\n    - image: a\n      buildpacks: {}\n",
            &["missing field `builder`"][..],
        ),
        (
            "build:\n  artifacts:\n    - image: ''\n",
            &["document 1 build.artifacts[0].image is empty"][..],
        ),
        ("biuld:\n  artifacts: []\n", &["unknown field `biuld`"][..]),
        (
            "build: {artifacts: [\n",
            &["line 1 column 20: unclosed bracket '['"][..],
        ),
    ] {
        rejects(&pipeline, "skaffold.yaml", text, &build_push, needles);
    }
    std::fs::remove_file(pipeline.work().join("skaffold.yaml")).unwrap();
    pipeline
        .env
        .op(&build_push)
        .code(2)
        .stderr_has("skaffold.yaml not found")
        .stderr_has("--skaffold-file");
    pipeline.write("skaffold.yaml", "");
    pipeline
        .env
        .op(&build_push)
        .code(1)
        .stderr_has("No buildpacks or docker artifacts");
}

#[test]
fn build_result_json() {
    let mut pipeline = bed();
    pipeline
        .set("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io")
        .set("GOOGLE_GKE_IMAGE_PP_REPOSITORY", "pp.io");
    let promote = ["promote-image", "--source", "dev", "--destination", "pp"];
    pipeline
        .env
        .op(&promote)
        .code(2)
        .stderr_has("build_result.json: No such file")
        .stderr_has("hint: run `op push` or `op build-push` first");
    for (text, needles) in [
        ("", &["the file is empty", "hint: expected {\"builds\""][..]),
        (
            "{\"builds\": [",
            &["line 1 column 12: EOF while parsing a list"][..],
        ),
        (
            "[\"a:1\"]",
            &["expected a JSON object with a `builds` list"][..],
        ),
        ("{}", &["missing field `builds`"][..]),
        (
            "{\"builds\": \"a:1\"}",
            &["line 1 column 16: invalid type: string \"a:1\", expected a sequence"][..],
        ),
        ("{\"builds\": []}", &["`builds` is empty"][..]),
        (
            "{\"builds\": [7]}",
            &["invalid type: integer `7`, expected a build"][..],
        ),
        (
            "{\"builds\": [{\"imageName\": \"a\"}]}",
            &["missing field `tag`"][..],
        ),
        (
            "{\"builds\": [{\"tag\": \"a:1\", \"digest\": \"x\"}]}",
            &["unknown field `digest`, expected `imageName` or `tag`"][..],
        ),
        (
            "{\"builds\": [\"a:1\"], \"version\": 2}",
            &["unknown field `version`, expected `builds`"][..],
        ),
    ] {
        rejects(&pipeline, "build_result.json", text, &promote, needles);
    }
}

#[test]
fn properties_file() {
    let pipeline = bed();
    let empty = pipeline.write("empty.properties", "");
    pipeline
        .env
        .op(&[
            "--config",
            empty.to_str().unwrap(),
            "push",
            "--default-repo",
            "r.io",
        ])
        .success();
    std::fs::write(&empty, [0xff, 0xfe, b'=', b'\n']).unwrap();
    pipeline
        .env
        .op(&[
            "--config",
            empty.to_str().unwrap(),
            "push",
            "--default-repo",
            "r.io",
        ])
        .code(2)
        .stderr_has("empty.properties: it is UTF-16 text");
}
