//! The consumer: group membership, positions, fetching, commits.
//!
//! `poll` drives everything on the caller's task: it acts on rebalances the heartbeat task
//! flagged (calling the rebalance listener there, in Kafka's order), initialises positions
//! from committed offsets or `auto.offset.reset`, auto-commits, and returns buffered records
//! while the fetcher keeps the next fetch in flight. All methods take `&self`: a consumer can
//! be shared with another thread that calls [`KafkaConsumer::wakeup`].

pub mod assignor;
mod config;
mod coordinator;
mod fetcher;
mod listener;
mod record;

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use kafka_protocol::messages::MetadataRequest;
use regex::Regex;
use tokio::sync::Notify;
use tokio::time::Instant;

pub use config::{ConsumerConfig, OffsetReset};
pub use coordinator::OffsetAndMetadata;
pub use listener::{ConsumerRebalanceListener, RebalanceContext};
pub use record::{ConsumerRecord, TimestampType};

use assignor::Assignor;
pub(crate) use coordinator::commit_topics;
use coordinator::Coordinator;
use fetcher::{list_offsets, Fetcher};

/// ListOffsets for each partition at a timestamp spec (-2 earliest, -1 latest).
pub(crate) use fetcher::list_offsets as list_offsets_for;

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
    Pattern(Regex, BTreeSet<String>),
    Manual,
}

impl Subscription {
    /// Partitions come from the group (subscribe), not from `assign`.
    fn group_managed(&self) -> bool {
        matches!(self, Subscription::Topics(_) | Subscription::Pattern(..))
    }
}

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
}

type JoinTask = tokio::task::JoinHandle<Result<Vec<TopicPartition>>>;

