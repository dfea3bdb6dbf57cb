//! `toolchain.lock`: its schema, where it is found, and validation with messages that name the
//! file, tool, platform and field at fault.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use toml::Value;

use crate::bounded;
use crate::error::{Location, OpError};
use crate::settings;
use crate::toolchain::evidence;
use crate::toolchain::platform;
use crate::toolchain::template::{self, Template};

/// The lock shipped in the repository, compiled into the binary.
pub const EMBEDDED: &str = include_str!("../../toolchain.lock");

/// The file name looked for in the current directory and its parents.
pub const FILE_NAME: &str = "toolchain.lock";

/// Where the active lock came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Embedded,
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Embedded => f.write_str("the built-in toolchain.lock"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveKind {
    Raw,
    TarGz,
    Zip,
}

impl ArchiveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveKind::Raw => "raw",
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::Zip => "zip",
        }
    }
}

/// One downloadable artifact: a tool's release for one platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The origin: what a template renders, what `OP_TOOLCHAIN_MIRROR` lays out, what
    /// DEPENDENCIES.md shows.
    pub url: String,
    /// Other full URLs of the same bytes, tried in this order before `url`.
    pub mirrors: Vec<String>,
    /// Lowercase hex SHA-256 of the bytes served at `url`.
    pub sha256: String,
    pub archive: ArchiveKind,
    /// Path of the executable inside the archive (`None` for raw).
    pub bin: Option<String>,
    pub size: Option<u64>,
    /// What was verified for this artifact (`[tools.X.platforms.P.evidence]`).
    pub evidence: Option<evidence::Record>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tool {
    pub name: String,
    pub version: String,
    /// Where upstream publishes digests (`{url}`, `{asset}` and `{version}` are filled in); with
    /// more than one source, all must agree. Empty when the lock names none.
    pub checksums: Vec<String>,
    /// How to compute every platform's artifact for another version.
    pub template: Option<Template>,
    /// The evidence every platform's pin must be proven by (`[tools.X.evidence]`).
    pub evidence: Option<evidence::Policy>,
    pub platforms: BTreeMap<String, Artifact>,
}

#[derive(Clone, Debug)]
pub struct Lock {
    pub origin: Origin,
    /// Tools in the order the file lists them.
    pub tools: Vec<Tool>,
}

impl Lock {
    /// Loads the active lock: `explicit` (`--lock`), else `OP_TOOLCHAIN_LOCK`, else a
    /// `toolchain.lock` in the current directory or a parent up to the repository root, else the
    /// built-in one.
    pub fn load(explicit: Option<&Path>) -> Result<Lock> {
        let (text, origin) = Lock::read(explicit)?;
        Lock::parse(&text, origin)
    }

    /// The active lock's text and where it came from (see [`Lock::load`]), not parsed.
    pub fn read(explicit: Option<&Path>) -> Result<(std::borrow::Cow<'static, str>, Origin)> {
        let chosen = explicit
            .map(Path::to_path_buf)
            .or_else(|| settings::var(settings::TOOLCHAIN_LOCK).map(PathBuf::from));
        let path = match chosen {
            Some(path) => Some(path),
            None => discover(&std::env::current_dir().map_err(|error| {
                OpError::config(format!("cannot read the current directory: {error}"))
            })?),
        };
        match path {
            None => Ok((EMBEDDED.into(), Origin::Embedded)),
            Some(path) => {
                let text = bounded::read_capped_to_string(&path, "lock file", bounded::LOCK_CAP)
                    .map_err(|mut error| {
                        error.hint.get_or_insert_with(|| {
                            "pass an existing file with --lock or OP_TOOLCHAIN_LOCK".into()
                        });
                        error
                    })?;
                let path = std::path::absolute(&path).unwrap_or(path);
                Ok((text.into(), Origin::File(path)))
            }
        }
    }

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

    pub fn tool(&self, name: &str) -> Result<&Tool> {
        self.tools
            .iter()
            .find(|tool| tool.name == name)
            .ok_or_else(|| {
                let names = self.tool_names();
                let guess = crate::output::nearest(name, &names)
                    .map(|guess| format!(" (did you mean `{guess}`?)"))
                    .unwrap_or_default();
                OpError::config(format!(
                    "{} has no tool `{name}`{guess}; it pins {}",
                    self.origin,
                    names.join(", ")
                ))
                .into()
            })
    }

    pub fn tool_names(&self) -> Vec<&str> {
        self.tools.iter().map(|tool| tool.name.as_str()).collect()
    }

