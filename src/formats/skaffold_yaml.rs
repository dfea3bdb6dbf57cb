//! What `op` reads of `skaffold.yaml`: `build.artifacts[]` with `image`, `context`,
//! `buildpacks.builder` and `docker.dockerfile`, from every document of the file. The rest of
//! skaffold's schema (profiles included) is skaffold's to interpret: `op` passes `--profile` on.

use std::path::Path;

use anyhow::Result;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::bounded;
use crate::error::OpError;
use crate::formats::{reference_problem, yaml};

pub const FILE_NAME: &str = "skaffold.yaml";

const HINT: &str = "expected skaffold's schema, e.g.
  apiVersion: skaffold/v4beta11
  kind: Config
  build:
    artifacts:
      - image: api
        context: services/api
        buildpacks:
          builder: paketobuildpacks/builder-jammy-base
      - image: web
        docker:
          dockerfile: Dockerfile";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub image: String,
    /// Relative to the directory of skaffold.yaml; "." when absent.
    pub context: String,
    /// Set for buildpacks artifacts.
    pub builder: Option<String>,
    /// Set for Dockerfile artifacts: `docker.dockerfile`, else `Dockerfile` (also for an artifact
    /// that names no builder at all, which skaffold builds with docker).
    pub dockerfile: Option<String>,
    /// Another builder skaffold knows (`jib`, `ko`, `bazel`, `kaniko`, `custom`).
    pub other_builder: Option<&'static str>,
}

/// The top level of one document: skaffold's keys, so that a typo is caught here too.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(rename = "apiVersion")]
    _api_version: Option<IgnoredAny>,
    #[serde(rename = "kind")]
    _kind: Option<IgnoredAny>,
    #[serde(rename = "metadata")]
    _metadata: Option<IgnoredAny>,
    #[serde(rename = "requires")]
    _requires: Option<IgnoredAny>,
    build: Option<Build>,
    #[serde(rename = "test")]
    _test: Option<IgnoredAny>,
    #[serde(rename = "render")]
    _render: Option<IgnoredAny>,
    #[serde(rename = "manifests")]
    _manifests: Option<IgnoredAny>,
    #[serde(rename = "deploy")]
    _deploy: Option<IgnoredAny>,
    #[serde(rename = "portForward")]
    _port_forward: Option<IgnoredAny>,
    #[serde(rename = "resourceSelector")]
    _resource_selector: Option<IgnoredAny>,
    #[serde(rename = "verify")]
    _verify: Option<IgnoredAny>,
    #[serde(rename = "customActions")]
    _custom_actions: Option<IgnoredAny>,
    #[serde(rename = "profiles")]
    _profiles: Option<Vec<IgnoredAny>>,
}

/// `build`: only `artifacts` matters here; skaffold owns the other keys.
#[derive(Deserialize)]
struct Build {
    artifacts: Option<Vec<RawArtifact>>,
}

