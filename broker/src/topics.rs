//! The topics this broker hosts: their partitions' logs, ids and per-topic configs.
//!
//! Topic metadata (id, partition count, config overrides) is kept durable in
//! `<data dir>/krafty-topics.meta`, written whole on every change through a rename, so a
//! restart restores topics exactly; the partitions' data lives in `<topic>-<partition>/`.

use crate::sync::{LockExt, RwLockExt};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use kafka_protocol::protocol::StrBytes;

use crate::config::{parse_timestamp_type, BrokerConfig};
use crate::log::{LogConfig, PartitionLog, SharedLog};

/// Name of the internal offsets topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Name of the internal topic of the transaction coordinator (created by the first
/// transactional InitProducerId, as Kafka does).
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Whether `name` is one of the broker's own topics (listed as internal, never deleted).
pub fn is_internal(name: &str) -> bool {
    name == OFFSETS_TOPIC || name == TRANSACTION_STATE_TOPIC
}

/// The partition of an internal topic with `partitions` partitions that holds `key` (a group
/// or transactional id): Java's `Utils.abs(key.hashCode()) % partitions`, so the layout
/// matches Kafka's.
pub fn coordinator_partition(key: &str, partitions: usize) -> i32 {
    let n = partitions.max(1) as i32;
    // String.hashCode over UTF-16 code units; Utils.abs maps i32::MIN to 0.
    let h = key
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % n
}
const META_FILE: &str = "krafty-topics.meta";

/// One topic.
pub struct Topic {
    pub name: String,
    pub id: uuid::Uuid,
    pub internal: bool,
    /// Config overrides given at creation, by Kafka's topic property names.
    pub overrides: BTreeMap<String, String>,
    /// Grows with CreatePartitions; index = partition.
    pub partitions: RwLock<Vec<SharedLog>>,
}

impl Topic {
    pub fn partition(&self, p: i32) -> Option<SharedLog> {
        if p < 0 {
            return None;
        }
        self.partitions.read_locked().get(p as usize).cloned()
    }

    pub fn partition_count(&self) -> i32 {
        self.partitions.read_locked().len() as i32
    }
}

/// A failed topic operation: a Kafka error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    pub code: i16,
    pub message: String,
}

fn err(code: i16, message: impl Into<String>) -> TopicError {
    TopicError {
        code,
        message: message.into(),
    }
}

/// All topics.
pub struct TopicManager {
    dir: Option<PathBuf>,
    config: Arc<BrokerConfig>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises creations and deletions (and the metadata file).
    change: Mutex<()>,
}

/// Kafka's rule: 1-249 characters of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() || name == "." || name == ".." || name.len() > 249 {
        return Err(err(17, format!("topic name `{name}` is illegal")));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(err(17, format!("topic name `{name}` contains characters other than ASCII alphanumerics, '.', '_' and '-'")));
    }
    Ok(())
}

/// The topic-level configs Kafka knows that this broker honours, with their broker defaults.
pub fn topic_config_defaults(c: &BrokerConfig) -> Vec<(&'static str, String)> {
    let ts = match c.log.timestamp_type {
        crate::log::TimestampType::CreateTime => "CreateTime",
        crate::log::TimestampType::LogAppendTime => "LogAppendTime",
    };
    vec![
        (
            "cleanup.policy",
            crate::log::cleanup_policy_name(&c.log).into(),
        ),
        ("delete.retention.ms", c.log.delete_retention_ms.to_string()),
        (
            "min.cleanable.dirty.ratio",
            c.log.min_cleanable_dirty_ratio.to_string(),
        ),
        (
            "min.compaction.lag.ms",
            c.log.min_compaction_lag_ms.to_string(),
        ),
        (
            "index.interval.bytes",
            c.log.index_interval_bytes.to_string(),
        ),
        ("max.message.bytes", c.log.max_message_bytes.to_string()),
        ("message.timestamp.type", ts.into()),
        ("retention.bytes", c.log.retention_bytes.to_string()),
        ("retention.ms", c.log.retention_ms.to_string()),
        ("segment.bytes", c.log.segment_bytes.to_string()),
        ("segment.ms", c.log.segment_ms.to_string()),
    ]
}

/// The log settings for a topic: broker defaults with the topic's overrides applied.
pub fn log_config(
    base: &LogConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<LogConfig, TopicError> {
    let mut c = base.clone();
    for (k, v) in overrides {
        let num = |v: &str| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| err(40, format!("`{v}` is not a valid value for {k}")))
        };
        match k.as_str() {
            "retention.ms" => c.retention_ms = num(v)?,
            "retention.bytes" => c.retention_bytes = num(v)?,
            "segment.bytes" => c.segment_bytes = num(v)?.max(1) as u64,
            "segment.ms" => c.segment_ms = num(v)?.max(1),
            "index.interval.bytes" => c.index_interval_bytes = num(v)?.max(1) as usize,
            "max.message.bytes" => c.max_message_bytes = num(v)?.max(1) as usize,
            "message.timestamp.type" => {
                c.timestamp_type = parse_timestamp_type(k, v).map_err(|e| err(40, e.reason))?
            }
            "cleanup.policy" => {
                (c.delete, c.compact) =
                    crate::log::parse_cleanup_policy(v).map_err(|e| err(40, e))?
            }
            "min.cleanable.dirty.ratio" => {
                c.min_cleanable_dirty_ratio =
                    crate::log::parse_dirty_ratio(v).map_err(|e| err(40, e))?
            }
            "min.compaction.lag.ms" => c.min_compaction_lag_ms = num(v)?.max(0),
            "delete.retention.ms" => c.delete_retention_ms = num(v)?.max(0),
            _ => {
                return Err(err(
                    40,
                    format!("unknown or unsupported topic config `{k}`"),
                ))
            }
        }
    }
    Ok(c)
}

