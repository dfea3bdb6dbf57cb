//! What the build, push, build-push and promote-image tests add to the pipeline test bed
//! (`pipeline_bed`): fixture behaviours for `skaffold`, `pack`, `crane`, `docker` and `git`
//! (stand-ins, not the real tools) and small helpers over the call log.
//!
//! Behaviours, driven by environment variables the tests set:
//! - skaffold writes `--file-output` as skaffold does (`FIXTURE_SKAFFOLD_NO_OUTPUT` skips it),
//!   prints skaffold-like progress with the tags; `FIXTURE_SKAFFOLD_EXIT=N` fails with N;
//!   `FIXTURE_SKAFFOLD_WAIT=1` waits ~10 s and exits 42 on SIGTERM.
//! - pack: `FIXTURE_PACK_EXIT=N`. crane: see [`CRANE`].
//! - docker: `FIXTURE_DOCKER_FAIL=<subcommand>` makes that subcommand exit `FIXTURE_DOCKER_EXIT`.
//! - git: `describe` prints `FIXTURE_GIT_TAG`, else fails as git does at an untagged commit.
#![allow(dead_code, reason = "each test module uses part of these helpers")]

use std::fs;
use std::path::{Path, PathBuf};

pub use crate::pipeline_bed::{Call, Pipeline, strings};

/// The digest the fixture skaffold reports for the first image it pushes.
pub const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub const SKAFFOLD: &str = r#"
out=""; repo=""; prev=""
for a in "$@"; do
  [ "$prev" = "--file-output" ] && out="$a"
  [ "$prev" = "--default-repo" ] && repo="$a"
  prev="$a"
done
if [ -n "$FIXTURE_SKAFFOLD_WAIT" ]; then
  trap 'echo "fixture skaffold: got TERM" >> "$FIXTURE_LOG.signals"; exit 42' TERM
  i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; exit 0
fi
if [ -n "$FIXTURE_SKAFFOLD_EXIT" ]; then echo "fixture skaffold: build failed" >&2; exit "$FIXTURE_SKAFFOLD_EXIT"; fi
tag="${FIXTURE_TAG:-fixture1}"
echo "Generating tags..."
echo " - api -> $repo/api:$tag"
echo " - web -> $repo/web:$tag"
echo "Starting build..."
echo "Build [api] succeeded" >&2
echo "Build [web] succeeded" >&2
if [ -n "$out" ] && [ -z "$FIXTURE_SKAFFOLD_NO_OUTPUT" ]; then
  printf '{"builds":[{"imageName":"api","tag":"%s/api:%s@%s"},{"imageName":"web","tag":"%s/web:%s"}]}' \
    "$repo" "$tag" "$FIXTURE_DIGEST" "$repo" "$tag" > "$out"
fi
"#;

/// crane: `copy SRC DST` records DST with SRC's digest (`@sha256:…`, else `$FIXTURE_DIGEST`;
/// `$FIXTURE_CRANE_REWRITES` instead, as a registry that rewrote the manifest) in
/// `$FIXTURE_LOG.crane`; `digest REF` prints the recorded digest, else `$FIXTURE_DIGEST`.
/// `FIXTURE_CRANE_EXIT=N` fails every run with N; `FIXTURE_CRANE_FAILS=N` fails the first N
/// runs with `$FIXTURE_CRANE_STDERR` on stderr (exit 1).
pub const CRANE: &str = r#"
if [ -n "$FIXTURE_CRANE_EXIT" ]; then echo "Error: fixture crane: $1 failed" >&2; exit "$FIXTURE_CRANE_EXIT"; fi
if [ -n "$FIXTURE_CRANE_FAILS" ]; then
  n=$(cat "$FIXTURE_LOG.cranefails" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$FIXTURE_LOG.cranefails"
  if [ "$n" -le "$FIXTURE_CRANE_FAILS" ]; then echo "$FIXTURE_CRANE_STDERR" >&2; exit 1; fi
fi
case "$1" in
  digest)
    case "$2" in *@sha256:*) echo "${2##*@}"; exit 0 ;; esac
    found=$(awk -v r="$2" '$1 == r { d = $2 } END { print d }' "$FIXTURE_LOG.crane" 2>/dev/null)
    echo "${found:-$FIXTURE_DIGEST}" ;;
  copy)
    d="${2##*@}"; [ "$d" = "$2" ] && d="$FIXTURE_DIGEST"
    [ -n "$FIXTURE_CRANE_REWRITES" ] && d="$FIXTURE_CRANE_REWRITES"
    echo "$3 $d" >> "$FIXTURE_LOG.crane" ;;
