//! Downloads: mirror rewriting, the sources of an artifact in the order tried (in [`sources`]),
//! `file://` and HTTP(S) sources (retries with backoff under one deadline, in [`http`]), and a
//! streaming SHA-256 so that the bytes hashed are exactly the bytes served and written.

mod http;
mod rate_limit;
mod sources;
mod tls;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::error::{Code, OpError};
use crate::settings::ToolchainSettings;
use crate::toolchain::cache::Entry;
pub use http::client;
use http::{Counted, Retrier};
pub use sources::{Failed, all_failed, sources};

/// Without a `size` in the lock, no artifact may be larger than this.
pub const HARD_CAP: u64 = 2 << 30;
const CHUNK: usize = 256 * 1024;

/// The default deadline of one download: this, plus [`DEADLINE_RATE`] time for the pinned size…
const DEADLINE_SLACK: Duration = Duration::from_secs(300);
/// …at this many bytes per second (256 kbit/s, a poor mobile link)…
const DEADLINE_RATE: u64 = 32 * 1024;
/// …and never more than this, which is also the deadline when the lock gives no size.
const DEADLINE_CAP: Duration = Duration::from_secs(3600);

/// How long fetching `size` bytes may take, every attempt and wait between them included:
/// `OP_HTTP_DEADLINE` when set, else [`default_deadline`].
pub fn deadline(settings: &ToolchainSettings, size: Option<u64>) -> Duration {
    settings.deadline.unwrap_or_else(|| default_deadline(size))
}

/// 5 minutes plus 1 s per 32 KiB of `size`, at most an hour; an hour for an unknown size.
fn default_deadline(size: Option<u64>) -> Duration {
    match size {
        None => DEADLINE_CAP,
        Some(size) => {
            (DEADLINE_SLACK + Duration::from_secs(size.div_ceil(DEADLINE_RATE))).min(DEADLINE_CAP)
        }
    }
}

/// Where the bytes of an artifact come from, after mirror rewriting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Http(Url),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            // As a URL again (`file:///C:/m/x` on Windows, not `file://C:\m\x`).
            Source::File(path) => Url::from_file_path(path)
                .map(String::from)
                .unwrap_or_else(|()| format!("file://{}", path.display())),
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

/// Whether a request to `url` may carry the GitHub token: HTTPS (never clear text) to
/// github.com, api.github.com or a `*.githubusercontent.com` host. Judged on where the request
/// goes, after mirror rewriting: a mirror on another host never sees the token, and reqwest drops
/// `Authorization` when a redirect leaves the host.
pub fn is_github_host(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    url.scheme() == "https"
        && (host == "github.com"
            || host == "api.github.com"
            || host.ends_with(".githubusercontent.com"))
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

/// How far a download has been written, for an unpacker that reads the file as it grows (from
/// the page cache: nothing is buffered in memory for it).
#[derive(Default)]
pub struct Watermark {
    state: std::sync::Mutex<(u64, Phase)>,
    moved: std::sync::Condvar,
}

#[derive(Clone, Copy, Default, PartialEq)]
enum Phase {
    #[default]
    Running,
    Ended,
    Stopped,
}

impl Watermark {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Phase)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn advance(&self, by: u64) {
        self.lock().0 += by;
        self.moved.notify_all();
    }

    fn end(&self, phase: Phase) {
        let mut state = self.lock();
        if state.1 == Phase::Running {
            state.1 = phase;
        }
        drop(state);
        self.moved.notify_all();
    }

    /// Blocks until more than `at` bytes are written: `Some(written)`, or `None` when the
    /// download ended at `at`. An error when it stopped or started over.
    pub fn wait_past(&self, at: u64) -> std::io::Result<Option<u64>> {
        let mut state = self.lock();
        loop {
            if state.0 > at {
                return Ok(Some(state.0));
            }
            match state.1 {
                Phase::Ended => return Ok(None),
                Phase::Stopped => {
                    return Err(std::io::Error::other("the download stopped before its end"));
                }
                Phase::Running => {
                    state = self
                        .moved
                        .wait(state)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            }
        }
    }
}

/// Where a download goes: its file and, optionally, a [`Watermark`] an unpacker follows. A
/// retry from scratch stops the unpacker ([`Sink::restarted`]); whoever started it then unpacks
/// the finished file instead.
pub struct Sink<'a> {
    file: &'a mut File,
    tee: Option<std::sync::Arc<Watermark>>,
    teed: bool,
    written: u64,
    restarted: bool,
}

