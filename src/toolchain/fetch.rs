//! Downloads: mirror rewriting, `file://` and HTTP(S) sources, retries with backoff, and a
//! streaming SHA-256 so that the bytes hashed are exactly the bytes served and written.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::error::{Code, OpError};
use crate::settings::ToolchainSettings;
use crate::toolchain::cache::Entry;

/// Without a `size` in the lock, no artifact may be larger than this.
pub const HARD_CAP: u64 = 2 << 30;
const CHUNK: usize = 256 * 1024;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Where the bytes of an artifact come from, after mirror rewriting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Http(Url),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::File(path) => format!("file://{}", path.display()),
            Source::Http(url) => redact(url.as_str()),
        }
    }
}

/// `https://host/a/b` → `<host>/a/b` (with `?query`): the path of an artifact inside a mirror.
pub fn mirror_path(url: &str) -> Result<String> {
    let parsed = parse_url(url)?;
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => String::new(),
    };
    let mut path = format!("{host}{}", parsed.path());
    if let Some(query) = parsed.query() {
        path.push('?');
        path.push_str(query);
    }
    Ok(path)
}

/// Applies `OP_TOOLCHAIN_MIRROR` to a lock URL.
pub fn resolve(url: &str, mirror: Option<&str>) -> Result<Source> {
    let target = match mirror {
        None => url.to_string(),
        Some(mirror) => format!("{}/{}", mirror.trim_end_matches('/'), mirror_path(url)?),
    };
    let parsed = parse_url(&target)?;
    match parsed.scheme() {
        "file" => parsed
            .to_file_path()
            .map(Source::File)
            .map_err(|()| OpError::config(format!("{target}: not a usable file:// path")).into()),
        "http" | "https" => Ok(Source::Http(parsed)),
        other => Err(OpError::config(format!(
            "{}: unsupported URL scheme `{other}`; use https://, http:// or file://",
            redact(&target)
        ))
        .into()),
    }
}

fn parse_url(url: &str) -> Result<Url> {
    Url::parse(url).map_err(|error| {
        OpError::config(format!("{}: not a valid URL: {error}", redact(url)))
            .with_hint("check toolchain.lock and OP_TOOLCHAIN_MIRROR")
            .into()
    })
}

/// Hides the user-info part of a URL (`https://user:token@host/` → `https://***@host/`).
pub fn redact(url: &str) -> String {
    crate::redact::url(url)
}

/// Told about download progress; a retry starts over.
pub trait Progress: Send + Sync {
    fn start(&self, total: Option<u64>);
    fn advance(&self, bytes: u64);
}

/// What was written, and its digest.
#[derive(Debug)]
pub struct Downloaded {
    pub size: u64,
    pub sha256: String,
}

/// Builds the HTTP client: rustls with the OS roots plus any CAs from `SSL_CERT_FILE`, proxies
/// from the environment, connect and read timeouts, and no content decoding.
pub fn client(settings: &ToolchainSettings) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("octopipeline/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.http_timeout)
        .read_timeout(settings.http_timeout)
        .redirect(reqwest::redirect::Policy::limited(10));
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path).map_err(|error| {
            OpError::config(format!(
                "cannot read SSL_CERT_FILE {}: {error}",
                path.display()
            ))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
            OpError::config(format!(
                "SSL_CERT_FILE {} is not a PEM certificate bundle: {error}",
                path.display()
            ))
        })?;
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|error| OpError::config(format!("cannot set up HTTPS: {error}")).into())
}

enum Attempt<T> {
    Done(T),
    /// Worth another try, possibly after the server's `Retry-After`.
    Retry(String, Option<Duration>),
    Fatal(anyhow::Error),
}

/// The retry policy: doubling backoff (or the server's `Retry-After`) for transient failures,
/// then exit 4 naming what was fetched and the last reason.
struct Retrier<'a> {
    settings: &'a ToolchainSettings,
    failures: Vec<String>,
    backoff: Duration,
}