impl TopicManager {
    /// Loads the topics recorded under `dir` (their logs recovered), or starts empty.
    pub fn open(dir: Option<PathBuf>, config: Arc<BrokerConfig>) -> std::io::Result<TopicManager> {
        let mgr = TopicManager {
            dir,
            config,
            topics: RwLock::new(BTreeMap::new()),
            change: Mutex::new(()),
        };
        let Some(dir) = &mgr.dir else { return Ok(mgr) };
        std::fs::create_dir_all(dir)?;
        let Ok(text) = std::fs::read_to_string(dir.join(META_FILE)) else {
            return Ok(mgr);
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut f = line.split('\t');
            let (Some(name), Some(id), Some(n)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let overrides: BTreeMap<String, String> = f
                .next()
                .unwrap_or("")
                .split('\u{1f}')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let id = uuid::Uuid::parse_str(id).unwrap_or_else(|_| uuid::Uuid::new_v4());
            let n: i32 = n.parse().unwrap_or(1);
            let cfg =
                log_config(&mgr.config.log, &overrides).unwrap_or_else(|_| mgr.config.log.clone());
            let logs = (0..n)
                .map(|p| mgr.open_log(name, p, &cfg))
                .collect::<std::io::Result<Vec<_>>>()?;
            let topic = Topic {
                name: name.to_string(),
                id,
                internal: is_internal(name),
                overrides,
                partitions: RwLock::new(logs),
            };
            mgr.topics
                .write_locked()
                .insert(name.to_string(), Arc::new(topic));
        }
        Ok(mgr)
    }

    fn open_log(&self, topic: &str, partition: i32, cfg: &LogConfig) -> std::io::Result<SharedLog> {
        let dir = self
            .dir
            .as_ref()
            .map(|d| d.join(format!("{topic}-{partition}")));
        Ok(Arc::new(Mutex::new(PartitionLog::open(
            dir.as_deref(),
            cfg.clone(),
        )?)))
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read_locked().get(name).cloned()
    }

    pub fn get_by_id(&self, id: uuid::Uuid) -> Option<Arc<Topic>> {
        self.topics
            .read_locked()
            .values()
            .find(|t| t.id == id)
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<Topic>> {
        self.topics.read_locked().values().cloned().collect()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<SharedLog> {
        self.get(topic)?.partition(partition)
    }

    /// Creates a topic (`partitions` -1 = `num.partitions`); `validate_only` checks without creating.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        let _guard = self.change.locked();
        validate_topic_name(name)?;
        if self.get(name).is_some() {
            return Err(err(36, format!("topic `{name}` already exists")));
        }
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        if partitions <= 0 {
            return Err(err(
                37,
                format!("number of partitions must be positive, got {partitions}"),
            ));
        }
        check_partition_limit(partitions)?;
        if replication_factor != -1 && replication_factor != 1 {
            return Err(err(
                38,
                format!(
                    "replication factor {replication_factor} is larger than the 1 available broker"
                ),
            ));
        }
        let cfg = log_config(&self.config.log, &overrides)?;
        if validate_only {
            return Ok(Arc::new(Topic {
                name: name.into(),
                id: uuid::Uuid::nil(),
                internal: false,
                overrides,
                partitions: RwLock::new(vec![]),
            }));
        }
        let logs = (0..partitions)
            .map(|p| self.open_log(name, p, &cfg))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| err(-1, format!("creating the log failed: {e}")))?;
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id: uuid::Uuid::new_v4(),
            internal: is_internal(name),
            overrides,
            partitions: RwLock::new(logs),
        });
        self.topics
            .write_locked()
            .insert(name.to_string(), topic.clone());
        self.persist()
            .map_err(|e| err(-1, format!("saving topic metadata failed: {e}")))?;
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its data.
    pub fn delete(&self, name: &str) -> Result<(), TopicError> {
        let _guard = self.change.locked();
        if is_internal(name) {
            return Err(err(73, "internal topics cannot be deleted"));
        }
        let topic = self
            .topics
            .write_locked()
            .remove(name)
            .ok_or_else(|| err(3, format!("unknown topic `{name}`")))?;
        self.persist()
            .map_err(|e| err(-1, format!("saving topic metadata failed: {e}")))?;
        let count = topic.partition_count();
        topic.partitions.write_locked().clear();
        if let Some(dir) = &self.dir {
            for p in 0..count {
                if let Err(e) = std::fs::remove_dir_all(dir.join(format!("{name}-{p}"))) {
                    tracing::warn!(
                        topic = name,
                        partition = p,
                        "removing partition data failed: {e}"
                    );
                }
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Grows a topic to `count` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _guard = self.change.locked();
        let topic = self
            .get(name)
            .ok_or_else(|| err(3, format!("unknown topic `{name}`")))?;
        let current = topic.partition_count();
        if count <= current {
            return Err(err(37, format!("topic `{name}` has {current} partitions; the new count must be larger, got {count}")));
        }
        check_partition_limit(count)?;
        if validate_only {
            return Ok(());
        }
        let cfg = log_config(&self.config.log, &topic.overrides)?;
        let mut logs = topic.partitions.write_locked();
        for p in current..count {
            logs.push(
                self.open_log(name, p, &cfg)
                    .map_err(|e| err(-1, e.to_string()))?,
            );
        }
        drop(logs);
        self.persist().map_err(|e| err(-1, e.to_string()))
    }

    fn persist(&self) -> std::io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let mut text = String::new();
        for t in self.topics.read_locked().values() {
            let overrides: Vec<String> = t
                .overrides
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                t.name,
                t.id,
                t.partition_count(),
                overrides.join("\u{1f}")
            ));
        }
        crate::durable::replace_file(&dir.join(META_FILE), text.as_bytes())
    }

    /// Flushes every log (shutdown).
    pub fn flush_all(&self) {
        for t in self.all() {
            for log in t.partitions.read_locked().iter() {
                if let Err(e) = log.locked().flush() {
                    tracing::warn!(topic = %t.name, "flush failed: {e}");
                }
            }
        }
    }

    /// Runs retention over every partition.
    pub fn enforce_retention(&self, now_ms: i64) {
        for t in self.all() {
            for log in t.partitions.read_locked().iter() {
                log.locked().enforce_retention(now_ms);
            }
        }
    }

    /// One log-cleaner pass over every compacted partition; the records it removed.
    pub fn clean_all(&self, now_ms: i64) -> usize {
        let mut removed = 0;
        for t in self.all() {
            for (p, log) in t.partitions.read_locked().iter().enumerate() {
                match log.locked().clean(now_ms) {
                    Ok(stats) => removed += stats.removed,
                    Err(e) => {
                        tracing::warn!(topic = %t.name, partition = p, "compaction failed: {e}")
                    }
                }
            }
        }
        removed
    }
}

