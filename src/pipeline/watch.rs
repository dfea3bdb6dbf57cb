//! `op watch-deployment`: ask Flux to reconcile the HelmRelease, poll the deployment's image
//! until it is the built one (or give up after `--poll-timeout`), then wait for the rollout.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::WatchArgs;
use crate::error::{Code, OpError};
use crate::formats::build_result;
use crate::pipeline::config::Environment;
use crate::pipeline::promote::select;
use crate::pipeline::{Context, args};

/// What `kubectl get deployment -o` prints: the first container's image.
pub const JSONPATH: &str = "jsonpath={.spec.template.spec.containers[0].image}";

/// `90s`, `10m`, `1h`, `500ms`, or a bare number of seconds.
pub fn parse_duration(text: &str, flag: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        OpError::config(format!(
            "{flag} {text:?}: expected a duration like 90s, 10m or 1h"
        ))
    })?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(OpError::config(format!(
                "{flag} {text:?}: unknown unit {unit:?}; use ms, s, m or h"
            ))
            .into());
        }
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// The version parts of an image reference `registry/path/name[:tag][@digest]`.
#[derive(Debug, PartialEq, Eq)]
pub struct Version<'a> {
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> Version<'a> {
    pub fn of(reference: &'a str) -> Version<'a> {
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => (name, Some(digest).filter(|digest| !digest.is_empty())),
            None => (reference, None),
        };
        // The tag is after the last `:` of the last path component (`localhost:5001/app` has none).
        let last = name.rsplit('/').next().unwrap_or(name);
        let tag = last
            .split_once(':')
            .map(|(_, tag)| tag)
            .filter(|tag| !tag.is_empty());
        Version { tag, digest }
    }
}

impl std::fmt::Display for Version<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.tag, self.digest) {
            (Some(tag), Some(digest)) => write!(f, "{tag}@{digest}"),
            (Some(tag), None) => f.write_str(tag),
            (None, Some(digest)) => f.write_str(digest),
            (None, None) => f.write_str("(no tag)"),
        }
    }
}

/// Does the running image `current` carry the build `reference`? Their versions are compared,
/// not their registries (the deployment pulls from its environment's registry): the digests when
/// both have one, the tags when both have one; at least one of the two must be compared.
pub fn matches(current: &str, reference: &str) -> bool {
    let current = current.trim();
    if current.is_empty() {
        return false;
    }
    if current == reference {
        return true;
    }
    let (want, have) = (Version::of(reference), Version::of(current));
    let mut compared = false;
    for (want, have) in [(want.digest, have.digest), (want.tag, have.tag)] {
        if let (Some(want), Some(have)) = (want, have) {
            if want != have {
                return false;
            }
            compared = true;
        }
    }
    compared
}

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

