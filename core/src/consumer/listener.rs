//! Rebalance callbacks.
//!
//! Called on the thread that calls `poll`, in Kafka's order: `on_partitions_revoked` before
//! the consumer rejoins (commit there, through the context), `on_partitions_assigned` after
//! the new assignment arrived, `on_partitions_lost` when membership was lost rather than given
//! up (someone else may already own those partitions: do not commit). Eager and cooperative
//! assignors keep the same contract; with cooperative-sticky only moved partitions appear in
//! `on_partitions_revoked`.
//!
//! Two ways to commit from a listener. `commit_positions_now` / `commit_offsets_now` send the
//! commit and wait for the broker's answer before returning it, as Java's `commitSync` inside
//! `onPartitionsRevoked` and librdkafka's `rd_kafka_commit` in its rebalance callback do. The
//! listener is a synchronous call made from inside the async `poll`, so waiting means blocking
//! the thread `poll` runs on: the commit runs as a task on the runtime and the listener waits
//! for its result, after moving its worker's other tasks away (`block_in_place`). A
//! current-thread runtime cannot do that (its one thread would wait for a task only it can
//! run), so there they fail. `commit_sync` / `commit_offsets` work everywhere: they only record
//! the offsets, which the consumer commits once the listener has returned, logging a failure.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use tokio::runtime::{Handle, RuntimeFlavor};

use super::coordinator::Coordinator;
use super::offset_commit::OffsetAndMetadata;
use crate::error::{KafkaError, Result};
use crate::topic_partition::TopicPartition;

/// What a listener may do while the consumer is rebalancing.
pub struct RebalanceContext<'a> {
    pub(crate) positions: &'a BTreeMap<TopicPartition, (i64, Option<i32>)>,
    /// Offsets recorded by the deferred `commit_sync` / `commit_offsets`, committed by the
    /// consumer when the listener returns (or sent with the next commit made now).
    pub(crate) commits: BTreeMap<TopicPartition, OffsetAndMetadata>,
    pub(crate) seeks: BTreeMap<TopicPartition, i64>,
    /// The consumer's group, or the error its own commits give without one (no `group.id`).
    pub(crate) group: Result<Arc<Coordinator>>,
    /// The partitions come from the group (subscribe), so a commit must carry a generation.
    pub(crate) group_managed: bool,
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

    /// Commits the current positions of `partitions` before the rebalance goes on: recorded
    /// now, sent when the listener returns; a failure is only logged. To learn the outcome,
    /// use [`RebalanceContext::commit_positions_now`].
    pub fn commit_sync(&mut self, partitions: &[TopicPartition]) {
        let offsets = self.offsets_at_positions(partitions);
        self.commits.extend(offsets);
    }

    /// Commits the current positions of `partitions` now and returns the broker's answer (Java's
    /// `commitSync()` inside `onPartitionsRevoked`); a partition without a position is left
    /// out. See [`RebalanceContext::commit_offsets_now`].
    pub fn commit_positions_now(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let offsets = self.offsets_at_positions(partitions);
        self.commit_offsets_now(offsets)
    }

    /// Commits `offsets` now and returns the broker's answer (Java's `commitSync(offsets)`
    /// inside `onPartitionsRevoked`, librdkafka's `rd_kafka_commit` in its rebalance callback):
    /// the listener learns whether the commit held before the partitions move. Offsets recorded
    /// earlier in this call with `commit_sync` / `commit_offsets` go with them, so they cannot
    /// land after these. Blocks the polling thread until the answer comes; on a current-thread
    /// tokio runtime, which that would deadlock, it fails with `IllegalState` (use the deferred
    /// `commit_offsets` there). Without a `group.id` it fails as the consumer's commits do.
    pub fn commit_offsets_now(
        &mut self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        let group = self.group.clone()?;
        // Checked before the deferred offsets are taken: refused here, they stay deferred.
        let runtime = runtime_to_wait_in()?;
        let mut all = std::mem::take(&mut self.commits);
        all.extend(offsets);
        let managed = self.group_managed;
        wait_for(runtime, async move { group.commit(&all, managed).await })
    }

    fn offsets_at_positions(
        &self,
        partitions: &[TopicPartition],
    ) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        partitions
            .iter()
            .filter_map(|tp| {
                let (offset, epoch) = self.positions.get(tp)?;
                Some((
                    tp.clone(),
                    OffsetAndMetadata {
                        offset: *offset,
                        leader_epoch: *epoch,
                        metadata: String::new(),
                    },
                ))
            })
            .collect()
    }

    /// Moves the position of an assigned partition (e.g. to an offset kept outside Kafka, from
    /// `on_partitions_assigned`); applied when the listener returns.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) {
        self.seeks.insert(tp.clone(), offset);
    }

    /// Commits explicit offsets before the rebalance goes on: recorded now, sent when the
    /// listener returns; a failure is only logged. To learn the outcome, use
    /// [`RebalanceContext::commit_offsets_now`].
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

