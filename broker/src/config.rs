//! Broker configuration by Kafka's broker property names.

use std::path::Path;

use crate::group::GroupConfig;
use crate::log::{LogConfig, TimestampType};

/// A rejected property: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid broker configuration `{property}`: {reason}")]
pub struct ConfigError {
    pub property: String,
    pub reason: String,
}

fn bad(property: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        property: property.to_string(),
        reason: reason.into(),
    }
}

/// Settings of the dev broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id` / `broker.id` (default 1).
    pub node_id: i32,
    /// `num.partitions` (default 1): partitions of auto-created topics and of CreateTopics
    /// requests that ask for the default (-1).
    pub num_partitions: i32,
    /// `auto.create.topics.enable` (default true).
    pub auto_create_topics: bool,
    /// Defaults for every topic's log (`log.*`, `message.max.bytes`).
    pub log: LogConfig,
    /// `log.retention.check.interval.ms` (default 300000).
    pub retention_check_interval_ms: u64,
    /// `log.cleaner.backoff.ms`: how often compacted logs are looked at (Kafka's default is
    /// 15000; the dev broker's 1000, so compaction is seen soon).
    pub cleaner_backoff_ms: u64,
    /// `log.flush.scheduler.interval.ms`: how often the flusher fsyncs the partitions past their
    /// `flush.ms` and checkpoints the recovery points. Kafka's default is `Long.MAX_VALUE` (its
    /// flusher never runs, so `flush.ms` does nothing unless this is set); the dev broker's is
    /// 1000.
    pub flush_scheduler_interval_ms: u64,
    /// Whether `log.flush.interval.ms` was given: until it is, it follows
    /// `log.flush.scheduler.interval.ms` when that is given, as in Kafka.
    pub flush_interval_ms_set: bool,
    /// `socket.request.max.bytes` (default 104857600): larger frames close the connection.
    pub socket_request_max_bytes: usize,
    /// `advertised.listeners` host override (`PLAINTEXT://host:port` or `host:port`).
    pub advertised_host: Option<String>,
    pub advertised_port: Option<i32>,
    /// Every `advertised.listeners` entry: listener name, host, port (the first entry also
    /// sets `advertised_host` / `advertised_port`, used when names do not match).
    pub advertised_listeners: Vec<(String, String, i32)>,
    /// `cluster.id` (default: a fixed id per data dir, random for in-memory brokers).
    pub cluster_id: Option<String>,
    pub group: GroupConfig,
    /// The transaction coordinator's `transaction.*` settings.
    pub txn: crate::txn::TxnConfig,
    /// `sasl.enabled.mechanisms` on SASL listeners (default PLAIN,SCRAM-SHA-256,SCRAM-SHA-512;
    /// OAUTHBEARER, with unsecured tokens, only when named).
    pub sasl_enabled_mechanisms: Vec<String>,
    /// `connections.max.reauth.ms` (default 0: sessions do not end): the longest a SASL
    /// session lasts before the client must re-authenticate (KIP-368).
    pub connections_max_reauth_ms: i64,
    /// `sasl.users`: `name:password` pairs, comma-separated (and `BrokerBuilder::sasl_user`).
    pub sasl_users: Vec<(String, String)>,
    /// `ssl.certificate.location` / `ssl.key.location`: the TLS listeners' certificate chain
    /// and key (PEM); without them a certificate is generated at start (`tls.rs`).
    pub ssl_certificate: Option<std::path::PathBuf>,
    pub ssl_key: Option<std::path::PathBuf>,
    /// `ssl.ca.location`: the CA client certificates must be signed by (`ssl.client.auth`).
    pub ssl_ca: Option<std::path::PathBuf>,
    /// `ssl.client.auth`: `none` (default), `requested` or `required`.
    pub ssl_client_auth: String,
    /// Replication settings of a multi-node dev cluster (`cluster/`); unused on one node.
    pub replication: ReplicationConfig,
}

