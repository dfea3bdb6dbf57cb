//! `op build` end to end, and what every pipeline command shares: the pinned skaffold run by
//! absolute path with the pinned tools first on PATH, the release tag, the `--config` properties
//! file and the one precedence order, `--dry-run`, errors, exit codes and signals.

use std::time::Duration;

use std::path::Path;

use crate::pipeline_tools::{self, Pipeline, last, project as bed, strings, tool_path};

fn build_argv(repo: &str, extra: &[&str]) -> Vec<String> {
    let mut argv = strings(&["build", "--cache-artifacts=false", "--default-repo", repo]);
    argv.extend(strings(extra));
    argv
}

#[test]
fn build_runs_the_pinned_skaffold_by_absolute_path_with_pinned_tools_first_on_path() {
    let pipeline = bed();
    pipeline.env.op(&["build"]).success();
    let calls = pipeline.calls();
    let skaffold = calls.iter().find(|call| call.tool == "skaffold").unwrap();
    assert_eq!(skaffold.argv, build_argv("localhost:5001", &[]));
    assert_eq!(
        Path::new(&skaffold.program),
        tool_path(&pipeline, "skaffold")
    );
    assert_eq!(
        skaffold.cwd,
        pipeline.work(),
        "skaffold runs in the project"
    );
    let dirs: Vec<&str> = skaffold.path.split(':').collect();
    // skaffold and the pinned tools it starts itself (kubectl, pack); flux and crane are
    // neither installed nor on its PATH.
    for (index, tool) in ["skaffold", "kubectl", "pack"].iter().enumerate() {
        let bin = tool_path(&pipeline, tool).parent().unwrap().to_path_buf();
        let position = dirs
            .iter()
            .position(|dir| Path::new(dir) == bin)
            .unwrap_or_else(|| panic!("{tool} is not on the child's PATH: {dirs:?}"));
        assert!(
            position < 3,
            "pinned {tool} (#{index}) comes first: {dirs:?}"
        );
    }
    for tool in ["flux", "crane"] {
        assert!(!tool_path(&pipeline, tool).exists(), "{tool} was installed");
    }
    let host_bin = pipeline.host_path("docker").parent().unwrap().to_path_buf();
    assert_eq!(Path::new(dirs[3]), host_bin, "then op's PATH");
}

#[test]
fn release_tag_from_github_ref_else_git_describe() {
    let mut pipeline = bed();
    for (reference, tag) in [
        ("refs/tags/v1.2.3", Some("1.2.3")),
        ("refs/tags/1.2.3", Some("1.2.3")),
        ("refs/tags/v2", Some("2")),
        // A `v` is dropped only before a version: these tags are kept as written.
        ("refs/tags/vv1", Some("vv1")),
        ("refs/tags/vendor-drop", Some("vendor-drop")),
        ("refs/tags/release-1", Some("release-1")),
        ("refs/tags/v", Some("v")),
        ("refs/heads/main", None),
        ("refs/pull/7/merge", None),
    ] {
        pipeline
            .set("GITHUB_REF", reference)
            .set("FIXTURE_GIT_TAG", "v9.9.9");
        pipeline.env.op(&["build"]).success();
        let expected = match tag {
            Some(tag) => build_argv("localhost:5001", &["--tag", tag]),
            None => build_argv("localhost:5001", &[]),
        };
        assert_eq!(
            last(&pipeline, "skaffold"),
            expected,
            "GITHUB_REF={reference}"
        );
    }
    assert!(
        pipeline.argv_of("git").is_empty(),
        "GITHUB_REF set: git is not asked"
    );

    pipeline
        .unset("GITHUB_REF")
        .set("FIXTURE_GIT_TAG", "v2.0.0");
    pipeline.env.op(&["build"]).success();
    assert_eq!(
        last(&pipeline, "skaffold"),
        build_argv("localhost:5001", &["--tag", "2.0.0"])
    );
    let git = pipeline
        .calls()
        .into_iter()
        .find(|call| call.tool == "git")
        .unwrap();
    assert_eq!(
        git.argv,
        strings(&["describe", "--exact-match", "--tags", "HEAD"])
    );
    assert_eq!(Path::new(&git.cwd), pipeline.work());

    pipeline.unset("FIXTURE_GIT_TAG");
    pipeline.env.op(&["build"]).success();
    assert_eq!(
        last(&pipeline, "skaffold"),
        build_argv("localhost:5001", &[]),
        "no tag at HEAD"
    );
    // No git at all is no tag either, never an error.
    pipeline.remove_host_tool("git");
    let host_bin = pipeline.host_path("git").parent().unwrap().to_path_buf();
    let only_fixtures = host_bin.to_str().unwrap().to_string();
    pipeline.set("PATH", &only_fixtures).set("GITHUB_REF", "");
    pipeline.env.op(&["build"]).success();
    assert_eq!(
        last(&pipeline, "skaffold"),
        build_argv("localhost:5001", &[])
    );
}

