//! HTTP(S) transfers: the client, one request and how its outcome is sorted (retry or give
//! up), the retry loop with backoff under one overall deadline, and the streamed GET itself.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use reqwest::Url;
use sha2::{Digest, Sha256};

use super::{Downloaded, Progress, Sink, Source, WriteFailed, integrity_error, redact, tls};
use crate::error::{Code, OpError};
use crate::settings::ToolchainSettings;
use crate::toolchain::cache::Entry;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Builds the HTTP client: rustls with the OS roots plus any CAs from `SSL_CERT_FILE`, proxies
/// from the environment, connect and read timeouts, and no content decoding.
pub fn client(settings: &ToolchainSettings) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("octopipeline/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.http_timeout)
        .read_timeout(settings.http_timeout)
        .redirect(reqwest::redirect::Policy::limited(10));
    if let Some(path) = &settings.ca_file {
        builder = builder.tls_certs_merge(tls::extra_roots(path)?);
    }
    builder.build().map_err(|error| {
        OpError::config(format!("cannot set up HTTPS: {}", describe_reqwest(&error))).into()
    })
}

pub(super) enum Attempt<T> {
    Done(T),
    /// Worth another try, possibly after the server's `Retry-After`.
    Retry(String, Option<Duration>),
    Fatal(anyhow::Error),
}

/// The retry policy: doubling backoff (or the server's `Retry-After`) for transient failures,
/// then exit 4 naming what was fetched and the last reason; and the deadline over all of it.
pub(super) struct Retrier<'a> {
    settings: &'a ToolchainSettings,
    failures: Vec<String>,
    backoff: Duration,
    deadline: Duration,
}

