//! Faults injected for whole requests (`Faults::fail_next` without a topic) of the coordinator
//! APIs: the answer Kafka would give with that error code, in each response's shape. Produce,
//! Fetch and ListOffsets apply their faults per partition in their own handlers. Injected
//! throttle times (`Faults::throttle_next`) go in any response's `throttle_time_ms`
//! ([`throttle_field`]).

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::*;

use crate::fault::Faults;

/// The injected error response for `request`, consuming one use of a matching rule.
pub fn response(faults: &Faults, request: &RequestKind, version: i16) -> Option<ResponseKind> {
    let key = match request {
        RequestKind::FindCoordinator(_) => ApiKey::FindCoordinator,
        RequestKind::JoinGroup(_) => ApiKey::JoinGroup,
        RequestKind::SyncGroup(_) => ApiKey::SyncGroup,
        RequestKind::Heartbeat(_) => ApiKey::Heartbeat,
        RequestKind::LeaveGroup(_) => ApiKey::LeaveGroup,
        RequestKind::OffsetCommit(_) => ApiKey::OffsetCommit,
        RequestKind::OffsetFetch(_) => ApiKey::OffsetFetch,
        RequestKind::InitProducerId(_) => ApiKey::InitProducerId,
        RequestKind::ListGroups(_) => ApiKey::ListGroups,
        _ => return None,
    };
    let code = faults.take_error(key as i16, None, None)?;
    error_response(request, version, code)
}

/// The answer Kafka gives `request` (a coordinator API) failing whole with `code`, in its
/// response's shape for `version`; `None` for other APIs.
pub fn error_response(request: &RequestKind, version: i16, code: i16) -> Option<ResponseKind> {
    Some(match request {
        RequestKind::FindCoordinator(r) => {
            let resp = FindCoordinatorResponse::default()
                .with_error_code(code)
                .with_node_id(BrokerId(-1))
                .with_port(-1);
            ResponseKind::FindCoordinator(if version >= 4 {
                resp.with_coordinators(
                    r.coordinator_keys
                        .iter()
                        .map(|k| {
                            Coordinator::default()
                                .with_key(k.clone())
                                .with_node_id(BrokerId(-1))
                                .with_port(-1)
                                .with_error_code(code)
                        })
                        .collect(),
                )
            } else {
                resp
            })
        }
        RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(
            JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(-1)
                .with_member_id(r.member_id.clone()),
        ),
        RequestKind::SyncGroup(_) => {
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(code))
        }
        RequestKind::Heartbeat(_) => {
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code))
        }
        RequestKind::LeaveGroup(_) => {
            ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(code))
        }
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(
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
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        RequestKind::OffsetFetch(r) if version >= 8 => ResponseKind::OffsetFetch(
            OffsetFetchResponse::default().with_groups(
                r.groups
                    .iter()
                    .map(|g| {
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        ),
        // v2-7 have a top-level error code; v1 only the partitions' own.
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(
            OffsetFetchResponse::default()
                .with_error_code(code)
                .with_topics(
                    r.topics
                        .iter()
                        .flatten()
                        .map(|t| {
                            OffsetFetchResponseTopic::default()
                                .with_name(t.name.clone())
                                .with_partitions(
                                    t.partition_indexes
                                        .iter()
                                        .map(|p| {
                                            OffsetFetchResponsePartition::default()
                                                .with_partition_index(*p)
                                                .with_committed_offset(-1)
                                                .with_committed_leader_epoch(-1)
                                                .with_error_code(code)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
        ),
        RequestKind::InitProducerId(_) => ResponseKind::InitProducerId(
            InitProducerIdResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        ),
        RequestKind::ListGroups(_) => {
            ResponseKind::ListGroups(ListGroupsResponse::default().with_error_code(code))
        }
        _ => return None,
    })
}

/// The `throttle_time_ms` field of `response`, when its version carries one (every API this
/// broker serves, from the version that added the field).
pub fn throttle_field(response: &mut ResponseKind, version: i16) -> Option<&mut i32> {
    macro_rules! fields {
        ($($kind:ident from $first:literal,)*) => {
            match response {
                $(ResponseKind::$kind(r) if version >= $first => Some(&mut r.throttle_time_ms),)*
                _ => None,
            }
        };
    }
    fields! {
        Produce from 1,
        Fetch from 1,
        ListOffsets from 2,
        Metadata from 3,
        OffsetCommit from 3,
        OffsetFetch from 3,
        FindCoordinator from 1,
        JoinGroup from 2,
        Heartbeat from 1,
        LeaveGroup from 1,
        SyncGroup from 1,
        DescribeGroups from 1,
        ListGroups from 1,
        ApiVersions from 1,
        CreateTopics from 2,
        DeleteTopics from 1,
        DeleteRecords from 0,
        InitProducerId from 0,
        OffsetForLeaderEpoch from 2,
        DescribeConfigs from 0,
        CreatePartitions from 0,
        DeleteGroups from 0,
        DescribeCluster from 0,
        DescribeAcls from 0,
        CreateAcls from 0,
        DeleteAcls from 0,
    }
}