/// Replication settings, by Kafka's broker property names. On one node they change nothing:
/// every replication factor is 1 and the high watermark is the log end.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// `default.replication.factor` (default 1): topics created without one (-1, auto-created).
    pub default_replication_factor: i16,
    /// `offsets.topic.replication.factor` (default 3), capped at the node count.
    pub offsets_topic_replication_factor: i16,
    /// `transaction.state.log.replication.factor` (default 3), capped at the node count.
    pub transaction_state_replication_factor: i16,
    /// `replica.lag.time.max.ms` (default 30000): a follower that has not caught up to the
    /// leader's log end for this long leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// `replica.fetch.wait.max.ms` (default 500): how long a follower's fetch may park.
    pub replica_fetch_wait_max_ms: i32,
    /// `replica.fetch.max.bytes` (default 1048576): per partition, in one follower fetch.
    pub replica_fetch_max_bytes: i32,
    /// `replica.fetch.response.max.bytes` (default 10485760): per follower fetch.
    pub replica_fetch_response_max_bytes: i32,
    /// `unclean.leader.election.enable` (default false): whether a partition whose in-sync
    /// replicas are all down may elect a replica outside the ISR (losing what it lacks).
    pub unclean_leader_election: bool,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            default_replication_factor: 1,
            offsets_topic_replication_factor: 3,
            transaction_state_replication_factor: 3,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_wait_max_ms: 500,
            replica_fetch_max_bytes: 1_048_576,
            replica_fetch_response_max_bytes: 10_485_760,
            unclean_leader_election: false,
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 1,
            num_partitions: 1,
            auto_create_topics: true,
            log: LogConfig::default(),
            retention_check_interval_ms: 300_000,
            cleaner_backoff_ms: 1_000,
            flush_scheduler_interval_ms: 1_000,
            flush_interval_ms_set: false,
            socket_request_max_bytes: 104_857_600,
            advertised_host: None,
            advertised_port: None,
            advertised_listeners: Vec::new(),
            cluster_id: None,
            group: GroupConfig::default(),
            txn: Default::default(),
            sasl_enabled_mechanisms: crate::sasl::DEFAULT_MECHANISMS
                .iter()
                .map(|m| m.to_string())
                .collect(),
            sasl_users: Vec::new(),
            connections_max_reauth_ms: 0,
            ssl_certificate: None,
            ssl_key: None,
            ssl_ca: None,
            ssl_client_auth: "none".into(),
            replication: ReplicationConfig::default(),
        }
    }
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(key, format!("`{value}` is not a valid number")))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, format!("`{value}` is not true or false"))),
    }
}

fn positive<T: PartialOrd + Default + std::fmt::Display>(
    key: &str,
    v: T,
) -> Result<T, ConfigError> {
    if v > T::default() {
        Ok(v)
    } else {
        Err(bad(key, format!("must be positive, got {v}")))
    }
}

fn not_negative(key: &str, v: i64) -> Result<i64, ConfigError> {
    if v >= 0 {
        Ok(v)
    } else {
        Err(bad(key, format!("must be 0 or more, got {v}")))
    }
}

/// Parses a `message.timestamp.type` value.
pub fn parse_timestamp_type(key: &str, value: &str) -> Result<TimestampType, ConfigError> {
    match value.trim() {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        other => Err(bad(
            key,
            format!("`{other}` is not CreateTime or LogAppendTime"),
        )),
    }
}

