//! The `.properties` config (`--config` / `OCTOPILOT_PIPELINE_PROPERTIES`) in the seed's simple
//! format, not Java's: `key=value` lines, `#` comments, split at the first `=`, keys and values
//! trimmed, no quotes, escapes or continuations (so Windows paths keep their backslashes), later
//! duplicates win.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::bounded;
use crate::error::OpError;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    pub values: BTreeMap<String, String>,
    /// 1-based numbers of non-comment lines without `=` (ignored, worth a warning).
    pub ignored_lines: Vec<usize>,
}

/// Reads `path`; missing, unreadable, not UTF-8, not a regular file, larger than
/// [`bounded::PROPERTIES_CAP`] or holding a control character (values become registries and
/// image references that op prints) is exit 2 naming the file.
pub fn load(path: &Path) -> Result<Properties> {
    let text = bounded::read_capped_to_string(path, "properties file", bounded::PROPERTIES_CAP)
        .map_err(|mut error| {
            error.hint.get_or_insert_with(|| {
                "pass an existing file with --config or OCTOPILOT_PIPELINE_PROPERTIES".into()
            });
            error
        })?;
    for (index, line) in text.lines().enumerate() {
        if let Some(bad) = line.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(OpError::config(format!(
                "{}: line {} contains a control character (U+{:04X}); values are printable text",
                path.display(),
                index + 1,
                u32::from(bad)
            ))
            .at(crate::error::Location {
                file: path.to_path_buf(),
                line: Some(index as u64 + 1),
                column: line
                    .chars()
                    .position(|c| c == bad)
                    .map(|column| column as u64 + 1),
            })
            .into());
        }
    }
    Ok(parse(&text))
}

pub fn parse(text: &str) -> Properties {
    let mut properties = Properties::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                properties
                    .values
                    .insert(key.trim().to_string(), value.trim().to_string());
            }
            _ => properties.ignored_lines.push(index + 1),
        }
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_format_with_no_escapes() {
        let properties = parse(
            "# comment\n  KEY = value  \nK=a=b\nno equals\n! bang=1\nPATH=C:\\tools\\bin\nQUOTED=\"x\"\nKEY=later\n\n=orphan\nEMPTY=\n",
        );
        let values = &properties.values;
        assert_eq!(values["KEY"], "later");
        assert_eq!(values["K"], "a=b");
        assert_eq!(values["! bang"], "1", "only # starts a comment");
        assert_eq!(values["PATH"], "C:\\tools\\bin");
        assert_eq!(values["QUOTED"], "\"x\"");
        assert_eq!(values["EMPTY"], "");
        assert!(!values.contains_key("no equals"));
        assert_eq!(properties.ignored_lines, [4, 10]);
    }

    #[test]
    fn empty_and_missing_files() {
        assert_eq!(parse(""), Properties::default());
        assert_eq!(parse("# only comments\n\n"), Properties::default());
        let error = load(Path::new("/nonexistent/ci.properties")).unwrap_err();
        assert_eq!(crate::error::exit_code(&error), 2);
        assert!(error.to_string().contains("/nonexistent/ci.properties"));
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("bad.properties");
        std::fs::write(&binary, [0xff, 0xfe, b'=', 0x00]).unwrap();
        assert_eq!(crate::error::exit_code(&load(&binary).unwrap_err()), 2);
        let error = load(dir.path()).unwrap_err();
        assert_eq!(
            crate::error::exit_code(&error),
            2,
            "a directory is not a file"
        );
    }
}
