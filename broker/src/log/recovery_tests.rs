//! Durability: when appends reach the disk (Kafka's flush settings, the recovery point), and
//! what a start-up with a recovery point reads again and what it trusts.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType as RecordTs,
};

use super::batch::tests::batch;
use super::*;

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

fn reopen(dir: &Path, config: LogConfig, recovery_point: Option<i64>) -> PartitionLog {
    PartitionLog::open_recovering(Some(dir), config, recovery_point).unwrap()
}

/// Each segment as the log knows it: base, end, largest timestamp and its offset, size.
fn segments_of(log: &PartitionLog) -> Vec<(i64, i64, i64, i64, u64)> {
    log.segments
        .iter()
        .map(|s| {
            (
                s.base_offset,
                s.next_offset,
                s.max_timestamp,
                s.max_timestamp_offset,
                s.size(),
            )
        })
        .collect()
}

/// The name and content of every file of `dir` ending in `.{ext}`, by name.
fn files(dir: &Path, ext: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Flips the last byte of the batch at `position` in segment file `file` (its records: the
/// CRC no longer matches, the header still parses).
fn corrupt_body(file: &Path, position: usize) {
    let mut data = std::fs::read(file).unwrap();
    let h = BatchHeader::parse(&data[position..]).unwrap();
    data[position + h.total_size() - 1] ^= 0x55;
    std::fs::write(file, data).unwrap();
}

#[test]
fn defaults_never_fsync_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(Some(dir.path()), LogConfig::default()).unwrap();
    let now = now_ms();
    for _ in 0..50 {
        log.append(batch(2, None, 0), now).unwrap();
    }
    assert!(!log.flush_if_due(now + 10 * 365 * 86_400_000).unwrap());
    assert_eq!(
        log.stats().flushes,
        0,
        "the OS decides when appends reach the disk"
    );
    assert_eq!(log.recovery_point(), 0);
    log.close().unwrap();
    assert_eq!(log.stats().flushes, 1, "a clean shutdown fsyncs");
    assert_eq!(log.recovery_point(), 100);
}

#[test]
fn flush_messages_fsyncs_once_that_many_offsets_are_past_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        flush_messages: 5,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(Some(dir.path()), cfg.clone()).unwrap();
    log.append(batch(2, None, 0), 0).unwrap();
    log.append(batch(2, None, 0), 0).unwrap();
    assert_eq!((log.stats().flushes, log.recovery_point()), (0, 0));
    log.append(batch(2, None, 0), 0).unwrap();
    assert_eq!((log.stats().flushes, log.recovery_point()), (1, 6));
    for _ in 0..4 {
        log.append(batch(1, None, 0), 0).unwrap();
    }
    assert_eq!((log.stats().flushes, log.recovery_point()), (1, 6));
    log.append(batch(1, None, 0), 0).unwrap();
    assert_eq!((log.stats().flushes, log.recovery_point()), (2, 11));
    // An idempotent retry appends nothing and flushes nothing.
    log.set_config(LogConfig {
        flush_messages: 1,
        ..cfg
    });
    let first = log.append(batch(1, Some((5, 0, 0)), 0), 0).unwrap();
    assert_eq!((log.stats().flushes, log.recovery_point()), (3, 12));
    let retry = log.append(batch(1, Some((5, 0, 0)), 0), 0).unwrap();
    assert!(retry.duplicate && retry.base_offset == first.base_offset);
    assert_eq!(log.stats().flushes, 3);
    // A transaction marker is an offset too.
    log.append_marker(5, 0, true, 0, 0).unwrap();
    assert_eq!((log.stats().flushes, log.recovery_point()), (4, 13));
}

#[test]
fn flush_ms_is_the_flushers_job() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        flush_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(Some(dir.path()), cfg).unwrap();
    let t = 1_000_000;
    log.append(batch(2, None, 0), t).unwrap();
    log.append(batch(2, None, 0), t + 500).unwrap();
    assert_eq!(log.stats().flushes, 0, "appends do not look at flush.ms");
    assert!(!log.flush_if_due(t + 999).unwrap());
    assert!(
        log.flush_if_due(t + 1_000).unwrap(),
        "the oldest append is due"
    );
    assert_eq!((log.stats().flushes, log.recovery_point()), (1, 4));
    assert!(!log.flush_if_due(t + 100_000).unwrap(), "nothing unflushed");
    log.append(batch(1, None, 0), t + 200_000).unwrap();
    assert!(!log.flush_if_due(t + 200_999).unwrap());
    assert!(log.flush_if_due(t + 201_000).unwrap());
    assert_eq!((log.stats().flushes, log.recovery_point()), (2, 5));
}