    /// DEPENDENCIES.md: every pinned tool, version, platform, digest and URL of `lock`.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "# Dependencies\n\n\
             The exact tool releases `op` installs, from `toolchain.lock`. Every artifact is checked \
             against its SHA-256 before it is installed.\n\n\
             Generated by `op toolchain list --markdown > DEPENDENCIES.md`; a test fails when this file \
             and `toolchain.lock` disagree.\n\n\
             | tool | version | platforms |\n|---|---|---|\n",
        );
        for tool in &self.tools {
            let platforms: Vec<&str> = tool.platforms.keys().map(String::as_str).collect();
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                tool.name,
                tool.version,
                platforms.join(", ")
            ));
        }
        for tool in &self.tools {
            out.push_str(&format!(
                "\n## {} {}\n\n| platform | archive | sha256 | url |\n|---|---|---|---|\n",
                tool.name, tool.version
            ));
            for (platform, artifact) in &tool.platforms {
                let archive = match &artifact.bin {
                    Some(bin) => format!("{} (`{bin}`)", artifact.archive.as_str()),
                    None => artifact.archive.as_str().to_string(),
                };
                out.push_str(&format!(
                    "| {platform} | {archive} | `{}` | {} |\n",
                    artifact.sha256,
                    crate::toolchain::fetch::redact(&artifact.url)
                ));
            }
        }
        out.truncate(out.trim_end().len());
        out
    }
}

impl Tool {
    /// The artifact for `platform`, or exit 5 naming the platforms the lock has.
    pub fn artifact(&self, platform: &str, origin: &Origin) -> Result<&Artifact> {
        self.platforms.get(platform).ok_or_else(|| {
            let have: Vec<&str> = self.platforms.keys().map(String::as_str).collect();
            OpError::new(
                crate::error::Code::NoPlatform,
                format!(
                    "{origin}: tool `{}` {} has no entry for platform {platform}; it has: {}",
                    self.name,
                    self.version,
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                ),
            )
            .with_hint(format!(
                "add [tools.{}.platforms.{platform}] to the lock, or set OP_TOOLCHAIN_PLATFORM",
                self.name
            ))
            .into()
        })
    }
}

/// Where `[tools.NAME]` and its subtables are written in `text`, as one run of lines: from the
/// `[tools.NAME]` header to the next header that is not one of its subtables. Only a
/// candidate: [`tool_from_fragment`] of the span must give the tool the whole file gives.
pub fn tool_span(text: &str, name: &str) -> Option<(usize, usize)> {
    let header = format!("[tools.{name}]");
    let inner = format!("[tools.{name}.");
    let mut start = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            match start {
                None if trimmed == header => start = Some(offset),
                Some(begin) if !trimmed.starts_with(&inner) => return Some((begin, offset)),
                _ => {}
            }
        }
        offset += line.len();
    }
    start.map(|begin| (begin, text.len()))
}

