//! Pipeline settings and their one precedence order: command-line flag → environment →
//! `--config` properties file → repository files (`.run.yaml`, `.registry`) → built-in default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::OpError;
use crate::formats::properties;
use crate::formats::registry_file::{Destination, Registry};
use crate::formats::run_file::RunFile;
use crate::settings;

pub const PROPERTIES_ENV: &str = "OCTOPILOT_PIPELINE_PROPERTIES";
/// Where local builds push when nothing else is configured.
pub const LOCAL_REGISTRY: &str = "localhost:5001";

/// The deployment environments that have their own registries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    Dev,
    Pp,
    Prod,
}

impl Environment {
    fn key(self) -> &'static str {
        match self {
            Environment::Dev => "GOOGLE_GKE_IMAGE_REPOSITORY",
            Environment::Pp => "GOOGLE_GKE_IMAGE_PP_REPOSITORY",
            Environment::Prod => "GOOGLE_GKE_IMAGE_PROD_REPOSITORY",
        }
    }
}

/// Environment variables with the properties file behind them.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub file: Option<PathBuf>,
    properties: BTreeMap<String, String>,
}

impl Config {
    /// Loads `--config FILE` (or `OCTOPILOT_PIPELINE_PROPERTIES`); a named file that is missing is
    /// exit 2 before anything runs.
    pub fn load(flag: Option<&Path>) -> Result<Config> {
        let Some(path) = flag
            .map(Path::to_path_buf)
            .or_else(|| settings::var(PROPERTIES_ENV).map(PathBuf::from))
        else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|error| {
            OpError::config(format!(
                "properties file {} cannot be read: {error}",
                path.display()
            ))
            .with_hint(format!(
                "pass an existing file with --config or {PROPERTIES_ENV}"
            ))
        })?;
        Ok(Config {
            file: Some(path),
            properties: properties::parse(&text),
        })
    }

    /// A non-empty environment variable, else the properties file's value.
    pub fn get(&self, key: &str) -> Option<String> {
        settings::var(key).or_else(|| {
            self.properties
                .get(key)
                .filter(|value| !value.is_empty())
                .cloned()
        })
    }

    /// `SKAFFOLD_DEFAULT_REPO`, else `GOOGLE_GKE_IMAGE_REPOSITORY`.
    pub fn default_repo(&self) -> Option<String> {
        self.get("SKAFFOLD_DEFAULT_REPO")
            .or_else(|| self.get("GOOGLE_GKE_IMAGE_REPOSITORY"))
    }

    /// The registry of an environment, else `fallback` (e.g. `PROMOTE_SOURCE_REPOSITORY`).
    pub fn environment_repo(&self, environment: Environment, fallback: &str) -> Option<String> {
        self.get(environment.key())
            .or_else(|| self.get(fallback))
            .map(|repo| clean_repo(&repo))
    }

    /// The default repository of local commands (build, build-push, run):
    /// flag → env/properties → `.run.yaml` `default_repo` → `.registry` `local` → localhost:5001.
    pub fn local_repo(&self, flag: Option<&str>, dir: &Path) -> Result<String> {
        if let Some(repo) = flag.filter(|repo| !repo.trim().is_empty()) {
            return Ok(clean_repo(repo));
        }
        if let Some(repo) = self.default_repo() {
            return Ok(clean_repo(&repo));
        }
        if let Some(repo) = RunFile::load(dir)?.default_repo {
            return Ok(clean_repo(&repo));
        }
        if let Some(repo) = Registry::load(&dir.join(".registry"), &settings::var)?.local {
            return Ok(clean_repo(&repo));
        }
        Ok(LOCAL_REGISTRY.to_string())
    }

    /// The push repository: flag → env/properties → `.registry` for `destination`; none is an error.
    pub fn push_repo(
        &self,
        flag: Option<&str>,
        registry: &Registry,
        destination: Destination,
    ) -> Result<String> {
        if let Some(repo) = flag.filter(|repo| !repo.trim().is_empty()) {
            return Ok(clean_repo(repo));
        }
        if let Some(repo) = self.default_repo() {
            return Ok(clean_repo(&repo));
        }
        if let Some(repo) = registry.select(destination, in_ci()).into_iter().next() {
            return Ok(repo);
        }
        Err(OpError::new(crate::error::Code::Failure, "no push registry is configured")
            .with_hint("pass --default-repo, set SKAFFOLD_DEFAULT_REPO (environment or --config file), or add a .registry file")
            .into())
    }
}

/// `GITHUB_ACTIONS=true`, exactly.
pub fn in_ci() -> bool {
    settings::var(settings::GITHUB_ACTIONS).as_deref() == Some("true")
}

pub fn clean_repo(repo: &str) -> String {
    repo.trim().trim_end_matches('/').to_string()
}

/// `repo/name:tag` for a reference: a bare `name:tag` gets `repo` prefixed; a fully qualified one
/// (its first component has a `.` or `:`, or is `localhost`) has that registry part replaced by
/// `repo` when `source` names it, and is otherwise placed under `repo` by its last component.
pub fn retarget(reference: &str, source: Option<&str>, repo: &str) -> String {
    if let Some(source) = source.map(clean_repo).filter(|source| !source.is_empty())
        && let Some(rest) = reference.strip_prefix(&format!("{source}/"))
    {
        return format!("{repo}/{rest}");
    }
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            let last = reference.rsplit('/').next().unwrap_or(reference);
            format!("{repo}/{last}")
        }
        _ => format!("{repo}/{reference}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_never_double_prefixed() {
        assert_eq!(retarget("app:1", None, "pp.io/p"), "pp.io/p/app:1");
        assert_eq!(
            retarget("dev.io/d/app:1", Some("dev.io/d/"), "pp.io/p"),
            "pp.io/p/app:1"
        );
        assert_eq!(
            retarget("dev.io/d/team/app:1", Some("dev.io/d"), "pp.io/p"),
            "pp.io/p/team/app:1"
        );
        assert_eq!(
            retarget("other.io/x/app:1@sha256:ab", Some("dev.io/d"), "pp.io/p"),
            "pp.io/p/app:1@sha256:ab"
        );
        assert_eq!(
            retarget("localhost:5001/app:1", None, "ghcr.io/acme"),
            "ghcr.io/acme/app:1"
        );
    }

    #[test]
    fn properties_are_behind_the_environment() {
        let config = Config {
            file: None,
            properties: BTreeMap::from([(
                "OP_TEST_CONFIG_ONLY_IN_FILE".to_string(),
                "file".to_string(),
            )]),
        };
        assert_eq!(
            config.get("OP_TEST_CONFIG_ONLY_IN_FILE").as_deref(),
            Some("file")
        );
        assert_eq!(config.get("OP_TEST_CONFIG_NOWHERE"), None);
    }
}
