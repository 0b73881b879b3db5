//! CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs and
//! IncrementalAlterConfigs (the BROKER resources' side of the configs in `broker_configs`).

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::create_partitions_response::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::*;
use kafka_protocol::messages::delete_topics_response::*;
use kafka_protocol::messages::describe_configs_response::*;
use kafka_protocol::messages::*;

use crate::broker_configs::{self, Described, DynamicBrokerConfigs};
use crate::shared::Shared;
use crate::topics::{sb, topic_config_defaults, TopicError};

pub fn create_topics(
    shared: &Shared,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let r = CreatableTopicResult::default().with_name(t.name.clone());
            let overrides: BTreeMap<String, String> = t
                .configs
                .iter()
                .filter_map(|c| {
                    c.value
                        .as_ref()
                        .map(|v| (c.name.to_string(), v.to_string()))
                })
                .collect();
            if let Err(e) = check_assignments(&node_ids(shared), &t) {
                return r
                    .with_error_code(e.code)
                    .with_error_message(Some(sb(&e.message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1);
            }
            let partitions = if !t.assignments.is_empty() {
                t.assignments.len() as i32
            } else {
                t.num_partitions
            };
            let created = match &shared.cluster {
                None => shared.topics.create(
                    &t.name,
                    partitions,
                    t.replication_factor,
                    overrides,
                    req.validate_only,
                ),
                Some(c) => {
                    let mut assignment: Vec<_> = t
                        .assignments
                        .iter()
                        .map(|a| {
                            (
                                a.partition_index,
                                a.broker_ids.iter().map(|b| b.0).collect(),
                            )
                        })
                        .collect();
                    assignment.sort_unstable();
                    let assignment = (!assignment.is_empty())
                        .then(|| assignment.into_iter().map(|(_, ids)| ids).collect());
                    c.controller.create_topic(
                        &t.name,
                        partitions,
                        t.replication_factor,
                        assignment,
                        overrides,
                        req.validate_only,
                    )
                }
            };
            match created {
                Ok(topic) => {
                    // Validation builds no partitions: the factor asked for (or the default).
                    let factor = match (topic.replicas_of(0).len(), &shared.cluster) {
                        (0, Some(c)) if t.replication_factor == -1 => {
                            c.controller.replication.default_replication_factor
                        }
                        (0, Some(_)) => t.replication_factor,
                        (0, None) => 1,
                        (n, _) => n as i16,
                    };
                    let r = r
                        .with_num_partitions(partitions.max(topic.partition_count()))
                        .with_replication_factor(factor);
                    let r = if version >= 7 {
                        r.with_topic_id(topic.id)
                    } else {
                        r
                    };
                    if version >= 5 {
                        let overrides = topic.overrides();
                        r.with_configs(Some(
                            topic_config_defaults(&shared.config)
                                .into_iter()
                                .map(|(k, default)| {
                                    let (value, source) = match overrides.get(k) {
                                        Some(v) => (v.clone(), 1),
                                        None => (default, 5),
                                    };
                                    CreatableTopicConfigs::default()
                                        .with_name(sb(k))
                                        .with_value(Some(sb(&value)))
                                        .with_config_source(source)
                                })
                                .collect(),
                        ))
                    } else {
                        r
                    }
                }
                Err(e) => r
                    .with_error_code(e.code)
                    .with_error_message(Some(sb(&e.message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// The brokers a replica assignment may name: this node, or every node of the cluster.
fn node_ids(shared: &Shared) -> Vec<i32> {
    match &shared.cluster {
        Some(c) => c.controller.node_ids(),
        None => vec![shared.config.node_id],
    }
}

/// A CreateTopics replica assignment as Kafka checks it: instead of (not with) a partition
/// count and replication factor, partitions numbered 0, 1, ..., each on distinct brokers that
/// exist.
fn check_assignments(nodes: &[i32], t: &CreatableTopic) -> Result<(), TopicError> {
    if t.assignments.is_empty() {
        return Ok(());
    }
    let invalid = |message: String| Err(TopicError { code: 39, message });
    if t.num_partitions != -1 || t.replication_factor != -1 {
        return Err(TopicError {
            code: 42,
            message: "Both numPartitions or replicationFactor and replicasAssignments were set. \
                      Both cannot be used at the same time."
                .into(),
        });
    }
    let mut indexes: Vec<i32> = t.assignments.iter().map(|a| a.partition_index).collect();
    indexes.sort_unstable();
    if indexes.iter().enumerate().any(|(i, p)| *p != i as i32) {
        return invalid("Partitions should be a consecutive 0-based integer sequence".into());
    }
    for a in &t.assignments {
        let ids: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
        check_replicas(nodes, a.partition_index, &ids)?;
    }
    Ok(())
}

/// One partition's manual replica list (CreateTopics, CreatePartitions): not empty, on
/// brokers that exist, each once (INVALID_REPLICA_ASSIGNMENT otherwise, Kafka's messages).
fn check_replicas(nodes: &[i32], partition: i32, ids: &[i32]) -> Result<(), TopicError> {
    let invalid = |message: String| Err(TopicError { code: 39, message });
    if ids.is_empty() {
        return invalid(format!(
            "The manual partition assignment of partition {partition} is empty."
        ));
    }
    if let Some(b) = ids.iter().find(|b| !nodes.contains(b)) {
        return invalid(format!(
            "The manual partition assignment includes broker {b}, but no such broker is \
             registered."
        ));
    }
    if let Some(b) = ids
        .iter()
        .enumerate()
        .find_map(|(i, b)| ids[..i].contains(b).then_some(b))
    {
        return invalid(format!(
            "The manual partition assignment includes the broker {b} more than once."
        ));
    }
    Ok(())
}

/// CreatePartitions' manual assignments on a cluster: one per new partition, each as many
/// replicas as the topic's partitions have, checked as CreateTopics' are.
fn cluster_assignments(
    shared: &Shared,
    topic: &str,
    count: i32,
    assignments: &[kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment],
) -> Result<Vec<Vec<i32>>, TopicError> {
    let invalid = |message: String| Err(TopicError { code: 39, message });
    let Some(existing) = shared.topics.get(topic) else {
        return Err(TopicError {
            code: 3,
            message: format!("unknown topic `{topic}`"),
        });
    };
    let current = existing.partition_count();
    let added = count - current;
    if added > 0 && assignments.len() != added as usize {
        return invalid(format!(
            "Attempted to add {added} additional partition(s), but only {} assignment(s) were \
             specified.",
            assignments.len()
        ));
    }
    let rf = existing.replicas_of(0).len();
    let nodes = node_ids(shared);
    let mut out = Vec::new();
    for (i, a) in assignments.iter().enumerate() {
        let ids: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
        let partition = current + i as i32;
        check_replicas(&nodes, partition, &ids)?;
        if rf > 0 && ids.len() != rf {
            return invalid(format!(
                "The manual partition assignment includes a partition with {} replica(s), but \
                 this is not consistent with previous partitions, which have {rf} replica(s).",
                ids.len()
            ));
        }
        out.push(ids);
    }
    Ok(out)
}

pub fn delete_topics(shared: &Shared, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    // v0-5 name topics in `topic_names`, v6+ in `topics` (by name or by id).
    let mut targets: Vec<(Option<String>, uuid::Uuid)> = req
        .topic_names
        .iter()
        .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
        .collect();
    targets.extend(
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id)),
    );
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let name = name.or_else(|| shared.topics.get_by_id(id).map(|t| t.name.clone()));
            let r = DeletableTopicResult::default().with_topic_id(id);
            let Some(name) = name else {
                return r
                    .with_error_code(100)
                    .with_error_message(Some(sb("unknown topic id"))); // UNKNOWN_TOPIC_ID
            };
            let topic_id = shared.topics.get(&name).map_or(id, |t| t.id);
            let r = r
                .with_name(Some(TopicName(sb(&name))))
                .with_topic_id(topic_id);
            let deleted = match &shared.cluster {
                Some(c) => c.controller.delete_topic(&name),
                None => shared
                    .topics
                    .delete(&name)
                    .map(|()| shared.groups.on_topic_deleted(&name)),
            };
            match deleted {
                Ok(()) => r,
                Err(e) => r
                    .with_error_code(e.code)
                    .with_error_message(Some(sb(&e.message))),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

pub fn create_partitions(
    shared: &Shared,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            // Assignments, when given (not null), name the new partitions' replicas: one per
            // new partition, on brokers that exist.
            let current = shared.topics.get(&t.name).map_or(0, |t| t.partition_count());
            // A cluster places the new partitions as assigned, or round-robin without them.
            let manual = match (&shared.cluster, t.assignments.as_ref()) {
                (Some(_), Some(assignments)) => {
                    match cluster_assignments(shared, &t.name, t.count, assignments) {
                        Ok(a) => Some(a),
                        Err(e) => {
                            return r
                                .with_error_code(e.code)
                                .with_error_message(Some(sb(&e.message)))
                        }
                    }
                }
                _ => None,
            };
            if let Some(assignments) = t.assignments.as_ref().filter(|_| shared.cluster.is_none()) {
                let added = t.count - current;
                let node = BrokerId(shared.config.node_id);
                let message = if added > 0 && assignments.len() != added as usize {
                    Some(format!("Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.", assignments.len()))
                } else if assignments.iter().any(|a| a.broker_ids.len() != 1) {
                    Some(format!("Each new partition needs exactly one replica: the only broker is {}", node.0))
                } else if assignments.iter().any(|a| a.broker_ids.iter().any(|b| *b != node)) {
                    Some(format!("Unknown broker in the assignments: the only broker is {}", node.0))
                } else {
                    None
                };
                if let Some(message) = message {
                    return r.with_error_code(39).with_error_message(Some(sb(&message)));
                }
            }
            let grown = match &shared.cluster {
                Some(c) => {
                    c.controller
                        .create_partitions(&t.name, t.count, manual, req.validate_only)
                }
                None => shared.topics.create_partitions(&t.name, t.count, req.validate_only),
            };
            match grown {
                Ok(()) => r,
                Err(e) => r
                    .with_error_code(e.code)
                    .with_error_message(Some(sb(&e.message))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

/// The broker's name for the default of a topic config, where Kafka gives one as a synonym
/// (none where the broker's config is in other units: `log.retention.hours`, `log.roll.hours`).
fn broker_synonym(topic_key: &str) -> Option<&'static str> {
    Some(match topic_key {
        "cleanup.policy" => "log.cleanup.policy",
        "delete.retention.ms" => "log.cleaner.delete.retention.ms",
        "min.cleanable.dirty.ratio" => "log.cleaner.min.cleanable.ratio",
        "min.compaction.lag.ms" => "log.cleaner.min.compaction.lag.ms",
        "index.interval.bytes" => "log.index.interval.bytes",
        "max.message.bytes" => "message.max.bytes",
        "message.timestamp.type" => "log.message.timestamp.type",
        "retention.bytes" => "log.retention.bytes",
        "segment.bytes" => "log.segment.bytes",
        "flush.messages" => "log.flush.interval.messages",
        "min.insync.replicas" => "min.insync.replicas",
        _ => return None,
    })
}

/// DescribeConfigs for topics (resource type 2) and brokers (4), with synonyms when asked.
pub fn describe_configs(shared: &Shared, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|res| {
            let r = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let wanted = |k: &str| {
                res.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|x| x.as_str() == k))
            };
            let entries: Vec<Described> = match res.resource_type {
                2 => {
                    let Some(topic) = shared.topics.get(&res.resource_name) else {
                        return r
                            .with_error_code(3)
                            .with_error_message(Some(sb("unknown topic")));
                    };
                    let overrides = topic.overrides();
                    topic_config_defaults(&shared.config)
                        .into_iter()
                        .map(|(k, default)| {
                            let mut synonyms = Vec::new();
                            if let Some(v) = overrides.get(k) {
                                synonyms.push((k.to_string(), Some(v.clone()), 1));
                            }
                            if let Some(b) = broker_synonym(k) {
                                synonyms.push((b.to_string(), Some(default.clone()), 5));
                            }
                            let (value, source) = match overrides.get(k) {
                                Some(v) => (v.clone(), 1),
                                None => (default, 5),
                            };
                            Described {
                                name: k.to_string(),
                                value: Some(value),
                                source,
                                read_only: false,
                                sensitive: false,
                                synonyms,
                            }
                        })
                        .collect()
                }
                4 => {
                    if let Err(e) =
                        DynamicBrokerConfigs::check_resource(&shared.config, &res.resource_name)
                    {
                        return r
                            .with_error_code(e.code)
                            .with_error_message(Some(sb(&e.message)));
                    }
                    shared
                        .broker_configs
                        .describe(&shared.config, &res.resource_name)
                }
                other => {
                    return r.with_error_code(42).with_error_message(Some(sb(&format!(
                        "resource type {other} is not supported"
                    ))));
                }
            };
            r.with_configs(
                entries
                    .into_iter()
                    .filter(|d| wanted(&d.name))
                    .map(|d| {
                        let synonyms = if req.include_synonyms {
                            d.synonyms
                                .into_iter()
                                .map(|(name, value, source)| {
                                    DescribeConfigsSynonym::default()
                                        .with_name(sb(&name))
                                        .with_value(value.map(|v| sb(&v)))
                                        .with_source(source)
                                })
                                .collect()
                        } else {
                            vec![]
                        };
                        DescribeConfigsResourceResult::default()
                            .with_name(sb(&d.name))
                            .with_value(d.value.map(|v| sb(&v)))
                            .with_config_source(d.source)
                            .with_read_only(d.read_only)
                            .with_is_sensitive(d.sensitive)
                            .with_synonyms(synonyms)
                    })
                    .collect(),
            )
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// What an Alter(Incremental)Configs resource names.
enum Alterable<'a> {
    Topic(&'a str),
    Broker(&'a str),
}

fn alterable(resource_type: i8, name: &str) -> Result<Alterable<'_>, TopicError> {
    match resource_type {
        2 => Ok(Alterable::Topic(name)),
        4 => Ok(Alterable::Broker(name)),
        other => Err(TopicError {
            code: 42,
            message: format!("resource type {other} is not supported"),
        }),
    }
}

/// Kafka refuses every resource named more than once in one request.
fn duplicates<'a>(resources: impl Iterator<Item = (i8, &'a str)>) -> Vec<(i8, String)> {
    let mut seen = BTreeMap::new();
    for (t, n) in resources {
        *seen.entry((t, n.to_string())).or_insert(0) += 1;
    }
    seen.into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(k, _)| k)
        .collect()
}

fn duplicate_error() -> TopicError {
    TopicError {
        code: 42,
        message: "Each resource must appear at most once.".into(),
    }
}

/// The error code and message of an outcome.
fn outcome(result: Result<(), TopicError>) -> (i16, Option<kafka_protocol::protocol::StrBytes>) {
    match result {
        Ok(()) => (0, None),
        Err(e) => (e.code, Some(sb(&e.message))),
    }
}

fn null_value(name: &str) -> TopicError {
    TopicError {
        code: 42,
        message: format!("a null value is not supported for {name}"),
    }
}

/// AlterConfigs: a topic's overrides, or a broker's dynamic configs, become exactly the
/// configs given (Kafka's replace semantics: one left out returns to its default).
pub fn alter_configs(shared: &Shared, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let twice = duplicates(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let responses = req
        .resources
        .into_iter()
        .map(|res| {
            let key = (res.resource_type, res.resource_name.to_string());
            let result = if twice.contains(&key) {
                Err(duplicate_error())
            } else {
                alterable(res.resource_type, &res.resource_name).and_then(|target| {
                    let mut given = BTreeMap::new();
                    for c in &res.configs {
                        let value = c.value.as_ref().ok_or_else(|| null_value(&c.name))?;
                        given.insert(c.name.to_string(), value.trim().to_string());
                    }
                    let replace = |o: &mut BTreeMap<String, String>| {
                        *o = given;
                        Ok(())
                    };
                    match target {
                        Alterable::Topic(name) => shared
                            .topics
                            .alter_configs(name, replace, req.validate_only)
                            .inspect(|_| copy_overrides(shared, name, req.validate_only)),
                        Alterable::Broker(name) => shared.broker_configs.alter(
                            &shared.config,
                            name,
                            replace,
                            req.validate_only,
                        ),
                    }
                })
            };
            let (code, message) = outcome(result);
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

/// IncrementalAlterConfigs: SET (0) and DELETE (1) one override each; APPEND (2) and
/// SUBTRACT (3) add or remove items of a list config (`cleanup.policy`, the one list here).
/// A resource's changes apply together or not at all. Broker resources: `broker_configs`.
pub fn incremental_alter_configs(
    shared: &Shared,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
    let defaults = topic_config_defaults(&shared.config);
    let twice = duplicates(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let responses = req
        .resources
        .into_iter()
        .map(|res| {
            let key = (res.resource_type, res.resource_name.to_string());
            let result = if twice.contains(&key) {
                Err(duplicate_error())
            } else {
                alterable(res.resource_type, &res.resource_name).and_then(|target| match target {
                    Alterable::Topic(name) => {
                        let edit = |o: &mut BTreeMap<String, String>| {
                            res.configs
                                .iter()
                                .try_for_each(|c| apply_incremental(o, c, &defaults))
                        };
                        shared
                            .topics
                            .alter_configs(name, edit, req.validate_only)
                            .inspect(|_| copy_overrides(shared, name, req.validate_only))
                    }
                    Alterable::Broker(name) => {
                        let edit = |o: &mut BTreeMap<String, String>| {
                            res.configs.iter().try_for_each(|c| {
                                broker_configs::apply_incremental(
                                    o,
                                    &c.name,
                                    c.config_operation,
                                    c.value.as_ref().map(|v| v.as_str()),
                                )
                            })
                        };
                        shared
                            .broker_configs
                            .alter(&shared.config, name, edit, req.validate_only)
                    }
                })
            };
            let (code, message) = outcome(result);
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// One IncrementalAlterConfigs operation on a topic's `overrides`.
fn apply_incremental(
    overrides: &mut BTreeMap<String, String>,
    c: &incremental_alter_configs_request::AlterableConfig,
    defaults: &[(&'static str, String)],
) -> Result<(), TopicError> {
    let key = c.name.to_string();
    let value = c.value.as_ref().map(|v| v.trim().to_string());
    match c.config_operation {
        0 => {
            overrides.insert(key, value.ok_or_else(|| null_value(&c.name))?);
        }
        1 => {
            overrides.remove(&key);
        }
        op @ (2 | 3) => {
            if key != "cleanup.policy" {
                return Err(TopicError {
                    code: 40,
                    message: format!("{key} is not a list: APPEND and SUBTRACT apply to lists"),
                });
            }
            let current = overrides.get(&key).cloned().or_else(|| {
                let default = defaults.iter().find(|(k, _)| *k == key);
                default.map(|(_, v)| v.clone())
            });
            let mut items: Vec<String> = current
                .iter()
                .flat_map(|v| v.split(','))
                .map(|i| i.trim().to_string())
                .filter(|i| !i.is_empty())
                .collect();
            let value = value.ok_or_else(|| null_value(&c.name))?;
            for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                if op == 2 && !items.iter().any(|i| i == item) {
                    items.push(item.to_string());
                } else if op == 3 {
                    items.retain(|i| i != item);
                }
            }
            overrides.insert(key, items.join(","));
        }
        other => {
            return Err(TopicError {
                code: 42,
                message: format!("unknown config operation {other} for {key}"),
            })
        }
    }
    Ok(())
}

/// On a cluster, a topic's altered configs go to every node's replicas too.
fn copy_overrides(shared: &Shared, topic: &str, validate_only: bool) {
    if let (Some(c), false) = (&shared.cluster, validate_only) {
        c.controller.copy_overrides(topic, &shared.topics);
    }
}
