//! Test support: a scripted loopback HTTP server (for fixtures and routing) and a real
//! `vectorizer` process launcher (for live tests).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The repository's `tests/fixtures/replication/<name>` as text.
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/replication").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// One request as the stub server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
}

type Handler = dyn Fn(&Seen) -> (u16, String) + Send + Sync;

/// A loopback HTTP/1.1 server answering every request with `handler(request)`.
pub struct StubServer {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StubServer {
    pub async fn start(handler: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen_by_task = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let seen = seen_by_task.clone();
                tokio::spawn(async move { serve_one(stream, handler, seen).await });
            }
        });
        Self { url, seen, task }
    }

    /// `METHOD path` of every request seen so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("lock").iter().map(|s| format!("{} {}", s.method, s.path)).collect()
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(mut stream: TcpStream, handler: Arc<Handler>, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
    let request = Seen { method, path, body };
    let (status, reply) = handler(&request);
    seen.lock().expect("lock").push(request);
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A real `vectorizer serve` process on an ephemeral loopback port; killed on drop.
pub struct Vectorizer {
    pub url: String,
    /// The replication address from the ready line (null without `--repl-addr`).
    pub repl_addr: Option<String>,
    child: Child,
    _dir: tempfile::TempDir,
}

/// The `vectorizer` binary named by `VECTORIZER_BIN`, if set.
pub fn vectorizer_bin() -> Option<PathBuf> {
    std::env::var_os("VECTORIZER_BIN").map(PathBuf::from)
}

impl Vectorizer {
    /// Starts `bin serve --data-dir <tmp> --http-addr 127.0.0.1:0 <extra>` and waits (deadline 60 s)
    /// for its `{"event":"ready","http_addr":...}` line.
    pub fn start(bin: &PathBuf, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(bin)
            .args(["serve", "--data-dir"])
            .arg(dir.path())
            .args(["--http-addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["event"] == "ready"
                {
                    let http = v["http_addr"].as_str().unwrap_or_default().to_owned();
                    let _ = tx.send((http, v["repl_addr"].as_str().map(str::to_owned)));
                }
            }
        });
        let (addr, repl_addr) = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addrs) => addrs,
            Err(e) => {
                let _ = child.kill();
                panic!("vectorizer did not print its ready line: {e}");
            }
        };
        Self { url: format!("http://{addr}"), repl_addr, child, _dir: dir }
    }
}

impl Drop for Vectorizer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
