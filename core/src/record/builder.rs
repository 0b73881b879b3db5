//! Builds a v2 record batch by appending each record's bytes straight into one buffer.
//!
//! No per-record structures are kept: a record is encoded (length, attributes, timestamp and
//! offset deltas, key, value, headers) into the batch's records section as it is appended.
//! The buffer starts with room for the 61-byte header. When the batch is drained the header
//! (producer id, epoch, base sequence, CRC-32C) is written there: an uncompressed batch goes
//! out as that very buffer, no copy; a compressed one is compressed into a new buffer and
//! the records buffer is freed (a batch in flight holds one copy, not two).

use bytes::{BufMut, Bytes, BytesMut};

use super::compression::{compress, Compression};
use super::varint::{len_i64, put_i64, write_i64};
use super::Header;
use crate::error::Result;

/// Size of the batch header (base offset .. records count).
pub const BATCH_HEADER_LEN: usize = 61;

/// An open batch.
#[derive(Debug)]
pub struct BatchBuilder {
    /// Header room, then the records section. It grows only when told to (`grow`): the
    /// producer charges `buffer.memory` for its capacity.
    records: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    /// The uncompressed size once built (the buffer is gone by then).
    built_size: Option<usize>,
    /// Bytes allocated for the built batch (the records buffer, or the compressed copy).
    built_allocation: usize,
    /// Written by a transactional producer (attribute bit 4): a `read_committed` consumer
    /// holds it back until its transaction's marker.
    transactional: bool,
}

/// What `try_append` did.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum Append {
    /// Appended, at this offset delta.
    Added(i32),
    /// The record would take the batch past its size limit.
    Full,
    /// The record fits the limit but not the buffer: `grow` to at least this many bytes.
    NeedsCapacity(usize),
}

impl Append {
    /// The offset delta, if the record was appended.
    pub fn added(self) -> Option<i32> {
        match self {
            Append::Added(delta) => Some(delta),
            _ => None,
        }
    }
}

fn opt_len(b: Option<&[u8]>) -> usize {
    match b {
        None => len_i64(-1),
        Some(b) => len_i64(b.len() as i64) + b.len(),
    }
}

fn put_opt(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_i64(buf, -1),
        Some(b) => {
            put_i64(buf, b.len() as i64);
            buf.put_slice(b);
        }
    }
}

impl BatchBuilder {
    /// A batch whose buffer holds `capacity` bytes (header included) until it is grown.
    pub fn new(capacity: usize) -> BatchBuilder {
        BatchBuilder::with_buffer(Vec::with_capacity(capacity.max(BATCH_HEADER_LEN)))
    }

    /// A builder writing into `buffer` (its contents are discarded, its capacity kept).
    pub fn with_buffer(mut records: Vec<u8>) -> BatchBuilder {
        records.clear();
        records.resize(BATCH_HEADER_LEN, 0);
        BatchBuilder {
            records,
            count: 0,
            base_timestamp: 0,
            max_timestamp: -1,
            built_size: None,
            built_allocation: 0,
            transactional: false,
        }
    }

    /// Marks the batch as part of a transaction (before it is built).
    pub fn set_transactional(&mut self, transactional: bool) {
        self.transactional = transactional;
    }

    /// Bytes allocated for this batch now: its buffer's capacity while open, the built
    /// batch's allocation afterwards.
    pub fn allocated(&self) -> usize {
        if self.built_size.is_some() {
            self.built_allocation
        } else {
            self.records.capacity()
        }
    }

    /// Grows the buffer to exactly `capacity` bytes (never shrinks it).
    pub fn grow(&mut self, capacity: usize) {
        let len = self.records.len();
        if capacity > self.records.capacity() {
            self.records.reserve_exact(capacity - len);
        }
    }

    /// Moves the records into `larger` (a reused buffer) and returns the old buffer.
    pub fn move_to(&mut self, mut larger: Vec<u8>) -> Vec<u8> {
        larger.clear();
        larger.extend_from_slice(&self.records);
        std::mem::replace(&mut self.records, larger)
    }

    /// The encoded size of one record with these fields, if it were appended now (an upper
    /// bound usable before the batch exists: the deltas are at most 10 bytes each).
    pub fn record_size_bound(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let body = 1 + 10 + 5 + opt_len(key) + opt_len(value) + headers_len(headers);
        body + len_i64(body as i64)
    }

    /// Bytes the batch takes uncompressed, header included.
    pub fn size(&self) -> usize {
        self.built_size.unwrap_or(self.records.len())
    }

