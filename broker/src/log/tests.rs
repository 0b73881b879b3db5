//! Behaviour of a partition log as the broker relies on it, on disk and in memory.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::RecordBatchDecoder;

use super::batch::tests::{batch, batch_with};
use super::*;

fn offsets_of(bytes: Bytes) -> Vec<i64> {
    RecordBatchDecoder::decode_all(&mut bytes.clone())
        .unwrap()
        .iter()
        .flat_map(|s| s.records.iter().map(|r| r.offset))
        .collect()
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

#[test]
fn in_memory_append_assigns_offsets_and_reads_whole_batches() {
    let mut log = PartitionLog::open(None, LogConfig::default()).unwrap();
    let a = log.append(batch(3, None, 1000), 0).unwrap();
    let b = log.append(batch(2, None, 2000), 0).unwrap();
    assert_eq!((a.base_offset, a.last_offset), (0, 2));
    assert_eq!((b.base_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(
        offsets_of(log.read(0, 1 << 20, true).unwrap()),
        vec![0, 1, 2, 3, 4]
    );
    // From the middle of a batch: the whole batch holding offset 1 comes back.
    assert_eq!(
        offsets_of(log.read(1, 1 << 20, true).unwrap()),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(offsets_of(log.read(3, 1 << 20, true).unwrap()), vec![3, 4]);
    assert!(log.read(5, 1 << 20, true).unwrap().is_empty());
    assert_eq!(log.read(6, 1 << 20, true), Err(1));
}

#[test]
fn read_respects_max_bytes_but_returns_one_batch_when_asked() {
    let mut log = PartitionLog::open(None, LogConfig::default()).unwrap();
    let first = batch(3, None, 0);
    let size = first.len();
    log.append(first, 0).unwrap();
    log.append(batch(3, None, 0), 0).unwrap();
    assert_eq!(offsets_of(log.read(0, size, false).unwrap()), vec![0, 1, 2]);
    assert!(log.read(0, 10, false).unwrap().is_empty());
    assert_eq!(offsets_of(log.read(0, 10, true).unwrap()), vec![0, 1, 2]);
}

#[test]
fn rejects_corrupt_oversize_and_inconsistent_batches_with_kafka_codes() {
    let mut log = PartitionLog::open(
        None,
        LogConfig {
            max_message_bytes: 200,
            ..LogConfig::default()
        },
    )
    .unwrap();
    let mut bad = batch(2, None, 0).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert_eq!(log.append(Bytes::from(bad), 0).unwrap_err().code, 2);
    assert_eq!(log.append(batch(30, None, 0), 0).unwrap_err().code, 10);
    let mut two = batch(1, None, 0).to_vec();
    two.extend_from_slice(&batch(1, None, 0));
    assert_eq!(log.append(Bytes::from(two), 0).unwrap_err().code, 87);
    assert_eq!(log.log_end_offset(), 0, "nothing was appended");
}

/// `b` with its header claiming `count` records (last offset delta to match), CRC fixed.
fn claiming(b: Bytes, count: i32) -> Bytes {
    let mut b = b.to_vec();
    b[23..27].copy_from_slice(&(count - 1).to_be_bytes());
    b[57..61].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// A header claiming more (or fewer) records than the batch holds is INVALID_RECORD, for
/// uncompressed and compressed batches alike, and moves nothing: the log end offset stays.
#[test]
fn a_batch_whose_header_lies_about_its_records_is_refused() {
    use kafka_protocol::records::Compression;
    let mut log = PartitionLog::open(None, LogConfig::default()).unwrap();
    for compression in [Compression::None, Compression::Gzip, Compression::Lz4] {
        for count in [1_000_001, 2] {
            let lying = claiming(batch_with(1, None, 0, compression), count);
            let e = log.append(lying, 0).unwrap_err();
            assert_eq!(
                e.code, 87,
                "{compression:?} claiming {count}: {}",
                e.message
            );
        }
        let honest = log.append(batch_with(3, None, 0, compression), 0).unwrap();
        assert_eq!(honest.last_offset - honest.base_offset, 2);
    }
    assert_eq!(
        log.log_end_offset(),
        9,
        "only the honest batches moved the log end"
    );
}

#[test]
fn log_append_time_overrides_timestamps_with_valid_crc() {
    let cfg = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(None, cfg).unwrap();
    let r = log.append(batch(2, None, 5), 77_000).unwrap();
    assert_eq!(r.log_append_time_ms, 77_000);
    let read = log.read(0, 1 << 20, true).unwrap();
    assert!(batch::crc_ok(&read));
    let h = BatchHeader::parse(&read).unwrap();
    assert_eq!(h.max_timestamp, 77_000);
    assert_eq!(log.offset_for_timestamp(70_000), Some((0, 77_000)));
}

#[test]
fn segments_roll_by_size_and_lookups_cross_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
    for i in 0..20 {
        log.append(batch(2, None, 1000 * i), 0).unwrap();
    }
    assert!(log.segment_count() > 3, "{} segments", log.segment_count());
    assert!(dir.path().join("00000000000000000000.log").exists());
    assert!(dir.path().join("00000000000000000000.index").exists());
    assert!(dir.path().join("00000000000000000000.timeindex").exists());
    for offset in [0, 7, 13, 22, 39] {
        let got = offsets_of(log.read(offset, 1 << 20, true).unwrap());
        assert_eq!(got[0], offset - offset % 2, "read from {offset}");
        assert_eq!(*got.last().unwrap(), 39);
    }
    // Batch i holds timestamps 1000*i and 1000*i+1, at offsets 2i and 2i+1.
    assert_eq!(log.offset_for_timestamp(5_001), Some((11, 5_001)));
    assert_eq!(log.offset_for_timestamp(5_500), Some((12, 6_000)));
    assert_eq!(log.offset_for_timestamp(100_000), None);
    assert_eq!(log.max_timestamp(), Some((38, 19_001)));
}

#[test]
fn segments_roll_by_time() {
    let cfg = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(None, cfg).unwrap();
    let now = now_ms();
    log.append(batch(1, None, 0), now).unwrap();
    log.append(batch(1, None, 0), now + 10).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(batch(1, None, 0), now + 5000).unwrap();
    assert_eq!(log.segment_count(), 2);
}

#[test]
fn retention_by_time_and_bytes_deletes_whole_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
    let now = now_ms();
    for i in 0..12 {
        // The first six batches are old, the rest recent.
        let ts = if i < 6 { now - 10 * 3_600_000 } else { now };
        log.append(batch(2, None, ts), now).unwrap();
    }
    let before = log.segment_count();
    log.set_config(LogConfig {
        retention_ms: 3_600_000,
        ..small_segments()
    });
    let deleted = log.enforce_retention(now);
    assert!(deleted >= 1);
    assert_eq!(log.segment_count(), before - deleted);
    assert!(log.log_start_offset() > 0 && log.log_start_offset() <= 12);
    assert_eq!(log.read(0, 100, true), Err(1));
    assert_eq!(log.log_end_offset(), 24);

    log.set_config(LogConfig {
        retention_bytes: 400,
        ..small_segments()
    });
    log.enforce_retention(now);
    assert!(log.size_bytes() <= 800, "size {}", log.size_bytes());
    assert_eq!(log.log_end_offset(), 24);
}

#[test]
fn delete_records_moves_log_start_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
        for _ in 0..10 {
            log.append(batch(2, None, 0), 0).unwrap();
        }
        assert_eq!(log.delete_records_before(9), Ok(9));
        assert_eq!(log.delete_records_before(3), Ok(9), "never moves backwards");
        assert_eq!(log.delete_records_before(21), Err(1));
        assert_eq!(log.read(8, 1000, true), Err(1));
        log.flush().unwrap();
    }
    let log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
    assert_eq!(log.log_start_offset(), 9);
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(
        offsets_of(log.read(9, 1 << 20, true).unwrap())[0],
        8,
        "the batch holding 9"
    );
}

#[test]
fn torn_tail_is_truncated_and_appends_continue_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join("00000000000000000000.log");
    let full_len;
    {
        let mut log = PartitionLog::open(Some(dir.path()), LogConfig::default()).unwrap();
        for _ in 0..3 {
            log.append(batch(2, None, 0), 0).unwrap();
        }
        log.flush().unwrap();
        full_len = std::fs::metadata(&seg).unwrap().len();
    }
    // Cut the last batch in half, and drop the index files.
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(full_len - 10).unwrap();
    std::fs::remove_file(dir.path().join("00000000000000000000.index")).unwrap();
    let mut log = PartitionLog::open(Some(dir.path()), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 4, "two complete batches survive");
    assert_eq!(
        offsets_of(log.read(0, 1 << 20, true).unwrap()),
        vec![0, 1, 2, 3]
    );
    assert!(dir.path().join("00000000000000000000.index").exists());
    let r = log.append(batch(1, None, 0), 0).unwrap();
    assert_eq!(r.base_offset, 4);
    assert_eq!(
        offsets_of(log.read(0, 1 << 20, true).unwrap()),
        vec![0, 1, 2, 3, 4]
    );
}