pub fn watch(context: &Context, options: &WatchArgs) -> Result<()> {
    let poll_timeout = parse_duration(&options.poll_timeout, "--poll-timeout")?;
    let interval = parse_duration(&options.interval, "--interval")?;
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
    let flux = context.runner.pinned("flux")?;
    let kubectl = context.runner.pinned("kubectl")?;
    let namespace = options.namespace.as_str();
    let component = options.component.as_str();
    let reconcile = args(["reconcile", "helmrelease", component, "-n", namespace]);
    let get = args([
        "-n",
        namespace,
        "get",
        "deployment",
        component,
        "-o",
        JSONPATH,
    ]);
    let rollout = args([
        "-n",
        namespace,
        "rollout",
        "status",
        &format!("deployment/{component}"),
        "--timeout",
        &options.timeout,
    ]);
    let expected = if build.tag.contains('/') {
        build.tag.clone()
    } else {
        format!("{registry}/{}", build.tag)
    };
    context.say(&format!(
        "Waiting for deployment {component} to use image {} ...",
        crate::redact::reference(&expected)
    ));
    if context.runner.dry_run() {
        context.runner.run(&flux, &reconcile, None, &[])?;
        context.runner.run(&kubectl, &get, None, &[])?;
        return context.runner.run(&kubectl, &rollout, None, &[]);
    }
    let started = Instant::now();
    let mut last = String::new();
    loop {
        // Failures here are expected while Flux and the cluster catch up: keep polling.
        let _ = context.runner.capture(&flux, &reconcile, None);
        if let Ok(image) = context.runner.capture(&kubectl, &get, None) {
            last = image.trim().to_string();
        }
        if matches(&last, &build.tag) {
            break;
        }
        if started.elapsed() + interval > poll_timeout {
            return Err(OpError::new(
                Code::Failure,
                format!(
                    "timed out ({}) waiting for deployment {component} to use tag {} ({}); it runs {}",
                    options.poll_timeout,
                    Version::of(&build.tag),
                    build.tag,
                    running(&last)
                ),
            )
            .with_hint(format!(
                "check `flux get helmreleases -n {namespace}` and the release's image values, or raise --poll-timeout"
            ))
            .into());
        }
        context.say(&format!(
            "deployment {component} runs {}; polling again in {}",
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
        context
            .runner
            .toolchain()
            .output
            .report_error(&anyhow::Error::new(OpError::new(
                Code::Failure,
                "Flux: deployment rollout failed.",
            )));
        return Err(error);
    }
    context.say("Rollout complete.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("10m", "x").unwrap(),
            Duration::from_secs(600)
        );
        assert_eq!(parse_duration("90s", "x").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("200ms", "x").unwrap(),
            Duration::from_millis(200)
        );
        assert_eq!(
            parse_duration("1.5h", "x").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(parse_duration("2", "x").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("soon", "x").is_err());
        assert!(parse_duration("5d", "x").is_err());
        assert!(parse_duration("", "x").is_err());
    }

    #[test]
    fn versions_of_references() {
        let of = Version::of;
        assert_eq!(of("r.io/p/app:1.2.0").tag, Some("1.2.0"));
        assert_eq!(of("localhost:5001/app").tag, None);
        assert_eq!(of("localhost:5001/app:v1").tag, Some("v1"));
        let pinned = of("r.io/app:1@sha256:ab");
        assert_eq!((pinned.tag, pinned.digest), (Some("1"), Some("sha256:ab")));
        assert_eq!(of("r.io/app@sha256:ab").tag, None);
        assert_eq!(of("r.io/app:1@sha256:ab").to_string(), "1@sha256:ab");
        assert_eq!(of("app").to_string(), "(no tag)");
    }

    #[test]
    fn image_matching_compares_tag_and_digest_not_registry() {
        // What `kubectl -o jsonpath={…image}` prints, against the build_result.json reference.
        assert!(matches("r.io/app:1.2.0\n", "r.io/app:1.2.0"));
        assert!(matches("prod.io/team/app:1.2.0", "dev.io/app:1.2.0"));
        assert!(!matches("r.io/app:1.2.01", "r.io/app:1.2.0"));
        assert!(!matches("r.io/app:1.2.0-rc1", "r.io/app:1.2.0"));
        assert!(!matches("r.io/app:1.1.0", "r.io/app:1.2.0"));
        assert!(!matches("r.io/app", "r.io/app:1.2.0"));
        assert!(!matches("", "r.io/app:1"));
        // Digest-pinned builds: the digest decides; a tag-only deployment is compared by tag.
        let pinned = "r.io/app:1.2.0@sha256:abc";
        assert!(matches("prod.io/app:1.2.0@sha256:abc", pinned));
        assert!(matches("prod.io/app@sha256:abc", pinned));
        assert!(matches("prod.io/app:1.2.0", pinned));
        assert!(!matches("r.io/app:1.2.0@sha256:def", pinned));
        assert!(!matches("r.io/app@sha256:def", pinned));
        assert!(!matches("r.io/app:1.1.0@sha256:abc", pinned));
        // A digest-only deployment and a tag-only build have nothing to compare.
        assert!(!matches("r.io/app@sha256:abc", "r.io/app:1.2.0"));
        assert!(matches("localhost:5001/app", "localhost:5001/app"));
    }
}
