//! The consumer's side of the classic group protocol.
//!
//! `join` runs FindCoordinator, JoinGroup (with the member-id-required round trip), the
//! assignor on the leader, and SyncGroup. A background task heartbeats every
//! `heartbeat.interval.ms`; when the coordinator reports a rebalance, a fenced generation or
//! an unknown member, it raises `rejoin` (or `lost`), which the next `poll` acts on, on the
//! polling thread. The same task enforces `max.poll.interval.ms` by leaving the group when
//! the application stops polling.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::assignor::{self, Assignor, Member, Subscription};
use super::config::ConsumerConfig;
use crate::error::{error_name, KafkaError, Result};
use crate::network::NetworkClient;
use crate::topic_partition::TopicPartition;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A committed position: the next offset to read, with its leader epoch and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
}

impl OffsetAndMetadata {
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

/// Membership state shared with the heartbeat task.
pub struct Membership {
    pub member_id: Mutex<String>,
    pub generation: AtomicI32,
    pub protocol: Mutex<Option<String>>,
    pub coordinator: AtomicI32,
    /// The coordinator asked for a rebalance (or our generation went stale).
    pub rejoin: AtomicBool,
    /// Membership was lost (session expired / fenced / max.poll.interval.ms passed): partitions
    /// are lost, not revoked.
    pub lost: AtomicBool,
    pub last_poll: Mutex<Instant>,
    pub stop: AtomicBool,
}

pub struct Coordinator {
    pub client: NetworkClient,
    pub config: ConsumerConfig,
    pub group_id: String,
    pub state: Arc<Membership>,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Commits take turns in the order they were made (sync, async, auto, the listener's),
    /// so an older commit never lands after a newer one. tokio's mutex is fair: a turn is a
    /// place in its queue.
    commit_turns: Arc<tokio::sync::Mutex<()>>,
}

type TurnGuard = tokio::sync::OwnedMutexGuard<()>;

/// A place in the commit queue, taken when a commit is made and awaited before it is sent.
pub enum CommitTurn {
    Now(TurnGuard),
    Queued(std::pin::Pin<Box<dyn std::future::Future<Output = TurnGuard> + Send>>),
}

impl CommitTurn {
    async fn wait(self) -> TurnGuard {
        match self {
            CommitTurn::Now(guard) => guard,
            CommitTurn::Queued(turn) => turn.await,
        }
    }
}

fn broker_err(code: i16, message: Option<&StrBytes>) -> KafkaError {
    KafkaError::Broker {
        code,
        name: error_name(code),
        topic: None,
        partition: None,
        message: message.map(|m| m.to_string()),
    }
}

/// Errors after which the coordinator must be looked up again.
fn coordinator_moved(code: i16) -> bool {
    matches!(code, 14..=16)
}

impl Coordinator {
    pub fn new(client: NetworkClient, config: ConsumerConfig, group_id: String) -> Coordinator {
        Coordinator {
            client,
            config,
            group_id,
            state: Arc::new(Membership {
                member_id: Mutex::new(String::new()),
                generation: AtomicI32::new(-1),
                protocol: Mutex::new(None),
                coordinator: AtomicI32::new(-1),
                rejoin: AtomicBool::new(true),
                lost: AtomicBool::new(false),
                last_poll: Mutex::new(Instant::now()),
                stop: AtomicBool::new(false),
            }),
            heartbeat: Mutex::new(None),
            commit_turns: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Takes the next place in the commit queue now (the returned future holds it).
    pub async fn commit_turn(&self) -> CommitTurn {
        use std::future::Future as _;
        let mut turn = Box::pin(self.commit_turns.clone().lock_owned());
        // One poll queues the waiter (or takes the lock); awaiting it later keeps the place.
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match turn.as_mut().poll(cx) {
                std::task::Poll::Ready(guard) => Some(guard),
                std::task::Poll::Pending => None,
            })
        })
        .await
        .map_or(CommitTurn::Queued(turn), CommitTurn::Now)
    }

    pub fn member_id(&self) -> String {
        self.state.member_id.lock().unwrap().clone()
    }

    pub fn generation(&self) -> i32 {
        self.state.generation.load(Ordering::Acquire)
    }

    pub fn is_member(&self) -> bool {
        self.generation() >= 0 && !self.state.member_id.lock().unwrap().is_empty()
    }