impl<'a> Sink<'a> {
    pub fn new(file: &'a mut File, tee: Option<std::sync::Arc<Watermark>>) -> Sink<'a> {
        Sink {
            file,
            teed: tee.is_some(),
            tee,
            written: 0,
            restarted: false,
        }
    }

    /// Whether the unpacker was stopped because the download started over.
    pub fn restarted(&self) -> bool {
        self.restarted
    }

    fn reset(&mut self) -> std::io::Result<()> {
        if self.written > 0 {
            if let Some(tee) = self.tee.take() {
                tee.end(Phase::Stopped);
            }
            self.restarted = self.teed;
        }
        self.written = 0;
        self.file.set_len(0)?;
        self.file.rewind()
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        if let Some(tee) = &self.tee {
            tee.advance(bytes.len() as u64);
        }
        Ok(())
    }

    fn finish(&mut self) {
        if let Some(tee) = self.tee.take() {
            tee.end(Phase::Ended);
        }
    }
}

impl Drop for Sink<'_> {
    fn drop(&mut self) {
        if let Some(tee) = self.tee.take() {
            tee.end(Phase::Stopped);
        }
    }
}

/// What was written, and its digest.
#[derive(Debug)]
pub struct Downloaded {
    pub size: u64,
    pub sha256: String,
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
    download_to(
        client,
        settings,
        entry,
        source,
        (&mut Sink::new(file, None), path),
        progress,
    )
    .await
}

/// [`download`] into a [`Sink`], which may feed an unpacker as the bytes arrive.
pub async fn download_to(
    client: Option<&reqwest::Client>,
    settings: &ToolchainSettings,
    entry: &Entry,
    source: &Source,
    (sink, path): (&mut Sink<'_>, &Path),
    progress: &dyn Progress,
) -> Result<Downloaded> {
    let result = download_into(client, settings, entry, source, sink, progress).await;
    if result.is_ok() {
        sink.finish();
    }
    result.map_err(|error| match error.downcast::<WriteFailed>() {
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
    sink: &mut Sink<'_>,
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
            copy_hashed(&mut input, sink, limit, entry, source, progress)
        }
        Source::Http(url) => {
            let client = client.expect("an HTTP client is built whenever an HTTP source exists");
            let label = entry.label();
            let mut retrier = Retrier::new(settings, deadline(settings, entry.artifact.size));
            let counted = Counted::new(progress);
            let attempts = async |retrier: &mut Retrier<'_>| loop {
                sink.reset()?;
                counted.reset();
                let attempt =
                    http::attempt_get(client, settings, url, sink, limit, entry, source, &counted)
                        .await;
                if let Some(result) = retrier.settle(attempt, &label, source).await {
                    return result;
                }
            };
            retrier
                .run(&label, source, attempts, || counted.describe())
                .await
        }
    }
}

/// A small file (checksum list) in full, at most `max` bytes.
pub async fn fetch_small(
    client: Option<&reqwest::Client>,
    settings: &ToolchainSettings,
    source: &Source,
    label: &str,
    max: u64,
) -> Result<Vec<u8>> {
    Ok(fetch_page(client, settings, source, label, max).await?.0)
}

