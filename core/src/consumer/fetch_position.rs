//! Where each assigned partition reads from: its fetch position as a state machine (the Java
//! client keeps these states in `SubscriptionState`, one `TopicPartitionState` per partition).
//!
//! ```text
//!  assign ─▶ AwaitingCommittedOffset ─── committed offset (OffsetFetch) ───┐
//!               │ none committed                                           ▼
//!               ▼                                                   Fetching{position}
//!            AwaitingReset{strategy} ─── ListOffsets by the strategy ─▶   │        ▲
//!               ▲                                                   pause │        │ resume
//!               │                                                         ▼        │
//!               │                                                   Paused{position}
//!               └── the leader answers OFFSET_OUT_OF_RANGE (Fetching or Paused)
//!  seek (the application's): any state ─▶ Fetching at the offset, or Paused when paused
//! ```
//!
//! A partition without a committed offset and with `auto.offset.reset=none` stays
//! `AwaitingCommittedOffset` and `poll` fails naming it, on every call (the committed offset is
//! looked up again each time) until the application seeks. A position the leader finds out of
//! range is reset by `auto.offset.reset` only, never again from the committed offset (which may
//! be the very offset that fell below the log start); with `none` it stays `AwaitingReset` and
//! `poll` fails naming it until a seek. A pause that comes before the position is known is
//! kept in the awaiting states: the position is still initialised, but the partition starts
//! `Paused`.

use std::collections::VecDeque;

use kafka_protocol::error::ResponseError;

use super::config::OffsetReset;
use crate::error::{error_name, KafkaError, Result};
use crate::record::ConsumerRecordData;
use crate::topic_partition::TopicPartition;

/// Why a partition awaits a reset by `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetCause {
    /// The group has no committed offset for it (or there is no group).
    NoCommittedOffset,
    /// The leader answered OFFSET_OUT_OF_RANGE for this fetch offset.
    OutOfRange { offset: i64 },
}

/// A partition's fetch position (Java's `FetchStates` plus the paused flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchState {
    /// Just assigned: the position comes from the group's committed offset. `paused`: the
    /// application paused it already; it starts `Paused` once positioned.
    AwaitingCommittedOffset { paused: bool },
    /// The position comes from ListOffsets by `strategy` (`auto.offset.reset`); with
    /// [`OffsetReset::None`] only a seek moves it on.
    AwaitingReset {
        strategy: OffsetReset,
        cause: ResetCause,
        paused: bool,
    },
    /// Positioned: fetched and returned by `poll` from `position` (the next offset to return).
    Fetching { position: i64 },
    /// Positioned but paused by the application: no fetches go out, nothing is returned.
    Paused { position: i64 },
}

impl Default for FetchState {
    fn default() -> Self {
        FetchState::AwaitingCommittedOffset { paused: false }
    }
}

impl FetchState {
    /// The next offset `poll` returns, once positioned.
    pub fn position(&self) -> Option<i64> {
        match *self {
            FetchState::Fetching { position } | FetchState::Paused { position } => Some(position),
            _ => None,
        }
    }

    pub fn is_paused(&self) -> bool {
        match *self {
            FetchState::AwaitingCommittedOffset { paused }
            | FetchState::AwaitingReset { paused, .. } => paused,
            FetchState::Paused { .. } => true,
            FetchState::Fetching { .. } => false,
        }
    }

    fn positioned(position: i64, paused: bool) -> FetchState {
        if paused {
            FetchState::Paused { position }
        } else {
            FetchState::Fetching { position }
        }
    }

    /// Any state → `Fetching` (or `Paused`) at `offset`: a committed offset, a reset's offset or
    /// the application's seek.
    pub fn seek(&mut self, offset: i64) {
        *self = FetchState::positioned(offset, self.is_paused());
    }

    /// `AwaitingCommittedOffset` → `AwaitingReset` when the group has no committed offset.
    /// With `none` the state stays and the error names the partition (Java's
    /// NoOffsetForPartitionException).
    pub fn no_committed_offset(
        &mut self,
        strategy: OffsetReset,
        tp: &TopicPartition,
    ) -> Result<()> {
        let FetchState::AwaitingCommittedOffset { paused } = *self else {
            return Ok(());
        };
        if strategy == OffsetReset::None {
            return Err(no_reset_policy(tp, ResetCause::NoCommittedOffset));
        }
        *self = FetchState::AwaitingReset {
            strategy,
            cause: ResetCause::NoCommittedOffset,
            paused,
        };
        Ok(())
    }

    /// `Fetching` / `Paused` → `AwaitingReset` when the leader answers OFFSET_OUT_OF_RANGE for
    /// `offset`; other states have no fetch out, so they stay.
    pub fn out_of_range(&mut self, offset: i64, strategy: OffsetReset) {
        if self.position().is_some() {
            *self = FetchState::AwaitingReset {
                strategy,
                cause: ResetCause::OutOfRange { offset },
                paused: self.is_paused(),
            };
        }
    }

