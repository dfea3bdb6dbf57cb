//! Secrets never reach a log: passwords in lock and mirror URLs (holding `/`, `#`, `?`, `@`, a
//! space), credentials in `.registry` entries (literal and from `${VAR}`), in
//! SKAFFOLD_DEFAULT_REPO and the environment registries. Every command runs with them (dry runs,
//! failures, `--push-all`, GitHub `::error::` annotations), and neither what it printed nor any
//! file it wrote holds any part of a secret.
//!
//! Each secret is made of words of eight or more letters joined by the characters that trip URL
//! parsers; every word is searched for on its own, so half a password shown is a failure too.

use std::fs;
use std::path::{Path, PathBuf};

use crate::pipeline_bed::{FLUX, KUBECTL, Pipeline};
use crate::pipeline_tools::{DIGEST, DOCKER, GIT};
use crate::support::server::dead_url;
use crate::support::{Artifact, Kind, Lock, Pin, Run, TestEnv, host_platform, walk};

/// The argv log of the fixture tools: it records what `op` handed to each child, and handing a
/// registry's credentials to skaffold or crane is the point of configuring them. It is the one
/// file written under the test's root that may hold a secret.
const ARGV_LOG: &str = "fixture.log";

/// The words a secret is made of (the pieces between its punctuation).
fn words(secret: &str) -> Vec<&str> {
    secret
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| word.len() >= 8)
        .collect()
}

/// Everything `op` printed and wrote, checked for every word of every secret.
struct Watch {
    secrets: Vec<String>,
    /// The test's root: every file under it is read after every run.
    root: PathBuf,
    printed: Vec<(String, String)>,
    /// Files the test wrote as input (they hold the secrets on purpose), with their text.
    inputs: Vec<(PathBuf, String)>,
    /// Files that held a secret after some run, and which.
    leaked_files: Vec<String>,
    /// How many files were read in all.
    files_read: usize,
}

impl Watch {
    fn new(root: &Path, secrets: &[&str]) -> Watch {
        for secret in secrets {
            assert!(
                !words(secret).is_empty(),
                "{secret:?} has no word to look for"
            );
        }
        Watch {
            secrets: secrets.iter().map(|secret| secret.to_string()).collect(),
            root: root.to_path_buf(),
            printed: Vec::new(),
            inputs: Vec::new(),
            leaked_files: Vec::new(),
            files_read: 0,
        }
    }

    fn input(&mut self, path: PathBuf) {
        let text = fs::read_to_string(&path).expect("read input");
        self.inputs.push((path, text));
    }

    /// Records a run (its exit code must be `code`) and returns it.
    #[track_caller]
    fn record(&mut self, run: Run, code: i32) -> Run {
        run.code(code);
        let label = format!("op {:?} (exit {code})", run.args);
        self.read_files(&label);
        self.printed
            .push((label, format!("{}\n{}", run.stdout, run.stderr)));
        run
    }

    /// Reads every file under the root but the inputs and the argv log (a later run may
    /// replace what this one wrote).
    fn read_files(&mut self, after: &str) {
        for path in walk(&self.root) {
            let name = path.file_name().and_then(|name| name.to_str());
            let input = self.inputs.iter().any(|(input, _)| *input == path);
            if input || name == Some(ARGV_LOG) || !path.is_file() {
                continue;
            }
            self.files_read += 1;
            let text = String::from_utf8_lossy(&fs::read(&path).expect("read file")).into_owned();
            for leak in self.leaks_in(&text) {
                let found = format!("{} holds {leak}", path.display());
                if !self
                    .leaked_files
                    .iter()
                    .any(|seen| seen.starts_with(&found))
                {
                    self.leaked_files.push(format!("{found}, after {after}"));
                }
            }
        }
    }

    /// Records a run that must fail, with whatever code (2 or 4 for an install, depending on
    /// whether the URL parser gives up or the connection does).
    #[track_caller]
    fn record_failure(&mut self, run: Run) {
        run.failure();
        let code = run.code.expect("an exit code, not a signal");
        self.record(run, code);
    }

