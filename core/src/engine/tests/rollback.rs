//! In-place rollback (`Engine::rollback_to`) on real data directories: a node that diverged from a
//! new master drops what it wrote past the fork point, continues with the master's records, and
//! keeps exactly that across a crash.

use super::*;

/// Node `b` follows master `a` up to `fork`, then becomes a master itself and writes `own` points
/// the master never sees (an old master that wrote on after a failover).
fn diverged_node(a: &Engine, b: &Engine, fork: usize, own: usize) {
    let records = all_records(a);
    b.set_role(NodeRole::Replica { master_http: None });
    b.apply_replicated(&records[..fork]).expect("follow the master up to the fork point");
    b.set_role(NodeRole::Master);
    for i in 0..own {
        upsert(b, "c", vec![point(&format!("diverged{i}"), vec![0.0, 0.0, 1.0, i as f32], None)]);
    }
    b.set_role(NodeRole::Replica { master_http: None });
}

/// `b`, rolled back to `fork`, takes the master's records after it and then holds exactly `a`'s data.
fn continue_from_master(a: &Engine, b: &Engine, fork: u64) {
    let tail: Vec<_> = all_records(a).into_iter().filter(|r| r.offset > fork).collect();
    b.apply_replicated(&tail).expect("continue with the master's records");
    assert_eq!(b.digest(), a.digest());
}

fn snapshot_offsets(engine: &Engine) -> Vec<u64> {
    let dir = super::recovery::snapshot_dir(&engine.config().data_dir);
    crate::storage::snapshot::list_snapshots(&dir).expect("list").into_iter().map(|(o, _)| o).collect()
}

#[test]
fn rollback_from_the_empty_state_then_the_masters_records_survive_a_crash() {
    let (adir, bdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = Engine::open(config(adir.path())).expect("master");
    populate(&a, 10);
    let b = Engine::open(config(bdir.path())).expect("old master");
    diverged_node(&a, &b, 8, 7);
    assert_eq!(b.last_offset(), 15);
    assert_eq!(b.rollback_floor(), 0, "the log still starts at offset 1");

    let report = b.rollback_to(8).expect("rollback");
    assert_eq!(report, RollbackReport { offset: 8, ops_removed: 7, base_snapshot: 0, replayed: 8 });
    assert_eq!(b.last_offset(), 8);
    assert!(matches!(b.get_point("c", "diverged0"), Err(CoreError::PointNotFound { .. })));

    continue_from_master(&a, &b, 8);
    assert_eq!(all_records(&b), all_records(&a), "the log holds exactly the master's records");

    let b = crash_and_reopen(b, config(bdir.path()));
    assert_eq!(b.digest(), a.digest(), "the rollback and what followed it are durable");
    b.shutdown().expect("shutdown");
    a.shutdown().expect("shutdown");
}

#[test]
fn rollback_starts_from_the_newest_snapshot_at_or_below_the_fork_and_drops_newer_ones() {
    let (adir, bdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = Engine::open(config(adir.path())).expect("master");
    populate(&a, 10);
    let b = Engine::open(config(bdir.path())).expect("old master");
    let records = all_records(&a);
    b.set_role(NodeRole::Replica { master_http: None });
    b.apply_replicated(&records[..6]).expect("follow");
    b.snapshot_now().expect("snapshot at 6");
    diverged_node(&a, &b, 8, 7);
    b.snapshot_now().expect("snapshot at 15, past the fork point");
    assert_eq!(snapshot_offsets(&b), vec![15, 6]);

    let report = b.rollback_to(8).expect("rollback");
    assert_eq!(report, RollbackReport { offset: 8, ops_removed: 7, base_snapshot: 6, replayed: 2 });
    assert_eq!(snapshot_offsets(&b), vec![6], "a snapshot holding diverged operations is gone");
    assert_eq!(b.last_snapshot().map(|s| s.offset), Some(6));

    continue_from_master(&a, &b, 8);
    let b = crash_and_reopen(b, config(bdir.path()));
    assert_eq!(b.startup_report().snapshot_offset, 6);
    assert_eq!(b.digest(), a.digest());
    b.shutdown().expect("shutdown");
    a.shutdown().expect("shutdown");
}

#[test]
fn rollback_below_the_floor_is_refused_and_changes_nothing() {
    let (adir, bdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = Engine::open(config(adir.path())).expect("master");
    populate(&a, 40);
    // Small segments, one snapshot kept, no backlog: a snapshot compacts the log behind it.
    let mut cfg = config(bdir.path());
    cfg.segment_bytes = 512;
    cfg.snapshots_to_keep = 1;
    cfg.retention = crate::storage::Retention { max_bytes: 0, max_age: std::time::Duration::ZERO };
    let b = Engine::open(cfg.clone()).expect("old master");
    diverged_node(&a, &b, 30, 5);
    b.snapshot_now().expect("snapshot past the fork point");
    let floor = b.rollback_floor();
    assert!(floor > 30, "the log before the fork point is compacted: floor {floor}");
    let before = (b.digest(), b.last_offset(), snapshot_offsets(&b));

    let err = b.rollback_to(30).expect_err("nothing to roll back from");
    assert!(matches!(err, CoreError::RollbackImpossible { offset: 30, .. }), "{err}");
    assert_eq!((b.digest(), b.last_offset(), snapshot_offsets(&b)), before, "a refused rollback changes nothing");
    // The engine still works (not failed): the full sync that follows can install.
    let b = crash_and_reopen(b, cfg);
    assert_eq!(b.digest(), before.0);
    b.shutdown().expect("shutdown");
    a.shutdown().expect("shutdown");
}
