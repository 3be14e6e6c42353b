//! Assembles the v1.2.0 `ReplicationStatus` from measured facts (definitions in
//! `docs/REPLICATION.md`).
//!
//! Invariant: nothing here estimates. Every number is a counter read, an offset difference, or a
//! time difference against a recorded instant, computed at the moment of the request with the
//! same functions (`health`, `registry`, `link`) that drive status transitions.

use std::sync::atomic::Ordering;

use vectorizer_sdk_types as wire;
use vectorizer_sdk_types::ReplicationRole;

use crate::engine::rfc3339_ms;
use crate::replication::health;
use crate::replication::node::Shared;
use crate::replication::registry::Evaluated;

/// Append timestamp of the record at `offset` (for master-side lag).
pub fn record_timestamp(shared: &Shared, offset: u64) -> Option<u64> {
    let records = shared.engine.log().read_from(offset, 1).ok()?;
    records.first().filter(|r| r.offset == offset).map(|r| r.timestamp_ms)
}

/// Health of every known replica now (master side).
pub fn evaluate_replicas(shared: &Shared, now_ms: u64) -> Vec<Evaluated> {
    let master_last = shared.engine.last_offset();
    shared.registry.evaluate(master_last, now_ms, &shared.config.health, &|o| record_timestamp(shared, o))
}

/// The whole status document.
pub fn status(shared: &Shared, now_ms: u64) -> wire::ReplicationStatus {
    let role = shared.role();
    if !shared.config.stats_enabled {
        return wire::ReplicationStatus { role, enabled: true, stats: None, replicas: None };
    }
    match role {
        ReplicationRole::Master => {
            let evaluated = evaluate_replicas(shared, now_ms);
            wire::ReplicationStatus {
                role,
                enabled: true,
                stats: Some(master_stats(shared, &evaluated)),
                replicas: Some(evaluated.iter().map(|e| e.entry.info(e.status, e.lag_ms)).collect()),
            }
        }
        ReplicationRole::Replica => {
            wire::ReplicationStatus { role, enabled: true, stats: Some(replica_stats(shared, now_ms)), replicas: None }
        }
    }
}

/// Every replica the master knows (empty on a replica).
pub fn replica_infos(shared: &Shared, now_ms: u64) -> Vec<wire::ReplicaInfo> {
    if shared.role() != ReplicationRole::Master {
        return Vec::new();
    }
    evaluate_replicas(shared, now_ms).iter().map(|e| e.entry.info(e.status, e.lag_ms)).collect()
}

fn common_last_sync(shared: &Shared) -> Option<String> {
    let ms = shared.counters.last_sync_ms.load(Ordering::Relaxed);
    (ms > 0).then(|| rfc3339_ms(ms))
}

fn snapshot_size(shared: &Shared) -> u64 {
    // The newest snapshot this node wrote, loaded, received, or (being the newest) sent.
    shared.engine.last_snapshot().map_or(0, |s| s.bytes)
}

/// Master statistics over the evaluated replicas.
pub fn master_stats(shared: &Shared, evaluated: &[Evaluated]) -> wire::ReplicationStats {
    let master_last = shared.engine.last_offset();
    let active: Vec<&Evaluated> = evaluated.iter().filter(|e| health::is_active(e.status)).collect();
    let min_acked = active.iter().map(|e| e.entry.acked_offset.load(Ordering::SeqCst)).min();
    wire::ReplicationStats {
        role: ReplicationRole::Master,
        lag_ms: active.iter().map(|e| e.lag_ms).max().unwrap_or(0),
        bytes_sent: shared.counters.bytes_sent.load(Ordering::Relaxed),
        bytes_received: shared.counters.bytes_received.load(Ordering::Relaxed),
        last_sync: common_last_sync(shared),
        operations_pending: min_acked.map_or(0, |m| master_last.saturating_sub(m)),
        snapshot_size: snapshot_size(shared),
        connected_replicas: Some(active.len() as u64),
        epoch: Some(shared.engine.epoch()),
        master_offset: Some(master_last),
        applied_offset: Some(master_last),
        full_syncs: Some(shared.counters.full_syncs.load(Ordering::Relaxed)),
        partial_syncs: Some(shared.counters.partial_syncs.load(Ordering::Relaxed)),
        status: None,
        master: None,
        sync_progress: None,
        link_down_since: None,
        last_error: None,
        ops_discarded_on_rejoin: Some(shared.counters.ops_discarded_on_rejoin.load(Ordering::Relaxed)),
    }
}

/// Replica statistics.
pub fn replica_stats(shared: &Shared, now_ms: u64) -> wire::ReplicationStats {
    let applied = shared.engine.last_offset();
    let heartbeat_ms = shared.config.heartbeat_interval.as_millis() as u64;
    let lag_ms = shared.link.lag_ms(applied, now_ms, heartbeat_ms);
    let status = shared.link.status(lag_ms, now_ms, &shared.config.health);
    let seen = shared.link.master_offset_seen.load(Ordering::SeqCst);
    let inner = shared.link.inner.lock();
    wire::ReplicationStats {
        role: ReplicationRole::Replica,
        lag_ms,
        bytes_sent: shared.counters.bytes_sent.load(Ordering::Relaxed),
        bytes_received: shared.counters.bytes_received.load(Ordering::Relaxed),
        last_sync: common_last_sync(shared),
        operations_pending: seen.saturating_sub(applied),
        snapshot_size: snapshot_size(shared),
        connected_replicas: None,
        epoch: Some(shared.engine.epoch()),
        master_offset: Some(seen),
        applied_offset: Some(applied),
        full_syncs: Some(shared.counters.full_syncs.load(Ordering::Relaxed)),
        partial_syncs: Some(shared.counters.partial_syncs.load(Ordering::Relaxed)),
        status: Some(status),
        master: shared.role.lock().master.clone(),
        sync_progress: inner.sync_progress,
        link_down_since: if inner.link_up { None } else { inner.link_down_since_ms.map(rfc3339_ms) },
        last_error: inner.last_error.clone(),
        ops_discarded_on_rejoin: Some(shared.counters.ops_discarded_on_rejoin.load(Ordering::Relaxed)),
    }
}
