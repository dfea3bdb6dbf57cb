//! The HTTP/1.1 wire format of the loopback server: reading a request head, writing a
//! response head or a short status response.

use std::io::{self, Read, Write};
use std::time::Instant;

use super::server::Request;

/// Reads up to the blank line ending a request head; `None` at EOF or past 64 KiB.
pub fn read_head(stream: &mut impl Read) -> io::Result<Option<String>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            return Ok(Some(String::from_utf8_lossy(&buffer[..end]).into_owned()));
        }
        if buffer.len() > 64 * 1024 {
            return Ok(None);
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// The method, target and headers (names lower-cased) of a request head.
pub fn parse_head(head: &str) -> Request {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let target = request_line.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Request {
        method,
        target,
        headers,
        at: Instant::now(),
    }
}

/// A response head announcing `length` body bytes.
pub fn write_head(
    stream: &mut impl Write,
    status: u16,
    length: usize,
    headers: &[(String, String)],
) -> io::Result<()> {
    let mut text = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {length}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n",
        reason(status)
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes())?;
    stream.flush()
}

/// A whole response: `status` with a one-line text body.
pub fn write_simple(
    stream: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
) -> io::Result<()> {
    let body = format!("fixture server: {status} {}\n", reason(status));
    let mut text = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&body);
    stream.write_all(text.as_bytes())?;
    stream.flush()
}

/// The reason phrase of `status`.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Fixture Status",
    }
}
