//! `.registry`: where images are pushed. `local` (one registry) and `ci` (a list; `destinations`
//! is its legacy name); entries are strings or `{url, name}`; `${VAR}`, `$VAR`, `${VAR:-default}`
//! (default when VAR is unset or empty) and `$$` are expanded from the environment.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use crate::error::OpError;
use crate::formats::yaml;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    pub local: Option<String>,
    pub ci: Vec<String>,
}

/// Which registries a push goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Destination {
    Local,
    Ci,
    All,
    /// `ci` when `GITHUB_ACTIONS=true`, else `local`.
    Auto,
}

impl Registry {
    /// Reads `path`; a missing or empty file is an empty registry.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Registry> {
        match yaml::load(path)? {
            None => Ok(Registry::default()),
            Some(value) => Registry::from_value(&value, path, env),
        }
    }

    pub fn from_value(
        value: &Value,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Registry> {
        let fail = |message: String| -> anyhow::Error {
            OpError::config(format!("{}: {message}", path.display()))
                .with_hint("a .registry looks like:\n  local: localhost:5001\n  ci:\n    - ghcr.io/acme\n    - url: ${GAR_REPOSITORY}\n      name: gar")
                .into()
        };
        let map = match value {
            Value::Null => return Ok(Registry::default()),
            Value::Object(map) => map,
            other => {
                return Err(fail(format!(
                    "expected a mapping with `local` and `ci`, got {}",
                    yaml::kind(other)
                )));
            }
        };
        for key in map.keys() {
            if !["local", "ci", "destinations"].contains(&key.as_str()) {
                return Err(fail(format!(
                    "unknown key `{key}`; expected `local`, `ci` (or legacy `destinations`)"
                )));
            }
        }
        let entry = |value: &Value, place: &str| -> Result<String> {
            let raw = match value {
                Value::String(text) => text.clone(),
                Value::Object(fields) => match fields.get("url") {
                    Some(Value::String(url)) => url.clone(),
                    _ => {
                        return Err(fail(format!(
                            "{place}: a mapping entry needs a string `url`"
                        )));
                    }
                },
                other => {
                    return Err(fail(format!(
                        "{place}: expected a registry string or {{url, name}}, got {}",
                        yaml::kind(other)
                    )));
                }
            };
            let trimmed = raw.trim().trim_end_matches('/');
            Ok(interpolate(trimmed, env))
        };
        let local = match map.get("local") {
            None | Some(Value::Null) => None,
            Some(value) => Some(entry(value, "`local`")?).filter(|text| !text.is_empty()),
        };
        let list = match map.get("ci") {
            Some(Value::Array(items)) if !items.is_empty() => Some(items),
            Some(Value::Array(_)) | Some(Value::Null) | None => None,
            Some(other) => {
                return Err(fail(format!(
                    "`ci` must be a list, got {}",
                    yaml::kind(other)
                )));
            }
        };
        let list = match list {
            Some(items) => items.clone(),
            None => match map.get("destinations") {
                Some(Value::Array(items)) => items.clone(),
                None | Some(Value::Null) => Vec::new(),
                Some(other) => {
                    return Err(fail(format!(
                        "`destinations` must be a list, got {}",
                        yaml::kind(other)
                    )));
                }
            },
        };
        let mut ci = Vec::new();
        for (index, item) in list.iter().enumerate() {
            let text = entry(item, &format!("`ci` entry {}", index + 1))?;
            if !text.is_empty() {
                ci.push(text);
            }
        }
        Ok(Registry { local, ci })
    }

    /// The registries for `destination`, in order, without duplicates.
    pub fn select(&self, destination: Destination, in_ci: bool) -> Vec<String> {
        let chosen = match destination {
            Destination::Local => self.local.iter().cloned().collect(),
            Destination::Ci => self.ci.clone(),
            Destination::All => self.local.iter().chain(&self.ci).cloned().collect(),
            Destination::Auto if in_ci => self.ci.clone(),
            Destination::Auto => self.local.iter().cloned().collect(),
        };
        let mut unique: Vec<String> = Vec::new();
        for registry in chosen {
            if !unique.contains(&registry) {
                unique.push(registry);
            }
        }
        unique
    }
}

