//! Errors that choose an exit code, and the mapping from any error chain to that code.

use std::fmt;
use std::path::PathBuf;

/// The documented exit codes of `op` (README, "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// A command failed.
    Failure = 1,
    /// Usage or configuration error: bad flag, malformed file, unknown tool.
    Config = 2,
    /// A download's SHA-256 or size differs from the lock; nothing was installed.
    Integrity = 3,
    /// Network failure, HTTP error status, or timeout after retries.
    Download = 4,
    /// The lock has no entry for this tool on this platform.
    NoPlatform = 5,
    /// Offline and the tool is not in the cache.
    Offline = 6,
    /// `op toolchain outdated`: a newer release than a pin is past the minimum age (as
    /// `dnf check-update` and `rustup check` do, so a scheduled job can branch on it).
    Outdated = 100,
}

/// An error that carries its exit code and, optionally, a hint telling the user what to do.
#[derive(Debug)]
pub struct OpError {
    pub code: Code,
    pub message: String,
    pub hint: Option<String>,
    /// The place in an input file the error is about, when the parser knows it.
    pub location: Option<Location>,
}

/// A file and, when known, the 1-based line and column in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub column: Option<u64>,
}

impl Location {
    /// The 1-based line and column of byte `offset` in `text`.
    pub fn of_offset(file: impl Into<PathBuf>, text: &str, offset: usize) -> Location {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line = before.matches('\n').count() as u64 + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() as u64 + 1;
        Location {
            file: file.into(),
            line: Some(line),
            column: Some(column),
        }
    }
}

impl OpError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
            location: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Records where in which file the error is (for GitHub annotations).
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Code::Config, message)
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OpError {}

/// A wrapped tool exited unsuccessfully; `op` exits with the same code.
#[derive(Debug)]
pub struct ChildExit(pub i32);

impl fmt::Display for ChildExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child process exited with code {}", self.0)
    }
}

impl std::error::Error for ChildExit {}

/// The exit code for an error chain: the first `OpError`/`ChildExit` found, else 1.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    if let Some(failures) = error.downcast_ref::<Failures>()
        && let Some(first) = failures.errors.first()
    {
        return exit_code(first);
    }
    for cause in error.chain() {
        if let Some(op) = cause.downcast_ref::<OpError>() {
            return op.code as i32;
        }
        if let Some(child) = cause.downcast_ref::<ChildExit>() {
            return child.0;
        }
    }
    Code::Failure as i32
}

/// The code of the first `OpError` in the chain (`Failure` when there is none): how severe a
/// finding is, for checks that rank several errors.
pub fn code(error: &anyhow::Error) -> Code {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<OpError>())
        .map_or(Code::Failure, |op| op.code)
}

/// The hint of the first `OpError` in the chain that has one.
pub fn hint(error: &anyhow::Error) -> Option<&str> {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<OpError>())
        .find_map(|op| op.hint.as_deref())
}

/// The location of the first `OpError` in the chain that has one.
pub fn location(error: &anyhow::Error) -> Option<&Location> {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<OpError>())
        .find_map(|op| op.location.as_ref())
}

/// Several independent failures of one command (one per tool of an install), reported
/// together: one line each, each distinct hint once, and a count. The exit code is the first
/// failure's.
#[derive(Debug)]
pub struct Failures {
    /// What failed, in the order the user asked for them.
    pub errors: Vec<anyhow::Error>,
    /// How many were attempted, and what they are (`tool`).
    pub attempted: usize,
    pub noun: &'static str,
    /// What happened to the failed ones (`could not be installed`).
    pub outcome: &'static str,
}

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.errors.iter().map(|error| error.to_string()).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for Failures {}

/// Shorthand for returning an `OpError` from a function that returns `anyhow::Result`.
macro_rules! bail_code {
    ($code:expr, $($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::error::OpError::new($code, format!($($arg)*))))
    };
}
pub(crate) use bail_code;
