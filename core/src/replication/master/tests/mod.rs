//! Master tests: a real engine in a temporary directory, the real replication runtime on a
//! loopback port, and a small scripted replica speaking the protocol with `conn` + `Frame`.
//! No fixed sleeps: every wait polls with a deadline.

mod handshake;
mod health;
mod latency;
mod stats;
mod sync;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vectorizer_sdk_types as wire;

use crate::engine::{Engine, EngineConfig};
use crate::error::{CoreError, Result};
use crate::replication::auth;
use crate::replication::conn::{self, ByteCounters, FrameReader, FrameWriter};
use crate::replication::frame::{Frame, PROTOCOL_VERSION};
use crate::replication::history::EpochHistory;
use crate::replication::node::{Replication, Shared};
use crate::replication::registry::ReplicaEntry;
use crate::replication::{ReplicationConfig, master};
use crate::storage::FsyncPolicy;
use crate::storage::log::Record;

pub(super) const SECRET: &str = "s3cret";
pub(super) const MASTER_HTTP: &str = "127.0.0.1:15001";
/// Longest any single wait in these tests may take before the test fails.
pub(super) const PATIENCE: Duration = Duration::from_secs(20);
pub(super) const COLLECTION: &str = "docs";
pub(super) const DIM: u32 = 4;

pub(super) fn engine_config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.index_threads = 1;
    c.snapshot_every_ops = 0;
    c.snapshot_every_secs = 0;
    c.fsync = FsyncPolicy::Os;
    c
}

/// Long heartbeat and disconnect thresholds, so only what a test triggers happens.
pub(super) fn repl_config() -> ReplicationConfig {
    let mut c = ReplicationConfig::new("127.0.0.1:0", MASTER_HTTP);
    c.auth_secret = Some(SECRET.to_owned());
    c.heartbeat_interval = Duration::from_secs(60);
    c.health.disconnect_timeout = Duration::from_secs(30);
    c.node_id = Some("master-1".to_owned());
    c
}

/// A master node: engine + replication runtime.
pub(super) struct Master {
    /// Kept so the data directory lives as long as the node.
    _dir: tempfile::TempDir,
    pub engine: Arc<Engine>,
    pub repl: Arc<Replication>,
}

impl Master {
    pub async fn start() -> Master {
        Self::start_with(engine_config, repl_config()).await
    }

    pub async fn start_with(engine_cfg: impl Fn(&std::path::Path) -> EngineConfig, cfg: ReplicationConfig) -> Master {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(engine_cfg(dir.path())).expect("open engine");
        let repl = Replication::start(engine.clone(), cfg).await.expect("start replication");
        Master { _dir: dir, engine, repl }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        self.repl.shared()
    }

    pub fn addr(&self) -> SocketAddr {
        self.repl.repl_addr()
    }

    pub fn history(&self) -> EpochHistory {
        self.shared().history()
    }

    /// The registry entry of replica `id` (panics if unknown).
    pub fn entry(&self, id: &str) -> Arc<ReplicaEntry> {
        self.shared().registry.entries().into_iter().find(|e| e.id == id).expect("replica is registered")
    }

    /// Writes `n` operations (the first one creates the collection); returns the last offset.
    pub fn write(&self, n: u64) -> u64 {
        self.write_points(n, 1, 0)
    }

    /// Writes `n` operations of `points` points each, each point with a payload of about
    /// `payload_bytes` (the first operation creates the collection if needed).
    pub fn write_points(&self, n: u64, points: usize, payload_bytes: usize) -> u64 {
        let mut left = n;
        if self.engine.list_collections().collections.is_empty() && left > 0 {
            self.engine
                .create_collection(&wire::CreateCollectionRequest {
                    name: COLLECTION.into(),
                    dimension: DIM,
                    metric: wire::Metric::Cosine,
                    hnsw: None,
                })
                .expect("create collection");
            left -= 1;
        }
        for _ in 0..left {
            let base = self.engine.last_offset();
            let vectors = (0..points)
                .map(|i| wire::PointInput {
                    id: format!("p{base}-{i}"),
                    vector: (0..DIM).map(|d| ((base as usize * 31 + i * 7 + d as usize) % 97) as f32 + 1.0).collect(),
                    payload: (payload_bytes > 0).then(|| {
                        let mut p = wire::Payload::new();
                        p.insert("text".into(), serde_json::Value::String("x".repeat(payload_bytes)));
                        p
                    }),
                })
                .collect();
            self.engine.upsert(COLLECTION, wire::UpsertRequest { vectors }).expect("upsert");
        }
        self.engine.last_offset()
    }