    pub fn count(&self) -> i32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a record unless that would take the batch past `limit` bytes (a first record is
    /// always within the limit) or past its buffer's capacity.
    pub fn try_append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        limit: usize,
    ) -> Append {
        let base_timestamp = if self.count == 0 {
            timestamp
        } else {
            self.base_timestamp
        };
        let offset_delta = self.count;
        let body = 1
            + len_i64(timestamp - base_timestamp)
            + len_i64(offset_delta as i64)
            + opt_len(key)
            + opt_len(value)
            + headers_len(headers);
        let total = body + len_i64(body as i64);
        if self.count > 0 && self.size() + total > limit {
            return Append::Full;
        }
        if self.records.len() + total > self.records.capacity() {
            return Append::NeedsCapacity(self.records.len() + total);
        }
        self.base_timestamp = base_timestamp;
        let buf = &mut self.records;
        // The small fields go through one stack buffer and one copy each run (a copy per
        // varint byte was a tenth of the producer's instructions).
        let mut head = [0u8; 41];
        let mut n = write_i64(&mut head, body as i64);
        head[n] = 0; // record attributes: unused
        n += 1;
        n += write_i64(&mut head[n..], timestamp - self.base_timestamp);
        n += write_i64(&mut head[n..], offset_delta as i64);
        n += write_i64(&mut head[n..], key.map_or(-1, |k| k.len() as i64));
        buf.put_slice(&head[..n]);
        if let Some(k) = key {
            buf.put_slice(k);
        }
        let n = write_i64(&mut head, value.map_or(-1, |v| v.len() as i64));
        buf.put_slice(&head[..n]);
        if let Some(v) = value {
            buf.put_slice(v);
        }
        let n = write_i64(&mut head, headers.len() as i64);
        buf.put_slice(&head[..n]);
        for h in headers {
            put_opt(buf, Some(h.key.as_bytes()));
            put_opt(buf, h.value.as_deref());
        }
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Append::Added(offset_delta)
    }

    /// The finished batch: records compressed with `codec`, header and CRC written. Built
    /// once: the records buffer becomes the batch (no codec) or is freed (after compression).
    pub fn build(
        &mut self,
        codec: Compression,
        level: Option<i32>,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Result<Bytes> {
        let (built, _spare) =
            self.build_vec(codec, level, producer_id, producer_epoch, base_sequence)?;
        // No copy: the buffer becomes the batch's bytes.
        Ok(Bytes::from(built))
    }

    /// `build`, as the buffer itself, and after compression the records buffer it no longer
    /// needs (for a caller that reuses buffers).
    pub fn build_vec(
        &mut self,
        codec: Compression,
        level: Option<i32>,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
        assert!(self.built_size.is_none(), "a batch is built once");
        let size = self.records.len();
        let (mut out, spare) = if codec == Compression::None {
            (std::mem::take(&mut self.records), None)
        } else {
            let mut out = Vec::with_capacity(size);
            out.resize(BATCH_HEADER_LEN, 0);
            compress(codec, level, &self.records[BATCH_HEADER_LEN..], &mut out)?;
            // A batch in flight holds what it compressed to, not its uncompressed size.
            if out.capacity() - out.len() > out.len() / 8 {
                out.shrink_to_fit();
            }
            (out, Some(std::mem::take(&mut self.records)))
        };
        self.write_header(&mut out, codec, producer_id, producer_epoch, base_sequence);
        self.built_allocation = out.capacity();
        self.built_size = Some(size);
        Ok((out, spare))
    }

    fn write_header(
        &self,
        out: &mut [u8],
        codec: Compression,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) {
        let length = (out.len() - 12) as i32;
        let mut h = &mut out[..BATCH_HEADER_LEN];
        h.put_i64(0); // base offset: assigned by the broker
        h.put_i32(length);
        h.put_i32(-1); // partition leader epoch: set by the broker
        h.put_i8(2); // magic
        h.put_u32(0); // CRC, below
        h.put_i16(codec.attribute() | if self.transactional { 0x10 } else { 0 });
        h.put_i32(self.count - 1);
        h.put_i64(self.base_timestamp);
        h.put_i64(self.max_timestamp);
        h.put_i64(producer_id);
        h.put_i16(producer_epoch);
        h.put_i32(base_sequence);
        h.put_i32(self.count);
        let crc = crc32c::crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
    }
}

/// The producer id, epoch and base sequence in a built batch's header.
pub fn producer_ids(batch: &[u8]) -> (i64, i16, i32) {
    let at = |o: usize, n: usize| &batch[o..o + n];
    (
        i64::from_be_bytes(at(43, 8).try_into().unwrap()),
        i16::from_be_bytes(at(51, 2).try_into().unwrap()),
        i32::from_be_bytes(at(53, 4).try_into().unwrap()),
    )
}

/// A built batch with another producer id, epoch and base sequence (after an epoch bump the
/// same records go out under the new ones), its CRC recomputed.
pub fn with_producer_ids(batch: &[u8], producer_id: i64, epoch: i16, base_sequence: i32) -> Bytes {
    let mut out = BytesMut::from(batch);
    out[43..51].copy_from_slice(&producer_id.to_be_bytes());
    out[51..53].copy_from_slice(&epoch.to_be_bytes());
    out[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out.freeze()
}

fn headers_len(headers: &[Header]) -> usize {
    len_i64(headers.len() as i64)
        + headers
            .iter()
            .map(|h| opt_len(Some(h.key.as_bytes())) + opt_len(h.value.as_deref()))
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use kafka_protocol::records::{RecordBatchDecoder, TimestampType};

    use super::*;

    #[test]
    fn batches_decode_with_the_protocol_crate_for_every_codec() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut b = BatchBuilder::new(1024);
            let headers = [
                Header::new("trace", "abc"),
                Header {
                    key: "empty".into(),
                    value: None,
                },
            ];
            assert_eq!(
                b.try_append(1_000, Some(b"k0"), Some(b"v0"), &headers, 1 << 20),
                Append::Added(0)
            );
            assert_eq!(
                b.try_append(999, None, Some(b"v1"), &[], 1 << 20),
                Append::Added(1)
            );
            assert_eq!(
                b.try_append(1_005, Some(b"k2"), None, &[], 1 << 20),
                Append::Added(2)
            );
            let bytes = b.build(codec, None, 42, 3, 17).unwrap();
            let sets = RecordBatchDecoder::decode_all(&mut bytes.clone()).unwrap();
            let r = &sets[0].records;
            assert_eq!(r.len(), 3, "{codec:?}");
            assert_eq!(r[0].key.as_deref(), Some(&b"k0"[..]));
            assert_eq!(r[0].value.as_deref(), Some(&b"v0"[..]));
            assert_eq!(r[0].headers.len(), 2);
            assert_eq!(r[1].key, None);
            assert_eq!(r[1].timestamp, 999);
            assert_eq!(r[2].value, None);
            assert_eq!(r[2].offset, 2);
            assert_eq!(
                (r[0].producer_id, r[0].producer_epoch, r[0].sequence),
                (42, 3, 17)
            );
            assert_eq!(r[2].sequence, 19);
            assert_eq!(r[0].timestamp_type, TimestampType::Creation);
        }
    }

