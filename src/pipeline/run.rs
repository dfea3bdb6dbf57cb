//! `op run <context>` and `op run context list`: run a built image with docker, with ports, env
//! and volumes from `.run.yaml` and the app's port inferred from its sources.

use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};

use anyhow::Result;

use crate::bounded;
use crate::cli::RunArgs;
use crate::error::{Code, OpError};
use crate::formats::build_result;
use crate::formats::run_file::{ContextOptions, RunFile};
use crate::formats::skaffold_yaml::Artifact;
use crate::pipeline::runner::describe;
use crate::pipeline::{Context, args, ports};

pub const USAGE: &str = "Usage: op run context list  |  op run <context>";

/// `./api`, `api/` and `api` name the same context.
fn same_context(a: &str, b: &str) -> bool {
    let normal = |text: &str| {
        let mut text = text.trim();
        while let Some(rest) = text.strip_prefix("./") {
            text = rest;
        }
        text.trim_end_matches('/').to_string()
    };
    normal(a) == normal(b)
}

pub fn run(context: &Context, options: &RunArgs) -> Result<()> {
    let (skaffold_file, artifacts) =
        context.skaffold_file(&options.skaffold_file, Some("--skaffold-file"))?;
    if artifacts.is_empty() {
        return Err(OpError::new(
            Code::Failure,
            format!("No artifacts in {}.", skaffold_file.display()),
        )
        .with_hint("add build.artifacts to skaffold.yaml, or pass --skaffold-file")
        .into());
    }
    // Contexts are relative to skaffold.yaml, as skaffold reads them.
    let project = skaffold_file.parent().unwrap_or(&context.cwd).to_path_buf();
    let words: Vec<&str> = options.args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["context", "list"] => {
            let output = &context.runner.toolchain().output;
            output.data("Contexts (use: op run <context>):");
            for artifact in &artifacts {
                let port = ports::infer(&project.join(&artifact.context));
                output.data(&format!("  {} (container {port})", artifact.context));
            }
            Ok(())
        }
        [name] => {
            let Some(artifact) = artifacts
                .iter()
                .find(|artifact| same_context(&artifact.context, name))
                .or_else(|| artifacts.iter().find(|artifact| artifact.image == *name))
            else {
                let known: Vec<&str> = artifacts
                    .iter()
                    .map(|artifact| artifact.context.as_str())
                    .collect();
                return Err(OpError::new(
                    Code::Failure,
                    format!(
                        "Unknown context: {name}. Use \"op run context list\" to list contexts."
                    ),
                )
                .with_hint(format!(
                    "the contexts of skaffold.yaml: {}",
                    known.join(", ")
                ))
                .into());
            };
            run_artifact(context, artifact, &project)
        }
        _ => Err(OpError::config(USAGE).into()),
    }
}

/// The image to run: the artifact's entry in `./build_result.json`, else
/// `<default repo>/<image>:<.run.yaml tag or latest>`.
fn image(context: &Context, artifact: &Artifact, run_file: &RunFile) -> Result<String> {
    let result_path = context.cwd.join(build_result::FILE_NAME);
    // Anything by that name is read (and refused if it is not a regular file), never skipped.
    if !bounded::exists(&result_path) {
        let repo = context.config.local_repo(None, &context.cwd)?;
        let tag = run_file.tag.as_deref().unwrap_or("latest");
        return Ok(format!("{repo}/{}:{tag}", artifact.image));
    }
    let builds = build_result::read(&result_path)?;
    if let Some(build) = builds.iter().find(|build| build.matches(&artifact.image)) {
        return Ok(build.tag.clone());
    }
    let tags: Vec<&str> = builds.iter().map(|build| build.tag.as_str()).collect();
    Err(OpError::new(
        Code::Failure,
        format!(
            "Context '{}' (image {}) was not in the last build.\n{} contains: {}.",
            artifact.context,
            artifact.image,
            result_path.display(),
            tags.join(", ")
        ),
    )
    .with_hint(
        "Build this image with 'op build-push' or 'op push' (all artifacts), then run it again.",
    )
    .into())
}

/// The `.run.yaml` options of an artifact: by its context, else by its image name.
fn options_for(run_file: &RunFile, artifact: &Artifact) -> ContextOptions {
    run_file
        .contexts
        .iter()
        .find(|(name, _)| same_context(name, &artifact.context))
        .or_else(|| {
            run_file
                .contexts
                .iter()
                .find(|(name, _)| *name == artifact.image)
        })
        .map(|(_, options)| options.clone())
        .unwrap_or_default()
}

