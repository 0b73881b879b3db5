//! The cluster's controller: one in-process object the nodes share (a quorum of one), holding
//! what Kafka's KRaft controller holds: the nodes and their endpoints, every partition's
//! replicas, leader, leader epoch and ISR, and the producer id blocks. Topic changes go
//! through it so every node's `TopicManager` gets the same topic, id and assignment; each node
//! keeps the logs of its own replicas. ISR changes arrive as AlterPartition would bring them,
//! from the partition's leader.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, RwLock, Weak};

use crate::config::ReplicationConfig;
use crate::shared::Shared;
use crate::sync::{LockExt, RwLockExt};
use crate::topics::{coordinator_partition, validate_topic_name, Topic, TopicError, TopicManager};

/// One partition as the controller records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// Node ids, the preferred leader first.
    pub replicas: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    /// The in-sync replicas, the leader included.
    pub isr: Vec<i32>,
    /// Bumped by every change of the partition (an ISR change included).
    pub partition_epoch: i32,
}

impl PartitionState {
    /// The replicas other than the leader, in assignment order.
    pub fn followers(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| *r != self.leader)
            .collect()
    }
}

/// A node's advertised endpoint on one listener: (listener name, host, port).
pub type Endpoint = (String, String, i32);

/// What the controller knows of one node.
struct Member {
    topics: Arc<TopicManager>,
    /// Set once the node serves.
    shared: Option<Weak<Shared>>,
    endpoints: Vec<Endpoint>,
    /// Where followers send their replica fetches (a PLAINTEXT listener).
    replication_address: Option<SocketAddr>,
    /// Stopped or cut off: it leads nothing, is in no ISR, and Metadata leaves it out.
    fenced: bool,
}

impl Member {
    /// Serving and not fenced: it may be elected.
    fn is_alive(&self) -> bool {
        !self.fenced && self.shared.as_ref().is_some_and(|s| s.strong_count() > 0)
    }
}

/// The cluster's metadata, shared by every node of the process.
pub struct Controller {
    members: RwLock<BTreeMap<i32, Member>>,
    partitions: RwLock<HashMap<(String, i32), PartitionState>>,
    /// Serialises topic creations, deletions and growth across the nodes.
    change: Mutex<()>,
    /// Producer ids are unique across the cluster (Kafka's controller hands out blocks).
    pub next_producer_id: Arc<AtomicI64>,
    pub replication: ReplicationConfig,
    /// Bumped by every leadership change (a node fenced or back), so replica fetchers drop a
    /// fetch parked on a node that no longer leads.
    leadership: tokio::sync::watch::Sender<u64>,
}

fn err(code: i16, message: impl Into<String>) -> TopicError {
    TopicError {
        code,
        message: message.into(),
    }
}

impl Controller {
    pub fn new(replication: ReplicationConfig) -> Controller {
        Controller {
            members: RwLock::new(BTreeMap::new()),
            partitions: RwLock::new(HashMap::new()),
            change: Mutex::new(()),
            next_producer_id: Arc::new(AtomicI64::new(1)),
            replication,
            leadership: tokio::sync::watch::channel(0).0,
        }
    }

    /// Adds a node by the topics it opened (before it serves).
    pub fn add_node(&self, id: i32, topics: Arc<TopicManager>) {
        self.members.write_locked().insert(
            id,
            Member {
                topics,
                shared: None,
                endpoints: Vec::new(),
                replication_address: None,
                fenced: false,
            },
        );
    }

    /// Records a serving node: its state, endpoints and replication address.
    pub fn register(
        &self,
        id: i32,
        shared: &Arc<Shared>,
        endpoints: Vec<Endpoint>,
        replication_address: Option<SocketAddr>,
    ) {
        if let Some(m) = self.members.write_locked().get_mut(&id) {
            m.shared = Some(Arc::downgrade(shared));
            m.endpoints = endpoints;
            m.replication_address = replication_address;
        }
    }

    /// The node ids, ascending.
    pub fn node_ids(&self) -> Vec<i32> {
        self.members.read_locked().keys().copied().collect()
    }

    /// The active controller's node id, as Metadata and DescribeCluster report it: the lowest
    /// node not fenced.
    pub fn controller_id(&self) -> i32 {
        self.members
            .read_locked()
            .iter()
            .find(|(_, m)| !m.fenced)
            .map_or(-1, |(id, _)| *id)
    }

