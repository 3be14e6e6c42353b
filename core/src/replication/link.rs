//! The replica's view of its link to the master: facts recorded by the replication client as
//! they happen.
//!
//! Invariant: `caught_up_at_ms` only moves when a frame from the master proves the replica had
//! applied everything the master had at that moment (applied >= master's last offset carried by
//! the frame), so the replica's lag is measured, never guessed, and keeps growing while the link
//! is down. `last_sync_ms` only moves when a sync completes, so it stays unchanged while
//! disconnected.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use vectorizer_sdk_types::{ReplicaStatus, SyncProgress};

use crate::replication::health::{self, HealthConfig, LinkFacts};

/// Facts of the current (or last) session with the master.
#[derive(Debug, Default)]
pub struct LinkInner {
    pub link_up: bool,
    pub syncing: bool,
    /// Offset the current sync completes at.
    pub sync_target: u64,
    pub sync_is_full: bool,
    pub sync_progress: Option<SyncProgress>,
    pub link_down_since_ms: Option<u64>,
    pub last_error: Option<String>,
    /// Master's HTTP address as announced in the handshake.
    pub master_http: Option<String>,
    /// Wall-clock ms of the last frame received from the master.
    pub last_heard_ms: u64,
    /// Status last logged (transitions are logged once).
    pub last_status: Option<ReplicaStatus>,
}

/// Replica-side link state plus the counters that survive restarts.
#[derive(Debug, Default)]
pub struct LinkState {
    pub inner: Mutex<LinkInner>,
    /// Last instant (ms) the replica was known caught up (0 = never).
    pub caught_up_at_ms: AtomicU64,
    /// Last master offset heard of.
    pub master_offset_seen: AtomicU64,
    /// When this process started following its master (lag origin before the first catch-up).
    pub following_since_ms: AtomicU64,
}

impl LinkState {
    /// Records a frame from the master carrying its last offset, after the replica's applied offset
    /// became `applied`. Moves `caught_up_at_ms` if the replica has everything the master had.
    pub fn heard(&self, master_last_offset: u64, applied: u64, now_ms: u64) {
        self.master_offset_seen.fetch_max(master_last_offset, Ordering::SeqCst);
        self.inner.lock().last_heard_ms = now_ms;
        if applied >= master_last_offset {
            self.caught_up_at_ms.fetch_max(now_ms, Ordering::SeqCst);
        }
    }

    /// Records a frame from the master that carries no offset (a snapshot chunk): the master is
    /// alive, nothing is known about being caught up.
    pub fn heard_frame(&self, now_ms: u64) {
        self.inner.lock().last_heard_ms = now_ms;
    }

    /// Marks the link up (after a successful handshake). `master_last_offset` is the master's
    /// position as the handshake told it; it *replaces* the last known master offset, so a new
    /// master whose log is shorter than the previous one's does not leave a stale pending count.
    pub fn up(&self, master_http: String, master_last_offset: u64, now_ms: u64) {
        self.master_offset_seen.store(master_last_offset, Ordering::SeqCst);
        let mut inner = self.inner.lock();
        inner.link_up = true;
        inner.link_down_since_ms = None;
        inner.master_http = Some(master_http);
        inner.last_heard_ms = now_ms;
    }

    /// Marks the link down with the reason.
    pub fn down(&self, error: Option<String>, now_ms: u64) {
        let mut inner = self.inner.lock();
        if inner.link_up || inner.link_down_since_ms.is_none() {
            inner.link_down_since_ms = Some(now_ms);
        }
        inner.link_up = false;
        inner.syncing = false;
        inner.sync_progress = None;
        if error.is_some() {
            inner.last_error = error;
        }
    }

    /// Marks a sync as started; it completes when `applied` reaches `target`.
    pub fn begin_sync(&self, full: bool, target: u64) {
        let mut inner = self.inner.lock();
        inner.syncing = true;
        inner.sync_is_full = full;
        inner.sync_target = target;
        inner.sync_progress = None;
    }

