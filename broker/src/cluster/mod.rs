//! A multi-node dev cluster in one process (issue 17): N brokers, each a full node on its own
//! ports with its own data dir, sharing one in-process controller (`controller.rs`) that holds
//! every partition's replicas, leader, leader epoch and ISR. Followers replicate with the
//! Kafka protocol (`replica_fetcher.rs`: Fetch with a replica id, over TCP); the leader tracks
//! them (`replica_manager.rs`, `isr.rs`) and moves the high watermark (`high_watermark.rs`),
//! which gates consumer fetches and acks=all produces. A node stopped or isolated
//! (`ClusterHandle::stop_node`, `isolate_node`) is fenced by the controller, which elects new
//! leaders from the ISRs (`election.rs`); a returning node truncates to its leaders' logs
//! (`truncation.rs`) and rejoins the ISRs. `control.rs` offers these faults as text commands.
//!
//! Locks: the controller's maps are held only to read or change an entry, never while a log,
//! a node or another lock is reached (its `change` mutex, serialising topic changes, is taken
//! before any `TopicManager` or log lock). `ReplicaManager`'s follower map is never held with
//! a log lock: the leader's log end is read first, the high watermark written after. A
//! transaction coordinator writing markers to another node's partition takes that node's log
//! and group locks under its own mutex, as on one node; nothing takes them the other way round.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let cluster = krafty_broker::Broker::cluster(3)
//!     .listen("127.0.0.1:0")
//!     .config("default.replication.factor", "3")
//!     .start_cluster()
//!     .await?;
//! println!("bootstrap.servers={}", cluster.bootstrap_servers());
//! cluster.shutdown().await;
//! # Ok(()) }
//! ```

pub mod assignment;
pub mod control;
pub mod controller;
pub mod election;
pub mod high_watermark;
pub mod isr;
pub mod replica_fetcher;
pub mod replica_manager;
pub mod truncation;

use std::io;
use std::sync::{Arc, Mutex};

pub use controller::{Controller, PartitionState};
pub use replica_manager::ReplicaManager;

use crate::sync::LockExt;
use crate::topics::{TopicManager, OFFSETS_TOPIC};
use crate::{BrokerBuilder, BrokerHandle, NodeStart};

/// One replica of a partition as its node holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaInfo {
    pub node_id: i32,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
}

/// A running multi-node cluster.
pub struct ClusterHandle {
    nodes: Vec<NodeSlot>,
    controller: Arc<Controller>,
    tls: Option<crate::tls::Tls>,
}

/// One node: what it restarts with, and its broker while it runs.
struct NodeSlot {
    id: i32,
    config: Arc<crate::config::BrokerConfig>,
    data_dir: Option<std::path::PathBuf>,
    /// (listener name, bind address): after the first start, the ports it bound, so a
    /// restarted node is where clients and followers knew it.
    specs: Vec<(String, String)>,
    /// Its logs, kept while it is down (what a stopped process leaves on its disk).
    topics: Arc<TopicManager>,
    bootstrap: String,
    running: Mutex<Option<Arc<BrokerHandle>>>,
}

fn unknown_node(node: i32) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no node {node} in this cluster"),
    )
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

/// `host:port` with the port moved up by `by` (port 0 stays 0: each node picks its own).
fn shifted(addr: &str, by: i32) -> String {
    match addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<i32>().ok()?)))
    {
        Some((host, port)) if port != 0 => format!("{host}:{}", port + by),
        _ => addr.to_string(),
    }
}