#[test]
fn profile_label_and_namespace_come_from_environment_or_properties() {
    let mut pipeline = bed();
    pipeline.set("GITHUB_REF", "refs/heads/main");
    let config = pipeline.write(
        "ci.properties",
        "# pipeline settings\nSKAFFOLD_PROFILE = prod\nSKAFFOLD_NAMESPACE=apps\nSKAFFOLD_LABEL=from-file\n",
    );
    pipeline
        .set("SKAFFOLD_LABEL", "team=core")
        .set("SKAFFOLD_PROFILE", "");
    pipeline
        .env
        .op(&["--config", config.to_str().unwrap(), "build"])
        .success();
    assert_eq!(
        last(&pipeline, "skaffold"),
        build_argv(
            "localhost:5001",
            &[
                "--profile",
                "prod",
                "--label",
                "team=core",
                "--namespace",
                "apps"
            ]
        ),
        "an empty environment variable does not hide the file's value"
    );
    pipeline
        .unset("SKAFFOLD_LABEL")
        .set("OCTOPILOT_PIPELINE_PROPERTIES", config.to_str().unwrap());
    pipeline.env.op(&["build"]).success();
    assert_eq!(
        last(&pipeline, "skaffold"),
        build_argv(
            "localhost:5001",
            &[
                "--profile",
                "prod",
                "--label",
                "from-file",
                "--namespace",
                "apps"
            ]
        ),
        "OCTOPILOT_PIPELINE_PROPERTIES names the file too"
    );
}

#[test]
fn default_repo_precedence_flag_environment_properties_repo_files_default() {
    let mut pipeline = bed();
    pipeline.set("GITHUB_REF", "refs/heads/main");
    let repo = |pipeline: &Pipeline, args: &[&str]| -> String {
        pipeline.env.op(args).success();
        last(pipeline, "skaffold")[3].clone()
    };
    assert_eq!(
        repo(&pipeline, &["build"]),
        "localhost:5001",
        "built-in default"
    );
    pipeline.write(
        ".registry",
        "local: ${LOCAL_REG:-registry.local:5001}/\nci: [ghcr.io/acme]\n",
    );
    assert_eq!(
        repo(&pipeline, &["build"]),
        "registry.local:5001",
        ".registry local"
    );
    pipeline.write(".github/octopilot.yaml", "default_repo: legacy.io/x\n");
    assert_eq!(
        repo(&pipeline, &["build"]),
        "legacy.io/x",
        "octopilot.yaml without .run.yaml"
    );
    pipeline.write(".run.yaml", "default_repo: run.io/x/\n");
    assert_eq!(
        repo(&pipeline, &["build"]),
        "run.io/x",
        ".run.yaml beats the rest"
    );
    let config = pipeline.write(
        "p.properties",
        "GOOGLE_GKE_IMAGE_REPOSITORY=gke-file.io/x\n",
    );
    let with_config = ["--config", config.to_str().unwrap(), "build"];
    assert_eq!(
        repo(&pipeline, &with_config),
        "gke-file.io/x",
        "properties beat repo files"
    );
    pipeline.set("GOOGLE_GKE_IMAGE_REPOSITORY", "gke-env.io/x");
    assert_eq!(
        repo(&pipeline, &with_config),
        "gke-env.io/x",
        "environment beats properties"
    );
    pipeline.write("p.properties", "SKAFFOLD_DEFAULT_REPO=sdr-file.io/x\n");
    assert_eq!(
        repo(&pipeline, &with_config),
        "sdr-file.io/x",
        "SKAFFOLD_DEFAULT_REPO from any source beats GOOGLE_GKE_IMAGE_REPOSITORY"
    );
    pipeline.set("SKAFFOLD_DEFAULT_REPO", "sdr-env.io/x");
    assert_eq!(repo(&pipeline, &with_config), "sdr-env.io/x");
    let mut with_flag = with_config.to_vec();
    with_flag.extend(["--repo", " flag.io/x/ "]);
    assert_eq!(
        repo(&pipeline, &with_flag),
        "flag.io/x",
        "the flag beats everything"
    );
}

