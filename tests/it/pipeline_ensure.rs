//! Every command installs only the pinned tools it runs (and those they start themselves),
//! `--dry-run` installs nothing and says what a real run would, and a failing tool's exit code
//! comes with one line of `op`'s naming the tool, the step and the code.

use std::fs;
use std::path::Path;

use crate::pipeline_tools::{Pipeline, bed, tool_path};
use crate::support::Server;
use crate::support::server::dead_url;

const SKAFFOLD_YAML: &str = "\
apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
    - image: api
      context: api
";

/// The build bed with a skaffold.yaml and the toolchain mirror pointed at `mirror`.
fn project(mirror: &str) -> Pipeline {
    let mut pipeline = bed();
    pipeline.write("skaffold.yaml", SKAFFOLD_YAML);
    pipeline.write("api/main.go", "package main\n");
    pipeline.env.mirror(mirror);
    pipeline.set("GITHUB_REF", "refs/heads/main");
    pipeline
}

/// The installed entries' tool names, sorted.
fn installed_tools(pipeline: &Pipeline) -> Vec<String> {
    let mut tools: Vec<String> = pipeline
        .env
        .installed()
        .into_iter()
        .filter_map(|name| name.split('-').next().map(str::to_string))
        .collect();
    tools.sort();
    tools
}

#[test]
fn build_dry_run_on_an_empty_cache_downloads_nothing_and_lists_what_it_would_install() {
    let server = Server::http();
    let pipeline = project(&server.url());
    let run = pipeline.env.op(&["build", "--dry-run"]);
    run.success()
        .stdout_is(&format!(
            "(cd {} && {} build --cache-artifacts=false --default-repo localhost:5001)\n",
            pipeline.work().display(),
            tool_path(&pipeline, "skaffold").display()
        ))
        .stderr_has("(dry run) would install: skaffold 1.0.0")
        .stderr_has("(dry run) would install: kubectl 1.0.0")
        .stderr_has("(dry run) would install: pack 1.0.0")
        .stderr_has(&server.url())
        .stderr_lacks("flux")
        .stderr_lacks("crane");
    assert_eq!(server.request_count(), 0, "{:?}", server.requests());
    assert!(pipeline.env.installed().is_empty());
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());

    // A dead mirror is no obstacle either, and an installed tool is not listed.
    let mut pipeline = project(&dead_url());
    pipeline.env.op(&["build", "--dry-run"]).success();
    let mirror = file_mirror(&pipeline);
    pipeline.env.mirror(&mirror);
    pipeline
        .env
        .op(&["toolchain", "install", "kubectl"])
        .success();
    pipeline.env.mirror(dead_url());
    pipeline
        .env
        .op(&["build", "--dry-run"])
        .success()
        .stderr_has("would install: skaffold")
        .stderr_lacks("would install: kubectl");
    assert_eq!(installed_tools(&pipeline), ["kubectl"]);
}

/// The bed's own `file://` mirror (every fixture tool).
fn file_mirror(pipeline: &Pipeline) -> String {
    format!("file://{}", pipeline.env.root().join("mirror").display())
}

#[test]
fn each_command_installs_only_the_pinned_tools_it_runs() {
    // `op run` runs docker only: nothing to install, so a mirror without a single tool is fine.
    let server = Server::http();
    let pipeline = project(&server.url());
    pipeline.env.op(&["run", "api"]).success();
    assert_eq!(
        pipeline.argv_of("docker").len(),
        1,
        "{:?}",
        pipeline.calls()
    );
    assert_eq!(server.request_count(), 0, "{:?}", server.requests());
    assert!(pipeline.env.installed().is_empty());

    // `op build` runs skaffold, which starts kubectl and pack itself: those three, first on
    // skaffold's PATH, then op's PATH; flux and crane are not installed.
    let mut pipeline = project(&server.url());
    let mirror = file_mirror(&pipeline);
    pipeline.env.mirror(&mirror);
    pipeline.env.op(&["build"]).success();
    assert_eq!(installed_tools(&pipeline), ["kubectl", "pack", "skaffold"]);
    let call = pipeline
        .calls()
        .into_iter()
        .find(|call| call.tool == "skaffold")
        .unwrap();
    let dirs: Vec<&str> = call.path.split(':').collect();
    let bin = |tool: &str| tool_path(&pipeline, tool).parent().unwrap().to_path_buf();
    assert_eq!(
        dirs[..3].iter().map(Path::new).collect::<Vec<_>>(),
        [bin("skaffold"), bin("kubectl"), bin("pack")],
        "{dirs:?}"
    );
    assert_eq!(
        Path::new(dirs[3]),
        pipeline.host_path("docker").parent().unwrap()
    );

    // promote-image runs crane only (whatever the copy's outcome).
    let mut pipeline = project(&mirror);
    pipeline
        .env
        .built_api_on_dev("1.0.0")
        .set("GOOGLE_GKE_IMAGE_PP_REPOSITORY", "pp.io/p");
    let promoted = pipeline
        .env
        .op(&["promote-image", "--source", "dev", "--destination", "pp"]);
    assert!(!pipeline.argv_of("crane").is_empty(), "{}", promoted.stderr);
    assert_eq!(installed_tools(&pipeline), ["crane"]);
}

