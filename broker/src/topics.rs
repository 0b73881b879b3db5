//! The topics this broker hosts: their partitions' logs, ids and per-topic configs.
//!
//! Topic metadata (id, partition count, config overrides) is kept durable in
//! `<data dir>/krafty-topics.meta`, written whole on every change through a rename, so a
//! restart restores topics exactly; the partitions' data lives in `<topic>-<partition>/`.
//! Each partition's recovery point (below it, its log is fsynced) is checkpointed in
//! `<data dir>/recovery-point-offset-checkpoint` at shutdown and by the flusher's passes, and
//! read at start so that the logs skip reading what lies below it (`log/recovery.rs`).

use crate::sync::{LockExt, RwLockExt};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use kafka_protocol::protocol::StrBytes;

use crate::config::{parse_timestamp_type, BrokerConfig};
use crate::log::checkpoint::{self, RecoveryPoints};
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
    /// Config overrides (CreateTopics, AlterConfigs, IncrementalAlterConfigs), by Kafka's
    /// topic property names.
    overrides: RwLock<BTreeMap<String, String>>,
    /// Grows with CreatePartitions; index = partition. On a multi-node cluster a partition
    /// this node is no replica of has an empty in-memory log, never written.
    pub partitions: RwLock<Vec<SharedLog>>,
    /// Each partition's replicas (node ids, the preferred leader first) on a multi-node
    /// cluster; empty on one node, which holds every partition.
    pub replicas: RwLock<Vec<Vec<i32>>>,
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

    /// Partition `p`'s replicas on a multi-node cluster (empty on one node).
    pub fn replicas_of(&self, p: i32) -> Vec<i32> {
        let replicas = self.replicas.read_locked();
        usize::try_from(p)
            .ok()
            .and_then(|p| replicas.get(p).cloned())
            .unwrap_or_default()
    }

    /// The topic's config overrides now.
    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.overrides.read_locked().clone()
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
    /// Serialises creations, deletions and config changes (and the metadata file).
    change: Mutex<()>,
    /// The recovery points the checkpoint file holds; its lock serialises writing the file.
    checkpointed: Mutex<RecoveryPoints>,
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
        ("flush.messages", c.log.flush_messages.to_string()),
        ("flush.ms", c.log.flush_ms.to_string()),
        ("min.insync.replicas", c.log.min_insync_replicas.to_string()),
    ]
}

