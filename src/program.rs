//! The name this program was invoked as, `op` or `octopipeline`, and the one place that puts it
//! into what people read: hints, messages and help examples are written with `op`, and a user
//! who runs `octopipeline` (say, because 1Password's CLI owns `op` on that machine) is shown
//! `octopipeline` instead, so that a copied command runs this program.

use std::borrow::Cow;
use std::sync::{LazyLock, OnceLock};

use regex::Regex;

static NAME: OnceLock<&'static str> = OnceLock::new();

/// `op` or `octopipeline`, from how the binary was started (`argv[0]`'s file stem).
pub fn from_argv0(argv0: Option<&std::ffi::OsStr>) -> &'static str {
    let stem = argv0.and_then(|arg| std::path::Path::new(arg).file_stem());
    if stem.is_some_and(|stem| stem == "octopipeline") {
        "octopipeline"
    } else {
        "op"
    }
}

/// Records the invoked name for the rest of the process (the first call wins).
pub fn set(name: &'static str) {
    let _ = NAME.set(name);
}

/// The invoked name; `op` until [`set`] is called.
pub fn name() -> &'static str {
    NAME.get().copied().unwrap_or("op")
}

/// `text` with every command-line mention of `op` (at the start, after a space, a backtick, a
/// quote or a parenthesis, and followed by a space) spelled as the invoked name.
pub fn rename(text: &str) -> Cow<'_, str> {
    rename_to(text, name())
}

fn rename_to<'a>(text: &'a str, name: &str) -> Cow<'a, str> {
    static MENTION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"(^|[\s`"'(])op( )"#).expect("a valid pattern"));
    if name == "op" {
        return Cow::Borrowed(text);
    }
    MENTION.replace_all(text, format!("${{1}}{name}${{2}}").as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_of_op_take_the_invoked_name() {
        let hint = "run `op toolchain install kubectl`; or \"op run context list\"\n  op push";
        assert_eq!(
            rename_to(hint, "octopipeline"),
            "run `octopipeline toolchain install kubectl`; or \"octopipeline run context list\"\n  octopipeline push"
        );
        assert_eq!(rename_to(hint, "op"), hint);
        // Words that only contain `op` are left alone.
        let other = "stop op-cache OP_CACHE_DIR loop operator op";
        assert_eq!(rename_to(other, "octopipeline"), other);
    }

    #[test]
    fn the_name_comes_from_argv0() {
        use std::ffi::OsStr;
        assert_eq!(
            from_argv0(Some(OsStr::new("/usr/bin/octopipeline"))),
            "octopipeline"
        );
        assert_eq!(
            from_argv0(Some(OsStr::new("octopipeline.exe"))),
            "octopipeline"
        );
        assert_eq!(from_argv0(Some(OsStr::new("/usr/local/bin/op"))), "op");
        assert_eq!(from_argv0(None), "op");
    }
}