    /// Every record of the log from `from` on.
    pub fn log_from(&self, from: u64) -> Vec<Record> {
        self.engine.log().read_from(from, usize::MAX).expect("read log")
    }

    pub async fn stop(self) {
        self.repl.shutdown().await;
        self.engine.shutdown().expect("engine shutdown");
    }
}

/// The scripted replica: one connection, its own byte counts of what crossed its socket.
pub(super) struct Peer {
    pub id: String,
    pub reader: FrameReader,
    pub writer: FrameWriter,
    /// Bytes this peer read from the socket.
    pub received: Arc<AtomicU64>,
    /// Bytes this peer wrote to the socket.
    pub sent: Arc<AtomicU64>,
}

impl Peer {
    pub async fn connect(addr: SocketAddr, id: &str) -> Peer {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (received, sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (mut reader, writer) = conn::split(
            stream,
            "master".into(),
            ByteCounters::new(vec![received.clone()]),
            ByteCounters::new(vec![sent.clone()]),
        );
        reader.authenticated();
        Peer { id: id.to_owned(), reader, writer, received, sent }
    }

    pub async fn send(&mut self, frame: &Frame) {
        self.writer.write(frame).await.expect("send");
    }

    pub async fn try_recv(&mut self) -> Result<Frame> {
        self.reader.read(PATIENCE).await
    }

    pub async fn recv(&mut self) -> Frame {
        self.try_recv().await.expect("receive a frame")
    }

    /// `Hello` from a replica that cannot roll back (its floor is its applied offset).
    pub async fn hello(&mut self, version: u16, history: EpochHistory, applied: u64) {
        self.hello_with_floor(version, history, applied, applied).await;
    }

    pub async fn hello_with_floor(&mut self, version: u16, history: EpochHistory, applied: u64, floor: u64) {
        let frame = Frame::Hello {
            version,
            replica_id: self.id.clone(),
            announce_http: "127.0.0.1:15003".into(),
            announce_repl: "127.0.0.1:7003".into(),
            history,
            applied_offset: applied,
            rollback_floor: floor,
        };
        self.send(&frame).await;
    }

    /// Answers the challenge with a proof made from `secret`.
    pub async fn prove(&mut self, secret: &str) {
        let Frame::Challenge { nonce, master_id } = self.recv().await else {
            panic!("expected a Challenge");
        };
        assert_eq!(master_id, "master-1");
        let proof = auth::proof(secret.as_bytes(), &nonce, &self.id);
        self.send(&Frame::AuthProof { proof }).await;
    }

    /// Full handshake; returns the peer and the master's answer (`Continue`, `FullSyncStart` or
    /// `Refused`).
    pub async fn join(addr: SocketAddr, id: &str, history: EpochHistory, applied: u64) -> (Peer, Frame) {
        let mut peer = Peer::connect(addr, id).await;
        peer.hello(PROTOCOL_VERSION, history, applied).await;
        peer.prove(SECRET).await;
        let answer = peer.recv().await;
        (peer, answer)
    }

    /// Reads `Records` (skipping heartbeats) until offset `last` arrived; returns them.
    pub async fn records_until(&mut self, last: u64) -> Vec<Record> {
        let mut got: Vec<Record> = Vec::new();
        while got.last().is_none_or(|r| r.offset < last) {
            match self.recv().await {
                Frame::Records { master_last_offset, records } => {
                    assert!(!records.is_empty());
                    assert!(master_last_offset >= records[records.len() - 1].offset);
                    got.extend(records);
                }
                Frame::MasterHeartbeat { .. } => {}
                other => panic!("expected Records, got {other:?}"),
            }
        }
        got
    }

    /// The master closes the connection (after sending nothing more than `allowed` frames).
    pub async fn expect_closed(&mut self, allowed: impl Fn(&Frame) -> bool) {
        loop {
            match self.try_recv().await {
                Ok(frame) => assert!(allowed(&frame), "unexpected {frame:?} before the close"),
                Err(CoreError::PeerClosed { .. } | CoreError::PeerIo { .. }) => return,
                Err(e) => panic!("expected the master to close the connection, got {e}"),
            }
        }
    }
}

/// Consecutive offsets `from..=to`, each record equal to the master's.
pub(super) fn assert_same_records(got: &[Record], expected: &[Record]) {
    assert_eq!(got.len(), expected.len(), "record count");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(g, e, "record {}", e.offset);
    }
}

/// Polls `check` until it holds, failing the test after [`PATIENCE`].
pub(super) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub(super) fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::SeqCst)
}

/// Runs the master's health tick as if the clock read `now_ms`.
pub(super) fn tick(master: &Master, now_ms: u64) {
    master::on_tick(master.shared(), now_ms);
}
