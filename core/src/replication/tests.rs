//! In-process end-to-end replication: two real engines with real runtimes over loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vectorizer_sdk_types as wire;

use crate::engine::{Engine, EngineConfig};
use crate::replication::{Replication, ReplicationConfig};

fn engine(dir: &std::path::Path) -> Arc<Engine> {
    let mut c = EngineConfig::new(dir);
    c.index_threads = 1;
    c.snapshot_every_ops = 0;
    c.snapshot_every_secs = 0;
    Engine::open(c).expect("open engine")
}

/// An engine holding the empty 3-d collection `c` the tests write to.
fn engine_with_collection(dir: &std::path::Path, metric: wire::Metric) -> Arc<Engine> {
    let engine = engine(dir);
    engine
        .create_collection(&wire::CreateCollectionRequest { name: "c".into(), dimension: 3, metric, hnsw: None })
        .expect("create");
    engine
}

fn repl_config(replica_of: Option<String>) -> ReplicationConfig {
    let mut c = ReplicationConfig::new("127.0.0.1:0", "127.0.0.1:1");
    c.replica_of = replica_of;
    c.auth_secret = Some("s3cret".into());
    c.heartbeat_interval = Duration::from_millis(100);
    c.health.disconnect_timeout = Duration::from_secs(2);
    c.reconnect_min = Duration::from_millis(10);
    c.reconnect_max = Duration::from_millis(200);
    c
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn upsert(engine: &Engine, ids: std::ops::Range<usize>) {
    let vectors = ids
        .map(|i| wire::PointInput { id: format!("p{i}"), vector: vec![i as f32, 1.0, 2.0], payload: None })
        .collect();
    engine.upsert("c", wire::UpsertRequest { vectors }).expect("upsert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_and_replica_converge_and_report_exact_stats() {
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master_engine = engine_with_collection(mdir.path(), wire::Metric::Euclidean);
    upsert(&master_engine, 0..50);
    let master = Replication::start(master_engine.clone(), repl_config(None)).await.expect("master");

    let replica_engine = engine(rdir.path());
    let replica = Replication::start(replica_engine.clone(), repl_config(Some(master.repl_addr().to_string())))
        .await
        .expect("replica");
    wait_for("initial sync", || replica_engine.digest() == master_engine.digest()).await;

    upsert(&master_engine, 50..80);
    wait_for("stream", || replica_engine.digest() == master_engine.digest()).await;
    wait_for("acks", || {
        master.status().stats.is_some_and(|s| s.operations_pending == 0 && s.connected_replicas == Some(1))
    })
    .await;

    let m = master.status();
    let ms = m.stats.expect("master stats");
    let replicas = m.replicas.expect("replicas listed");
    assert_eq!(replicas.len(), 1);
    assert_eq!(replicas[0].status, wire::ReplicaStatus::Connected);
    assert_eq!(replicas[0].operations_synced, master_engine.last_offset(), "every op acknowledged exactly once");
    let r = replica.status();
    assert_eq!(r.role, wire::ReplicationRole::Replica);
    assert!(r.replicas.is_none());
    let rs = r.stats.expect("replica stats");
    assert_eq!(rs.operations_pending, 0);
    assert!(rs.last_sync.is_some());
    // Bytes: what the master wrote is what the replica read, and vice versa (no proxy in between).
    wait_for("byte counters settle", || {
        let (m, r) = (master.status().stats.expect("m"), replica.status().stats.expect("r"));
        m.bytes_sent == r.bytes_received && r.bytes_sent == m.bytes_received
    })
    .await;
    assert!(ms.bytes_sent > 0);

    // Writes on the replica are refused.
    let err = replica_engine
        .upsert(
            "c",
            wire::UpsertRequest {
                vectors: vec![wire::PointInput { id: "x".into(), vector: vec![0.0; 3], payload: None }],
            },
        )
        .expect_err("read only");
    assert!(matches!(err, crate::CoreError::ReadOnlyReplica { .. }), "{err}");

    // Promote the replica: it accepts writes in a new epoch; the old master follows it by partial sync.
    let promoted = replica.promote().await.expect("promote");
    assert_eq!(promoted.role, wire::ReplicationRole::Master);
    let full_before = master.status().stats.and_then(|s| s.full_syncs).unwrap_or(0);
    master.replica_of(Some(replica.repl_addr().to_string())).await.expect("demote old master");
    upsert(&replica_engine, 80..90);
    wait_for("old master follows the new one", || master_engine.digest() == replica_engine.digest()).await;
    let after = master.status().stats.expect("stats");
    assert_eq!(after.role, wire::ReplicationRole::Replica);
    assert_eq!(after.full_syncs, Some(full_before), "re-pointing after a promotion needs no full sync");
    assert_eq!(replica_engine.epoch(), 2);

    replica.shutdown().await;
    master.shutdown().await;
    master_engine.shutdown().expect("shutdown");
    replica_engine.shutdown().expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_concern_counts_durable_acks_of_a_fixed_membership() {
    use crate::replication::WriteConcern;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let master_engine = engine_with_collection(dirs[0].path(), wire::Metric::Dot);
    let master = Replication::start(master_engine.clone(), repl_config(None)).await.expect("master");
    let addr = master.repl_addr().to_string();
    let r1_engine = engine(dirs[1].path());
    let r1 = Replication::start(r1_engine.clone(), repl_config(Some(addr.clone()))).await.expect("r1");
    let r2_engine = engine(dirs[2].path());
    let r2 = Replication::start(r2_engine.clone(), repl_config(Some(addr))).await.expect("r2");
    wait_for("both replicas registered", || master.replicas().len() == 2).await;

    upsert(&master_engine, 0..1);
    let offset = master_engine.last_offset();
    master.wait_for_write_concern(offset, WriteConcern::All, Duration::from_secs(10)).await.expect("w=all");

    // One replica gone: a majority (2 of 3) is still reachable, all (3) is not.
    r2.shutdown().await;
    upsert(&master_engine, 1..2);
    let offset = master_engine.last_offset();
    master.wait_for_write_concern(offset, WriteConcern::Majority, Duration::from_secs(10)).await.expect("w=majority");
    let err = master
        .wait_for_write_concern(offset, WriteConcern::All, Duration::from_millis(200))
        .await
        .expect_err("w=all cannot be met");
    assert!(matches!(err, crate::CoreError::WriteConcernTimeout { needed: 3, reached: 2, .. }), "{err}");

    // Both gone: the membership does not shrink, so a majority is impossible.
    r1.shutdown().await;
    upsert(&master_engine, 2..3);
    let offset = master_engine.last_offset();
    let err = master
        .wait_for_write_concern(offset, WriteConcern::Majority, Duration::from_millis(200))
        .await
        .expect_err("no majority");
    assert!(matches!(err, crate::CoreError::WriteConcernTimeout { needed: 2, reached: 1, .. }), "{err}");
    master.wait_for_write_concern(offset, WriteConcern::One, Duration::from_millis(1)).await.expect("w=1");

    master.shutdown().await;
    for e in [master_engine, r1_engine, r2_engine] {
        e.shutdown().expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_disabled_replicates_without_counting_bytes() {
    use crate::replication::WriteConcern;
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master_engine = engine_with_collection(mdir.path(), wire::Metric::Euclidean);
    upsert(&master_engine, 0..20);
    let without_stats = |replica_of| ReplicationConfig { stats_enabled: false, ..repl_config(replica_of) };
    let master = Replication::start(master_engine.clone(), without_stats(None)).await.expect("master");
    let replica_engine = engine(rdir.path());
    let replica = Replication::start(replica_engine.clone(), without_stats(Some(master.repl_addr().to_string())))
        .await
        .expect("replica");
    upsert(&master_engine, 20..40);
    wait_for("stream", || replica_engine.digest() == master_engine.digest()).await;
    let offset = master_engine.last_offset();
    // Acknowledgements still flow: write concerns and health do not depend on the stats.
    master.wait_for_write_concern(offset, WriteConcern::All, Duration::from_secs(10)).await.expect("w=all");

    for node in [&master, &replica] {
        let status = node.status();
        assert!(status.stats.is_none() && status.replicas.is_none(), "stats disabled: {status:?}");
        let counters = node.shared().to_persisted().counters;
        assert_eq!((counters.bytes_sent, counters.bytes_received), (0, 0), "no byte was counted");
    }
    let listed = master.replicas();
    assert_eq!(listed.len(), 1, "the registry still knows the replica");
    assert_eq!(listed[0].bytes_sent, Some(0), "no byte was counted for the replica");

    replica.shutdown().await;
    master.shutdown().await;
    for e in [master_engine, replica_engine] {
        e.shutdown().expect("shutdown");
    }
}
