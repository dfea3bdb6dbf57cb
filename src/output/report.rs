//! Errors as people read them: the message and its causes once, the hint once, and for several
//! failures of one command one entry each, each distinct hint once and a closing count.
#![expect(clippy::print_stderr, reason = "this module is the printer")]

use super::{Output, count, github, words};
use crate::error::{self, Failures};

impl Output {
    /// Prints an error with its causes and hint: `error: …` or a GitHub `::error …::`
    /// annotation (with the file, line and column when the error knows them).
    pub fn report_error(&self, error: &anyhow::Error) {
        let Some(failures) = error.downcast_ref::<Failures>() else {
            let hint = error::hint(error).map(words);
            self.one_error(error, hint.as_deref());
            return;
        };
        let mut hints: Vec<String> = Vec::new();
        for each in &failures.errors {
            self.one_error(each, None);
            if let Some(hint) = error::hint(each).map(words)
                && !hints.contains(&hint)
            {
                hints.push(hint);
            }
        }
        for hint in &hints {
            self.hint(hint);
        }
        let closing = format!(
            "{} of {} {}",
            failures.errors.len(),
            count(failures.attempted, failures.noun),
            failures.outcome
        );
        if self.github.is_some() {
            eprintln!("::error::{}", github::escape_data(&closing));
        } else {
            self.human(&format!("{} {closing}", self.paint("error:", "1;31")));
        }
    }

    fn one_error(&self, error: &anyhow::Error, hint: Option<&str>) {
        let mut text = error.to_string();
        for cause in error.chain().skip(1) {
            let cause = cause.to_string();
            if !text.contains(&cause) {
                text.push_str(&format!("\n  caused by: {cause}"));
            }
        }
        let text = words(&text);
        if self.github.is_some() {
            let mut full = text.clone();
            if let Some(hint) = hint {
                full.push_str(&format!("\nhint: {hint}"));
            }
            let properties = error::location(error)
                .map(github::location_properties)
                .unwrap_or_default();
            // Masked before escaping: `%` in a secret becomes `%25` in the annotation.
            eprintln!("::error{properties}::{}", github::escape_data(&full));
        } else {
            self.human(&format!("{} {text}", self.paint("error:", "1;31")));
            if let Some(hint) = hint {
                self.hint(hint);
            }
        }
    }

    fn hint(&self, hint: &str) {
        if self.github.is_some() {
            eprintln!(
                "::notice::{}",
                github::escape_data(&format!("hint: {hint}"))
            );
        } else {
            self.human(&format!("{} {hint}", self.paint("hint:", "36")));
        }
    }
}
