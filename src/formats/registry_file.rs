//! `.registry`: where images are pushed. `local` (one registry) and `ci` (a list; `destinations`
//! is its legacy name); entries are strings or `{url, name}`; `${VAR}`, `$VAR`, `${VAR:-default}`
//! (default when VAR is unset or empty) and `$$` are expanded from the environment.

use std::fmt;
use std::path::Path;

use anyhow::Result;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use crate::bounded;
use crate::error::OpError;
use crate::formats::{reference_problem, yaml};
use crate::redact;

pub const FILE_NAME: &str = ".registry";

const HINT: &str = "a .registry looks like:
  local: localhost:5001
  ci:
    - ghcr.io/acme
    - url: ${GAR_REPOSITORY}
      name: gar";

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

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    local: Option<Entry>,
    ci: Option<Vec<Entry>>,
    destinations: Option<Vec<Entry>>,
}

/// One registry as written: a string, or a mapping `{url, name}`.
struct Entry(String);

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = Entry;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a registry: a string, or {url, name}")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Entry, E> {
                Ok(Entry(text.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let mut url = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "url" => url = Some(map.next_value::<String>()?),
                        "name" => {
                            map.next_value::<Option<String>>()?;
                        }
                        other => return Err(de::Error::unknown_field(other, &["url", "name"])),
                    }
                }
                url.map(Entry)
                    .ok_or_else(|| de::Error::missing_field("url"))
            }
        }
        deserializer.deserialize_any(EntryVisitor)
    }
}

