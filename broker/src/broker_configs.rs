//! Broker configs as DescribeConfigs, AlterConfigs and IncrementalAlterConfigs see them on a
//! BROKER resource (type 4): the static ones the broker started with, and the dynamic ones an
//! admin client sets while it runs.
//!
//! Kafka 4.x lets an admin change a set of configs per broker (resource name = node id) or
//! cluster-wide (empty name), refuses the ones that need a restart with INVALID_REQUEST
//! ("Cannot update these configs dynamically: [node.id]"), and stores names it does not know
//! (configs of plugins) as they are. The dev broker does the same with one dynamic config,
//! `log.cleaner.threads` (stored and described; its cleaner is one task whatever the value):
//! every other config it knows was set at start and is read-only here, where Kafka would also
//! accept `message.max.bytes`, `log.retention.ms` and a few more. Dynamic values live in memory
//! and are gone after a restart (Kafka keeps them in its metadata log).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::config::BrokerConfig;
use crate::topics::TopicError;

/// Config sources, as DescribeConfigs numbers them.
pub const DYNAMIC_BROKER_CONFIG: i8 = 2;
pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
pub const STATIC_BROKER_CONFIG: i8 = 4;
pub const DEFAULT_CONFIG: i8 = 5;

/// The configs the dev broker changes at run time, with Kafka's default.
const DYNAMIC: &[(&str, &str)] = &[("log.cleaner.threads", "1")];

/// One described broker config: the value in effect and, highest precedence first, every
/// place it is set (Kafka's synonyms).
pub struct Described {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub read_only: bool,
    pub sensitive: bool,
    pub synonyms: Vec<(String, Option<String>, i8)>,
}

/// Dynamic broker configs by resource name: this node's id, or "" for the cluster default.
#[derive(Default)]
pub struct DynamicBrokerConfigs {
    by_resource: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

fn invalid_request(message: String) -> TopicError {
    TopicError { code: 42, message }
}

/// The static configs, each with where it came from.
fn static_configs(c: &BrokerConfig) -> Vec<(&'static str, String)> {
    vec![
        ("node.id", c.node_id.to_string()),
        ("num.partitions", c.num_partitions.to_string()),
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
        ),
        ("message.max.bytes", c.log.max_message_bytes.to_string()),
        ("log.segment.bytes", c.log.segment_bytes.to_string()),
        ("log.retention.ms", c.log.retention_ms.to_string()),
        ("log.retention.bytes", c.log.retention_bytes.to_string()),
        (
            "log.flush.interval.messages",
            c.log.flush_messages.to_string(),
        ),
        ("log.flush.interval.ms", c.log.flush_ms.to_string()),
        (
            "log.flush.scheduler.interval.ms",
            c.flush_scheduler_interval_ms.to_string(),
        ),
        (
            "offsets.topic.num.partitions",
            c.group.offsets_topic_num_partitions.to_string(),
        ),
        (
            "group.initial.rebalance.delay.ms",
            c.group.initial_rebalance_delay_ms.to_string(),
        ),
    ]
}

impl DynamicBrokerConfigs {
    /// Checks that a BROKER resource name is this node's id or "" (the cluster default).
    pub fn check_resource(c: &BrokerConfig, name: &str) -> Result<(), TopicError> {
        if name.is_empty() || name == c.node_id.to_string() {
            return Ok(());
        }
        Err(invalid_request(format!(
            "Unexpected broker id, expected {} or empty string, but received {name}",
            c.node_id
        )))
    }

