//! Durability waiting: group commit for `FsyncPolicy::Always` and the background flusher for
//! `FsyncPolicy::EveryMs`.
//!
//! Invariant: `durable` only ever names an offset whose record was written before an fsync that
//! completed successfully, within the same log generation (a truncate or reset starts a new
//! generation, so an fsync that started before it cannot advance the watermark after it). At most
//! one fsync is in flight; a waiter whose record was written after that fsync started waits for the
//! next one, and one fsync releases every waiter it covers.
//!
//! Waiters come in two kinds that share the protocol: blocking threads ([`GroupCommit::wait_durable`],
//! parked on a condvar) and async tasks (`OpLog::wait_durable_async`, parked on a
//! `tokio::sync::Notify` at no thread's cost; only a task that must lead an fsync hands it to the
//! blocking pool). Every change of the watermark, the in-flight flag or the poison wakes both kinds.
//!
//! After an fsync fails the log is poisoned: the page cache state of the file is unknown (a failed
//! fsync may have dropped dirty pages), so every later append and wait fails until restart, where
//! recovery re-reads what is really on disk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::{CoreError, Result};

#[derive(Debug)]
struct SyncState {
    /// Highest offset known to be on stable storage.
    durable: u64,
    /// An fsync is running (its leader does not hold the mutex).
    in_flight: bool,
    /// Bumped by truncate/reset.
    generation: u64,
    poisoned: Option<String>,
}

/// The durability watermark and the single-fsync-in-flight protocol.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    state: Mutex<SyncState>,
    changed: Condvar,
    /// The same signal as `changed`, for async waiters.
    changed_async: tokio::sync::Notify,
    poisoned: AtomicBool,
}

/// What a waiter for an offset does next ([`GroupCommit::turn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// The offset is durable.
    Durable,
    /// Another waiter's fsync is in flight: wait for a change, then ask again.
    Wait,
    /// This waiter leads: fsync, then report through [`GroupCommit::finish_lead`].
    Lead { generation: u64 },
}

impl GroupCommit {
    pub(crate) fn new(durable: u64) -> Self {
        Self {
            state: Mutex::new(SyncState { durable, in_flight: false, generation: 0, poisoned: None }),
            changed: Condvar::new(),
            changed_async: tokio::sync::Notify::new(),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Highest durable offset.
    pub(crate) fn durable(&self) -> u64 {
        self.state.lock().durable
    }

    /// `Err(Unavailable)` once an fsync has failed.
    pub(crate) fn check(&self) -> Result<()> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let reason = self.state.lock().poisoned.clone().unwrap_or_default();
        Err(CoreError::Unavailable { reason })
    }

    /// Marks the log unusable after a failed fsync or an unknown file tail; wakes every waiter.
    pub(crate) fn poison(&self, reason: String) {
        tracing::error!(%reason, "operation log poisoned; restart to recover from disk");
        let mut st = self.state.lock();
        st.poisoned.get_or_insert(reason);
        self.poisoned.store(true, Ordering::Release);
        self.wake();
    }

    /// Records that everything up to `offset` was fsynced outside the group protocol (rotation).
    pub(crate) fn advance(&self, offset: u64) {
        let mut st = self.state.lock();
        if offset > st.durable {
            st.durable = offset;
            self.wake();
        }
    }

    /// After truncate/reset: the watermark drops to `offset` and in-flight fsyncs no longer count.
    pub(crate) fn rewind(&self, offset: u64) {
        let mut st = self.state.lock();
        st.durable = st.durable.min(offset);
        st.generation += 1;
        self.wake();
    }

    /// Same as [`rewind`](Self::rewind) but sets the watermark exactly (reset to an empty log).
    pub(crate) fn restart_at(&self, offset: u64) {
        let mut st = self.state.lock();
        st.durable = offset;
        st.generation += 1;
        self.wake();
    }

    /// Wakes every waiter, blocking and async (call with or without `state` held).
    fn wake(&self) {
        self.changed.notify_all();
        self.changed_async.notify_waiters();
    }

    /// A future that completes at the next [`wake`](Self::wake). It is registered when created,
    /// so create it before reading the state it waits on.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed_async.notified()
    }

    /// One non-blocking step for a waiter of `offset`: durable, wait, or lead the next fsync (then
    /// this call marked it in flight, and the caller must call [`finish_lead`](Self::finish_lead)
    /// whatever happens). `last_written` returns the newest written offset; it is called without
    /// the internal mutex held. Fails if `offset` was never written or the log is poisoned.
    pub(crate) fn turn(&self, offset: u64, last_written: &dyn Fn() -> u64) -> Result<Turn> {
        loop {
            {
                let st = self.state.lock();
                if let Some(reason) = &st.poisoned {
                    return Err(CoreError::Unavailable { reason: reason.clone() });
                }
                if st.durable >= offset {
                    return Ok(Turn::Durable);
                }
                if st.in_flight {
                    return Ok(Turn::Wait);
                }
            }
            // Checked only when about to lead, so a waiter never calls back into the log while
            // holding this mutex; the order is always log state -> this mutex.
            let last = last_written();
            let mut st = self.state.lock();
            if offset > last {
                return Err(CoreError::invalid(
                    "offset",
                    format!("offset {offset} is not in the log (last written offset is {last})"),
                ));
            }
            if st.in_flight || st.durable >= offset || st.poisoned.is_some() {
                continue;
            }
            st.in_flight = true;
            return Ok(Turn::Lead { generation: st.generation });
        }
    }

