//! The heartbeat task: one per member, started when a join completes, stopped by `leave` (or
//! when the member has no generation any more).
//!
//! Every `heartbeat.interval.ms` it heartbeats the generation the member holds. It never calls
//! the application: it moves the member state (`MemberState`) and the next `poll` acts on it,
//! on the polling thread. REBALANCE_IN_PROGRESS asks for a rejoin; UNKNOWN_MEMBER_ID,
//! ILLEGAL_GENERATION and FENCED_INSTANCE_ID lose the membership (unless a join has replaced
//! the heartbeat's generation meanwhile); a coordinator that moved is looked up again on the
//! next beat. It also enforces `max.poll.interval.ms`: when the application has not polled for
//! that long, the member leaves the group so its partitions move to other members.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{GroupId, HeartbeatRequest};

use super::config::ConsumerConfig;
use super::coordinator::{coordinator_moved, leave_request, sb, GroupShared};
use crate::network::NetworkClient;

pub(super) async fn heartbeat_loop(
    client: NetworkClient,
    shared: Arc<GroupShared>,
    config: ConsumerConfig,
    group: String,
) {
    loop {
        tokio::time::sleep(config.heartbeat_interval).await;
        let Some((generation, member)) = shared.member().heartbeat() else {
            return;
        };
        let since_poll = shared.last_poll.lock().unwrap().elapsed();
        if since_poll > config.max_poll_interval {
            tracing::warn!(
                group,
                "poll() was not called within max.poll.interval.ms ({} ms): leaving the group so its partitions move to other members",
                config.max_poll_interval.as_millis()
            );
            let coordinator = shared.node.load(Ordering::Acquire);
            if coordinator >= 0 && config.group_instance_id.is_none() {
                let _ = client
                    .send_built(coordinator, |v| {
                        leave_request(&group, &member, "max.poll.interval.ms exceeded", v)
                    })
                    .await;
            }
            shared.member().lose();
            return;
        }
        let mut coordinator = shared.node.load(Ordering::Acquire);
        if coordinator < 0 {
            match client.find_coordinator(&group, 0).await {
                Ok(node) => {
                    shared.node.store(node, Ordering::Release);
                    coordinator = node;
                }
                Err(e) => {
                    tracing::debug!(group, "coordinator lookup failed: {e}");
                    continue;
                }
            }
        }
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(sb(&group)))
            .with_generation_id(generation)
            .with_member_id(sb(&member))
            .with_group_instance_id(config.group_instance_id.as_deref().map(sb));
        let (resp, _) = match client.send(coordinator, req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(group, "heartbeat failed: {e}");
                shared.node.store(-1, Ordering::Release);
                continue;
            }
        };
        match ResponseError::try_from_code(resp.error_code) {
            None => {}
            Some(ResponseError::RebalanceInProgress) => shared.member().request_rejoin(),
            Some(
                e @ (ResponseError::IllegalGeneration
                | ResponseError::UnknownMemberId
                | ResponseError::FencedInstanceId),
            ) => {
                if shared.member().lose_if_current(generation, &member) {
                    tracing::info!(group, code = e.code(), "group membership lost: {e}");
                    return;
                }
                // The answer to a heartbeat of a generation a join has since replaced (as in
                // Java, a stale generation's error is ignored).
                tracing::debug!(group, code = e.code(), "stale heartbeat error ignored");
            }
            Some(e) if coordinator_moved(e.code()) => shared.node.store(-1, Ordering::Release),
            Some(e) => tracing::debug!(group, code = e.code(), "heartbeat error: {e}"),
        }
    }
}