    fn leaks_in(&self, text: &str) -> Vec<String> {
        self.secrets
            .iter()
            .flat_map(|secret| words(secret).into_iter().map(move |word| (secret, word)))
            .filter(|(_, word)| text.contains(word))
            .map(|(secret, word)| format!("{word:?} (of {secret:?})"))
            .collect()
    }

    /// No output and no file under the root (but the inputs, unchanged, and the argv log), after
    /// any run, held any word of any secret.
    #[track_caller]
    fn assert_clean(&mut self) {
        self.read_files("the last run");
        let mut leaks = self.leaked_files.clone();
        for (label, text) in &self.printed {
            for leak in self.leaks_in(text) {
                leaks.push(format!("{label} printed {leak}:\n{text}"));
            }
        }
        for (path, text) in &self.inputs {
            assert_eq!(
                &fs::read_to_string(path).expect("read input"),
                text,
                "{} was changed",
                path.display()
            );
        }
        assert!(
            self.files_read > 0,
            "no file was written under {}",
            self.root.display()
        );
        assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n\n"));
    }

    fn all_printed(&self) -> String {
        let texts: Vec<&str> = self.printed.iter().map(|(_, text)| text.as_str()).collect();
        texts.join("\n")
    }
}

/// Lock passwords, one per pin, each with a character that a naive redaction stops at.
const LOCK_PASSWORDS: [&str; 7] = [
    "lockSlashLeft/lockSlashRight",
    "lockHashLeft#lockHashRight",
    "lockQueryLeft?lockQueryRight",
    "lockAtLeft@lockAtRight",
    "lockMixLeft/#?@:lockMixRight",
    "lockSpaceLeft lockSpaceRight",
    // `%` is what GitHub annotations escape: masked before escaping, or it shows as `%25`.
    "lockPercentLeft%lockPercentRight",
];
/// A token as the whole userinfo, and a password before a host without a dot.
const LOCK_TOKEN: &str = "lockTokenLeft/lockTokenRight";
const LOCK_DOTLESS: &str = "lockDotlessLeft/lockDotlessRight";
const MIRROR_AT: &str = "mirrorAtLeft@mirrorAtRight";
const MIRROR_SLASH: &str = "mirrorSlashLeft/mirrorSlashRight";

fn pin(tool: &str, url: String) -> Pin {
    let body = b"#!/bin/sh\nexit 0\n".to_vec();
    Pin::custom(
        tool,
        "1.0.0",
        Artifact::new(host_platform(), &url, body, Kind::Raw, None),
    )
}

#[test]
fn no_toolchain_command_prints_or_stores_a_lock_or_mirror_password() {
    let dead = dead_url();
    let mut pins: Vec<Pin> = LOCK_PASSWORDS
        .iter()
        .enumerate()
        .map(|(index, password)| {
            // Plain http to a dead loopback port: whatever parses is tried and fails fast.
            let host = dead.trim_start_matches("http://");
            let tool = format!("tool{index}");
            pin(
                &tool,
                format!("http://deploy-bot:{password}@{host}/acme/{tool}/releases/latest/{tool}"),
            )
        })
        .collect();
    pins.push(pin(
        "token",
        format!("https://{LOCK_TOKEN}@github.com/acme/token/releases/latest/token"),
    ));
    pins.push(pin(
        "dotless",
        format!("http://deploy-bot:{LOCK_DOTLESS}@mirror/acme/dotless/latest/dotless"),
    ));
    let tools: Vec<String> = pins.iter().map(|pin| pin.tool.clone()).collect();
    let mut secrets: Vec<&str> = LOCK_PASSWORDS.to_vec();
    secrets.extend([LOCK_TOKEN, LOCK_DOTLESS, MIRROR_AT, MIRROR_SLASH]);
    let mut env = TestEnv::new();
    let mut watch = Watch::new(env.root(), &secrets);
    let lock = env.write_lock(&Lock::new(pins));
    watch.input(lock);
    env.set("OP_HTTP_RETRIES", "0");

    for github in ["true", "false"] {
        env.set("GITHUB_ACTIONS", github)
            .unset("OP_TOOLCHAIN_MIRROR");
        watch.record(env.op(&["toolchain", "list"]), 0);
        watch.record(env.op(&["toolchain", "list", "--json"]), 0);
        watch.record(env.op(&["toolchain", "list", "--markdown"]), 0);
        // No URL holds the version: every one is named in a problem line.
        let check = watch.record(env.op(&["toolchain", "lock", "check"]), 2);
        assert!(
            check.stdout.contains("does not contain the version"),
            "{}",
            check.stdout
        );
        watch.record_failure(env.op(&["toolchain", "install"]));
        for tool in &tools {
            watch.record_failure(env.op(&["toolchain", "install", tool]));
            watch.record(env.op(&["toolchain", "which", tool]), 1);
            watch.record_failure(env.op(&["toolchain", "exec", tool, "--", "--version"]));
        }
        watch.record(env.op(&["toolchain", "verify"]), 0);
        env.set("OP_OFFLINE", "1");
        for tool in &tools {
            watch.record_failure(env.op(&["toolchain", "install", tool]));
        }
        env.unset("OP_OFFLINE");
        for mirror in [MIRROR_AT, MIRROR_SLASH] {
            let host = dead.trim_start_matches("http://");
            env.mirror(format!("http://mirror-bot:{mirror}@{host}/m"));
            for tool in &tools {
                watch.record_failure(env.op(&["toolchain", "install", tool]));
            }
        }
    }
    watch.assert_clean();
    let printed = watch.all_printed();
    assert!(printed.contains("::error::"), "{printed}");
    assert!(
        printed.contains("***@127.0.0.1"),
        "hosts are still shown: {printed}"
    );
}