#[test]
fn in_memory_logs_ignore_flush_settings() {
    let mut log = PartitionLog::open(
        None,
        LogConfig {
            flush_messages: 1,
            flush_ms: 0,
            ..LogConfig::default()
        },
    )
    .unwrap();
    log.append(batch(2, None, 0), 0).unwrap();
    assert!(!log.flush_if_due(1_000).unwrap());
    log.close().unwrap();
    assert_eq!((log.stats().flushes, log.recovery_point()), (0, 0));
}

/// After a clean shutdown every segment opens from its index files: no batch is read, and the
/// log is the one a full scan finds (ends, largest timestamps, lookups, reads), down to the
/// index entries later appends write.
#[test]
fn a_clean_restart_opens_every_segment_from_its_indexes() {
    let dir = tempfile::tempdir().unwrap();
    // Timestamps out of order, so a segment's largest is not always in its last batches.
    let ts = |i: i64| if i % 3 == 0 { 50_000 - i } else { 1_000 * i };
    let lookups = [0, 999, 5_500, 19_000, 49_950, 49_999, 60_000];
    let (before, found, max, end);
    {
        let mut log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
        for i in 0..20 {
            log.append(batch(2, None, ts(i)), 0).unwrap();
        }
        log.close().unwrap();
        before = segments_of(&log);
        found = lookups.map(|t| log.offset_for_timestamp(t));
        max = log.max_timestamp();
        end = log.log_end_offset();
        assert!(before.len() > 3, "{} segments", before.len());
    }
    let mut log = reopen(dir.path(), small_segments(), Some(end));
    assert_eq!(
        log.stats(),
        LogStats {
            segments_from_index: before.len(),
            batches_scanned: 0,
            flushes: 0,
        }
    );
    assert_eq!(segments_of(&log), before);
    assert_eq!(lookups.map(|t| log.offset_for_timestamp(t)), found);
    assert_eq!(log.max_timestamp(), max);
    assert_eq!(log.recovery_point(), end);
    for offset in [0, 7, 13, 22, 39] {
        let read = log.read(offset, 1 << 20, true).unwrap();
        let h = BatchHeader::parse(&read).unwrap();
        assert_eq!(h.base_offset, offset - offset % 2, "read from {offset}");
    }
    for i in 20..26 {
        log.append(batch(2, None, ts(i)), 0).unwrap();
    }
    log.close().unwrap();
    drop(log);
    let indexes = (files(dir.path(), "index"), files(dir.path(), "timeindex"));
    // A full scan rebuilds the indexes: they are what appends after the index-open wrote.
    let log = reopen(dir.path(), small_segments(), None);
    assert_eq!(log.stats().batches_scanned, 26);
    assert_eq!(log.stats().segments_from_index, 0);
    assert_eq!(
        (files(dir.path(), "index"), files(dir.path(), "timeindex")),
        indexes
    );
}

/// Below the recovery point the batches are trusted, not read: a corrupt one there stays (a
/// scan without a recovery point finds it and cuts it).
#[test]
fn a_corrupt_batch_below_the_recovery_point_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join("00000000000000000000.log");
    let second;
    {
        let mut log = PartitionLog::open(Some(dir.path()), LogConfig::default()).unwrap();
        log.append(batch(2, None, 0), 0).unwrap();
        second = log.size_bytes() as usize;
        log.append(batch(2, None, 0), 0).unwrap();
        log.close().unwrap();
        assert_eq!(log.recovery_point(), 4);
    }
    corrupt_body(&seg, second);
    let len = std::fs::metadata(&seg).unwrap().len();
    let log = reopen(dir.path(), LogConfig::default(), Some(4));
    assert_eq!(log.stats().batches_scanned, 0);
    assert_eq!(log.log_end_offset(), 4);
    assert!(!batch::crc_ok(&log.read(2, 1 << 20, true).unwrap()));
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len, "untouched");
    drop(log);
    let log = reopen(dir.path(), LogConfig::default(), None);
    assert_eq!(log.stats().batches_scanned, 1);
    assert_eq!(log.log_end_offset(), 2, "a scan checks the CRCs and cuts");
}

