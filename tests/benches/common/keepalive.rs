//! A blocking HTTP/1.1 client that keeps one connection open across requests (keep-alive), for
//! benchmarks.
//!
//! Invariant: requests on one [`KeepAlive`] are strictly sequential on one TCP connection; the whole
//! answer is read (by `Content-Length` or chunked encoding) before the next request is written, so
//! the connection is always at a message boundary. A broken connection is dropped and the next
//! request reconnects; [`KeepAlive::connects`] counts how often that happened so a benchmark can
//! tell "keep-alive" from "a new connection per request".
//!
//! The harness's `Http` opens a connection per request (right for crash tests, wrong for
//! throughput: connection setup would dominate a 0.3 ms search).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Answers larger than this are refused.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One keep-alive connection to a node.
#[derive(Debug)]
pub struct KeepAlive {
    addr: SocketAddr,
    timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
    connects: u64,
    head: Vec<u8>,
}

impl KeepAlive {
    /// A client for `addr`; connects lazily.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, timeout: Duration::from_secs(60), conn: None, connects: 0, head: Vec::with_capacity(256) }
    }

    /// How many TCP connections were opened so far.
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// `GET path` -> (status, body).
    pub fn get(&mut self, path: &str) -> io::Result<(u16, Vec<u8>)> {
        self.request("GET", path, None)
    }

    /// `method path` with an optional JSON body -> (status, body).
    pub fn request(&mut self, method: &str, path: &str, json: Option<&[u8]>) -> io::Result<(u16, Vec<u8>)> {
        let result = self.try_request(method, path, json);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn connection(&mut self) -> io::Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, self.timeout)?;
            stream.set_read_timeout(Some(self.timeout))?;
            stream.set_write_timeout(Some(self.timeout))?;
            stream.set_nodelay(true)?;
            self.connects += 1;
            self.conn = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        self.conn.as_mut().ok_or_else(|| io::Error::other("no connection"))
    }

    fn try_request(&mut self, method: &str, path: &str, json: Option<&[u8]>) -> io::Result<(u16, Vec<u8>)> {
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        let body = json.unwrap_or_default();
        write!(head, "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.addr, body.len())?;
        if json.is_some() {
            head.extend_from_slice(b"Content-Type: application/json\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let conn = self.connection()?;
        {
            let stream = conn.get_mut();
            if body.len() < 16 * 1024 {
                // One write for small requests: avoids a second segment per search.
                let mut whole = head.clone();
                whole.extend_from_slice(body);
                stream.write_all(&whole)?;
            } else {
                stream.write_all(&head)?;
                stream.write_all(body)?;
            }
        }
        let answer = read_response(conn);
        self.head = head;
        let (status, body, close) = answer?;
        if close {
            self.conn = None;
        }
        Ok((status, body))
    }
}

fn bad(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Reads one response: (status, body, server asked to close).
fn read_response(conn: &mut BufReader<TcpStream>) -> io::Result<(u16, Vec<u8>, bool)> {
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the status line"));
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let mut length = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside the headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else { return Err(bad(format!("bad header {header:?}"))) };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| bad(format!("bad content-length {value:?}")))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let body = if chunked {
        read_chunked(conn)?
    } else if let Some(length) = length {
        if length > MAX_BODY {
            return Err(bad(format!("answer of {length} bytes is larger than {MAX_BODY}")));
        }
        let mut body = vec![0; length];
        conn.read_exact(&mut body)?;
        body
    } else {
        // No length: the body runs to the end of the connection.
        let mut body = Vec::new();
        conn.take(MAX_BODY as u64).read_to_end(&mut body)?;
        close = true;
        body
    };
    Ok((status, body, close))
}

fn read_chunked(conn: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let size_text = line.trim_end().split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        if body.len() + size > MAX_BODY {
            return Err(bad(format!("chunked answer larger than {MAX_BODY}")));
        }
        if size == 0 {
            // Trailers (none expected) end with an empty line.
            loop {
                line.clear();
                if conn.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        conn.read_exact(&mut crlf)?;
    }
}