/// skaffold that, like a registry client, never prints the repository it was given to the
/// terminal it shares with `op`; only when `op` captures its output (`push --no-file-output`)
/// does it name the images under that repository, credentials and all, as a careless tool
/// would. Its `--file-output` holds them too: what `op` keeps of it is `op`'s to clean.
const SKAFFOLD: &str = r#"
out=""; repo=""; prev=""; push=""
for a in "$@"; do
  [ "$prev" = "--file-output" ] && out="$a"
  [ "$prev" = "--default-repo" ] && repo="$a"
  [ "$a" = "--push" ] && push=1
  prev="$a"
done
if [ -n "$push" ] && [ -z "$out" ]; then
  echo "Tagged api as $repo/api:fixture1"
  if [ -n "$FIXTURE_SKAFFOLD_EXIT" ]; then echo "fixture skaffold: cannot push to $repo" >&2; exit "$FIXTURE_SKAFFOLD_EXIT"; fi
  exit 0
fi
if [ -n "$FIXTURE_SKAFFOLD_EXIT" ]; then echo "fixture skaffold: build failed" >&2; exit "$FIXTURE_SKAFFOLD_EXIT"; fi
if [ -n "$out" ]; then
  printf '{"builds":[{"imageName":"api","tag":"%s/api:fixture1@%s"},{"imageName":"web","tag":"%s/web:fixture1"}]}' \
    "$repo" "$FIXTURE_DIGEST" "$repo" > "$out"
fi
"#;

const SKAFFOLD_YAML: &str = "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n    - image: web\n      context: web\n      docker:\n        dockerfile: Dockerfile\n    - image: api\n      context: services/api\n      buildpacks:\n        builder: paketobuildpacks/builder-jammy-base\nprofiles:\n  - name: push\n";

const PIPE_LOCK: &str = "pipeLockLeft@pipeLockRight";
const LOCAL_LITERAL: &str = "localLiteralLeft#localLiteralRight";
const CI_LITERAL: &str = "ciLiteralLeft/ciLiteralRight";
const CI_TOKEN: &str = "ciTokenLeft/ciTokenRight";
const CI_VARIABLE: &str = "ciVariableLeft@ciVariableRight";
const CI_WHOLE: &str = "ciWholeLeft?ciWholeRight";
const DEFAULT_REPO: &str = "defaultRepoLeft/defaultRepoRight";
const DEV_REPO: &str = "devRepoLeft#devRepoRight";
const PP_REPO: &str = "ppRepoLeft?ppRepoRight";

