//! GitHub Actions: workflow commands (`::group::`, `::error file=…::`) and the step summary
//! (<https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions>).
#![expect(clippy::print_stderr, reason = "workflow commands are printed lines")]

use std::io::Write;
use std::sync::Mutex;

use crate::error::Location;
use crate::settings;

/// The step summary file to append to, and what this run adds to it.
pub struct Actions {
    summary: Option<String>,
    rows: Mutex<Rows>,
}

#[derive(Default)]
struct Rows {
    tools: Vec<String>,
    images: Vec<String>,
}

impl Actions {
    /// `Some` when running in GitHub Actions (`GITHUB_ACTIONS=true`).
    pub fn from_env() -> Option<Actions> {
        (settings::var(settings::GITHUB_ACTIONS).as_deref() == Some("true")).then(|| Actions {
            summary: settings::var(GITHUB_STEP_SUMMARY),
            rows: Mutex::new(Rows::default()),
        })
    }

    pub fn summary_row(&self, row: &str) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.tools.push(row.to_string());
        }
    }

    pub fn image_row(&self, row: &str) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.images.push(row.to_string());
        }
    }

    /// Appends a Markdown section for this run to `$GITHUB_STEP_SUMMARY`, if it did anything
    /// worth a line. A summary that cannot be written is not worth failing the step for.
    pub fn write_summary(&self, program: &str) {
        let (Some(path), Ok(rows)) = (&self.summary, self.rows.lock()) else {
            return;
        };
        if rows.tools.is_empty() && rows.images.is_empty() {
            return;
        }
        let mut text = String::new();
        if !rows.tools.is_empty() {
            text.push_str(&format!(
                "### {program}: tools installed\n\n| tool | version | platform | size | time |\n|---|---|---|---|---|\n"
            ));
            for row in &rows.tools {
                text.push_str(row);
                text.push('\n');
            }
            text.push('\n');
        }
        if !rows.images.is_empty() {
            text.push_str(&format!(
                "### {program}: images\n\n| what | image |\n|---|---|\n"
            ));
            for row in &rows.images {
                text.push_str(row);
                text.push('\n');
            }
            text.push('\n');
        }
        let written = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut file| file.write_all(text.as_bytes()));
        if let Err(error) = written {
            eprintln!("::warning::cannot append to $GITHUB_STEP_SUMMARY ({path}): {error}");
        }
    }
}

const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";

/// A `::group::` … `::endgroup::` pair around some lines of the log.
pub struct Group {
    open: bool,
}

impl Group {
    pub(super) fn start(github: bool, title: &str) -> Group {
        if github {
            eprintln!("::group::{}", escape_data(title));
        }
        Group { open: github }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.open {
            eprintln!("::endgroup::");
        }
    }
}

/// A workflow command's message needs `%`, CR and LF escaped.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value also needs `:` and `,` escaped.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// ` file=…,line=…,col=…` for an `::error` command.
pub fn location_properties(location: &Location) -> String {
    let file = location.file.display().to_string();
    let mut text = format!(" file={}", escape_property(&file));
    if let Some(line) = location.line {
        text.push_str(&format!(",line={line}"));
        if let Some(column) = location.column {
            text.push_str(&format!(",col={column}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_newlines_and_properties() {
        assert_eq!(escape_data("a\nb 100%"), "a%0Ab 100%25");
        let location = Location {
            file: "dir,x/a:b.lock".into(),
            line: Some(3),
            column: Some(7),
        };
        assert_eq!(
            location_properties(&location),
            " file=dir%2Cx/a%3Ab.lock,line=3,col=7"
        );
    }
}
