//! `op push`: skaffold build --push (profile `push`) to the configured registry, the result in
//! build_result.json (written atomically, untouched when the build fails), and with `--push-all`
//! a verified crane copy (by digest, read back) of every image to every other ci registry of
//! `.registry`. What skaffold reports is recorded as references a registry accepts: a bare
//! `app:1` is in the registry pushed to, a bare tag `abc123` is `<imageName>:abc123`, and a bare
//! digest is refused.

use std::path::Path;

use anyhow::Result;
use regex::Regex;

use crate::bounded;
use crate::cli::PushArgs;
use crate::error::{Code, OpError};
use crate::formats::build_result::{self, Build};
use crate::formats::registry_file::{Destination, Registry};
use crate::pipeline::config::{clean_repo, in_ci, is_qualified, retarget};
use crate::pipeline::crane::Crane;
use crate::pipeline::skaffold_output::{self, is_bare_digest};
use crate::pipeline::{Context, args};
use crate::redact;
use crate::settings;

pub fn push(context: &Context, options: &PushArgs) -> Result<()> {
    let dir = options
        .output
        .as_deref()
        .map(|dir| context.absolute(dir))
        .unwrap_or(context.cwd.clone());
    let registry_path = match &options.registry_file {
        Some(path) => {
            let path = context.absolute(path);
            if !bounded::exists(&path) {
                return Err(OpError::config(format!(
                    "registry file {} does not exist",
                    path.display()
                ))
                .into());
            }
            path
        }
        None => context.cwd.join(".registry"),
    };
    let registry = Registry::load(&registry_path, &settings::var)?;
    let repo = context.config.push_repo(
        options.default_repo.as_deref(),
        &registry,
        options.destination,
    )?;
    // A bad pattern is a usage error, found before anything runs.
    let pattern = options
        .image_pattern
        .as_deref()
        .map(image_pattern)
        .transpose()?;
    let skaffold = context.runner.pinned("skaffold")?;
    let profile: Vec<String> = if options.profile.is_empty() {
        Vec::new()
    } else {
        vec!["--profile".into(), options.profile.clone()]
    };
    let result_path = dir.join(build_result::FILE_NAME);

    // skaffold writes beside the result (a fixed name, so that --dry-run shows the exact
    // command); the result itself is replaced atomically after, and only on success.
    let scratch = dir.join(format!(".{}.skaffold-output", build_result::FILE_NAME));
    let mut argv = args(["build"]);
    if !options.no_file_output {
        argv.extend(args([
            "--file-output".into(),
            scratch.clone().into_os_string(),
        ]));
    }
    argv.extend(args(["--default-repo", &repo, "--push"]));
    argv.extend(args(profile));
    if context.runner.dry_run() {
        context
            .runner
            .run(&skaffold, &argv, Some(&context.cwd), &[])?;
        context.runner.toolchain().output.data(&format!(
            "# would write {} from skaffold's output",
            result_path.display()
        ));
        return push_all(context, options, &registry, &repo, &[]);
    }

    std::fs::create_dir_all(&dir)
        .map_err(|error| OpError::config(format!("cannot create {}: {error}", dir.display())))?;
    let builds = if options.no_file_output {
        let (stdout, stderr) = context
            .runner
            .capture_all(&skaffold, &argv, Some(&context.cwd))?;
        let builds = skaffold_output::parse(&format!("{stdout}\n{stderr}"), pattern.as_ref())?;
        if builds.is_empty() {
            return Err(OpError::new(Code::Failure, "could not find an image reference in skaffold's output")
                .with_hint("drop --no-file-output, or pass --image-pattern with (?P<image>…) and (?P<tag>…) groups")
                .into());
        }
        builds
    } else {
        // A file left by an interrupted run must not pass for this build's output.
        let _ = std::fs::remove_file(&scratch);
        let ran = context
            .runner
            .run(&skaffold, &argv, Some(&context.cwd), &[]);
        let builds = ran.and_then(|()| read_scratch(&scratch));
        let _ = std::fs::remove_file(&scratch);
        builds?
    };
    let builds = qualify(builds, &repo)?;
    context.runner.write_file(
        &result_path,
        build_result::render(&crate::pipeline::for_file(&builds)).as_bytes(),
    )?;
    context.say(&format!(
        "wrote {} ({})",
        result_path.display(),
        crate::output::count(builds.len(), "image")
    ));
    if !context.runner.dry_run() {
        for build in &builds {
            let reference = crate::redact::reference(&build.tag);
            context
                .runner
                .toolchain()
                .output
                .image("pushed", &reference);
        }
    }
    push_all(context, options, &registry, &repo, &builds)
}

