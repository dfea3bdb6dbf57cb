//! Secrets kept out of every line `op` prints and every file it writes. Two defences, both used by
//! the toolchain and the pipeline commands: credentials found by their shape (the userinfo of a
//! URL, `user:pass@registry/…` references), and secret values made known when they are read (a
//! `.registry` entry's credentials, a variable interpolated into them, a repository setting's
//! password), which [`crate::output`] masks wherever they appear.
//!
//! A password may hold any character, `/`, `#`, `?` and `@` included, which a URL parser takes
//! for the end of the authority: such a URL is misread (`https://u:a/b@host` is host `u`, port
//! `a`), so the userinfo here ends at the last `@` before something that looks like a host, and
//! when in doubt more is hidden rather than less.

use std::sync::RwLock;

/// What hidden text is replaced with.
pub const MASK: &str = "***";

/// Known secrets shorter than this are not masked by value (they would mask ordinary words);
/// their shape still hides them.
const MIN_SECRET: usize = 4;
/// The pieces of a secret between URL delimiters, masked as well when at least this long: a
/// parser that misread the URL shows the pieces apart (the first one as a lowercased host).
const MIN_PIECE: usize = 6;

/// Known secrets, ASCII-lowercased (matching ignores ASCII case), longest first.
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers a secret value: from now on every line printed shows [`MASK`] in its place.
pub fn remember(secret: &str) {
    let mut found: Vec<String> = Vec::new();
    if secret.chars().count() >= MIN_SECRET {
        found.push(secret.to_ascii_lowercase());
    }
    found.extend(
        secret
            .split(|c: char| "/?#@:\\%".contains(c) || c.is_whitespace())
            .filter(|piece| piece.chars().count() >= MIN_PIECE && piece.len() < secret.len())
            .map(str::to_ascii_lowercase),
    );
    if found.is_empty() {
        return;
    }
    let mut known = KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for secret in found {
        if !known.contains(&secret) {
            known.push(secret);
        }
    }
    known.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
}

/// Remembers the credentials in a setting's value (a URL or a registry reference), if any: the
/// password, or the whole userinfo when it has no `:` (a token).
pub fn remember_credentials(value: &str) {
    for secret in secrets_in(value) {
        remember(secret);
    }
}

/// The secrets of the credentials in a URL or registry reference: each password or token.
pub fn secrets_in(value: &str) -> Vec<&str> {
    credential_spans(value, true)
        .into_iter()
        .map(|(start, end)| secret_part(&value[start..end]))
        .collect()
}

/// The secret of a userinfo: what follows the first `:`, or all of it (a token as user name).
fn secret_part(userinfo: &str) -> &str {
    match userinfo.split_once(':') {
        Some((_, password)) if !password.is_empty() => password,
        _ => userinfo,
    }
}

/// A URL, or a text holding URLs: the userinfo of each hidden (`https://***@host/…`). The
/// credentials found are remembered, so that a piece of them shown elsewhere is masked too.
pub fn url(text: &str) -> String {
    let (mut spans, embedded) = url_spans(text, true);
    for &(start, end) in &spans {
        remember(secret_part(&text[start..end]));
    }
    spans.extend(embedded);
    replace(text, &spans)
}

/// A registry or image reference as a whole (`user:pass@registry/app:1`, or a URL): its
/// credentials hidden. A digest (`app@sha256:…`) is not a credential.
pub fn reference(text: &str) -> String {
    replace(text, &credential_spans(text, true))
}

/// The reference without its credentials (`user:pass@r.io/app:1` → `r.io/app:1`): for files
/// that keep references, where a mask would make them invalid.
pub fn without_credentials(reference: &str) -> String {
    let mut spans = credential_spans(reference, true);
    spans.sort_unstable();
    let mut out = String::with_capacity(reference.len());
    let mut last = 0;
    for (start, end) in spans {
        if start < last {
            continue;
        }
        out.push_str(&reference[last..start]);
        // The userinfo and its `@`.
        last = end + 1;
    }
    out.push_str(&reference[last..]);
    out
}