fn run_artifact(context: &Context, artifact: &Artifact, project: &Path) -> Result<()> {
    let run_file = RunFile::load(&context.cwd)?;
    let image = image(context, artifact, &run_file)?;
    let options = options_for(&run_file, artifact);
    let container_port = ports::infer(&project.join(&artifact.context));
    let mut env = vec![("PORT".to_string(), container_port.to_string())];
    for (key, value) in options.env {
        match env.iter_mut().find(|(existing, _)| *existing == key) {
            Some(slot) => slot.1 = value,
            None => env.push((key, value)),
        }
    }
    let port_maps = if options.ports.is_empty() {
        let host = ports::free_host_port().ok_or_else(|| {
            OpError::new(
                Code::Failure,
                format!(
                    "No free port in range [{}, {}]",
                    ports::HOST_PORTS.start(),
                    ports::HOST_PORTS.end()
                ),
            )
            .with_hint("free one, or set contexts.<context>.ports in .run.yaml")
        })?;
        context.say(&format!("Mapped to http://localhost:{host}"));
        vec![format!("{host}:{container_port}")]
    } else {
        options.ports
    };
    let argv = docker_run_argv(
        &port_maps,
        &env,
        &options
            .volumes
            .iter()
            .map(|volume| absolute_volume(&context.cwd, volume))
            .collect::<Vec<_>>(),
        &image,
        std::io::stdin().is_terminal(),
    );
    let docker = context.runner.from_path("docker")?;
    if !context.runner.dry_run() {
        context.say(&format!("Running: {}", describe(&docker, &argv, None, &[])));
    }
    context.runner.run(&docker, &argv, Some(&context.cwd), &[])
}

/// `docker run --rm [-it] -p … -e K=V … -v … IMAGE`. `-it` only with a terminal: without one
/// docker refuses `-t` ("the input device is not a TTY"), e.g. in CI.
pub fn docker_run_argv(
    ports: &[String],
    env: &[(String, String)],
    volumes: &[String],
    image: &str,
    terminal: bool,
) -> Vec<std::ffi::OsString> {
    let mut argv = args(["run", "--rm"]);
    if terminal {
        argv.extend(args(["-it"]));
    }
    for port in ports {
        argv.extend(args(["-p", port]));
    }
    for (key, value) in env {
        argv.extend(args(["-e".to_string(), format!("{key}={value}")]));
    }
    for volume in volumes {
        argv.extend(args(["-v", volume]));
    }
    argv.extend(args([image]));
    argv
}

/// `./data:/data` → `<cwd>/data:/data`: docker takes a relative host path for a volume name.
fn absolute_volume(cwd: &Path, volume: &str) -> String {
    let Some((host, rest)) = volume.split_once(':') else {
        return volume.to_string();
    };
    let relative = host == "." || host == ".." || host.starts_with("./") || host.starts_with("../");
    if !relative {
        return volume.to_string();
    }
    let mut path = PathBuf::from(cwd);
    for component in Path::new(host).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                path.pop();
            }
            other => path.push(other),
        }
    }
    format!("{}:{rest}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_volumes_become_absolute() {
        let cwd = Path::new("/repo/app");
        // The host side is the platform's path: `\` between its parts on Windows.
        let host = |path: &Path| path.display().to_string();
        assert_eq!(
            absolute_volume(cwd, "./data:/data:ro"),
            format!("{}:/data:ro", host(&cwd.join("data")))
        );
        assert_eq!(absolute_volume(cwd, ".:/src"), "/repo/app:/src");
        assert_eq!(
            absolute_volume(cwd, "../shared:/shared"),
            format!("{}:/shared", host(&Path::new("/repo").join("shared")))
        );
        assert_eq!(absolute_volume(cwd, "named:/data"), "named:/data");
        assert_eq!(absolute_volume(cwd, "/abs:/data"), "/abs:/data");
        assert_eq!(absolute_volume(cwd, "/anonymous"), "/anonymous");
    }

    #[test]
    fn contexts_compare_without_dot_slash() {
        assert!(same_context("./api", "api/"));
        assert!(same_context("././api", "api"));
        assert!(!same_context("api", "web"));
    }

    #[test]
    fn docker_argv_order_and_terminal() {
        let env = [("PORT".to_string(), "5000".to_string())];
        let argv = docker_run_argv(
            &["8080:5000".into()],
            &env,
            &["/r/d:/d".into()],
            "r.io/api:1",
            true,
        );
        let argv: Vec<String> = argv
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            argv,
            [
                "run",
                "--rm",
                "-it",
                "-p",
                "8080:5000",
                "-e",
                "PORT=5000",
                "-v",
                "/r/d:/d",
                "r.io/api:1"
            ]
        );
        assert!(!docker_run_argv(&[], &env, &[], "x", false).contains(&"-it".into()));
    }

    #[test]
    fn run_yaml_options_by_context_then_image() {
        let artifact = crate::formats::skaffold_yaml::parse(
            "build:\n  artifacts:\n    - image: api\n      context: services/api\n",
            Path::new("skaffold.yaml"),
        )
        .unwrap()
        .remove(0);
        let options = |volumes: &[&str]| ContextOptions {
            volumes: volumes.iter().map(|v| v.to_string()).collect(),
            ..ContextOptions::default()
        };
        let mut file = RunFile {
            contexts: vec![
                ("api".into(), options(&["by-image"])),
                ("./services/api/".into(), options(&["by-context"])),
            ],
            ..RunFile::default()
        };
        assert_eq!(options_for(&file, &artifact).volumes, ["by-context"]);
        file.contexts.remove(1);
        assert_eq!(options_for(&file, &artifact).volumes, ["by-image"]);
        file.contexts.clear();
        assert_eq!(options_for(&file, &artifact), ContextOptions::default());
    }
}
