//! The master's registry of replicas: one entry per replica id ever seen, with the facts its
//! sessions record as they happen (bytes written, acknowledged offset, last frame heard, sync
//! state, link up/down).
//!
//! Invariants:
//! - At most one live session per replica id: attaching a new session for an id closes the old one.
//! - Counters only grow (`operations_synced` grows by exactly the advance of the acknowledged
//!   offset), and are persisted by the node's state file.
//! - Disconnected replicas stay listed with their last known state; they leave the active set
//!   (`connected_replicas`, write-concern acks) because [`health::is_active`] says so.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use tokio_util::sync::CancellationToken;
use vectorizer_sdk_types::{ReplicaInfo, ReplicaStatus, SyncProgress};

use crate::engine::rfc3339_ms;
use crate::error::{CoreError, Result};
use crate::replication::health::{self, HealthConfig, LinkFacts};
use crate::replication::persist::PersistedReplica;

/// Where a replica said it can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub host: String,
    pub port: u16,
    pub repl_addr: String,
}

/// Session facts of one replica, changed by its session task.
#[derive(Debug)]
pub struct SessionFacts {
    /// Id of the live session (0 = none).
    pub session: u64,
    pub link_up: bool,
    /// A sync is in progress until the replica acks `sync_target`.
    pub syncing: bool,
    pub sync_target: u64,
    pub sync_is_full: bool,
    pub sync_progress: Option<SyncProgress>,
    pub link_down_since_ms: Option<u64>,
    pub last_error: Option<String>,
    /// Status last reported by the health ticker (to log transitions once).
    pub last_status: ReplicaStatus,
    /// Cancels the live session (health timeout, buffer overflow, replaced, demotion). Taken
    /// (`None`) as soon as someone closes the session, so a closing session is no longer live.
    pub close: Option<CancellationToken>,
    /// The replica's position as the live session knows it: its applied offset from the Hello
    /// (partial sync), the snapshot offset once a full sync chose one, then its acknowledgements.
    /// `None` while a full sync prepares its snapshot. Drives log pinning and the backlog cap.
    pub position: Option<u64>,
    /// Highest offset the live session's replica acknowledged as durable (`None` before its first
    /// ack). Only this counts toward write concern: it is never set from a plan, only from acks.
    pub session_acked: Option<u64>,
}

/// One replica as the master sees it.
#[derive(Debug)]
pub struct ReplicaEntry {
    pub id: String,
    pub announced: Mutex<Announced>,
    /// Bytes written to this replica's sockets (all sessions).
    pub bytes_sent: Arc<AtomicU64>,
    pub acked_offset: AtomicU64,
    pub operations_synced: AtomicU64,
    pub full_syncs: AtomicU64,
    pub partial_syncs: AtomicU64,
    /// Wall-clock ms of the last frame received from the replica.
    pub last_heartbeat_ms: AtomicU64,
    pub facts: Mutex<SessionFacts>,
    /// (offset, append timestamp) of the oldest unacknowledged record, cached for lag.
    oldest_unacked: Mutex<Option<(u64, u64)>>,
    /// The registry's acknowledgement signal.
    ack_signal: Arc<tokio::sync::Notify>,
}

/// Everything the master knows about its replicas.
#[derive(Debug, Default)]
pub struct Registry {
    entries: RwLock<BTreeMap<String, Arc<ReplicaEntry>>>,
    next_session: AtomicU64,
    /// Woken on every acknowledgement (write-concern waiters).
    ack_signal: Arc<tokio::sync::Notify>,
}

/// Returned by [`Registry::attach`]; marks the link down when dropped (only if it is still the
/// live session of that replica).
#[derive(Debug)]
pub struct SessionGuard {
    pub entry: Arc<ReplicaEntry>,
    pub session: u64,
    pub cancel: CancellationToken,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut facts = self.entry.facts.lock();
        if facts.session == self.session {
            facts.link_up = false;
            facts.syncing = false;
            facts.sync_progress = None;
            facts.close = None;
            facts.position = None;
            facts.session_acked = None;
            facts.link_down_since_ms = Some(crate::engine::now_ms());
        }
    }
}