#[test]
fn exec_of_one_tool_needs_only_that_tools_artifact() {
    let mut pipeline = project("unused");
    // A mirror holding kubectl only: the other tools' artifacts are gone.
    let mirror = pipeline.env.root().join("kubectl-only");
    let kubectl = tool_path(&pipeline, "kubectl");
    let full = pipeline.env.root().join("mirror");
    for file in crate::support::walk(&full) {
        if file.is_file() && file.to_string_lossy().contains("/acme/kubectl/") {
            let target = mirror.join(file.strip_prefix(&full).unwrap());
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::copy(&file, &target).unwrap();
        }
    }
    pipeline.env.mirror(format!("file://{}", mirror.display()));
    pipeline
        .env
        .op(&["toolchain", "exec", "kubectl", "--", "version", "--client"])
        .success();
    let call = pipeline.calls().pop().expect("kubectl ran");
    assert_eq!(call.tool, "kubectl");
    assert_eq!(call.argv, ["version", "--client"]);
    assert_eq!(Path::new(&call.program), kubectl);
    let first = call.path.split(':').next().unwrap().to_string();
    assert_eq!(Path::new(&first), kubectl.parent().unwrap());
    assert_eq!(installed_tools(&pipeline), ["kubectl"]);

    // Installed, it runs with no mirror at all and the others still missing.
    pipeline.env.mirror(dead_url()).set("OP_OFFLINE", "1");
    pipeline
        .env
        .op(&["toolchain", "exec", "kubectl", "--", "get", "pods"])
        .success();
    assert_eq!(installed_tools(&pipeline), ["kubectl"]);
    // skaffold brings the tools it starts, first on its PATH, as in a pipeline command.
    pipeline.unset("OP_OFFLINE");
    let mirror = file_mirror(&pipeline);
    pipeline.env.mirror(&mirror);
    pipeline
        .env
        .op(&["toolchain", "exec", "skaffold", "--", "version"])
        .success();
    assert_eq!(installed_tools(&pipeline), ["kubectl", "pack", "skaffold"]);
    let call = pipeline.calls().pop().expect("skaffold ran");
    let bin = |tool: &str| tool_path(&pipeline, tool).parent().unwrap().to_path_buf();
    let dirs: Vec<&str> = call.path.split(':').collect();
    assert_eq!(
        dirs[..3].iter().map(Path::new).collect::<Vec<_>>(),
        [bin("skaffold"), bin("kubectl"), bin("pack")],
        "{dirs:?}"
    );
}

#[test]
fn a_failing_tool_is_named_with_its_step_and_exit_code() {
    let mut pipeline = project(&dead_url());
    let mirror = file_mirror(&pipeline);
    pipeline.env.mirror(&mirror);
    pipeline.set("FIXTURE_SKAFFOLD_EXIT", "2");
    let line =
        "skaffold failed at step `skaffold build` with exit code 2; op exits with skaffold's code";
    let run = pipeline.env.op(&["build"]);
    run.code(2)
        .stderr_has("fixture skaffold: build failed")
        .stderr_has(&format!("error: {line}"));
    assert_eq!(
        run.stderr.matches("failed at step").count(),
        1,
        "{}",
        run.stderr
    );
    // Captured output too (push parses skaffold's output), and as an annotation in Actions.
    pipeline.set("GITHUB_ACTIONS", "true");
    pipeline
        .env
        .op(&["push", "--default-repo", "r.io", "--no-file-output"])
        .code(2)
        .stderr_has(&format!("::error::{line}"));
    pipeline.unset("FIXTURE_SKAFFOLD_EXIT");
    pipeline.set("FIXTURE_PACK_EXIT", "7");
    pipeline.write(
        "skaffold.yaml",
        "build:\n  artifacts:\n    - image: api\n      context: api\n      buildpacks: {builder: b}\n",
    );
    pipeline
        .env
        .op(&["build-push"])
        .code(7)
        .stderr_has("::error::pack failed at step `pack build` with exit code 7");
}
