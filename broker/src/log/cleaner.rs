//! Log compaction (`cleanup.policy=compact`): the latest record of each key is kept, older
//! ones are removed, as Kafka's log cleaner does.
//!
//! A pass looks at the cleanable part of the log: the segments before the active one (never
//! the active one), below the last stable offset (an open transaction's records are not
//! decided yet), and older than `min.compaction.lag.ms`. It runs when the part not cleaned
//! before is at least `min.cleanable.dirty.ratio` of it. It maps each key to its latest offset
//! there, then rewrites each segment keeping a record only if it is its key's latest: offsets
//! never change (a batch keeps its last offset and sequence range; gaps are where records
//! were), control batches stay, records of aborted transactions go, and a tombstone (a null
//! value) goes once its batch is older than `delete.retention.ms`.

use std::collections::HashMap;
use std::io;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

use super::batch::{self, BatchHeader};
use super::PartitionLog;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanStats {
    /// Segments rewritten.
    pub segments: usize,
    /// Records removed.
    pub removed: usize,
}

impl PartitionLog {
    /// One compaction pass (nothing unless the topic compacts and enough is dirty).
    pub fn clean(&mut self, now_ms: i64) -> io::Result<CleanStats> {
        let mut stats = CleanStats::default();
        if !self.config.compact || self.segments.len() < 2 {
            return Ok(stats);
        }
        let stable = self.last_stable_offset();
        let lag = self.config.min_compaction_lag_ms;
        let cleanable = self.segments[..self.segments.len() - 1]
            .iter()
            .take_while(|s| s.next_offset <= stable && s.max_timestamp <= now_ms - lag)
            .count();
        if cleanable == 0 {
            return Ok(stats);
        }
        let total: u64 = self.segments[..cleanable].iter().map(|s| s.size()).sum();
        let dirty: u64 = self.segments[..cleanable]
            .iter()
            .filter(|s| s.next_offset > self.cleaned_up_to)
            .map(|s| s.size())
            .sum();
        if dirty == 0 || (dirty as f64) < self.config.min_cleanable_dirty_ratio * total as f64 {
            return Ok(stats);
        }
        let aborted = self.txns.aborted_between(self.log_start_offset, stable);
        let in_aborted = |producer_id: i64, offset: i64| {
            aborted.iter().any(|a| {
                a.producer_id == producer_id && a.first_offset <= offset && offset <= a.last_offset
            })
        };
        // Each key's latest offset in the cleanable part.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for seg in &self.segments[..cleanable] {
            let mut bytes = Bytes::from(seg.read_at(0, seg.size() as usize)?);
            for set in RecordBatchDecoder::decode_all(&mut bytes).map_err(invalid)? {
                for r in set.records.iter().filter(|r| !r.control) {
                    if r.transactional && in_aborted(r.producer_id, r.offset) {
                        continue;
                    }
                    if let Some(key) = &r.key {
                        latest.insert(key.clone(), r.offset);
                    }
                }
            }
        }
        let tombstone_horizon = now_ms.saturating_sub(self.config.delete_retention_ms);
        for seg in &mut self.segments[..cleanable] {
            let mut kept: Vec<Bytes> = Vec::new();
            let mut removed = 0;
            let mut position = 0u64;
            while let Some(h) = seg.header_at(position)? {
                let raw = Bytes::from(seg.read_at(position, h.total_size())?);
                position += h.total_size() as u64;
                if h.is_control() {
                    kept.push(raw);
                    continue;
                }
                let set = RecordBatchDecoder::decode(&mut raw.clone()).map_err(invalid)?;
                let total = set.records.len();
                let keep: Vec<_> = set
                    .records
                    .into_iter()
                    .filter(|r| {
                        let aborted = r.transactional && in_aborted(r.producer_id, r.offset);
                        let latest_of_key = r
                            .key
                            .as_ref()
                            .is_some_and(|k| latest.get(k) == Some(&r.offset));
                        let expired_tombstone =
                            r.value.is_none() && h.max_timestamp < tombstone_horizon;
                        !aborted && latest_of_key && !expired_tombstone
                    })
                    .collect();
                removed += total - keep.len();
                if keep.len() == total {
                    kept.push(raw);
                } else if !keep.is_empty() {
                    kept.push(rewrite(&h, &keep, set.compression)?);
                }
            }
            if removed > 0 {
                seg.replace_batches(&kept)?;
                stats.segments += 1;
                stats.removed += removed;
            }
        }
        self.cleaned_up_to = self.segments[cleanable - 1].next_offset;
        Ok(stats)
    }
}

/// The kept records of the batch `h` as one batch at their own offsets, with the batch's
/// original last offset and sequence range.
fn rewrite(
    h: &BatchHeader,
    keep: &[kafka_protocol::records::Record],
    compression: kafka_protocol::records::Compression,
) -> io::Result<Bytes> {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, keep.iter(), &options).map_err(invalid)?;
    let base = keep[0].offset;
    // Sequences wrap from i32::MAX to 0.
    let base_sequence = if h.base_sequence >= 0 {
        ((h.base_sequence as i64 + (base - h.base_offset)) % (i32::MAX as i64 + 1)) as i32
    } else {
        -1
    };
    batch::set_bounds(&mut buf, (h.last_offset() - base) as i32, base_sequence);
    Ok(buf.freeze())
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}
