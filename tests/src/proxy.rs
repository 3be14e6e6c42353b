//! A TCP fault-injection proxy for replication and failover tests.
//!
//! `Proxy::start(upstream)` listens on an ephemeral loopback port and forwards every accepted
//! connection to `upstream`, in both directions, with runtime controls:
//! - [`Proxy::set_delay`]: hold every chunk read in one direction for a duration before writing it;
//! - [`Proxy::stall`] / [`Proxy::resume`]: stop forwarding (sockets stay open, TCP back-pressure
//!   builds up) and start again;
//! - [`Proxy::cut`]: close every current connection (both sockets), new ones are still accepted;
//! - [`Proxy::refuse`]: accept-and-close new connections immediately (the listening port stays bound,
//!   so clients see the connection closed rather than `ECONNREFUSED`);
//! - [`Proxy::corrupt_once`]: flip every bit of the byte at a given position of one direction of
//!   the first connection whose stream reaches it (once; byte counts are unchanged).
//!
//! Invariant: the byte counter of a direction is exactly the number of bytes successfully written to
//! the destination in that direction, summed over all connections; order within a direction is kept.
//! Each direction of a connection is a reader thread and a writer thread joined by a bounded queue.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Chunks a reader may queue ahead of its writer (bounded memory per direction).
const QUEUE_CHUNKS: usize = 64;
const CHUNK_BYTES: usize = 64 * 1024;

/// A direction of traffic through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the connecting client to the upstream server.
    ClientToUpstream,
    /// From the upstream server back to the client.
    UpstreamToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Self::ClientToUpstream => 0,
            Self::UpstreamToClient => 1,
        }
    }
}

#[derive(Debug, Default)]
struct Controls {
    delay: [Duration; 2],
    stalled: bool,
    refuse: bool,
    stopping: bool,
    /// Armed corruption per direction: position within one connection's stream.
    corrupt_at: [Option<u64>; 2],
}

/// Liveness of one proxied connection, shared by its four threads.
#[derive(Debug, Default)]
struct ConnState {
    /// Set by `cut`, by a failed write, or when both directions finished.
    closed: AtomicBool,
    /// Directions whose writer has ended.
    finished: AtomicUsize,
}

impl ConnState {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn direction_finished(&self) {
        if self.finished.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
            self.closed.store(true, Ordering::SeqCst);
        }
    }
}

#[derive(Debug)]
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    state: Arc<ConnState>,
}

impl Conn {
    fn close(&self) {
        self.state.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    controls: Mutex<Controls>,
    changed: Condvar,
    forwarded: [AtomicU64; 2],
    conns: Mutex<Vec<Conn>>,
    accepted: AtomicU64,
    corrupted: AtomicU64,
}

impl Shared {
    fn controls(&self) -> MutexGuard<'_, Controls> {
        self.controls.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn conns(&self) -> MutexGuard<'_, Vec<Conn>> {
        self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Blocks while stalled; false if the connection was closed meanwhile.
    fn wait_not_stalled(&self, conn: &ConnState) -> bool {
        let mut c = self.controls();
        while c.stalled && !c.stopping && !conn.is_closed() {
            c = self.changed.wait(c).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        !conn.is_closed() && !c.stopping
    }

    /// Applies an armed corruption of `dir` if it falls in `chunk`, which starts at `position` of its
    /// connection's stream.
    fn maybe_corrupt(&self, dir: Direction, position: u64, chunk: &mut [u8]) {
        let mut c = self.controls();
        let Some(at) = c.corrupt_at[dir.index()] else { return };
        if let Some(i) = at.checked_sub(position).and_then(|i| usize::try_from(i).ok()).filter(|&i| i < chunk.len()) {
            chunk[i] = !chunk[i];
            c.corrupt_at[dir.index()] = None;
            self.corrupted.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Blocks until `received + delay(dir)` has passed and forwarding is not stalled; false if the
    /// connection was closed meanwhile. Re-reads the controls so changes apply to queued chunks.
    fn wait_due(&self, dir: Direction, received: Instant, conn: &ConnState) -> bool {
        let mut c = self.controls();
        loop {
            if conn.is_closed() || c.stopping {
                return false;
            }
            let due = received + c.delay[dir.index()];
            let now = Instant::now();
            if !c.stalled && now >= due {
                return true;
            }
            let wait = if c.stalled { Duration::from_secs(3600) } else { due - now };
            c = self.changed.wait_timeout(c, wait).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
    }
}

/// A running proxy; dropping it closes every connection and stops the listener.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            controls: Mutex::new(Controls::default()),
            changed: Condvar::new(),
            forwarded: [AtomicU64::new(0), AtomicU64::new(0)],
            conns: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
            corrupted: AtomicU64::new(0),
        });
        let acceptor_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name(format!("proxy-accept-{addr}"))
            .spawn(move || accept_loop(&listener, &acceptor_shared))?;
        Ok(Proxy { addr, shared, acceptor: Some(acceptor) })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The upstream address.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Bytes written to the destination in `dir` so far, over all connections.
    pub fn bytes(&self, dir: Direction) -> u64 {
        self.shared.forwarded[dir.index()].load(Ordering::SeqCst)
    }

    /// Connections accepted and forwarded so far (refused ones not counted).
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.shared.conns().iter().filter(|c| !c.state.is_closed()).count()
    }