/// Starts the builder's nodes: their topics opened first and handed to the controller, which
/// creates `__consumer_offsets` on all of them; then each node serves.
pub(crate) async fn start(builder: BrokerBuilder) -> io::Result<ClusterHandle> {
    let base = builder.build_config().map_err(invalid)?;
    let n = builder.node_count();
    let specs = builder.listener_specs()?;
    let root = builder.data_dir_path().map(|d| d.to_path_buf());
    if let Some(root) = &root {
        std::fs::create_dir_all(root)?;
    }
    if !specs.iter().any(|(name, _)| name == "PLAINTEXT") {
        return Err(invalid(
            "a multi-node cluster needs a PLAINTEXT listener: followers replicate over it",
        ));
    }
    // One certificate (and CA) for every node's TLS listeners.
    let tls = if specs.iter().any(|(name, _)| name.ends_with("SSL")) {
        Some(crate::tls::Tls::new(&base, root.as_deref()).map_err(invalid)?)
    } else {
        None
    };
    let cluster_id = base
        .cluster_id
        .clone()
        .unwrap_or_else(|| crate::cluster_id_for(root.as_deref()));
    let controller = Arc::new(Controller::new(base.replication.clone()));
    let mut prepared = Vec::new();
    for i in 0..n {
        let mut config = base.clone();
        config.node_id = base.node_id + i;
        config.cluster_id = Some(cluster_id.clone());
        config.advertised_port = config.advertised_port.map(|p| p + i);
        for (_, _, port) in &mut config.advertised_listeners {
            *port += i;
        }
        let config = Arc::new(config);
        let dir = root
            .as_ref()
            .map(|d| d.join(format!("node-{}", config.node_id)));
        let topics = Arc::new(TopicManager::open(dir.clone(), config.clone())?);
        controller.add_node(config.node_id, topics.clone());
        let node_specs: Vec<(String, String)> = specs
            .iter()
            .map(|(name, addr)| (name.clone(), shifted(addr, i)))
            .collect();
        prepared.push((config, dir, topics, node_specs));
    }
    controller.load();
    controller
        .create_internal(
            OFFSETS_TOPIC,
            base.group.offsets_topic_num_partitions,
            base.replication.offsets_topic_replication_factor,
            [("cleanup.policy".to_string(), "compact".to_string())].into(),
        )
        .map_err(|e| invalid(e.message))?;
    let mut nodes: Vec<NodeSlot> = Vec::new();
    for (config, data_dir, topics, specs) in prepared {
        let replicas = Arc::new(ReplicaManager::new(config.node_id, controller.clone()));
        let started = crate::start_node(NodeStart {
            config: config.clone(),
            data_dir: data_dir.clone(),
            specs,
            tls: tls.as_ref(),
            topics: Some(topics.clone()),
            cluster: Some(replicas),
        })
        .await;
        match started {
            Ok(node) => nodes.push(NodeSlot {
                id: config.node_id,
                config,
                data_dir,
                specs: node
                    .bound_listeners()
                    .into_iter()
                    .map(|(name, addr)| (name, addr.to_string()))
                    .collect(),
                topics,
                bootstrap: node.bootstrap_servers(),
                running: Mutex::new(Some(Arc::new(node))),
            }),
            Err(e) => {
                for node in &nodes {
                    let running = node.running.locked().take();
                    if let Some(n) = running {
                        n.shutdown().await;
                    }
                }
                return Err(e);
            }
        }
    }
    tracing::info!(nodes = n, "dev cluster started");
    Ok(ClusterHandle {
        nodes,
        controller,
        tls,
    })
}

impl ClusterHandle {
    /// Every running node, by ascending id.
    pub fn nodes(&self) -> Vec<Arc<BrokerHandle>> {
        self.nodes
            .iter()
            .filter_map(|n| n.running.locked().clone())
            .collect()
    }

    /// Every node's id, running or not.
    pub fn node_ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// The node with this id, while it runs.
    pub fn node(&self, id: i32) -> Option<Arc<BrokerHandle>> {
        self.slot(id)?.running.locked().clone()
    }

