//! Lock text read into a [`Lock`]: the schema checked table by table and field by field.

use std::collections::BTreeMap;

use anyhow::Result;
use toml::Value;

use super::fields::{
    check_scheme, not_hex64, optional_string, required_string, safe_relative_path,
};
use super::place::{place_in, toml_message};
use super::{ArchiveKind, Artifact, Lock, Origin, Tool};
use crate::error::{Location, OpError};
use crate::toolchain::evidence;
use crate::toolchain::platform;
use crate::toolchain::template;

impl Lock {
    /// Parses and validates lock text.
    pub fn parse(text: &str, origin: Origin) -> Result<Lock> {
        let file = match &origin {
            Origin::File(path) => Some(path.clone()),
            Origin::Embedded => None,
        };
        let table: toml::Table = text.parse().map_err(|error: toml::de::Error| {
            let mut failure = OpError::config(format!(
                "{origin}: invalid TOML: {}",
                toml_message(&error, text)
            ));
            if let (Some(file), Some(span)) = (&file, error.span()) {
                failure = failure.at(Location::of_offset(file.clone(), text, span.start));
            }
            failure
        })?;
        let fail = |place: &str, message: String| -> anyhow::Error {
            let mut failure = OpError::config(format!("{origin}: {place}: {message}")).with_hint(
                "fix the lock file (README.md, section \"toolchain.lock\", has the schema)",
            );
            if let Some(file) = &file {
                failure = failure.at(place_in(file, text, place));
            }
            failure.into()
        };
        for key in table.keys() {
            if key != "schema" && key != "tools" {
                return Err(fail(
                    &format!("`{key}`"),
                    "unknown top-level key; expected `schema` and `tools`".into(),
                ));
            }
        }
        match table.get("schema") {
            Some(Value::Integer(1)) => {}
            Some(other) => {
                return Err(fail(
                    "`schema`",
                    format!("unsupported schema {other}; this op understands schema = 1"),
                ));
            }
            None => return Err(fail("`schema`", "missing; add `schema = 1`".into())),
        }
        let tools_table = match table.get("tools") {
            Some(Value::Table(tools)) => tools,
            Some(_) => return Err(fail("`tools`", "must be a table of tools".into())),
            None => return Err(fail("`tools`", "missing; the lock pins no tools".into())),
        };
        let mut tools = Vec::with_capacity(tools_table.len());
        for (name, value) in tools_table {
            let place = format!("tool `{name}`");
            if !valid_name(name) {
                return Err(fail(
                    &place,
                    "tool names use lowercase letters, digits, `-`, `_` and `.`".into(),
                ));
            }
            let Value::Table(tool) = value else {
                return Err(fail(&place, "must be a table".into()));
            };
            tools.push(parse_tool(name, tool).map_err(|message| fail(&place, message))?);
        }
        if let Origin::File(path) = &origin {
            evidence::locate(&mut tools, path.parent());
        }
        Ok(Lock { origin, tools })
    }
}

pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