impl BrokerConfig {
    /// Applies one property; unknown names and invalid values are errors naming the property.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let hours = 3_600_000i64;
        match key {
            "node.id" | "broker.id" => self.node_id = parse(key, value)?,
            "num.partitions" => self.num_partitions = positive(key, parse(key, value)?)?,
            "auto.create.topics.enable" => self.auto_create_topics = parse_bool(key, value)?,
            "message.max.bytes" => self.log.max_message_bytes = positive(key, parse(key, value)?)?,
            "log.segment.bytes" => self.log.segment_bytes = positive(key, parse(key, value)?)?,
            "log.roll.ms" => self.log.segment_ms = positive(key, parse(key, value)?)?,
            "log.roll.hours" => {
                self.log.segment_ms = positive(key, parse::<i64>(key, value)?)? * hours
            }
            "log.retention.ms" => self.log.retention_ms = parse(key, value)?,
            "log.retention.minutes" => self.log.retention_ms = parse::<i64>(key, value)? * 60_000,
            "log.retention.hours" => self.log.retention_ms = parse::<i64>(key, value)? * hours,
            "log.retention.bytes" => self.log.retention_bytes = parse(key, value)?,
            "log.retention.check.interval.ms" => {
                self.retention_check_interval_ms = positive(key, parse(key, value)?)?
            }
            "log.cleanup.policy" => {
                (self.log.delete, self.log.compact) =
                    crate::log::parse_cleanup_policy(value).map_err(|e| bad(key, e))?
            }
            "log.cleaner.min.cleanable.ratio" => {
                self.log.min_cleanable_dirty_ratio =
                    crate::log::parse_dirty_ratio(value).map_err(|e| bad(key, e))?
            }
            "log.cleaner.min.compaction.lag.ms" => {
                self.log.min_compaction_lag_ms = parse::<i64>(key, value)?.max(0)
            }
            "log.cleaner.delete.retention.ms" => {
                self.log.delete_retention_ms = parse::<i64>(key, value)?.max(0)
            }
            "log.cleaner.backoff.ms" => {
                self.cleaner_backoff_ms = positive(key, parse(key, value)?)?
            }
            // Kafka's ranges: at least 1 message; at least 0 ms; a positive check period.
            "log.flush.interval.messages" => {
                self.log.flush_messages = positive(key, parse(key, value)?)?
            }
            "log.flush.interval.ms" => {
                self.log.flush_ms = not_negative(key, parse(key, value)?)?;
                self.flush_interval_ms_set = true;
            }
            "log.flush.scheduler.interval.ms" => {
                let ms: i64 = positive(key, parse(key, value)?)?;
                self.flush_scheduler_interval_ms = ms as u64;
                if !self.flush_interval_ms_set {
                    self.log.flush_ms = ms;
                }
            }
            "log.index.interval.bytes" => {
                self.log.index_interval_bytes = positive(key, parse(key, value)?)?
            }
            "log.message.timestamp.type" => {
                self.log.timestamp_type = parse_timestamp_type(key, value)?
            }
            "socket.request.max.bytes" => {
                self.socket_request_max_bytes = positive(key, parse(key, value)?)?
            }
            "transaction.state.log.num.partitions" => {
                self.txn.state_log_num_partitions = positive(key, parse(key, value)?)?
            }
            "transaction.max.timeout.ms" => {
                self.txn.max_timeout_ms = positive(key, parse(key, value)?)?
            }
            "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                self.txn.abort_timed_out_interval_ms = positive(key, parse(key, value)?)?
            }
            "transaction.version" => {
                let v: i16 = parse(key, value)?;
                if !(0..=2).contains(&v) {
                    return Err(bad(key, format!("must be 0, 1 or 2, got {v}")));
                }
                self.txn.transaction_version = v
            }
            "offsets.topic.num.partitions" => {
                self.group.offsets_topic_num_partitions = positive(key, parse(key, value)?)?
            }
            "group.min.session.timeout.ms" => {
                self.group.min_session_timeout_ms = positive(key, parse(key, value)?)?
            }
            "group.max.session.timeout.ms" => {
                self.group.max_session_timeout_ms = positive(key, parse(key, value)?)?
            }
            "group.initial.rebalance.delay.ms" => {
                self.group.initial_rebalance_delay_ms = parse(key, value)?
            }
            "group.max.size" => self.group.max_size = positive(key, parse(key, value)?)?,
            "offsets.commit.timeout.ms" => {
                self.group.offsets_commit_timeout_ms = positive(key, parse(key, value)?)?
            }
            "offsets.retention.check.interval.ms" => {
                self.group.offsets_retention_check_interval_ms = positive(key, parse(key, value)?)?
            }
            "offsets.retention.minutes" => {
                self.group.offsets_retention_minutes = positive(key, parse(key, value)?)?
            }
            "cluster.id" => self.cluster_id = Some(value.trim().to_string()),
            "advertised.listeners" => {
                let mut entries = Vec::new();
                for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                    let (name, addr) = entry.split_once("://").unwrap_or(("PLAINTEXT", entry));
                    let (host, port) = addr
                        .rsplit_once(':')
                        .ok_or_else(|| bad(key, format!("`{entry}`: expected host:port")))?;
                    entries.push((
                        name.to_ascii_uppercase(),
                        host.to_string(),
                        parse(key, port)?,
                    ));
                }
                let (_, host, port) = entries
                    .first()
                    .ok_or_else(|| bad(key, "expected host:port"))?;
                self.advertised_host = Some(host.clone()).filter(|h| !h.is_empty());
                self.advertised_port = Some(*port);
                self.advertised_listeners = entries;
            }
            "sasl.enabled.mechanisms" => {
                let list: Vec<String> = value
                    .split(',')
                    .map(|m| m.trim().to_ascii_uppercase())
                    .filter(|m| !m.is_empty())
                    .collect();
                if let Some(m) = list
                    .iter()
                    .find(|m| !crate::sasl::MECHANISMS.contains(&m.as_str()))
                {
                    return Err(bad(
                        key,
                        format!("`{m}` is not one of {}", crate::sasl::MECHANISMS.join(", ")),
                    ));
                }
                if list.is_empty() {
                    return Err(bad(key, "must name at least one mechanism"));
                }
                self.sasl_enabled_mechanisms = list;
            }
            "connections.max.reauth.ms" => {
                let ms: i64 = parse(key, value)?;
                if ms < 0 {
                    return Err(bad(key, "must be 0 (no re-authentication) or positive"));
                }
                self.connections_max_reauth_ms = ms;
            }
            "sasl.users" => {
                for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (user, password) = pair
                        .split_once(':')
                        .filter(|(u, p)| !u.is_empty() && !p.is_empty())
                        .ok_or_else(|| bad(key, format!("`{pair}` is not name:password")))?;
                    self.sasl_users
                        .push((user.to_string(), password.to_string()));
                }
            }
            "ssl.certificate.location" => self.ssl_certificate = Some(value.trim().into()),
            "ssl.key.location" => self.ssl_key = Some(value.trim().into()),
            "ssl.ca.location" => self.ssl_ca = Some(value.trim().into()),
            "ssl.client.auth" => {
                let mode = value.trim().to_ascii_lowercase();
                if !["none", "requested", "required"].contains(&mode.as_str()) {
                    return Err(bad(
                        key,
                        format!("`{value}` is not none, requested or required"),
                    ));
                }
                self.ssl_client_auth = mode;
            }
            "default.replication.factor" => {
                self.replication.default_replication_factor = positive(key, parse(key, value)?)?
            }
            "offsets.topic.replication.factor" => {
                self.replication.offsets_topic_replication_factor =
                    positive(key, parse(key, value)?)?
            }
            "transaction.state.log.replication.factor" => {
                self.replication.transaction_state_replication_factor =
                    positive(key, parse(key, value)?)?
            }
            "min.insync.replicas" => {
                self.log.min_insync_replicas = positive(key, parse(key, value)?)?
            }
            "unclean.leader.election.enable" => {
                self.replication.unclean_leader_election = parse_bool(key, value)?
            }
            "replica.lag.time.max.ms" => {
                self.replication.replica_lag_time_max_ms = positive(key, parse(key, value)?)?
            }
            "replica.fetch.wait.max.ms" => {
                self.replication.replica_fetch_wait_max_ms =
                    not_negative(key, parse(key, value)?)?.min(i32::MAX as i64) as i32
            }
            "replica.fetch.max.bytes" => {
                self.replication.replica_fetch_max_bytes = positive(key, parse(key, value)?)?
            }
            "replica.fetch.response.max.bytes" => {
                self.replication.replica_fetch_response_max_bytes =
                    positive(key, parse(key, value)?)?
            }
            // Accepted so that a real Kafka server.properties loads; meaningless here.
            "transaction.state.log.min.isr"
            | "num.network.threads"
            | "num.io.threads"
            | "log.dirs"
            | "log.dir"
            | "listeners"
            | "process.roles"
            | "controller.quorum.voters"
            | "controller.listener.names"
            | "inter.broker.listener.name"
            | "listener.security.protocol.map"
            | "num.recovery.threads.per.data.dir"
            | "socket.send.buffer.bytes"
            | "socket.receive.buffer.bytes" => {}
            _ => return Err(bad(key, "unknown broker property")),
        }
        if self.group.min_session_timeout_ms > self.group.max_session_timeout_ms {
            return Err(bad(
                key,
                "group.min.session.timeout.ms exceeds group.max.session.timeout.ms",
            ));
        }
        Ok(())
    }

    /// Applies every `key=value` line of a `server.properties` file (`#` and `!` comments).
    pub fn load_properties_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad("--config", format!("{}: {e}", path.display())))?;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .or_else(|| line.split_once(':'))
                .ok_or_else(|| bad(line, "expected key=value"))?;
            self.set(k.trim(), v.trim())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's flush properties and ranges; `log.flush.interval.ms` follows
    /// `log.flush.scheduler.interval.ms` until it is given, as in Kafka.
    #[test]
    fn flush_properties_take_kafkas_names_and_ranges() {
        let mut c = BrokerConfig::default();
        assert_eq!((c.log.flush_messages, c.log.flush_ms), (i64::MAX, i64::MAX));
        for (k, v) in [
            ("log.flush.interval.messages", "0"),
            ("log.flush.interval.messages", "x"),
            ("log.flush.interval.ms", "-1"),
            ("log.flush.scheduler.interval.ms", "0"),
        ] {
            assert_eq!(c.set(k, v).unwrap_err().property, k, "{k}={v}");
        }
        c.set("log.flush.interval.messages", "10").unwrap();
        c.set("log.flush.scheduler.interval.ms", "2000").unwrap();
        assert_eq!(
            (
                c.log.flush_messages,
                c.log.flush_ms,
                c.flush_scheduler_interval_ms
            ),
            (10, 2000, 2000)
        );
        c.set("log.flush.interval.ms", "500").unwrap();
        c.set("log.flush.scheduler.interval.ms", "3000").unwrap();
        assert_eq!((c.log.flush_ms, c.flush_scheduler_interval_ms), (500, 3000));
        let refused = crate::Broker::builder()
            .config("log.flush.interval.messages", "0")
            .build_config()
            .unwrap_err();
        assert_eq!(refused.property, "log.flush.interval.messages");
    }

    #[test]
    fn applies_kafka_names_and_rejects_unknown_or_invalid() {
        let mut c = BrokerConfig::default();
        c.set("num.partitions", "3").unwrap();
        c.set("log.retention.hours", "2").unwrap();
        c.set("log.message.timestamp.type", "LogAppendTime")
            .unwrap();
        c.set("advertised.listeners", "PLAINTEXT://kafka.local:19092")
            .unwrap();
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.log.retention_ms, 7_200_000);
        assert_eq!(c.log.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(
            (c.advertised_host.as_deref(), c.advertised_port),
            (Some("kafka.local"), Some(19092))
        );
        assert_eq!(
            c.set("num.partition", "3").unwrap_err().property,
            "num.partition"
        );
        let e = c.set("num.partitions", "zero").unwrap_err();
        assert_eq!(e.property, "num.partitions");
        assert!(c.set("num.partitions", "0").is_err());
        c.set("sasl.users", "alice:alice-secret, bob:pw").unwrap();
        assert_eq!(c.sasl_users.len(), 2);
        assert_eq!(
            c.set("sasl.users", "carol").unwrap_err().property,
            "sasl.users"
        );
        c.set("sasl.enabled.mechanisms", "scram-sha-512").unwrap();
        assert_eq!(c.sasl_enabled_mechanisms, ["SCRAM-SHA-512"]);
        assert!(c.set("sasl.enabled.mechanisms", "GSSAPI").is_err());
        c.set(
            "advertised.listeners",
            "PLAINTEXT://a:1,SASL_PLAINTEXT://b:2",
        )
        .unwrap();
        assert_eq!(
            c.advertised_listeners[1],
            ("SASL_PLAINTEXT".into(), "b".into(), 2)
        );
    }
}
