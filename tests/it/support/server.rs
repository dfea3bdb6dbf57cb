//! A loopback HTTP/1.1 mirror on 127.0.0.1:0 (plain or TLS) built on std threads: routes by
//! request target, a request log, and per-route fault scripts (status sequences, 429 with
//! Retry-After, dropped connections, short bodies, slow drips, delays). One response per
//! connection (`Connection: close`). It stops, and closes every connection, when dropped.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::lock::Lock;
use super::tls::Tls;
use super::wire::{parse_head, read_head, write_head, write_simple};

/// How the server answers one GET of a route.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with the route's body.
    Body,
    /// This status with a short text body.
    Status(u16),
    /// 429 with `Retry-After: <retry_after>`.
    TooMany { retry_after: u64 },
    /// 200 announcing the whole body, then the connection closes after this many bytes.
    DropAfter(usize),
    /// 200 with a Content-Length `missing` bytes larger than the body; the body, then close.
    ShortBody { missing: usize },
    /// 200 announcing the whole body, sent `chunk` bytes at a time with `every` between them.
    Drip { chunk: usize, every: Duration },
    /// 200 without Content-Length: the body (none for HEAD), then close.
    NoLength,
}

/// What a path serves and how it misbehaves.
#[derive(Clone, Debug)]
pub struct Route {
    body: Arc<Vec<u8>>,
    script: VecDeque<Reply>,
    then: Reply,
    delay: Duration,
    headers: Vec<(String, String)>,
    head: Reply,
}

impl Route {
    /// Serves `body` with 200 to every GET.
    pub fn new(body: impl Into<Vec<u8>>) -> Route {
        Route {
            body: Arc::new(body.into()),
            script: VecDeque::new(),
            then: Reply::Body,
            delay: Duration::ZERO,
            headers: Vec::new(),
            head: Reply::Body,
        }
    }

    /// How every HEAD is answered (default: [`Reply::Body`], 200 announcing the body's length).
    pub fn head(mut self, reply: Reply) -> Route {
        self.head = reply;
        self
    }

    /// The first GETs get these replies, one each, in order.
    pub fn script(mut self, replies: impl IntoIterator<Item = Reply>) -> Route {
        self.script.extend(replies);
        self
    }

    /// Every GET after the script gets this reply (default: [`Reply::Body`]).
    pub fn then(mut self, reply: Reply) -> Route {
        self.then = reply;
        self
    }

    /// Waits this long before answering each request.
    pub fn delay(mut self, delay: Duration) -> Route {
        self.delay = delay;
        self
    }

    /// An extra response header.
    pub fn header(mut self, name: &str, value: &str) -> Route {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    log: Mutex<Vec<Request>>,
    sent: Mutex<HashMap<String, usize>>,
    stop: AtomicBool,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Expect `CONNECT host:port` in clear first (act as the HTTPS proxy in front of itself).
    tunnel: bool,
}

pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

/// How a response ended: politely, or by cutting the connection.
enum End {
    Close,
    Abort,
}

impl Server {
    pub fn http() -> Server {
        Server::start(None, false)
    }

    /// An HTTPS server whose certificate `tls`'s CA signed.
    pub fn https(tls: &Tls) -> Server {
        Server::start(Some(tls.config.clone()), false)
    }

    /// An HTTPS server that is also the proxy in front of itself: each connection must start
    /// with `CONNECT host:port` in clear (logged), answered 200, then TLS as that host. Use
    /// [`Server::proxy_url`] as `HTTPS_PROXY`.
    pub fn https_behind_proxy(tls: &Tls) -> Server {
        Server::start(Some(tls.config.clone()), true)
    }