#[test]
fn no_pipeline_command_prints_or_writes_a_registry_credential() {
    let mut pipeline = Pipeline::with_pinned(&[
        ("skaffold", SKAFFOLD),
        ("pack", "exit ${FIXTURE_PACK_EXIT:-0}"),
        (
            "crane",
            "[ \"$1\" = digest ] && echo \"$FIXTURE_DIGEST\"; exit ${FIXTURE_CRANE_EXIT:-0}",
        ),
        ("flux", FLUX),
        ("kubectl", KUBECTL),
    ]);
    pipeline.host_tool("docker", DOCKER);
    pipeline.host_tool("git", GIT);
    let mut watch = Watch::new(
        pipeline.env.root(),
        &[
            PIPE_LOCK,
            LOCAL_LITERAL,
            CI_LITERAL,
            CI_TOKEN,
            CI_VARIABLE,
            CI_WHOLE,
            DEFAULT_REPO,
            DEV_REPO,
            PP_REPO,
        ],
    );
    // The fixture lock's URLs carry a password too (one the URL parser accepts, so that the
    // tools install from the file mirror as always).
    let lock = pipeline.env.root().join("fixture-tools.lock");
    let text = fs::read_to_string(&lock).unwrap().replace(
        "https://github.com/",
        &format!("https://deploy-bot:{PIPE_LOCK}@github.com/"),
    );
    fs::write(&lock, text).unwrap();
    watch.input(lock);
    let registry = format!(
        "local: 'local-bot:{LOCAL_LITERAL}@registry.local:5001/dev'\n\
         ci:\n\
         \x20 - 'ci-bot:{CI_LITERAL}@ghcr.io/acme'\n\
         \x20 - url: '${{CI_REGISTRY_USER}}:${{CI_REGISTRY_SECRET}}@gar.example.com/acme'\n\
         \x20   name: gar\n\
         \x20 - '${{CI_REGISTRY_WHOLE}}'\n\
         \x20 - '{CI_TOKEN}@quay.io/acme'\n"
    );
    watch.input(pipeline.write(".registry", &registry));
    watch.input(pipeline.write("skaffold.yaml", SKAFFOLD_YAML));
    watch.input(pipeline.write("web/Dockerfile", "FROM scratch\nEXPOSE 80\n"));
    pipeline
        .set("FIXTURE_DIGEST", DIGEST)
        .set("CI_REGISTRY_USER", "gar-bot")
        .set("CI_REGISTRY_SECRET", CI_VARIABLE)
        .set(
            "CI_REGISTRY_WHOLE",
            &format!("whole-bot:{CI_WHOLE}@eu.gcr.io/acme"),
        )
        .set(
            "GOOGLE_GKE_IMAGE_REPOSITORY",
            &format!("dev-bot:{DEV_REPO}@dev.example.com/d"),
        )
        .set(
            "GOOGLE_GKE_IMAGE_PP_REPOSITORY",
            &format!("pp-bot:{PP_REPO}@pp.example.com/p"),
        );

    for github in ["true", "false"] {
        pipeline.set("GITHUB_ACTIONS", github).set(
            "SKAFFOLD_DEFAULT_REPO",
            &format!("env-bot:{DEFAULT_REPO}@registry.example.com/acme"),
        );
        run_every_pipeline_command(&mut pipeline, &mut watch, true);
        // Without the environment's repositories, build, push and run take `.registry`'s.
        pipeline
            .unset("SKAFFOLD_DEFAULT_REPO")
            .unset("GOOGLE_GKE_IMAGE_REPOSITORY");
        run_every_pipeline_command(&mut pipeline, &mut watch, false);
        pipeline.set(
            "GOOGLE_GKE_IMAGE_REPOSITORY",
            &format!("dev-bot:{DEV_REPO}@dev.example.com/d"),
        );
    }
    // A broken `.registry` names the file, not the entry's credentials.
    let broken = format!("ci: 'ci-bot:{CI_LITERAL}@ghcr.io/acme'\n");
    fs::write(pipeline.work().join(".registry"), &broken).unwrap();
    watch
        .inputs
        .retain(|(path, _)| !path.ends_with(".registry"));
    watch.input(pipeline.work().join(".registry"));
    watch.record(pipeline.env.op(&["push", "--dry-run"]), 2);

    watch.assert_clean();
    // The secrets were in play: the children were handed them, and the output shows where
    // they were hidden.
    let calls = fs::read_to_string(&pipeline.log).unwrap();
    for secret in [
        CI_LITERAL,
        CI_VARIABLE,
        CI_WHOLE,
        CI_TOKEN,
        DEFAULT_REPO,
        DEV_REPO,
    ] {
        assert!(calls.contains(secret), "no child was given {secret:?}");
    }
    let printed = watch.all_printed();
    assert!(printed.contains("::error::"), "{printed}");
    assert!(printed.contains("***@ghcr.io/acme"), "{printed}");
    assert!(
        printed.contains("***@registry.example.com/acme"),
        "{printed}"
    );
}

