//! Partial and full sync: the stream equals the master's log, acks are counted exactly, a full
//! sync ships a snapshot that verifies, and rejected chunks are sent again.

use super::*;
use crate::replication::frame::RefuseCode;
use crate::storage::snapshot::{SnapshotChunk, SnapshotReceiver};
use crate::storage::{Retention, log::MIN_SEGMENT_BYTES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_sync_streams_the_log_and_counts_acks_exactly() {
    let master = Master::start().await;
    let shared = master.shared().clone();
    let first_batch = master.write(10);
    let (mut peer, answer) = Peer::join(master.addr(), "r-1", master.history(), 0).await;
    assert!(
        matches!(answer, Frame::Continue { from_offset: 1, master_last_offset, .. } if master_last_offset == first_batch)
    );
    let entry = master.entry("r-1");
    assert!(entry.facts.lock().syncing, "Syncing from the handshake on");

    // The backlog, then live appends as they happen.
    let got = peer.records_until(first_batch).await;
    assert_same_records(&got, &master.log_from(1));
    let last = master.write(5);
    let got = peer.records_until(last).await;
    assert_same_records(&got, &master.log_from(first_batch + 1));

    // An ack below the sync target advances the counters but does not complete the sync.
    peer.send(&Frame::Ack { applied_offset: 7 }).await;
    eventually("ack 7 recorded", || load(&entry.acked_offset) == 7).await;
    assert_eq!(load(&entry.operations_synced), 7);
    assert!(entry.facts.lock().syncing);
    assert_eq!(load(&entry.partial_syncs), 0);

    // Reaching the master's last offset as of the sync's start completes it, once.
    peer.send(&Frame::Ack { applied_offset: last }).await;
    eventually("ack recorded", || load(&entry.acked_offset) == last).await;
    assert_eq!(load(&entry.operations_synced), last);
    assert!(!entry.facts.lock().syncing);
    assert_eq!(load(&entry.partial_syncs), 1);
    assert_eq!(load(&shared.counters.partial_syncs), 1);
    assert_eq!(load(&shared.counters.full_syncs), 0);
    assert!(load(&shared.counters.last_sync_ms) > 0);

    // Repeated or stale acks change nothing; an ack beyond what was delivered is only a heartbeat.
    let heard = load(&entry.last_heartbeat_ms);
    peer.send(&Frame::Ack { applied_offset: last }).await;
    peer.send(&Frame::Ack { applied_offset: 3 }).await;
    peer.send(&Frame::Ack { applied_offset: last + 100 }).await;
    let sent = load(&peer.sent);
    eventually("acks read", || load(&shared.counters.bytes_received) == sent).await;
    assert_eq!(load(&entry.acked_offset), last);
    assert_eq!(load(&entry.operations_synced), last);
    assert_eq!(load(&entry.partial_syncs), 1);
    assert!(load(&entry.last_heartbeat_ms) >= heard);
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_in_the_backlog_continues_from_its_applied_offset() {
    let master = Master::start().await;
    let last = master.write(20);
    let (mut peer, answer) = Peer::join(master.addr(), "r-1", master.history(), 12).await;
    assert!(matches!(answer, Frame::Continue { from_offset: 13, .. }), "{answer:?}");
    let got = peer.records_until(last).await;
    assert_same_records(&got, &master.log_from(13));
    peer.send(&Frame::Ack { applied_offset: last }).await;
    let entry = master.entry("r-1");
    eventually("partial sync complete", || load(&entry.partial_syncs) == 1).await;
    assert_eq!(load(&entry.operations_synced), last, "a new replica's acked offset advances from 0");
    master.stop().await;
}

/// Engine with tiny segments and no retention slack, so a snapshot drops the old log.
fn compacting(dir: &std::path::Path) -> crate::engine::EngineConfig {
    let mut c = engine_config(dir);
    c.segment_bytes = MIN_SEGMENT_BYTES;
    c.snapshots_to_keep = 1;
    c.retention = Retention { max_bytes: 0, max_age: Duration::ZERO };
    c
}

/// A master whose log no longer starts at 1 and whose snapshot spans several chunks.
async fn compacted_master() -> (Master, u64) {
    let master = Master::start_with(compacting, repl_config()).await;
    // 7 upserts of 300 points with 1 kB payloads: a snapshot body of about two 1 MiB chunks.
    master.write_points(8, 300, 1000);
    master.engine.snapshot_now().expect("snapshot");
    let last = master.write(3);
    assert!(master.engine.log().first_offset() > 1, "the snapshot compacted the log");
    (master, last)
}

/// Receives a whole snapshot; corrupts the first arrival of chunk `corrupt` (if any) and asks
/// for it again, discarding every frame until it comes back. Returns the receiver, ready to
/// finish, and how many times each chunk arrived.
async fn receive_snapshot(
    peer: &mut Peer,
    dir: &std::path::Path,
    manifest: crate::storage::SnapshotManifest,
    corrupt: Option<u64>,
) -> (SnapshotReceiver, Vec<u32>) {
    let mut receiver = SnapshotReceiver::create(dir, manifest.clone()).expect("receiver");
    let mut arrivals = vec![0u32; manifest.chunks as usize];
    let mut corrupted = false;
    let mut waiting_for: Option<u64> = None;
    loop {
        match peer.recv().await {
            Frame::SnapshotChunk { index, crc32c, data } => {
                arrivals[index as usize] += 1;
                if let Some(wanted) = waiting_for {
                    if index != wanted {
                        continue;
                    }
                    waiting_for = None;
                }
                let mut chunk = SnapshotChunk { index, crc32c, data };
                if corrupt == Some(index) && !corrupted {
                    corrupted = true;
                    let mut bytes = chunk.data.to_vec();
                    let middle = bytes.len() / 2;
                    bytes[middle] ^= 0x40;
                    chunk.data = bytes.into();
                    let err = receiver.accept_chunk(&chunk).expect_err("a corrupted chunk fails its CRC");
                    assert!(matches!(err, CoreError::SnapshotChunkRejected { .. }), "{err}");
                    peer.send(&Frame::ChunkRetry { index }).await;
                    waiting_for = Some(index);
                    continue;
                }
                receiver.accept_chunk(&chunk).expect("chunk accepted");
            }
            Frame::FullSyncEnd if waiting_for.is_none() => return (receiver, arrivals),
            other => assert!(waiting_for.is_some(), "unexpected {other:?} during the transfer"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_outside_the_backlog_ships_a_verified_snapshot_and_resends_a_rejected_chunk() {
    let (master, last) = compacted_master().await;
    let shared = master.shared().clone();
    let (mut peer, answer) = Peer::join(master.addr(), "r-1", EpochHistory::default(), 0).await;
    let Frame::FullSyncStart { manifest, history, master_http } = answer else {
        panic!("expected FullSyncStart, got {answer:?}");
    };
    assert_eq!((history, master_http.as_str()), (master.history(), MASTER_HTTP));
    assert!(manifest.chunks >= 2, "{} chunks", manifest.chunks);
    assert_eq!(manifest.offset, last - 3, "the snapshot taken above is reused");
    let entry = master.entry("r-1");
    assert!(entry.facts.lock().syncing);

    // A replica engine receives the snapshot, installs it and applies the stream.
    let replica_dir = tempfile::tempdir().expect("tempdir");
    let replica = Engine::open(engine_config(replica_dir.path())).expect("replica engine");
    let (receiver, arrivals) = receive_snapshot(&mut peer, &replica.staging_dir(), manifest.clone(), Some(1)).await;
    assert_eq!(arrivals[1], 2, "the rejected chunk was sent again");
    assert!(arrivals.iter().all(|&n| n >= 1));
    let (staged, received) = receiver.finish().expect("the received snapshot verifies");
    assert_eq!(received, manifest);
    replica.install_snapshot(&staged).expect("install");
    let records = peer.records_until(last).await;
    assert_same_records(&records, &master.log_from(manifest.offset + 1));
    assert_eq!(replica.apply_replicated(&records).expect("apply"), last);
    assert_eq!(replica.digest(), master.engine.digest(), "the replica converged");
    assert_eq!(entry.facts.lock().sync_progress, None, "progress cleared once the snapshot was sent");

    peer.send(&Frame::Ack { applied_offset: last }).await;
    eventually("full sync complete", || load(&entry.full_syncs) == 1).await;
    assert_eq!(load(&shared.counters.full_syncs), 1);
    assert_eq!(load(&entry.partial_syncs), 0);
    assert_eq!(load(&entry.operations_synced), last);
    // Chunk retries end with the full sync.
    peer.send(&Frame::ChunkRetry { index: 0 }).await;
    peer.expect_closed(|_| false).await;
    eventually("session ended", || !entry.facts.lock().link_up).await;
    let error = entry.facts.lock().last_error.clone().expect("error");
    assert!(error.contains("outside a full sync"), "{error}");
    replica.shutdown().expect("replica shutdown");
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_rejected_too_often_closes_the_session() {
    let (master, _) = compacted_master().await;
    let (mut peer, answer) = Peer::join(master.addr(), "r-1", EpochHistory::default(), 0).await;
    assert!(matches!(answer, Frame::FullSyncStart { .. }), "{answer:?}");
    let mut arrivals = 0;
    let closed = loop {
        match peer.try_recv().await {
            Ok(Frame::SnapshotChunk { index: 0, .. }) => {
                arrivals += 1;
                peer.send(&Frame::ChunkRetry { index: 0 }).await;
            }
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(matches!(closed, CoreError::PeerClosed { .. } | CoreError::PeerIo { .. }), "{closed}");
    assert_eq!(arrivals, 1 + super::super::full_sync::MAX_CHUNK_RETRIES);
    let entry = master.entry("r-1");
    eventually("session ended", || !entry.facts.lock().link_up).await;
    let error = entry.facts.lock().last_error.clone().expect("error");
    assert!(error.contains("rejected 4 times"), "{error}");
    assert_eq!(load(&entry.full_syncs), 0);
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diverged_replica_is_fully_resynced() {
    let master = Master::start().await;
    let last = master.write(5);
    // The replica claims ops 6..=8 of epoch 1 that this master never wrote.
    let (mut peer, answer) = Peer::join(master.addr(), "r-1", master.history(), last + 3).await;
    let Frame::FullSyncStart { manifest, .. } = answer else {
        panic!("expected FullSyncStart, got {answer:?}");
    };
    assert_eq!(manifest.offset, last, "a fresh snapshot of the master");
    let dir = tempfile::tempdir().expect("tempdir");
    // Its old position is above what this session delivered: a heartbeat, not an ack.
    peer.send(&Frame::Ack { applied_offset: last + 3 }).await;
    let (receiver, _) = receive_snapshot(&mut peer, dir.path(), manifest, None).await;
    receiver.finish().expect("verifies");
    let entry = master.entry("r-1");
    assert_eq!(load(&entry.acked_offset), 0);
    peer.send(&Frame::Ack { applied_offset: last }).await;
    eventually("full sync complete", || load(&entry.full_syncs) == 1).await;
    assert_eq!(load(&entry.operations_synced), last);
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diverged_replica_that_can_roll_back_resyncs_partially() {
    let master = Master::start().await;
    let last = master.write(5);
    // The replica claims ops 6..=8 of epoch 1 that this master never wrote, and can roll back to 2.
    let mut peer = Peer::connect(master.addr(), "r-1").await;
    peer.hello_with_floor(PROTOCOL_VERSION, master.history(), last + 3, 2).await;
    peer.prove(SECRET).await;
    match peer.recv().await {
        Frame::Continue { from_offset, master_last_offset, .. } => {
            assert_eq!((from_offset, master_last_offset), (last + 1, last), "roll back to {last}, then stream");
        }
        other => panic!("expected Continue, got {other:?}"),
    }
    let entry = master.entry("r-1");
    // Its old position is above the fork point: a heartbeat, not an ack.
    peer.send(&Frame::Ack { applied_offset: last + 3 }).await;
    let next = master.write(2);
    let got = peer.records_until(next).await;
    assert_eq!(got.first().map(|r| r.offset), Some(last + 1), "the stream starts right after the fork point");
    peer.send(&Frame::Ack { applied_offset: next }).await;
    eventually("partial sync complete", || load(&entry.partial_syncs) == 1).await;
    assert_eq!(load(&entry.full_syncs), 0);
    assert_eq!(load(&entry.acked_offset), next);
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_sends_heartbeats() {
    let mut cfg = repl_config();
    cfg.heartbeat_interval = Duration::from_millis(100);
    let master = Master::start_with(engine_config, cfg).await;
    let last = master.write(4);
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), 0).await;
    peer.records_until(last).await;
    let before = crate::engine::now_ms();
    match peer.recv().await {
        Frame::MasterHeartbeat { epoch, master_last_offset, master_time_ms } => {
            assert_eq!((epoch, master_last_offset), (master.engine.epoch(), last));
            assert!(master_time_ms >= before && master_time_ms <= crate::engine::now_ms());
        }
        other => panic!("expected a heartbeat, got {other:?}"),
    }
    // A new append still goes out at once, between heartbeats.
    let next = master.write(1);
    let got = peer.records_until(next).await;
    assert_eq!(got.last().map(|r| r.offset), Some(next));
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_a_replica_must_not_send_end_the_session() {
    let master = Master::start().await;
    master.write(2);
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), 2).await;
    peer.send(&Frame::FullSyncEnd).await;
    peer.expect_closed(|_| true).await;
    let entry = master.entry("r-1");
    eventually("session ended", || !entry.facts.lock().link_up).await;
    let error = entry.facts.lock().last_error.clone().expect("error");
    assert!(error.contains("FullSyncEnd"), "{error}");

    // A replica's own refusal ends the session with its reason.
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), 2).await;
    peer.send(&Frame::Refused { code: RefuseCode::Protocol, message: "gap".into() }).await;
    peer.expect_closed(|_| true).await;
    eventually("session ended", || !entry.facts.lock().link_up).await;
    let error = entry.facts.lock().last_error.clone().expect("error");
    assert!(error.contains("gap"), "{error}");
    master.stop().await;
}