/// A `StrBytes` from a `&str` (response building).
/// The most partitions one topic may have on the dev broker: a request for millions (a typo,
/// or a crafted count) would otherwise hold the broker while it builds them.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 10_000;

fn check_partition_limit(partitions: i32) -> Result<(), TopicError> {
    if partitions > MAX_PARTITIONS_PER_TOPIC {
        return Err(err(
            37,
            format!(
                "the dev broker serves at most {MAX_PARTITIONS_PER_TOPIC} partitions per topic, got {partitions}"
            ),
        ));
    }
    Ok(())
}

pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request that panicked while holding a partition's lock costs that request only: the
    /// partition still takes appends and reads, and the retention pass and the shutdown flush
    /// still run over it.
    #[test]
    fn a_panic_under_a_partition_lock_does_not_stop_the_partition() {
        let mgr = TopicManager::open(None, Arc::new(BrokerConfig::default())).unwrap();
        mgr.create("t", 1, 1, BTreeMap::new(), false).unwrap();
        let log = mgr.partition("t", 0).unwrap();
        let held = log.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = held.lock().unwrap();
            panic!("a request panicked while appending");
        })
        .join();
        assert!(panicked.is_err());
        assert!(log.is_poisoned());
        let batch = crate::log::batch_for_tests(2);
        let appended = mgr.partition("t", 0).unwrap().locked().append(batch, 0);
        assert_eq!(appended.unwrap().last_offset, 1);
        mgr.enforce_retention(0);
        mgr.flush_all();
        assert_eq!(log.locked().log_end_offset(), 2);
    }

    /// A topic of millions of partitions is refused (INVALID_PARTITIONS) instead of holding the
    /// broker while it builds them; growing one past the limit likewise.
    #[test]
    fn partition_counts_beyond_the_limit_are_refused() {
        let mgr = TopicManager::open(None, Arc::new(BrokerConfig::default())).unwrap();
        let Err(e) = mgr.create("huge", 1 << 24, 1, BTreeMap::new(), false) else {
            panic!("16M partitions accepted");
        };
        assert_eq!(e.code, 37, "{}", e.message);
        assert!(mgr.get("huge").is_none());
        mgr.create("t", 1, 1, BTreeMap::new(), false).unwrap();
        let e = mgr.create_partitions("t", 1 << 24, false).unwrap_err();
        assert_eq!(e.code, 37);
        assert_eq!(mgr.get("t").unwrap().partition_count(), 1);
    }
}
