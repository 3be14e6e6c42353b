//! Tests of the operation log on real files in temporary directories, with real fsyncs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn cfg(dir: &Path, segment_bytes: u64, fsync: FsyncPolicy) -> LogConfig {
    LogConfig { dir: dir.to_path_buf(), segment_bytes, fsync }
}

fn open(dir: &Path, segment_bytes: u64) -> (OpLog, RecoveryReport) {
    OpLog::open(cfg(dir, segment_bytes, FsyncPolicy::Always), 1).expect("open log")
}

/// A payload that identifies its offset and varies in size.
fn payload(offset: u64) -> Vec<u8> {
    let len = 10 + (offset as usize * 37) % 150;
    (0..len).map(|i| (offset as usize + i) as u8).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// Appends offsets `1..=n` (epoch 1 for the first half, 2 after, timestamp = offset * 10).
fn fill(log: &OpLog, n: u64) {
    for expected in log.last_offset() + 1..=n {
        let epoch = if expected <= n / 2 { 1 } else { 2 };
        let offset = log.append(epoch, expected * 10, &payload(expected)).expect("append");
        assert_eq!(offset, expected);
    }
}

fn check_records(records: &[Record], from: u64) {
    for (i, r) in records.iter().enumerate() {
        let offset = from + i as u64;
        assert_eq!(r.offset, offset);
        assert_eq!(r.timestamp_ms, offset * 10);
        assert_eq!(&r.payload[..], &payload(offset)[..], "payload of {offset}");
    }
}

fn read_all(log: &OpLog) -> Vec<Record> {
    log.read_from(log.first_offset(), usize::MAX).expect("read")
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, to.path().join(path.file_name().expect("name"))).expect("copy");
    }
    to
}

fn expect_corruption(dir: &Path, segment_bytes: u64) -> (PathBuf, u64, String) {
    match OpLog::open(cfg(dir, segment_bytes, FsyncPolicy::Always), 1) {
        Err(CoreError::Corruption { path, offset, detail }) => (path, offset, detail),
        Err(other) => panic!("expected Corruption, got {other}"),
        Ok((_, report)) => panic!("expected Corruption, log opened: {report:?}"),
    }
}

/// Byte positions of every record in a segment file (walking the length fields).
fn record_positions(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).expect("read segment");
    let mut positions = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        positions.push(pos as u64);
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        pos += 8 + len;
    }
    positions
}

fn flip(path: &Path, at: u64, mask: u8) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[at as usize] ^= mask;
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn round_trip_across_several_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (log, report) = open(dir.path(), 1024);
        assert_eq!(report.records, 0);
        assert_eq!((log.first_offset(), log.last_offset()), (0, 0));
        fill(&log, 100);
        log.wait_durable(100).expect("durable");
        assert_eq!((log.first_offset(), log.last_offset(), log.durable_offset()), (1, 100, 100));
        let records = read_all(&log);
        assert_eq!(records.len(), 100);
        check_records(&records, 1);
        assert_eq!(records[0].epoch, 1);
        assert_eq!(records[99].epoch, 2);
    }
    let files = segment_files(dir.path());
    assert!(files.len() >= 5, "expected several segments, got {}", files.len());
    for f in &files[..files.len() - 1] {
        let len = std::fs::metadata(f).expect("meta").len();
        assert!(len <= 1024, "{} is {len} bytes", f.display());
    }
    let (log, report) = open(dir.path(), 1024);
    assert_eq!(report.segments, files.len());
    assert_eq!((report.records, report.first_offset, report.last_offset), (100, 1, 100));
    assert_eq!(report.truncated_tail, None);
    check_records(&read_all(&log), 1);
}

