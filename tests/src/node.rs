//! Spawning and controlling `vectorizer serve` processes.
//!
//! Invariant: a [`Node`] owns its process and its temporary directory (data dir + stderr log); the
//! process never outlives the `Node` (dropped = SIGKILL), inherited `VECTORIZER__*` variables never
//! leak into it, and when a test panics the node's stderr tail is printed and its directory kept for
//! diagnosis.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::binary::vectorizer_bin;
use crate::http::Http;
use crate::poll::poll_until;

/// How a node is started.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Extra arguments after `serve --data-dir D --http-addr A`.
    pub args: Vec<String>,
    /// Extra environment variables (e.g. `VECTORIZER__STORAGE__FSYNC`).
    pub env: Vec<(String, String)>,
    /// `--http-addr`; port 0 (the default) picks a free port at every start.
    pub http_addr: String,
    /// How long to wait for the ready line.
    pub ready_timeout: Duration,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            args: Vec::new(),
            env: Vec::new(),
            http_addr: "127.0.0.1:0".into(),
            ready_timeout: Duration::from_secs(60),
        }
    }
}

impl NodeOptions {
    /// Adds command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// Why a node did not become ready.
#[derive(Debug)]
pub enum StartFailure {
    /// The process exited before printing the ready line.
    Exited { status: ExitStatus, stderr: String },
    /// No ready line before the deadline (the process was killed).
    Timeout { waited: Duration, stderr: String },
    /// The process could not be spawned.
    Spawn(std::io::Error),
    /// The ready line did not parse.
    BadReadyLine { line: String, stderr: String },
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exited { status, stderr } => {
                write!(f, "node exited before ready ({status}); stderr:\n{stderr}")
            }
            Self::Timeout { waited, stderr } => {
                write!(f, "node not ready after {waited:?}; stderr:\n{stderr}")
            }
            Self::Spawn(e) => write!(f, "cannot spawn the vectorizer binary: {e}"),
            Self::BadReadyLine { line, stderr } => {
                write!(f, "bad ready line {line:?}; stderr:\n{stderr}")
            }
        }
    }
}

/// A running (or stopped) `vectorizer serve` process with its own data directory.
#[derive(Debug)]
pub struct Node {
    opts: NodeOptions,
    root: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    stderr_path: PathBuf,
    child: Option<Child>,
    http_addr: Option<SocketAddr>,
    /// Address of the most recent successful start (kept after the process stops).
    last_addr: Option<SocketAddr>,
    /// The ready line of the most recent successful start.
    ready_line: Option<String>,
    starts: u32,
}