    fn slot(&self, id: i32) -> Option<&NodeSlot> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Every node's `host:port` (stopped ones too), comma-separated, for a client's
    /// `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        let all: Vec<&str> = self.nodes.iter().map(|n| n.bootstrap.as_str()).collect();
        all.join(",")
    }

    /// One node's `host:port`, running or not.
    pub fn node_bootstrap(&self, id: i32) -> Option<String> {
        Some(self.slot(id)?.bootstrap.clone())
    }

    /// Fault: stops `node` as a killed process stops (connections close mid-request; its
    /// logs stay). The controller fences it: the partitions it led elect new leaders from
    /// their ISRs with the leader epoch bumped, and it leaves every ISR. An error for an
    /// unknown node; stopping a stopped node does nothing.
    pub async fn stop_node(&self, node: i32) -> io::Result<()> {
        let slot = self.slot(node).ok_or_else(|| unknown_node(node))?;
        let Some(running) = slot.running.locked().take() else {
            return Ok(());
        };
        running.kill().await;
        self.controller.unregister(node);
        self.controller.fence_node(node);
        tracing::info!(node, "node stopped");
        Ok(())
    }

    /// Starts a stopped `node` again on its old ports over its logs. Partitions left without
    /// a leader whose last in-sync replica it is elect it; it follows the others, first
    /// truncating each log to where its leader's diverges (OffsetForLeaderEpoch), and rejoins
    /// their ISRs once caught up. Starting a running node does nothing.
    pub async fn start_node(&self, node: i32) -> io::Result<()> {
        let slot = self.slot(node).ok_or_else(|| unknown_node(node))?;
        if slot.running.locked().is_some() {
            return Ok(());
        }
        let replicas = Arc::new(ReplicaManager::new(node, self.controller.clone()));
        let started = crate::start_node(NodeStart {
            config: slot.config.clone(),
            data_dir: slot.data_dir.clone(),
            specs: slot.specs.clone(),
            tls: self.tls.as_ref(),
            topics: Some(slot.topics.clone()),
            cluster: Some(replicas),
        })
        .await?;
        *slot.running.locked() = Some(Arc::new(started));
        self.controller.unfence_node(node);
        tracing::info!(node, "node started");
        Ok(())
    }

    /// Fault: a network partition cuts `node` off from clients and the other nodes. Its
    /// connections go silent (requests time out; nothing is refused), its replica fetchers
    /// stop, and the controller fences it as it would a broker whose heartbeats stopped. The
    /// node keeps running, and keeps its state. [`heal_node`](Self::heal_node) ends it.
    pub fn isolate_node(&self, node: i32) -> io::Result<()> {
        let running = self.node(node).ok_or_else(|| unknown_node(node))?;
        running.shared.faults.set_isolated(true);
        if let Some(c) = &running.shared.cluster {
            c.fetchers_paused.send_replace(true);
        }
        self.controller.fence_node(node);
        tracing::info!(node, "node isolated");
        Ok(())
    }

    /// Ends [`isolate_node`](Self::isolate_node): the silent connections close, the node is
    /// unfenced and follows again, truncating first where its logs diverge.
    pub fn heal_node(&self, node: i32) -> io::Result<()> {
        let running = self.node(node).ok_or_else(|| unknown_node(node))?;
        self.controller.unfence_node(node);
        running.shared.faults.set_isolated(false);
        if let Some(c) = &running.shared.cluster {
            c.fetchers_paused.send_replace(false);
        }
        tracing::info!(node, "node healed");
        Ok(())
    }

    /// The controller's record of a partition: replicas, leader, leader epoch, ISR.
    pub fn partition_state(&self, topic: &str, partition: i32) -> Option<PartitionState> {
        self.controller.partition(topic, partition)
    }

    /// Each replica of a partition: its node's log start, log end and high watermark (a
    /// stopped node's as it left them).
    pub fn replicas(&self, topic: &str, partition: i32) -> Vec<ReplicaInfo> {
        let Some(state) = self.partition_state(topic, partition) else {
            return Vec::new();
        };
        state
            .replicas
            .iter()
            .filter_map(|id| {
                let log = self.slot(*id)?.topics.partition(topic, partition)?;
                let log = log.locked();
                Some(ReplicaInfo {
                    node_id: *id,
                    log_start_offset: log.log_start_offset(),
                    log_end_offset: log.log_end_offset(),
                    high_watermark: log.high_watermark(),
                })
            })
            .collect()
    }

    /// The batches a replica holds from `offset` on (up to `max_bytes`), as its log stores them.
    pub fn read_replica(
        &self,
        node: i32,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Option<bytes::Bytes> {
        let log = self.slot(node)?.topics.partition(topic, partition)?;
        let log = log.locked();
        log.read(offset, max_bytes, true).ok()
    }

    /// Fault: stops `node`'s replica fetchers (it falls behind every leader it follows, and
    /// leaves their ISRs after `replica.lag.time.max.ms` once they have records it lacks)
    /// until [`resume_replica_fetchers`](Self::resume_replica_fetchers).
    pub fn pause_replica_fetchers(&self, node: i32) {
        if let Some(c) = self.node(node).and_then(|n| n.shared.cluster.clone()) {
            c.fetchers_paused.send_replace(true);
        }
    }

    /// Ends [`pause_replica_fetchers`](Self::pause_replica_fetchers).
    pub fn resume_replica_fetchers(&self, node: i32) {
        if let Some(c) = self.node(node).and_then(|n| n.shared.cluster.clone()) {
            c.fetchers_paused.send_replace(false);
        }
    }

    /// Stops every node (all are told first, so none waits on another's fetches).
    pub async fn shutdown(&self) {
        let running = self.nodes();
        for node in &running {
            let _ = node.stop.send(true);
        }
        for node in &running {
            node.shutdown().await;
        }
    }
}