#[test]
fn offsets_are_contiguous_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    for round in 0..3u64 {
        // An existing log keeps its own offsets whatever start_offset says.
        let (log, report) = OpLog::open(cfg(dir.path(), 512, FsyncPolicy::Always), 1 + round * 1000).expect("open");
        assert_eq!(report.last_offset, round * 20);
        fill(&log, (round + 1) * 20);
    }
    let (log, _) = open(dir.path(), 512);
    check_records(&read_all(&log), 1);
    assert_eq!(log.last_offset(), 60);

    let fresh = tempfile::tempdir().expect("tempdir");
    let (log, report) = OpLog::open(cfg(fresh.path(), 512, FsyncPolicy::Always), 1000).expect("open");
    assert_eq!((report.first_offset, report.last_offset), (0, 999));
    assert_eq!(log.append(1, 0, b"x").expect("append"), 1000);
    drop(log);
    assert!(segment_files(fresh.path())[0].ends_with("00000000000000001000.seg"));
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record_is_truncated() {
    let original = tempfile::tempdir().expect("tempdir");
    {
        let (log, _) = open(original.path(), 1024);
        fill(&log, 30);
    }
    let last_file = segment_files(original.path()).pop().expect("a segment");
    let name = last_file.file_name().expect("name").to_owned();
    let positions = record_positions(&last_file);
    assert!(positions.len() >= 2, "the last segment should hold several records");
    let start = *positions.last().expect("a record");
    let end = std::fs::metadata(&last_file).expect("meta").len();
    let last_offset_kept = 29;

    for cut in start + 1..end {
        for zero_fill in [false, true] {
            let dir = copy_dir(original.path());
            let seg = dir.path().join(&name);
            if zero_fill {
                // The file keeps (or exceeds) its length but the bytes after `cut` never made it.
                let mut bytes = std::fs::read(&seg).expect("read");
                bytes.truncate(cut as usize);
                bytes.resize(end as usize + 100, 0);
                std::fs::write(&seg, bytes).expect("write");
            } else {
                std::fs::OpenOptions::new().write(true).open(&seg).expect("open").set_len(cut).expect("cut");
            }
            let file_len = std::fs::metadata(&seg).expect("meta").len();
            let (log, report) = open(dir.path(), 1024);
            let tail =
                report.truncated_tail.clone().unwrap_or_else(|| panic!("cut {cut} zero_fill {zero_fill}: no tail"));
            assert_eq!(tail.path, seg);
            assert_eq!(tail.at_byte, start);
            assert_eq!(tail.bytes_dropped, file_len - start);
            assert_eq!(std::fs::metadata(&seg).expect("meta").len(), start);
            assert_eq!(report.last_offset, last_offset_kept);
            let records = read_all(&log);
            assert_eq!(records.len() as u64, last_offset_kept);
            check_records(&records, 1);
            assert_eq!(log.append(2, 300, &payload(30)).expect("append"), 30);
            drop(log);
            let (log, report) = open(dir.path(), 1024);
            assert_eq!(report.truncated_tail, None);
            check_records(&read_all(&log), 1);
        }
    }
}

#[test]
fn a_cut_exactly_between_records_is_not_a_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (log, _) = open(dir.path(), 1024);
        fill(&log, 30);
    }
    let last_file = segment_files(dir.path()).pop().expect("a segment");
    let start = *record_positions(&last_file).last().expect("a record");
    std::fs::OpenOptions::new().write(true).open(&last_file).expect("open").set_len(start).expect("cut");
    let (log, report) = open(dir.path(), 1024);
    assert_eq!((report.truncated_tail, report.last_offset), (None, 29));
    assert_eq!(log.append(1, 300, &payload(30)).expect("append"), 30);
}

#[test]
fn a_bit_flip_before_valid_records_is_corruption() {
    let original = tempfile::tempdir().expect("tempdir");
    {
        let (log, _) = open(original.path(), 4096);
        fill(&log, 12);
    }
    let files = segment_files(original.path());
    assert_eq!(files.len(), 1, "all records in one (last) segment");
    let name = files[0].file_name().expect("name").to_owned();
    let positions = record_positions(&files[0]);
    let (target, next) = (positions[5], positions[6]);
    // Every byte of a record in the middle: length, crc, epoch, offset, timestamp, payload.
    for at in target..next {
        let dir = copy_dir(original.path());
        let seg = dir.path().join(&name);
        flip(&seg, at, 0x10);
        let (path, offset, detail) = expect_corruption(dir.path(), 4096);
        assert_eq!(path, seg, "byte {at}");
        assert_eq!(offset, target, "byte {at}: {detail}");
        // Nothing was truncated or repaired.
        assert_eq!(std::fs::metadata(&seg).expect("meta").len(), std::fs::metadata(&files[0]).expect("meta").len());
    }
}

