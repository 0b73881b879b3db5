//! The idempotent producer's state (KIP-98, KIP-360): the producer id and epoch it writes
//! under, as one state machine, and each partition's sequence numbers.
//!
//! ```text
//!                 request                 InitProducerId answered
//!  Uninitialized ─────────▶ Requesting ─────────────────────────────▶ Ready{id, epoch}
//!        ▲                    ▲     │ failed for good                    │ bump_due: UNKNOWN_PRODUCER_ID,
//!        └────────────────────┼─────┘ (the queued records fail)         │ an out-of-sync OUT_OF_ORDER_SEQUENCE,
//!                             │ request (nothing in flight)             ▼ a batch failed holding sequences
//!                             └──────────────────────────────────── BumpDue{id, epoch}
//! ```
//!
//! Batches are drained only in `Ready`. A bump waits until every in-flight request has
//! answered (nothing new goes out meanwhile, so a steady stream of sends cannot starve it);
//! InitProducerId with the current id and epoch then returns the epoch bumped, and every
//! partition's sequences restart at 0.

use crate::error::KafkaError;

/// A producer id and the epoch it writes under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    pub id: i64,
    pub epoch: i16,
}

impl ProducerIdAndEpoch {
    /// What a batch carries without idempotence (and what InitProducerId asks for a new id).
    pub const NONE: ProducerIdAndEpoch = ProducerIdAndEpoch { id: -1, epoch: -1 };
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProducerIdState {
    /// No id yet, or InitProducerId failed for good (the next drain asks again).
    #[default]
    Uninitialized,
    /// InitProducerId is under way: `current` is the id and epoch to bump (NONE for a first id).
    Requesting { current: ProducerIdAndEpoch },
    /// Batches go out under this id and epoch.
    Ready(ProducerIdAndEpoch),
    /// The broker's sequence state for this producer is not ours: bump the epoch once nothing
    /// is in flight.
    BumpDue(ProducerIdAndEpoch),
}

/// What the sender's loop should do about the producer id before draining.
#[derive(Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Drain and send under this id and epoch.
    Send(ProducerIdAndEpoch),
    /// Wait: an InitProducerId is under way, or a bump waits for in-flight requests.
    Wait,
    /// Send InitProducerId with this id and epoch (NONE: a new id); the state is `Requesting`.
    Request(ProducerIdAndEpoch),
}

impl ProducerIdState {
    /// The id and epoch batches are encoded with (NONE while there is none).
    pub fn current(&self) -> ProducerIdAndEpoch {
        match self {
            ProducerIdState::Ready(p) | ProducerIdState::BumpDue(p) => *p,
            ProducerIdState::Uninitialized | ProducerIdState::Requesting { .. } => {
                ProducerIdAndEpoch::NONE
            }
        }
    }

    /// `Ready` → `BumpDue`: a forgotten producer id, an out-of-sync sequence, or a batch that
    /// failed for good holding sequence numbers the broker still expects.
    pub fn bump_due(&mut self) {
        if let ProducerIdState::Ready(p) = self {
            *self = ProducerIdState::BumpDue(*p);
        }
    }

    /// Decides the loop's step; `in_flight` is the number of Produce requests outstanding.
    pub fn next_step(&mut self, in_flight: usize) -> NextStep {
        match self {
            ProducerIdState::Ready(p) => NextStep::Send(*p),
            ProducerIdState::Requesting { .. } => NextStep::Wait,
            ProducerIdState::BumpDue(_) if in_flight > 0 => NextStep::Wait,
            ProducerIdState::BumpDue(p) => {
                let current = *p;
                *self = ProducerIdState::Requesting { current };
                NextStep::Request(current)
            }
            ProducerIdState::Uninitialized => {
                let current = ProducerIdAndEpoch::NONE;
                *self = ProducerIdState::Requesting { current };
                NextStep::Request(current)
            }
        }
    }

    /// InitProducerId answered: `Requesting` → `Ready`. Returns whether it was a bump (the
    /// partitions' sequences must restart).
    pub fn assigned(&mut self, p: ProducerIdAndEpoch) -> bool {
        let bumped = matches!(self, ProducerIdState::Requesting { current } if current.id >= 0);
        *self = ProducerIdState::Ready(p);
        bumped
    }

    /// InitProducerId failed for good: back to `Uninitialized` (the caller fails the queued
    /// records with `error`; a later send asks again).
    pub fn failed(&mut self, error: &KafkaError) {
        tracing::error!("cannot obtain a producer id: {error}");
        *self = ProducerIdState::Uninitialized;
    }
}

