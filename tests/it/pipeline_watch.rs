//! `op watch-deployment`: pinned fixture flux and kubectl (kubectl prints the deployment's image as
//! `-o jsonpath=…` does, changing after N polls, or the image of a named container), exact argv,
//! the give-up paths, duration flags, exit codes.

use std::time::Duration;

use crate::pipeline_bed::{FLUX, Pipeline, strings, under};
use crate::support::Run;

fn jsonpath(container: &str) -> String {
    format!("jsonpath={{.spec.template.spec.containers[?(@.name==\"{container}\")].image}}")
}

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

/// `watch-deployment --component COMPONENT --environment ENVIRONMENT EXTRA`.
pub(crate) fn watch_args<'a>(
    component: &'a str,
    environment: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "watch-deployment",
        "--component",
        component,
        "--environment",
        environment,
    ];
    args.extend_from_slice(extra);
    args
}

/// `op watch-deployment --component COMPONENT --environment ENVIRONMENT EXTRA`.
fn watch(pipeline: &Pipeline, component: &str, environment: &str, extra: &[&str]) -> Run {
    pipeline.env.op(&watch_args(component, environment, extra))
}

/// kubectl's argv in `namespace`: `-n NAMESPACE REST`.
fn kubectl_argv(namespace: &str, rest: &[&str]) -> Vec<String> {
    strings(&[&["-n", namespace], rest].concat())
}

fn get_argv(namespace: &str, component: &str) -> Vec<String> {
    let output = jsonpath(component);
    kubectl_argv(namespace, &["get", "deployment", component, "-o", &output])
}

fn rollout_argv(namespace: &str, component: &str, timeout: &str) -> Vec<String> {
    let deployment = format!("deployment/{component}");
    kubectl_argv(
        namespace,
        &["rollout", "status", &deployment, "--timeout", timeout],
    )
}

#[test]
fn polls_until_the_image_matches_then_waits_for_the_rollout() {
    let mut pipeline = watched();
    pipeline.set("FIXTURE_POLLS", "3");
    let run = watch(
        &pipeline,
        "api",
        "dev",
        &["--namespace", "apps", "--interval", "50ms"],
    );
    run.success()
        .stderr_has(
            "Waiting for deployment api to use image dev.io/p/api:1.2.0 (container api) ...",
        )
        .stderr_has("deployment api runs old.io/app:0.9.0 (container api); polling again in 50ms")
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
    watch(&pipeline, "api", "dev", &["--interval", "10ms"])
        .success()
        .stderr_has("deployment api runs nothing yet");
    assert_eq!(pipeline.argv_of("kubectl").len(), 4);
}

#[test]
fn gives_up_after_the_poll_timeout_with_what_runs() {
    let mut pipeline = watched();
    pipeline.set("FIXTURE_POLLS", "1000");
    let run = watch(
        &pipeline,
        "api",
        "dev",
        &["--poll-timeout", "400ms", "--interval", "100ms"],
    );
    run.code(1)
        .stderr_has("error: timed out (400ms) waiting for deployment api to use tag 1.2.0 of dev.io/p/api; its container api runs old.io/app:0.9.0")
        .stderr_has("hint: check `flux get helmreleases -n default`")
        .faster_than(Duration::from_secs(20));
    let polls = pipeline.argv_of("kubectl");
    assert!(
        (2..=5).contains(&polls.len()),
        "polls every 100ms, then gives up: {polls:?}"
    );
    assert!(polls.iter().all(|argv| *argv == get_argv("default", "api")));

    pipeline.set("GITHUB_ACTIONS", "true");
    watch(&pipeline, "api", "dev", &["--poll-timeout", "0s"])
        .code(1)
        .stderr_has("::error::timed out (0s) waiting for deployment api");
}

#[test]
fn rollout_failure_passes_kubectl_exit_code_through() {
    let mut pipeline = watched();
    pipeline.set("FIXTURE_ROLLOUT_EXIT", "5");
    watch(&pipeline, "api", "dev", &[])
        .code(5)
        .stderr_has("error: Flux: deployment rollout failed.")
        .stderr_lacks("Rollout complete.");
    pipeline.set("GITHUB_ACTIONS", "true");
    watch(&pipeline, "api", "dev", &[])
        .code(5)
        .stderr_has("::error::Flux: deployment rollout failed.");
}