/// After a crash the segments below the checkpointed recovery point open from their indexes,
/// while every batch past it is read and checked and a torn tail is cut.
#[test]
fn past_the_recovery_point_batches_are_checked_and_a_torn_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 1_000,
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let (rp, end, segments);
    {
        let mut log = PartitionLog::open(Some(dir.path()), cfg.clone()).unwrap();
        // Until two segments are full (each roll fsyncs) and three batches wait in the third.
        loop {
            log.append(batch(2, None, 0), 0).unwrap();
            if log.segment_count() == 3 && log.log_end_offset() - log.recovery_point() == 6 {
                break;
            }
        }
        rp = log.recovery_point();
        end = log.log_end_offset();
        segments = log.segment_count();
        assert_eq!(rp, log.segments[2].base_offset, "the last roll flushed");
        // A crash: no close.
    }
    corrupt_body(&dir.path().join("00000000000000000000.log"), 0);
    let active = dir.path().join(format!("{}.log", segment::file_stem(rp)));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&active)
        .unwrap();
    f.set_len(f.metadata().unwrap().len() - 10).unwrap();
    let mut log = reopen(dir.path(), cfg, Some(rp));
    assert_eq!(log.stats().segments_from_index, segments - 1);
    assert_eq!(
        log.stats().batches_scanned,
        2,
        "the active segment's whole batches"
    );
    assert_eq!(log.log_end_offset(), end - 2, "the torn batch is cut");
    assert!(!batch::crc_ok(&log.read(0, 1 << 20, true).unwrap()));
    assert_eq!(log.recovery_point(), rp);
    assert_eq!(
        log.append(batch(1, None, 0), 0).unwrap().base_offset,
        end - 2
    );
}

/// A batch of `n` records from producer (id, epoch, first sequence).
fn produced(n: usize, (id, epoch, seq): (i64, i16, i32), transactional: bool) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: id,
            producer_epoch: epoch,
            timestamp_type: RecordTs::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: 0,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).unwrap();
    buf.freeze()
}

/// What the producers wrote, to check after a restart.
struct Written {
    /// Producer 7's last two batches: (first sequence, base offset, last offset).
    recent: Vec<(i32, i64, i64)>,
    /// Where producer 9's open transaction starts.
    open_at: i64,
    aborted: Vec<AbortedTxn>,
}

/// Idempotent producer 7 (epoch 1) writes batches across segments; transactional producers
/// 9 (left open), 11 (aborted) and 13 (committed) write between them.
fn write_producers(log: &mut PartitionLog) -> Written {
    let mut recent = Vec::new();
    let mut seq = 0;
    let mut idempotent = |log: &mut PartitionLog, recent: &mut Vec<(i32, i64, i64)>| {
        let r = log.append(produced(2, (7, 1, seq), false), 0).unwrap();
        recent.push((seq, r.base_offset, r.last_offset));
        seq += 2;
    };
    for _ in 0..6 {
        idempotent(log, &mut recent);
    }
    let open_at = log
        .append(produced(1, (9, 1, 0), true), 0)
        .unwrap()
        .base_offset;
    log.append(produced(2, (11, 1, 0), true), 0).unwrap();
    idempotent(log, &mut recent);
    log.append_marker(11, 1, false, 0, 0).unwrap();
    log.append(produced(1, (13, 1, 0), true), 0).unwrap();
    log.append_marker(13, 1, true, 0, 0).unwrap();
    for _ in 0..4 {
        idempotent(log, &mut recent);
    }
    let aborted = log.aborted_between(0, log.log_end_offset());
    assert_eq!(aborted.len(), 1);
    assert_eq!(log.last_stable_offset(), open_at);
    recent.drain(..recent.len() - 2);
    Written {
        recent,
        open_at,
        aborted,
    }
}

