//! Upstream checksum sources: checksum files (`hex  name`, `hex *name`, a bare `hex`) and GitHub
//! release API answers (each asset's `digest`), one asset's digest from them, and reading them —
//! each once, through `OP_TOOLCHAIN_MIRROR` exactly as installs do — together with the sizes that
//! HEAD requests announce.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::error::{self, Code, OpError};
use crate::settings::ToolchainSettings;
use crate::toolchain::fetch::{self, Source};
use crate::toolchain::template;

/// A `checksums` entry that starts with this names a GitHub release API URL
/// (`https://api.github.com/repos/OWNER/REPO/releases/tags/TAG`) whose JSON lists every asset
/// with the `digest` GitHub computed when it was uploaded: a channel independent of the
/// `.sha256` files the release workflow uploads beside the assets.
pub const GITHUB_API: &str = "github-api:";

/// No checksum file is larger than this (flux's lists a few dozen assets in ~3 KiB).
const MAX_FILE: u64 = 4 << 20;

/// One line of a checksum file: the digest and, unless the file holds a bare digest, the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub sha256: String,
    pub name: Option<String>,
}

/// Parses `hex  name`, `hex *name` (binary mode) and bare `hex` lines; blank lines, a UTF-8 BOM
/// and CRLF line ends are accepted. Anything else is an error naming the line.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    for (number, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (hex, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if hex.len() != 64 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(format!(
                "{origin}: line {}: expected `<64 hex digits>  <file name>` or a bare digest, got {line:?}",
                number + 1
            ));
        }
        let rest = rest.trim_start();
        let name = rest.strip_prefix('*').unwrap_or(rest).trim();
        lines.push(Line {
            sha256: hex.to_ascii_lowercase(),
            name: (!name.is_empty()).then(|| name.to_string()),
        });
    }
    if lines.is_empty() {
        return Err(format!("{origin}: holds no checksum"));
    }
    Ok(lines)
}

/// The digest for `asset`: the only line of a bare-digest file, else the line naming it. A
/// missing entry, or two entries with different digests, is an error naming the asset.
pub fn digest_for(lines: &[Line], asset: &str, origin: &str) -> Result<String, String> {
    if let [only] = lines
        && only.name.is_none()
    {
        return Ok(only.sha256.clone());
    }
    let mut matches = lines.iter().filter(|line| {
        line.name
            .as_deref()
            .is_some_and(|name| name.strip_prefix("./").unwrap_or(name) == asset)
    });
    let Some(first) = matches.next() else {
        return Err(format!("{origin}: has no entry for {asset}"));
    };
    if let Some(other) = matches.find(|line| line.sha256 != first.sha256) {
        return Err(format!(
            "{origin}: lists {asset} twice with different digests ({} and {})",
            first.sha256, other.sha256
        ));
    }
    Ok(first.sha256.clone())
}

/// A GitHub release API answer as (asset, digest) lines, and the assets it lists without a
/// sha256 digest (GitHub records none for assets uploaded before it computed digests).
pub fn parse_github_release(text: &str, origin: &str) -> Result<(Vec<Line>, Vec<String>), String> {
    #[derive(serde::Deserialize)]
    struct Release {
        assets: Vec<Asset>,
    }
    #[derive(serde::Deserialize)]
    struct Asset {
        name: String,
        #[serde(default)]
        digest: Option<String>,
    }
    let release: Release = serde_json::from_str(text).map_err(|error| {
        format!("{origin}: not a GitHub release (JSON with an `assets` list): {error}")
    })?;
    let mut lines = Vec::new();
    let mut undigested = Vec::new();
    for asset in release.assets {
        match asset
            .digest
            .as_deref()
            .and_then(|digest| digest.strip_prefix("sha256:"))
        {
            Some(hex) if hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()) => {
                lines.push(Line {
                    sha256: hex.to_ascii_lowercase(),
                    name: Some(asset.name),
                });
            }
            Some(hex) => {
                return Err(format!(
                    "{origin}: asset {}: digest sha256:{hex} is not 64 hex digits",
                    asset.name
                ));
            }
            None => undigested.push(asset.name),
        }
    }
    Ok((lines, undigested))
}

/// What one checksum source publishes.
struct Published {
    lines: Vec<Line>,
    /// Assets a GitHub release lists without a sha256 digest.
    undigested: Vec<String>,
}

/// Reads checksum sources (each once, a failed one too) and HEAD sizes from upstream or the
/// mirror that stands in for it. The HTTP client is built on first use, so a `file://` mirror
/// needs no network and works with `OP_OFFLINE=1`.
pub struct Upstream<'a> {
    settings: &'a ToolchainSettings,
    client: Option<reqwest::Client>,
    /// By source (`github-api:` kept): what it published, or the exit code of the failure to
    /// read it (reported then), so that a dead source is not retried for every platform.
    files: BTreeMap<String, Result<Published, Code>>,
}