    /// The ListOffsets timestamp spec that resets an `AwaitingReset` position (-2 earliest, -1
    /// latest); an error naming the partition for `none`; `None` in other states.
    pub fn reset_timestamp(&self, tp: &TopicPartition) -> Option<Result<i64>> {
        let FetchState::AwaitingReset {
            strategy, cause, ..
        } = *self
        else {
            return None;
        };
        Some(match strategy {
            OffsetReset::Earliest => Ok(-2),
            OffsetReset::Latest => Ok(-1),
            OffsetReset::None => Err(no_reset_policy(tp, cause)),
        })
    }

    /// `Fetching` ↔ `Paused`; an awaiting state remembers the pause for when it is positioned.
    pub fn set_paused(&mut self, pause: bool) {
        *self = match *self {
            FetchState::AwaitingCommittedOffset { .. } => {
                FetchState::AwaitingCommittedOffset { paused: pause }
            }
            FetchState::AwaitingReset {
                strategy, cause, ..
            } => FetchState::AwaitingReset {
                strategy,
                cause,
                paused: pause,
            },
            FetchState::Fetching { position } | FetchState::Paused { position } => {
                FetchState::positioned(position, pause)
            }
        };
    }
}

/// OFFSET_OUT_OF_RANGE naming the partition: no position and `auto.offset.reset=none`.
fn no_reset_policy(tp: &TopicPartition, cause: ResetCause) -> KafkaError {
    let code = ResponseError::OffsetOutOfRange.code();
    let message = match cause {
        ResetCause::OutOfRange { offset } => {
            format!("fetch position {offset} is out of range and auto.offset.reset=none")
        }
        ResetCause::NoCommittedOffset => "no committed offset and auto.offset.reset=none".into(),
    };
    KafkaError::Broker {
        code,
        name: error_name(code),
        topic: Some(tp.topic.to_string()),
        partition: Some(tp.partition),
        message: Some(message),
    }
}

/// One assigned partition: its fetch state, and the records fetched ahead of its position.
#[derive(Debug, Default)]
pub(crate) struct TopicPartitionState {
    pub state: FetchState,
    /// The next offset to request: ahead of the position while records are buffered.
    pub fetch_offset: i64,
    /// Bumped by seeks and resets; fetch answers for older epochs are dropped.
    pub epoch: u64,
    /// Fetched, not yet returned by `poll`; always empty when not positioned.
    pub buffered: VecDeque<ConsumerRecordData>,
    /// The leader epoch of the last record returned (committed with the offset).
    pub last_leader_epoch: Option<i32>,
    pub high_watermark: i64,
    /// A fetch response reported `high_watermark` (before one did, it is unknown).
    pub high_watermark_known: bool,
}

impl TopicPartitionState {
    pub fn position(&self) -> Option<i64> {
        self.state.position()
    }

    /// Positions the partition at `offset`, dropping what was fetched for the old position.
    pub fn seek(&mut self, offset: i64) {
        self.state.seek(offset);
        self.fetch_offset = offset;
        self.buffered.clear();
        self.epoch += 1;
    }

    /// The leader answered OFFSET_OUT_OF_RANGE for `offset`: await a reset by `strategy`.
    pub fn out_of_range(&mut self, offset: i64, strategy: OffsetReset) {
        self.state.out_of_range(offset, strategy);
        self.buffered.clear();
        self.epoch += 1;
    }

    /// Positioned, not paused, nothing buffered: the next fetch may go out.
    pub fn fetchable(&self) -> bool {
        matches!(self.state, FetchState::Fetching { .. }) && self.buffered.is_empty()
    }

    /// Records `poll` may return now (not paused).
    pub fn has_records(&self) -> bool {
        matches!(self.state, FetchState::Fetching { .. }) && !self.buffered.is_empty()
    }

    /// Takes the next buffered record, moving the position past it (`Fetching` only).
    pub fn take(&mut self) -> Option<ConsumerRecordData> {
        let FetchState::Fetching { position } = &mut self.state else {
            return None;
        };
        let r = self.buffered.pop_front()?;
        *position = r.offset + 1;
        self.last_leader_epoch = Some(r.leader_epoch).filter(|e| *e >= 0);
        Some(r)
    }

