//! A minimal blocking HTTP/1.1 client over `std::net::TcpStream`, for talking to test nodes.
//!
//! Invariant: one request per connection (`Connection: close`), the whole answer is read before it is
//! returned, and every failure (refused, reset, truncated answer, timeout) is an `io::Error` rather than
//! a panic, so crash tests can tell "not acknowledged" from "acknowledged". It can also send what a
//! well-behaved client would not (wrong content types, broken JSON) to test the server's rejections.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Default connect/read/write timeout of a request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers larger than this are refused (test answers are small).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// A client for one node's address.
#[derive(Debug, Clone)]
pub struct Http {
    addr: SocketAddr,
    timeout: Duration,
}

/// A complete HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON; panics with the body text when it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("answer {} is not JSON ({e}): {}", self.status, String::from_utf8_lossy(&self.body))
        })
    }

    /// The body as `T`; panics with the body text when it does not parse.
    #[track_caller]
    pub fn parse<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer {} does not parse as {} ({e}): {}",
                self.status,
                std::any::type_name::<T>(),
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// `error.code` of an error answer, if the body has one.
    pub fn error_code(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        v["error"]["code"].as_str().map(str::to_owned)
    }

    /// `error.message` of an error answer, if the body has one.
    pub fn error_message(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        v["error"]["message"].as_str().map(str::to_owned)
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Http {
    /// A client for `addr` with [`DEFAULT_TIMEOUT`].
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, timeout: DEFAULT_TIMEOUT }
    }

    /// The same client with another timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The address requests go to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> io::Result<Response> {
        self.request("GET", path, None, &[])
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> io::Result<Response> {
        self.request("DELETE", path, None, &[])
    }

    /// `POST path` without a body.
    pub fn post_empty(&self, path: &str) -> io::Result<Response> {
        self.request("POST", path, None, &[])
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> io::Result<Response> {
        self.request("POST", path, Some("application/json"), body.to_string().as_bytes())
    }

    /// `PUT path` with a JSON body.
    pub fn put_json(&self, path: &str, body: &Value) -> io::Result<Response> {
        self.request("PUT", path, Some("application/json"), body.to_string().as_bytes())
    }

    /// Any request with raw body bytes and an optional `Content-Type`.
    pub fn request(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> io::Result<Response> {
        let mut stream = TcpStream::connect_timeout(&self.addr, self.timeout)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        stream.set_nodelay(true)?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;
        let mut raw = Vec::new();
        stream.take(MAX_RESPONSE_BYTES as u64 + 1).read_to_end(&mut raw)?;
        if raw.len() > MAX_RESPONSE_BYTES {
            return Err(invalid(format!("answer larger than {MAX_RESPONSE_BYTES} bytes")));
        }
        parse_response(&raw)
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn parse_response(raw: &[u8]) -> io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "answer ended inside the headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|e| invalid(format!("non-UTF-8 headers: {e}")))?;
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line.split_once(':').ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let find = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        decode_chunked(rest)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().map_err(|_| invalid(format!("bad content-length {len:?}")))?;
        if rest.len() < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("answer body truncated: {} of {len} bytes", rest.len()),
            ));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, headers, body })
}

fn decode_chunked(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "chunked answer truncated");
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").ok_or_else(eof)?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| invalid("bad chunk size".into()))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if data.len() < size + 2 {
            return Err(eof());
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        let r = parse_response(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}").expect("plain");
        assert_eq!((r.status, r.body.as_slice(), r.header("x-a")), (201, &b"{}"[..], Some("b")));
        let r =
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                .expect("chunked");
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn truncated_answers_are_errors() {
        let e = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").expect_err("short");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let e = parse_response(b"HTTP/1.1 200 OK\r\nContent-Le").expect_err("in headers");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab").is_err());
    }
}
