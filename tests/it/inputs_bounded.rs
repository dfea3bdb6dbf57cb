//! Every input file `op` reads (the lock, `--config`, `.registry`, `.run.yaml`, `skaffold.yaml`,
//! `build_result.json`) is read only when it is a regular file after links, and only up to its
//! size cap: a FIFO, a link to `/dev/zero`, a directory or an oversize file is exit 2 naming the
//! file, promptly, before any tool runs. Also: byte-order marks, non-UTF-8 text, YAML and TOML
//! limits, and control characters in image references.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::pipeline_tools::{Pipeline, bed};
use crate::support::{Run, TestEnv};

/// Any refusal must come well before this; a FIFO that blocks `op` is killed here.
const PROMPT: Duration = Duration::from_secs(30);
const MIB: usize = 1024 * 1024;

/// What a test puts where an input file belongs.
#[derive(Clone, Copy, Debug)]
enum Planted {
    Fifo,
    DevZero,
    Directory,
    /// A well-formed file of this many bytes.
    Oversize(usize),
}

/// Replaces whatever is at `path` with `what`; `filler` makes a well-formed file of a size.
fn plant(path: &Path, what: Planted, filler: fn(usize) -> String) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_dir_all(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    match what {
        Planted::Fifo => {
            let made = std::process::Command::new("mkfifo").arg(path).status();
            assert!(made.unwrap().success(), "mkfifo {}", path.display());
        }
        Planted::DevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        Planted::Directory => std::fs::create_dir(path).unwrap(),
        Planted::Oversize(size) => std::fs::write(path, filler(size)).unwrap(),
    }
}

fn needle(what: Planted) -> &'static str {
    match what {
        Planted::Fifo => "it is a FIFO (named pipe), not a regular file",
        Planted::DevZero => "it is a symbolic link to /dev/zero, a character device",
        Planted::Directory => "it is a directory, not a regular file",
        Planted::Oversize(_) => "it is larger than",
    }
}

/// `op args` in the background, bounded by [`PROMPT`] (a blocked `op` is killed: no exit code).
fn run_promptly(env: &TestEnv, args: &[&str]) -> Run {
    env.spawn(args).wait(PROMPT)
}

/// A YAML file of `size` bytes that is only comments: well-formed and empty.
fn yaml_comments(size: usize) -> String {
    let mut text = "# padding\n".repeat(size / 10 + 1);
    text.truncate(size);
    text
}

/// A build result of `size` bytes with one image whose reference fills it.
fn one_huge_reference(size: usize) -> String {
    let head = "{\"builds\":[{\"imageName\":\"api\",\"tag\":\"dev.io/p/api:";
    let tail = "\"}]}";
    format!("{head}{}{tail}", "a".repeat(size - head.len() - tail.len()))
}

fn properties_padding(size: usize) -> String {
    yaml_comments(size)
}

/// One input of a pipeline command: where it lives under `work/`, the command that reads it
/// (with these variables set), its documented cap and how to fill a well-formed file.
struct Input {
    relative: &'static str,
    args: Vec<String>,
    vars: &'static [(&'static str, &'static str)],
    cap: usize,
    filler: fn(usize) -> String,
}

/// What `promote-image --source dev --destination pp` needs (and what hides `.run.yaml` and
/// `.registry` from the other commands, so only the promotion may have it).
const PROMOTE_VARS: &[(&str, &str)] = &[
    ("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io/p"),
    ("GOOGLE_GKE_IMAGE_PP_REPOSITORY", "pp.io/p"),
];
const PROMOTE: [&str; 5] = ["promote-image", "--source", "dev", "--destination", "pp"];

/// `op args` with `vars` set for this run only.
fn run_with(pipeline: &mut Pipeline, vars: &[(&str, &str)], args: &[&str]) -> Run {
    for (key, value) in vars {
        pipeline.set(key, value);
    }
    let run = run_promptly(&pipeline.env, args);
    for (key, _) in vars {
        pipeline.unset(key);
    }
    run
}

fn pipeline_inputs(pipeline: &Pipeline) -> Vec<Input> {
    let properties = pipeline.work().join("ci.properties");
    let strings = |items: &[&str]| items.iter().map(|item| item.to_string()).collect();
    vec![
        Input {
            relative: ".registry",
            args: strings(&["push"]),
            vars: &[],
            cap: MIB,
            filler: yaml_comments,
        },
        Input {
            relative: ".run.yaml",
            args: strings(&["build"]),
            vars: &[],
            cap: MIB,
            filler: yaml_comments,
        },
        Input {
            relative: "skaffold.yaml",
            args: strings(&["build-push"]),
            vars: &[],
            cap: 4 * MIB,
            filler: yaml_comments,
        },
        Input {
            relative: "build_result.json",
            args: strings(&PROMOTE),
            vars: PROMOTE_VARS,
            cap: 4 * MIB,
            filler: one_huge_reference,
        },
        Input {
            relative: "ci.properties",
            args: vec![
                "--config".into(),
                properties.display().to_string(),
                "push".into(),
                "--default-repo".into(),
                "r.io".into(),
            ],
            vars: &[],
            cap: MIB,
            filler: properties_padding,
        },
    ]
}

