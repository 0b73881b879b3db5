//! Committed offsets: OffsetCommit (in turns, so commits land in the order they were made) and
//! OffsetFetch, both sent to the group coordinator.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    TopicName,
};

use super::coordinator::{coordinator_moved, sb, Coordinator};
use crate::error::{error_name, KafkaError, Result};
use crate::topic_partition::TopicPartition;

/// A committed position: the next offset to read, with its leader epoch and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
}

impl OffsetAndMetadata {
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

pub(super) type Offsets = BTreeMap<TopicPartition, OffsetAndMetadata>;

/// Positions (`(next offset, leader epoch)`, as the fetcher reports them) as offsets to commit,
/// only those of `only` when given.
pub(super) fn to_offsets(
    positions: &BTreeMap<TopicPartition, (i64, Option<i32>)>,
    only: Option<&[TopicPartition]>,
) -> Offsets {
    positions
        .iter()
        .filter(|(tp, _)| only.is_none_or(|o| o.contains(tp)))
        .map(|(tp, (offset, epoch))| {
            (
                tp.clone(),
                OffsetAndMetadata {
                    offset: *offset,
                    leader_epoch: *epoch,
                    metadata: String::new(),
                },
            )
        })
        .collect()
}

/// Commits take turns in the order they were made (sync, async, auto, the listener's), so an
/// older commit never lands after a newer one. tokio's mutex is fair: a turn is a place in its
/// queue.
#[derive(Default)]
pub(super) struct CommitTurns(Arc<tokio::sync::Mutex<()>>);

type TurnGuard = tokio::sync::OwnedMutexGuard<()>;

/// A place in the commit queue, taken when a commit is made and awaited before it is sent.
pub enum CommitTurn {
    Now(TurnGuard),
    Queued(Pin<Box<dyn Future<Output = TurnGuard> + Send>>),
}

impl CommitTurn {
    async fn wait(self) -> TurnGuard {
        match self {
            CommitTurn::Now(guard) => guard,
            CommitTurn::Queued(turn) => turn.await,
        }
    }
}

impl Coordinator {
    /// Takes the next place in the commit queue now (the returned future holds it).
    pub async fn commit_turn(&self) -> CommitTurn {
        let mut turn = Box::pin(self.commit_turns.0.clone().lock_owned());
        // One poll queues the waiter (or takes the lock); awaiting it later keeps the place.
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match turn.as_mut().poll(cx) {
                std::task::Poll::Ready(guard) => Some(guard),
                std::task::Poll::Pending => None,
            })
        })
        .await
        .map_or(CommitTurn::Queued(turn), CommitTurn::Now)
    }

    /// Commits offsets (OffsetCommit with this member's generation), after the commits made
    /// before it. `group_managed`: the consumer subscribed (its partitions come from the
    /// group), so a commit outside a generation fails as in Java (REBALANCE_IN_PROGRESS while
    /// it rejoins, UNKNOWN_MEMBER_ID once membership is lost) instead of going out with
    /// generation -1, which the coordinator would accept for partitions now owned elsewhere.
    pub async fn commit(&self, offsets: &Offsets, group_managed: bool) -> Result<()> {
        let turn = self.commit_turn().await;
        self.commit_in_turn(turn, offsets, group_managed).await
    }

    /// `commit` once `turn` comes.
    pub async fn commit_in_turn(
        &self,
        turn: CommitTurn,
        offsets: &Offsets,
        group_managed: bool,
    ) -> Result<()> {
        let _turn = turn.wait().await;
        self.send_commit(offsets, group_managed).await
    }

    /// `commit` once `turn` comes, handing the outcome to `then` before the next commit's
    /// turn: async commit callbacks run in the order the commits were made.
    pub async fn commit_in_turn_then(
        &self,
        turn: CommitTurn,
        offsets: &Offsets,
        group_managed: bool,
        then: impl FnOnce(Result<()>),
    ) {
        let _turn = turn.wait().await;
        then(self.send_commit(offsets, group_managed).await);
    }

    /// The generation and member id a commit carries: this member's, else (-1, "") for
    /// partitions assigned by the application; partitions the group assigned cannot be
    /// committed without a generation.
    fn commit_generation(&self, group_managed: bool) -> Result<(i32, String)> {
        let member = self.member();
        match member.generation_and_member() {
            Some(current) => Ok(current),
            None if group_managed => {
                let code = member.commit_refusal().code();
                Err(KafkaError::Broker {
                    code,
                    name: error_name(code),
                    topic: None,
                    partition: None,
                    message: Some(
                        "commit failed: this member is not in a stable generation of the group (rebalancing or membership lost); its partitions may be assigned to another member".into(),
                    ),
                })
            }
            None => Ok((-1, String::new())),
        }
    }

    async fn send_commit(&self, offsets: &Offsets, group_managed: bool) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let (generation, member_id) = self.commit_generation(group_managed)?;
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(sb(&self.group_id)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(sb(&member_id))
            .with_group_instance_id(if generation >= 0 {
                self.config.group_instance_id.as_deref().map(sb)
            } else {
                None
            })
            .with_retention_time_ms(-1)
            .with_topics(commit_topics(offsets));
        let resp = self
            .send_to_coordinator(req, |r: &OffsetCommitResponse| {
                r.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .any(|p| coordinator_moved(p.error_code))
            })
            .await?;
        for t in &resp.topics {
            for p in &t.partitions {
                let Some(e) = ResponseError::try_from_code(p.error_code) else {
                    continue;
                };
                let code = e.code();
                match e {
                    ResponseError::IllegalGeneration
                    | ResponseError::UnknownMemberId
                    | ResponseError::RebalanceInProgress => {
                        // The group moved on: these partitions may belong to someone else.
                        let mut member = self.member();
                        member.request_rejoin();
                        if e != ResponseError::RebalanceInProgress {
                            member.forget_generation();
                        }
                        return Err(KafkaError::Broker {
                            code,
                            name: error_name(code),
                            topic: Some(t.name.to_string()),
                            partition: Some(p.partition_index),
                            message: Some(
                                "commit failed: the group has rebalanced; these partitions may be assigned to another member".into(),
                            ),
                        });
                    }
                    _ => return Err(KafkaError::broker_for(code, &t.name, p.partition_index)),
                }
            }
        }
        Ok(())
    }

    /// The committed offsets of `partitions` (absent when none committed). Asks for stable
    /// offsets (KIP-447): offsets a transaction is committing are answered once it ended
    /// (UNSTABLE_OFFSET_COMMIT is retried until then, within `request.timeout.ms`).
    pub async fn fetch_committed(&self, partitions: &[TopicPartition]) -> Result<Offsets> {
        let deadline = tokio::time::Instant::now() + self.config.client.request_timeout;
        let mut attempt = 0;
        loop {
            match self.fetch_committed_once(partitions).await {
                Err(e)
                    if e.code() == Some(ResponseError::UnstableOffsetCommit.code())
                        && tokio::time::Instant::now() < deadline =>
                {
                    attempt += 1;
                    tokio::time::sleep(crate::network::backoff(
                        self.config.client.retry_backoff,
                        self.config.client.retry_backoff_max,
                        attempt,
                    ))
                    .await;
                }
                result => return result,
            }
        }
    }

    async fn fetch_committed_once(&self, partitions: &[TopicPartition]) -> Result<Offsets> {
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic
                .entry(tp.topic.to_string())
                .or_default()
                .push(tp.partition);
        }
        let req = OffsetFetchRequest::default()
            .with_require_stable(true)
            .with_group_id(GroupId(sb(&self.group_id)))
            .with_topics(Some(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(sb(&t)))
                            .with_partition_indexes(ps)
                    })
                    .collect(),
            ));
        let resp = self
            .send_to_coordinator(req, |r: &OffsetFetchResponse| {
                coordinator_moved(r.error_code)
            })
            .await?;
        if let Some(e) = ResponseError::try_from_code(resp.error_code) {
            return Err(KafkaError::broker(e.code()));
        }
        let mut out = BTreeMap::new();
        for t in resp.topics {
            for p in t.partitions {
                if let Some(e) = ResponseError::try_from_code(p.error_code) {
                    return Err(KafkaError::broker_for(e.code(), &t.name, p.partition_index));
                }
                if p.committed_offset >= 0 {
                    out.insert(
                        TopicPartition::new(t.name.as_str(), p.partition_index),
                        OffsetAndMetadata {
                            offset: p.committed_offset,
                            leader_epoch: (p.committed_leader_epoch >= 0)
                                .then_some(p.committed_leader_epoch),
                            metadata: p.metadata.map(|m| m.to_string()).unwrap_or_default(),
                        },
                    );
                }
            }
        }
        Ok(out)
    }
}

/// OffsetCommit's topics for a set of offsets (shared with the admin client's offset resets).
pub(crate) fn commit_topics(offsets: &Offsets) -> Vec<OffsetCommitRequestTopic> {
    let mut by_topic: BTreeMap<String, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, o) in offsets {
        by_topic.entry(tp.topic.to_string()).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(o.offset)
                .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                .with_committed_metadata(Some(sb(&o.metadata))),
        );
    }
    by_topic
        .into_iter()
        .map(|(t, ps)| {
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(sb(&t)))
                .with_partitions(ps)
        })
        .collect()
}
