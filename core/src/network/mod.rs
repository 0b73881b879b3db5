//! The network layer shared by the producer, the consumer and the admin client.
//!
//! [`NetworkClient`] owns one pipelined connection per broker (correlation ids, many requests
//! in flight, responses matched as they arrive), negotiates API versions per broker (the
//! highest version both sides support), bootstraps from `bootstrap.servers` and keeps a
//! metadata cache refreshed every `metadata.max.age.ms` and on demand after leader errors.
//! TLS and SASL will plug in at the connection's transport (see `connection.rs`).

use std::sync::Arc;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Request;

use crate::config::ClientConfig;
use crate::error::Result;

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

/// Cheap to clone; all clones share the connections and the metadata cache.
#[derive(Clone)]
pub struct NetworkClient {
    // Implementation: network/connection.rs (one pipelined connection), network/metadata.rs
    // (cache + refresh task), network/versions.rs (what this client implements per API).
    _private: Arc<()>,
}

impl NetworkClient {
    /// Connects to the first reachable bootstrap server and loads cluster metadata.
    pub async fn connect(config: ClientConfig) -> Result<NetworkClient> {
        let _ = config;
        todo!("network")
    }

    /// Sends `request` to broker `node_id` at the highest version both sides support and waits
    /// for its response (or `request.timeout.ms`). Returns the version used.
    pub async fn send<R>(&self, node_id: i32, request: R) -> Result<(R::Response, i16)>
    where
        R: Request + Send + 'static,
        R::Response: Send + 'static,
    {
        let _ = (node_id, request);
        todo!("network")
    }

    /// Sends a request that expects no response (Produce with acks=0).
    pub async fn send_no_response<R>(&self, node_id: i32, request: R) -> Result<i16>
    where
        R: Request + Send + 'static,
    {
        let _ = (node_id, request);
        todo!("network")
    }

    /// The version that would be used for `key` on broker `node_id` (connecting if needed).
    pub async fn api_version(&self, node_id: i32, key: ApiKey) -> Result<i16> {
        let _ = (node_id, key);
        todo!("network")
    }

    /// The current metadata snapshot (no I/O).
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        todo!("network")
    }

    /// Adds topics to the set the cache tracks and refreshes now; returns the new snapshot.
    pub async fn refresh_metadata(&self, topics: &[String]) -> Result<Arc<ClusterMetadata>> {
        let _ = topics;
        todo!("network")
    }

    /// Asks the background task to refresh soon (after a leader error); does not wait.
    pub fn request_metadata_refresh(&self) {
        todo!("network")
    }

    /// The broker with the fewest requests in flight (for metadata, FindCoordinator, ...).
    pub async fn least_loaded_node(&self) -> Result<i32> {
        todo!("network")
    }

    /// FindCoordinator for a group (key_type 0) or transactional id (1); returns the node id,
    /// registering its address so `send` can reach it.
    pub async fn find_coordinator(&self, key: &str, key_type: i8) -> Result<i32> {
        let _ = (key, key_type);
        todo!("network")
    }

    /// Closes every connection and stops the background tasks.
    pub async fn close(&self) {
        todo!("network")
    }
}
