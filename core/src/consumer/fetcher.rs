//! The fetcher: positions per partition and fetches running ahead of the application.
//!
//! Each assigned partition has a fetch state ([`super::fetch_position`]: awaiting its
//! committed offset or a reset, fetching, paused) and a fetch offset (the next offset to
//! request; ahead of the position while records are buffered). One Fetch per leader is kept in
//! flight in the background, so the next batch of records is on its way while the application
//! processes the current one. A seek bumps the partition's epoch: a fetch answer for an older
//! epoch is dropped. Each leader's fetches run in a fetch session (`fetch_session.rs`, KIP-227)
//! when the broker offers one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;

use super::config::ConsumerConfig;
use super::fetch_position::{FetchState, TopicPartitionState};
use super::fetch_session::{forgotten_topics, FetchSession};
use super::list_offsets::list_offsets_once;
use crate::error::{KafkaError, Result};
use crate::network::NetworkClient;
use crate::record::{decode_batches, ConsumerRecordData};
use crate::topic_partition::TopicPartition;

struct FetchResult {
    node: i32,
    /// The session epoch the request carried.
    session_epoch: i32,
    requested: Vec<(TopicPartition, i64, u64)>,
    response: Result<FetchResponse>,
}

pub struct Fetcher {
    client: NetworkClient,
    config: ConsumerConfig,
    /// The assignment, each partition with its fetch state and buffered records.
    partitions: BTreeMap<TopicPartition, TopicPartitionState>,
    /// Leaders with a Fetch in flight (at most one each).
    in_flight: HashSet<i32>,
    /// The fetch session with each leader.
    sessions: HashMap<i32, FetchSession>,
    tx: mpsc::UnboundedSender<FetchResult>,
    rx: mpsc::UnboundedReceiver<FetchResult>,
    /// A fetch problem `poll` must report (corrupt data).
    pending_error: Option<KafkaError>,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Fetcher {
    pub fn new(client: NetworkClient, config: ConsumerConfig) -> Fetcher {
        let (tx, rx) = mpsc::unbounded_channel();
        Fetcher {
            client,
            config,
            partitions: BTreeMap::new(),
            in_flight: HashSet::new(),
            sessions: HashMap::new(),
            tx,
            rx,
            pending_error: None,
        }
    }

    /// Sets the assignment: new partitions start without a position, dropped ones forget theirs.
    pub fn assign(&mut self, partitions: &[TopicPartition]) {
        let keep: BTreeSet<&TopicPartition> = partitions.iter().collect();
        self.partitions.retain(|tp, _| keep.contains(tp));
        for tp in partitions {
            self.partitions.entry(tp.clone()).or_default();
        }
    }

    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    pub fn is_assigned(&self, tp: &TopicPartition) -> bool {
        self.partitions.contains_key(tp)
    }

    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp).and_then(|s| s.position())
    }

    /// The high watermark the last fetch response reported for `tp`, if one did.
    pub fn high_watermark(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions
            .get(tp)
            .filter(|s| s.high_watermark_known)
            .map(|s| s.high_watermark)
    }

    fn partition_mut(&mut self, tp: &TopicPartition) -> Result<&mut TopicPartitionState> {
        self.partitions.get_mut(tp).ok_or_else(|| {
            KafkaError::IllegalState(format!("{tp} is not assigned to this consumer"))
        })
    }

    /// Partitions awaiting their committed offset (OffsetFetch).
    pub fn awaiting_committed_offset(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| matches!(s.state, FetchState::AwaitingCommittedOffset { .. }))
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// The partitions still awaiting a committed offset have none: they await a reset by
    /// `auto.offset.reset` (with `none`, they stay and this fails naming the first).
    pub fn no_committed_offset(&mut self) -> Result<()> {
        let strategy = self.config.auto_offset_reset;
        self.partitions
            .iter_mut()
            .try_for_each(|(tp, s)| s.state.no_committed_offset(strategy, tp))
    }

    /// Moves the position (and discards what was buffered for the partition).
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.partition_mut(tp)?.seek(offset);
        Ok(())
    }

    pub fn set_paused(&mut self, tp: &TopicPartition, paused: bool) -> Result<()> {
        self.partition_mut(tp)?.state.set_paused(paused);
        Ok(())
    }

    pub fn paused(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.state.is_paused())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Current positions, as offsets to commit.
    pub fn positions(&self) -> BTreeMap<TopicPartition, (i64, Option<i32>)> {
        self.partitions
            .iter()
            .filter_map(|(tp, s)| s.position().map(|p| (tp.clone(), (p, s.last_leader_epoch))))
            .collect()
    }

    /// Resets the positions awaiting a reset, with ListOffsets by their strategy (failing,
    /// naming the partition, for `none`).
    pub async fn reset_positions(&mut self) -> Result<()> {
        let mut by_spec: BTreeMap<i64, Vec<TopicPartition>> = BTreeMap::new();
        for (tp, s) in &self.partitions {
            if let Some(spec) = s.state.reset_timestamp(tp) {
                by_spec.entry(spec?).or_default().push(tp.clone());
            }
        }
        for (spec, partitions) in by_spec {
            // Inside poll: a retriable failure leaves the positions awaiting the reset, and the
            // next pass of poll's loop (with the metadata refresh it asked for) tries again.
            let offsets = match list_offsets_once(&self.client, &partitions, spec).await {
                Err(e) if e.is_retriable() => {
                    tracing::debug!("position reset deferred: {e}");
                    self.client.request_metadata_refresh();
                    continue;
                }
                r => r?,
            };
            for (tp, (offset, _)) in offsets {
                if let Some(s) = self.partitions.get_mut(&tp) {
                    tracing::debug!(%tp, offset, "resetting position");
                    s.seek(offset);
                }
            }
        }
        Ok(())
    }

    /// Starts a fetch for every leader with fetchable partitions and none in flight.
    ///
    /// A leader whose fetchable partitions are all caught up (at the high watermark of their
    /// last answer) while others of its partitions still have records buffered gets no fetch
    /// yet: the broker would hold that fetch for `fetch.max.wait.ms`, and the buffered
    /// partitions, once drained, could not be fetched before it returned (one fetch in flight
    /// per leader). Their next fetch goes out with them when they are drained.
    pub fn start_fetches(&mut self) {
        let md = self.client.metadata();
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64, u64)>> = BTreeMap::new();
        // Per leader: (a fetchable partition may have records, a partition is being drained).
        let mut leader_state: BTreeMap<i32, (bool, bool)> = BTreeMap::new();
        let mut missing_leader: BTreeSet<String> = BTreeSet::new();
        for (tp, s) in &self.partitions {
            let fetchable = s.fetchable();
            let draining = s.has_records();
            if !fetchable && !draining {
                continue;
            }
            let leader = md
                .topic(&tp.topic)
                .and_then(|t| t.partitions.get(tp.partition as usize))
                .map_or(-1, |p| p.leader);
            if leader < 0 {
                missing_leader.insert(tp.topic.to_string());
                continue;
            }
            if self.in_flight.contains(&leader) {
                continue;
            }
            let seen = leader_state.entry(leader).or_default();
            if draining {
                seen.1 = true;
                continue;
            }
            seen.0 |= s.high_watermark < 0 || s.fetch_offset < s.high_watermark;
            by_leader
                .entry(leader)
                .or_default()
                .push((tp.clone(), s.fetch_offset, s.epoch));
        }
        if !missing_leader.is_empty() {
            self.client.track_topics(missing_leader);
        }
        by_leader.retain(|node, _| {
            let (may_have_records, draining) = leader_state.get(node).copied().unwrap_or_default();
            may_have_records || !draining
        });
        for (node, requested) in by_leader {
            let wanted: Vec<(TopicPartition, i64)> = requested
                .iter()
                .map(|(tp, offset, _)| (tp.clone(), *offset))
                .collect();
            let session = self.sessions.entry(node).or_default().request(&wanted);
            let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
            for (tp, offset) in &session.partitions {
                topics.entry(tp.topic.to_string()).or_default().push(
                    FetchPartition::default()
                        .with_partition(tp.partition)
                        .with_fetch_offset(*offset)
                        .with_partition_max_bytes(self.config.max_partition_fetch_bytes)
                        .with_log_start_offset(-1),
                );
            }
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(self.config.fetch_max_wait.as_millis() as i32)
                .with_min_bytes(self.config.fetch_min_bytes)
                .with_max_bytes(self.config.fetch_max_bytes)
                .with_isolation_level(if self.config.read_committed { 1 } else { 0 })
                .with_session_id(session.session_id)
                .with_session_epoch(session.epoch)
                .with_forgotten_topics_data(forgotten_topics(&session.forgotten))
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            FetchTopic::default()
                                .with_topic(TopicName(sb(&t)))
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            self.in_flight.insert(node);
            let client = self.client.clone();
            let tx = self.tx.clone();
            let timeout = self.config.client.request_timeout + self.config.fetch_max_wait;
            tokio::spawn(async move {
                let response = client
                    .send_with_timeout(node, req, timeout)
                    .await
                    .map(|(r, _)| r);
                let _ = tx.send(FetchResult {
                    node,
                    session_epoch: session.epoch,
                    requested,
                    response,
                });
            });
        }
    }

    pub fn has_buffered(&self) -> bool {
        self.partitions.values().any(|s| s.has_records())
    }

    /// Waits for one fetch answer (or `deadline`) and buffers its records; returns false on
    /// timeout.
    pub async fn await_fetch(&mut self, deadline: tokio::time::Instant) -> bool {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some(result)) => {
                self.handle(result);
                true
            }
            _ => false,
        }
    }

    /// Buffers fetch answers that already arrived, without waiting.
    pub fn collect_ready(&mut self) {
        while let Ok(result) = self.rx.try_recv() {
            self.handle(result);
        }
    }

    fn handle(&mut self, result: FetchResult) {
        self.in_flight.remove(&result.node);
        let session = self.sessions.entry(result.node).or_default();
        let response = match result.response {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(node = result.node, "fetch failed: {e}");
                session.reset();
                self.client.request_metadata_refresh();
                return;
            }
        };
        if let Some(e) = ResponseError::try_from_code(response.error_code) {
            // FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, or any other: the next
            // fetch starts a new session.
            tracing::debug!(code = e.code(), "fetch error: {e}");
            session.reset();
            return;
        }
        session.answered(result.session_epoch, response.session_id);
        let requested: BTreeMap<TopicPartition, (i64, u64)> = result
            .requested
            .into_iter()
            .map(|(tp, o, e)| (tp, (o, e)))
            .collect();
        for t in response.responses {
            for p in t.partitions {
                let tp = TopicPartition::new(t.topic.as_str(), p.partition_index);
                let Some(&(offset, epoch)) = requested.get(&tp) else {
                    continue;
                };
                let Some(state) = self.partitions.get_mut(&tp) else {
                    continue;
                };
                if state.epoch != epoch || state.fetch_offset != offset {
                    continue; // seeked, reset or reassigned since the request left
                }
                match ResponseError::try_from_code(p.error_code) {
                    None => {}
                    Some(ResponseError::OffsetOutOfRange) => {
                        tracing::info!(%tp, offset, "fetch offset out of range; resetting");
                        state.out_of_range(offset, self.config.auto_offset_reset);
                        continue;
                    }
                    Some(e) => {
                        if matches!(
                            e,
                            ResponseError::UnknownTopicOrPartition
                                | ResponseError::LeaderNotAvailable
                                | ResponseError::NotLeaderOrFollower
                                | ResponseError::FencedLeaderEpoch
                                | ResponseError::UnknownLeaderEpoch
                        ) {
                            self.client.request_metadata_refresh();
                        }
                        tracing::debug!(%tp, code = e.code(), "fetch partition error: {e}");
                        continue;
                    }
                }
                state.high_watermark = p.high_watermark;
                state.high_watermark_known = true;
                let Some(data) = p.records else { continue };
                if data.is_empty() {
                    continue;
                }
                let aborted: Option<Vec<(i64, i64)>> = if self.config.read_committed {
                    Some(
                        p.aborted_transactions
                            .unwrap_or_default()
                            .iter()
                            .map(|a| (a.producer_id.0, a.first_offset))
                            .collect(),
                    )
                } else {
                    None
                };
                match decode_batches(&data, offset, self.config.check_crcs, aborted.as_deref()) {
                    Ok((records, next)) => {
                        let after_last = records.last().map(|r| r.offset + 1);
                        state.fetch_offset = after_last.or(next).unwrap_or(offset).max(offset);
                        // An empty buffer takes the decoded Vec's allocation as it is.
                        if state.buffered.is_empty() {
                            state.buffered = records.into();
                        } else {
                            state.buffered.extend(records);
                        }
                    }
                    Err(e) => {
                        self.pending_error = Some(KafkaError::Protocol(format!("{tp}: {e}")));
                    }
                }
            }
        }
    }

    /// A fetch problem that poll must report (corrupt data).
    pub fn take_error(&mut self) -> Option<KafkaError> {
        self.pending_error.take()
    }

    /// Up to `max` buffered records across partitions, advancing positions.
    pub fn drain(&mut self, max: usize) -> Vec<(TopicPartition, ConsumerRecordData)> {
        let buffered: usize = self.partitions.values().map(|s| s.buffered.len()).sum();
        let mut out = Vec::with_capacity(buffered.min(max));
        self.drain_with(max, |tp, r| out.push((tp.clone(), r)));
        out
    }

    /// `drain` handing each record to `visit` instead of collecting them; returns how many.
    pub fn drain_with(
        &mut self,
        max: usize,
        mut visit: impl FnMut(&TopicPartition, ConsumerRecordData),
    ) -> usize {
        let mut n = 0;
        for (tp, s) in self.partitions.iter_mut() {
            while n < max {
                let Some(r) = s.take() else {
                    break;
                };
                visit(tp, r);
                n += 1;
            }
            if n >= max {
                break;
            }
        }
        n
    }

    /// Puts drained records back at the head of their partitions' buffers and moves each
    /// position back to the first of them (a record that could not be deserialized).
    pub fn undrain(&mut self, records: Vec<(TopicPartition, ConsumerRecordData)>) {
        for (tp, r) in records.into_iter().rev() {
            if let Some(s) = self.partitions.get_mut(&tp) {
                s.untake(r);
            }
        }
    }
}