#[test]
fn a_bit_flip_in_a_segment_that_is_not_the_last_is_corruption() {
    let original = tempfile::tempdir().expect("tempdir");
    {
        let (log, _) = open(original.path(), 1024);
        fill(&log, 60);
    }
    let files = segment_files(original.path());
    assert!(files.len() >= 3);
    let victim = &files[1];
    let positions = record_positions(victim);
    let name = victim.file_name().expect("name").to_owned();
    // Including the very last record of that segment: it is not a tail, newer segments follow.
    for &target in [positions[0], *positions.last().expect("a record")].iter() {
        let dir = copy_dir(original.path());
        let seg = dir.path().join(&name);
        flip(&seg, target + 30, 0x01);
        let (path, offset, _) = expect_corruption(dir.path(), 1024);
        assert_eq!((path, offset), (seg.clone(), target));
    }
    // A torn end of a non-last segment is corruption too.
    let dir = copy_dir(original.path());
    let seg = dir.path().join(&name);
    let len = std::fs::metadata(&seg).expect("meta").len();
    std::fs::OpenOptions::new().write(true).open(&seg).expect("open").set_len(len - 3).expect("cut");
    let (path, offset, _) = expect_corruption(dir.path(), 1024);
    assert_eq!((path, offset), (seg, *positions.last().expect("a record")));
}

#[test]
fn a_missing_segment_or_an_offset_gap_is_corruption() {
    let original = tempfile::tempdir().expect("tempdir");
    {
        let (log, _) = open(original.path(), 1024);
        fill(&log, 60);
    }
    let files = segment_files(original.path());
    let dir = copy_dir(original.path());
    let removed = dir.path().join(files[1].file_name().expect("name"));
    std::fs::remove_file(&removed).expect("remove");
    let (path, offset, detail) = expect_corruption(dir.path(), 1024);
    assert_eq!(path, dir.path().join(files[2].file_name().expect("name")));
    assert_eq!(offset, 0);
    assert!(detail.contains("previous segment ends"), "{detail}");

    // A well-formed record (valid CRC) with a skipped offset at the end of the last segment.
    let dir = copy_dir(original.path());
    let last = dir.path().join(files.last().expect("x").file_name().expect("name"));
    let end = std::fs::metadata(&last).expect("meta").len();
    let mut buf = Vec::new();
    record::encode_into(&mut buf, 2, 62, 620, b"skipped 61");
    let mut bytes = std::fs::read(&last).expect("read");
    bytes.extend_from_slice(&buf);
    std::fs::write(&last, bytes).expect("write");
    let (path, offset, detail) = expect_corruption(dir.path(), 1024);
    assert_eq!((path, offset), (last, end));
    assert!(detail.contains("offset gap"), "{detail}");
}

#[test]
fn group_commit_shares_fsyncs_between_concurrent_writers() {
    const THREADS: u64 = 16;
    const PER_THREAD: u64 = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 64 << 20);
    let log = Arc::new(log);
    let before = log.fsync_count();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut offsets = Vec::new();
                for i in 0..PER_THREAD {
                    let offset = log.append(1, t * 1000 + i, &[t as u8; 512]).expect("append");
                    log.wait_durable(offset).expect("durable");
                    assert!(log.durable_offset() >= offset);
                    offsets.push(offset);
                }
                offsets
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for h in handles {
        for offset in h.join().expect("writer thread") {
            assert!(all.insert(offset), "offset {offset} assigned twice");
        }
    }
    let appends = THREADS * PER_THREAD;
    assert_eq!(all, (1..=appends).collect::<BTreeSet<_>>());
    assert_eq!(log.durable_offset(), appends);
    let fsyncs = log.fsync_count() - before;
    assert!(fsyncs < appends, "{fsyncs} fsyncs for {appends} appends: no group commit");
    assert!(fsyncs > 0);
}

#[test]
fn every_ms_flusher_makes_appends_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = OpLog::open(cfg(dir.path(), 1 << 20, FsyncPolicy::EveryMs(20)), 1).expect("open");
    for i in 1..=10 {
        let offset = log.append(1, i, b"every ms").expect("append");
        log.wait_durable(offset).expect("returns at once");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.durable_offset() < 10 {
        assert!(Instant::now() < deadline, "flusher never synced (durable {})", log.durable_offset());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(log.fsync_count() > 0);
}

#[test]
fn os_policy_does_not_fsync_until_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = OpLog::open(cfg(dir.path(), 1 << 20, FsyncPolicy::Os), 1).expect("open");
    let fsyncs = log.fsync_count();
    let offset = log.append(1, 1, b"os").expect("append");
    log.wait_durable(offset).expect("returns at once");
    assert_eq!(log.fsync_count(), fsyncs);
    assert_eq!(log.durable_offset(), 0);
    assert!(matches!(log.wait_durable(2), Err(CoreError::InvalidArgument { .. })));
    log.sync().expect("sync");
    assert_eq!(log.durable_offset(), 1);
    assert_eq!(log.fsync_count(), fsyncs + 1);
}