fn promotable() -> Pipeline {
    let mut pipeline = bed();
    pipeline.set("GITHUB_REF", "refs/heads/main");
    pipeline
}

#[test]
fn pipeline_inputs_that_are_not_regular_files_or_too_large_are_refused_promptly() {
    let mut pipeline = promotable();
    for input in pipeline_inputs(&pipeline) {
        let path = pipeline.work().join(input.relative);
        for what in [
            Planted::Fifo,
            Planted::DevZero,
            Planted::Directory,
            Planted::Oversize(input.cap + 1),
        ] {
            plant(&path, what, input.filler);
            pipeline.clear_log();
            let args: Vec<&str> = input.args.iter().map(String::as_str).collect();
            let run = run_with(&mut pipeline, input.vars, &args);
            run.code(2)
                .stderr_has(&format!("{}: {}", path.display(), needle(what)));
            if let Planted::Oversize(_) = what {
                run.stderr_has(&format!("{} MiB", input.cap / MIB));
            }
            assert!(
                pipeline.calls().is_empty(),
                "{} as {what:?}: no tool may run: {:?}",
                input.relative,
                pipeline.calls()
            );
        }
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir_all(&path);
    }
}

#[test]
fn a_file_at_its_cap_is_still_read() {
    let pipeline = promotable();
    let path = pipeline.write("skaffold.yaml", &yaml_comments(4 * MIB));
    run_promptly(&pipeline.env, &["build-push"])
        .code(1)
        .stderr_has("No buildpacks or docker artifacts");
    std::fs::remove_file(path).unwrap();
}

/// The lock named by `--lock`, by `OP_TOOLCHAIN_LOCK` and discovered in the working directory.
#[test]
fn lock_files_that_are_not_regular_files_or_too_large_are_refused_promptly() {
    let lock_filler = |size: usize| {
        let mut text = yaml_comments(size);
        text.replace_range(..9, "schema=1 ");
        text
    };
    for how in ["--lock", "OP_TOOLCHAIN_LOCK", "discovered"] {
        let mut env = TestEnv::new();
        let path = env.work().join("toolchain.lock");
        let args: Vec<String> = match how {
            "--lock" => vec!["--lock".into(), path.display().to_string()],
            "OP_TOOLCHAIN_LOCK" => {
                env.set("OP_TOOLCHAIN_LOCK", path.display().to_string());
                Vec::new()
            }
            _ => Vec::new(),
        };
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["toolchain", "list"]);
        for what in [
            Planted::Fifo,
            Planted::DevZero,
            Planted::Directory,
            Planted::Oversize(4 * MIB + 1),
        ] {
            plant(&path, what, lock_filler);
            run_promptly(&env, &args).code(2).stderr_has(&format!(
                "lock file {}: {}",
                path.display(),
                needle(what)
            ));
        }
    }
}

#[test]
fn a_discovered_lock_that_is_a_dangling_link_directory_or_device_is_exit_2() {
    let env = TestEnv::new();
    let nested = env.work().join("services/api");
    std::fs::create_dir_all(&nested).unwrap();
    let lock = env.work().join("toolchain.lock");
    let mut env = env;
    env.cwd(&nested);
    std::os::unix::fs::symlink(env.work().join("gone.lock"), &lock).unwrap();
    run_promptly(&env, &["toolchain", "list"])
        .code(2)
        .stderr_has(&format!("{}: it is a symbolic link to", lock.display()))
        .stderr_has("gone.lock, which does not exist");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    run_promptly(&env, &["toolchain", "list"])
        .code(2)
        .stderr_has(&format!("{}: it is a directory", lock.display()));
    std::fs::remove_dir(&lock).unwrap();
    std::os::unix::fs::symlink("/dev/null", &lock).unwrap();
    run_promptly(&env, &["toolchain", "list"])
        .code(2)
        .stderr_has(&format!(
            "{}: it is a symbolic link to /dev/null, a character device",
            lock.display()
        ));
    std::fs::remove_file(&lock).unwrap();
    run_promptly(&env, &["toolchain", "list"]).success();
}

const BOM: &str = "\u{feff}";

#[test]
fn a_byte_order_mark_at_the_start_is_accepted() {
    let mut pipeline = promotable();
    pipeline.write(
        "build_result.json",
        &format!("{BOM}{{\"builds\":[\"dev.io/p/api:1.0.0\"]}}"),
    );
    run_with(&mut pipeline, PROMOTE_VARS, &PROMOTE)
        .success()
        .stderr_has("promoting dev.io/p/api:1.0.0 -> pp.io/p/api:1.0.0");
    pipeline.write(".registry", &format!("{BOM}ci: [ghcr.io/acme]\n"));
    pipeline
        .env
        .op(&["push", "--dry-run", "--destination", "ci"])
        .success()
        .stdout_has("--default-repo ghcr.io/acme");
    let env = TestEnv::new();
    let lock =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("toolchain.lock"))
            .unwrap();
    env.write_file("work/toolchain.lock", &format!("{BOM}{lock}"));
    env.op(&["toolchain", "list"])
        .success()
        .stdout_has("skaffold");
}