/// One partition's sequence numbers under the current producer id and epoch.
#[derive(Debug, Clone)]
pub struct PartitionSequences {
    /// The base sequence the next new batch takes.
    next: i32,
    /// The last sequence the broker acknowledged (-1: none under this epoch).
    last_acked: i32,
    /// A batch of this epoch was acknowledged. Until then one batch at a time: a broker with
    /// no state for the producer accepts any first sequence, so a second batch could land
    /// before a first one answered with a retriable error.
    acknowledged: bool,
}

impl Default for PartitionSequences {
    fn default() -> Self {
        PartitionSequences {
            next: 0,
            last_acked: -1,
            acknowledged: false,
        }
    }
}

/// Sequence numbers wrap at `i32::MAX` (as Kafka's).
fn add(sequence: i32, n: i32) -> i32 {
    sequence.wrapping_add(n) & i32::MAX
}

impl PartitionSequences {
    /// Gives a new batch of `count` records its base sequence.
    pub fn assign(&mut self, count: i32) -> i32 {
        let base = self.next;
        self.next = add(self.next, count);
        base
    }

    /// The broker acknowledged the batch of `count` records at `base`.
    pub fn acknowledged(&mut self, base: i32, count: i32) {
        self.acknowledged = true;
        if base >= 0 {
            self.last_acked = add(base, count - 1);
        }
    }

    /// Whether another batch may go out while `in_flight` are outstanding.
    pub fn may_send(&self, in_flight: usize) -> bool {
        self.acknowledged || in_flight == 0
    }

    /// Whether `base` is the sequence the broker expects next (every batch before it
    /// acknowledged). OUT_OF_ORDER_SEQUENCE for such a batch means the broker's state is not
    /// ours; for any other, an earlier batch is still on its way and a retry in order
    /// resolves it (re-sequencing a batch whose outcome is unknown would duplicate it).
    pub fn is_next(&self, base: i32) -> bool {
        add(self.last_acked, 1) == base
    }

    /// After an epoch bump every partition starts again at 0.
    pub fn reset(&mut self) {
        *self = PartitionSequences::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ProducerIdAndEpoch = ProducerIdAndEpoch { id: 7, epoch: 0 };

    #[test]
    fn first_id_then_a_bump_that_waits_for_in_flight_requests() {
        let mut s = ProducerIdState::default();
        assert_eq!(s.next_step(0), NextStep::Request(ProducerIdAndEpoch::NONE));
        assert_eq!(
            s.next_step(0),
            NextStep::Wait,
            "one InitProducerId at a time"
        );
        assert!(!s.assigned(P), "a first id is not a bump");
        assert_eq!(s.next_step(3), NextStep::Send(P));
        s.bump_due();
        assert_eq!(s.current(), P, "in-flight batches keep their id");
        assert_eq!(
            s.next_step(2),
            NextStep::Wait,
            "nothing new while requests are out"
        );
        assert_eq!(
            s.next_step(0),
            NextStep::Request(P),
            "bump the current epoch"
        );
        let bumped = ProducerIdAndEpoch { id: 7, epoch: 1 };
        assert!(s.assigned(bumped), "sequences restart");
        assert_eq!(s.next_step(0), NextStep::Send(bumped));
    }

    #[test]
    fn a_failed_request_starts_over() {
        let mut s = ProducerIdState::default();
        assert_eq!(s.next_step(0), NextStep::Request(ProducerIdAndEpoch::NONE));
        s.failed(&KafkaError::broker(53));
        assert_eq!(s, ProducerIdState::Uninitialized);
        s.bump_due();
        assert_eq!(s, ProducerIdState::Uninitialized, "no id, nothing to bump");
    }

    #[test]
    fn sequences_assign_acknowledge_wrap_and_reset() {
        let mut q = PartitionSequences::default();
        assert!(q.may_send(0));
        assert_eq!(q.assign(5), 0);
        assert!(
            !q.may_send(1),
            "one batch at a time until the first is acknowledged"
        );
        assert_eq!(q.assign(3), 5);
        assert!(q.is_next(0) && !q.is_next(5));
        q.acknowledged(0, 5);
        assert!(q.may_send(4) && q.is_next(5));
        let mut w = PartitionSequences {
            next: i32::MAX - 1,
            ..PartitionSequences::default()
        };
        assert_eq!(w.assign(4), i32::MAX - 1);
        assert_eq!(w.assign(1), 2, "wraps at i32::MAX");
        w.acknowledged(i32::MAX - 1, 4);
        assert!(w.is_next(2));
        q.reset();
        assert_eq!(q.assign(1), 0);
        assert!(!q.may_send(1));
    }
}
