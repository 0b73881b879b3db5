//! The admin client: topics, configs (in `configs`), ACLs (in `acls`), offsets (each
//! replica's log end offset in `replicas`), consumer groups and client quotas.
//!
//! Every call is one or a few requests through the shared [`NetworkClient`]; per-item errors
//! come back as [`KafkaError::Broker`] carrying Kafka's code and the topic or group.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::config::{ClientConfig, Properties};
use crate::consumer::assignor::decode_assignment;
use crate::consumer::OffsetAndMetadata;
use crate::error::{error_name, KafkaError, Result};
use crate::network::{NetworkClient, TopicInfo};
use crate::topic_partition::TopicPartition;

mod acls;
mod configs;
mod replicas;
pub use acls::{
    AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermissionType, AclResourceType,
};
pub use configs::{
    config_source, AlterConfigOp, ConfigEntry, ConfigResource, ConfigResourceType, ConfigSynonym,
    PerResource,
};

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn check(code: i16, what: &str, message: Option<&StrBytes>) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    Err(KafkaError::Broker {
        code,
        name: error_name(code),
        topic: Some(what.to_string()),
        partition: None,
        message: message.map(|m| m.to_string()),
    })
}

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    /// -1 = the broker's `num.partitions` (and -1 when `replica_assignments` are given).
    pub partitions: i32,
    /// -1 = the broker's default (and -1 when `replica_assignments` are given).
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
    /// The brokers of each partition (0, 1, ... in order; the first broker is the preferred
    /// leader), instead of a partition count and replication factor; empty: the broker places
    /// them. Kafka refuses both at once with INVALID_REQUEST.
    pub replica_assignments: BTreeMap<i32, Vec<i32>>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor,
            configs: BTreeMap::new(),
            replica_assignments: BTreeMap::new(),
        }
    }

    /// A topic whose partitions are placed on the brokers given, partition by partition.
    pub fn with_assignments(
        name: impl Into<String>,
        replica_assignments: BTreeMap<i32, Vec<i32>>,
    ) -> NewTopic {
        NewTopic {
            replica_assignments,
            ..NewTopic::new(name, -1, -1)
        }
    }
}

/// How `create_topics_with` and `create_partitions_with` run.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The broker checks the request and answers as if it were done, creating nothing.
    pub validate_only: bool,
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<TopicPartition>,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// Where to read an offset: Kafka's ListOffsets specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// The first offset at or after a timestamp (ms).
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// Cluster administration.
#[derive(Clone)]
pub struct AdminClient {
    client: NetworkClient,
}

impl AdminClient {
    pub async fn connect(config: ClientConfig) -> Result<AdminClient> {
        Ok(AdminClient {
            client: NetworkClient::connect(config).await?,
        })
    }

    /// From Kafka property names (`bootstrap.servers`, `client.id`, timeouts).
    pub async fn from_properties<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<AdminClient> {
        let mut p = Properties::new(pairs);
        let config = ClientConfig::from_properties(&mut p, 30_000)?;
        p.ignore("default.api.timeout.ms");
        p.finish()?;
        Self::connect(config).await
    }

    async fn any_node(&self) -> Result<i32> {
        self.client.least_loaded_node().await
    }

    pub async fn create_topics(&self, topics: &[NewTopic]) -> Result<()> {
        self.create_topics_with(topics, &CreateOptions::default())
            .await
    }

