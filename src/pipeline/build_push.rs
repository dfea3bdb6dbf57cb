//! `op build-push`: each artifact of skaffold.yaml built and published on its own, with pack
//! (`pack build R/IMAGE:TAG --path CTX --builder B --publish`) for buildpacks artifacts and with
//! docker (`docker build` + `docker push`) for Dockerfile artifacts; `:latest` as well on a
//! release tag; then build_result.json, written atomically only when every build succeeded.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::BuildPushArgs;
use crate::error::{Code, OpError};
use crate::formats::build_result::{self, Build};
use crate::formats::skaffold_yaml::{self, Artifact};
use crate::pipeline::{Context, args, tag};
use crate::settings;

/// Registries on the developer's machine, which pack's lifecycle container reaches another way.
fn is_local_registry(repo: &str) -> bool {
    matches!(repo, "localhost:5001" | "127.0.0.1:5001")
}

/// Where pack publishes: the lifecycle runs in a container, where `localhost` is the container
/// itself. On Linux the container shares the host network and uses 127.0.0.1; Docker Desktop and
/// Colima (macOS, Windows) expose the host as host.docker.internal. Either way the registry's
/// self-signed certificate is not trusted inside the container, hence `--insecure-registry`.
/// `OP_PACK_NETWORK=host` turns the rewrite off and runs the build on the host network.
struct PackTarget {
    repo: String,
    insecure: bool,
    network: Option<&'static str>,
}

fn pack_target(repo: &str) -> PackTarget {
    let host_network = settings::var("OP_PACK_NETWORK").as_deref() == Some("host");
    if host_network || !is_local_registry(repo) {
        return PackTarget {
            repo: repo.to_string(),
            insecure: false,
            network: host_network.then_some("host"),
        };
    }
    if cfg!(target_os = "linux") {
        PackTarget {
            repo: "127.0.0.1:5001".into(),
            insecure: true,
            network: Some("host"),
        }
    } else {
        PackTarget {
            repo: "host.docker.internal:5001".into(),
            insecure: true,
            network: None,
        }
    }
}

/// The pack binary: `--pack`, else `PACK_CMD` (environment, then the properties file), else the
/// pinned one. A bare name is looked up on PATH; a path is taken relative to the project.
fn pack_binary(context: &Context, options: &BuildPushArgs) -> Result<PathBuf> {
    let chosen = options
        .pack
        .clone()
        .or_else(|| context.config.get("PACK_CMD").map(PathBuf::from));
    match chosen {
        None => context.runner.pinned("pack"),
        Some(path) if path.components().count() == 1 && !path.is_absolute() => {
            context.runner.from_path(&path.to_string_lossy())
        }
        Some(path) => Ok(context.absolute(&path)),
    }
}

