//! One rebalance round as the member sees it: JoinGroup (with KIP-394's member-id round trip),
//! the assignor on the leader, SyncGroup. It runs on a task of its own (`rebalance.rs` starts
//! it and applies what it returns); each answer moves the member state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{ApiKey, GroupId, JoinGroupRequest, SyncGroupRequest};
use tokio::time::Instant;

use super::assignor::{self, Assignor, Member, Subscription};
use super::coordinator::{coordinator_moved, sb, Coordinator};
use crate::error::{KafkaError, Result};
use crate::topic_partition::TopicPartition;

impl Coordinator {
    /// Joins (or rejoins) the group; returns the assignment for this member.
    pub async fn join(
        &self,
        topics: &BTreeSet<String>,
        owned: &[TopicPartition],
        assignors: &[Box<dyn Assignor>],
    ) -> Result<Vec<TopicPartition>> {
        self.member().begin_join();
        let mut attempt = 0u32;
        loop {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt.min(5))).await;
            }
            attempt += 1;
            let node = self.coordinator().await?;
            let subscription = Subscription {
                topics: topics.iter().cloned().collect(),
                owned: owned.to_vec(),
                generation: self.generation(),
                user_data: None,
            };
            let metadata = assignor::encode_subscription(&subscription);
            let protocols = assignors
                .iter()
                .map(|a| {
                    JoinGroupRequestProtocol::default()
                        .with_name(sb(a.name()))
                        .with_metadata(metadata.clone())
                })
                .collect();
            let req = JoinGroupRequest::default()
                .with_group_id(GroupId(sb(&self.group_id)))
                .with_session_timeout_ms(self.config.session_timeout.as_millis() as i32)
                .with_rebalance_timeout_ms(self.config.max_poll_interval.as_millis() as i32)
                .with_member_id(sb(&self.member_id()))
                .with_group_instance_id(self.config.group_instance_id.as_deref().map(sb))
                .with_protocol_type(sb("consumer"))
                .with_protocols(protocols);
            // A join waits for the whole group: allow the rebalance timeout on top.
            let timeout = self.config.max_poll_interval + Duration::from_secs(5);
            let (resp, _) = match self.client.send_with_timeout(node, req, timeout).await {
                Ok(r) => r,
                Err(e) if e.is_retriable() => {
                    self.mark_coordinator_unknown();
                    continue;
                }
                Err(e) => return Err(e),
            };
            match ResponseError::try_from_code(resp.error_code) {
                None => {}
                Some(ResponseError::MemberIdRequired) => {
                    // KIP-394: rejoin at once with the member id the coordinator assigned.
                    self.member().member_id_required(resp.member_id.to_string());
                    attempt = 0;
                    continue;
                }
                Some(e) => {
                    self.after_error(e)?;
                    continue;
                }
            }
            let member_id = resp.member_id.to_string();
            self.member().joined(resp.generation_id, member_id.clone());
            let protocol = resp
                .protocol_name
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default();
            *self.shared.protocol.lock().unwrap() = Some(protocol.clone());
            let assignments = if resp.leader.as_str() == member_id && !resp.members.is_empty() {
                self.lead(&protocol, &resp.members, assignors).await?
            } else {
                vec![]
            };
            let version = self.client.api_version(node, ApiKey::SyncGroup).await?;
            let sync = SyncGroupRequest::default()
                .with_group_id(GroupId(sb(&self.group_id)))
                .with_generation_id(resp.generation_id)
                .with_member_id(sb(&member_id))
                .with_group_instance_id(
                    self.config
                        .group_instance_id
                        .as_deref()
                        .map(sb)
                        .filter(|_| version >= 3),
                )
                .with_protocol_type(Some(sb("consumer")).filter(|_| version >= 5))
                .with_protocol_name(Some(sb(&protocol)).filter(|_| version >= 5))
                .with_assignments(assignments);
            let (sresp, _) = match self.client.send_with_timeout(node, sync, timeout).await {
                Ok(r) => r,
                Err(e) if e.is_retriable() => {
                    self.mark_coordinator_unknown();
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(e) = ResponseError::try_from_code(sresp.error_code) {
                self.after_error(e)?;
                continue;
            }
            self.member().synced();
            *self.shared.last_poll.lock().unwrap() = Instant::now();
            self.ensure_heartbeat();
            return assignor::decode_assignment(&sresp.assignment);
        }
    }

    /// Acts on an error answer to JoinGroup or SyncGroup before the join tries again (after a
    /// backoff); the errors a join cannot get past are returned.
    fn after_error(&self, e: ResponseError) -> Result<()> {
        match e {
            ResponseError::UnknownMemberId | ResponseError::IllegalGeneration => {
                self.member().rejoin_as_new_member()
            }
            ResponseError::RebalanceInProgress => {}
            e if coordinator_moved(e.code()) => self.mark_coordinator_unknown(),
            e => return Err(KafkaError::broker(e.code())),
        }
        Ok(())
    }

    /// The leader's job: decode subscriptions, look up partition counts, run the assignor.
    async fn lead(
        &self,
        protocol: &str,
        members: &[JoinGroupResponseMember],
        assignors: &[Box<dyn Assignor>],
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let assignor = assignors
            .iter()
            .find(|a| a.name() == protocol)
            .ok_or_else(|| {
                KafkaError::Protocol(format!(
                    "the group chose assignor `{protocol}`, which this member does not have"
                ))
            })?;
        let mut decoded = Vec::new();
        for m in members {
            decoded.push(Member {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                subscription: assignor::decode_subscription(&m.metadata)?,
            });
        }
        let topics: Vec<String> = decoded
            .iter()
            .flat_map(|m| m.subscription.topics.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let md = self.client.refresh_metadata(&topics).await?;
        let partitions: BTreeMap<String, i32> = topics
            .iter()
            .filter_map(|t| {
                md.topic(t)
                    .filter(|ti| ResponseError::try_from_code(ti.error_code).is_none())
                    .map(|ti| (t.clone(), ti.partitions.len() as i32))
            })
            .collect();
        let result = assignor.assign(&partitions, &decoded);
        tracing::debug!(group = %self.group_id, ?result, "computed assignment");
        Ok(result
            .into_iter()
            .map(|(member, tps)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(sb(&member))
                    .with_assignment(assignor::encode_assignment(&tps))
            })
            .collect())
    }
}