    /// A node stopped or was cut off (Kafka's controller fencing a broker whose heartbeats
    /// stopped): the partitions it led elect new leaders with their leader epochs bumped, and
    /// it leaves every ISR. The other nodes are told; returns the partitions that changed.
    pub fn fence_node(&self, node: i32) -> Vec<(String, i32)> {
        let changed = {
            let mut members = self.members.write_locked();
            match members.get_mut(&node) {
                Some(m) => m.fenced = true,
                None => return Vec::new(),
            }
            let alive = |n: i32| members.get(&n).is_some_and(Member::is_alive);
            let unclean = self.replication.unclean_leader_election;
            self.change_partitions(|s| super::election::on_fenced(s, node, alive, unclean))
        };
        self.publish(&changed);
        changed
    }

    /// A fenced node is back (restarted, or reachable again): partitions left without a leader
    /// whose last in-sync replica it is elect it. It rejoins the other ISRs as its replica
    /// fetchers catch up. Returns the partitions that changed.
    pub fn unfence_node(&self, node: i32) -> Vec<(String, i32)> {
        match self.members.write_locked().get_mut(&node) {
            Some(m) => m.fenced = false,
            None => return Vec::new(),
        }
        let changed = self.change_partitions(|s| super::election::on_unfenced(s, node));
        self.publish(&changed);
        changed
    }

    /// Applies `f` to every partition state, keeping what it changes; the partitions changed.
    fn change_partitions(
        &self,
        f: impl Fn(&PartitionState) -> Option<PartitionState>,
    ) -> Vec<(String, i32)> {
        let mut changed = Vec::new();
        for (tp, state) in self.partitions.write_locked().iter_mut() {
            if let Some(next) = f(state) {
                tracing::info!(topic = %tp.0, partition = tp.1, leader = next.leader, leader_epoch = next.leader_epoch, isr = ?next.isr, "partition changed");
                *state = next;
                changed.push(tp.clone());
            }
        }
        changed.sort();
        changed
    }

