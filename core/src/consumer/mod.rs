//! The consumer: group membership, positions, fetching, commits.
//!
//! `poll` drives everything on the caller's task (`poll.rs`): it acts on rebalances the
//! heartbeat task flagged (`rebalance.rs`, calling the rebalance listener there, in Kafka's
//! order), initialises positions from committed offsets or `auto.offset.reset`
//! (`fetch_position.rs`), auto-commits (`auto_commit.rs`), and returns buffered records while
//! the fetcher (`fetcher.rs`) keeps the next fetch in flight. All methods take `&self`: a
//! consumer can be shared with another thread that calls [`KafkaConsumer::wakeup`].
//!
//! Two state machines: each partition's fetch position (`fetch_position.rs`:
//! `AwaitingCommittedOffset` → `AwaitingReset` → `Fetching` ↔ `Paused`) and the member's place
//! in its group (`membership.rs`: `Unjoined` → `Joining` → `Stable`, `Lost`, `Leaving`).
//!
//! Locks, always taken in this order: the consumer's `State` (an async mutex held by `poll`
//! and by each method below for its whole call), then a place in the commit queue (taken
//! without waiting while `State` is held, awaited after it is released), then the member state
//! (a `std` mutex held for one read or transition, never across an await).

pub mod assignor;
mod auto_commit;
mod config;
mod coordinator;
mod fetch_position;
mod fetch_session;
mod fetcher;
mod groupless;
mod heartbeat;
mod join_group;
mod list_offsets;
mod listener;
mod membership;
mod metrics;
mod offset_commit;
mod pattern;
mod poll;
mod rebalance;
mod record;
mod stream;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use tokio::sync::Notify;
use tokio::time::Instant;

pub use config::{ConsumerConfig, OffsetReset};
pub use listener::{ConsumerRebalanceListener, RebalanceContext};
pub use metrics::ConsumerMetrics;
pub use offset_commit::OffsetAndMetadata;
pub use record::{ConsumerRecord, TimestampType};
pub use stream::RecordStream;

use assignor::Assignor;
use coordinator::Coordinator;
use fetcher::Fetcher;
use list_offsets::list_offsets;
pub(crate) use offset_commit::commit_topics;
use offset_commit::to_offsets;

/// ListOffsets for each partition at a timestamp spec (-2 earliest, -1 latest).
pub(crate) use list_offsets::list_offsets as list_offsets_for;

use crate::error::{KafkaError, Result};
use crate::network::NetworkClient;
use crate::record::ConsumerRecordData;
use crate::serialization::Deserializer;
use crate::topic_partition::TopicPartition;

/// This member's place in its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    pub group_id: String,
    /// -1 when not (yet) a member.
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// What the consumer reads.
enum Subscription {
    None,
    Topics(BTreeSet<String>),
    /// The pattern, and the topics it matched when last resolved (`pattern.rs`).
    Pattern(Regex, BTreeSet<String>),
    Manual,
}

impl Subscription {
    /// Partitions come from the group (subscribe; without `group.id`, every partition of the
    /// subscribed topics: `groupless.rs`), not from `assign`.
    fn group_managed(&self) -> bool {
        matches!(self, Subscription::Topics(_) | Subscription::Pattern(..))
    }
}

/// What `poll` works on; one async mutex (`Inner::state`) guards all of it.
struct State {
    fetcher: Fetcher,
    subscription: Subscription,
    listener: Option<Box<dyn ConsumerRebalanceListener>>,
    last_auto_commit: Instant,
    last_pattern_check: Instant,
    /// The JoinGroup/SyncGroup round under way in the background, with the partitions owned
    /// when it started (as the Java client keeps its join future): `poll` returns by its
    /// timeout while the group settles, and under cooperative assignment keeps serving the
    /// partitions it owns meanwhile.
    joining: Option<(JoinTask, Vec<TopicPartition>)>,
    /// Without `group.id`: when the subscription's partitions are next resolved (`None`: at
    /// the next poll).
    groupless_due: Option<Instant>,
    /// Set by `close_within(_, false)`: the revocation on close commits nothing.
    skip_auto_commit: bool,
}

