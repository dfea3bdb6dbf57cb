//! `op watch-deployment`: pinned fixture flux and kubectl (kubectl prints the deployment's image as
//! `-o jsonpath=…` does, changing after N polls), exact argv, the give-up path, exit codes.

use std::time::Duration;

use crate::pipeline_bed::{Pipeline, strings, under};

const JSONPATH: &str = "jsonpath={.spec.template.spec.containers[0].image}";

/// A pipeline with a build_result.json of two images and the dev registry set.
fn watched() -> Pipeline {
    let mut pipeline = Pipeline::new();
    pipeline.write(
        "build_result.json",
        r#"{"builds":[{"imageName":"web","tag":"dev.io/p/web:1.2.0"},{"imageName":"api","tag":"dev.io/p/api:1.2.0"}]}"#,
    );
    pipeline
        .set("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io/p")
        .set("FIXTURE_IMAGE", "dev.io/p/api:1.2.0");
    pipeline
}

fn get_argv(namespace: &str, component: &str) -> Vec<String> {
    strings(&[
        "-n",
        namespace,
        "get",
        "deployment",
        component,
        "-o",
        JSONPATH,
    ])
}

fn rollout_argv(namespace: &str, component: &str, timeout: &str) -> Vec<String> {
    strings(&[
        "-n",
        namespace,
        "rollout",
        "status",
        &format!("deployment/{component}"),
        "--timeout",
        timeout,
    ])
}

#[test]
fn polls_until_the_image_matches_then_waits_for_the_rollout() {
    let mut pipeline = watched();
    pipeline.set("FIXTURE_POLLS", "3");
    let run = pipeline.env.op(&[
        "watch-deployment",
        "--component",
        "api",
        "--environment",
        "dev",
        "--namespace",
        "apps",
        "--interval",
        "50ms",
    ]);
    run.success()
        .stderr_has("Waiting for deployment api to use image dev.io/p/api:1.2.0 ...")
        .stderr_has("deployment api runs old.io/app:0.9.0; polling again in 50ms")
        .stderr_has("Image matched. Waiting for rollout (timeout 30m) ...")
        .stderr_has("Rollout complete.");
    let reconcile = strings(&["reconcile", "helmrelease", "api", "-n", "apps"]);
    assert_eq!(pipeline.argv_of("flux"), vec![reconcile; 3]);
    let mut expected = vec![get_argv("apps", "api"); 3];
    expected.push(rollout_argv("apps", "api", "30m"));
    assert_eq!(pipeline.argv_of("kubectl"), expected);
    // The pinned tools ran by absolute path from the cache, with their directory first on PATH.
    let cache = pipeline.env.cache();
    for call in pipeline.calls() {
        assert!(under(&call.program, &cache), "{call:?}");
        assert!(
            under(call.path.split(':').next().unwrap(), &cache),
            "{call:?}"
        );
    }
}

#[test]
fn failing_polls_keep_polling() {
    let mut pipeline = watched();
    pipeline
        .set("FIXTURE_POLLS", "3")
        .set("FIXTURE_GET_FAILS", "1")
        .set("FIXTURE_FLUX_EXIT", "1");
    pipeline
        .env
        .op(&[
            "watch-deployment",
            "--component",
            "api",
            "--environment",
            "dev",
            "--interval",
            "10ms",
        ])
        .success()
        .stderr_has("deployment api runs nothing yet");
    assert_eq!(pipeline.argv_of("kubectl").len(), 4);
}

#[test]
fn gives_up_after_the_poll_timeout_with_what_runs() {
    let mut pipeline = watched();
    pipeline.set("FIXTURE_POLLS", "1000");
    let run = pipeline.env.op(&[
        "watch-deployment",
        "--component",
        "api",
        "--environment",
        "dev",
        "--poll-timeout",
        "400ms",
        "--interval",
        "100ms",
    ]);
    run.code(1)
        .stderr_has("error: timed out (400ms) waiting for deployment api to use tag 1.2.0 (dev.io/p/api:1.2.0); it runs old.io/app:0.9.0")
        .stderr_has("hint: check `flux get helmreleases -n default`")
        .faster_than(Duration::from_secs(20));
    let polls = pipeline.argv_of("kubectl");
    assert!(
        (2..=5).contains(&polls.len()),
        "polls every 100ms, then gives up: {polls:?}"
    );
    assert!(polls.iter().all(|argv| *argv == get_argv("default", "api")));

    pipeline.set("GITHUB_ACTIONS", "true");
    pipeline
        .env
        .op(&[
            "watch-deployment",
            "--component",
            "api",
            "--environment",
            "dev",
            "--poll-timeout",
            "0s",
        ])
        .code(1)
        .stderr_has("::error::timed out (0s) waiting for deployment api");
}

#[test]
fn rollout_failure_passes_kubectl_exit_code_through() {
    let mut pipeline = watched();
    pipeline.set("FIXTURE_ROLLOUT_EXIT", "5");
    let args = [
        "watch-deployment",
        "--component",
        "api",
        "--environment",
        "dev",
    ];
    pipeline
        .env
        .op(&args)
        .code(5)
        .stderr_has("error: Flux: deployment rollout failed.")
        .stderr_lacks("Rollout complete.");
    pipeline.set("GITHUB_ACTIONS", "true");
    pipeline
        .env
        .op(&args)
        .code(5)
        .stderr_has("::error::Flux: deployment rollout failed.");
}

