//! One group's state: members, generation, the chosen protocol and committed offsets.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};

/// Kafka's classic group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups report.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// (protocol name, metadata), in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// Set while the member's JoinGroup waits for the rebalance to complete.
    pub join_waiter: Option<(oneshot::Sender<JoinGroupResponse>, i16)>,
    /// Set while the member's SyncGroup waits for the leader's assignment.
    pub sync_waiter: Option<oneshot::Sender<SyncGroupResponse>>,
    pub last_heartbeat: Instant,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Members waiting in a join or sync are kept alive regardless of heartbeats (as Kafka does).
    pub fn expired(&self, now: Instant) -> bool {
        self.join_waiter.is_none()
            && self.sync_waiter.is_none()
            && now.duration_since(self.last_heartbeat).as_millis() as i64
                > self.session_timeout_ms as i64
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    /// When it was committed (`offsets.retention.minutes` of a group without members' protocol).
    pub committed_at: Instant,
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// Keyed by member id; BTreeMap so iteration order is stable.
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out by MEMBER_ID_REQUIRED (KIP-394), not yet joined, with expiry.
    pub pending: HashMap<String, Instant>,
    /// group.instance.id → member id (KIP-345).
    pub static_members: HashMap<String, String>,
    /// When the current PreparingRebalance gives up on members that have not rejoined.
    pub rebalance_deadline: Option<Instant>,
    /// A new group waits `group.initial.rebalance.delay.ms` for more members before its first
    /// rebalance completes.
    pub initial_delay_until: Option<Instant>,
    pub offsets: HashMap<(String, i32), Committed>,
    /// Offsets committed inside a producer's open transaction (TxnOffsetCommit), by producer
    /// id: committed when its COMMIT marker is written, dropped on ABORT.
    pub pending_txn: HashMap<i64, HashMap<(String, i32), Committed>>,
    /// Since when the group has had no members (`offsets.retention.minutes` counts from it).
    pub empty_since: Option<Instant>,
}

impl Group {
    pub fn new(id: &str) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            offsets: HashMap::new(),
            pending_txn: HashMap::new(),
            empty_since: None,
        }
    }

    /// Whether `protocols` has at least one protocol every current member supports.
    pub fn supports(&self, protocols: &[(String, Bytes)]) -> bool {
        self.members.is_empty()
            || self
                .candidates()
                .iter()
                .any(|c| protocols.iter().any(|(n, _)| n == c))
    }

    fn candidates(&self) -> HashSet<String> {
        let mut it = self.members.values();
        let Some(first) = it.next() else {
            return HashSet::new();
        };
        let mut set: HashSet<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in it {
            let names: HashSet<String> = m.protocols.iter().map(|(n, _)| n.clone()).collect();
            set.retain(|n| names.contains(n));
        }
        set
    }

    /// Kafka's choice: among protocols all members support, each member votes for its most
    /// preferred one; the most votes wins (ties by name for determinism).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidates();
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(name.clone()).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(n, _)| n)
    }

    pub fn all_joined(&self) -> bool {
        self.members.values().all(|m| m.join_waiter.is_some())
    }

    pub fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms as i64)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            member_id: id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::new()))
                .collect(),
            assignment: Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            last_heartbeat: Instant::now(),
        }
    }

    #[tokio::test]
    async fn protocol_is_the_most_preferred_common_one() {
        let mut g = Group::new("g");
        g.members
            .insert("a".into(), member("a", &["cooperative-sticky", "range"]));
        g.members
            .insert("b".into(), member("b", &["range", "cooperative-sticky"]));
        g.members.insert("c".into(), member("c", &["range"]));
        assert_eq!(g.select_protocol().as_deref(), Some("range"));
        assert!(g.supports(&[("range".into(), Bytes::new())]));
        assert!(!g.supports(&[("roundrobin".into(), Bytes::new())]));
    }
}