    /// Holds every chunk travelling in `dir` for `delay` after it was read (applies to queued chunks too).
    pub fn set_delay(&self, dir: Direction, delay: Duration) {
        self.shared.controls().delay[dir.index()] = delay;
        self.shared.changed.notify_all();
    }

    /// Stops forwarding in both directions; sockets stay open.
    pub fn stall(&self) {
        self.shared.controls().stalled = true;
        self.shared.changed.notify_all();
    }

    /// Resumes forwarding after [`Proxy::stall`].
    pub fn resume(&self) {
        self.shared.controls().stalled = false;
        self.shared.changed.notify_all();
    }

    /// Closes every current connection (both sides). New connections are still accepted.
    pub fn cut(&self) {
        let conns = std::mem::take(&mut *self.shared.conns());
        for conn in &conns {
            conn.close();
        }
        self.shared.changed.notify_all();
    }

    /// While `on`, new connections are accepted and closed at once.
    pub fn refuse(&self, on: bool) {
        self.shared.controls().refuse = on;
    }

    /// Arms a one-shot corruption: the byte at `position` (0-based, counted from the start of one
    /// connection's stream in `dir`) of the first connection that reaches it is inverted. Byte
    /// counters are unaffected. Re-arming replaces an armed position.
    pub fn corrupt_once(&self, dir: Direction, position: u64) {
        self.shared.controls().corrupt_at[dir.index()] = Some(position);
    }

    /// Bytes corrupted so far.
    pub fn corrupted(&self) -> u64 {
        self.shared.corrupted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.controls().stopping = true;
        self.shared.changed.notify_all();
        self.cut();
        // Wake the blocking accept() so the thread sees `stopping`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for incoming in listener.incoming() {
        let (stopping, refuse) = {
            let c = shared.controls();
            (c.stopping, c.refuse)
        };
        if stopping {
            return;
        }
        let Ok(client) = incoming else { continue };
        if refuse {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        shared.conns().retain(|c| !c.state.is_closed());
        if let Err(e) = start_connection(client, shared) {
            // The upstream is down or a thread could not start: the client sees its socket closed.
            eprintln!("proxy {}: connection not forwarded: {e}", shared.upstream);
        }
    }
}

fn start_connection(client: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    let upstream = match TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => {
            let _ = client.shutdown(Shutdown::Both);
            return Err(e);
        }
    };
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let state = Arc::new(ConnState::default());
    shared.conns().push(Conn {
        client: client.try_clone()?,
        upstream: upstream.try_clone()?,
        state: Arc::clone(&state),
    });
    shared.accepted.fetch_add(1, Ordering::SeqCst);
    pump(client.try_clone()?, upstream.try_clone()?, Direction::ClientToUpstream, shared, &state)?;
    pump(upstream, client, Direction::UpstreamToClient, shared, &state)?;
    Ok(())
}

/// Starts the reader and writer threads of one direction.
fn pump(from: TcpStream, to: TcpStream, dir: Direction, shared: &Arc<Shared>, conn: &Arc<ConnState>) -> io::Result<()> {
    let (tx, rx) = sync_channel::<(Instant, Vec<u8>)>(QUEUE_CHUNKS);
    let (s1, c1) = (Arc::clone(shared), Arc::clone(conn));
    std::thread::Builder::new().name(format!("proxy-read-{dir:?}")).spawn(move || read_side(from, &tx, &s1, &c1))?;
    let (s2, c2) = (Arc::clone(shared), Arc::clone(conn));
    std::thread::Builder::new()
        .name(format!("proxy-write-{dir:?}"))
        .spawn(move || write_side(to, &rx, dir, &s2, &c2))?;
    Ok(())
}

fn read_side(mut from: TcpStream, tx: &SyncSender<(Instant, Vec<u8>)>, shared: &Shared, conn: &ConnState) {
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        if !shared.wait_not_stalled(conn) {
            return;
        }
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return, // EOF or closed: dropping `tx` lets the writer finish and half-close.
            Ok(n) => {
                if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
}

fn write_side(mut to: TcpStream, rx: &Receiver<(Instant, Vec<u8>)>, dir: Direction, shared: &Shared, conn: &ConnState) {
    let mut position = 0u64;
    for (received, mut chunk) in rx {
        if !shared.wait_due(dir, received, conn) {
            conn.direction_finished();
            return;
        }
        shared.maybe_corrupt(dir, position, &mut chunk);
        position += chunk.len() as u64;
        if to.write_all(&chunk).is_err() {
            // The destination is gone: close the whole connection so the other side notices.
            conn.closed.store(true, Ordering::SeqCst);
            let _ = to.shutdown(Shutdown::Both);
            conn.direction_finished();
            return;
        }
        shared.forwarded[dir.index()].fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
    // The source reached EOF: propagate the half-close.
    let _ = to.shutdown(Shutdown::Write);
    conn.direction_finished();
}
