//! `/metrics` reports the numbers of `/api/v1/replication/status`: for every field both expose, the
//! metric equals the status field (after the unit change the metric's name states).
//!
//! Exactness: the status is read, then the metrics, then the status again; when both status reads
//! are identical nothing changed in between (counters only grow, and the lag of a caught-up replica
//! stays 0), so the metrics must equal them exactly. Reads that straddle a heartbeat differ and are
//! simply taken again.

use std::collections::{BTreeMap, BTreeSet};

use vectorizer_sdk_types::{ReplicaStatus, ReplicationRole, ReplicationStatus};
use vectorizer_tests::cluster::{WAIT, status, wait_converged, wait_status};
use vectorizer_tests::{Node, ReplSettings, poll_until};

use super::{Sample, scrape};
use crate::replication::{create, write_points};

type Series = (String, BTreeMap<String, String>);

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    (name.to_owned(), labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}

fn ts_seconds(rfc3339: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("not RFC 3339: {rfc3339:?}: {e}"))
        .timestamp_millis() as f64
        / 1000.0
}

const STATUSES: [(ReplicaStatus, &str); 4] = [
    (ReplicaStatus::Connected, "Connected"),
    (ReplicaStatus::Syncing, "Syncing"),
    (ReplicaStatus::Lagging, "Lagging"),
    (ReplicaStatus::Disconnected, "Disconnected"),
];

/// The series `/metrics` must carry for `st`, with their values: the test's own statement of the
/// mapping documented in `docs/MONITORING.md`.
fn expected(st: &ReplicationStatus) -> BTreeMap<Series, f64> {
    let mut e = BTreeMap::new();
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    e.insert(series("vectorizer_replication_enabled", &[]), flag(st.enabled));
    e.insert(series("vectorizer_replication_role", &[("role", "master")]), flag(st.role == ReplicationRole::Master));
    e.insert(series("vectorizer_replication_role", &[("role", "replica")]), flag(st.role == ReplicationRole::Replica));
    let Some(stats) = &st.stats else { return e };
    let mut put = |name: &str, value: Option<f64>| {
        if let Some(v) = value {
            e.insert(series(name, &[]), v);
        }
    };
    put("vectorizer_replication_epoch", stats.epoch.map(|v| v as f64));
    put("vectorizer_replication_master_offset", stats.master_offset.map(|v| v as f64));
    put("vectorizer_replication_applied_offset", stats.applied_offset.map(|v| v as f64));
    put("vectorizer_replication_lag_seconds", Some(stats.lag_ms as f64 / 1000.0));
    put("vectorizer_replication_operations_pending", Some(stats.operations_pending as f64));
    put("vectorizer_replication_sent_bytes_total", Some(stats.bytes_sent as f64));
    put("vectorizer_replication_received_bytes_total", Some(stats.bytes_received as f64));
    put("vectorizer_replication_full_syncs_total", stats.full_syncs.map(|v| v as f64));
    put("vectorizer_replication_partial_syncs_total", stats.partial_syncs.map(|v| v as f64));
    put("vectorizer_replication_ops_discarded_on_rejoin_total", stats.ops_discarded_on_rejoin.map(|v| v as f64));
    put("vectorizer_replication_last_sync_timestamp_seconds", stats.last_sync.as_deref().map(ts_seconds));
    put("vectorizer_replication_connected_replicas", stats.connected_replicas.map(|v| v as f64));
    put("vectorizer_replication_link_down_since_timestamp_seconds", stats.link_down_since.as_deref().map(ts_seconds));
    put("vectorizer_snapshot_size_bytes", Some(stats.snapshot_size as f64));
    if let Some(link) = stats.status {
        for (s, label) in STATUSES {
            e.insert(series("vectorizer_replication_link_status", &[("status", label)]), flag(s == link));
        }
    }
    for r in st.replicas.iter().flatten() {
        let id = r.id.as_str();
        let port = r.port.to_string();
        e.insert(series("vectorizer_replica_info", &[("replica", id), ("host", &r.host), ("port", &port)]), 1.0);
        for (s, label) in STATUSES {
            e.insert(series("vectorizer_replica_status", &[("replica", id), ("status", label)]), flag(s == r.status));
        }
        let mut per = |name: &str, value: Option<f64>| {
            if let Some(v) = value {
                e.insert(series(name, &[("replica", id)]), v);
            }
        };
        per("vectorizer_replica_lag_seconds", Some(r.lag_ms as f64 / 1000.0));
        let lag_ops = stats.master_offset.zip(r.acked_offset).map(|(m, a)| m.saturating_sub(a) as f64);
        per("vectorizer_replica_lag_operations", lag_ops);
        per("vectorizer_replica_acked_offset", r.acked_offset.map(|v| v as f64));
        per("vectorizer_replica_synced_operations_total", Some(r.operations_synced as f64));
        per("vectorizer_replica_sent_bytes_total", r.bytes_sent.map(|v| v as f64));
        per("vectorizer_replica_full_syncs_total", r.full_syncs.map(|v| v as f64));
        per("vectorizer_replica_partial_syncs_total", r.partial_syncs.map(|v| v as f64));
        per("vectorizer_replica_last_heartbeat_timestamp_seconds", Some(ts_seconds(&r.last_heartbeat)));
    }
    e
}

