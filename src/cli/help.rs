//! The command line as people read it: under the invoked name, examples kept verbatim, and the
//! global options shown only where they apply.

use clap::CommandFactory;

use super::Cli;
use crate::program;

/// The text around the options; clap's default with the examples written as they are.
const TEMPLATE: &str = "{before-help}{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}";

/// Commands that read no lock: `--lock` means nothing to them.
const NO_LOCK: &[&str] = &["completions", "man"];

/// Commands that read the pipeline settings file (`--config`).
const PIPELINE: &[&str] = &[
    "build",
    "push",
    "build-push",
    "promote-image",
    "watch-deployment",
    "run",
    "start-registry",
];

/// The command line definition under the invoked name, its help texts and examples speaking of
/// that name too (`octopipeline toolchain install`, not `op toolchain install`).
pub fn named_command(name: &'static str) -> clap::Command {
    let mut command = Cli::command().name(name).bin_name(name);
    // `--lock` and `--config` are accepted before the subcommand (`op --lock F toolchain …`)
    // and, where they apply, after it: each such command gets its own copy, so that the others
    // (`completions`, `man`; `--config` outside the pipeline) neither show nor take them.
    let copies: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|arg| ["lock", "config"].contains(&arg.get_id().as_str()))
        .cloned()
        .collect();
    let subcommands: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    for sub in subcommands {
        let applies: Vec<clap::Arg> = copies
            .iter()
            .filter(|arg| match arg.get_id().as_str() {
                "lock" => !NO_LOCK.contains(&sub.as_str()),
                _ => PIPELINE.contains(&sub.as_str()),
            })
            .cloned()
            .collect();
        command = command.mut_subcommand(sub, |sub| with_args(sub, &applies));
    }
    finish_texts(command)
}

/// `command` and every command below it, each taking `args` too.
fn with_args(mut command: clap::Command, args: &[clap::Arg]) -> clap::Command {
    for arg in args {
        command = command.arg(arg.clone());
    }
    let subcommands: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    for sub in subcommands {
        command = command.mut_subcommand(sub, |sub| with_args(sub, args));
    }
    command
}

/// `args` with a `--` after the tool of `op toolchain exec TOOL ARGS…` (unless one is there):
/// what follows the tool is the tool's, even `-v` or `--color`, which are op's own options
/// anywhere else and which clap would otherwise take for them.
pub fn protect_exec_args(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const TAKES_VALUE: &[&str] = &["--lock", "--config", "--color"];
    let mut expected = ["toolchain", "exec"].into_iter();
    let mut want = expected.next();
    let mut index = 1;
    while index < args.len() {
        let word = args[index].to_string_lossy().into_owned();
        if word == "--" {
            return args;
        }
        if word.starts_with('-') {
            index += if TAKES_VALUE.contains(&word.as_str()) {
                2
            } else {
                1
            };
            continue;
        }
        match want {
            Some(name) if word == name => want = expected.next(),
            Some(_) => return args,
            None => {
                let next = index + 1;
                if args.get(next).is_some_and(|arg| arg != "--") {
                    args.insert(next, "--".into());
                }
                return args;
            }
        }
        index += 1;
    }
    args
}

/// The value of `--lock` or `--config` wherever it was given: the one nearest the end of the
/// command line wins (`op --lock A toolchain install --lock B` uses B).
pub fn path_option(matches: &clap::ArgMatches, id: &str) -> Option<std::path::PathBuf> {
    let mut found = None;
    let mut current = Some(matches);
    while let Some(level) = current {
        if let Ok(Some(value)) = level.try_get_one::<std::path::PathBuf>(id) {
            found = Some(value.clone());
        }
        current = level.subcommand().map(|(_, sub)| sub);
    }
    found
}

/// Every command's examples (its after-help) spelled with the invoked name and printed exactly
/// as written: clap re-wraps after-help text to the terminal, which splits a command line in two.
/// The text of the help template is printed as it is, so the examples move there; the man
/// pages still read them from the after-help.
fn finish_texts(mut command: clap::Command) -> clap::Command {
    if let Some(text) = command.get_after_help().map(|text| text.to_string()) {
        let renamed = program::rename(&text).into_owned();
        // clap prints an unknown `{tag}` of a template back as written, so a `{…}` in an example
        // survives (a unit test renders every command's help to check).
        let template = format!("{TEMPLATE}\n\n{renamed}");
        command = command.after_help(renamed).help_template(template);
    }
    let subcommands: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    for sub in subcommands {
        command = command.mut_subcommand(sub, finish_texts);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(command: &clap::Command, out: &mut Vec<clap::Command>) {
        out.push(command.clone());
        for sub in command.get_subcommands() {
            all(sub, out);
        }
    }

    #[test]
    fn what_follows_the_tool_of_exec_is_the_tools() {
        let args = |list: &[&str]| -> Vec<std::ffi::OsString> {
            list.iter().map(std::ffi::OsString::from).collect()
        };
        assert_eq!(
            protect_exec_args(args(&[
                "op",
                "-v",
                "toolchain",
                "--lock",
                "l",
                "exec",
                "k",
                "-v"
            ])),
            args(&[
                "op",
                "-v",
                "toolchain",
                "--lock",
                "l",
                "exec",
                "k",
                "--",
                "-v"
            ])
        );
        for unchanged in [
            &["op", "toolchain", "exec", "k", "--", "-v"][..],
            &["op", "toolchain", "exec", "k"],
            &["op", "toolchain", "install", "k", "-v"],
            &["op", "build", "-v"],
        ] {
            assert_eq!(protect_exec_args(args(unchanged)), args(unchanged));
        }
    }

    #[test]
    fn every_example_is_printed_verbatim() {
        let mut commands = Vec::new();
        all(&named_command("op"), &mut commands);
        assert!(commands.len() > 20, "{}", commands.len());
        for mut command in commands {
            let Some(examples) = command.get_after_help().map(|text| text.to_string()) else {
                continue;
            };
            let help = command.render_long_help().to_string();
            assert!(
                help.contains(&examples),
                "help of {} re-wraps its examples:\n{help}",
                command.get_name()
            );
        }
    }
}
