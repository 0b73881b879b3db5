//! Krafty's dev broker: a single-node broker that speaks the Kafka wire protocol.
//!
//! Any Kafka client (Krafty, librdkafka, kafka-python, the Java client) works against it
//! unchanged. Embed it in a test:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let broker = krafty_broker::Broker::builder()
//!     .listen("127.0.0.1:0")
//!     .config("num.partitions", "3")
//!     .start()
//!     .await?;
//! println!("bootstrap.servers={}", broker.bootstrap_servers());
//! broker.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! or run the `krafty-broker` binary. Data lives in memory unless a data dir is given.
//! `Broker::cluster(3)...start_cluster()` (`krafty-broker --nodes 3`) runs a replicated
//! multi-node cluster in one process instead (`cluster/`).
//!
//! A SASL_PLAINTEXT listener beside the plaintext one, with PLAIN and SCRAM users:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let broker = krafty_broker::Broker::builder()
//!     .listeners("PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0")
//!     .sasl_user("alice", "alice-secret")
//!     .start()
//!     .await?;
//! let sasl_bootstrap = broker.listener_bootstrap("SASL_PLAINTEXT").unwrap();
//! # Ok(()) }
//! ```
//!
//! SSL and SASL_SSL listeners serve a certificate generated at start for `localhost` and
//! `127.0.0.1` (or `ssl.certificate.location` / `ssl.key.location`); clients trust its CA:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let broker = krafty_broker::Broker::builder()
//!     .listeners("SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0")
//!     .sasl_user("alice", "alice-secret")
//!     .start()
//!     .await?;
//! std::fs::write("/tmp/ca.pem", broker.tls_ca_pem().unwrap())?; // ssl.ca.location
//! # Ok(()) }
//! ```

mod api;
mod broker_configs;
pub mod cli;
pub mod cluster;
pub mod config;
mod durable;
pub mod fault;
pub mod group;
pub mod log;
mod oauthbearer;
mod sasl;
mod server;
mod shared;
mod sync;
mod tls;
pub mod topics;
pub mod txn;
pub mod wire;

use crate::sync::{LockExt, RwLockExt};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use tokio::sync::watch;

pub use cluster::{ClusterHandle, PartitionState, ReplicaInfo};
pub use config::{BrokerConfig, ConfigError};
pub use fault::Faults;

/// The allocator the broker's binaries (and the Python package) run on: mimalloc, for speed.
/// Any allocator is safe against crafted requests: array, string and bytes lengths are checked
/// against the bytes left in the frame before anything is allocated (the workspace patches
/// `kafka-protocol` for that, vendor/kafka-protocol/KRAFTY-PATCH.md), so a count of 2^31
/// closes only its own connection under the system allocator too.
pub use mimalloc::MiMalloc as ServerAllocator;

use crate::group::GroupCoordinator;
use crate::topics::{TopicManager, OFFSETS_TOPIC};

/// Builds and starts a broker.
#[derive(Debug, Default)]
pub struct BrokerBuilder {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    listeners: Option<String>,
    sasl_users: Vec<(String, String)>,
    properties: Vec<(String, String)>,
    properties_file: Option<PathBuf>,
    /// Nodes of a multi-node cluster (`start_cluster`); 0 or 1: one broker.
    nodes: i32,
}

/// Entry point of the embedding API.
pub struct Broker;

impl Broker {
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// A builder for an `n`-node cluster (start it with `start_cluster`).
    pub fn cluster(n: i32) -> BrokerBuilder {
        BrokerBuilder::default().nodes(n)
    }
}

/// What one node starts with. A single broker opens its own topics; a cluster's nodes get
/// theirs opened beforehand (the controller creates the internal topics on all of them) and
/// their replication state, which reaches the controller (and its producer id counter).
pub(crate) struct NodeStart<'a> {
    pub config: Arc<BrokerConfig>,
    pub data_dir: Option<PathBuf>,
    /// (listener name, bind address)
    pub specs: Vec<(String, String)>,
    pub tls: Option<&'a tls::Tls>,
    pub topics: Option<Arc<TopicManager>>,
    pub cluster: Option<Arc<cluster::ReplicaManager>>,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

