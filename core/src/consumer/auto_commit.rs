//! `enable.auto.commit`: the positions are committed from `poll` every
//! `auto.commit.interval.ms`, before partitions are revoked (eager rebalance, cooperative
//! revocation, unsubscribe, close), and on close of a consumer with assigned partitions. An
//! auto commit takes its turn behind the commits made before it; a failure is logged, not
//! returned (as in Java).

use super::offset_commit::to_offsets;
use super::{KafkaConsumer, State};
use crate::topic_partition::TopicPartition;
use tokio::time::Instant;

impl<K: Send + 'static, V: Send + 'static> KafkaConsumer<K, V> {
    /// Commits the positions when `auto.commit.interval.ms` has passed since the last time.
    pub(super) async fn maybe_auto_commit(&self, st: &mut State) {
        if self.inner.config.enable_auto_commit
            && st.last_auto_commit.elapsed() >= self.inner.config.auto_commit_interval
        {
            self.auto_commit_now(st, None).await;
        }
    }

    /// Commits the positions (of `only`, when given) now, if auto commit is on.
    pub(super) async fn auto_commit_now(&self, st: &mut State, only: Option<&[TopicPartition]>) {
        if !self.inner.config.enable_auto_commit || st.skip_auto_commit {
            return;
        }
        st.last_auto_commit = Instant::now();
        let Some(c) = &self.inner.coordinator else {
            return;
        };
        let offsets = to_offsets(&st.fetcher.positions(), only);
        if let Err(e) = c.commit(&offsets, st.subscription.group_managed()).await {
            tracing::warn!("auto commit failed: {e}");
        }
    }
}