    #[test]
    fn a_built_batch_takes_new_producer_ids_with_a_valid_crc() {
        for codec in [Compression::None, Compression::Lz4] {
            let mut b = BatchBuilder::new(256);
            assert_eq!(
                b.try_append(5, Some(b"k"), Some(b"v"), &[], 1 << 20),
                Append::Added(0)
            );
            let built = b.build(codec, None, 7, 0, 3).unwrap();
            assert_eq!(producer_ids(&built), (7, 0, 3));
            let again = with_producer_ids(&built, 8, 1, 0);
            assert_eq!(producer_ids(&again), (8, 1, 0));
            let sets = RecordBatchDecoder::decode_all(&mut again.clone()).unwrap();
            let r = &sets[0].records[0];
            assert_eq!((r.producer_id, r.producer_epoch, r.sequence), (8, 1, 0));
            assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
            let (records, _) = crate::record::decode_batches(&again, 0, true, None).unwrap();
            assert_eq!(records.len(), 1, "the CRC matches");
        }
    }

    #[test]
    fn respects_the_size_limit_and_capacity_but_always_takes_a_first_record() {
        let mut b = BatchBuilder::new(64);
        let big = vec![7u8; 500];
        let needed = match b.try_append(0, None, Some(&big), &[], 100) {
            Append::NeedsCapacity(n) => n,
            other => panic!("the buffer must be grown first: {other:?}"),
        };
        assert!(
            (BATCH_HEADER_LEN + 500..BATCH_HEADER_LEN + 520).contains(&needed),
            "{needed}"
        );
        assert_eq!(b.allocated(), 64, "nothing grew by itself");
        b.grow(needed);
        assert_eq!(b.allocated(), needed, "grown exactly");
        assert_eq!(
            b.try_append(0, None, Some(&big), &[], 100),
            Append::Added(0),
            "a first record goes in past the limit"
        );
        assert_eq!(b.try_append(0, None, Some(b"x"), &[], 100), Append::Full);
        assert!(BatchBuilder::record_size_bound(None, Some(&big), &[]) >= 500);
        let built = b.build(Compression::None, None, -1, -1, -1).unwrap();
        assert_eq!(built.len(), needed);
        assert_eq!(b.allocated(), needed, "the built batch is the same buffer");
    }
}
