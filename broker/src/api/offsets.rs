//! ListOffsets, OffsetForLeaderEpoch and DeleteRecords.

use crate::sync::LockExt;
use kafka_protocol::messages::delete_records_response::*;
use kafka_protocol::messages::list_offsets_response::*;
use kafka_protocol::messages::offset_for_leader_epoch_response::*;
use kafka_protocol::messages::*;

use crate::shared::Shared;

/// ListOffsets: -1 latest, -2 earliest, -3 max timestamp, else the first offset at or after
/// the timestamp (-1 when none). With read_committed (isolation level 1) latest is the last
/// stable offset and a timestamp lookup finds nothing past it.
///
/// Replica id -2 (Kafka's `DEBUGGING_REPLICA_ID`, what `topics describe` sends to each
/// replica's node) is answered by any replica, not only the leader, and sees the whole local
/// log: latest is this replica's log end offset, not the high watermark, and the isolation
/// level is ignored, as Kafka's `ReplicaManager.fetchOffset` does. It is how an operator reads
/// a follower's log end offset over the protocol.
pub fn list_offsets(shared: &Shared, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let debugging = req.replica_id.0 == -2;
    let read_committed = req.isolation_level == 1 && !debugging;
    // Leader epochs exist from v4; the codec refuses them below.
    let epoch = if version >= 4 { 0 } else { -1 };
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.to_string();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    // A cluster's partitions answer their leader epoch (from v4).
                    let cluster = shared.cluster.as_ref();
                    let state =
                        cluster.and_then(|c| c.controller.partition(&name, p.partition_index));
                    let epoch = match &state {
                        Some(s) if version >= 4 => s.leader_epoch,
                        _ => epoch,
                    };
                    let r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_leader_epoch(epoch);
                    if let Some(code) = shared.faults.take_error(
                        ApiKey::ListOffsets as i16,
                        Some(&name),
                        Some(p.partition_index),
                    ) {
                        return r.with_error_code(code).with_timestamp(-1).with_offset(-1);
                    }
                    let Some(log) = shared.topics.partition(&name, p.partition_index) else {
                        return r.with_error_code(3).with_timestamp(-1).with_offset(-1);
                    };
                    let refused = if debugging {
                        // A node of the dev cluster has an empty in-memory log for a partition
                        // it holds no replica of; Kafka has none there: NOT_LEADER_OR_FOLLOWER.
                        shared.cluster.as_ref().and_then(|c| {
                            let state = c.controller.partition(&name, p.partition_index)?;
                            (!state.replicas.contains(&c.node_id))
                                .then_some(crate::cluster::replica_manager::NOT_LEADER_OR_FOLLOWER)
                        })
                    } else {
                        shared.leader_error(&name, p.partition_index).or_else(|| {
                            cluster?.epoch_error(&name, p.partition_index, p.current_leader_epoch)
                        })
                    };
                    if let Some(code) = refused {
                        return r.with_error_code(code).with_timestamp(-1).with_offset(-1);
                    }
                    let log = log.locked();
                    // The high watermark (the log end on one node); the log end itself for a
                    // debugging read.
                    let visible_end = if debugging {
                        log.log_end_offset()
                    } else if read_committed {
                        log.last_stable_offset().min(log.high_watermark())
                    } else {
                        log.high_watermark()
                    };
                    let (offset, ts) = match p.timestamp {
                        -1 => (visible_end, -1),
                        -2 => (log.log_start_offset(), -1),
                        -3 => log.max_timestamp().unwrap_or((-1, -1)),
                        ts => log
                            .offset_for_timestamp(ts)
                            .filter(|(offset, _)| *offset < visible_end)
                            .unwrap_or((-1, -1)),
                    };
                    r.with_offset(offset).with_timestamp(ts)
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// OffsetForLeaderEpoch: where the requested epoch's appends end in the leader's log, from its
/// leader epoch cache (`log/leader_epoch.rs`); followers ask it before they fetch after a
/// leader change, and consumers to detect truncation (KIP-320).
pub fn offset_for_leader_epoch(
    shared: &Shared,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let r = EpochEndOffset::default().with_partition(p.partition);
                    let undefined = |code: i16| {
                        EpochEndOffset::default()
                            .with_partition(p.partition)
                            .with_error_code(code)
                            .with_leader_epoch(-1)
                            .with_end_offset(-1)
                    };
                    let Some(log) = shared.topics.partition(&t.topic, p.partition) else {
                        return undefined(3);
                    };
                    if let Some(code) = shared.leader_error(&t.topic, p.partition) {
                        return undefined(code);
                    }
                    let epoch_error = match &shared.cluster {
                        Some(c) => c.epoch_error(&t.topic, p.partition, p.current_leader_epoch),
                        // One node is always in epoch 0.
                        None => (p.current_leader_epoch > 0).then_some(74),
                    };
                    if let Some(code) = epoch_error {
                        return undefined(code);
                    }
                    if p.leader_epoch < 0 {
                        return undefined(0);
                    }
                    let (epoch, end) = log.locked().end_offset_for_epoch(p.leader_epoch);
                    r.with_leader_epoch(epoch).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

/// DeleteRecords: moves each partition's log start offset (offset -1 = the high watermark).
pub fn delete_records(shared: &Shared, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    let Some(log) = shared.topics.partition(&t.name, p.partition_index) else {
                        return r.with_error_code(3).with_low_watermark(-1);
                    };
                    if let Some(code) = shared.leader_error(&t.name, p.partition_index) {
                        return r.with_error_code(code).with_low_watermark(-1);
                    }
                    let mut log = log.locked();
                    // Up to the high watermark (the log end on one node); followers move
                    // their log start when their fetches tell them the leader's.
                    let hw = log.high_watermark();
                    let result = match p.offset {
                        -1 => log.delete_records_before(hw),
                        o if o > hw => Err(1),
                        o => log.delete_records_before(o),
                    };
                    match result {
                        Ok(low) => r.with_low_watermark(low),
                        Err(code) => r.with_error_code(code).with_low_watermark(-1),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
