//! `op toolchain …`: install, list, which, exec, env, dir, verify, outdated, prune.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{
    EnvArgs, ExecArgs, InstallArgs, ListArgs, LockCommand, MirrorArgs, MirrorCommand, ShellKind,
    ToolchainCommand,
};
use crate::error::{Code, OpError, bail_code};
use crate::settings;
use crate::toolchain::cache::State;
use crate::toolchain::install::Outcome;
use crate::toolchain::{Toolchain, audit, exec, mirror, refresh};

mod install_json;
mod outdated;
mod prune;
mod verify;

pub fn run(toolchain: &Toolchain, command: ToolchainCommand) -> Result<()> {
    match command {
        ToolchainCommand::Install(args) => install(toolchain, args),
        ToolchainCommand::List(args) => list(toolchain, args),
        ToolchainCommand::Which { tool } => which(toolchain, &tool),
        ToolchainCommand::Exec(args) => exec(toolchain, args),
        ToolchainCommand::Env(args) => env(toolchain, args),
        ToolchainCommand::Dir => {
            toolchain
                .output
                .data(&toolchain.cache.root.display().to_string());
            Ok(())
        }
        ToolchainCommand::Verify { json } => verify::run(toolchain, json),
        ToolchainCommand::Prune {
            dry_run,
            unused_for,
        } => prune::run(toolchain, dry_run, &unused_for),
        ToolchainCommand::Outdated(args) => outdated::run(toolchain, args),
        ToolchainCommand::Lock(LockCommand::Update {
            specs,
            all,
            latest,
            accept_reupload,
            allow_downgrade,
            accept_missing_evidence,
        }) => refresh::update(
            toolchain.lock()?,
            &outdated::resolve_specs(toolchain, &specs, all, &latest)?,
            &refresh::Accept {
                reupload: accept_reupload,
                missing_evidence: accept_missing_evidence,
                downgrade: allow_downgrade,
            },
            &toolchain.settings,
            &toolchain.output,
        ),
        ToolchainCommand::Lock(LockCommand::Check { upstream, json }) => audit::check(
            toolchain.lock()?,
            upstream,
            json,
            &toolchain.settings,
            &toolchain.output,
        ),
        ToolchainCommand::Mirror(args) => mirror(toolchain, args),
    }
}

fn install(toolchain: &Toolchain, args: InstallArgs) -> Result<()> {
    let platform = toolchain.platform(args.platform.as_deref())?;
    let entries = toolchain.entries(&platform, &args.tools)?;
    let present = if args.json {
        install_json::present(toolchain, &entries, args.force)
    } else {
        Vec::new()
    };
    let started = std::time::Instant::now();
    let result = if args.force {
        toolchain.reinstall(&entries)
    } else {
        toolchain.ensure(&entries)
    };
    if args.json {
        install_json::print(toolchain, &platform, &entries, &present, &result)?;
    }
    let outcomes = result?;
    let fresh = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Outcome::Installed { .. }))
        .count();
    toolchain.output.info(&format!(
        "{} ready for {platform} ({fresh} installed now, {} already present) in {:.1}s, from {}",
        crate::output::count(entries.len(), "tool"),
        entries.len() - fresh,
        started.elapsed().as_secs_f64(),
        toolchain.lock()?.origin
    ));
    Ok(())
}

#[derive(Serialize)]
struct ListRow<'a> {
    tool: &'a str,
    version: &'a str,
    platform: &'a str,
    installed: bool,
    path: PathBuf,
    /// Credentials redacted: this output ends up in CI logs.
    url: String,
    sha256: &'a str,
}

