//! `build_result.json`, the hand-off between steps: written in skaffold's shape
//! `{"builds":[{"imageName":…,"tag":…}]}` (atomically), read from that shape or a list of strings.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::error::OpError;

pub const FILE_NAME: &str = "build_result.json";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Build {
    #[serde(rename = "imageName", skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// The full image reference (`registry/path/name:tag[@sha256:…]`).
    pub tag: String,
}

impl Build {
    /// The image name: `imageName`, else the last path component of the reference without tag/digest.
    pub fn name(&self) -> String {
        if let Some(name) = &self.image_name {
            return name.clone();
        }
        let without_digest = self.tag.split('@').next().unwrap_or(&self.tag);
        let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
        last.split(':').next().unwrap_or(last).to_string()
    }

    pub fn matches(&self, image: &str) -> bool {
        self.image_name.as_deref() == Some(image)
            || self.name() == image
            || self.name() == image.rsplit('/').next().unwrap_or(image)
    }
}

/// `--build-result PATH`: a file, or a directory holding `build_result.json`.
pub fn resolve(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_path_buf()
    }
}

pub fn read(path: &Path) -> Result<Vec<Build>> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        OpError::config(format!("cannot read {}: {error}", path.display()))
            .with_hint("run `op push` or `op build-push` first, or pass --build-result PATH")
    })?;
    parse(&text, path)
}

pub fn parse(text: &str, path: &Path) -> Result<Vec<Build>> {
    let fail = |message: String| -> anyhow::Error {
        OpError::config(format!("{}: {message}", path.display()))
            .with_hint("expected {\"builds\": [{\"imageName\": \"app\", \"tag\": \"registry/app:1.0.0\"}]}")
            .into()
    };
    let value: Value = serde_json::from_str(text).map_err(|error| {
        fail(format!(
            "invalid JSON at line {} column {}: {error}",
            error.line(),
            error.column()
        ))
    })?;
    let Some(builds) = value.get("builds") else {
        return Err(fail("missing the `builds` list".into()));
    };
    let Value::Array(items) = builds else {
        return Err(fail("`builds` must be a list".into()));
    };
    if items.is_empty() {
        return Err(fail(
            "`builds` is empty; the build produced no image".into(),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(tag) if !tag.is_empty() => Ok(Build {
                image_name: None,
                tag: tag.clone(),
            }),
            Value::Object(fields) => {
                let tag = match fields.get("tag") {
                    Some(Value::String(tag)) if !tag.is_empty() => tag.clone(),
                    _ => return Err(fail(format!("builds[{index}] needs a string `tag`"))),
                };
                let image_name = match fields.get("imageName") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(name)) => Some(name.clone()),
                    Some(_) => {
                        return Err(fail(format!("builds[{index}].imageName must be a string")));
                    }
                };
                Ok(Build { image_name, tag })
            }
            _ => Err(fail(format!(
                "builds[{index}] must be an object with `tag` or a string"
            ))),
        })
        .collect()
}

pub fn render(builds: &[Build]) -> String {
    #[derive(Serialize)]
    struct File<'a> {
        builds: &'a [Build],
    }
    let mut text = serde_json::to_string_pretty(&File { builds }).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_shapes_and_round_trips() {
        let path = Path::new("build_result.json");
        let builds = parse(
            r#"{"builds":[{"imageName":"api","tag":"r.io/acme/api:1.0@sha256:ab"},"r.io/web:2"]}"#,
            path,
        )
        .unwrap();
        assert_eq!(builds[0].name(), "api");
        assert_eq!(builds[1].name(), "web");
        assert!(builds[1].matches("acme/web"));
        assert_eq!(parse(&render(&builds), path).unwrap(), builds);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let path = Path::new("out/build_result.json");
        for (text, needle) in [
            ("{", "invalid JSON"),
            ("{}", "missing the `builds` list"),
            ("[]", "missing the `builds` list"),
            (r#"{"builds": {}}"#, "must be a list"),
            (r#"{"builds": []}"#, "is empty"),
            (
                r#"{"builds": [{"imageName": "x"}]}"#,
                "builds[0] needs a string `tag`",
            ),
            (r#"{"builds": [5]}"#, "builds[0] must be an object"),
        ] {
            let error = parse(text, path).unwrap_err().to_string();
            assert!(
                error.contains(needle) && error.contains("out/build_result.json"),
                "{text}: {error}"
            );
        }
    }
}
