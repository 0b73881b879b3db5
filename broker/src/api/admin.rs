//! CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs and
//! IncrementalAlterConfigs.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::create_partitions_response::*;
use kafka_protocol::messages::create_topics_response::*;
use kafka_protocol::messages::delete_topics_response::*;
use kafka_protocol::messages::describe_configs_response::*;
use kafka_protocol::messages::*;

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
            let partitions = if !t.assignments.is_empty() {
                t.assignments.len() as i32
            } else {
                t.num_partitions
            };
            match shared.topics.create(
                &t.name,
                partitions,
                t.replication_factor,
                overrides,
                req.validate_only,
            ) {
                Ok(topic) => {
                    let r = r
                        .with_num_partitions(partitions.max(topic.partition_count()))
                        .with_replication_factor(1);
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
            match shared.topics.delete(&name) {
                Ok(()) => {
                    shared.groups.on_topic_deleted(&name);
                    r
                }
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
            if let Some(assignments) = &t.assignments {
                let added = t.count - current;
                let node = BrokerId(shared.config.node_id);
                let message = if added > 0 && assignments.len() != added as usize {
                    Some(format!("Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.", assignments.len()))
                } else if assignments.iter().any(|a| a.broker_ids.iter().any(|b| *b != node)) {
                    Some(format!("Unknown broker in the assignments: the only broker is {}", node.0))
                } else {
                    None
                };
                if let Some(message) = message {
                    return r.with_error_code(39).with_error_message(Some(sb(&message)));
                }
            }
            match shared
                .topics
                .create_partitions(&t.name, t.count, req.validate_only)
            {
                Ok(()) => r,
                Err(e) => r
                    .with_error_code(e.code)
                    .with_error_message(Some(sb(&e.message))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

/// DescribeConfigs for topics (resource type 2) and this broker (4).
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
            let entries: Vec<(String, String, i8)> = match res.resource_type {
                2 => {
                    let Some(topic) = shared.topics.get(&res.resource_name) else {
                        return r
                            .with_error_code(3)
                            .with_error_message(Some(sb("unknown topic")));
                    };
                    let overrides = topic.overrides();
                    topic_config_defaults(&shared.config)
                        .into_iter()
                        .map(|(k, default)| match overrides.get(k) {
                            Some(v) => (k.to_string(), v.clone(), 1),
                            None => (k.to_string(), default, 5),
                        })
                        .collect()
                }
                4 => {
                    let c = &shared.config;
                    vec![
                        ("node.id".into(), c.node_id.to_string(), 4),
                        ("num.partitions".into(), c.num_partitions.to_string(), 4),
                        (
                            "auto.create.topics.enable".into(),
                            c.auto_create_topics.to_string(),
                            4,
                        ),
                        (
                            "message.max.bytes".into(),
                            c.log.max_message_bytes.to_string(),
                            4,
                        ),
                        (
                            "log.segment.bytes".into(),
                            c.log.segment_bytes.to_string(),
                            4,
                        ),
                        ("log.retention.ms".into(), c.log.retention_ms.to_string(), 4),
                        (
                            "log.retention.bytes".into(),
                            c.log.retention_bytes.to_string(),
                            4,
                        ),
                        (
                            "log.flush.interval.messages".into(),
                            c.log.flush_messages.to_string(),
                            4,
                        ),
                        (
                            "log.flush.interval.ms".into(),
                            c.log.flush_ms.to_string(),
                            4,
                        ),
                        (
                            "log.flush.scheduler.interval.ms".into(),
                            c.flush_scheduler_interval_ms.to_string(),
                            4,
                        ),
                        (
                            "offsets.topic.num.partitions".into(),
                            c.group.offsets_topic_num_partitions.to_string(),
                            4,
                        ),
                        (
                            "group.initial.rebalance.delay.ms".into(),
                            c.group.initial_rebalance_delay_ms.to_string(),
                            4,
                        ),
                    ]
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
                    .filter(|(k, _, _)| wanted(k))
                    .map(|(k, v, source)| {
                        DescribeConfigsResourceResult::default()
                            .with_name(sb(&k))
                            .with_value(Some(sb(&v)))
                            .with_config_source(source)
                            .with_read_only(res.resource_type == 4)
                    })
                    .collect(),
            )
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// The topic an Alter(Incremental)Configs resource names; broker configs are set at start on
/// the dev broker.
fn alterable_topic(resource_type: i8, name: &str) -> Result<&str, TopicError> {
    let refuse = |message: String| Err(TopicError { code: 42, message });
    match resource_type {
        2 => Ok(name),
        4 => refuse(
            "broker configs are read-only on the dev broker: set them at start (--set, \
             server.properties)"
                .into(),
        ),
        other => refuse(format!("resource type {other} is not supported")),
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

/// AlterConfigs: a topic's overrides become exactly the configs given (Kafka's replace
/// semantics: an override left out returns to the broker default).
pub fn alter_configs(shared: &Shared, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|res| {
            let result = alterable_topic(res.resource_type, &res.resource_name).and_then(|name| {
                let mut given = BTreeMap::new();
                for c in &res.configs {
                    let value = c.value.as_ref().ok_or_else(|| null_value(&c.name))?;
                    given.insert(c.name.to_string(), value.trim().to_string());
                }
                let replace = |o: &mut BTreeMap<String, String>| {
                    *o = given;
                    Ok(())
                };
                shared
                    .topics
                    .alter_configs(name, replace, req.validate_only)
            });
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
/// A resource's changes apply together or not at all.
pub fn incremental_alter_configs(
    shared: &Shared,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
    let defaults = topic_config_defaults(&shared.config);
    let responses = req
        .resources
        .into_iter()
        .map(|res| {
            let result = alterable_topic(res.resource_type, &res.resource_name).and_then(|name| {
                let edit = |o: &mut BTreeMap<String, String>| {
                    res.configs
                        .iter()
                        .try_for_each(|c| apply_incremental(o, c, &defaults))
                };
                shared.topics.alter_configs(name, edit, req.validate_only)
            });
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
