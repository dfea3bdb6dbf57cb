//! GitHub Actions (`GITHUB_ACTIONS=true`): a log group around each download phase and each
//! tool run, `::error file=…,line=…,col=…::` for configuration errors, and a step summary.

use std::fs;

#[cfg(unix)]
use crate::pipeline_tools::{bed, read};
use crate::support::TestEnv;
use crate::toolchain_install::three_tools;

/// `(opened, closed)` group lines of `stderr`, and whether they nest properly.
#[track_caller]
fn groups(stderr: &str) -> Vec<String> {
    let mut open = None;
    let mut titles = Vec::new();
    for line in stderr.lines() {
        if let Some(title) = line.strip_prefix("::group::") {
            assert!(open.is_none(), "a group inside a group:\n{stderr}");
            open = Some(title.to_string());
        } else if line == "::endgroup::" {
            titles.push(
                open.take()
                    .unwrap_or_else(|| panic!("unopened group:\n{stderr}")),
            );
        }
    }
    assert!(open.is_none(), "a group left open:\n{stderr}");
    titles
}

#[test]
fn downloads_are_a_group_and_the_summary_lists_the_tools() {
    let lock = three_tools();
    let (mut env, _server) = TestEnv::served(&lock);
    let summary = env.root().join("summary.md");
    env.set("GITHUB_ACTIONS", "true")
        .set("GITHUB_STEP_SUMMARY", summary.to_str().unwrap());
    fs::write(&summary, "earlier step\n").unwrap();
    let run = env.op(&["toolchain", "install"]);
    run.success();
    let titles = groups(&run.stderr);
    assert_eq!(titles.len(), 1, "{}", run.stderr);
    for pin in &lock.pins {
        assert!(titles[0].contains(&pin.tool), "{titles:?}");
    }
    let text = fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("earlier step\n"),
        "appended, not replaced:\n{text}"
    );
    assert!(
        text.contains("| tool | version | platform | size | time |"),
        "{text}"
    );
    for pin in &lock.pins {
        assert!(
            text.contains(&format!("| {} | {} |", pin.tool, pin.version)),
            "{text}"
        );
    }
    // Nothing new installed: no new section.
    env.op(&["toolchain", "install"]).success();
    assert_eq!(fs::read_to_string(&summary).unwrap(), text);
    // Outside GitHub Actions: no workflow commands at all.
    env.unset("GITHUB_ACTIONS");
    env.op(&["toolchain", "install", "--force"])
        .success()
        .stderr_lacks("::group::");
}

#[cfg(unix)]
#[test]
fn each_tool_run_is_a_group_and_pushed_images_reach_the_summary() {
    let mut pipeline = bed();
    pipeline.write(".registry", "local: localhost:5001\nci: [ghcr.io/acme]\n");
    let summary = pipeline.env.root().join("summary.md");
    pipeline
        .set("GITHUB_ACTIONS", "true")
        .set("GITHUB_STEP_SUMMARY", summary.to_str().unwrap());
    let run = pipeline.env.op(&["push"]);
    run.success();
    let titles = groups(&run.stderr);
    assert!(
        titles.iter().any(|title| title.contains("skaffold build")),
        "{titles:?}\n{}",
        run.stderr
    );
    let text = fs::read_to_string(&summary).unwrap();
    let result = read(&pipeline, "build_result.json");
    assert!(text.contains("| pushed |"), "{text}");
    assert!(result.contains("api:fixture1"), "{result}");
    assert!(text.contains("api:fixture1"), "{text}");
}

#[cfg(unix)]
#[test]
fn config_errors_are_annotated_with_file_line_and_column() {
    // A .run.yaml the YAML reader refuses at line 1, column 11.
    let mut pipeline = bed();
    let run_yaml = pipeline.write(".run.yaml", "contexts: [a]\n");
    pipeline.set("GITHUB_ACTIONS", "true");
    let run = pipeline.env.op(&["build"]);
    run.code(2).stderr_has(&format!(
        "::error file={},line=1,col=11::",
        run_yaml.display()
    ));

    // A lock that is not TOML, and one whose tool is malformed.
    let mut env = TestEnv::new();
    env.set("GITHUB_ACTIONS", "true");
    let lock = env.write_file("work/toolchain.lock", "schema = 1\n\n[tools\n");
    env.op(&["toolchain", "list"])
        .code(2)
        .stderr_has(&format!("::error file={},line=3,col=", lock.display()));
    let lock = env.write_file(
        "work/toolchain.lock",
        "schema = 1\n\n[tools.a]\nversion = \"1\"\nbogus = 2\n",
    );
    env.op(&["toolchain", "list"])
        .code(2)
        .stderr_has(&format!("::error file={},line=3,col=1::", lock.display()));

    // A properties file with a control character on line 2.
    let mut pipeline = bed();
    let properties = pipeline.write("pipeline.properties", "A=1\nB=x\u{7}y\n");
    pipeline.set("GITHUB_ACTIONS", "true");
    pipeline
        .env
        .op(&["build", "--config", properties.to_str().unwrap()])
        .code(2)
        .stderr_has(&format!(
            "::error file={},line=2,col=4::",
            properties.display()
        ));
}
