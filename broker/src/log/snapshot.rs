//! Producer-state snapshots: what a restart must know of idempotent producers and open
//! transactions without reading the batches below the recovery point.
//!
//! As Kafka's `<offset>.snapshot` files, `<20-digit offset>.snapshot` in the partition directory
//! holds the state after every batch below that offset. One is written at each roll (at the new
//! segment's base offset: the snapshot is that segment's companion and is deleted with it) and
//! at a clean shutdown (at the log end). A start-up that skips the segments below the recovery
//! point loads the snapshot at the start of the first segment it reads (or at the log end when
//! it reads none) and replays only the batches after it; the aborted transactions of the
//! skipped segments come from their `.txnindex` files.
//!
//! The content is the dev broker's own (Kafka keeps one batch per producer; this keeps the five
//! the sequence checks use), framed as Kafka frames its snapshots, all big-endian:
//!
//! ```text
//! version i16 (1) | crc u32 (CRC-32C of everything after it) | max producer id i64
//! producers i32, each: id i64 | epoch i16 | batches i32, each: first seq i32 | last seq i32
//!                                                              | first offset i64 | last offset i64
//! open transactions i32, each: producer id i64 | first offset i64
//! ```
//!
//! Written whole through a rename (`durable::replace_file`); one that does not parse or whose
//! CRC does not match is ignored with a warning, and an older one (or a scan) is used instead.

use std::io;
use std::path::{Path, PathBuf};

use super::producer_state::ProducerState;
use super::segment::file_stem;
use super::txn_index::TxnIndex;

const VERSION: i16 = 1;

/// The file holding the state after every batch below `offset`.
pub fn path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{}.snapshot", file_stem(offset)))
}

/// Writes the snapshot at `offset` of `producers` and `txns`' open transactions.
pub fn write(
    dir: &Path,
    offset: i64,
    producers: &ProducerState,
    txns: &TxnIndex,
) -> io::Result<()> {
    let mut body = Vec::new();
    producers.encode(&mut body);
    let open = txns.open_entries();
    body.extend_from_slice(&(open.len() as i32).to_be_bytes());
    for (producer_id, first_offset) in open {
        body.extend_from_slice(&producer_id.to_be_bytes());
        body.extend_from_slice(&first_offset.to_be_bytes());
    }
    let mut file = Vec::with_capacity(body.len() + 6);
    file.extend_from_slice(&VERSION.to_be_bytes());
    file.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    file.extend_from_slice(&body);
    crate::durable::replace_file(&path(dir, offset), &file)
}

/// The state in the snapshot at `offset`: producers, and open transactions as (producer id,
/// first offset). `None` (with a warning when the file exists) when it is missing or damaged.
pub fn read(dir: &Path, offset: i64) -> Option<(ProducerState, Vec<(i64, i64)>)> {
    let path = path(dir, offset);
    let bytes = std::fs::read(&path).ok()?;
    let parsed = decode(&bytes);
    if parsed.is_none() {
        tracing::warn!(file = %path.display(), "ignoring a damaged producer-state snapshot");
    }
    parsed
}

fn decode(bytes: &[u8]) -> Option<(ProducerState, Vec<(i64, i64)>)> {
    let mut r = Reader(bytes);
    if r.i16()? != VERSION {
        return None;
    }
    let crc = r.i32()? as u32;
    if crc32c::crc32c(r.0) != crc {
        return None;
    }
    let producers = ProducerState::decode(&mut r)?;
    let count = r.count()?;
    let mut open = Vec::with_capacity(count.min(r.0.len() / 16));
    for _ in 0..count {
        open.push((r.i64()?, r.i64()?));
    }
    r.0.is_empty().then_some((producers, open))
}

/// A cursor over a snapshot's bytes.
pub struct Reader<'a>(pub &'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    pub fn i16(&mut self) -> Option<i16> {
        self.take().map(i16::from_be_bytes)
    }

    pub fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_be_bytes)
    }

    pub fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }

    /// An array length: never negative.
    pub fn count(&mut self) -> Option<usize> {
        usize::try_from(self.i32()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::super::producer_state::SequenceCheck;
    use super::super::BatchHeader;
    use super::*;

    fn header(producer_id: i64, base: i64, count: i32, seq: i32, txn: bool) -> BatchHeader {
        BatchHeader {
            partition_leader_epoch: 0,
            base_offset: base,
            length: 0,
            magic: 2,
            crc: 0,
            attributes: if txn { 0x10 } else { 0 },
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id,
            producer_epoch: 3,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn a_snapshot_round_trips_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut producers = ProducerState::default();
        let mut txns = TxnIndex::default();
        producers.record(&header(7, 0, 2, 0, false));
        producers.record(&header(7, 2, 2, 2, false));
        let open = header(9, 4, 1, 0, true);
        producers.record(&open);
        txns.on_batch(&open, None, 5);
        write(dir.path(), 5, &producers, &txns).unwrap();
        let (read_back, open) = read(dir.path(), 5).unwrap();
        assert_eq!(open, vec![(9, 4)]);
        assert_eq!(read_back.max_producer_id(), 9);
        assert_eq!(read_back.epoch_of(7), Some(3));
        assert_eq!(read_back.last_offset(7), Some(3));
        assert_eq!(
            read_back.check(&header(7, 0, 2, 0, false)).unwrap(),
            SequenceCheck::Duplicate {
                first_offset: 0,
                last_offset: 1
            },
            "every cached batch survives, not only the last"
        );
        assert!(read(dir.path(), 6).is_none(), "no such snapshot");
        let file = path(dir.path(), 5);
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        assert!(read(dir.path(), 5).is_none(), "CRC mismatch");
    }
}
