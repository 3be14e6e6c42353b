//! Manual failover: promote a replica, re-point the others (partial sync thanks to the epoch
//! history), writes continue on the new master; stats tracked across the role swap.

use serde_json::json;
use vectorizer_sdk_types::{ReplicaStatus, ReplicationRole, ReplicationStatus};
use vectorizer_tests::cluster::{digest, replicas, status, wait_caught_up, wait_converged, wait_status};
use vectorizer_tests::{Node, ReplSettings};

use super::{create, ts_ms, write_points};
use crate::common::get_point;

/// `POST /replication/promote`, expecting 200.
#[track_caller]
fn promote(node: &Node) -> ReplicationStatus {
    let r = node.http().post_empty("/api/v1/replication/promote").expect("promote");
    assert_eq!(r.status, 200, "promote: {}", r.text());
    r.parse()
}

/// `POST /replication/replicaof` to `master`'s replication address, expecting 200.
#[track_caller]
fn follow(node: &Node, master: &Node) -> ReplicationStatus {
    let body = json!({"master": master.repl_addr().to_string()});
    let r = node.http().post_json("/api/v1/replication/replicaof", &body).expect("replicaof");
    assert_eq!(r.status, 200, "replicaof: {}", r.text());
    r.parse()
}

/// A write on `node` is refused as a read-only replica naming `master`'s HTTP address.
#[track_caller]
fn assert_read_only_naming(node: &Node, master: &Node) {
    let r = node.http().post_json("/api/v1/collections", &json!({"name": "nope", "dimension": 2})).expect("write");
    assert_eq!((r.status, r.error_code().as_deref()), (409, Some("read_only_replica")), "{}", r.text());
    assert_eq!(r.json()["error"]["master"], master.http_addr().to_string().as_str(), "{}", r.text());
}

/// The master dies; replica 1 is promoted and replica 2 re-pointed to it: replica 2 continues by
/// partial sync (full_syncs unchanged), writes continue on the new master, data converges.
#[test]
fn manual_promote_with_two_replicas() {
    let s = ReplSettings::default();
    let mut master = s.master();
    let r1 = s.replica(master.repl_addr());
    let r2 = s.replica(master.repl_addr());
    create(&master);
    write_points(&master, 0..20);
    wait_converged(&master, &[&r1, &r2]);
    let r2_before = wait_status(&r2, "r2 synced once", |st| {
        st.stats.clone().filter(|x| x.full_syncs.unwrap_or(0) + x.partial_syncs.unwrap_or(0) >= 1)
    });
    let epoch_before = status(&r1).stats.and_then(|x| x.epoch).expect("epoch");

    master.kill9();
    let promoted = promote(&r1);
    assert_eq!(promoted.role, ReplicationRole::Master);
    assert!(promoted.stats.as_ref().and_then(|x| x.epoch).is_some_and(|e| e > epoch_before), "{promoted:?}");
    let followed = follow(&r2, &r1);
    assert_eq!(followed.role, ReplicationRole::Replica);

    write_points(&r1, 20..40);
    let d = wait_caught_up(&r1, &r2);
    assert_eq!(d.collections[0].points, 40);
    let r2_after = wait_status(&r2, "partial sync with the new master counted", |st| {
        st.stats
            .clone()
            .filter(|x| x.partial_syncs > r2_before.partial_syncs && x.status == Some(ReplicaStatus::Connected))
    });
    assert_eq!(r2_after.full_syncs, r2_before.full_syncs, "re-pointing after a promotion needs no full sync");
    assert_eq!(r2_after.master.as_deref(), Some(r1.repl_addr().to_string().as_str()));
    assert_read_only_naming(&r2, &r1);
    let listed = replicas(&r1);
    assert_eq!(listed.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![r2.node_id()]);
}

