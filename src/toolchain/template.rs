//! URL templates kept as data in the lock, so `op toolchain lock update TOOL@VERSION` can compute
//! every platform's artifact without code that knows each project's naming scheme.
//!
//! ```toml
//! [tools.pack.template]
//! url = "https://github.com/buildpacks/pack/releases/download/v{version}/pack-v{version}-{os}.{ext}"
//! archive = "tar.gz"
//! ext = "tgz"
//! bin = "pack{exe}"
//! [tools.pack.template.platforms]
//! darwin-arm64 = { os = "macos-arm64" }
//! windows-amd64 = { os = "windows", ext = "zip", archive = "zip" }
//! ```
//!
//! Placeholders: `{version}`, `{os}` (linux, darwin, windows), `{arch}` (amd64, arm64), `{ext}`,
//! `{exe}` (`.exe` on Windows, else empty). A platform table overrides `os`, `arch`, `ext`,
//! `archive` and `bin`. `releases` (one source or a list) says where upstream lists its releases,
//! for `op toolchain outdated` and `lock update TOOL@latest` (see [`crate::toolchain::releases`]).

use std::collections::BTreeMap;

use toml::Value;

use crate::toolchain::lock::{self, ArchiveKind};
use crate::toolchain::platform;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub url: String,
    pub archive: ArchiveKind,
    pub bin: Option<String>,
    pub ext: Option<String>,
    /// Per-platform overrides of `os`, `arch`, `ext`, `archive`, `bin`.
    pub platforms: BTreeMap<String, BTreeMap<String, String>>,
    /// Where upstream lists its releases; empty when the lock does not say.
    pub releases: Vec<String>,
}

/// One platform's artifact as the template describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub url: String,
    pub archive: ArchiveKind,
    pub bin: Option<String>,
}

pub const OVERRIDES: [&str; 5] = ["os", "arch", "ext", "archive", "bin"];

impl Template {
    /// The platforms the template produces: those it names, else all five.
    pub fn platform_keys(&self) -> Vec<String> {
        if self.platforms.is_empty() {
            platform::KEYS.iter().map(|key| key.to_string()).collect()
        } else {
            self.platforms.keys().cloned().collect()
        }
    }

