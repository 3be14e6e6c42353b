//! Hostile or broken peers: a wrong secret, an oversized frame, and a stalled replica that must
//! not make the master's memory grow.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use vectorizer_core::replication::persist;
use vectorizer_tests::cluster::{
    WAIT, digest, replica_info, rss_bytes, status, stderr_lines, wait_caught_up, wait_status,
};
use vectorizer_tests::{Node, ReplSettings, poll_until};

use super::{create, write_points};
use crate::common::{create_collection, upsert_ok};

/// A replica with another secret is refused: it never gets data, the master logs the refusal and
/// the replica's `last_error` says why. The right secret works.
#[test]
fn wrong_secret_is_refused() {
    let right = ReplSettings::default().env("VECTORIZER__REPLICATION__AUTH_SECRET", "alpha");
    let wrong = ReplSettings::default().env("VECTORIZER__REPLICATION__AUTH_SECRET", "beta");
    let master = right.master();
    create(&master);
    write_points(&master, 0..5);
    let intruder = wrong.replica(master.repl_addr());
    let id = intruder.node_id();
    let refused = |node: &Node| stderr_lines(node, &["WARN", "authentication failed", &id]);
    // It keeps retrying and keeps being refused.
    poll_until(WAIT, "the master refused the replica twice", || (refused(&master) >= 2).then_some(()));
    let st = wait_status(&intruder, "last_error names the refusal", |st| {
        st.stats
            .clone()
            .filter(|x| x.last_error.as_deref().is_some_and(|e| e.contains("AuthFailed") || e.contains("auth")))
    });
    assert_ne!(st.status, Some(vectorizer_sdk_types::ReplicaStatus::Connected));
    let d = digest(&intruder);
    assert_eq!((d.applied_offset, d.collections.len()), (0, 0), "no data reached it: {d:?}");
    assert_eq!(status(&master).stats.and_then(|x| x.connected_replicas), Some(0));
    assert!(replica_info(&master, &id).is_none(), "an unauthenticated replica is never registered");

    let friend = right.replica(master.repl_addr());
    wait_caught_up(&master, &friend);
    assert_eq!(digest(&intruder).applied_offset, 0);
}

/// Beyond `max_replicas`, a replica is refused (and says so); the others are unaffected.
#[test]
fn too_many_replicas_are_refused() {
    let s = ReplSettings::default().env("VECTORIZER__REPLICATION__MAX_REPLICAS", 2);
    let master = s.master();
    create(&master);
    write_points(&master, 0..5);
    let r1 = s.replica(master.repl_addr());
    let r2 = s.replica(master.repl_addr());
    vectorizer_tests::cluster::wait_converged(&master, &[&r1, &r2]);
    let r3 = s.replica(master.repl_addr());
    let id3 = r3.node_id();
    vectorizer_tests::cluster::wait_stderr(&master, &["too many replicas", &id3]);
    wait_status(&r3, "the third replica reports the refusal", |st| {
        st.stats.clone().filter(|x| {
            x.last_error.as_deref().is_some_and(|e| e.contains("too many") || e.contains("TooManyReplicas"))
        })
    });
    assert_eq!(digest(&r3).applied_offset, 0, "the refused replica got nothing");
    write_points(&master, 5..10);
    vectorizer_tests::cluster::wait_converged(&master, &[&r1, &r2]);
    assert_eq!(status(&master).stats.and_then(|x| x.connected_replicas), Some(2));
}

/// Reads from `stream` until EOF or error; true if the peer closed it before `WAIT`.
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        }
    }
}