/// Testing requirement: "Failover scenario with stats tracking" — the roles swap (the old master
/// follows the promoted replica) and the stats follow: roles, connected_replicas, last_sync, lag.
#[test]
fn failover_with_stats_tracking() {
    let s = ReplSettings::default();
    let old = s.master();
    let r1 = s.replica(old.repl_addr());
    let r2 = s.replica(old.repl_addr());
    create(&old);
    write_points(&old, 0..20);
    wait_converged(&old, &[&r1, &r2]);
    wait_status(&old, "old master with 2 connected replicas", |st| {
        (st.stats.as_ref()?.connected_replicas == Some(2)).then_some(())
    });
    let old_before = status(&old).stats.expect("stats");
    let r1_before = status(&r1).stats.expect("stats");
    assert_eq!(r1_before.role, ReplicationRole::Replica);

    // Swap: r1 becomes the master, the old master and r2 follow it.
    let promoted = promote(&r1);
    let after_promote = promoted.stats.expect("stats");
    assert_eq!((promoted.role, after_promote.role), (ReplicationRole::Master, ReplicationRole::Master));
    assert_eq!(follow(&old, &r1).role, ReplicationRole::Replica);
    follow(&r2, &r1);
    let new_master = wait_status(&r1, "2 connected replicas on the new master", |st| {
        let x = st.stats.as_ref()?;
        let all_connected = st.replicas.as_ref()?.iter().all(|r| r.status == ReplicaStatus::Connected);
        (x.connected_replicas == Some(2) && all_connected && x.last_sync.is_some()).then(|| x.clone())
    });
    assert!(new_master.epoch > r1_before.epoch, "{r1_before:?} -> {new_master:?}");

    write_points(&r1, 20..30);
    let d = wait_converged(&r1, &[&old, &r2]);
    assert_eq!(d.collections[0].points, 30);
    for (node, before) in [(&old, &old_before), (&r2, &status(&r2).stats.expect("stats"))] {
        let x = wait_status(node, "following the new master, caught up", |st| {
            st.stats.clone().filter(|x| x.status == Some(ReplicaStatus::Connected) && x.lag_ms == 0)
        });
        assert_eq!(x.role, ReplicationRole::Replica);
        assert_eq!(x.master.as_deref(), Some(r1.repl_addr().to_string().as_str()));
        assert_eq!(x.applied_offset, Some(d.applied_offset));
        assert!(x.last_sync.as_deref().is_some_and(|t| ts_ms(t) >= before.last_sync.as_deref().map_or(0, ts_ms)));
    }
    let old_after = status(&old).stats.expect("stats");
    assert_eq!(old_after.full_syncs, old_before.full_syncs, "the old master continued by partial sync");
    assert_eq!(old_after.connected_replicas, None, "a replica reports no connected replicas");
    assert!(replicas(&old).is_empty(), "a replica lists no replicas");
    assert_read_only_naming(&old, &r1);
    assert_eq!(digest(&old), digest(&r1));
    wait_status(&r1, "new master: nothing pending, no lag", |st| {
        let x = st.stats.as_ref()?;
        (x.operations_pending == 0 && x.lag_ms == 0).then_some(())
    });
}

/// The old master wrote `diverged` operations its replica never received, then the replica was
/// promoted and wrote 3 more. When the old master follows the new one it has diverged after the
/// fork point (offset 11: the collection and 10 points). Returns (old master, new master, the old
/// master's stats before it followed).
fn diverge(s: &ReplSettings, diverged: u64) -> (Node, Node, vectorizer_sdk_types::ReplicationStats) {
    let old = s.master();
    let r1 = s.replica_via_proxy(&old);
    create(&old);
    write_points(&old, 0..10);
    wait_caught_up(&old, &r1.node);

    // Writes that never reach r1.
    r1.proxy.refuse(true);
    r1.proxy.cut();
    write_points(&old, 10..10 + diverged);
    let promoted = promote(&r1.node);
    assert_eq!(promoted.role, ReplicationRole::Master);
    write_points(&r1.node, 100..103);
    let old_before = status(&old).stats.expect("stats");
    (old, r1.node, old_before)
}

/// A diverged old master that still holds its log from before the fork point rolls its state back
/// in place and resyncs partially: no snapshot crosses the wire, its unreplicated writes are gone
/// and counted, and the cut is durable (a kill -9 and restart recovers the same data).
#[test]
fn diverged_old_master_rolls_back_and_resyncs_partially() {
    let s = ReplSettings::default();
    let (mut old, new, before) = diverge(&s, 5);

    follow(&old, &new);
    let d = wait_caught_up(&new, &old);
    assert_eq!(d.collections[0].points, 13, "10 common + 3 new; the 5 unreplicated writes are gone");
    assert!(get_point(&old.http(), super::COLL, "p12").is_none(), "a diverged write survived the resync");
    let after = wait_status(&old, "partial sync counted", |st| {
        st.stats.clone().filter(|x| x.partial_syncs > before.partial_syncs)
    });
    assert_eq!(after.full_syncs, before.full_syncs, "no full sync: the old master rolled back in place");
    assert_eq!(after.ops_discarded_on_rejoin, Some(5), "{after:?}");
    vectorizer_tests::cluster::wait_stderr(&old, &["rolled the state back in place"]);
    vectorizer_tests::cluster::wait_stderr(&new, &["rolls back in place and resyncs partially", &old.node_id()]);

    // The rollback is on disk, not only in memory.
    old.kill9();
    old.restart();
    assert_eq!(digest(&old), d, "after kill -9 and restart the old master recovers the rolled-back data");
}

/// A diverged old master whose snapshots and log no longer reach back to the fork point cannot
/// roll back in place: it gets a full sync and ends with exactly the new master's data.
#[test]
fn diverged_old_master_without_its_log_before_the_fork_is_fully_resynced() {
    let s = super::sync::compacting().env("VECTORIZER__STORAGE__SNAPSHOTS_TO_KEEP", 1);
    // 200 diverged writes fill several small log segments, so a snapshot can compact them.
    let (old, new, before) = diverge(&s, 200);
    // Its only snapshot is now past the fork point and its log starts after it.
    super::sync::compact_past(&old, 12);

    follow(&old, &new);
    let d = wait_caught_up(&new, &old);
    assert_eq!(d.collections[0].points, 13, "10 common + 3 new; the 200 unreplicated writes are gone");
    assert!(get_point(&old.http(), super::COLL, "p12").is_none(), "a diverged write survived the resync");
    let after =
        wait_status(&old, "full sync counted", |st| st.stats.clone().filter(|x| x.full_syncs > before.full_syncs));
    assert_eq!(after.full_syncs, before.full_syncs.map(|f| f + 1));
    assert_eq!(after.ops_discarded_on_rejoin, Some(200), "{after:?}");
    vectorizer_tests::cluster::wait_stderr(&new, &["full sync needed", &old.node_id()]);
}

