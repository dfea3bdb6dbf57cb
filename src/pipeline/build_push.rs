//! `op build-push`: each artifact of skaffold.yaml built and published on its own, with pack
//! (`pack build R/IMAGE:TAG --path CTX --builder B --publish`) for buildpacks artifacts and with
//! docker (`docker build` + `docker push`, or `docker buildx build --platform … --push` for
//! `--platform`) for Dockerfile artifacts; `:latest` as well on a release tag; then
//! build_result.json, written atomically only when every build succeeded, with the digest docker
//! reported pinned to each Dockerfile image.
//!
//! pack 0.40 builds for one platform per run (`pack build --platform os/arch`): with several
//! platforms each is built to `R/IMAGE:TAG-os-arch` and `docker buildx imagetools create` joins
//! them into the index `R/IMAGE:TAG`.

mod digest;
mod options;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::BuildPushArgs;
use crate::error::{Code, OpError};
use crate::formats::build_result::{self, Build};
use crate::formats::skaffold_yaml::{self, Artifact};
use crate::pipeline::{Context, args, tag};
use crate::settings;
use options::{CacheImage, Platform};

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

/// What every build of one run shares.
struct Plan {
    /// The registry the user asked for.
    repo: String,
    tag: String,
    add_latest: bool,
    project: PathBuf,
    platforms: Vec<Platform>,
    cache: Option<CacheImage>,
    sbom_dir: Option<PathBuf>,
}

impl Plan {
    /// Several platforms: one build per platform, joined into an index afterwards.
    fn several(&self) -> bool {
        self.platforms.len() > 1
    }

    /// The pack runs of an artifact: one per platform, or one for the builder's own.
    fn pack_runs(&self) -> Vec<Option<&Platform>> {
        if self.platforms.is_empty() {
            vec![None]
        } else {
            self.platforms.iter().map(Some).collect()
        }
    }

    /// The cache image's registry as pack's container reaches it, when it is the local one.
    fn cache_target(&self) -> Option<PackTarget> {
        self.cache
            .as_ref()
            .and_then(CacheImage::registry)
            .filter(|registry| is_local_registry(registry))
            .map(pack_target)
    }

    /// `--cache-image` of one pack run (platform-suffixed when there are several).
    fn cache_image(&self, image: &str, platform: Option<&Platform>) -> Result<Option<String>> {
        let Some(cache) = &self.cache else {
            return Ok(None);
        };
        let target = self.cache_target();
        cache
            .for_build(
                image,
                platform.filter(|_| self.several()),
                target.as_ref().map(|target| target.repo.as_str()),
            )
            .map(Some)
    }
}

pub fn build_push(context: &Context, options: &BuildPushArgs) -> Result<()> {
    // Every flag is checked before skaffold.yaml is read and anything runs.
    let platforms = options::platforms(options.platform.as_deref())?;
    let cache = CacheImage::from(
        options.cache_image.as_deref(),
        settings::var(settings::CACHE_IMAGE),
    )?;
    let sbom_dir = options::sbom_dir(options.sbom_output_dir.as_deref(), |path| {
        context.absolute(path)
    })?;
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
    let plan = Plan {
        repo,
        tag: image_tag,
        add_latest,
        project,
        platforms,
        cache,
        sbom_dir,
    };
    for artifact in &buildpacks {
        for platform in plan.pack_runs() {
            plan.cache_image(&artifact.image, platform)?;
        }
    }
    if buildpacks.is_empty() {
        let output = &context.runner.toolchain().output;
        for (flag, given) in [
            ("--cache-image", options.cache_image.is_some()),
            ("--sbom-output-dir", options.sbom_output_dir.is_some()),
        ] {
            if given {
                output.warn(&format!(
                    "{flag} is pack's and applies to buildpacks artifacts; {} has none",
                    skaffold_file.display()
                ));
            }
        }
    }
    // Both programs are found before the first build, so a missing one stops nothing halfway.
    let pack = (!buildpacks.is_empty())
        .then(|| pack_binary(context, options))
        .transpose()?;
    let needs_docker = !dockerfiles.is_empty() || (pack.is_some() && plan.several());
    let docker = needs_docker
        .then(|| context.runner.from_path("docker"))
        .transpose()?;

    let mut builds = Vec::new();
    if let Some(pack) = &pack {
        for artifact in buildpacks {
            builds.push(pack_build(
                context,
                &plan,
                pack,
                docker.as_deref(),
                artifact,
            )?);
        }
    }
    if let Some(docker) = &docker {
        for (artifact, dockerfile) in dockerfiles {
            builds.push(docker_build(context, &plan, docker, artifact, dockerfile)?);
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
            "wrote {} ({})",
            result_path.display(),
            crate::output::count(builds.len(), "image")
        ));
        for build in &builds {
            let reference = crate::redact::reference(&build.tag);
            context
                .runner
                .toolchain()
                .output
                .image("built and pushed", &reference);
        }
    }
    Ok(())
}

