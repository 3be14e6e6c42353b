//! The health tick: silent replicas, the backlog cap, status transitions, log pinning.

use vectorizer_sdk_types::ReplicaStatus;

use super::*;
use crate::engine::now_ms;
use crate::storage::{Retention, log::MIN_SEGMENT_BYTES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_replica_is_disconnected_and_its_session_closed_by_the_tick() {
    let master = Master::start().await;
    let last = master.write(3);
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), last).await;
    let entry = master.entry("r-1");
    tick(&master, now_ms());
    assert!(entry.is_live(), "a replica heard from just now stays");

    // 30 s disconnect timeout: 31 s later without a frame, the tick drops it.
    tick(&master, now_ms() + 31_000);
    peer.expect_closed(|_| false).await;
    eventually("session ended", || !entry.facts.lock().link_up).await;
    let (error, down_since) = {
        let facts = entry.facts.lock();
        (facts.last_error.clone().expect("error recorded"), facts.link_down_since_ms)
    };
    assert!(error.contains("no frame from the replica"), "{error}");
    assert!(down_since.is_some());
    let info = &master.repl.replicas()[0];
    assert_eq!(info.status, ReplicaStatus::Disconnected);
    assert!(info.link_down_since.is_some());
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_backlog_exceeds_the_cap_is_dropped_once() {
    let mut cfg = repl_config();
    cfg.replica_buffer_bytes = 4096;
    let master = Master::start_with(engine_config, cfg).await;
    let shared = master.shared().clone();
    let start = master.write(2);
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), start).await;
    let entry = master.entry("r-1");
    peer.send(&Frame::Ack { applied_offset: start }).await;
    eventually("ack recorded", || load(&entry.acked_offset) == start).await;

    // Within the cap: kept.
    let small = master.write(3);
    assert!(master.engine.log().bytes_after(start) <= 4096);
    tick(&master, now_ms());
    assert!(entry.is_live());

    // The replica reads but never acknowledges; the log grows past the cap.
    master.write_points(10, 10, 100);
    assert!(master.engine.log().bytes_after(start) > 4096);
    tick(&master, now_ms());
    tick(&master, now_ms());
    peer.expect_closed(|f| matches!(f, Frame::Records { .. })).await;
    eventually("session ended", || !entry.facts.lock().link_up).await;
    assert_eq!(load(&shared.counters.buffer_overflows), 1, "counted once");
    let error = entry.facts.lock().last_error.clone().expect("error recorded");
    assert!(error.contains("backlog overflow"), "{error}");
    assert_eq!(load(&entry.acked_offset), start, "last known state stays");
    assert!(small > start);

    // Reconnecting with the same position is a partial sync again (the log still holds it).
    let (_peer, answer) = Peer::join(master.addr(), "r-1", master.history(), start).await;
    assert!(matches!(answer, Frame::Continue { .. }), "{answer:?}");
    master.stop().await;
}

/// Statuses as the tick sees them at `now` (the background tick runs on the real clock, so tests
/// read the pure evaluation rather than the last logged status).
fn status_at(master: &Master, now: u64) -> ReplicaStatus {
    crate::replication::stats::evaluate_replicas(master.shared(), now)[0].status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_sync_acks_lag_and_silence() {
    let master = Master::start().await;
    let last = master.write(3);
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), 0).await;
    let entry = master.entry("r-1");
    assert_eq!(status_at(&master, now_ms()), ReplicaStatus::Syncing);
    peer.records_until(last).await;
    peer.send(&Frame::Ack { applied_offset: last }).await;
    eventually("synced", || load(&entry.partial_syncs) == 1).await;
    assert_eq!(status_at(&master, now_ms()), ReplicaStatus::Connected);

    // An op left unacknowledged for longer than the lagging threshold (1 s) makes it Lagging.
    let newer = master.write(1);
    let appended = master.log_from(newer)[0].timestamp_ms;
    assert_eq!(status_at(&master, appended + 1_000), ReplicaStatus::Connected, "threshold is exclusive");
    assert_eq!(status_at(&master, appended + 1_001), ReplicaStatus::Lagging);
    peer.records_until(newer).await;
    peer.send(&Frame::Ack { applied_offset: newer }).await;
    eventually("acked", || load(&entry.acked_offset) == newer).await;
    assert_eq!(status_at(&master, appended + 5_000), ReplicaStatus::Connected);
    let heard = load(&entry.last_heartbeat_ms);
    assert_eq!(status_at(&master, heard + 30_001), ReplicaStatus::Disconnected, "silent past the timeout");
    master.stop().await;
}

fn compacting(dir: &std::path::Path) -> crate::engine::EngineConfig {
    let mut c = engine_config(dir);
    c.segment_bytes = MIN_SEGMENT_BYTES;
    c.snapshots_to_keep = 1;
    c.retention = Retention { max_bytes: 0, max_age: Duration::ZERO };
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_pinned_for_a_live_replica_and_released_when_it_drops() {
    let master = Master::start_with(compacting, repl_config()).await;
    // One record per segment: every record is bigger than a segment.
    let acked = master.write_points(5, 1, 300);
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), 3).await;
    peer.records_until(acked).await;
    peer.send(&Frame::Ack { applied_offset: acked }).await;
    let entry = master.entry("r-1");
    eventually("acked", || load(&entry.acked_offset) == acked).await;
    tick(&master, now_ms());
    master.write_points(5, 1, 300);
    master.engine.snapshot_now().expect("snapshot");
    assert_eq!(master.engine.log().first_offset(), acked + 1, "kept from the replica's position on");

    drop(peer);
    eventually("session ended", || !entry.facts.lock().link_up).await;
    tick(&master, now_ms());
    let last = master.write_points(1, 1, 300);
    master.engine.snapshot_now().expect("snapshot");
    assert_eq!(master.engine.log().first_offset(), last, "released: only the active segment is left");
    master.stop().await;
}
