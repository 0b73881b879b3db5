//! Reading a whole partition from its start in bounded chunks: how the coordinators replay
//! `__consumer_offsets` and `__transaction_state` on start without holding a partition in memory.

use bytes::Bytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::batch::BatchHeader;
use super::PartitionLog;

/// Bytes read per step (at least one whole batch, however large).
pub const REPLAY_CHUNK: usize = 1 << 20;

impl PartitionLog {
    /// Calls `f` with every record from the log start to its end, in offset order, reading at
    /// most `chunk` bytes of whole batches at a time (one batch when a batch is larger).
    /// Stops at the first chunk that cannot be read or decoded, and says so.
    pub fn replay(&self, chunk: usize, mut f: impl FnMut(&Record)) -> Result<(), String> {
        let mut offset = self.log_start_offset();
        while offset < self.log_end_offset() {
            let bytes = self
                .read(offset, chunk, true)
                .map_err(|code| format!("reading at offset {offset}: error {code}"))?;
            let Some(next) = next_offset(&bytes) else {
                break;
            };
            let sets = RecordBatchDecoder::decode_all(&mut bytes.clone())
                .map_err(|e| format!("decoding at offset {offset}: {e}"))?;
            for record in sets.iter().flat_map(|s| s.records.iter()) {
                f(record);
            }
            offset = next;
        }
        Ok(())
    }
}

/// The offset after the last whole batch in `bytes`; `None` when there is none.
fn next_offset(bytes: &Bytes) -> Option<i64> {
    let mut position = 0usize;
    let mut next = None;
    while let Some(h) = bytes.get(position..).and_then(BatchHeader::parse) {
        position = position.checked_add(h.total_size())?;
        if position > bytes.len() {
            break;
        }
        next = Some(h.last_offset() + 1);
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{internal_batch, now_ms, LogConfig};

    #[test]
    fn replays_every_record_in_order_a_chunk_at_a_time() {
        let mut log = PartitionLog::open(None, LogConfig::default()).unwrap();
        let now = now_ms();
        for i in 0..50u32 {
            let records = (0..3u32).map(|j| {
                let key = Bytes::from(format!("k{}", i * 3 + j));
                (key, Some(Bytes::from(vec![b'v'; 100])))
            });
            log.append(internal_batch(records, None, now), now).unwrap();
        }
        for chunk in [1, 400, REPLAY_CHUNK] {
            let mut keys = Vec::new();
            let mut offsets = Vec::new();
            log.replay(chunk, |r| {
                keys.push(String::from_utf8(r.key.as_ref().unwrap().to_vec()).unwrap());
                offsets.push(r.offset);
            })
            .unwrap();
            let expected: Vec<String> = (0..150).map(|i| format!("k{i}")).collect();
            assert_eq!(keys, expected, "chunk {chunk}");
            assert_eq!(offsets, (0..150).collect::<Vec<i64>>(), "chunk {chunk}");
        }
    }
}
