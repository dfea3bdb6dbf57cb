//! The only place that prints. Data goes to stdout; everything for humans goes to stderr:
//! progress bars on a terminal, one line per download otherwise, GitHub groups, annotations and
//! a step summary in Actions. `--quiet` leaves errors only, `--verbose` adds a timed line per
//! HTTP attempt, lock wait and child command. Every line passes through [`crate::redact`]
//! first: no credential and no known secret is printed, whoever built the message.
#![expect(clippy::print_stderr, reason = "this module is the printer")]

mod bars;
mod github;
mod report;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressDrawTarget};

pub use bars::{Bar, DownloadPhase};
pub use github::Group;

use crate::cli::ColorChoice;
use crate::redact;
use crate::settings;
use crate::toolchain::cache::Entry;

/// What the global flags ask of the output.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub quiet: bool,
    pub verbose: bool,
    pub color: ColorChoice,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            quiet: false,
            verbose: false,
            color: ColorChoice::Auto,
        }
    }
}

#[derive(Clone)]
pub struct Output {
    bars: Option<Arc<MultiProgress>>,
    color: bool,
    github: Option<Arc<github::Actions>>,
    quiet: bool,
    verbose: bool,
    started: Instant,
}

/// The version of every `--json` document's shape: raised only when a field is removed or
/// changes meaning (new fields may appear within a version).
pub const JSON_SCHEMA: u32 = 1;

#[derive(serde::Serialize)]
struct Document<'a, T> {
    schema: u32,
    command: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// The output of this process, for the few places too deep to be handed one (`trace`).
static CURRENT: OnceLock<Output> = OnceLock::new();