pub fn build_push(context: &Context, options: &BuildPushArgs) -> Result<()> {
    let repo = context
        .config
        .local_repo(options.repo.as_deref(), &context.cwd)?;
    let skaffold_file = context.absolute(&options.skaffold_file);
    let project = skaffold_file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| context.cwd.clone());
    let artifacts = skaffold_yaml::load(&skaffold_file)?;
    let (buildpacks, dockerfiles) = plan(context, &artifacts, &skaffold_file, &project)?;

    let release = tag::release_tag(&context.cwd);
    let add_latest = options.tag.is_none() && release.is_some();
    let image_tag = options
        .tag
        .clone()
        .or(release)
        .unwrap_or_else(|| "latest".to_string());
    let output_dir = options
        .output
        .as_deref()
        .map(|dir| context.absolute(dir))
        .unwrap_or_else(|| context.cwd.clone());
    let result_path = output_dir.join(build_result::FILE_NAME);
    // Both programs are found before the first build, so a missing one stops nothing halfway.
    let pack = (!buildpacks.is_empty())
        .then(|| pack_binary(context, options))
        .transpose()?;
    let docker = (!dockerfiles.is_empty())
        .then(|| context.runner.from_path("docker"))
        .transpose()?;

    let mut builds = Vec::new();
    if let Some(pack) = pack {
        let target = pack_target(&repo);
        for artifact in buildpacks {
            let reference = format!("{}/{}:{image_tag}", target.repo, artifact.image);
            let mut argv = args(["build".to_string(), reference.clone()]);
            argv.extend(args([
                "--path".into(),
                project.join(&artifact.context).into_os_string(),
            ]));
            argv.extend(args([
                "--builder",
                artifact.builder.as_deref().unwrap_or_default(),
                "--publish",
            ]));
            if add_latest {
                argv.extend(args(["--tag".to_string(), tag::latest_of(&reference)]));
            }
            if target.insecure {
                argv.extend(args(["--insecure-registry", &target.repo]));
            }
            if let Some(network) = target.network {
                argv.extend(args(["--network", network]));
            }
            context.say(&format!("building {} with pack", artifact.image));
            context.runner.run(&pack, &argv, Some(&project), &[])?;
            builds.push(Build {
                image_name: Some(artifact.image.clone()),
                tag: format!("{repo}/{}:{image_tag}", artifact.image),
            });
        }
    }
    if let Some(docker) = docker {
        for (artifact, dockerfile) in dockerfiles {
            let reference = format!("{repo}/{}:{image_tag}", artifact.image);
            let mut argv = args(["build", "-t", &reference, "-f"]);
            argv.extend(args([
                dockerfile.into_os_string(),
                project.join(&artifact.context).into_os_string(),
            ]));
            context.say(&format!("building {} with docker", artifact.image));
            context.runner.run(&docker, &argv, Some(&project), &[])?;
            context
                .runner
                .run(&docker, &args(["push", &reference]), Some(&project), &[])?;
            if add_latest {
                let latest = tag::latest_of(&reference);
                let tag_argv = args(["tag", &reference, &latest]);
                context
                    .runner
                    .run(&docker, &tag_argv, Some(&project), &[])?;
                let push_argv = args(["push", &latest]);
                context
                    .runner
                    .run(&docker, &push_argv, Some(&project), &[])?;
            }
            builds.push(Build {
                image_name: Some(artifact.image.clone()),
                tag: reference,
            });
        }
    }
    if !context.runner.dry_run() {
        std::fs::create_dir_all(&output_dir).map_err(|error| {
            OpError::config(format!("cannot create {}: {error}", output_dir.display()))
        })?;
    }
    context.runner.write_file(
        &result_path,
        build_result::render(&crate::pipeline::for_file(&builds)).as_bytes(),
    )?;
    if !context.runner.dry_run() {
        context.say(&format!(
            "wrote {} ({} image(s))",
            result_path.display(),
            builds.len()
        ));
    }
    Ok(())
}

/// The artifacts to build, buildpacks first (as the seed does), each Dockerfile checked before
/// anything runs; artifacts of other builders are named in a warning.
#[expect(
    clippy::type_complexity,
    reason = "a private pair of lists, read once by the caller"
)]
fn plan<'a>(
    context: &Context,
    artifacts: &'a [Artifact],
    skaffold_file: &Path,
    project: &Path,
) -> Result<(Vec<&'a Artifact>, Vec<(&'a Artifact, PathBuf)>)> {
    let buildpacks: Vec<&Artifact> = artifacts
        .iter()
        .filter(|artifact| artifact.builder.is_some())
        .collect();
    let mut dockerfiles = Vec::new();
    for artifact in artifacts
        .iter()
        .filter(|artifact| artifact.builder.is_none())
    {
        match (&artifact.dockerfile, artifact.other_builder) {
            (Some(dockerfile), _) => {
                let path = project.join(&artifact.context).join(dockerfile);
                if !path.is_file() {
                    return Err(OpError::new(
                        Code::Failure,
                        format!("Dockerfile not found: {}", path.display()),
                    )
                    .with_hint(format!(
                        "artifact {} of {}: check its context and docker.dockerfile",
                        artifact.image,
                        skaffold_file.display()
                    ))
                    .into());
                }
                dockerfiles.push((artifact, path));
            }
            (None, builder) => context.runner.toolchain().output.warn(&format!(
                "skipping artifact {}: build-push builds buildpacks and Dockerfile artifacts, not {} (use `op push` for it)",
                artifact.image,
                builder.unwrap_or("this builder")
            )),
        }
    }
    if buildpacks.is_empty() && dockerfiles.is_empty() {
        return Err(OpError::new(
            Code::Failure,
            format!(
                "No buildpacks or docker artifacts in {}.",
                skaffold_file.display()
            ),
        )
        .with_hint("Add artifacts with buildpacks.builder and/or docker.dockerfile.")
        .into());
    }
    Ok((buildpacks, dockerfiles))
}