impl BrokerBuilder {
    /// Keeps the logs in `dir` (durable across restarts); without it data lives in memory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The address to listen on (default `127.0.0.1:9092`; port 0 picks a free one).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = Some(addr.into());
        self
    }

    /// The listeners, Kafka's way: `PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093`
    /// (names are the security protocols: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL; an empty
    /// host means loopback). TLS listeners take their certificate from the `ssl.*` properties
    /// or generate one (see `BrokerHandle::tls_ca_pem`). Replaces `listen`; the first listener is `bootstrap_servers()`.
    pub fn listeners(mut self, spec: impl Into<String>) -> Self {
        self.listeners = Some(spec.into());
        self
    }

    /// A user SASL listeners accept (PLAIN, and SCRAM with credentials derived at start).
    pub fn sasl_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.sasl_users.push((name.into(), password.into()));
        self
    }

    /// Sets a broker property by Kafka's name (`num.partitions`, `log.retention.ms`, ...).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }

    /// Loads properties from a `server.properties` file (applied before `config` calls).
    pub fn properties_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.properties_file = Some(path.into());
        self
    }

    /// Starts `n` nodes in one process (`start_cluster`): node ids `node.id` (default 1) to
    /// `node.id + n - 1`, each on its own ports (listener ports other than 0 go up by one per
    /// node), each with `<data dir>/node-<id>` when a data dir is given.
    pub fn nodes(mut self, n: i32) -> Self {
        self.nodes = n;
        self
    }

    /// The listeners to bind: (name, address).
    pub(crate) fn listener_specs(&self) -> io::Result<Vec<(String, String)>> {
        Ok(match (&self.listeners, &self.listen) {
            (Some(_), Some(_)) => return Err(invalid("give either listen or listeners, not both")),
            (Some(spec), None) => parse_listeners(spec).map_err(invalid)?,
            (None, listen) => vec![(
                "PLAINTEXT".to_string(),
                listen.clone().unwrap_or_else(|| "127.0.0.1:9092".into()),
            )],
        })
    }

    pub(crate) fn node_count(&self) -> i32 {
        self.nodes.max(1)
    }

    pub(crate) fn data_dir_path(&self) -> Option<&std::path::Path> {
        self.data_dir.as_deref()
    }

    /// Starts a multi-node cluster (`nodes`) on the current tokio runtime.
    pub async fn start_cluster(self) -> io::Result<ClusterHandle> {
        cluster::start(self).await
    }

    /// Validates the configuration without starting anything.
    pub fn build_config(&self) -> Result<BrokerConfig, ConfigError> {
        let mut config = BrokerConfig::default();
        if let Some(path) = &self.properties_file {
            config.load_properties_file(path)?;
        }
        for (k, v) in &self.properties {
            config.set(k, v)?;
        }
        config.sasl_users.extend(self.sasl_users.iter().cloned());
        Ok(config)
    }

    /// Starts the broker on the current tokio runtime.
    pub async fn start(self) -> io::Result<BrokerHandle> {
        if self.nodes > 1 {
            return Err(invalid(
                "a multi-node cluster starts with start_cluster (it returns every node)",
            ));
        }
        let config = Arc::new(self.build_config().map_err(invalid)?);
        let specs = self.listener_specs()?;
        // One TLS configuration (and generated certificate) for every TLS listener.
        let tls = if specs.iter().any(|(n, _)| n.ends_with("SSL")) {
            Some(tls::Tls::new(&config, self.data_dir.as_deref()).map_err(invalid)?)
        } else {
            None
        };
        start_node(NodeStart {
            config,
            data_dir: self.data_dir.clone(),
            specs,
            tls: tls.as_ref(),
            topics: None,
            cluster: None,
        })
        .await
    }
}

