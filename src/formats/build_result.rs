//! `build_result.json`, the hand-off between steps: written in skaffold's `--file-output` shape
//! `{"builds":[{"imageName":…,"tag":…}]}` (always atomically), read from that shape or from a
//! list of plain reference strings.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::bounded;
use crate::error::OpError;
use crate::formats::reference_problem;

pub const FILE_NAME: &str = "build_result.json";

const HINT: &str =
    "expected {\"builds\": [{\"imageName\": \"api\", \"tag\": \"ghcr.io/acme/api:1.0.0\"}]}";

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

    /// Whether this is the build of `image` (its `imageName`, or the last path component).
    pub fn matches(&self, image: &str) -> bool {
        self.image_name.as_deref() == Some(image)
            || self.name() == image
            || self.name() == image.rsplit('/').next().unwrap_or(image)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    builds: Vec<Entry>,
}

/// An entry as written: `{"imageName": …, "tag": …}` or a plain reference string.
struct Entry(Build);

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = Entry;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a build: {\"imageName\": …, \"tag\": …} or a reference string")
            }
            fn visit_str<E: de::Error>(self, tag: &str) -> Result<Entry, E> {
                if tag.trim().is_empty() {
                    return Err(E::invalid_value(de::Unexpected::Str(tag), &self));
                }
                Ok(Entry(Build {
                    image_name: None,
                    tag: tag.to_string(),
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let (mut image_name, mut tag) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "imageName" => image_name = map.next_value::<Option<String>>()?,
                        "tag" => tag = Some(map.next_value::<String>()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["imageName", "tag"]));
                        }
                    }
                }
                match tag {
                    Some(tag) if !tag.trim().is_empty() => Ok(Entry(Build { image_name, tag })),
                    Some(tag) => Err(de::Error::invalid_value(
                        de::Unexpected::Str(&tag),
                        &"a non-empty image reference",
                    )),
                    None => Err(de::Error::missing_field("tag")),
                }
            }
        }
        deserializer.deserialize_any(EntryVisitor)
    }
}

/// `--build-result PATH`: a file, or a directory holding `build_result.json`. A directory that
/// is itself named `build_result.json` is where the file should be, and is refused when read.
pub fn resolve(path: &Path) -> PathBuf {
    if path.is_dir() && path.file_name() != Some(std::ffi::OsStr::new(FILE_NAME)) {
        path.join(FILE_NAME)
    } else {
        path.to_path_buf()
    }
}

/// Reads the builds of `path`; missing, empty, malformed, not a regular file or larger than
/// [`bounded::BUILD_RESULT_CAP`] is exit 2 naming the file.
pub fn read(path: &Path) -> Result<Vec<Build>> {
    let text = bounded::read_capped_to_string(path, "build result", bounded::BUILD_RESULT_CAP)
        .map_err(|mut error| {
            error.hint.get_or_insert_with(|| {
                "run `op push` or `op build-push` first, or pass --build-result PATH".into()
            });
            error
        })?;
    parse(&text, path)
}

/// Parses the text of a build result; `path` is for messages. A leading byte-order mark is
/// ignored.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Build>> {
    let fail = |message: String| -> anyhow::Error {
        OpError::config(format!("{}: {message}", path.display()))
            .with_hint(HINT)
            .into()
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(fail("the file is empty".into()));
    }
    if !text.trim_start().starts_with('{') {
        return Err(fail(
            "line 1: expected a JSON object with a `builds` list".into(),
        ));
    }
    let raw: RawFile = serde_json::from_str(text).map_err(|error| {
        let message = error.to_string();
        // serde_json ends its messages with " at line L column C"; lead with the place instead.
        let message = match message.rfind(" at line ") {
            Some(at) => message[..at].to_string(),
            None => message,
        };
        fail(format!(
            "line {} column {}: {message}",
            error.line(),
            error.column()
        ))
    })?;
    if raw.builds.is_empty() {
        return Err(fail(
            "`builds` is empty: the build produced no image".into(),
        ));
    }
    let builds: Vec<Build> = raw.builds.into_iter().map(|Entry(build)| build).collect();
    for (index, build) in builds.iter().enumerate() {
        let fields = [
            ("tag", Some(&build.tag)),
            ("imageName", build.image_name.as_ref()),
        ];
        for (field, value) in fields {
            let Some(problem) = value.and_then(|value| reference_problem(value)) else {
                continue;
            };
            return Err(OpError::config(format!(
                "{}: builds[{index}].{field} {problem}",
                path.display()
            ))
            .with_hint("rebuild with `op push` or `op build-push`; op does not print or pass on such a reference")
            .into());
        }
    }
    Ok(builds)
}

