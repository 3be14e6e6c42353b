//! Engine tests on real data directories: the write path, validation, recovery, snapshots.

use std::sync::Arc;

use vectorizer_sdk_types as wire;

use super::*;
use crate::testdata;

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.index_threads = 1;
    c.snapshot_every_ops = 0;
    c.snapshot_every_secs = 0;
    c
}

fn create(engine: &Engine, name: &str, dim: u32, metric: wire::Metric) {
    engine
        .create_collection(&wire::CreateCollectionRequest { name: name.into(), dimension: dim, metric, hnsw: None })
        .expect("create collection");
}

fn point(id: &str, vector: Vec<f32>, payload: Option<serde_json::Value>) -> wire::PointInput {
    wire::PointInput {
        id: id.into(),
        vector,
        payload: payload.map(|p| p.as_object().cloned().expect("payload object")),
    }
}

fn upsert(engine: &Engine, coll: &str, points: Vec<wire::PointInput>) -> wire::WriteResponse {
    engine.upsert(coll, wire::UpsertRequest { vectors: points }).expect("upsert")
}

fn search(engine: &Engine, coll: &str, v: Vec<f32>, limit: u32, exact: bool) -> Vec<wire::ScoredPoint> {
    engine
        .search(coll, &wire::SearchRequest { vector: v, limit, with_payload: true, exact, ef_search: None })
        .expect("search")
        .results
}

fn reopen(engine: Arc<Engine>, dir: &std::path::Path) -> Arc<Engine> {
    engine.shutdown().expect("shutdown");
    drop(engine);
    Engine::open(config(dir)).expect("reopen")
}

/// A crash-like stop (no final snapshot, no shutdown), then a reopen of the same directory.
fn crash_and_reopen(engine: Arc<Engine>, cfg: EngineConfig) -> Arc<Engine> {
    engine.gate.lock().closed = true;
    if let Some(w) = engine.workers.lock().take() {
        w.stop();
    }
    drop(engine);
    Engine::open(cfg).expect("reopen")
}

#[test]
fn crud_and_search_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "docs", 3, wire::Metric::Cosine);
    let ack = upsert(
        &engine,
        "docs",
        vec![
            point("a", vec![1.0, 0.0, 0.0], Some(serde_json::json!({"title": "A"}))),
            point("b", vec![0.0, 1.0, 0.0], None),
            point("c/with slash", vec![0.0, 0.0, 5.0], None),
        ],
    );
    assert_eq!(ack.affected, 3);
    assert_eq!(ack.offset, 2, "create is offset 1, the upsert offset 2");

    let got = engine.get_point("docs", "a").expect("get a");
    assert_eq!(got.vector, vec![1.0, 0.0, 0.0]);
    assert_eq!(got.payload.expect("payload")["title"], "A");
    assert_eq!(engine.get_point("docs", "c/with slash").expect("get c").vector, vec![0.0, 0.0, 5.0]);

    let hits = search(&engine, "docs", vec![0.0, 0.0, 1.0], 2, false);
    assert_eq!(hits[0].id, "c/with slash");
    assert!((hits[0].score - 1.0).abs() < 1e-5, "cosine ignores magnitude: {}", hits[0].score);

    let del = engine.delete_points("docs", &wire::DeletePointsRequest { ids: vec!["a".into(), "zzz".into()] });
    assert_eq!(del.expect("delete").affected, 1, "only existing ids count");
    assert!(matches!(engine.get_point("docs", "a"), Err(CoreError::PointNotFound { .. })));
    assert!(search(&engine, "docs", vec![1.0, 0.0, 0.0], 10, true).iter().all(|h| h.id != "a"));

    let info = engine.collection_info("docs").expect("info");
    assert_eq!(info.vector_count, 2);
    engine.delete_collection("docs").expect("delete collection");
    assert!(matches!(engine.collection_info("docs"), Err(CoreError::CollectionNotFound { .. })));
    engine.shutdown().expect("shutdown");
}

#[test]
fn replace_keeps_one_copy_and_new_vector() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 2, wire::Metric::Euclidean);
    upsert(&engine, "c", vec![point("p", vec![0.0, 0.0], Some(serde_json::json!({"v": 1})))]);
    upsert(&engine, "c", vec![point("p", vec![10.0, 0.0], Some(serde_json::json!({"v": 2})))]);
    let hits = search(&engine, "c", vec![10.0, 0.0], 10, false);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].score, 0.0);
    assert_eq!(hits[0].payload.as_ref().expect("payload")["v"], 2);
    assert_eq!(engine.collection_info("c").expect("info").vector_count, 1);
    engine.shutdown().expect("shutdown");
}

