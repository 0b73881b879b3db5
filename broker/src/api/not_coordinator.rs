//! On a multi-node cluster, group requests sent to a node that does not coordinate their group
//! (does not lead its `__consumer_offsets` partition) are answered NOT_COORDINATOR, as Kafka
//! answers them, so the client looks the coordinator up again instead of reading another
//! node's copy of the group. (Transaction requests are checked in `txn.rs`.) Requests naming
//! several groups (DescribeGroups, DeleteGroups, a batched OffsetFetch mixing coordinators) are
//! served where they arrive.

use kafka_protocol::messages::offset_commit_response::*;
use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponseGroup;
use kafka_protocol::messages::*;

use crate::shared::Shared;
use crate::topics::OFFSETS_TOPIC;

/// NOT_COORDINATOR.
pub const NOT_COORDINATOR: i16 = 16;

/// The NOT_COORDINATOR answer to `request` when another node coordinates its group; `None`
/// when this node serves it (always on one node).
pub fn answer(shared: &Shared, request: &RequestKind, version: i16) -> Option<ResponseKind> {
    shared.cluster.as_ref()?;
    let elsewhere = |group: &str| shared.coordinated_elsewhere(OFFSETS_TOPIC, group);
    Some(match request {
        RequestKind::JoinGroup(r) if elsewhere(&r.group_id) => ResponseKind::JoinGroup(
            JoinGroupResponse::default()
                .with_error_code(NOT_COORDINATOR)
                .with_generation_id(-1)
                .with_member_id(r.member_id.clone()),
        ),
        RequestKind::SyncGroup(r) if elsewhere(&r.group_id) => {
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(NOT_COORDINATOR))
        }
        RequestKind::Heartbeat(r) if elsewhere(&r.group_id) => {
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(NOT_COORDINATOR))
        }
        RequestKind::LeaveGroup(r) if elsewhere(&r.group_id) => {
            ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(NOT_COORDINATOR))
        }
        RequestKind::OffsetCommit(r) if elsewhere(&r.group_id) => ResponseKind::OffsetCommit(
            OffsetCommitResponse::default().with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        OffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        OffsetCommitResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(NOT_COORDINATOR)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        RequestKind::TxnOffsetCommit(r) if elsewhere(&r.group_id) => {
            ResponseKind::TxnOffsetCommit(super::txn::txn_offset_commit_failed(r, NOT_COORDINATOR))
        }
        // v2-7 carry a top-level error; v8+ one per group.
        RequestKind::OffsetFetch(r) if (2..8).contains(&version) && elsewhere(&r.group_id) => {
            ResponseKind::OffsetFetch(
                OffsetFetchResponse::default().with_error_code(NOT_COORDINATOR),
            )
        }
        RequestKind::OffsetFetch(r)
            if version >= 8
                && !r.groups.is_empty()
                && r.groups.iter().all(|g| elsewhere(&g.group_id)) =>
        {
            ResponseKind::OffsetFetch(
                OffsetFetchResponse::default().with_groups(
                    r.groups
                        .iter()
                        .map(|g| {
                            OffsetFetchResponseGroup::default()
                                .with_group_id(g.group_id.clone())
                                .with_error_code(NOT_COORDINATOR)
                        })
                        .collect(),
                ),
            )
        }
        _ => return None,
    })
}