#[test]
fn needs_the_environment_registry_before_anything_runs() {
    let mut pipeline = watched();
    pipeline.unset("GOOGLE_GKE_IMAGE_REPOSITORY");
    watch(&pipeline, "api", "pp", &[])
        .code(1)
        .stderr_has("Could not resolve destination repository. Set env (e.g. GOOGLE_GKE_IMAGE_PP_REPOSITORY or WATCH_DESTINATION_REPOSITORY).");
    assert!(pipeline.calls().is_empty());
    assert!(pipeline.env.installed().is_empty(), "nothing installed");

    // WATCH_DESTINATION_REPOSITORY is the fallback; a --config properties file may supply it.
    let properties = pipeline.write(
        "ci.properties",
        "GOOGLE_GKE_IMAGE_PROD_REPOSITORY=prod.io/p\n",
    );
    let mut args = vec!["--config", properties.to_str().unwrap()];
    args.extend(watch_args("api", "prod", &[]));
    pipeline
        .env
        .op(&args)
        .success()
        .stderr_has("to use image prod.io/p/api:1.2.0 (container api)");
    pipeline.set("WATCH_DESTINATION_REPOSITORY", "any.io/x");
    watch(&pipeline, "api", "pp", &[]).success();
}

#[test]
fn image_selection_digest_build_result_and_timeout_flags() {
    let mut pipeline = watched();
    pipeline.write(
        "out/build_result.json",
        r#"{"builds":[{"imageName":"web","tag":"r.io/web:3"},{"imageName":"api","tag":"r.io/api:3@sha256:beef"}]}"#,
    );
    // A digest-pinned build matches the deployment's digest (in the environment's registry).
    pipeline.set("FIXTURE_IMAGE", "dev.io/p/api@sha256:beef");
    watch(
        &pipeline,
        "backend",
        "dev",
        &[
            "--image-name",
            "api",
            "--build-result",
            "out",
            "--timeout",
            "5m",
            "--interval",
            "10ms",
        ],
    )
    .success();
    let kubectl = pipeline.argv_of("kubectl");
    assert_eq!(kubectl[0], get_argv("default", "backend"));
    assert_eq!(kubectl[1], rollout_argv("default", "backend", "5m"));

    // Another digest under the same tag is not the build: give up.
    pipeline.clear_log();
    pipeline.set("FIXTURE_IMAGE", "prod.io/api:3@sha256:f00d");
    watch(
        &pipeline,
        "api",
        "dev",
        &[
            "--build-result",
            "out/build_result.json",
            "--poll-timeout",
            "50ms",
            "--interval",
            "10ms",
        ],
    )
    .code(1)
    .stderr_has("to use tag 3@sha256:beef");

    // Without --image-name, the image named like the component (not the first) is awaited.
    pipeline.clear_log();
    pipeline.set("FIXTURE_IMAGE", "dev.io/p/web:1.2.0");
    watch(&pipeline, "web", "dev", &[])
        .success()
        .stderr_has("to use image dev.io/p/web:1.2.0");

    watch(
        &pipeline,
        "x",
        "dev",
        &["--image-name", "nope", "--build-result", "out"],
    )
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
    let run = watch(
        &pipeline,
        "api",
        "dev",
        &["--namespace", "apps", "--dry-run"],
    );
    run.success();
    let flux = pipeline.pinned_path("flux");
    let kubectl = pipeline.pinned_path("kubectl");
    run.stdout_is(&format!(
        "{flux} reconcile helmrelease api -n apps\n\
         {kubectl} -n apps get deployment api -o 'jsonpath={{.spec.template.spec.containers[?(@.name==\"api\")].image}}'\n\
         {kubectl} -n apps rollout status deployment/api --timeout 30m\n",
        flux = flux.display(),
        kubectl = kubectl.display()
    ));
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
}

/// kubectl with several containers, `$FIXTURE_CONTAINERS` (`name=image` pairs, in order):
/// `-o jsonpath=` with a name filter prints that container's image (nothing when none has the
/// name), `[*].name` the names, `[0].image` the first image. `rollout status` kills itself with
/// `$FIXTURE_ROLLOUT_SIGNAL` when set, else exits `$FIXTURE_ROLLOUT_EXIT`.
const KUBECTL_CONTAINERS: &str = r##"
case "$*" in
  *'containers[?(@.name=="'*)
    want=$(printf '%s\n' "$@" | sed -n 's/.*@\.name=="\([^"]*\)".*/\1/p')
    for pair in $FIXTURE_CONTAINERS; do
      if [ "${pair%%=*}" = "$want" ]; then printf '%s' "${pair#*=}"; fi
    done ;;
  *'containers[*].name'*)
    sep=''; for pair in $FIXTURE_CONTAINERS; do printf '%s%s' "$sep" "${pair%%=*}"; sep=' '; done ;;
  *'containers[0].image'*)
    for pair in $FIXTURE_CONTAINERS; do printf '%s' "${pair#*=}"; break; done ;;
  *"rollout status"*)
    if [ -n "$FIXTURE_ROLLOUT_SIGNAL" ]; then kill -s "$FIXTURE_ROLLOUT_SIGNAL" $$; sleep 5; fi
    exit "${FIXTURE_ROLLOUT_EXIT:-0}" ;;