/// One buildpacks artifact: `pack build` per platform run, then, for several platforms, the
/// index made of them. The build recorded is the reference the user asked for.
fn pack_build(
    context: &Context,
    plan: &Plan,
    pack: &Path,
    docker: Option<&Path>,
    artifact: &Artifact,
) -> Result<Build> {
    let target = pack_target(&plan.repo);
    let cache_target = plan.cache_target();
    let mut insecure: Vec<&str> = Vec::new();
    for pack_target in std::iter::once(&target).chain(cache_target.as_ref()) {
        if pack_target.insecure && !insecure.contains(&pack_target.repo.as_str()) {
            insecure.push(&pack_target.repo);
        }
    }
    let network = target
        .network
        .or(cache_target.as_ref().and_then(|target| target.network));
    let reference = format!("{}/{}:{}", plan.repo, artifact.image, plan.tag);
    let mut parts = Vec::new();
    context.say(&format!("building {} with pack", artifact.image));
    for platform in plan.pack_runs() {
        let image_tag = match platform.filter(|_| plan.several()) {
            Some(platform) => format!("{}-{}", plan.tag, platform.suffix()),
            None => plan.tag.clone(),
        };
        let pushed = format!("{}/{}:{image_tag}", target.repo, artifact.image);
        let mut argv = args(["build".to_string(), pushed.clone()]);
        argv.extend(args([
            "--path".into(),
            plan.project.join(&artifact.context).into_os_string(),
        ]));
        argv.extend(args([
            "--builder",
            artifact.builder.as_deref().unwrap_or_default(),
            "--publish",
        ]));
        if plan.add_latest && !plan.several() {
            argv.extend(args(["--tag".to_string(), tag::latest_of(&pushed)]));
        }
        for registry in &insecure {
            argv.extend(args(["--insecure-registry", registry]));
        }
        if let Some(network) = network {
            argv.extend(args(["--network", network]));
        }
        if let Some(platform) = platform {
            argv.extend(args(["--platform".to_string(), platform.to_string()]));
        }
        if let Some(cache) = plan.cache_image(&artifact.image, platform)? {
            argv.extend(args(["--cache-image".to_string(), cache]));
        }
        if let Some(dir) = &plan.sbom_dir {
            let mut dir = dir.join(&artifact.image);
            if let Some(platform) = platform.filter(|_| plan.several()) {
                dir.push(platform.suffix());
            }
            argv.extend(args([OsString::from("--sbom-output-dir"), dir.into()]));
        }
        context.runner.run(pack, &argv, Some(&plan.project), &[])?;
        parts.push(format!("{}/{}:{image_tag}", plan.repo, artifact.image));
    }
    if plan.several() {
        let docker = docker.ok_or_else(|| anyhow::anyhow!("docker was not looked up"))?;
        let mut argv = args(["buildx", "imagetools", "create", "-t", &reference]);
        if plan.add_latest {
            argv.extend(args(["-t".to_string(), tag::latest_of(&reference)]));
        }
        argv.extend(args(parts));
        context.say(&format!(
            "joining the {} images of {} into {reference}",
            plan.platforms.len(),
            artifact.image
        ));
        context
            .runner
            .run(docker, &argv, Some(&plan.project), &[])?;
    }
    Ok(Build {
        image_name: Some(artifact.image.clone()),
        tag: reference,
    })
}

