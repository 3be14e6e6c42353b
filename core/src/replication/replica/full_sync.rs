//! Receiving a full sync: the master's snapshot file, chunk by chunk, then its installation.
//!
//! Invariants:
//! - Each chunk is checked on arrival (index, length, CRC32C) before it is written; a chunk that
//!   fails is asked for again with `ChunkRetry{index}`, at most [`MAX_CHUNK_RETRIES`] times, after
//!   which the session fails (the next handshake starts over).
//! - Receiving and writing overlap: the network task checks each chunk and queues it for one
//!   blocking writer thread ([`ChunkWriter`]); at most [`WRITE_QUEUE_CHUNKS`] checked chunks wait
//!   in the queue, so memory stays bounded. A write error stops the writer and fails the session
//!   at the next chunk or at the end of the transfer; nothing is installed unless every chunk was
//!   written and the file verified (`SnapshotReceiver::finish`).
//! - Decoding overlaps the transfer too: the writer thread hands every chunk it wrote (the same
//!   bytes it hashed) to a snapshot decoder thread; the decoded state is installed
//!   (`Engine::install_decoded`) only after `SnapshotReceiver::finish` verified the digest of
//!   those chunks, so nothing decoded is served before the whole body verified.
//! - Retries are go-back-N: after `ChunkRetry{i}` the master resends chunk `i` and every chunk
//!   after it, then `FullSyncEnd` again. While a retry is outstanding the replica drops every
//!   chunk other than `i` and the `FullSyncEnd` that was already in flight.
//! - Nothing is acknowledged during the transfer or the installation; `install_snapshot` swaps
//!   the state atomically (no reader sees a half-loaded state) and is durable when it returns.
//! - Stale files in the staging directory (an earlier interrupted sync) are removed first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::engine::now_ms;
use crate::error::{CoreError, Result};
use crate::replication::conn::{FrameReader, FrameWriter};
use crate::replication::frame::Frame;
use crate::replication::node::Shared;
use crate::replication::replica::engine_work::{EngineWork, blocking};
use crate::replication::replica::handshake::{refused, unexpected};
use crate::replication::replica::stream::{Fence, node_epoch};
use crate::storage::fsutil;
use crate::storage::snapshot::{CheckedChunk, SnapshotChunk, SnapshotManifest, SnapshotReceiver};

/// Most times one chunk is asked for again before the session fails.
pub(super) const MAX_CHUNK_RETRIES: u32 = 3;
/// Checked chunks that may wait for the writer thread (1 MiB each as the master cuts them, at most
/// `MAX_CHUNK_BYTES`): enough to keep the writer busy while the next chunks arrive.
pub(super) const WRITE_QUEUE_CHUNKS: usize = 4;

