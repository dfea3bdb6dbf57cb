//! `op watch-deployment`: ask Flux to reconcile the HelmRelease, poll the deployment's image
//! until it is the built one (or give up after `--poll-timeout`), then wait for the rollout.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::WatchArgs;
use crate::error::{Code, OpError};
use crate::formats::build_result;
use crate::pipeline::promote::select;
use crate::pipeline::{Context, args};

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

/// Does the running image `current` carry the build `reference`? Its digest when it has one,
/// else its tag (the part after the last `:` of the name).
pub fn matches(current: &str, reference: &str) -> bool {
    let current = current.trim();
    if current.is_empty() {
        return false;
    }
    if let Some((_, digest)) = reference.split_once('@') {
        return current.contains(digest);
    }
    let slash = reference.rfind('/').map_or(0, |index| index + 1);
    match reference[slash..].rfind(':') {
        Some(colon) => {
            let tag = &reference[slash + colon + 1..];
            current == reference
                || current.ends_with(&format!(":{tag}"))
                || current.contains(&format!(":{tag}@"))
        }
        None => current == reference,
    }
}

pub fn watch(context: &Context, options: &WatchArgs) -> Result<()> {
    let poll_timeout = parse_duration(&options.poll_timeout, "--poll-timeout")?;
    let interval = parse_duration(&options.interval, "--interval")?;
    let path = build_result::resolve(&context.absolute(&options.build_result));
    let builds = build_result::read(&path)?;
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
    if context.runner.dry_run() {
        context.runner.run(&flux, &reconcile, None, &[])?;
        context.runner.run(&kubectl, &get, None, &[])?;
        return context.runner.run(&kubectl, &rollout, None, &[]);
    }
    let registry = context
        .config
        .environment_repo(options.environment, "WATCH_DESTINATION_REPOSITORY");
    context.say(&format!(
        "waiting for deployment {component} in {namespace} to run {}{}",
        build.tag,
        registry
            .map(|registry| format!(" (registry {registry})"))
            .unwrap_or_default()
    ));
    let started = Instant::now();
    let mut last = String::new();
    loop {
        // Failures here are expected while Flux and the cluster catch up: keep polling.
        let _ = context.runner.capture(&flux, &reconcile, None);
        last = context
            .runner
            .capture(&kubectl, &get, None)
            .unwrap_or(last)
            .trim()
            .to_string();
        if matches(&last, &build.tag) {
            break;
        }
        if started.elapsed() + interval > poll_timeout {
            return Err(OpError::new(
                Code::Failure,
                format!(
                    "gave up after {} waiting for deployment {component} to run {}; it runs {}",
                    options.poll_timeout,
                    build.tag,
                    if last.is_empty() {
                        "nothing yet"
                    } else {
                        &last
                    }
                ),
            )
            .with_hint(
                "check `flux get helmreleases` and the release's values, or raise --poll-timeout",
            )
            .into());
        }
        context.say(&format!(
            "deployment {component} runs {}; polling again in {}",
            if last.is_empty() {
                "nothing yet"
            } else {
                &last
            },
            options.interval
        ));
        std::thread::sleep(interval);
    }
    context.say(&format!(
        "image matched; waiting for the rollout (timeout {})",
        options.timeout
    ));
    context.runner.run(&kubectl, &rollout, None, &[])?;
    context.say("rollout complete");
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
        assert_eq!(parse_duration("2", "x").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("soon", "x").is_err());
        assert!(parse_duration("5d", "x").is_err());
    }

    #[test]
    fn image_matching_uses_digest_or_tag() {
        assert!(matches("r.io/app:1.2.0", "r.io/app:1.2.0"));
        assert!(matches("prod.io/app:1.2.0", "dev.io/app:1.2.0"));
        assert!(!matches("r.io/app:1.2.01", "r.io/app:1.2.0"));
        assert!(!matches("r.io/app:1.1.0", "r.io/app:1.2.0"));
        assert!(matches(
            "r.io/app:1.2.0@sha256:abc",
            "r.io/app:1.2.0@sha256:abc"
        ));
        assert!(!matches(
            "r.io/app:1.2.0@sha256:def",
            "r.io/app:1.2.0@sha256:abc"
        ));
        assert!(!matches("", "r.io/app:1"));
    }
}
