//! Where in the lock text a problem is: the line of a table or key, and a place for the TOML
//! reader's errors that come without one.

use crate::error::Location;

/// Where `place` (`` `tools.kubectl.platforms.linux-amd64` ``, `` `schema` ``) is in the lock
/// text: the line of its table header or key, else the file alone.
pub(super) fn place_in(file: &std::path::Path, text: &str, place: &str) -> Location {
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

/// The parser's message; its key-depth limit comes without a place, so find the line.
pub(super) fn toml_message(error: &toml::de::Error, text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use crate::toolchain::lock::{Lock, Origin};

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
}
