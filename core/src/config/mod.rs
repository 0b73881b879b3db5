//! Configuration shared by every client, parsed from Kafka's property names.

mod properties;

use std::time::Duration;

pub use properties::Properties;

use crate::error::{KafkaError, Result};

/// Properties every Kafka client has (`bootstrap.servers`, `client.id`, timeouts, backoffs).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `bootstrap.servers`: host:port pairs.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `request.timeout.ms` (producer default 30000; consumer default 30000).
    pub request_timeout: Duration,
    /// `metadata.max.age.ms` (default 300000).
    pub metadata_max_age: Duration,
    /// `reconnect.backoff.ms` (default 50).
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms` (default 1000).
    pub reconnect_backoff_max: Duration,
    /// `retry.backoff.ms` (default 100).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (default 1000).
    pub retry_backoff_max: Duration,
    /// `socket.connection.setup.timeout.ms` (default 10000).
    pub connection_setup_timeout: Duration,
    /// Whether metadata requests for unknown topics may create them (the consumer's
    /// `allow.auto.create.topics`, default true; the broker's `auto.create.topics.enable`
    /// decides too). The producer always asks, as Java's does.
    pub allow_auto_create_topics: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: vec!["localhost:9092".into()],
            client_id: String::new(),
            request_timeout: Duration::from_millis(30_000),
            metadata_max_age: Duration::from_millis(300_000),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_millis(1000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            connection_setup_timeout: Duration::from_millis(10_000),
            allow_auto_create_topics: true,
        }
    }
}

impl ClientConfig {
    /// Reads the common client properties; `request_timeout_default` differs per client.
    pub fn from_properties(
        p: &mut Properties,
        request_timeout_default: u64,
    ) -> Result<ClientConfig> {
        let bootstrap_servers = p.list("bootstrap.servers", &[]);
        if bootstrap_servers.is_empty() {
            return Err(KafkaError::config(
                "bootstrap.servers",
                "must list at least one host:port",
            ));
        }
        for s in &bootstrap_servers {
            if s.rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .is_none()
            {
                return Err(KafkaError::config(
                    "bootstrap.servers",
                    format!("`{s}` is not host:port"),
                ));
            }
        }
        let c = ClientConfig {
            bootstrap_servers,
            client_id: p.string("client.id", ""),
            request_timeout: p.millis("request.timeout.ms", request_timeout_default)?,
            metadata_max_age: p.millis("metadata.max.age.ms", 300_000)?,
            reconnect_backoff: p.millis("reconnect.backoff.ms", 50)?,
            reconnect_backoff_max: p.millis("reconnect.backoff.max.ms", 1000)?,
            retry_backoff: p.millis("retry.backoff.ms", 100)?,
            retry_backoff_max: p.millis("retry.backoff.max.ms", 1000)?,
            connection_setup_timeout: p.millis("socket.connection.setup.timeout.ms", 10_000)?,
            allow_auto_create_topics: true,
        };
        // Accepted for compatibility with Java configs; plaintext only for now.
        let protocol = p.string("security.protocol", "PLAINTEXT");
        if !protocol.eq_ignore_ascii_case("PLAINTEXT") {
            return Err(KafkaError::config(
                "security.protocol",
                format!("`{protocol}` is not supported yet (PLAINTEXT only)"),
            ));
        }
        for k in [
            "client.dns.lookup",
            "connections.max.idle.ms",
            "send.buffer.bytes",
            "receive.buffer.bytes",
            "metrics.sample.window.ms",
            "metrics.num.samples",
            "metrics.recording.level",
            "socket.connection.setup.timeout.max.ms",
        ] {
            p.ignore(k);
        }
        Ok(c)
    }
}