#[test]
fn corrupt_batch_in_active_segment_is_dropped_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join("00000000000000000000.log");
    let first_len;
    {
        let mut log = PartitionLog::open(Some(dir.path()), LogConfig::default()).unwrap();
        let b = batch(2, None, 0);
        first_len = b.len() as u64;
        log.append(b, 0).unwrap();
        log.append(batch(2, None, 0), 0).unwrap();
    }
    let mut data = std::fs::read(&seg).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0x55;
    std::fs::write(&seg, data).unwrap();
    let log = PartitionLog::open(Some(dir.path()), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), first_len);
}

#[test]
fn idempotent_retries_are_acknowledged_not_appended() {
    let mut log = PartitionLog::open(None, LogConfig::default()).unwrap();
    let first = log.append(batch(3, Some((42, 0, 0)), 0), 0).unwrap();
    log.append(batch(2, Some((42, 0, 3)), 0), 0).unwrap();
    let retry = log.append(batch(3, Some((42, 0, 0)), 0), 0).unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        (retry.base_offset, retry.last_offset),
        (first.base_offset, first.last_offset)
    );
    assert_eq!(log.log_end_offset(), 5);
    // A gap in the sequence.
    assert_eq!(
        log.append(batch(1, Some((42, 0, 9)), 0), 0)
            .unwrap_err()
            .code,
        45
    );
    // A new epoch must start at 0, and then fences the old one.
    assert_eq!(
        log.append(batch(1, Some((42, 1, 5)), 0), 0)
            .unwrap_err()
            .code,
        45
    );
    log.append(batch(1, Some((42, 1, 0)), 0), 0).unwrap();
    assert_eq!(
        log.append(batch(1, Some((42, 0, 5)), 0), 0)
            .unwrap_err()
            .code,
        47
    );
    assert_eq!(log.max_producer_id(), 42);
}