    /// Runs `edit` on a copy of `resource`'s dynamic configs, validates the outcome and, unless
    /// `validate_only`, keeps it: all of a resource's changes or none.
    pub fn alter(
        &self,
        c: &BrokerConfig,
        resource: &str,
        edit: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), TopicError>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        Self::check_resource(c, resource)?;
        let mut all = self.by_resource.lock().unwrap();
        let mut configs = all.get(resource).cloned().unwrap_or_default();
        let before = configs.clone();
        edit(&mut configs)?;
        let fixed: Vec<&str> = static_configs(c)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| configs.get(*k) != before.get(*k))
            .collect();
        if !fixed.is_empty() {
            return Err(invalid_request(format!(
                "Cannot update these configs dynamically: [{}]",
                fixed.join(", ")
            )));
        }
        for (k, v) in &configs {
            if DYNAMIC.iter().any(|(d, _)| d == k) {
                match v.trim().parse::<i32>() {
                    Ok(n) if n >= 1 => {}
                    Ok(_) => {
                        return Err(invalid_request(format!(
                            "Invalid value {v} for configuration {k}: Value must be at least 1"
                        )))
                    }
                    Err(_) => {
                        return Err(invalid_request(format!(
                            "Invalid value {v} for configuration {k}: Not a number of type INT"
                        )))
                    }
                }
            }
        }
        if !validate_only {
            all.insert(resource.to_string(), configs);
        }
        Ok(())
    }

    /// The configs of `resource` ("" = the cluster default: only its dynamic configs, as
    /// Kafka describes it).
    pub fn describe(&self, c: &BrokerConfig, resource: &str) -> Vec<Described> {
        let all = self.by_resource.lock().unwrap();
        let empty = BTreeMap::new();
        let node = if resource.is_empty() {
            &empty
        } else {
            all.get(resource).unwrap_or(&empty)
        };
        let default = all.get("").unwrap_or(&empty);
        let mut out = Vec::new();
        let mut layered = |name: &str, base: Option<(String, i8)>, read_only: bool| {
            let known = base.is_some() || DYNAMIC.iter().any(|(d, _)| *d == name);
            let mut synonyms = Vec::new();
            if let Some(v) = node.get(name) {
                synonyms.push((name.to_string(), Some(v.clone()), DYNAMIC_BROKER_CONFIG));
            }
            if let Some(v) = default.get(name) {
                synonyms.push((
                    name.to_string(),
                    Some(v.clone()),
                    DYNAMIC_DEFAULT_BROKER_CONFIG,
                ));
            }
            if let Some((v, source)) = base {
                synonyms.push((name.to_string(), Some(v), source));
            }
            // Kafka does not know what a config of a name it does not know holds, so it
            // treats it as a password: never sent back.
            if !known {
                for s in &mut synonyms {
                    s.1 = None;
                }
            }
            let Some((_, value, source)) = synonyms.first().cloned() else {
                return;
            };
            out.push(Described {
                name: name.to_string(),
                value,
                source,
                read_only: read_only || !known,
                sensitive: !known,
                synonyms,
            });
        };
        if !resource.is_empty() {
            for (k, v) in static_configs(c) {
                layered(k, Some((v, STATIC_BROKER_CONFIG)), true);
            }
        }
        for (k, v) in DYNAMIC {
            let base = (!resource.is_empty()).then(|| (v.to_string(), DEFAULT_CONFIG));
            layered(k, base, false);
        }
        let unknown: std::collections::BTreeSet<&String> = node
            .keys()
            .chain(default.keys())
            .filter(|k| !DYNAMIC.iter().any(|(d, _)| d == k))
            .collect();
        for k in unknown {
            layered(k, None, false);
        }
        out
    }
}

/// An incremental change to a broker config: SET and DELETE; broker configs of the dev
/// broker hold no lists, so APPEND and SUBTRACT are INVALID_CONFIG as Kafka answers for a
/// config that is not a list.
pub fn apply_incremental(
    configs: &mut BTreeMap<String, String>,
    name: &str,
    op: i8,
    value: Option<&str>,
) -> Result<(), TopicError> {
    match (op, value) {
        (0, Some(v)) => {
            configs.insert(name.to_string(), v.trim().to_string());
        }
        (0, None) => {
            return Err(invalid_request(format!(
                "a null value is not supported for {name}"
            )))
        }
        (1, _) => {
            configs.remove(name);
        }
        (2, _) => {
            return Err(TopicError {
                code: 40,
                message: format!("Config value append is not allowed for config key: {name}"),
            })
        }
        (3, _) => {
            return Err(TopicError {
                code: 40,
                message: format!("Config value subtract is not allowed for config key: {name}"),
            })
        }
        (other, _) => {
            return Err(invalid_request(format!(
                "unknown config operation {other} for {name}"
            )))
        }
    }
    Ok(())
}
