//! Man pages: `op(1)` and one page per subcommand (`op-build(1)`, `op-toolchain-install(1)`, …),
//! each with the sections clap does not know: EXAMPLES, ENVIRONMENT, FILES, EXIT STATUS.
//! The pages hold no date and no machine-specific text, so the same binary writes the same bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// What the environment variables mean (the README's table, condensed).
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "OP_CACHE_DIR",
        "Cache root (default: the per-user cache directory of the OS).",
    ),
    (
        "OP_TOOLCHAIN_LOCK",
        "Lock file to use instead of the discovered or built-in one (as --lock).",
    ),
    (
        "OP_TOOLCHAIN_MIRROR",
        "Mirror base URLs (https://, http:// or file://; comma- or space-separated, tried in order) replacing the origin of every lock URL; a last word `origin` lets the lock's own URLs follow.",
    ),
    (
        "OP_OFFLINE",
        "Never open a socket; a tool missing from the cache is exit 6.",
    ),
    (
        "OP_TOOLCHAIN_PLATFORM",
        "Act as if the host were this platform key (linux-amd64, darwin-arm64, ...).",
    ),
    (
        "OP_LOCK_TIMEOUT",
        "Seconds to wait for another process installing the same artifact (default 300).",
    ),
    (
        "OP_HTTP_RETRIES, OP_HTTP_TIMEOUT, OP_HTTP_MIN_SPEED, OP_HTTP_DEADLINE",
        "Retries, connect/read timeout, slowest accepted speed and overall deadline of a download.",
    ),
    (
        "HTTPS_PROXY, HTTP_PROXY, NO_PROXY",
        "Proxies, as everywhere; a failed download names the proxy it went through.",
    ),
    (
        "SSL_CERT_FILE",
        "A PEM bundle of extra CA certificates, trusted besides the system's.",
    ),
    (
        "OP_GITHUB_TOKEN, GITHUB_TOKEN",
        "A token sent to GitHub hosts only, against rate limits.",
    ),
    ("OP_NO_PROGRESS", "No progress bars."),
    (
        "NO_COLOR",
        "No colour (unless --color always), see https://no-color.org.",
    ),
    (
        "CLICOLOR_FORCE",
        "Colour even when stderr is not a terminal (unless NO_COLOR or --color never).",
    ),
    (
        "GITHUB_ACTIONS, GITHUB_STEP_SUMMARY, GITHUB_PATH",
        "In GitHub Actions: log groups, error annotations with file and line, a step summary; \
         toolchain env --github appends to $GITHUB_PATH.",
    ),
    (
        "OCTOPILOT_PIPELINE_PROPERTIES",
        "The pipeline settings file, as --config.",
    ),
    (
        "SKAFFOLD_DEFAULT_REPO, GOOGLE_GKE_IMAGE_*, PROMOTE_*, WATCH_DESTINATION_REPOSITORY",
        "Pipeline settings (see the README, \"Configuration files and precedence\").",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "toolchain.lock",
        "The pins: found in the current directory or a parent, up to the repository root; \
         else the lock built into op.",
    ),
    (
        "$OP_CACHE_DIR/tools/",
        "Installed tools, one directory per tool, version, platform and digest.",
    ),
    (
        "skaffold.yaml, .registry, .run.yaml",
        "The pipeline's artifacts, registries and local run settings.",
    ),
    (
        "build_result.json",
        "The images a build pushed; read by promote-image, watch-deployment and run.",
    ),
];

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success."),
    ("1", "The command failed."),
    (
        "2",
        "Usage or configuration error: a bad flag, a malformed or unreadable input file.",
    ),
    (
        "3",
        "Integrity: a download's SHA-256 or size differs from the lock; nothing was installed.",
    ),
    ("4", "A download failed (network, HTTP status, timeout)."),
    ("5", "The lock pins no build of the tool for this platform."),
    (
        "6",
        "Offline (OP_OFFLINE) and the tool is not in the cache.",
    ),
    (
        "other",
        "A wrapped tool's own exit code; 128+N when it was killed by signal N.",
    ),
];