#[test]
fn producer_state_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = PartitionLog::open(Some(dir.path()), LogConfig::default()).unwrap();
        log.append(batch(2, Some((7, 3, 0)), 0), 0).unwrap();
        log.append(batch(2, Some((7, 3, 2)), 0), 0).unwrap();
    }
    let mut log = PartitionLog::open(Some(dir.path()), LogConfig::default()).unwrap();
    let retry = log.append(batch(2, Some((7, 3, 2)), 0), 0).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, 2);
    assert_eq!(
        log.append(batch(1, Some((7, 3, 5)), 0), 0)
            .unwrap_err()
            .code,
        45
    );
    assert_eq!(
        log.append(batch(1, Some((7, 3, 4)), 0), 0)
            .unwrap()
            .base_offset,
        4
    );
    assert_eq!(log.max_producer_id(), 7);
}

/// A batch of keyed records (`None` value: a tombstone) with timestamp `ts`.
fn keyed(records: &[(&str, Option<&str>)], ts: i64) -> Bytes {
    let records = records.iter().map(|(k, v)| {
        (
            Bytes::copy_from_slice(k.as_bytes()),
            v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        )
    });
    internal_batch(records, None, ts)
}

/// (offset, key, value) of every record from `offset` on.
fn entries(log: &PartitionLog, offset: i64) -> Vec<(i64, String, Option<String>)> {
    let bytes = log.read(offset, 1 << 20, true).unwrap();
    RecordBatchDecoder::decode_all(&mut bytes.clone())
        .unwrap()
        .iter()
        .flat_map(|s| s.records.iter())
        .map(|r| {
            let text = |b: &Bytes| String::from_utf8(b.to_vec()).unwrap();
            (
                r.offset,
                text(r.key.as_ref().unwrap()),
                r.value.as_ref().map(text),
            )
        })
        .collect()
}

