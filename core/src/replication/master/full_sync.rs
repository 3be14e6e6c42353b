//! Full sync, sending side: picks (or takes) a snapshot and sends it chunk by chunk, as stored in
//! the file (each chunk with its CRC32C).
//!
//! Retry rule (the replica's half is in `replica/`): a replica that receives a chunk whose CRC
//! fails sends `ChunkRetry{index}` and discards every frame until chunk `index` arrives again.
//! The master answers by going back to chunk `index` and sending it and everything after it
//! again (`FullSyncEnd`, then the stream from the snapshot's offset + 1). A retry for a chunk not
//! yet sent in the current pass is ignored (it is coming anyway); each chunk may be retried at
//! most [`MAX_CHUNK_RETRIES`] times, after which the session closes with an error.
//!
//! Invariant: one blocking thread per pass reads chunks ahead of the network writer
//! ([`ReadAhead`]), at most [`READ_AHEAD_CHUNKS`] of them waiting, so reading and sending overlap
//! and a full sync holds at most that many chunks, plus the one being read and the frame being
//! sent, in memory. A read error ends the pass with that error; dropping the pass (a retry goes
//! back, the session ends) stops the reader at its next chunk.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tokio::sync::mpsc;
use vectorizer_sdk_types::SyncProgress;

use crate::error::{CoreError, Result};
use crate::replication::conn::FrameWriter;
use crate::replication::frame::Frame;
use crate::replication::node::Shared;
use crate::replication::registry::ReplicaEntry;
use crate::storage::snapshot::{self, SnapshotChunk, SnapshotChunks, SnapshotManifest};

/// Times one chunk may be sent again at the replica's request.
pub(super) const MAX_CHUNK_RETRIES: u32 = 3;
/// Chunks read ahead of the network writer (1 MiB each as the snapshot writer cuts them).
pub(super) const READ_AHEAD_CHUNKS: usize = 4;

/// Picks the snapshot to send (taking one if needed) and opens it for streaming. The file stays
/// open, so pruning it meanwhile does not disturb the first pass.
pub(super) async fn prepare(shared: &Shared) -> Result<(PathBuf, SnapshotManifest, SnapshotChunks)> {
    let engine = shared.engine.clone();
    blocking(move || {
        let (path, manifest) = engine.snapshot_for_sync()?;
        let (opened, chunks) = snapshot::open_chunks(&path)?;
        if opened != manifest {
            return Err(CoreError::SnapshotRejected {
                path,
                reason: "the snapshot changed between choosing and opening it".to_owned(),
            });
        }
        Ok((path, manifest, chunks))
    })
    .await
}

/// One snapshot transfer to one replica.
#[derive(Debug)]
pub(super) struct Transfer {
    path: PathBuf,
    manifest: SnapshotManifest,
    /// The open file for the next pass (`None` once used: a retry reopens the file).
    chunks: Option<SnapshotChunks>,
    retries: mpsc::Receiver<u64>,
    /// Retries served per chunk index.
    attempts: BTreeMap<u64, u32>,
    /// `body_ends[i]` = body bytes of chunks `0..=i` (known for the chunks sent so far).
    body_ends: Vec<u64>,
}

impl Transfer {
    pub(super) fn new(
        path: PathBuf,
        manifest: SnapshotManifest,
        chunks: SnapshotChunks,
        retries: mpsc::Receiver<u64>,
    ) -> Self {
        Self { path, manifest, chunks: Some(chunks), retries, attempts: BTreeMap::new(), body_ends: Vec::new() }
    }

    pub(super) fn manifest(&self) -> &SnapshotManifest {
        &self.manifest
    }

    /// The retry requests forwarded by the receiver.
    pub(super) fn retries(&mut self) -> &mut mpsc::Receiver<u64> {
        &mut self.retries
    }

    /// Sends chunks `from..` and updates the replica's progress. `Ok(None)`: every chunk was sent.
    /// `Ok(Some(index))`: the replica asked for `index` again; the caller starts a pass from it.
    pub(super) async fn send_chunks(
        &mut self,
        writer: &mut FrameWriter,
        entry: &ReplicaEntry,
        from: u64,
    ) -> Result<Option<u64>> {
        let chunks = match self.chunks.take() {
            Some(chunks) if chunks.next_index() == from => chunks,
            _ => self.reopen(from).await?,
        };
        let mut ahead = ReadAhead::start(chunks);
        let mut next = from;
        loop {
            while let Ok(index) = self.retries.try_recv() {
                if self.accept_retry(index, next, writer.peer())? {
                    return Ok(Some(index));
                }
            }
            let Some(chunk) = ahead.next().await? else {
                break;
            };
            if chunk.index != next {
                return Err(self.rejected(format!("read chunk {} where chunk {next} was expected", chunk.index)));
            }
            let body_end = self.body_end_before(next) + chunk.data.len() as u64;
            let frame = Frame::SnapshotChunk { index: chunk.index, crc32c: chunk.crc32c, data: chunk.data }.encode();
            writer.write_encoded(&frame).await?;
            drop(frame);
            if self.body_ends.len() as u64 == next {
                self.body_ends.push(body_end);
            }
            entry.set_progress(Some(SyncProgress { bytes_done: body_end, bytes_total: self.manifest.body_bytes }));
            next += 1;
        }
        if next != self.manifest.chunks {
            return Err(self.rejected(format!("file ends after {next} of {} chunks", self.manifest.chunks)));
        }
        Ok(None)
    }

