//! One transactional id's state, with Kafka's states and their numbering in
//! `__transaction_state`.
//!
//! ```text
//! Empty ──AddPartitions/AddOffsets──▶ Ongoing ──EndTxn──▶ PrepareCommit ──markers──▶ CompleteCommit
//!   ▲                                    │                PrepareAbort  ──markers──▶ CompleteAbort
//!   └──────── InitProducerId (epoch bump; an Ongoing transaction is aborted first) ◀─┘
//! ```
//! Prepare states are written before the markers and Complete states after them, so a restart
//! that finds a Prepare state finishes the job.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum TxnStatus {
    Empty = 0,
    Ongoing = 1,
    PrepareCommit = 2,
    PrepareAbort = 3,
    CompleteCommit = 4,
    CompleteAbort = 5,
    Dead = 6,
    PrepareEpochFence = 7,
}

impl TxnStatus {
    pub fn from_i8(v: i8) -> Option<TxnStatus> {
        use TxnStatus::*;
        [
            Empty,
            Ongoing,
            PrepareCommit,
            PrepareAbort,
            CompleteCommit,
            CompleteAbort,
            Dead,
            PrepareEpochFence,
        ]
        .into_iter()
        .find(|s| *s as i8 == v)
    }

    /// The name DescribeTransactions and ListTransactions use.
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
            TxnStatus::Dead => "Dead",
            TxnStatus::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Whether a new transaction may start (no transaction open or ending).
    pub fn is_idle(self) -> bool {
        matches!(
            self,
            TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
        )
    }
}

/// What the coordinator keeps per transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub status: TxnStatus,
    /// Partitions in the open transaction (data partitions and `__consumer_offsets` ones).
    pub partitions: BTreeMap<String, BTreeSet<i32>>,
    /// When the open transaction started (its first partition), for `transaction.timeout.ms`.
    pub start_ms: i64,
    pub last_update_ms: i64,
}

impl TxnMetadata {
    pub fn new(
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        timeout_ms: i32,
        now_ms: i64,
    ) -> TxnMetadata {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            producer_epoch,
            timeout_ms,
            status: TxnStatus::Empty,
            partitions: BTreeMap::new(),
            start_ms: -1,
            last_update_ms: now_ms,
        }
    }

    /// Whether the open transaction has outlived its timeout.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.status == TxnStatus::Ongoing && now_ms > self.start_ms + self.timeout_ms as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_keep_kafkas_numbers_and_names() {
        for v in 0..8 {
            assert_eq!(TxnStatus::from_i8(v).unwrap() as i8, v);
        }
        assert_eq!(TxnStatus::from_i8(8), None);
        assert_eq!(TxnStatus::PrepareCommit as i8, 2);
        assert_eq!(TxnStatus::CompleteAbort.name(), "CompleteAbort");
        assert!(TxnStatus::CompleteCommit.is_idle() && !TxnStatus::Ongoing.is_idle());
    }

    #[test]
    fn only_an_ongoing_transaction_expires() {
        let mut m = TxnMetadata::new("t", 1, 0, 1_000, 0);
        m.start_ms = 100;
        assert!(!m.expired(5_000));
        m.status = TxnStatus::Ongoing;
        assert!(!m.expired(1_100) && m.expired(1_101));
    }
}
