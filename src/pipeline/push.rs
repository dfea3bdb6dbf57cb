//! `op push`: skaffold build --push (profile `push`) to the configured registry, the result in
//! build_result.json (written atomically, untouched when the build fails), and with `--push-all`
//! a crane copy of every image to every other ci registry of `.registry`.

use std::path::Path;

use anyhow::Result;
use regex::Regex;

use crate::bounded;
use crate::cli::PushArgs;
use crate::error::{Code, OpError};
use crate::formats::build_result::{self, Build};
use crate::formats::registry_file::{Destination, Registry};
use crate::pipeline::config::{clean_repo, in_ci, retarget};
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
        let builds = parse_output(&format!("{stdout}\n{stderr}"), pattern.as_ref());
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
    context.runner.write_file(
        &result_path,
        build_result::render(&crate::pipeline::for_file(&builds)).as_bytes(),
    )?;
    context.say(&format!(
        "wrote {} ({} image(s))",
        result_path.display(),
        builds.len()
    ));
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
    let crane = context.runner.pinned("crane")?;
    let mut done = Vec::new();
    for build in builds {
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
            let copied = context.runner.run(
                &crane,
                &args(["copy", &build.tag, &destination]),
                Some(&context.cwd),
                &[],
            );
            if copied.is_err() {
                // The exit code passes through as crane's; say which copy it was.
                let failed = anyhow::anyhow!("crane copy to {} failed", redact::reference(other));
                context.runner.toolchain().output.report_error(&failed);
            }
            copied?;
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

/// Image references in skaffold's output: with `pattern`, every line's `image`:`tag`; otherwise
/// the last `Tagged … as REF`, else `Built … -> REF`, else the last `name:tag`-looking word.
pub fn parse_output(text: &str, pattern: Option<&Regex>) -> Vec<Build> {
    if let Some(pattern) = pattern {
        let builds: Vec<Build> = text
            .lines()
            .filter_map(|line| {
                let found = pattern.captures(line)?;
                let image = found.name("image")?.as_str().trim();
                let tag = found.name("tag")?.as_str().trim();
                (!image.is_empty() && !tag.is_empty()).then(|| Build {
                    image_name: None,
                    tag: format!("{image}:{tag}"),
                })
            })
            .collect();
        if !builds.is_empty() {
            return builds;
        }
    }
    static PATTERNS: std::sync::LazyLock<[Regex; 3]> = std::sync::LazyLock::new(|| {
        [
            r"Tagged .+ as (?P<ref>\S+)",
            r"Built .+ -> (?P<ref>\S+)",
            r"(?P<ref>[a-zA-Z0-9][a-zA-Z0-9._/-]+:[a-zA-Z0-9][a-zA-Z0-9._-]+)",
        ]
        .map(|pattern| Regex::new(pattern).expect("the built-in patterns are valid"))
    });
    for regex in PATTERNS.iter() {
        for line in text.lines().rev() {
            if let Some(reference) = regex.captures(line).and_then(|found| found.name("ref"))
                && (reference.as_str().contains('/') || reference.as_str().contains(':'))
            {
                return vec![Build {
                    image_name: None,
                    tag: reference.as_str().to_string(),
                }];
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_skaffold_output() {
        let text = "Building [app]...\nTagged app as r.io/acme/app:abc123\nlater line\n";
        assert_eq!(parse_output(text, None)[0].tag, "r.io/acme/app:abc123");
        let built = "Build [x] succeeded\nBuilt x -> r.io/x:1\n";
        assert_eq!(parse_output(built, None)[0].tag, "r.io/x:1");
        let pattern = Regex::new(r"Pushed (?P<image>\S+) with tag (?P<tag>\S+)").unwrap();
        let lines = "Pushed r.io/a with tag 1\nPushed r.io/b with tag 2\n";
        let builds = parse_output(lines, Some(&pattern));
        assert_eq!(
            builds
                .iter()
                .map(|build| build.tag.as_str())
                .collect::<Vec<_>>(),
            ["r.io/a:1", "r.io/b:2"]
        );
        assert!(parse_output("nothing useful here", None).is_empty());
    }
}