    /// Decides on a retry of chunk `index` when chunks `..sent_end` of the current pass were sent:
    /// `Ok(true)` = go back to it, `Ok(false)` = ignore (not sent yet), `Err` = invalid or too
    /// many retries.
    pub(super) fn accept_retry(&mut self, index: u64, sent_end: u64, peer: &str) -> Result<bool> {
        let violation = |detail: String| CoreError::ProtocolViolation { peer: peer.to_owned(), detail };
        if index >= self.manifest.chunks {
            return Err(violation(format!(
                "retry of snapshot chunk {index}, but the snapshot has {} chunks",
                self.manifest.chunks
            )));
        }
        if index >= sent_end {
            return Ok(false);
        }
        let attempts = self.attempts.entry(index).or_insert(0);
        *attempts += 1;
        if *attempts > MAX_CHUNK_RETRIES {
            return Err(violation(format!(
                "snapshot chunk {index} was rejected {} times (at most {MAX_CHUNK_RETRIES} retries)",
                *attempts
            )));
        }
        tracing::warn!(
            peer,
            chunk = index,
            attempt = *attempts,
            "replica rejected a snapshot chunk; sending again from it"
        );
        Ok(true)
    }

    fn body_end_before(&self, index: u64) -> u64 {
        match index.checked_sub(1) {
            Some(prev) => self.body_ends.get(prev as usize).copied().unwrap_or(0),
            None => 0,
        }
    }

    /// Opens the snapshot again, positioned at chunk `from`.
    async fn reopen(&self, from: u64) -> Result<SnapshotChunks> {
        let path = self.path.clone();
        let manifest = self.manifest.clone();
        blocking(move || {
            let (opened, mut chunks) = snapshot::open_chunks(&path)?;
            if opened != manifest {
                return Err(CoreError::SnapshotRejected {
                    path,
                    reason: "the snapshot file changed during the transfer".to_owned(),
                });
            }
            chunks.skip_to(from)?;
            Ok(chunks)
        })
        .await
    }

    fn rejected(&self, reason: String) -> CoreError {
        CoreError::SnapshotRejected { path: self.path.clone(), reason }
    }
}

/// Reads the chunks of one pass on a blocking thread, ahead of the network writer (see the
/// module invariant). Dropping it stops the thread at its next chunk.
#[derive(Debug)]
struct ReadAhead {
    chunks: mpsc::Receiver<Result<SnapshotChunk>>,
}

impl ReadAhead {
    fn start(mut file: SnapshotChunks) -> Self {
        let (tx, chunks) = mpsc::channel(READ_AHEAD_CHUNKS);
        tokio::task::spawn_blocking(move || {
            for item in file.by_ref() {
                let failed = item.is_err();
                // A send fails once the pass was dropped: stop reading.
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
        Self { chunks }
    }

    /// The next chunk (waiting for the reader), `None` after the last one, or the read error.
    async fn next(&mut self) -> Result<Option<SnapshotChunk>> {
        self.chunks.recv().await.transpose()
    }
}

/// Runs blocking file work off the async threads.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CoreError::Unavailable { reason: format!("a replication I/O task failed: {e}") })?
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::replication::conn::{self, ByteCounters};
    use crate::replication::registry::{Announced, Registry};
    use crate::storage::snapshot::{CHUNK_BYTES, SnapshotWriter};

    /// A snapshot of `chunks` full chunks, a loopback connection, and a task collecting the
    /// indexes of the chunks that cross it.
    async fn setup(
        chunks: usize,
    ) -> (tempfile::TempDir, Transfer, mpsc::Sender<u64>, FrameWriter, tokio::task::JoinHandle<Vec<u64>>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut writer = SnapshotWriter::create(dir.path(), 1, 10).expect("snapshot writer");
        let body: Vec<u8> = (0..chunks * CHUNK_BYTES).map(|i| (i % 251) as u8).collect();
        writer.write_all(&body).expect("body");
        let (path, manifest) = writer.finish(1, 1).expect("finish");
        assert_eq!(manifest.chunks, chunks as u64);
        let (opened, cursor) = snapshot::open_chunks(&path).expect("open");
        assert_eq!(opened, manifest);
        let (tx, rx) = mpsc::channel(4);
        let transfer = Transfer::new(path, manifest, cursor, rx);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = tokio::net::TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (_r, frame_writer) =
            conn::split(server, "replica".into(), ByteCounters::default(), ByteCounters::default());
        let (mut reader, _w) = conn::split(client, "master".into(), ByteCounters::default(), ByteCounters::default());
        reader.authenticated();
        let collector = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Ok(Frame::SnapshotChunk { index, .. }) = reader.read(std::time::Duration::from_secs(20)).await {
                seen.push(index);
            }
            seen
        });
        (dir, transfer, tx, frame_writer, collector)
    }

