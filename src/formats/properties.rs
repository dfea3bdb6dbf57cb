//! The `.properties` config (`--config` / `OCTOPILOT_PIPELINE_PROPERTIES`): `key=value` lines,
//! `#` comments, split at the first `=`, keys and values trimmed, no escapes (so Windows paths
//! keep their backslashes), later duplicates win.

use std::collections::BTreeMap;

pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            values.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_format_with_no_escapes() {
        let values = parse(
            "# comment\n  KEY = value  \nK=a=b\nno equals\n! bang=1\nPATH=C:\\tools\\bin\nKEY=later\n\n",
        );
        assert_eq!(values["KEY"], "later");
        assert_eq!(values["K"], "a=b");
        assert_eq!(values["! bang"], "1");
        assert_eq!(values["PATH"], "C:\\tools\\bin");
        assert!(!values.contains_key("no equals"));
    }
}
