//! YAML reading shared by the formats: typed deserialization (the Rust types are the schema, so
//! a scalar read as text keeps its YAML spelling) and errors that name the file, the line and
//! column, and what was expected (exit 2).

use std::borrow::Cow;
use std::path::Path;

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;

use crate::bounded;
use crate::error::OpError;

/// The text of `path` (a regular file of at most `cap` bytes, see [`bounded`]); `None` when
/// nothing is there. `what` names the kind of file in messages.
pub fn read(path: &Path, what: &str, cap: u64) -> Result<Option<String>> {
    Ok(bounded::read_capped_to_string_if_present(path, what, cap)?)
}

/// One YAML document as `T`; an empty file, a file of comments or `~` is `T::default()`.
pub fn from_str<T: DeserializeOwned + Default>(text: &str, path: &Path, hint: &str) -> Result<T> {
    serde_saphyr::from_str::<Option<T>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|error| invalid(path, &error, hint))
}

/// Every document of a multi-document file (`---` separated); empty documents are skipped.
pub fn from_multiple<T: DeserializeOwned>(text: &str, path: &Path, hint: &str) -> Result<Vec<T>> {
    serde_saphyr::from_multiple::<Option<T>>(text)
        .map(|documents| documents.into_iter().flatten().collect())
        .map_err(|error| invalid(path, &error, hint))
}

/// A mapping read in file order: `(key, value)` pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Ordered<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Pairs<T> {
            type Value = Ordered<T>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    pairs.push((key, value));
                }
                Ok(Ordered(pairs))
            }
        }
        deserializer.deserialize_map(Pairs(std::marker::PhantomData))
    }
}

/// `path: line L column C: message`, the source snippet under it, and `hint`.
fn invalid(path: &Path, error: &serde_saphyr::Error, hint: &str) -> anyhow::Error {
    let name = path.display().to_string();
    let rendered = error.render_with_options(serde_saphyr::render_options! {
        formatter: &PlainMessages,
        source_name: Some(name.as_str()),
    });
    let text = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    let mut error = OpError::config(format!("{name}: {}", plain_words(text.trim_end()))).at(
        crate::error::Location {
            file: path.to_path_buf(),
            line: error.location().map(|at| at.line()),
            column: error.location().map(|at| at.column()),
        },
    );
    if !hint.is_empty() {
        error = error.with_hint(hint.to_string());
    }
    error.into()
}

/// The parser's own messages, except that a breached budget (the limits that stop a small file
/// from expanding into a huge one) is a sentence instead of the limit's Rust debug form.
struct PlainMessages;

impl serde_saphyr::MessageFormatter for PlainMessages {
    fn format_message<'a>(&self, error: &'a serde_saphyr::Error) -> Cow<'a, str> {
        match error {
            serde_saphyr::Error::Budget { breach, .. } => Cow::Owned(format!(
                "the file exceeds a limit of op's YAML reader: it has {}",
                budget_words(breach)
            )),
            other => serde_saphyr::DefaultMessageFormatter.format_message(other),
        }
    }
}

/// What a budget breach means, with the limit of the default budget.
fn budget_words(breach: &BudgetBreach) -> String {
    let limits = serde_saphyr::Budget::default();
    match breach {
        BudgetBreach::Events { .. } => format!("more than {} parser events", limits.max_events),
        BudgetBreach::Aliases { .. } => format!("more than {} aliases (*name)", limits.max_aliases),
        BudgetBreach::Anchors { .. } => format!("more than {} anchors (&name)", limits.max_anchors),
        BudgetBreach::Depth { .. } => format!("more than {} levels of nesting", limits.max_depth),
        BudgetBreach::Documents { .. } => format!("more than {} documents", limits.max_documents),
        BudgetBreach::Nodes { .. } => format!(
            "more than {} values (lists, mappings and scalars)",
            limits.max_nodes
        ),
        BudgetBreach::ScalarBytes { .. } => format!(
            "more than {} bytes of text values",
            limits.max_total_scalar_bytes
        ),
        BudgetBreach::MergeKeys { .. } => {
            format!("more than {} merge keys (<<)", limits.max_merge_keys)
        }
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => {
            format!(
                "{aliases} aliases of {}, which would expand it too far",
                crate::output::count(*anchors, "anchor")
            )
        }
        BudgetBreach::RecordedAnchorEvents { .. } | BudgetBreach::RecordedAnchorBytes { .. } => {
            "anchors whose aliases repeat too much of it".to_string()
        }
        _ => "more than the reader accepts".to_string(),
    }
}

/// The parser's words for YAML node kinds, in the words people use for them.
fn plain_words(text: &str) -> String {
    text.replace("expected sequence start", "expected a list")
        .replace("expected mapping start", "expected a mapping")
        .replace("expected string scalar", "expected a text value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: Option<String>,
        items: Option<Vec<String>>,
    }

    #[test]
    fn empty_and_null_documents_are_defaults() {
        for text in ["", "# only a comment\n", "~\n", "null\n"] {
            let sample: Sample = from_str(text, Path::new("s.yaml"), "").unwrap();
            assert!(sample.name.is_none() && sample.items.is_none(), "{text:?}");
        }
    }

    #[test]
    fn scalars_keep_their_spelling_as_text() {
        let sample: Sample = from_str(
            "items: [1.50, 0x10, True, on, '08', 3000:30]\n",
            Path::new("s"),
            "",
        )
        .unwrap();
        assert_eq!(
            sample.items.unwrap(),
            ["1.50", "0x10", "True", "on", "08", "3000:30"]
        );
    }

    #[test]
    fn errors_name_file_line_and_expectation() {
        let path = Path::new("dir/s.yaml");
        for (text, needle) in [
            ("name: x\nitems: 5\n", "line 2 column 8: expected a list"),
            ("name: [x]\n", "line 1 column 7: expected a text value"),
            (
                "name: x\nnmae: y\n",
                "unknown field `nmae`, expected one of name, items",
            ),
            ("- a\n", "line 1 column 1: expected a mapping"),
            ("name: 'x\n", "unclosed quote"),
            ("name: a\nname: b\n", "duplicate mapping key"),
        ] {
            let error = from_str::<Sample>(text, path, "see the README").unwrap_err();
            let message = error.to_string();
            assert!(message.starts_with("dir/s.yaml: "), "{message}");
            assert!(message.contains(needle), "{text:?}: {message}");
            assert_eq!(crate::error::exit_code(&error), 2);
            assert_eq!(crate::error::hint(&error), Some("see the README"));
        }
    }

    #[test]
    fn budget_breaches_are_sentences() {
        let many = format!("items: [{}a]\n", "a, ".repeat(260_000));
        let deep = format!("items: {}{}\n", "[".repeat(100), "]".repeat(100));
        for (text, needle) in [
            (many, "more than 250000 values"),
            (deep, "more than 64 levels of nesting"),
        ] {
            let message = from_str::<Ordered<serde::de::IgnoredAny>>(&text, Path::new("s"), "")
                .unwrap_err()
                .to_string();
            assert!(
                message.starts_with("s: line 1 column ")
                    && message.contains("exceeds a limit of op's YAML reader: it has ")
                    && message.contains(needle),
                "{message}"
            );
            assert!(!message.contains("budget"), "{message}");
        }
    }

    #[test]
    fn documents_of_a_stream() {
        let documents: Vec<Sample> = from_multiple(
            "name: a\n---\n# nothing\n---\nname: b\n",
            Path::new("m"),
            "",
        )
        .unwrap();
        let names: Vec<_> = documents.iter().map(|d| d.name.clone().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
    }
}
