//! The group coordinator: classic consumer-group protocol and committed offsets.
//!
//! Handles JoinGroup / SyncGroup / Heartbeat / LeaveGroup with Kafka's state machine (Empty,
//! PreparingRebalance, CompletingRebalance, Stable; a deleted group is reported
//! as Dead), session and rebalance timeouts,
//! static membership (KIP-345) and the member-id-required round trip (KIP-394). Committed
//! offsets and group metadata are written to the internal `__consumer_offsets` topic
//! (partition = Java's `abs(groupId.hashCode()) % offsets.topic.num.partitions`) and reloaded
//! from it on start.
//!
//! A JoinGroup or SyncGroup that must wait parks a oneshot sender in its member; whoever
//! completes the rebalance (the last joiner, the leader's sync, or the expiry sweep) answers
//! every parked request. All state sits behind one mutex that is never held across an await.

mod commit;
mod persist;
mod requests;
mod state;
mod txn_offsets;

use crate::sync::LockExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use tokio::time::Instant;

use crate::log::{now_ms, SharedLog};
use persist::{GroupValue, OffsetValue, OffsetsRecord};
use state::{Committed, Group, GroupState};

/// Group coordinator settings, by Kafka's broker property names.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `offsets.topic.num.partitions` (default 50).
    pub offsets_topic_num_partitions: i32,
    /// `group.min.session.timeout.ms` (default 6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (default 1800000).
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms` (Kafka's default is 3000; the dev broker's is 0 so
    /// tests are fast).
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size` (default unlimited).
    pub max_size: i32,
    /// `offsets.retention.minutes` (default 7 days): a group's offsets are removed once it
    /// has been empty this long (for a group with no members' protocol, each offset this
    /// long after its commit).
    pub offsets_retention_minutes: i64,
    /// `offsets.retention.check.interval.ms` (default 600000).
    pub offsets_retention_check_interval_ms: u64,
    /// `offsets.commit.timeout.ms` (default 5000): on a cluster, how long a commit waits for
    /// every in-sync replica of its offsets partition before it is answered
    /// COORDINATOR_NOT_AVAILABLE.
    pub offsets_commit_timeout_ms: u64,
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
            offsets_retention_check_interval_ms: 600_000,
            offsets_commit_timeout_ms: 5000,
        }
    }
}

/// The tokio instant of a wall-clock time in the past (ms since the epoch).
fn instant_of(ms: i64) -> Instant {
    let ago = Duration::from_millis(now_ms().saturating_sub(ms).max(0) as u64);
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

/// A committed offset as `__consumer_offsets` holds it.
/// A group's members as its last completed rebalance left them: Stable in that generation,
/// each with a fresh session (one gone meanwhile expires after its session timeout, and the
/// group rebalances then), as Kafka's coordinator loads them after a restart or a move.
fn restore_members(g: &mut Group, leader: Option<String>, members: Vec<persist::MemberValue>) {
    g.members.clear();
    g.static_members.clear();
    g.leader = leader;
    let protocol = match &g.protocol {
        Some(p) if !members.is_empty() => p.clone(),
        _ => {
            g.state = GroupState::Empty;
            return;
        }
    };
    let now = Instant::now();
    for m in members {
        if let Some(instance) = &m.instance_id {
            g.static_members
                .insert(instance.clone(), m.member_id.clone());
        }
        g.members.insert(
            m.member_id.clone(),
            state::Member {
                member_id: m.member_id,
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                join_waiter: None,
                sync_waiter: None,
                last_heartbeat: now,
            },
        );
    }
    g.state = GroupState::Stable;
    g.empty_since = None;
}

fn stored(v: OffsetValue) -> Committed {
    Committed {
        offset: v.offset,
        leader_epoch: v.leader_epoch,
        metadata: v.metadata,
        committed_at: instant_of(v.commit_timestamp),
    }
}

/// An offset a transaction committed (group, topic partition, offset), met while replaying.
type PendingOffset = (String, (String, i32), Committed);

/// Tells the coordinator whether a topic partition exists (for OffsetCommit validation).
pub type PartitionExists = Arc<dyn Fn(&str, i32) -> bool + Send + Sync>;

/// Who sent a request (for DescribeGroups' client id and host).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub client_id: String,
    pub client_host: String,
}