/// Starts one node: binds its listeners, opens (or takes) its topics, starts its coordinators
/// and background tasks, and on a cluster registers with the controller and starts its
/// replica fetchers.
pub(crate) async fn start_node(node: NodeStart<'_>) -> io::Result<BrokerHandle> {
    let NodeStart {
        config,
        data_dir,
        specs,
        tls,
        topics,
        cluster,
    } = node;
    let mut bound = Vec::new();
    for (i, (name, addr)) in specs.into_iter().enumerate() {
        let tcp = tokio::net::TcpListener::bind(&addr).await?;
        let local = tcp.local_addr()?;
        let advertised = config
            .advertised_listeners
            .iter()
            .find(|(n, _, _)| *n == name);
        let (host, port) = match advertised {
            Some((_, host, port)) if !host.is_empty() => (host.clone(), *port),
            Some((_, _, port)) => (local.ip().to_string(), *port),
            // The first listener keeps the older single-address overrides.
            None if i == 0 => (
                config
                    .advertised_host
                    .clone()
                    .unwrap_or_else(|| local.ip().to_string()),
                config.advertised_port.unwrap_or(local.port() as i32),
            ),
            None => (local.ip().to_string(), local.port() as i32),
        };
        let sasl = name.starts_with("SASL_");
        let listener_tls = match &tls {
            Some(t) if name.ends_with("SSL") => Some(t.acceptor.clone()),
            _ => None,
        };
        if !local.ip().is_loopback() && !sasl {
            tracing::warn!(%local, "listener {name} is bound beyond loopback without authentication");
        }
        bound.push((
            tcp,
            local,
            shared::Listener {
                name,
                host,
                port,
                sasl,
                tls: listener_tls,
            },
        ));
    }
    let local_addr = bound[0].1;
    // Followers fetch over a PLAINTEXT listener (loopback when bound to every address).
    let replication_address =
        bound
            .iter()
            .find(|(_, _, l)| l.name == "PLAINTEXT")
            .map(|(_, local, _)| {
                let mut a = *local;
                if a.ip().is_unspecified() {
                    a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                a
            });
    let topics = match topics {
        Some(t) => t,
        None => Arc::new(TopicManager::open(data_dir.clone(), config.clone())?),
    };
    let partitions = config.group.offsets_topic_num_partitions;
    let offsets = match topics.get(OFFSETS_TOPIC) {
        Some(t) => t,
        // Compacted, as Kafka's: a group's latest commit per partition is kept forever.
        None => topics
            .create(
                OFFSETS_TOPIC,
                partitions,
                1,
                [("cleanup.policy".to_string(), "compact".to_string())].into(),
                false,
            )
            .map_err(|e| invalid(e.message))?,
    };
    let offsets_logs = offsets.partitions.read_locked().clone();
    // On a cluster this node coordinates the groups of the partitions it leads; the others'
    // replicas are not its to load or write (an empty in-memory log stands in).
    let offsets_logs = match &cluster {
        None => offsets_logs,
        Some(c) => offsets_logs
            .into_iter()
            .enumerate()
            .map(|(p, log)| match c.leader_error(OFFSETS_TOPIC, p as i32) {
                None => Ok(log),
                Some(_) => {
                    let stand_in = log::PartitionLog::open(None, log.locked().config().clone())?;
                    Ok(Arc::new(std::sync::Mutex::new(stand_in)))
                }
            })
            .collect::<io::Result<Vec<_>>>()?,
    };
    let exists_topics = topics.clone();
    let groups = GroupCoordinator::new(
        config.group.clone(),
        offsets_logs,
        Arc::new(move |t: &str, p: i32| exists_topics.partition(t, p).is_some()),
    );
    let max_pid = topics
        .all()
        .iter()
        .flat_map(|t| t.partitions.read_locked().clone())
        .map(|l| l.locked().max_producer_id())
        .max()
        .unwrap_or(0);
    let cluster_id = config
        .cluster_id
        .clone()
        .unwrap_or_else(|| cluster_id_for(data_dir.as_deref()));
    let next_producer_id = match &cluster {
        Some(c) => c.controller.next_producer_id.clone(),
        None => Arc::new(AtomicI64::new(0)),
    };
    next_producer_id.fetch_max(max_pid + 1, std::sync::atomic::Ordering::SeqCst);
    let sasl = Arc::new(sasl::SaslUsers::new(
        &config.sasl_users,
        config.sasl_enabled_mechanisms.clone(),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(shared::Shared {
        stopping: stop_rx.clone(),
        host: bound[0].2.host.clone(),
        port: bound[0].2.port,
        config: config.clone(),
        topics: topics.clone(),
        groups: groups.clone(),
        txns: txn::TransactionCoordinator::new(config.txn.clone()),
        fetch_sessions: Default::default(),
        faults: Arc::new(Faults::default()),
        next_producer_id,
        in_memory: data_dir.is_none(),
        cluster_id,
        sasl,
        authentications: Default::default(),
        fetch_reads: Default::default(),
        broker_configs: Default::default(),
        cluster: cluster.clone(),
    });
    if let Some(c) = &cluster {
        let endpoints = bound
            .iter()
            .map(|(_, _, l)| (l.name.clone(), l.host.clone(), l.port))
            .collect();
        c.controller
            .register(c.node_id, &shared, endpoints, replication_address);
        c.apply_all(&shared);
    }
    // Before any client connects: transactions a crash left half-ended are finished.
    shared.txns.load(&shared);
    let mut tasks = Vec::new();
    let mut listeners = Vec::new();
    let mut unauthenticated = Vec::new();
    for (tcp, local, listener) in bound {
        tracing::info!(%local, listener = %listener.name, "listening");
        // OAUTHBEARER takes unsecured tokens, which anyone can make.
        let authenticated = listener.sasl
            && !config
                .sasl_enabled_mechanisms
                .iter()
                .any(|m| m == "OAUTHBEARER");
        if exposed_without_authentication(&local, authenticated) {
            tracing::warn!(
                %local,
                listener = %listener.name,
                "listening beyond loopback without authentication: whoever reaches this \
                 address can read and write every topic (use a SASL listener without \
                 OAUTHBEARER, whose unsecured tokens anyone can make)"
            );
            unauthenticated.push(local);
        }
        listeners.push((
            listener.name.clone(),
            local,
            format!("{}:{}", listener.host, listener.port),
        ));
        tasks.push(tokio::spawn(server::serve(
            tcp,
            Arc::new(listener),
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    let retention = tokio::spawn(retention_task(
        topics.clone(),
        config.retention_check_interval_ms,
        stop_rx,
    ));
    tasks.push(retention);
    tasks.push(tokio::spawn(cleaner_task(
        topics.clone(),
        config.cleaner_backoff_ms,
        shared.stopping.clone(),
    )));
    tasks.push(tokio::spawn(flush_task(
        topics.clone(),
        config.flush_scheduler_interval_ms,
        shared.stopping.clone(),
    )));
    tasks.push(tokio::spawn(abort_timed_out_transactions(
        shared.clone(),
        shared.stopping.clone(),
    )));
    if let Some(c) = &cluster {
        tasks.push(tokio::spawn(cluster::replica_manager::isr_task(
            shared.clone(),
            shared.stopping.clone(),
        )));
        for leader in c.controller.node_ids() {
            if leader != c.node_id {
                tasks.push(tokio::spawn(cluster::replica_fetcher::run(
                    shared.clone(),
                    leader,
                    shared.stopping.clone(),
                )));
            }
        }
    }
    tracing::info!(%local_addr, node_id = config.node_id, data_dir = ?data_dir, "dev broker started");
    Ok(BrokerHandle {
        local_addr,
        listeners,
        unauthenticated,
        tls_ca_pem: tls.and_then(|t| t.generated_ca_pem.clone()),
        shared,
        stop: stop_tx,
        tasks: std::sync::Mutex::new(tasks),
    })
}

impl BrokerBuilder {
    /// Starts the broker on a runtime of its own, for callers without one (bindings, threads).
    pub fn start_blocking(self) -> io::Result<BlockingBroker> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("krafty-broker")
            .enable_all()
            .build()?;
        let handle = runtime.block_on(self.start())?;
        Ok(BlockingBroker {
            runtime: Some(runtime),
            handle: Some(handle),
        })
    }
}

/// `NAME://host:port,...` as Kafka's `listeners`; returns (name, bind address) pairs.
fn parse_listeners(spec: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let bad = |reason: String| ConfigError {
        property: "listeners".into(),
        reason,
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, addr) = entry
            .split_once("://")
            .ok_or_else(|| bad(format!("`{entry}` is not NAME://host:port")))?;
        let name = name.to_ascii_uppercase();
        match name.as_str() {
            "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL" => {}
            _ => {
                return Err(bad(format!(
                    "`{entry}`: the listener must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                )))
            }
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(bad(format!("{name} is listed twice")));
        }
        let (host, port) = addr
            .rsplit_once(':')
            .filter(|(_, p)| p.parse::<u16>().is_ok())
            .ok_or_else(|| bad(format!("`{entry}` is not NAME://host:port")))?;
        let host = if host.is_empty() { "127.0.0.1" } else { host };
        out.push((name, format!("{host}:{port}")));
    }
    if out.is_empty() {
        return Err(bad("no listener given".into()));
    }
    Ok(out)
}

/// A stable cluster id for a data dir (so clients see the same cluster after a restart).
pub(crate) fn cluster_id_for(dir: Option<&std::path::Path>) -> String {
    let Some(dir) = dir else {
        return format!("krafty-{}", uuid::Uuid::new_v4().simple());
    };
    let file = dir.join("meta.properties");
    if let Ok(text) = std::fs::read_to_string(&file) {
        if let Some(id) = text.lines().find_map(|l| l.strip_prefix("cluster.id=")) {
            return id.trim().to_string();
        }
    }
    let id = format!("krafty-{}", uuid::Uuid::new_v4().simple());
    let _ = std::fs::write(file, format!("version=1\ncluster.id={id}\n"));
    id
}

async fn retention_task(topics: Arc<TopicManager>, every_ms: u64, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(every_ms));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let topics = topics.clone();
                // Deleting and rolling segments is file I/O: off the async workers.
                let _ = tokio::task::spawn_blocking(move || topics.enforce_retention(log::now_ms())).await;
            }
            _ = stop.changed() => return,
        }
    }
}

/// The log cleaner: a compaction pass every `log.cleaner.backoff.ms`.
async fn cleaner_task(topics: Arc<TopicManager>, every_ms: u64, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(every_ms));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let topics = topics.clone();
                // Rewriting segments is file I/O: off the async workers.
                let _ = tokio::task::spawn_blocking(move || topics.clean_all(log::now_ms())).await;
            }
            _ = stop.changed() => return,
        }
    }
}