impl Output {
    pub fn from_env(options: Options) -> Output {
        let terminal = std::io::stderr().is_terminal();
        let progress = terminal && !options.quiet && !settings::flag(settings::NO_PROGRESS);
        let output = Output {
            bars: progress
                .then(|| Arc::new(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))),
            color: use_color(
                options.color,
                terminal,
                settings::var(settings::NO_COLOR).is_some(),
                settings::var(CLICOLOR_FORCE).is_some_and(|value| value != "0"),
            ),
            github: github::Actions::from_env().map(Arc::new),
            quiet: options.quiet,
            verbose: options.verbose,
            started: Instant::now(),
        };
        let _ = CURRENT.set(output.clone());
        output
    }

    /// A line for humans (stderr), kept clear of progress bars; nothing under `--quiet`.
    pub fn info(&self, message: &str) {
        if !self.quiet {
            self.human(&words(message));
        }
    }

    /// With `--verbose`: a line prefixed with the seconds since op started.
    pub fn trace(&self, message: &str) {
        if self.verbose {
            let elapsed = self.started.elapsed().as_secs_f64();
            self.human(&format!(
                "{} {}",
                self.paint(&format!("[{elapsed:7.3}s]"), "2"),
                words(message)
            ));
        }
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
        if self.quiet {
            return;
        }
        let message = words(message);
        if self.github.is_some() {
            eprintln!("::warning::{}", github::escape_data(&message));
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

    /// One JSON document for programs (stdout), the same redaction as [`Output::data`]:
    /// `{"schema": 1, "command": "toolchain …", …body}`. README.md, "Machine-readable output".
    pub fn json<T: serde::Serialize>(&self, command: &str, body: &T) -> anyhow::Result<()> {
        let document = Document {
            schema: JSON_SCHEMA,
            command,
            body,
        };
        self.data(&serde_json::to_string_pretty(&document)?);
        Ok(())
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
        if let Some(actions) = &self.github {
            actions.summary_row(&format!(
                "| {} | {} | {} | {} | {seconds:.1}s |",
                entry.tool,
                entry.version,
                entry.platform,
                human_bytes(bytes)
            ));
        }
    }

    /// Records an image in the GitHub step summary (`built`, `pushed`, `promoted`).
    pub fn image(&self, what: &str, reference: &str) {
        if let Some(actions) = &self.github {
            actions.image_row(&format!("| {what} | `{}` |", words(reference)));
        }
    }

    /// A collapsible group of log lines in GitHub Actions (nothing elsewhere), ended on drop.
    pub fn group(&self, title: &str) -> Group {
        Group::start(self.github.is_some(), &words(title))
    }

    /// Writes what the run leaves behind (the GitHub step summary); called once at exit.
    pub fn finish(&self) {
        if let Some(actions) = &self.github {
            actions.write_summary(&words(&crate::program::rename("op")));
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

/// With `--verbose`, a timed line from code that has no [`Output`] at hand (the HTTP client).
pub fn trace(message: impl FnOnce() -> String) {
    if let Some(output) = CURRENT.get()
        && output.verbose
    {
        output.trace(&message());
    }
}

/// A warning from code that has no [`Output`] at hand (the cache store).
pub fn warn(message: &str) {
    if let Some(output) = CURRENT.get() {
        output.warn(message);
    }
}

/// Forces colour where it would be off (<https://bixense.com/clicolors/>).
const CLICOLOR_FORCE: &str = "CLICOLOR_FORCE";

/// Whether to colour: the flag wins; under `auto`, `NO_COLOR` turns it off, `CLICOLOR_FORCE`
/// turns it on off a terminal, else a terminal decides.
fn use_color(choice: ColorChoice, terminal: bool, no_color: bool, force: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color && (force || terminal),
    }
}

/// The colour of clap's own messages (usage errors, help), read from the command line before
/// clap parses it, with the same rules as ours.
pub fn clap_color(args: &[OsString]) -> clap::ColorChoice {
    let mut choice = ColorChoice::Auto;
    let mut words = args.iter().skip(1).map(|arg| arg.to_string_lossy());
    while let Some(arg) = words.next() {
        if arg == "--" {
            break;
        }
        let value = match arg.strip_prefix("--color") {
            Some("") => words.next().map(|value| value.into_owned()),
            Some(rest) => rest.strip_prefix('=').map(str::to_string),
            None => None,
        };
        match value.as_deref() {
            Some("always") => choice = ColorChoice::Always,
            Some("never") => choice = ColorChoice::Never,
            Some(_) => choice = ColorChoice::Auto,
            None => {}
        }
    }
    let terminal = std::io::stderr().is_terminal();
    let no_color = settings::var(settings::NO_COLOR).is_some();
    let force = settings::var(CLICOLOR_FORCE).is_some_and(|value| value != "0");
    if use_color(choice, terminal, no_color, force) {
        clap::ColorChoice::Always
    } else {
        clap::ColorChoice::Never
    }
}

/// A line for people: secrets masked, `op` spelled as the program was invoked.
fn words(text: &str) -> String {
    crate::program::rename(&redact::text(text)).into_owned()
}

/// `1 tool`, `2 tools`: a count with its noun in the right number (nouns taking an `s`).
pub fn count<N: TryInto<u64>>(n: N, noun: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The one of `names` nearest to a mistyped `name` (at most two edits away, or one name that
/// starts with it), for a "did you mean".
pub fn nearest<'a>(name: &str, names: &[&'a str]) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in names {
        let distance = edits(name, candidate);
        if distance <= 2 && best.is_none_or(|(least, _)| distance < least) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate).or_else(|| {
        let mut starting = names
            .iter()
            .filter(|candidate| !name.is_empty() && candidate.starts_with(name));
        match (starting.next(), starting.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

/// Levenshtein distance (names are short: the quadratic table is nothing).
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
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
    fn a_typo_finds_the_name_it_meant() {
        let names = ["skaffold", "pack", "flux", "kubectl", "crane"];
        assert_eq!(nearest("kubctl", &names), Some("kubectl"));
        assert_eq!(nearest("skafold", &names), Some("skaffold"));
        assert_eq!(nearest("kube", &names), Some("kubectl"));
        assert_eq!(nearest("terraform", &names), None);
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(1, "tool"), "1 tool");
        assert_eq!(count(0, "tool"), "0 tools");
        assert_eq!(count(3, "man page"), "3 man pages");
    }

    #[test]
    fn colour_follows_flag_then_no_color_then_clicolor_force() {
        use ColorChoice::*;
        assert!(use_color(Always, false, true, false));
        assert!(!use_color(Never, true, false, true));
        assert!(
            !use_color(Auto, true, true, true),
            "NO_COLOR wins over CLICOLOR_FORCE"
        );
        assert!(use_color(Auto, false, false, true));
        assert!(use_color(Auto, true, false, false));
        assert!(!use_color(Auto, false, false, false));
    }

    #[test]
    fn clap_colour_reads_the_flag_before_parsing() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            clap_color(&args(&["op", "--color", "always", "x"])),
            clap::ColorChoice::Always
        );
        assert_eq!(
            clap_color(&args(&["op", "--color=never"])),
            clap::ColorChoice::Never
        );
    }
}
