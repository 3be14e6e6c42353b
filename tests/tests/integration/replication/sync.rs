//! Full and partial sync: a new replica on a compacted master, continuing after a restart, falling
//! out of the backlog, the master restarting, a corrupted snapshot chunk, and the whole cycle with
//! stats checked at each step.

use std::path::Path;

use serde_json::json;
use vectorizer_core::replication::persist;
use vectorizer_sdk_types::{ReplicaStatus, ReplicationRole};
use vectorizer_tests::cluster::{
    WAIT, digest, replica_info, status, wait_caught_up, wait_converged, wait_status, wait_stderr,
};
use vectorizer_tests::node::files_with_suffix;
use vectorizer_tests::{Direction, Node, Proxy, ReplSettings, poll_until};

use super::{COLL, Writer, create, vector, write_points};
use crate::common::{create_collection, upsert_ok};

/// Small segments and no backlog beyond what replicas pin: a snapshot compacts the log at once.
pub(super) fn compacting() -> ReplSettings {
    ReplSettings::default()
        .env("VECTORIZER__STORAGE__SEGMENT_BYTES", 4096)
        .env("VECTORIZER__REPLICATION__BACKLOG_BYTES", 0)
        .env("VECTORIZER__REPLICATION__BACKLOG_SECS", 0)
}

/// First offset still in `node`'s log (from the segment file names).
fn first_log_offset(node: &Node) -> u64 {
    let segments = files_with_suffix(&node.data_dir().join("log"), ".seg");
    let first = segments.first().unwrap_or_else(|| panic!("no log segment in {}", node.data_dir().display()));
    first_offset_of(first)
}

fn first_offset_of(segment: &Path) -> u64 {
    let stem = segment.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    stem.parse().unwrap_or_else(|_| panic!("segment name {}", segment.display()))
}

/// Snapshots `node` until its log no longer holds offset `offset` (retention runs after each
/// snapshot; replicas may still pin the log for a moment after they left).
#[track_caller]
pub(super) fn compact_past(node: &Node, offset: u64) {
    poll_until(WAIT, &format!("log compacted past offset {offset}"), || {
        let r = node.http().post_empty("/api/v1/snapshots").expect("snapshot");
        assert_eq!(r.status, 200, "{}", r.text());
        (first_log_offset(node) > offset).then_some(())
    });
}