/// The runtime a listener waiting for a commit is inside of: `Some` for a multi-thread one
/// (the waiting thread leaves its worker pool), `None` outside any runtime (not expected, as
/// `poll` calls the listener, but nothing would need moving away then). A current-thread
/// runtime is refused: it drives the consumer's connections on its only thread, the one that
/// would wait, so the commit could never be sent.
fn runtime_to_wait_in() -> Result<Option<Handle>> {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => Ok(Some(h)),
        Ok(_) => Err(KafkaError::IllegalState(
            "a rebalance listener cannot commit and wait for the answer on a current-thread \
             tokio runtime: use the deferred commit_sync / commit_offsets there (or a \
             multi-thread runtime)"
                .into(),
        )),
        Err(_) => Ok(None),
    }
}

/// Runs `commit` to completion from a listener, which is synchronous code inside the async
/// `poll`. It cannot `block_on` there (a nested `Handle::block_on` panics, and `poll`'s task
/// would keep its worker's other tasks from running), so the commit runs as a task of
/// `runtime` while this thread, moved out of the worker pool by `block_in_place`, waits for
/// its result on a channel.
fn wait_for<F>(runtime: Option<Handle>, commit: F) -> Result<()>
where
    F: Future<Output = Result<()>> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawn_on = runtime.clone().unwrap_or_else(crate::runtime::handle);
    spawn_on.spawn(async move {
        let _ = tx.send(commit.await);
    });
    let answer = match runtime {
        Some(_) => tokio::task::block_in_place(|| rx.recv()),
        None => rx.recv(),
    };
    answer.unwrap_or_else(|_| {
        Err(KafkaError::IllegalState(
            "the commit from the rebalance listener was dropped (the runtime is shutting down)"
                .into(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(
        positions: &BTreeMap<TopicPartition, (i64, Option<i32>)>,
        group: Result<Arc<Coordinator>>,
    ) -> RebalanceContext<'_> {
        RebalanceContext {
            positions,
            commits: Default::default(),
            seeks: Default::default(),
            group,
            group_managed: true,
        }
    }

    #[test]
    fn without_a_group_a_commit_now_fails_as_the_consumers_and_keeps_the_deferred_offsets() {
        let tp = TopicPartition::new("t", 0);
        let positions = BTreeMap::from([(tp.clone(), (7, Some(2)))]);
        let no_group = KafkaError::IllegalState("no group.id".into());
        let mut ctx = context(&positions, Err(no_group));
        ctx.commit_sync(std::slice::from_ref(&tp));
        let err = ctx
            .commit_positions_now(std::slice::from_ref(&tp))
            .unwrap_err();
        assert!(
            matches!(&err, KafkaError::IllegalState(m) if m == "no group.id"),
            "{err}"
        );
        assert_eq!(
            ctx.commits.get(&tp).map(|o| (o.offset, o.leader_epoch)),
            Some((7, Some(2)))
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_current_thread_runtime_cannot_wait_for_a_commit() {
        let err = runtime_to_wait_in().unwrap_err();
        assert!(
            matches!(&err, KafkaError::IllegalState(m) if m.contains("current-thread")),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_multi_thread_worker_waits_for_a_task_it_spawned() {
        let runtime = runtime_to_wait_in().unwrap();
        assert!(runtime.is_some());
        // One worker: the wait must hand it over, or the spawned task never runs.
        let answer = wait_for(runtime, async {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            Err(KafkaError::broker(12))
        });
        assert_eq!(answer.unwrap_err().code(), Some(12));
    }
}