/// A line for people: URLs' userinfo, `user:pass@host` words and every known secret hidden.
pub fn text(line: &str) -> String {
    let line = mask_known(line);
    let line = without_url_credentials(&line);
    let mut spans = Vec::new();
    let mut offset = 0;
    for word in line.split_inclusive(char::is_whitespace) {
        let trimmed = word.trim_end();
        let lead = trimmed.len()
            - trimmed
                .trim_start_matches(['"', '\'', '(', '[', '{', '<', '`'])
                .len();
        let token = &trimmed[lead..];
        if token.contains('@') && !token.contains("://") {
            let base = offset + lead;
            spans.extend(
                schemeless_span(token, false)
                    .filter(|&(start, end)| token[start..end].contains(':'))
                    .map(|(start, end)| (base + start, base + end)),
            );
        }
        offset += word.len();
    }
    replace(&line, &spans)
}

/// A line of data for programs: URLs' userinfo and known secrets hidden, every other word kept
/// exactly (a path with an `@` in it stays usable).
pub fn data(line: &str) -> String {
    without_url_credentials(&mask_known(line))
}

fn without_url_credentials(text: &str) -> String {
    let (mut spans, embedded) = url_spans(text, false);
    spans.extend(embedded);
    replace(text, &spans)
}

/// Every known secret in `text` replaced by [`MASK`] (ASCII case ignored).
pub fn mask_known(text: &str) -> String {
    let known = KNOWN
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if known.is_empty() {
        return text.to_string();
    }
    let lower = text.to_ascii_lowercase();
    let mut spans = Vec::new();
    for secret in known.iter() {
        spans.extend(
            lower
                .match_indices(secret.as_str())
                .map(|(start, found)| (start, start + found.len())),
        );
    }
    replace(text, &spans)
}

/// `text` with each span (merged where they overlap) replaced by [`MASK`].
fn replace(text: &str, spans: &[(usize, usize)]) -> String {
    if spans.is_empty() {
        return text.to_string();
    }
    let mut spans = spans.to_vec();
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in spans {
        if end <= last {
            continue;
        }
        out.push_str(&text[last..start.max(last)]);
        if start >= last {
            out.push_str(MASK);
        }
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// Credential spans of a value taken as a whole: the URLs in it, else a `user:pass@host` form.
fn credential_spans(value: &str, whole: bool) -> Vec<(usize, usize)> {
    if value.contains("://") {
        let (mut spans, embedded) = url_spans(value, whole);
        spans.extend(embedded);
        spans
    } else {
        schemeless_span(value, whole).into_iter().collect()
    }
}

/// The userinfo spans (byte ranges, `@` excluded) of every `scheme://` URL in `text`, then those
/// of authorities embedded in their paths (a mirror path holds the lock URL's host and whatever
/// a parser took for it). `whole`: `text` is one URL, so whitespace does not end it.
type Spans = Vec<(usize, usize)>;

fn url_spans(text: &str, whole: bool) -> (Spans, Spans) {
    let starts: Vec<usize> = text.match_indices("://").map(|(at, _)| at + 3).collect();
    let mut spans = Vec::new();
    let mut embedded = Vec::new();
    for (index, &start) in starts.iter().enumerate() {
        // A URL runs until the next one starts (or, in free text, the line ends).
        let mut end = starts
            .get(index + 1)
            .map_or(text.len(), |next| scheme_start(text, next - 3));
        if !whole {
            end = text[start..end].find('\n').map_or(end, |at| start + at);
        }
        let rest = &text[start..end];
        let host_from = match userinfo_end(rest, whole, false) {
            Some(at) => {
                spans.push((start, start + at));
                at + 1
            }
            None => 0,
        };
        // One word of the URL: its path, where an embedded `…@host` is hidden as well.
        let word_end = if whole {
            rest.len()
        } else {
            rest[host_from..]
                .find(char::is_whitespace)
                .map_or(rest.len(), |at| host_from + at)
        };
        let Some(path_start) = rest[host_from..word_end].find(is_delimiter) else {
            continue;
        };
        let path_start = host_from + path_start + 1;
        if let Some(at) = last_embedded_at(&rest[path_start..word_end]) {
            embedded.push((start + path_start, start + path_start + at));
        }
    }
    (spans, embedded)
}

/// Where the scheme ending at `colon` (the `:` of `://`) starts.
fn scheme_start(text: &str, colon: usize) -> usize {
    text[..colon]
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+.-".contains(c)))
        .map_or(0, |at| at + 1)
}

/// The userinfo span of a `user:pass@host/…` word (no scheme); only before a host, and never
/// in an absolute path (`/home/jo@corp.example/…`).
fn schemeless_span(token: &str, whole: bool) -> Option<(usize, usize)> {
    if token.starts_with('/') {
        return None;
    }
    userinfo_end(token, whole, true).map(|at| (0, at))
}

fn is_delimiter(c: char) -> bool {
    matches!(c, '/' | '?' | '#' | '\\')
}

/// In the text after `scheme://` (or a reference), the index of the `@` that ends the userinfo:
/// the last `@` of the authority when a host follows it (as a URL parser reads it); else, when
/// the authority is no host, the first later `…@host` (a password with a `/`, `#` or `?`); else,
/// unless `need_host`, the last `@` of all. `None`: no credentials.
fn userinfo_end(rest: &str, whole: bool, need_host: bool) -> Option<usize> {
    let ends_segment = |c: char| is_delimiter(c) || (!whole && c.is_whitespace());
    let authority_end = rest.find(ends_segment).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) if host_after_at(&authority[at + 1..]) => return Some(at),
        Some(_) => {}
        None if is_host(authority) || !rest.contains('@') => return None,
        None => {}
    }
    let mut from = authority_end;
    while from < rest.len() {
        let segment_start = from + rest[from..].chars().next().map_or(1, char::len_utf8);
        let segment_end = rest[segment_start..]
            .find(ends_segment)
            .map_or(rest.len(), |at| segment_start + at);
        let segment = &rest[segment_start..segment_end];
        if let Some(at) = segment.rfind('@')
            && host_after_at(&segment[at + 1..])
        {
            return Some(segment_start + at);
        }
        from = segment_end;
    }
    if need_host { None } else { rest.rfind('@') }
}

