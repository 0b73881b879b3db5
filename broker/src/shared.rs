//! What every request handler reads: the broker's state (`Shared`) and the listener a
//! connection came in on. `server.rs` owns connections and `api/` the handlers; both depend on
//! this module, not on each other.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use tokio::sync::watch;

use std::collections::BTreeMap;

use crate::cluster::ReplicaManager;
use crate::config::BrokerConfig;
use crate::fault::Faults;
use crate::group::GroupCoordinator;
use crate::sasl::SaslUsers;
use crate::topics::{
    coordinator_partition, Topic, TopicError, TopicManager, TRANSACTION_STATE_TOPIC,
};
use crate::txn::TransactionCoordinator;

/// One listener: its name (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`) and the address
/// Metadata and FindCoordinator advertise to the clients that connected through it.
#[derive(Clone)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: i32,
    /// Whether connections must authenticate (SASL_PLAINTEXT, SASL_SSL).
    pub sasl: bool,
    /// The TLS side of SSL and SASL_SSL listeners.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Everything request handlers share.
pub struct Shared {
    pub config: Arc<BrokerConfig>,
    pub topics: Arc<TopicManager>,
    pub groups: Arc<GroupCoordinator>,
    pub txns: TransactionCoordinator,
    /// Fetch sessions (KIP-227).
    pub fetch_sessions: crate::api::fetch_session::FetchSessions,
    pub faults: Arc<Faults>,
    /// The next producer id InitProducerId hands out (above every id found in the logs); one
    /// counter for every node of a multi-node cluster.
    pub next_producer_id: Arc<AtomicI64>,
    /// No data dir: the logs live in memory, and log calls run in place rather than on the
    /// blocking pool (`api::off_workers`), as there is no disk to wait for.
    pub in_memory: bool,
    /// Flips to true when the broker shuts down: a parked fetch answers at once, so shutdown
    /// does not wait out its `max_wait_ms`.
    pub stopping: watch::Receiver<bool>,
    /// Host and port advertised in Metadata and FindCoordinator.
    pub host: String,
    pub port: i32,
    pub cluster_id: String,
    /// Users and mechanisms of the SASL listeners.
    pub sasl: Arc<SaslUsers>,
    /// Successful SASL exchanges, renewals included (`BrokerHandle::sasl_authentications`).
    pub authentications: std::sync::atomic::AtomicU64,
    /// Read passes made by fetches: one per fetch, plus one per wake-up of a parked fetch
    /// (tests count them to see which appends wake which fetches).
    pub fetch_reads: std::sync::atomic::AtomicU64,
    /// Broker configs set at run time (AlterConfigs on a BROKER resource).
    pub broker_configs: crate::broker_configs::DynamicBrokerConfigs,
    /// This node's replication on a multi-node cluster (`cluster/`); `None` on one node, which
    /// leads every partition.
    pub cluster: Option<Arc<ReplicaManager>>,
}

impl Shared {
    /// NOT_LEADER_OR_FOLLOWER when another node of the cluster leads the partition.
    pub fn leader_error(&self, topic: &str, partition: i32) -> Option<i16> {
        self.cluster.as_ref()?.leader_error(topic, partition)
    }

    /// Creates a topic: on one node here, on a cluster on every node through the controller
    /// (replication factor -1: `default.replication.factor`).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        match &self.cluster {
            None => self.topics.create(
                name,
                partitions,
                replication_factor,
                overrides,
                validate_only,
            ),
            Some(c) => c.controller.create_topic(
                name,
                partitions,
                replication_factor,
                None,
                overrides,
                validate_only,
            ),
        }
    }

    /// Runs `f` on the node that leads the partition (this one on a single node); `None`
    /// when that node is not serving.
    pub fn on_leader<R>(
        &self,
        topic: &str,
        partition: i32,
        f: impl FnOnce(&Shared) -> R,
    ) -> Option<R> {
        let Some(c) = &self.cluster else {
            return Some(f(self));
        };
        match c.controller.partition(topic, partition) {
            Some(state) if state.leader != c.node_id => {
                let leader = c.controller.node(state.leader)?;
                Some(f(&leader))
            }
            _ => Some(f(self)),
        }
    }

    /// Runs `f` on the transaction coordinator of `transactional_id`: the node leading its
    /// `__transaction_state` partition (this one on a single node, or before that topic
    /// exists).
    pub fn on_txn_coordinator<R>(&self, transactional_id: &str, f: impl FnOnce(&Shared) -> R) -> R {
        let partitions = self
            .topics
            .get(TRANSACTION_STATE_TOPIC)
            .map_or(0, |t| t.partition_count());
        if partitions == 0 || self.cluster.is_none() {
            return f(self);
        }
        let p = coordinator_partition(transactional_id, partitions as usize);
        let mut f = Some(f);
        let answer = self.on_leader(TRANSACTION_STATE_TOPIC, p, |s| (f.take().expect("once"))(s));
        match answer {
            Some(a) => a,
            None => (f.take().expect("not run"))(self),
        }
    }

    /// Whether another node of the cluster coordinates `key` (a group id in
    /// `__consumer_offsets`, a transactional id in `__transaction_state`): it leads the key's
    /// partition. Never on one node, nor before the internal topic exists.
    pub fn coordinated_elsewhere(&self, internal_topic: &str, key: &str) -> bool {
        let Some(c) = &self.cluster else {
            return false;
        };
        let Some(partitions) = self.topics.get(internal_topic).map(|t| t.partition_count()) else {
            return false;
        };
        let p = coordinator_partition(key, partitions as usize);
        c.controller
            .partition(internal_topic, p)
            .is_some_and(|s| s.leader != c.node_id)
    }

    /// Every serving node of the cluster (this one alone on a single node).
    pub fn each_node(&self, mut f: impl FnMut(&Shared)) {
        let Some(c) = &self.cluster else {
            return f(self);
        };
        for id in c.controller.node_ids() {
            if id == c.node_id {
                f(self);
            } else if let Some(node) = c.controller.node(id) {
                f(&node);
            }
        }
    }
}
