//! Replication statistics: what the master and a replica expose, how they move on inserts, their
//! exactness under concurrent load, and their persistence across restarts.

use std::time::Duration;

use vectorizer_sdk_types::{ReplicaStatus, ReplicationRole, SnapshotInfo};
use vectorizer_tests::cluster::{replica_info, replicas, status, wait_caught_up, wait_converged, wait_status};
use vectorizer_tests::{Direction, ReplSettings};

use super::{COLL, Writer, create, now_ms, ts_ms, vector, write_points};
use crate::common::upsert_ok;

/// Spec: "Master node exposes stats" — a master with 2 connected replicas reports bytes sent,
/// connected replicas, operations pending and the last snapshot size.
#[test]
fn master_node_exposes_stats() {
    let s = ReplSettings::default();
    let master = s.master();
    create(&master);
    write_points(&master, 0..40);
    let r = master.http().post_empty("/api/v1/snapshots").expect("snapshot");
    assert_eq!(r.status, 200, "{}", r.text());
    let snapshot: SnapshotInfo = r.parse();
    let r1 = s.replica(master.repl_addr());
    let r2 = s.replica(master.repl_addr());
    write_points(&master, 40..60);
    let digest = wait_converged(&master, &[&r1, &r2]);
    assert_eq!(digest.collections[0].points, 60);

    let st = wait_status(&master, "2 connected replicas with nothing pending", |st| {
        let stats = st.stats.as_ref()?;
        (stats.connected_replicas == Some(2) && stats.operations_pending == 0).then(|| st.clone())
    });
    assert_eq!((st.role, st.enabled), (ReplicationRole::Master, true));
    let stats = st.stats.expect("stats");
    assert_eq!(stats.role, ReplicationRole::Master);
    assert!(stats.bytes_sent > 0, "bytes sent to the replicas: {stats:?}");
    assert_eq!(stats.snapshot_size, snapshot.bytes, "last snapshot size");
    assert_eq!(stats.master_offset, Some(digest.applied_offset));
    let listed = st.replicas.expect("replicas");
    let mut ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    let mut want = [r1.node_id(), r2.node_id()];
    want.sort_unstable();
    assert_eq!(ids, want);
    for info in &listed {
        assert_eq!(info.status, ReplicaStatus::Connected, "{info:?}");
        assert_eq!(info.acked_offset, Some(digest.applied_offset), "{info:?}");
        assert!(info.operations_synced > 0 && info.operations_synced <= digest.applied_offset, "{info:?}");
        assert!(info.bytes_sent.is_some_and(|b| b > 0 && b <= stats.bytes_sent), "{info:?} vs {stats:?}");
    }
}

/// Spec: "Replica node exposes stats" — lag, bytes received, last successful sync and operations
/// pending application.
#[test]
fn replica_node_exposes_stats() {
    let started = now_ms();
    let s = ReplSettings::default();
    let master = s.master();
    create(&master);
    write_points(&master, 0..30);
    let replica = s.replica(master.repl_addr());
    write_points(&master, 30..40);
    let digest = wait_caught_up(&master, &replica);

    let st = wait_status(&replica, "replica connected and caught up", |st| {
        let stats = st.stats.as_ref()?;
        (stats.status == Some(ReplicaStatus::Connected) && stats.lag_ms == 0 && stats.operations_pending == 0)
            .then(|| st.clone())
    });
    assert_eq!((st.role, st.enabled, st.replicas.as_ref()), (ReplicationRole::Replica, true, None));
    let stats = st.stats.expect("stats");
    assert_eq!(stats.role, ReplicationRole::Replica);
    assert_eq!(stats.connected_replicas, None);
    assert!(stats.bytes_received > 0, "{stats:?}");
    let last_sync = ts_ms(stats.last_sync.as_deref().expect("last_sync after a sync"));
    assert!(last_sync >= started - 1000 && last_sync <= now_ms() + 1000, "last_sync {last_sync} is now-ish");
    assert_eq!(stats.applied_offset, Some(digest.applied_offset));
    assert_eq!(stats.master_offset, Some(digest.applied_offset));
    assert_eq!(stats.master.as_deref(), Some(master.repl_addr().to_string().as_str()));
    assert_eq!(stats.link_down_since, None);
    // And the replica holds the data.
    assert_eq!(digest.collections[0].points, 40);
}