/// The log flusher: every `log.flush.scheduler.interval.ms`, the partitions whose oldest
/// unflushed append is `flush.ms` old are fsynced and the recovery points checkpointed.
async fn flush_task(topics: Arc<TopicManager>, every_ms: u64, mut stop: watch::Receiver<bool>) {
    // Kafka's "never" (Long.MAX_VALUE) would overflow a timer: a check every 49 days is never.
    let every = std::time::Duration::from_millis(every_ms.min(u32::MAX as u64));
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let topics = topics.clone();
                // fsync is file I/O: off the async workers.
                let _ = tokio::task::spawn_blocking(move || topics.flush_due(log::now_ms())).await;
            }
            _ = stop.changed() => return,
        }
    }
}

/// Aborts transactions open longer than their `transaction.timeout.ms`.
async fn abort_timed_out_transactions(
    shared: Arc<shared::Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(shared.txns.abort_interval());
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // Markers and the coordinator's records are log appends.
                api::off_workers(&shared, |shared| shared.txns.abort_expired(shared, log::now_ms())).await;
            }
            _ = stop.changed() => return,
        }
    }
}

/// A running broker.
pub struct BrokerHandle {
    local_addr: SocketAddr,
    /// Each listener: name, bound address, advertised `host:port`.
    listeners: Vec<(String, SocketAddr, String)>,
    /// The generated CA's certificate (PEM), when TLS listeners generated theirs.
    tls_ca_pem: Option<String>,
    /// Addresses beyond loopback that serve without authentication.
    unauthenticated: Vec<SocketAddr>,
    shared: Arc<shared::Shared>,
    stop: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// A listener anyone who can reach it may use: no SASL (or SASL taking unsecured tokens),
/// bound beyond loopback (the dev broker binds loopback unless told otherwise, and says so
/// when it is told).
fn exposed_without_authentication(local: &SocketAddr, authenticated: bool) -> bool {
    !authenticated && !local.ip().is_loopback()
}

impl BrokerHandle {
    /// This node's id (`node.id`; on a cluster, one of the cluster's ids).
    pub fn node_id(&self) -> i32 {
        self.shared.config.node_id
    }