#[test]
fn needs_the_environment_registry_before_anything_runs() {
    let mut pipeline = watched();
    pipeline.unset("GOOGLE_GKE_IMAGE_REPOSITORY");
    pipeline
        .env
        .op(&[
            "watch-deployment",
            "--component",
            "api",
            "--environment",
            "pp",
        ])
        .code(1)
        .stderr_has("Could not resolve destination repository. Set env (e.g. GOOGLE_GKE_IMAGE_PP_REPOSITORY or WATCH_DESTINATION_REPOSITORY).");
    assert!(pipeline.calls().is_empty());
    assert!(pipeline.env.installed().is_empty(), "nothing installed");

    // WATCH_DESTINATION_REPOSITORY is the fallback; a --config properties file may supply it.
    let properties = pipeline.write(
        "ci.properties",
        "GOOGLE_GKE_IMAGE_PROD_REPOSITORY=prod.io/p\n",
    );
    pipeline
        .env
        .op(&[
            "--config",
            properties.to_str().unwrap(),
            "watch-deployment",
            "--component",
            "api",
            "--environment",
            "prod",
        ])
        .success()
        .stderr_has("to use image dev.io/p/api:1.2.0");
    pipeline.set("WATCH_DESTINATION_REPOSITORY", "any.io/x");
    pipeline
        .env
        .op(&[
            "watch-deployment",
            "--component",
            "api",
            "--environment",
            "pp",
        ])
        .success();
}

#[test]
fn image_selection_digest_build_result_and_timeout_flags() {
    let mut pipeline = watched();
    pipeline.write(
        "out/build_result.json",
        r#"{"builds":[{"imageName":"web","tag":"r.io/web:3"},{"imageName":"api","tag":"r.io/api:3@sha256:beef"}]}"#,
    );
    // A digest-pinned build matches the deployment's digest, whatever its registry.
    pipeline.set("FIXTURE_IMAGE", "prod.io/api:3@sha256:beef");
    pipeline
        .env
        .op(&[
            "watch-deployment",
            "--component",
            "backend",
            "--environment",
            "dev",
            "--image-name",
            "api",
            "--build-result",
            "out",
            "--timeout",
            "5m",
            "--interval",
            "10ms",
        ])
        .success();
    let kubectl = pipeline.argv_of("kubectl");
    assert_eq!(kubectl[0], get_argv("default", "backend"));
    assert_eq!(kubectl[1], rollout_argv("default", "backend", "5m"));

    // Another digest under the same tag is not the build: give up.
    pipeline.clear_log();
    pipeline.set("FIXTURE_IMAGE", "prod.io/api:3@sha256:f00d");
    pipeline
        .env
        .op(&[
            "watch-deployment",
            "--component",
            "api",
            "--environment",
            "dev",
            "--build-result",
            "out/build_result.json",
            "--poll-timeout",
            "50ms",
            "--interval",
            "10ms",
        ])
        .code(1)
        .stderr_has("to use tag 3@sha256:beef");

    // Without --image-name, the image named like the component (not the first) is awaited.
    pipeline.clear_log();
    pipeline.set("FIXTURE_IMAGE", "dev.io/p/web:1.2.0");
    let run = pipeline.env.op(&[
        "watch-deployment",
        "--component",
        "web",
        "--environment",
        "dev",
    ]);
    run.success().stderr_has("to use image dev.io/p/web:1.2.0");

    pipeline
        .env
        .op(&[
            "watch-deployment",
            "--component",
            "x",
            "--environment",
            "dev",
            "--image-name",
            "nope",
            "--build-result",
            "out",
        ])
        .code(1)
        .stderr_has("no image `nope`");
}

#[test]
fn bad_flags_and_missing_build_result() {
    let pipeline = watched();
    let watch = |extra: &[&str]| {
        let mut args = vec!["watch-deployment", "--component", "api"];
        args.extend_from_slice(extra);
        pipeline.env.op(&args)
    };
    watch(&["--environment", "qa"])
        .code(2)
        .stderr_has("invalid value 'qa'");
    watch(&[]).code(2).stderr_has("--environment");
    watch(&["--environment", "dev", "--poll-timeout", "soon"])
        .code(2)
        .stderr_has("--poll-timeout \"soon\"");
    watch(&["--environment", "dev", "--interval", "5d"])
        .code(2)
        .stderr_has("unknown unit \"d\"");
    watch(&["--environment", "dev", "--build-result", "missing.json"])
        .failure()
        .stderr_has("missing.json");
    assert!(pipeline.calls().is_empty());
}

#[test]
fn dry_run_prints_the_commands_and_runs_nothing() {
    let pipeline = watched();
    let run = pipeline.env.op(&[
        "watch-deployment",
        "--component",
        "api",
        "--environment",
        "dev",
        "--namespace",
        "apps",
        "--dry-run",
    ]);
    run.success();
    let flux = pipeline.pinned_path("flux");
    let kubectl = pipeline.pinned_path("kubectl");
    run.stdout_is(&format!(
        "{flux} reconcile helmrelease api -n apps\n\
         {kubectl} -n apps get deployment api -o jsonpath={{.spec.template.spec.containers[0].image}}\n\
         {kubectl} -n apps rollout status deployment/api --timeout 30m\n",
        flux = flux.display(),
        kubectl = kubectl.display()
    ));
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
}