impl Node {
    /// Starts a node on a fresh data directory; panics (with its stderr) if it does not become ready.
    #[track_caller]
    pub fn start(opts: NodeOptions) -> Node {
        Self::try_start(opts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a node on a fresh data directory.
    pub fn try_start(opts: NodeOptions) -> Result<Node, StartFailure> {
        let root = tempfile::Builder::new().prefix("vectorizer-node-").tempdir().map_err(StartFailure::Spawn)?;
        let data_dir = root.path().join("data");
        let stderr_path = root.path().join("stderr.log");
        let mut node = Node {
            opts,
            root: Some(root),
            data_dir,
            stderr_path,
            child: None,
            http_addr: None,
            last_addr: None,
            ready_line: None,
            starts: 0,
        };
        node.spawn()?;
        Ok(node)
    }

    /// Starts the process again on the same data directory (stopping it with SIGTERM first if it
    /// runs); panics if it does not become ready.
    #[track_caller]
    pub fn restart(&mut self) {
        self.try_restart().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Like [`Node::restart`], returning the failure (for tests that expect a refusal).
    pub fn try_restart(&mut self) -> Result<(), StartFailure> {
        if self.is_running() {
            let status = self.terminate();
            assert!(status.success(), "node exited with {status} on SIGTERM before restart");
        }
        self.spawn()
    }

    /// Like [`Node::restart`] but listening on the port of the previous start, so peers that know the
    /// node's address (replicas, proxies) reach it again. Panics if it does not become ready.
    #[track_caller]
    pub fn restart_on_same_port(&mut self) {
        let previous = self.last_addr.unwrap_or_else(|| panic!("the node never started"));
        if self.is_running() {
            let status = self.terminate();
            assert!(status.success(), "node exited with {status} on SIGTERM before restart");
        }
        let configured = std::mem::replace(&mut self.opts.http_addr, previous.to_string());
        let result = self.spawn();
        self.opts.http_addr = configured;
        result.unwrap_or_else(|e| panic!("{e}"));
    }

    /// Like [`Node::restart_on_same_port`] (SIGTERM first if running) and also keeps the replication
    /// port: `--repl-addr` is pinned to the previous start's `repl_addr` for this and every later start, so replicas and
    /// proxies pointing at it reach the node again.
    #[track_caller]
    pub fn restart_on_same_ports(&mut self) {
        let repl = self.repl_addr().to_string();
        self.pin_repl_addr(&repl);
        self.restart_on_same_port();
    }

    fn pin_repl_addr(&mut self, addr: &str) {
        match self.opts.args.iter().position(|a| a == "--repl-addr") {
            Some(i) if i + 1 < self.opts.args.len() => self.opts.args[i + 1] = addr.to_owned(),
            _ => self.opts.args.extend(["--repl-addr".to_owned(), addr.to_owned()]),
        }
    }

    fn spawn(&mut self) -> Result<(), StartFailure> {
        self.starts += 1;
        let mut log =
            OpenOptions::new().create(true).append(true).open(&self.stderr_path).map_err(StartFailure::Spawn)?;
        writeln!(log, "===== start #{} =====", self.starts).map_err(StartFailure::Spawn)?;
        let mut cmd = Command::new(vectorizer_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--http-addr")
            .arg(&self.opts.http_addr)
            .args(&self.opts.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("VECTORIZER__")) {
                cmd.env_remove(name);
            }
        }
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut child = cmd.spawn().map_err(StartFailure::Spawn)?;
        let stdout = child.stdout.take().ok_or_else(|| StartFailure::Spawn(std::io::Error::other("no stdout pipe")))?;
        let ready = spawn_stdout_reader(stdout);
        self.child = Some(child);
        self.http_addr = None;

        let started = Instant::now();
        let line = loop {
            match ready.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(Duration::from_secs(10));
                    self.child = None;
                    return Err(match status {
                        Some(status) => StartFailure::Exited { status, stderr: self.stderr() },
                        None => StartFailure::Timeout { waited: started.elapsed(), stderr: self.stderr() },
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() > self.opts.ready_timeout => {
                    self.kill9();
                    return Err(StartFailure::Timeout { waited: started.elapsed(), stderr: self.stderr() });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        };
        let addr = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["http_addr"].as_str().and_then(|a| a.parse::<SocketAddr>().ok()));
        match addr {
            Some(addr) => {
                self.http_addr = Some(addr);
                self.last_addr = Some(addr);
                self.ready_line = Some(line);
                Ok(())
            }
            None => {
                self.kill9();
                Err(StartFailure::BadReadyLine { line, stderr: self.stderr() })
            }
        }
    }

    /// The HTTP address of the running process.
    #[track_caller]
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr.unwrap_or_else(|| panic!("node is not running"))
    }

    /// The ready line printed by the most recent successful start.
    pub fn ready_line(&self) -> Option<&str> {
        self.ready_line.as_deref()
    }

    /// A field of the most recent ready line, if present and a string.
    fn ready_field(&self, field: &str) -> Option<String> {
        let line = self.ready_line.as_deref()?;
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        value[field].as_str().map(str::to_owned)
    }

    /// The replication address of the most recent start (`repl_addr` of the ready line).
    #[track_caller]
    pub fn repl_addr(&self) -> SocketAddr {
        self.ready_field("repl_addr")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no repl_addr in the ready line {:?}", self.ready_line))
    }

    /// The node id of the most recent start (`node_id` of the ready line).
    #[track_caller]
    pub fn node_id(&self) -> String {
        self.ready_field("node_id").unwrap_or_else(|| panic!("no node_id in the ready line {:?}", self.ready_line))
    }

    /// A client for the running process.
    #[track_caller]
    pub fn http(&self) -> Http {
        Http::new(self.http_addr())
    }

    /// The data directory (kept across restarts).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Everything the process (all its starts) wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_else(|e| format!("(cannot read stderr log: {e})"))
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process id of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, then reaps the process. No-op when not running.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error means it already exited; wait() reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
        }
        self.http_addr = None;
    }

    /// SIGTERM, then waits (up to 60 s) for the exit status. Panics if it does not exit.
    #[track_caller]
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.pid().unwrap_or_else(|| panic!("terminate: node is not running"));
        let pid = libc::pid_t::try_from(pid).unwrap_or_else(|_| panic!("pid {pid} out of range"));
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped), and a valid signal.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed: {}", std::io::Error::last_os_error());
        let status = self.wait_exit(Duration::from_secs(60));
        match status {
            Some(status) => {
                self.child = None;
                self.http_addr = None;
                status
            }
            None => {
                self.kill9();
                panic!("node did not exit within 60 s of SIGTERM; stderr:\n{}", self.stderr());
            }
        }
    }

    /// Waits up to `timeout` for the process to exit; `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => return None,
            }
        }
    }

    /// Polls `GET /health` until it answers 200 (e.g. after a restart through a proxy).
    pub fn wait_healthy(&self, timeout: Duration) {
        let http = self.http().with_timeout(Duration::from_secs(5));
        poll_until(timeout, "GET /health answers 200", || {
            http.get("/health").ok().filter(|r| r.status == 200).map(|_| ())
        });
    }
}

/// Reads the child's stdout: sends the first ready line, then keeps draining so the child never blocks.
fn spawn_stdout_reader(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && line.contains(r#""event":"ready""#) {
                sent = tx.send(line).is_ok();
            }
        }
    });
    rx
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let stderr = self.stderr();
            let tail: Vec<&str> = stderr.lines().rev().take(80).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            if let Some(root) = self.root.take() {
                let kept = root.keep();
                eprintln!("--- node dir kept at {} ---", kept.display());
            }
            eprintln!("--- node stderr (last 80 lines) ---\n{}\n---", tail.join("\n"));
        }
    }
}

/// Appends `bytes` to the file at `path` (for corrupting data files in tests).
pub fn append_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().append(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Flips every bit of the byte at `offset` of the file at `path`.
pub fn flip_byte(path: &Path, offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    f.seek(SeekFrom::Start(offset))?;
    f.write_all(&[!b[0]])?;
    f.sync_all()
}

/// Files in `dir` whose name ends with `suffix`, sorted by name.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Size of the file at `path` (0 if missing).
pub fn file_len(path: &Path) -> u64 {
    File::open(path).and_then(|f| f.metadata()).map(|m| m.len()).unwrap_or(0)
}