/// One Dockerfile artifact: `docker build` + `docker push` (+ `:latest`), or with
/// `--platform` one `docker buildx build --push`; recorded with the digest docker reported.
fn docker_build(
    context: &Context,
    plan: &Plan,
    docker: &Path,
    artifact: &Artifact,
    dockerfile: PathBuf,
) -> Result<Build> {
    let reference = format!("{}/{}:{}", plan.repo, artifact.image, plan.tag);
    let project = plan.project.as_path();
    let context_dir = project.join(&artifact.context).into_os_string();
    context.say(&format!("building {} with docker", artifact.image));
    let digest = if plan.platforms.is_empty() {
        let mut argv = args(["build", "-t", &reference, "-f"]);
        argv.extend(args([dockerfile.into_os_string(), context_dir]));
        context.runner.run(docker, &argv, Some(project), &[])?;
        let digest = push(context, docker, &reference, project)?;
        if plan.add_latest {
            let latest = tag::latest_of(&reference);
            let tag_argv = args(["tag", &reference, &latest]);
            context.runner.run(docker, &tag_argv, Some(project), &[])?;
            let push_argv = args(["push", &latest]);
            context.runner.run(docker, &push_argv, Some(project), &[])?;
        }
        digest
    } else {
        let platforms: Vec<String> = plan.platforms.iter().map(ToString::to_string).collect();
        let metadata_dir = tempfile::tempdir().map_err(|error| {
            OpError::new(
                Code::Failure,
                format!(
                    "cannot create a temporary directory for docker buildx's metadata file: {error}"
                ),
            )
        })?;
        let metadata = metadata_dir.path().join("metadata.json");
        let mut argv = args([
            "buildx",
            "build",
            "--platform",
            &platforms.join(","),
            "-t",
            &reference,
        ]);
        if plan.add_latest {
            argv.extend(args(["-t".to_string(), tag::latest_of(&reference)]));
        }
        argv.extend(args([
            OsString::from("-f"),
            dockerfile.into_os_string(),
            "--metadata-file".into(),
            metadata.clone().into_os_string(),
            "--push".into(),
            context_dir,
        ]));
        context.runner.run(docker, &argv, Some(project), &[])?;
        let digest = (!context.runner.dry_run())
            .then(|| {
                crate::bounded::read_capped_to_string(
                    &metadata,
                    "docker buildx metadata file",
                    crate::bounded::BUILD_RESULT_CAP,
                )
                .ok()
                .and_then(|text| digest::from_buildx_metadata(&text))
            })
            .flatten();
        if digest.is_none() && !context.runner.dry_run() {
            context.runner.toolchain().output.warn(&format!(
                "docker buildx wrote no digest for {reference} to its metadata file; build_result.json records its tag alone"
            ));
        }
        digest
    };
    Ok(Build {
        image_name: Some(artifact.image.clone()),
        tag: match digest {
            Some(digest) => format!("{reference}@{digest}"),
            None => reference,
        },
    })
}

/// `docker push REF`, its output shown once it ends, and the digest it reported for REF's tag.
fn push(context: &Context, docker: &Path, reference: &str, cwd: &Path) -> Result<Option<String>> {
    let argv = args(["push", reference]);
    if context.runner.dry_run() {
        context.runner.run(docker, &argv, Some(cwd), &[])?;
        return Ok(None);
    }
    let (stdout, stderr) = context.runner.capture_all(docker, &argv, Some(cwd))?;
    let output = &context.runner.toolchain().output;
    for line in stdout.lines().chain(stderr.lines()) {
        output.info(line);
    }
    let digest = digest::from_push_output(&stdout, digest::tag_of(reference));
    if digest.is_none() {
        output.warn(&format!(
            "docker push printed no digest for {reference}; build_result.json records its tag alone"
        ));
    }
    Ok(digest)
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
