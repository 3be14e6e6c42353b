//! Start-up recovery: newest valid snapshot + replay of the log after it.
//!
//! Algorithm:
//! 1. Try snapshots newest first. Each is fully verified (chunk CRCs, digest, manifest) and decoded
//!    before it is used; a rejected snapshot is logged and the next older one is tried.
//! 2. Open the log (a torn tail is truncated by the log itself; corruption before the tail refuses
//!    start-up with the file and byte offset).
//! 3. The log must cover every offset after the chosen snapshot; a gap refuses start-up with a
//!    message naming the missing range and any snapshot that was rejected.
//! 4. Replay every record after the snapshot through the same [`State::apply`] used by live writes.
//!
//! Invariant: recovery either produces exactly the state of (snapshot + log), or fails with an
//! error; it never serves a partially applied snapshot or silently skips a record.

use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};

use bytes::Bytes;

use crate::codec;
use crate::engine::EngineConfig;
use crate::engine::collection::Collection;
use crate::engine::snapshot_body::BodyCounts;
use crate::engine::state::State;
use crate::engine::{replication_hooks, snapshot_body};
use crate::error::{CoreError, Result};
use crate::storage::log::{LogConfig, OpLog, RecoveryReport};
use crate::storage::snapshot;

/// Bytes read from the log per replay batch.
const REPLAY_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// What recovery produced.
pub(crate) struct Recovered {
    pub(crate) state: State,
    pub(crate) log: OpLog,
    /// Offset covered by the snapshot that was loaded (0 if none).
    pub(crate) snapshot_offset: u64,
    /// Manifest of that snapshot, if one was loaded.
    pub(crate) snapshot: Option<snapshot::SnapshotManifest>,
    /// Highest epoch seen in the snapshot or the log (at least 1).
    pub(crate) epoch: u64,
    pub(crate) replayed: u64,
    pub(crate) log_report: RecoveryReport,
}

/// Directory of log segments inside a data dir.
pub(crate) fn log_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("log")
}

/// Directory of snapshot files inside a data dir.
pub(crate) fn snapshot_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("snapshots")
}

/// Runs recovery on `config.data_dir`.
pub(crate) fn recover(config: &EngineConfig) -> Result<Recovered> {
    let snap_dir = snapshot_dir(&config.data_dir);
    std::fs::create_dir_all(&snap_dir).map_err(|e| CoreError::io(&snap_dir, e))?;
    let stale = snapshot::remove_temp_files(&snap_dir)?;
    if stale > 0 {
        tracing::info!(count = stale, "removed unfinished snapshot files left by a crash");
    }

    let log_cfg =
        LogConfig { dir: log_dir(&config.data_dir), segment_bytes: config.segment_bytes, fsync: config.fsync };
    if std::fs::metadata(config.data_dir.join("INSTALLING")).is_ok() {
        // A full-sync installation was interrupted: finish it before looking at snapshots.
        let (log, _) = OpLog::open(log_cfg.clone(), 1)?;
        replication_hooks::complete_interrupted_install(&config.data_dir, &log)?;
    }

    let mut rejected: Vec<String> = Vec::new();
    let mut loaded = None;
    for (offset, path) in snapshot::list_snapshots(&snap_dir)? {
        match load_snapshot(&path) {
            Ok((state, manifest)) => {
                tracing::info!(path = %path.display(), offset, points = manifest.points, "loaded snapshot");
                loaded = Some((state, manifest));
                break;
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "snapshot rejected; trying an older one");
                rejected.push(e.to_string());
            }
        }
    }
    let (state, snapshot_offset, mut epoch, manifest) = match loaded {
        Some((state, m)) => (state, m.offset, m.epoch, Some(m)),
        None => (State::default(), 0, 1, None),
    };

    let log_cfg =
        LogConfig { dir: log_dir(&config.data_dir), segment_bytes: config.segment_bytes, fsync: config.fsync };
    let (log, log_report) = OpLog::open(log_cfg, snapshot_offset + 1)?;
    if let Some(tail) = &log_report.truncated_tail {
        tracing::warn!(
            path = %tail.path.display(),
            at_byte = tail.at_byte,
            bytes_dropped = tail.bytes_dropped,
            "truncated a torn log tail (crash during an append); no acknowledged write is lost"
        );
    }

    let first = log.first_offset();
    let last = log.last_offset();
    if last < snapshot_offset {
        // The snapshot already contains everything the log held (e.g. the log directory was
        // emptied); restart the log right after the snapshot.
        tracing::warn!(last, snapshot_offset, "log ends before the snapshot; restarting the log after it");
        log.reset(snapshot_offset + 1)?;
    } else if first != 0 && first > snapshot_offset + 1 {
        let why =
            if rejected.is_empty() { String::new() } else { format!("; rejected snapshots: {}", rejected.join("; ")) };
        return Err(CoreError::Corruption {
            path: log_dir(&config.data_dir),
            offset: 0,
            detail: format!(
                "operations {}..{} are neither in a usable snapshot nor in the log (log starts at {first}){why}",
                snapshot_offset + 1,
                first - 1
            ),
        });
    }

    let replay = replay(&log, &state, snapshot_offset, log.last_offset())?;
    let replayed = replay.ops;
    epoch = epoch.max(replay.max_epoch);
    if !rejected.is_empty() {
        tracing::warn!(
            rejected = rejected.len(),
            snapshot_offset,
            replayed,
            "recovered from an older snapshot plus the log after rejecting newer snapshot(s)"
        );
    }
    Ok(Recovered { state, log, snapshot_offset, snapshot: manifest, epoch: epoch.max(1), replayed, log_report })
}

