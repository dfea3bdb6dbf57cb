//! `--help` that can be copied: every example line whole, the global options under their own
//! heading and only on the commands they apply to, each environment variable named once.

use crate::support::TestEnv;

/// The help of `op ARGS --help`.
fn help(args: &[&str]) -> String {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--help");
    let run = TestEnv::new().op(&all);
    run.success();
    run.stdout.clone()
}

/// Asserts that `line` is one whole line of `text`.
#[track_caller]
fn has_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|each| each.trim_end() == line),
        "no line {line:?} in\n{text}"
    );
}

#[test]
fn a_copied_example_line_is_the_whole_command() {
    for (command, example) in [
        (
            vec!["watch-deployment"],
            "  op watch-deployment --component api --environment prod --namespace apps --poll-timeout 15m --interval 5s",
        ),
        (
            vec!["build-push"],
            "  op build-push --repo ghcr.io/acme --platform linux/amd64,linux/arm64 --cache-image ghcr.io/acme/cache",
        ),
        (
            vec!["build"],
            "Runs: skaffold build --cache-artifacts=false --default-repo REPO [--tag TAG] [--profile P] [--label L]",
        ),
        (
            vec!["toolchain", "mirror"],
            "  OP_TOOLCHAIN_MIRROR=https://mirror.example.com/op op toolchain install   on the fleet",
        ),
        (
            vec!["toolchain", "install"],
            "  op toolchain install --platform linux-arm64   another platform's tools (for images, mirrors)",
        ),
    ] {
        has_line(&help(&command), example);
    }
}

/// The text of the `Global options:` section of a help text (up to the next blank line).
fn global_section(text: &str) -> String {
    let mut lines = text.lines().skip_while(|line| *line != "Global options:");
    lines.next();
    lines
        .take_while(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn global_options_have_a_heading_and_appear_only_where_they_apply() {
    let build = help(&["build"]);
    let globals = global_section(&build);
    for option in [
        "--lock <FILE>",
        "--config <FILE>",
        "--quiet",
        "--verbose",
        "--color",
    ] {
        assert!(
            globals.contains(option),
            "{option} not under Global options:\n{build}"
        );
    }
    let options = build
        .split("Global options:")
        .next()
        .expect("text before the heading");
    assert!(
        !options.contains("--lock"),
        "--lock among build's own options:\n{build}"
    );

    let install = help(&["toolchain", "install"]);
    assert!(
        global_section(&install).contains("--lock <FILE>"),
        "{install}"
    );
    assert!(
        !install.contains("--config"),
        "--config shown on toolchain install:\n{install}"
    );

    for command in [&["completions"][..], &["man"][..]] {
        let text = help(command);
        assert!(text.contains("Global options:"), "{text}");
        assert!(
            !text.contains("--lock") && !text.contains("--config"),
            "{text}"
        );
    }
    // Not shown means not taken either; before the subcommand, it is still accepted.
    TestEnv::new()
        .op(&["completions", "bash", "--lock", "x.lock"])
        .code(2)
        .stderr_has("--lock");
    TestEnv::new()
        .op(&["--lock", "x.lock", "completions", "bash"])
        .success();
}

#[test]
fn start_registry_names_its_variable_once_and_mirror_verify_describes_dir() {
    let text = help(&["start-registry"]);
    assert_eq!(
        text.matches("REGISTRY_TLS_IMAGE").count(),
        1,
        "REGISTRY_TLS_IMAGE more than once:\n{text}"
    );
    assert!(text.contains("[env: REGISTRY_TLS_IMAGE]"), "{text}");

    let text = help(&["toolchain", "mirror", "verify"]);
    let dir = text
        .lines()
        .find(|line| line.trim_start().starts_with("<DIR>"))
        .unwrap_or_else(|| panic!("no <DIR> line:\n{text}"));
    assert!(dir.contains("mirror directory"), "{dir}");
}

#[test]
fn a_lock_given_after_the_subcommand_is_used() {
    let env = TestEnv::new();
    let lock = env.write_file("elsewhere/other.lock", "schema = 2\n[tools]\n");
    env.op(&["toolchain", "list", "--lock", lock.to_str().unwrap()])
        .code(2)
        .stderr_has(lock.to_str().unwrap());
}
