//! The network layer shared by the producer, the consumer and the admin client.
//!
//! [`NetworkClient`] owns one pipelined connection per broker (correlation ids, many requests
//! in flight, responses matched as they arrive), negotiates API versions per broker (the
//! highest version both sides support), bootstraps from `bootstrap.servers` and keeps a
//! metadata cache refreshed every `metadata.max.age.ms` and on demand after leader errors.
//! A broker that throttles a connection (KIP-219 quotas) gets nothing more on it until the
//! throttle time has passed (`throttle.rs`); [`NetworkClient::throttled_until`] lets the
//! producer leave such a broker's batches in the accumulator meanwhile.
//! With `security.protocol=SASL_PLAINTEXT` every connection authenticates right after
//! ApiVersions (`sasl/`); a refused login fails the call at once (not retriable). With SSL and
//! SASL_SSL each connection runs a TLS handshake first (`tls.rs`); a certificate that is not
//! trusted or not valid for the broker's name fails the call at once too.

mod connection;
mod frame;
mod metrics;
mod pem_store;
mod reauthentication;
mod sasl;
mod throttle;
mod tls;
pub(crate) mod versions;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, MetadataRequest, TopicName};
use kafka_protocol::protocol::{Request, StrBytes};

use crate::config::ClientConfig;
use crate::error::{KafkaError, Result};
use connection::{ConnectOptions, Connection};
pub use frame::FrameBuilder;
pub use metrics::ConnectionMetrics;
use metrics::NetworkMetrics;
pub use pem_store::PROPERTIES as SSL_PROPERTIES;
pub use sasl::{
    parse_jaas, JaasConfig, OAuthBearerToken, OAuthBearerTokenProvider, SaslConfig, SaslMechanism,
    UnsecuredJwt,
};
pub use tls::TlsConfig;
pub use versions::supported as supported_versions;

/// A broker as the cluster metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// One partition's leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    /// -1 when there is no leader right now.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Kafka error code for this partition (0 = none).
    pub error_code: i16,
}

/// One topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    /// Kafka error code for this topic (0 = none, 3 = UNKNOWN_TOPIC_OR_PARTITION, ...).
    pub error_code: i16,
    pub is_internal: bool,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionInfo>,
}

/// An immutable snapshot of the cluster; replaced whole on every refresh.
#[derive(Debug, Clone, Default)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: Vec<BrokerInfo>,
    pub topics: Vec<TopicInfo>,
}

impl ClusterMetadata {
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.iter().find(|t| t.name == name)
    }

    pub fn broker(&self, node_id: i32) -> Option<&BrokerInfo> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }
}

/// A node's connection, behind a lock held while connecting.
type ConnectionSlot = Arc<tokio::sync::Mutex<Option<Arc<Connection>>>>;

/// Cheap to clone; all clones share the connections and the metadata cache.
#[derive(Clone)]
pub struct NetworkClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    /// Known broker addresses by node id (metadata brokers and coordinators).
    addresses: Mutex<HashMap<i32, String>>,
    /// Live connections by node id; a slot's mutex serialises connecting to that node.
    connections: Mutex<HashMap<i32, ConnectionSlot>>,
    /// Nodes whose last connection attempt failed, until when they are passed over for
    /// requests any node can answer (Java's leastLoadedNode skips nodes in reconnect
    /// backoff): a stopped broker still in the metadata is not asked again and again.
    unreachable: Mutex<HashMap<i32, std::time::Instant>>,
    metadata: RwLock<Arc<ClusterMetadata>>,
    /// Topics whose metadata the cache keeps.
    tracked: Mutex<BTreeSet<String>>,
    /// Wakes the background refresher.
    refresh: tokio::sync::Notify,
    /// Serialises metadata refreshes so concurrent callers share one round trip.
    refreshing: tokio::sync::Mutex<()>,
    closed: std::sync::atomic::AtomicBool,
    metrics: Arc<NetworkMetrics>,
}