/// What [`replay`] applied.
pub(crate) struct Replayed {
    /// Operations applied.
    pub(crate) ops: u64,
    /// Highest epoch among them (0 if none).
    pub(crate) max_epoch: u64,
}

/// Applies every logged operation in `after + 1..=up_to` to `state`, in order, through the same
/// [`State::apply`] as live writes. A missing or out-of-order record is an error: the result is
/// exactly the state at `up_to` or nothing.
pub(crate) fn replay(log: &OpLog, state: &State, after: u64, up_to: u64) -> Result<Replayed> {
    let mut done = Replayed { ops: 0, max_epoch: 0 };
    let mut next = after + 1;
    while next <= up_to {
        let records = log.read_from(next, REPLAY_BATCH_BYTES)?;
        if records.is_empty() {
            return Err(CoreError::InconsistentLog {
                offset: next,
                detail: format!("the log ends before offset {up_to} during replay"),
            });
        }
        for record in records {
            if next > up_to {
                break;
            }
            if record.offset != next {
                return Err(CoreError::InconsistentLog {
                    offset: record.offset,
                    detail: format!("expected offset {next} during replay"),
                });
            }
            let op = codec::decode_op(&record.payload)
                .map_err(|e| CoreError::InconsistentLog { offset: record.offset, detail: e.to_string() })?;
            state.apply(record.offset, op)?;
            done.max_epoch = done.max_epoch.max(record.epoch);
            next += 1;
            done.ops += 1;
        }
    }
    Ok(done)
}

/// Loads and verifies the snapshot at `path` in one pass (see [`snapshot::open_verifying`]).
pub(crate) fn load_snapshot(path: &Path) -> Result<(State, snapshot::SnapshotManifest)> {
    // One pass: decode while verifying; nothing decoded is used unless the whole body verified.
    let (manifest, mut body) = snapshot::open_verifying(path)?;
    let decoded = snapshot_body::decode(&mut body, manifest.points, manifest.body_bytes);
    body.finish()?;
    let state = checked_state(path, &manifest, decoded)?;
    Ok((state, manifest))
}

/// The state decoded from a verified body, after checking its counts against the manifest.
fn checked_state(path: &Path, manifest: &snapshot::SnapshotManifest, decoded: Decoded) -> Result<State> {
    let (collections, counts) =
        decoded.map_err(|e| CoreError::SnapshotRejected { path: path.to_owned(), reason: e.to_string() })?;
    if counts.collections != manifest.collections || counts.points != manifest.points {
        return Err(CoreError::SnapshotRejected {
            path: path.to_owned(),
            reason: format!(
                "manifest says {} collections / {} points, body holds {} / {}",
                manifest.collections, manifest.points, counts.collections, counts.points
            ),
        });
    }
    Ok(State::from_collections(collections))
}

/// What decoding a snapshot body produces.
type Decoded = Result<(Vec<Collection>, BodyCounts)>;

/// Body chunks a [`SnapshotDecoder`] holds before [`SnapshotDecoder::push`] waits.
pub(crate) const DECODE_AHEAD_CHUNKS: usize = 4;

/// Decodes a snapshot body on its own thread from chunks handed to it as they are received (a
/// full sync), so that decoding overlaps the transfer instead of following it.
///
/// Invariant: the decoded state leaves only through [`SnapshotDecoder::finish`], which the caller
/// calls after the received body verified (every chunk's CRC and the digest of exactly the chunks
/// pushed, in order: `SnapshotReceiver::finish`). Dropping it unfinished discards the work.
#[derive(Debug)]
pub(crate) struct SnapshotDecoder {
    chunks: Option<SyncSender<Bytes>>,
    thread: Option<std::thread::JoinHandle<Decoded>>,
    manifest: snapshot::SnapshotManifest,
}