#[test]
fn user_mistakes_are_rejected_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 3, wire::Metric::Dot);
    let before = engine.last_offset();

    let dup = engine.create_collection(&wire::CreateCollectionRequest {
        name: "c".into(),
        dimension: 3,
        metric: wire::Metric::Dot,
        hnsw: None,
    });
    assert!(matches!(dup, Err(CoreError::CollectionExists { .. })));
    let wrong_dim = engine.upsert("c", wire::UpsertRequest { vectors: vec![point("x", vec![1.0], None)] });
    assert!(matches!(wrong_dim, Err(CoreError::DimensionMismatch { expected: 3, actual: 1, .. })));
    let nan = engine.upsert("c", wire::UpsertRequest { vectors: vec![point("x", vec![1.0, f32::NAN, 0.0], None)] });
    assert!(matches!(nan, Err(CoreError::InvalidArgument { .. })));
    let missing = engine.upsert("nope", wire::UpsertRequest { vectors: vec![point("x", vec![1.0; 3], None)] });
    assert!(matches!(missing, Err(CoreError::CollectionNotFound { .. })));
    let big_limit = engine.search(
        "c",
        &wire::SearchRequest {
            vector: vec![1.0; 3],
            limit: 10_001,
            with_payload: false,
            exact: false,
            ef_search: None,
        },
    );
    assert!(big_limit.expect_err("limit").to_string().contains("limit"));
    let bad_ef = engine.search(
        "c",
        &wire::SearchRequest { vector: vec![1.0; 3], limit: 1, with_payload: false, exact: false, ef_search: Some(0) },
    );
    assert!(bad_ef.expect_err("ef").to_string().contains("ef_search"));
    assert_eq!(engine.last_offset(), before, "no rejected request reached the log");
    engine.shutdown().expect("shutdown");
}

#[test]
fn restart_replays_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 4, wire::Metric::Cosine);
    for i in 0..50 {
        upsert(&engine, "c", vec![point(&format!("p{i}"), vec![i as f32, 1.0, 2.0, 3.0], None)]);
    }
    engine.delete_points("c", &wire::DeletePointsRequest { ids: vec!["p7".into()] }).expect("delete");
    // Shut down without a final snapshot being needed: disable it by checking replay instead.
    let engine = {
        // A crash-like stop: workers stopped, log synced, but no final snapshot.
        engine.gate.lock().closed = true;
        if let Some(w) = engine.workers.lock().take() {
            w.stop();
        }
        engine.log.sync().expect("sync");
        drop(engine);
        Engine::open(config(dir.path())).expect("reopen")
    };
    assert_eq!(engine.startup_report().snapshot_offset, 0);
    assert_eq!(engine.startup_report().replayed_ops, 52);
    assert_eq!(engine.collection_info("c").expect("info").vector_count, 49);
    assert!(matches!(engine.get_point("c", "p7"), Err(CoreError::PointNotFound { .. })));
    assert_eq!(engine.get_point("c", "p42").expect("p42").vector, vec![42.0, 1.0, 2.0, 3.0]);
    // Offsets continue after the replayed ones.
    let ack = upsert(&engine, "c", vec![point("new", vec![1.0; 4], None)]);
    assert_eq!(ack.offset, 53);
    engine.shutdown().expect("shutdown");
}

#[test]
fn snapshot_then_more_writes_then_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 8, wire::Metric::Euclidean);
    let data = testdata::GaussianMixture::new(8, 5, 0.3, 42).sample(500, 1);
    for (i, chunk) in data.chunks(100).enumerate() {
        let pts = chunk
            .iter()
            .enumerate()
            .map(|(j, v)| point(&format!("p{}", i * 100 + j), v.clone(), Some(serde_json::json!({"i": i}))))
            .collect();
        upsert(&engine, "c", pts);
    }
    let snap = engine.snapshot_now().expect("snapshot");
    assert_eq!(snap.offset, 6);
    assert_eq!(snap.points, 500);
    upsert(&engine, "c", vec![point("after", vec![0.5; 8], None)]);
    let engine = reopen(engine, dir.path());
    // The final snapshot at shutdown covers everything, so nothing is replayed.
    assert_eq!(engine.startup_report().replayed_ops, 0);
    assert_eq!(engine.collection_info("c").expect("info").vector_count, 501);
    for i in [0usize, 123, 499] {
        assert_eq!(engine.get_point("c", &format!("p{i}")).expect("get").vector, data[i]);
    }
    let hits = search(&engine, "c", data[123].clone(), 1, false);
    assert_eq!(hits[0].id, "p123");
    engine.shutdown().expect("shutdown");
}