/// Spec: "Stats update in real-time" — on insert, bytes_sent grows at once, operations pending may
/// rise, and the lag reflects the link's delay.
#[test]
fn stats_update_in_real_time() {
    let s = ReplSettings::default();
    let master = s.master();
    let replica = s.replica_via_proxy(&master);
    create(&master);
    write_points(&master, 0..10);
    wait_caught_up(&master, &replica.node);
    let id = replica.node.node_id();
    let before = status(&master).stats.expect("stats");

    // One insert: bytes_sent grows as soon as the record is on the wire.
    write_points(&master, 10..11);
    wait_status(&master, "bytes_sent grows after one insert", |st| {
        st.stats.as_ref().filter(|x| x.bytes_sent > before.bytes_sent).map(|_| ())
    });

    // With 600 ms of delay towards the replica, acks come back late: pending rises and the master's
    // view of the replica's lag reflects the delay.
    replica.proxy.set_delay(Direction::UpstreamToClient, Duration::from_millis(600));
    let writer = Writer::start(&master, 1000);
    let (pending, lag) = wait_status(&master, "pending > 0 and lag >= 300 ms under a 600 ms delay", |st| {
        let stats = st.stats.as_ref()?;
        let info = st.replicas.as_ref()?.iter().find(|r| r.id == id)?;
        (stats.operations_pending > 0 && info.lag_ms >= 300).then_some((stats.operations_pending, info.lag_ms))
    });
    assert!(pending >= 1 && lag >= 300);
    replica.proxy.set_delay(Direction::UpstreamToClient, Duration::ZERO);
    let written = writer.stop();
    let digest = wait_caught_up(&master, &replica.node);
    assert_eq!(digest.applied_offset, 1 + 11 + written);
    wait_status(&master, "pending and lag back to 0", |st| {
        let stats = st.stats.as_ref()?;
        (stats.operations_pending == 0 && stats.lag_ms == 0).then_some(())
    });
}

