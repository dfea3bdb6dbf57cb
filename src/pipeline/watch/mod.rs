//! `op watch-deployment`: ask Flux to reconcile the HelmRelease, poll the image of the
//! deployment's container (by name) until it is the built one, then wait for the rollout.
//!
//! It gives up after `--poll-timeout`, and sooner when kubectl fails the same way
//! [`FAIL_AFTER`] times in a row (a deployment that does not exist, an API server that does not
//! answer, a forbidden read): kubectl's message is then the last thing above the error. A
//! failing `flux reconcile` is a warning, and the polling goes on: the deployment's image, not
//! Flux's answer, is what the command waits for (upstream ignores that exit code altogether).

pub(crate) mod duration;
mod image;

use std::time::Instant;

use anyhow::Result;

use crate::cli::WatchArgs;
use crate::error::{ChildExit, Code, OpError};
use crate::formats::build_result;
use crate::pipeline::config::Environment;
use crate::pipeline::promote::select;
use crate::pipeline::{Context, args};

use image::{Version, matches};

/// Consecutive identical kubectl failures after which the polling stops.
pub const FAIL_AFTER: u32 = 3;

/// What `kubectl get deployment -o` prints: the image of the container named `container`.
pub fn image_jsonpath(container: &str) -> String {
    format!("jsonpath={{.spec.template.spec.containers[?(@.name==\"{container}\")].image}}")
}

/// What `kubectl get deployment -o` prints: the names of all its containers.
pub const NAMES_JSONPATH: &str = "jsonpath={.spec.template.spec.containers[*].name}";

fn environment_variable(environment: Environment) -> &'static str {
    match environment {
        Environment::Dev => "GOOGLE_GKE_IMAGE_REPOSITORY",
        Environment::Pp => "GOOGLE_GKE_IMAGE_PP_REPOSITORY",
        Environment::Prod => "GOOGLE_GKE_IMAGE_PROD_REPOSITORY",
    }
}

fn running(image: &str) -> &str {
    if image.is_empty() {
        "nothing yet"
    } else {
        image
    }
}

/// A container name (a DNS-1123 label), safe to place in the jsonpath filter.
fn container_name(options: &WatchArgs) -> Result<String> {
    let (name, source) = match &options.container {
        Some(name) => (name.as_str(), "--container".to_string()),
        None => (
            options.component.as_str(),
            format!(
                "--container (by default the component name {:?})",
                options.component
            ),
        ),
    };
    let label = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !label {
        return Err(OpError::config(format!(
            "{source} {name:?} is not a container name (lower-case letters, digits and `-`, at most 63)"
        ))
        .with_hint("pass --container with the name of the deployment's container that runs the image")
        .into());
    }
    Ok(name.to_string())
}

/// How one poll of the deployment went wrong; the same one [`FAIL_AFTER`] times in a row stops.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// `kubectl get` exited with this code (its message was shown as it came).
    Kubectl(i32),
    /// The deployment has containers, none of them named as wanted.
    NoContainer(Vec<String>),
}

/// The exit code of a child that failed, or the error when it could not run at all.
fn child_code(error: anyhow::Error) -> Result<i32> {
    match error
        .chain()
        .find_map(|cause| cause.downcast_ref::<ChildExit>())
    {
        Some(exit) => Ok(exit.0),
        None => Err(error),
    }
}

