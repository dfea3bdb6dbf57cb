//! `op build` (skaffold build, no push) and `op build-push` (pack for buildpacks artifacts,
//! docker for Dockerfile artifacts, publish, build_result.json).

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::{BuildArgs, BuildPushArgs};
use crate::error::{Code, OpError};
use crate::formats::build_result::{self, Build};
use crate::formats::skaffold_yaml;
use crate::pipeline::{Context, args, tag};
use crate::settings;

pub fn build(context: &Context, options: &BuildArgs) -> Result<()> {
    let repo = context
        .config
        .local_repo(options.repo.as_deref(), &context.cwd)?;
    let mut argv = args(["build", "--cache-artifacts=false", "--default-repo", &repo]);
    if let Some(tag) = tag::release_tag(&context.cwd) {
        argv.extend(args(["--tag".to_string(), tag]));
    }
    for (key, flag) in [
        ("SKAFFOLD_PROFILE", "--profile"),
        ("SKAFFOLD_LABEL", "--label"),
        ("SKAFFOLD_NAMESPACE", "--namespace"),
    ] {
        if let Some(value) = context.config.get(key) {
            argv.extend(args([flag.to_string(), value]));
        }
    }
    let skaffold = context.runner.pinned("skaffold")?;
    context
        .runner
        .run(&skaffold, &argv, Some(&context.cwd), &[])
}

/// Registries on the developer's machine that the build containers reach another way.
fn is_local_registry(repo: &str) -> bool {
    matches!(repo, "localhost:5001" | "127.0.0.1:5001")
}

pub fn build_push(context: &Context, options: &BuildPushArgs) -> Result<()> {
    let repo = context
        .config
        .local_repo(options.repo.as_deref(), &context.cwd)?;
    let skaffold_file = context.absolute(&options.skaffold_file);
    let project = skaffold_file
        .parent()
        .map(PathBuf::from)
        .unwrap_or(context.cwd.clone());
    let artifacts = skaffold_yaml::load(&skaffold_file)?;
    if artifacts
        .iter()
        .all(|artifact| artifact.builder.is_none() && artifact.dockerfile.is_none())
    {
        return Err(OpError::config(format!(
            "{}: no buildpacks or docker artifacts",
            skaffold_file.display()
        ))
        .with_hint("give artifacts a buildpacks.builder or a docker.dockerfile")
        .into());
    }
    for artifact in artifacts
        .iter()
        .filter(|artifact| artifact.builder.is_none() && artifact.dockerfile.is_none())
    {
        context.runner.toolchain().output.warn(&format!(
            "skipping artifact {}: it has neither buildpacks.builder nor docker (use `op push` for other builders)",
            artifact.image
        ));
    }
    let release = tag::release_tag(&context.cwd);
    let image_tag = options
        .tag
        .clone()
        .or(release.clone())
        .unwrap_or_else(|| "latest".to_string());
    let add_latest = release.is_some() && image_tag != "latest";
    let output_dir = options
        .output
        .as_deref()
        .map(|dir| context.absolute(dir))
        .unwrap_or(context.cwd.clone());

    // pack's lifecycle runs in a container, where localhost is the container itself.
    let pack_network_host = settings::var("OP_PACK_NETWORK").as_deref() == Some("host");
    let (pack_repo, insecure, network) = if is_local_registry(&repo) && !pack_network_host {
        if cfg!(target_os = "linux") {
            ("127.0.0.1:5001".to_string(), true, Some("host"))
        } else {
            ("host.docker.internal:5001".to_string(), true, None)
        }
    } else {
        (repo.clone(), false, pack_network_host.then_some("host"))
    };

    let mut builds = Vec::new();
    let buildpacks: Vec<_> = artifacts
        .iter()
        .filter(|artifact| artifact.builder.is_some())
        .collect();
    if !buildpacks.is_empty() {
        let pack = match options
            .pack
            .clone()
            .or_else(|| settings::var("PACK_CMD").map(PathBuf::from))
        {
            Some(pack) => pack,
            None => context.runner.pinned("pack")?,
        };
        for artifact in buildpacks {
            let reference = format!("{pack_repo}/{}:{image_tag}", artifact.image);
            let path = project.join(&artifact.context);
            let mut argv = args(["build".to_string(), reference.clone()]);
            argv.extend(args(["--path".into(), path.into_os_string()]));
            argv.extend(args([
                "--builder",
                artifact.builder.as_deref().unwrap_or_default(),
                "--publish",
            ]));
            if add_latest {
                argv.extend(args(["--tag".to_string(), tag::latest_of(&reference)]));
            }
            if insecure {
                argv.extend(args(["--insecure-registry", &pack_repo]));
            }
            if let Some(network) = network {
                argv.extend(args(["--network", network]));
            }
            context.runner.run(&pack, &argv, Some(&project), &[])?;
            builds.push(Build {
                image_name: Some(artifact.image.clone()),
                tag: format!("{repo}/{}:{image_tag}", artifact.image),
            });
        }
    }
    for artifact in artifacts
        .iter()
        .filter(|artifact| artifact.builder.is_none())
    {
        let Some(dockerfile) = &artifact.dockerfile else {
            continue;
        };
        let docker = context.runner.from_path("docker")?;
        let build_context = project.join(&artifact.context);
        let dockerfile = build_context.join(dockerfile);
        if !dockerfile.is_file() && !context.runner.dry_run() {
            return Err(OpError::new(
                Code::Failure,
                format!("{}: Dockerfile not found", dockerfile.display()),
            )
            .into());
        }
        let reference = format!("{repo}/{}:{image_tag}", artifact.image);
        let mut argv = args(["build", "-t", &reference, "-f"]);
        argv.extend(args([
            dockerfile.into_os_string(),
            build_context.into_os_string(),
        ]));
        context.runner.run(&docker, &argv, Some(&project), &[])?;
        context
            .runner
            .run(&docker, &args(["push", &reference]), Some(&project), &[])?;
        if add_latest {
            let latest = tag::latest_of(&reference);
            context.runner.run(
                &docker,
                &args(["tag", &reference, &latest]),
                Some(&project),
                &[],
            )?;
            context
                .runner
                .run(&docker, &args(["push", &latest]), Some(&project), &[])?;
        }
        builds.push(Build {
            image_name: Some(artifact.image.clone()),
            tag: reference,
        });
    }
    let path = output_dir.join(build_result::FILE_NAME);
    context
        .runner
        .write_file(&path, build_result::render(&builds).as_bytes())?;
    if !context.runner.dry_run() {
        context.say(&format!(
            "wrote {} ({} image(s))",
            path.display(),
            builds.len()
        ));
    }
    Ok(())
}