pub(super) fn compacted() -> LogConfig {
    LogConfig {
        segment_bytes: 1, // one batch per segment
        delete: false,
        compact: true,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 1_000,
        ..LogConfig::default()
    }
}

fn fill_compacted(log: &mut PartitionLog, now: i64) {
    let old = now - 10_000;
    for batch in [
        keyed(&[("a", Some("1"))], old),
        keyed(&[("b", Some("1"))], old),
        keyed(&[("a", Some("2"))], old),
        keyed(&[("c", Some("1"))], old),
        keyed(&[("b", None)], old),
        keyed(&[("e", Some("1")), ("a", Some("4")), ("e", Some("2"))], old),
        keyed(&[("d", Some("1"))], now),
    ] {
        log.append(batch, now).unwrap();
    }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn compaction_keeps_each_keys_latest_record_at_its_offset() {
    let now = now_ms();
    let mut log = PartitionLog::open(None, compacted()).unwrap();
    fill_compacted(&mut log, now);
    let stats = log.clean(now).unwrap();
    assert_eq!(stats.removed, 5, "a=1, b=1, a=2, b's old tombstone, e=1");
    let expected = vec![
        (3, "c".to_string(), s("1")),
        (6, "a".to_string(), s("4")),
        (7, "e".to_string(), s("2")),
        (8, "d".to_string(), s("1")),
    ];
    assert_eq!(
        entries(&log, 0),
        expected,
        "offsets kept, gaps where records were"
    );
    assert_eq!(
        entries(&log, 1),
        expected,
        "a fetch in a gap starts at the next record"
    );
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(log.clean(now).unwrap().removed, 0, "nothing left to clean");
    // A record without a key is refused by a compacted topic.
    let e = log
        .append(
            internal_batch(
                [(Bytes::new(), None)]
                    .into_iter()
                    .map(|(_, v)| (Bytes::new(), v)),
                None,
                now,
            ),
            now,
        )
        .map(|_| ());
    assert!(e.is_ok(), "an empty key is a key");
    let mut no_key = BytesMut::new();
    let record = kafka_protocol::records::Record {
        key: None,
        ..kafka_protocol::records::RecordBatchDecoder::decode(&mut keyed(
            &[("x", s("1").as_deref())],
            now,
        ))
        .unwrap()
        .records
        .remove(0)
    };
    kafka_protocol::records::RecordBatchEncoder::encode(
        &mut no_key,
        std::iter::once(&record),
        &kafka_protocol::records::RecordEncodeOptions {
            version: 2,
            compression: kafka_protocol::records::Compression::None,
        },
    )
    .unwrap();
    let refused = log.append(no_key.freeze(), now).unwrap_err();
    assert_eq!(refused.code, 87, "INVALID_RECORD: {}", refused.message);
}

#[test]
fn a_fresh_tombstone_stays_and_a_delete_policy_log_is_not_compacted() {
    let now = now_ms();
    let mut log = PartitionLog::open(
        None,
        LogConfig {
            delete_retention_ms: 60_000,
            ..compacted()
        },
    )
    .unwrap();
    fill_compacted(&mut log, now);
    log.clean(now).unwrap();
    assert!(
        entries(&log, 0).contains(&(4, "b".to_string(), None)),
        "tombstone kept"
    );
    let mut plain = PartitionLog::open(
        None,
        LogConfig {
            compact: false,
            delete: true,
            ..compacted()
        },
    )
    .unwrap();
    fill_compacted(&mut plain, now);
    assert_eq!(plain.clean(now).unwrap().removed, 0);
    assert_eq!(entries(&plain, 0).len(), 9);
}

#[test]
fn a_compacted_log_reopens_as_it_was_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let mut log = PartitionLog::open(Some(dir.path()), compacted()).unwrap();
    fill_compacted(&mut log, now);
    assert_eq!(log.clean(now).unwrap().removed, 5);
    let expected = vec![
        (3, "c".to_string(), s("1")),
        (6, "a".to_string(), s("4")),
        (7, "e".to_string(), s("2")),
        (8, "d".to_string(), s("1")),
    ];
    assert_eq!(entries(&log, 0), expected);
    drop(log);
    let log = PartitionLog::open(Some(dir.path()), compacted()).unwrap();
    assert_eq!(entries(&log, 0), expected);
    assert_eq!(entries(&log, 1), expected);
    assert_eq!(log.log_end_offset(), 9);
}

