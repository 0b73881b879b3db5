//! The group APIs: each takes the decoded request and its version, answers at that version.

use crate::sync::LockExt;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::commit::{commit_response_topics, requested_offsets};
use super::persist::OffsetsRecord;
use super::state::{Committed, Group, GroupState, Member};
use super::{ClientInfo, GroupCoordinator};

pub(super) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub(super) fn join_error(code: i16, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code)
        .with_generation_id(-1)
        .with_member_id(sb(member_id))
}

pub(super) fn sync_error(code: i16) -> SyncGroupResponse {
    SyncGroupResponse::default().with_error_code(code)
}

pub(super) fn join_response(
    version: i16,
    generation: i32,
    protocol_type: Option<&str>,
    protocol: &str,
    leader: &str,
    member_id: &str,
    members: Vec<JoinGroupResponseMember>,
) -> JoinGroupResponse {
    let r = JoinGroupResponse::default()
        .with_generation_id(generation)
        .with_protocol_name(Some(sb(protocol)))
        .with_leader(sb(leader))
        .with_member_id(sb(member_id))
        .with_members(members);
    if version >= 7 {
        r.with_protocol_type(protocol_type.map(sb))
    } else {
        r
    }
}

/// KIP-394 member ids look like Kafka's: `<client id>-<uuid>`.
fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