/// Writes `bytes` at `path` and returns the path.
fn write_bytes(path: PathBuf, bytes: &[u8]) -> PathBuf {
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn text_that_is_not_utf8_is_placed_by_line_column_and_byte() {
    let mut pipeline = promotable();
    let skaffold = write_bytes(
        pipeline.work().join("skaffold.yaml"),
        b"build:\n  artifacts:\n    - image: caf\xE9\n",
    );
    pipeline
        .env
        .op(&["build-push"])
        .code(2)
        .stderr_has(&format!(
            "{}: not UTF-8 text: line 3 column 17 (byte offset 36): byte 0xE9 is not UTF-8",
            skaffold.display()
        ))
        .stderr_has("hint: save");
    let result = write_bytes(
        pipeline.work().join("build_result.json"),
        b"{\"builds\":[\"\xFF\"]}",
    );
    run_with(&mut pipeline, PROMOTE_VARS, &PROMOTE)
        .code(2)
        .stderr_has(&format!(
            "{}: not UTF-8 text: line 1 column 13 (byte offset 12)",
            result.display()
        ));
    let env = TestEnv::new();
    let lock = write_bytes(env.work().join("toolchain.lock"), b"schema = 1\n# \xC3(\n");
    env.op(&["toolchain", "list"]).code(2).stderr_has(&format!(
        "lock file {}: not UTF-8 text: line 2 column 3 (byte offset 13)",
        lock.display()
    ));
}

#[test]
fn yaml_and_toml_limits_are_plain_sentences_with_a_place() {
    let pipeline = promotable();
    let registry = pipeline.write(".registry", &format!("ci: [{}a]\n", "a, ".repeat(260_000)));
    let run = pipeline.env.op(&["push"]);
    run.code(2)
        .stderr_has(&format!("{}: line 1 column", registry.display()))
        .stderr_has("more than 250000 values")
        .stderr_lacks("Nodes {")
        .stderr_lacks("budget breached");
    let env = TestEnv::new();
    let key = vec!["a"; 100].join(".");
    let lock = env.write_file("work/toolchain.lock", &format!("schema = 1\n\n{key} = 1\n"));
    env.op(&["toolchain", "list"])
        .code(2)
        .stderr_has(&format!("{}: invalid TOML: line 3: ", lock.display()))
        .stderr_has("nests deeper than");
}

/// A reference with a newline must never reach the log raw: on GitHub Actions the next line
/// would be read as a workflow command.
#[test]
fn references_with_control_characters_are_refused() {
    let mut pipeline = promotable();
    pipeline.set("GITHUB_ACTIONS", "true");
    let no_injected_line = |run: &Run| {
        for line in run.stdout.lines().chain(run.stderr.lines()) {
            assert!(
                !line.starts_with("::warning::pwned"),
                "injected: {line:?}\n{}",
                run.stderr
            );
        }
    };
    let result = pipeline.write(
        "build_result.json",
        "{\"builds\":[\"dev.io/p/web:1\",{\"imageName\":\"api\",\"tag\":\"dev.io/p/api:1\\n::warning::pwned\"}]}",
    );
    let run = run_with(&mut pipeline, PROMOTE_VARS, &PROMOTE);
    run.code(2)
        .stderr_has(&result.display().to_string())
        .stderr_has("builds[1].tag contains a control character (U+000A)");
    no_injected_line(&run);
    assert!(pipeline.calls().is_empty(), "{:?}", pipeline.calls());
    for (relative, text, args, place) in [
        (
            "skaffold.yaml",
            "build:\n  artifacts:\n    - image: \"api\\e[2J\\n::warning::pwned\"\n",
            &["build-push"][..],
            "document 1 build.artifacts[0].image contains a control character (U+001B)",
        ),
        (
            ".registry",
            "ci: [\"ghcr.io/acme\\r\\n::warning::pwned\"]\n",
            &["push", "--dry-run"][..],
            "ci[0] contains a control character (U+000D)",
        ),
        (
            ".run.yaml",
            "default_repo: \"r.io/\\x7f\\n::warning::pwned\"\n",
            &["build", "--dry-run"][..],
            "default_repo contains a control character (U+007F)",
        ),
    ] {
        let path = pipeline.write(relative, text);
        let run = pipeline.env.op(args);
        run.code(2)
            .stderr_has(&path.display().to_string())
            .stderr_has(place);
        no_injected_line(&run);
        std::fs::remove_file(path).unwrap();
    }
}