pub(super) fn parse_tool(name: &str, tool: &toml::Table) -> Result<Tool, String> {
    for key in tool.keys() {
        if !["version", "checksums", "template", "evidence", "platforms"].contains(&key.as_str()) {
            return Err(format!(
                "unknown field `{key}`; expected `version`, `checksums`, `template`, `evidence` and `platforms`"
            ));
        }
    }
    let version = required_string(tool, "version")?;
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    {
        return Err(format!(
            "field `version`: {version:?} is not a version (letters, digits, `.`, `_`, `+`, `-`)"
        ));
    }
    let checksums = match tool.get("checksums") {
        None => Vec::new(),
        Some(Value::String(pattern)) => vec![pattern.clone()],
        Some(Value::Array(patterns)) if !patterns.is_empty() => patterns
            .iter()
            .map(|pattern| pattern.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or("field `checksums`: every entry of the list must be a string")?,
        Some(other) => {
            return Err(format!(
                "field `checksums`: expected a URL pattern or a non-empty list of them, got {}",
                other.type_str()
            ));
        }
    };
    for pattern in &checksums {
        template::checksums_url(pattern, "https://example.invalid/asset", &version)
            .map_err(|error| format!("field `checksums`: {error}"))?;
    }
    let template = match tool.get("template") {
        None => None,
        Some(Value::Table(table)) => Some(
            template::parse(table, &version)
                .map_err(|error| format!("field `template`: {error}"))?,
        ),
        Some(_) => return Err("field `template`: must be a table".into()),
    };
    let policy = tool
        .get("evidence")
        .map(|value| evidence::parse_policy(value, &version, checksums.len()))
        .transpose()?;
    let platforms_table = match tool.get("platforms") {
        Some(Value::Table(platforms)) => platforms,
        Some(_) => return Err("field `platforms`: must be a table of platforms".into()),
        None => {
            return Err(format!(
                "field `platforms`: missing; add [tools.{name}.platforms.<platform>] tables"
            ));
        }
    };
    let mut platforms = BTreeMap::new();
    for (key, value) in platforms_table {
        platform::validate(key).map_err(|error| format!("platform `{key}`: {error}"))?;
        let Value::Table(entry) = value else {
            return Err(format!("platform `{key}`: must be a table"));
        };
        let mut artifact =
            parse_artifact(entry).map_err(|message| format!("platform `{key}`: {message}"))?;
        if let Some(record) = &mut artifact.evidence {
            evidence::attach(policy.as_ref(), record)
                .map_err(|message| format!("platform `{key}`: {message}"))?;
        }
        platforms.insert(key.clone(), artifact);
    }
    Ok(Tool {
        name: name.to_string(),
        version,
        checksums,
        template,
        evidence: policy,
        platforms,
    })
}

fn parse_artifact(entry: &toml::Table) -> Result<Artifact, String> {
    for key in entry.keys() {
        if ![
            "url", "mirrors", "sha256", "archive", "bin", "size", "evidence",
        ]
        .contains(&key.as_str())
        {
            return Err(format!(
                "unknown field `{key}`; expected `url`, `mirrors`, `sha256`, `archive`, `bin`, `size` and `evidence`"
            ));
        }
    }
    let url = required_string(entry, "url")?;
    check_scheme("url", &url)?;
    let mirrors = parse_mirrors(entry, &url)?;
    let sha256 = required_string(entry, "sha256")?;
    if let Some(problem) = not_hex64(&sha256) {
        return Err(format!(
            "field `sha256`: expected 64 hexadecimal characters, {problem} ({sha256:?})"
        ));
    }
    let archive = match required_string(entry, "archive")?.as_str() {
        "raw" => ArchiveKind::Raw,
        "tar.gz" | "tgz" => ArchiveKind::TarGz,
        "zip" => ArchiveKind::Zip,
        other => {
            return Err(format!(
                "field `archive`: unknown kind {other:?}; expected \"raw\", \"tar.gz\" or \"zip\""
            ));
        }
    };
    let bin = optional_string(entry, "bin")?;
    match (&bin, archive) {
        (None, ArchiveKind::TarGz | ArchiveKind::Zip) => {
            return Err(format!(
                "field `bin`: missing; a {} archive needs the path of the executable inside it",
                archive.as_str()
            ));
        }
        (Some(_), ArchiveKind::Raw) => {
            return Err(
                "field `bin`: a raw artifact is the executable itself; remove `bin`".into(),
            );
        }
        (Some(path), _) if !safe_relative_path(path) => {
            return Err(format!(
                "field `bin`: {path:?} must be a relative path inside the archive without `..`"
            ));
        }
        _ => {}
    }
    let size = match entry.get("size") {
        None => None,
        Some(Value::Integer(size)) if *size > 0 => Some(*size as u64),
        Some(other) => {
            return Err(format!(
                "field `size`: expected a positive byte count, got {other}"
            ));
        }
    };
    let sha256 = sha256.to_ascii_lowercase();
    let evidence = entry
        .get("evidence")
        .map(|value| evidence::parse_record(value, &sha256))
        .transpose()?;
    Ok(Artifact {
        url,
        mirrors,
        sha256,
        archive,
        bin,
        size,
        evidence,
    })
}

/// `mirrors = ["https://mirror.internal/…", …]`: full URLs of the artifact's bytes, each listed
/// once and none the `url` itself.
fn parse_mirrors(entry: &toml::Table, url: &str) -> Result<Vec<String>, String> {
    let Some(value) = entry.get("mirrors") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(format!(
            "field `mirrors`: expected an array of URLs, got {value}"
        ));
    };
    let mut mirrors: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(mirror) = item else {
            return Err(format!("field `mirrors`: expected URL strings, got {item}"));
        };
        check_scheme("mirrors", mirror)?;
        if mirror == url || mirrors.contains(mirror) {
            return Err(format!(
                "field `mirrors`: {:?} is listed twice (every source once; `url` is tried last)",
                crate::redact::url(mirror)
            ));
        }
        mirrors.push(mirror.clone());
    }
    Ok(mirrors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::lock::tests::GOOD;

    fn error_of(text: &str) -> String {
        Lock::parse(text, Origin::File("locks/t.lock".into()))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn mirrors_are_optional_ordered_urls_tried_before_url() {
        let lock = Lock::parse(GOOD, Origin::Embedded).unwrap();
        assert!(lock.tools[0].platforms["linux-amd64"].mirrors.is_empty());
        let text = GOOD.replace(
            "archive = ",
            "mirrors = [\n  \"https://mirror.internal/demo.tar.gz\",\n  \"file:///srv/m/demo.tar.gz\",\n]\narchive = ",
        );
        let lock = Lock::parse(&text, Origin::Embedded).unwrap();
        let artifact = &lock.tools[0].platforms["linux-amd64"];
        assert_eq!(artifact.url, "https://example.com/demo.tar.gz");
        assert_eq!(
            artifact.mirrors,
            [
                "https://mirror.internal/demo.tar.gz",
                "file:///srv/m/demo.tar.gz"
            ]
        );
    }

    #[test]
    fn bad_mirrors_are_refused_with_the_field_named() {
        let with = |value: &str| {
            error_of(&GOOD.replace("archive = ", &format!("mirrors = {value}\narchive = ")))
        };
        for (value, expected) in [
            ("\"https://m/x\"", "expected an array of URLs"),
            ("[1]", "expected URL strings"),
            ("[\"ftp://m/x\"]", "must start with https://"),
            ("[\"https://m/x\", \"https://m/x\"]", "listed twice"),
            ("[\"https://example.com/demo.tar.gz\"]", "listed twice"),
        ] {
            let error = with(value);
            assert!(
                error.contains("field `mirrors`") && error.contains(expected),
                "{value}: {error}"
            );
        }
        let error = with("[\"https://user:pw-secret@m/x\", \"https://user:pw-secret@m/x\"]");
        assert!(!error.contains("pw-secret"), "{error}");
    }

    #[test]
    fn good_lock_parses() {
        let lock = Lock::parse(GOOD, Origin::Embedded).unwrap();
        let artifact = lock.tool("demo").unwrap().platforms["linux-amd64"].clone();
        assert_eq!(artifact.archive, ArchiveKind::TarGz);
        assert_eq!(artifact.bin.as_deref(), Some("demo"));
    }

    #[test]
    fn errors_name_file_tool_platform_and_field() {
        let short = GOOD.replace(&"0".repeat(64), &"0".repeat(63));
        let error = error_of(&short);
        for part in ["locks/t.lock", "demo", "linux-amd64", "sha256", "63"] {
            assert!(error.contains(part), "{part} missing from: {error}");
        }
        let error = error_of(&GOOD.replace("tar.gz\"", "rar\""));
        assert!(
            error.contains("archive") && error.contains("rar"),
            "{error}"
        );
        let error = error_of(&GOOD.replace("url = ", "link = "));
        assert!(error.contains("unknown field `link`"), "{error}");
        let error = error_of(&GOOD.replace("bin = \"demo\"", ""));
        assert!(error.contains("field `bin`"), "{error}");
        let error = error_of(&GOOD.replace("linux-amd64", "linux-mips"));
        assert!(error.contains("linux-mips"), "{error}");
        let error = error_of("schema = 1\n[tools.demo\n");
        assert!(error.contains("invalid TOML"), "{error}");
        let error = error_of(&GOOD.replace("bin = \"demo\"", "bin = \"../demo\""));
        assert!(error.contains("without `..`"), "{error}");
    }

    #[test]
    fn checksums_is_one_pattern_or_a_list() {
        let with = |value: &str| {
            GOOD.replace(
                "version = \"1.0.0\"",
                &format!("version = \"1.0.0\"\nchecksums = {value}"),
            )
        };
        let lock = Lock::parse(
            &with(r#"["{url}.sha256", "https://x/v{version}/sums.txt"]"#),
            Origin::Embedded,
        )
        .unwrap();
        assert_eq!(lock.tools[0].checksums.len(), 2);
        let lock = Lock::parse(&with(r#""{url}.sha256""#), Origin::Embedded).unwrap();
        assert_eq!(lock.tools[0].checksums, ["{url}.sha256"]);
        for (bad, message) in [
            ("[]", "non-empty list"),
            ("[1]", "must be a string"),
            ("3", "got integer"),
            (r#""{url}.{sha}""#, "unknown placeholder {sha}"),
        ] {
            let error = error_of(&with(bad));
            assert!(
                error.contains("checksums") && error.contains(message),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn template_errors_name_the_field() {
        let with = |template: &str| format!("{GOOD}\n[tools.demo.template]\n{template}\n");
        let error = error_of(&with("url = \"https://e/{version}\"\nurl_template = \"x\""));
        assert!(
            error.contains("template") && error.contains("unknown field `url_template`"),
            "{error}"
        );
        let error = error_of(&with("url = \"https://e/{version}\"\narchive = \"zip\""));
        assert!(error.contains("needs `bin`"), "{error}");
        let error = error_of(&with(
            "url = \"https://e/{version}\"\n[tools.demo.template.platforms]\nlinux-amd64 = { os = \"l\", cpu = \"x\" }",
        ));
        assert!(
            error.contains("linux-amd64") && error.contains("unknown field `cpu`"),
            "{error}"
        );
        let error = error_of(&with(
            "url = \"https://e/{version}\"\narchive = \"tar.gz\"\nbin = \"../x\"",
        ));
        assert!(error.contains("without `..`"), "{error}");
    }
}