#[test]
fn rotation_makes_the_closed_segment_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = OpLog::open(cfg(dir.path(), 1024, FsyncPolicy::Os), 1).expect("open");
    fill(&log, 30);
    let files = segment_files(dir.path());
    assert!(files.len() >= 2);
    let second_first: u64 =
        files[1].file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()).expect("segment name");
    // Everything in the closed segments was fsynced by the rotations.
    assert!(log.durable_offset() >= second_first - 1);
}

#[test]
fn read_from_respects_boundaries_and_max_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 700);
    fill(&log, 80);
    assert!(segment_files(dir.path()).len() >= 5);
    let sizes: Vec<usize> = read_all(&log).iter().map(Record::encoded_len).collect();
    for from in 1..=80u64 {
        for max_bytes in [0usize, 1, 100, 300, 1000, 5000] {
            let records = log.read_from(from, max_bytes).expect("read");
            assert!(!records.is_empty(), "at least one record");
            check_records(&records, from);
            let total: usize = records.iter().map(Record::encoded_len).sum();
            if records.len() > 1 {
                assert!(total <= max_bytes, "from {from} max {max_bytes}: {total} bytes");
            }
            let next = from as usize - 1 + records.len();
            if next < 80 {
                assert!(total + sizes[next] > max_bytes, "from {from} max {max_bytes}: stopped early");
            }
        }
    }
    assert!(log.read_from(81, 1000).expect("read").is_empty());
    assert!(log.read_from(500, 1000).expect("read").is_empty());
    assert!(matches!(log.read_from(0, 1000), Err(CoreError::OffsetCompacted { requested: 0, first: 1 })));
}

#[test]
fn bytes_after_counts_exactly_the_stored_records_after_an_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 700);
    assert_eq!(log.bytes_after(0), 0, "empty log");
    fill(&log, 80);
    assert!(segment_files(dir.path()).len() >= 5);
    let check = |log: &OpLog| {
        let records = read_all(log);
        let on_disk: u64 = segment_files(dir.path()).iter().map(|p| std::fs::metadata(p).expect("meta").len()).sum();
        assert_eq!(log.bytes_after(0), on_disk, "everything stored");
        for offset in 0..=log.last_offset() + 2 {
            let expected: u64 = records.iter().filter(|r| r.offset > offset).map(|r| r.encoded_len() as u64).sum();
            assert_eq!(log.bytes_after(offset), expected, "after {offset}");
        }
    };
    check(&log);
    let tight = Retention { max_bytes: 0, max_age: Duration::ZERO };
    let report = log.apply_retention_at(40, &tight, u64::MAX).expect("retention");
    assert!(report.first_offset > 1);
    check(&log);
    log.truncate_after(70).expect("truncate");
    check(&log);
    log.reset(200).expect("reset");
    assert_eq!(log.bytes_after(0), 0);
    log.append(1, 1, b"one").expect("append");
    check(&log);
}

#[test]
fn truncate_after_then_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (log, _) = open(dir.path(), 1024);
        fill(&log, 60);
        log.sync().expect("sync");
        let files_before = segment_files(dir.path()).len();
        assert_eq!(log.truncate_after(60).expect("noop"), 0);
        assert_eq!(log.truncate_after(25).expect("truncate"), 35);
        assert!(segment_files(dir.path()).len() < files_before);
        assert_eq!((log.last_offset(), log.durable_offset()), (25, 25));
        check_records(&read_all(&log), 1);
        assert!(matches!(log.wait_durable(26), Err(CoreError::InvalidArgument { .. })));
        // The replica continues with the master's records from 26 on.
        fill(&log, 40);
        log.wait_durable(40).expect("durable");
    }
    let (log, report) = open(dir.path(), 1024);
    assert_eq!((report.first_offset, report.last_offset, report.truncated_tail), (1, 40, None));
    check_records(&read_all(&log), 1);

    // Everything: back to an empty log that continues at the same offset.
    assert_eq!(log.truncate_after(0).expect("truncate all"), 40);
    assert_eq!((log.first_offset(), log.last_offset()), (0, 0));
    assert!(log.read_from(1, 100).expect("read").is_empty());
    drop(log);
    let (log, report) = open(dir.path(), 1024);
    assert_eq!((report.records, report.last_offset), (0, 0));
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_eq!(log.append(1, 10, &payload(1)).expect("append"), 1);
}

