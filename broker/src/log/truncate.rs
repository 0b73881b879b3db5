//! Truncation: a follower cutting its log back to where its leader's diverges (after an
//! OffsetForLeaderEpoch answer), so that records only a failed leader held (never
//! acknowledged to an acks=all producer, never below the high watermark) are gone before it
//! replicates from the new leader.

use std::io;

use super::producer_state::ProducerState;
use super::txn_index::TxnIndex;
use super::PartitionLog;

impl PartitionLog {
    /// Removes every batch from the one holding `offset` on (never below the log start); the
    /// producer state and transactions are rebuilt from the batches kept, the leader epoch
    /// cache and the high watermark cut to the new end. Whether anything was removed.
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<bool> {
        if offset >= self.log_end_offset() {
            return Ok(false);
        }
        let offset = offset.max(self.log_start_offset);
        while self.segments.len() > 1
            && self.segments.last().expect("never empty").base_offset >= offset
        {
            self.segments.pop().expect("never empty").delete()?;
        }
        self.active().truncate_to_offset(offset)?;
        let mut producers = ProducerState::default();
        let mut txns = TxnIndex::default();
        for seg in &self.segments {
            seg.replay(&mut |h, marker| {
                producers.record(h);
                txns.on_batch(h, marker, h.last_offset() + 1);
            })?;
        }
        txns.drop_below(self.log_start_offset);
        self.producers = producers;
        self.txns = txns;
        let end = self.log_end_offset();
        let last = self.segments.last().expect("never empty");
        last.rewrite_txn_index(
            self.txns
                .aborted_in_segment(last.base_offset, last.next_offset),
        )?;
        self.epochs.truncate_from_end(end);
        self.save_epochs()?;
        // A producer-state snapshot of the old end describes records that are gone.
        if let (Some(dir), Some(at)) = (&self.dir, self.snapshot_at_end) {
            if at > end {
                let _ = std::fs::remove_file(super::snapshot::path(dir, at));
            }
        }
        self.snapshot_at_end = None;
        self.recovery_point = self.recovery_point.min(end);
        self.cleaned_up_to = self.cleaned_up_to.min(end);
        self.high_watermark = self.high_watermark.map(|hw| hw.min(end));
        tracing::info!(offset = end, "log truncated");
        Ok(true)
    }
}

impl PartitionLog {
    /// Empties the log and starts it at `offset`: a follower whose log ends below its
    /// leader's log start (the leader deleted or expired what the follower lacks) holds nothing
    /// it could continue from, and replicates from the leader's log start on, as Kafka's
    /// follower does after OFFSET_OUT_OF_RANGE.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> io::Result<()> {
        let now = super::now_ms();
        for segment in std::mem::take(&mut self.segments) {
            segment.delete()?;
        }
        self.segments.push(super::segment::Segment::create(
            self.dir.as_deref(),
            offset,
            self.config.index_interval_bytes,
            now,
        )?);
        self.log_start_offset = offset;
        if let Some(dir) = &self.dir {
            crate::durable::replace_file(
                &dir.join(super::LOG_START_FILE),
                offset.to_string().as_bytes(),
            )?;
        }
        self.producers = ProducerState::default();
        self.txns = TxnIndex::default();
        self.epochs = super::leader_epoch::EpochCache::default();
        self.save_epochs()?;
        if let (Some(dir), Some(at)) = (&self.dir, self.snapshot_at_end) {
            let _ = std::fs::remove_file(super::snapshot::path(dir, at));
        }
        self.snapshot_at_end = None;
        self.recovery_point = offset;
        self.first_unflushed_ms = None;
        self.cleaned_up_to = offset;
        self.high_watermark = self.high_watermark.map(|_| offset);
        tracing::info!(offset, "log emptied to start at the leader's log start");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::log::batch::tests::batch;
    use crate::log::{now_ms, LogConfig, PartitionLog};

    fn small_segments() -> LogConfig {
        LogConfig {
            segment_bytes: 300,
            ..LogConfig::default()
        }
    }

    #[test]
    fn truncation_drops_the_tail_and_its_producer_state_across_segments_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        {
            let mut log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
            log.become_leader(1).unwrap();
            for i in 0..4 {
                log.append(batch(2, Some((7, 0, i * 2)), now), now).unwrap();
            }
            log.become_leader(3).unwrap();
            for i in 4..8 {
                log.append(batch(2, Some((7, 0, i * 2)), now), now).unwrap();
            }
            assert_eq!(log.log_end_offset(), 16);
            assert!(log.segment_count() > 2, "the tail spans segments");
            assert_eq!(log.end_offset_for_epoch(1), (1, 8));
            // Offset 9 is inside a batch: the whole batch goes.
            assert!(log.truncate_to(9).unwrap());
            assert_eq!(log.log_end_offset(), 8);
            assert_eq!(log.end_offset_for_epoch(1), (1, 8));
            assert_eq!(log.latest_epoch(), Some(1));
            // The producer's next sequence is the one after the kept records again.
            let again = log.append(batch(2, Some((7, 0, 8)), now), now).unwrap();
            assert_eq!((again.base_offset, again.duplicate), (8, false));
            assert!(!log.truncate_to(10).unwrap(), "nothing past the end");
        }
        let log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
        assert_eq!(log.log_end_offset(), 10);
        assert_eq!(
            log.latest_epoch(),
            Some(3),
            "epoch 3 appended offset 8 again"
        );
        assert_eq!(log.end_offset_for_epoch(1), (1, 8));
        let bytes = log.read(0, 1 << 20, true).unwrap();
        assert!(!bytes.is_empty());
    }

    #[test]
    fn a_log_emptied_to_start_later_takes_appends_from_there_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        {
            let mut log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
            for _ in 0..4 {
                log.append(batch(2, None, now), now).unwrap();
            }
            log.truncate_fully_and_start_at(40).unwrap();
            assert_eq!((log.log_start_offset(), log.log_end_offset()), (40, 40));
            assert_eq!(log.segment_count(), 1);
        }
        let mut log = PartitionLog::open(Some(dir.path()), small_segments()).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (40, 40));
        assert_eq!(
            log.append(batch(1, None, now), now).unwrap().base_offset,
            40
        );
    }

    #[test]
    fn an_in_memory_log_truncates_to_its_start() {
        let now = now_ms();
        let mut log = PartitionLog::open(None, LogConfig::default()).unwrap();
        log.append(batch(3, None, now), now).unwrap();
        assert!(log.truncate_to(0).unwrap());
        assert_eq!(log.log_end_offset(), 0);
        assert_eq!(log.append(batch(1, None, now), now).unwrap().base_offset, 0);
    }
}
