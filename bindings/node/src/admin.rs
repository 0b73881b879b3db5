//! `AdminClient`: the core's admin client (topics, groups, offsets).

use std::collections::BTreeMap;
use std::sync::Arc;

use krafty::admin::{AdminClient as CoreAdmin, NewTopic, OffsetSpec};
use krafty::{KafkaError, TopicPartition as CoreTp};
use napi::bindgen_prelude::{Either, PromiseRaw};
use napi::Env;
use napi_derive::napi;
use tokio::sync::OnceCell;

use crate::config::{properties, Config};
use crate::consumer::{from_tp, tps, TopicPartition, TopicPartitionOffset};
use crate::on_core;

/// A topic to create (-1 partitions or replication factor: the broker's default).
#[napi(object)]
pub struct TopicSpec {
    pub topic: String,
    pub num_partitions: Option<i32>,
    pub replication_factor: Option<i16>,
    pub configs: Option<BTreeMap<String, String>>,
}

#[napi(object)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// -1 when there is no leader right now.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error_code: i16,
}

#[napi(object)]
pub struct TopicMetadata {
    pub name: String,
    /// Kafka's error code for the topic (0 = none, 3 = UNKNOWN_TOPIC_OR_PARTITION).
    pub error_code: i16,
    pub is_internal: bool,
    pub partitions: Vec<PartitionMetadata>,
}

#[napi(object)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
}

#[napi(object)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub assignment: Vec<TopicPartition>,
}

#[napi(object)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

type Admin = Arc<OnceCell<Result<CoreAdmin, KafkaError>>>;

/// Cluster administration, configured by Kafka property names.
#[napi]
pub struct AdminClient {
    props: Vec<(String, String)>,
    conn: Admin,
}

macro_rules! op {
    ($self:ident, $env:ident, |$a:ident| $body:expr) => {{
        let conn = $self.conn.clone();
        let props = $self.props.clone();
        $env.spawn_future(on_core(async move {
            let $a = conn
                .get_or_init(|| CoreAdmin::from_properties(props))
                .await
                .clone()?;
            $body
        }))
    }};
}

