//! The fetcher: positions per partition and fetches running ahead of the application.
//!
//! Each assigned partition has a position (the next offset `poll` returns) and a fetch offset
//! (the next offset to request; ahead of the position while records are buffered). One Fetch
//! per leader is kept in flight in the background, so the next batch of records is on its way
//! while the application processes the current one. A seek bumps the partition's epoch: a
//! fetch answer for an older epoch is dropped.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;

use super::config::{ConsumerConfig, OffsetReset};
use crate::error::{KafkaError, Result};
use crate::network::{backoff, NetworkClient};
use crate::record::{decode_batches, ConsumerRecordData};
use crate::topic_partition::TopicPartition;

#[derive(Debug, Default)]
struct PartitionState {
    /// Next offset `poll` returns; `None` until initialised from a commit or a reset.
    position: Option<i64>,
    /// The fetch offset the leader answered OFFSET_OUT_OF_RANGE for: the position must come
    /// from `auto.offset.reset`, never again from the committed offset (which may be the
    /// very offset that fell below the log start).
    out_of_range: Option<i64>,
    fetch_offset: i64,
    paused: bool,
    /// Bumped by seeks and resets; fetch answers for older epochs are dropped.
    epoch: u64,
    buffered: VecDeque<ConsumerRecordData>,
    /// The leader epoch of the last record returned (committed with the offset).
    last_leader_epoch: Option<i32>,
    high_watermark: i64,
}

struct FetchResult {
    node: i32,
    requested: Vec<(TopicPartition, i64, u64)>,
    response: Result<FetchResponse>,
}

