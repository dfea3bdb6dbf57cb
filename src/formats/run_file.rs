//! `.run.yaml` (or, only when it is absent, `.github/octopilot.yaml`): how `op run` runs each
//! context: `default_repo`, `tag`, `contexts.<name>.{ports, env, volumes}`. Values keep their
//! YAML spelling (`true` stays `true`, `1.50` stays `1.50`); null is empty.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use crate::bounded;
use crate::error::OpError;
use crate::formats::reference_problem;
use crate::formats::yaml::{self, Ordered};

pub const FILE_NAME: &str = ".run.yaml";
/// The legacy location, read only when `.run.yaml` does not exist.
pub const LEGACY_FILE: &str = ".github/octopilot.yaml";

const HINT: &str = "expected:
  default_repo: localhost:5001
  tag: latest
  contexts:
    services/api:
      ports: [\"8081:8080\"]
      env: {LOG_LEVEL: debug}
      volumes: [\"./data:/data\"]";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextOptions {
    pub ports: Vec<String>,
    /// In file order.
    pub env: Vec<(String, String)>,
    pub volumes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFile {
    /// The file read, if any.
    pub path: Option<PathBuf>,
    /// Trimmed, trailing `/` removed; `None` when absent or empty.
    pub default_repo: Option<String>,
    pub tag: Option<String>,
    /// In file order.
    pub contexts: Vec<(String, ContextOptions)>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    default_repo: Option<String>,
    tag: Option<String>,
    contexts: Option<Ordered<Option<RawContext>>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    ports: Option<Vec<String>>,
    env: Option<Ordered<Option<String>>>,
    volumes: Option<Vec<String>>,
}

impl RunFile {
    /// `.run.yaml` in `dir`, else `.github/octopilot.yaml`, else an empty configuration.
    pub fn load(dir: &Path) -> Result<RunFile> {
        for candidate in [dir.join(FILE_NAME), dir.join(LEGACY_FILE)] {
            if let Some(text) = yaml::read(&candidate, "run file", bounded::RUN_FILE_CAP)? {
                let mut file = RunFile::parse(&text, &candidate)?;
                file.path = Some(candidate);
                return Ok(file);
            }
        }
        Ok(RunFile::default())
    }

    /// Parses the text of a run file; `path` is for messages.
    pub fn parse(text: &str, path: &Path) -> Result<RunFile> {
        let raw: RawFile = yaml::from_str(text, path, HINT)?;
        let contexts = raw
            .contexts
            .unwrap_or_default()
            .0
            .into_iter()
            .map(|(name, options)| {
                let options = options.unwrap_or_default();
                let env = options.env.unwrap_or_default().0;
                let options = ContextOptions {
                    ports: options.ports.unwrap_or_default(),
                    env: env
                        .into_iter()
                        .map(|(key, value)| (key, value.unwrap_or_default()))
                        .collect(),
                    volumes: options.volumes.unwrap_or_default(),
                };
                (name, options)
            })
            .collect();
        let file = RunFile {
            path: None,
            default_repo: raw
                .default_repo
                .map(|repo| repo.trim().trim_end_matches('/').to_string())
                .filter(|repo| !repo.is_empty()),
            tag: raw
                .tag
                .map(|tag| tag.trim().to_string())
                .filter(|tag| !tag.is_empty()),
            contexts,
        };
        for (field, value) in [("default_repo", &file.default_repo), ("tag", &file.tag)] {
            if let Some(problem) = value.as_deref().and_then(reference_problem) {
                return Err(
                    OpError::config(format!("{}: {field} {problem}", path.display()))
                        .with_hint(HINT)
                        .into(),
                );
            }
        }
        Ok(file)
    }

    pub fn context(&self, name: &str) -> Option<&ContextOptions> {
        self.contexts
            .iter()
            .find(|(context, _)| context == name)
            .map(|(_, options)| options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RunFile> {
        RunFile::parse(text, Path::new("app/.run.yaml"))
    }

    #[test]
    fn reads_contexts_in_order_with_yaml_spelling() {
        let file = parse(
            "default_repo: localhost:5001/\ntag: dev\ncontexts:\n  web: {}\n  api:\n    ports: [\"8081:8080\", 9000]\n    env: {PORT: 8080, DEBUG: true, EMPTY: null, RATIO: 1.50, FLAG: on, NAME: x}\n    volumes: [./a:/a]\n  worker:\n",
        )
        .unwrap();
        assert_eq!(file.default_repo.as_deref(), Some("localhost:5001"));
        assert_eq!(file.tag.as_deref(), Some("dev"));
        let names: Vec<_> = file
            .contexts
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(names, ["web", "api", "worker"]);
        let api = file.context("api").unwrap();
        assert_eq!(api.ports, ["8081:8080", "9000"]);
        let env: Vec<(&str, &str)> = api
            .env
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("PORT", "8080"),
                ("DEBUG", "true"),
                ("EMPTY", ""),
                ("RATIO", "1.50"),
                ("FLAG", "on"),
                ("NAME", "x")
            ]
        );
        assert_eq!(api.volumes, ["./a:/a"]);
        assert_eq!(file.context("worker"), Some(&ContextOptions::default()));
    }

    #[test]
    fn empty_files_are_empty_configurations() {
        for text in [
            "",
            "# nothing yet\n",
            "~\n",
            "contexts:\n",
            "default_repo: ''\n",
        ] {
            let file = parse(text).unwrap();
            assert_eq!(file, RunFile::default(), "{text:?}");
        }
    }

    #[test]
    fn bad_files_name_file_line_and_expectation() {
        for (text, needle) in [
            ("[1, 2]", "line 1 column 1: expected a mapping"),
            ("contexts: [a]", "line 1 column 11: expected a mapping"),
            (
                "contexts:\n  api:\n    ports: 8080\n",
                "line 3 column 12: expected a list",
            ),
            (
                "contexts:\n  api:\n    env: [A]\n",
                "line 3 column 10: expected a mapping",
            ),
            ("contexts:\n  api:\n    env: {A: [1]}\n", "line 3 column 14"),
            (
                "default_repo: [x]",
                "line 1 column 15: expected a text value",
            ),
            (
                "repo: x",
                "unknown field `repo`, expected one of default_repo, tag, contexts",
            ),
            (
                "contexts:\n  api:\n    port: 1\n",
                "unknown field `port`, expected one of ports, env, volumes",
            ),
            ("contexts: {", "line 1 column 11"),
            ("tag: a\ntag: b\n", "duplicate mapping key"),
        ] {
            let error = parse(text).unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with("app/.run.yaml: ") && message.contains(needle),
                "{text:?}: {message}"
            );
            assert_eq!(crate::error::exit_code(&error), 2, "{text:?}");
        }
    }

    #[test]
    fn octopilot_yaml_only_when_run_yaml_is_absent() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RunFile::load(dir.path()).unwrap(), RunFile::default());
        std::fs::create_dir(dir.path().join(".github")).unwrap();
        std::fs::write(dir.path().join(LEGACY_FILE), "tag: legacy\n").unwrap();
        let legacy = RunFile::load(dir.path()).unwrap();
        assert_eq!(legacy.tag.as_deref(), Some("legacy"));
        assert_eq!(legacy.path, Some(dir.path().join(LEGACY_FILE)));
        std::fs::write(dir.path().join(FILE_NAME), "").unwrap();
        assert_eq!(
            RunFile::load(dir.path()).unwrap().tag,
            None,
            "an empty .run.yaml still wins"
        );
        std::fs::write(dir.path().join(FILE_NAME), "tag: seed\n").unwrap();
        assert_eq!(
            RunFile::load(dir.path()).unwrap().tag.as_deref(),
            Some("seed")
        );
    }
}