/// Receives the snapshot announced by `manifest`, verifies it and installs it. Returns the
/// installed manifest (the engine's last offset is then `manifest.offset`).
pub(super) async fn receive_and_install(
    shared: &Arc<Shared>,
    work: &EngineWork,
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    manifest: SnapshotManifest,
    fence: &mut Fence,
) -> Result<SnapshotManifest> {
    let engine = shared.engine.clone();
    let staging = engine.staging_dir();
    tracing::info!(
        master = reader.peer(),
        offset = manifest.offset,
        bytes = manifest.file_bytes,
        chunks = manifest.chunks,
        "full sync: receiving the master's snapshot"
    );
    let total = manifest.body_bytes;
    shared.link.sync_progress(0, total);
    let receiver = {
        let staging = staging.clone();
        blocking(move || {
            clean_staging(&staging)?;
            SnapshotReceiver::create(&staging, manifest)
        })
        .await?
    };
    let timeout = shared.config.health.disconnect_timeout;
    let heartbeat = shared.config.heartbeat_interval;
    // The master times a session out after `disconnect_timeout` of silence, so the replica keeps
    // sending its (unchanged) applied offset as a heartbeat during the transfer and installation.
    let applied_before = engine.last_offset();
    let mut last_sent = std::time::Instant::now();
    let mut checker = receiver.checker();
    // Decoding overlaps the transfer: the writer thread feeds each written chunk to the decoder,
    // whose state is installed only after the whole body verified.
    let decoder = Arc::new(engine.snapshot_decoder(receiver.manifest())?);
    let (progress, feed) = (shared.clone(), decoder.clone());
    let mut done = 0u64;
    let mut disk = ChunkWriter::start(receiver, move |chunk: &Bytes| {
        feed.push(chunk.clone());
        done += chunk.len() as u64;
        progress.link.sync_progress(done, total);
    });
    // (chunk index, retries asked for it) and whether a resend is awaited.
    let mut retries = (0u64, 0u32);
    let mut outstanding = false;
    loop {
        let frame = reader.read(timeout).await?;
        shared.link.heard_frame(now_ms());
        if last_sent.elapsed() >= heartbeat {
            writer.write(&Frame::Ack { applied_offset: applied_before }).await?;
            last_sent = std::time::Instant::now();
        }
        match frame {
            Frame::SnapshotChunk { index, crc32c, data } => {
                let next = checker.next_index();
                if index != next {
                    if outstanding || index < next {
                        continue; // sent before our retry request, or a duplicate
                    }
                    return Err(violation(reader, format!("snapshot chunk {index} arrived, {next} expected")));
                }
                match checker.check(SnapshotChunk { index, crc32c, data }) {
                    Ok(checked) => {
                        outstanding = false;
                        disk.write(checked).await?;
                    }
                    Err(CoreError::SnapshotChunkRejected { index, reason }) => {
                        let asked = if retries.0 == index { retries.1 } else { 0 };
                        if asked >= MAX_CHUNK_RETRIES {
                            return Err(CoreError::SnapshotChunkRejected {
                                index,
                                reason: format!("{reason} (still failing after {asked} retries)"),
                            });
                        }
                        retries = (index, asked + 1);
                        tracing::warn!(master = reader.peer(), index, %reason, retry = asked + 1,
                            "snapshot chunk rejected on arrival; asking for it again");
                        writer.write(&Frame::ChunkRetry { index }).await?;
                        outstanding = true;
                    }
                    Err(e) => return Err(e),
                }
            }
            Frame::FullSyncEnd if outstanding => {} // the resend and a new end follow
            Frame::FullSyncEnd => break,
            Frame::MasterHeartbeat { epoch, .. } => fence.heartbeat(reader.peer(), epoch, node_epoch(shared))?,
            Frame::Refused { code, message } => return Err(refused(reader.peer(), code, message)),
            other => return Err(unexpected(reader.peer(), "SnapshotChunk or FullSyncEnd", &other)),
        }
    }
    let receiver = disk.finish().await?;
    let (staged, manifest) = blocking(move || receiver.finish()).await?;
    tracing::info!(offset = manifest.offset, "full sync: snapshot received and verified; installing");
    // The writer thread, which held the other reference, has ended.
    let decoder = Arc::try_unwrap(decoder)
        .map_err(|_| CoreError::Unavailable { reason: "the snapshot decoder is still being fed".into() })?;
    let install = work.run(move || engine.install_decoded(&staged, decoder));
    tokio::pin!(install);
    let mut tick = tokio::time::interval(heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate
    let summary = loop {
        tokio::select! {
            result = &mut install => break result?,
            _ = tick.tick() => writer.write(&Frame::Ack { applied_offset: applied_before }).await?,
        }
    };
    debug_assert_eq!(summary.offset, manifest.offset);
    Ok(manifest)
}

/// Writes checked chunks, in order, on one blocking thread while the network task receives the
/// next ones (see the module invariants).
#[derive(Debug)]
struct ChunkWriter {
    queue: mpsc::Sender<CheckedChunk>,
    /// The writer thread: the receiver once the queue is closed and drained, or the first error.
    done: Option<tokio::task::JoinHandle<Result<SnapshotReceiver>>>,
}

impl ChunkWriter {
    /// Starts the writer thread; `written(bytes)` runs on it after each chunk is written.
    fn start(mut receiver: SnapshotReceiver, mut written: impl FnMut(&Bytes) + Send + 'static) -> Self {
        let (queue, mut chunks) = mpsc::channel::<CheckedChunk>(WRITE_QUEUE_CHUNKS);
        let done = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = chunks.blocking_recv() {
                let data = chunk.data().clone();
                receiver.write_checked(chunk)?;
                written(&data);
            }
            Ok(receiver)
        });
        Self { queue, done: Some(done) }
    }

    /// Queues `chunk`, waiting while the queue is full. Fails with the writer's error if it
    /// stopped.
    async fn write(&mut self, chunk: CheckedChunk) -> Result<()> {
        if self.queue.send(chunk).await.is_ok() {
            return Ok(());
        }
        // The writer dropped its end of the queue: it returned, and only an error makes it
        // return while the queue is open.
        match self.join().await {
            Err(e) => Err(e),
            Ok(_) => Err(CoreError::Unavailable { reason: "the snapshot writer stopped early".into() }),
        }
    }

    /// Closes the queue and waits until every queued chunk is written; returns the receiver.
    async fn finish(mut self) -> Result<SnapshotReceiver> {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.queue, closed));
        self.join().await
    }

    async fn join(&mut self) -> Result<SnapshotReceiver> {
        let Some(done) = self.done.take() else {
            return Err(CoreError::Unavailable { reason: "the snapshot writer already stopped".into() });
        };
        done.await.map_err(|e| CoreError::Unavailable { reason: format!("the snapshot writer failed: {e}") })?
    }
}

fn violation(reader: &FrameReader, detail: String) -> CoreError {
    CoreError::ProtocolViolation { peer: reader.peer().to_owned(), detail }
}

