//! What every request handler reads: the broker's state (`Shared`) and the listener a
//! connection came in on. `server.rs` owns connections and `api/` the handlers; both depend on
//! this module, not on each other.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::fault::Faults;
use crate::group::GroupCoordinator;
use crate::sasl::SaslUsers;
use crate::topics::TopicManager;
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
    /// The next producer id InitProducerId hands out (above every id found in the logs).
    pub next_producer_id: AtomicI64,
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
}
