//! A follower's truncation before it fetches from a new leader (KIP-101, KIP-279): it asks the
//! leader, with OffsetForLeaderEpoch, where its own latest epoch ends in the leader's log, and
//! cuts its log there. Records past that point exist only on this replica (an old leader's
//! unreplicated tail, or what it copied from an old leader the new one never had): they were
//! never below the high watermark, so no acks=all producer was told they were written and no
//! consumer read them.

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::shared::Shared;
use crate::sync::LockExt;

/// The OffsetForLeaderEpoch version followers send (`ReplicaId` from v3).
pub const VERSION: i16 = 4;

/// Where the follower cuts its log: `asked` is its latest epoch, `answer` the leader's
/// (epoch, end offset) for it, `own_end_for` where an epoch ends in the follower's log.
pub fn truncation_offset(
    asked: i32,
    answer: (i32, i64),
    own_end_for: impl Fn(i32) -> i64,
    log_end: i64,
    high_watermark: i64,
) -> i64 {
    let (epoch, end) = answer;
    if epoch < 0 || end < 0 {
        // The leader knows no epoch: only the high watermark is safe (Kafka's fallback).
        return high_watermark.min(log_end);
    }
    if epoch == asked {
        return end.min(log_end);
    }
    // The leader never had this replica's latest epoch: its log diverges at the end of the
    // largest epoch both have.
    end.min(own_end_for(epoch)).min(log_end)
}

/// The request for the partitions to truncate: (topic, partition, the leader's current
/// epoch, this log's latest epoch).
pub fn request(node: i32, partitions: &[(String, i32, i32, i32)]) -> OffsetForLeaderEpochRequest {
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for (topic, p, current, latest) in partitions {
        let partition = OffsetForLeaderPartition::default()
            .with_partition(*p)
            .with_current_leader_epoch(*current)
            .with_leader_epoch(*latest);
        match topics.last_mut() {
            Some(t) if t.topic.as_str() == topic => t.partitions.push(partition),
            _ => topics.push(
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(node))
        .with_topics(topics)
}

/// Truncates each answered partition; returns those done (an error answer is tried again).
pub async fn apply(
    shared: &Arc<Shared>,
    asked: Vec<(String, i32, i32, i32)>,
    response: OffsetForLeaderEpochResponse,
) -> Vec<(String, i32)> {
    crate::api::off_workers(shared, move |shared| {
        let mut done = Vec::new();
        for t in response.topics {
            let name = t.topic.to_string();
            for p in t.partitions {
                if p.error_code != 0 {
                    tracing::debug!(topic = %name, partition = p.partition, code = p.error_code, "OffsetForLeaderEpoch error");
                    continue;
                }
                let Some(latest) = asked
                    .iter()
                    .find(|(topic, part, _, _)| *topic == name && *part == p.partition)
                    .map(|a| a.3)
                else {
                    continue;
                };
                let Some(log) = shared.topics.partition(&name, p.partition) else {
                    continue;
                };
                let mut log = log.locked();
                let offset = truncation_offset(
                    latest,
                    (p.leader_epoch, p.end_offset),
                    |epoch| log.end_offset_for_epoch(epoch).1,
                    log.log_end_offset(),
                    log.high_watermark(),
                );
                let end = log.log_end_offset();
                match log.truncate_to(offset) {
                    Ok(true) => tracing::info!(topic = %name, partition = p.partition, from = end, to = offset, "truncated to the leader's log"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(topic = %name, partition = p.partition, "truncation failed: {e}");
                        continue;
                    }
                }
                done.push((name.clone(), p.partition));
            }
        }
        done
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::truncation_offset;

    #[test]
    fn the_cut_is_where_the_latest_shared_epoch_ends() {
        let none = |_| i64::MAX;
        // Same latest epoch: the leader's end for it, never past this log's end.
        assert_eq!(truncation_offset(3, (3, 80), none, 100, 50), 80);
        assert_eq!(truncation_offset(3, (3, 120), none, 100, 50), 100);
        // This replica led epoch 4 alone: the leader's epoch 3 ends at 70, ours at 75.
        assert_eq!(truncation_offset(4, (3, 70), |_| 75, 100, 50), 70);
        assert_eq!(truncation_offset(4, (3, 90), |_| 75, 100, 50), 75);
        // Nothing known: back to the high watermark.
        assert_eq!(truncation_offset(4, (-1, -1), none, 100, 50), 50);
    }
}