    /// The coordinator's node id, looking it up when unknown.
    pub async fn coordinator(&self) -> Result<i32> {
        let known = self.state.coordinator.load(Ordering::Acquire);
        if known >= 0 {
            return Ok(known);
        }
        let mut attempt = 0;
        loop {
            match self.client.find_coordinator(&self.group_id, 0).await {
                Ok(node) => {
                    self.state.coordinator.store(node, Ordering::Release);
                    return Ok(node);
                }
                Err(e) if e.is_retriable() && attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(crate::network::backoff(
                        self.config.client.retry_backoff,
                        self.config.client.retry_backoff_max,
                        attempt,
                    ))
                    .await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Closes the connection to the coordinator; the next request opens a new one.
    pub fn drop_connection(&self) {
        let node = self.state.coordinator.load(Ordering::Acquire);
        if node >= 0 {
            self.client.disconnect(node);
        }
    }

    fn mark_coordinator_unknown(&self) {
        self.state.coordinator.store(-1, Ordering::Release);
    }

    /// Joins (or rejoins) the group; returns the assignment for this member.
    pub async fn join(
        &self,
        topics: &BTreeSet<String>,
        owned: &[TopicPartition],
        assignors: &[Box<dyn Assignor>],
    ) -> Result<Vec<TopicPartition>> {
        let mut attempt = 0u32;
        loop {
            if attempt > 0 {
                tokio::time::sleep(crate::network::backoff(
                    self.config.client.retry_backoff,
                    self.config.client.retry_backoff_max,
                    attempt.min(5),
                ))
                .await;
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
            match resp.error_code {
                0 => {}
                79 => {
                    // KIP-394: rejoin with the member id the coordinator assigned.
                    *self.state.member_id.lock().unwrap() = resp.member_id.to_string();
                    attempt = 0;
                    continue;
                }
                25 | 22 => {
                    self.reset_member();
                    continue;
                }
                27 => continue,
                code if coordinator_moved(code) => {
                    self.mark_coordinator_unknown();
                    continue;
                }
                code => return Err(broker_err(code, None)),
            }
            let member_id = resp.member_id.to_string();
            *self.state.member_id.lock().unwrap() = member_id.clone();
            self.state
                .generation
                .store(resp.generation_id, Ordering::Release);
            let protocol = resp
                .protocol_name
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default();
            *self.state.protocol.lock().unwrap() = Some(protocol.clone());
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
            match sresp.error_code {
                0 => {}
                27 => continue,
                25 | 22 => {
                    self.reset_member();
                    continue;
                }
                code if coordinator_moved(code) => {
                    self.mark_coordinator_unknown();
                    continue;
                }
                code => return Err(broker_err(code, None)),
            }
            self.state.rejoin.store(false, Ordering::Release);
            self.state.lost.store(false, Ordering::Release);
            *self.state.last_poll.lock().unwrap() = Instant::now();
            self.ensure_heartbeat();
            return assignor::decode_assignment(&sresp.assignment);
        }
    }

    /// The leader's job: decode subscriptions, look up partition counts, run the assignor.
    async fn lead(
        &self,
        protocol: &str,
        members: &[kafka_protocol::messages::join_group_response::JoinGroupResponseMember],
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
                    .filter(|ti| ti.error_code == 0)
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

    fn reset_member(&self) {
        // Static members keep their identity; the coordinator recognises the instance id.
        *self.state.member_id.lock().unwrap() = String::new();
        self.state.generation.store(-1, Ordering::Release);
    }

    fn ensure_heartbeat(&self) {
        let mut hb = self.heartbeat.lock().unwrap();
        if hb.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let client = self.client.clone();
        let state = self.state.clone();
        let config = self.config.clone();
        let group = self.group_id.clone();
        *hb = Some(tokio::spawn(async move {
            heartbeat_loop(client, state, config, group).await
        }));
    }

    /// Commits offsets (OffsetCommit with this member's generation), after the commits made
    /// before it. `group_managed`: the consumer subscribed (its partitions come from the
    /// group), so a commit outside a stable generation fails as in Java (REBALANCE_IN_PROGRESS
    /// while it rejoins, UNKNOWN_MEMBER_ID once membership is lost) instead of going out with
    /// generation -1, which the coordinator would accept for partitions now owned elsewhere.
    pub async fn commit(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        group_managed: bool,
    ) -> Result<()> {
        let turn = self.commit_turn().await;
        self.commit_in_turn(turn, offsets, group_managed).await
    }

    /// `commit` once `turn` comes.
    pub async fn commit_in_turn(
        &self,
        turn: CommitTurn,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        group_managed: bool,
    ) -> Result<()> {
        let _turn = turn.wait().await;
        self.send_commit(offsets, group_managed).await
    }

    /// `commit` once `turn` comes, handing the outcome to `then` before the next commit's
    /// turn: async commit callbacks run in the order the commits were made.
    pub async fn commit_in_turn_then(
        &self,
        turn: CommitTurn,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        group_managed: bool,
        then: impl FnOnce(Result<()>),
    ) {
        let _turn = turn.wait().await;
        then(self.send_commit(offsets, group_managed).await);
    }

    async fn send_commit(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        group_managed: bool,
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let (generation, member) = if self.is_member() {
            (self.generation(), self.member_id())
        } else if group_managed {
            let code = if self.state.lost.load(Ordering::Acquire) {
                25
            } else {
                27
            };
            return Err(KafkaError::Broker {
                code,
                name: error_name(code),
                topic: None,
                partition: None,
                message: Some(
                    "commit failed: this member is not in a stable generation of the group (rebalancing or membership lost); its partitions may be assigned to another member".into(),
                ),
            });
        } else {
            (-1, String::new())
        };
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(sb(&self.group_id)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(sb(&member))
            .with_group_instance_id(if generation >= 0 {
                self.config.group_instance_id.as_deref().map(sb)
            } else {
                None
            })
            .with_retention_time_ms(-1)
            .with_topics(commit_topics(offsets));
        let resp = self
            .send_to_coordinator(req, |r: &OffsetCommitResponse| {
                r.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .any(|p| coordinator_moved(p.error_code))
            })
            .await?;
        for t in &resp.topics {
            for p in &t.partitions {
                match p.error_code {
                    0 => {}
                    code @ (22 | 25 | 27) => {
                        // The group moved on: these partitions may belong to someone else.
                        self.state.rejoin.store(true, Ordering::Release);
                        if code != 27 {
                            self.reset_member();
                        }
                        return Err(KafkaError::Broker {
                            code,
                            name: error_name(code),
                            topic: Some(t.name.to_string()),
                            partition: Some(p.partition_index),
                            message: Some(
                                "commit failed: the group has rebalanced; these partitions may be assigned to another member".into(),
                            ),
                        });
                    }
                    code => return Err(KafkaError::broker_for(code, &t.name, p.partition_index)),
                }
            }
        }
        Ok(())
    }

    /// Sends a request to the group coordinator, looking the coordinator up again (up to five
    /// times) when the connection fails or the answer says it moved (`moved`).
    async fn send_to_coordinator<R>(
        &self,
        req: R,
        moved: impl Fn(&R::Response) -> bool,
    ) -> Result<R::Response>
    where
        R: kafka_protocol::protocol::Request + Clone + Send + 'static,
        R::Response: Send + 'static,
    {
        // As Java's commitSync and committed(): retried with KIP-580 backoff while the
        // coordinator moves or loads (a broker restart takes seconds), within the request
        // timeout; five immediate attempts used to give up before a restarted broker had
        // loaded its groups.
        let deadline = Instant::now() + self.config.client.request_timeout;
        let mut attempt = 0;
        loop {
            let node = self.coordinator().await?;
            let retry = Instant::now() < deadline;
            match self.client.send(node, req.clone()).await {
                Ok((resp, _)) if !(retry && moved(&resp)) => return Ok(resp),
                Ok(_) => {}
                Err(e) if retry && e.is_retriable() => {}
                Err(e) => return Err(e),
            }
            attempt += 1;
            self.mark_coordinator_unknown();
            tokio::time::sleep(crate::network::backoff(
                self.config.client.retry_backoff,
                self.config.client.retry_backoff_max,
                attempt,
            ))
            .await;
        }
    }

    /// The committed offsets of `partitions` (absent when none committed).
    pub async fn fetch_committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic
                .entry(tp.topic.to_string())
                .or_default()
                .push(tp.partition);
        }
        let req = OffsetFetchRequest::default()
            .with_group_id(GroupId(sb(&self.group_id)))
            .with_topics(Some(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(sb(&t)))
                            .with_partition_indexes(ps)
                    })
                    .collect(),
            ));
        let resp = self
            .send_to_coordinator(req, |r: &OffsetFetchResponse| {
                coordinator_moved(r.error_code)
            })
            .await?;
        if resp.error_code != 0 {
            return Err(KafkaError::broker(resp.error_code));
        }
        let mut out = BTreeMap::new();
        for t in resp.topics {
            for p in t.partitions {
                if p.error_code != 0 {
                    return Err(KafkaError::broker_for(
                        p.error_code,
                        &t.name,
                        p.partition_index,
                    ));
                }
                if p.committed_offset >= 0 {
                    out.insert(
                        TopicPartition::new(t.name.as_str(), p.partition_index),
                        OffsetAndMetadata {
                            offset: p.committed_offset,
                            leader_epoch: (p.committed_leader_epoch >= 0)
                                .then_some(p.committed_leader_epoch),
                            metadata: p.metadata.map(|m| m.to_string()).unwrap_or_default(),
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// Leaves the group (not for static members: they keep their place until the session
    /// times out, so a restart causes no rebalance).
    pub async fn leave(&self) {
        self.stop_heartbeat();
        // A member id is enough (as in Java): a member that leaves mid-join must not hold the
        // group's rebalance until its session times out.
        if self.member_id().is_empty() || self.config.group_instance_id.is_some() {
            return;
        }
        let member = self.member_id();
        if let Ok(node) = self.coordinator().await {
            match self
                .client
                .send_built(node, |v| {
                    leave_request(&self.group_id, &member, "the consumer is being closed", v)
                })
                .await
            {
                Ok((resp, _)) if resp.error_code != 0 => {
                    tracing::debug!(code = resp.error_code, "LeaveGroup refused")
                }
                Ok(_) => {}
                Err(e) => tracing::debug!("LeaveGroup failed: {e}"),
            }
        }
        self.reset_member();
    }

    pub fn stop_heartbeat(&self) {
        self.state.stop.store(true, Ordering::Release);
        if let Some(h) = self.heartbeat.lock().unwrap().take() {
            h.abort();
        }
        self.state.stop.store(false, Ordering::Release);
    }
}

async fn heartbeat_loop(
    client: NetworkClient,
    state: Arc<Membership>,
    config: ConsumerConfig,
    group: String,
) {
    loop {
        tokio::time::sleep(config.heartbeat_interval).await;
        if state.stop.load(Ordering::Acquire) {
            return;
        }
        let member = state.member_id.lock().unwrap().clone();
        let generation = state.generation.load(Ordering::Acquire);
        if generation < 0 || member.is_empty() {
            return;
        }
        let since_poll = state.last_poll.lock().unwrap().elapsed();
        if since_poll > config.max_poll_interval {
            tracing::warn!(
                group,
                "poll() was not called within max.poll.interval.ms ({} ms): leaving the group so its partitions move to other members",
                config.max_poll_interval.as_millis()
            );
            let coordinator = state.coordinator.load(Ordering::Acquire);
            if coordinator >= 0 && config.group_instance_id.is_none() {
                let _ = client
                    .send_built(coordinator, |v| {
                        leave_request(&group, &member, "max.poll.interval.ms exceeded", v)
                    })
                    .await;
            }
            *state.member_id.lock().unwrap() = String::new();
            state.generation.store(-1, Ordering::Release);
            state.lost.store(true, Ordering::Release);
            state.rejoin.store(true, Ordering::Release);
            return;
        }
        let mut coordinator = state.coordinator.load(Ordering::Acquire);
        if coordinator < 0 {
            match client.find_coordinator(&group, 0).await {
                Ok(node) => {
                    state.coordinator.store(node, Ordering::Release);
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
        match client.send(coordinator, req).await {
            Ok((resp, _)) => match resp.error_code {
                0 => {}
                27 => state.rejoin.store(true, Ordering::Release),
                22 | 25 | 82
                    if state.generation.load(Ordering::Acquire) != generation
                        || *state.member_id.lock().unwrap() != member =>
                {
                    // The answer to a heartbeat of a generation a join has since replaced (as
                    // in Java, a stale generation's error is ignored).
                    tracing::debug!(
                        group,
                        code = resp.error_code,
                        "stale heartbeat error ignored"
                    );
                }
                22 | 25 | 82 => {
                    tracing::info!(group, code = resp.error_code, "group membership lost");
                    *state.member_id.lock().unwrap() = String::new();
                    state.generation.store(-1, Ordering::Release);
                    state.lost.store(true, Ordering::Release);
                    state.rejoin.store(true, Ordering::Release);
                    return;
                }
                code if coordinator_moved(code) => state.coordinator.store(-1, Ordering::Release),
                code => tracing::debug!(group, code, "heartbeat error"),
            },
            Err(e) => {
                tracing::debug!(group, "heartbeat failed: {e}");
                state.coordinator.store(-1, Ordering::Release);
            }
        }
    }
}

/// LeaveGroup for one member: v0-2 name it at the top level, v3+ in the members list.
fn leave_request(group: &str, member: &str, reason: &str, version: i16) -> LeaveGroupRequest {
    let r = LeaveGroupRequest::default().with_group_id(GroupId(sb(group)));
    if version <= 2 {
        return r.with_member_id(sb(member));
    }
    let identity = MemberIdentity::default().with_member_id(sb(member));
    r.with_members(vec![if version >= 5 {
        identity.with_reason(Some(sb(reason)))
    } else {
        identity
    }])
}

/// OffsetCommit's topics for a set of offsets (shared with the admin client's offset resets).
pub(crate) fn commit_topics(
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Vec<OffsetCommitRequestTopic> {
    let mut by_topic: BTreeMap<String, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, o) in offsets {
        by_topic.entry(tp.topic.to_string()).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(o.offset)
                .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                .with_committed_metadata(Some(sb(&o.metadata))),
        );
    }
    by_topic
        .into_iter()
        .map(|(t, ps)| {
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(sb(&t)))
                .with_partitions(ps)
        })
        .collect()
}