impl SessionGuard {
    /// Records why this session failed, unless a newer session of the same replica took over
    /// (its link facts are not this session's to change).
    pub fn fail(&self, error: impl Into<String>) {
        let mut facts = self.entry.facts.lock();
        if facts.session == self.session {
            facts.last_error = Some(error.into());
        }
    }

    /// Sets the replica's position as this session knows it (see [`SessionFacts::position`]).
    pub fn set_position(&self, offset: u64) {
        let mut facts = self.entry.facts.lock();
        if facts.session == self.session {
            facts.position = Some(offset);
        }
    }
}

impl ReplicaEntry {
    fn new(id: String, announced: Announced, ack_signal: Arc<tokio::sync::Notify>) -> Self {
        Self {
            id,
            announced: Mutex::new(announced),
            bytes_sent: Arc::new(AtomicU64::new(0)),
            acked_offset: AtomicU64::new(0),
            operations_synced: AtomicU64::new(0),
            full_syncs: AtomicU64::new(0),
            partial_syncs: AtomicU64::new(0),
            last_heartbeat_ms: AtomicU64::new(0),
            facts: Mutex::new(SessionFacts {
                session: 0,
                link_up: false,
                syncing: false,
                sync_target: 0,
                sync_is_full: false,
                sync_progress: None,
                link_down_since_ms: None,
                last_error: None,
                last_status: ReplicaStatus::Disconnected,
                close: None,
                position: None,
                session_acked: None,
            }),
            oldest_unacked: Mutex::new(None),
            ack_signal,
        }
    }