    fn start(tls: Option<Arc<rustls::ServerConfig>>, tunnel: bool) -> Server {
        let shared = Arc::new(Shared {
            routes: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            sent: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            tls,
            tunnel,
        });
        let (addr, accept) = listen(&shared, |shared| &shared.stop, handle);
        Server {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }

    /// `http://127.0.0.1:PORT`: the proxy address of [`Server::https_behind_proxy`].
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Serves `route` at the request target `path` (e.g. `/github.com/acme/...`).
    pub fn route(&self, path: &str, route: Route) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), route);
    }

    /// Serves every artifact of `lock` at its mirror path, with no faults.
    pub fn publish(&self, lock: &Lock) {
        for artifact in lock.artifacts() {
            self.route(&artifact.server_path(), Route::new(artifact.body.clone()));
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.log.lock().unwrap().clone()
    }

    /// How many GETs of `path` arrived.
    pub fn gets(&self, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|request| request.method == "GET" && request.target == path)
            .count()
    }

    /// How many requests of any kind arrived.
    pub fn request_count(&self) -> usize {
        self.shared.log.lock().unwrap().len()
    }

    /// Body bytes written so far for `path`, over all connections.
    pub fn bytes_sent(&self, path: &str) -> usize {
        self.shared
            .sent
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// The base URL of a loopback port nothing listens on.
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Listens on 127.0.0.1:0 and, on a thread of its own, accepts connections until `stop` is
/// set, each served by `handle` on its own thread; then cuts every connection still open so
/// that their threads end now, and joins them. The address, and the accepting thread to join.
pub fn listen<S: Send + Sync + 'static>(
    shared: &Arc<S>,
    stop: fn(&S) -> &AtomicBool,
    handle: fn(TcpStream, &S),
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let addr = listener.local_addr().expect("local addr");
    let shared = shared.clone();
    let accept = std::thread::spawn(move || {
        let mut connections: Vec<(TcpStream, JoinHandle<()>)> = Vec::new();
        while !stop(&shared).load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let Ok(handle_stream) = stream.try_clone() else {
                        continue;
                    };
                    let conn_shared = shared.clone();
                    let thread = std::thread::spawn(move || handle(handle_stream, &conn_shared));
                    connections.push((stream, thread));
                    connections.retain(|(_, thread)| !thread.is_finished());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        for (stream, _) in &connections {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for (_, thread) in connections {
            let _ = thread.join();
        }
    });
    (addr, accept)
}

fn handle(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut stream = stream;
    if shared.tunnel {
        let Ok(Some(head)) = read_head(&mut stream) else {
            return;
        };
        let request = parse_head(&head);
        let is_connect = request.method == "CONNECT";
        shared.log.lock().unwrap().push(request);
        if !is_connect {
            let _ = write_simple(&mut stream, 405, &[]);
            return;
        }
        if stream
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
    match &shared.tls {
        None => {
            let _ = serve(&mut stream, shared);
            let _ = stream.shutdown(Shutdown::Both);
        }
        Some(config) => {
            let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(connection, stream);
            if let Ok(End::Close) = serve(&mut tls, shared) {
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
            let _ = tls.sock.shutdown(Shutdown::Both);
        }
    }
}

fn serve(stream: &mut (impl Read + Write), shared: &Shared) -> io::Result<End> {
    let Some(head) = read_head(stream)? else {
        return Ok(End::Close);
    };
    let request = parse_head(&head);
    let method = request.method.clone();
    let target = request.target.clone();
    shared.log.lock().unwrap().push(request);

    let planned = {
        let mut routes = shared.routes.lock().unwrap();
        routes.get_mut(&target).map(|route| {
            let reply = if method == "GET" {
                route
                    .script
                    .pop_front()
                    .unwrap_or_else(|| route.then.clone())
            } else if method == "HEAD" {
                route.head.clone()
            } else {
                Reply::Body
            };
            (
                reply,
                route.body.clone(),
                route.delay,
                route.headers.clone(),
            )
        })
    };
    let Some((reply, body, delay, extra_headers)) = planned else {
        write_simple(stream, 404, &[])?;
        return Ok(End::Close);
    };
    if !pause(shared, delay) {
        return Ok(End::Abort);
    }
    let with_body = method != "HEAD";
    match reply {
        Reply::Body => {
            write_head(stream, 200, body.len(), &extra_headers)?;
            if with_body {
                send(
                    stream,
                    shared,
                    &target,
                    &body,
                    body.len().max(1),
                    Duration::ZERO,
                )?;
            }
            Ok(End::Close)
        }
        Reply::Status(status) => {
            write_simple(stream, status, &extra_headers)?;
            Ok(End::Close)
        }
        Reply::TooMany { retry_after } => {
            let more = [("Retry-After".to_string(), retry_after.to_string())];
            let mut all = extra_headers.clone();
            all.extend(more);
            write_simple(stream, 429, &all)?;
            Ok(End::Close)
        }
        Reply::DropAfter(bytes) => {
            write_head(stream, 200, body.len(), &extra_headers)?;
            let cut = bytes.min(body.len());
            send(
                stream,
                shared,
                &target,
                &body[..cut],
                cut.max(1),
                Duration::ZERO,
            )?;
            Ok(End::Abort)
        }
        Reply::ShortBody { missing } => {
            write_head(stream, 200, body.len() + missing, &extra_headers)?;
            send(
                stream,
                shared,
                &target,
                &body,
                body.len().max(1),
                Duration::ZERO,
            )?;
            Ok(End::Abort)
        }
        Reply::NoLength => {
            let mut text = String::from("HTTP/1.1 200 OK\r\nConnection: close\r\n");
            for (name, value) in &extra_headers {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
            text.push_str("\r\n");
            stream.write_all(text.as_bytes())?;
            if with_body {
                send(
                    stream,
                    shared,
                    &target,
                    &body,
                    body.len().max(1),
                    Duration::ZERO,
                )?;
            }
            stream.flush()?;
            Ok(End::Close)
        }
        Reply::Drip { chunk, every } => {
            write_head(stream, 200, body.len(), &extra_headers)?;
            if !send(stream, shared, &target, &body, chunk.max(1), every)? {
                return Ok(End::Abort);
            }
            Ok(End::Close)
        }
    }
}

/// Writes `data` in `chunk`-byte pieces, `every` apart, counting the bytes sent for `target`.
/// Returns false when the server is stopping.
fn send(
    stream: &mut impl Write,
    shared: &Shared,
    target: &str,
    data: &[u8],
    chunk: usize,
    every: Duration,
) -> io::Result<bool> {
    for (index, piece) in data.chunks(chunk.min(64 * 1024)).enumerate() {
        if index > 0 && !pause(shared, every) {
            return Ok(false);
        }
        stream.write_all(piece)?;
        stream.flush()?;
        *shared
            .sent
            .lock()
            .unwrap()
            .entry(target.to_string())
            .or_insert(0) += piece.len();
    }
    Ok(true)
}

/// Sleeps `duration` in short steps; false when the server is stopping.
fn pause(shared: &Shared, duration: Duration) -> bool {
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5).min(deadline - Instant::now()));
    }
    !shared.stop.load(Ordering::SeqCst)
}
