//! The release tag of a build: `GITHUB_REF=refs/tags/v1.2.3` → `1.2.3`, else the exact tag of
//! HEAD (`git describe --exact-match --tags HEAD`), else none. A `v` is dropped only before a
//! version (`vendor-drop` stays `vendor-drop`). A release tag also earns `:latest`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::settings;
use crate::toolchain::version;

/// The tag from `GITHUB_REF` when it is set, else from git in `dir`.
pub fn release_tag(dir: &Path) -> Option<String> {
    if let Some(reference) = settings::var("GITHUB_REF") {
        return reference.strip_prefix("refs/tags/").and_then(strip_v);
    }
    git_exact_tag(dir).as_deref().and_then(strip_v)
}

fn strip_v(tag: &str) -> Option<String> {
    let tag = tag.trim();
    let stripped = version::strip_v(tag);
    let tag = if stripped != tag && version::parse(stripped).is_some() {
        stripped
    } else {
        tag
    };
    (!tag.is_empty()).then(|| tag.to_string())
}

/// `git describe --exact-match --tags HEAD`, given five seconds; any failure is "no tag".
fn git_exact_tag(dir: &Path) -> Option<String> {
    let mut child = Command::new("git")
        .args(["describe", "--exact-match", "--tags", "HEAD"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    Some(out)
}

/// `registry/app:1.0.0[@sha256:…]` → `registry/app:latest` (a digest is dropped first).
pub fn latest_of(reference: &str) -> String {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let slash = without_digest.rfind('/').map_or(0, |index| index + 1);
    match without_digest[slash..].rfind(':') {
        Some(colon) => format!("{}:latest", &without_digest[..slash + colon]),
        None => format!("{without_digest}:latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_drops_tag_and_digest() {
        assert_eq!(latest_of("r.io/app:1.0.0"), "r.io/app:latest");
        assert_eq!(latest_of("r.io/app:1@sha256:abc"), "r.io/app:latest");
        assert_eq!(latest_of("localhost:5001/app"), "localhost:5001/app:latest");
    }

    #[test]
    fn a_v_is_stripped_only_before_a_version() {
        assert_eq!(strip_v("v1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(strip_v("v1.2.3-rc.1").as_deref(), Some("1.2.3-rc.1"));
        assert_eq!(strip_v("vendor-drop").as_deref(), Some("vendor-drop"));
        assert_eq!(strip_v("vv1").as_deref(), Some("vv1"));
        assert_eq!(strip_v("v1.2.3.4").as_deref(), Some("v1.2.3.4"));
        assert_eq!(strip_v("release-1").as_deref(), Some("release-1"));
        assert_eq!(strip_v("v").as_deref(), Some("v"));
        assert_eq!(strip_v(" "), None);
    }
}