#[test]
fn corrupt_newest_snapshot_falls_back_to_older_snapshot_plus_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 2, wire::Metric::Dot);
    upsert(&engine, "c", vec![point("a", vec![1.0, 2.0], None)]);
    engine.snapshot_now().expect("first snapshot");
    upsert(&engine, "c", vec![point("b", vec![3.0, 4.0], None)]);
    let newest = engine.snapshot_now().expect("second snapshot");
    engine.shutdown().expect("shutdown");
    drop(engine);

    let snaps = snapshot::list_snapshots(&recovery::snapshot_dir(dir.path())).expect("list");
    let (offset, path) = &snaps[0];
    assert_eq!(*offset, newest.offset);
    let mut bytes = std::fs::read(path).expect("read snapshot");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(path, bytes).expect("corrupt snapshot");

    let engine = Engine::open(config(dir.path())).expect("recovers from the older snapshot");
    assert!(engine.startup_report().snapshot_offset < newest.offset);
    assert_eq!(engine.get_point("c", "b").expect("b from the log").vector, vec![3.0, 4.0]);
    assert_eq!(engine.get_point("c", "a").expect("a").vector, vec![1.0, 2.0]);
    engine.shutdown().expect("shutdown");
}

#[test]
fn concurrent_writers_are_all_durable_and_share_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 4, wire::Metric::Cosine);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        upsert(
                            &engine,
                            "c",
                            vec![point(&format!("t{t}-{i}"), vec![t as f32 + 1.0, i as f32, 1.0, 1.0], None)],
                        )
                        .offset
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut offsets: Vec<u64> = threads.into_iter().flat_map(|t| t.join().expect("writer thread")).collect();
    offsets.sort_unstable();
    offsets.dedup();
    assert_eq!(offsets.len(), 200, "every write got its own offset");
    assert!(engine.fsync_count() < 200, "group commit shares fsyncs: {}", engine.fsync_count());
    let engine = reopen(engine, dir.path());
    assert_eq!(engine.collection_info("c").expect("info").vector_count, 200);
    engine.shutdown().expect("shutdown");
}

#[test]
fn writes_after_shutdown_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    engine.shutdown().expect("shutdown");
    let err = engine
        .create_collection(&wire::CreateCollectionRequest {
            name: "c".into(),
            dimension: 2,
            metric: wire::Metric::Dot,
            hnsw: None,
        })
        .expect_err("closed");
    assert!(matches!(err, CoreError::Unavailable { .. }));
}

#[test]
fn recreated_collection_with_other_dimension_replays_correctly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 2, wire::Metric::Dot);
    upsert(&engine, "c", vec![point("a", vec![1.0, 2.0], None)]);
    engine.delete_collection("c").expect("delete");
    create(&engine, "c", 3, wire::Metric::Dot);
    upsert(&engine, "c", vec![point("a", vec![1.0, 2.0, 3.0], None)]);
    let engine = reopen(engine, dir.path());
    assert_eq!(engine.get_point("c", "a").expect("a").vector, vec![1.0, 2.0, 3.0]);
    engine.shutdown().expect("shutdown");
}

#[test]
fn vectors_are_searchable_before_they_are_linked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 16, wire::Metric::Euclidean);
    let data = testdata::GaussianMixture::new(16, 10, 0.3, 7).sample(2000, 2);
    let pts = data.iter().enumerate().map(|(i, v)| point(&format!("p{i}"), v.clone(), None)).collect();
    upsert(&engine, "c", pts);
    // Immediately after the ack, whatever the linkers have done so far, every point is findable.
    for i in [0usize, 999, 1999] {
        let hits = search(&engine, "c", data[i].clone(), 1, false);
        assert_eq!(hits[0].id, format!("p{i}"));
    }
    engine.shutdown().expect("shutdown");
}

// ---- replication hooks ----

fn all_records(engine: &Engine) -> Vec<crate::storage::log::Record> {
    engine.log().read_from(engine.log().first_offset().max(1), usize::MAX).expect("read log")
}

fn populate(engine: &Engine, n: usize) {
    create(engine, "c", 4, wire::Metric::Cosine);
    for i in 0..n {
        upsert(
            engine,
            "c",
            vec![point(&format!("p{i}"), vec![i as f32, 1.0, 0.5, 2.0], Some(serde_json::json!({"i": i})))],
        );
    }
    engine.delete_points("c", &wire::DeletePointsRequest { ids: vec!["p3".into()] }).expect("delete");
}

#[test]
fn replica_role_refuses_writes_and_names_the_master() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    engine.set_role(NodeRole::Replica { master_http: Some("10.0.0.1:15002".into()) });
    let err = engine
        .create_collection(&wire::CreateCollectionRequest {
            name: "c".into(),
            dimension: 2,
            metric: wire::Metric::Dot,
            hnsw: None,
        })
        .expect_err("read only");
    assert!(matches!(err, CoreError::ReadOnlyReplica { master: Some(ref m) } if m == "10.0.0.1:15002"), "{err}");
    engine.set_role(NodeRole::Master);
    create(&engine, "c", 2, wire::Metric::Dot);
    engine.shutdown().expect("shutdown");
}