/// Removes everything an earlier, interrupted sync left in the staging directory.
fn clean_staging(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CoreError::io(dir, e)),
    };
    let mut removed: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| CoreError::io(dir, e))?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(|e| CoreError::io(&path, e))?;
        } else {
            fsutil::remove_file_if_exists(&path)?;
        }
        removed.push(path);
    }
    if !removed.is_empty() {
        tracing::info!(files = removed.len(), dir = %dir.display(), "removed stale files from the staging directory");
        fsutil::sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::storage::snapshot::{self, CHUNK_BYTES, SnapshotWriter};

    /// A snapshot of `chunks` full chunks on the "master" side, and its manifest and chunks.
    fn source(dir: &Path, chunks: usize) -> (SnapshotManifest, Vec<u8>, Vec<SnapshotChunk>) {
        let mut writer = SnapshotWriter::create(dir, 1, 10).expect("snapshot writer");
        let body: Vec<u8> = (0..chunks * CHUNK_BYTES).map(|i| (i % 251) as u8).collect();
        writer.write_all(&body).expect("body");
        let (path, manifest) = writer.finish(1, 1).expect("finish");
        let (_, cursor) = snapshot::open_chunks(&path).expect("open");
        let sent = cursor.collect::<Result<Vec<_>>>().expect("chunks");
        (manifest, body, sent)
    }

    #[tokio::test]
    async fn chunks_written_by_the_writer_thread_make_the_verified_file() {
        let (src, dst) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        let (manifest, body, sent) = source(src.path(), 6);
        let receiver = SnapshotReceiver::create(dst.path(), manifest.clone()).expect("receiver");
        let mut checker = receiver.checker();
        let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = written.clone();
        let mut disk = ChunkWriter::start(receiver, move |chunk: &Bytes| {
            counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::SeqCst);
        });
        for chunk in sent {
            disk.write(checker.check(chunk).expect("valid chunk")).await.expect("queued");
        }
        let receiver = disk.finish().await.expect("every chunk written");
        assert_eq!(written.load(std::sync::atomic::Ordering::SeqCst), manifest.body_bytes);
        let (path, finished) = receiver.finish().expect("verified and published");
        assert_eq!(finished, manifest);
        let (_, mut read) = snapshot::open_verified(&path).expect("open");
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut read, &mut got).expect("read");
        assert!(got == body, "the file holds the body that was sent");
    }

    #[tokio::test]
    async fn a_write_error_on_the_writer_thread_fails_the_transfer() {
        let (src, dst) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        let (manifest, _, sent) = source(src.path(), 3);
        let receiver = SnapshotReceiver::create(dst.path(), manifest).expect("receiver");
        // Two checkers each pass chunk 0: the writer refuses the second copy (out of order).
        let (mut first, mut second) = (receiver.checker(), receiver.checker());
        let mut disk = ChunkWriter::start(receiver, |_: &Bytes| {});
        disk.write(first.check(sent[0].clone()).expect("valid")).await.expect("queued");
        let duplicate = second.check(sent[0].clone()).expect("valid for its own checker");
        // The error surfaces either when queueing (the writer already stopped) or at the end.
        let err = match disk.write(duplicate).await {
            Err(e) => e,
            Ok(()) => disk.finish().await.expect_err("the writer failed"),
        };
        assert!(
            matches!(err, CoreError::SnapshotChunkRejected { index: 0, ref reason } if reason.contains("out of order")),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(dst.path()).expect("dir").count(), 0, "the temporary file is removed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_queue_bound_waits_for_a_slow_writer() {
        let (src, dst) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        let (manifest, _, sent) = source(src.path(), WRITE_QUEUE_CHUNKS + 2);
        let receiver = SnapshotReceiver::create(dst.path(), manifest).expect("receiver");
        let mut checker = receiver.checker();
        // The writer thread stops inside its first callback until released.
        let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let mut first = true;
        let mut disk = ChunkWriter::start(receiver, move |_: &Bytes| {
            if std::mem::take(&mut first) {
                entered_tx.send(()).expect("test alive");
                release_rx.recv().expect("released");
            }
        });
        let mut chunks = sent.into_iter();
        let chunk0 = checker.check(chunks.next().expect("chunk 0")).expect("valid");
        disk.write(chunk0).await.expect("queued");
        tokio::task::spawn_blocking(move || entered_rx.recv().expect("writer entered"))
            .await
            .expect("wait for the writer");
        for _ in 0..WRITE_QUEUE_CHUNKS {
            let chunk = checker.check(chunks.next().expect("chunk")).expect("valid");
            disk.write(chunk).await.expect("room in the queue");
        }
        assert_eq!(disk.queue.capacity(), 0, "the queue holds {WRITE_QUEUE_CHUNKS} chunks, no more");
        assert!(disk.queue.try_reserve().is_err(), "a further chunk would wait");
        release_tx.send(()).expect("writer alive");
        let last = checker.check(chunks.next().expect("last chunk")).expect("valid");
        disk.write(last).await.expect("queued once the writer moves on");
        let receiver = disk.finish().await.expect("all written");
        assert_eq!(receiver.next_index(), (WRITE_QUEUE_CHUNKS + 2) as u64);
    }
}