/// Replication series `/metrics` may carry beyond the status document.
fn beyond_status(name: &str) -> bool {
    name == "vectorizer_replication_buffer_overflows_total"
        || name.contains("_sync_transferred_")
        || name.contains("_sync_snapshot_")
}

/// Reads status, metrics, status until both status reads agree, then asserts that the metrics
/// report exactly the status. Returns the status compared.
#[track_caller]
fn assert_metrics_equal_status(node: &Node) -> ReplicationStatus {
    let (st, samples) = poll_until(WAIT, "two identical status reads around a scrape", || {
        let before = status(node);
        let samples = scrape(node);
        (status(node) == before).then_some((before, samples))
    });
    compare(&st, &samples);
    st
}

#[track_caller]
fn compare(st: &ReplicationStatus, samples: &[Sample]) {
    let got: BTreeMap<Series, f64> = samples.iter().map(|s| ((s.name.clone(), s.labels.clone()), s.value)).collect();
    let want = expected(st);
    for (key, value) in &want {
        assert_eq!(got.get(key), Some(value), "{key:?}: metric vs status {st:#?}");
    }
    // And nothing else: no replication series the status does not back.
    let replication_series: BTreeSet<&Series> = got
        .keys()
        .filter(|(n, _)| n.starts_with("vectorizer_replica_") || n.starts_with("vectorizer_replication_"))
        .filter(|(n, _)| !beyond_status(n))
        .collect();
    let wanted: BTreeSet<&Series> = want.keys().filter(|(n, _)| n != "vectorizer_snapshot_size_bytes").collect();
    assert_eq!(replication_series, wanted, "replication series differ from the status {st:#?}");
}

#[test]
fn metrics_equal_the_replication_status_on_a_master_and_a_replica() {
    // Slow heartbeats: between two of them nothing moves on an idle cluster, so equal reads happen.
    let s = ReplSettings { heartbeat_ms: 1000, lagging_ms: 1000, disconnect_ms: 4000, env: Vec::new() };
    let master = s.master();
    create(&master);
    write_points(&master, 0..30);
    let r = master.http().post_empty("/api/v1/snapshots").expect("snapshot");
    assert_eq!(r.status, 200, "{}", r.text());
    let connected = s.replica(master.repl_addr());
    let lost = s.replica_via_proxy(&master);
    write_points(&master, 30..50);
    wait_converged(&master, &[&connected, &lost.node]);

    // One replica goes away for good: it stays listed, Disconnected, with its last known state.
    lost.proxy.refuse(true);
    lost.proxy.cut();
    let (keep, gone) = (connected.node_id(), lost.node.node_id());
    wait_status(&master, "one replica Connected and caught up, the other Disconnected", |st| {
        let replicas = st.replicas.as_ref()?;
        let find = |id: &str| replicas.iter().find(|r| r.id == id);
        let ok = find(&keep)?.status == ReplicaStatus::Connected
            && find(&keep)?.lag_ms == 0
            && find(&gone)?.status == ReplicaStatus::Disconnected
            && st.stats.as_ref()?.operations_pending == 0;
        ok.then_some(())
    });

    let on_master = assert_metrics_equal_status(&master);
    let stats = on_master.stats.expect("master stats");
    assert_eq!(stats.connected_replicas, Some(1));
    let syncs = stats.full_syncs.unwrap_or(0) + stats.partial_syncs.unwrap_or(0);
    assert!(stats.bytes_sent > 0 && syncs >= 2, "one sync per replica at least: {stats:?}");
    assert!(stats.snapshot_size > 0, "a snapshot was written: {stats:?}");
    assert_eq!(on_master.replicas.map(|r| r.len()), Some(2));

    wait_status(&connected, "replica Connected with lag 0", |st| {
        let stats = st.stats.as_ref()?;
        (stats.status == Some(ReplicaStatus::Connected) && stats.lag_ms == 0).then_some(())
    });
    let on_replica = assert_metrics_equal_status(&connected);
    let stats = on_replica.stats.expect("replica stats");
    assert_eq!(stats.role, ReplicationRole::Replica);
    assert!(stats.bytes_received > 0 && stats.last_sync.is_some(), "{stats:?}");
}