    /// Creates topics, or with `validate_only` checks that they could be (a name taken, a
    /// replica assignment on brokers that do not exist) and creates nothing.
    pub async fn create_topics_with(
        &self,
        topics: &[NewTopic],
        options: &CreateOptions,
    ) -> Result<()> {
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_validate_only(options.validate_only)
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(TopicName(sb(&t.name)))
                            .with_num_partitions(t.partitions)
                            .with_replication_factor(t.replication_factor)
                            .with_assignments(
                                t.replica_assignments
                                    .iter()
                                    .map(|(p, brokers)| {
                                        CreatableReplicaAssignment::default()
                                            .with_partition_index(*p)
                                            .with_broker_ids(
                                                brokers.iter().map(|b| BrokerId(*b)).collect(),
                                            )
                                    })
                                    .collect(),
                            )
                            .with_configs(
                                t.configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(sb(k))
                                            .with_value(Some(sb(v)))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let (resp, _) = self.client.send(self.any_node().await?, req).await?;
        for t in &resp.topics {
            check(t.error_code, &t.name, t.error_message.as_ref())?;
        }
        Ok(())
    }

    pub async fn delete_topics(&self, names: &[&str]) -> Result<()> {
        let req = DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topic_names(names.iter().map(|n| TopicName(sb(n))).collect());
        let (resp, _) = self.client.send(self.any_node().await?, req).await?;
        for r in &resp.responses {
            let name = r.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            check(r.error_code, &name, r.error_message.as_ref())?;
        }
        Ok(())
    }

    /// Topic names; internal topics only when asked.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<String>> {
        let (resp, _) = self
            .client
            .send(
                self.any_node().await?,
                MetadataRequest::default().with_topics(None),
            )
            .await?;
        let mut names: Vec<String> = resp
            .topics
            .iter()
            .filter(|t| include_internal || !t.is_internal)
            .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Partitions, leaders, replicas and ISR of each topic.
    pub async fn describe_topics(&self, names: &[&str]) -> Result<Vec<TopicInfo>> {
        // Asking about a topic must not create it: no auto-creation from the admin client.
        let req = MetadataRequest::default()
            .with_topics(Some(
                names
                    .iter()
                    .map(|n| {
                        metadata_request::MetadataRequestTopic::default()
                            .with_name(Some(TopicName(sb(n))))
                    })
                    .collect(),
            ))
            .with_allow_auto_topic_creation(false);
        let (resp, _) = self.client.send(self.any_node().await?, req).await?;
        let md = crate::network::ClusterMetadata::from_response(resp);
        names
            .iter()
            .map(|n| {
                let t = md
                    .topic(n)
                    .cloned()
                    .ok_or_else(|| KafkaError::broker_for(3, n, -1))?;
                check(t.error_code, n, None)?;
                Ok(t)
            })
            .collect()
    }

    /// Grows `topic` to `total` partitions.
    pub async fn create_partitions(&self, topic: &str, total: i32) -> Result<()> {
        self.create_partitions_with(topic, total, None, &CreateOptions::default())
            .await
    }

    /// Grows `topic` to `total` partitions, the new ones on the brokers of `assignments`
    /// (one list of broker ids per new partition; None: the broker places them), or with
    /// `validate_only` checks that it could and changes nothing.
    pub async fn create_partitions_with(
        &self,
        topic: &str,
        total: i32,
        assignments: Option<&[Vec<i32>]>,
        options: &CreateOptions,
    ) -> Result<()> {
        use create_partitions_request::CreatePartitionsAssignment;
        let req = CreatePartitionsRequest::default()
            .with_timeout_ms(30_000)
            .with_validate_only(options.validate_only)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(TopicName(sb(topic)))
                .with_count(total)
                // Null: the broker places the new partitions (an empty list assigns none).
                .with_assignments(assignments.map(|a| {
                    a.iter()
                        .map(|brokers| {
                            CreatePartitionsAssignment::default()
                                .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
                        })
                        .collect()
                }))]);
        let (resp, _) = self.client.send(self.any_node().await?, req).await?;
        for r in &resp.results {
            check(r.error_code, &r.name, r.error_message.as_ref())?;
        }
        Ok(())
    }

    /// A topic's configs: (name, value, is_default).
    pub async fn describe_topic_configs(&self, topic: &str) -> Result<Vec<(String, String, bool)>> {
        let req = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(sb(topic))
                .with_configuration_keys(None),
        ]);
        let (resp, _) = self.client.send(self.any_node().await?, req).await?;
        let r = resp
            .results
            .first()
            .ok_or_else(|| KafkaError::Protocol("empty DescribeConfigs response".into()))?;
        check(r.error_code, topic, r.error_message.as_ref())?;
        Ok(r.configs
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                    c.config_source == 5,
                )
            })
            .collect())
    }

    /// Offsets per partition for `spec` (-1 when no record is that recent).
    pub async fn list_offsets(
        &self,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        Ok(
            crate::consumer::list_offsets_for(&self.client, partitions, spec.wire())
                .await?
                .into_iter()
                .map(|(tp, (o, _))| (tp, o))
                .collect(),
        )
    }

    /// Moves each partition's log start offset (DeleteRecords).
    pub async fn delete_records(&self, before: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        let mut by_topic: BTreeMap<String, Vec<DeleteRecordsPartition>> = BTreeMap::new();
        for (tp, o) in before {
            by_topic.entry(tp.topic.to_string()).or_default().push(
                DeleteRecordsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_offset(*o),
            );
        }
        let req = DeleteRecordsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        DeleteRecordsTopic::default()
                            .with_name(TopicName(sb(&t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let (resp, _) = self.client.send(self.any_node().await?, req).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                if p.error_code != 0 {
                    return Err(KafkaError::broker_for(
                        p.error_code,
                        &t.name,
                        p.partition_index,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Sets (`Some`) or removes (`None`) client quotas (AlterClientQuotas, KIP-546) for one
    /// entity, named by its parts: `[("client-id", Some("app"))]`; a `None` name is that
    /// part's default entity. Quota keys are Kafka's: `producer_byte_rate`,
    /// `consumer_byte_rate`, `request_percentage`, `controller_mutation_rate`.
    pub async fn alter_client_quotas(
        &self,
        entity: &[(&str, Option<&str>)],
        quotas: &[(&str, Option<f64>)],
    ) -> Result<()> {
        let entry = EntryData::default()
            .with_entity(
                entity
                    .iter()
                    .map(|(kind, name)| {
                        EntityData::default()
                            .with_entity_type(sb(kind))
                            .with_entity_name(name.map(sb))
                    })
                    .collect(),
            )
            .with_ops(
                quotas
                    .iter()
                    .map(|(key, value)| {
                        OpData::default()
                            .with_key(sb(key))
                            .with_value(value.unwrap_or(0.0))
                            .with_remove(value.is_none())
                    })
                    .collect(),
            );
        let req = AlterClientQuotasRequest::default().with_entries(vec![entry]);
        let (resp, _) = self.client.send(self.any_node().await?, req).await?;
        let what = || {
            entity
                .iter()
                .map(|(kind, name)| format!("{kind}={}", name.unwrap_or("<default>")))
                .collect::<Vec<_>>()
                .join(",")
        };
        for e in &resp.entries {
            check(e.error_code, &what(), e.error_message.as_ref())?;
        }
        Ok(())
    }

    pub async fn list_consumer_groups(&self) -> Result<Vec<GroupListing>> {
        let mut out = Vec::new();
        for b in self.client.metadata().brokers.clone() {
            let (resp, _) = self
                .client
                .send(b.node_id, ListGroupsRequest::default())
                .await?;
            check(resp.error_code, "ListGroups", None)?;
            out.extend(resp.groups.iter().map(|g| GroupListing {
                group_id: g.group_id.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: g.group_state.to_string(),
            }));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// Runs `op` against the group's coordinator, finding it again and retrying (KIP-580
    /// backoff) while the answer is NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS or
    /// COORDINATOR_NOT_AVAILABLE (a broker just restarted, the coordinator moved), up to
    /// `default.api.timeout.ms` (60 s), as the Java admin client does.
    async fn at_coordinator<T, F, Fut>(&self, group: &str, mut op: F) -> Result<T>
    where
        F: FnMut(i32) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let config = self.client.config();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut attempt = 0;
        loop {
            let result = match self.client.find_coordinator(group, 0).await {
                Ok(node) => op(node).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if matches!(e.code(), Some(14..=16)) || e.is_retriable() => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(e);
                    }
                    attempt += 1;
                    tokio::time::sleep(crate::network::backoff(
                        config.retry_backoff,
                        config.retry_backoff_max,
                        attempt,
                    ))
                    .await;
                }
                r => return r,
            }
        }
    }

    pub async fn describe_consumer_group(&self, group: &str) -> Result<GroupDescription> {
        self.at_coordinator(group, |node| self.describe_group_at(node, group))
            .await
    }

    async fn describe_group_at(&self, node: i32, group: &str) -> Result<GroupDescription> {
        let (resp, _) = self
            .client
            .send(
                node,
                DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]),
            )
            .await?;
        let g = resp
            .groups
            .first()
            .ok_or_else(|| KafkaError::Protocol("empty DescribeGroups response".into()))?;
        check(g.error_code, group, g.error_message.as_ref())?;
        Ok(GroupDescription {
            group_id: group.to_string(),
            state: g.group_state.to_string(),
            protocol_type: g.protocol_type.to_string(),
            protocol: g.protocol_data.to_string(),
            members: g
                .members
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment: if g.protocol_type.as_str() == "consumer" {
                        decode_assignment(&m.member_assignment).unwrap_or_default()
                    } else {
                        vec![]
                    },
                })
                .collect(),
        })
    }

    /// Every committed offset of a group.
    pub async fn list_consumer_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.at_coordinator(group, |node| self.group_offsets_at(node, group))
            .await
    }

    async fn group_offsets_at(
        &self,
        node: i32,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let (resp, _) = self
            .client
            .send(
                node,
                OffsetFetchRequest::default()
                    .with_group_id(GroupId(sb(group)))
                    .with_topics(None),
            )
            .await?;
        check(resp.error_code, group, None)?;
        let mut out = BTreeMap::new();
        for t in &resp.topics {
            for p in &t.partitions {
                if p.error_code == 0 && p.committed_offset >= 0 {
                    out.insert(
                        TopicPartition::new(t.name.as_str(), p.partition_index),
                        p.committed_offset,
                    );
                }
            }
        }
        Ok(out)
    }

    /// Commits offsets for a group that has no active members (as kafka-consumer-groups.sh
    /// --reset-offsets does); a group with members answers UNKNOWN_MEMBER_ID.
    pub async fn alter_consumer_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        self.at_coordinator(group, |node| self.alter_offsets_at(node, group, offsets))
            .await
    }

    async fn alter_offsets_at(
        &self,
        node: i32,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = offsets
            .iter()
            .map(|(tp, o)| (tp.clone(), OffsetAndMetadata::new(*o)))
            .collect();
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(sb(""))
            .with_retention_time_ms(-1)
            .with_topics(crate::consumer::commit_topics(&offsets));
        let (resp, _) = self.client.send(node, req).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                if p.error_code != 0 {
                    return Err(KafkaError::broker_for(
                        p.error_code,
                        &t.name,
                        p.partition_index,
                    ));
                }
            }
        }
        Ok(())
    }

    pub async fn delete_consumer_groups(&self, groups: &[&str]) -> Result<()> {
        for g in groups {
            self.at_coordinator(g, |node| self.delete_group_at(node, g))
                .await?;
        }
        Ok(())
    }

    async fn delete_group_at(&self, node: i32, group: &str) -> Result<()> {
        let (resp, _) = self
            .client
            .send(
                node,
                DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(group))]),
            )
            .await?;
        for r in &resp.results {
            check(r.error_code, &r.group_id, None)?;
        }
        Ok(())
    }

    /// The cluster as a Metadata answer describes it (Java's `describeCluster`): its id, its
    /// controller and its brokers.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let md = self.client.refresh_metadata(&[]).await?;
        Ok(ClusterDescription {
            cluster_id: md.cluster_id.clone(),
            controller_id: md.controller_id,
            brokers: md.brokers.clone(),
        })
    }

    pub async fn close(&self) {
        self.client.close().await;
    }
}

/// What `describe_cluster` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    /// The controller's node id (-1 when the cluster does not say).
    pub controller_id: i32,
    pub brokers: Vec<crate::network::BrokerInfo>,
}