impl<'a> Retrier<'a> {
    fn new(settings: &'a ToolchainSettings) -> Retrier<'a> {
        Retrier {
            settings,
            failures: Vec::new(),
            backoff: FIRST_BACKOFF,
        }
    }

    /// `Some` when the attempt settles the matter; `None` (after waiting) to try again.
    async fn settle<T>(
        &mut self,
        attempt: Attempt<T>,
        label: &str,
        source: &Source,
    ) -> Option<Result<T>> {
        match attempt {
            Attempt::Done(done) => Some(Ok(done)),
            Attempt::Fatal(error) => Some(Err(error)),
            Attempt::Retry(reason, retry_after) => {
                self.failures.push(reason);
                if self.failures.len() as u64 <= u64::from(self.settings.retries) {
                    let wait = retry_after.unwrap_or(self.backoff).min(MAX_RETRY_AFTER);
                    tokio::time::sleep(wait).await;
                    self.backoff *= 2;
                    return None;
                }
                Some(Err(OpError::new(
                    Code::Download,
                    format!(
                        "{label}: download of {} failed after {} attempt(s): {}",
                        source.describe(),
                        self.failures.len(),
                        self.failures.last().map(String::as_str).unwrap_or("unknown error")
                    ),
                )
                .with_hint("check the network, proxy (HTTPS_PROXY) and OP_TOOLCHAIN_MIRROR, then run the command again")
                .into()))
            }
        }
    }
}

/// Sends a request and sorts the outcome: a usable response, or why not (retry or give up).
async fn send<T>(
    request: reqwest::RequestBuilder,
    label: &str,
    source: &Source,
) -> Result<reqwest::Response, Attempt<T>> {
    send_passing(request, label, source, &[]).await
}

/// [`send`], except that a status in `pass` comes back as a response for the caller to judge.
async fn send_passing<T>(
    request: reqwest::RequestBuilder,
    label: &str,
    source: &Source,
    pass: &[reqwest::StatusCode],
) -> Result<reqwest::Response, Attempt<T>> {
    let response = match request
        .header(reqwest::header::ACCEPT_ENCODING, "identity")
        .send()
        .await
    {
        Ok(response) => response,
        Err(error) => {
            let reason = describe_reqwest(&error);
            // A redirect loop will loop again.
            if error.is_redirect() {
                return Err(Attempt::Fatal(
                    OpError::new(
                        Code::Download,
                        format!(
                            "{label}: {} redirects in a loop or more than 10 times: {reason}",
                            source.describe()
                        ),
                    )
                    .with_hint("check the URL in toolchain.lock and OP_TOOLCHAIN_MIRROR")
                    .into(),
                ));
            }
            // A certificate the client does not trust will not become trusted by retrying.
            if reason.contains("certificate") {
                return Err(Attempt::Fatal(
                    OpError::new(
                        Code::Download,
                        format!("{label}: TLS failure for {}: {reason}", source.describe()),
                    )
                    .with_hint("if the server (or a proxy) uses a private CA, point SSL_CERT_FILE at a PEM file with that CA")
                    .into(),
                ));
            }
            return Err(Attempt::Retry(reason, None));
        }
    };
    let status = response.status();
    if pass.contains(&status) {
        return Ok(response);
    }
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(Attempt::Retry(format!("HTTP {status}"), retry_after));
    }
    if !status.is_success() {
        return Err(Attempt::Fatal(
            OpError::new(
                Code::Download,
                format!("{label}: {} answered HTTP {status}", source.describe()),
            )
            .with_hint(if status == reqwest::StatusCode::NOT_FOUND {
                "the file is not at that URL: check toolchain.lock, or that the mirror holds it"
            } else {
                "check credentials, proxy and OP_TOOLCHAIN_MIRROR"
            })
            .into(),
        ));
    }
    Ok(response)
}

/// Streams `entry`'s artifact from `source` into `file` (which lives at `path`, named if a
/// write fails), hashing as it goes, enforcing the lock's `size` (or [`HARD_CAP`]); retries
/// transient failures from scratch.
pub async fn download(
    client: Option<&reqwest::Client>,
    settings: &ToolchainSettings,
    entry: &Entry,
    source: &Source,
    (file, path): (&mut File, &Path),
    progress: &dyn Progress,
) -> Result<Downloaded> {
    download_into(client, settings, entry, source, file, progress)
        .await
        .map_err(|error| match error.downcast::<WriteFailed>() {
            Ok(WriteFailed(io)) => OpError::new(
                Code::Failure,
                format!("{}: cannot write {}: {io}", entry.label(), path.display()),
            )
            .with_hint(
                "free space on that filesystem, or point OP_CACHE_DIR at a directory with room \
                 (nothing was installed; the partial download was removed)",
            )
            .into(),
            Err(error) => error,
        })
}

/// A failed write into the download file; [`download`] names the file.
#[derive(Debug)]
struct WriteFailed(std::io::Error);

impl std::fmt::Display for WriteFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write the download: {}", self.0)
    }
}

impl std::error::Error for WriteFailed {}

