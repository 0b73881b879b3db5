//! On a multi-node cluster, group requests sent to a node that does not coordinate their group
//! (does not lead its `__consumer_offsets` partition) are answered NOT_COORDINATOR, as Kafka
//! answers them, so the client looks the coordinator up again instead of reading another
//! node's copy of the group. (Transaction requests are checked in `txn.rs`.) Requests naming
//! several groups (DescribeGroups, DeleteGroups, a batched OffsetFetch mixing coordinators) are
//! served where they arrive.

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
    let group_elsewhere = match request {
        RequestKind::JoinGroup(r) => elsewhere(&r.group_id),
        RequestKind::SyncGroup(r) => elsewhere(&r.group_id),
        RequestKind::Heartbeat(r) => elsewhere(&r.group_id),
        RequestKind::LeaveGroup(r) => elsewhere(&r.group_id),
        RequestKind::OffsetCommit(r) => elsewhere(&r.group_id),
        RequestKind::TxnOffsetCommit(r) if elsewhere(&r.group_id) => {
            return Some(ResponseKind::TxnOffsetCommit(
                super::txn::txn_offset_commit_failed(r, NOT_COORDINATOR),
            ));
        }
        // v2-7 carry a top-level error; v8+ one per group.
        RequestKind::OffsetFetch(r) if (2..8).contains(&version) => elsewhere(&r.group_id),
        RequestKind::OffsetFetch(r) if version >= 8 => {
            !r.groups.is_empty() && r.groups.iter().all(|g| elsewhere(&g.group_id))
        }
        _ => false,
    };
    if !group_elsewhere {
        return None;
    }
    super::injected::error_response(request, version, NOT_COORDINATOR)
}
