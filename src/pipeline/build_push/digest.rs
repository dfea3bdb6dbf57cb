//! The digest of a pushed image, as docker reports it, so build_result.json can pin it
//! (`registry/app:1.0.0@sha256:…`) and promotion can go by digest.
//!
//! - `docker push R/APP:TAG` prints one line per layer, then `TAG: digest: sha256:<64 hex> size: N`
//!   on stdout (with the classic and the containerd image store alike).
//! - `docker buildx build --metadata-file F` writes a JSON object to `F` whose
//!   `containerimage.digest` is the digest of the pushed image (the index, for several platforms).

/// `sha256:` and 64 lowercase hex digits.
fn is_sha256(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The tag of a reference built as `registry/path/name:tag`.
pub fn tag_of(reference: &str) -> &str {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    last.rsplit_once(':').map_or("", |(_, tag)| tag)
}

/// The digest `docker push` reported for `tag`: its last `TAG: digest: sha256:… size: N` line.
pub fn from_push_output(output: &str, tag: &str) -> Option<String> {
    output.lines().rev().find_map(|line| {
        let (name, rest) = line.trim().split_once(": digest: ")?;
        let digest = rest.split_whitespace().next()?;
        (name == tag && is_sha256(digest)).then(|| digest.to_string())
    })
}

/// `containerimage.digest` of a buildx metadata file's text.
pub fn from_buildx_metadata(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let digest = value.get("containerimage.digest")?.as_str()?;
    is_sha256(digest).then(|| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn the_digest_line_of_the_pushed_tag() {
        let output = format!(
            "The push refers to repository [localhost:5001/web]\n\
             5f70bf18a086: Preparing\n\
             5f70bf18a086: Pushed\n\
             2.0.0: digest: {DIGEST} size: 1234\n"
        );
        assert_eq!(tag_of("localhost:5001/team/web:2.0.0"), "2.0.0");
        assert_eq!(from_push_output(&output, "2.0.0").as_deref(), Some(DIGEST));
        assert_eq!(
            from_push_output(&output, "latest"),
            None,
            "another tag's line"
        );
        assert_eq!(
            from_push_output("2.0.0: digest: sha256:ab size: 1", "2.0.0"),
            None
        );
        assert_eq!(from_push_output("Pushed\n", "2.0.0"), None);
    }

    #[test]
    fn the_digest_of_buildx_metadata() {
        let text = format!(
            r#"{{"buildx.build.ref": "x", "containerimage.digest": "{DIGEST}", "image.name": "r/web:1"}}"#
        );
        assert_eq!(from_buildx_metadata(&text).as_deref(), Some(DIGEST));
        assert_eq!(from_buildx_metadata(r#"{"buildx.build.ref": "x"}"#), None);
        assert_eq!(from_buildx_metadata("not json"), None);
    }
}