    /// Records a frame heard from the replica at `now_ms`.
    pub fn heard(&self, now_ms: u64) {
        self.last_heartbeat_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Records an acknowledgement. `operations_synced` grows by exactly the advance.
    /// Returns true if this ack completed the sync in progress (the caller then counts the sync).
    pub fn record_ack(&self, offset: u64, now_ms: u64) -> bool {
        self.heard(now_ms);
        let prev = self.acked_offset.fetch_max(offset, Ordering::SeqCst);
        if offset > prev {
            self.operations_synced.fetch_add(offset - prev, Ordering::Relaxed);
        }
        let mut facts = self.facts.lock();
        if let Some(position) = facts.position.as_mut() {
            *position = (*position).max(offset);
        }
        if facts.link_up {
            facts.session_acked = Some(facts.session_acked.map_or(offset, |a| a.max(offset)));
            self.ack_signal.notify_waiters();
        }
        if facts.syncing && offset >= facts.sync_target {
            facts.syncing = false;
            facts.sync_progress = None;
            if facts.sync_is_full {
                self.full_syncs.fetch_add(1, Ordering::Relaxed);
            } else {
                self.partial_syncs.fetch_add(1, Ordering::Relaxed);
            }
            return true;
        }
        false
    }

    /// Marks the start of a sync that completes when the replica acks `target`.
    pub fn begin_sync(&self, full: bool, target: u64) {
        let mut facts = self.facts.lock();
        facts.syncing = true;
        facts.sync_is_full = full;
        facts.sync_target = target;
        facts.sync_progress = None;
    }

    /// Sets or clears the full-sync transfer progress.
    pub fn set_progress(&self, progress: Option<SyncProgress>) {
        self.facts.lock().sync_progress = progress;
    }

    /// Remembers the last error of this replica's link.
    pub fn set_error(&self, error: impl Into<String>) {
        self.facts.lock().last_error = Some(error.into());
    }

    /// Closes the live session, if any (the session task sees its token cancelled).
    pub fn close_session(&self) {
        if let Some(token) = self.facts.lock().close.take() {
            token.cancel();
        }
    }

    /// Closes the live session recording `reason` as the link's last error. Returns false (and
    /// records nothing) when no live session was left to close, so concurrent closers (two health
    /// ticks) act and count once.
    pub fn close_session_because(&self, reason: impl Into<String>) -> bool {
        let mut facts = self.facts.lock();
        match facts.close.take() {
            Some(token) => {
                facts.last_error = Some(reason.into());
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether a session is live and not being closed.
    pub fn is_live(&self) -> bool {
        let facts = self.facts.lock();
        facts.link_up && facts.close.is_some()
    }

    /// Current lag in ms; `timestamp_of(offset)` returns the append time of a record.
    pub fn lag_ms(&self, master_last: u64, now_ms: u64, timestamp_of: &dyn Fn(u64) -> Option<u64>) -> u64 {
        let acked = self.acked_offset.load(Ordering::SeqCst);
        if acked >= master_last {
            return 0;
        }
        let wanted = acked + 1;
        let cached = *self.oldest_unacked.lock();
        let ts = match cached {
            Some((offset, ts)) if offset == wanted => Some(ts),
            _ => {
                let ts = timestamp_of(wanted);
                if let Some(ts) = ts {
                    *self.oldest_unacked.lock() = Some((wanted, ts));
                }
                ts
            }
        };
        health::master_view_lag_ms(acked, master_last, ts, now_ms)
    }

    /// Link facts for the status machine.
    pub fn link_facts(&self, lag_ms: u64) -> LinkFacts {
        let facts = self.facts.lock();
        LinkFacts {
            link_up: facts.link_up,
            syncing: facts.syncing,
            last_heard_ms: self.last_heartbeat_ms.load(Ordering::Relaxed),
            lag_ms,
        }
    }

    /// The public description of this replica.
    pub fn info(&self, status: ReplicaStatus, lag_ms: u64) -> ReplicaInfo {
        let announced = self.announced.lock().clone();
        let facts = self.facts.lock();
        ReplicaInfo {
            id: self.id.clone(),
            host: announced.host,
            port: announced.port,
            status,
            lag_ms,
            last_heartbeat: rfc3339_ms(self.last_heartbeat_ms.load(Ordering::Relaxed)),
            operations_synced: self.operations_synced.load(Ordering::Relaxed),
            acked_offset: Some(self.acked_offset.load(Ordering::SeqCst)),
            bytes_sent: Some(self.bytes_sent.load(Ordering::Relaxed)),
            full_syncs: Some(self.full_syncs.load(Ordering::Relaxed)),
            partial_syncs: Some(self.partial_syncs.load(Ordering::Relaxed)),
            sync_progress: facts.sync_progress,
            link_down_since: if facts.link_up { None } else { facts.link_down_since_ms.map(rfc3339_ms) },
            last_error: facts.last_error.clone(),
        }
    }

    fn export(&self) -> PersistedReplica {
        let announced = self.announced.lock().clone();
        PersistedReplica {
            id: self.id.clone(),
            host: announced.host,
            port: announced.port,
            repl_addr: announced.repl_addr,
            acked_offset: self.acked_offset.load(Ordering::SeqCst),
            operations_synced: self.operations_synced.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            full_syncs: self.full_syncs.load(Ordering::Relaxed),
            partial_syncs: self.partial_syncs.load(Ordering::Relaxed),
            last_heartbeat_ms: self.last_heartbeat_ms.load(Ordering::Relaxed),
            last_status: self.facts.lock().last_status,
        }
    }
}

/// One replica's health at one instant, as computed by [`Registry::evaluate`].
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub entry: Arc<ReplicaEntry>,
    pub status: ReplicaStatus,
    pub lag_ms: u64,
}

impl Registry {
    /// A registry holding the replicas persisted in the state file (all Disconnected).
    pub fn restore(persisted: &[PersistedReplica]) -> Self {
        let registry = Self::default();
        let mut entries = registry.entries.write();
        for p in persisted {
            let entry = ReplicaEntry::new(
                p.id.clone(),
                Announced { host: p.host.clone(), port: p.port, repl_addr: p.repl_addr.clone() },
                registry.ack_signal.clone(),
            );
            entry.bytes_sent.store(p.bytes_sent, Ordering::Relaxed);
            entry.acked_offset.store(p.acked_offset, Ordering::SeqCst);
            entry.operations_synced.store(p.operations_synced, Ordering::Relaxed);
            entry.full_syncs.store(p.full_syncs, Ordering::Relaxed);
            entry.partial_syncs.store(p.partial_syncs, Ordering::Relaxed);
            entry.last_heartbeat_ms.store(p.last_heartbeat_ms, Ordering::Relaxed);
            entry.facts.lock().link_down_since_ms = Some(p.last_heartbeat_ms);
            entries.insert(p.id.clone(), Arc::new(entry));
        }
        drop(entries);
        registry
    }

    /// Registers a new session for replica `id`, replacing (closing) any live one. Refuses when
    /// `max_replicas` other replicas already have a live session.
    pub fn attach(&self, id: &str, announced: Announced, max_replicas: usize, now_ms: u64) -> Result<SessionGuard> {
        let mut entries = self.entries.write();
        let live_others = entries.values().filter(|e| e.id != id && e.facts.lock().link_up).count();
        if live_others >= max_replicas {
            return Err(CoreError::ReplicationConflict {
                detail: format!("this master already serves {live_others} replicas (max_replicas = {max_replicas})"),
            });
        }
        let entry = entries
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(ReplicaEntry::new(id.to_owned(), announced.clone(), self.ack_signal.clone())))
            .clone();
        drop(entries);
        *entry.announced.lock() = announced;
        let session = self.next_session.fetch_add(1, Ordering::SeqCst) + 1;
        let cancel = CancellationToken::new();
        {
            let mut facts = entry.facts.lock();
            if let Some(old) = facts.close.take() {
                old.cancel();
            }
            facts.session = session;
            facts.link_up = true;
            facts.syncing = false;
            facts.sync_progress = None;
            facts.link_down_since_ms = None;
            facts.close = Some(cancel.clone());
            facts.position = None;
            facts.session_acked = None;
        }
        entry.heard(now_ms);
        Ok(SessionGuard { entry, session, cancel })
    }

    /// Every entry, ordered by id.
    pub fn entries(&self) -> Vec<Arc<ReplicaEntry>> {
        self.entries.read().values().cloned().collect()
    }

    /// Status and lag of every replica now.
    pub fn evaluate(
        &self,
        master_last: u64,
        now_ms: u64,
        cfg: &HealthConfig,
        timestamp_of: &dyn Fn(u64) -> Option<u64>,
    ) -> Vec<Evaluated> {
        self.entries()
            .into_iter()
            .map(|entry| {
                let lag_ms = entry.lag_ms(master_last, now_ms, timestamp_of);
                let status = health::status(entry.link_facts(lag_ms), now_ms, cfg);
                Evaluated { entry, status, lag_ms }
            })
            .collect()
    }

    /// Replicas (restricted to `members` when given) whose live session acknowledged `offset` as
    /// durable.
    pub fn durable_at(&self, offset: u64, members: Option<&[String]>) -> usize {
        self.entries()
            .iter()
            .filter(|e| members.is_none_or(|m| m.iter().any(|id| *id == e.id)))
            .filter(|e| e.facts.lock().session_acked.is_some_and(|a| a >= offset))
            .count()
    }

    /// Number of known replicas (every id ever registered).
    pub fn known(&self) -> usize {
        self.entries.read().len()
    }

    /// The signal woken on every acknowledgement.
    pub fn ack_signal(&self) -> Arc<tokio::sync::Notify> {
        self.ack_signal.clone()
    }

    /// Closes every live session (demotion, shutdown), recording why on each.
    pub fn close_all(&self) {
        for entry in self.entries() {
            entry.close_session_because("link closed by the master (role change or shutdown)");
        }
    }

    /// State to persist.
    pub fn export(&self) -> Vec<PersistedReplica> {
        self.entries().iter().map(|e| e.export()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announced() -> Announced {
        Announced { host: "127.0.0.1".into(), port: 15003, repl_addr: "127.0.0.1:7002".into() }
    }

    #[test]
    fn acks_count_exact_advances_and_complete_syncs() {
        let reg = Registry::default();
        let guard = reg.attach("r1", announced(), 4, 1_000).expect("attach");
        guard.entry.begin_sync(true, 100);
        assert!(!guard.entry.record_ack(40, 1_001));
        assert!(guard.entry.record_ack(100, 1_002), "reaching the target completes the sync");
        assert!(!guard.entry.record_ack(90, 1_003), "stale acks change nothing");
        assert_eq!(guard.entry.operations_synced.load(Ordering::Relaxed), 100);
        assert_eq!(guard.entry.full_syncs.load(Ordering::Relaxed), 1);
        guard.entry.begin_sync(false, 130);
        assert!(guard.entry.record_ack(130, 1_004));
        assert_eq!(guard.entry.partial_syncs.load(Ordering::Relaxed), 1);
        assert_eq!(guard.entry.operations_synced.load(Ordering::Relaxed), 130);
    }

    #[test]
    fn dropping_the_guard_marks_disconnected_but_keeps_the_entry() {
        let reg = Registry::default();
        let cfg = HealthConfig::default();
        let guard = reg.attach("r1", announced(), 4, 1_000).expect("attach");
        guard.entry.record_ack(5, 1_000);
        let ts = |_o: u64| Some(900u64);
        assert_eq!(reg.evaluate(5, 1_010, &cfg, &ts)[0].status, ReplicaStatus::Connected);
        assert_eq!(reg.evaluate(7, 2_000, &cfg, &ts)[0].status, ReplicaStatus::Lagging, "lag 1100 ms");
        drop(guard);
        let eval = reg.evaluate(7, 2_000, &cfg, &ts);
        assert_eq!(eval.len(), 1);
        assert_eq!(eval[0].status, ReplicaStatus::Disconnected);
        let info = eval[0].entry.info(eval[0].status, eval[0].lag_ms);
        assert_eq!(info.acked_offset, Some(5), "last known state stays visible");
        assert!(info.link_down_since.is_some());
    }

    #[test]
    fn new_session_replaces_old_and_max_replicas_is_enforced() {
        let reg = Registry::default();
        let first = reg.attach("r1", announced(), 1, 1).expect("attach");
        let second = reg.attach("r1", announced(), 1, 2).expect("same id replaces");
        assert!(first.cancel.is_cancelled());
        assert!(reg.attach("r2", announced(), 1, 3).is_err(), "one live replica max");
        drop(first);
        assert!(second.entry.facts.lock().link_up, "the old guard does not mark the new session down");
    }

    #[test]
    fn closing_records_the_reason_once_and_a_replaced_session_cannot_overwrite_facts() {
        let reg = Registry::default();
        let old = reg.attach("r1", announced(), 4, 1).expect("attach");
        old.set_position(10);
        assert!(old.entry.is_live());
        assert!(old.entry.close_session_because("first reason"));
        assert!(!old.entry.close_session_because("second reason"), "already closing: nothing to close");
        assert!(!old.entry.is_live(), "a closing session is not live");
        assert!(old.cancel.is_cancelled());
        assert_eq!(old.entry.facts.lock().last_error.as_deref(), Some("first reason"));

        let new = reg.attach("r1", announced(), 4, 2).expect("reconnect");
        assert_eq!(new.entry.facts.lock().position, None, "a new session starts without a position");
        old.fail("late error of the old session");
        old.set_position(99);
        assert_eq!(new.entry.facts.lock().last_error.as_deref(), Some("first reason"));
        assert_eq!(new.entry.facts.lock().position, None);
        new.set_position(20);
        new.entry.record_ack(25, 3);
        new.entry.record_ack(22, 4);
        assert_eq!(new.entry.facts.lock().position, Some(25), "acks advance the position, never back");
        new.fail("new session error");
        assert_eq!(new.entry.facts.lock().last_error.as_deref(), Some("new session error"));
        drop(new);
        assert_eq!(old.entry.facts.lock().position, None, "a dropped session pins nothing");
        reg.close_all();
    }

    #[test]
    fn restore_round_trips_exported_counters() {
        let reg = Registry::default();
        let guard = reg.attach("r1", announced(), 4, 10).expect("attach");
        guard.entry.record_ack(33, 11);
        guard.entry.bytes_sent.fetch_add(999, Ordering::Relaxed);
        let exported = reg.export();
        let restored = Registry::restore(&exported);
        assert_eq!(restored.export(), exported);
    }
}