/// Every pipeline command, dry and real, succeeding and failing. `environment`: whether the
/// environment registries (SKAFFOLD_DEFAULT_REPO, GOOGLE_GKE_IMAGE_REPOSITORY) are set.
fn run_every_pipeline_command(pipeline: &mut Pipeline, watch: &mut Watch, environment: bool) {
    let result = pipeline.work().join("build_result.json");
    let _ = fs::remove_file(&result);
    let op = |pipeline: &Pipeline, args: &[&str]| pipeline.env.op(args);
    watch.record(op(pipeline, &["build", "--dry-run"]), 0);
    watch.record(op(pipeline, &["build"]), 0);
    watch.record(op(pipeline, &["run", "services/api", "--dry-run"]), 0);
    watch.record(op(pipeline, &["build-push", "--dry-run"]), 0);
    watch.record(op(pipeline, &["build-push"]), 0);
    watch.record(op(pipeline, &["run", "services/api", "--dry-run"]), 0);
    watch.record(op(pipeline, &["run", "web"]), 0);
    for destination in ["auto", "local", "all"] {
        let push = ["push", "--push-all", "--destination", destination];
        watch.record(op(pipeline, &[&push[..], &["--dry-run"]].concat()), 0);
        watch.record(op(pipeline, &push), 0);
    }
    watch.record(op(pipeline, &["push", "--no-file-output"]), 0);
    watch.record(op(pipeline, &["run", "services/api", "--dry-run"]), 0);
    pipeline.set("FIXTURE_CRANE_EXIT", "5");
    watch.record(op(pipeline, &["push", "--push-all"]), 5);
    watch.record(
        op(
            pipeline,
            &["promote-image", "--source", "dev", "--destination", "pp"],
        ),
        if environment { 5 } else { 1 },
    );
    pipeline.unset("FIXTURE_CRANE_EXIT");
    pipeline.set("FIXTURE_SKAFFOLD_EXIT", "3");
    watch.record(op(pipeline, &["build"]), 3);
    watch.record(op(pipeline, &["push"]), 3);
    watch.record(op(pipeline, &["push", "--no-file-output"]), 3);
    pipeline.unset("FIXTURE_SKAFFOLD_EXIT");
    pipeline.set("FIXTURE_DOCKER_FAIL", "push");
    watch.record(op(pipeline, &["build-push"]), 1);
    pipeline.unset("FIXTURE_DOCKER_FAIL");
    // Bare tags are where the environment registries show up in full.
    fs::write(
        &result,
        r#"{"builds":[{"imageName":"api","tag":"api:7"},{"imageName":"web","tag":"web:7"}]}"#,
    )
    .unwrap();
    let promote = ["promote-image", "--source", "dev", "--destination", "pp"];
    let code = if environment { 0 } else { 1 };
    watch.record(op(pipeline, &[&promote[..], &["--dry-run"]].concat()), code);
    watch.record(op(pipeline, &promote), code);
    let watch_args = [
        "watch-deployment",
        "--component",
        "api",
        "--environment",
        "dev",
        "--interval",
        "50ms",
        "--poll-timeout",
        "200ms",
    ];
    // Without a dev registry both stop at once (exit 1); with one, the dry run prints its
    // commands and the real one gives up after the poll timeout.
    let dry = if environment { 0 } else { 1 };
    watch.record(
        op(pipeline, &[&watch_args[..], &["--dry-run"]].concat()),
        dry,
    );
    watch.record(op(pipeline, &watch_args), 1);
}
