//! Versions compared as versions: release tags read leniently as semver (`v1.36.0`, `1.36`,
//! `v2`), ordered by semver's rules, pre-releases told apart, and a downgrade refused unless asked.

use std::cmp::Ordering;

use semver::Version;

use crate::error::OpError;

/// `v1.2.3` → `1.2.3`: one leading `v` (or `V`) is dropped only when a digit follows it, so a tag
/// like `vendor-drop` keeps its `v`.
pub fn strip_v(text: &str) -> &str {
    match text.strip_prefix(['v', 'V']) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => text,
    }
}

/// A release tag or version as semver, leniently: surrounding spaces and one leading `v` are
/// dropped, and a missing minor or patch is 0 (`1.36` is `1.36.0`). `None` when it is not a
/// version at all (`latest`, `vendor-drop`, `1.2.3.4`).
pub fn parse(text: &str) -> Option<Version> {
    let text = strip_v(text.trim());
    if let Ok(version) = Version::parse(text) {
        return Some(version);
    }
    let split = text.find(['-', '+']).unwrap_or(text.len());
    let (core, suffix) = text.split_at(split);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|part| part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()))
    {
        return None;
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    Version::parse(&format!("{padded}{suffix}")).ok()
}

/// Whether `version` is a pre-release (`1.36.0-rc.1`).
pub fn is_pre(version: &Version) -> bool {
    !version.pre.is_empty()
}

/// Orders two versions as semver does, build metadata ignored (`1.0.0+a` equals `1.0.0+b`).
pub fn compare(a: &Version, b: &Version) -> Ordering {
    a.cmp_precedence(b)
}

/// Refuses to pin `tool` at `new` when that is older than the pinned `old`, unless `allowed`.
/// Versions that are not semver cannot be ordered, so they are never refused.
pub fn check_downgrade(tool: &str, old: &str, new: &str, allowed: bool) -> Result<(), OpError> {
    let (Some(old_version), Some(new_version)) = (parse(old), parse(new)) else {
        return Ok(());
    };
    if allowed || compare(&new_version, &old_version) != Ordering::Less {
        return Ok(());
    }
    Err(OpError::config(format!(
        "{tool}: {new} is older than the pinned {old}; refusing a downgrade"
    ))
    .with_hint(format!(
        "to pin the older version on purpose, re-run with --allow-downgrade (e.g. `op toolchain lock update {tool}@{new} --allow-downgrade`)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_v_before_a_version_is_dropped() {
        assert_eq!(strip_v("v1.2.3"), "1.2.3");
        assert_eq!(strip_v("V2"), "2");
        assert_eq!(strip_v("vendor-drop"), "vendor-drop");
        assert_eq!(strip_v("vv1"), "vv1");
        assert_eq!(strip_v("v"), "v");
        assert_eq!(strip_v("1.0"), "1.0");
    }

    #[test]
    fn tags_are_read_leniently() {
        let version = |text: &str| parse(text).map(|version| version.to_string());
        assert_eq!(version("v1.36.0").as_deref(), Some("1.36.0"));
        assert_eq!(version(" 1.36 ").as_deref(), Some("1.36.0"));
        assert_eq!(version("v2").as_deref(), Some("2.0.0"));
        assert_eq!(version("v1.36.0-rc.1").as_deref(), Some("1.36.0-rc.1"));
        assert_eq!(version("1.2-beta").as_deref(), Some("1.2.0-beta"));
        for bad in ["latest", "vendor-drop", "", "v", "1..2", "1.2.3.4", "1.x"] {
            assert_eq!(version(bad), None, "{bad}");
        }
    }

    #[test]
    fn versions_order_as_versions_not_text() {
        let v = |text: &str| parse(text).unwrap();
        assert_eq!(compare(&v("1.10.0"), &v("1.9.3")), Ordering::Greater);
        assert_eq!(compare(&v("2.0.0-rc.1"), &v("2.0.0")), Ordering::Less);
        assert_eq!(compare(&v("1.0.0+a"), &v("1.0.0+b")), Ordering::Equal);
        assert!(is_pre(&v("v1.36.0-alpha.1")) && !is_pre(&v("1.36.0")));
    }

    #[test]
    fn downgrades_are_refused_unless_allowed() {
        let error = check_downgrade("flux", "2.7.5", "2.7.4", false).unwrap_err();
        assert!(
            error
                .message
                .contains("2.7.4 is older than the pinned 2.7.5"),
            "{}",
            error.message
        );
        assert!(error.hint.unwrap().contains("--allow-downgrade"));
        assert!(check_downgrade("flux", "2.7.5", "2.7.4", true).is_ok());
        assert!(check_downgrade("flux", "2.7.5", "2.10.0", false).is_ok());
        assert!(check_downgrade("flux", "2.7.5", "2.7.5", false).is_ok());
        assert!(check_downgrade("other", "3", "nightly", false).is_ok());
    }
}