struct Inner<K, V> {
    config: ConsumerConfig,
    client: NetworkClient,
    coordinator: Option<Arc<Coordinator>>,
    assignors: Arc<[Box<dyn Assignor>]>,
    key_deserializer: Box<dyn Deserializer<K>>,
    value_deserializer: Box<dyn Deserializer<V>>,
    state: tokio::sync::Mutex<State>,
    woken: AtomicBool,
    wake: Notify,
    closed: AtomicBool,
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

type Offsets = BTreeMap<TopicPartition, OffsetAndMetadata>;

fn to_offsets(
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

    fn group(&self) -> Result<&Arc<Coordinator>> {
        self.inner.coordinator.as_ref().ok_or_else(|| {
            KafkaError::config(
                "group.id",
                "a group.id is required for subscribe() and commits",
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

    /// Joins the group for `topics` (rebalancing as members come and go).
    pub async fn subscribe(
        &self,
        topics: &[&str],
        listener: Option<Box<dyn ConsumerRebalanceListener>>,
    ) -> Result<()> {
        self.check_open()?;
        let coordinator = self.group()?;
        if topics.is_empty() {
            return self.unsubscribe().await;
        }
        let mut st = self.inner.state.lock().await;
        if matches!(st.subscription, Subscription::Manual) {
            return Err(KafkaError::IllegalState(
                "subscribe() after assign(): call unsubscribe() first".into(),
            ));
        }
        self.cancel_join(&mut st).await;
        st.subscription = Subscription::Topics(topics.iter().map(|t| t.to_string()).collect());
        if listener.is_some() {
            st.listener = listener;
        }
        coordinator.state.rejoin.store(true, Ordering::Release);
        Ok(())
    }

    /// Subscribes to every topic whose name matches `pattern` (checked again every few seconds).
    pub async fn subscribe_pattern(
        &self,
        pattern: &str,
        listener: Option<Box<dyn ConsumerRebalanceListener>>,
    ) -> Result<()> {
        self.check_open()?;
        let coordinator = self.group()?;
        let regex = Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| KafkaError::IllegalState(format!("invalid pattern: {e}")))?;
        let mut st = self.inner.state.lock().await;
        self.cancel_join(&mut st).await;
        st.subscription = Subscription::Pattern(regex, BTreeSet::new());
        if listener.is_some() {
            st.listener = listener;
        }
        coordinator.state.rejoin.store(true, Ordering::Release);
        Ok(())
    }

    /// Reads exactly these partitions, without group membership (commits still go to `group.id`).
    pub async fn assign(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.check_open()?;
        let mut st = self.inner.state.lock().await;
        if matches!(
            st.subscription,
            Subscription::Topics(_) | Subscription::Pattern(..)
        ) {
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
        self.cancel_join(&mut st).await;
        self.revoke_all(&mut st).await;
        if let Some(c) = &self.inner.coordinator {
            c.leave().await;
        }
        st.subscription = Subscription::None;
        st.fetcher.assign(&[]);
        Ok(())
    }

    /// The group membership as the Java client's `groupMetadata()` reports it.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        self.inner
            .coordinator
            .as_ref()
            .map(|c| ConsumerGroupMetadata {
                group_id: c.group_id.clone(),
                generation_id: c.generation(),
                member_id: c.member_id(),
                group_instance_id: self.inner.config.group_instance_id.clone(),
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

    fn take_wakeup(&self) -> Result<()> {
        if self.inner.woken.swap(false, Ordering::AcqRel) {
            Err(KafkaError::Wakeup)
        } else {
            Ok(())
        }
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

    /// Waits up to `timeout` until `poll` would return records, without taking any: for a
    /// caller that takes them elsewhere (the Python package's `async for` takes them on the
    /// event loop's thread, so a cancelled step takes nothing).
    pub async fn wait_for_records(&self, timeout: Duration) -> Result<bool> {
        self.check_open()?;
        let deadline = Instant::now() + timeout;
        let mut st = self.inner.state.lock().await;
        self.fill(&mut st, deadline).await
    }

    /// poll's loop: group events, commits, positions and fetches, until records are buffered
    /// (true) or `deadline` passes (false).
    async fn fill(&self, st: &mut State, deadline: Instant) -> Result<bool> {
        loop {
            // `max.poll.interval.ms` bounds the time spent outside poll: every pass of this
            // loop counts as polling (as Java's poll timer), so a long poll on an idle topic
            // keeps the membership.
            if let Some(c) = &self.inner.coordinator {
                *c.state.last_poll.lock().unwrap() = Instant::now();
            }
            self.take_wakeup()?;
            self.maybe_rebalance(st, deadline).await?;
            self.maybe_auto_commit(st).await;
            self.init_positions(st).await?;
            st.fetcher.collect_ready();
            if let Some(e) = st.fetcher.take_error() {
                return Err(e);
            }
            if st.fetcher.has_buffered() {
                return Ok(true);
            }
            st.fetcher.start_fetches();
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            // Wake for a fetch answer, a rebalance check, or wakeup().
            let recheck = (now + Duration::from_millis(250)).min(deadline);
            let woken = self.inner.wake.notified();
            tokio::select! {
                _ = st.fetcher.await_fetch(recheck) => {}
                _ = woken => {}
            }
        }
    }

    /// `poll` for plain threads.
    pub fn poll_blocking(&self, timeout: Duration) -> Result<Vec<ConsumerRecord<K, V>>> {
        crate::runtime::block_on(self.poll(timeout))
    }

    /// Deserializes drained records. As in the Java client, a record that cannot be
    /// deserialized stops the batch there: the records before it are returned, its position
    /// stays on it, and the next `poll` fails with an error naming its partition and offset
    /// (the application may `seek` past it). Nothing after it is lost.
    fn convert(
        &self,
        st: &mut State,
        drained: Vec<(TopicPartition, ConsumerRecordData)>,
    ) -> Result<Vec<ConsumerRecord<K, V>>> {
        let mut out = Vec::with_capacity(drained.len());
        let mut rest = drained.into_iter();
        while let Some((tp, r)) = rest.next() {
            match self.deserialize(&tp, &r) {
                Ok((key, value)) => out.push(ConsumerRecord {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    timestamp_type: if r.log_append_time {
                        TimestampType::LogAppendTime
                    } else {
                        TimestampType::CreateTime
                    },
                    serialized_key_size: r.key.as_ref().map_or(-1, |k| k.len() as i32),
                    serialized_value_size: r.value.as_ref().map_or(-1, |v| v.len() as i32),
                    key,
                    value,
                    headers: r.headers,
                    leader_epoch: (r.leader_epoch >= 0).then_some(r.leader_epoch),
                }),
                Err(e) => {
                    let offset = r.offset;
                    let mut back = vec![(tp.clone(), r)];
                    back.extend(rest);
                    st.fetcher.undrain(back);
                    if !out.is_empty() {
                        return Ok(out);
                    }
                    return Err(KafkaError::Serialization(format!(
                        "record {tp}@{offset} could not be deserialized ({e}); seek past it to go on"
                    )));
                }
            }
        }
        Ok(out)
    }

    fn deserialize(&self, tp: &TopicPartition, r: &ConsumerRecordData) -> Result<(K, V)> {
        let key = self
            .inner
            .key_deserializer
            .deserialize(&tp.topic, r.key.as_ref())?;
        let value = self
            .inner
            .value_deserializer
            .deserialize(&tp.topic, r.value.as_ref())?;
        Ok((key, value))
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
        RecordStream {
            consumer: self.clone(),
            next: None,
            done: false,
        }
    }

    /// Topics matching the pattern subscription, from the cluster's full topic list.
    async fn resolve_pattern(&self, regex: &Regex) -> Result<BTreeSet<String>> {
        let node = self.inner.client.least_loaded_node().await?;
        let (resp, _) = self
            .inner
            .client
            .send(node, MetadataRequest::default().with_topics(None))
            .await?;
        Ok(resp
            .topics
            .iter()
            .filter(|t| !t.is_internal)
            .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
            .filter(|n| regex.is_match(n))
            .collect())
    }

    /// Calls a listener method with a context, then performs the commits it asked for.
    async fn with_listener(
        &self,
        st: &mut State,
        partitions: &[TopicPartition],
        call: fn(&mut dyn ConsumerRebalanceListener, &mut RebalanceContext<'_>, &[TopicPartition]),
    ) {
        let Some(mut listener) = st.listener.take() else {
            return;
        };
        let positions = st.fetcher.positions();
        let mut ctx = RebalanceContext {
            positions: &positions,
            commits: BTreeMap::new(),
            seeks: BTreeMap::new(),
        };
        call(listener.as_mut(), &mut ctx, partitions);
        let commits = std::mem::take(&mut ctx.commits);
        let seeks = std::mem::take(&mut ctx.seeks);
        st.listener = Some(listener);
        for (tp, offset) in seeks {
            if let Err(e) = st.fetcher.seek(&tp, offset) {
                tracing::warn!("seek from the rebalance listener ignored: {e}");
            }
        }
        if let (false, Some(c)) = (commits.is_empty(), &self.inner.coordinator) {
            if let Err(e) = c.commit(&commits, st.subscription.group_managed()).await {
                tracing::warn!("commit from the rebalance listener failed: {e}");
            }
        }
    }

    /// Stops a join under way (the subscription changed, or the consumer is leaving); waits
    /// until its task has stopped, so nothing it does lands after what the caller does next.
    async fn cancel_join(&self, st: &mut State) {
        if let Some((task, _)) = st.joining.take() {
            let parked = !task.is_finished();
            task.abort();
            let _ = task.await;
            if let (true, Some(c)) = (parked, &self.inner.coordinator) {
                // Its JoinGroup or SyncGroup may still be parked at the coordinator, which
                // answers a connection's requests in order: what comes next (LeaveGroup on
                // close) goes out on a fresh connection instead of waiting for the rebalance.
                c.drop_connection();
            }
        }
    }

    /// Revokes every owned partition (eager rebalance, unsubscribe, close).
    async fn revoke_all(&self, st: &mut State) {
        let owned = st.fetcher.assignment();
        if owned.is_empty()
            || !matches!(
                st.subscription,
                Subscription::Topics(_) | Subscription::Pattern(..)
            )
        {
            return;
        }
        self.auto_commit_now(st, Some(&owned)).await;
        self.with_listener(st, &owned, |l, c, p| l.on_partitions_revoked(c, p))
            .await;
        st.fetcher.assign(&[]);
    }

    /// Starts a rebalance the group asked for (revoking first where eager), and finishes one
    /// under way if it completes by `deadline`.
    async fn maybe_rebalance(&self, st: &mut State, deadline: Instant) -> Result<()> {
        let Some(c) = self.inner.coordinator.clone() else {
            return Ok(());
        };
        if st.joining.is_none() && !self.start_join(st, &c).await? {
            return Ok(());
        }
        self.finish_join(st, &c, deadline).await
    }

    /// Revokes or loses what it must, then starts the join in the background; false when no
    /// rebalance is due.
    async fn start_join(&self, st: &mut State, c: &Arc<Coordinator>) -> Result<bool> {
        // The common case, checked before anything is copied: a settled topic subscription.
        if matches!(st.subscription, Subscription::Topics(_))
            && !c.state.rejoin.load(Ordering::Acquire)
            && !c.state.lost.load(Ordering::Acquire)
            && c.is_member()
        {
            return Ok(false);
        }
        let topics = match &mut st.subscription {
            Subscription::Topics(t) => t.clone(),
            Subscription::Pattern(regex, current) => {
                if current.is_empty() || st.last_pattern_check.elapsed() > Duration::from_secs(3) {
                    let regex = regex.clone();
                    let found = self.resolve_pattern(&regex).await?;
                    st.last_pattern_check = Instant::now();
                    if let Subscription::Pattern(_, current) = &mut st.subscription {
                        if *current != found {
                            *current = found;
                            c.state.rejoin.store(true, Ordering::Release);
                        }
                    }
                }
                match &st.subscription {
                    Subscription::Pattern(_, t) => t.clone(),
                    _ => BTreeSet::new(),
                }
            }
            _ => return Ok(false),
        };
        let lost = c.state.lost.swap(false, Ordering::AcqRel);
        if !c.state.rejoin.load(Ordering::Acquire) && c.is_member() && !lost {
            return Ok(false);
        }
        let mut owned = st.fetcher.assignment();
        let cooperative = c
            .state
            .protocol
            .lock()
            .unwrap()
            .as_deref()
            .and_then(assignor::by_name)
            .is_some_and(|a| a.cooperative());
        if lost && !owned.is_empty() {
            tracing::info!(group = %c.group_id, "partitions lost: {owned:?}");
            self.with_listener(st, &owned, |l, c, p| l.on_partitions_lost(c, p))
                .await;
            st.fetcher.assign(&[]);
            owned.clear();
        } else if !cooperative && !owned.is_empty() {
            self.revoke_all(st).await;
            owned.clear();
        }
        let (group, assignors, from) = (c.clone(), self.inner.assignors.clone(), owned.clone());
        let task = tokio::spawn(async move { group.join(&topics, &from, &assignors).await });
        st.joining = Some((task, owned));
        Ok(true)
    }

    /// Waits until `deadline` (or a `wakeup`) for the join under way; once it is done, applies
    /// the assignment and runs the listener on this thread.
    async fn finish_join(&self, st: &mut State, c: &Coordinator, deadline: Instant) -> Result<()> {
        let Some((task, _)) = st.joining.as_mut() else {
            return Ok(());
        };
        // With partitions still owned (cooperative), poll goes on serving them and looks again
        // on its next pass; with none it may as well wait.
        let until = if st.fetcher.assignment().is_empty() {
            deadline
        } else {
            Instant::now()
        };
        let woken = self.inner.wake.notified();
        let joined = tokio::select! {
            joined = tokio::time::timeout_at(until, task) => match joined {
                Ok(joined) => joined,
                Err(_) => return Ok(()),
            },
            _ = woken => return Ok(()),
        };
        let (_, owned) = st.joining.take().expect("checked above");
        let assigned = joined
            .map_err(|e| KafkaError::IllegalState(format!("the group join task failed: {e}")))??;
        let cooperative = c
            .state
            .protocol
            .lock()
            .unwrap()
            .as_deref()
            .and_then(assignor::by_name)
            .is_some_and(|a| a.cooperative());
        if cooperative {
            let revoked: Vec<TopicPartition> = owned
                .iter()
                .filter(|tp| !assigned.contains(tp))
                .cloned()
                .collect();
            let added: Vec<TopicPartition> = assigned
                .iter()
                .filter(|tp| !owned.contains(tp))
                .cloned()
                .collect();
            if !revoked.is_empty() {
                self.auto_commit_now(st, Some(&revoked)).await;
                self.with_listener(st, &revoked, |l, c, p| l.on_partitions_revoked(c, p))
                    .await;
                // KIP-429: give the revoked partitions up, then rejoin so they can move.
                c.state.rejoin.store(true, Ordering::Release);
            }
            st.fetcher.assign(&assigned);
            self.with_listener(st, &added, |l, c, p| l.on_partitions_assigned(c, p))
                .await;
        } else {
            st.fetcher.assign(&assigned);
            self.with_listener(st, &assigned, |l, c, p| l.on_partitions_assigned(c, p))
                .await;
        }
        tracing::debug!(group = %c.group_id, generation = c.generation(), ?assigned, "joined group");
        Ok(())
    }

    /// Positions for new partitions: the committed offset, else `auto.offset.reset`; for
    /// positions the leader found out of range, `auto.offset.reset` (the committed offset may
    /// be the very one that fell below the log start).
    async fn init_positions(&self, st: &mut State) -> Result<()> {
        let missing = st.fetcher.missing_positions();
        let out_of_range = st.fetcher.out_of_range_positions();
        if missing.is_empty() && out_of_range.is_empty() {
            return Ok(());
        }
        let mut reset = missing.clone();
        reset.extend(out_of_range);
        if let Some(c) = self
            .inner
            .coordinator
            .as_ref()
            .filter(|_| !missing.is_empty())
        {
            let committed = c.fetch_committed(&missing).await?;
            for (tp, o) in committed {
                st.fetcher.seek(&tp, o.offset)?;
                reset.retain(|x| *x != tp);
            }
        }
        st.fetcher.reset_positions(&reset).await
    }

    async fn maybe_auto_commit(&self, st: &mut State) {
        if self.inner.config.enable_auto_commit
            && st.last_auto_commit.elapsed() >= self.inner.config.auto_commit_interval
        {
            self.auto_commit_now(st, None).await;
        }
    }

    async fn auto_commit_now(&self, st: &mut State, only: Option<&[TopicPartition]>) {
        if !self.inner.config.enable_auto_commit {
            return;
        }
        st.last_auto_commit = Instant::now();
        let Some(c) = &self.inner.coordinator else {
            return;
        };
        let offsets = to_offsets(&st.fetcher.positions(), only);
        if let Err(e) = c.commit(&offsets, st.subscription.group_managed()).await {
            tracing::warn!("auto commit failed: {e}");
        }
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
        let c = self.group()?.clone();
        let st = self.inner.state.lock().await;
        let offsets = to_offsets(&st.fetcher.positions(), None);
        let managed = st.subscription.group_managed();
        // The turn is taken before the state lock is released: call order is commit order.
        let turn = c.commit_turn().await;
        drop(st);
        tokio::spawn(async move {
            c.commit_in_turn_then(turn, &offsets, managed, callback)
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
        self.init_positions(&mut st).await?;
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
        Ok(list_offsets(&self.inner.client, partitions, -2)
            .await?
            .into_iter()
            .map(|(tp, (o, _))| (tp, o))
            .collect())
    }

    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        Ok(list_offsets(&self.inner.client, partitions, -1)
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

    /// Commits (with auto commit on), revokes through the listener, leaves the group and
    /// closes the connections.
    pub async fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut st = self.inner.state.lock().await;
        self.cancel_join(&mut st).await;
        if matches!(st.subscription, Subscription::Manual) {
            self.auto_commit_now(&mut st, None).await;
        }
        self.revoke_all(&mut st).await;
        if let Some(c) = &self.inner.coordinator {
            c.leave().await;
        }
        self.inner.client.close().await;
        Ok(())
    }

    pub fn close_blocking(&self) -> Result<()> {
        crate::runtime::block_on(self.close())
    }
}

type RecvFuture<K, V> =
    Pin<Box<dyn std::future::Future<Output = Result<ConsumerRecord<K, V>>> + Send>>;

/// Records as a `Stream` (see [`KafkaConsumer::stream`]).
pub struct RecordStream<K, V> {
    consumer: KafkaConsumer<K, V>,
    next: Option<RecvFuture<K, V>>,
    done: bool,
}

impl<K: Send + 'static, V: Send + 'static> Stream for RecordStream<K, V> {
    type Item = Result<ConsumerRecord<K, V>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.next.is_none() {
            let consumer = self.consumer.clone();
            self.next = Some(Box::pin(async move { consumer.recv().await }));
        }
        let fut = self.next.as_mut().expect("set above");
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                self.next = None;
                if r.is_err() {
                    self.done = true;
                }
                Poll::Ready(Some(r))
            }
        }
    }
}