fn list(toolchain: &Toolchain, args: ListArgs) -> Result<()> {
    if args.markdown {
        toolchain.output.data(&toolchain.lock()?.markdown());
        return Ok(());
    }
    let platform = toolchain.platform(args.platform.as_deref())?;
    let mut rows = Vec::new();
    for tool in &toolchain.lock()?.tools {
        let Some(artifact) = tool.platforms.get(&platform) else {
            toolchain.output.warn(&format!(
                "{} {} has no entry for {platform} in {}",
                tool.name,
                tool.version,
                toolchain.lock()?.origin
            ));
            continue;
        };
        let entry = toolchain.cache.entry(tool, &platform, artifact);
        rows.push(ListRow {
            tool: &tool.name,
            version: &tool.version,
            platform: &platform,
            installed: matches!(entry.state(&toolchain.cache)?, State::Installed(_)),
            path: entry.exe(),
            url: crate::toolchain::fetch::redact(&artifact.url),
            sha256: &artifact.sha256,
        });
    }
    if args.json {
        toolchain.output.data(&serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let width = rows
        .iter()
        .map(|row| row.tool.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let version_width = rows
        .iter()
        .map(|row| row.version.len())
        .max()
        .unwrap_or(7)
        .max(7);
    toolchain.output.data(&format!(
        "{:width$}  {:version_width$}  {:13}  {:13}  PATH",
        "TOOL", "VERSION", "PLATFORM", "STATUS"
    ));
    for row in &rows {
        toolchain.output.data(&format!(
            "{:width$}  {:version_width$}  {:13}  {:13}  {}",
            row.tool,
            row.version,
            row.platform,
            if row.installed {
                "installed"
            } else {
                "not installed"
            },
            row.path.display()
        ));
    }
    Ok(())
}

fn mirror(toolchain: &Toolchain, args: MirrorArgs) -> Result<()> {
    if let Some(MirrorCommand::Verify { dir }) = args.command {
        return mirror::verify(toolchain.lock()?, &toolchain.cache, &dir, &toolchain.output);
    }
    let dir = args.dir.expect("clap requires DIR without a subcommand");
    let platforms = if args.all_platforms {
        Vec::new()
    } else if args.platforms.is_empty() {
        vec![toolchain.platform(None)?]
    } else {
        args.platforms
            .iter()
            .map(|key| toolchain.platform(Some(key)))
            .collect::<Result<_>>()?
    };
    mirror::export(
        toolchain.lock()?,
        &toolchain.cache,
        &dir,
        &platforms,
        &toolchain.settings,
        &toolchain.output,
    )
}

fn which(toolchain: &Toolchain, tool: &str) -> Result<()> {
    let platform = toolchain.platform(None)?;
    let entry = toolchain.entries(&platform, &[tool.to_string()])?.remove(0);
    if !matches!(entry.state(&toolchain.cache)?, State::Installed(_)) {
        return Err(OpError::new(
            Code::Failure,
            format!(
                "{} is not installed in {}",
                entry.label(),
                toolchain.cache.root.display()
            ),
        )
        .with_hint(format!("run `op toolchain install {tool}`"))
        .into());
    }
    toolchain.output.data(&entry.exe().display().to_string());
    Ok(())
}

fn exec(toolchain: &Toolchain, args: ExecArgs) -> Result<()> {
    // Only the tool and the pinned tools it starts: the rest of the lock may be missing from
    // the mirror, or the cache read-only with just this tool in it.
    let entries = toolchain.ensure_for(&args.tool)?;
    // The next exec of this lock takes the warm path (`exec::warm`).
    toolchain.write_index();
    let path = exec::path_with(&Toolchain::bin_dirs(&entries))?;
    let exe = entries[0].exe();
    toolchain.output.trace(&format!(
        "running {} {}",
        exe.display(),
        args.args
            .iter()
            .map(|argument| argument.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    exec::relaunch(
        &exe,
        || toolchain.ensure(&entries).map(|_| true),
        || exec::replace_process(&exe, &args.args, &path),
    )
}

fn env(toolchain: &Toolchain, args: EnvArgs) -> Result<()> {
    let entries = toolchain.ensure_all()?;
    let dirs = Toolchain::bin_dirs(&entries);
    if args.github {
        let Some(file) = settings::var(settings::GITHUB_PATH) else {
            bail_code!(
                Code::Config,
                "--github needs $GITHUB_PATH, which GitHub Actions sets in every step; it is not set here"
            );
        };
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&file)
            .with_context(|| format!("cannot open $GITHUB_PATH file {file}"))?;
        for dir in &dirs {
            writeln!(out, "{}", dir.display()).with_context(|| format!("cannot write {file}"))?;
        }
        toolchain.output.info(&format!(
            "added {} pinned tool directories to $GITHUB_PATH for the next steps",
            dirs.len()
        ));
        return Ok(());
    }
    toolchain.output.data(&shell_line(args.shell, &dirs));
    Ok(())
}

/// A line that prepends `dirs` to PATH in the given shell, quoting each directory.
fn shell_line(shell: ShellKind, dirs: &[PathBuf]) -> String {
    let texts: Vec<String> = dirs.iter().map(|dir| dir.display().to_string()).collect();
    // The POSIX shells of Windows (Git Bash, MSYS2, fish there) take `/c/x` in a `:` list, not
    // `C:\x`, whose colon would split it.
    let posix: Vec<String> = texts
        .iter()
        .map(|text| {
            if cfg!(windows) {
                msys_path(text)
            } else {
                text.clone()
            }
        })
        .collect();
    match shell {
        ShellKind::Sh | ShellKind::Bash | ShellKind::Zsh => {
            let escaped: Vec<String> = posix
                .iter()
                .map(|text| escape(text, &['\\', '"', '$', '`'], '\\'))
                .collect();
            format!("export PATH=\"{}:$PATH\"", escaped.join(":"))
        }
        ShellKind::Fish => {
            let quoted: Vec<String> = posix
                .iter()
                .map(|text| format!("'{}'", escape(text, &['\\', '\''], '\\')))
                .collect();
            format!("set -gx PATH {} $PATH", quoted.join(" "))
        }
        ShellKind::Powershell => {
            let escaped: Vec<String> = texts
                .iter()
                .map(|text| escape(text, &['`', '"', '$'], '`'))
                .collect();
            let separator = if cfg!(windows) { ";" } else { ":" };
            format!(
                "$env:PATH = \"{}{separator}\" + $env:PATH",
                escaped.join(separator)
            )
        }
    }
}

/// A Windows path as the MSYS shells write it: `C:\a\b` → `/c/a/b`, `\\?\C:\a` → `/c/a`,
/// `\\server\share\a` → `//server/share/a`; anything else with its `\` turned to `/`.
fn msys_path(text: &str) -> String {
    let text = text.strip_prefix(r"\\?\").unwrap_or(text);
    let text = match text.strip_prefix(r"UNC\") {
        Some(unc) => format!(r"\\{unc}"),
        None => text.to_string(),
    };
    let bytes = text.as_bytes();
    let slashed = text.replace('\\', "/");
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        let rest = slashed[2..].trim_start_matches('/');
        format!("/{}/{rest}", (bytes[0] as char).to_ascii_lowercase())
            .trim_end_matches('/')
            .to_string()
    } else {
        slashed
    }
}

fn escape(text: &str, special: &[char], with: char) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if special.contains(&c) {
            out.push(with);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_md_agrees_with_the_lock() {
        let lock = crate::toolchain::lock::Lock::parse(
            crate::toolchain::lock::EMBEDDED,
            crate::toolchain::lock::Origin::Embedded,
        )
        .unwrap();
        let committed = include_str!("../../../DEPENDENCIES.md");
        assert_eq!(
            committed.trim_end(),
            lock.markdown(),
            "DEPENDENCIES.md is stale: run `op toolchain list --markdown > DEPENDENCIES.md`"
        );
    }

    #[test]
    fn windows_paths_are_written_as_the_msys_shells_take_them() {
        for (windows, msys) in [
            (
                r"C:\Users\me\AppData\Local\op\tools\kubectl\bin",
                "/c/Users/me/AppData/Local/op/tools/kubectl/bin",
            ),
            (r"d:\x", "/d/x"),
            (r"C:\", "/c"),
            (r"\\?\C:\cache\bin", "/c/cache/bin"),
            (r"\\?\UNC\server\share\bin", "//server/share/bin"),
            (r"\\server\share\bin", "//server/share/bin"),
            ("/already/posix", "/already/posix"),
        ] {
            assert_eq!(msys_path(windows), msys, "{windows}");
        }
    }

    #[cfg(windows)]
    #[test]
    fn env_lines_for_posix_shells_on_windows_have_no_drive_colon() {
        let dirs = [
            PathBuf::from(r"C:\cache\tools\a\bin"),
            PathBuf::from(r"D:\b"),
        ];
        assert_eq!(
            shell_line(ShellKind::Bash, &dirs),
            "export PATH=\"/c/cache/tools/a/bin:/d/b:$PATH\""
        );
        assert_eq!(
            shell_line(ShellKind::Fish, &dirs),
            "set -gx PATH '/c/cache/tools/a/bin' '/d/b' $PATH"
        );
        assert_eq!(
            shell_line(ShellKind::Powershell, &dirs),
            "$env:PATH = \"C:\\cache\\tools\\a\\bin;D:\\b;\" + $env:PATH"
        );
    }

    #[test]
    fn env_lines_quote_directories() {
        let dirs = [PathBuf::from("/c/a$b"), PathBuf::from("/c/it's")];
        assert_eq!(
            shell_line(ShellKind::Sh, &dirs),
            "export PATH=\"/c/a\\$b:/c/it's:$PATH\""
        );
        assert_eq!(
            shell_line(ShellKind::Fish, &dirs),
            "set -gx PATH '/c/a$b' '/c/it\\'s' $PATH"
        );
    }
}
