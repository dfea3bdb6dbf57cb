//! `op promote-image`: a verified copy (by digest, read back; see [`crane`]) of the built images
//! (all of them, or `--image-name`) from one environment's registry to another's.
//!
//! The one rule: an image's *path* is its reference below the registry it was built in (the
//! longest of the registries op knows that the reference starts with: the environments',
//! `PROMOTE_*_REPOSITORY`, `SKAFFOLD_DEFAULT_REPO`, `.registry`'s entries, localhost:5001); a
//! reference that names no registry (`api:1`, `team/api:1`) is a path already. The copy goes
//! from the source environment's registry + path to the destination's registry + path (its
//! digest dropped when it has a tag), so a nested path (`team/api`) is kept, never flattened
//! and never prefixed twice. A registry-qualified reference below none of those registries is
//! refused before anything is copied.
//!
//! [`crane`]: crate::pipeline::crane

use anyhow::Result;

use crate::cli::PromoteArgs;
use crate::error::{Code, OpError};
use crate::formats::build_result::{self, Build};
use crate::formats::registry_file::Registry;
use crate::pipeline::Context;
use crate::pipeline::config::{LOCAL_REGISTRY, clean_repo, is_qualified, retarget};
use crate::pipeline::crane::Crane;
use crate::pipeline::skaffold_output::is_bare_digest;
use crate::redact;
use crate::settings;

/// The settings that name a registry a build may have been pushed to.
const REGISTRY_SETTINGS: [&str; 6] = [
    "GOOGLE_GKE_IMAGE_REPOSITORY",
    "GOOGLE_GKE_IMAGE_PP_REPOSITORY",
    "GOOGLE_GKE_IMAGE_PROD_REPOSITORY",
    "PROMOTE_SOURCE_REPOSITORY",
    "PROMOTE_DESTINATION_REPOSITORY",
    "SKAFFOLD_DEFAULT_REPO",
];

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
    let mut known: Vec<String> = REGISTRY_SETTINGS
        .iter()
        .filter_map(|key| context.config.get(key))
        .chain([LOCAL_REGISTRY.to_string()])
        .map(|repo| known_registry(&repo))
        .collect();
    // Every copy is planned before the first one runs: one reference op cannot place copies
    // nothing. `.registry` is read only when the settings do not place a reference.
    let (mut copies, mut read_registry_file) = (Vec::new(), false);
    for build in &builds {
        if !read_registry_file && is_qualified(&build.tag) && built_in(&build.tag, &known).is_none()
        {
            read_registry_file = true;
            let registry = Registry::load(&context.cwd.join(".registry"), &settings::var)?;
            let listed = registry.local.into_iter().chain(registry.ci);
            known.extend(listed.map(|repo| known_registry(&repo)));
        }
        copies.push(plan(&build.tag, &known, &source, &destination)?);
    }
    let crane = Crane::new(context)?;
    for (from, to) in copies {
        context.say(&format!(
            "promoting {} -> {}",
            redact::reference(&from),
            redact::reference(&to)
        ));
        crane.copy_verified(&from, &to)?;
        if !context.runner.dry_run() {
            context.runner.toolchain().output.image(
                "promoted",
                &format!("{} → {}", redact::reference(&from), redact::reference(&to)),
            );
        }
    }
    Ok(())
}

/// A registry as build results name it: without credentials (see [`crate::pipeline::for_file`]).
fn known_registry(repo: &str) -> String {
    redact::without_credentials(&clean_repo(repo))
}

/// The registry of `known` that `reference` was built in: the longest one it starts with.
fn built_in<'k>(reference: &str, known: &'k [String]) -> Option<&'k str> {
    known
        .iter()
        .map(String::as_str)
        .filter(|registry| {
            !registry.is_empty()
                && reference
                    .strip_prefix(registry)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|registry| registry.len())
}

/// Where the image of `reference` is copied from and to, by the rule of the module comment.
pub fn plan(
    reference: &str,
    known: &[String],
    source: &str,
    destination: &str,
) -> Result<(String, String)> {
    let reference = reference.trim();
    if is_bare_digest(reference) {
        return Err(OpError::new(
            Code::Failure,
            format!("build result names the bare digest {reference}, not an image; there is nothing to promote it from"),
        )
        .with_hint("rebuild with `op push` or `op build-push`, which record full references")
        .into());
    }
    let path = if is_qualified(reference) {
        let Some(registry) = built_in(reference, known) else {
            return Err(OpError::new(
                Code::Failure,
                format!(
                    "cannot tell which registry {} was built in, so not which part of it is the image path to promote",
                    redact::reference(reference)
                ),
            )
            .with_hint("set GOOGLE_GKE_IMAGE_REPOSITORY (or SKAFFOLD_DEFAULT_REPO) to the registry the build pushed to, or list it in .registry")
            .into());
        };
        &reference[registry.len() + 1..]
    } else {
        reference
    };
    let from = format!("{source}/{path}");
    let to = retarget(&from, Some(source), destination);
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_below_the_built_registry_is_kept() {
        let known: Vec<String> = ["dev.io/p", "dev.io/p/team", "localhost:5001"]
            .map(String::from)
            .to_vec();
        for (reference, from, to) in [
            ("dev.io/p/api:1", "pp.io/q/api:1", "prod.io/r/api:1"),
            ("dev.io/p/team/api:1", "pp.io/q/api:1", "prod.io/r/api:1"),
            (
                "dev.io/p/x/api:1@sha256:ab",
                "pp.io/q/x/api:1@sha256:ab",
                "prod.io/r/x/api:1",
            ),
            ("team/api:1", "pp.io/q/team/api:1", "prod.io/r/team/api:1"),
            (
                "localhost:5001/a/b/api:1",
                "pp.io/q/a/b/api:1",
                "prod.io/r/a/b/api:1",
            ),
        ] {
            assert_eq!(
                plan(reference, &known, "pp.io/q", "prod.io/r").unwrap(),
                (from.to_string(), to.to_string()),
                "{reference}"
            );
        }
        let unknown = plan("other.io/x/api:1", &known, "pp.io/q", "prod.io/r").unwrap_err();
        assert!(
            unknown.to_string().contains("other.io/x/api:1"),
            "{unknown}"
        );
        assert!(
            plan("dev.io/pp/api:1", &known, "a.io", "b.io").is_err(),
            "a prefix is a whole component"
        );
    }
}