/// [`fetch_small`], with the response headers (`Link`, `Last-Modified`) of an HTTP source: one
/// page of a release listing. A `file://` source has none.
pub async fn fetch_page(
    client: Option<&reqwest::Client>,
    settings: &ToolchainSettings,
    source: &Source,
    label: &str,
    max: u64,
) -> Result<(Vec<u8>, reqwest::header::HeaderMap)> {
    let too_big = || -> anyhow::Error {
        OpError::new(
            Code::Download,
            format!("{label}: {} is larger than {max} bytes", source.describe()),
        )
        .into()
    };
    match source {
        Source::File(path) => {
            // Bounded like every input: a FIFO or `/dev/zero` there is exit 2, not a hang.
            let bytes = crate::bounded::read_capped_if_present(path, "file", max)
                .map_err(|error| {
                    let message = format!("{label}: {}", error.message);
                    OpError { message, ..error }
                })?
                .ok_or_else(|| {
                    OpError::new(
                        Code::Download,
                        format!("{label}: cannot read {}: it does not exist", path.display()),
                    )
                })?;
            if bytes.len() as u64 > max {
                return Err(too_big());
            }
            Ok((bytes, reqwest::header::HeaderMap::new()))
        }
        Source::Http(url) => {
            let client = client.expect("an HTTP client is built whenever an HTTP source exists");
            let mut retrier = Retrier::new(settings, deadline(settings, Some(max)));
            let attempts = async |retrier: &mut Retrier<'_>| loop {
                let attempt =
                    http::attempt_small(client, settings, url, label, source, max, &too_big).await;
                if let Some(result) = retrier.settle(attempt, label, source).await {
                    return result;
                }
            };
            retrier.run(label, source, attempts, || None).await
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
            let mut retrier = Retrier::new(settings, deadline(settings, Some(0)));
            let attempts = async |retrier: &mut Retrier<'_>| loop {
                let attempt = http::attempt_head(client, settings, url, label, source).await;
                if let Some(result) = retrier.settle(attempt, label, source).await {
                    return result;
                }
            };
            retrier.run(label, source, attempts, || None).await
        }
    }
}

fn copy_hashed(
    input: &mut File,
    output: &mut Sink<'_>,
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
        output.write(&buffer[..read]).map_err(write_error)?;
        progress.advance(read as u64);
    }
    Ok(Downloaded {
        size,
        sha256: crate::hex::encode(hasher.finalize()),
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
    let expected_size = entry.artifact.size.map_or_else(
        || "size not pinned".to_string(),
        |size| format!("{size} bytes"),
    );
    Err(integrity_error(
        entry,
        source,
        &format!(
            "SHA-256 mismatch\n  expected sha256: {} ({expected_size})\n  actual sha256:   {} ({} bytes received)",
            entry.artifact.sha256, got.sha256, got.size
        ),
    ))
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
        // A file:// URL names an absolute path of the platform (with a drive on Windows).
        let (url, path) = if cfg!(windows) {
            ("file:///C:/srv/mirror", "C:/srv/mirror")
        } else {
            ("file:///srv/mirror", "/srv/mirror")
        };
        let source = resolve("https://dl.k8s.io/release/kubectl", Some(url)).unwrap();
        assert_eq!(
            source,
            Source::File(Path::new(path).join("dl.k8s.io/release/kubectl"))
        );
        assert!(resolve("ftp://x/y", None).is_err());
    }

    #[test]
    fn the_default_deadline_grows_with_the_pinned_size_up_to_an_hour() {
        let seconds = |size| default_deadline(size).as_secs();
        assert_eq!(seconds(Some(0)), 300);
        assert_eq!(seconds(Some(1)), 301);
        // 50 MiB, about kubectl: 5 min + 1600 s.
        assert_eq!(seconds(Some(50 << 20)), 1900);
        assert_eq!(seconds(Some(500 << 20)), 3600);
        assert_eq!(seconds(Some(u64::MAX)), 3600);
        assert_eq!(seconds(None), 3600);
    }

    #[test]
    fn only_https_requests_to_github_hosts_carry_the_token() {
        let github = |url: &str| is_github_host(&Url::parse(url).unwrap());
        assert!(github("https://github.com/a/b/releases/download/v1/x"));
        assert!(github("https://API.GitHub.com/repos/a/b/releases/tags/v1"));
        assert!(github("https://objects.githubusercontent.com/x"));
        assert!(github("https://release-assets.githubusercontent.com/x"));
        assert!(!github("http://github.com/a/b"), "clear text");
        assert!(!github("https://github.com.example.net/a"));
        assert!(!github("https://evilgithubusercontent.com/a"));
        assert!(!github("https://gist.github.io/a"));
        assert!(!github("https://127.0.0.1:8080/github.com/a/b"), "a mirror");
        assert!(!github("https://storage.googleapis.com/skaffold/x"));
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
