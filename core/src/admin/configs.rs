//! Configs of topics and brokers: DescribeConfigs (with synonyms), AlterConfigs (the legacy
//! call that replaces a resource's overrides) and IncrementalAlterConfigs (KIP-339: SET,
//! DELETE, APPEND, SUBTRACT per config).
//!
//! A broker resource is named by its node id and sent to that broker, which is the only one
//! that may change or report its own per-broker configs; the empty name is the cluster-wide
//! default and goes to any broker, as are topic resources. Each resource gets its own outcome:
//! one refused resource does not fail the others, and a refusal is a [`KafkaError::Broker`]
//! carrying Kafka's code (40 INVALID_CONFIG, 3 UNKNOWN_TOPIC_OR_PARTITION, ...).

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;

use super::{check, sb, AdminClient};
use crate::error::{KafkaError, Result};

/// What kind of resource a config belongs to (Kafka's `ConfigResource.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigResourceType {
    Topic,
    Broker,
}

impl ConfigResourceType {
    fn wire(self) -> i8 {
        match self {
            ConfigResourceType::Topic => 2,
            ConfigResourceType::Broker => 4,
        }
    }
}

/// A topic (by name) or a broker (by node id; "" = the cluster-wide broker default).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigResource {
    pub resource_type: ConfigResourceType,
    pub name: String,
}

impl ConfigResource {
    pub fn topic(name: impl Into<String>) -> ConfigResource {
        ConfigResource {
            resource_type: ConfigResourceType::Topic,
            name: name.into(),
        }
    }

    /// One broker's configs, by node id.
    pub fn broker(node_id: i32) -> ConfigResource {
        ConfigResource {
            resource_type: ConfigResourceType::Broker,
            name: node_id.to_string(),
        }
    }
}

/// One change of an IncrementalAlterConfigs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Sets the config for this resource.
    Set(String, String),
    /// Removes this resource's value: the config returns to its default.
    Delete(String),
    /// Adds items to a list config (`cleanup.policy`, ...).
    Append(String, String),
    /// Removes items from a list config.
    Subtract(String, String),
}

impl AlterConfigOp {
    fn wire(&self) -> (&str, i8, Option<&str>) {
        match self {
            AlterConfigOp::Set(k, v) => (k, 0, Some(v)),
            AlterConfigOp::Delete(k) => (k, 1, None),
            AlterConfigOp::Append(k, v) => (k, 2, Some(v)),
            AlterConfigOp::Subtract(k, v) => (k, 3, Some(v)),
        }
    }
}

/// Where a config's value comes from (Kafka's `ConfigSource`, by its wire number).
pub mod config_source {
    pub const UNKNOWN: i8 = 0;
    pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    pub const DYNAMIC_BROKER_CONFIG: i8 = 2;
    pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    pub const DEFAULT_CONFIG: i8 = 5;
}

/// Another place a config's value is set, lower precedence after higher (Kafka's synonyms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
}

/// One described config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// None for a sensitive config (the broker never sends those) or one without a value.
    pub value: Option<String>,
    /// One of [`config_source`].
    pub source: i8,
    pub read_only: bool,
    pub is_sensitive: bool,
    /// Only when asked for (`include_synonyms`): where else the config is set, the value in
    /// effect first.
    pub synonyms: Vec<ConfigSynonym>,
}

impl ConfigEntry {
    /// True when nothing overrides Kafka's default.
    pub fn is_default(&self) -> bool {
        self.source == config_source::DEFAULT_CONFIG
    }
}

/// Each resource's own outcome, in the order asked.
pub type PerResource<T> = Vec<(ConfigResource, Result<T>)>;

impl AdminClient {
    /// The broker a resource's request goes to: its own broker for a named broker, any
    /// broker otherwise.
    async fn node_for(&self, r: &ConfigResource) -> Result<i32> {
        match (r.resource_type, r.name.parse::<i32>()) {
            (ConfigResourceType::Broker, Ok(node)) => Ok(node),
            _ => self.any_node().await,
        }
    }

