//! Frames of the replication protocol and their binary encoding.
//!
//! Frame on the wire: `u32 length (LE) | u8 type | body`, where `length` counts the type byte and
//! the body. Invariant: a length above [`MAX_FRAME_BYTES`] is rejected *before* anything is
//! allocated, every field is bounds-checked while decoding, and decoding never panics, so a peer
//! can at worst get its connection closed with [`CoreError::Decode`].

use bytes::Bytes;

use crate::error::{CoreError, Result};
use crate::replication::history::{EpochHistory, EpochStart, MAX_HISTORY_ENTRIES};
use crate::storage::log::{MAX_RECORD_BYTES, Record};
use crate::storage::snapshot::SnapshotManifest;

/// Version of this protocol; a peer speaking another version is refused.
pub const PROTOCOL_VERSION: u16 = 2;
/// Largest frame accepted: one maximal log record plus framing room.
pub const MAX_FRAME_BYTES: usize = MAX_RECORD_BYTES + 1024 * 1024;
/// Target payload of one `Records` frame (a single bigger record still travels alone).
pub const RECORDS_FRAME_TARGET_BYTES: usize = 1024 * 1024;
/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;
/// Longest string field (ids, addresses, messages).
const MAX_STRING_BYTES: usize = 4096;
/// Size of the authentication nonce.
pub const NONCE_BYTES: usize = 32;
/// Size of an HMAC-SHA256 proof.
pub const PROOF_BYTES: usize = 32;

/// Why a peer refused the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseCode {
    AuthFailed,
    VersionMismatch,
    TooManyReplicas,
    NotMaster,
    StaleMaster,
    Protocol,
}

impl RefuseCode {
    fn tag(self) -> u8 {
        match self {
            Self::AuthFailed => 1,
            Self::VersionMismatch => 2,
            Self::TooManyReplicas => 3,
            Self::NotMaster => 4,
            Self::StaleMaster => 5,
            Self::Protocol => 6,
        }
    }

    fn from_tag(tag: u8) -> Result<Self> {
        Ok(match tag {
            1 => Self::AuthFailed,
            2 => Self::VersionMismatch,
            3 => Self::TooManyReplicas,
            4 => Self::NotMaster,
            5 => Self::StaleMaster,
            6 => Self::Protocol,
            other => return Err(CoreError::decode(format!("unknown refuse code {other}"))),
        })
    }
}

/// Every message of the protocol. See `docs/dev/REPLICATION-DESIGN.md` for the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Replica -> master: who I am and where I stand.
    Hello {
        version: u16,
        replica_id: String,
        announce_http: String,
        announce_repl: String,
        history: EpochHistory,
        applied_offset: u64,
        /// The lowest offset this replica can roll its state back to in place (`applied_offset`
        /// when it cannot roll back at all): a diverged replica whose fork point is at or above
        /// it resyncs partially instead of by full sync.
        rollback_floor: u64,
    },
    /// Master -> replica: prove you know the secret.
    Challenge { nonce: [u8; NONCE_BYTES], master_id: String },
    /// Replica -> master: HMAC over the nonce.
    AuthProof { proof: [u8; PROOF_BYTES] },
    /// Master -> replica: partial sync from `from_offset`.
    Continue { from_offset: u64, history: EpochHistory, master_last_offset: u64, master_http: String },
    /// Master -> replica: a snapshot follows; `manifest` describes it (checked again on arrival).
    FullSyncStart { manifest: SnapshotManifest, history: EpochHistory, master_http: String },
    /// Master -> replica: one chunk of the snapshot body with its stored CRC32C.
    SnapshotChunk { index: u64, crc32c: u32, data: Bytes },
    /// Replica -> master: chunk `index` failed its CRC; send it again.
    ChunkRetry { index: u64 },
    /// Master -> replica: the whole snapshot file was sent.
    FullSyncEnd,
    /// Master -> replica: consecutive log records, and the master's last offset when they were sent
    /// (so the replica knows whether it is caught up).
    Records { master_last_offset: u64, records: Vec<Record> },
    /// Master -> replica: liveness and position.
    MasterHeartbeat { epoch: u64, master_last_offset: u64, master_time_ms: u64 },
    /// Replica -> master: durable applied offset (doubles as the replica's heartbeat).
    Ack { applied_offset: u64 },
    /// Either side: the connection is refused and will be closed.
    Refused { code: RefuseCode, message: String },
}

