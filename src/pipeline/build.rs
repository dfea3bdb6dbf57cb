//! `op build`: the pinned skaffold builds every artifact (no push), tagged with the release tag,
//! with skaffold's profile, label and namespace from the configuration.

use std::path::Path;

use anyhow::Result;

use crate::cli::BuildArgs;
use crate::formats::skaffold_yaml;
use crate::pipeline::{Context, args, tag};

/// `skaffold build --cache-artifacts=false --default-repo R [--tag T] [--profile P] [--label L]
/// [--namespace N]` in the project directory.
pub fn build(context: &Context, options: &BuildArgs) -> Result<()> {
    let repo = context
        .config
        .local_repo(options.repo.as_deref(), &context.cwd)?;
    // skaffold reads ./skaffold.yaml; without one, say so rather than install and run it.
    context.skaffold_file(Path::new(skaffold_yaml::FILE_NAME), None)?;
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
