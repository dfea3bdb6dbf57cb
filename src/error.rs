//! Errors that choose an exit code, and the mapping from any error chain to that code.

use std::fmt;

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
}

impl OpError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
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

/// The hint of the first `OpError` in the chain that has one.
pub fn hint(error: &anyhow::Error) -> Option<&str> {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<OpError>())
        .find_map(|op| op.hint.as_deref())
}

/// Shorthand for returning an `OpError` from a function that returns `anyhow::Result`.
macro_rules! bail_code {
    ($code:expr, $($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::error::OpError::new($code, format!($($arg)*))))
    };
}
pub(crate) use bail_code;