impl<'a> Retrier<'a> {
    pub(super) fn new(settings: &'a ToolchainSettings, deadline: Duration) -> Retrier<'a> {
        Retrier {
            settings,
            failures: Vec::new(),
            backoff: FIRST_BACKOFF,
            deadline,
        }
    }

    /// Runs `attempts` (a retry loop around [`Retrier::settle`]) until it settles or the deadline
    /// passes; `progress` says, after a timeout, how far the attempt in flight had come.
    pub(super) async fn run<T>(
        &mut self,
        label: &str,
        source: &Source,
        attempts: impl AsyncFnOnce(&mut Retrier<'a>) -> Result<T>,
        progress: impl FnOnce() -> Option<String>,
    ) -> Result<T> {
        let deadline = self.deadline;
        match tokio::time::timeout(deadline, attempts(self)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(self.expired(label, source, progress())),
        }
    }

    fn expired(&self, label: &str, source: &Source, progress: Option<String>) -> anyhow::Error {
        let mut message = format!(
            "{label}: download of {} did not finish within its {} deadline (OP_HTTP_DEADLINE)",
            source.describe(),
            seconds(self.deadline)
        );
        if let Some(progress) = progress {
            message.push_str(&format!("; {progress}"));
        }
        if let Some(last) = self.failures.last() {
            message.push_str(&format!(
                "; {} failed before, the last: {last}",
                crate::output::count(self.failures.len(), "attempt")
            ));
        }
        OpError::new(Code::Download, message)
            .with_hint(
                "if the network really is this slow, raise OP_HTTP_DEADLINE (seconds, all attempts \
                 included); otherwise check the mirror, proxy (HTTPS_PROXY) and OP_TOOLCHAIN_MIRROR",
            )
            .into()
    }

    /// `Some` when the attempt settles the matter; `None` (after waiting) to try again.
    pub(super) async fn settle<T>(
        &mut self,
        attempt: Attempt<T>,
        label: &str,
        source: &Source,
    ) -> Option<Result<T>> {
        let number = self.failures.len() + 1;
        match attempt {
            Attempt::Done(done) => {
                crate::output::trace(|| format!("{label}: attempt {number} done"));
                Some(Ok(done))
            }
            Attempt::Fatal(error) => {
                crate::output::trace(|| format!("{label}: attempt {number} failed for good"));
                Some(Err(error))
            }
            Attempt::Retry(reason, retry_after) => {
                crate::output::trace(|| format!("{label}: attempt {number} failed: {reason}"));
                self.failures.push(reason);
                if self.failures.len() as u64 <= u64::from(self.settings.retries) {
                    let wait = retry_after.unwrap_or(self.backoff).min(MAX_RETRY_AFTER);
                    crate::output::trace(|| format!("{label}: retrying in {wait:.1?}"));
                    tokio::time::sleep(wait).await;
                    self.backoff = (self.backoff * 2).min(MAX_RETRY_AFTER);
                    return None;
                }
                Some(Err(OpError::new(
                    Code::Download,
                    format!(
                        "{label}: download of {}{} failed after {}: {}",
                        source.describe(),
                        through_proxy(source),
                        crate::output::count(self.failures.len(), "attempt"),
                        self.failures.last().map(String::as_str).unwrap_or("unknown error")
                    ),
                )
                .with_hint("check the network, proxy (HTTPS_PROXY) and OP_TOOLCHAIN_MIRROR, then run the command again")
                .into()))
            }
        }
    }
}

/// `2 s`, `2.5 s`.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// Passes progress on and counts the bytes of the attempt in flight, for the deadline's message.
pub(super) struct Counted<'a> {
    inner: &'a dyn Progress,
    /// Whether the attempt in flight got as far as a response to stream.
    started: AtomicBool,
    received: AtomicU64,
    /// The size announced or pinned; `u64::MAX` when unknown.
    total: AtomicU64,
}

impl<'a> Counted<'a> {
    pub(super) fn new(inner: &'a dyn Progress) -> Counted<'a> {
        Counted {
            inner,
            started: AtomicBool::new(false),
            received: AtomicU64::new(0),
            total: AtomicU64::new(u64::MAX),
        }
    }

    /// A new attempt begins: nothing received yet.
    pub(super) fn reset(&self) {
        self.started.store(false, Ordering::Relaxed);
    }

    /// `128 of 4096 bytes received`, if the attempt in flight is streaming.
    pub(super) fn describe(&self) -> Option<String> {
        if !self.started.load(Ordering::Relaxed) {
            return None;
        }
        let received = self.received.load(Ordering::Relaxed);
        Some(match self.total.load(Ordering::Relaxed) {
            u64::MAX => format!("{received} bytes received"),
            total => format!("{received} of {total} bytes received"),
        })
    }
}

impl Progress for Counted<'_> {
    fn start(&self, total: Option<u64>) {
        self.received.store(0, Ordering::Relaxed);
        self.total
            .store(total.unwrap_or(u64::MAX), Ordering::Relaxed);
        self.started.store(true, Ordering::Relaxed);
        self.inner.start(total);
    }

    fn advance(&self, bytes: u64) {
        self.received.fetch_add(bytes, Ordering::Relaxed);
        self.inner.advance(bytes);
    }
}

/// Sends a request and sorts the outcome: a usable response, or why not (retry or give up).
pub(super) async fn send<T>(
    request: reqwest::RequestBuilder,
    settings: &ToolchainSettings,
    label: &str,
    source: &Source,
) -> Result<reqwest::Response, Attempt<T>> {
    send_passing(request, settings, label, source, &[]).await
}

/// [`send`], except that a status in `pass` comes back as a response for the caller to judge.
pub(super) async fn send_passing<T>(
    request: reqwest::RequestBuilder,
    settings: &ToolchainSettings,
    label: &str,
    source: &Source,
    pass: &[reqwest::StatusCode],
) -> Result<reqwest::Response, Attempt<T>> {
    let request = match (&settings.github_token, source) {
        (Some(token), Source::Http(url)) if super::is_github_host(url) => {
            request.bearer_auth(token.expose())
        }
        _ => request,
    };
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
            if let Some(refused) = tls::refused_certificate(&error) {
                let host = error
                    .url()
                    .or(match source {
                        Source::Http(url) => Some(url),
                        Source::File(_) => None,
                    })
                    .and_then(Url::host_str)
                    .unwrap_or("the server")
                    .to_string();
                return Err(Attempt::Fatal(
                    OpError::new(
                        Code::Download,
                        format!(
                            "{label}: cannot download {}: {}",
                            source.describe(),
                            tls::describe(refused, &host)
                        ),
                    )
                    .with_hint(tls::hint(refused, &host, settings.ca_file.as_deref()))
                    .into(),
                ));
            }
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
    if let Some(error) = super::rate_limit::rate_limited(&response, settings, label, source) {
        return Err(Attempt::Fatal(error));
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
            } else if matches!(source, Source::Http(url) if super::is_github_host(url)) {
                "GitHub limits requests without a token: set GITHUB_TOKEN (or OP_GITHUB_TOKEN), \
                 or check that the token may read the repository"
            } else {
                "check credentials, proxy and OP_TOOLCHAIN_MIRROR"
            })
            .into(),
        ));
    }
    Ok(response)
}