#[test]
fn a_missing_config_file_is_exit_2_before_anything_runs() {
    let mut pipeline = bed();
    pipeline
        .env
        .op(&["--config", "missing.properties", "build"])
        .code(2)
        .stderr_has("missing.properties");
    pipeline
        .env
        .op(&[
            "--config",
            pipeline.env.work().to_str().unwrap(),
            "push",
            "--default-repo",
            "r.io",
        ])
        .code(2)
        .stderr_has("work: it is a directory, not a regular file");
    pipeline.set("OCTOPILOT_PIPELINE_PROPERTIES", "also-missing.properties");
    pipeline
        .env
        .op(&["build-push"])
        .code(2)
        .stderr_has("also-missing.properties");
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
    assert!(
        pipeline.env.installed().is_empty(),
        "not even the toolchain was installed"
    );
    pipeline.set("OCTOPILOT_PIPELINE_PROPERTIES", "");
    pipeline.set("GITHUB_REF", "refs/heads/main");
    pipeline.env.op(&["build"]).success();
}

#[test]
fn properties_lines_without_equals_are_ignored_with_a_warning() {
    let pipeline = bed();
    let config = pipeline.write(
        "ci.properties",
        "SKAFFOLD_DEFAULT_REPO: wrong.io\nSKAFFOLD_PROFILE=ok\n",
    );
    pipeline
        .env
        .op(&["--config", config.to_str().unwrap(), "build"])
        .success()
        .stderr_has("ci.properties:1: no `=` on this line; ignored");
    assert_eq!(
        last(&pipeline, "skaffold")[3..],
        strings(&["localhost:5001", "--profile", "ok"])
    );
}

#[test]
fn dry_run_prints_the_exact_command_and_runs_nothing() {
    let mut pipeline = bed();
    pipeline.set("GITHUB_REF", "refs/tags/v3.1.0");
    let run = pipeline
        .env
        .op(&["build", "--repo", "ghcr.io/acme", "--dry-run"]);
    run.success();
    run.stdout_is(&format!(
        "(cd {} && {} build --cache-artifacts=false --default-repo ghcr.io/acme --tag 3.1.0)\n",
        pipeline.work().display(),
        tool_path(&pipeline, "skaffold").display()
    ));
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
}

#[test]
fn a_failing_tool_exit_code_passes_through() {
    let mut pipeline = bed();
    pipeline.set("GITHUB_REF", "refs/heads/main");
    for code in ["9", "1", "125"] {
        pipeline.set("FIXTURE_SKAFFOLD_EXIT", code);
        pipeline
            .env
            .op(&["build"])
            .code(code.parse().unwrap())
            .stderr_has("fixture skaffold: build failed");
    }
}

#[test]
fn errors_are_annotations_in_github_actions_and_plain_otherwise() {
    let mut pipeline = bed();
    pipeline.write(".run.yaml", "contexts: [a]\n");
    let run = pipeline.env.op(&["build"]);
    run.code(2);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    run.stderr_has(".run.yaml: line 1 column 11: expected a mapping")
        .stderr_has("hint: expected:");
    pipeline.set("GITHUB_ACTIONS", "true");
    let run = pipeline.env.op(&["build"]);
    run.code(2);
    assert!(run.stderr.starts_with("::error file="), "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "one annotation: {}",
        run.stderr
    );
    run.stderr_has("line 1 column 11: expected a mapping%0A");
    assert!(pipeline.calls().is_empty());
}

#[test]
fn sigterm_reaches_the_child_and_its_exit_code_comes_back() {
    let mut pipeline = bed();
    pipeline
        .set("FIXTURE_SKAFFOLD_WAIT", "1")
        .set("GITHUB_REF", "refs/heads/main");
    let spawned = pipeline.env.spawn(&["build"]);
    assert!(
        crate::support::wait_until(Duration::from_secs(60), || !pipeline
            .argv_of("skaffold")
            .is_empty()),
        "skaffold never started: {}",
        spawned.stderr_so_far()
    );
    std::thread::sleep(Duration::from_millis(200));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &spawned.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    spawned
        .wait(Duration::from_secs(30))
        .code(42)
        .stderr_lacks("failed at step");
    let signals = std::fs::read_to_string(pipeline.log.with_extension("log.signals")).unwrap();
    assert!(signals.contains("got TERM"), "{signals}");
}

#[test]
fn build_without_a_skaffold_yaml_is_exit_2_naming_it_like_build_push_and_run() {
    let pipeline = pipeline_tools::bed();
    let missing = pipeline.work().join("skaffold.yaml");
    for args in [
        &["build"][..],
        &["build", "--dry-run"],
        &["build-push"],
        &["run", "api"],
    ] {
        pipeline
            .env
            .op(args)
            .code(2)
            .stderr_has(&format!("{} not found", missing.display()))
            .stderr_has("hint: run op in the app repository (where skaffold.yaml is)");
    }
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
    assert!(pipeline.env.installed().is_empty(), "nothing installed");
}