type JoinTask = tokio::task::JoinHandle<Result<Vec<TopicPartition>>>;

struct Inner<K, V> {
    config: ConsumerConfig,
    client: NetworkClient,
    /// The group (with `group.id`): membership, heartbeats, commits.
    coordinator: Option<Arc<Coordinator>>,
    assignors: Arc<[Box<dyn Assignor>]>,
    key_deserializer: Box<dyn Deserializer<K>>,
    value_deserializer: Box<dyn Deserializer<V>>,
    state: tokio::sync::Mutex<State>,
    /// `wakeup` was called and no `poll` has returned `Wakeup` for it yet.
    woken: AtomicBool,
    wake: Notify,
    closed: AtomicBool,
    /// Records and bytes returned by `poll` (`metrics()`).
    metrics: metrics::Metrics,
}

/// A Kafka consumer with the Java client's group semantics.
pub struct KafkaConsumer<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for KafkaConsumer<K, V> {
    fn clone(&self) -> Self {
        KafkaConsumer {
            inner: self.inner.clone(),
        }
    }
}

impl<K: Send + 'static, V: Send + 'static> KafkaConsumer<K, V> {
    /// Connects to the cluster. Subscribe or assign before polling.
    pub async fn new(
        config: ConsumerConfig,
        key_deserializer: impl Deserializer<K> + 'static,
        value_deserializer: impl Deserializer<V> + 'static,
    ) -> Result<Self> {
        let client = NetworkClient::connect(config.client.clone()).await?;
        let coordinator = config
            .group_id
            .clone()
            .map(|g| Arc::new(Coordinator::new(client.clone(), config.clone(), g)));
        let assignors = config
            .assignors
            .iter()
            .filter_map(|n| assignor::by_name(n))
            .collect();
        Ok(KafkaConsumer {
            inner: Arc::new(Inner {
                state: tokio::sync::Mutex::new(State {
                    fetcher: Fetcher::new(client.clone(), config.clone()),
                    subscription: Subscription::None,
                    listener: None,
                    last_auto_commit: Instant::now(),
                    last_pattern_check: Instant::now(),
                    joining: None,
                    groupless_due: None,
                    skip_auto_commit: false,
                }),
                config,
                client,
                coordinator,
                assignors,
                key_deserializer: Box::new(key_deserializer),
                value_deserializer: Box::new(value_deserializer),
                woken: AtomicBool::new(false),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
                metrics: metrics::Metrics::default(),
            }),
        })
    }

    /// Builds a consumer from Kafka property names (`bootstrap.servers`, `group.id`, ...).
    pub async fn from_properties<Kp: Into<String>, Vp: Into<String>>(
        properties: impl IntoIterator<Item = (Kp, Vp)>,
        key_deserializer: impl Deserializer<K> + 'static,
        value_deserializer: impl Deserializer<V> + 'static,
    ) -> Result<Self> {
        Self::new(
            ConsumerConfig::from_properties(properties)?,
            key_deserializer,
            value_deserializer,
        )
        .await
    }

    /// [`KafkaConsumer::new`] for callers without an async runtime.
    pub fn new_blocking(
        config: ConsumerConfig,
        key_deserializer: impl Deserializer<K> + 'static,
        value_deserializer: impl Deserializer<V> + 'static,
    ) -> Result<Self> {
        crate::runtime::block_on(Self::new(config, key_deserializer, value_deserializer))
    }

