//! `.run.yaml` (or, only when it is absent, `.github/octopilot.yaml`): how `op run` runs each
//! context: `default_repo`, `tag`, `contexts.<name>.{ports, env, volumes}`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::error::OpError;
use crate::formats::yaml;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextOptions {
    pub ports: Vec<String>,
    /// In file order.
    pub env: Vec<(String, String)>,
    pub volumes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFile {
    pub path: Option<PathBuf>,
    pub default_repo: Option<String>,
    pub tag: Option<String>,
    pub contexts: Vec<(String, ContextOptions)>,
}

impl RunFile {
    /// `.run.yaml` in `dir`, else `.github/octopilot.yaml`, else an empty configuration.
    pub fn load(dir: &Path) -> Result<RunFile> {
        for candidate in [
            dir.join(".run.yaml"),
            dir.join(".github").join("octopilot.yaml"),
        ] {
            if let Some(value) = yaml::load(&candidate)? {
                let mut file = RunFile::from_value(&value, &candidate)?;
                file.path = Some(candidate);
                return Ok(file);
            }
        }
        Ok(RunFile::default())
    }

    pub fn context(&self, name: &str) -> Option<&ContextOptions> {
        self.contexts
            .iter()
            .find(|(context, _)| context == name)
            .map(|(_, options)| options)
    }

    pub fn from_value(value: &Value, path: &Path) -> Result<RunFile> {
        let fail = |message: String| -> anyhow::Error {
            OpError::config(format!("{}: {message}", path.display()))
                .with_hint("expected:\n  default_repo: localhost:5001\n  tag: latest\n  contexts:\n    api:\n      ports: [\"8081:8080\"]\n      env: {LOG_LEVEL: debug}\n      volumes: [\"./data:/data\"]")
                .into()
        };
        let map = match value {
            Value::Null => return Ok(RunFile::default()),
            Value::Object(map) => map,
            other => {
                return Err(fail(format!(
                    "expected a mapping, got {}",
                    yaml::kind(other)
                )));
            }
        };
        let mut file = RunFile::default();
        for (key, value) in map {
            match key.as_str() {
                "default_repo" => {
                    file.default_repo = string(value, "default_repo", &fail)?
                        .map(|text| text.trim().trim_end_matches('/').to_string())
                        .filter(|text| !text.is_empty())
                }
                "tag" => file.tag = string(value, "tag", &fail)?.filter(|text| !text.is_empty()),
                "contexts" => match value {
                    Value::Null => {}
                    Value::Object(contexts) => {
                        for (name, options) in contexts {
                            file.contexts
                                .push((name.clone(), context(options, name, &fail)?));
                        }
                    }
                    other => {
                        return Err(fail(format!(
                            "`contexts` must be a mapping of context names, got {}",
                            yaml::kind(other)
                        )));
                    }
                },
                other => {
                    return Err(fail(format!(
                        "unknown key `{other}`; expected `default_repo`, `tag` and `contexts`"
                    )));
                }
            }
        }
        Ok(file)
    }
}

fn string(
    value: &Value,
    field: &str,
    fail: &dyn Fn(String) -> anyhow::Error,
) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        other => Err(fail(format!(
            "`{field}` must be a string, got {}",
            yaml::kind(other)
        ))),
    }
}

fn context(
    value: &Value,
    name: &str,
    fail: &dyn Fn(String) -> anyhow::Error,
) -> Result<ContextOptions> {
    let mut options = ContextOptions::default();
    let map = match value {
        Value::Null => return Ok(options),
        Value::Object(map) => map,
        other => {
            return Err(fail(format!(
                "contexts.{name} must be a mapping, got {}",
                yaml::kind(other)
            )));
        }
    };
    let list = |value: &Value, field: &str| -> Result<Vec<String>> {
        match value {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|item| {
                    yaml::scalar_text(item).ok_or_else(|| {
                        fail(format!(
                            "contexts.{name}.{field}: items must be strings, got {}",
                            yaml::kind(item)
                        ))
                    })
                })
                .collect(),
            other => Err(fail(format!(
                "contexts.{name}.{field} must be a list, got {}",
                yaml::kind(other)
            ))),
        }
    };
    for (key, value) in map {
        match key.as_str() {
            "ports" => options.ports = list(value, "ports")?,
            "volumes" => options.volumes = list(value, "volumes")?,
            "env" => match value {
                Value::Null => {}
                Value::Object(env) => {
                    for (key, value) in env {
                        let text = yaml::scalar_text(value).ok_or_else(|| {
                            fail(format!(
                                "contexts.{name}.env.{key} must be a scalar, got {}",
                                yaml::kind(value)
                            ))
                        })?;
                        options.env.push((key.clone(), text));
                    }
                }
                other => {
                    return Err(fail(format!(
                        "contexts.{name}.env must be a mapping, got {}",
                        yaml::kind(other)
                    )));
                }
            },
            other => {
                return Err(fail(format!(
                    "contexts.{name}: unknown key `{other}`; expected `ports`, `env` and `volumes`"
                )));
            }
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RunFile> {
        let path = Path::new(".run.yaml");
        RunFile::from_value(&yaml::parse(text, path)?, path)
    }

    #[test]
    fn reads_contexts_in_order_with_yaml_spelling() {
        let file = parse("default_repo: localhost:5001/\ntag: dev\ncontexts:\n  api:\n    ports: [\"8081:8080\"]\n    env: {PORT: 8080, DEBUG: true, EMPTY: null, NAME: x}\n    volumes: [./a:/a]\n  web: {}\n").unwrap();
        assert_eq!(file.default_repo.as_deref(), Some("localhost:5001"));
        assert_eq!(file.tag.as_deref(), Some("dev"));
        let api = file.context("api").unwrap();
        assert_eq!(api.ports, ["8081:8080"]);
        assert_eq!(
            api.env,
            [
                ("PORT".into(), "8080".into()),
                ("DEBUG".into(), "true".into()),
                ("EMPTY".into(), String::new()),
                ("NAME".into(), "x".into())
            ]
        );
        assert_eq!(api.volumes, ["./a:/a"]);
        assert_eq!(file.contexts[1].0, "web");
    }

    #[test]
    fn bad_files_name_file_and_field() {
        for (text, needle) in [
            ("[1, 2]", "expected a mapping"),
            ("contexts: [a]", "`contexts` must be a mapping"),
            (
                "contexts:\n  api:\n    ports: 8080\n",
                "contexts.api.ports must be a list",
            ),
            (
                "contexts:\n  api:\n    env: [A]\n",
                "contexts.api.env must be a mapping",
            ),
            ("default_repo: [x]", "`default_repo` must be a string"),
            ("repo: x", "unknown key `repo`"),
            ("contexts:\n  api:\n    port: 1\n", "unknown key `port`"),
            ("contexts: {", "invalid YAML"),
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(
                error.contains(needle) && error.contains(".run.yaml"),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn octopilot_yaml_only_when_run_yaml_is_absent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".github")).unwrap();
        std::fs::write(dir.path().join(".github/octopilot.yaml"), "tag: legacy\n").unwrap();
        assert_eq!(
            RunFile::load(dir.path()).unwrap().tag.as_deref(),
            Some("legacy")
        );
        std::fs::write(dir.path().join(".run.yaml"), "tag: seed\n").unwrap();
        assert_eq!(
            RunFile::load(dir.path()).unwrap().tag.as_deref(),
            Some("seed")
        );
    }
}