#[derive(Deserialize)]
struct RawArtifact {
    image: String,
    context: Option<String>,
    buildpacks: Option<Buildpacks>,
    docker: Option<Docker>,
    jib: Option<IgnoredAny>,
    ko: Option<IgnoredAny>,
    bazel: Option<IgnoredAny>,
    kaniko: Option<IgnoredAny>,
    custom: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Buildpacks {
    builder: String,
}

#[derive(Deserialize)]
struct Docker {
    dockerfile: Option<String>,
}

/// Reads the artifacts of `path`; a missing file is exit 2.
pub fn load(path: &Path) -> Result<Vec<Artifact>> {
    let Some(text) = yaml::read(path, "skaffold file", bounded::SKAFFOLD_CAP)? else {
        return Err(OpError::config(format!("{} not found", path.display()))
            .with_hint(
                "run op in the app repository (where skaffold.yaml is), or pass --skaffold-file",
            )
            .into());
    };
    parse(&text, path)
}

/// The artifacts of every document, in file order; `path` is for messages.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Artifact>> {
    let documents: Vec<Document> = yaml::from_multiple(text, path, HINT)?;
    let mut artifacts = Vec::new();
    for (number, document) in documents.into_iter().enumerate() {
        let items = document
            .build
            .and_then(|build| build.artifacts)
            .unwrap_or_default();
        for (index, raw) in items.into_iter().enumerate() {
            let place = format!("document {} build.artifacts[{index}]", number + 1);
            let fail = |message: String| -> anyhow::Error {
                OpError::config(format!("{}: {place}.{message}", path.display()))
                    .with_hint(HINT)
                    .into()
            };
            if raw.image.trim().is_empty() {
                return Err(fail("image is empty".into()));
            }
            let printed = [
                ("image", Some(&raw.image)),
                ("context", raw.context.as_ref()),
                (
                    "buildpacks.builder",
                    raw.buildpacks.as_ref().map(|b| &b.builder),
                ),
                (
                    "docker.dockerfile",
                    raw.docker.as_ref().and_then(|d| d.dockerfile.as_ref()),
                ),
            ];
            for (field, value) in printed {
                if let Some(problem) = value.and_then(|value| reference_problem(value)) {
                    return Err(fail(format!("{field} {problem}")));
                }
            }
            let other_builder = [
                ("jib", raw.jib.is_some()),
                ("ko", raw.ko.is_some()),
                ("bazel", raw.bazel.is_some()),
                ("kaniko", raw.kaniko.is_some()),
                ("custom", raw.custom.is_some()),
            ]
            .into_iter()
            .find_map(|(name, present)| present.then_some(name));
            let builder = match raw.buildpacks {
                Some(buildpacks) if buildpacks.builder.trim().is_empty() => {
                    return Err(fail("buildpacks.builder is empty".into()));
                }
                Some(buildpacks) => Some(buildpacks.builder),
                None => None,
            };
            let dockerfile = match raw.docker {
                Some(docker) => Some(docker.dockerfile.unwrap_or_else(|| "Dockerfile".into())),
                None if builder.is_none() && other_builder.is_none() => {
                    Some("Dockerfile".to_string())
                }
                None => None,
            };
            artifacts.push(Artifact {
                image: raw.image,
                context: raw
                    .context
                    .filter(|context| !context.is_empty())
                    .unwrap_or_else(|| ".".to_string()),
                builder,
                dockerfile,
                other_builder,
            });
        }
    }
    Ok(artifacts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Vec<Artifact> {
        parse(text, Path::new("skaffold.yaml")).unwrap()
    }

    #[test]
    fn artifacts_from_every_document() {
        let text = "apiVersion: skaffold/v4beta11\nkind: Config\nmetadata: {name: app}\nbuild:\n  tagPolicy: {gitCommit: {}}\n  artifacts:\n    - image: api\n      context: services/api\n      buildpacks:\n        builder: paketobuildpacks/builder-jammy-base\n        env: [GOOGLE_RUNTIME_VERSION=3.12]\n    - image: web\n      docker: {}\n      sync: {infer: ['**/*.html']}\nprofiles:\n  - name: push\n    build: {local: {push: true}}\ndeploy: {helm: {}}\n---\n# second config\n---\nbuild:\n  artifacts:\n    - image: worker\n      docker:\n        dockerfile: Dockerfile.worker\n    - image: plain\n    - image: jvm\n      jib: {}\n";
        let artifacts = parse_ok(text);
        let summary: Vec<_> = artifacts
            .iter()
            .map(|artifact| {
                (
                    artifact.image.as_str(),
                    artifact.context.as_str(),
                    artifact.builder.as_deref(),
                    artifact.dockerfile.as_deref(),
                    artifact.other_builder,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "api",
                    "services/api",
                    Some("paketobuildpacks/builder-jammy-base"),
                    None,
                    None
                ),
                ("web", ".", None, Some("Dockerfile"), None),
                ("worker", ".", None, Some("Dockerfile.worker"), None),
                ("plain", ".", None, Some("Dockerfile"), None),
                ("jvm", ".", None, None, Some("jib")),
            ]
        );
    }

    #[test]
    fn files_without_artifacts() {
        for text in [
            "",
            "# nothing\n",
            "apiVersion: skaffold/v4beta11\nkind: Config\n",
            "build:\n",
            "build:\n  artifacts:\n",
            "build: {artifacts: []}\n",
        ] {
            assert!(parse_ok(text).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn bad_files_name_file_line_and_field() {
        for (text, needle) in [
            ("build: [1]", "line 1 column 8: expected a mapping"),
            (
                "build:\n  artifacts: {}",
                "line 2 column 14: expected a list",
            ),
            (
                "build:\n  artifacts:\n    - context: x",
                "missing field `image`",
            ),
            (
                "build:\n  artifacts:\n    - image: [a]",
                "line 3 column 14: expected a text value",
            ),
            (
                "build:\n  artifacts:\n    - image: ''",
                "document 1 build.artifacts[0].image is empty",
            ),
            (
                "build:\n  artifacts:\n    - image: a\n      buildpacks: {}",
                "missing field `builder`",
            ),
            (
                "---\nkind: Config\n---\nbuild:\n  artifacts:\n    - image: a\n      buildpacks: {builder: ''}",
                "document 2 build.artifacts[0].buildpacks.builder is empty",
            ),
            (
                "build:\n  artifacts:\n    - image: a\n      docker: {dockerfile: [x]}",
                "line 4 column 28: expected a text value",
            ),
            ("biuld:\n  artifacts: []\n", "unknown field `biuld`"),
            (
                "build:\n  artifacts:\n    - image: a\n      buildpacks: {builder: \"b\\n::x\"}",
                "document 1 build.artifacts[0].buildpacks.builder contains a control character (U+000A)",
            ),
            ("build: {artifacts: [", "skaffold.yaml: line 1"),
            ("- image: a\n", "expected a mapping"),
        ] {
            let error = parse(text, Path::new("skaffold.yaml")).unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with("skaffold.yaml: ") && message.contains(needle),
                "{text:?}: {message}"
            );
            assert_eq!(crate::error::exit_code(&error), 2);
        }
        let missing = load(Path::new("/nonexistent/skaffold.yaml")).unwrap_err();
        assert_eq!(crate::error::exit_code(&missing), 2);
        assert!(
            missing
                .to_string()
                .contains("/nonexistent/skaffold.yaml not found")
        );
    }
}
