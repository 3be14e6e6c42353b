//! The write path in steps (`write_path.rs`): `try_commit_nowait` applies without waiting or
//! declines and hands the write back, re-checks what validation saw, and acknowledges only through
//! `finish_write`.

use super::*;

fn prepared(engine: &Engine, coll: &str, id: &str) -> PreparedWrite {
    let req = wire::UpsertRequest { vectors: vec![point(id, vec![1.0, 2.0, 3.0], None)] };
    engine.prepare_upsert(coll, req).expect("prepare")
}

fn applied(outcome: NowaitCommit) -> AppliedWrite {
    match outcome {
        NowaitCommit::Applied(applied) => applied,
        other => panic!("expected Applied, got {other:?}"),
    }
}

#[test]
fn nowait_commit_is_visible_at_once_and_survives_a_crash_once_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 3, wire::Metric::Euclidean);
    let before = engine.last_offset();
    let ops_before = engine.ops_since_snapshot.load(Ordering::SeqCst);

    let applied = applied(engine.try_commit_nowait(prepared(&engine, "c", "p1")));
    assert_eq!(applied, AppliedWrite { offset: before + 1, affected: 1 });
    assert_eq!(
        engine.ops_since_snapshot.load(Ordering::SeqCst),
        ops_before + 1,
        "counted for the snapshot schedule when applied, even if nobody waits for the acknowledgement"
    );
    assert_eq!(engine.get_point("c", "p1").expect("visible before it is durable").vector, vec![1.0, 2.0, 3.0]);

    let ack = engine.finish_write(applied).expect("finish");
    assert_eq!(ack, wire::WriteResponse { offset: before + 1, affected: 1 });
    assert!(engine.log().is_durable(ack.offset), "finish_write returns only once the offset is durable");

    let engine = crash_and_reopen(engine, config(dir.path()));
    assert_eq!(engine.get_point("c", "p1").expect("acknowledged write after a crash").vector, vec![1.0, 2.0, 3.0]);
}

#[test]
fn nowait_commit_hands_the_write_back_while_the_writer_lock_is_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 3, wire::Metric::Euclidean);
    let before = engine.last_offset();

    let gate = engine.gate.lock();
    let outcome = engine.try_commit_nowait(prepared(&engine, "c", "p1"));
    drop(gate);
    let NowaitCommit::WouldBlock(handed_back) = outcome else { panic!("expected WouldBlock, got {outcome:?}") };
    assert_eq!(engine.last_offset(), before, "nothing is written when declined");
    assert!(engine.get_point("c", "p1").is_err());

    let ack = engine.commit(handed_back).expect("commit the handed-back write");
    assert_eq!(ack.offset, before + 1);
    assert!(engine.get_point("c", "p1").is_ok());
}

#[test]
fn nowait_commit_declines_an_append_that_would_close_the_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.segment_bytes = crate::storage::log::MIN_SEGMENT_BYTES;
    let engine = Engine::open(cfg.clone()).expect("open");
    create(&engine, "c", 3, wire::Metric::Euclidean);
    let write = prepared(&engine, "c", &"x".repeat(200));
    assert!(write.encoded_len() + 64 > 256, "the record does not fit next to the create");
    assert!(!engine.log().fits_active_segment(write.encoded_len()));

    let NowaitCommit::WouldBlock(handed_back) = engine.try_commit_nowait(write) else {
        panic!("an append that closes a segment (and fsyncs it) must not run without waiting")
    };
    engine.commit(handed_back).expect("commit rotates the segment");
    assert!(engine.get_point("c", &"x".repeat(200)).is_ok());

    let engine = crash_and_reopen(engine, cfg);
    assert!(engine.get_point("c", &"x".repeat(200)).is_ok());
}

#[test]
fn nowait_commit_rechecks_the_collection_it_validated_against() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 3, wire::Metric::Euclidean);
    let stale = prepared(&engine, "c", "p1");
    engine.delete_collection("c").expect("delete");
    create(&engine, "c", 3, wire::Metric::Euclidean);
    let before = engine.last_offset();

    match engine.try_commit_nowait(stale) {
        NowaitCommit::Failed(CoreError::CollectionNotFound { name }) => assert_eq!(name, "c"),
        other => panic!("expected CollectionNotFound, got {other:?}"),
    }
    assert_eq!(engine.last_offset(), before, "a refused write appends nothing");
    assert_eq!(engine.collection_info("c").expect("info").vector_count, 0);
}

#[test]
fn nowait_commit_refuses_on_a_replica_and_after_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    create(&engine, "c", 3, wire::Metric::Euclidean);
    let before = engine.last_offset();

    engine.set_role(NodeRole::Replica { master_http: Some("http://127.0.0.1:1".into()) });
    match engine.try_commit_nowait(prepared(&engine, "c", "p1")) {
        NowaitCommit::Failed(CoreError::ReadOnlyReplica { .. }) => {}
        other => panic!("expected ReadOnlyReplica, got {other:?}"),
    }
    engine.set_role(NodeRole::Master);
    engine.shutdown().expect("shutdown");
    match engine.try_commit_nowait(prepared(&engine, "c", "p1")) {
        NowaitCommit::Failed(CoreError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(engine.last_offset(), before);
}