/// Expands `${VAR}`, `${VAR:-default}`, `$VAR` and `$$`, once, left to right. Unset variables
/// are empty; `${VAR:-d}` uses `d` when VAR is unset or empty; anything else stays literal.
pub fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{')
            && let Some(close) = body.find('}')
            && close > 0
        {
            let inner = &body[..close];
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            if name.is_empty() || name.contains(':') {
                out.push('$');
                rest = after;
                continue;
            }
            let value = env(name).unwrap_or_default();
            match default {
                Some(default) if value.is_empty() => out.push_str(default),
                _ => out.push_str(&value),
            }
            rest = &body[close + 1..];
        } else {
            let name_len = after
                .char_indices()
                .take_while(|(index, c)| {
                    c.is_ascii_alphabetic() || *c == '_' || (*index > 0 && c.is_ascii_digit())
                })
                .count();
            if name_len == 0 {
                out.push('$');
                rest = after;
            } else {
                out.push_str(&env(&after[..name_len]).unwrap_or_default());
                rest = &after[name_len..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            "S" => Some("x/".into()),
            "A_B" => Some("ab".into()),
            _ => None,
        }
    }

    #[test]
    fn interpolation_forms() {
        let cases = [
            ("${A}", "alpha"),
            ("$A", "alpha"),
            ("${U:-dflt}", "dflt"),
            ("${EMPTY:-dflt}", "dflt"),
            ("${A:-dflt}", "alpha"),
            ("$$A", "$A"),
            ("$$$A", "$alpha"),
            ("x$$$", "x$$"),
            ("$A_B", "ab"),
            ("pre${U:-a:b}post", "prea:bpost"),
            ("${U}", ""),
            ("$1", "$1"),
            ("a$", "a$"),
            ("${}", "${}"),
            ("${A:x}", "${A:x}"),
            ("${U:-${A}}", "${A}"),
            ("r.io/${A}/img", "r.io/alpha/img"),
        ];
        for (input, expected) in cases {
            assert_eq!(interpolate(input, &env), expected, "{input}");
        }
    }

    fn load(text: &str) -> Result<Registry> {
        let path = Path::new(".registry");
        Registry::from_value(&yaml::parse(text, path)?, path, &env)
    }

    #[test]
    fn entries_strings_urls_and_legacy_alias() {
        let registry =
            load("local: localhost:5001/\nci:\n  - ghcr.io/acme/\n  - url: ${S}\n    name: s\n")
                .unwrap();
        assert_eq!(registry.local.as_deref(), Some("localhost:5001"));
        assert_eq!(registry.ci, ["ghcr.io/acme", "x/"]);
        let legacy = load("destinations: [a.io, b.io]\n").unwrap();
        assert_eq!(legacy.ci, ["a.io", "b.io"]);
        assert_eq!(legacy.select(Destination::All, false), ["a.io", "b.io"]);
        assert_eq!(
            registry.select(Destination::Auto, true),
            ["ghcr.io/acme", "x/"]
        );
        assert_eq!(
            registry.select(Destination::Auto, false),
            ["localhost:5001"]
        );
        assert_eq!(load("").unwrap(), Registry::default());
    }

    #[test]
    fn bad_registry_files_name_the_problem() {
        for (text, needle) in [
            ("- a\n- b\n", "expected a mapping"),
            ("ci: ghcr.io\n", "`ci` must be a list"),
            ("local: 5001\n", "got a number"),
            ("ci: [{name: x}]\n", "needs a string `url`"),
            ("remote: x\n", "unknown key `remote`"),
            ("local: [unclosed\n", "invalid YAML"),
        ] {
            let error = load(text).unwrap_err().to_string();
            assert!(
                error.contains(needle) && error.contains(".registry"),
                "{text:?}: {error}"
            );
        }
    }
}
