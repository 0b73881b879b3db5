//! Each replica's log end offset, for the ISR / high watermark / log end offset picture of a
//! replicated partition (`krafty topics describe`).
//!
//! A consumer's ListOffsets (replica id -1) goes to the leader and reads up to the high
//! watermark. With replica id -2, Kafka's `DEBUGGING_REPLICA_ID`, a follower answers too and
//! the isolation level is not applied, so `latest` is that node's own log end offset: sent to
//! each replica's node, it shows how far each follower has fetched, which the high watermark
//! (the minimum over the ISR) hides.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};

use super::{sb, AdminClient};
use crate::error::{KafkaError, Result};
use crate::topic_partition::TopicPartition;

/// Kafka's `ListOffsetsRequest.DEBUGGING_REPLICA_ID`.
const DEBUGGING_REPLICA_ID: i32 = -2;

/// ListOffsets' timestamp for the latest offset.
const LATEST: i64 = -1;

impl AdminClient {
    /// The log end offset of every replica of `partitions`, each asked of the replica's own
    /// node, keyed by (partition, node id). An entry is an error when its node did not answer
    /// (down, unreachable, gone from the metadata) or answered with a Kafka error code
    /// ([`KafkaError::Broker`], e.g. NOT_LEADER_OR_FOLLOWER (6) from a node that no longer
    /// holds the replica), so that one unavailable replica does not hide the others. The call
    /// fails as a whole only when the partitions cannot be described (an unknown topic:
    /// UNKNOWN_TOPIC_OR_PARTITION).
    ///
    /// The answers come from different nodes at slightly different times: they are not one
    /// snapshot of the partition.
    pub async fn list_replica_log_end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<(TopicPartition, i32), Result<i64>>> {
        let names: Vec<&str> = partitions
            .iter()
            .map(|tp| &*tp.topic)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Described without auto-creation, as `describe_topics` does: asking must not create.
        let described = self.describe_topics(&names).await?;
        let mut by_node: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
        for tp in partitions {
            let replicas = described
                .iter()
                .find(|t| t.name == *tp.topic)
                .and_then(|t| t.partitions.iter().find(|p| p.partition == tp.partition))
                .map(|p| &p.replicas)
                .ok_or_else(|| KafkaError::broker_for(3, &tp.topic, tp.partition))?;
            for node in replicas {
                by_node
                    .entry(*node)
                    .or_default()
                    .entry(&tp.topic)
                    .or_default()
                    .push(tp.partition);
            }
        }
        // A replica on a broker this client has not seen yet (the metadata it holds is older
        // than the topic's) needs that broker's address.
        let known = self.client.metadata();
        if by_node.keys().any(|n| known.broker(*n).is_none()) {
            self.client.refresh_metadata(&[]).await?;
        }
        let mut out = BTreeMap::new();
        for (node, topics) in by_node {
            let asked: Vec<TopicPartition> = topics
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| TopicPartition::new(t, *p)))
                .collect();
            match self.log_end_offsets_at(node, &topics).await {
                Ok(mut answered) => {
                    for tp in asked {
                        let answer = answered.remove(&tp).unwrap_or_else(|| {
                            Err(KafkaError::Protocol(format!(
                                "node {node} did not answer for {}-{}",
                                tp.topic, tp.partition
                            )))
                        });
                        out.insert((tp, node), answer);
                    }
                }
                Err(e) => {
                    for tp in asked {
                        out.insert((tp, node), Err(e.clone()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// One ListOffsets latest with the debugging replica id to `node`, for its partitions.
    async fn log_end_offsets_at(
        &self,
        node: i32,
        topics: &BTreeMap<&str, Vec<i32>>,
    ) -> Result<BTreeMap<TopicPartition, Result<i64>>> {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(DEBUGGING_REPLICA_ID))
            .with_topics(
                topics
                    .iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partitions(
                                ps.iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(*p)
                                            .with_timestamp(LATEST)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let (resp, _) = self.client.send(node, req).await?;
        let mut out = BTreeMap::new();
        for t in &resp.topics {
            for p in &t.partitions {
                let answer = match p.error_code {
                    0 => Ok(p.offset),
                    code => Err(KafkaError::broker_for(code, &t.name, p.partition_index)),
                };
                out.insert(
                    TopicPartition::new(t.name.as_str(), p.partition_index),
                    answer,
                );
            }
        }
        Ok(out)
    }
}
