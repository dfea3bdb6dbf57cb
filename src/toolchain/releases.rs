//! Where upstream lists its releases, as data in a tool's `template.releases`, and reading those
//! listings (through `OP_TOOLCHAIN_MIRROR` as every other upstream request) into versions with
//! their publication times, for `op toolchain outdated` and `lock update TOOL@latest`.
//!
//! ```toml
//! releases = "github:buildpacks/pack"            # the GitHub releases API, every page
//! releases = "gcs:skaffold/releases/v{version}/skaffold-linux-amd64"   # a Cloud Storage bucket
//! releases = ["https://dl.k8s.io/release/stable.txt",                  # plain text: a version a line
//!             "https://dl.k8s.io/release/stable-{major}.{minor}.txt"]
//! ```
//!
//! A plain-text listing may use `{major}` and `{minor}` of the pinned version; its date is the
//! `Last-Modified` of the answer when it names one version.

use std::time::Duration;

use anyhow::Result;
use reqwest::Url;
use reqwest::header::HeaderMap;
use semver::Version;

use crate::error::{Code, OpError};
use crate::output::Output;
use crate::settings::ToolchainSettings;
use crate::toolchain::fetch::{self, Source};
use crate::toolchain::{template, timestamp, version};

/// The GitHub REST API. Tests (and an air gap) point `OP_TOOLCHAIN_MIRROR` at a stand-in, which
/// then serves `/api.github.com/repos/OWNER/REPO/releases?per_page=100`.
pub const GITHUB_API: &str = "https://api.github.com";
/// The Cloud Storage JSON API.
pub const GCS_API: &str = "https://storage.googleapis.com/storage/v1";
/// Pages read from one listing at most (GitHub: 100 releases a page).
const MAX_PAGES: usize = 20;
/// One page is at most this large (100 GitHub releases with long notes stay well under it).
const MAX_PAGE: u64 = 16 << 20;

/// One `releases` source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listing {
    /// `github:OWNER/REPO`: the repository's releases, drafts left out.
    GitHub { owner: String, repo: String },
    /// `gcs:BUCKET/OBJECT`: the objects of a bucket whose name matches OBJECT, `{version}` standing
    /// for the version.
    Gcs { bucket: String, object: String },
    /// An `https://`, `http://` or `file://` URL of a text file with a version a line.
    Text(String),
}

impl Listing {
    pub fn parse(text: &str) -> Result<Listing, String> {
        let name_ok = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        if let Some(rest) = text.strip_prefix("github:") {
            return match rest.split_once('/') {
                Some((owner, repo)) if name_ok(owner) && name_ok(repo) => Ok(Listing::GitHub {
                    owner: owner.into(),
                    repo: repo.into(),
                }),
                _ => Err(format!("{text:?}: expected github:OWNER/REPO")),
            };
        }
        if let Some(rest) = text.strip_prefix("gcs:") {
            return match rest.split_once('/') {
                Some((bucket, object))
                    if name_ok(bucket) && object.matches("{version}").count() == 1 =>
                {
                    Ok(Listing::Gcs {
                        bucket: bucket.into(),
                        object: object.into(),
                    })
                }
                _ => Err(format!(
                    "{text:?}: expected gcs:BUCKET/OBJECT with {{version}} once in OBJECT"
                )),
            };
        }
        if ["https://", "http://", "file://"]
            .iter()
            .any(|scheme| text.starts_with(scheme))
        {
            template::substitute(text, &[("major", "0".into()), ("minor", "0".into())])
                .map_err(|error| format!("{text:?}: {error}"))?;
            return Ok(Listing::Text(text.into()));
        }
        Err(format!(
            "{text:?}: expected github:OWNER/REPO, gcs:BUCKET/OBJECT or an https:// URL of a text file"
        ))
    }
}

/// One upstream release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// As upstream names it (`v1.36.0`).
    pub tag: String,
    pub version: Version,
    /// Seconds since the epoch, when the listing says.
    pub published: Option<i64>,
    /// A semver pre-release, or one GitHub marks as such.
    pub prerelease: bool,
}

impl Release {
    /// How long ago it was published, when known.
    pub fn age(&self, now: i64) -> Option<Duration> {
        self.published
            .map(|published| Duration::from_secs(u64::try_from(now - published).unwrap_or(0)))
    }

    /// Published at least `min_age` ago. An unknown age is old enough only for a zero minimum.
    pub fn old_enough(&self, min_age: Duration, now: i64) -> bool {
        min_age.is_zero() || self.age(now).is_some_and(|age| age >= min_age)
    }

    /// The version as the lock writes it: the tag without a `v` before the version.
    pub fn written(&self) -> String {
        version::strip_v(&self.tag).to_string()
    }
}

