//! The image references in what `skaffold build` prints, for `op push --no-file-output`.
//!
//! skaffold v2 prints, on stdout (see `tests/it/fixtures/skaffold-v2-build.txt`):
//!
//! ```text
//! Generating tags...
//!  - api -> ghcr.io/acme/api:v1.4.0
//! Checking cache...
//!  - api: Not found. Building
//! Starting build...
//! Building [api]...
//! … the builder's own output (docker push ends with `TAG: digest: sha256:… size: N`) …
//! Build [api] succeeded
//! ```
//!
//! The ` - NAME -> REF` lines (one per artifact, printed once the tags are generated, before the
//! build) are what is relied on: NAME is the artifact's `image`, REF the full reference it is
//! pushed as. `Build [NAME] succeeded` only follows a build (an image found in the cache has
//! none), so it is not required. A bare digest (`sha256:…`, from a builder's own lines) is never
//! taken for an image. (In skaffold v2's source: the tag lines come from `ImageTags` in
//! `pkg/skaffold/deploy/util/util.go`, the cache lines from `pkg/skaffold/build/cache/retrieve.go`,
//! `Build [NAME] succeeded` from `pkg/skaffold/build/scheduler.go`.)

use std::sync::LazyLock;

use anyhow::Result;
use regex::Regex;

use crate::error::{Code, OpError};
use crate::formats::build_result::Build;

/// Image references in skaffold's output: with `pattern`, every line's `image`:`tag`;
/// otherwise every ` - NAME -> REF` line (the last per NAME), else the last `Tagged … as REF`,
/// else `Built … -> REF`, else the last `name:tag`-looking word. Empty when nothing is found; an
/// error (exit 1) when all that is found is a bare digest.
pub fn parse(text: &str, pattern: Option<&Regex>) -> Result<Vec<Build>> {
    let text = without_escapes(text);
    let mut digests = Vec::new();
    if let Some(pattern) = pattern {
        let mut builds = Vec::new();
        for line in text.lines() {
            let Some(found) = pattern.captures(line) else {
                continue;
            };
            let (Some(image), Some(tag)) = (found.name("image"), found.name("tag")) else {
                continue;
            };
            let (image, tag) = (image.as_str().trim(), tag.as_str().trim());
            if image.is_empty() || tag.is_empty() {
                continue;
            }
            let reference = format!("{image}:{tag}");
            if is_bare_digest(&reference) {
                digests.push(reference);
                continue;
            }
            builds.push(Build {
                image_name: None,
                tag: reference,
            });
        }
        if !builds.is_empty() {
            return Ok(builds);
        }
    }
    let tagged = skaffold_v2_tags(&text);
    if !tagged.is_empty() {
        return Ok(tagged);
    }
    static PATTERNS: LazyLock<[Regex; 3]> = LazyLock::new(|| {
        [
            r"Tagged .+ as (?P<ref>\S+)",
            r"Built .+ -> (?P<ref>\S+)",
            r"(?P<ref>[a-zA-Z0-9][a-zA-Z0-9._/-]+:[a-zA-Z0-9][a-zA-Z0-9._-]+)",
        ]
        .map(|pattern| Regex::new(pattern).expect("the built-in patterns are valid"))
    });
    for regex in PATTERNS.iter() {
        for line in text.lines().rev() {
            for found in regex
                .captures_iter(line)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                let Some(reference) = found.name("ref").map(|found| found.as_str()) else {
                    continue;
                };
                if is_bare_digest(reference) {
                    digests.push(reference.to_string());
                    continue;
                }
                if reference.contains('/') || reference.contains(':') {
                    return Ok(vec![Build {
                        image_name: None,
                        tag: reference.to_string(),
                    }]);
                }
            }
        }
    }
    if let Some(digest) = digests.first() {
        return Err(OpError::new(
            Code::Failure,
            format!(
                "skaffold's output names only a digest ({digest}), not an image reference; op does not record a bare digest as an image"
            ),
        )
        .with_hint("drop --no-file-output (skaffold's --file-output names every image), or pass --image-pattern with (?P<image>…) and (?P<tag>…) groups that match the image's name")
        .into());
    }
    Ok(Vec::new())
}

