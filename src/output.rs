//! The only place that prints. Data goes to stdout; everything for humans goes to stderr:
//! progress bars on a terminal, one line per download otherwise, GitHub annotations in Actions.
//! Every line passes through [`crate::redact`] first: no credential and no known secret is
//! printed, whoever built the message.
#![expect(clippy::print_stderr, reason = "this module is the printer")]

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::redact;
use crate::settings;
use crate::toolchain::cache::Entry;
use crate::toolchain::fetch::Progress;

#[derive(Clone)]
pub struct Output {
    bars: Option<Arc<MultiProgress>>,
    color: bool,
    github: bool,
}

impl Output {
    pub fn from_env() -> Output {
        let terminal = std::io::stderr().is_terminal();
        let progress = terminal && !settings::flag(settings::NO_PROGRESS);
        Output {
            bars: progress
                .then(|| Arc::new(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))),
            color: terminal && settings::var(settings::NO_COLOR).is_none(),
            github: settings::var(settings::GITHUB_ACTIONS).as_deref() == Some("true"),
        }
    }

    /// A line for humans (stderr), kept clear of progress bars.
    pub fn info(&self, message: &str) {
        self.human(&words(message));
    }

    /// Prints an already redacted line for humans.
    fn human(&self, message: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(message);
            }
            None => eprintln!("{message}"),
        }
    }

    pub fn warn(&self, message: &str) {
        let message = words(message);
        if self.github {
            eprintln!("::warning::{}", annotation(&message));
        } else {
            self.human(&format!("{} {message}", self.paint("warning:", "33")));
        }
    }

    /// Data for programs (stdout): URL credentials and known secrets masked, every other word
    /// kept exactly.
    pub fn data(&self, line: &str) {
        let line = redact::data(line);
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
    }

    /// Prints an error with its causes and hint: `error: …` or a GitHub `::error::` annotation.
    pub fn report_error(&self, error: &anyhow::Error) {
        let mut text = error.to_string();
        for cause in error.chain().skip(1) {
            let cause = cause.to_string();
            if !text.contains(&cause) {
                text.push_str(&format!("\n  caused by: {cause}"));
            }
        }
        let text = words(&text);
        let hint = crate::error::hint(error).map(words);
        if self.github {
            let mut full = text.clone();
            if let Some(hint) = hint {
                full.push_str(&format!("\nhint: {hint}"));
            }
            // Masked before escaping: `%` in a secret becomes `%25` in the annotation.
            eprintln!("::error::{}", annotation(&full));
        } else {
            self.human(&format!("{} {text}", self.paint("error:", "1;31")));
            if let Some(hint) = hint {
                self.human(&format!("{} {hint}", self.paint("hint:", "36")));
            }
        }
    }

    /// One line per finished download (the bar already showed it on a terminal).
    pub fn installed(&self, entry: &Entry, bytes: u64, seconds: f64) {
        self.info(&format!(
            "installed {} {} ({}) {} in {seconds:.1}s",
            entry.tool,
            entry.version,
            entry.platform,
            human_bytes(bytes)
        ));
    }

    pub fn download_bar(&self, entry: &Entry) -> Box<dyn Bar> {
        match &self.bars {
            None => Box::new(NoBar),
            Some(bars) => {
                let bar = bars.add(ProgressBar::hidden());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(format!("{} {}", entry.tool, entry.version));
                bar.enable_steady_tick(Duration::from_millis(120));
                Box::new(TerminalBar {
                    bar,
                    bars: Arc::clone(bars),
                })
            }
        }
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Progress of one download, finished when the download ends either way.
pub trait Bar: Progress {
    fn finish(&self);
}

struct NoBar;

impl Progress for NoBar {
    fn start(&self, _total: Option<u64>) {}
    fn advance(&self, _bytes: u64) {}
}

impl Bar for NoBar {
    fn finish(&self) {}
}

struct TerminalBar {
    bar: ProgressBar,
    bars: Arc<MultiProgress>,
}

impl Progress for TerminalBar {
    fn start(&self, total: Option<u64>) {
        self.bar.reset();
        if let Some(total) = total {
            self.bar.set_length(total);
        }
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
}

impl Bar for TerminalBar {
    fn finish(&self) {
        self.bar.finish_and_clear();
        self.bars.remove(&self.bar);
    }
}

/// GitHub workflow commands need `%`, CR and LF escaped.
fn annotation(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A line for people: secrets masked, `op` spelled as the program was invoked.
fn words(text: &str) -> String {
    crate::program::rename(&redact::text(text)).into_owned()
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(62 * 1024 * 1024 + 300_000), "62.3 MiB");
    }

    #[test]
    fn annotations_escape_newlines() {
        assert_eq!(annotation("a\nb 100%"), "a%0Ab 100%25");
    }
}
