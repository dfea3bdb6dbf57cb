//! Waits until the started registry answers `GET /v2/` over TLS on a real socket: HTTP 200, or
//! 401 when it asks for credentials. Every connect, handshake and read is bounded, and so is the
//! whole wait.
//!
//! The probe does not verify the registry's certificate: it sends nothing but the request line
//! and reads only the status, and the certificate op trusts is the one copied out of the
//! container afterwards, never one learned from this connection.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Where the registry `op start-registry` runs listens.
pub const DEFAULT_BASE: &str = "https://localhost:5001";
/// The longest one connect, handshake or read may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const PAUSE: Duration = Duration::from_millis(250);
/// A status line longer than this is not a registry's.
const STATUS_LINE_CAP: usize = 8 * 1024;

/// The registry's `/v2/` endpoint.
pub struct Endpoint {
    url: Url,
}

impl Endpoint {
    /// `base` is `https://HOST:PORT`; the probe asks for `/v2/` there.
    pub fn parse(base: &str) -> Result<Endpoint, String> {
        let parsed = Url::parse(base).map_err(|error| format!("{base}: {error}"))?;
        if parsed.scheme() != "https" || parsed.host().is_none() {
            return Err(format!("{base}: give an https://HOST:PORT URL"));
        }
        let url = parsed
            .join("/v2/")
            .map_err(|error| format!("{base}: {error}"))?;
        Ok(Endpoint { url })
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    fn server_name(&self) -> Result<ServerName<'static>, String> {
        let host = self.url.host_str().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
            Err(_) => {
                ServerName::try_from(bare.to_string()).map_err(|error| format!("{host}: {error}"))
            }
        }
    }

    /// `Host:` as the request sends it.
    fn authority(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }
}

/// Asks until the registry answers 200 or 401 (its status) or `timeout` passes (what the last
/// attempt saw: "connection refused", "HTTP 503", …). At least one attempt is made.
pub fn wait(endpoint: &Endpoint, timeout: Duration) -> Result<u16, String> {
    let deadline = Instant::now() + timeout;
    let config = client_config();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let last = match attempt(endpoint, &config, remaining) {
            Ok(status) if status == 200 || status == 401 => return Ok(status),
            Ok(status) => format!("HTTP {status}"),
            Err(error) => error,
        };
        if Instant::now() + PAUSE >= deadline {
            return Err(last);
        }
        std::thread::sleep(PAUSE);
    }
}

/// One connection: the status code of `GET /v2/`, or why there was none.
fn attempt(
    endpoint: &Endpoint,
    config: &Arc<rustls::ClientConfig>,
    remaining: Duration,
) -> Result<u16, String> {
    let timeout = ATTEMPT_TIMEOUT
        .min(remaining)
        .max(Duration::from_millis(100));
    let deadline = Instant::now() + timeout;
    let addresses = endpoint
        .url
        .socket_addrs(|| None)
        .map_err(|error| error.to_string())?;
    let mut last = "no address to connect to".to_string();
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => return exchange(endpoint, config, stream, timeout, deadline),
            Err(error) => last = describe(&error, timeout),
        }
    }
    Err(last)
}

fn exchange(
    endpoint: &Endpoint,
    config: &Arc<rustls::ClientConfig>,
    stream: TcpStream,
    timeout: Duration,
    deadline: Instant,
) -> Result<u16, String> {
    let failed = |error: io::Error| describe(&error, timeout);
    stream.set_read_timeout(Some(timeout)).map_err(failed)?;
    stream.set_write_timeout(Some(timeout)).map_err(failed)?;
    let connection = rustls::ClientConnection::new(config.clone(), endpoint.server_name()?)
        .map_err(|error| error.to_string())?;
    let mut tls = rustls::StreamOwned::new(connection, stream);
    let request = format!(
        "GET /v2/ HTTP/1.1\r\nHost: {}\r\nUser-Agent: op\r\nConnection: close\r\n\r\n",
        endpoint.authority()
    );
    tls.write_all(request.as_bytes()).map_err(failed)?;
    tls.flush().map_err(failed)?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 512];
    while !head.windows(2).any(|pair| pair == b"\r\n") {
        if Instant::now() >= deadline || head.len() > STATUS_LINE_CAP {
            return Err(format!("no status line within {} s", timeout.as_secs_f32()));
        }
        let read = tls.read(&mut chunk).map_err(failed)?;
        if read == 0 {
            return Err("the connection closed without an answer".to_string());
        }
        head.extend_from_slice(&chunk[..read]);
    }
    status_of(&head).ok_or_else(|| "an answer that is not HTTP".to_string())
}

/// The status code of an HTTP/1 status line at the start of `head`.
fn status_of(head: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(head);
    let mut words = text.lines().next()?.split(' ');
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = words.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

fn describe(error: &io::Error, timeout: Duration) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("no answer within {} s", timeout.as_secs_f32())
        }
        _ => error.to_string(),
    }
}

fn client_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

/// Accepts whichever certificate the registry presents (see the module comment); the handshake
/// signatures are still checked, so the connection is a real TLS one.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let default = Endpoint::parse(DEFAULT_BASE).unwrap();
        assert_eq!(default.url(), "https://localhost:5001/v2/");
        assert_eq!(default.authority(), "localhost:5001");
        assert!(Endpoint::parse("http://localhost:5001").is_err());
        assert!(Endpoint::parse("localhost:5001").is_err());
        assert_eq!(
            Endpoint::parse("https://[::1]:5001").unwrap().url(),
            "https://[::1]:5001/v2/"
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 401 Unauthorized\r\n"), Some(401));
        assert_eq!(status_of(b"HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_of(b"HTTP/1.1 20 x\r\n"), None);
    }
}