/// The newest release, pre-releases only when `pre`.
pub fn newest(releases: &[Release], pre: bool) -> Option<&Release> {
    releases.iter().find(|release| pre || !release.prerelease)
}

/// The newest release of the same major.minor as `pinned`.
pub fn newest_patch<'a>(
    releases: &'a [Release],
    pinned: &Version,
    pre: bool,
) -> Option<&'a Release> {
    releases.iter().find(|release| {
        (pre || !release.prerelease)
            && release.version.major == pinned.major
            && release.version.minor == pinned.minor
    })
}

/// The newest release published at least `min_age` ago: what `lock update TOOL@latest` pins.
pub fn candidate(releases: &[Release], pre: bool, min_age: Duration, now: i64) -> Option<&Release> {
    releases
        .iter()
        .find(|release| (pre || !release.prerelease) && release.old_enough(min_age, now))
}

/// Reads release listings from upstream or the mirror that stands in for it.
pub struct Lister<'a> {
    settings: &'a ToolchainSettings,
    output: &'a Output,
    client: Option<reqwest::Client>,
}

impl<'a> Lister<'a> {
    pub fn new(settings: &'a ToolchainSettings, output: &'a Output) -> Lister<'a> {
        Lister {
            settings,
            output,
            client: None,
        }
    }

    /// Every release the `sources` list (merged, newest first). `pinned` fills a text listing's
    /// `{major}` and `{minor}`.
    pub async fn list(
        &mut self,
        sources: &[String],
        pinned: &str,
        label: &str,
    ) -> Result<Vec<Release>> {
        let mut releases: Vec<Release> = Vec::new();
        for text in sources {
            let listing = Listing::parse(text)
                .map_err(|error| OpError::config(format!("{label}: releases: {error}")))?;
            let found = match listing {
                Listing::GitHub { owner, repo } => self.github(&owner, &repo, label).await?,
                Listing::Gcs { bucket, object } => self.gcs(&bucket, &object, label).await?,
                Listing::Text(pattern) => self.text(&pattern, pinned, label).await?,
            };
            for release in found {
                match releases
                    .iter_mut()
                    .find(|known| known.version == release.version)
                {
                    Some(known) => {
                        known.published = known.published.or(release.published);
                        known.prerelease |= release.prerelease;
                    }
                    None => releases.push(release),
                }
            }
        }
        releases.sort_by(|a, b| version::compare(&b.version, &a.version));
        Ok(releases)
    }

    fn source(&mut self, url: &str, label: &str) -> Result<Source> {
        let source = match &self.settings.mirror {
            // A page link the mirror already rewrote to itself.
            Some(mirror) if url.starts_with(mirror.as_str()) => fetch::resolve(url, None)?,
            mirror => fetch::resolve(url, mirror.as_deref())?,
        };
        if matches!(source, Source::Http(_)) {
            if self.settings.offline {
                return Err(OpError::new(
                    Code::Offline,
                    format!(
                        "{label}: listing releases at {} needs the network, and OP_OFFLINE is set",
                        source.describe()
                    ),
                )
                .with_hint("unset OP_OFFLINE")
                .into());
            }
            if self.client.is_none() {
                self.client = Some(fetch::client(self.settings)?);
            }
        }
        Ok(source)
    }

    async fn page(&mut self, url: &str, label: &str) -> Result<(String, HeaderMap, String)> {
        let source = self.source(url, label)?;
        let (body, headers) = fetch::fetch_page(
            self.client.as_ref(),
            self.settings,
            &source,
            label,
            MAX_PAGE,
        )
        .await?;
        Ok((
            String::from_utf8_lossy(&body).into_owned(),
            headers,
            source.describe(),
        ))
    }

    fn malformed(label: &str, shown: &str, what: impl std::fmt::Display) -> anyhow::Error {
        OpError::new(Code::Download, format!("{label}: {shown}: {what}"))
            .with_hint("check the tool's `releases` in toolchain.lock and OP_TOOLCHAIN_MIRROR")
            .into()
    }

    fn truncated(&self, label: &str, shown: &str) {
        self.output.warn(&format!(
            "{label}: {shown}: stopped after {MAX_PAGES} pages; older releases are not considered"
        ));
    }

    async fn github(&mut self, owner: &str, repo: &str, label: &str) -> Result<Vec<Release>> {
        #[derive(serde::Deserialize)]
        struct Entry {
            tag_name: String,
            #[serde(default)]
            published_at: Option<String>,
            #[serde(default)]
            prerelease: bool,
            #[serde(default)]
            draft: bool,
        }
        let mut url = format!("{GITHUB_API}/repos/{owner}/{repo}/releases?per_page=100");
        let mut releases = Vec::new();
        for page in 1..=MAX_PAGES {
            let (body, headers, shown) = self.page(&url, label).await?;
            let entries: Vec<Entry> = serde_json::from_str(&body).map_err(|error| {
                Self::malformed(label, &shown, format!("not a GitHub release list: {error}"))
            })?;
            for entry in entries.into_iter().filter(|entry| !entry.draft) {
                let Some(parsed) = version::parse(&entry.tag_name) else {
                    continue;
                };
                releases.push(Release {
                    prerelease: entry.prerelease || version::is_pre(&parsed),
                    published: entry
                        .published_at
                        .as_deref()
                        .and_then(timestamp::parse_rfc3339),
                    tag: entry.tag_name,
                    version: parsed,
                });
            }
            // A page link is followed over HTTP(S) only: an answer cannot send op to a local file.
            let next = next_link(&headers)
                .filter(|next| next.starts_with("https://") || next.starts_with("http://"));
            match next {
                Some(next) if page == MAX_PAGES => {
                    drop(next);
                    self.truncated(label, &shown);
                }
                Some(next) => url = next,
                None => break,
            }
        }
        Ok(releases)
    }

    async fn gcs(&mut self, bucket: &str, object: &str, label: &str) -> Result<Vec<Release>> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            items: Vec<Item>,
            #[serde(default, rename = "nextPageToken")]
            next: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            name: String,
            #[serde(default, rename = "timeCreated")]
            created: Option<String>,
        }
        let (prefix, suffix) = object
            .split_once("{version}")
            .expect("Listing::parse checked it");
        let glob = format!("{prefix}*{suffix}");
        let mut token: Option<String> = None;
        let mut releases = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = Url::parse(&format!("{GCS_API}/b/{bucket}/o")).expect("a valid URL");
            url.query_pairs_mut().append_pair("matchGlob", &glob);
            if let Some(token) = &token {
                url.query_pairs_mut().append_pair("pageToken", token);
            }
            let (body, _, shown) = self.page(url.as_str(), label).await?;
            let listed: Page = serde_json::from_str(&body).map_err(|error| {
                Self::malformed(
                    label,
                    &shown,
                    format!("not a Cloud Storage object list: {error}"),
                )
            })?;
            for item in listed.items {
                let Some(tag) = item
                    .name
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_suffix(suffix))
                    .filter(|tag| !tag.contains('/'))
                else {
                    continue;
                };
                let Some(parsed) = version::parse(tag) else {
                    continue;
                };
                releases.push(Release {
                    tag: tag.to_string(),
                    prerelease: version::is_pre(&parsed),
                    version: parsed,
                    published: item.created.as_deref().and_then(timestamp::parse_rfc3339),
                });
            }
            match listed.next {
                Some(next) if page == MAX_PAGES => {
                    drop(next);
                    self.truncated(label, &shown);
                }
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(releases)
    }

    async fn text(&mut self, pattern: &str, pinned: &str, label: &str) -> Result<Vec<Release>> {
        let pinned_version = version::parse(pinned);
        let part = |pick: fn(&Version) -> u64| {
            pinned_version
                .as_ref()
                .map_or_else(String::new, |version| pick(version).to_string())
        };
        if pinned_version.is_none() && (pattern.contains("{major}") || pattern.contains("{minor}"))
        {
            return Err(OpError::config(format!(
                "{label}: releases: {pattern:?} needs the pinned version's {{major}} and {{minor}}, but {pinned:?} is not a version"
            ))
            .into());
        }
        let url = template::substitute(
            pattern,
            &[
                ("major", part(|version| version.major)),
                ("minor", part(|version| version.minor)),
            ],
        )
        .map_err(|error| OpError::config(format!("{label}: releases: {error}")))?;
        let (body, headers, shown) = self.page(&url, label).await?;
        let mut releases = Vec::new();
        for line in body.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = version::parse(line).ok_or_else(|| {
                Self::malformed(label, &shown, format!("{line:?} is not a version"))
            })?;
            releases.push(Release {
                tag: line.to_string(),
                prerelease: version::is_pre(&parsed),
                version: parsed,
                published: None,
            });
        }
        if let [only] = releases.as_mut_slice() {
            only.published = headers
                .get(reqwest::header::LAST_MODIFIED)
                .and_then(|value| value.to_str().ok())
                .and_then(timestamp::parse_http_date);
        }
        Ok(releases)
    }
}

/// The `rel="next"` URL of a `Link` header (RFC 8288), as GitHub paginates.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let is_next = params.split(';').any(|param| {
                param
                    .trim()
                    .strip_prefix("rel=")
                    .is_some_and(|rel| rel.trim_matches('"').split(' ').any(|rel| rel == "next"))
            });
            is_next.then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
        })
}

#[cfg(test)]
mod tests;
