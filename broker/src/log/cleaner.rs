//! Log compaction (`cleanup.policy=compact`): the latest record of each key is kept, older
//! ones are removed, as Kafka's log cleaner does.
//!
//! A pass looks at the cleanable part of the log: the segments before the active one (never
//! the active one), below the last stable offset (an open transaction's records are not
//! decided yet), and older than `min.compaction.lag.ms`. It runs when the part not cleaned
//! before is at least `min.cleanable.dirty.ratio` of it. It maps each key to its latest offset
//! there, then rewrites each segment keeping a record only if it is its key's latest: offsets
//! never change (a batch keeps its last offset and sequence range; gaps are where records
//! were), records of aborted transactions go, and a tombstone (a null value) goes once its
//! batch is older than `delete.retention.ms`.
//!
//! Two things stay that Kafka keeps too: an idempotent producer's last batch, emptied of its
//! records but with its header (producer id, epoch, sequence range), so a restart that reads
//! producer state from the log still deduplicates that producer's retries; and a transaction
//! marker, until no batch of its transaction is left and it is older than
//! `delete.retention.ms` (a consumer that read the transaction's records has had that long to
//! read its marker).

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
    /// Transaction markers removed.
    pub markers: usize,
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
        // Each key's latest offset in the cleanable part, and each producer's last data batch.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        let mut last_batch_of: HashMap<i64, i64> = HashMap::new();
        for seg in &self.segments[..cleanable] {
            let bytes = Bytes::from(seg.read_at(0, seg.size() as usize)?);
            for (h, raw) in batches(&bytes) {
                if h.is_control() {
                    continue;
                }
                if h.producer_id >= 0 {
                    last_batch_of.insert(h.producer_id, h.last_offset());
                }
                let set = RecordBatchDecoder::decode(&mut raw.clone()).map_err(invalid)?;
                for r in &set.records {
                    if r.transactional && in_aborted(r.producer_id, r.offset) {
                        continue;
                    }
                    if let Some(key) = &r.key {
                        latest.insert(key.clone(), r.offset);
                    }
                }
            }
        }
        // A producer's last batch in the cleanable part is its last in the log unless its state
        // knows a later one (in the dirty part).
        let is_last_of_producer = |h: &BatchHeader| {
            h.producer_id >= 0
                && last_batch_of.get(&h.producer_id) == Some(&h.last_offset())
                && self
                    .producers
                    .last_offset(h.producer_id)
                    .is_none_or(|o| o <= h.last_offset())
        };
        let horizon = now_ms.saturating_sub(self.config.delete_retention_ms);
        let mut segments: Vec<Option<Vec<Bytes>>> = Vec::with_capacity(cleanable);
        // Per producer: whether a batch of its current transaction is still in the log.
        let mut txn_kept: HashMap<i64, bool> = HashMap::new();
        for seg in &self.segments[..cleanable] {
            let bytes = Bytes::from(seg.read_at(0, seg.size() as usize)?);
            let mut kept: Vec<Bytes> = Vec::new();
            let mut changed = false;
            for (h, raw) in batches(&bytes) {
                if h.is_control() {
                    let txn_left = txn_kept.remove(&h.producer_id).unwrap_or(false);
                    if !txn_left && h.max_timestamp < horizon {
                        changed = true;
                        stats.markers += 1;
                    } else {
                        kept.push(raw);
                    }
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
                        let expired_tombstone = r.value.is_none() && h.max_timestamp < horizon;
                        !aborted && latest_of_key && !expired_tombstone
                    })
                    .collect();
                stats.removed += total - keep.len();
                let batch = if keep.len() == total {
                    Some(raw)
                } else if !keep.is_empty() {
                    Some(rewrite(&h, &keep, set.compression)?)
                } else if is_last_of_producer(&h) {
                    Some(Bytes::from(batch::empty_copy(&raw)))
                } else {
                    None
                };
                changed |= keep.len() != total;
                if let Some(batch) = batch {
                    if h.is_transactional() {
                        txn_kept.insert(h.producer_id, true);
                    }
                    kept.push(batch);
                }
            }
            segments.push(changed.then_some(kept));
        }
        for (seg, kept) in self.segments.iter_mut().zip(segments) {
            if let Some(kept) = kept {
                seg.replace_batches(&kept)?;
                stats.segments += 1;
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

/// The whole batches of a segment's bytes, with their headers.
fn batches(bytes: &Bytes) -> impl Iterator<Item = (BatchHeader, Bytes)> + '_ {
    let mut position = 0usize;
    std::iter::from_fn(move || {
        let h = BatchHeader::parse(&bytes[position..])?;
        let end = position.checked_add(h.total_size())?;
        if end > bytes.len() {
            return None;
        }
        let raw = bytes.slice(position..end);
        position = end;
        Some((h, raw))
    })
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::build::keyed_batch;
    use crate::log::now_ms;
    use crate::log::tests::compacted;

    /// One batch of `keys` (value "v" each) from `producer` (id, epoch, first sequence).
    fn batch(keys: &[&str], producer: Option<(i64, i16, i32)>, txn: bool, ts: i64) -> Bytes {
        let records = keys.iter().map(|k| {
            (
                Bytes::copy_from_slice(k.as_bytes()),
                Some(Bytes::from_static(b"v")),
            )
        });
        keyed_batch(records, producer, txn, ts)
    }

    /// Every batch header in the log, in order.
    fn headers(log: &PartitionLog) -> Vec<BatchHeader> {
        let bytes = log.read(log.log_start_offset(), usize::MAX, true).unwrap();
        batches(&bytes).map(|(h, _)| h).collect()
    }

    #[test]
    fn an_idempotent_producers_emptied_last_batch_keeps_its_state_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let old = now - 10_000;
        let mut log = PartitionLog::open(Some(dir.path()), compacted()).unwrap();
        log.append(batch(&["a"], Some((7, 0, 0)), false, old), now)
            .unwrap();
        log.append(batch(&["b"], Some((7, 0, 1)), false, old), now)
            .unwrap();
        log.append(batch(&["a", "b"], None, false, old), now)
            .unwrap();
        log.append(batch(&["z"], None, false, now), now).unwrap();
        let stats = log.clean(now).unwrap();
        assert_eq!(stats.removed, 2, "producer 7's a and b are superseded");
        let of_producer: Vec<_> = headers(&log)
            .into_iter()
            .filter(|h| h.producer_id == 7)
            .collect();
        assert_eq!(
            of_producer.len(),
            1,
            "only its last batch stays: {of_producer:?}"
        );
        let h = of_producer[0];
        assert_eq!(
            (h.base_offset, h.last_offset(), h.records_count),
            (1, 1, 0),
            "emptied, at its offsets"
        );
        assert_eq!((h.producer_epoch, h.base_sequence), (0, 1));
        assert!(batch::crc_ok(&batch::empty_copy(&batch(
            &["x"],
            None,
            false,
            1
        ))));
        drop(log);

        // Producer state is read back from the log: a retry of that batch is a duplicate,
        // and the producer goes on from the next sequence.
        let mut log = PartitionLog::open(Some(dir.path()), compacted()).unwrap();
        let retry = log
            .append(batch(&["b"], Some((7, 0, 1)), false, now), now)
            .unwrap();
        assert!(retry.duplicate, "the retry is recognised: {retry:?}");
        assert_eq!(retry.base_offset, 1);
        let gap = log
            .append(batch(&["c"], Some((7, 0, 5)), false, now), now)
            .unwrap_err();
        assert_eq!(
            gap.code, 45,
            "OUT_OF_ORDER_SEQUENCE_NUMBER: {}",
            gap.message
        );
        let next = log
            .append(batch(&["c"], Some((7, 0, 2)), false, now), now)
            .unwrap();
        assert!(!next.duplicate);
        assert_eq!(next.base_offset, 5);
    }

    #[test]
    fn a_marker_goes_once_its_transaction_is_gone_and_it_is_older_than_delete_retention() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let old = now - 10_000;
        let mut log = PartitionLog::open(Some(dir.path()), compacted()).unwrap();
        let p = Some((9, 0, 0));
        // 0: a (txn 1), 1: COMMIT (fresh); 2: b (txn 2), 3: ABORT (old); 4: c (txn 3),
        // 5: COMMIT (old); 6: a again (supersedes txn 1's); 7: z (active segment).
        log.append(batch(&["a"], p, true, old), now).unwrap();
        log.append_marker(9, 0, true, 0, now).unwrap();
        log.append(batch(&["b"], Some((9, 0, 1)), true, old), now)
            .unwrap();
        log.append_marker(9, 0, false, 0, old).unwrap();
        log.append(batch(&["c"], Some((9, 0, 2)), true, old), now)
            .unwrap();
        log.append_marker(9, 0, true, 0, old).unwrap();
        log.append(batch(&["a"], None, false, old), now).unwrap();
        log.append(batch(&["z"], None, false, now), now).unwrap();
        assert_eq!(log.last_stable_offset(), 8);

        let stats = log.clean(now).unwrap();
        assert_eq!(
            stats.removed, 2,
            "txn 1's a (superseded), txn 2's b (aborted)"
        );
        assert_eq!(stats.markers, 1, "only the old ABORT with nothing left");
        let layout: Vec<(i64, bool)> = headers(&log)
            .iter()
            .map(|h| (h.base_offset, h.is_control()))
            .collect();
        assert_eq!(
            layout,
            vec![(1, true), (4, false), (5, true), (6, false), (7, false)],
            "the fresh COMMIT stays though txn 1 is gone; txn 3 keeps its COMMIT"
        );
        drop(log);
        let log = PartitionLog::open(Some(dir.path()), compacted()).unwrap();
        assert_eq!(
            log.last_stable_offset(),
            8,
            "no transaction looks open after a restart"
        );
        assert_eq!(headers(&log).len(), 5);
    }
}
