//! A loopback HTTP/1.1 server (optionally TLS with a throwaway CA) that serves fixture
//! artifacts, logs every request, and plays scripted faults. It stops when dropped.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a route misbehaves.
#[derive(Clone, Debug)]
pub enum Fault {
    None,
    /// Successive requests get these statuses (with an empty body); later ones get the body.
    Statuses(Vec<u16>),
    /// 429 with `Retry-After: secs` for the first `times` requests.
    TooManyRequests {
        times: usize,
        retry_after: u64,
    },
    /// The first `times` requests announce the full length but the connection closes after `bytes`.
    DropAfter {
        bytes: usize,
        times: usize,
    },
    /// Every response is sent in `chunk`-byte pieces with `delay` between them.
    Slow {
        chunk: usize,
        delay: Duration,
    },
    /// No Content-Length; the body is sent followed by `extra` more bytes, then close.
    Longer {
        extra: usize,
    },
    /// No Content-Length on HEAD or GET (the body ends when the connection closes).
    NoLength,
}

struct Route {
    body: Vec<u8>,
    fault: Fault,
    hits: usize,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
}

pub struct Server {
    addr: SocketAddr,
    scheme: &'static str,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A CA certificate (PEM, for SSL_CERT_FILE) and a server config whose leaf it signed.
pub struct Tls {
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

impl Tls {
    pub fn throwaway() -> Tls {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "op test fixture CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        Tls {
            ca_pem: ca_cert.pem(),
            config: Arc::new(config),
        }
    }

    pub fn write_ca(&self, path: &Path) {
        std::fs::write(path, &self.ca_pem).unwrap();
    }
}

impl Server {
    pub fn http() -> Server {
        Server::start(None)
    }

    pub fn https(tls: &Tls) -> Server {
        Server::start(Some(Arc::clone(&tls.config)))
    }

    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let log: Arc<Mutex<Vec<Request>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (routes, log, stop) = (Arc::clone(&routes), Arc::clone(&log), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (routes, log, tls) =
                                (Arc::clone(&routes), Arc::clone(&log), tls.clone());
                            std::thread::spawn(move || {
                                let _ = serve(stream, tls, &routes, &log);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Server {
            addr,
            scheme,
            routes,
            log,
            stop,
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Serves `body` at `path` (e.g. `/github.com/acme/x.tar.gz`).
    pub fn route(&self, path: &str, body: Vec<u8>, fault: Fault) {
        self.routes.lock().unwrap().insert(
            path.to_string(),
            Route {
                body,
                fault,
                hits: 0,
            },
        );
    }

    /// Serves every file under `dir` at `/<its path relative to dir>`.
    pub fn serve_dir(&self, dir: &Path) {
        fn walk(root: &Path, dir: &Path, server: &Server) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, server);
                } else {
                    let relative = path
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    server.route(
                        &format!("/{relative}"),
                        std::fs::read(&path).unwrap(),
                        Fault::None,
                    );
                }
            }
        }
        walk(dir, dir, self);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    pub fn gets(&self, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|request| request.method == "GET" && request.path == path)
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn serve(
    tcp: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    routes: &Mutex<HashMap<String, Route>>,
    log: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut stream: Box<dyn Stream> = match tls {
        Some(config) => {
            let connection =
                rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
            Box::new(rustls::StreamOwned::new(connection, tcp))
        }
        None => Box::new(tcp),
    };
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
        if stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let path = words.next().unwrap_or_default().to_string();
    log.lock().unwrap().push(Request {
        method: method.clone(),
        path: path.clone(),
    });
    let (body, fault, hit) = {
        let mut routes = routes.lock().unwrap();
        match routes.get_mut(&path) {
            None => (None, Fault::None, 0),
            Some(route) => {
                route.hits += 1;
                (Some(route.body.clone()), route.fault.clone(), route.hits)
            }
        }
    };
    let Some(body) = body else {
        return respond(&mut *stream, 404, &[], b"not found");
    };
    let head_only = method == "HEAD";
    match fault {
        Fault::Statuses(statuses) if hit <= statuses.len() => {
            respond(&mut *stream, statuses[hit - 1], &[], b"")
        }
        Fault::TooManyRequests { times, retry_after } if hit <= times => respond(
            &mut *stream,
            429,
            &[("Retry-After", retry_after.to_string())],
            b"",
        ),
        Fault::DropAfter { bytes, times } if hit <= times => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body[..bytes.min(body.len())])?;
            stream.flush()
        }
        Fault::Slow { chunk, delay } => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            if head_only {
                return stream.flush();
            }
            for piece in body.chunks(chunk.max(1)) {
                stream.write_all(piece)?;
                stream.flush()?;
                std::thread::sleep(delay);
            }
            Ok(())
        }
        Fault::NoLength => {
            write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            if !head_only {
                stream.write_all(&body)?;
            }
            stream.flush()
        }
        Fault::Longer { extra } => {
            write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            stream.write_all(&body)?;
            stream.write_all(&vec![b'x'; extra])?;
            stream.flush()
        }
        _ if head_only => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.flush()
        }
        _ => respond(&mut *stream, 200, &[], &body),
    }
}

fn respond(
    stream: &mut dyn Stream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    )?;
    for (name, value) in headers {
        write!(stream, "{name}: {value}\r\n")?;
    }
    write!(stream, "\r\n")?;
    stream.write_all(body)?;
    stream.flush()
}