/// A varied data set: two collections, payloads, deletes and a dropped collection.
fn varied_data(node: &Node, points: u64) {
    create(node);
    write_points(node, 0..points);
    let http = node.http();
    create_collection(&http, "other", 3, "euclidean");
    upsert_ok(&http, "other", &[("a".into(), vec![1.0, 2.0, 3.0], Some(json!({"tag": "x"})))]);
    create_collection(&http, "dropped", 2, "dot");
    assert_eq!(http.delete("/api/v1/collections/dropped").expect("drop").status, 200);
    let r = http
        .post_json(&format!("/api/v1/collections/{COLL}/vectors/delete"), &json!({"ids": ["p1", "p2", "p3"]}))
        .expect("delete");
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A new replica joining a master whose log was compacted gets a full sync and the same data,
/// including the writes made while the snapshot was being transferred.
#[test]
fn full_sync_correctness() {
    let s = compacting();
    let master = s.master();
    varied_data(&master, 150);
    compact_past(&master, 1);
    let writer = Writer::start(&master, 10_000);
    let replica = s.replica(master.repl_addr());
    poll_until(WAIT, "the replica received data while writes continue", || {
        (digest(&replica).applied_offset > 0 && writer.written() > 20).then_some(())
    });
    let during = writer.stop();
    let d = wait_caught_up(&master, &replica);
    assert_eq!(d.collections.len(), 2, "{d:?}");
    assert_eq!(d.collections.iter().find(|c| c.name == COLL).map(|c| c.points), Some(150 - 3 + during));
    let st = wait_status(&replica, "full sync counted", |st| st.stats.clone().filter(|x| x.full_syncs == Some(1)));
    assert_eq!(st.partial_syncs, Some(0));
    assert!(st.snapshot_size > 0, "the replica loaded a snapshot: {st:?}");
    let info = poll_until(WAIT, "the master acknowledged everything", || {
        replica_info(&master, &replica.node_id()).filter(|i| i.acked_offset == Some(d.applied_offset))
    });
    assert_eq!(info.full_syncs, Some(1));
    assert_eq!(info.operations_synced, d.applied_offset, "a new replica that full-synced has synced every op it acked");
    let m = status(&master).stats.expect("stats");
    assert_eq!(st.snapshot_size, m.snapshot_size, "the replica loaded the snapshot the master sent");
    // The stream continues after the snapshot.
    write_points(&master, 150..170);
    let d = wait_caught_up(&master, &replica);
    assert_eq!(d.collections.iter().find(|c| c.name == COLL).map(|c| c.points), Some(170 - 3 + during));
}

/// While a full sync is in flight (the link delayed), the master reports the replica as Syncing;
/// once the replica acknowledged the snapshot and the log after it, Connected.
#[test]
fn full_sync_reports_syncing_then_connected() {
    let s = compacting();
    let master = s.master();
    varied_data(&master, 100);
    compact_past(&master, 1);
    let proxy = Proxy::start(master.repl_addr()).expect("proxy");
    proxy.set_delay(Direction::UpstreamToClient, std::time::Duration::from_millis(800));
    let replica = s.replica(proxy.addr());
    let id = replica.node_id();
    let syncing = poll_until(WAIT, "the master reports Syncing", || {
        replica_info(&master, &id).filter(|i| i.status == ReplicaStatus::Syncing)
    });
    if let Some(p) = syncing.sync_progress {
        assert!(p.bytes_done <= p.bytes_total && p.bytes_total > 0, "{p:?}");
    }
    proxy.set_delay(Direction::UpstreamToClient, std::time::Duration::ZERO);
    wait_caught_up(&master, &replica);
    let done = poll_until(WAIT, "Connected after the sync", || {
        replica_info(&master, &id).filter(|i| i.status == ReplicaStatus::Connected)
    });
    assert_eq!((done.full_syncs, done.sync_progress), (Some(1), None));
}

/// A replica restarted while the master kept writing continues with a partial sync: full_syncs
/// unchanged, partial_syncs + 1, same data.
#[test]
fn partial_sync_after_replica_restart() {
    let s = ReplSettings::default();
    let master = s.master();
    let mut replica = s.replica(master.repl_addr());
    create(&master);
    write_points(&master, 0..20);
    wait_caught_up(&master, &replica);
    let id = replica.node_id();
    let before = wait_status(&replica, "first sync counted", |st| {
        st.stats.clone().filter(|x| x.full_syncs.unwrap_or(0) + x.partial_syncs.unwrap_or(0) >= 1)
    });
    let info_before = replica_info(&master, &id).expect("listed");

    assert!(replica.terminate().success());
    write_points(&master, 20..50);
    replica.restart();
    wait_caught_up(&master, &replica);
    let after = wait_status(&replica, "partial sync counted", |st| {
        st.stats.clone().filter(|x| x.partial_syncs > before.partial_syncs)
    });
    assert_eq!(after.full_syncs, before.full_syncs);
    assert_eq!(after.partial_syncs, before.partial_syncs.map(|p| p + 1));
    let info = poll_until(WAIT, "master counted the partial sync", || {
        replica_info(&master, &id).filter(|i| i.partial_syncs > info_before.partial_syncs)
    });
    assert_eq!(info.full_syncs, info_before.full_syncs);
    assert_eq!(info.partial_syncs, info_before.partial_syncs.map(|p| p + 1));
    assert_eq!(info.port, replica.http_addr().port(), "the announced address of the new process");
}

/// A replica never serves a half-loaded state: while it installs a full sync of five collections
/// (no writes meanwhile), every digest it answers is either its empty state or the master's.
#[test]
fn replica_never_serves_a_half_loaded_snapshot() {
    let s = compacting();
    let master = s.master();
    let http = master.http();
    for c in 0..5u64 {
        let name = format!("c{c}");
        create_collection(&http, &name, super::DIM as u32, "cosine");
        for batch in 0..10u64 {
            let points: Vec<_> = (batch * 200..batch * 200 + 200)
                .map(|i| (format!("p{i}"), vector(i + c), Some(json!({"i": i}))))
                .collect();
            upsert_ok(&http, &name, &points);
        }
    }
    compact_past(&master, 1);
    let want = digest(&master);
    let replica = s.replica(master.repl_addr());
    let mut seen = 0u32;
    poll_until(WAIT, "the replica serves the master's state", || {
        let d = digest(&replica);
        seen += 1;
        assert!(
            d == want || (d.applied_offset == 0 && d.collections.is_empty()),
            "observation {seen}: a partial state was served: {d:?}"
        );
        (d == want).then_some(())
    });
}

/// A replica killed with SIGKILL in the middle of a full sync starts over after its restart and
/// ends with the master's data (a half-received snapshot is never used).
#[test]
fn replica_killed_during_full_sync_recovers() {
    let s = compacting();
    let master = s.master();
    varied_data(&master, 100);
    compact_past(&master, 1);
    let proxy = Proxy::start(master.repl_addr()).expect("proxy");
    proxy.set_delay(Direction::UpstreamToClient, std::time::Duration::from_millis(800));
    let mut replica = s.replica(proxy.addr());
    let id = replica.node_id();
    poll_until(WAIT, "the master reports Syncing", || {
        replica_info(&master, &id).filter(|i| i.status == ReplicaStatus::Syncing)
    });
    replica.kill9();
    proxy.set_delay(Direction::UpstreamToClient, std::time::Duration::ZERO);
    write_points(&master, 100..110);
    replica.restart();
    let d = wait_caught_up(&master, &replica);
    assert_eq!(d.collections.iter().find(|c| c.name == COLL).map(|c| c.points), Some(110 - 3));
    wait_status(&replica, "the full sync completed", |st| st.stats.clone().filter(|x| x.full_syncs >= Some(1)));
}

/// A replica killed with SIGKILL continues by partial sync too: its applied offset is durable with
/// its data (the counters are compared once the state file holds them: it is saved every second).
#[test]
fn partial_sync_after_replica_kill9() {
    let s = ReplSettings::default();
    let master = s.master();
    let mut replica = s.replica(master.repl_addr());
    create(&master);
    write_points(&master, 0..20);
    wait_caught_up(&master, &replica);
    let before = wait_status(&replica, "first sync counted", |st| {
        st.stats.clone().filter(|x| x.full_syncs.unwrap_or(0) + x.partial_syncs.unwrap_or(0) >= 1)
    });
    poll_until(WAIT, "the state file holds the sync counters", || {
        let saved = persist::load(replica.data_dir()).ok().flatten()?.counters;
        (Some(saved.partial_syncs) == before.partial_syncs && Some(saved.full_syncs) == before.full_syncs).then_some(())
    });

    replica.kill9();
    write_points(&master, 20..50);
    replica.restart();
    let d = wait_caught_up(&master, &replica);
    assert_eq!(d.collections[0].points, 50);
    let after = wait_status(&replica, "partial sync counted", |st| {
        st.stats.clone().filter(|x| x.partial_syncs > before.partial_syncs)
    });
    assert_eq!(after.full_syncs, before.full_syncs, "no full sync after a crash");
}

/// A replica that falls out of a tiny backlog while it is down gets a full sync, then the data.
#[test]
fn backlog_overflow_forces_full_sync() {
    let s = compacting();
    let master = s.master();
    let mut replica = s.replica(master.repl_addr());
    create(&master);
    write_points(&master, 0..20);
    wait_caught_up(&master, &replica);
    let id = replica.node_id();
    let before = status(&replica).stats.expect("stats");

    assert!(replica.terminate().success());
    poll_until(WAIT, "master sees the replica gone", || {
        replica_info(&master, &id).filter(|i| i.status == ReplicaStatus::Disconnected)
    });
    write_points(&master, 20..200);
    compact_past(&master, 22);
    replica.restart();
    let d = wait_caught_up(&master, &replica);
    assert_eq!(d.collections[0].points, 200);
    let after =
        wait_status(&replica, "full sync counted", |st| st.stats.clone().filter(|x| x.full_syncs > before.full_syncs));
    assert_eq!(after.full_syncs, before.full_syncs.map(|f| f + 1));
}

/// The master restarts (SIGTERM, same addresses): replicas reconnect, continue without a full
/// sync, and converge on the writes made after the restart.
#[test]
fn master_restart_replicas_continue() {
    let s = ReplSettings::default();
    let mut master = s.master();
    let r1 = s.replica(master.repl_addr());
    let r2 = s.replica(master.repl_addr());
    create(&master);
    write_points(&master, 0..20);
    wait_converged(&master, &[&r1, &r2]);
    let before: Vec<_> = [&r1, &r2].iter().map(|r| status(r).stats.expect("stats")).collect();

    master.restart_on_same_ports();
    write_points(&master, 20..40);
    let d = wait_converged(&master, &[&r1, &r2]);
    assert_eq!(d.collections[0].points, 40);
    for (r, b) in [&r1, &r2].iter().zip(&before) {
        let after =
            wait_status(r, "partial sync counted", |st| st.stats.clone().filter(|x| x.partial_syncs > b.partial_syncs));
        assert_eq!(after.full_syncs, b.full_syncs, "continued without a full sync");
    }
    wait_status(&master, "both replicas connected", |st| {
        (st.stats.as_ref()?.connected_replicas == Some(2)).then_some(())
    });
}

/// A byte corrupted inside a snapshot chunk on the wire: the replica rejects that chunk, gets it
/// again on the same connection, and the full sync completes with the same data.
#[test]
fn corrupted_snapshot_chunk_is_retried() {
    let s = compacting();
    let master = s.master();
    create(&master);
    // About 2 MB of snapshot: chunk 0 (1 MiB) spans byte 300 000 of the master's stream.
    let http = master.http();
    let filler = "x".repeat(1000);
    for batch in 0..20u64 {
        let points: Vec<_> = (batch * 100..batch * 100 + 100)
            .map(|i| (format!("p{i}"), vector(i), Some(json!({"f": filler}))))
            .collect();
        upsert_ok(&http, COLL, &points);
    }
    compact_past(&master, 1);
    let proxy = Proxy::start(master.repl_addr()).expect("proxy");
    proxy.corrupt_once(Direction::UpstreamToClient, 300_000);
    let replica = s.replica(proxy.addr());
    let d = wait_caught_up(&master, &replica);
    assert_eq!(d.collections[0].points, 2000);
    assert_eq!(proxy.corrupted(), 1, "the byte was corrupted");
    assert_eq!(proxy.accepted(), 1, "the chunk was retried on the same connection");
    let st = wait_status(&replica, "the full sync counted", |st| st.stats.clone().filter(|x| x.full_syncs >= Some(1)));
    assert_eq!(st.full_syncs, Some(1), "one full sync, not a restarted one");
    wait_stderr(&replica, &["snapshot chunk rejected", "crc32c mismatch"]);
    wait_stderr(&master, &["replica rejected a snapshot chunk"]);
}

/// Testing requirement: "Full replication cycle with stats verification" — stats checked after
/// each step: master alone, a replica joins, writes, deletes, the replica restarts.
#[test]
fn full_replication_cycle_with_stats() {
    let s = ReplSettings::default();
    let master = s.master();
    // 1. Alone: enabled, nothing sent, nobody connected.
    let st = status(&master);
    assert_eq!((st.role, st.enabled), (ReplicationRole::Master, true));
    let stats = st.stats.expect("stats");
    assert_eq!((stats.bytes_sent, stats.connected_replicas, stats.operations_pending), (0, Some(0), 0));
    assert_eq!(stats.last_sync, None);
    assert_eq!(st.replicas, Some(Vec::new()));
    create(&master);
    write_points(&master, 0..10);

    // 2. A replica joins: one sync, connected, data equal.
    let mut replica = s.replica(master.repl_addr());
    let id = replica.node_id();
    let d = wait_caught_up(&master, &replica);
    let joined = wait_status(&master, "replica Connected, last_sync set", |st| {
        let x = st.stats.as_ref()?;
        let r = st.replicas.as_ref()?.iter().find(|r| r.id == id)?;
        (x.connected_replicas == Some(1)
            && x.last_sync.is_some()
            && r.status == ReplicaStatus::Connected
            && r.acked_offset == Some(d.applied_offset))
        .then(|| (x.clone(), r.clone()))
    });
    assert!(joined.0.bytes_sent > 0);
    let rs = status(&replica).stats.expect("stats");
    assert_eq!(rs.full_syncs.unwrap_or(0) + rs.partial_syncs.unwrap_or(0), 1, "{rs:?}");
    if rs.full_syncs == Some(0) {
        assert_eq!(joined.1.operations_synced, 11, "continued from offset 0: every op acknowledged");
    }
    let synced = joined.1.operations_synced;

    // 3. Writes and deletes: bytes grow, ops synced grow by exactly the ops written.
    write_points(&master, 10..20);
    let r = master
        .http()
        .post_json(&format!("/api/v1/collections/{COLL}/vectors/delete"), &json!({"ids": ["p0"]}))
        .expect("delete");
    assert_eq!(r.status, 200);
    let d = wait_caught_up(&master, &replica);
    assert_eq!(d.collections[0].points, 19);
    let after_writes = poll_until(WAIT, "11 more ops acknowledged", || {
        replica_info(&master, &id).filter(|r| r.acked_offset == Some(d.applied_offset))
    });
    assert_eq!(after_writes.operations_synced, synced + 11);
    let m = status(&master).stats.expect("stats");
    assert!(m.bytes_sent > joined.0.bytes_sent);
    let rs2 = status(&replica).stats.expect("stats");
    assert!(rs2.bytes_received > rs.bytes_received);
    assert_eq!(rs2.applied_offset, Some(d.applied_offset));

    // 4. The replica restarts: a partial sync, counted on both sides.
    assert!(replica.terminate().success());
    write_points(&master, 20..25);
    replica.restart();
    wait_caught_up(&master, &replica);
    let rs3 = wait_status(&replica, "partial sync counted", |st| {
        st.stats.clone().filter(|x| x.partial_syncs > rs2.partial_syncs && x.status == Some(ReplicaStatus::Connected))
    });
    assert_eq!(rs3.full_syncs, rs2.full_syncs);
    wait_status(&master, "connected, nothing pending, no lag", |st| {
        let x = st.stats.as_ref()?;
        (x.connected_replicas == Some(1) && x.operations_pending == 0 && x.lag_ms == 0).then_some(())
    });
}