/// Fencing: a replica that followed a promoted node (it knows the newer epoch) is pointed back at
/// the old master, which is still a master of the old epoch: the link is refused as stale, the
/// replica keeps its data, and the old master, now knowing a newer master exists, steps down to a
/// read-only replica (no more writes that could only fork the data).
#[test]
fn stale_master_is_refused() {
    let s = ReplSettings::default();
    let old = s.master();
    let r1 = s.replica_via_proxy(&old);
    let r2 = s.replica(old.repl_addr());
    create(&old);
    write_points(&old, 0..10);
    wait_converged(&old, &[&r1.node, &r2]);
    // r1 is cut off from the old master and promoted; r2 follows it and learns the new epoch.
    r1.proxy.refuse(true);
    r1.proxy.cut();
    promote(&r1.node);
    follow(&r2, &r1.node);
    write_points(&r1.node, 10..15);
    let d = wait_caught_up(&r1.node, &r2);

    // Pointed back at the old master (still a master of epoch 1).
    follow(&r2, &old);
    let refused = wait_status(&r2, "the stale master is refused", |st| {
        st.stats.clone().filter(|x| x.last_error.as_deref().is_some_and(|e| e.contains("stale")))
    });
    assert_ne!(refused.status, Some(ReplicaStatus::Connected), "{refused:?}");
    assert_eq!(digest(&r2), d, "the replica kept the newer data");
    assert_eq!(digest(&r2).collections[0].points, 15);

    let demoted = wait_status(&old, "the stale master stepped down", |st| {
        (st.role == ReplicationRole::Replica).then(|| st.clone())
    });
    assert_eq!(demoted.stats.as_ref().and_then(|x| x.master.clone()), None, "{demoted:?}");
    let w = old.http().post_json("/api/v1/collections", &json!({"name": "late", "dimension": 2})).expect("write");
    assert_eq!((w.status, w.error_code().as_deref()), (409, Some("read_only_replica")), "{}", w.text());
    vectorizer_tests::cluster::wait_stderr(&old, &["stepped down to a read-only replica"]);
    // The operator points it at the new master: it rejoins (its data was not diverged).
    follow(&old, &r1.node);
    assert_eq!(wait_caught_up(&r1.node, &old).collections[0].points, 15);
}

/// The role set at runtime wins over the configuration: a promoted replica restarted with its
/// original `--replica-of` stays the master (and says so in its log).
#[test]
fn promoted_role_survives_a_restart() {
    let s = ReplSettings::default();
    let mut old = s.master();
    let mut r1 = s.replica(old.repl_addr());
    create(&old);
    write_points(&old, 0..5);
    wait_caught_up(&old, &r1);
    old.kill9();
    promote(&r1);
    write_points(&r1, 5..8);
    let before = digest(&r1);
    r1.restart();
    let st = status(&r1);
    assert_eq!(st.role, ReplicationRole::Master, "{st:?}");
    vectorizer_tests::cluster::wait_stderr(&r1, &["wins over the configuration"]);
    assert_eq!(digest(&r1), before);
    write_points(&r1, 8..9);
}

/// A promotion whose state file cannot be saved fails as a whole: the node stays a consistent
/// replica (status and write refusals agree) and the promotion can be retried once the disk is
/// writable again. The state file's temporary name is blocked with a directory (tests run as
/// root, so permissions cannot make the save fail).
#[test]
fn failed_promotion_leaves_a_consistent_replica() {
    let s = ReplSettings::default();
    let mut old = s.master();
    let r1 = s.replica(old.repl_addr());
    create(&old);
    write_points(&old, 0..5);
    wait_caught_up(&old, &r1);
    old.kill9();

    let blocker = r1.data_dir().join("replication").join("state.json.tmp");
    std::fs::create_dir_all(blocker.join("x")).expect("block the temp name");
    let r = r1.http().post_empty("/api/v1/replication/promote").expect("promote");
    assert_eq!(r.status, 500, "the save cannot succeed: {}", r.text());
    let st = status(&r1);
    let write = r1.http().post_json("/api/v1/collections", &json!({"name": "w", "dimension": 2})).expect("write");
    assert_eq!(
        (st.role, write.status),
        (ReplicationRole::Replica, 409),
        "after a failed promotion: status {st:?}, write {}",
        write.text()
    );

    std::fs::remove_dir_all(&blocker).expect("unblock");
    assert_eq!(promote(&r1).role, ReplicationRole::Master);
    write_points(&r1, 5..8);
    assert_eq!(digest(&r1).collections[0].points, 8);
}