impl<'a> Upstream<'a> {
    pub fn new(settings: &'a ToolchainSettings) -> Upstream<'a> {
        Upstream {
            settings,
            client: None,
            files: BTreeMap::new(),
        }
    }

    fn source(&mut self, url: &str, label: &str) -> Result<Source> {
        let source = fetch::resolve(url, self.settings.mirror.as_deref())?;
        if matches!(source, Source::Http(_)) {
            if self.settings.offline {
                return Err(OpError::new(
                    Code::Offline,
                    format!(
                        "{label}: reading {} needs the network, and OP_OFFLINE is set",
                        source.describe()
                    ),
                )
                .with_hint("unset OP_OFFLINE, or point OP_TOOLCHAIN_MIRROR at a file:// copy of the upstream files")
                .into());
            }
            if self.client.is_none() {
                self.client = Some(fetch::client(self.settings)?);
            }
        }
        Ok(source)
    }

    /// The digest that every checksum source in `patterns` publishes for the artifact at `url`.
    /// Exit 3 when a source lacks the asset, is malformed, or disagrees with another one; exit 4
    /// when a source cannot be read.
    pub async fn digest(
        &mut self,
        patterns: &[String],
        url: &str,
        version: &str,
        label: &str,
    ) -> Result<String> {
        let asset = template::asset_name(url);
        let mut first: Option<(String, String)> = None;
        for pattern in patterns {
            let (shown, digest) = self.one(pattern, url, version, label).await;
            let digest = digest?;
            match &first {
                Some((origin, earlier)) if *earlier != digest => {
                    return Err(OpError::new(
                        Code::Integrity,
                        format!(
                            "{label}: the checksum sources disagree about {asset}: {origin} says {earlier}, {shown} says {digest}"
                        ),
                    )
                    .into());
                }
                Some(_) => {}
                None => first = Some((shown, digest)),
            }
        }
        first.map(|(_, digest)| digest).ok_or_else(|| {
            OpError::config(format!("{label}: the tool names no `checksums` source")).into()
        })
    }

    /// What each source in `patterns` publishes for the artifact at `url`, as (the source as
    /// shown, its digest or why it has none): every source is read whatever another gives, so
    /// that a dead source does not hide what the others say.
    pub async fn each_digest(
        &mut self,
        patterns: &[String],
        url: &str,
        version: &str,
        label: &str,
    ) -> Vec<(String, Result<String>)> {
        let mut found = Vec::new();
        for pattern in patterns {
            found.push(self.one(pattern, url, version, label).await);
        }
        found
    }

    /// One source's digest for the artifact at `url`, and the source as shown.
    async fn one(
        &mut self,
        pattern: &str,
        url: &str,
        version: &str,
        label: &str,
    ) -> (String, Result<String>) {
        let (kind, pattern) = match pattern.strip_prefix(GITHUB_API) {
            Some(rest) => (GITHUB_API, rest),
            None => ("", pattern),
        };
        let checksums = match template::checksums_url(pattern, url, version) {
            Ok(checksums) => checksums,
            Err(error) => {
                let error = OpError::config(format!("{label}: checksums: {error}"));
                return (format!("{kind}{pattern}"), Err(error.into()));
            }
        };
        let shown = format!("{kind}{}", fetch::redact(&checksums));
        let asset = template::asset_name(url);
        let digest = match self.file(kind, &checksums, &shown, label).await {
            Ok(published) => digest_for(&published.lines, &asset, &shown).map_err(|error| {
                let error = if published.undigested.contains(&asset) {
                    format!(
                        "{shown}: the release lists {asset} but GitHub records no sha256 digest for it"
                    )
                } else {
                    error
                };
                OpError::new(Code::Integrity, format!("{label}: {error}")).into()
            }),
            Err(error) => Err(error),
        };
        (shown, digest)
    }

    async fn file(
        &mut self,
        kind: &str,
        url: &str,
        shown: &str,
        label: &str,
    ) -> Result<&Published> {
        let key = format!("{kind}{url}");
        if !self.files.contains_key(&key) {
            match self.read(kind, url, label).await {
                Ok(published) => {
                    self.files.insert(key.clone(), Ok(published));
                }
                // Not this source's failure (offline, a URL that is not one): nothing to remember.
                Err(error) if matches!(error::code(&error), Code::Offline | Code::Config) => {
                    return Err(error);
                }
                Err(error) => {
                    self.files.insert(key, Err(error::code(&error)));
                    return Err(error);
                }
            }
        }
        match &self.files[&key] {
            Ok(published) => Ok(published),
            Err(code) => Err(OpError::new(
                *code,
                format!("{label}: {shown}: not read again after the failure reported above"),
            )
            .into()),
        }
    }

    async fn read(&mut self, kind: &str, url: &str, label: &str) -> Result<Published> {
        let source = self.source(url, label)?;
        let bytes = fetch::fetch_small(
            self.client.as_ref(),
            self.settings,
            &source,
            label,
            MAX_FILE,
        )
        .await?;
        let text = String::from_utf8_lossy(&bytes);
        let origin = format!("{kind}{}", fetch::redact(url));
        let parsed = if kind == GITHUB_API {
            parse_github_release(&text, &origin)
        } else {
            parse(&text, &origin).map(|lines| (lines, Vec::new()))
        };
        let (lines, undigested) =
            parsed.map_err(|error| OpError::new(Code::Integrity, format!("{label}: {error}")))?;
        Ok(Published { lines, undigested })
    }

    /// The artifact's size from a HEAD request's `Content-Length`, when the server gives one.
    pub async fn size(&mut self, url: &str, label: &str) -> Result<Option<u64>> {
        let source = self.source(url, label)?;
        fetch::content_length(self.client.as_ref(), self.settings, &source, label).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1e92141e8498289e4b27411385aeb18396053176cf297b0cb99abd6ca8293e75";
    const B: &str = "89d3ebb47ee5f7a0def33217e8dcb885e0bec41d01d0e23fc84e9aba0416c24e";

    #[test]
    fn parses_each_checksum_format() {
        let text = format!("{A}  flux_linux_amd64.tar.gz\r\n{B} *flux_linux_arm64.tar.gz\n\n");
        let lines = parse(&text, "sums").unwrap();
        assert_eq!(
            digest_for(&lines, "flux_linux_arm64.tar.gz", "sums").unwrap(),
            B
        );
        assert_eq!(
            digest_for(&lines, "flux_linux_amd64.tar.gz", "sums").unwrap(),
            A
        );
        let bare = parse(&format!("\u{feff}{}\n", A.to_uppercase()), "kubectl.sha256").unwrap();
        assert_eq!(digest_for(&bare, "kubectl", "kubectl.sha256").unwrap(), A);
        let dotted = parse(&format!("{A}  ./dist/x.zip\n{B}  ./x.zip\n"), "sums").unwrap();
        assert_eq!(digest_for(&dotted, "x.zip", "sums").unwrap(), B);
    }

    #[test]
    fn malformed_missing_and_contradictory_entries_fail() {
        let error = parse(&format!("{A}  a\nnot-a-digest  b\n"), "sums").unwrap_err();
        assert!(error.contains("sums: line 2"), "{error}");
        let error = parse(&format!("{A}{A}  sha512-sized\n"), "sums").unwrap_err();
        assert!(error.contains("line 1"), "{error}");
        assert!(parse("\n \n", "sums").unwrap_err().contains("no checksum"));
        let lines = parse(&format!("{A}  a\n{B}  a\n"), "sums").unwrap();
        let error = digest_for(&lines, "a", "sums").unwrap_err();
        assert!(
            error.contains("different digests") && error.contains(A) && error.contains(B),
            "{error}"
        );
        assert!(
            digest_for(&lines, "b", "sums")
                .unwrap_err()
                .contains("no entry for b")
        );
        // A named line is not a bare digest: it must name the asset.
        let named = parse(&format!("{A}  other\n"), "x.sha256").unwrap();
        assert!(digest_for(&named, "x", "x.sha256").is_err());
    }

    #[test]
    fn reads_the_digests_of_a_github_release() {
        let json = format!(
            r#"{{"tag_name":"v1","assets":[
                {{"name":"a.tgz","digest":"sha256:{}","size":3}},
                {{"name":"b.zip","digest":null}},
                {{"name":"c.txt"}},
                {{"name":"d.tgz","digest":"sha512:00"}}]}}"#,
            A.to_uppercase()
        );
        let (lines, undigested) = parse_github_release(&json, "api").unwrap();
        assert_eq!(digest_for(&lines, "a.tgz", "api").unwrap(), A);
        assert_eq!(undigested, ["b.zip", "c.txt", "d.tgz"]);
        assert!(digest_for(&lines, "b.zip", "api").is_err());
        let error = parse_github_release(r#"{"message":"Not Found"}"#, "api").unwrap_err();
        assert!(error.contains("api: not a GitHub release"), "{error}");
        let short = r#"{"assets":[{"name":"a","digest":"sha256:abc"}]}"#;
        assert!(
            parse_github_release(short, "api")
                .unwrap_err()
                .contains("asset a")
        );
    }
}