/// `--image-pattern`: a regex with named groups `image` and `tag`.
fn image_pattern(pattern: &str) -> Result<Regex> {
    let regex = Regex::new(pattern)
        .map_err(|error| OpError::config(format!("--image-pattern: {error}")))?;
    for group in ["image", "tag"] {
        if !regex.capture_names().flatten().any(|name| name == group) {
            return Err(OpError::config(format!(
                "--image-pattern {pattern:?} has no named group `{group}`"
            ))
            .with_hint(r"for example --image-pattern '(?P<image>\S+):(?P<tag>[^:\s]+)$'")
            .into());
        }
    }
    Ok(regex)
}

fn read_scratch(path: &Path) -> Result<Vec<Build>> {
    if !path.is_file() {
        return Err(OpError::new(
            Code::Failure,
            "skaffold succeeded but wrote no --file-output",
        )
        .into());
    }
    build_result::read(path)
}

/// The builds as references a registry accepts: a tag without `:`, `/` or `@` (`abc123`) is
/// `<imageName>:abc123`; a reference that names no registry (`app:1`, `team/app:1`) is in `repo`,
/// the registry pushed to (never docker.io). A bare digest is refused (exit 1).
pub fn qualify(builds: Vec<Build>, repo: &str) -> Result<Vec<Build>> {
    builds
        .into_iter()
        .map(|build| {
            let tag = build.tag.trim();
            if is_bare_digest(tag) {
                return Err(OpError::new(
                    Code::Failure,
                    format!(
                        "skaffold reported the bare digest {tag} for image `{}`, not an image reference; op does not record a bare digest as an image",
                        build.name()
                    ),
                )
                .with_hint("check the skaffold.yaml artifacts and skaffold's --file-output")
                .into());
            }
            let named = match &build.image_name {
                Some(name) if !tag.contains([':', '/', '@']) => format!("{name}:{tag}"),
                _ => tag.to_string(),
            };
            let tag = if is_qualified(&named) {
                named
            } else {
                format!("{repo}/{named}")
            };
            Ok(Build { tag, ..build })
        })
        .collect()
}

/// Copies every build to every other ci registry, skipping the one pushed to and duplicates.
fn push_all(
    context: &Context,
    options: &PushArgs,
    registry: &Registry,
    repo: &str,
    builds: &[Build],
) -> Result<()> {
    if !options.push_all {
        return Ok(());
    }
    let others: Vec<String> = registry
        .select(Destination::Ci, in_ci())
        .into_iter()
        .filter(|other| clean_repo(other) != clean_repo(repo))
        .collect();
    if others.is_empty() {
        context.say("--push-all: .registry lists no other ci registry; nothing to copy");
        return Ok(());
    }
    let crane = Crane::new(context)?;
    let mut done = Vec::new();
    for build in builds {
        // Pinned once per image, when the first copy of it is due.
        let mut pinned: Option<String> = None;
        for other in &others {
            let destination = retarget(&build.tag, Some(repo), other);
            if done.contains(&destination) {
                continue;
            }
            context.say(&format!(
                "copying {} to {}",
                redact::reference(&build.tag),
                redact::reference(&destination)
            ));
            let source = match pinned.take() {
                Some(source) => source,
                None => crane.pin(&build.tag)?,
            };
            crane.copy_verified(&source, &destination)?;
            pinned = Some(source);
            done.push(destination);
        }
    }
    if context.runner.dry_run() {
        let others: Vec<String> = others
            .iter()
            .map(|other| redact::reference(other))
            .collect();
        context.say(&format!(
            "--push-all would copy each built image to: {}",
            others.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(image_name: Option<&str>, tag: &str) -> Build {
        Build {
            image_name: image_name.map(str::to_string),
            tag: tag.to_string(),
        }
    }

    #[test]
    fn what_skaffold_reports_becomes_a_reference_in_the_registry_pushed_to() {
        let builds = qualify(
            vec![
                build(Some("api"), "app:1"),
                build(Some("api"), "abc123"),
                build(Some("team/api"), "abc123"),
                build(None, "team/worker:2"),
                build(Some("web"), "localhost:5001/web:1"),
                build(Some("web"), "ghcr.io/acme/web:1@sha256:ab"),
            ],
            "r.io/acme",
        )
        .unwrap();
        let tags: Vec<&str> = builds.iter().map(|build| build.tag.as_str()).collect();
        assert_eq!(
            tags,
            [
                "r.io/acme/app:1",
                "r.io/acme/api:abc123",
                "r.io/acme/team/api:abc123",
                "r.io/acme/team/worker:2",
                "localhost:5001/web:1",
                "ghcr.io/acme/web:1@sha256:ab",
            ]
        );
        let digest = format!("sha256:{}", "0f".repeat(32));
        let error = qualify(vec![build(Some("api"), &digest)], "r.io").unwrap_err();
        assert!(error.to_string().contains("bare digest"), "{error}");
        assert_eq!(crate::error::exit_code(&error), 1);
    }
}