    /// The resources grouped by the broker that must answer them, each with its index in
    /// `resources` (so results come back in the order asked).
    async fn by_node<'a, T>(
        &self,
        resources: &'a [(ConfigResource, T)],
    ) -> Result<BTreeMap<i32, Vec<(usize, &'a ConfigResource, &'a T)>>> {
        let mut out: BTreeMap<i32, Vec<_>> = BTreeMap::new();
        for (i, (r, t)) in resources.iter().enumerate() {
            out.entry(self.node_for(r).await?)
                .or_default()
                .push((i, r, t));
        }
        Ok(out)
    }

    /// The configs of each resource (all of them), with their synonyms when
    /// `include_synonyms`.
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
        include_synonyms: bool,
    ) -> Result<PerResource<Vec<ConfigEntry>>> {
        let keyed: Vec<(ConfigResource, ())> = resources.iter().map(|r| (r.clone(), ())).collect();
        let mut results: Vec<Option<Result<Vec<ConfigEntry>>>> = vec![None; resources.len()];
        for (node, group) in self.by_node(&keyed).await? {
            let req = DescribeConfigsRequest::default()
                .with_include_synonyms(include_synonyms)
                .with_resources(
                    group
                        .iter()
                        .map(|(_, r, _)| {
                            DescribeConfigsResource::default()
                                .with_resource_type(r.resource_type.wire())
                                .with_resource_name(sb(&r.name))
                                .with_configuration_keys(None)
                        })
                        .collect(),
                );
            let (resp, _) = self.client.send(node, req).await?;
            for (i, r, _) in group {
                let found = resp.results.iter().find(|x| {
                    x.resource_type == r.resource_type.wire() && x.resource_name.as_str() == r.name
                });
                results[i] = Some(match found {
                    None => Err(KafkaError::Protocol(format!(
                        "DescribeConfigs answered nothing for {:?} {}",
                        r.resource_type, r.name
                    ))),
                    Some(x) => check(x.error_code, &r.name, x.error_message.as_ref()).map(|()| {
                        x.configs
                            .iter()
                            .map(|c| ConfigEntry {
                                name: c.name.to_string(),
                                value: c.value.as_ref().map(|v| v.to_string()),
                                source: c.config_source,
                                read_only: c.read_only,
                                is_sensitive: c.is_sensitive,
                                synonyms: c
                                    .synonyms
                                    .iter()
                                    .map(|s| ConfigSynonym {
                                        name: s.name.to_string(),
                                        value: s.value.as_ref().map(|v| v.to_string()),
                                        source: s.source,
                                    })
                                    .collect(),
                            })
                            .collect()
                    }),
                });
            }
        }
        Ok(resources
            .iter()
            .cloned()
            .zip(results.into_iter().flatten())
            .collect())
    }

    /// IncrementalAlterConfigs: applies each resource's changes together (or none of them, on
    /// a refusal). With `validate_only` the broker checks them and changes nothing.
    pub async fn incremental_alter_configs(
        &self,
        changes: &[(ConfigResource, Vec<AlterConfigOp>)],
        validate_only: bool,
    ) -> Result<PerResource<()>> {
        use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let mut results: Vec<Option<Result<()>>> = vec![None; changes.len()];
        for (node, group) in self.by_node(changes).await? {
            let req = IncrementalAlterConfigsRequest::default()
                .with_validate_only(validate_only)
                .with_resources(
                    group
                        .iter()
                        .map(|(_, r, ops)| {
                            AlterConfigsResource::default()
                                .with_resource_type(r.resource_type.wire())
                                .with_resource_name(sb(&r.name))
                                .with_configs(
                                    ops.iter()
                                        .map(|op| {
                                            let (name, code, value) = op.wire();
                                            AlterableConfig::default()
                                                .with_name(sb(name))
                                                .with_config_operation(code)
                                                .with_value(value.map(sb))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let (resp, _) = self.client.send(node, req).await?;
            let answers = resp.responses.iter().map(|x| {
                let name = x.resource_name.as_str();
                (x.resource_type, name, x.error_code, &x.error_message)
            });
            record_outcomes(&mut results, &group, answers);
        }
        Ok(in_order(changes, results))
    }

    /// AlterConfigs (legacy): each resource's overrides become exactly `configs`; a config
    /// left out returns to its default. Prefer [`AdminClient::incremental_alter_configs`].
    pub async fn alter_configs(
        &self,
        resources: &[(ConfigResource, BTreeMap<String, String>)],
        validate_only: bool,
    ) -> Result<PerResource<()>> {
        use alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let mut results: Vec<Option<Result<()>>> = vec![None; resources.len()];
        for (node, group) in self.by_node(resources).await? {
            let req = AlterConfigsRequest::default()
                .with_validate_only(validate_only)
                .with_resources(
                    group
                        .iter()
                        .map(|(_, r, configs)| {
                            AlterConfigsResource::default()
                                .with_resource_type(r.resource_type.wire())
                                .with_resource_name(sb(&r.name))
                                .with_configs(
                                    configs
                                        .iter()
                                        .map(|(k, v)| {
                                            AlterableConfig::default()
                                                .with_name(sb(k))
                                                .with_value(Some(sb(v)))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let (resp, _) = self.client.send(node, req).await?;
            let answers = resp.responses.iter().map(|x| {
                let name = x.resource_name.as_str();
                (x.resource_type, name, x.error_code, &x.error_message)
            });
            record_outcomes(&mut results, &group, answers);
        }
        Ok(in_order(resources, results))
    }
}

/// Each resource of `group`'s outcome, from the broker's answers `(resource type, name,
/// error code, message)`.
fn record_outcomes<'a, T>(
    results: &mut [Option<Result<()>>],
    group: &[(usize, &ConfigResource, T)],
    answers: impl Iterator<
            Item = (
                i8,
                &'a str,
                i16,
                &'a Option<kafka_protocol::protocol::StrBytes>,
            ),
        > + Clone,
) {
    for (i, r, _) in group {
        let found = answers
            .clone()
            .find(|(t, name, ..)| *t == r.resource_type.wire() && *name == r.name)
            .map(|(_, _, code, message)| (code, message));
        results[*i] = Some(outcome(r, found));
    }
}

/// The outcomes beside their resources, in the order asked.
fn in_order<T>(asked: &[(ConfigResource, T)], results: Vec<Option<Result<()>>>) -> PerResource<()> {
    asked
        .iter()
        .map(|(r, _)| r.clone())
        .zip(results.into_iter().flatten())
        .collect()
}

/// A resource's answer, or a protocol error when the broker left it out.
fn outcome(
    r: &ConfigResource,
    found: Option<(i16, &Option<kafka_protocol::protocol::StrBytes>)>,
) -> Result<()> {
    match found {
        Some((code, message)) => check(code, &r.name, message.as_ref()),
        None => Err(KafkaError::Protocol(format!(
            "no answer for {:?} {}",
            r.resource_type, r.name
        ))),
    }
}
