//! Pipeline settings and their one precedence order: command-line flag → environment →
//! `--config` properties file → repository files (`.run.yaml`, `.registry`) → built-in default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::OpError;
use crate::formats::properties;
use crate::formats::registry_file::{Destination, Registry};
use crate::formats::run_file::RunFile;
use crate::redact;
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

/// Where an image may be promoted to (`dev` is where builds start, never a destination).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PromoteDestination {
    Pp,
    Prod,
}

impl PromoteDestination {
    pub fn environment(self) -> Environment {
        match self {
            PromoteDestination::Pp => Environment::Pp,
            PromoteDestination::Prod => Environment::Prod,
        }
    }
}

/// Environment variables with the properties file behind them.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub file: Option<PathBuf>,
    properties: BTreeMap<String, String>,
    /// Lines of the properties file that were ignored (no `=`), for a warning.
    pub ignored_lines: Vec<usize>,
}

impl Config {
    /// Loads `--config FILE` (or `OCTOPILOT_PIPELINE_PROPERTIES`; empty counts as unset); a
    /// named file that is missing is exit 2 before anything runs.
    pub fn load(flag: Option<&Path>) -> Result<Config> {
        let Some(path) = flag
            .map(Path::to_path_buf)
            .or_else(|| settings::var(PROPERTIES_ENV).map(PathBuf::from))
        else {
            return Ok(Config::default());
        };
        let properties = properties::load(&path)?;
        Ok(Config {
            file: Some(path),
            properties: properties.values,
            ignored_lines: properties.ignored_lines,
        })
    }

    /// A non-empty environment variable, else the properties file's value. Credentials in it
    /// (a repository's password) are made known to [`redact`], so no line printed shows them.
    pub fn get(&self, key: &str) -> Option<String> {
        let value = settings::var(key).or_else(|| {
            self.properties
                .get(key)
                .filter(|value| !value.is_empty())
                .cloned()
        });
        if let Some(value) = &value {
            redact::remember_credentials(value);
        }
        value
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

/// A repository setting trimmed, its credentials (if any) made known to [`redact`].
pub fn clean_repo(repo: &str) -> String {
    redact::remember_credentials(repo);
    repo.trim().trim_end_matches('/').to_string()
}

/// Where a copy of `reference` goes in `repo` (`repo/path/name:tag`): a bare `name:tag` gets
/// `repo` prefixed; a fully qualified one (its first component has a `.` or `:`, or is
/// `localhost`) has its registry part replaced by `repo` when `source` names it, and is otherwise
/// placed under `repo` by its last component. A digest is dropped when there is a tag, so the copy
/// is tagged (`crane copy` to `r/app:1@sha256:…` would push by digest alone).
pub fn retarget(reference: &str, source: Option<&str>, repo: &str) -> String {
    // The last `@`: the first may end the credentials of `user:pass@r.io/app:1@sha256:…`.
    let reference = match reference.rsplit_once('@') {
        Some((named, digest)) if digest.contains(':') && has_tag(named) => named,
        _ => reference,
    };
    if let Some(source) = source.map(clean_repo).filter(|source| !source.is_empty())
        && let Some(rest) = reference.strip_prefix(&format!("{source}/"))
    {
        return format!("{repo}/{rest}");
    }
    if is_qualified(reference) {
        let last = reference.rsplit('/').next().unwrap_or(reference);
        format!("{repo}/{last}")
    } else {
        format!("{repo}/{reference}")
    }
}

/// Whether the last path component of a reference (digest removed) has a `:tag`.
fn has_tag(reference: &str) -> bool {
    reference
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
}

/// Whether a reference names its registry (`r.io/app:1`, `localhost:5001/app`), as docker
/// decides it: the first component has a `.` or `:`, or is `localhost`.
pub fn is_qualified(reference: &str) -> bool {
    reference.split_once('/').is_some_and(|(first, _)| {
        first.contains('.') || first.contains(':') || first == "localhost"
    })
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
            "pp.io/p/app:1"
        );
        assert_eq!(
            retarget("localhost:5001/app:1", None, "ghcr.io/acme"),
            "ghcr.io/acme/app:1"
        );
        assert_eq!(
            retarget("team/app:1", Some("dev.io/d"), "pp.io/p"),
            "pp.io/p/team/app:1"
        );
        assert_eq!(
            retarget("dev.io/d/app@sha256:ab", Some("dev.io/d"), "pp.io/p"),
            "pp.io/p/app@sha256:ab",
            "a digest without a tag is all there is to copy by"
        );
        assert_eq!(
            retarget(
                "localhost:5001/app:1@sha256:ab",
                Some("localhost:5001"),
                "r.io"
            ),
            "r.io/app:1"
        );
        assert_eq!(
            retarget("u:p@r.io/app:1@sha256:ab", Some("u:p@r.io"), "q.io"),
            "q.io/app:1",
            "credentials are not a digest"
        );
        assert!(is_qualified("localhost/app") && is_qualified("r.io/app"));
        assert!(!is_qualified("team/app:1") && !is_qualified("app:1"));
    }

    #[test]
    fn properties_are_behind_the_environment() {
        let config = Config {
            properties: BTreeMap::from([
                (
                    "OP_TEST_CONFIG_ONLY_IN_FILE".to_string(),
                    "file".to_string(),
                ),
                ("OP_TEST_CONFIG_EMPTY_IN_FILE".to_string(), String::new()),
            ]),
            ..Config::default()
        };
        assert_eq!(
            config.get("OP_TEST_CONFIG_ONLY_IN_FILE").as_deref(),
            Some("file")
        );
        assert_eq!(config.get("OP_TEST_CONFIG_NOWHERE"), None);
        assert_eq!(config.get("OP_TEST_CONFIG_EMPTY_IN_FILE"), None);
        // PATH is always set and non-empty: the environment wins over the file.
        let shadowed = Config {
            properties: BTreeMap::from([("PATH".to_string(), "from-file".to_string())]),
            ..Config::default()
        };
        assert_ne!(shadowed.get("PATH").as_deref(), Some("from-file"));
    }
}
