//! In-place view of a v2 record batch header.
//!
//! The broker keeps batches as received: it validates the 61-byte header and the CRC (and
//! `records.rs` walks the records against the header), rewrites the fields Kafka rewrites on
//! append (base offset, leader epoch, LogAppendTime) and stores the bytes.

/// Size of the v2 batch header, up to and including the records count.
pub const HEADER_LEN: usize = 61;
/// Bytes before the `length` field counts from (base offset + length).
pub const LOG_OVERHEAD: usize = 12;

const LENGTH: usize = 8;
const LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORDS_COUNT: usize = 57;

/// The parsed header fields of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the length field.
    pub length: i32,
    /// The leader epoch of the leader that appended the batch (set by the broker).
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().unwrap())
}

impl BatchHeader {
    /// Parses the header at the start of `b`; `None` when fewer than [`HEADER_LEN`] bytes.
    pub fn parse(b: &[u8]) -> Option<BatchHeader> {
        if b.len() < HEADER_LEN {
            return None;
        }
        Some(BatchHeader {
            base_offset: i64_at(b, 0),
            length: i32_at(b, LENGTH),
            partition_leader_epoch: i32_at(b, LEADER_EPOCH),
            magic: b[MAGIC] as i8,
            crc: u32::from_be_bytes(b[CRC..CRC + 4].try_into().unwrap()),
            attributes: i16_at(b, ATTRIBUTES),
            last_offset_delta: i32_at(b, LAST_OFFSET_DELTA),
            base_timestamp: i64_at(b, BASE_TIMESTAMP),
            max_timestamp: i64_at(b, MAX_TIMESTAMP),
            producer_id: i64_at(b, PRODUCER_ID),
            producer_epoch: i16_at(b, PRODUCER_EPOCH),
            base_sequence: i32_at(b, BASE_SEQUENCE),
            records_count: i32_at(b, RECORDS_COUNT),
        })
    }

    /// Whole size of the batch on the wire and in the log.
    pub fn total_size(&self) -> usize {
        LOG_OVERHEAD + self.length.max(0) as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        // Sequences wrap at i32::MAX back to 0, as in Kafka.
        ((self.base_sequence as i64 + self.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
    }
}

/// Whether the stored CRC-32C (over attributes..end) matches the bytes.
pub fn crc_ok(batch: &[u8]) -> bool {
    match BatchHeader::parse(batch) {
        Some(h) if batch.len() >= h.total_size() => {
            crc32c::crc32c(&batch[ATTRIBUTES..h.total_size()]) == h.crc
        }
        _ => false,
    }
}

/// Rewrites the base offset and leader epoch: both lie outside the CRC.
pub fn assign_offsets(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[LEADER_EPOCH..LEADER_EPOCH + 4].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Marks the batch as LogAppendTime with `now_ms` as its max timestamp, and recomputes the CRC.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attrs = i16_at(batch, ATTRIBUTES) | 0x08;
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
    let end = LOG_OVERHEAD + i32_at(batch, LENGTH) as usize;
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..end]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Sets the last offset delta and base sequence and recomputes the CRC: the cleaner keeps a
/// batch's original last offset and sequence range when it drops records from it, so offsets
/// stay where they were and an idempotent producer's state reads the same from the log.
pub fn set_bounds(batch: &mut [u8], last_offset_delta: i32, base_sequence: i32) {
    batch[LAST_OFFSET_DELTA..LAST_OFFSET_DELTA + 4]
        .copy_from_slice(&last_offset_delta.to_be_bytes());
    batch[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&base_sequence.to_be_bytes());
    let end = LOG_OVERHEAD + i32_at(batch, LENGTH) as usize;
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..end]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The header of `batch` alone, as a batch of no records (uncompressed, CRC recomputed): what
/// the cleaner keeps of an idempotent producer's last batch once every record in it is gone, so
/// the producer's id, epoch and sequence range are still read from the log after a restart.
pub fn empty_copy(batch: &[u8]) -> Vec<u8> {
    let mut b = batch[..HEADER_LEN].to_vec();
    b[LENGTH..LENGTH + 4].copy_from_slice(&((HEADER_LEN - LOG_OVERHEAD) as i32).to_be_bytes());
    let attrs = i16_at(&b, ATTRIBUTES) & !0x07;
    b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    b[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&0i32.to_be_bytes());
    let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
    b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::*;

    use super::*;

    /// Builds a batch of `n` records with values `v0..` (test helper shared by the log tests).
    pub(crate) fn batch(n: usize, producer: Option<(i64, i16, i32)>, ts: i64) -> Bytes {
        batch_with(n, producer, ts, Compression::None)
    }

    /// [`batch`] compressed with `compression`.
    pub(crate) fn batch_with(
        n: usize,
        producer: Option<(i64, i16, i32)>,
        ts: i64,
        compression: Compression,
    ) -> Bytes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: producer.map_or(-1, |p| p.0),
                producer_epoch: producer.map_or(-1, |p| p.1),
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder splits batches unless offset - sequence is constant.
                sequence: producer.map_or(-1, |p| p.2) + i as i32,
                timestamp: ts + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("v{i}"))),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let opts = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).unwrap();
        buf.freeze()
    }

    #[test]
    fn parses_header_and_checks_crc() {
        let b = batch(3, Some((7, 1, 10)), 1000);
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.magic, 2);
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 1, 10)
        );
        assert_eq!(h.last_sequence(), 12);
        assert_eq!(h.total_size(), b.len());
        assert!(crc_ok(&b));
        let mut bad = b.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(!crc_ok(&bad));
    }

    #[test]
    fn rewrites_keep_crc_valid() {
        let mut b = batch(2, None, 5).to_vec();
        assign_offsets(&mut b, 42, 0);
        assert!(crc_ok(&b));
        set_log_append_time(&mut b, 99_000);
        assert!(crc_ok(&b));
        let sets = RecordBatchDecoder::decode_all(&mut Bytes::from(b)).unwrap();
        let recs = &sets[0].records;
        assert_eq!(recs[0].offset, 42);
        assert_eq!(recs[1].offset, 43);
        assert_eq!(recs[0].timestamp_type, TimestampType::LogAppend);
    }
}