/// Testing requirement: "Stats accuracy under load" — several threads write; at quiescence the
/// proxy's exact byte counts equal the master's `bytes_sent` / `bytes_received` and the replica's
/// `bytes_received` / `bytes_sent`, and `operations_synced` equals the number of writes.
#[test]
fn stats_accuracy_under_load() {
    // Long heartbeats: once the writes are acknowledged the link is silent, so counts settle.
    let s = ReplSettings { heartbeat_ms: 30_000, lagging_ms: 20_000, disconnect_ms: 60_000, ..Default::default() };
    let master = s.master();
    let replica = s.replica_via_proxy(&master);
    let id = replica.node.node_id();
    create(&master);
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 40;
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let http = master.http();
            std::thread::spawn(move || {
                for i in t * 1000..t * 1000 + PER_THREAD {
                    upsert_ok(&http, COLL, &[(format!("p{i}"), vector(i), None)]);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let ops = 1 + THREADS * PER_THREAD;
    let digest = wait_caught_up(&master, &replica.node);
    assert_eq!(digest.applied_offset, ops, "each HTTP write is one op");

    let mut last = None;
    let exact = vectorizer_tests::try_poll_until(vectorizer_tests::cluster::WAIT, || {
        let m = status(&master).stats?;
        let r = status(&replica.node).stats?;
        let info = replica_info(&master, &id)?;
        let (down, up) =
            (replica.proxy.bytes(Direction::UpstreamToClient), replica.proxy.bytes(Direction::ClientToUpstream));
        let ok = m.bytes_sent == down
            && r.bytes_received == down
            && info.bytes_sent == Some(down)
            && m.bytes_received == up
            && r.bytes_sent == up
            && info.operations_synced == ops
            && info.acked_offset == Some(ops);
        last = Some((down, up, m, r, info));
        ok.then_some(())
    });
    assert!(
        exact.is_some(),
        "counters never matched the proxy exactly; last (down, up, master, replica, info): {last:#?}"
    );
    assert_eq!(replica.proxy.accepted(), 1, "one connection carried everything");
}

/// Testing requirement: "Stats persistence across restarts" — after SIGTERM and restart, counters
/// are at least what they were and last_sync is unchanged (no sync happened meanwhile).
#[test]
fn stats_persistence_across_restarts() {
    let s = ReplSettings::default();
    let mut master = s.master();
    let mut replica = s.replica_via_proxy(&master);
    let id = replica.node.node_id();
    create(&master);
    write_points(&master, 0..20);
    wait_caught_up(&master, &replica.node);
    wait_status(&master, "nothing pending", |st| (st.stats.as_ref()?.operations_pending == 0).then_some(()));
    let info_before = replica_info(&master, &id).expect("listed");
    let m_before = status(&master).stats.expect("stats");
    let r_before = status(&replica.node).stats.expect("stats");
    assert!(m_before.bytes_sent > 0 && r_before.bytes_received > 0);
    assert!(m_before.last_sync.is_some() && r_before.last_sync.is_some());

    assert!(replica.node.terminate().success());
    assert!(master.terminate().success());
    // The proxy keeps the two apart after the restart, so no sync can change last_sync.
    replica.proxy.refuse(true);
    master.restart_on_same_ports();
    replica.node.restart();
    let m_after = status(&master).stats.expect("stats");
    let r_after = status(&replica.node).stats.expect("stats");
    for (before, after) in [(&m_before, &m_after), (&r_before, &r_after)] {
        assert_eq!(after.role, before.role);
        assert!(after.bytes_sent >= before.bytes_sent, "{before:?} -> {after:?}");
        assert!(after.bytes_received >= before.bytes_received, "{before:?} -> {after:?}");
        assert!(after.full_syncs >= before.full_syncs && after.partial_syncs >= before.partial_syncs);
        assert_eq!(after.last_sync, before.last_sync, "last_sync is preserved");
    }
    assert_eq!(r_after.status, Some(ReplicaStatus::Disconnected), "the proxy refuses the link");
    let info = replica_info(&master, &id).expect("still listed after a restart");
    assert_eq!(info.status, ReplicaStatus::Disconnected);
    assert_eq!(info.acked_offset, info_before.acked_offset);
    assert!(info.operations_synced >= info_before.operations_synced, "{info_before:?} -> {info:?}");
    assert!(info.bytes_sent >= info_before.bytes_sent);
    assert_eq!(replicas(&master).len(), 1);

    // Reconnect: a partial sync, counted once, and the data converges.
    replica.proxy.refuse(false);
    write_points(&master, 20..30);
    wait_caught_up(&master, &replica.node);
    let r_final = wait_status(&replica.node, "partial sync counted", |st| {
        let x = st.stats.as_ref()?;
        (x.partial_syncs > r_after.partial_syncs).then(|| x.clone())
    });
    assert_eq!(r_final.partial_syncs, r_after.partial_syncs.map(|p| p + 1));
    assert_eq!(r_final.full_syncs, r_after.full_syncs, "no full sync after a restart");
    assert!(
        ts_ms(r_final.last_sync.as_deref().expect("last_sync")) > ts_ms(r_after.last_sync.as_deref().expect("before"))
    );
}

/// `stats_enabled = false`: replication works, and status reports `stats: null, replicas: null`
/// with `enabled: true`.
#[test]
fn stats_disabled_still_replicates() {
    let s = ReplSettings::default().env("VECTORIZER__REPLICATION__STATS_ENABLED", "false");
    let master = s.master();
    let replica = s.replica(master.repl_addr());
    create(&master);
    write_points(&master, 0..5);
    wait_caught_up(&master, &replica);
    for (node, role) in [(&master, ReplicationRole::Master), (&replica, ReplicationRole::Replica)] {
        let st = status(node);
        assert_eq!((st.role, st.enabled, st.stats, st.replicas), (role, true, None, None));
    }
}