#[test]
fn replicated_records_converge_idempotently_and_gaps_are_refused() {
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master = Engine::open(config(mdir.path())).expect("master");
    populate(&master, 20);
    let records = all_records(&master);
    let replica = Engine::open(config(rdir.path())).expect("replica");
    replica.set_role(NodeRole::Replica { master_http: None });

    let gap = replica.apply_replicated(&records[5..]);
    assert!(matches!(gap, Err(CoreError::OffsetMismatch { expected: 1, actual: 6 })), "{gap:?}");
    assert_eq!(replica.apply_replicated(&records[..10]).expect("first half"), 10);
    // Overlapping resend: the already-applied prefix is skipped.
    assert_eq!(replica.apply_replicated(&records[5..]).expect("rest"), master.last_offset());
    assert_eq!(replica.digest(), master.digest());
    assert_eq!(all_records(&replica), records, "records are stored exactly as the master wrote them");

    let replica = reopen(replica, rdir.path());
    assert_eq!(replica.digest(), master.digest(), "durable across restart");
    replica.shutdown().expect("shutdown");
    master.shutdown().expect("shutdown");
}

#[test]
fn installed_snapshot_replaces_state_and_log_continues_after_it() {
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master = Engine::open(config(mdir.path())).expect("master");
    populate(&master, 30);
    let replica = Engine::open(config(rdir.path())).expect("replica");
    // The replica has unrelated history that must disappear entirely.
    create(&replica, "stale", 2, wire::Metric::Dot);
    upsert(&replica, "stale", vec![point("x", vec![1.0, 1.0], None)]);
    replica.snapshot_now().expect("stale snapshot");
    for i in 0..40 {
        upsert(&replica, "stale", vec![point(&format!("y{i}"), vec![1.0, 1.0], None)]);
    }
    replica.snapshot_now().expect("stale snapshot with a higher offset than the master's");
    replica.set_role(NodeRole::Replica { master_http: None });

    let (path, manifest) = master.snapshot_for_sync().expect("snapshot for sync");
    std::fs::create_dir_all(replica.staging_dir()).expect("staging");
    let staged = replica.staging_dir().join("incoming.snap");
    std::fs::copy(&path, &staged).expect("stage");
    let summary = replica.install_snapshot(&staged).expect("install");
    assert_eq!(summary.offset, manifest.offset);
    assert_eq!(replica.last_offset(), manifest.offset);
    assert_eq!(replica.digest(), master.digest());
    assert!(matches!(replica.collection_info("stale"), Err(CoreError::CollectionNotFound { .. })));

    // The master keeps writing; the replica continues from the snapshot offset.
    upsert(&master, "c", vec![point("later", vec![9.0, 9.0, 9.0, 9.0], None)]);
    let tail: Vec<_> = all_records(&master).into_iter().filter(|r| r.offset > manifest.offset).collect();
    replica.apply_replicated(&tail).expect("continue after snapshot");
    assert_eq!(replica.digest(), master.digest());

    let replica = reopen(replica, rdir.path());
    assert_eq!(replica.digest(), master.digest(), "a restart never mixes the old history back in");
    replica.shutdown().expect("shutdown");
    master.shutdown().expect("shutdown");
}

#[test]
fn interrupted_install_is_completed_at_start_up() {
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master = Engine::open(config(mdir.path())).expect("master");
    populate(&master, 10);
    let (path, manifest) = master.snapshot_for_sync().expect("snapshot");
    let expected = master.digest();
    master.shutdown().expect("shutdown");

    let replica = Engine::open(config(rdir.path())).expect("replica");
    create(&replica, "old", 2, wire::Metric::Dot);
    for i in 0..30 {
        upsert(&replica, "old", vec![point(&format!("o{i}"), vec![1.0, 2.0], None)]);
    }
    replica.shutdown().expect("shutdown");
    drop(replica);
    // Simulate a crash right after the snapshot file was moved in: marker + file, old log intact.
    std::fs::write(rdir.path().join("INSTALLING"), manifest.offset.to_string()).expect("marker");
    let snaps = recovery::snapshot_dir(rdir.path());
    for (_, p) in snapshot::list_snapshots(&snaps).expect("list") {
        std::fs::remove_file(p).expect("drop old snapshots to make the old log the only history");
    }
    std::fs::copy(&path, snaps.join(snapshot::snapshot_file_name(manifest.offset))).expect("place snapshot");

    let replica = Engine::open(config(rdir.path())).expect("recovers");
    assert_eq!(replica.digest(), expected);
    assert!(!rdir.path().join("INSTALLING").exists());
    replica.shutdown().expect("shutdown");
}

mod rollback;
mod write_path;