/// A read whose budget ends inside a segment stops there, as one that is not cut goes on into
/// the next segment: the next segment's records come after the ones left out, so skipping to
/// them would lose those. At least one batch comes back however small the budget, and the
/// read_committed limit stops it, wherever the segments end.
#[test]
fn reads_cut_by_their_budget_end_there_and_span_segments_when_not() {
    let dir = tempfile::tempdir().unwrap();
    let small = batch(1, None, 0);
    let big = batch(8, None, 0);
    let cfg = LogConfig {
        segment_bytes: (small.len() + big.len()) as u64,
        ..LogConfig::default()
    };
    for dir in [None, Some(dir.path())] {
        let mut log = PartitionLog::open(dir, cfg.clone()).unwrap();
        log.append(small.clone(), 0).unwrap(); // offset 0, first segment
        log.append(big.clone(), 0).unwrap(); // offsets 1-8, first segment
        log.append(small.clone(), 0).unwrap(); // offset 9, second segment
        log.append(small.clone(), 0).unwrap(); // offset 10
        assert_eq!(log.segment_count(), 2);
        let everything: Vec<i64> = (0..11).collect();
        assert_eq!(
            offsets_of(log.read(0, 2 * small.len(), true).unwrap()),
            vec![0]
        );
        assert_eq!(
            offsets_of(log.read(0, usize::MAX, false).unwrap()),
            everything
        );
        assert_eq!(
            offsets_of(log.read(1, 1, true).unwrap()),
            everything[1..9],
            "one batch, larger than the budget"
        );
        assert!(log.read(1, 1, false).unwrap().is_empty());
        let to_second = small.len() + big.len() + small.len();
        assert_eq!(
            offsets_of(log.read(0, to_second, false).unwrap()),
            everything[..10]
        );
        assert_eq!(
            offsets_of(log.read_below(0, usize::MAX, true, 10).unwrap()),
            everything[..10]
        );
        assert_eq!(
            offsets_of(log.read_below(5, usize::MAX, true, 9).unwrap()),
            everything[1..9]
        );
        assert!(log.read_below(9, usize::MAX, true, 9).unwrap().is_empty());
        // A batch starting below the limit is read whole.
        assert_eq!(
            offsets_of(log.read_below(0, usize::MAX, false, 5).unwrap()),
            everything[..9]
        );
    }
}
