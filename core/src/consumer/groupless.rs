//! `subscribe` without a `group.id` (kafka-python's behaviour when `group_id` is None): no
//! group, no coordinator, no commits. The consumer reads every partition of the subscribed
//! topics (or of the topics a pattern matches), which `poll` resolves from the cluster's
//! metadata when the subscription starts and again every few seconds, so partitions added
//! later (or topics created later for a pattern) are picked up. Positions start by
//! `auto.offset.reset`, since there is no committed offset to start from.
//!
//! The rebalance listener, when given, hears about these changes as about a group's:
//! `on_partitions_revoked` for partitions that went away, `on_partitions_assigned` for new ones.
//! Tested in `tests/tests/consumer_api.rs` (both brokers) and by the Python package's suite.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::MetadataRequest;
use tokio::time::Instant;

use super::{KafkaConsumer, State, Subscription};
use crate::error::Result;
use crate::topic_partition::TopicPartition;

/// How often the partitions are resolved again once every subscribed topic was found.
const RECHECK: Duration = Duration::from_secs(3);
/// How soon they are resolved again while a subscribed topic has no partitions yet (it may be
/// being created).
const RECHECK_INCOMPLETE: Duration = Duration::from_millis(200);

impl<K: Send + 'static, V: Send + 'static> KafkaConsumer<K, V> {
    /// Assigns every partition of the subscription when due; a no-op for an assignment made
    /// by `assign` or when nothing is subscribed.
    pub(super) async fn maybe_assign_all(&self, st: &mut State) -> Result<()> {
        if !st.subscription.group_managed() {
            return Ok(());
        }
        if st.groupless_due.is_some_and(|due| Instant::now() < due) {
            return Ok(());
        }
        let (found, complete) = self.resolve_partitions(&st.subscription).await?;
        st.groupless_due = Some(
            Instant::now()
                + if complete {
                    RECHECK
                } else {
                    RECHECK_INCOMPLETE
                },
        );
        if let Subscription::Pattern(_, matched) = &mut st.subscription {
            *matched = found.keys().cloned().collect();
        }
        let wanted: Vec<TopicPartition> = found
            .iter()
            .flat_map(|(t, parts)| parts.iter().map(|p| TopicPartition::new(t.clone(), *p)))
            .collect();
        let owned = st.fetcher.assignment();
        if owned == wanted {
            return Ok(());
        }
        let revoked: Vec<TopicPartition> = owned
            .iter()
            .filter(|tp| !wanted.contains(tp))
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = wanted
            .iter()
            .filter(|tp| !owned.contains(tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            self.with_listener(st, &revoked, |l, c, p| l.on_partitions_revoked(c, p))
                .await;
        }
        st.fetcher.assign(&wanted);
        if !added.is_empty() {
            self.with_listener(st, &added, |l, c, p| l.on_partitions_assigned(c, p))
                .await;
        }
        tracing::debug!(
            ?wanted,
            "assigned every partition of the subscription (no group.id)"
        );
        Ok(())
    }

    /// The partition numbers of each subscribed topic that exists, and whether every topic
    /// named by a topic subscription was found.
    async fn resolve_partitions(
        &self,
        subscription: &Subscription,
    ) -> Result<(BTreeMap<String, Vec<i32>>, bool)> {
        let mut found = BTreeMap::new();
        match subscription {
            Subscription::Topics(topics) => {
                let names: Vec<String> = topics.iter().cloned().collect();
                let md = self.inner.client.refresh_metadata(&names).await?;
                for t in topics {
                    if let Some(info) = md.topic(t).filter(|i| i.error_code == 0) {
                        let parts: Vec<i32> = info.partitions.iter().map(|p| p.partition).collect();
                        if !parts.is_empty() {
                            found.insert(t.clone(), parts);
                        }
                    }
                }
                let complete = found.len() == topics.len();
                Ok((found, complete))
            }
            Subscription::Pattern(regex, _) => {
                for (name, parts) in self.all_topics().await? {
                    if regex.is_match(&name) && !parts.is_empty() {
                        found.insert(name, parts);
                    }
                }
                Ok((found, true))
            }
            _ => Ok((found, true)),
        }
    }

    /// Every topic the cluster lists (internal ones excluded) with its partition numbers.
    pub(super) async fn all_topics(&self) -> Result<BTreeMap<String, Vec<i32>>> {
        let node = self.inner.client.least_loaded_node().await?;
        let (resp, _) = self
            .inner
            .client
            .send(node, MetadataRequest::default().with_topics(None))
            .await?;
        Ok(resp
            .topics
            .iter()
            .filter(|t| !t.is_internal && t.error_code == 0)
            .filter_map(|t| {
                let name = t.name.as_ref()?.to_string();
                let mut parts: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
                parts.sort_unstable();
                Some((name, parts))
            })
            .collect())
    }
}