    /// The group, for commits and committed offsets. Without `group.id` there is none: that
    /// is an illegal state for the call (Java's InvalidGroupIdException, kafka-python's
    /// IllegalStateError), not a bad configuration, since such a consumer is valid.
    fn group(&self) -> Result<&Arc<Coordinator>> {
        self.inner.coordinator.as_ref().ok_or_else(|| {
            KafkaError::IllegalState(
                "this consumer has no group.id: commits and committed offsets need one".into(),
            )
        })
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(KafkaError::Closed)
        } else {
            Ok(())
        }
    }

    /// Joins the group for `topics` (rebalancing as members come and go); without `group.id`,
    /// reads every partition of them, with no group (`groupless.rs`).
    pub async fn subscribe(
        &self,
        topics: &[&str],
        listener: Option<Box<dyn ConsumerRebalanceListener>>,
    ) -> Result<()> {
        self.check_open()?;
        if topics.is_empty() {
            return self.unsubscribe().await;
        }
        let topics = topics.iter().map(|t| t.to_string()).collect();
        self.subscribe_to(Subscription::Topics(topics), listener)
            .await
    }

    /// Subscribes to every topic whose name matches `pattern` (checked again every few seconds).
    pub async fn subscribe_pattern(
        &self,
        pattern: &str,
        listener: Option<Box<dyn ConsumerRebalanceListener>>,
    ) -> Result<()> {
        self.check_open()?;
        let regex = pattern::compile(pattern)?;
        self.subscribe_to(Subscription::Pattern(regex, BTreeSet::new()), listener)
            .await
    }

    /// Reads exactly these partitions, without group membership (commits still go to `group.id`).
    pub async fn assign(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.check_open()?;
        let mut st = self.inner.state.lock().await;
        if st.subscription.group_managed() {
            return Err(KafkaError::IllegalState(
                "assign() after subscribe(): call unsubscribe() first".into(),
            ));
        }
        st.subscription = if partitions.is_empty() {
            Subscription::None
        } else {
            Subscription::Manual
        };
        st.fetcher.assign(partitions);
        Ok(())
    }

    /// Leaves the group (revoking partitions through the listener) and forgets the assignment.
    pub async fn unsubscribe(&self) -> Result<()> {
        let mut st = self.inner.state.lock().await;
        self.leave_group(&mut st).await;
        st.subscription = Subscription::None;
        st.fetcher.assign(&[]);
        Ok(())
    }

    /// The group membership as the Java client's `groupMetadata()` reports it.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        self.inner.coordinator.as_ref().map(|c| {
            let member = c.member();
            ConsumerGroupMetadata {
                group_id: c.group_id.clone(),
                generation_id: member.generation(),
                member_id: member.member_id().to_string(),
                group_instance_id: self.inner.config.group_instance_id.clone(),
            }
        })
    }

    pub async fn assignment(&self) -> Vec<TopicPartition> {
        self.inner.state.lock().await.fetcher.assignment()
    }

    pub async fn subscription(&self) -> Vec<String> {
        match &self.inner.state.lock().await.subscription {
            Subscription::Topics(t) => t.iter().cloned().collect(),
            Subscription::Pattern(_, t) => t.iter().cloned().collect(),
            _ => vec![],
        }
    }

    /// Interrupts a `poll` blocked on another thread (it returns `KafkaError::Wakeup`); if none
    /// is running, the next one returns at once.
    pub fn wakeup(&self) {
        self.inner.woken.store(true, Ordering::Release);
        self.inner.wake.notify_waiters();
    }

    /// Returns the records fetched since the last call (at most `max.poll.records`), waiting up
    /// to `timeout` for some to arrive.
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<ConsumerRecord<K, V>>> {
        self.poll_at_most(timeout, self.inner.config.max_poll_records)
            .await
    }

    /// `poll` returning at most `max_records` (the rest stay buffered for the next call, and
    /// positions advance only past what is returned).
    pub async fn poll_at_most(
        &self,
        timeout: Duration,
        max_records: usize,
    ) -> Result<Vec<ConsumerRecord<K, V>>> {
        self.check_open()?;
        let deadline = Instant::now() + timeout;
        let mut st = self.inner.state.lock().await;
        if !self.fill(&mut st, deadline).await? {
            return Ok(vec![]);
        }
        let drained = st.fetcher.drain(max_records.max(1));
        // Prefetch: the next fetch goes out while the application works.
        st.fetcher.start_fetches();
        self.convert(&mut st, drained)
    }

    /// `poll_at_most` for callers that take the fetched bytes as they are (the bindings): no
    /// deserializer runs and no `ConsumerRecord` is built; each record goes to `visit` with
    /// its partition, in the order `poll` returns them, and positions advance past them.
    /// `max_records` defaults to `max.poll.records`. Returns how many records were visited.
    pub async fn poll_data_with(
        &self,
        timeout: Duration,
        max_records: Option<usize>,
        mut visit: impl FnMut(&TopicPartition, ConsumerRecordData) + Send,
    ) -> Result<usize> {
        self.check_open()?;
        let deadline = Instant::now() + timeout;
        let max = max_records
            .unwrap_or(self.inner.config.max_poll_records)
            .max(1);
        let mut st = self.inner.state.lock().await;
        if !self.fill(&mut st, deadline).await? {
            return Ok(0);
        }
        let mut bytes = 0u64;
        let n = st.fetcher.drain_with(max, |tp, r| {
            bytes += r.key.as_ref().map_or(0, |k| k.len() as u64)
                + r.value.as_ref().map_or(0, |v| v.len() as u64);
            visit(tp, r)
        });
        st.fetcher.start_fetches();
        self.inner.metrics.consumed(n as u64, bytes);
        Ok(n)
    }

    /// Waits up to `timeout` until `poll` would return records, without taking any: for a
    /// caller that takes them elsewhere (the Python package's `async for` takes them on the
    /// event loop's thread, so a cancelled step takes nothing).
    pub async fn wait_for_records(&self, timeout: Duration) -> Result<bool> {
        self.check_open()?;
        let deadline = Instant::now() + timeout;
        let mut st = self.inner.state.lock().await;
        self.fill(&mut st, deadline).await
    }

    /// `poll` for plain threads.
    pub fn poll_blocking(&self, timeout: Duration) -> Result<Vec<ConsumerRecord<K, V>>> {
        crate::runtime::block_on(self.poll(timeout))
    }

    /// The next record (polling as needed). The position moves past it alone, so a commit or a
    /// close after any number of `recv`s covers exactly the records received; and a `recv`
    /// cancelled before it returns has taken nothing.
    pub async fn recv(&self) -> Result<ConsumerRecord<K, V>> {
        loop {
            if let Some(r) = self
                .poll_at_most(Duration::from_millis(500), 1)
                .await?
                .pop()
            {
                return Ok(r);
            }
        }
    }

    /// The records as an async stream (ends after an error).
    pub fn stream(&self) -> RecordStream<K, V> {
        RecordStream::new(self.clone())
    }

    /// Commits the positions of every assigned partition (the next offsets to read).
    pub async fn commit_sync(&self) -> Result<()> {
        let c = self.group()?.clone();
        let st = self.inner.state.lock().await;
        let offsets = to_offsets(&st.fetcher.positions(), None);
        let managed = st.subscription.group_managed();
        let turn = c.commit_turn().await;
        drop(st);
        c.commit_in_turn(turn, &offsets, managed).await
    }

    /// Commits explicit offsets; each partition must be assigned to this consumer.
    pub async fn commit_offsets(
        &self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        let c = self.group()?.clone();
        let st = self.inner.state.lock().await;
        if let Some(tp) = offsets.keys().find(|tp| !st.fetcher.is_assigned(tp)) {
            return Err(KafkaError::IllegalState(format!("cannot commit {tp}: it is not assigned to this consumer (it may have been revoked)")));
        }
        let managed = st.subscription.group_managed();
        let turn = c.commit_turn().await;
        drop(st);
        c.commit_in_turn(turn, &offsets, managed).await
    }

    /// Commits the current positions in the background and calls `callback` with the outcome.
    /// Commits go out in the order they are made (async, sync, auto), so a later commit is
    /// never overwritten by an earlier one, and callbacks run in that order.
    pub async fn commit_async(
        &self,
        callback: impl FnOnce(Result<()>) + Send + 'static,
    ) -> Result<()> {
        self.commit_offsets_async(None, move |_, r| callback(r))
            .await
    }

    /// [`KafkaConsumer::commit_async`] of explicit `offsets` (each partition must be assigned),
    /// or of the current positions when `None`; `callback` gets the offsets committed and the
    /// outcome (kafka-python's `commit_async(offsets, callback)`).
    pub async fn commit_offsets_async(
        &self,
        offsets: Option<BTreeMap<TopicPartition, OffsetAndMetadata>>,
        callback: impl FnOnce(&BTreeMap<TopicPartition, OffsetAndMetadata>, Result<()>) + Send + 'static,
    ) -> Result<()> {
        let c = self.group()?.clone();
        let st = self.inner.state.lock().await;
        let offsets = match offsets {
            Some(o) => {
                if let Some(tp) = o.keys().find(|tp| !st.fetcher.is_assigned(tp)) {
                    return Err(KafkaError::IllegalState(format!("cannot commit {tp}: it is not assigned to this consumer (it may have been revoked)")));
                }
                o
            }
            None => to_offsets(&st.fetcher.positions(), None),
        };
        let managed = st.subscription.group_managed();
        // The turn is taken before the state lock is released: call order is commit order.
        let turn = c.commit_turn().await;
        drop(st);
        tokio::spawn(async move {
            c.commit_in_turn_then(turn, &offsets, managed, |r| callback(&offsets, r))
                .await
        });
        Ok(())
    }

    /// The committed offsets of `partitions` (absent when none).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        self.group()?.fetch_committed(partitions).await
    }

    /// The next offset `poll` will return for `tp` (initialising it when needed).
    pub async fn position(&self, tp: &TopicPartition) -> Result<i64> {
        let mut st = self.inner.state.lock().await;
        if !st.fetcher.is_assigned(tp) {
            return Err(KafkaError::IllegalState(format!(
                "{tp} is not assigned to this consumer"
            )));
        }
        self.update_fetch_positions(&mut st).await?;
        st.fetcher
            .position(tp)
            .ok_or_else(|| KafkaError::IllegalState(format!("no position for {tp}")))
    }

    pub async fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.inner.state.lock().await.fetcher.seek(tp, offset)
    }

    pub async fn seek_to_beginning(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to(partitions, -2).await
    }

    pub async fn seek_to_end(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to(partitions, -1).await
    }

    async fn seek_to(&self, partitions: &[TopicPartition], timestamp: i64) -> Result<()> {
        let offsets = list_offsets(&self.inner.client, partitions, timestamp).await?;
        let mut st = self.inner.state.lock().await;
        for (tp, (offset, _)) in offsets {
            st.fetcher.seek(&tp, offset)?;
        }
        Ok(())
    }

    pub async fn pause(&self, partitions: &[TopicPartition]) -> Result<()> {
        let mut st = self.inner.state.lock().await;
        partitions
            .iter()
            .try_for_each(|tp| st.fetcher.set_paused(tp, true))
    }

    pub async fn resume(&self, partitions: &[TopicPartition]) -> Result<()> {
        let mut st = self.inner.state.lock().await;
        partitions
            .iter()
            .try_for_each(|tp| st.fetcher.set_paused(tp, false))
    }

    pub async fn paused(&self) -> Vec<TopicPartition> {
        self.inner.state.lock().await.fetcher.paused()
    }

    pub async fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.list_offsets(partitions, -2).await
    }

    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.list_offsets(partitions, -1).await
    }

    async fn list_offsets(
        &self,
        partitions: &[TopicPartition],
        timestamp: i64,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        Ok(list_offsets(&self.inner.client, partitions, timestamp)
            .await?
            .into_iter()
            .map(|(tp, (o, _))| (tp, o))
            .collect())
    }

    /// For each partition, the earliest offset whose timestamp is at or after the given one,
    /// with that timestamp; `None` when no record is that recent.
    pub async fn offsets_for_times(
        &self,
        times: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Option<(i64, i64)>>> {
        let mut out = BTreeMap::new();
        for (tp, ts) in times {
            let found = list_offsets(&self.inner.client, std::slice::from_ref(tp), *ts).await?;
            out.insert(tp.clone(), found.get(tp).copied().filter(|(o, _)| *o >= 0));
        }
        Ok(out)
    }

    /// The partition numbers of `topic` (sorted), from a metadata request for it; `None` when
    /// the cluster does not know the topic (with `allow.auto.create.topics`, the request may
    /// create it, as any client's metadata request does).
    pub async fn partitions_for(&self, topic: &str) -> Result<Option<Vec<i32>>> {
        self.check_open()?;
        let md = self
            .inner
            .client
            .refresh_metadata(&[topic.to_string()])
            .await?;
        Ok(md
            .topic(topic)
            .filter(|t| t.error_code == 0 && !t.partitions.is_empty())
            .map(|t| t.partitions.iter().map(|p| p.partition).collect()))
    }

    /// Every topic in the cluster (internal ones excluded) with its partition numbers.
    pub async fn list_topics(&self) -> Result<BTreeMap<String, Vec<i32>>> {
        self.check_open()?;
        self.all_topics().await
    }

    /// The high watermark the last fetch response reported for `tp` (the offset the next
    /// record written there will get); `None` before a fetch answered for it, or when it is
    /// not assigned.
    pub async fn highwater(&self, tp: &TopicPartition) -> Option<i64> {
        self.inner.state.lock().await.fetcher.high_watermark(tp)
    }

    /// Whether a connection to a broker (a bootstrap server or one the metadata named) is
    /// open now. No I/O.
    pub fn bootstrap_connected(&self) -> bool {
        let client = &self.inner.client;
        let bootstrap = (0..client.config().bootstrap_servers.len() as i32).map(|i| -1 - i);
        let brokers: Vec<i32> = client
            .metadata()
            .brokers
            .iter()
            .map(|b| b.node_id)
            .collect();
        bootstrap
            .chain(brokers)
            .any(|node| client.is_connected(node))
    }

    /// Counters of what `poll` returned (names follow the Java client's fetch manager metrics).
    pub fn metrics(&self) -> ConsumerMetrics {
        self.inner
            .metrics
            .snapshot(self.inner.client.connection_metrics())
    }

    /// Commits (with auto commit on), revokes through the listener, leaves the group and
    /// closes the connections.
    pub async fn close(&self) -> Result<()> {
        self.close_within(Duration::MAX, true).await
    }

    /// [`KafkaConsumer::close`] bounded by `timeout`, and without the final auto commit when
    /// `autocommit` is false (kafka-python's `close(autocommit, timeout_ms)`). What is not
    /// done by the deadline (the commit, the listener, LeaveGroup) is given up; the
    /// connections are closed either way.
    pub async fn close_within(&self, timeout: Duration, autocommit: bool) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let goodbye = async {
            let mut st = self.inner.state.lock().await;
            if autocommit && matches!(st.subscription, Subscription::Manual) {
                self.auto_commit_now(&mut st, None).await;
            }
            if !autocommit {
                st.skip_auto_commit = true;
            }
            self.leave_group(&mut st).await;
        };
        if tokio::time::timeout(timeout, goodbye).await.is_err() {
            tracing::warn!(?timeout, "consumer close: commit and group leave cut short");
        }
        self.inner.client.close().await;
        Ok(())
    }

    pub fn close_blocking(&self) -> Result<()> {
        crate::runtime::block_on(self.close())
    }
}