esac
"#;

pub const DOCKER: &str = r#"
if [ -n "$FIXTURE_DOCKER_FAIL" ] && [ "$1" = "$FIXTURE_DOCKER_FAIL" ]; then
  echo "fixture docker: $1 failed" >&2; exit "${FIXTURE_DOCKER_EXIT:-1}"
fi
"#;

pub const GIT: &str = r#"
if [ "$1" = "describe" ] && [ -n "$FIXTURE_GIT_TAG" ]; then echo "$FIXTURE_GIT_TAG"; exit 0; fi
echo "fatal: no tag exactly matches" >&2; exit 128
"#;

/// The test bed with these behaviours, `docker` and `git` fixtures first on PATH.
pub fn bed() -> Pipeline {
    let mut pipeline = Pipeline::with_pinned(&[
        ("skaffold", SKAFFOLD),
        ("pack", "exit ${FIXTURE_PACK_EXIT:-0}"),
        ("crane", CRANE),
    ]);
    pipeline.host_tool("docker", DOCKER);
    pipeline.host_tool("git", GIT);
    pipeline.set("FIXTURE_DIGEST", DIGEST);
    pipeline
}

/// A minimal skaffold.yaml, for the commands that need one to be there (`op build`).
pub const MINIMAL_SKAFFOLD_YAML: &str =
    "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n    - image: api\n";

/// [`bed`] in a project with a minimal skaffold.yaml.
pub fn project() -> Pipeline {
    let pipeline = bed();
    pipeline.write("skaffold.yaml", MINIMAL_SKAFFOLD_YAML);
    pipeline
}

/// The argv of the last call of `tool`.
#[track_caller]
pub fn last(pipeline: &Pipeline, tool: &str) -> Vec<String> {
    pipeline
        .argv_of(tool)
        .pop()
        .unwrap_or_else(|| panic!("{tool} never ran: {:?}", pipeline.calls()))
}

/// The last call of `tool`.
#[track_caller]
pub fn last_call(pipeline: &Pipeline, tool: &str) -> Call {
    pipeline
        .calls()
        .into_iter()
        .rfind(|call| call.tool == tool)
        .unwrap_or_else(|| panic!("{tool} never ran"))
}

/// Where `op` installs the fixture `tool` (computed from the lock, so also before it exists).
pub fn tool_path(pipeline: &Pipeline, tool: &str) -> PathBuf {
    let text = fs::read_to_string(pipeline.env.root().join("fixture-tools.lock")).unwrap();
    let lock: toml::Value = toml::from_str(&text).unwrap();
    let platform = crate::support::host_platform();
    let entry = &lock["tools"][tool];
    let artifact = &entry["platforms"][platform];
    let field = |name: &str| artifact.get(name).and_then(|value| value.as_str());
    pipeline
        .env
        .cache()
        .join("tools")
        .join(crate::support::lock::entry_key(
            tool,
            entry["version"].as_str().unwrap(),
            platform,
            field("sha256").unwrap(),
            field("archive").unwrap_or("raw"),
            field("bin"),
        ))
        .join("bin")
        .join(tool)
}

/// The text of `relative` under the work directory.
#[track_caller]
pub fn read(pipeline: &Pipeline, relative: &str) -> String {
    fs::read_to_string(pipeline.work().join(relative))
        .unwrap_or_else(|error| panic!("read work/{relative}: {error}"))
}

/// Names in `dir` that look like leftovers of a write (there must never be any after a run).
pub fn leftovers(dir: &Path) -> Vec<String> {
    crate::support::dir_names(dir)
        .into_iter()
        .filter(|name| name.contains(".tmp") || name.contains("skaffold-output"))
        .collect()
}

/// `path` as an argv string.
pub fn text(path: &Path) -> String {
    path.display().to_string()
}
