//! A small scripted master for the replica's tests: it speaks the protocol over a real loopback
//! socket with `conn` and `Frame`, counts its bytes exactly like the real one, and lets each test
//! decide what to send and when.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::engine::Engine;
use crate::error::CoreError;
use crate::replication::auth;
use crate::replication::conn::{self, ByteCounters, FrameReader, FrameWriter};
use crate::replication::frame::{Frame, RECORDS_FRAME_TARGET_BYTES, RefuseCode};
use crate::replication::history::EpochHistory;
use crate::storage::log::Record;
use crate::storage::snapshot::{self, SnapshotChunk};

/// HTTP address the scripted master announces.
pub const MASTER_HTTP: &str = "127.0.0.1:19002";
/// Longest a test waits for anything.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The listening side.
pub struct ScriptedMaster {
    listener: TcpListener,
    pub addr: String,
    secret: String,
    /// Bytes read from / written to every replica connection.
    pub read: Arc<AtomicU64>,
    pub written: Arc<AtomicU64>,
}

/// What the replica said in its Hello.
#[derive(Debug, Clone)]
pub struct HelloInfo {
    pub replica_id: String,
    pub history: EpochHistory,
    pub applied_offset: u64,
}

/// One accepted replica connection.
pub struct MasterConn {
    pub reader: FrameReader,
    pub writer: FrameWriter,
}

impl ScriptedMaster {
    pub async fn bind(secret: &str) -> ScriptedMaster {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        ScriptedMaster {
            listener,
            addr,
            secret: secret.to_owned(),
            read: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Accepts the next connection.
    pub async fn accept(&self) -> MasterConn {
        let (socket, peer) =
            tokio::time::timeout(DEADLINE, self.listener.accept()).await.expect("a replica connects").expect("accept");
        let (mut reader, writer) = conn::split(
            socket,
            peer.to_string(),
            ByteCounters::new(vec![self.read.clone()]),
            ByteCounters::new(vec![self.written.clone()]),
        );
        reader.authenticated();
        MasterConn { reader, writer }
    }

    /// Accepts a connection and runs the master's half of the handshake; `None` (after sending
    /// `Refused{AuthFailed}`) when the proof is wrong.
    pub async fn accept_authenticated(&self) -> (MasterConn, Option<HelloInfo>) {
        let mut c = self.accept().await;
        let hello = c.authenticate(&self.secret).await;
        (c, hello)
    }

    pub fn bytes(&self) -> (u64, u64) {
        (self.read.load(Ordering::SeqCst), self.written.load(Ordering::SeqCst))
    }
}

impl MasterConn {
    pub async fn read(&mut self) -> Frame {
        self.reader.read(DEADLINE).await.expect("a frame from the replica")
    }

    pub async fn send(&mut self, frame: &Frame) {
        self.writer.write(frame).await.expect("send to the replica");
    }

    async fn authenticate(&mut self, secret: &str) -> Option<HelloInfo> {
        let Frame::Hello { replica_id, history, applied_offset, .. } = self.read().await else {
            panic!("expected Hello");
        };
        let nonce = auth::new_nonce();
        self.send(&Frame::Challenge { nonce, master_id: "scripted-master".into() }).await;
        let Frame::AuthProof { proof } = self.read().await else { panic!("expected AuthProof") };
        if !auth::verify(secret.as_bytes(), &nonce, &replica_id, &proof) {
            self.send(&Frame::Refused { code: RefuseCode::AuthFailed, message: "bad proof".into() }).await;
            return None;
        }
        Some(HelloInfo { replica_id, history, applied_offset })
    }

    /// Sends `Continue` for a replica that applied `applied`.
    pub async fn continue_from(&mut self, applied: u64, history: &EpochHistory, master_last_offset: u64) {
        self.send(&Frame::Continue {
            from_offset: applied + 1,
            history: history.clone(),
            master_last_offset,
            master_http: MASTER_HTTP.into(),
        })
        .await;
    }

    /// Sends `records` in frames of about the protocol's target size.
    pub async fn send_records(&mut self, records: &[Record], master_last_offset: u64) {
        let mut batch = Vec::new();
        let mut bytes = 0;
        for r in records {
            if !batch.is_empty() && bytes + r.payload.len() > RECORDS_FRAME_TARGET_BYTES {
                self.send(&Frame::Records { master_last_offset, records: std::mem::take(&mut batch) }).await;
                bytes = 0;
            }
            bytes += r.payload.len();
            batch.push(r.clone());
        }
        if !batch.is_empty() {
            self.send(&Frame::Records { master_last_offset, records: batch }).await;
        }
    }

    /// Reads frames until an `Ack` of at least `offset` (within [`DEADLINE`], heartbeats or not);
    /// returns every acked offset seen.
    pub async fn acks_until(&mut self, offset: u64) -> Vec<u64> {
        let mut acks = Vec::new();
        let read_acks = async {
            loop {
                match self.read().await {
                    Frame::Ack { applied_offset } => {
                        acks.push(applied_offset);
                        if applied_offset >= offset {
                            return;
                        }
                    }
                    other => panic!("expected Ack, got {other:?}"),
                }
            }
        };
        tokio::time::timeout(DEADLINE, read_acks).await.expect("the replica acknowledges the offset");
        acks
    }

    /// Reads until the replica closes the connection (within [`DEADLINE`], heartbeats or not);
    /// returns the frames read on the way.
    pub async fn frames_until_closed(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        let read_all = async {
            loop {
                match self.reader.read(DEADLINE).await {
                    Ok(f) => frames.push(f),
                    Err(CoreError::PeerClosed { .. } | CoreError::PeerIo { .. }) => return,
                    Err(e) => panic!("expected the replica to close the connection, got {e}"),
                }
            }
        };
        tokio::time::timeout(DEADLINE, read_all).await.expect("the replica closes the connection");
        frames
    }

    /// Sends a full sync of the snapshot at `path`; `corrupt` chunks have a byte flipped (their
    /// CRC is left as stored, so the replica rejects them). Chunks before `from` are not sent.
    pub async fn send_snapshot(&mut self, path: &std::path::Path, from: u64, corrupt: &[u64], end: bool) {
        let (_, mut chunks) = snapshot::open_chunks(path).expect("open chunks");
        chunks.skip_to(from).expect("skip");
        for chunk in chunks {
            let SnapshotChunk { index, crc32c, data } = chunk.expect("chunk");
            let data = if corrupt.contains(&index) {
                let mut bad = data.to_vec();
                bad[0] ^= 0xff;
                bytes::Bytes::from(bad)
            } else {
                data
            };
            self.send(&Frame::SnapshotChunk { index, crc32c, data }).await;
        }
        if end {
            self.send(&Frame::FullSyncEnd).await;
        }
    }
}

/// Every record of `engine`'s log with offset >= `from`.
pub fn records_from(engine: &Engine, from: u64) -> Vec<Record> {
    let mut out = Vec::new();
    let mut next = from.max(engine.log().first_offset()).max(1);
    while next <= engine.last_offset() {
        let batch = engine.log().read_from(next, RECORDS_FRAME_TARGET_BYTES).expect("read log");
        next = batch.last().map_or(next, |r| r.offset + 1);
        out.extend(batch);
    }
    out
}
