//! A partition's transactions: the open ones, which hold back the last stable offset (LSO), and
//! the aborted ones, which read_committed fetches list so consumers drop their records.
//!
//! Aborted transactions are kept as Kafka's `.txnindex` keeps them, one entry per transaction
//! aborted in a segment, written beside the segment that holds its ABORT marker: version
//! (i16, 0), producer id (i64), first offset (i64), last offset (i64, the marker's), and the
//! LSO once the abort completed (i64), 34 bytes big-endian. Both sets are rebuilt from the
//! batches when the log opens, so a crash between a marker and its index entry loses nothing.

use std::collections::HashMap;

use super::control::ControlType;
use super::BatchHeader;

/// One aborted transaction in this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub const SIZE: usize = 34;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    /// Reads one `.txnindex` entry; `None` for an unknown version.
    pub fn decode(b: &[u8; Self::SIZE]) -> Option<AbortedTxn> {
        let at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        (b[0..2] == [0, 0]).then(|| AbortedTxn {
            producer_id: at(2),
            first_offset: at(10),
            last_offset: at(18),
            last_stable_offset: at(26),
        })
    }
}

/// Open and aborted transactions of one partition.
#[derive(Debug, Default)]
pub struct TxnIndex {
    /// Producer id → offset of its open transaction's first batch here.
    open: HashMap<i64, i64>,
    /// Ordered by the marker's offset.
    aborted: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// Tracks a batch as it is appended or replayed; returns the aborted transaction this batch
    /// ended (an ABORT marker of a transaction with data here), for the `.txnindex` file.
    pub fn on_batch(
        &mut self,
        h: &BatchHeader,
        control: Option<ControlType>,
        log_end_offset: i64,
    ) -> Option<AbortedTxn> {
        if !h.is_transactional() || h.producer_id < 0 {
            return None;
        }
        if !h.is_control() {
            self.open.entry(h.producer_id).or_insert(h.base_offset);
            return None;
        }
        // A marker for a producer with no data here (a partition added but never written)
        // ends nothing.
        let first_offset = self.open.remove(&h.producer_id)?;
        if control != Some(ControlType::Abort) {
            return None;
        }
        let aborted = AbortedTxn {
            producer_id: h.producer_id,
            first_offset,
            last_offset: h.last_offset(),
            last_stable_offset: self.last_stable_offset(log_end_offset),
        };
        self.aborted.push(aborted);
        Some(aborted)
    }

    /// The first offset no read_committed consumer may pass yet: the start of the oldest open
    /// transaction, else the log end.
    pub fn last_stable_offset(&self, log_end_offset: i64) -> i64 {
        self.open
            .values()
            .copied()
            .min()
            .unwrap_or(log_end_offset)
            .min(log_end_offset)
    }

    /// The aborted transactions a fetch of `[from, to)` must list: those that end at or after
    /// `from` and start before `to`.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted[start..]
            .iter()
            .filter(|a| a.first_offset < to)
            .copied()
            .collect()
    }

    /// Aborted transactions whose markers lie in `[base, next)` (one segment's `.txnindex`).
    pub fn aborted_in_segment(&self, base: i64, next: i64) -> impl Iterator<Item = &AbortedTxn> {
        self.aborted
            .iter()
            .filter(move |a| a.last_offset >= base && a.last_offset < next)
    }

    /// Forgets aborted transactions wholly below the log start (their segments are gone).
    pub fn drop_below(&mut self, log_start_offset: i64) {
        self.aborted.retain(|a| a.last_offset >= log_start_offset);
    }

    /// Producers with a transaction open in this partition.
    pub fn open_producers(&self) -> impl Iterator<Item = i64> + '_ {
        self.open.keys().copied()
    }

    /// Open transactions as (producer id, first offset), by producer id (a snapshot).
    pub fn open_entries(&self) -> Vec<(i64, i64)> {
        let mut open: Vec<(i64, i64)> = self.open.iter().map(|(p, o)| (*p, *o)).collect();
        open.sort_unstable();
        open
    }

    /// A partition's transactions as a start-up finds them without reading its batches: the
    /// open ones from a snapshot, the aborted ones from the skipped segments' `.txnindex` files
    /// (in offset order).
    pub fn restore(open: Vec<(i64, i64)>, aborted: Vec<AbortedTxn>) -> TxnIndex {
        TxnIndex {
            open: open.into_iter().collect(),
            aborted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, base: i64, count: i32, control: bool) -> BatchHeader {
        BatchHeader {
            partition_leader_epoch: 0,
            base_offset: base,
            length: 0,
            magic: 2,
            crc: 0,
            attributes: 0x10 | if control { 0x20 } else { 0 },
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: if control { -1 } else { 0 },
            records_count: count,
        }
    }

    #[test]
    fn open_transactions_hold_the_lso_and_aborts_are_indexed() {
        let mut t = TxnIndex::default();
        assert_eq!(t.on_batch(&header(1, 0, 2, false), None, 2), None);
        assert_eq!(t.on_batch(&header(2, 2, 1, false), None, 3), None);
        assert_eq!(t.last_stable_offset(3), 0);
        // Producer 1 commits at 3: producer 2's transaction (from 2) still holds the LSO.
        assert_eq!(
            t.on_batch(&header(1, 3, 1, true), Some(ControlType::Commit), 4),
            None
        );
        assert_eq!(t.last_stable_offset(4), 2);
        let aborted = t
            .on_batch(&header(2, 4, 1, true), Some(ControlType::Abort), 5)
            .unwrap();
        assert_eq!(
            aborted,
            AbortedTxn {
                producer_id: 2,
                first_offset: 2,
                last_offset: 4,
                last_stable_offset: 5
            }
        );
        assert_eq!(t.last_stable_offset(5), 5);
        assert_eq!(t.aborted_between(0, 5), vec![aborted]);
        assert_eq!(t.aborted_between(5, 9), vec![]);
        assert_eq!(t.aborted_between(0, 2), vec![]);
        // A marker for a producer that wrote nothing here ends nothing.
        assert_eq!(
            t.on_batch(&header(9, 5, 1, true), Some(ControlType::Abort), 6),
            None
        );
        let bytes = aborted.encode();
        assert_eq!(&bytes[0..2], &[0, 0]);
        assert_eq!(i64::from_be_bytes(bytes[10..18].try_into().unwrap()), 2);
    }
}