/// `value` when it is at least `min`, else INVALID_CONFIG naming `key`.
fn at_least(key: &str, value: i64, min: i64) -> Result<i64, TopicError> {
    if value < min {
        return Err(err(
            40,
            format!("`{value}` is not a valid value for {key}: it must be at least {min}"),
        ));
    }
    Ok(value)
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
            // Kafka's ranges: at least 1 message, at least 0 ms.
            "flush.messages" => c.flush_messages = at_least(k, num(v)?, 1)?,
            "flush.ms" => c.flush_ms = at_least(k, num(v)?, 0)?,
            "min.insync.replicas" => {
                c.min_insync_replicas = at_least(k, num(v)?, 1)?.min(i32::MAX as i64) as i32
            }
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
            checkpointed: Mutex::new(RecoveryPoints::new()),
        };
        let Some(dir) = &mgr.dir else { return Ok(mgr) };
        std::fs::create_dir_all(dir)?;
        let recovery_points = read_checkpoint(&dir.join(checkpoint::FILE));
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
            let replicas = parse_replicas(f.next().unwrap_or(""));
            let id = uuid::Uuid::parse_str(id).unwrap_or_else(|_| uuid::Uuid::new_v4());
            let n: i32 = n.parse().unwrap_or(1);
            let cfg =
                log_config(&mgr.config.log, &overrides).unwrap_or_else(|_| mgr.config.log.clone());
            let logs = (0..n)
                .map(|p| {
                    let rp = recovery_points.get(&(name.to_string(), p)).copied();
                    let local = mgr.hosts(replicas.get(p as usize));
                    mgr.open_log(name, p, &cfg, rp, local)
                })
                .collect::<std::io::Result<Vec<_>>>()?;
            let topic = Topic {
                name: name.to_string(),
                id,
                internal: is_internal(name),
                overrides: RwLock::new(overrides),
                partitions: RwLock::new(logs),
                replicas: RwLock::new(replicas),
            };
            mgr.topics
                .write_locked()
                .insert(name.to_string(), Arc::new(topic));
        }
        *mgr.checkpointed.locked() = recovery_points;
        Ok(mgr)
    }

    /// Whether this node holds a partition with these replicas (every partition on one node).
    fn hosts(&self, replicas: Option<&Vec<i32>>) -> bool {
        replicas.is_none_or(|r| r.is_empty() || r.contains(&self.config.node_id))
    }

    /// Opens a partition's log; with a recovery point, what lies below it is not read again.
    /// A partition this node is no replica of (`local` false) gets an empty in-memory log.
    fn open_log(
        &self,
        topic: &str,
        partition: i32,
        cfg: &LogConfig,
        recovery_point: Option<i64>,
        local: bool,
    ) -> std::io::Result<SharedLog> {
        let dir = self
            .dir
            .as_ref()
            .filter(|_| local)
            .map(|d| d.join(format!("{topic}-{partition}")));
        let log = PartitionLog::open_recovering(dir.as_deref(), cfg.clone(), recovery_point)?;
        let stats = log.stats();
        tracing::debug!(
            topic,
            partition,
            from_index = stats.segments_from_index,
            batches_scanned = stats.batches_scanned,
            "opened partition log"
        );
        Ok(Arc::new(Mutex::new(log)))
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

    /// The partition count a creation asks for (-1: `num.partitions`), checked.
    pub fn partitions_to_create(&self, partitions: i32) -> Result<i32, TopicError> {
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
        Ok(partitions)
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
        validate_topic_name(name)?;
        if self.get(name).is_some() {
            return Err(err(36, format!("topic `{name}` already exists")));
        }
        let partitions = self.partitions_to_create(partitions)?;
        if replication_factor != -1 && replication_factor != 1 {
            return Err(err(
                38,
                format!(
                    "replication factor {replication_factor} is larger than the 1 available broker"
                ),
            ));
        }
        self.create_replicated(
            name,
            None,
            vec![Vec::new(); partitions as usize],
            overrides,
            validate_only,
        )
    }

    /// Creates a topic whose partitions have these replicas (a multi-node cluster's
    /// controller gives every node the same id and assignment; empty replica lists: one
    /// node); `None` for a new id.
    pub fn create_replicated(
        &self,
        name: &str,
        id: Option<uuid::Uuid>,
        assignment: Vec<Vec<i32>>,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        let _guard = self.change.locked();
        validate_topic_name(name)?;
        if self.get(name).is_some() {
            return Err(err(36, format!("topic `{name}` already exists")));
        }
        let partitions = self.partitions_to_create(assignment.len() as i32)?;
        let cfg = log_config(&self.config.log, &overrides)?;
        if validate_only {
            return Ok(Arc::new(Topic {
                name: name.into(),
                id: uuid::Uuid::nil(),
                internal: false,
                overrides: RwLock::new(overrides),
                partitions: RwLock::new(vec![]),
                replicas: RwLock::new(vec![]),
            }));
        }
        let logs = (0..partitions)
            .map(|p| self.open_log(name, p, &cfg, None, self.hosts(assignment.get(p as usize))))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| err(-1, format!("creating the log failed: {e}")))?;
        let replicated = assignment.iter().any(|r| !r.is_empty());
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id: id.unwrap_or_else(uuid::Uuid::new_v4),
            internal: is_internal(name),
            overrides: RwLock::new(overrides),
            partitions: RwLock::new(logs),
            replicas: RwLock::new(if replicated { assignment } else { Vec::new() }),
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
            // Only this node's replicas have a directory.
            let local = (0..count).filter(|p| self.hosts(Some(&topic.replicas_of(*p))));
            for p in local {
                if let Err(e) = std::fs::remove_dir_all(dir.join(format!("{name}-{p}"))) {
                    tracing::warn!(
                        topic = name,
                        partition = p,
                        "removing partition data failed: {e}"
                    );
                }
            }
        }
        // Its recovery points leave the checkpoint (a topic created again under the name
        // starts from nothing).
        self.write_checkpoint();
        tracing::info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Changes a topic's config overrides (AlterConfigs, IncrementalAlterConfigs): `edit` gets
    /// the current ones; the result is checked as at creation (INVALID_CONFIG naming the
    /// property), recorded in the metadata file, and applied to every partition at once.
    pub fn alter_configs(
        &self,
        name: &str,
        edit: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), TopicError>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _guard = self.change.locked();
        let topic = self
            .get(name)
            .ok_or_else(|| err(3, format!("unknown topic `{name}`")))?;
        let mut overrides = topic.overrides();
        edit(&mut overrides)?;
        let cfg = log_config(&self.config.log, &overrides)?;
        if validate_only {
            return Ok(());
        }
        *topic.overrides.write_locked() = overrides;
        self.persist()
            .map_err(|e| err(-1, format!("saving topic metadata failed: {e}")))?;
        for log in topic.partitions.read_locked().iter() {
            log.locked().set_config(cfg.clone());
        }
        tracing::info!(topic = name, "altered topic configs");
        Ok(())
    }

    /// Grows a topic to `count` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        self.create_partitions_replicated(name, count, Vec::new(), validate_only)
    }

    /// Grows a topic to `count` partitions, the new ones with these replicas (a multi-node
    /// cluster's; empty on one node).
    pub fn create_partitions_replicated(
        &self,
        name: &str,
        count: i32,
        new_replicas: Vec<Vec<i32>>,
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
        let cfg = log_config(&self.config.log, &topic.overrides())?;
        let mut logs = topic.partitions.write_locked();
        for p in current..count {
            let local = self.hosts(new_replicas.get((p - current) as usize));
            logs.push(
                self.open_log(name, p, &cfg, None, local)
                    .map_err(|e| err(-1, e.to_string()))?,
            );
        }
        drop(logs);
        if !new_replicas.is_empty() {
            topic.replicas.write_locked().extend(new_replicas);
        }
        self.persist().map_err(|e| err(-1, e.to_string()))
    }

    fn persist(&self) -> std::io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let mut text = String::new();
        for t in self.topics.read_locked().values() {
            let overrides: Vec<String> = t
                .overrides()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            text.push_str(&format!(
                "{}\t{}\t{}\t{}",
                t.name,
                t.id,
                t.partition_count(),
                overrides.join("\u{1f}")
            ));
            // A multi-node cluster's replica assignment (one node writes none).
            let replicas = t.replicas.read_locked();
            if !replicas.is_empty() {
                let lists: Vec<String> = replicas
                    .iter()
                    .map(|r| r.iter().map(i32::to_string).collect::<Vec<_>>().join(","))
                    .collect();
                text.push('\t');
                text.push_str(&lists.join(";"));
            }
            text.push('\n');
        }
        crate::durable::replace_file(&dir.join(META_FILE), text.as_bytes())
    }

    /// Flushes every log and writes its producer-state snapshot, then the recovery-point
    /// checkpoint (a clean shutdown: the next start reads no batch).
    pub fn flush_all(&self) {
        for t in self.all() {
            for log in t.partitions.read_locked().iter() {
                if let Err(e) = log.locked().close() {
                    tracing::warn!(topic = %t.name, "flush failed: {e}");
                }
            }
        }
        self.write_checkpoint();
    }

    /// The flusher's pass (every `log.flush.scheduler.interval.ms`): fsyncs the partitions whose
    /// oldest unflushed append is `flush.ms` old, then checkpoints the recovery points if one
    /// moved (a roll or a `flush.messages` flush moves them too). How many partitions it
    /// flushed.
    pub fn flush_due(&self, now_ms: i64) -> usize {
        if self.dir.is_none() {
            return 0;
        }
        let mut flushed = 0;
        for t in self.all() {
            for (p, log) in t.partitions.read_locked().iter().enumerate() {
                match log.locked().flush_if_due(now_ms) {
                    Ok(true) => flushed += 1,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(topic = %t.name, partition = p, "flush failed: {e}"),
                }
            }
        }
        self.write_checkpoint();
        flushed
    }

    /// Writes the recovery-point checkpoint when it would change.
    fn write_checkpoint(&self) {
        let Some(dir) = &self.dir else { return };
        // Held while the points are read too: a writer that read before a topic was deleted
        // cannot write after the deletion's own checkpoint. (Partition locks are taken under
        // it, never the other way round.)
        let mut written = self.checkpointed.locked();
        let mut points = RecoveryPoints::new();
        for t in self.all() {
            for (p, log) in t.partitions.read_locked().iter().enumerate() {
                points.insert((t.name.clone(), p as i32), log.locked().recovery_point());
            }
        }
        if *written == points {
            return;
        }
        let path = dir.join(checkpoint::FILE);
        match crate::durable::replace_file(&path, checkpoint::encode(&points).as_bytes()) {
            Ok(()) => *written = points,
            Err(e) => tracing::warn!("writing {} failed: {e}", path.display()),
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

/// The recovery points in the checkpoint file at `path`: none when it is missing, or damaged
/// (with a warning: every partition is then scanned at open, as without a checkpoint).
fn read_checkpoint(path: &std::path::Path) -> RecoveryPoints {
    match std::fs::read_to_string(path) {
        Ok(text) => checkpoint::parse(&text).unwrap_or_else(|e| {
            tracing::warn!(
                "ignoring a damaged {} ({e}): every partition's log is scanned",
                path.display()
            );
            RecoveryPoints::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => RecoveryPoints::new(),
        Err(e) => {
            tracing::warn!(
                "reading {} failed ({e}): every partition's log is scanned",
                path.display()
            );
            RecoveryPoints::new()
        }
    }
}

/// A replica assignment as the metadata file keeps it: `1,2,3;2,3,1` (none: empty).
fn parse_replicas(text: &str) -> Vec<Vec<i32>> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    text.split(';')
        .map(|r| {
            r.split(',')
                .filter_map(|id| id.trim().parse().ok())
                .collect()
        })
        .collect()
}

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

/// A `StrBytes` from a `&str` (response building).
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

    fn checkpoint_text(dir: &std::path::Path) -> String {
        std::fs::read_to_string(dir.join(checkpoint::FILE)).unwrap()
    }

    /// A clean shutdown writes Kafka's checkpoint file; the next start opens the partitions
    /// below their recovery points without reading a batch. A damaged file, or no entry for a
    /// partition, scans it as before.
    #[test]
    fn the_recovery_point_checkpoint_is_written_at_shutdown_and_trusted_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let config = Arc::new(BrokerConfig::default());
        let open = || TopicManager::open(Some(dir.path().into()), config.clone()).unwrap();
        let scanned = |mgr: &TopicManager| {
            let log = mgr.partition("t", 0).unwrap();
            let log = log.locked();
            assert_eq!(log.log_end_offset(), 3);
            log.stats().batches_scanned
        };
        {
            let mgr = open();
            mgr.create("t", 2, 1, BTreeMap::new(), false).unwrap();
            for _ in 0..3 {
                let log = mgr.partition("t", 0).unwrap();
                log.locked()
                    .append(crate::log::batch_for_tests(1), 0)
                    .unwrap();
            }
            mgr.flush_all();
        }
        assert_eq!(checkpoint_text(dir.path()), "0\n2\nt 0 3\nt 1 0\n");
        assert_eq!(scanned(&open()), 0, "trusted below the recovery point");
        let path = dir.path().join(checkpoint::FILE);
        std::fs::write(&path, "0\n2\nt 0 3\n").unwrap();
        assert_eq!(scanned(&open()), 3, "a damaged checkpoint: a full scan");
        std::fs::write(&path, "0\n1\nt 1 0\n").unwrap();
        assert_eq!(scanned(&open()), 3, "no entry: a full scan");
        // Deleting a topic takes its partitions out of the checkpoint.
        let mgr = open();
        mgr.create("u", 1, 1, BTreeMap::new(), false).unwrap();
        mgr.flush_all();
        mgr.delete("t").unwrap();
        assert_eq!(checkpoint_text(dir.path()), "0\n1\nu 0 0\n");
    }

    /// The flusher's pass fsyncs a partition whose oldest unflushed append is `flush.ms` old
    /// (0: any), leaves the others to the OS, and checkpoints the recovery points.
    #[test]
    fn the_flush_pass_fsyncs_partitions_past_their_flush_ms() {
        let dir = tempfile::tempdir().unwrap();
        let mgr =
            TopicManager::open(Some(dir.path().into()), Arc::new(BrokerConfig::default())).unwrap();
        let timed = [("flush.ms".to_string(), "0".to_string())].into();
        mgr.create("timed", 1, 1, timed, false).unwrap();
        mgr.create("plain", 1, 1, BTreeMap::new(), false).unwrap();
        for t in ["timed", "plain"] {
            let log = mgr.partition(t, 0).unwrap();
            log.locked()
                .append(crate::log::batch_for_tests(2), crate::log::now_ms())
                .unwrap();
        }
        assert_eq!(mgr.flush_due(crate::log::now_ms()), 1);
        let rp = |t: &str| mgr.partition(t, 0).unwrap().locked().recovery_point();
        assert_eq!((rp("timed"), rp("plain")), (2, 0));
        assert_eq!(checkpoint_text(dir.path()), "0\n2\nplain 0 0\ntimed 0 2\n");
    }

    /// `flush.messages` (at least 1) and `flush.ms` (at least 0) are checked at creation and on
    /// alteration, refused with INVALID_CONFIG naming the property, and applied to the logs.
    #[test]
    fn flush_configs_are_checked_and_applied() {
        let mgr = TopicManager::open(None, Arc::new(BrokerConfig::default())).unwrap();
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        for (k, v) in [
            ("flush.messages", "0"),
            ("flush.messages", "many"),
            ("flush.ms", "-1"),
        ] {
            let Err(e) = mgr.create("bad", 1, 1, one(k, v), false) else {
                panic!("{k}={v} accepted");
            };
            assert_eq!(e.code, 40, "{k}={v}: {}", e.message);
            assert!(e.message.contains(k), "{}", e.message);
        }
        mgr.create("t", 2, 1, one("flush.messages", "1"), false)
            .unwrap();
        let cfg = |p: i32| mgr.partition("t", p).unwrap().locked().config().clone();
        assert_eq!((cfg(0).flush_messages, cfg(0).flush_ms), (1, i64::MAX));
        let e = mgr
            .alter_configs(
                "t",
                |o| {
                    o.insert("flush.ms".into(), "-5".into());
                    Ok(())
                },
                false,
            )
            .unwrap_err();
        assert_eq!(e.code, 40);
        assert!(e.message.contains("flush.ms"), "{}", e.message);
        assert_eq!(
            cfg(1).flush_ms,
            i64::MAX,
            "a refused change changes nothing"
        );
        mgr.alter_configs(
            "t",
            |o| {
                *o = one("flush.ms", "250");
                Ok(())
            },
            false,
        )
        .unwrap();
        assert_eq!((cfg(1).flush_messages, cfg(1).flush_ms), (i64::MAX, 250));
        assert_eq!(mgr.get("t").unwrap().overrides(), one("flush.ms", "250"));
        let defaults = topic_config_defaults(&BrokerConfig::default());
        let max = i64::MAX.to_string();
        assert!(defaults.contains(&("flush.messages", max.clone())));
        assert!(defaults.contains(&("flush.ms", max)));
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