impl Registry {
    /// Reads `path`; a missing or empty file is an empty registry. `env` supplies interpolation.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Registry> {
        match yaml::read(path, "registry file", bounded::REGISTRY_CAP)? {
            None => Ok(Registry::default()),
            Some(text) => Registry::parse(&text, path, env),
        }
    }

    /// Parses the text of a `.registry`; `path` is for messages.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Registry> {
        let raw: RawFile = yaml::from_str(text, path, HINT)?;
        // Trimmed and trailing `/` dropped before interpolation: a `/` from a variable survives.
        // Checked after it: a variable's value is printed and passed on as much as the text.
        let normalise = |place: String, Entry(text): Entry| -> Result<String> {
            let mut values = Vec::new();
            let entry = expand(text.trim().trim_end_matches('/'), env, &mut values);
            remember_secrets(&entry, &values);
            match reference_problem(&entry) {
                None => Ok(entry),
                Some(problem) => Err(OpError::config(format!(
                    "{}: {place} {problem}",
                    path.display()
                ))
                .with_hint("check the entry and the variables it expands")
                .into()),
            }
        };
        let local = match raw.local {
            Some(entry) => Some(normalise("local".into(), entry)?),
            None => None,
        }
        .filter(|text| !text.is_empty());
        let (key, list) = match raw.ci {
            Some(ci) if !ci.is_empty() => ("ci", ci),
            _ => ("destinations", raw.destinations.unwrap_or_default()),
        };
        let mut ci = Vec::with_capacity(list.len());
        for (index, entry) in list.into_iter().enumerate() {
            let entry = normalise(format!("{key}[{index}]"), entry)?;
            if !entry.is_empty() {
                ci.push(entry);
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

/// Makes an entry's credentials known to [`redact`], so that no line printed shows them: the
/// password (or token) of the entry, every variable's value that went into it, and the value of
/// any variable whose name says it is a secret, wherever it went.
fn remember_secrets(entry: &str, values: &[(String, String)]) {
    let secrets = redact::secrets_in(entry);
    for secret in &secrets {
        redact::remember(secret);
    }
    for (name, value) in values {
        let named_secret = SECRET_NAMES
            .iter()
            .any(|part| name.to_ascii_uppercase().contains(part));
        if named_secret || secrets.iter().any(|secret| secret.contains(value.as_str())) {
            redact::remember(value);
        }
    }
}

/// Parts of variable names that hold secrets (`REGISTRY_PASSWORD`, `GAR_TOKEN`, …).
const SECRET_NAMES: [&str; 7] = [
    "PASS",
    "SECRET",
    "TOKEN",
    "CREDENTIAL",
    "AUTH",
    "API_KEY",
    "PRIVATE",
];

/// Expands `${VAR}`, `${VAR:-default}`, `$VAR` and `$$`, once, left to right. Unset variables
/// are empty; `${VAR:-d}` uses `d` when VAR is unset or empty; anything else stays literal.
pub fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    expand(text, env, &mut Vec::new())
}

/// [`interpolate`], noting each variable's name and non-empty value in `values`.
fn expand(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    values: &mut Vec<(String, String)>,
) -> String {
    let mut noted = |name: &str| {
        let value = env(name).unwrap_or_default();
        if !value.is_empty() {
            values.push((name.to_string(), value.clone()));
        }
        value
    };
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
            let value = noted(name);
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
                out.push_str(&noted(&after[..name_len]));
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
            "NL" => Some("r.io\n::warning::x".into()),
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
            ("${A-d}", ""),
            ("${A }", ""),
            ("$-", "$-"),
            ("${EMPTY}x", "x"),
            ("${EMPTY:-}", ""),
            ("$A$A", "alphaalpha"),
            ("${A}${U:-b}$$", "alphab$"),
        ];
        for (input, expected) in cases {
            assert_eq!(interpolate(input, &env), expected, "{input}");
        }
    }

    #[test]
    fn credentials_and_the_variables_in_them_are_masked_once_read() {
        let env = |name: &str| match name {
            "REG_USER" => Some("unit-test-bot".to_string()),
            "REG_PASSWORD_PART" => Some("UnitVarSecret".to_string()),
            "UNIT_REGISTRY_TOKEN" => Some("UnitNamedToken".to_string()),
            _ => None,
        };
        let registry = Registry::parse(
            "ci:\n  - 'bot:UnitLiteral/Secret@ghcr.io/acme'\n  - '${REG_USER}:x-${REG_PASSWORD_PART}@gar.example.com/a'\n  - 'r.io/${UNIT_REGISTRY_TOKEN}'\n",
            Path::new(".registry"),
            &env,
        )
        .unwrap();
        assert_eq!(registry.ci[0], "bot:UnitLiteral/Secret@ghcr.io/acme");
        assert_eq!(
            redact::text("UnitLiteral/Secret UnitVarSecret UnitNamedToken unit-test-bot"),
            "*** *** *** unit-test-bot"
        );
    }

    fn load(text: &str) -> Result<Registry> {
        Registry::parse(text, Path::new("app/.registry"), &env)
    }

    #[test]
    fn entries_strings_urls_and_legacy_alias() {
        let registry = load(
            "local: localhost:5001/\nci:\n  - ghcr.io/acme/\n  - url: ${S}\n    name: s\n  - {url: ' $A/x '}\n",
        )
        .unwrap();
        assert_eq!(registry.local.as_deref(), Some("localhost:5001"));
        assert_eq!(registry.ci, ["ghcr.io/acme", "x/", "alpha/x"]);
        let legacy = load("destinations: [a.io, b.io]\n").unwrap();
        assert_eq!(legacy.ci, ["a.io", "b.io"]);
        assert_eq!(legacy.select(Destination::All, false), ["a.io", "b.io"]);
        let empty_ci = load("ci: []\ndestinations: [old.io]\n").unwrap();
        assert_eq!(
            empty_ci.ci,
            ["old.io"],
            "an empty ci falls back to destinations"
        );
        let both = load("ci: [new.io]\ndestinations: [old.io]\n").unwrap();
        assert_eq!(both.ci, ["new.io"]);
        assert_eq!(
            registry.select(Destination::Auto, true),
            ["ghcr.io/acme", "x/", "alpha/x"]
        );
        assert_eq!(
            registry.select(Destination::Auto, false),
            ["localhost:5001"]
        );
        assert_eq!(
            load("local: a.io\nci: [b.io, a.io, b.io]\n")
                .unwrap()
                .select(Destination::All, false),
            ["a.io", "b.io"]
        );
    }

    #[test]
    fn empty_files_and_empty_entries() {
        for text in [
            "",
            "# no registries\n",
            "~\n",
            "local:\nci:\n",
            "local: ''\nci: ['', '${UNSET}']\n",
        ] {
            assert_eq!(load(text).unwrap(), Registry::default(), "{text:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Registry::load(&dir.path().join(FILE_NAME), &env).unwrap(),
            Registry::default(),
            "a missing .registry is empty"
        );
    }

    #[test]
    fn bad_registry_files_name_file_line_and_expectation() {
        for (text, needle) in [
            ("- a\n- b\n", "line 1 column 1: expected a mapping"),
            ("ci: ghcr.io\n", "line 1 column 5: expected a list"),
            (
                "destinations: {a: b}\n",
                "line 1 column 15: expected a list",
            ),
            (
                "local: 5001\n",
                "invalid type: integer `5001`, expected a registry",
            ),
            (
                "ci:\n  - a.io\n  - [b]\n",
                "line 3 column 5: invalid type: sequence",
            ),
            ("ci: [{name: x}]\n", "missing field `url`"),
            (
                "ci:\n  - url: a\n    nmae: x\n",
                "unknown field `nmae`, expected one of url, name",
            ),
            ("ci:\n  - url: [a]\n", "line 2 column 10"),
            (
                "remote: x\n",
                "unknown field `remote`, expected one of local, ci, destinations",
            ),
            ("local: [unclosed\n", "app/.registry"),
            (
                "ci: [a.io, \"b.io\\a\"]\n",
                "ci[1] contains a control character (U+0007)",
            ),
            (
                "local: ${NL}\n",
                "local contains a control character (U+000A)",
            ),
        ] {
            let error = load(text).unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with("app/.registry: ") && message.contains(needle),
                "{text:?}: {message}"
            );
            assert_eq!(crate::error::exit_code(&error), 2);
        }
    }
}
