//! The files `op` reads and writes besides the lock: one module per format, each turning a
//! malformed file into exit 2 with the file, the place and what was expected.

pub mod build_result;
pub mod properties;
pub mod registry_file;
pub mod run_file;
pub mod skaffold_yaml;
pub mod yaml;

/// The longest image reference (or registry) op accepts: far above the distribution spec's
/// limits, far below what would fail as an over-long argument to crane or skaffold.
pub const MAX_REFERENCE_LEN: usize = 4096;

/// Why `text` cannot be an image reference, registry or path from a file that op will print
/// and pass to a tool, or `None`. A control character is refused because a newline in a log line starts a new line
/// that GitHub Actions reads as a workflow command (`::warning::…`), and an escape sequence
/// rewrites what a terminal shows.
pub fn reference_problem(text: &str) -> Option<String> {
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Some(format!(
            "contains a control character (U+{:04X}), which op does not print or pass on",
            u32::from(bad)
        ));
    }
    if text.len() > MAX_REFERENCE_LEN {
        return Some(format!(
            "is {} bytes long; op accepts at most {MAX_REFERENCE_LEN}",
            text.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_printable_and_bounded() {
        assert_eq!(reference_problem("ghcr.io/acme/api:1.0@sha256:ab"), None);
        for (text, code) in [
            ("a\n::warning::x", "U+000A"),
            ("a\r", "U+000D"),
            ("a\u{1b}[2J", "U+001B"),
            ("a\u{7f}", "U+007F"),
            ("a\u{85}", "U+0085"),
            ("a\tb", "U+0009"),
            ("a\u{2028}b", "U+2028"),
        ] {
            let problem = reference_problem(text).unwrap();
            assert!(problem.contains(code), "{text:?}: {problem}");
        }
        let long = "a".repeat(MAX_REFERENCE_LEN + 1);
        assert!(reference_problem(&long).unwrap().contains("at most 4096"));
    }
}