    /// The listeners bound beyond loopback without authentication (warned about at start).
    pub fn unauthenticated_listeners(&self) -> &[SocketAddr] {
        &self.unauthenticated
    }

    /// Fetch sessions (KIP-227) open now.
    pub fn fetch_sessions(&self) -> usize {
        self.shared.fetch_sessions.len()
    }

    /// Successful SASL authentications so far, re-authentications included (KIP-368).
    pub fn sasl_authentications(&self) -> u64 {
        self.shared
            .authentications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `host:port` for a client's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        format!("{}:{}", self.shared.host, self.shared.port)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `host:port` of the listener named `name` (`PLAINTEXT`, `SASL_PLAINTEXT`), if there is one.
    pub fn listener_bootstrap(&self, name: &str) -> Option<String> {
        self.listeners
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, _, advertised)| advertised.clone())
    }

    /// The PEM of the CA that signed the TLS listeners' generated certificate (valid for
    /// `localhost` and `127.0.0.1`), for a client's `ssl.ca.location`; also written to
    /// `tls-ca.pem` in the data dir. `None` without TLS listeners or with certificate files.
    pub fn tls_ca_pem(&self) -> Option<&str> {
        self.tls_ca_pem.as_deref()
    }

    /// Fault injection controls.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Runs retention on every partition now (tests; otherwise every
    /// `log.retention.check.interval.ms`).
    pub fn enforce_retention(&self) {
        self.shared.topics.enforce_retention(log::now_ms());
    }