    pub fn render(&self, version: &str, key: &str) -> Result<Rendered, String> {
        let (os, arch) = key.split_once('-').unwrap_or((key, ""));
        let overrides = self.platforms.get(key);
        let pick = |name: &str, default: &str| -> String {
            overrides
                .and_then(|table| table.get(name))
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        let vars = [
            ("version", version.to_string()),
            ("os", pick("os", os)),
            ("arch", pick("arch", arch)),
            ("ext", pick("ext", self.ext.as_deref().unwrap_or(""))),
            (
                "exe",
                if platform::is_windows(key) {
                    ".exe"
                } else {
                    ""
                }
                .to_string(),
            ),
        ];
        let archive = match overrides.and_then(|table| table.get("archive")) {
            Some(kind) => parse_archive(kind)?,
            None => self.archive,
        };
        let bin = match overrides
            .and_then(|table| table.get("bin"))
            .or(self.bin.as_ref())
        {
            Some(bin) => Some(substitute(bin, &vars)?),
            None => None,
        };
        Ok(Rendered {
            url: substitute(&self.url, &vars)?,
            archive,
            bin: if archive == ArchiveKind::Raw {
                None
            } else {
                bin
            },
        })
    }
}

pub fn parse_archive(kind: &str) -> Result<ArchiveKind, String> {
    match kind {
        "raw" => Ok(ArchiveKind::Raw),
        "tar.gz" | "tgz" => Ok(ArchiveKind::TarGz),
        "zip" => Ok(ArchiveKind::Zip),
        other => Err(format!(
            "unknown archive kind {other:?}; expected \"raw\", \"tar.gz\" or \"zip\""
        )),
    }
}

/// Reads and checks `[tools.NAME.template]`: unknown keys are errors, and every platform it
/// produces must render for `version` (the lock's current one).
pub fn parse(table: &toml::Table, version: &str) -> Result<Template, String> {
    for key in table.keys() {
        if !["url", "archive", "bin", "ext", "platforms", "releases"].contains(&key.as_str()) {
            return Err(format!(
                "unknown field `{key}`; expected `url`, `archive`, `bin`, `ext`, `platforms` and `releases`"
            ));
        }
    }
    let archive = match lock::optional_string(table, "archive")? {
        Some(kind) => parse_archive(&kind).map_err(|error| format!("field `archive`: {error}"))?,
        None => ArchiveKind::Raw,
    };
    let mut platforms = BTreeMap::new();
    match table.get("platforms") {
        None => {}
        Some(Value::Table(entries)) => {
            for (key, value) in entries {
                platform::validate(key).map_err(|error| format!("platform `{key}`: {error}"))?;
                let Value::Table(overrides) = value else {
                    return Err(format!(
                        "platform `{key}`: must be a table like {{ os = \"macos\" }}"
                    ));
                };
                let mut map = BTreeMap::new();
                for (name, value) in overrides {
                    if !OVERRIDES.contains(&name.as_str()) {
                        return Err(format!(
                            "platform `{key}`: unknown field `{name}`; expected one of {}",
                            OVERRIDES.join(", ")
                        ));
                    }
                    let Value::String(text) = value else {
                        return Err(format!("platform `{key}`: field `{name}` must be a string"));
                    };
                    map.insert(name.clone(), text.clone());
                }
                platforms.insert(key.clone(), map);
            }
        }
        Some(_) => return Err("field `platforms`: must be a table".into()),
    }
    let template = Template {
        url: lock::required_string(table, "url")?,
        archive,
        bin: lock::optional_string(table, "bin")?,
        ext: lock::optional_string(table, "ext")?,
        platforms,
        releases: parse_releases(table.get("releases"))?,
    };
    for key in template.platform_keys() {
        let rendered = template
            .render(version, &key)
            .map_err(|error| format!("platform `{key}`: {error}"))?;
        match &rendered.bin {
            None if rendered.archive != ArchiveKind::Raw => {
                return Err(format!(
                    "platform `{key}`: a {} archive needs `bin`",
                    rendered.archive.as_str()
                ));
            }
            Some(bin) if !lock::safe_relative_path(bin) => {
                return Err(format!(
                    "platform `{key}`: bin {bin:?} must be a relative path inside the archive without `..`"
                ));
            }
            _ => {}
        }
    }
    Ok(template)
}

/// `releases`: one source or a list of them, each checked by
/// [`crate::toolchain::releases::Listing::parse`].
fn parse_releases(value: Option<&Value>) -> Result<Vec<String>, String> {
    let sources = match value {
        None => return Ok(Vec::new()),
        Some(Value::String(source)) => vec![source.clone()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(source) => Ok(source.clone()),
                _ => Err("field `releases`: every entry must be a string".to_string()),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(
                "field `releases`: must be a string like \"github:OWNER/REPO\" or a non-empty list of them"
                    .into(),
            );
        }
    };
    for source in &sources {
        crate::toolchain::releases::Listing::parse(source)
            .map_err(|error| format!("field `releases`: {error}"))?;
    }
    Ok(sources)
}

/// Replaces `{name}` placeholders; an unknown one is an error naming it.
pub fn substitute(text: &str, vars: &[(&str, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            return Err(format!("unclosed `{{` in {text:?}"));
        };
        let name = &rest[start + 1..start + len];
        let value = vars
            .iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| {
                let known: Vec<&str> = vars.iter().map(|(var, _)| *var).collect();
                format!(
                    "unknown placeholder {{{name}}} in {text:?}; known: {}",
                    known.join(", ")
                )
            })?;
        out.push_str(value);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The file name an artifact URL ends with (no query or fragment): the name checksum files use.
pub fn asset_name(url: &str) -> String {
    url.split(['?', '#'])
        .next()
        .and_then(|path| path.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

/// The checksum-file URL for one artifact: `{url}`, `{asset}` (its file name) and `{version}`.
pub fn checksums_url(pattern: &str, artifact_url: &str, version: &str) -> Result<String, String> {
    substitute(
        pattern,
        &[
            ("url", artifact_url.to_string()),
            ("asset", asset_name(artifact_url)),
            ("version", version.to_string()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack() -> Template {
        let mut platforms = BTreeMap::new();
        platforms.insert(
            "linux-amd64".to_string(),
            BTreeMap::from([("os".to_string(), "linux".to_string())]),
        );
        platforms.insert(
            "windows-amd64".to_string(),
            BTreeMap::from([
                ("os".to_string(), "windows".to_string()),
                ("ext".to_string(), "zip".to_string()),
                ("archive".to_string(), "zip".to_string()),
            ]),
        );
        Template {
            url: "https://github.com/buildpacks/pack/releases/download/v{version}/pack-v{version}-{os}.{ext}".into(),
            archive: ArchiveKind::TarGz,
            bin: Some("pack{exe}".into()),
            ext: Some("tgz".into()),
            platforms,
            releases: vec!["github:buildpacks/pack".into()],
        }
    }

    #[test]
    fn renders_per_platform_names() {
        let template = pack();
        let linux = template.render("0.41.0", "linux-amd64").unwrap();
        assert_eq!(
            linux.url,
            "https://github.com/buildpacks/pack/releases/download/v0.41.0/pack-v0.41.0-linux.tgz"
        );
        assert_eq!(linux.bin.as_deref(), Some("pack"));
        let windows = template.render("0.41.0", "windows-amd64").unwrap();
        assert!(windows.url.ends_with("pack-v0.41.0-windows.zip"));
        assert_eq!(
            (windows.archive, windows.bin.as_deref()),
            (ArchiveKind::Zip, Some("pack.exe"))
        );
        assert_eq!(template.platform_keys(), ["linux-amd64", "windows-amd64"]);
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let error = substitute("a/{verison}", &[("version", "1".into())]).unwrap_err();
        assert!(
            error.contains("{verison}") && error.contains("version"),
            "{error}"
        );
    }

    #[test]
    fn checksum_urls() {
        let url = "https://dl.k8s.io/release/v1.35.2/bin/linux/amd64/kubectl";
        assert_eq!(
            checksums_url("{url}.sha256", url, "1.35.2").unwrap(),
            format!("{url}.sha256")
        );
        assert_eq!(
            checksums_url("https://x/v{version}/{asset}.sum", url, "1.35.2").unwrap(),
            "https://x/v1.35.2/kubectl.sum"
        );
    }
}