#[napi]
impl AdminClient {
    #[napi(
        constructor,
        ts_args_type = "config: Record<string, string | number | boolean>"
    )]
    pub fn new(config: Config) -> Self {
        AdminClient {
            props: properties(&config),
            conn: Arc::new(OnceCell::new()),
        }
    }

    /// Resolves once connected; rejects with a bad property or an unreachable cluster.
    #[napi]
    pub fn connect<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        op!(self, env, |_a| Ok(()))
    }

    #[napi]
    pub fn create_topics<'env>(
        &self,
        env: &'env Env,
        topics: Vec<TopicSpec>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let new: Vec<NewTopic> = topics
            .into_iter()
            .map(|t| {
                let mut n = NewTopic::new(
                    t.topic,
                    t.num_partitions.unwrap_or(-1),
                    t.replication_factor.unwrap_or(-1),
                );
                n.configs = t.configs.unwrap_or_default();
                n
            })
            .collect();
        op!(self, env, |a| a.create_topics(&new).await)
    }

    #[napi]
    pub fn delete_topics<'env>(
        &self,
        env: &'env Env,
        topics: Vec<String>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        op!(self, env, |a| {
            let t: Vec<&str> = topics.iter().map(String::as_str).collect();
            a.delete_topics(&t).await
        })
    }

    #[napi(ts_return_type = "Promise<string[]>")]
    pub fn list_topics<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Vec<String>>> {
        op!(self, env, |a| a.list_topics(false).await)
    }

    /// Metadata of `topics` (an unknown topic comes back with error code 3).
    #[napi(ts_return_type = "Promise<TopicMetadata[]>")]
    pub fn describe_topics<'env>(
        &self,
        env: &'env Env,
        topics: Vec<String>,
    ) -> napi::Result<PromiseRaw<'env, Vec<TopicMetadata>>> {
        op!(self, env, |a| {
            let t: Vec<&str> = topics.iter().map(String::as_str).collect();
            Ok(a.describe_topics(&t)
                .await?
                .into_iter()
                .map(|t| TopicMetadata {
                    name: t.name,
                    error_code: t.error_code,
                    is_internal: t.is_internal,
                    partitions: t
                        .partitions
                        .into_iter()
                        .map(|p| PartitionMetadata {
                            partition: p.partition,
                            leader: p.leader,
                            leader_epoch: p.leader_epoch,
                            replicas: p.replicas,
                            isr: p.isr,
                            error_code: p.error_code,
                        })
                        .collect(),
                })
                .collect())
        })
    }

    #[napi]
    pub fn create_partitions<'env>(
        &self,
        env: &'env Env,
        topic: String,
        total: i32,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        op!(self, env, |a| a.create_partitions(&topic, total).await)
    }

    /// Offsets of `partitions` at `spec`: "earliest", "latest" or a timestamp in ms.
    #[napi(ts_return_type = "Promise<TopicPartitionOffset[]>")]
    pub fn list_offsets<'env>(
        &self,
        env: &'env Env,
        partitions: Vec<TopicPartition>,
        spec: Either<String, i64>,
    ) -> napi::Result<PromiseRaw<'env, Vec<TopicPartitionOffset>>> {
        let spec = match spec {
            Either::A(s) if s == "earliest" => OffsetSpec::Earliest,
            Either::A(s) if s == "latest" => OffsetSpec::Latest,
            Either::A(s) => {
                return Err(crate::errors::invalid_arg(format!(
                    "offset spec {s:?}: \"earliest\", \"latest\" or a timestamp"
                )))
            }
            Either::B(t) => OffsetSpec::Timestamp(t),
        };
        let p = tps(&partitions);
        op!(self, env, |a| Ok(a
            .list_offsets(&p, spec)
            .await?
            .into_iter()
            .map(|(t, o)| to_tpo(&t, o))
            .collect()))
    }

    #[napi(ts_return_type = "Promise<GroupListing[]>")]
    pub fn list_groups<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, Vec<GroupListing>>> {
        op!(self, env, |a| Ok(a
            .list_consumer_groups()
            .await?
            .into_iter()
            .map(|g| GroupListing {
                group_id: g.group_id,
                protocol_type: g.protocol_type,
                state: g.state,
            })
            .collect()))
    }

    #[napi(ts_return_type = "Promise<GroupDescription>")]
    pub fn describe_group<'env>(
        &self,
        env: &'env Env,
        group_id: String,
    ) -> napi::Result<PromiseRaw<'env, GroupDescription>> {
        op!(self, env, |a| {
            let g = a.describe_consumer_group(&group_id).await?;
            Ok(GroupDescription {
                group_id: g.group_id,
                state: g.state,
                protocol_type: g.protocol_type,
                protocol: g.protocol,
                members: g
                    .members
                    .into_iter()
                    .map(|m| MemberDescription {
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                        client_id: m.client_id,
                        client_host: m.host,
                        assignment: m.assignment.iter().map(from_tp).collect(),
                    })
                    .collect(),
            })
        })
    }

    /// The group's committed offsets.
    #[napi(ts_return_type = "Promise<TopicPartitionOffset[]>")]
    pub fn list_group_offsets<'env>(
        &self,
        env: &'env Env,
        group_id: String,
    ) -> napi::Result<PromiseRaw<'env, Vec<TopicPartitionOffset>>> {
        op!(self, env, |a| Ok(a
            .list_consumer_group_offsets(&group_id)
            .await?
            .into_iter()
            .map(|(t, o)| to_tpo(&t, o))
            .collect()))
    }

    /// Sets the group's committed offsets (the group must have no active members).
    #[napi]
    pub fn alter_group_offsets<'env>(
        &self,
        env: &'env Env,
        group_id: String,
        offsets: Vec<TopicPartitionOffset>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let o: BTreeMap<CoreTp, i64> = offsets
            .iter()
            .map(|o| (CoreTp::new(&o.topic, o.partition), o.offset))
            .collect();
        op!(self, env, |a| a
            .alter_consumer_group_offsets(&group_id, &o)
            .await)
    }

    #[napi]
    pub fn delete_groups<'env>(
        &self,
        env: &'env Env,
        group_ids: Vec<String>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        op!(self, env, |a| {
            let g: Vec<&str> = group_ids.iter().map(String::as_str).collect();
            a.delete_consumer_groups(&g).await
        })
    }

    #[napi]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let conn = self.conn.clone();
        env.spawn_future(on_core(async move {
            if let Some(Ok(a)) = conn.get() {
                a.close().await;
            }
            Ok(())
        }))
    }
}

fn to_tpo(t: &CoreTp, offset: i64) -> TopicPartitionOffset {
    TopicPartitionOffset {
        topic: t.topic.to_string(),
        partition: t.partition,
        offset,
        metadata: None,
    }
}