    /// Ends the fsync led after [`Turn::Lead`]: `result` is the newest offset written before the
    /// fsync started, or its failure (which poisons the log). Wakes every waiter.
    pub(crate) fn finish_lead(&self, generation: u64, result: Result<u64>) -> Result<()> {
        let mut st = self.state.lock();
        st.in_flight = false;
        self.wake();
        match result {
            Ok(covered) => {
                if st.generation == generation {
                    st.durable = st.durable.max(covered);
                }
                Ok(())
            }
            Err(e) => {
                drop(st);
                self.poison(format!("fsync of the operation log failed: {e}"));
                Err(e)
            }
        }
    }

    /// Blocks until `offset` is durable.
    ///
    /// `last_written` returns the newest written offset; `sync_written` fsyncs and returns the
    /// newest offset that was written before the fsync started. Both are called without the
    /// internal mutex held. Fails if `offset` was never written (or was truncated away) or if an
    /// fsync fails.
    pub(crate) fn wait_durable(
        &self,
        offset: u64,
        last_written: &dyn Fn() -> u64,
        sync_written: &dyn Fn() -> Result<u64>,
    ) -> Result<()> {
        loop {
            match self.turn(offset, last_written)? {
                Turn::Durable => return Ok(()),
                Turn::Wait => {
                    let mut st = self.state.lock();
                    while st.in_flight && st.durable < offset && st.poisoned.is_none() {
                        self.changed.wait(&mut st);
                    }
                }
                Turn::Lead { generation } => self.finish_lead(generation, sync_written())?,
            }
        }
    }
}

/// Stop signal of the background flusher.
#[derive(Debug, Default)]
pub(crate) struct FlusherStop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl FlusherStop {
    /// Waits `period` or until stopped; returns `false` once stopped.
    pub(crate) fn sleep(&self, period: Duration) -> bool {
        let deadline = std::time::Instant::now() + period;
        let mut stopped = self.stopped.lock();
        while !*stopped {
            if self.wake.wait_until(&mut stopped, deadline).timed_out() {
                break;
            }
        }
        !*stopped
    }

    pub(crate) fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    /// A fake "log": writes bump `written`; a sync covers what was written when it started.
    struct Fake {
        written: AtomicU64,
        syncs: AtomicU64,
    }

    #[test]
    fn one_sync_serves_every_waiter_written_before_it() {
        let fake = Fake { written: AtomicU64::new(10), syncs: AtomicU64::new(0) };
        let gc = GroupCommit::new(0);
        let last = || fake.written.load(Ordering::SeqCst);
        let sync = || {
            fake.syncs.fetch_add(1, Ordering::SeqCst);
            Ok(fake.written.load(Ordering::SeqCst))
        };
        for offset in 1..=10 {
            gc.wait_durable(offset, &last, &sync).expect("durable");
        }
        assert_eq!(fake.syncs.load(Ordering::SeqCst), 1);
        assert_eq!(gc.durable(), 10);
        let err = gc.wait_durable(11, &last, &sync).expect_err("never written");
        assert!(matches!(err, CoreError::InvalidArgument { .. }));
    }

    #[test]
    fn failed_sync_poisons() {
        let gc = Arc::new(GroupCommit::new(0));
        let last = || 5;
        let fail = || Err(CoreError::io("x.seg", std::io::Error::other("disk gone")));
        assert!(matches!(gc.wait_durable(1, &last, &fail), Err(CoreError::Io { .. })));
        assert!(matches!(gc.check(), Err(CoreError::Unavailable { .. })));
        let ok = || Ok(5);
        assert!(matches!(gc.wait_durable(1, &last, &ok), Err(CoreError::Unavailable { .. })));
    }

    #[test]
    fn sync_started_before_a_rewind_does_not_count() {
        let gc = GroupCommit::new(0);
        let syncs = AtomicU64::new(0);
        let last = || 3;
        // The first sync is overtaken by a truncate (rewind) while it runs: it must not advance
        // the watermark, so the waiter leads a second sync.
        let sync = || {
            if syncs.fetch_add(1, Ordering::SeqCst) == 0 {
                gc.rewind(0);
            }
            Ok(3)
        };
        gc.wait_durable(3, &last, &sync).expect("second sync counts");
        assert_eq!(syncs.load(Ordering::SeqCst), 2);
        assert_eq!(gc.durable(), 3);
    }
}
