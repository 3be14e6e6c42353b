//! The record stream: sends the log to a replica from an offset on, as records are appended, with
//! a heartbeat when nothing was sent for `heartbeat_interval`.
//!
//! Invariants:
//! - Records go out in offset order with no gap, each `Records` frame carrying at most
//!   `RECORDS_FRAME_TARGET_BYTES` of records (one bigger record travels alone) and the master's
//!   last offset at the time it was sent.
//! - A new append is sent as soon as the sender sees it: the sender awaits
//!   `OpLog::appended_after`, which an append wakes at once; there is no batching delay. Reads
//!   of the last few records (just written, in the page cache) run on the sender's task, others
//!   on the blocking pool.
//! - Waits are sliced (at most [`WAIT_SLICE`]) so a cancelled session is never held up longer.
//! - One read batch, then its encoding, is in memory at a time.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::full_sync::blocking;
use super::session::SessionState;
use crate::engine::now_ms;
use crate::error::Result;
use crate::replication::conn::FrameWriter;
use crate::replication::frame::{Frame, RECORDS_FRAME_TARGET_BYTES};
use crate::replication::node::Shared;

/// Longest single wait for an append.
pub(super) const WAIT_SLICE: Duration = Duration::from_millis(250);

/// A sender this close behind the log's end reads on its own task: the records were just written,
/// so the read is a page-cache copy, cheaper than two hand-offs to the blocking pool. Further
/// behind (catch-up), reads may hit the disk and go to the blocking pool.
const INLINE_READ_MAX_BYTES: u64 = 64 * 1024;

/// Streams from `from` on. Returns only on failure, or `Ok(index)` when `retries` delivers a
/// snapshot chunk retry (checked between frames), in which case the caller resends the snapshot.
pub(super) async fn run(
    shared: &Shared,
    writer: &mut FrameWriter,
    from: u64,
    state: &SessionState,
    mut retries: Option<&mut mpsc::Receiver<u64>>,
) -> Result<u64> {
    let heartbeat = shared.config.heartbeat_interval;
    let mut next = from;
    let mut last_write = Instant::now();
    loop {
        if let Some(retries) = retries.as_deref_mut()
            && let Ok(index) = retries.try_recv()
        {
            return Ok(index);
        }
        let idle = last_write.elapsed();
        if idle >= heartbeat {
            let log = shared.engine.log();
            writer
                .write(&Frame::MasterHeartbeat {
                    epoch: shared.engine.epoch(),
                    master_last_offset: log.last_offset(),
                    master_time_ms: now_ms(),
                })
                .await?;
            last_write = Instant::now();
            continue;
        }
        let wait = (heartbeat - idle).min(WAIT_SLICE);
        let log = shared.engine.log();
        let after = next - 1;
        if log.last_offset() <= after {
            // Nothing new: sleep until an append wakes us, or the slice ends (heartbeat, retries).
            if tokio::time::timeout(wait, log.appended_after(after)).await.is_err() {
                continue;
            }
        }
        let records = if log.bytes_after(after) <= INLINE_READ_MAX_BYTES {
            log.read_from(next, RECORDS_FRAME_TARGET_BYTES)?
        } else {
            let engine = shared.engine.clone();
            blocking(move || engine.log().read_from(next, RECORDS_FRAME_TARGET_BYTES)).await?
        };
        let Some(last) = records.last().map(|r| r.offset) else {
            continue;
        };
        let frame = Frame::Records { master_last_offset: shared.engine.log().last_offset(), records }.encode();
        writer.write_encoded(&frame).await?;
        drop(frame);
        state.mark_delivered(last);
        next = last + 1;
        last_write = Instant::now();
    }
}
