//! `op promote-image`: `crane copy` of the built images (all of them, or `--image-name`) from
//! one environment's registry to another's; a reference is never double-prefixed.

use anyhow::Result;

use crate::cli::PromoteArgs;
use crate::error::{Code, OpError};
use crate::formats::build_result::{self, Build};
use crate::pipeline::config::{is_qualified, retarget};
use crate::pipeline::{Context, args};
use crate::redact;

/// The builds an option selects: the one named `image`, or all of them.
pub fn select(
    builds: Vec<Build>,
    image: Option<&str>,
    path: &std::path::Path,
) -> Result<Vec<Build>> {
    let Some(image) = image else {
        return Ok(builds);
    };
    let names: Vec<String> = builds.iter().map(Build::name).collect();
    let chosen: Vec<Build> = builds
        .into_iter()
        .filter(|build| build.matches(image))
        .collect();
    if chosen.is_empty() {
        return Err(OpError::new(
            Code::Failure,
            format!(
                "{} has no image `{image}`; it has: {}",
                path.display(),
                names.join(", ")
            ),
        )
        .into());
    }
    Ok(chosen)
}

pub fn promote(context: &Context, options: &PromoteArgs) -> Result<()> {
    let source = context
        .config
        .environment_repo(options.source, "PROMOTE_SOURCE_REPOSITORY");
    let destination = context.config.environment_repo(
        options.destination.environment(),
        "PROMOTE_DESTINATION_REPOSITORY",
    );
    let (source, destination) = match (source, destination) {
        (Some(source), Some(destination)) => (source, destination),
        (source, _) => {
            let (side, variable) = if source.is_none() {
                ("source", "PROMOTE_SOURCE_REPOSITORY")
            } else {
                ("destination", "PROMOTE_DESTINATION_REPOSITORY")
            };
            return Err(OpError::new(
                Code::Failure,
                format!("the {side} registry of the promotion is not configured"),
            )
            .with_hint(format!(
                "set GOOGLE_GKE_IMAGE_REPOSITORY (dev), GOOGLE_GKE_IMAGE_PP_REPOSITORY (pp) or GOOGLE_GKE_IMAGE_PROD_REPOSITORY (prod), or {variable}, in the environment or the --config file"
            ))
            .into());
        }
    };
    let path = build_result::resolve(&context.absolute(&options.build_result));
    let builds = select(
        build_result::read(&path)?,
        options.image_name.as_deref(),
        &path,
    )?;
    let crane = context.runner.pinned("crane")?;
    for build in builds {
        // A qualified reference is where the image is; a bare one is in the source registry.
        let from = if is_qualified(&build.tag) {
            build.tag.clone()
        } else {
            format!("{source}/{}", build.tag)
        };
        let to = retarget(&build.tag, Some(&source), &destination);
        context.say(&format!(
            "promoting {} -> {}",
            redact::reference(&from),
            redact::reference(&to)
        ));
        context
            .runner
            .run(&crane, &args(["copy", &from, &to]), Some(&context.cwd), &[])?;
    }
    Ok(())
}