#[test]
fn reset_then_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (log, _) = open(dir.path(), 1024);
        fill(&log, 50);
        log.reset(500).expect("reset");
        assert_eq!((log.first_offset(), log.last_offset(), log.durable_offset()), (0, 499, 499));
        assert!(matches!(log.read_from(10, 100), Err(CoreError::OffsetCompacted { requested: 10, first: 500 })));
        let files = segment_files(dir.path());
        assert_eq!(files.len(), 1);
        assert!(files[0].ends_with("00000000000000000500.seg"));
        assert_eq!(log.append(3, 5000, b"after reset").expect("append"), 500);
        assert!(matches!(log.reset(0), Err(CoreError::InvalidArgument { .. })));
    }
    let (log, report) = open(dir.path(), 1024);
    assert_eq!((report.first_offset, report.last_offset), (500, 500));
    let records = read_all(&log);
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].epoch, &records[0].payload[..]), (3, &b"after reset"[..]));
}

#[test]
fn retention_keeps_exactly_what_the_rules_say() {
    // Segments of exactly 4 records: each record is 32 + 68 = 100 bytes.
    let build = || {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, _) = open(dir.path(), 400);
        for offset in 1..=26u64 {
            // Segment k (from 0) holds offsets 4k+1..=4k+4; its newest record is at time 1000 * (k + 1).
            let ts = 1000 * (offset.div_ceil(4));
            log.append(1, ts, &[offset as u8; 68]).expect("append");
        }
        assert_eq!(segment_files(dir.path()).len(), 7); // 6 full + the active one (25, 26)
        (dir, log)
    };
    let lots = Retention { max_bytes: u64::MAX, max_age: Duration::from_secs(1_000_000) };

    // Nothing covered: nothing deleted, whatever the limits.
    let (_dir, log) = build();
    let tight = Retention { max_bytes: 0, max_age: Duration::ZERO };
    let report = log.apply_retention_at(3, &tight, 1_000_000).expect("retention");
    assert_eq!((report.segments_removed, report.first_offset), (0, 1));

    // Everything covered but within limits: kept.
    let report = log.apply_retention_at(26, &lots, 7000).expect("retention");
    assert_eq!(report.segments_removed, 0);

    // Size: the two newest covered segments fit in 800 bytes, the older four go.
    let (dir, log) = build();
    let report = log.apply_retention_at(26, &Retention { max_bytes: 800, ..lots }, 7000).expect("retention");
    assert_eq!((report.segments_removed, report.bytes_removed, report.first_offset), (4, 1600, 17));
    assert_eq!(segment_files(dir.path()).len(), 3);
    assert!(matches!(log.read_from(16, 100), Err(CoreError::OffsetCompacted { requested: 16, first: 17 })));
    check_records_raw(&log, 17, 26);

    // Age: at now = 6500 with max_age 2.5 s, segments whose newest record is older than 4000 go (k = 0, 1, 2).
    let (_dir, log) = build();
    let report =
        log.apply_retention_at(26, &Retention { max_age: Duration::from_millis(2500), ..lots }, 6500).expect("ret");
    assert_eq!((report.segments_removed, report.first_offset), (3, 13));

    // Coverage limits deletion: covered = 14 covers segments 0..=2 only (3 ends at 16).
    let (_dir, log) = build();
    let report = log.apply_retention_at(14, &tight, 1_000_000).expect("retention");
    assert_eq!((report.segments_removed, report.first_offset), (3, 13));

    // The active segment is never deleted, even fully covered and old.
    let (dir, log) = build();
    let report = log.apply_retention_at(u64::MAX, &tight, u64::MAX).expect("retention");
    assert_eq!((report.segments_removed, report.first_offset), (6, 25));
    drop(log);
    let (log, report) = open(dir.path(), 400);
    assert_eq!((report.first_offset, report.last_offset, report.segments), (25, 26, 1));
    check_records_raw(&log, 25, 26);
}