impl NetworkClient {
    /// Connects to the first reachable bootstrap server and loads cluster metadata.
    pub async fn connect(config: ClientConfig) -> Result<NetworkClient> {
        if let Some(sasl) = &config.sasl {
            if sasl.mechanism == SaslMechanism::OAuthBearer && sasl.token_provider.is_none() {
                return Err(KafkaError::config(
                    "sasl.oauthbearer.config",
                    "OAUTHBEARER needs a token provider: ClientConfig::set_oauthbearer_token_provider, \
                     or enable.sasl.oauthbearer.unsecure.jwt=true with sasl.oauthbearer.config=principal=<name> (tests only)",
                ));
            }
        }
        let inner = Arc::new(Inner {
            addresses: Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
            unreachable: Mutex::new(HashMap::new()),
            metadata: RwLock::new(Arc::new(ClusterMetadata::default())),
            tracked: Mutex::new(BTreeSet::new()),
            refresh: tokio::sync::Notify::new(),
            refreshing: tokio::sync::Mutex::new(()),
            closed: std::sync::atomic::AtomicBool::new(false),
            metrics: Arc::default(),
            config,
        });
        // Bootstrap servers get negative placeholder ids until metadata names the brokers.
        {
            let mut addrs = inner.addresses.lock().unwrap();
            for (i, s) in inner.config.bootstrap_servers.iter().enumerate() {
                addrs.insert(-1 - i as i32, s.clone());
            }
        }
        let client = NetworkClient { inner };
        client.refresh_metadata(&[]).await?;
        let weak = Arc::downgrade(&client.inner);
        tokio::spawn(async move { metadata_refresher(weak).await });
        Ok(client)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// What this client's connections did so far.
    pub fn connection_metrics(&self) -> ConnectionMetrics {
        self.inner.metrics.snapshot()
    }

    /// The connection to `node_id`, connecting (with reconnect backoff) if needed.
    async fn connection(&self, node_id: i32) -> Result<Arc<Connection>> {
        if self.inner.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(KafkaError::Closed);
        }
        let slot = self
            .inner
            .connections
            .lock()
            .unwrap()
            .entry(node_id)
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let addr = self
            .inner
            .addresses
            .lock()
            .unwrap()
            .get(&node_id)
            .cloned()
            .ok_or_else(|| KafkaError::Protocol(format!("unknown broker node {node_id}")))?;
        let cfg = &self.inner.config;
        let mut backoff = cfg.reconnect_backoff;
        let mut attempts = 0;
        loop {
            let options = ConnectOptions {
                client_id: &cfg.client_id,
                setup_timeout: cfg.connection_setup_timeout,
                request_timeout: cfg.request_timeout,
                tls: cfg.tls.as_ref(),
                sasl: cfg.sasl.as_ref(),
                metrics: &self.inner.metrics,
            };
            match Connection::connect(&addr, &options).await {
                Ok(c) => {
                    let c = Arc::new(c);
                    *slot = Some(c.clone());
                    self.inner.unreachable.lock().unwrap().remove(&node_id);
                    return Ok(c);
                }
                Err(e) if attempts < 2 && e.is_retriable() => {
                    attempts += 1;
                    tracing::debug!(broker = %addr, "connect failed, retrying in {backoff:?}: {e}");
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(cfg.reconnect_backoff_max);
                }
                Err(e) => {
                    if e.is_retriable() {
                        let until = std::time::Instant::now() + cfg.reconnect_backoff_max;
                        self.inner
                            .unreachable
                            .lock()
                            .unwrap()
                            .insert(node_id, until);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Sends `request` to broker `node_id` at the highest version both sides support and waits
    /// for its response (or `request.timeout.ms`). Returns the version used.
    pub async fn send<R>(&self, node_id: i32, request: R) -> Result<(R::Response, i16)>
    where
        R: Request + Send + 'static,
        R::Response: Send + 'static,
    {
        self.send_with_timeout(node_id, request, self.inner.config.request_timeout)
            .await
    }

    /// Like `send`, building the request for the negotiated version (for requests whose
    /// fields differ between versions: the codec refuses a field a version does not have).
    pub async fn send_built<R>(
        &self,
        node_id: i32,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(R::Response, i16)>
    where
        R: Request + Send + 'static,
        R::Response: Send + 'static,
    {
        let (conn, version) = self.negotiated::<R>(node_id).await?;
        let resp = conn
            .request_at(build(version), version, self.inner.config.request_timeout)
            .await?;
        Ok((resp, version))
    }

    /// Like `send`, with a timeout other than `request.timeout.ms` (long polls, joins).
    pub async fn send_with_timeout<R>(
        &self,
        node_id: i32,
        request: R,
        timeout: Duration,
    ) -> Result<(R::Response, i16)>
    where
        R: Request + Send + 'static,
        R::Response: Send + 'static,
    {
        self.request_up_to(node_id, i16::MAX, request, timeout)
            .await
    }

    /// Writes `request` now and returns a handle that awaits its response. Requests started
    /// one after another on the same node reach it in that order (idempotent produce relies
    /// on this); the responses may then be awaited concurrently.
    pub async fn start<R>(&self, node_id: i32, request: R) -> Result<InFlight<R>>
    where
        R: Request + Send + 'static,
        R::Response: Send + 'static,
    {
        let (conn, version) = self.negotiated::<R>(node_id).await?;
        let pending = conn.start(request, version).await?;
        Ok(self.in_flight(conn, pending, version))
    }

    /// Like `start`, for a request whose body `body` writes for the negotiated version, at
    /// most `cap` (Produce: its record batches go out by reference, see `frame.rs`). `R`
    /// names the API.
    pub async fn start_written<R>(
        &self,
        node_id: i32,
        cap: i16,
        body: impl FnOnce(&mut FrameBuilder, i16) -> Result<()>,
    ) -> Result<InFlight<R>>
    where
        R: Request + Send + 'static,
        R::Response: Send + 'static,
    {
        let (conn, version) = self.negotiated_up_to::<R>(node_id, cap).await?;
        let pending = conn
            .start_written::<R>(version, 0, |f| body(f, version))
            .await?;
        Ok(self.in_flight(conn, pending, version))
    }

    fn in_flight<R>(
        &self,
        conn: Arc<Connection>,
        pending: connection::Pending,
        version: i16,
    ) -> InFlight<R> {
        InFlight {
            conn,
            pending,
            version,
            timeout: self.inner.config.request_timeout,
            _request: std::marker::PhantomData,
        }
    }

    /// Sends a request that expects no response (Produce with acks=0), its body written by
    /// `body` for the negotiated version, at most `cap`.
    pub async fn send_written_no_response<R>(
        &self,
        node_id: i32,
        cap: i16,
        body: impl FnOnce(&mut FrameBuilder, i16) -> Result<()>,
    ) -> Result<i16>
    where
        R: Request + Send + 'static,
    {
        let (conn, version) = self.negotiated_up_to::<R>(node_id, cap).await?;
        conn.send_only_written::<R>(version, |f| body(f, version))
            .await?;
        Ok(version)
    }

    /// The connection to `node_id` and the version of `R` to use on it.
    async fn negotiated<R: Request>(&self, node_id: i32) -> Result<(Arc<Connection>, i16)> {
        self.negotiated_up_to::<R>(node_id, i16::MAX).await
    }

    /// The connection to `node_id` and the version of `R` to use on it, at most `cap`.
    async fn negotiated_up_to<R: Request>(
        &self,
        node_id: i32,
        cap: i16,
    ) -> Result<(Arc<Connection>, i16)> {
        let conn = self.connection(node_id).await?;
        let key =
            ApiKey::try_from(R::KEY).map_err(|_| KafkaError::Protocol("unknown api key".into()))?;
        let version = conn.version_up_to(key, cap)?;
        Ok((conn, version))
    }

    /// Like `send`, at a version no higher than `cap` (transaction protocol v1 stops below
    /// the versions whose meaning KIP-890 changed).
    pub async fn send_up_to<R>(
        &self,
        node_id: i32,
        cap: i16,
        request: R,
    ) -> Result<(R::Response, i16)>
    where
        R: Request + Send + 'static,
        R::Response: Send + 'static,
    {
        let timeout = self.inner.config.request_timeout;
        self.request_up_to(node_id, cap, request, timeout).await
    }

    /// `request` at the highest common version up to `cap`, answered within `timeout`.
    async fn request_up_to<R>(
        &self,
        node_id: i32,
        cap: i16,
        request: R,
        timeout: Duration,
    ) -> Result<(R::Response, i16)>
    where
        R: Request + Send + 'static,
        R::Response: Send + 'static,
    {
        let (conn, version) = self.negotiated_up_to::<R>(node_id, cap).await?;
        let resp = conn.request_at(request, version, timeout).await?;
        Ok((resp, version))
    }

    /// The version that would be used for `key` on broker `node_id` (connecting if needed).
    pub async fn api_version(&self, node_id: i32, key: ApiKey) -> Result<i16> {
        self.connection(node_id).await?.version_for(key)
    }

    /// The level of finalized feature `name` (KIP-584) broker `node_id` reported when this
    /// client connected to it (connecting if needed); None when it reports none.
    pub async fn finalized_feature(&self, node_id: i32, name: &str) -> Result<Option<i16>> {
        Ok(self.connection(node_id).await?.finalized_feature(name))
    }

    /// The current metadata snapshot (no I/O).
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.inner.metadata.read().unwrap().clone()
    }

    /// Adds topics to the set the cache tracks and refreshes now; returns the new snapshot.
    pub async fn refresh_metadata(&self, topics: &[String]) -> Result<Arc<ClusterMetadata>> {
        self.inner
            .tracked
            .lock()
            .unwrap()
            .extend(topics.iter().cloned());
        let _one_at_a_time = self.inner.refreshing.lock().await;
        let tracked: Vec<String> = self.inner.tracked.lock().unwrap().iter().cloned().collect();
        let request = MetadataRequest::default()
            .with_topics(Some(
                tracked
                    .iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect(),
            ))
            .with_allow_auto_topic_creation(self.inner.config.allow_auto_create_topics);
        let mut last_err = None;
        for node in self.metadata_candidates() {
            match self.send(node, request.clone()).await {
                Ok((resp, _)) => {
                    let md = Arc::new(ClusterMetadata::from_response(resp));
                    {
                        let mut addrs = self.inner.addresses.lock().unwrap();
                        for b in &md.brokers {
                            addrs.insert(b.node_id, format!("{}:{}", b.host, b.port));
                        }
                    }
                    *self.inner.metadata.write().unwrap() = md.clone();
                    return Ok(md);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| KafkaError::Network {
            broker: "bootstrap".into(),
            reason: "no broker reachable".into(),
        }))
    }

    /// Known brokers first, then the bootstrap list.
    fn metadata_candidates(&self) -> Vec<i32> {
        let md = self.metadata();
        let mut nodes: Vec<i32> = md.brokers.iter().map(|b| b.node_id).collect();
        fastrand::shuffle(&mut nodes);
        let mut bootstrap: Vec<i32> = self
            .inner
            .addresses
            .lock()
            .unwrap()
            .keys()
            .filter(|k| **k < 0)
            .copied()
            .collect();
        bootstrap.sort_unstable_by(|a, b| b.cmp(a));
        nodes.extend(bootstrap);
        nodes
    }

    /// Adds topics to the tracked set and asks for a refresh soon; does not wait.
    pub fn track_topics(&self, topics: impl IntoIterator<Item = String>) {
        self.inner.tracked.lock().unwrap().extend(topics);
        self.inner.refresh.notify_one();
    }

    /// Asks the background task to refresh soon (after a leader error); does not wait.
    pub fn request_metadata_refresh(&self) {
        self.inner.refresh.notify_one();
    }

    /// The broker with the fewest requests in flight (for metadata, FindCoordinator, ...),
    /// preferring one whose last connection attempt did not fail and that is not throttled.
    pub async fn least_loaded_node(&self) -> Result<i32> {
        let md = self.metadata();
        let conns = self.inner.connections.lock().unwrap().clone();
        let now = std::time::Instant::now();
        let unreachable = self.inner.unreachable.lock().unwrap().clone();
        let failed = |id: i32| unreachable.get(&id).is_some_and(|until| *until > now);
        let load = |id: i32| -> (bool, bool, usize) {
            let (throttled, in_flight) = conns
                .get(&id)
                .and_then(|s| {
                    s.try_lock().ok().and_then(|c| {
                        c.as_ref()
                            .map(|c| (c.throttled_until().is_some(), c.in_flight()))
                    })
                })
                .unwrap_or((false, 0));
            (failed(id), throttled, in_flight)
        };
        md.brokers
            .iter()
            .map(|b| b.node_id)
            .min_by_key(|id| load(*id))
            .ok_or_else(|| KafkaError::Network {
                broker: "cluster".into(),
                reason: "no brokers in metadata".into(),
            })
    }

    /// FindCoordinator for a group (key_type 0) or transactional id (1). Returns the id to
    /// send coordinator requests to: the coordinator's node id mirrored into
    /// `i32::MAX - node_id` (as the Java client does), registered at the coordinator's
    /// address. So coordinator requests get a connection of their own: a broker answers one
    /// connection's requests in order, and a JoinGroup parked for a whole rebalance must not
    /// hold up fetches, nor a long-poll fetch delay heartbeats and commits.
    pub async fn find_coordinator(&self, key: &str, key_type: i8) -> Result<i32> {
        let node = self.least_loaded_node().await?;
        let req = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(key.to_string()))
            .with_key_type(key_type);
        let (resp, _) = self.send(node, req).await?;
        if resp.error_code != 0 {
            return Err(KafkaError::Broker {
                code: resp.error_code,
                name: crate::error::error_name(resp.error_code),
                topic: None,
                partition: None,
                message: resp.error_message.map(|m| m.to_string()),
            });
        }
        let id = i32::MAX - resp.node_id.0;
        self.inner
            .addresses
            .lock()
            .unwrap()
            .insert(id, format!("{}:{}", resp.host, resp.port));
        Ok(id)
    }

    /// The connection to `node_id` as it is now (no I/O; `None` while connecting or before
    /// the first request).
    fn connection_now(&self, node_id: i32) -> Option<Arc<Connection>> {
        let slot = self
            .inner
            .connections
            .lock()
            .unwrap()
            .get(&node_id)
            .cloned()?;
        let conn = slot.try_lock().ok()?.clone();
        conn
    }

    /// Whether a live connection to `node_id` exists now (no I/O; false while connecting).
    pub fn is_connected(&self, node_id: i32) -> bool {
        self.connection_now(node_id).is_some_and(|c| !c.is_closed())
    }

    /// Until when broker `node_id` throttles this client's connection to it (KIP-219), while
    /// that is in the future: requests to it wait until then before they are written (no I/O;
    /// `None` while connecting).
    pub fn throttled_until(&self, node_id: i32) -> Option<tokio::time::Instant> {
        self.connection_now(node_id)?.throttled_until()
    }

    /// Drops the connection to a node (after a fatal error on it); the next send reconnects.
    pub fn disconnect(&self, node_id: i32) {
        self.inner.connections.lock().unwrap().remove(&node_id);
    }

    /// Closes every connection and stops the background tasks.
    pub async fn close(&self) {
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.connections.lock().unwrap().clear();
        self.inner.refresh.notify_one();
    }
}

/// A request written to a broker whose response has not been read yet.
pub struct InFlight<R> {
    conn: Arc<Connection>,
    pending: connection::Pending,
    version: i16,
    timeout: Duration,
    _request: std::marker::PhantomData<fn() -> R>,
}

impl<R: Request> InFlight<R>
where
    R::Response: 'static,
{
    /// Waits (up to `request.timeout.ms`) for the response.
    pub async fn response(self) -> Result<(R::Response, i16)> {
        let resp = self
            .conn
            .finish::<R>(self.pending, self.version, self.timeout)
            .await?;
        Ok((resp, self.version))
    }
}

/// Refreshes metadata every `metadata.max.age.ms`, or soon after a request for it.
async fn metadata_refresher(inner: std::sync::Weak<Inner>) {
    loop {
        let (max_age, backoff) = match inner.upgrade() {
            Some(i) => (i.config.metadata_max_age, i.config.retry_backoff),
            None => return,
        };
        let woken = {
            // Holds the client while waiting; `close()` wakes this task so it can exit.
            let Some(i) = inner.upgrade() else { return };
            tokio::time::timeout(max_age, i.refresh.notified())
                .await
                .is_ok()
        };
        if woken {
            // Coalesce bursts of leader errors into one refresh.
            tokio::time::sleep(backoff).await;
        }
        let Some(i) = inner.upgrade() else { return };
        if i.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let client = NetworkClient { inner: i };
        if let Err(e) = client.refresh_metadata(&[]).await {
            tracing::debug!("metadata refresh failed: {e}");
        }
    }
}

/// ±20% random jitter, as KIP-580 asks for retry and reconnect backoffs.
pub fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.8 + fastrand::f64() * 0.4)
}

/// KIP-580 exponential backoff: `base * 2^attempts`, capped at `max`, with ±20% jitter.
pub fn backoff(base: Duration, max: Duration, attempts: u32) -> Duration {
    let exp = base.saturating_mul(1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX));
    jitter(exp.min(max))
}

impl ClusterMetadata {
    /// Builds a snapshot from a Metadata response.
    pub fn from_response(r: kafka_protocol::messages::MetadataResponse) -> ClusterMetadata {
        let mut topics: Vec<TopicInfo> = r
            .topics
            .into_iter()
            .filter_map(|t| {
                let name = t.name?.to_string();
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        leader: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.iter().map(|n| n.0).collect(),
                        isr: p.isr_nodes.iter().map(|n| n.0).collect(),
                        error_code: p.error_code,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some(TopicInfo {
                    name,
                    error_code: t.error_code,
                    is_internal: t.is_internal,
                    partitions,
                })
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        ClusterMetadata {
            cluster_id: r.cluster_id.map(|c| c.to_string()),
            controller_id: r.controller_id.0,
            brokers: r
                .brokers
                .into_iter()
                .map(|b| BrokerInfo {
                    node_id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.map(|r| r.to_string()),
                })
                .collect(),
            topics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_caps() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for _ in 0..50 {
            let b0 = backoff(base, max, 0);
            assert!(
                b0 >= Duration::from_millis(80) && b0 <= Duration::from_millis(120),
                "{b0:?}"
            );
            let b2 = backoff(base, max, 2);
            assert!(
                b2 >= Duration::from_millis(320) && b2 <= Duration::from_millis(480),
                "{b2:?}"
            );
            let b9 = backoff(base, max, 9);
            assert!(
                b9 >= Duration::from_millis(800) && b9 <= Duration::from_millis(1200),
                "{b9:?}"
            );
        }
    }
}