    /// Puts a taken record back at the head of the buffer, the position back on it.
    pub fn untake(&mut self, r: ConsumerRecordData) {
        if let FetchState::Fetching { position } | FetchState::Paused { position } = &mut self.state
        {
            *position = r.offset;
            self.buffered.push_front(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn reset(strategy: OffsetReset, cause: ResetCause, paused: bool) -> FetchState {
        FetchState::AwaitingReset {
            strategy,
            cause,
            paused,
        }
    }

    #[test]
    fn a_new_partition_awaits_its_committed_offset() {
        let s = FetchState::default();
        assert_eq!(s, FetchState::AwaitingCommittedOffset { paused: false });
        assert_eq!(s.position(), None);
        assert!(s.reset_timestamp(&tp()).is_none());
    }

    #[test]
    fn a_committed_offset_starts_fetching() {
        let mut s = FetchState::default();
        s.seek(7);
        assert_eq!(s, FetchState::Fetching { position: 7 });
        assert_eq!(s.position(), Some(7));
    }

    #[test]
    fn no_committed_offset_awaits_a_reset_by_the_strategy() {
        for (strategy, spec) in [(OffsetReset::Earliest, -2), (OffsetReset::Latest, -1)] {
            let mut s = FetchState::default();
            s.no_committed_offset(strategy, &tp()).unwrap();
            assert_eq!(s, reset(strategy, ResetCause::NoCommittedOffset, false));
            assert_eq!(s.reset_timestamp(&tp()).unwrap().unwrap(), spec);
            s.seek(3);
            assert_eq!(s, FetchState::Fetching { position: 3 });
        }
    }

    #[test]
    fn no_committed_offset_with_none_fails_and_keeps_awaiting_the_commit() {
        let mut s = FetchState::default();
        let e = s.no_committed_offset(OffsetReset::None, &tp()).unwrap_err();
        assert_eq!(e.code(), Some(1));
        assert!(e.to_string().contains("no committed offset"), "{e}");
        assert_eq!(s, FetchState::AwaitingCommittedOffset { paused: false });
    }

    #[test]
    fn out_of_range_awaits_a_reset_never_the_committed_offset() {
        let mut s = FetchState::Fetching { position: 100 };
        s.out_of_range(100, OffsetReset::Earliest);
        let cause = ResetCause::OutOfRange { offset: 100 };
        assert_eq!(s, reset(OffsetReset::Earliest, cause, false));
        assert_eq!(s.position(), None);
        // Not a partition awaiting its commit: the commit may be what fell out of range.
        s.no_committed_offset(OffsetReset::Earliest, &tp()).unwrap();
        assert_eq!(s, reset(OffsetReset::Earliest, cause, false));
        assert_eq!(s.reset_timestamp(&tp()).unwrap().unwrap(), -2);
        s.seek(6);
        assert_eq!(s, FetchState::Fetching { position: 6 });
    }

    #[test]
    fn out_of_range_with_none_fails_naming_the_offset_until_a_seek() {
        let mut s = FetchState::Fetching { position: 100 };
        s.out_of_range(100, OffsetReset::None);
        for _ in 0..2 {
            let e = s.reset_timestamp(&tp()).unwrap().unwrap_err();
            assert_eq!(e.code(), Some(1));
            assert!(e.to_string().contains("fetch position 100"), "{e}");
        }
        s.seek(8);
        assert_eq!(s, FetchState::Fetching { position: 8 });
    }

    #[test]
    fn out_of_range_without_a_position_changes_nothing() {
        let mut s = FetchState::default();
        s.out_of_range(5, OffsetReset::Latest);
        assert_eq!(s, FetchState::default());
    }

    #[test]
    fn pause_and_resume_keep_the_position() {
        let mut s = FetchState::Fetching { position: 4 };
        s.set_paused(true);
        assert_eq!(s, FetchState::Paused { position: 4 });
        s.seek(9);
        assert_eq!(
            s,
            FetchState::Paused { position: 9 },
            "a seek keeps the pause"
        );
        s.set_paused(false);
        assert_eq!(s, FetchState::Fetching { position: 9 });
    }

    #[test]
    fn a_pause_before_the_position_is_kept_until_positioned() {
        let mut s = FetchState::default();
        s.set_paused(true);
        s.no_committed_offset(OffsetReset::Latest, &tp()).unwrap();
        assert_eq!(
            s,
            reset(OffsetReset::Latest, ResetCause::NoCommittedOffset, true)
        );
        s.seek(10);
        assert_eq!(s, FetchState::Paused { position: 10 });
        s.out_of_range(10, OffsetReset::Latest);
        assert!(s.is_paused(), "out of range while paused stays paused");
    }

    fn record(offset: i64) -> ConsumerRecordData {
        ConsumerRecordData {
            offset,
            timestamp: 0,
            log_append_time: false,
            key: None,
            value: None,
            headers: vec![],
            leader_epoch: 3,
        }
    }

    #[test]
    fn taking_records_moves_the_position_and_a_seek_drops_the_buffer() {
        let mut p = TopicPartitionState::default();
        assert!(!p.fetchable(), "no position yet");
        p.seek(5);
        assert!(p.fetchable());
        let epoch = p.epoch;
        p.buffered.extend([record(5), record(6)]);
        p.fetch_offset = 7;
        assert!(p.has_records() && !p.fetchable());
        let r = p.take().unwrap();
        assert_eq!((r.offset, p.position()), (5, Some(6)));
        assert_eq!(p.last_leader_epoch, Some(3));
        p.untake(r);
        assert_eq!(p.position(), Some(5));
        p.state.set_paused(true);
        assert!(
            !p.has_records() && p.take().is_none(),
            "paused returns nothing"
        );
        p.state.set_paused(false);
        p.out_of_range(7, OffsetReset::Earliest);
        assert!(p.buffered.is_empty() && p.epoch > epoch);
        p.seek(0);
        assert_eq!((p.fetch_offset, p.position()), (0, Some(0)));
    }
}
