//! The warm path of `op toolchain exec`: the lock's index in the cache (written after a full
//! parse, named by the lock's bytes), read only as a hint: a planted, garbled or stale index
//! never runs anything but the lock's own pin, and an edited lock gets an index of its own.

use std::fs;

#[cfg(unix)]
use crate::pipeline_bed::{FLUX, KUBECTL, Pipeline};
use crate::support::archive::marker;
use crate::support::{Kind, Lock, Pin, TestEnv, dir_names, host_platform};
use crate::toolchain_install::three_tools;

/// The index file of lock `text`: op's own naming (`src/toolchain/cache/index.rs`).
fn index_name(text: &str) -> String {
    op_cli::toolchain::cache::index::name(text)
}

#[test]
fn exec_leaves_an_index_of_the_lock_and_runs_through_it_next_time() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    env.op(&["toolchain", "exec", "fixture-tgz", "--", "a"])
        .success()
        .stdout_has(&marker("fixture-tgz"))
        .stdout_has("arg=[a]\n");
    let index = env.cache().join("index").join(index_name(&lock.text()));
    let lines = fs::read_to_string(&index).expect("an index after the first exec");
    for pin in &lock.pins {
        assert!(lines.contains(&format!("{} ", pin.tool)), "{lines}");
    }
    // Warm: the same output, another tool of the lock installed on demand as before.
    env.op(&["toolchain", "exec", "fixture-tgz", "--", "b", "--flag"])
        .success()
        .stdout_has(&marker("fixture-tgz"))
        .stdout_has("arg=[b]\narg=[--flag]\n");
    env.op(&["toolchain", "exec", "fixture-raw", "x"])
        .success()
        .stdout_has(&marker("fixture-raw"))
        .stdout_has("arg=[x]\n");
    assert_eq!(dir_names(&env.cache().join("index")).len(), 1);
}

#[test]
fn a_planted_index_never_runs_another_pin() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();
    let text = lock.text();
    let zip_start = text.find("[tools.fixture-zip]").unwrap();
    let index_dir = env.cache().join("index");
    fs::create_dir_all(&index_dir).unwrap();
    let index = index_dir.join(index_name(&text));
    for planted in [
        // fixture-raw's name over fixture-zip's table, over the whole file, mid-line, garbage.
        format!("fixture-raw {zip_start} {}\n", text.len()),
        format!("fixture-raw 0 {}\n", text.len()),
        format!("fixture-raw {} {}\n", zip_start + 1, text.len()),
        "fixture-raw\n\u{0}\u{1}".to_string(),
    ] {
        fs::write(&index, &planted).unwrap();
        env.op(&["toolchain", "exec", "fixture-raw"])
            .success()
            .stdout_has(&marker("fixture-raw"))
            .stderr_lacks(&marker("fixture-zip"));
    }
    // An index that is a link is not read, and what it points to is left alone.
    #[cfg(unix)]
    {
        let elsewhere = env.write_file("elsewhere", "fixture-raw 0 10\n");
        fs::remove_file(&index).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &index).unwrap();
        env.op(&["toolchain", "exec", "fixture-raw"])
            .success()
            .stdout_has(&marker("fixture-raw"));
        assert_eq!(
            fs::read_to_string(&elsewhere).unwrap(),
            "fixture-raw 0 10\n"
        );
    }
}

#[test]
fn an_entry_that_no_longer_matches_is_reinstalled_despite_the_index() {
    let lock = three_tools();
    let (env, server) = TestEnv::served(&lock);
    env.op(&["toolchain", "exec", "fixture-raw"]).success();
    let pin = lock.pin("fixture-raw");
    let exe = env.bin_path(pin, host_platform());
    // Another size than the receipt records: not op's verified bytes any more.
    fs::write(&exe, "#!/bin/sh\necho planted\n").unwrap();
    env.op(&["toolchain", "exec", "fixture-raw"])
        .success()
        .stdout_has(&marker("fixture-raw"))
        .stderr_lacks("planted");
    assert_eq!(server.gets(&pin.artifact().server_path()), 2);
}

#[test]
fn an_edited_lock_gets_its_own_index_and_prune_drops_the_old_one() {
    let old = Lock::new(vec![Pin::fixture("fixture-raw", "1.0.0", Kind::Raw)]);
    let new = Lock::new(vec![Pin::fixture("fixture-raw", "2.0.0", Kind::Raw)]);
    let (env, server) = TestEnv::served(&old);
    server.publish(&new);
    env.op(&["toolchain", "exec", "fixture-raw"]).success();
    env.write_lock(&new);
    env.op(&["toolchain", "exec", "fixture-raw"])
        .success()
        .stdout_has(&marker("fixture-raw"));
    let index = env.cache().join("index");
    let mut both = vec![index_name(&old.text()), index_name(&new.text())];
    both.sort();
    assert_eq!(dir_names(&index), both);
    // The new pin is what ran: its entry is installed.
    assert!(
        env.bin_path(new.pin("fixture-raw"), host_platform())
            .is_file()
    );
    env.op(&["toolchain", "prune", "--unused-for", "0"])
        .success();
    assert_eq!(dir_names(&index), [index_name(&new.text())]);
    env.op(&["toolchain", "exec", "fixture-raw"]).success();
}

#[cfg(unix)]
#[test]
fn a_pipeline_command_reinstalls_a_pinned_tool_that_vanished_after_its_check() {
    // kubectl's first run takes its own entry out of the cache, as another op's prune might
    // between the check and the next launch: the next poll puts it back and runs it.
    let vanishing = format!(
        "if [ ! -e \"$FIXTURE_LOG.gone\" ]; then : > \"$FIXTURE_LOG.gone\"; rm -rf \"${{0%/bin/kubectl}}\"; fi\n{KUBECTL}"
    );
    let mut pipeline = Pipeline::with_pinned(&[("flux", FLUX), ("kubectl", &vanishing)]);
    pipeline.write(
        "build_result.json",
        r#"{"builds":[{"imageName":"api","tag":"dev.io/p/api:1.2.0"}]}"#,
    );
    pipeline
        .set("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io/p")
        .set("FIXTURE_IMAGE", "dev.io/p/api:1.2.0")
        .set("FIXTURE_POLLS", "2");
    pipeline
        .env
        .op(&[
            "watch-deployment",
            "--component",
            "api",
            "--environment",
            "dev",
            "--interval",
            "50ms",
        ])
        .success()
        .stderr_has("Rollout complete.");
    let polls = pipeline
        .argv_of("kubectl")
        .iter()
        .filter(|argv| argv.contains(&"get".to_string()))
        .count();
    assert_eq!(polls, 2);
    assert!(pipeline.env.cache().join("index").is_dir());
}

#[cfg(unix)]
#[test]
fn exec_of_one_tool_ignores_another_tools_broken_entry() {
    let lock = three_tools();
    let (env, _server) = TestEnv::served(&lock);
    env.op(&["toolchain", "install"]).success();
    // fixture-zip's entry is now a link to somewhere else: not op's, and refused when used.
    let zip = env.tool_dir(lock.pin("fixture-zip"), host_platform());
    let elsewhere = env.root().join("elsewhere");
    fs::rename(&zip, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &zip).unwrap();
    for _ in 0..2 {
        env.op(&["toolchain", "exec", "fixture-raw"])
            .success()
            .stdout_has(&marker("fixture-raw"));
    }
    env.op(&["toolchain", "exec", "fixture-zip"])
        .code(2)
        .stderr_has(&zip.display().to_string());
}