impl GroupCoordinator {
    pub async fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client: ClientInfo,
    ) -> JoinGroupResponse {
        let rx = match self.join_locked(req, version, client) {
            Ok(rx) => rx,
            Err(response) => return *response,
        };
        rx.await.unwrap_or_else(|_| join_error(15, ""))
    }

    fn join_locked(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client: ClientInfo,
    ) -> Result<oneshot::Receiver<JoinGroupResponse>, Box<JoinGroupResponse>> {
        let now = Instant::now();
        let group_id = req.group_id.to_string();
        let member_id = req.member_id.to_string();
        if group_id.is_empty() {
            return Err(Box::new(join_error(24, &member_id))); // INVALID_GROUP_ID
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Err(Box::new(join_error(26, &member_id))); // INVALID_SESSION_TIMEOUT
        }
        let protocols: Vec<(String, Bytes)> = req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect();
        let protocol_type = req.protocol_type.to_string();
        let instance_id = req.group_instance_id.as_ref().map(|s| s.to_string());
        let rebalance_timeout = if version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        };
        let mut groups = self.groups.locked();
        let g = groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(&group_id));
        if protocols.is_empty()
            || (!g.members.is_empty() && g.protocol_type.as_deref() != Some(protocol_type.as_str()))
            || !g.supports(&protocols)
        {
            return Err(Box::new(join_error(23, &member_id))); // INCONSISTENT_GROUP_PROTOCOL
        }
        let (tx, rx) = oneshot::channel();
        let new_member = |id: &str| Member {
            member_id: id.to_string(),
            instance_id: instance_id.clone(),
            client_id: client.client_id.clone(),
            client_host: client.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: rebalance_timeout,
            protocols: protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            last_heartbeat: now,
        };
        let member_id = if member_id.is_empty() {
            // A static member coming back under a new member id replaces its old incarnation.
            if let Some(old_id) = instance_id
                .as_ref()
                .and_then(|i| g.static_members.get(i))
                .cloned()
            {
                let new_id = new_member_id(&client.client_id);
                let mut m = g
                    .members
                    .remove(&old_id)
                    .expect("static member is a member");
                if let Some((old_tx, _)) = m.join_waiter.take() {
                    let _ = old_tx.send(join_error(82, &old_id)); // FENCED_INSTANCE_ID
                }
                if let Some(old_tx) = m.sync_waiter.take() {
                    let _ = old_tx.send(sync_error(82));
                }
                let unchanged = m.protocols == protocols;
                m.member_id = new_id.clone();
                m.protocols = protocols.clone();
                m.last_heartbeat = now;
                if g.leader.as_deref() == Some(old_id.as_str()) {
                    g.leader = Some(new_id.clone());
                }
                g.static_members
                    .insert(instance_id.clone().unwrap(), new_id.clone());
                let stable = g.state == GroupState::Stable;
                g.members.insert(new_id.clone(), m);
                if stable && unchanged {
                    // KIP-345: no rebalance; the member gets the current generation and then its
                    // assignment through SyncGroup.
                    let protocol = g.protocol.clone().unwrap_or_default();
                    let leader = g.leader.clone().unwrap_or_default();
                    let r = join_response(
                        version,
                        g.generation,
                        g.protocol_type.as_deref(),
                        &protocol,
                        &leader,
                        &new_id,
                        vec![],
                    );
                    return Err(Box::new(r));
                }
                g.members.get_mut(&new_id).unwrap().join_waiter = Some((tx, version));
                self.prepare_or_complete(g, now);
                return Ok(rx);
            }
            if version >= 4 && instance_id.is_none() {
                let id = new_member_id(&client.client_id);
                g.pending.insert(
                    id.clone(),
                    now + Duration::from_millis(req.session_timeout_ms as u64),
                );
                return Err(Box::new(join_error(79, &id))); // MEMBER_ID_REQUIRED
            }
            new_member_id(&client.client_id)
        } else {
            member_id
        };
        if g.members.len() as i32 >= self.config.max_size && !g.members.contains_key(&member_id) {
            return Err(Box::new(join_error(81, &member_id))); // GROUP_MAX_SIZE_REACHED
        }
        if let Some(m) = g.members.get_mut(&member_id) {
            if m.instance_id != instance_id {
                return Err(Box::new(join_error(82, &member_id)));
            }
            let changed = m.protocols != protocols;
            m.protocols = protocols;
            m.session_timeout_ms = req.session_timeout_ms;
            m.rebalance_timeout_ms = rebalance_timeout;
            m.last_heartbeat = now;
            let is_leader = g.leader.as_deref() == Some(member_id.as_str());
            match g.state {
                GroupState::Stable | GroupState::CompletingRebalance
                    if !(changed || is_leader && g.state == GroupState::Stable) =>
                {
                    // Nothing changed: answer with the current generation without a rebalance.
                    let protocol = g.protocol.clone().unwrap_or_default();
                    let leader = g.leader.clone().unwrap_or_default();
                    let members = if is_leader {
                        self_members(g, &protocol)
                    } else {
                        vec![]
                    };
                    return Err(Box::new(join_response(
                        version,
                        g.generation,
                        g.protocol_type.as_deref(),
                        &protocol,
                        &leader,
                        &member_id,
                        members,
                    )));
                }
                _ => {
                    if let Some((old, _)) = m.join_waiter.replace((tx, version)) {
                        let _ = old.send(join_error(27, &member_id));
                    }
                }
            }
        } else {
            let known =
                g.pending.remove(&member_id).is_some() || version < 4 || instance_id.is_some();
            if !known {
                return Err(Box::new(join_error(25, &member_id))); // UNKNOWN_MEMBER_ID
            }
            let mut m = new_member(&member_id);
            m.join_waiter = Some((tx, version));
            if let Some(iid) = &instance_id {
                g.static_members.insert(iid.clone(), member_id.clone());
            }
            g.members.insert(member_id.clone(), m);
        }
        if g.protocol_type.is_none() || g.members.len() == 1 {
            g.protocol_type = Some(protocol_type);
        }
        self.prepare_or_complete(g, now);
        Ok(rx)
    }

    fn prepare_or_complete(&self, g: &mut Group, now: Instant) {
        if g.state == GroupState::PreparingRebalance {
            self.maybe_complete_join(g, now, false);
        } else {
            self.prepare_rebalance(g, now);
        }
    }

    pub async fn sync_group(&self, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        let rx = {
            let mut groups = self.groups.locked();
            let member_id = req.member_id.to_string();
            let Some(g) = groups.get_mut(req.group_id.as_str()) else {
                return sync_error(25);
            };
            let Some(m) = g.members.get(&member_id) else {
                return sync_error(25);
            };
            if m.instance_id.as_deref() != req.group_instance_id.as_ref().map(|s| s.as_str()) {
                return sync_error(82);
            }
            if req.generation_id != g.generation {
                return sync_error(22); // ILLEGAL_GENERATION
            }
            if version >= 5 {
                let type_ok = req
                    .protocol_type
                    .as_ref()
                    .is_none_or(|t| Some(t.as_str()) == g.protocol_type.as_deref());
                let name_ok = req
                    .protocol_name
                    .as_ref()
                    .is_none_or(|n| Some(n.as_str()) == g.protocol.as_deref());
                if !type_ok || !name_ok {
                    return sync_error(23);
                }
            }
            let with_protocol = |r: SyncGroupResponse, g: &Group| {
                if version >= 5 {
                    r.with_protocol_type(g.protocol_type.as_deref().map(sb))
                        .with_protocol_name(g.protocol.as_deref().map(sb))
                } else {
                    r
                }
            };
            match g.state {
                GroupState::PreparingRebalance => return sync_error(27),
                GroupState::Stable => {
                    let assignment = g.members[&member_id].assignment.clone();
                    return with_protocol(
                        SyncGroupResponse::default().with_assignment(assignment),
                        g,
                    );
                }
                GroupState::Empty => return sync_error(25),
                GroupState::CompletingRebalance => {}
            }
            let (tx, rx) = oneshot::channel();
            g.members.get_mut(&member_id).unwrap().sync_waiter = Some(tx);
            g.members.get_mut(&member_id).unwrap().last_heartbeat = Instant::now();
            if g.leader.as_deref() == Some(member_id.as_str()) {
                for a in &req.assignments {
                    if let Some(m) = g.members.get_mut(a.member_id.as_str()) {
                        m.assignment = a.assignment.clone();
                    }
                }
                g.state = GroupState::Stable;
                let record = Self::group_record(g);
                let code = match self.persist(&g.id.clone(), &[record]) {
                    Ok(()) => 0,
                    Err(_) => -1,
                };
                let protocol_type = g.protocol_type.clone();
                let protocol = g.protocol.clone();
                for m in g.members.values_mut() {
                    if let Some(tx) = m.sync_waiter.take() {
                        let r = SyncGroupResponse::default()
                            .with_error_code(code)
                            .with_assignment(m.assignment.clone());
                        let r = if version >= 5 {
                            r.with_protocol_type(protocol_type.as_deref().map(sb))
                                .with_protocol_name(protocol.as_deref().map(sb))
                        } else {
                            r
                        };
                        let _ = tx.send(r);
                    }
                }
            }
            rx
        };
        rx.await.unwrap_or_else(|_| sync_error(27))
    }

    pub async fn heartbeat(&self, req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
        let code = {
            let mut groups = self.groups.locked();
            match groups.get_mut(req.group_id.as_str()) {
                None => 25,
                Some(g) => match g.members.get_mut(req.member_id.as_str()) {
                    None => 25,
                    Some(m)
                        if m.instance_id.as_deref()
                            != req.group_instance_id.as_ref().map(|s| s.as_str()) =>
                    {
                        82
                    }
                    Some(_) if req.generation_id != g.generation => 22,
                    Some(m) => {
                        m.last_heartbeat = Instant::now();
                        match g.state {
                            GroupState::PreparingRebalance => 27,
                            GroupState::Empty => 25,
                            _ => 0,
                        }
                    }
                },
            }
        };
        HeartbeatResponse::default().with_error_code(code)
    }

    pub async fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let now = Instant::now();
        let mut groups = self.groups.locked();
        let identities: Vec<(String, Option<String>)> = if version <= 2 {
            vec![(req.member_id.to_string(), None)]
        } else {
            req.members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.group_instance_id.as_ref().map(|s| s.to_string()),
                    )
                })
                .collect()
        };
        let Some(g) = groups.get_mut(req.group_id.as_str()) else {
            return LeaveGroupResponse::default().with_error_code(25);
        };
        let mut results = Vec::new();
        let mut removed = false;
        for (member_id, instance_id) in identities {
            let target = match &instance_id {
                Some(iid) => match g.static_members.get(iid) {
                    Some(current) if member_id.is_empty() || *current == member_id => {
                        Ok(current.clone())
                    }
                    Some(_) => Err(82),
                    None => Err(25),
                },
                None if g.members.contains_key(&member_id) => Ok(member_id.clone()),
                None => Err(25),
            };
            let code = match target {
                Ok(id) => {
                    self.remove_member(g, &id);
                    removed = true;
                    0
                }
                Err(code) => code,
            };
            results.push(
                MemberResponse::default()
                    .with_member_id(sb(&member_id))
                    .with_group_instance_id(instance_id.as_deref().map(sb))
                    .with_error_code(code),
            );
        }
        if removed {
            match g.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.prepare_rebalance(g, now)
                }
                GroupState::PreparingRebalance => self.maybe_complete_join(g, now, false),
                _ => {}
            }
        }
        if version <= 2 {
            let code = results.first().map_or(0, |r| r.error_code);
            return LeaveGroupResponse::default().with_error_code(code);
        }
        LeaveGroupResponse::default().with_members(results)
    }

    /// Synchronous (it writes `__consumer_offsets`): the request path runs it on the blocking
    /// pool, as every other log write.
    pub fn offset_commit(&self, req: OffsetCommitRequest, _version: i16) -> OffsetCommitResponse {
        let mut groups = self.groups.locked();
        let group_id = req.group_id.to_string();
        let group_code = commit_membership_error(
            groups.get(&group_id),
            &group_id,
            req.generation_id_or_member_epoch,
            req.member_id.as_str(),
            req.group_instance_id.as_ref().map(|s| s.as_str()),
        );
        let topics = requested_offsets!(req.topics);
        let results = self.commit_offsets(&mut groups, &group_id, group_code, topics, None);
        let topics = commit_response_topics!(
            results,
            OffsetCommitResponseTopic,
            OffsetCommitResponsePartition
        );
        OffsetCommitResponse::default().with_topics(topics)
    }

    pub async fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        let groups = self.groups.locked();
        // KIP-447: with require_stable, a partition with offsets pending in an open
        // transaction answers UNSTABLE_OFFSET_COMMIT (88) until the transaction ends.
        let stability = |group_id: &str, topic: &str, p: i32| -> i16 {
            let pending = groups.get(group_id).is_some_and(|g| {
                g.pending_txn
                    .values()
                    .any(|offsets| offsets.contains_key(&(topic.to_string(), p)))
            });
            if req.require_stable && pending {
                88
            } else {
                0
            }
        };
        // Committed offsets of one group, for the requested partitions (None = all).
        let fetch = |group_id: &str,
                     wanted: Option<Vec<(String, Vec<i32>)>>|
         -> Vec<TopicOffsets> {
            let g = groups.get(group_id);
            match wanted {
                Some(list) => list
                    .into_iter()
                    .map(|(t, ps)| {
                        let parts = ps
                            .into_iter()
                            .map(|p| (p, g.and_then(|g| g.offsets.get(&(t.clone(), p)).cloned())))
                            .collect();
                        (t, parts)
                    })
                    .collect(),
                None => {
                    let mut by_topic: std::collections::BTreeMap<
                        String,
                        Vec<(i32, Option<Committed>)>,
                    > = Default::default();
                    if let Some(g) = g {
                        for ((t, p), c) in &g.offsets {
                            by_topic
                                .entry(t.clone())
                                .or_default()
                                .push((*p, Some(c.clone())));
                        }
                    }
                    by_topic
                        .into_iter()
                        .map(|(t, mut ps)| {
                            ps.sort_by_key(|(p, _)| *p);
                            (t, ps)
                        })
                        .collect()
                }
            }
        };
        if version >= 8 {
            let groups_out = req
                .groups
                .iter()
                .map(|rg| {
                    let wanted = rg.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                            .collect()
                    });
                    let topics = fetch(rg.group_id.as_str(), wanted)
                        .into_iter()
                        .map(|(t, ps)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(TopicName(sb(&t)))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|(p, c)| {
                                            let c = c.unwrap_or_else(|| {
                                                super::commit::committed(-1, -1, None)
                                            });
                                            OffsetFetchResponsePartitions::default()
                                                .with_error_code(stability(
                                                    rg.group_id.as_str(),
                                                    &t,
                                                    p,
                                                ))
                                                .with_partition_index(p)
                                                .with_committed_offset(c.offset)
                                                .with_committed_leader_epoch(c.leader_epoch)
                                                .with_metadata(Some(sb(&c.metadata)))
                                        })
                                        .collect(),
                                )
                        })
                        .collect();
                    OffsetFetchResponseGroup::default()
                        .with_group_id(rg.group_id.clone())
                        .with_topics(topics)
                })
                .collect();
            return OffsetFetchResponse::default().with_groups(groups_out);
        }
        let wanted = req.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                .collect()
        });
        let topics = fetch(req.group_id.as_str(), wanted)
            .into_iter()
            .map(|(t, ps)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(sb(&t)))
                    .with_partitions(
                        ps.into_iter()
                            .map(|(p, c)| {
                                let c = c.unwrap_or_else(|| super::commit::committed(-1, -1, None));
                                OffsetFetchResponsePartition::default()
                                    .with_error_code(stability(req.group_id.as_str(), &t, p))
                                    .with_partition_index(p)
                                    .with_committed_offset(c.offset)
                                    .with_committed_leader_epoch(c.leader_epoch)
                                    .with_metadata(Some(sb(&c.metadata)))
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetFetchResponse::default().with_topics(topics)
    }

    pub async fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        _version: i16,
    ) -> DescribeGroupsResponse {
        let groups = self.groups.locked();
        let described = req
            .groups
            .iter()
            .map(|id| {
                let d = DescribedGroup::default().with_group_id(id.clone());
                let Some(g) = groups.get(id.as_str()) else {
                    return d
                        .with_group_state(sb("Dead"))
                        .with_protocol_type(sb(""))
                        .with_protocol_data(sb(""));
                };
                let protocol = g.protocol.clone().unwrap_or_default();
                let stable = g.state == GroupState::Stable;
                d.with_group_state(sb(g.state.name()))
                    .with_protocol_type(sb(g.protocol_type.as_deref().unwrap_or("")))
                    .with_protocol_data(sb(if stable { &protocol } else { "" }))
                    .with_members(
                        g.members
                            .values()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(sb(&m.member_id))
                                    .with_group_instance_id(m.instance_id.as_deref().map(sb))
                                    .with_client_id(sb(&m.client_id))
                                    .with_client_host(sb(&m.client_host))
                                    .with_member_metadata(m.metadata_for(&protocol))
                                    .with_member_assignment(if stable {
                                        m.assignment.clone()
                                    } else {
                                        Bytes::new()
                                    })
                            })
                            .collect(),
                    )
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(described)
    }

    pub async fn list_groups(&self, req: ListGroupsRequest, _version: i16) -> ListGroupsResponse {
        let groups = self.groups.locked();
        let mut listed: Vec<ListedGroup> = groups
            .values()
            .filter(|g| {
                req.states_filter.is_empty()
                    || req
                        .states_filter
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .filter(|_| {
                req.types_filter.is_empty()
                    || req
                        .types_filter
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case("classic"))
            })
            .map(|g| {
                ListedGroup::default()
                    .with_group_id(GroupId(sb(&g.id)))
                    .with_protocol_type(sb(g.protocol_type.as_deref().unwrap_or("")))
                    .with_group_state(sb(g.state.name()))
                    .with_group_type(sb("classic"))
            })
            .collect();
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        ListGroupsResponse::default().with_groups(listed)
    }

    pub async fn delete_groups(
        &self,
        req: DeleteGroupsRequest,
        _version: i16,
    ) -> DeleteGroupsResponse {
        let mut groups = self.groups.locked();
        let results = req
            .groups_names
            .iter()
            .map(|id| {
                let code = match groups.get(id.as_str()) {
                    None => 69,                             // GROUP_ID_NOT_FOUND
                    Some(g) if !g.members.is_empty() => 68, // NON_EMPTY_GROUP
                    Some(g) => {
                        let mut records: Vec<OffsetsRecord> = g
                            .offsets
                            .keys()
                            .map(|(t, p)| OffsetsRecord::Offset {
                                group: g.id.clone(),
                                topic: t.clone(),
                                partition: *p,
                                value: None,
                            })
                            .collect();
                        records.push(OffsetsRecord::Group {
                            group: g.id.clone(),
                            value: None,
                        });
                        match self.persist(id.as_str(), &records) {
                            Ok(()) => {
                                groups.remove(id.as_str());
                                0
                            }
                            Err(code) => code,
                        }
                    }
                };
                DeletableGroupResult::default()
                    .with_group_id(id.clone())
                    .with_error_code(code)
            })
            .collect();
        DeleteGroupsResponse::default().with_results(results)
    }
}

/// One topic's committed offsets by partition (None: nothing committed).
type TopicOffsets = (String, Vec<(i32, Option<Committed>)>);

/// The member list a leader gets back when it rejoins a group that needs no rebalance.
fn self_members(g: &Group, protocol: &str) -> Vec<JoinGroupResponseMember> {
    g.members
        .values()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(sb(&m.member_id))
                .with_group_instance_id(m.instance_id.as_deref().map(sb))
                .with_metadata(m.metadata_for(protocol))
        })
        .collect()
}

/// Why a commit from this member is refused (0: it is not). A commit with no generation and no
/// member id (a consumer outside any group, or a transactional commit by an old client) is
/// accepted while the group has no members.
pub(super) fn commit_membership_error(
    group: Option<&Group>,
    group_id: &str,
    generation: i32,
    member_id: &str,
    instance_id: Option<&str>,
) -> i16 {
    if group_id.is_empty() {
        return 24; // INVALID_GROUP_ID
    }
    match group {
        None if generation < 0 => 0,
        None => 25,
        Some(g) if generation < 0 && member_id.is_empty() && g.members.is_empty() => 0,
        Some(g) => match g.members.get(member_id) {
            None => 25,
            Some(m) if m.instance_id.as_deref() != instance_id => 82,
            Some(_) if generation != g.generation => 22,
            // Members commit while rejoining (eager revocation); not while the leader's
            // assignment is pending.
            Some(_) if g.state == GroupState::CompletingRebalance => 27,
            Some(_) => 0,
        },
    }
}
