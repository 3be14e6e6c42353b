//! Receiving a full sync: the master's snapshot file, chunk by chunk, then its installation.
//!
//! Invariants:
//! - Each chunk is checked on arrival (index, length, CRC32C) before it is written; a chunk that
//!   fails is asked for again with `ChunkRetry{index}`, at most [`MAX_CHUNK_RETRIES`] times, after
//!   which the session fails (the next handshake starts over).
//! - Retries are go-back-N: after `ChunkRetry{i}` the master resends chunk `i` and every chunk
//!   after it, then `FullSyncEnd` again. While a retry is outstanding the replica drops every
//!   chunk other than `i` and the `FullSyncEnd` that was already in flight.
//! - Nothing is acknowledged during the transfer or the installation; `install_snapshot` swaps
//!   the state atomically (no reader sees a half-loaded state) and is durable when it returns.
//! - Stale files in the staging directory (an earlier interrupted sync) are removed first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::now_ms;
use crate::error::{CoreError, Result};
use crate::replication::conn::{FrameReader, FrameWriter};
use crate::replication::frame::Frame;
use crate::replication::node::Shared;
use crate::replication::replica::engine_work::{EngineWork, blocking};
use crate::replication::replica::handshake::{refused, unexpected};
use crate::replication::replica::stream::{Fence, node_epoch};
use crate::storage::fsutil;
use crate::storage::snapshot::{SnapshotChunk, SnapshotManifest, SnapshotReceiver};

/// Most times one chunk is asked for again before the session fails.
pub(super) const MAX_CHUNK_RETRIES: u32 = 3;

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
    let mut receiver = {
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
    let mut done = 0u64;
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
                let next = receiver.next_index();
                if index != next {
                    if outstanding || index < next {
                        continue; // sent before our retry request, or a duplicate
                    }
                    return Err(violation(reader, format!("snapshot chunk {index} arrived, {next} expected")));
                }
                let len = data.len() as u64;
                let (back, accepted) = blocking(move || {
                    let accepted = receiver.accept_chunk(&SnapshotChunk { index, crc32c, data });
                    Ok((receiver, accepted))
                })
                .await?;
                receiver = back;
                match accepted {
                    Ok(()) => {
                        outstanding = false;
                        done += len;
                        shared.link.sync_progress(done, total);
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
    let (staged, manifest) = blocking(move || receiver.finish()).await?;
    tracing::info!(offset = manifest.offset, "full sync: snapshot received and verified; installing");
    let install = work.run(move || engine.install_snapshot(&staged));
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
