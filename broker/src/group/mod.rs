//! The group coordinator: classic consumer-group protocol and committed offsets.
//!
//! Handles JoinGroup / SyncGroup / Heartbeat / LeaveGroup with Kafka's state machine (Empty,
//! PreparingRebalance, CompletingRebalance, Stable, Dead), session and rebalance timeouts,
//! static membership (KIP-345) and the member-id-required round trip (KIP-394). Committed
//! offsets and group metadata are written to the internal `__consumer_offsets` topic
//! (partition = hash(group id) % offsets.topic.num.partitions) and reloaded from it on start.
//!
//! The server decodes requests and passes the `kafka-protocol` structs here with the request
//! version; responses come back ready to encode at that version.

use std::sync::Arc;

use kafka_protocol::messages::*;

use crate::log::SharedLog;

/// Group coordinator settings, by Kafka's broker property names.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `offsets.topic.num.partitions` (default 50).
    pub offsets_topic_num_partitions: i32,
    /// `group.min.session.timeout.ms` (default 6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (default 1800000).
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms` (default 3000; the dev broker defaults to 0 so tests are fast).
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size` (default unlimited).
    pub max_size: i32,
    /// `offsets.retention.minutes` (default 7 days).
    pub offsets_retention_minutes: i64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            offsets_topic_num_partitions: 50,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 0,
            max_size: i32::MAX,
            offsets_retention_minutes: 7 * 24 * 60,
        }
    }
}

/// Tells the coordinator whether a topic partition exists (for OffsetCommit validation).
pub type PartitionExists = Arc<dyn Fn(&str, i32) -> bool + Send + Sync>;

/// The coordinator for every group on this broker.
pub struct GroupCoordinator {
    // Implementation: group/state.rs (per-group state machine), group/member.rs,
    // group/offsets.rs (commit/fetch), group/persist.rs (__consumer_offsets records).
}

impl GroupCoordinator {
    /// Builds the coordinator over the `__consumer_offsets` partitions (index = partition) and
    /// reloads committed offsets and group metadata from them.
    pub fn new(config: GroupConfig, offsets_logs: Vec<SharedLog>, partition_exists: PartitionExists) -> Arc<Self> {
        let _ = (config, offsets_logs, partition_exists);
        todo!("group agent")
    }

    /// `__consumer_offsets` partition for a group: Java's `abs(groupId.hashCode()) % partitions`.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        let _ = group_id;
        todo!("group agent")
    }

    pub async fn join_group(&self, req: JoinGroupRequest, version: i16) -> JoinGroupResponse {
        let _ = (req, version);
        todo!("group agent")
    }

    pub async fn sync_group(&self, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        let _ = (req, version);
        todo!("group agent")
    }

    pub async fn heartbeat(&self, req: HeartbeatRequest, version: i16) -> HeartbeatResponse {
        let _ = (req, version);
        todo!("group agent")
    }

    pub async fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let _ = (req, version);
        todo!("group agent")
    }

    pub async fn offset_commit(&self, req: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
        let _ = (req, version);
        todo!("group agent")
    }

    pub async fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        let _ = (req, version);
        todo!("group agent")
    }

    pub async fn describe_groups(&self, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
        let _ = (req, version);
        todo!("group agent")
    }

    pub async fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let _ = (req, version);
        todo!("group agent")
    }

    pub async fn delete_groups(&self, req: DeleteGroupsRequest, version: i16) -> DeleteGroupsResponse {
        let _ = (req, version);
        todo!("group agent")
    }

    /// Drops committed offsets of a deleted topic.
    pub fn on_topic_deleted(&self, topic: &str) {
        let _ = topic;
        todo!("group agent")
    }

    /// Stops timers (session expiry) and flushes state.
    pub fn shutdown(&self) {
        todo!("group agent")
    }
}