const T_HELLO: u8 = 1;
const T_CHALLENGE: u8 = 2;
const T_AUTH_PROOF: u8 = 3;
const T_CONTINUE: u8 = 4;
const T_FULL_SYNC_START: u8 = 5;
const T_SNAPSHOT_CHUNK: u8 = 6;
const T_CHUNK_RETRY: u8 = 7;
const T_FULL_SYNC_END: u8 = 8;
const T_RECORDS: u8 = 9;
const T_MASTER_HEARTBEAT: u8 = 10;
const T_ACK: u8 = 11;
const T_REFUSED: u8 = 12;

impl Frame {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "Hello",
            Frame::Challenge { .. } => "Challenge",
            Frame::AuthProof { .. } => "AuthProof",
            Frame::Continue { .. } => "Continue",
            Frame::FullSyncStart { .. } => "FullSyncStart",
            Frame::SnapshotChunk { .. } => "SnapshotChunk",
            Frame::ChunkRetry { .. } => "ChunkRetry",
            Frame::FullSyncEnd => "FullSyncEnd",
            Frame::Records { .. } => "Records",
            Frame::MasterHeartbeat { .. } => "MasterHeartbeat",
            Frame::Ack { .. } => "Ack",
            Frame::Refused { .. } => "Refused",
        }
    }

    /// Encodes the whole frame, length prefix included.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; LENGTH_PREFIX_BYTES];
        match self {
            Frame::Hello {
                version,
                replica_id,
                announce_http,
                announce_repl,
                history,
                applied_offset,
                rollback_floor,
            } => {
                out.push(T_HELLO);
                out.extend_from_slice(&version.to_le_bytes());
                put_str(&mut out, replica_id);
                put_str(&mut out, announce_http);
                put_str(&mut out, announce_repl);
                put_history(&mut out, history);
                put_u64(&mut out, *applied_offset);
                put_u64(&mut out, *rollback_floor);
            }
            Frame::Challenge { nonce, master_id } => {
                out.push(T_CHALLENGE);
                out.extend_from_slice(nonce);
                put_str(&mut out, master_id);
            }
            Frame::AuthProof { proof } => {
                out.push(T_AUTH_PROOF);
                out.extend_from_slice(proof);
            }
            Frame::Continue { from_offset, history, master_last_offset, master_http } => {
                out.push(T_CONTINUE);
                put_u64(&mut out, *from_offset);
                put_history(&mut out, history);
                put_u64(&mut out, *master_last_offset);
                put_str(&mut out, master_http);
            }
            Frame::FullSyncStart { manifest, history, master_http } => {
                out.push(T_FULL_SYNC_START);
                put_u32(&mut out, manifest.format_version);
                put_u64(&mut out, manifest.epoch);
                put_u64(&mut out, manifest.offset);
                put_u64(&mut out, manifest.collections);
                put_u64(&mut out, manifest.points);
                put_u64(&mut out, manifest.body_bytes);
                put_u64(&mut out, manifest.file_bytes);
                put_u64(&mut out, manifest.chunks);
                put_str(&mut out, &manifest.digest);
                put_u64(&mut out, manifest.created_at_ms);
                put_history(&mut out, history);
                put_str(&mut out, master_http);
            }
            Frame::SnapshotChunk { index, crc32c, data } => {
                out.push(T_SNAPSHOT_CHUNK);
                put_u64(&mut out, *index);
                put_u32(&mut out, *crc32c);
                put_bytes(&mut out, data);
            }
            Frame::ChunkRetry { index } => {
                out.push(T_CHUNK_RETRY);
                put_u64(&mut out, *index);
            }
            Frame::FullSyncEnd => out.push(T_FULL_SYNC_END),
            Frame::Records { master_last_offset, records } => {
                out.push(T_RECORDS);
                put_u64(&mut out, *master_last_offset);
                put_u32(&mut out, records.len() as u32);
                for r in records {
                    put_u64(&mut out, r.epoch);
                    put_u64(&mut out, r.offset);
                    put_u64(&mut out, r.timestamp_ms);
                    put_bytes(&mut out, &r.payload);
                }
            }
            Frame::MasterHeartbeat { epoch, master_last_offset, master_time_ms } => {
                out.push(T_MASTER_HEARTBEAT);
                put_u64(&mut out, *epoch);
                put_u64(&mut out, *master_last_offset);
                put_u64(&mut out, *master_time_ms);
            }
            Frame::Ack { applied_offset } => {
                out.push(T_ACK);
                put_u64(&mut out, *applied_offset);
            }
            Frame::Refused { code, message } => {
                out.push(T_REFUSED);
                out.push(code.tag());
                put_str(&mut out, message);
            }
        }
        let len = (out.len() - LENGTH_PREFIX_BYTES) as u32;
        out[..LENGTH_PREFIX_BYTES].copy_from_slice(&len.to_le_bytes());
        out
    }

    /// Checks a frame length read from the wire before anything is allocated for it.
    pub fn check_length(len: u32) -> Result<usize> {
        let len = len as usize;
        if len == 0 || len > MAX_FRAME_BYTES {
            return Err(CoreError::decode(format!("frame length {len} outside 1..={MAX_FRAME_BYTES}")));
        }
        Ok(len)
    }

    /// Decodes a frame body (type byte + fields, without the length prefix).
    pub fn decode(body: Bytes) -> Result<Frame> {
        let mut r = Reader { buf: body, pos: 0 };
        let frame = match r.u8()? {
            T_HELLO => Frame::Hello {
                version: r.u16()?,
                replica_id: r.string()?,
                announce_http: r.string()?,
                announce_repl: r.string()?,
                history: r.history()?,
                applied_offset: r.u64()?,
                rollback_floor: r.u64()?,
            },
            T_CHALLENGE => Frame::Challenge { nonce: r.array()?, master_id: r.string()? },
            T_AUTH_PROOF => Frame::AuthProof { proof: r.array()? },
            T_CONTINUE => Frame::Continue {
                from_offset: r.u64()?,
                history: r.history()?,
                master_last_offset: r.u64()?,
                master_http: r.string()?,
            },
            T_FULL_SYNC_START => Frame::FullSyncStart {
                manifest: SnapshotManifest {
                    format_version: r.u32()?,
                    epoch: r.u64()?,
                    offset: r.u64()?,
                    collections: r.u64()?,
                    points: r.u64()?,
                    body_bytes: r.u64()?,
                    file_bytes: r.u64()?,
                    chunks: r.u64()?,
                    digest: r.string()?,
                    created_at_ms: r.u64()?,
                },
                history: r.history()?,
                master_http: r.string()?,
            },
            T_SNAPSHOT_CHUNK => Frame::SnapshotChunk { index: r.u64()?, crc32c: r.u32()?, data: r.bytes()? },
            T_CHUNK_RETRY => Frame::ChunkRetry { index: r.u64()? },
            T_FULL_SYNC_END => Frame::FullSyncEnd,
            T_RECORDS => {
                let master_last_offset = r.u64()?;
                let count = r.u32()? as usize;
                // Each record needs at least 28 bytes: reject counts the body cannot hold.
                if count.saturating_mul(28) > r.remaining() {
                    return Err(CoreError::decode(format!("{count} records cannot fit in the frame")));
                }
                let mut records = Vec::with_capacity(count);
                for _ in 0..count {
                    records.push(Record {
                        epoch: r.u64()?,
                        offset: r.u64()?,
                        timestamp_ms: r.u64()?,
                        payload: r.bytes()?,
                    });
                }
                Frame::Records { master_last_offset, records }
            }
            T_MASTER_HEARTBEAT => {
                Frame::MasterHeartbeat { epoch: r.u64()?, master_last_offset: r.u64()?, master_time_ms: r.u64()? }
            }
            T_ACK => Frame::Ack { applied_offset: r.u64()? },
            T_REFUSED => Frame::Refused { code: RefuseCode::from_tag(r.u8()?)?, message: r.string()? },
            other => return Err(CoreError::decode(format!("unknown frame type {other}"))),
        };
        if r.remaining() != 0 {
            return Err(CoreError::decode(format!("{} trailing bytes in {} frame", r.remaining(), frame.name())));
        }
        Ok(frame)
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_history(out: &mut Vec<u8>, h: &EpochHistory) {
    put_u32(out, h.entries().len() as u32);
    for e in h.entries() {
        put_u64(out, e.epoch);
        put_u64(out, e.first_offset);
    }
}

struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<Bytes> {
        if n > self.remaining() {
            return Err(CoreError::decode(format!(
                "field of {n} bytes at byte {} overruns the frame ({} bytes left)",
                self.pos,
                self.remaining()
            )));
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&b);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<Bytes> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn string(&mut self) -> Result<String> {
        let len = self.u32()? as usize;
        if len > MAX_STRING_BYTES {
            return Err(CoreError::decode(format!("string of {len} bytes exceeds {MAX_STRING_BYTES}")));
        }
        let b = self.take(len)?;
        String::from_utf8(b.to_vec()).map_err(|e| CoreError::decode(format!("invalid UTF-8: {e}")))
    }

    fn history(&mut self) -> Result<EpochHistory> {
        let count = self.u32()? as usize;
        if count > MAX_HISTORY_ENTRIES || count * 16 > self.remaining() {
            return Err(CoreError::decode(format!("epoch history of {count} entries is invalid here")));
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(EpochStart { epoch: self.u64()?, first_offset: self.u64()? });
        }
        EpochHistory::from_entries(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Frame> {
        let history = EpochHistory::from_entries(vec![
            EpochStart { epoch: 1, first_offset: 1 },
            EpochStart { epoch: 3, first_offset: 40 },
        ])
        .expect("history");
        vec![
            Frame::Hello {
                version: PROTOCOL_VERSION,
                replica_id: "r-1".into(),
                announce_http: "127.0.0.1:15003".into(),
                announce_repl: "127.0.0.1:7002".into(),
                history: history.clone(),
                applied_offset: 41,
                rollback_floor: 30,
            },
            Frame::Challenge { nonce: [7; NONCE_BYTES], master_id: "m".into() },
            Frame::AuthProof { proof: [9; PROOF_BYTES] },
            Frame::Continue {
                from_offset: 42,
                history: history.clone(),
                master_last_offset: 50,
                master_http: "h:1".into(),
            },
            Frame::FullSyncStart {
                manifest: SnapshotManifest {
                    format_version: 1,
                    epoch: 3,
                    offset: 10,
                    collections: 1,
                    points: 5,
                    body_bytes: 1000,
                    file_bytes: 1234,
                    chunks: 2,
                    digest: "ab".repeat(32),
                    created_at_ms: 9,
                },
                history,
                master_http: "h:1".into(),
            },
            Frame::SnapshotChunk { index: 1, crc32c: 77, data: Bytes::from_static(b"chunk bytes") },
            Frame::ChunkRetry { index: 1 },
            Frame::FullSyncEnd,
            Frame::Records {
                master_last_offset: 44,
                records: vec![
                    Record {
                        epoch: 3,
                        offset: 42,
                        timestamp_ms: 1_700_000_000_000,
                        payload: Bytes::from_static(b"op"),
                    },
                    Record { epoch: 3, offset: 43, timestamp_ms: 1_700_000_000_001, payload: Bytes::new() },
                ],
            },
            Frame::MasterHeartbeat { epoch: 3, master_last_offset: 43, master_time_ms: 5 },
            Frame::Ack { applied_offset: 43 },
            Frame::Refused { code: RefuseCode::AuthFailed, message: "bad proof".into() },
        ]
    }

    #[test]
    fn every_frame_round_trips() {
        for frame in samples() {
            let bytes = frame.encode();
            let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            assert_eq!(Frame::check_length(len).expect("length"), bytes.len() - 4);
            let decoded = Frame::decode(Bytes::copy_from_slice(&bytes[4..])).expect("decode");
            assert_eq!(decoded, frame);
        }
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        for frame in samples() {
            let bytes = frame.encode();
            for cut in 5..bytes.len() {
                if let Ok(f) = Frame::decode(Bytes::copy_from_slice(&bytes[4..cut])) {
                    panic!("truncated {} decoded as {f:?}", frame.name());
                }
            }
        }
    }

    #[test]
    fn oversized_lengths_and_counts_are_rejected_without_allocating() {
        assert!(Frame::check_length(0).is_err());
        assert!(Frame::check_length(u32::MAX).is_err());
        let mut body = vec![T_RECORDS];
        body.extend_from_slice(&7u64.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Frame::decode(Bytes::from(body)).is_err());
        let mut body = vec![T_HELLO, 1, 0];
        body.extend_from_slice(&(u32::MAX).to_le_bytes());
        assert!(Frame::decode(Bytes::from(body)).is_err());
    }
}
