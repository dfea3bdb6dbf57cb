//! `op toolchain install --json`: one row per requested tool, printed whether or not the
//! install succeeded, so a script learns which tools are ready and why the others are not.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::error::Failures;
use crate::toolchain::Toolchain;
use crate::toolchain::cache::{Entry, State};
use crate::toolchain::install::Outcome;

#[derive(Serialize)]
struct Body<'a> {
    lock: String,
    platform: &'a str,
    /// Every requested tool is installed.
    ok: bool,
    tools: Vec<Row<'a>>,
}

#[derive(Serialize)]
struct Row<'a> {
    tool: &'a str,
    version: &'a str,
    platform: &'a str,
    /// `installed` (downloaded now), `present` (already in the cache) or `failed`.
    status: &'static str,
    path: PathBuf,
    /// Bytes downloaded, for `installed`.
    bytes: Option<u64>,
    /// Why it failed (empty otherwise).
    problems: Vec<String>,
}

/// Which entries the cache holds already: asked before installing, so that after a partial
/// failure the tools downloaded now are told from those that were there.
pub fn present(toolchain: &Toolchain, entries: &[Entry], force: bool) -> Vec<bool> {
    entries
        .iter()
        .map(|entry| !force && matches!(entry.state(&toolchain.cache), Ok(State::Installed(_))))
        .collect()
}

/// Prints the document for `result`, the outcome of installing `entries`.
pub fn print(
    toolchain: &Toolchain,
    platform: &str,
    entries: &[Entry],
    present_before: &[bool],
    result: &Result<Vec<Outcome>>,
) -> Result<()> {
    let errors: Vec<String> = match result {
        Ok(_) => Vec::new(),
        Err(error) => match error.downcast_ref::<Failures>() {
            Some(failures) => failures
                .errors
                .iter()
                .map(|each| format!("{each:#}"))
                .collect(),
            None => vec![format!("{error:#}")],
        },
    };
    // An error that names no tool (the runtime, the proxy) is every unfinished tool's.
    let named = |entry: &Entry| -> Vec<String> {
        let label = entry.label();
        errors
            .iter()
            .filter(|error| error.contains(&label))
            .cloned()
            .collect()
    };
    let anonymous = entries.iter().all(|entry| named(entry).is_empty());
    let mut rows = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let (status, bytes, problems) = match result {
            Ok(outcomes) => match outcomes[index] {
                Outcome::Present => ("present", None, Vec::new()),
                Outcome::Installed { bytes, .. } => ("installed", Some(bytes), Vec::new()),
            },
            Err(_) => {
                let installed = matches!(entry.state(&toolchain.cache), Ok(State::Installed(_)));
                let problems = match (anonymous, installed) {
                    (true, true) => Vec::new(),
                    (true, false) => errors.clone(),
                    (false, _) => named(entry),
                };
                match (problems.is_empty(), present_before[index]) {
                    (false, _) => ("failed", None, problems),
                    (true, true) => ("present", None, problems),
                    (true, false) => ("installed", None, problems),
                }
            }
        };
        rows.push(Row {
            tool: &entry.tool,
            version: &entry.version,
            platform: &entry.platform,
            status,
            path: entry.exe(),
            bytes,
            problems,
        });
    }
    toolchain.output.json(
        "toolchain install",
        &Body {
            lock: toolchain.lock()?.origin.to_string(),
            platform,
            ok: result.is_ok(),
            tools: rows,
        },
    )
}