    /// Progress of a full sync: snapshot body bytes received so far out of the total.
    pub fn sync_progress(&self, bytes_done: u64, bytes_total: u64) {
        self.inner.lock().sync_progress = Some(SyncProgress { bytes_done, bytes_total });
    }

    /// Called after each apply: returns `Some(full)` when this apply completed the sync.
    pub fn check_sync_complete(&self, applied: u64) -> Option<bool> {
        let mut inner = self.inner.lock();
        if inner.syncing && applied >= inner.sync_target {
            inner.syncing = false;
            inner.sync_progress = None;
            return Some(inner.sync_is_full);
        }
        None
    }

    /// Replica lag now (see the module invariant). Reported 0 only while the link is up, no sync is
    /// running, the replica has applied the master's last known offset and the master was heard
    /// within 1.5 heartbeat intervals (so silence cannot hide lag for long).
    pub fn lag_ms(&self, applied: u64, now_ms: u64, heartbeat_ms: u64) -> u64 {
        let inner = self.inner.lock();
        let fresh = now_ms.saturating_sub(inner.last_heard_ms) <= heartbeat_ms + heartbeat_ms / 2;
        let caught_up_now =
            inner.link_up && !inner.syncing && fresh && applied >= self.master_offset_seen.load(Ordering::SeqCst);
        drop(inner);
        let at = self.caught_up_at_ms.load(Ordering::SeqCst);
        health::replica_view_lag_ms(
            (at > 0).then_some(at),
            self.following_since_ms.load(Ordering::SeqCst),
            now_ms,
            caught_up_now,
        )
    }

    /// Status of the link now.
    pub fn status(&self, lag_ms: u64, now_ms: u64, cfg: &HealthConfig) -> ReplicaStatus {
        let inner = self.inner.lock();
        let facts =
            LinkFacts { link_up: inner.link_up, syncing: inner.syncing, last_heard_ms: inner.last_heard_ms, lag_ms };
        drop(inner);
        health::status(facts, now_ms, cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_grows_while_down_and_resets_when_caught_up() {
        let link = LinkState::default();
        link.following_since_ms.store(1_000, Ordering::SeqCst);
        link.up("m:1".into(), 0, 1_000);
        link.heard(10, 10, 1_100);
        assert_eq!(link.lag_ms(10, 1_150, 10_000), 0);
        link.down(Some("reset".into()), 2_000);
        assert_eq!(link.lag_ms(10, 5_000, 10_000), 3_900, "counts from the last caught-up instant");
        assert_eq!(link.lag_ms(10, 9_000, 10_000), 7_900, "and keeps growing");
        assert_eq!(link.status(7_900, 9_000, &HealthConfig::default()), ReplicaStatus::Disconnected);
    }

    #[test]
    fn behind_the_master_is_not_caught_up() {
        let link = LinkState::default();
        link.following_since_ms.store(0, Ordering::SeqCst);
        link.up("m:1".into(), 0, 0);
        link.heard(5, 5, 100);
        link.heard(50, 20, 400);
        assert_eq!(link.lag_ms(20, 500, 10_000), 400, "caught up last at 100");
        link.heard(50, 50, 600);
        assert_eq!(link.lag_ms(50, 650, 10_000), 0);
    }

    #[test]
    fn silence_longer_than_the_heartbeat_shows_as_lag() {
        let link = LinkState::default();
        link.up("m:1".into(), 0, 0);
        link.heard(5, 5, 1_000);
        assert_eq!(link.lag_ms(5, 2_000, 1_000), 0, "within 1.5 heartbeats");
        assert_eq!(link.lag_ms(5, 3_000, 1_000), 2_000, "silent past 1.5 heartbeats");
    }

    #[test]
    fn sync_completes_once_at_target() {
        let link = LinkState::default();
        link.begin_sync(true, 100);
        assert_eq!(link.check_sync_complete(99), None);
        assert_eq!(link.check_sync_complete(100), Some(true));
        assert_eq!(link.check_sync_complete(101), None);
    }
}