async fn download_into(
    client: Option<&reqwest::Client>,
    settings: &ToolchainSettings,
    entry: &Entry,
    source: &Source,
    file: &mut File,
    progress: &dyn Progress,
) -> Result<Downloaded> {
    let limit = entry.artifact.size.unwrap_or(HARD_CAP);
    match source {
        Source::File(path) => {
            let mut input = File::open(path).map_err(|error| {
                OpError::new(
                    Code::Download,
                    format!("{}: cannot read {}: {error}", entry.label(), path.display()),
                )
                .with_hint(format!(
                    "put the artifact from {} at that path, or fix OP_TOOLCHAIN_MIRROR",
                    redact(&entry.artifact.url)
                ))
            })?;
            let total = input.metadata().ok().map(|meta| meta.len());
            progress.start(total);
            copy_hashed(&mut input, file, limit, entry, source, progress)
        }
        Source::Http(url) => {
            let client = client.expect("an HTTP client is built whenever an HTTP source exists");
            let label = entry.label();
            let mut retrier = Retrier::new(settings);
            loop {
                file.set_len(0)?;
                std::io::Seek::rewind(file)?;
                let attempt =
                    attempt_http(client, settings, url, file, limit, entry, source, progress).await;
                if let Some(result) = retrier.settle(attempt, &label, source).await {
                    return result;
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn attempt_http(
    client: &reqwest::Client,
    settings: &ToolchainSettings,
    url: &Url,
    file: &mut File,
    limit: u64,
    entry: &Entry,
    source: &Source,
    progress: &dyn Progress,
) -> Attempt<Downloaded> {
    let mut response = match send(client.get(url.clone()), &entry.label(), source).await {
        Ok(response) => response,
        Err(attempt) => return attempt,
    };
    let announced = response.content_length();
    if let (Some(expected), Some(announced)) = (entry.artifact.size, announced)
        && expected != announced
    {
        return Attempt::Fatal(integrity_error(
            entry,
            source,
            &format!("the server announces {announced} bytes but the lock says size = {expected}"),
        ));
    }
    if announced.is_some_and(|announced| announced > limit) {
        return Attempt::Fatal(integrity_error(
            entry,
            source,
            &format!(
                "the server announces {} bytes, over the {limit}-byte limit",
                announced.unwrap_or_default()
            ),
        ));
    }
    progress.start(announced.or(entry.artifact.size));
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    // The read timeout catches a silent server; this floor catches one that drips a few bytes
    // just often enough to dodge it.
    let mut window = (std::time::Instant::now(), 0u64);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                size += chunk.len() as u64;
                window.1 += chunk.len() as u64;
                let elapsed = window.0.elapsed();
                if settings.min_speed > 0 && elapsed >= settings.http_timeout {
                    let floor = settings.min_speed as f64 * elapsed.as_secs_f64();
                    if (window.1 as f64) < floor {
                        return Attempt::Retry(
                            format!(
                                "too slow: {} bytes in {:.0} s, under the {} bytes/s floor (OP_HTTP_MIN_SPEED)",
                                window.1,
                                elapsed.as_secs_f64(),
                                settings.min_speed
                            ),
                            None,
                        );
                    }
                    window = (std::time::Instant::now(), 0);
                }
                if size > limit {
                    return Attempt::Fatal(integrity_error(
                        entry,
                        source,
                        &format!("received more than the expected {limit} bytes"),
                    ));
                }
                hasher.update(&chunk);
                if let Err(error) = file.write_all(&chunk) {
                    return Attempt::Fatal(write_error(error));
                }
                progress.advance(chunk.len() as u64);
            }
            Ok(None) => break,
            Err(error) => {
                return Attempt::Retry(
                    format!(
                        "connection lost after {size} bytes: {}",
                        describe_reqwest(&error)
                    ),
                    None,
                );
            }
        }
    }
    if let Some(announced) = announced
        && size != announced
    {
        return Attempt::Retry(
            format!("body ended after {size} of {announced} bytes"),
            None,
        );
    }
    Attempt::Done(Downloaded {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// A small file (checksum list) in full, at most `max` bytes.
pub async fn fetch_small(
    client: Option<&reqwest::Client>,
    settings: &ToolchainSettings,
    source: &Source,
    label: &str,
    max: u64,
) -> Result<Vec<u8>> {
    let too_big = || -> anyhow::Error {
        OpError::new(
            Code::Download,
            format!("{label}: {} is larger than {max} bytes", source.describe()),
        )
        .into()
    };
    match source {
        Source::File(path) => {
            let bytes = std::fs::read(path).map_err(|error| {
                OpError::new(
                    Code::Download,
                    format!("{label}: cannot read {}: {error}", path.display()),
                )
            })?;
            if bytes.len() as u64 > max {
                return Err(too_big());
            }
            Ok(bytes)
        }
        Source::Http(url) => {
            let client = client.expect("an HTTP client is built whenever an HTTP source exists");
            let mut retrier = Retrier::new(settings);
            loop {
                let attempt = match send(client.get(url.clone()), label, source).await {
                    Ok(mut response) => {
                        let mut body = Vec::new();
                        loop {
                            match response.chunk().await {
                                Ok(Some(chunk)) => {
                                    body.extend_from_slice(&chunk);
                                    if body.len() as u64 > max {
                                        break Attempt::Fatal(too_big());
                                    }
                                }
                                Ok(None) => break Attempt::Done(body),
                                Err(error) => break Attempt::Retry(describe_reqwest(&error), None),
                            }
                        }
                    }
                    Err(attempt) => attempt,
                };
                if let Some(result) = retrier.settle(attempt, label, source).await {
                    return result;
                }
            }
        }
    }
}

/// The size a HEAD request announces (`Content-Length`), if the server gives one. A server that
/// does not do HEAD (405, 501) or announces 0 bytes gives no size; any other failure is an error.
pub async fn content_length(
    client: Option<&reqwest::Client>,
    settings: &ToolchainSettings,
    source: &Source,
    label: &str,
) -> Result<Option<u64>> {
    match source {
        Source::File(path) => Ok(std::fs::metadata(path)
            .ok()
            .map(|meta| meta.len())
            .filter(|&length| length > 0)),
        Source::Http(url) => {
            let client = client.expect("an HTTP client is built whenever an HTTP source exists");
            let mut retrier = Retrier::new(settings);
            loop {
                let no_head = [
                    reqwest::StatusCode::METHOD_NOT_ALLOWED,
                    reqwest::StatusCode::NOT_IMPLEMENTED,
                ];
                let request = client.head(url.clone());
                let attempt = match send_passing(request, label, source, &no_head).await {
                    Ok(response) if !response.status().is_success() => Attempt::Done(None),
                    Ok(response) => Attempt::Done(
                        response
                            .headers()
                            .get(reqwest::header::CONTENT_LENGTH)
                            .and_then(|value| value.to_str().ok())
                            .and_then(|value| value.trim().parse::<u64>().ok())
                            .filter(|&length| length > 0),
                    ),
                    Err(attempt) => attempt,
                };
                if let Some(result) = retrier.settle(attempt, label, source).await {
                    return result;
                }
            }
        }
    }
}

fn copy_hashed(
    input: &mut File,
    output: &mut File,
    limit: u64,
    entry: &Entry,
    source: &Source,
    progress: &dyn Progress,
) -> Result<Downloaded> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let read = input.read(&mut buffer).map_err(|error| {
            OpError::new(
                Code::Download,
                format!(
                    "{}: reading {} failed: {error}",
                    entry.label(),
                    source.describe()
                ),
            )
        })?;
        if read == 0 {
            break;
        }
        size += read as u64;
        if size > limit {
            return Err(integrity_error(
                entry,
                source,
                &format!("the file holds more than the expected {limit} bytes"),
            ));
        }
        hasher.update(&buffer[..read]);
        output.write_all(&buffer[..read]).map_err(write_error)?;
        progress.advance(read as u64);
    }
    Ok(Downloaded {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn write_error(error: std::io::Error) -> anyhow::Error {
    WriteFailed(error).into()
}

pub fn integrity_error(entry: &Entry, source: &Source, what: &str) -> anyhow::Error {
    OpError::new(
        Code::Integrity,
        format!(
            "{}: {what}\n  url: {}\n  from: {}\nnothing was installed",
            entry.label(),
            redact(&entry.artifact.url),
            source.describe()
        ),
    )
    .with_hint("the artifact differs from what toolchain.lock pins: check the mirror, or refresh the lock if upstream re-published it")
    .into()
}

/// The digest (and size) check after a complete download.
pub fn check_digest(entry: &Entry, source: &Source, got: &Downloaded) -> Result<()> {
    let size_ok = entry.artifact.size.is_none_or(|size| size == got.size);
    if got.sha256 == entry.artifact.sha256 && size_ok {
        return Ok(());
    }
    let expected_size = entry
        .artifact
        .size
        .map_or_else(|| "not pinned".to_string(), |size| format!("{size} bytes"));
    Err(integrity_error(
        entry,
        source,
        &format!(
            "SHA-256 mismatch\n  expected sha256: {} ({expected_size})\n  actual sha256:   {} ({} bytes received)",
            entry.artifact.sha256, got.sha256, got.size
        ),
    ))
}

fn describe_reqwest(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&redact(&inner.to_string()));
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_rewrites_host_and_path() {
        let source = resolve(
            "https://github.com/a/b/c.tgz?x=1",
            Some("http://127.0.0.1:9/m/"),
        )
        .unwrap();
        assert_eq!(
            source,
            Source::Http(Url::parse("http://127.0.0.1:9/m/github.com/a/b/c.tgz?x=1").unwrap())
        );
        let source = resolve(
            "https://dl.k8s.io/release/kubectl",
            Some("file:///srv/mirror"),
        )
        .unwrap();
        assert_eq!(
            source,
            Source::File("/srv/mirror/dl.k8s.io/release/kubectl".into())
        );
        assert!(resolve("ftp://x/y", None).is_err());
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("https://user:s3cret@host.example/a@b"),
            "https://***@host.example/a@b"
        );
        assert_eq!(redact("https://host.example/a"), "https://host.example/a");
    }
}