/// skaffold v2's ` - NAME -> REF` lines, in order, the last one per NAME.
fn skaffold_v2_tags(text: &str) -> Vec<Build> {
    static LINE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^ - (?P<name>\S+) -> (?P<ref>\S+)\s*$").expect("the pattern is valid")
    });
    let mut builds: Vec<Build> = Vec::new();
    for line in text.lines() {
        let Some(found) = LINE.captures(line) else {
            continue;
        };
        let (name, reference) = (&found["name"], &found["ref"]);
        if is_bare_digest(reference) {
            continue;
        }
        let build = Build {
            image_name: Some(name.to_string()),
            tag: reference.to_string(),
        };
        match builds
            .iter_mut()
            .find(|known| known.image_name.as_deref() == Some(name))
        {
            Some(known) => *known = build,
            None => builds.push(build),
        }
    }
    builds
}

/// Whether `text` is a digest alone (`sha256:` and 64 hex digits), with no repository to find
/// it in. (`api:` and a 40-digit commit hash is an image.)
pub fn is_bare_digest(text: &str) -> bool {
    static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:sha256:[0-9a-fA-F]{64}|sha384:[0-9a-fA-F]{96}|sha512:[0-9a-fA-F]{128})$")
            .expect("valid")
    });
    DIGEST.is_match(text.trim())
}

/// `text` without terminal colour sequences (skaffold colours its lines on a terminal, or with
/// `--color`).
fn without_escapes(text: &str) -> String {
    static ESCAPE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").expect("valid"));
    ESCAPE.replace_all(text, "").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSCRIPT: &str = include_str!("../../tests/it/fixtures/skaffold-v2-build.txt");

    fn tags(builds: &[Build]) -> Vec<(Option<&str>, &str)> {
        builds
            .iter()
            .map(|build| (build.image_name.as_deref(), build.tag.as_str()))
            .collect()
    }

    #[test]
    fn reads_skaffold_v2_tag_lines_of_a_real_transcript() {
        let builds = parse(TRANSCRIPT, None).unwrap();
        assert_eq!(
            tags(&builds),
            [
                (Some("api"), "ghcr.io/acme/api:v1.4.0-3-g1a2b3c4"),
                (
                    Some("team/worker"),
                    "ghcr.io/acme/team/worker:v1.4.0-3-g1a2b3c4"
                ),
            ]
        );
        let coloured = "\x1b[0mGenerating tags...\n - \x1b[1mapi\x1b[0m -> r.io/api:1\n";
        assert_eq!(
            tags(&parse(coloured, None).unwrap()),
            [(Some("api"), "r.io/api:1")]
        );
    }

    #[test]
    fn older_shapes_and_patterns() {
        let text = "Building [app]...\nTagged app as r.io/acme/app:abc123\nlater line\n";
        assert_eq!(parse(text, None).unwrap()[0].tag, "r.io/acme/app:abc123");
        let built = "Build [x] succeeded\nBuilt x -> r.io/x:1\n";
        assert_eq!(parse(built, None).unwrap()[0].tag, "r.io/x:1");
        let pattern = Regex::new(r"Pushed (?P<image>\S+) with tag (?P<tag>\S+)").unwrap();
        let lines = "Pushed r.io/a with tag 1\nPushed r.io/b with tag 2\n";
        let builds = parse(lines, Some(&pattern)).unwrap();
        assert_eq!(tags(&builds), [(None, "r.io/a:1"), (None, "r.io/b:2")]);
        assert!(parse("nothing useful here", None).unwrap().is_empty());
    }

    #[test]
    fn a_bare_digest_is_never_an_image() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let push = format!("r.io/app:1.0 pushed\nlatest: digest: {digest} size: 856\n");
        assert_eq!(tags(&parse(&push, None).unwrap()), [(None, "r.io/app:1.0")]);
        let only = format!("Pushing...\nlatest: digest: {digest} size: 856\n");
        let error = parse(&only, None).unwrap_err();
        assert!(error.to_string().contains(&digest), "{error}");
        assert_eq!(crate::error::exit_code(&error), 1);
        let pattern = Regex::new(r"digest: (?P<image>\w+):(?P<tag>\w+)").unwrap();
        assert!(parse(&only, Some(&pattern)).is_err());
        assert!(is_bare_digest(&digest) && !is_bare_digest("r.io/app:1"));
        assert!(!is_bare_digest("app:1.0.0") && !is_bare_digest("localhost:5001"));
        assert!(!is_bare_digest(&format!("api:{}", "0a".repeat(20))));
    }
}