/// In a URL path, the `@` of the last segment that reads `…@host` (an embedded authority).
fn last_embedded_at(path: &str) -> Option<usize> {
    let mut found = None;
    let mut segment_start = 0;
    for segment in path.split(is_delimiter) {
        if let Some(at) = segment.rfind('@')
            && is_host(&segment[at + 1..])
        {
            found = Some(segment_start + at);
        }
        segment_start += segment.len() + 1;
    }
    found
}

/// What may follow a userinfo's `@`: a host, or a name with a port (`registry:5000`), but not
/// a digest's algorithm (`app@sha256:…`).
fn host_after_at(text: &str) -> bool {
    is_host(text)
        || text.split_once(':').is_some_and(|(name, port)| {
            is_label(name)
                && !name.is_empty()
                && !["sha256", "sha384", "sha512"].contains(&name.to_ascii_lowercase().as_str())
                && is_port(port)
                && !port.is_empty()
        })
}

/// A host as a URL or a registry reference names one, with an optional port: a name with a
/// dot, `localhost`, or `[IPv6]`. A dotless word is not taken for a host (docker does the same).
fn is_host(text: &str) -> bool {
    if let Some(inner) = text.strip_prefix('[') {
        let Some((address, rest)) = inner.split_once(']') else {
            return false;
        };
        return !address.is_empty()
            && address
                .chars()
                .all(|c| c.is_ascii_hexdigit() || ":.".contains(c))
            && (rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port));
    }
    let (host, port_ok) = match text.rsplit_once(':') {
        Some((host, port)) => (host, is_port(port)),
        None => (text, true),
    };
    port_ok
        && (host.eq_ignore_ascii_case("localhost")
            || (host.contains('.') && !host.starts_with('.') && host.split('.').all(is_label)))
}

