//! `op run <context>` and `op run context list`: run a built image with docker, with ports, env
//! and volumes from `.run.yaml` and the app's port inferred from its sources.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;

use crate::cli::RunArgs;
use crate::error::{Code, OpError};
use crate::formats::build_result;
use crate::formats::run_file::RunFile;
use crate::formats::skaffold_yaml::{self, Artifact};
use crate::pipeline::{Context, args, ports};

fn same_context(a: &str, b: &str) -> bool {
    let normal = |text: &str| {
        text.trim_start_matches("./")
            .trim_end_matches('/')
            .to_string()
    };
    normal(a) == normal(b)
}

pub fn run(context: &Context, options: &RunArgs) -> Result<()> {
    let skaffold_file = context.absolute(&options.skaffold_file);
    let artifacts = skaffold_yaml::load(&skaffold_file)?;
    if artifacts.is_empty() {
        return Err(OpError::config(format!(
            "{} has no build artifacts",
            skaffold_file.display()
        ))
        .into());
    }
    let project = skaffold_file.parent().unwrap_or(&context.cwd).to_path_buf();
    match options
        .args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["context", "list"] => {
            context
                .runner
                .toolchain()
                .output
                .data("Contexts (use: op run <context>):");
            for artifact in &artifacts {
                let port = ports::infer(&project.join(&artifact.context));
                context.runner.toolchain().output.data(&format!(
                    "  {} (image {}, container port {port})",
                    artifact.context, artifact.image
                ));
            }
            Ok(())
        }
        [name] => {
            let Some(artifact) = artifacts
                .iter()
                .find(|artifact| same_context(&artifact.context, name) || artifact.image == *name)
            else {
                let known: Vec<&str> = artifacts
                    .iter()
                    .map(|artifact| artifact.context.as_str())
                    .collect();
                return Err(OpError::new(
                    Code::Failure,
                    format!("unknown context `{name}`; contexts: {}", known.join(", ")),
                )
                .with_hint("list them with `op run context list`")
                .into());
            };
            run_artifact(context, artifact, &project)
        }
        _ => Err(OpError::config("usage: op run context list  |  op run <context>").into()),
    }
}

fn run_artifact(context: &Context, artifact: &Artifact, project: &Path) -> Result<()> {
    let run_file = RunFile::load(&context.cwd)?;
    let result_path = context.cwd.join(build_result::FILE_NAME);
    let image = if result_path.is_file() {
        let builds = build_result::read(&result_path)?;
        match builds.iter().find(|build| build.matches(&artifact.image)) {
            Some(build) => build.tag.clone(),
            None => {
                let tags: Vec<&str> = builds.iter().map(|build| build.tag.as_str()).collect();
                return Err(OpError::new(
                    Code::Failure,
                    format!(
                        "context `{}` (image {}) was not in the last build; {} holds: {}",
                        artifact.context,
                        artifact.image,
                        result_path.display(),
                        tags.join(", ")
                    ),
                )
                .with_hint("build it first: `op build-push` (or `op push`)")
                .into());
            }
        }
    } else {
        let repo = context.config.local_repo(None, &context.cwd)?;
        format!(
            "{repo}/{}:{}",
            artifact.image,
            run_file.tag.clone().unwrap_or_else(|| "latest".into())
        )
    };
    let options = run_file
        .context(&artifact.context)
        .cloned()
        .unwrap_or_default();
    let container_port = ports::infer(&project.join(&artifact.context));
    let mut env = vec![("PORT".to_string(), container_port.to_string())];
    for (key, value) in options.env {
        match env.iter_mut().find(|(existing, _)| *existing == key) {
            Some(slot) => slot.1 = value,
            None => env.push((key, value)),
        }
    }
    let port_maps = if options.ports.is_empty() {
        let host = ports::free_host_port()
            .ok_or_else(|| OpError::new(Code::Failure, "no free host port in 8080-8179"))?;
        context.say(&format!("mapped to http://localhost:{host}"));
        vec![format!("{host}:{container_port}")]
    } else {
        options.ports
    };
    let mut argv = args(["run", "--rm"]);
    if std::io::stdin().is_terminal() {
        argv.extend(args(["-it"]));
    }
    for port in port_maps {
        argv.extend(args(["-p".to_string(), port]));
    }
    for (key, value) in env {
        argv.extend(args(["-e".to_string(), format!("{key}={value}")]));
    }
    for volume in options.volumes {
        argv.extend(args([
            "-v".to_string(),
            absolute_volume(&context.cwd, &volume),
        ]));
    }
    argv.extend(args([image]));
    let docker = context.runner.from_path("docker")?;
    context.runner.run(&docker, &argv, Some(&context.cwd), &[])
}

/// `./data:/data` → `<cwd>/data:/data`: docker needs absolute host paths for bind mounts.
fn absolute_volume(cwd: &Path, volume: &str) -> String {
    match volume.split_once(':') {
        Some((host, rest)) if host.starts_with("./") || host.starts_with("../") || host == "." => {
            format!("{}:{rest}", cwd.join(host).display())
        }
        _ => volume.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_volumes_become_absolute() {
        assert_eq!(
            absolute_volume(Path::new("/repo"), "./data:/data:ro"),
            "/repo/./data:/data:ro"
        );
        assert_eq!(
            absolute_volume(Path::new("/repo"), "named:/data"),
            "named:/data"
        );
        assert!(same_context("./api", "api/"));
    }
}