/// Every page: `(file name, roff)`, the main page first, then each subcommand, depth first.
pub fn pages(command: clap::Command) -> Result<Vec<(String, Vec<u8>)>> {
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut pages = Vec::new();
    collect(&command, &mut pages)?;
    Ok(pages)
}

fn collect(command: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let man = clap_mangen::Man::new(command.clone());
    let mut roff = Vec::new();
    render(&man, command, &mut roff)?;
    pages.push((man.get_filename(), ascii(&roff)));
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        collect(sub, pages)?;
    }
    Ok(())
}

fn render(man: &clap_mangen::Man, command: &clap::Command, out: &mut Vec<u8>) -> Result<()> {
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if command.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if command.has_subcommands() {
        man.render_subcommands_section(out)?;
    }
    if let Some(examples) = command.get_after_help() {
        writeln!(out, ".SH EXAMPLES\n.nf")?;
        let examples = examples.to_string();
        // The heading is the section's: the help's own `Examples:` line goes.
        let body = examples
            .strip_prefix("Examples:\n")
            .or_else(|| examples.strip_prefix("Example:\n"))
            .unwrap_or(&examples);
        for line in body.lines() {
            writeln!(out, "{}", escape(line))?;
        }
        writeln!(out, ".fi")?;
    }
    section(out, "ENVIRONMENT", ENVIRONMENT)?;
    section(out, "FILES", FILES)?;
    section(out, "EXIT STATUS", EXIT_STATUS)?;
    let root = command
        .get_display_name()
        .unwrap_or(command.get_name())
        .split('-')
        .next()
        .unwrap_or("op")
        .to_string();
    if command.get_display_name() != Some(root.as_str()) {
        writeln!(out, ".SH \"SEE ALSO\"\n\\fB{}\\fR(1)", escape(&root))?;
    }
    writeln!(out, ".SH VERSION\nv{}", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

fn section(out: &mut Vec<u8>, title: &str, items: &[(&str, &str)]) -> Result<()> {
    writeln!(out, ".SH \"{title}\"")?;
    for (name, text) in items {
        writeln!(out, ".TP\n\\fB{}\\fR\n{}", escape(name), escape(text))?;
    }
    Ok(())
}

/// Text as roff reads it literally: backslashes and hyphens escaped, no line starting a request.
fn escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// `roff` with every non-ASCII character spelled `\[uXXXX]`, which every troff reads whatever
/// the locale (a plain `…` makes groff warn and drop it).
fn ascii(roff: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(roff);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out.into_bytes()
}

/// Writes every page into `dir` (created if needed); returns the paths written.
pub fn write_all(command: clap::Command, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, roff) in pages(command)? {
        let path = dir.join(&name);
        std::fs::write(&path, roff)
            .with_context(|| format!("cannot write the man page {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_a_page_with_the_extra_sections() {
        let pages = pages(super::super::named_command("op")).unwrap();
        let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
        for expected in [
            "op.1",
            "op-build.1",
            "op-toolchain.1",
            "op-toolchain-install.1",
            "op-toolchain-lock-update.1",
            "op-toolchain-mirror-verify.1",
        ] {
            assert!(names.contains(&expected), "{expected} missing: {names:?}");
        }
        for (name, roff) in &pages {
            let text = String::from_utf8_lossy(roff);
            for heading in [
                ".SH \"ENVIRONMENT\"",
                ".SH \"FILES\"",
                ".SH \"EXIT STATUS\"",
            ] {
                assert!(text.contains(heading), "{name} lacks {heading}");
            }
        }
    }

    #[test]
    fn roff_escapes_what_it_must() {
        assert_eq!(escape(".hidden -x a\\b"), "\\&.hidden \\-x a\\eb");
        assert_eq!(
            ascii("REF@sha256:\u{2026}".as_bytes()),
            b"REF@sha256:\\[u2026]"
        );
    }
}