    fn entry() -> (Registry, crate::replication::registry::SessionGuard) {
        let registry = Registry::default();
        let announced = Announced { host: "h".into(), port: 1, repl_addr: "h:2".into() };
        let guard = registry.attach("r-1", announced, 4, 1).expect("attach");
        (registry, guard)
    }

    #[tokio::test]
    async fn a_retry_during_the_transfer_goes_back_and_a_future_one_is_ignored() {
        let (_dir, mut transfer, retries, mut writer, collector) = setup(4).await;
        let (_registry, guard) = entry();
        // Chunk 0 was sent in an earlier pass; the replica asks for it again, and also for chunk
        // 3, which this pass has not sent yet.
        retries.send(3).await.expect("queue");
        retries.send(0).await.expect("queue");
        let back = transfer.send_chunks(&mut writer, &guard.entry, 1).await.expect("send");
        assert_eq!(back, Some(0), "goes back to the rejected chunk before sending anything");
        assert_eq!(transfer.send_chunks(&mut writer, &guard.entry, 0).await.expect("send"), None);
        let progress = guard.entry.facts.lock().sync_progress.expect("progress");
        assert_eq!(progress.bytes_done, progress.bytes_total);
        assert_eq!(progress.bytes_total, transfer.manifest().body_bytes);
        drop(writer);
        assert_eq!(collector.await.expect("collector"), vec![0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn read_ahead_yields_every_chunk_in_order_and_fills_at_most_its_bound() {
        let (_dir, mut transfer, _retries, _writer, _collector) = setup(READ_AHEAD_CHUNKS + 3).await;
        let mut ahead = ReadAhead::start(transfer.chunks.take().expect("open file"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while ahead.chunks.len() < READ_AHEAD_CHUNKS {
            assert!(std::time::Instant::now() < deadline, "the reader did not fill its queue");
            tokio::task::yield_now().await;
        }
        assert_eq!(ahead.chunks.max_capacity(), READ_AHEAD_CHUNKS);
        let mut seen = Vec::new();
        while let Some(chunk) = ahead.next().await.expect("chunk") {
            assert_eq!(crc32c::crc32c(&chunk.data), chunk.crc32c);
            seen.push(chunk.index);
        }
        assert_eq!(seen, (0..(READ_AHEAD_CHUNKS + 3) as u64).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_read_error_ends_the_pass_with_that_error() {
        let (_dir, mut transfer, _retries, mut writer, _collector) = setup(4).await;
        // Damage chunk 2 in place, after the file was opened.
        let file = std::fs::OpenOptions::new().write(true).open(&transfer.path).expect("open");
        let at = 32 + 2 * (8 + CHUNK_BYTES as u64) + 8 + 100;
        std::os::unix::fs::FileExt::write_all_at(&file, &[0xff, 0x00, 0xff], at).expect("damage");
        let (_registry, guard) = entry();
        let err = transfer.send_chunks(&mut writer, &guard.entry, 0).await.expect_err("chunk 2 is damaged");
        assert!(
            matches!(err, CoreError::SnapshotRejected { ref reason, .. } if reason.contains("chunk 2") && reason.contains("crc32c")),
            "{err}"
        );
        let progress = guard.entry.facts.lock().sync_progress.expect("progress");
        assert_eq!(progress.bytes_done, 2 * CHUNK_BYTES as u64, "chunks 0 and 1 were sent");
    }

    #[tokio::test]
    async fn retries_are_limited_per_chunk_and_must_name_a_chunk() {
        let (_dir, mut transfer, _retries, _writer, _collector) = setup(2).await;
        for _ in 0..MAX_CHUNK_RETRIES {
            assert!(transfer.accept_retry(1, 2, "replica").expect("within the limit"));
        }
        let err = transfer.accept_retry(1, 2, "replica").expect_err("over the limit");
        assert!(err.to_string().contains("rejected 4 times"), "{err}");
        assert!(transfer.accept_retry(0, 2, "replica").expect("another chunk has its own budget"));
        assert!(!transfer.accept_retry(1, 1, "replica").expect("not sent yet: ignored"));
        let err = transfer.accept_retry(2, 2, "replica").expect_err("no such chunk");
        assert!(matches!(err, CoreError::ProtocolViolation { .. }), "{err}");
    }
}
