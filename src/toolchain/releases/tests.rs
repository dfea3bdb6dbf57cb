//! Unit tests of release listings: sources, page links, and the choice among releases.

use super::*;

#[test]
fn sources_are_checked() {
    assert_eq!(
        Listing::parse("github:fluxcd/flux2").unwrap(),
        Listing::GitHub {
            owner: "fluxcd".into(),
            repo: "flux2".into()
        }
    );
    assert!(matches!(
        Listing::parse("gcs:skaffold/releases/v{version}/skaffold-linux-amd64").unwrap(),
        Listing::Gcs { .. }
    ));
    assert!(Listing::parse("https://dl.k8s.io/release/stable-{major}.{minor}.txt").is_ok());
    for bad in [
        "github:fluxcd",
        "github:a/b/c",
        "gcs:skaffold/releases/latest",
        "https://x/{patch}.txt",
        "ftp://x/stable.txt",
        "fluxcd/flux2",
    ] {
        assert!(Listing::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_tool_of_the_builtin_lock_says_where_its_releases_are() {
    let lock = crate::toolchain::lock::Lock::parse(
        crate::toolchain::lock::EMBEDDED,
        crate::toolchain::lock::Origin::Embedded,
    )
    .unwrap();
    for tool in &lock.tools {
        let releases = &tool.template.as_ref().unwrap().releases;
        assert!(!releases.is_empty(), "{}", tool.name);
        for source in releases {
            Listing::parse(source).unwrap();
        }
    }
}

#[test]
fn the_next_page_comes_from_the_link_header() {
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::LINK,
        "<https://api.github.com/repositories/1/releases?per_page=100&page=2>; rel=\"next\", \
         <https://api.github.com/repositories/1/releases?per_page=100&page=5>; rel=\"last\""
            .parse()
            .unwrap(),
    );
    assert_eq!(
        next_link(&headers).as_deref(),
        Some("https://api.github.com/repositories/1/releases?per_page=100&page=2")
    );
    headers.insert(
        reqwest::header::LINK,
        "<https://x/?page=1>; rel=\"prev\"".parse().unwrap(),
    );
    assert_eq!(next_link(&headers), None);
}

#[test]
fn choices_skip_pre_releases_and_young_releases() {
    let release = |tag: &str, age: Option<i64>| Release {
        tag: tag.into(),
        version: version::parse(tag).unwrap(),
        published: age.map(|age| 1_000_000 - age),
        prerelease: !version::parse(tag).unwrap().pre.is_empty(),
    };
    let day = 86_400;
    let releases = vec![
        release("v2.0.0-rc.1", Some(day * 3)),
        release("v1.9.0", Some(3600)),
        release("v1.8.1", Some(day * 2)),
        release("v1.7.4", Some(day * 10)),
        release("v1.7.3", None),
    ];
    let min_age = Duration::from_secs(day as u64);
    let now = 1_000_000;
    assert_eq!(newest(&releases, false).unwrap().tag, "v1.9.0");
    assert_eq!(newest(&releases, true).unwrap().tag, "v2.0.0-rc.1");
    let pinned = version::parse("1.7.3").unwrap();
    assert_eq!(
        newest_patch(&releases, &pinned, false).unwrap().tag,
        "v1.7.4"
    );
    assert_eq!(
        candidate(&releases, false, min_age, now).unwrap().tag,
        "v1.8.1"
    );
    assert_eq!(
        candidate(&releases, true, min_age, now).unwrap().tag,
        "v2.0.0-rc.1"
    );
    assert_eq!(
        candidate(&releases, false, Duration::ZERO, now)
            .unwrap()
            .tag,
        "v1.9.0"
    );
    assert!(!releases[4].old_enough(min_age, now), "unknown age");
    assert_eq!(releases[1].written(), "1.9.0");
}