fn check_records_raw(log: &OpLog, first: u64, last: u64) {
    let records = read_all(log);
    assert_eq!(records.first().map(|r| r.offset), Some(first));
    assert_eq!(records.last().map(|r| r.offset), Some(last));
    for r in &records {
        assert_eq!(&r.payload[..], &[r.offset as u8; 68][..]);
    }
}

#[test]
fn wait_for_append_wakes_on_append_and_times_out_otherwise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 1 << 20);
    let log = Arc::new(log);
    fill(&log, 3);

    let start = Instant::now();
    assert_eq!(log.wait_for_append(3, Duration::from_millis(50)), 3);
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(log.wait_for_append(2, Duration::from_secs(30)), 3, "already past: returns at once");

    let waiter = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let start = Instant::now();
            (log.wait_for_append(3, Duration::from_secs(60)), start.elapsed())
        })
    };
    log.append(1, 40, &payload(4)).expect("append");
    let (seen, waited) = waiter.join().expect("waiter");
    assert_eq!(seen, 4);
    assert!(waited < Duration::from_secs(60), "woke by timeout, not by the append");
}

#[test]
fn appended_after_wakes_async_waiters_on_append_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 1 << 20);
    let log = Arc::new(log);
    fill(&log, 3);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().expect("runtime");
    rt.block_on(async {
        assert_eq!(log.appended_after(2).await, 3, "already past: resolves at once");
        let pending = tokio::time::timeout(Duration::from_millis(50), log.appended_after(3)).await;
        assert!(pending.is_err(), "no append: still waiting at the timeout");

        let waiter = tokio::spawn({
            let log = Arc::clone(&log);
            async move { log.appended_after(3).await }
        });
        // The waiter may or may not be registered yet: the append must wake it either way.
        let appender = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || log.append(1, 40, &payload(4)).expect("append"))
        };
        let seen = tokio::time::timeout(Duration::from_secs(60), waiter).await.expect("woken").expect("task");
        assert_eq!(appender.join().expect("appender"), 4);
        assert_eq!(seen, 4);
    });
}

#[test]
fn wait_durable_async_releases_every_waiter_with_one_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 1 << 20);
    let log = Arc::new(log);
    fill(&log, 40);
    let before = log.fsync_count();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("runtime");
    rt.block_on(async {
        let waiters: Vec<_> = (1..=40)
            .map(|offset| {
                let log = Arc::clone(&log);
                tokio::spawn(async move { log.wait_durable_async(offset).await })
            })
            .collect();
        for w in waiters {
            w.await.expect("task").expect("durable");
        }
        // All 40 were written before the first fsync started, so it covered every one of them:
        // the other waiters waited for it instead of leading fsyncs of their own.
        assert_eq!(log.fsync_count() - before, 1);
        assert!(log.is_durable(40));

        log.wait_durable_async(40).await.expect("already durable: no fsync");
        assert_eq!(log.fsync_count() - before, 1);
        assert!(matches!(log.wait_durable_async(41).await, Err(CoreError::InvalidArgument { .. })), "never written");

        // Async and blocking waiters share the protocol.
        fill(&log, 45);
        let blocking = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || log.wait_durable(43))
        };
        log.wait_durable_async(45).await.expect("durable");
        blocking.join().expect("thread").expect("durable");
        assert!(log.is_durable(45));
    });
}

#[test]
fn is_durable_says_whether_wait_durable_would_return_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (always, _) = open(&dir.path().join("always"), 1 << 20);
    fill(&always, 3);
    assert!(!always.is_durable(3), "written, not fsynced yet");
    always.wait_durable(3).expect("fsync");
    assert!(always.is_durable(3) && always.is_durable(1));
    assert!(!always.is_durable(4), "never written");

    let (os, _) = OpLog::open(cfg(&dir.path().join("os"), 1 << 20, FsyncPolicy::Os), 1).expect("open log");
    fill(&os, 2);
    assert!(os.is_durable(2), "policy os: written is as durable as it gets");
    assert!(!os.is_durable(3), "never written");
}