/// How often session and rebalance deadlines are checked.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// The coordinator for every group on this broker.
pub struct GroupCoordinator {
    config: GroupConfig,
    /// When offsets are next checked for `offsets.retention.minutes`.
    next_retention_check: Mutex<Instant>,
    groups: Mutex<HashMap<String, Group>>,
    /// Index = partition. On a cluster the partitions this node does not lead hold an empty
    /// stand-in until it takes them over ([`take_over`](Self::take_over)).
    offsets_logs: Vec<Mutex<SharedLog>>,
    partition_exists: PartitionExists,
}

impl GroupCoordinator {
    /// Builds the coordinator over the `__consumer_offsets` partitions (index = partition) and
    /// reloads committed offsets and group metadata from them. Must run inside a tokio runtime
    /// (it starts the expiry sweep).
    pub fn new(
        config: GroupConfig,
        offsets_logs: Vec<SharedLog>,
        partition_exists: PartitionExists,
    ) -> Arc<Self> {
        let check_every = Duration::from_millis(config.offsets_retention_check_interval_ms);
        let coordinator = Arc::new(GroupCoordinator {
            next_retention_check: Mutex::new(Instant::now() + check_every),
            config,
            groups: Mutex::new(HashMap::new()),
            offsets_logs: offsets_logs.into_iter().map(Mutex::new).collect(),
            partition_exists,
        });
        coordinator.load();
        let weak: Weak<GroupCoordinator> = Arc::downgrade(&coordinator);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                let Some(c) = weak.upgrade() else { return };
                c.sweep(Instant::now());
            }
        });
        coordinator
    }

    /// `__consumer_offsets` partition for a group: Java's `Utils.abs(groupId.hashCode()) % n`.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        crate::topics::coordinator_partition(group_id, self.offsets_logs.len())
    }

    /// The offsets partition `group` is kept in, and its log here.
    pub fn group_log(&self, group: &str) -> (i32, SharedLog) {
        let p = self.partition_for(group);
        (p, self.offsets_log(p as usize))
    }

    pub fn commit_timeout(&self) -> Duration {
        Duration::from_millis(self.config.offsets_commit_timeout_ms)
    }

    /// The log of one offsets partition.
    fn offsets_log(&self, partition: usize) -> SharedLog {
        self.offsets_logs[partition].locked().clone()
    }

    /// This node now leads offsets partition `partition` (a coordinator move on a cluster):
    /// its groups are loaded from `log`, this node's replica, which holds what the old
    /// coordinator wrote.
    pub fn take_over(&self, partition: usize, log: SharedLog) {
        let Some(slot) = self.offsets_logs.get(partition) else {
            return;
        };
        if Arc::ptr_eq(&slot.locked(), &log) {
            return;
        }
        *slot.locked() = log;
        self.drop_groups_of(partition, 16);
        self.load_partitions(&[partition]);
        tracing::info!(
            partition,
            "took over the groups of a __consumer_offsets partition"
        );
    }

    /// This node no longer leads offsets partition `partition`: its groups leave memory
    /// (parked joins and syncs are answered NOT_COORDINATOR, so their members look the new
    /// coordinator up) and writes go nowhere until it leads again.
    pub fn resign(&self, partition: usize, stand_in: SharedLog) {
        let Some(slot) = self.offsets_logs.get(partition) else {
            return;
        };
        *slot.locked() = stand_in;
        self.drop_groups_of(partition, 16);
    }

    /// Forgets the groups kept in `partition`, answering their parked requests with `code`.
    fn drop_groups_of(&self, partition: usize, code: i16) {
        let mut groups = self.groups.locked();
        groups.retain(|id, g| {
            if self.partition_for(id) as usize != partition {
                return true;
            }
            for m in g.members.values_mut() {
                if let Some((tx, _)) = m.join_waiter.take() {
                    let _ = tx.send(requests::join_error(code, &m.member_id));
                }
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(requests::sync_error(code));
                }
            }
            false
        });
    }

    /// Replays every offsets partition.
    fn load(&self) {
        let all: Vec<usize> = (0..self.offsets_logs.len()).collect();
        self.load_partitions(&all);
    }

    /// Replays the given offsets partitions into the groups map.
    fn load_partitions(&self, partitions: &[usize]) {
        let mut groups = self.groups.locked();
        for &partition in partitions {
            let log = self.offsets_log(partition);
            let log = log.locked();
            // Offsets committed inside a transaction wait for its marker (TxnOffsetCommit).
            let mut pending: HashMap<i64, Vec<PendingOffset>> = HashMap::new();
            let replayed = log.replay(crate::log::REPLAY_CHUNK, |record| {
                let Some(key) = &record.key else { return };
                if record.control {
                    let commit = key.get(2..4) == Some(&[0, 1][..]);
                    for (group, tp, c) in pending.remove(&record.producer_id).unwrap_or_default() {
                        if commit {
                            let g = groups
                                .entry(group.clone())
                                .or_insert_with(|| Group::new(&group));
                            g.offsets.insert(tp, c);
                        }
                    }
                    return;
                }
                if record.transactional {
                    if let Some(OffsetsRecord::Offset {
                        group,
                        topic,
                        partition,
                        value: Some(v),
                    }) = OffsetsRecord::decode(key, record.value.as_ref())
                    {
                        let c = stored(v);
                        let entry = pending.entry(record.producer_id).or_default();
                        entry.push((group, (topic, partition), c));
                    }
                    return;
                }
                match OffsetsRecord::decode(key, record.value.as_ref()) {
                    Some(OffsetsRecord::Offset {
                        group,
                        topic,
                        partition,
                        value,
                    }) => {
                        let g = groups
                            .entry(group.clone())
                            .or_insert_with(|| Group::new(&group));
                        match value {
                            Some(v) => {
                                let c = stored(v);
                                g.offsets.insert((topic, partition), c);
                            }
                            None => {
                                g.offsets.remove(&(topic, partition));
                            }
                        }
                    }
                    Some(OffsetsRecord::Group {
                        group,
                        value: Some(v),
                    }) => {
                        let g = groups
                            .entry(group.clone())
                            .or_insert_with(|| Group::new(&group));
                        g.generation = v.generation;
                        g.empty_since = Some(instant_of(v.state_timestamp));
                        g.protocol_type = Some(v.protocol_type).filter(|p| !p.is_empty());
                        g.protocol = v.protocol;
                        restore_members(g, v.leader, v.members);
                    }
                    Some(OffsetsRecord::Group { group, value: None }) => {
                        groups.remove(&group);
                    }
                    None => {}
                }
            });
            if let Err(e) = replayed {
                tracing::warn!(partition, "__consumer_offsets replay stopped: {e}");
            }
            // Transactions still open: their coordinator ends them (or times them out).
            for (producer_id, offsets) in pending {
                for (group, tp, c) in offsets {
                    debug_assert_eq!(self.partition_for(&group) as usize, partition);
                    let g = groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group));
                    g.pending_txn.entry(producer_id).or_default().insert(tp, c);
                }
            }
        }
        if !groups.is_empty() {
            tracing::info!(
                groups = groups.len(),
                "loaded consumer groups from __consumer_offsets"
            );
        }
    }

    /// Appends records for `group` to its offsets partition. `Err` holds the code a commit
    /// answers when the write failed, as Kafka maps it: a batch too large for the offsets
    /// topic is INVALID_COMMIT_OFFSET_SIZE (28); a storage failure NOT_COORDINATOR (16), which
    /// the client retries after looking the coordinator up again.
    fn persist(&self, group: &str, records: &[OffsetsRecord]) -> Result<(), i16> {
        self.persist_as(group, records, None)
    }

    /// [`persist`](Self::persist), inside `producer`'s (id, epoch) transaction when given.
    fn persist_as(
        &self,
        group: &str,
        records: &[OffsetsRecord],
        producer: Option<(i64, i16)>,
    ) -> Result<(), i16> {
        if records.is_empty() {
            return Ok(());
        }
        let log = self.offsets_log(self.partition_for(group) as usize);
        let now = now_ms();
        let batch = persist::encode_batch(records, producer, now);
        let appended = log.locked().append_internal(batch, now);
        appended.map(|_| ()).map_err(|e| {
            tracing::error!(group, "writing to __consumer_offsets failed: {}", e.message);
            match e.code {
                10 => 28,
                _ => 16,
            }
        })
    }

    fn group_record(g: &Group) -> OffsetsRecord {
        OffsetsRecord::Group {
            group: g.id.clone(),
            value: Some(GroupValue {
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                generation: g.generation,
                protocol: g.protocol.clone(),
                leader: g.leader.clone(),
                state_timestamp: now_ms(),
                members: match (g.state, &g.protocol) {
                    (GroupState::Stable, Some(protocol)) => g
                        .members
                        .values()
                        .map(|m| persist::MemberValue {
                            member_id: m.member_id.clone(),
                            instance_id: m.instance_id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            rebalance_timeout_ms: m.rebalance_timeout_ms,
                            session_timeout_ms: m.session_timeout_ms,
                            subscription: m.metadata_for(protocol),
                            assignment: m.assignment.clone(),
                        })
                        .collect(),
                    _ => Vec::new(),
                },
            }),
        }
    }

    /// Moves a group into PreparingRebalance (or completes at once when nothing to wait for).
    fn prepare_rebalance(&self, g: &mut Group, now: Instant) {
        if g.state == GroupState::CompletingRebalance {
            // Followers waiting for an assignment that will never come must rejoin.
            for m in g.members.values_mut() {
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(requests::sync_error(27));
                }
            }
        }
        let delay = if g.state == GroupState::Empty {
            self.config.initial_rebalance_delay_ms as i64
        } else {
            0
        };
        g.state = GroupState::PreparingRebalance;
        let wait = delay + g.max_rebalance_timeout_ms();
        g.rebalance_deadline = Some(now + Duration::from_millis(wait.max(0) as u64));
        g.initial_delay_until = (delay > 0).then(|| now + Duration::from_millis(delay as u64));
        self.maybe_complete_join(g, now, false);
    }

    /// Completes the join phase when every member has rejoined, or at the deadline (dropping
    /// the members that did not).
    fn maybe_complete_join(&self, g: &mut Group, now: Instant, deadline_passed: bool) {
        if g.state != GroupState::PreparingRebalance {
            return;
        }
        if !deadline_passed && g.initial_delay_until.is_some_and(|until| now < until) {
            return; // still gathering the first members
        }
        if !g.all_joined() {
            if !deadline_passed {
                return;
            }
            let gone: Vec<String> = g
                .members
                .values()
                .filter(|m| m.join_waiter.is_none())
                .map(|m| m.member_id.clone())
                .collect();
            for id in gone {
                tracing::info!(group = %g.id, member = %id, "removing member that did not rejoin in time");
                self.remove_member(g, &id);
            }
        }
        g.generation += 1;
        g.rebalance_deadline = None;
        if g.members.is_empty() {
            g.state = GroupState::Empty;
            g.protocol = None;
            g.leader = None;
            let _ = self.persist(&g.id.clone(), &[Self::group_record(g)]);
            return;
        }
        g.protocol = g.select_protocol();
        if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
            g.leader = g.members.keys().next().cloned();
        }
        g.state = GroupState::CompletingRebalance;
        let protocol = g.protocol.clone().unwrap_or_default();
        let leader = g.leader.clone().unwrap_or_default();
        let all: Vec<JoinGroupResponseMember> = g
            .members
            .values()
            .map(|m| {
                JoinGroupResponseMember::default()
                    .with_member_id(requests::sb(&m.member_id))
                    .with_group_instance_id(m.instance_id.as_deref().map(requests::sb))
                    .with_metadata(m.metadata_for(&protocol))
            })
            .collect();
        let (generation, protocol_type) = (g.generation, g.protocol_type.clone());
        for m in g.members.values_mut() {
            m.assignment = Bytes::new();
            m.last_heartbeat = now;
            if let Some((tx, version)) = m.join_waiter.take() {
                let members = if m.member_id == leader {
                    all.clone()
                } else {
                    vec![]
                };
                let _ = tx.send(requests::join_response(
                    version,
                    generation,
                    protocol_type.as_deref(),
                    &protocol,
                    &leader,
                    &m.member_id,
                    members,
                ));
            }
        }
    }

    fn remove_member(&self, g: &mut Group, member_id: &str) {
        if let Some(m) = g.members.remove(member_id) {
            if let Some(iid) = &m.instance_id {
                if g.static_members.get(iid).map(String::as_str) == Some(member_id) {
                    g.static_members.remove(iid);
                }
            }
            if let Some((tx, _)) = m.join_waiter {
                let _ = tx.send(requests::join_error(25, member_id));
            }
            if let Some(tx) = m.sync_waiter {
                let _ = tx.send(requests::sync_error(25));
            }
        }
        if g.leader.as_deref() == Some(member_id) {
            g.leader = None;
        }
    }

    /// Expires members whose session ran out and rebalances that passed their deadline.
    fn sweep(&self, now: Instant) {
        let mut groups = self.groups.locked();
        for g in groups.values_mut() {
            g.pending.retain(|_, deadline| *deadline > now);
            let expired: Vec<String> = g
                .members
                .values()
                .filter(|m| m.expired(now))
                .map(|m| m.member_id.clone())
                .collect();
            for id in &expired {
                tracing::info!(group = %g.id, member = %id, "member session expired");
                self.remove_member(g, id);
            }
            if !expired.is_empty() {
                match g.state {
                    GroupState::Stable | GroupState::CompletingRebalance => {
                        self.prepare_rebalance(g, now)
                    }
                    GroupState::PreparingRebalance => self.maybe_complete_join(g, now, false),
                    _ => {}
                }
                if g.members.is_empty() && g.state != GroupState::PreparingRebalance {
                    g.state = GroupState::Empty;
                }
            }
            if g.state == GroupState::PreparingRebalance {
                if g.rebalance_deadline.is_some_and(|d| d <= now) {
                    self.maybe_complete_join(g, now, true);
                } else if g.initial_delay_until.is_some_and(|until| until <= now) {
                    g.initial_delay_until = None;
                    self.maybe_complete_join(g, now, false);
                }
            }
            if g.state == GroupState::Empty && g.members.is_empty() {
                g.empty_since.get_or_insert(now);
            } else {
                g.empty_since = None;
            }
        }
        let mut next = self.next_retention_check.locked();
        if now >= *next {
            *next = now + Duration::from_millis(self.config.offsets_retention_check_interval_ms);
            self.expire_offsets(&mut groups, now);
        }
    }

    /// `offsets.retention.minutes`: a group empty that long loses its offsets, and then
    /// itself (Kafka's group metadata tombstone); a group that never had members' protocol
    /// (standalone commits) loses each offset that long after its commit. Tombstones are
    /// written first: what was not written stays.
    fn expire_offsets(&self, groups: &mut HashMap<String, Group>, now: Instant) {
        let retention =
            Duration::from_secs(self.config.offsets_retention_minutes.max(0) as u64 * 60);
        let mut emptied = Vec::new();
        for g in groups.values_mut() {
            let expired: Vec<(String, i32)> = if g.protocol_type.is_some() {
                let idle = g
                    .empty_since
                    .is_some_and(|t| now.duration_since(t) >= retention);
                if idle {
                    g.offsets.keys().cloned().collect()
                } else {
                    Vec::new()
                }
            } else {
                g.offsets
                    .iter()
                    .filter(|(_, c)| now.duration_since(c.committed_at) >= retention)
                    .map(|(tp, _)| tp.clone())
                    .collect()
            };
            if expired.is_empty() {
                continue;
            }
            let tombstones: Vec<OffsetsRecord> = expired
                .iter()
                .map(|(topic, partition)| OffsetsRecord::Offset {
                    group: g.id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: None,
                })
                .collect();
            if self.persist(&g.id, &tombstones).is_err() {
                continue;
            }
            tracing::info!(group = %g.id, offsets = expired.len(), "offsets expired (offsets.retention.minutes)");
            for tp in &expired {
                g.offsets.remove(tp);
            }
            if g.offsets.is_empty() && g.members.is_empty() && g.pending_txn.is_empty() {
                emptied.push(g.id.clone());
            }
        }
        for id in emptied {
            let tombstone = OffsetsRecord::Group {
                group: id.clone(),
                value: None,
            };
            if self.persist(&id, &[tombstone]).is_ok() {
                groups.remove(&id);
            }
        }
    }

    /// Drops committed offsets of a deleted topic.
    pub fn on_topic_deleted(&self, topic: &str) {
        let mut groups = self.groups.locked();
        for g in groups.values_mut() {
            let gone: Vec<(String, i32)> = g
                .offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .cloned()
                .collect();
            let tombstones: Vec<OffsetsRecord> = gone
                .iter()
                .map(|(t, p)| OffsetsRecord::Offset {
                    group: g.id.clone(),
                    topic: t.clone(),
                    partition: *p,
                    value: None,
                })
                .collect();
            for k in gone {
                g.offsets.remove(&k);
            }
            let _ = self.persist(&g.id.clone(), &tombstones);
        }
    }

    /// Answers every parked request so no client hangs; offsets are already in the log.
    pub fn shutdown(&self) {
        let mut groups = self.groups.locked();
        for g in groups.values_mut() {
            for m in g.members.values_mut() {
                if let Some((tx, _)) = m.join_waiter.take() {
                    let _ = tx.send(requests::join_error(14, &m.member_id)); // COORDINATOR_LOAD_IN_PROGRESS
                }
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(requests::sync_error(14));
                }
            }
        }
    }

    fn commit_records(group: &str, offsets: &[((String, i32), Committed)]) -> Vec<OffsetsRecord> {
        offsets
            .iter()
            .map(|((topic, partition), c)| OffsetsRecord::Offset {
                group: group.to_string(),
                topic: topic.clone(),
                partition: *partition,
                value: Some(OffsetValue {
                    offset: c.offset,
                    leader_epoch: c.leader_epoch,
                    metadata: c.metadata.clone(),
                    commit_timestamp: now_ms(),
                }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