fn is_label(label: &str) -> bool {
    label
        .chars()
        .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// Up to five digits (an empty port is allowed, as URL parsers allow it).
fn is_port(port: &str) -> bool {
    port.len() <= 5 && port.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_userinfo_ends_at_the_last_at_before_the_host() {
        for (input, expected) in [
            ("https://host.example/a", "https://host.example/a"),
            (
                "https://user:s3cret@host.example/a@b",
                "https://***@host.example/a@b",
            ),
            ("https://u:p@ss@host.io/x", "https://***@host.io/x"),
            ("https://u:a/b@host.io/x", "https://***@host.io/x"),
            ("https://u:a#b@host.io/x", "https://***@host.io/x"),
            ("https://u:a?b@host.io/x?q=1", "https://***@host.io/x?q=1"),
            (
                "https://u:a/#?@:b@host.io:8443/x",
                "https://***@host.io:8443/x",
            ),
            ("https://u:a b@host.io/x", "https://***@host.io/x"),
            ("https://tok/en@github.com/a", "https://***@github.com/a"),
            ("http://u:a/b@mirror/x", "http://***@mirror/x"),
            ("http://u:1234/x@[::1]:80/y", "http://***@[::1]:80/y"),
            (
                "https://registry.npmjs.org/@scope/pkg",
                "https://registry.npmjs.org/@scope/pkg",
            ),
            ("file:///srv/mirror/x", "file:///srv/mirror/x"),
            (
                "http://***@127.0.0.1:9/m/tokenl/tokenr@github.com/a",
                "http://***@127.0.0.1:9/***@github.com/a",
            ),
            (
                "download of https://u:p@h.io/x failed: see https://docs.io/y",
                "download of https://***@h.io/x failed: see https://docs.io/y",
            ),
        ] {
            assert_eq!(url(input), expected, "{input}");
        }
    }

    #[test]
    fn references_lose_credentials_not_digests() {
        for (input, expected) in [
            ("user:pass@ghcr.io/acme", "***@ghcr.io/acme"),
            ("user:pa/ss@ghcr.io/acme/app:1", "***@ghcr.io/acme/app:1"),
            ("user:p@ss@registry:5000/acme", "***@registry:5000/acme"),
            ("token@quay.io/acme", "***@quay.io/acme"),
            (
                "ghcr.io/acme/app:1@sha256:0123abcd",
                "ghcr.io/acme/app:1@sha256:0123abcd",
            ),
            ("app:1@sha256:0123", "app:1@sha256:0123"),
            (
                "localhost:5001/app@sha256:ab",
                "localhost:5001/app@sha256:ab",
            ),
            ("https://u:p/x@h.io/a", "https://***@h.io/a"),
        ] {
            assert_eq!(reference(input), expected, "{input}");
        }
        assert_eq!(
            without_credentials("u:p/x@r.io/acme/api:1@sha256:ab"),
            "r.io/acme/api:1@sha256:ab"
        );
        assert_eq!(without_credentials("https://u:p@h.io/x"), "https://h.io/x");
        assert_eq!(without_credentials("r.io/api:1"), "r.io/api:1");
    }

    #[test]
    fn lines_for_people_and_for_programs() {
        assert_eq!(
            text("copying r.io/api:1@sha256:ab to user:pa/ss@ghcr.io/acme/api:1 (crane)"),
            "copying r.io/api:1@sha256:ab to ***@ghcr.io/acme/api:1 (crane)"
        );
        assert_eq!(
            text("invalid type: string \"u:p@r.io/x\", expected a list"),
            "invalid type: string \"***@r.io/x\", expected a list"
        );
        assert_eq!(text("wrote /home/jo@corp.io/x"), "wrote /home/jo@corp.io/x");
        assert_eq!(reference("/home/jo@corp.io/x"), "/home/jo@corp.io/x");
        let path = "export PATH=\"/a/bin:/home/jo@corp.io/bin:$PATH\"";
        assert_eq!(data(path), path);
        assert_eq!(
            data("url = https://u:p/q@h.io/x"),
            "url = https://***@h.io/x"
        );
    }

    #[test]
    fn known_secrets_and_their_pieces_are_masked_anywhere() {
        remember("Kn0wnSecretLeft/Kn0wnSecretRight");
        remember("ab");
        assert_eq!(
            text("a kn0wnsecretleft and Kn0wnSecretRight and Kn0wnSecretLeft/Kn0wnSecretRight ab"),
            "a *** and *** and *** ab"
        );
        remember_credentials("bot:Registry-Password-1@r.io/acme");
        assert_eq!(data("x Registry-Password-1 y"), "x *** y");
        remember_credentials("ghcr.io/acme/app:1@sha256:abcdef");
        assert_eq!(data("sha256:abcdef"), "sha256:abcdef");
    }
}
