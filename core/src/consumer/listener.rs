//! Rebalance callbacks.
//!
//! Called on the thread that calls `poll`, in Kafka's order: `on_partitions_revoked` before
//! the consumer rejoins (commit there, through the context), `on_partitions_assigned` after
//! the new assignment arrived, `on_partitions_lost` when membership was lost rather than given
//! up (someone else may already own those partitions: do not commit). Eager and cooperative
//! assignors keep the same contract; with cooperative-sticky only moved partitions appear in
//! `on_partitions_revoked`.

use std::collections::BTreeMap;

use super::offset_commit::OffsetAndMetadata;
use crate::topic_partition::TopicPartition;

/// What a listener may do while the consumer is rebalancing.
pub struct RebalanceContext<'a> {
    pub(crate) positions: &'a BTreeMap<TopicPartition, (i64, Option<i32>)>,
    pub(crate) commits: BTreeMap<TopicPartition, OffsetAndMetadata>,
    pub(crate) seeks: BTreeMap<TopicPartition, i64>,
}

impl RebalanceContext<'_> {
    /// The next offset the consumer would return for `tp`.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.positions.get(tp).map(|p| p.0)
    }

    /// The position of every partition the consumer holds now.
    pub fn positions(&self) -> impl Iterator<Item = (&TopicPartition, i64)> {
        self.positions.iter().map(|(tp, p)| (tp, p.0))
    }

    /// Commits the current positions of `partitions` before the rebalance goes on.
    pub fn commit_sync(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some((offset, epoch)) = self.positions.get(tp) {
                self.commits.insert(
                    tp.clone(),
                    OffsetAndMetadata {
                        offset: *offset,
                        leader_epoch: *epoch,
                        metadata: String::new(),
                    },
                );
            }
        }
    }

    /// Moves the position of an assigned partition (e.g. to an offset kept outside Kafka, from
    /// `on_partitions_assigned`); applied when the listener returns.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) {
        self.seeks.insert(tp.clone(), offset);
    }

    /// Commits explicit offsets before the rebalance goes on.
    pub fn commit_offsets(&mut self, offsets: BTreeMap<TopicPartition, OffsetAndMetadata>) {
        self.commits.extend(offsets);
    }
}

/// Rebalance callbacks; every method defaults to doing nothing.
pub trait ConsumerRebalanceListener: Send {
    fn on_partitions_revoked(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        _partitions: &[TopicPartition],
    ) {
    }
    fn on_partitions_assigned(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        _partitions: &[TopicPartition],
    ) {
    }
    /// Defaults to `on_partitions_revoked`, as in the Java client.
    fn on_partitions_lost(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.on_partitions_revoked(ctx, partitions)
    }
}