    /// Watches leadership changes.
    pub fn leadership_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.leadership.subscribe()
    }

    /// Forgets a stopped node's state (it is fenced first); its endpoints stay for its return.
    pub fn unregister(&self, node: i32) {
        if let Some(m) = self.members.write_locked().get_mut(&node) {
            m.shared = None;
        }
    }

    /// Tells every serving node of partitions whose state changed (as the controller's
    /// metadata updates reach brokers): leaders take over, high watermarks re-track.
    fn publish(&self, changed: &[(String, i32)]) {
        self.leadership.send_modify(|n| *n += 1);
        for node in self.node_ids() {
            let Some(shared) = self.node(node) else {
                continue;
            };
            if let Some(replicas) = &shared.cluster {
                for (topic, p) in changed {
                    replicas.on_partition_change(&shared, topic, *p);
                }
            }
        }
    }

    /// Every node's endpoint on `listener` (by name; else its first), ascending by id.
    pub fn endpoints(&self, listener: &str) -> Vec<(i32, String, i32)> {
        self.members
            .read_locked()
            .iter()
            .filter(|(_, m)| !m.fenced)
            .filter_map(|(id, m)| {
                let e = m
                    .endpoints
                    .iter()
                    .find(|(name, _, _)| name == listener)
                    .or_else(|| m.endpoints.first())?;
                Some((*id, e.1.clone(), e.2))
            })
            .collect()
    }

    /// One node's endpoint on `listener`.
    pub fn endpoint(&self, node: i32, listener: &str) -> Option<(String, i32)> {
        self.endpoints(listener)
            .into_iter()
            .find(|(id, _, _)| *id == node)
            .map(|(_, host, port)| (host, port))
    }

    pub fn replication_address(&self, node: i32) -> Option<SocketAddr> {
        self.members.read_locked().get(&node)?.replication_address
    }

    /// A serving node's state.
    pub fn node(&self, node: i32) -> Option<Arc<Shared>> {
        self.members
            .read_locked()
            .get(&node)?
            .shared
            .as_ref()?
            .upgrade()
    }

    fn topic_managers(&self) -> Vec<(i32, Arc<TopicManager>)> {
        self.members
            .read_locked()
            .iter()
            .map(|(id, m)| (*id, m.topics.clone()))
            .collect()
    }

    /// Rebuilds the partition states from the topics the nodes opened (a restart): each
    /// partition led by its first replica, every replica in sync. A topic a single node wrote
    /// (no assignment) lives on the lowest node.
    pub fn load(&self) {
        let managers = self.topic_managers();
        let Some((first, topics)) = managers.first() else {
            return;
        };
        let mut partitions = self.partitions.write_locked();
        for topic in topics.all() {
            for p in 0..topic.partition_count() {
                let mut replicas = topic.replicas_of(p);
                if replicas.is_empty() {
                    replicas = vec![*first];
                }
                partitions.insert((topic.name.clone(), p), initial_state(replicas));
            }
        }
    }

    /// A copy of one partition's state.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<PartitionState> {
        self.partitions
            .read_locked()
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// The partitions `node` follows whose leader is `leader`, sorted.
    pub fn followed_from(&self, node: i32, leader: i32) -> Vec<(String, i32)> {
        let mut out: Vec<(String, i32)> = self
            .partitions
            .read_locked()
            .iter()
            .filter(|(_, s)| s.leader == leader && s.leader != node && s.replicas.contains(&node))
            .map(|(tp, _)| tp.clone())
            .collect();
        out.sort();
        out
    }

    /// The replicated partitions `node` leads (more than one replica).
    pub fn led_by(&self, node: i32) -> Vec<(String, i32)> {
        self.partitions
            .read_locked()
            .iter()
            .filter(|(_, s)| s.leader == node && s.replicas.len() > 1)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Records a new ISR from the partition's leader (AlterPartition): refused (`None`) when
    /// `leader` no longer leads it. A fenced node never joins (KIP-841: a fetch it sent before
    /// it stopped must not bring it back). The partition epoch is bumped.
    pub fn alter_isr(
        &self,
        topic: &str,
        partition: i32,
        leader: i32,
        mut isr: Vec<i32>,
    ) -> Option<PartitionState> {
        let fenced: Vec<i32> = self
            .members
            .read_locked()
            .iter()
            .filter(|(_, m)| m.fenced)
            .map(|(id, _)| *id)
            .collect();
        let mut partitions = self.partitions.write_locked();
        let state = partitions.get_mut(&(topic.to_string(), partition))?;
        if state.leader != leader {
            return None;
        }
        isr.retain(|n| state.isr.contains(n) || !fenced.contains(n));
        if state.isr != isr {
            tracing::info!(topic, partition, from = ?state.isr, to = ?isr, "ISR changed");
            state.isr = isr;
            state.partition_epoch += 1;
        }
        Some(state.clone())
    }

    /// The replication factor a creation asks for, checked against the nodes: -1 is
    /// `default.replication.factor`; more than the nodes is INVALID_REPLICATION_FACTOR.
    fn replication_factor(&self, asked: i16) -> Result<usize, TopicError> {
        let nodes = self.members.read_locked().len();
        let rf = if asked == -1 {
            self.replication.default_replication_factor
        } else {
            asked
        };
        if rf <= 0 || rf as usize > nodes {
            return Err(err(
                38,
                format!("Replication factor: {rf} larger than available brokers: {nodes}."),
            ));
        }
        Ok(rf as usize)
    }

    /// Creates a topic on every node: `replication_factor` replicas per partition assigned
    /// round-robin, or the request's own `assignment` (checked by the caller).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        assignment: Option<Vec<Vec<i32>>>,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        let _guard = self.change.locked();
        let managers = self.topic_managers();
        let Some((_, first)) = managers.first() else {
            return Err(err(-1, "the cluster has no nodes"));
        };
        validate_topic_name(name)?;
        if first.get(name).is_some() {
            return Err(err(36, format!("topic `{name}` already exists")));
        }
        let assignment = match assignment {
            Some(a) => a,
            None => {
                let count = first.partitions_to_create(partitions)?;
                let rf = self.replication_factor(replication_factor)?;
                let nodes = self.node_ids();
                let start = coordinator_partition(name, nodes.len()) as usize;
                super::assignment::assign(&nodes, 0, count, rf, start)
            }
        };
        if validate_only {
            return first.create_replicated(name, None, assignment, overrides, true);
        }
        let id = uuid::Uuid::new_v4();
        let mut created = None;
        for (node, topics) in &managers {
            match topics.create_replicated(
                name,
                Some(id),
                assignment.clone(),
                overrides.clone(),
                false,
            ) {
                Ok(t) => {
                    created.get_or_insert(t);
                }
                Err(e) if created.is_none() => return Err(e),
                Err(e) => tracing::error!(
                    node,
                    topic = name,
                    "creating a replica failed: {}",
                    e.message
                ),
            }
        }
        {
            let mut states = self.partitions.write_locked();
            for (p, replicas) in assignment.iter().enumerate() {
                states.insert(
                    (name.to_string(), p as i32),
                    initial_state(replicas.clone()),
                );
            }
        }
        self.apply_to_replicas(name, 0..assignment.len() as i32);
        created.ok_or_else(|| err(-1, "the cluster has no nodes"))
    }

    /// Creates an internal topic (`__consumer_offsets`, `__transaction_state`) unless it
    /// exists: its replication factor capped at the node count, as Kafka does for a cluster
    /// smaller than the setting.
    pub fn create_internal(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        let nodes = self.members.read_locked().len().max(1);
        let rf = (replication_factor.max(1) as usize).min(nodes) as i16;
        match self.create_topic(name, partitions, rf, None, overrides, false) {
            Err(e) if e.code == 36 => self
                .topic_managers()
                .first()
                .and_then(|(_, t)| t.get(name))
                .ok_or(e),
            other => other,
        }
    }

    /// Deletes a topic on every node (and its groups' offsets there).
    pub fn delete_topic(&self, name: &str) -> Result<(), TopicError> {
        let _guard = self.change.locked();
        let mut result = Ok(());
        for (i, (node, topics)) in self.topic_managers().into_iter().enumerate() {
            match topics.delete(name) {
                Ok(()) => {
                    if let Some(shared) = self.node(node) {
                        shared.groups.on_topic_deleted(name);
                    }
                }
                Err(e) if i == 0 => result = Err(e),
                Err(_) => {}
            }
        }
        result?;
        self.partitions.write_locked().retain(|(t, _), _| t != name);
        Ok(())
    }

    /// Grows a topic on every node: the new partitions on the `assignment` given (checked by
    /// the caller), else round-robin with the replication factor of its first.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _guard = self.change.locked();
        let managers = self.topic_managers();
        let Some(topic) = managers.first().and_then(|(_, t)| t.get(name)) else {
            return Err(err(3, format!("unknown topic `{name}`")));
        };
        let current = topic.partition_count();
        let rf = topic.replicas_of(0).len().max(1);
        let nodes = self.node_ids();
        let start = coordinator_partition(name, nodes.len()) as usize;
        let added = match assignment {
            Some(a) => a,
            None => super::assignment::assign(&nodes, current, (count - current).max(0), rf, start),
        };
        for (i, (_, topics)) in managers.iter().enumerate() {
            let r = topics.create_partitions_replicated(name, count, added.clone(), validate_only);
            if i == 0 {
                r?;
            }
        }
        if validate_only {
            return Ok(());
        }
        {
            let mut states = self.partitions.write_locked();
            for (i, replicas) in added.iter().enumerate() {
                states.insert(
                    (name.to_string(), current + i as i32),
                    initial_state(replicas.clone()),
                );
            }
        }
        self.apply_to_replicas(name, current..count);
        Ok(())
    }

    /// Gives every other node the topic config overrides `from` holds now (after an
    /// AlterConfigs there).
    pub fn copy_overrides(&self, name: &str, from: &TopicManager) {
        let Some(overrides) = from.get(name).map(|t| t.overrides()) else {
            return;
        };
        for (node, topics) in self.topic_managers() {
            if std::ptr::eq(Arc::as_ptr(&topics), from) {
                continue;
            }
            let replace = |o: &mut BTreeMap<String, String>| {
                *o = overrides.clone();
                Ok(())
            };
            if let Err(e) = topics.alter_configs(name, replace, false) {
                tracing::warn!(
                    node,
                    topic = name,
                    "copying topic configs failed: {}",
                    e.message
                );
            }
        }
    }

    /// Tells each serving replica of new partitions their state.
    fn apply_to_replicas(&self, topic: &str, partitions: std::ops::Range<i32>) {
        let changed: Vec<(String, i32)> = partitions.map(|p| (topic.to_string(), p)).collect();
        self.publish(&changed);
    }
}

/// A new partition's state: led by its first replica, every replica in sync, epoch 0.
fn initial_state(replicas: Vec<i32>) -> PartitionState {
    PartitionState {
        leader: replicas.first().copied().unwrap_or(-1),
        leader_epoch: 0,
        isr: replicas.clone(),
        replicas,
        partition_epoch: 0,
    }
}