/// A frame length beyond the limits (before authentication: 64 KiB; ever: 65 MiB) closes the
/// connection at once, without waiting for or allocating the body; the master stays healthy.
#[test]
fn oversized_frame_is_refused() {
    let s = ReplSettings::default();
    let master = s.master();
    create(&master);
    write_points(&master, 0..5);
    let rss_before = rss_bytes(master.pid().expect("pid"));
    for length in [u32::MAX - 16, 1024 * 1024 * 1024, 2 * 1024 * 1024] {
        let mut stream = TcpStream::connect(master.repl_addr()).expect("connect");
        stream.write_all(&length.to_le_bytes()).expect("length");
        stream.write_all(&[1u8; 64]).expect("some body");
        assert!(closed_by_peer(&mut stream), "length {length} did not close the connection");
    }
    // A small frame of an unknown type is a protocol error too.
    let mut stream = TcpStream::connect(master.repl_addr()).expect("connect");
    stream.write_all(&5u32.to_le_bytes()).expect("length");
    stream.write_all(&[0xEE, 1, 2, 3, 4]).expect("frame");
    assert!(closed_by_peer(&mut stream), "an unknown frame type did not close the connection");
    assert_eq!(master.http().get("/health").expect("health").status, 200);
    let rss_after = rss_bytes(master.pid().expect("pid"));
    assert!(rss_after < rss_before + 64 * 1024 * 1024, "no huge allocation: {rss_before} -> {rss_after}");
    let replica = s.replica(master.repl_addr());
    wait_caught_up(&master, &replica);
}

/// A replica behind a stalled link while the master writes far more than `replica_buffer_bytes`:
/// the master's RSS stays bounded, the link is dropped and counted (`buffer_overflows`,
/// `last_error`), and after the stall ends the replica resyncs to the same data.
#[test]
fn stalled_replica_master_memory_bounded() {
    const BUFFER: u64 = 1024 * 1024;
    const BATCHES: u64 = 80;
    const PER_BATCH: u64 = 10;
    const PAYLOAD: usize = 60_000;
    let written_bytes = BATCHES * PER_BATCH * PAYLOAD as u64; // 48 MB of payload into the log
    let s = ReplSettings::default().env("VECTORIZER__REPLICATION__REPLICA_BUFFER_BYTES", BUFFER);
    let master = s.master();
    let replica = s.replica_via_proxy(&master);
    let id = replica.node.node_id();
    // Same 10 ids overwritten again and again: the master's own state stays small, the log grows.
    create_collection(&master.http(), "blobs", 2, "dot");
    write_points_blob(&master, 0, PER_BATCH, PAYLOAD);
    wait_caught_up(&master, &replica.node);
    let pid = master.pid().expect("pid");
    let rss_before = rss_bytes(pid);

    replica.proxy.stall();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                peak.fetch_max(rss_bytes(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10)); // sampling period, not synchronisation
            }
        })
    };
    for batch in 1..=BATCHES {
        write_points_blob(&master, batch, PER_BATCH, PAYLOAD);
    }
    stop.store(true, Ordering::SeqCst);
    sampler.join().expect("sampler");
    let growth = peak.load(Ordering::SeqCst).saturating_sub(rss_before);
    eprintln!(
        "stalled replica: master RSS {} MiB before, peak growth {} KiB while writing {} MiB (buffer cap {} KiB)",
        rss_before >> 20,
        growth >> 10,
        written_bytes >> 20,
        BUFFER >> 10
    );
    assert!(
        growth < written_bytes / 2,
        "master RSS grew by {growth} bytes while {written_bytes} bytes were written for a stalled replica"
    );

    let info = poll_until(WAIT, "the link was dropped for buffer overflow", || {
        replica_info(&master, &id).filter(|i| i.last_error.as_deref().is_some_and(|e| e.contains("buffer")))
    });
    assert_ne!(info.status, vectorizer_sdk_types::ReplicaStatus::Connected, "{info:?}");
    poll_until(WAIT, "buffer_overflows persisted", || {
        let state = persist::load(master.data_dir()).ok().flatten()?;
        (state.counters.buffer_overflows >= 1).then_some(())
    });

    replica.proxy.resume();
    let d = wait_caught_up(&master, &replica.node);
    assert_eq!(d.applied_offset, 2 + BATCHES, "create + first batch + the stalled batches");
}

fn write_points_blob(node: &Node, batch: u64, count: u64, payload: usize) {
    let blob = "b".repeat(payload - 32);
    let points: Vec<_> = (0..count)
        .map(|i| (format!("b{i}"), vec![i as f32 + 1.0, batch as f32 + 1.0], Some(json!({"blob": blob}))))
        .collect();
    upsert_ok(&node.http(), "blobs", &points);
}