/// One GET of `entry`'s artifact streamed into `sink`, hashed, held to `limit` bytes and to the
/// speed floor.
#[expect(clippy::too_many_arguments, reason = "one attempt needs all of it")]
pub(super) async fn attempt_get(
    client: &reqwest::Client,
    settings: &ToolchainSettings,
    url: &Url,
    sink: &mut Sink<'_>,
    limit: u64,
    entry: &Entry,
    source: &Source,
    progress: &dyn Progress,
) -> Attempt<Downloaded> {
    let request = client.get(url.clone());
    let mut response = match send(request, settings, &entry.label(), source).await {
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
    // just often enough to dodge it (and the deadline, one that stays just above the floor).
    let mut window = (Instant::now(), 0u64);
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
                    window = (Instant::now(), 0);
                }
                if size > limit {
                    return Attempt::Fatal(integrity_error(
                        entry,
                        source,
                        &format!("received more than the expected {limit} bytes"),
                    ));
                }
                hasher.update(&chunk);
                if let Err(error) = sink.write(&chunk) {
                    return Attempt::Fatal(WriteFailed(error).into());
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
        sha256: crate::hex::encode(hasher.finalize()),
    })
}

/// One GET of a small file, in full, at most `max` bytes.
pub(super) async fn attempt_small(
    client: &reqwest::Client,
    settings: &ToolchainSettings,
    url: &Url,
    label: &str,
    source: &Source,
    max: u64,
    too_big: &dyn Fn() -> anyhow::Error,
) -> Attempt<(Vec<u8>, reqwest::header::HeaderMap)> {
    let mut response = match send(client.get(url.clone()), settings, label, source).await {
        Ok(response) => response,
        Err(attempt) => return attempt,
    };
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > max {
                    return Attempt::Fatal(too_big());
                }
            }
            Ok(None) => return Attempt::Done((body, response.headers().clone())),
            Err(error) => return Attempt::Retry(describe_reqwest(&error), None),
        }
    }
}

/// One HEAD: the announced `Content-Length`, if any (see [`super::content_length`]).
pub(super) async fn attempt_head(
    client: &reqwest::Client,
    settings: &ToolchainSettings,
    url: &Url,
    label: &str,
    source: &Source,
) -> Attempt<Option<u64>> {
    let no_head = [
        reqwest::StatusCode::METHOD_NOT_ALLOWED,
        reqwest::StatusCode::NOT_IMPLEMENTED,
    ];
    let request = client.head(url.clone());
    match send_passing(request, settings, label, source, &no_head).await {
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
    }
}

/// ` through the proxy P` when the environment routes `source` through one.
fn through_proxy(source: &Source) -> String {
    let Source::Http(url) = source else {
        return String::new();
    };
    url.host_str()
        .and_then(|host| crate::settings::proxy_for(url.scheme(), host))
        .map(|proxy| format!(" through the proxy {}", redact(&proxy)))
        .unwrap_or_default()
}

/// What went wrong, in a few words: the kind, then the innermost cause only (the chain between
/// repeats it: `client error (Connect): dns error: failed to lookup address …`).
pub(super) fn describe_reqwest(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else if error.is_builder() {
        "invalid settings".to_string()
    } else {
        "request failed".to_string()
    };
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(error);
    let mut innermost = None;
    while let Some(inner) = cause {
        innermost = Some(inner);
        cause = inner.source();
    }
    if let Some(inner) = innermost {
        text.push_str(": ");
        text.push_str(&redact(&inner.to_string()));
    }
    text
}
