//! A loopback Rekor-like transparency log on 127.0.0.1:0: `POST /api/v1/index/retrieve` answers
//! the UUIDs of the entries recorded for a `sha256:` hash, `GET /api/v1/log/entries/{uuid}` the
//! entry (with its signed entry timestamp). Tests choose what is logged under which digest, so
//! a log can lack an entry or hold one whose body does not match. It stops when dropped.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Detached;
use crate::support::server::listen;
use crate::support::wire::{parse_head, write_head, write_simple};

struct Shared {
    /// (digest indexed under, entry UUID, entry).
    entries: Mutex<Vec<(String, String, serde_json::Value)>>,
    /// `METHOD target` of every request.
    log: Mutex<Vec<String>>,
    stop: AtomicBool,
}

pub struct LogServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl LogServer {
    pub fn start() -> LogServer {
        let shared = Arc::new(Shared {
            entries: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let (addr, accept) = listen(&shared, |shared| &shared.stop, handle);
        LogServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Logs `detached`'s entry, found by a search for `sha256`.
    pub fn add(&self, sha256: &str, detached: &Detached) {
        self.shared.entries.lock().unwrap().push((
            sha256.to_string(),
            detached.uuid.clone(),
            detached.entry.clone(),
        ));
    }

    /// `METHOD target` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }
}

impl Drop for LogServer {
    fn drop(&mut self) {
        self.shared
            .stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn handle(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = serve(&mut stream, shared);
    let _ = stream.shutdown(Shutdown::Both);
}

/// Reads a request head and its `Content-Length` body (at most 64 KiB each).
fn read_request(stream: &mut impl Read) -> io::Result<Option<(String, Vec<u8>)>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 || buffer.len() > 64 * 1024 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let length = parse_head(&head)
        .header("content-length")
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(0)
        .min(64 * 1024);
    let mut body = buffer[end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Ok(Some((head, body)))
}

fn serve(stream: &mut (impl Read + Write), shared: &Shared) -> io::Result<()> {
    let Some((head, body)) = read_request(stream)? else {
        return Ok(());
    };
    let request = parse_head(&head);
    shared
        .log
        .lock()
        .unwrap()
        .push(format!("{} {}", request.method, request.target));
    let entries = shared.entries.lock().unwrap().clone();
    let answer = match (request.method.as_str(), request.target.as_str()) {
        ("POST", "/api/v1/index/retrieve") => {
            let query: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let hash = query["hash"].as_str().unwrap_or_default();
            let digest = hash.strip_prefix("sha256:").unwrap_or("-");
            let uuids: Vec<&str> = entries
                .iter()
                .filter(|(indexed, _, _)| indexed == digest)
                .map(|(_, uuid, _)| uuid.as_str())
                .collect();
            Some(serde_json::to_vec(&uuids).unwrap())
        }
        ("GET", target) => target
            .strip_prefix("/api/v1/log/entries/")
            .and_then(|wanted| entries.iter().find(|(_, uuid, _)| uuid == wanted))
            .map(|(_, uuid, entry)| {
                serde_json::to_vec(&serde_json::json!({ uuid: entry })).unwrap()
            }),
        _ => None,
    };
    match answer {
        Some(answer) => {
            write_head(stream, 200, answer.len(), &[])?;
            stream.write_all(&answer)?;
            stream.flush()
        }
        None => write_simple(stream, 404, &[]),
    }
}