/// The tool `name` from a fragment of lock text that defines exactly `[tools.NAME]` (and its
/// subtables), validated as [`Lock::parse`] validates it; `None` when the fragment is anything
/// else. Evidence files are placed relative to `origin` as in a full parse.
pub fn tool_from_fragment(fragment: &str, name: &str, origin: &Origin) -> Option<Tool> {
    if !valid_name(name) || !fragment.starts_with(&format!("[tools.{name}]")) {
        return None;
    }
    let table: toml::Table = fragment.parse().ok()?;
    let [(key, Value::Table(tools))] = table.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let [(tool_name, Value::Table(tool))] = tools.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    if key != "tools" || tool_name != name {
        return None;
    }
    let mut tools = [parse_tool(name, tool).ok()?];
    if let Origin::File(path) = origin {
        evidence::locate(&mut tools, path.parent());
    }
    let [tool] = tools;
    Some(tool)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn parse_tool(name: &str, tool: &toml::Table) -> Result<Tool, String> {
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

fn check_scheme(field: &str, url: &str) -> Result<(), String> {
    if url.starts_with("https://") || url.starts_with("http://") || url.starts_with("file://") {
        return Ok(());
    }
    Err(format!(
        "field `{field}`: {:?} must start with https://, http:// or file://",
        crate::redact::url(url)
    ))
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

/// A relative path with `/` separators, no empty, `.` or `..` components and no drive prefix.
pub fn safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains(':')
        && path
            .trim_start_matches("./")
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

pub(crate) fn required_string(table: &toml::Table, field: &str) -> Result<String, String> {
    optional_string(table, field)?.ok_or_else(|| format!("field `{field}`: missing"))
}

pub(crate) fn optional_string(table: &toml::Table, field: &str) -> Result<Option<String>, String> {
    match table.get(field) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(format!(
            "field `{field}`: expected a string, got {}",
            other.type_str()
        )),
    }
}

/// Where `place` (`` `tools.kubectl.platforms.linux-amd64` ``, `` `schema` ``) is in the lock
/// text: the line of its table header or key, else the file alone.
fn place_in(file: &std::path::Path, text: &str, place: &str) -> Location {
    let quoted = place.split('`').nth(1).unwrap_or(place);
    let key = quoted;
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let header = text
        .find(&format!("[{key}]"))
        .or_else(|| text.find(&format!("[tools.{key}]")));
    let found = header.or_else(|| {
        text.match_indices(leaf)
            .map(|(index, _)| index)
            .find(|&index| {
                let line_start = text[..index].rfind('\n').map_or(0, |at| at + 1);
                text[line_start..index].trim().is_empty()
                    && text[index + leaf.len()..].trim_start().starts_with('=')
            })
    });
    match found {
        Some(offset) => Location::of_offset(file, text, offset),
        None => Location {
            file: file.to_path_buf(),
            line: None,
            column: None,
        },
    }
}

/// What keeps `text` from being a SHA-256 in hex: its length, or its first non-hex character.
pub(crate) fn not_hex64(text: &str) -> Option<String> {
    let length = text.chars().count();
    if length != 64 {
        return Some(format!("got {length}"));
    }
    text.chars()
        .position(|c| !c.is_ascii_hexdigit())
        .map(|index| {
            let c = text.chars().nth(index).unwrap_or('?');
            format!("but character {} is {c:?}", index + 1)
        })
}

/// The parser's message; its key-depth limit comes without a place, so find the line.
fn toml_message(error: &toml::de::Error, text: &str) -> String {
    let message = error.to_string().trim_end().to_string();
    if error.span().is_some() || !message.contains("recursion limit") {
        return message;
    }
    // A dotted key (`a.b.c = 1` or `[a.b.c]`) of 80 or more parts; quoted dots may over-count,
    // which only matters when the parser has already refused the file for this.
    let deep = text.lines().position(|line| {
        let line = line.trim_start();
        let key = match line.strip_prefix('[') {
            Some(header) => header.split(']').next().unwrap_or(header),
            None => line.split('=').next().unwrap_or(line),
        };
        key.matches('.').count() >= 79
    });
    match deep {
        Some(index) => format!(
            "line {}: a key nests deeper than the 80 levels the TOML reader accepts",
            index + 1
        ),
        None => "a key or value nests deeper than the TOML reader accepts".to_string(),
    }
}

/// The nearest `toolchain.lock` in `start` or a parent, not looking above the repository root
/// (the first directory that holds `.git`). Anything by that name counts, even a directory or
/// a dangling link, so that reading it fails instead of another lock silently taking its place.
fn discover(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if bounded::exists(&candidate) {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
schema = 1
[tools.demo]
version = "1.0.0"
[tools.demo.platforms.linux-amd64]
url = "https://example.com/demo.tar.gz"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
archive = "tar.gz"
bin = "demo"
"#;

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
    fn embedded_lock_pins_five_tools_on_five_platforms() {
        let lock = Lock::parse(EMBEDDED, Origin::Embedded).unwrap();
        assert_eq!(
            lock.tool_names(),
            ["skaffold", "pack", "flux", "kubectl", "crane"]
        );
        for tool in &lock.tools {
            let keys: Vec<&str> = tool.platforms.keys().map(String::as_str).collect();
            let mut expected = platform::KEYS.to_vec();
            expected.sort_unstable();
            assert_eq!(keys, expected, "{}", tool.name);
            for artifact in tool.platforms.values() {
                assert!(artifact.url.contains(&tool.version), "{}", artifact.url);
            }
        }
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

    #[test]
    fn a_too_deep_key_is_placed() {
        let key = vec!["a"; 90].join(".");
        for text in [
            format!("schema = 1\n{key} = 1\n"),
            format!("schema = 1\n[{key}]\n"),
        ] {
            let message = Lock::parse(&text, Origin::Embedded)
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("invalid TOML: line 2: a key nests deeper"),
                "{message}"
            );
        }
    }

    #[test]
    fn missing_platform_lists_what_exists() {
        let lock = Lock::parse(GOOD, Origin::Embedded).unwrap();
        let error = lock
            .tool("demo")
            .unwrap()
            .artifact("darwin-arm64", &lock.origin)
            .unwrap_err();
        assert_eq!(crate::error::exit_code(&error), 5);
        let text = error.to_string();
        assert!(
            text.contains("demo") && text.contains("linux-amd64"),
            "{text}"
        );
    }

    #[test]
    fn discovery_stops_at_the_repository_root() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        let nested = repo.join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(root.path().join(FILE_NAME), GOOD).unwrap();
        std::fs::create_dir(repo.join(".git")).unwrap();
        assert_eq!(discover(&nested), None);
        std::fs::write(repo.join("a").join(FILE_NAME), GOOD).unwrap();
        assert_eq!(discover(&nested), Some(repo.join("a").join(FILE_NAME)));
    }
}