/// After a restart the producers are where they were: retries of recent batches are
/// acknowledged with their offsets, sequences go on, the open transaction holds the LSO, the
/// aborted one is listed, and epochs still fence.
fn check_producers(log: &mut PartitionLog, w: &Written) {
    for (seq, base, last) in &w.recent {
        let retry = log.append(produced(2, (7, 1, *seq), false), 0).unwrap();
        assert!(retry.duplicate, "retry of sequence {seq}");
        assert_eq!((retry.base_offset, retry.last_offset), (*base, *last));
    }
    let next = w.recent[1].0 + 2;
    let gap = log.append(produced(1, (7, 1, next + 1), false), 0);
    assert_eq!(gap.unwrap_err().code, 45, "out of order sequence");
    assert_eq!(log.open_transactions(), vec![9]);
    assert_eq!(log.last_stable_offset(), w.open_at);
    assert_eq!(log.aborted_between(0, log.log_end_offset()), w.aborted);
    assert_eq!(log.append_marker(9, 0, true, 0, 0).unwrap_err().code, 47);
    assert_eq!(log.max_producer_id(), 13);
    log.append_marker(9, 1, true, 0, 0).unwrap();
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
    let appended = log.append(produced(1, (7, 1, next), false), 0).unwrap();
    assert!(!appended.duplicate);
}

/// Skipping the batches below the recovery point keeps idempotent dedup and transactions
/// right, after a clean shutdown (the snapshot at the end), after a crash (the snapshot of the
/// segment holding the recovery point, then a scan), without any snapshot (headers replayed),
/// and without a recovery point (today's full scan).
#[test]
fn producers_and_transactions_survive_a_checkpointed_restart() {
    let setup = |clean: bool| {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
        let written = write_producers(&mut log);
        if clean {
            log.close().unwrap();
        }
        let rp = log.recovery_point();
        assert!(log.segment_count() > 3);
        assert!(rp > 0 && (clean || rp < log.log_end_offset()));
        (dir, rp, written)
    };

    let (dir, rp, written) = setup(true);
    let mut log = reopen(dir.path(), small_segments(), Some(rp));
    assert_eq!(log.stats().batches_scanned, 0);
    check_producers(&mut log, &written);

    let (dir, rp, written) = setup(false);
    let mut log = reopen(dir.path(), small_segments(), Some(rp));
    assert!(log.stats().segments_from_index > 0);
    let scanned = log.stats().batches_scanned;
    assert!(scanned > 0 && scanned < 16, "{scanned} batches read");
    check_producers(&mut log, &written);

    let (dir, rp, written) = setup(false);
    for (name, _) in files(dir.path(), "snapshot") {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    let mut log = reopen(dir.path(), small_segments(), Some(rp));
    assert!(log.stats().segments_from_index > 0);
    assert_eq!(
        log.stats().batches_scanned,
        16,
        "replayed from the first segment"
    );
    check_producers(&mut log, &written);

    let (dir, _, written) = setup(true);
    let mut log = reopen(dir.path(), small_segments(), None);
    assert_eq!(log.stats().batches_scanned, 16);
    check_producers(&mut log, &written);
}

/// A damaged `.txnindex` below the recovery point cannot be trusted: the whole log is
/// scanned, and the aborted transaction is found again from its marker.
#[test]
fn a_damaged_txn_index_below_the_recovery_point_falls_back_to_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (written, end);
    {
        let mut log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
        written = write_producers(&mut log);
        log.close().unwrap();
        end = log.log_end_offset();
    }
    let txn_indexes = files(dir.path(), "txnindex");
    assert_eq!(txn_indexes.len(), 1);
    let path = dir.path().join(&txn_indexes[0].0);
    std::fs::write(&path, &txn_indexes[0].1[..20]).unwrap();
    let mut log = reopen(dir.path(), small_segments(), Some(end));
    assert_eq!(log.stats().segments_from_index, 0);
    assert_eq!(log.stats().batches_scanned, 16);
    assert_eq!(std::fs::read(&path).unwrap(), txn_indexes[0].1, "rebuilt");
    check_producers(&mut log, &written);
}
