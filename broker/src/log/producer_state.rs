//! Idempotent-producer state of one partition: who wrote what, so retries are not appended twice.
//!
//! Per producer id the log keeps the epoch and the sequence ranges of the last five batches
//! (the most a producer may have in flight), as Kafka's ProducerStateManager does. A batch
//! matching a cached range is a retry and is acknowledged with its original offsets.

use std::collections::{HashMap, VecDeque};

use super::batch::BatchHeader;
use super::AppendError;

/// How many batches per producer are remembered (= max in-flight requests with idempotence).
const CACHED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CachedBatch {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
}

/// The verdict on an incoming batch.
#[derive(Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// Already in the log at these offsets: acknowledge without appending.
    Duplicate { first_offset: i64, last_offset: i64 },
}

#[derive(Debug, Default)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    max_producer_id: i64,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerState {
    /// Checks an idempotent batch (producer id >= 0) against what this partition has seen.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, AppendError> {
        let err = |code: i16, message: String| Err(AppendError { code, message });
        if h.base_sequence < 0 {
            return err(
                87,
                format!(
                    "producer {} sent a batch without a sequence number",
                    h.producer_id
                ),
            );
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state aged out with retention): any sequence starts it.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return err(
                47,
                format!(
                    "producer {} epoch {} is older than current epoch {}",
                    h.producer_id, h.producer_epoch, entry.epoch
                ),
            );
        }
        if h.producer_epoch > entry.epoch {
            if h.base_sequence != 0 {
                return err(
                    45,
                    format!(
                        "producer {} new epoch {} must start at sequence 0, got {}",
                        h.producer_id, h.producer_epoch, h.base_sequence
                    ),
                );
            }
            return Ok(SequenceCheck::Append);
        }
        let last_seq = h.last_sequence();
        if let Some(b) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate {
                first_offset: b.first_offset,
                last_offset: b.last_offset,
            });
        }
        let expected = entry.batches.back().map_or(0, |b| next_seq(b.last_seq));
        if h.base_sequence != expected {
            return err(
                45,
                format!(
                    "producer {} out of order sequence: expected {expected}, got {} (last batches here: {})",
                    h.producer_id,
                    h.base_sequence,
                    entry
                        .batches
                        .iter()
                        .map(|b| format!("{}..={} at {}", b.first_seq, b.last_seq, b.first_offset))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        Ok(SequenceCheck::Append)
    }

    /// Remembers a batch that was appended (or found while replaying the log).
    pub fn record(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        self.max_producer_id = self.max_producer_id.max(h.producer_id);
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if h.base_sequence < 0 {
            return;
        }
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(CachedBatch {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
    }

    /// The epoch this partition last saw from `producer_id`.
    pub fn epoch_of(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|e| e.epoch)
    }

    /// The last offset of the latest batch this partition holds from `producer_id`.
    pub fn last_offset(&self, producer_id: i64) -> Option<i64> {
        let entry = self.producers.get(&producer_id)?;
        entry.batches.back().map(|b| b.last_offset)
    }

    pub fn max_producer_id(&self) -> i64 {
        self.max_producer_id
    }

    /// Appends this state to `out`, for a snapshot (`snapshot.rs` has the layout): the largest
    /// producer id, then each producer's id, epoch and cached batches, by producer id.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.max_producer_id.to_be_bytes());
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        out.extend_from_slice(&(ids.len() as i32).to_be_bytes());
        for id in ids {
            let entry = &self.producers[id];
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&entry.epoch.to_be_bytes());
            out.extend_from_slice(&(entry.batches.len() as i32).to_be_bytes());
            for b in &entry.batches {
                out.extend_from_slice(&b.first_seq.to_be_bytes());
                out.extend_from_slice(&b.last_seq.to_be_bytes());
                out.extend_from_slice(&b.first_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
    }

    /// Reads what [`encode`](Self::encode) wrote; `None` when the bytes end early or hold more
    /// batches per producer than are cached.
    pub fn decode(r: &mut super::snapshot::Reader) -> Option<ProducerState> {
        let mut state = ProducerState {
            max_producer_id: r.i64()?,
            ..ProducerState::default()
        };
        for _ in 0..r.count()? {
            let id = r.i64()?;
            let mut entry = ProducerEntry {
                epoch: r.i16()?,
                batches: VecDeque::new(),
            };
            let batches = r.count()?;
            if batches > CACHED_BATCHES {
                return None;
            }
            for _ in 0..batches {
                entry.batches.push_back(CachedBatch {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                });
            }
            state.producers.insert(id, entry);
        }
        Some(state)
    }
}
