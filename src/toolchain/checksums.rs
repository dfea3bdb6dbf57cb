//! Upstream checksum files: their formats (`hex  name`, `hex *name`, a bare `hex`), one asset's
//! digest from them, and reading them — each once, through `OP_TOOLCHAIN_MIRROR` exactly as
//! installs do — together with the sizes that HEAD requests announce.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::error::{Code, OpError};
use crate::settings::ToolchainSettings;
use crate::toolchain::fetch::{self, Source};
use crate::toolchain::template;

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

/// Reads checksum files (each once) and HEAD sizes from upstream or the mirror that stands in
/// for it. The HTTP client is built on first use, so a `file://` mirror needs no network and
/// works with `OP_OFFLINE=1`.
pub struct Upstream<'a> {
    settings: &'a ToolchainSettings,
    client: Option<reqwest::Client>,
    files: BTreeMap<String, Vec<Line>>,
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
            let checksums = template::checksums_url(pattern, url, version)
                .map_err(|error| OpError::config(format!("{label}: checksums: {error}")))?;
            let shown = fetch::redact(&checksums);
            let lines = self.file(&checksums, label).await?;
            let digest = digest_for(lines, &asset, &shown)
                .map_err(|error| OpError::new(Code::Integrity, format!("{label}: {error}")))?;
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

    async fn file(&mut self, url: &str, label: &str) -> Result<&[Line]> {
        if !self.files.contains_key(url) {
            let source = self.source(url, label)?;
            let bytes = fetch::fetch_small(
                self.client.as_ref(),
                self.settings,
                &source,
                label,
                MAX_FILE,
            )
            .await?;
            let lines = parse(&String::from_utf8_lossy(&bytes), &fetch::redact(url))
                .map_err(|error| OpError::new(Code::Integrity, format!("{label}: {error}")))?;
            self.files.insert(url.to_string(), lines);
        }
        Ok(&self.files[url])
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
}
