//! Checks of single TOML values that the lock's tables, its templates and its evidence
//! tables share, each saying which field is wrong and how.

use toml::Value;

pub(super) fn check_scheme(field: &str, url: &str) -> Result<(), String> {
    if url.starts_with("https://") || url.starts_with("http://") || url.starts_with("file://") {
        return Ok(());
    }
    Err(format!(
        "field `{field}`: {:?} must start with https://, http:// or file://",
        crate::redact::url(url)
    ))
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
