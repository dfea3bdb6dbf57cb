//! One tool's part of the lock text: where `[tools.NAME]` is written, and that part read alone.

use toml::Value;

use super::parse::{parse_tool, valid_name};
use super::{Origin, Tool};
use crate::toolchain::evidence;

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