esac
"##;

/// [`watched`] with a kubectl that knows the deployment's containers.
fn with_containers(containers: &str) -> Pipeline {
    let mut pipeline = Pipeline::with_pinned(&[("flux", FLUX), ("kubectl", KUBECTL_CONTAINERS)]);
    pipeline.write(
        "build_result.json",
        r#"{"builds":[{"imageName":"api","tag":"dev.io/p/api:1.2.3"}]}"#,
    );
    pipeline
        .set("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io/p")
        .set("FIXTURE_CONTAINERS", containers);
    pipeline
}

/// `op watch-deployment --component api --environment dev EXTRA`, polling every 10ms for 300ms
/// unless EXTRA says otherwise.
fn watch_api(pipeline: &Pipeline, extra: &[&str]) -> Run {
    let mut args = Vec::new();
    for (flag, value) in [("--interval", "10ms"), ("--poll-timeout", "300ms")] {
        if !extra.iter().any(|arg| arg.starts_with(flag)) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    watch(pipeline, "api", "dev", &args)
}

#[test]
fn a_sidecar_listed_first_with_the_built_tag_is_not_the_app_container() {
    let pipeline = with_containers("envoy=envoyproxy/envoy:1.2.3 api=dev.io/p/api:1.2.2");
    watch_api(&pipeline, &[])
        .code(1)
        .stderr_has("timed out (300ms) waiting for deployment api to use tag 1.2.3 of dev.io/p/api; its container api runs dev.io/p/api:1.2.2")
        .stderr_lacks("Image matched");
    let kubectl = pipeline.argv_of("kubectl");
    assert!(
        kubectl
            .iter()
            .all(|argv| *argv == get_argv("default", "api")),
        "{kubectl:?}"
    );

    // Once the app container runs the build, it matches, and the rollout is awaited.
    let pipeline = with_containers("envoy=envoyproxy/envoy:1.2.2 api=dev.io/p/api:1.2.3");
    watch_api(&pipeline, &[])
        .success()
        .stderr_has("Rollout complete.");
}

#[test]
fn the_same_tag_in_another_repository_is_not_the_build() {
    for other in ["dev.io/p/web:1.2.3", "other.io/p/api:1.2.3", "api:1.2.3"] {
        let pipeline = with_containers(&format!("api={other}"));
        watch_api(&pipeline, &[])
            .code(1)
            .stderr_has(&format!("its container api runs {other}"));
    }
    // The environment's registry with the path below the built registry is the build.
    let mut pipeline = with_containers("api=prod.io/q/api:1.2.3");
    pipeline.set("GOOGLE_GKE_IMAGE_PROD_REPOSITORY", "prod.io/q");
    watch(&pipeline, "api", "prod", &[])
        .success()
        .stderr_has("to use image prod.io/q/api:1.2.3 (container api)");
}

#[test]
fn container_selects_another_container_by_name() {
    let pipeline = with_containers("envoy=envoyproxy/envoy:1.2.3 app=dev.io/p/api:1.2.3");
    watch_api(&pipeline, &["--container", "app"]).success();
    let kubectl = pipeline.argv_of("kubectl");
    assert_eq!(kubectl[0].last().unwrap(), &jsonpath("app"));
    watch_api(&pipeline, &["--container", "App\")].x"])
        .code(2)
        .stderr_has("--container \"App\\\")].x\" is not a container name");
}

#[test]
fn no_container_with_that_name_fails_listing_the_names() {
    let pipeline = with_containers("envoy=envoyproxy/envoy:1.2.3 web=dev.io/p/web:1.2.3");
    watch_api(&pipeline, &["--poll-timeout", "1m"])
        .code(1)
        .stderr_has("error: deployment api in namespace default has no container named api; its containers: envoy, web")
        .stderr_has("hint: pass --container")
        .faster_than(Duration::from_secs(30));
}

#[test]
fn durations_are_checked_in_kubectl_syntax_before_anything_runs() {
    let pipeline = with_containers("api=dev.io/p/api:1.2.3");
    for (flag, value, why) in [
        (
            "--timeout",
            "30",
            "--timeout \"30\": missing unit in duration",
        ),
        ("--timeout", "5 m", "--timeout \"5 m\": unknown unit \" m\""),
        (
            "--interval=-1s",
            "",
            "--interval \"-1s\": must not be negative",
        ),
        ("--interval", "10", "--interval \"10\": missing unit"),
        (
            "--poll-timeout",
            "99999999999999999999999h",
            "--poll-timeout \"99999999999999999999999h\": too large",
        ),
        ("--poll-timeout", "2562047h47m16.854775808s", "too large"),
    ] {
        let args: Vec<&str> = [flag, value]
            .into_iter()
            .filter(|arg| !arg.is_empty())
            .collect();
        watch_api(&pipeline, &args)
            .code(2)
            .stderr_has(why)
            .stderr_has("hint: durations are written as kubectl writes them");
    }
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
    // What kubectl accepts is accepted, and --timeout goes to kubectl as given.
    watch_api(
        &pipeline,
        &[
            "--interval",
            "1m30s",
            "--poll-timeout",
            "1h",
            "--timeout",
            "1m30s",
        ],
    )
    .success();
    let kubectl = pipeline.argv_of("kubectl");
    assert_eq!(
        kubectl.last().unwrap(),
        &rollout_argv("default", "api", "1m30s")
    );
    watch_api(&pipeline, &["--timeout", "0"]).success();
}

#[test]
fn a_permanent_kubectl_error_stops_after_three_identical_failures() {
    let mut pipeline = watched();
    pipeline
        .set("FIXTURE_POLLS", "1000")
        .set("FIXTURE_GET_FAILS", "1");
    let run = watch(
        &pipeline,
        "api",
        "dev",
        &["--interval", "10ms", "--poll-timeout", "10m"],
    );
    run.code(1)
        .stderr_has("Error from server (NotFound): deployments.apps not found")
        .stderr_has("error: kubectl could not read deployment api in namespace default: it failed 3 times in a row (exit code 1)")
        .stderr_lacks("rollout failed")
        .faster_than(Duration::from_secs(30));
    assert_eq!(pipeline.argv_of("kubectl").len(), 3);
}

#[test]
fn a_failing_flux_reconcile_is_a_warning_and_the_polling_goes_on() {
    let mut pipeline = watched();
    pipeline
        .set("FIXTURE_POLLS", "3")
        .set("FIXTURE_FLUX_EXIT", "1");
    let run = watch(&pipeline, "api", "dev", &["--interval", "10ms"]);
    run.success()
        .stderr_has("fixture flux: annotating HelmRelease")
        .stderr_has("warning: flux reconcile helmrelease api -n default failed (exit code 1); polling the deployment anyway");
    assert_eq!(
        run.stderr.matches("warning: flux reconcile").count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(pipeline.argv_of("flux").len(), 3);

    // On GitHub, an annotation; when the wait gives up, the hint says flux failed.
    pipeline.clear_log();
    pipeline
        .set("GITHUB_ACTIONS", "true")
        .set("FIXTURE_POLLS", "1000");
    watch(
        &pipeline,
        "api",
        "dev",
        &["--interval", "10ms", "--poll-timeout", "100ms"],
    )
    .code(1)
    .stderr_has("::warning::flux reconcile helmrelease api -n default failed (exit code 1)")
    .stderr_has("flux reconcile failed (see above)");
}

#[test]
fn a_rollout_stopped_by_a_signal_is_not_called_a_failed_rollout() {
    let mut pipeline = with_containers("api=dev.io/p/api:1.2.3");
    pipeline.set("FIXTURE_ROLLOUT_SIGNAL", "TERM");
    watch_api(&pipeline, &[])
        .code(143)
        .stderr_has("error: kubectl rollout status was stopped by signal 15; the rollout's outcome is unknown")
        .stderr_lacks("rollout failed");
    pipeline
        .unset("FIXTURE_ROLLOUT_SIGNAL")
        .set("FIXTURE_ROLLOUT_EXIT", "1");
    watch_api(&pipeline, &[])
        .code(1)
        .stderr_has("error: Flux: deployment rollout failed.");
}