pub struct Fetcher {
    client: NetworkClient,
    config: ConsumerConfig,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    in_flight: HashSet<i32>,
    tx: mpsc::UnboundedSender<FetchResult>,
    rx: mpsc::UnboundedReceiver<FetchResult>,
    /// Partitions whose position must be reset (out of range, or no committed offset).
    pending_error: Option<KafkaError>,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// ListOffsets for each partition at `timestamp` (-2 earliest, -1 latest, else a time):
/// `(offset, timestamp)`, offset -1 when no record is that recent. Retriable errors (a leader
/// not elected yet, as right after a topic is created; a stale leader) are retried with
/// KIP-580 backoff and fresh metadata for up to `request.timeout.ms`, as the Java client's
/// offset lookups are.
pub async fn list_offsets(
    client: &NetworkClient,
    partitions: &[TopicPartition],
    timestamp: i64,
) -> Result<BTreeMap<TopicPartition, (i64, i64)>> {
    let config = client.config();
    let deadline = tokio::time::Instant::now() + config.request_timeout;
    let mut attempts = 0;
    loop {
        match list_offsets_once(client, partitions, timestamp).await {
            Err(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                tracing::debug!("ListOffsets failed, retrying: {e}");
                let wait = backoff(config.retry_backoff, config.retry_backoff_max, attempts);
                attempts += 1;
                tokio::time::sleep(wait).await;
                let topics: Vec<String> =
                    partitions.iter().map(|tp| tp.topic.to_string()).collect();
                if let Err(e) = client.refresh_metadata(&topics).await {
                    tracing::debug!("metadata refresh failed: {e}");
                }
            }
            r => return r,
        }
    }
}

async fn list_offsets_once(
    client: &NetworkClient,
    partitions: &[TopicPartition],
    timestamp: i64,
) -> Result<BTreeMap<TopicPartition, (i64, i64)>> {
    let topics: Vec<String> = partitions
        .iter()
        .map(|tp| tp.topic.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut md = client.metadata();
    if topics.iter().any(|t| md.topic(t).is_none()) {
        md = client.refresh_metadata(&topics).await?;
    }
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for tp in partitions {
        let leader = md
            .topic(&tp.topic)
            .and_then(|t| t.partitions.get(tp.partition as usize))
            .map(|p| p.leader)
            .ok_or_else(|| KafkaError::broker_for(3, &tp.topic, tp.partition))?;
        if leader < 0 {
            // No leader elected (yet): LEADER_NOT_AVAILABLE, retriable, rather than a request
            // to node -1.
            client.request_metadata_refresh();
            return Err(KafkaError::broker_for(5, &tp.topic, tp.partition));
        }
        by_leader
            .entry(leader)
            .or_default()
            .entry(tp.topic.to_string())
            .or_default()
            .push(tp.partition);
    }
    let mut out = BTreeMap::new();
    for (leader, topics) in by_leader {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(sb(&t)))
                            .with_partitions(
                                ps.into_iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(p)
                                            .with_timestamp(timestamp)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let (resp, _) = client.send(leader, req).await?;
        for t in resp.topics {
            for p in t.partitions {
                if p.error_code != 0 {
                    if matches!(p.error_code, 6 | 3) {
                        client.request_metadata_refresh();
                    }
                    return Err(KafkaError::broker_for(
                        p.error_code,
                        &t.name,
                        p.partition_index,
                    ));
                }
                out.insert(
                    TopicPartition::new(t.name.as_str(), p.partition_index),
                    (p.offset, p.timestamp),
                );
            }
        }
    }
    Ok(out)
}

impl Fetcher {
    pub fn new(client: NetworkClient, config: ConsumerConfig) -> Fetcher {
        let (tx, rx) = mpsc::unbounded_channel();
        Fetcher {
            client,
            config,
            partitions: BTreeMap::new(),
            in_flight: HashSet::new(),
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
        self.partitions.get(tp).and_then(|s| s.position)
    }

    /// Partitions still needing a starting position from their committed offset (or, without
    /// one, from `auto.offset.reset`).
    pub fn missing_positions(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.position.is_none() && s.out_of_range.is_none())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Partitions whose fetch position was out of range: reset by `auto.offset.reset` only.
    pub fn out_of_range_positions(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.position.is_none() && s.out_of_range.is_some())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Moves the position (and discards what was buffered for the partition).
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        let s = self.partitions.get_mut(tp).ok_or_else(|| {
            KafkaError::IllegalState(format!("{tp} is not assigned to this consumer"))
        })?;
        s.position = Some(offset);
        s.out_of_range = None;
        s.fetch_offset = offset;
        s.buffered.clear();
        s.epoch += 1;
        Ok(())
    }

    pub fn set_paused(&mut self, tp: &TopicPartition, paused: bool) -> Result<()> {
        let s = self.partitions.get_mut(tp).ok_or_else(|| {
            KafkaError::IllegalState(format!("{tp} is not assigned to this consumer"))
        })?;
        s.paused = paused;
        Ok(())
    }

    pub fn paused(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Current positions, as offsets to commit.
    pub fn positions(&self) -> BTreeMap<TopicPartition, (i64, Option<i32>)> {
        self.partitions
            .iter()
            .filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), (p, s.last_leader_epoch))))
            .collect()
    }

    /// Resets positions with `auto.offset.reset` (or fails for `none`).
    pub async fn reset_positions(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        if partitions.is_empty() {
            return Ok(());
        }
        let ts = match self.config.auto_offset_reset {
            OffsetReset::Earliest => -2,
            OffsetReset::Latest => -1,
            OffsetReset::None => {
                let tp = &partitions[0];
                let message = match self.partitions.get(tp).and_then(|s| s.out_of_range) {
                    Some(offset) => format!(
                        "fetch position {offset} is out of range and auto.offset.reset=none"
                    ),
                    None => "no committed offset and auto.offset.reset=none".into(),
                };
                return Err(KafkaError::Broker {
                    code: 1,
                    name: "OFFSET_OUT_OF_RANGE",
                    topic: Some(tp.topic.to_string()),
                    partition: Some(tp.partition),
                    message: Some(message),
                });
            }
        };
        // Inside poll: a retriable failure leaves the positions missing, and the next pass
        // of poll's loop (with the metadata refresh it asked for) tries again.
        let offsets = match list_offsets_once(&self.client, partitions, ts).await {
            Err(e) if e.is_retriable() => {
                tracing::debug!("position reset deferred: {e}");
                self.client.request_metadata_refresh();
                return Ok(());
            }
            r => r?,
        };
        for (tp, (offset, _)) in offsets {
            if self.partitions.contains_key(&tp) {
                tracing::debug!(%tp, offset, "resetting position");
                self.seek(&tp, offset)?;
            }
        }
        Ok(())
    }

    /// Starts a fetch for every leader with fetchable partitions and none in flight.
    pub fn start_fetches(&mut self) {
        let md = self.client.metadata();
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64, u64)>> = BTreeMap::new();
        let mut missing_leader: BTreeSet<String> = BTreeSet::new();
        for (tp, s) in &self.partitions {
            if s.paused || s.position.is_none() || !s.buffered.is_empty() {
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
            by_leader
                .entry(leader)
                .or_default()
                .push((tp.clone(), s.fetch_offset, s.epoch));
        }
        if !missing_leader.is_empty() {
            self.client.track_topics(missing_leader);
        }
        for (node, requested) in by_leader {
            let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
            for (tp, offset, _) in &requested {
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
                .with_session_epoch(-1)
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
                    requested,
                    response,
                });
            });
        }
    }

    pub fn has_buffered(&self) -> bool {
        self.partitions
            .values()
            .any(|s| !s.buffered.is_empty() && !s.paused)
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
        let response = match result.response {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(node = result.node, "fetch failed: {e}");
                self.client.request_metadata_refresh();
                return;
            }
        };
        if response.error_code != 0 {
            tracing::debug!(code = response.error_code, "fetch error");
            return;
        }
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
                match p.error_code {
                    0 => {}
                    1 => {
                        tracing::info!(%tp, offset, "fetch offset out of range; resetting");
                        state.position = None;
                        state.out_of_range = Some(offset);
                        state.buffered.clear();
                        state.epoch += 1;
                        continue;
                    }
                    code => {
                        if matches!(code, 3 | 5 | 6 | 74 | 75) {
                            self.client.request_metadata_refresh();
                        }
                        tracing::debug!(%tp, code, "fetch partition error");
                        continue;
                    }
                }
                state.high_watermark = p.high_watermark;
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
                        state.buffered.extend(records);
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
        let mut out = Vec::new();
        for (tp, s) in self.partitions.iter_mut() {
            if s.paused {
                continue;
            }
            while out.len() < max {
                let Some(r) = s.buffered.pop_front() else {
                    break;
                };
                s.position = Some(r.offset + 1);
                s.last_leader_epoch = Some(r.leader_epoch).filter(|e| *e >= 0);
                out.push((tp.clone(), r));
            }
            if out.len() >= max {
                break;
            }
        }
        out
    }

    /// Puts drained records back at the head of their partitions' buffers and moves each
    /// position back to the first of them (a record that could not be deserialized).
    pub fn undrain(&mut self, records: Vec<(TopicPartition, ConsumerRecordData)>) {
        for (tp, r) in records.into_iter().rev() {
            if let Some(s) = self.partitions.get_mut(&tp) {
                s.position = Some(r.offset);
                s.buffered.push_front(r);
            }
        }
    }
}