#[test]
fn rejects_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 1 << 20);
    let huge = vec![0u8; MAX_PAYLOAD_BYTES + 1];
    assert!(matches!(log.append(1, 1, &huge), Err(CoreError::TooLarge { .. })));
    let record = Record { epoch: 1, offset: 5, timestamp_ms: 1, payload: Bytes::from_static(b"x") };
    assert!(matches!(log.append_record(&record), Err(CoreError::OffsetMismatch { expected: 1, actual: 5 })));
    log.append_record(&Record { offset: 1, ..record.clone() }).expect("in order");
    assert_eq!(log.read_from(1, 10).expect("read")[0], Record { offset: 1, ..record });
    for bad in [cfg(dir.path(), 10, FsyncPolicy::Os), cfg(dir.path(), 1 << 20, FsyncPolicy::EveryMs(0))] {
        assert!(matches!(OpLog::open(bad, 1), Err(CoreError::InvalidArgument { .. })));
    }
    assert!(matches!(
        OpLog::open(cfg(dir.path(), 1 << 20, FsyncPolicy::Os), 0),
        Err(CoreError::InvalidArgument { .. })
    ));
}

#[test]
fn a_large_record_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    {
        let (log, _) = open(dir.path(), 1 << 20);
        log.append(1, 1, b"small").expect("append");
        log.append(1, 2, &big).expect("append big record larger than a segment");
        log.append(1, 3, b"after").expect("append");
        let records = log.read_from(2, 10).expect("read");
        assert_eq!(records.len(), 1);
        assert_eq!(&records[0].payload[..], &big[..]);
    }
    let (log, report) = open(dir.path(), 1 << 20);
    assert_eq!(report.records, 3);
    assert_eq!(&read_all(&log)[2].payload[..], b"after");
}

#[test]
fn a_directory_is_opened_by_one_log_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 1024);
    match OpLog::open(cfg(dir.path(), 1024, FsyncPolicy::Always), 1) {
        Err(CoreError::Unavailable { reason }) => assert!(reason.contains("already open"), "{reason}"),
        other => panic!("second open: {other:?}"),
    }
    drop(log);
    open(dir.path(), 1024);
}

#[test]
fn a_tailing_reader_sees_every_record_while_writers_append() {
    // The replication sender's pattern: wait_for_append, then read_from in bounded batches.
    const TOTAL: u64 = 3000;
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = OpLog::open(cfg(dir.path(), 8 << 10, FsyncPolicy::Os), 1).expect("open");
    let log = Arc::new(log);
    let reader = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut next = 1;
            let deadline = Instant::now() + Duration::from_secs(60);
            while next <= TOTAL {
                assert!(Instant::now() < deadline, "reader stuck at {next}");
                log.wait_for_append(next - 1, Duration::from_secs(1));
                let records = log.read_from(next, 2000).expect("read");
                check_records(&records, next);
                next += records.len() as u64;
            }
        })
    };
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for _ in 0..TOTAL / 2 {
                    // Offsets are assigned inside append: the payload must be written under the
                    // same lock, so use append_record with the offset chosen under our own turn.
                    loop {
                        let offset = log.last_offset() + 1;
                        let record = Record {
                            epoch: 1,
                            offset,
                            timestamp_ms: offset * 10,
                            payload: Bytes::from(payload(offset)),
                        };
                        match log.append_record(&record) {
                            Ok(()) => break,
                            Err(CoreError::OffsetMismatch { .. }) => continue,
                            Err(e) => panic!("append: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    reader.join().expect("reader");
    assert_eq!(log.last_offset(), TOTAL);
}

#[test]
fn recovery_reads_segments_larger_than_its_buffer() {
    // ~11 MB of small records in one segment: recovery refills its 4 MiB read buffer several
    // times, including in the middle of records.
    const N: u64 = 100_000;
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (log, _) = OpLog::open(cfg(dir.path(), 64 << 20, FsyncPolicy::Os), 1).expect("open");
        for offset in 1..=N {
            log.append(1, offset * 10, &payload(offset)).expect("append");
        }
    }
    let seg = segment_files(dir.path()).pop().expect("segment");
    let len = std::fs::metadata(&seg).expect("meta").len();
    assert!(len > 2 * (4 << 20), "segment is only {len} bytes");
    std::fs::OpenOptions::new().write(true).open(&seg).expect("open").set_len(len - 5).expect("tear");
    let (log, report) = open(dir.path(), 64 << 20);
    assert_eq!((report.records, report.last_offset), (N - 1, N - 1));
    assert!(report.truncated_tail.is_some());
    check_records(&read_all(&log), 1);
}