    /// Each listener: (name, bound address).
    pub fn bound_listeners(&self) -> Vec<(String, SocketAddr)> {
        self.listeners
            .iter()
            .map(|(n, a, _)| (n.clone(), *a))
            .collect()
    }

    /// Stops at once, as a killed process: connections close mid-request, nothing is
    /// flushed (what was written stays in the files, as after a kill).
    pub(crate) async fn kill(&self) {
        // Aborted before they are told to stop: a request waiting (an acks=all produce, a
        // parked fetch) is not answered, its connection just closes.
        let tasks: Vec<_> = self.tasks.locked().drain(..).collect();
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        let _ = self.stop.send(true);
        self.shared.groups.shutdown();
        tracing::info!(node_id = self.node_id(), "dev broker killed");
    }

    /// Stops accepting, lets in-flight requests finish, flushes every log.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<_> = self.tasks.locked().drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
        self.shared.groups.shutdown();
        self.shared.topics.flush_all();
        tracing::info!("dev broker stopped");
    }
}

/// A broker with its own runtime, for non-async callers. Shuts down on drop.
pub struct BlockingBroker {
    runtime: Option<tokio::runtime::Runtime>,
    handle: Option<BrokerHandle>,
}

impl BlockingBroker {
    pub fn bootstrap_servers(&self) -> String {
        self.handle.as_ref().expect("running").bootstrap_servers()
    }

    pub fn faults(&self) -> &Faults {
        self.handle.as_ref().expect("running").faults()
    }

    /// `host:port` of the listener named `name`, if there is one.
    pub fn listener_bootstrap(&self, name: &str) -> Option<String> {
        self.handle.as_ref()?.listener_bootstrap(name)
    }

    /// The generated TLS CA's PEM (see `BrokerHandle::tls_ca_pem`).
    pub fn tls_ca_pem(&self) -> Option<String> {
        Some(self.handle.as_ref()?.tls_ca_pem()?.to_string())
    }

    /// Runs retention on every partition now.
    pub fn enforce_retention_now(&self) {
        self.handle.as_ref().expect("running").enforce_retention();
    }

    pub fn shutdown(&mut self) {
        if let (Some(rt), Some(h)) = (self.runtime.as_ref(), self.handle.take()) {
            rt.block_on(h.shutdown());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        }
    }
}

impl Drop for BlockingBroker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod exposure_tests {
    use super::exposed_without_authentication;

    #[test]
    fn only_unauthenticated_listeners_beyond_loopback_are_exposed() {
        let addr = |s: &str| s.parse().unwrap();
        assert!(!exposed_without_authentication(
            &addr("127.0.0.1:9092"),
            false
        ));
        assert!(!exposed_without_authentication(
            &addr("127.0.0.53:9092"),
            false
        ));
        assert!(!exposed_without_authentication(&addr("[::1]:9092"), false));
        assert!(exposed_without_authentication(&addr("0.0.0.0:9092"), false));
        assert!(exposed_without_authentication(&addr("[::]:9092"), false));
        assert!(exposed_without_authentication(
            &addr("10.1.2.3:9092"),
            false
        ));
        assert!(!exposed_without_authentication(&addr("0.0.0.0:9093"), true));
    }
}