pub fn watch(context: &Context, options: &WatchArgs) -> Result<()> {
    // Every flag first, before anything is read or run.
    let poll_timeout = duration::parse(&options.poll_timeout, "--poll-timeout")?;
    let interval = duration::parse(&options.interval, "--interval")?;
    duration::check_kubectl(&options.timeout, "--timeout")?;
    let container = container_name(options)?;
    let Some(registry) = context
        .config
        .environment_repo(options.environment, "WATCH_DESTINATION_REPOSITORY")
    else {
        let variable = environment_variable(options.environment);
        return Err(OpError::new(
            Code::Failure,
            format!("Could not resolve destination repository. Set env (e.g. {variable} or WATCH_DESTINATION_REPOSITORY)."),
        )
        .with_hint("set it in the environment or in the --config properties file")
        .into());
    };
    let path = build_result::resolve(&context.absolute(&options.build_result));
    let builds = build_result::read(&path)?;
    // The image named by --image-name, else the component's own image, else the first build.
    let wanted = options.image_name.as_deref().or_else(|| {
        builds
            .iter()
            .any(|build| build.matches(&options.component))
            .then_some(options.component.as_str())
    });
    let build = select(builds, wanted, &path)?.remove(0);
    // The registry it was built in: the default repository of `push`, else the environment's.
    let registries: Vec<String> = context
        .config
        .default_repo()
        .map(|repo| crate::pipeline::config::clean_repo(&repo))
        .into_iter()
        .chain([registry.clone()])
        .collect();
    let built = image::Built {
        reference: &build.tag,
        image_name: build.image_name.as_deref(),
        registries: &registries,
    };
    let repositories = image::candidates(&built, &registry);
    let version = Version::of(&build.tag);
    let expected = format!(
        "{}{}",
        image::environment_repository(&built, &registry),
        match (version.tag, version.digest) {
            (Some(tag), Some(digest)) => format!(":{tag}@{digest}"),
            (Some(tag), None) => format!(":{tag}"),
            (None, Some(digest)) => format!("@{digest}"),
            (None, None) => String::new(),
        }
    );
    let flux = context.runner.pinned("flux")?;
    let kubectl = context.runner.pinned("kubectl")?;
    let namespace = options.namespace.as_str();
    let component = options.component.as_str();
    let reconcile = args(["reconcile", "helmrelease", component, "-n", namespace]);
    let get = |output: &str| {
        args([
            "-n",
            namespace,
            "get",
            "deployment",
            component,
            "-o",
            output,
        ])
    };
    let get_image = get(&image_jsonpath(&container));
    let rollout = args([
        "-n",
        namespace,
        "rollout",
        "status",
        &format!("deployment/{component}"),
        "--timeout",
        &options.timeout,
    ]);
    context.say(&format!(
        "Waiting for deployment {component} to use image {} (container {container}) ...",
        crate::redact::reference(&expected)
    ));
    if context.runner.dry_run() {
        context.runner.run(&flux, &reconcile, None, &[])?;
        context.runner.run(&kubectl, &get_image, None, &[])?;
        return context.runner.run(&kubectl, &rollout, None, &[]);
    }
    let started = Instant::now();
    let mut last = String::new();
    let mut flux_failing = false;
    let mut failure: Option<(Failure, u32)> = None;
    loop {
        match context.runner.capture_all(&flux, &reconcile, None) {
            Ok(_) => flux_failing = false,
            Err(error) => {
                let code = child_code(error)?;
                if !flux_failing {
                    context.runner.toolchain().output.warn(&format!(
                        "flux reconcile helmrelease {component} -n {namespace} failed (exit code {code}); \
                         polling the deployment anyway"
                    ));
                }
                flux_failing = true;
            }
        }
        let polled = match context.runner.capture_all(&kubectl, &get_image, None) {
            Ok((image, _)) => {
                last = image.trim().to_string();
                if last.is_empty() {
                    missing_container(context, &kubectl, &get(NAMES_JSONPATH), &container)?
                } else {
                    None
                }
            }
            Err(error) => Some(Failure::Kubectl(child_code(error)?)),
        };
        failure = match (polled, failure.take()) {
            (None, _) => None,
            (Some(now), Some((before, count))) if now == before => Some((now, count + 1)),
            (Some(now), _) => Some((now, 1)),
        };
        if let Some((kind, FAIL_AFTER)) = &failure {
            return Err(failed(kind, component, namespace, &container));
        }
        if matches(&last, &build.tag, &repositories) {
            break;
        }
        if started.elapsed() + interval > poll_timeout {
            let mut hint = format!(
                "check `flux get helmreleases -n {namespace}` and the release's image values, or raise --poll-timeout"
            );
            if flux_failing {
                hint = format!("flux reconcile failed (see above); {hint}");
            }
            return Err(OpError::new(
                Code::Failure,
                format!(
                    "timed out ({}) waiting for deployment {component} to use tag {version} of {}; its container {container} runs {}",
                    options.poll_timeout,
                    repositories[0],
                    running(&last)
                ),
            )
            .with_hint(hint)
            .into());
        }
        context.say(&format!(
            "deployment {component} runs {} (container {container}); polling again in {}",
            running(&last),
            options.interval
        ));
        std::thread::sleep(interval);
    }
    context.say(&format!(
        "Image matched. Waiting for rollout (timeout {}) ...",
        options.timeout
    ));
    if let Err(error) = context.runner.run(&kubectl, &rollout, None, &[]) {
        // kubectl has said why; say what failed, then pass its exit code on.
        let code = crate::error::exit_code(&error);
        let message = match code {
            129..=192 => format!(
                "kubectl rollout status was stopped by signal {}; the rollout's outcome is unknown",
                code - 128
            ),
            _ => "Flux: deployment rollout failed.".to_string(),
        };
        context
            .runner
            .toolchain()
            .output
            .report_error(&anyhow::Error::new(OpError::new(Code::Failure, message)));
        return Err(error);
    }
    context.say("Rollout complete.");
    Ok(())
}

/// The deployment printed no image for `container`: `None` when it has such a container after
/// all (or no containers yet), else the names it has.
fn missing_container(
    context: &Context,
    kubectl: &std::path::Path,
    names: &[std::ffi::OsString],
    container: &str,
) -> Result<Option<Failure>> {
    Ok(match context.runner.capture_all(kubectl, names, None) {
        Ok((names, _)) => {
            let names: Vec<String> = names.split_whitespace().map(str::to_string).collect();
            (!names.is_empty() && !names.iter().any(|name| name == container))
                .then_some(Failure::NoContainer(names))
        }
        Err(error) => Some(Failure::Kubectl(child_code(error)?)),
    })
}

fn failed(kind: &Failure, component: &str, namespace: &str, container: &str) -> anyhow::Error {
    match kind {
        Failure::Kubectl(code) => OpError::new(
            Code::Failure,
            format!(
                "kubectl could not read deployment {component} in namespace {namespace}: it failed \
                 {FAIL_AFTER} times in a row (exit code {code}); its message is above"
            ),
        )
        .with_hint(
            "check that the deployment exists in that namespace, that the API server answers \
             (`kubectl cluster-info`) and that this account may read deployments",
        ),
        Failure::NoContainer(names) => OpError::new(
            Code::Failure,
            format!(
                "deployment {component} in namespace {namespace} has no container named {container}; \
                 its containers: {}",
                names.join(", ")
            ),
        )
        .with_hint("pass --container with the name of the container that runs the image"),
    }
    .into()
}
