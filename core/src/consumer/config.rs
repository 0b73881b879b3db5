//! Consumer configuration: Kafka's property names and defaults.

use std::time::Duration;

use crate::config::{ClientConfig, Properties};
use crate::error::{KafkaError, Result};

/// `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    None,
}

/// Typed consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub client: ClientConfig,
    /// `group.id`: the group to join and commit to. Without one, `subscribe` reads every
    /// partition of its topics with no group, and commits are refused.
    pub group_id: Option<String>,
    /// `group.instance.id` (static membership, KIP-345).
    pub group_instance_id: Option<String>,
    /// `enable.auto.commit` (default true).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms` (default 5000).
    pub auto_commit_interval: Duration,
    /// `auto.offset.reset` (default latest).
    pub auto_offset_reset: OffsetReset,
    /// `max.poll.records` (default 500).
    pub max_poll_records: usize,
    /// `max.poll.interval.ms` (default 300000).
    pub max_poll_interval: Duration,
    /// `session.timeout.ms` (default 45000).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3000).
    pub heartbeat_interval: Duration,
    /// `fetch.min.bytes` (default 1).
    pub fetch_min_bytes: i32,
    /// `fetch.max.wait.ms` (default 500).
    pub fetch_max_wait: Duration,
    /// `fetch.max.bytes` (default 52428800).
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes` (default 1048576).
    pub max_partition_fetch_bytes: i32,
    /// `isolation.level`: true for read_committed (default read_uncommitted).
    pub read_committed: bool,
    /// `partition.assignment.strategy`, by assignor name, in preference order.
    pub assignors: Vec<String>,
    /// `check.crcs` (default true).
    pub check_crcs: bool,
}

/// Assignor names and the Java class names that select them.
const ASSIGNORS: &[(&str, &str)] = &[
    ("range", "org.apache.kafka.clients.consumer.RangeAssignor"),
    (
        "roundrobin",
        "org.apache.kafka.clients.consumer.RoundRobinAssignor",
    ),
    ("sticky", "org.apache.kafka.clients.consumer.StickyAssignor"),
    (
        "cooperative-sticky",
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
    ),
];

impl ConsumerConfig {
    pub fn from_properties<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ConsumerConfig> {
        let mut p = Properties::new(pairs);
        let mut client = ClientConfig::from_properties(&mut p, 30_000)?;
        client.allow_auto_create_topics = p.bool("allow.auto.create.topics", true)?;
        let reset = match p
            .choice(
                "auto.offset.reset",
                "latest",
                &["earliest", "latest", "none"],
            )?
            .as_str()
        {
            "earliest" => OffsetReset::Earliest,
            "latest" => OffsetReset::Latest,
            _ => OffsetReset::None,
        };
        let isolation = p.choice(
            "isolation.level",
            "read_uncommitted",
            &["read_uncommitted", "read_committed"],
        )?;
        let mut assignors = Vec::new();
        for name in p.list(
            "partition.assignment.strategy",
            &["range", "cooperative-sticky"],
        ) {
            let found = ASSIGNORS
                .iter()
                .find(|(short, class)| name.eq_ignore_ascii_case(short) || name == *class);
            match found {
                Some((short, _)) => assignors.push(short.to_string()),
                None => {
                    return Err(KafkaError::config(
                        "partition.assignment.strategy",
                        format!("unknown assignor `{name}`"),
                    ))
                }
            }
        }
        let c = ConsumerConfig {
            client,
            group_id: p.optional_string("group.id"),
            group_instance_id: p.optional_string("group.instance.id"),
            enable_auto_commit: p.bool("enable.auto.commit", true)?,
            auto_commit_interval: p.millis("auto.commit.interval.ms", 5000)?,
            auto_offset_reset: reset,
            max_poll_records: p.int("max.poll.records", 500, 1, i32::MAX as i64)? as usize,
            max_poll_interval: p.millis("max.poll.interval.ms", 300_000)?,
            session_timeout: p.millis("session.timeout.ms", 45_000)?,
            heartbeat_interval: p.millis("heartbeat.interval.ms", 3000)?,
            fetch_min_bytes: p.int("fetch.min.bytes", 1, 0, i32::MAX as i64)? as i32,
            fetch_max_wait: p.millis("fetch.max.wait.ms", 500)?,
            fetch_max_bytes: p.int("fetch.max.bytes", 52_428_800, 0, i32::MAX as i64)? as i32,
            max_partition_fetch_bytes: p.int(
                "max.partition.fetch.bytes",
                1_048_576,
                0,
                i32::MAX as i64,
            )? as i32,
            read_committed: isolation == "read_committed",
            assignors,
            check_crcs: p.bool("check.crcs", true)?,
        };
        let protocol = p.choice("group.protocol", "classic", &["classic", "consumer"])?;
        if protocol != "classic" {
            return Err(KafkaError::config(
                "group.protocol",
                "only the classic group protocol is supported",
            ));
        }
        p.ignore("key.deserializer");
        p.ignore("value.deserializer");
        p.ignore("exclude.internal.topics");
        p.finish()?;
        if c.heartbeat_interval >= c.session_timeout {
            return Err(KafkaError::config(
                "heartbeat.interval.ms",
                "must be lower than session.timeout.ms",
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = ConsumerConfig::from_properties([("bootstrap.servers", "localhost:9092")]).unwrap();
        assert!(c.enable_auto_commit);
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.session_timeout, Duration::from_secs(45));
        assert_eq!(c.assignors, vec!["range", "cooperative-sticky"]);
        let bs = ("bootstrap.servers", "localhost:9092");
        let c = ConsumerConfig::from_properties([
            bs,
            (
                "partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.RoundRobinAssignor",
            ),
        ])
        .unwrap();
        assert_eq!(c.assignors, vec!["roundrobin"]);
        for (k, v) in [
            ("auto.offset.reset", "smallest"),
            ("heartbeat.interval.ms", "60000"),
            ("fetch.min.byte", "1"),
            ("partition.assignment.strategy", "fancy"),
        ] {
            match ConsumerConfig::from_properties([bs, (k, v)]).unwrap_err() {
                KafkaError::Config { property, .. } => assert_eq!(property, k),
                e => panic!("{e}"),
            }
        }
    }
}
