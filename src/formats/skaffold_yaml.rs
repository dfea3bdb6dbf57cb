//! What `op` reads of `skaffold.yaml`: `build.artifacts[]` with `image`, `context`,
//! `buildpacks.builder` and `docker.dockerfile`, from every document of the file.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use crate::error::OpError;
use crate::formats::yaml;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub image: String,
    /// Relative to the directory of skaffold.yaml; "." when absent.
    pub context: String,
    pub builder: Option<String>,
    /// Set for Dockerfile artifacts (`docker: {}` means `Dockerfile`).
    pub dockerfile: Option<String>,
}

pub fn load(path: &Path) -> Result<Vec<Artifact>> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        OpError::config(format!("cannot read {}: {error}", path.display())).with_hint(
            "run op in the app repository (where skaffold.yaml is), or pass --skaffold-file",
        )
    })?;
    parse(&text, path)
}

pub fn parse(text: &str, path: &Path) -> Result<Vec<Artifact>> {
    let fail = |message: String| -> anyhow::Error {
        OpError::config(format!("{}: {message}", path.display())).into()
    };
    let mut artifacts = Vec::new();
    for (number, document) in yaml::parse_all(text, path)?.iter().enumerate() {
        let place = |field: &str| format!("document {}: {field}", number + 1);
        let build = match document {
            Value::Object(map) => map.get("build"),
            Value::Null => None,
            other => {
                return Err(fail(format!(
                    "{}: expected a mapping, got {}",
                    place("top level"),
                    yaml::kind(other)
                )));
            }
        };
        let items = match build {
            None | Some(Value::Null) => continue,
            Some(Value::Object(build)) => match build.get("artifacts") {
                None | Some(Value::Null) => continue,
                Some(Value::Array(items)) => items,
                Some(other) => {
                    return Err(fail(format!(
                        "{} must be a list, got {}",
                        place("build.artifacts"),
                        yaml::kind(other)
                    )));
                }
            },
            Some(other) => {
                return Err(fail(format!(
                    "{} must be a mapping, got {}",
                    place("build"),
                    yaml::kind(other)
                )));
            }
        };
        for (index, item) in items.iter().enumerate() {
            let field = |name: &str| place(&format!("build.artifacts[{index}].{name}"));
            let Value::Object(item) = item else {
                return Err(fail(format!(
                    "{} must be a mapping",
                    place(&format!("build.artifacts[{index}]"))
                )));
            };
            let image = match item.get("image") {
                Some(Value::String(image)) if !image.is_empty() => image.clone(),
                _ => return Err(fail(format!("{} is required (a string)", field("image")))),
            };
            let context = match item.get("context") {
                None | Some(Value::Null) => ".".to_string(),
                Some(Value::String(context)) => context.clone(),
                Some(other) => {
                    return Err(fail(format!(
                        "{} must be a string, got {}",
                        field("context"),
                        yaml::kind(other)
                    )));
                }
            };
            let builder = match item.get("buildpacks") {
                None | Some(Value::Null) => None,
                Some(Value::Object(buildpacks)) => match buildpacks.get("builder") {
                    Some(Value::String(builder)) if !builder.is_empty() => Some(builder.clone()),
                    _ => {
                        return Err(fail(format!(
                            "{} is required for a buildpacks artifact",
                            field("buildpacks.builder")
                        )));
                    }
                },
                Some(other) => {
                    return Err(fail(format!(
                        "{} must be a mapping, got {}",
                        field("buildpacks"),
                        yaml::kind(other)
                    )));
                }
            };
            let dockerfile = match item.get("docker") {
                None => None,
                Some(Value::Null) => Some("Dockerfile".to_string()),
                Some(Value::Object(docker)) => match docker.get("dockerfile") {
                    None | Some(Value::Null) => Some("Dockerfile".to_string()),
                    Some(Value::String(file)) => Some(file.clone()),
                    Some(other) => {
                        return Err(fail(format!(
                            "{} must be a string, got {}",
                            field("docker.dockerfile"),
                            yaml::kind(other)
                        )));
                    }
                },
                Some(other) => {
                    return Err(fail(format!(
                        "{} must be a mapping, got {}",
                        field("docker"),
                        yaml::kind(other)
                    )));
                }
            };
            artifacts.push(Artifact {
                image,
                context,
                builder,
                dockerfile,
            });
        }
    }
    Ok(artifacts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_from_every_document() {
        let text = "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n    - image: api\n      context: services/api\n      buildpacks:\n        builder: paketobuildpacks/builder-jammy-base\n    - image: web\n      docker: {}\nprofiles:\n  - name: push\n---\nbuild:\n  artifacts:\n    - image: worker\n      docker:\n        dockerfile: Dockerfile.worker\n";
        let artifacts = parse(text, Path::new("skaffold.yaml")).unwrap();
        assert_eq!(artifacts.len(), 3);
        assert_eq!(artifacts[0].context, "services/api");
        assert_eq!(
            artifacts[0].builder.as_deref(),
            Some("paketobuildpacks/builder-jammy-base")
        );
        assert_eq!(
            (
                artifacts[1].context.as_str(),
                artifacts[1].dockerfile.as_deref()
            ),
            (".", Some("Dockerfile"))
        );
        assert_eq!(
            artifacts[2].dockerfile.as_deref(),
            Some("Dockerfile.worker")
        );
    }

    #[test]
    fn bad_files_name_the_field() {
        for (text, needle) in [
            ("build: [1]", "document 1: build must be a mapping"),
            ("build:\n  artifacts: {}", "build.artifacts must be a list"),
            (
                "build:\n  artifacts:\n    - context: x",
                "build.artifacts[0].image is required",
            ),
            (
                "build:\n  artifacts:\n    - image: a\n      buildpacks: {}",
                "buildpacks.builder is required",
            ),
            ("build: {artifacts: [", "invalid YAML"),
        ] {
            let error = parse(text, Path::new("skaffold.yaml"))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(needle) && error.contains("skaffold.yaml"),
                "{text:?}: {error}"
            );
        }
    }
}
