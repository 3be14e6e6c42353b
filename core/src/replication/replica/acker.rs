//! The acknowledging task of a streaming session: it owns the writing half of the connection,
//! waits until what the reading task applied is durable, and acknowledges it.
//!
//! Invariants:
//! - An `Ack` carries an offset only after `wait_replicated_durable_async` returned for it, so the
//!   master never counts an operation the replica could still lose.
//! - An ack is sent as soon as the fsync that covers it returns (one ack per frame, or one per
//!   burst when frames arrive faster than fsyncs); no timer delays it. Meanwhile the reading task
//!   keeps applying, so visibility on the replica never waits for an fsync.
//! - When nothing was sent for `heartbeat_interval`, the last acknowledged offset is sent again
//!   as the replica's heartbeat.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::engine::Engine;
use crate::error::{CoreError, Result};
use crate::replication::conn::FrameWriter;
use crate::replication::frame::Frame;

/// Handle of a running acknowledging task; dropping it stops the task.
#[derive(Debug)]
pub(super) struct Acker {
    applied: watch::Sender<u64>,
    task: JoinHandle<Result<()>>,
}

impl Acker {
    /// Starts acknowledging; `applied` (already durable or about to be) is acknowledged at once,
    /// so a master waiting for a caught-up replica's first ack does not wait for a heartbeat.
    pub(super) fn spawn(engine: Arc<Engine>, writer: FrameWriter, applied: u64, heartbeat: Duration) -> Acker {
        let (tx, rx) = watch::channel(applied);
        let task = tokio::spawn(ack_loop(engine, writer, rx, heartbeat));
        Acker { applied: tx, task }
    }

    /// Tells the task the engine applied up to `offset`.
    pub(super) fn applied(&self, offset: u64) {
        self.applied.send_replace(offset);
    }

    /// Resolves when the task stopped, with the reason (a write or fsync failure). Cancel-safe.
    pub(super) async fn failed(&mut self) -> CoreError {
        match (&mut self.task).await {
            Ok(Err(e)) => e,
            Ok(Ok(())) => CoreError::Unavailable { reason: "the replica's acknowledging task stopped".into() },
            Err(e) => CoreError::Unavailable { reason: format!("the replica's acknowledging task failed: {e}") },
        }
    }
}

impl Drop for Acker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn ack_loop(
    engine: Arc<Engine>,
    mut writer: FrameWriter,
    mut applied: watch::Receiver<u64>,
    heartbeat: Duration,
) -> Result<()> {
    let mut acked: Option<u64> = None;
    let mut last_sent = Instant::now();
    loop {
        let target = *applied.borrow_and_update();
        if acked.is_none_or(|a| target > a) {
            engine.wait_replicated_durable_async(target).await?;
            writer.write(&Frame::Ack { applied_offset: target }).await?;
            acked = Some(target);
            last_sent = Instant::now();
            continue;
        }
        tokio::select! {
            changed = applied.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            () = tokio::time::sleep_until(last_sent + heartbeat) => {
                writer.write(&Frame::Ack { applied_offset: target }).await?;
                last_sent = Instant::now();
            }
        }
    }
}