/// The file's text: skaffold's shape, pretty-printed, with a final newline.
pub fn render(builds: &[Build]) -> String {
    #[derive(Serialize)]
    struct File<'a> {
        builds: &'a [Build],
    }
    let mut text = serde_json::to_string_pretty(&File { builds })
        .expect("a list of strings always serializes");
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
            r#"{"builds":[{"imageName":"api","tag":"r.io/acme/api:1.0@sha256:ab"},"r.io/web:2",{"tag":"r.io/x/worker:3","imageName":null}]}"#,
            path,
        )
        .unwrap();
        assert_eq!(builds[0].name(), "api");
        assert_eq!(builds[1].name(), "web");
        assert_eq!(builds[2].name(), "worker");
        assert!(builds[1].matches("acme/web"));
        assert!(!builds[1].matches("api"));
        assert_eq!(parse(&render(&builds), path).unwrap(), builds);
    }

    #[test]
    fn writes_skaffolds_shape() {
        let text = render(&[Build {
            image_name: Some("api".into()),
            tag: "ghcr.io/acme/api:1.2.3".into(),
        }]);
        assert_eq!(
            text,
            "{\n  \"builds\": [\n    {\n      \"imageName\": \"api\",\n      \"tag\": \"ghcr.io/acme/api:1.2.3\"\n    }\n  ]\n}\n"
        );
    }

    #[test]
    fn bad_files_name_file_line_and_expectation() {
        let path = Path::new("out/build_result.json");
        for (text, needle) in [
            ("", "the file is empty"),
            ("  \n", "the file is empty"),
            ("{", "line 1 column 1: EOF while parsing an object"),
            ("{}", "missing field `builds`"),
            ("[]", "expected a JSON object"),
            (r#"["a:1"]"#, "expected a JSON object"),
            (
                r#"{"builds": {}}"#,
                "line 1 column 11: invalid type: map, expected a sequence",
            ),
            (r#"{"builds": []}"#, "`builds` is empty"),
            (r#"{"builds": [{"imageName": "x"}]}"#, "missing field `tag`"),
            (
                r#"{"builds": [{"tag": ""}]}"#,
                "expected a non-empty image reference",
            ),
            (r#"{"builds": [""]}"#, "invalid value"),
            (
                r#"{"builds": [5]}"#,
                "invalid type: integer `5`, expected a build",
            ),
            (
                r#"{"builds": [{"tag": 5}]}"#,
                "invalid type: integer `5`, expected a string",
            ),
            (
                r#"{"builds": [{"tag": "a:1", "digest": "x"}]}"#,
                "unknown field `digest`, expected `imageName` or `tag`",
            ),
            (
                r#"{"builds": ["a:1", "b:2\u001b[2J"]}"#,
                "builds[1].tag contains a control character (U+001B)",
            ),
            (
                r#"{"builds": [{"imageName": "a\r", "tag": "a:1"}]}"#,
                "builds[0].imageName contains a control character (U+000D)",
            ),
            (
                r#"{"builds": ["a:1"], "extra": 1}"#,
                "unknown field `extra`, expected `builds`",
            ),
        ] {
            let error = parse(text, path).unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with("out/build_result.json: ") && message.contains(needle),
                "{text}: {message}"
            );
            assert_eq!(crate::error::exit_code(&error), 2);
        }
        let missing = read(Path::new("/nonexistent/build_result.json")).unwrap_err();
        assert_eq!(crate::error::exit_code(&missing), 2);
        assert!(
            missing
                .to_string()
                .contains("/nonexistent/build_result.json")
        );
    }

    #[test]
    fn build_result_path_is_a_file_or_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve(dir.path()), dir.path().join(FILE_NAME));
        let file = dir.path().join("other.json");
        assert_eq!(resolve(&file), file);
    }
}
