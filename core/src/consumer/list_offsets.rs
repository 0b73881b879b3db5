//! ListOffsets: the offsets at a timestamp spec (-2 earliest, -1 latest, else a time), for
//! position resets, `seek_to_beginning` / `seek_to_end`, `beginning_offsets` / `end_offsets`,
//! `offsets_for_times`, and the admin client's `list_offsets` (Java's `OffsetFetcher`).

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::{KafkaError, Result};
use crate::network::{backoff, NetworkClient};
use crate::topic_partition::TopicPartition;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// ListOffsets for each partition at `timestamp` (-2 earliest, -1 latest, else a time):
/// `(offset, timestamp)`, offset -1 when no record is that recent. Retriable errors (a leader
/// not elected yet, as right after a topic is created; a stale leader) are retried with
/// KIP-580 backoff and fresh metadata for up to `request.timeout.ms`, as the Java client's
/// offset lookups are.
pub async fn list_offsets(
    client: &NetworkClient,
    partitions: &[TopicPartition],
    timestamp: i64,
) -> Result<BTreeMap<TopicPartition, (i64, i64)>> {
    let config = client.config();
    let deadline = tokio::time::Instant::now() + config.request_timeout;
    let mut attempts = 0;
    loop {
        match list_offsets_once(client, partitions, timestamp).await {
            Err(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                tracing::debug!("ListOffsets failed, retrying: {e}");
                let wait = backoff(config.retry_backoff, config.retry_backoff_max, attempts);
                attempts += 1;
                tokio::time::sleep(wait).await;
                let topics: Vec<String> =
                    partitions.iter().map(|tp| tp.topic.to_string()).collect();
                if let Err(e) = client.refresh_metadata(&topics).await {
                    tracing::debug!("metadata refresh failed: {e}");
                }
            }
            r => return r,
        }
    }
}

/// One ListOffsets round, without retries: position resets inside `poll` try again on the
/// next pass of poll's loop instead.
pub async fn list_offsets_once(
    client: &NetworkClient,
    partitions: &[TopicPartition],
    timestamp: i64,
) -> Result<BTreeMap<TopicPartition, (i64, i64)>> {
    let topics: Vec<String> = partitions
        .iter()
        .map(|tp| tp.topic.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut md = client.metadata();
    if topics.iter().any(|t| md.topic(t).is_none()) {
        md = client.refresh_metadata(&topics).await?;
    }
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for tp in partitions {
        let leader = md
            .topic(&tp.topic)
            .and_then(|t| t.partitions.get(tp.partition as usize))
            .map(|p| p.leader)
            .ok_or_else(|| {
                let code = ResponseError::UnknownTopicOrPartition.code();
                KafkaError::broker_for(code, &tp.topic, tp.partition)
            })?;
        if leader < 0 {
            // No leader elected (yet): LEADER_NOT_AVAILABLE, retriable, rather than a request
            // to node -1.
            client.request_metadata_refresh();
            let code = ResponseError::LeaderNotAvailable.code();
            return Err(KafkaError::broker_for(code, &tp.topic, tp.partition));
        }
        by_leader
            .entry(leader)
            .or_default()
            .entry(tp.topic.to_string())
            .or_default()
            .push(tp.partition);
    }
    let mut out = BTreeMap::new();
    for (leader, topics) in by_leader {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(sb(&t)))
                            .with_partitions(
                                ps.into_iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(p)
                                            .with_timestamp(timestamp)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let (resp, _) = client.send(leader, req).await?;
        for t in resp.topics {
            for p in t.partitions {
                if let Some(e) = ResponseError::try_from_code(p.error_code) {
                    if matches!(
                        e,
                        ResponseError::NotLeaderOrFollower | ResponseError::UnknownTopicOrPartition
                    ) {
                        client.request_metadata_refresh();
                    }
                    return Err(KafkaError::broker_for(e.code(), &t.name, p.partition_index));
                }
                out.insert(
                    TopicPartition::new(t.name.as_str(), p.partition_index),
                    (p.offset, p.timestamp),
                );
            }
        }
    }
    Ok(out)
}