impl SnapshotDecoder {
    /// Starts the decoding thread for the body `manifest` announces.
    pub(crate) fn start(manifest: &snapshot::SnapshotManifest) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(DECODE_AHEAD_CHUNKS);
        let (points, body_bytes) = (manifest.points, manifest.body_bytes);
        let thread = std::thread::Builder::new()
            .name("snapshot-decode".into())
            .spawn(move || {
                let mut body = ChunkStream { chunks: rx, current: Bytes::new(), pos: 0 };
                let decoded = snapshot_body::decode(&mut body, points, body_bytes);
                // A decoder that stopped early keeps taking chunks, so the feeder never waits on it.
                while body.chunks.recv().is_ok() {}
                decoded
            })
            .map_err(|e| CoreError::Unavailable { reason: format!("cannot start the snapshot decoder: {e}") })?;
        Ok(Self { chunks: Some(tx), thread: Some(thread), manifest: manifest.clone() })
    }

    /// Hands the next body chunk to the decoder; waits while [`DECODE_AHEAD_CHUNKS`] wait.
    pub(crate) fn push(&self, chunk: Bytes) {
        if let Some(chunks) = &self.chunks {
            // Fails only if the thread is gone (it panicked): `finish` reports it.
            let _ = chunks.send(chunk);
        }
    }

    /// Ends the body and returns the decoded state of the snapshot file `staged`. Call only after
    /// the body verified (see the type's invariant).
    pub(crate) fn finish(mut self, staged: &Path) -> Result<(State, snapshot::SnapshotManifest)> {
        drop(self.chunks.take());
        let decoded = match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(decoded)) => decoded,
            _ => {
                return Err(CoreError::SnapshotRejected {
                    path: staged.to_owned(),
                    reason: "the snapshot decoder stopped unexpectedly".into(),
                });
            }
        };
        let state = checked_state(staged, &self.manifest, decoded)?;
        Ok((state, self.manifest))
    }
}

/// The body as a reader over the chunks pushed to a [`SnapshotDecoder`]; ends when the sender is
/// dropped.
struct ChunkStream {
    chunks: Receiver<Bytes>,
    current: Bytes,
    pos: usize,
}

impl Read for ChunkStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            match self.chunks.recv() {
                Ok(next) => (self.current, self.pos) = (next, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use vectorizer_sdk_types as wire;

    use super::*;
    use crate::engine::{Engine, EngineConfig};
    use crate::storage::snapshot::SnapshotChunk;

    /// A snapshot of a collection with points, a payload and a deletion.
    fn snapshot_file(dir: &Path) -> std::path::PathBuf {
        let mut config = EngineConfig::new(dir);
        config.index_threads = 1;
        let engine = Engine::open(config).expect("open");
        let create =
            wire::CreateCollectionRequest { name: "c".into(), dimension: 4, metric: wire::Metric::Cosine, hnsw: None };
        engine.create_collection(&create).expect("create");
        for i in 0..50 {
            let payload = serde_json::json!({ "i": i }).as_object().cloned();
            let point = wire::PointInput { id: format!("p{i}"), vector: vec![i as f32, 1.0, 0.5, 2.0], payload };
            engine.upsert("c", wire::UpsertRequest { vectors: vec![point] }).expect("upsert");
        }
        engine.delete_points("c", &wire::DeletePointsRequest { ids: vec!["p3".into()] }).expect("delete");
        let summary = engine.snapshot_now().expect("snapshot");
        engine.shutdown().expect("shutdown");
        snapshot_dir(dir).join(snapshot::snapshot_file_name(summary.offset))
    }

    fn encoded(state: &State) -> Vec<u8> {
        let mut out = Vec::new();
        snapshot_body::encode(state, &mut out).expect("encode");
        out
    }

    #[test]
    fn a_decoder_fed_the_chunks_yields_the_state_a_load_yields() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = snapshot_file(dir.path());
        let (loaded, manifest) = load_snapshot(&path).expect("load");
        let decoder = SnapshotDecoder::start(&manifest).expect("decoder");
        let (_, chunks) = snapshot::open_chunks(&path).expect("chunks");
        for chunk in chunks {
            decoder.push(chunk.expect("chunk").data);
        }
        let (decoded, decoded_manifest) = decoder.finish(&path).expect("decoded");
        assert_eq!(decoded_manifest, manifest);
        assert!(encoded(&decoded) == encoded(&loaded), "the same state");
    }

    #[test]
    fn a_body_that_does_not_decode_is_rejected_at_finish_and_never_blocks_the_feeder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = snapshot_file(dir.path());
        let manifest = snapshot::read_manifest(&path).expect("manifest");
        let decoder = SnapshotDecoder::start(&manifest).expect("decoder");
        // Garbage: the decoder fails on the first bytes, then keeps taking chunks.
        for _ in 0..(DECODE_AHEAD_CHUNKS * 3) {
            decoder.push(Bytes::from(vec![0xAB; 1024]));
        }
        let err = decoder.finish(&path).expect_err("garbage");
        assert!(matches!(err, CoreError::SnapshotRejected { path: ref p, .. } if *p == path), "{err}");

        // A body cut short fails too (a count or a length runs past its end).
        let decoder = SnapshotDecoder::start(&manifest).expect("decoder");
        let (_, mut chunks) = snapshot::open_chunks(&path).expect("chunks");
        let SnapshotChunk { data, .. } = chunks.next().expect("one chunk").expect("chunk");
        decoder.push(data.slice(..data.len() / 2));
        assert!(matches!(decoder.finish(&path), Err(CoreError::SnapshotRejected { .. })));

        // Dropping an unfinished decoder ends its thread (the test would hang otherwise).
        let decoder = SnapshotDecoder::start(&manifest).expect("decoder");
        decoder.push(Bytes::from_static(b"\x01\x00"));
        drop(decoder);
    }
}
