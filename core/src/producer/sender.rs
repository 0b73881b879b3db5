//! The sender: a background task that turns ready batches into Produce requests.
//!
//! Each loop it drains ready batches (one per partition), groups them by leader into requests
//! of at most `max.request.size`, and sends each request as its own task while the leader has
//! fewer than `max.in.flight.requests.per.connection` outstanding. Responses complete records,
//! schedule retries (KIP-580 backoff, within `delivery.timeout.ms`), ask for a metadata refresh
//! on leader errors, and wake the loop. A leader that throttles the producer (KIP-219) takes
//! no batch until its throttle time has passed; the loop wakes then.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProducerId};
use tokio::sync::mpsc;
use tokio::time::Instant;

use kafka_protocol::error::ResponseError;

use super::accumulator::{ProducerBatch, RecordAccumulator};
use super::config::ProducerConfig;
use super::idempotence::{NextStep, ProducerIdAndEpoch, ProducerIdState};
use super::metrics::Metrics;
use super::produce_request::{ProduceRequestBody, TopicBatches};
use super::transactions::TransactionManager;
use crate::error::{KafkaError, Result};
use crate::network::{backoff, versions, NetworkClient};
use crate::topic_partition::TopicPartition;

pub struct Sender {
    pub client: NetworkClient,
    pub acc: Arc<RecordAccumulator>,
    pub config: ProducerConfig,
    pub metrics: Arc<Metrics>,
    /// The producer id and epoch (`idempotence.rs`); `Uninitialized` (batches carry -1)
    /// without idempotence.
    producer_id: Mutex<ProducerIdState>,
    in_flight: Mutex<HashMap<i32, usize>>,
    /// Each broker's I/O task, fed in drain order.
    sinks: Mutex<HashMap<i32, mpsc::UnboundedSender<Vec<ProducerBatch>>>>,
    pub closing: AtomicBool,
    /// With `transactional.id`: the transaction's state (`transactions.rs`). Its producer id
    /// comes from `init_transactions`, not from the loop.
    pub txn: Option<Arc<TransactionManager>>,
}

/// Errors after which the partition's leader may have moved.
fn is_leader_error(code: i16) -> bool {
    use ResponseError::*;
    matches!(
        ResponseError::try_from_code(code),
        Some(
            UnknownTopicOrPartition
                | LeaderNotAvailable
                | NotLeaderOrFollower
                | NetworkException
                | NotEnoughReplicas
                | NotEnoughReplicasAfterAppend
        )
    )
}

impl Sender {
    pub fn new(
        client: NetworkClient,
        acc: Arc<RecordAccumulator>,
        config: ProducerConfig,
        metrics: Arc<Metrics>,
        txn: Option<Arc<TransactionManager>>,
    ) -> Sender {
        Sender {
            txn,
            client,
            acc,
            config,
            metrics,
            producer_id: Mutex::new(ProducerIdState::default()),
            in_flight: Mutex::new(HashMap::new()),
            sinks: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
        }
    }

    fn total_in_flight(&self) -> usize {
        self.in_flight.lock().unwrap().values().sum()
    }

    /// Whether batches may be drained (the producer id state machine is `Ready`); starts an
    /// InitProducerId, on a task of its own that wakes the loop when done, for a first id or
    /// for a due epoch bump (KIP-360) once nothing is in flight.
    fn producer_id_ready(self: &Arc<Self>) -> bool {
        if let Some(txn) = &self.txn {
            // A batch that failed for good (say, expired) leaves the transaction abortable.
            if self.acc.sequence_gap.swap(false, Ordering::AcqRel) {
                txn.batch_failed(
                    &KafkaError::Timeout("a batch of the transaction expired".into()),
                    true,
                );
            }
            return matches!(*self.producer_id.lock().unwrap(), ProducerIdState::Ready(_));
        }
        let in_flight = self.total_in_flight();
        let step = {
            let mut state = self.producer_id.lock().unwrap();
            // A batch failed for good holding sequence numbers the broker still expects.
            if matches!(*state, ProducerIdState::Ready(_))
                && self.acc.sequence_gap.swap(false, Ordering::AcqRel)
            {
                state.bump_due();
            }
            state.next_step(in_flight)
        };
        let current = match step {
            NextStep::Send(_) => return true,
            NextStep::Wait => return false,
            NextStep::Request(current) => current,
        };
        self.acc.sequence_gap.store(false, Ordering::Release);
        let sender = self.clone();
        tokio::spawn(async move {
            match sender.init_producer_id(current).await {
                Ok(assigned) => {
                    if sender.producer_id.lock().unwrap().assigned(assigned) {
                        sender.acc.reset_sequences();
                    }
                }
                Err(e) => {
                    sender.acc.abort_all(KafkaError::Fatal(format!(
                        "cannot obtain a producer id: {e}"
                    )));
                    // Still `Requesting` while backing off: no new request before then.
                    tokio::time::sleep(sender.config.client.retry_backoff).await;
                    sender.producer_id.lock().unwrap().failed(&e);
                }
            }
            sender.acc.wake.notify_one();
        });
        false
    }

    /// The id and epoch batches are written under.
    pub fn producer_ids(&self) -> ProducerIdAndEpoch {
        self.producer_id.lock().unwrap().current()
    }

    /// A transactional producer's id and epoch from `init_transactions` (or a bump): batches
    /// go out under it, every partition's sequences from 0.
    pub fn set_producer_ids(&self, ids: ProducerIdAndEpoch) {
        *self.producer_id.lock().unwrap() = ProducerIdState::Ready(ids);
        self.acc.reset_sequences();
    }

    /// Adds the partitions sends named to the transaction, one AddPartitionsToTxn at a time;
    /// if that fails their queued batches fail with its error.
    fn add_pending_partitions(self: &Arc<Self>, txn: &Arc<TransactionManager>) {
        let Some(partitions) = txn.take_pending() else {
            return;
        };
        let sender = self.clone();
        let txn = txn.clone();
        tokio::spawn(async move {
            let ids = sender.producer_ids();
            if let Err(e) = txn.add_partitions(partitions.clone(), ids).await {
                sender.acc.abort_where(|tp| partitions.contains(tp), e);
            }
            sender.acc.wake.notify_one();
        });
    }

    /// Hands a Produce request to `leader`'s I/O task (started on first use), which writes
    /// its requests in the order handed over: a partition's sequences reach the broker in
    /// order. The task holds the sender weakly, so it ends with the producer.
    fn hand_over(self: &Arc<Self>, leader: i32, batches: Vec<ProducerBatch>) {
        let mut sinks = self.sinks.lock().unwrap();
        let sink = sinks.entry(leader).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<ProducerBatch>>();
            let sender = Arc::downgrade(self);
            tokio::spawn(async move {
                while let Some(batches) = rx.recv().await {
                    let Some(sender) = sender.upgrade() else {
                        return;
                    };
                    sender.send_request(leader, batches).await;
                }
            });
            tx
        });
        if let Err(returned) = sink.send(batches) {
            // The task is gone (a panic): a fresh one takes the request.
            sinks.remove(&leader);
            drop(sinks);
            self.hand_over(leader, returned.0);
        }
    }

    /// InitProducerId: a new id (`current` NONE), or (KIP-360) the same id with a bumped epoch.
    async fn init_producer_id(&self, current: ProducerIdAndEpoch) -> Result<ProducerIdAndEpoch> {
        let mut attempt = 0;
        loop {
            let node = self.client.least_loaded_node().await?;
            // The crate's default transactional id is "" (not null), which Kafka
            // rejects with INVALID_REQUEST: an idempotent producer sends null.
            let req = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(-1)
                .with_producer_id(ProducerId(current.id))
                .with_producer_epoch(current.epoch);
            match self.client.send(node, req).await {
                Ok((resp, _)) if resp.error_code == 0 => {
                    tracing::debug!(
                        producer_id = resp.producer_id.0,
                        epoch = resp.producer_epoch,
                        "producer id assigned"
                    );
                    return Ok(ProducerIdAndEpoch {
                        id: resp.producer_id.0,
                        epoch: resp.producer_epoch,
                    });
                }
                Ok((resp, _)) if !KafkaError::broker(resp.error_code).is_retriable() => {
                    return Err(KafkaError::broker(resp.error_code))
                }
                Ok(_) | Err(_) if attempt < 50 && !self.closing.load(Ordering::Acquire) => {
                    attempt += 1;
                    tokio::time::sleep(backoff(
                        self.config.client.retry_backoff,
                        self.config.client.retry_backoff_max,
                        attempt,
                    ))
                    .await;
                }
                Ok((resp, _)) => return Err(KafkaError::broker(resp.error_code)),
                Err(e) => return Err(e),
            }
        }
    }

    /// The sender loop; returns when closing and every record completed. It never waits on
    /// the network: InitProducerId runs as a task of its own, and each broker's requests are
    /// written by that broker's I/O task (`hand_over`), so a slow or unreachable broker
    /// holds up only its own partitions and `delivery.timeout.ms` keeps firing.
    pub async fn run(self: Arc<Self>) {
        let idempotent = self.config.enable_idempotence;
        loop {
            let wake = self.acc.wake.notified();
            let now = Instant::now();
            if self.closing.load(Ordering::Acquire) && self.acc.incomplete() == 0 {
                self.sinks.lock().unwrap().clear();
                return;
            }
            self.acc.expire(now);
            if idempotent && !self.producer_id_ready() {
                tokio::select! {
                    _ = wake => {}
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
                continue;
            }
            if let Some(txn) = &self.txn {
                self.add_pending_partitions(txn);
            }
            let md = self.client.metadata();
            let missing_leader = std::cell::Cell::new(false);
            let leader_of = |tp: &TopicPartition| -> i32 {
                let leader = md
                    .topic(&tp.topic)
                    .and_then(|t| t.partitions.get(tp.partition as usize))
                    .map_or(-1, |p| p.leader);
                leader
            };
            let closing = self.closing.load(Ordering::Acquire);
            // The earliest end of a throttle that kept a leader from taking a batch.
            let throttle_ends: std::cell::Cell<Option<Instant>> = Default::default();
            let (drained, next) = {
                // Requests are packed here as `split_by_size` will pack them, so a drain never
                // makes more requests than `max.in.flight.requests.per.connection` leaves room for.
                let max_in_flight = self.config.max_in_flight;
                let max_request_size = self.config.max_request_size;
                let in_flight_now = self.in_flight.lock().unwrap().clone();
                // Per leader: requests this drain opens, and the bytes in the last of them.
                let packing: std::cell::RefCell<HashMap<i32, (usize, usize)>> = Default::default();
                let can_send = |node: i32, size: usize| {
                    let mut packing = packing.borrow_mut();
                    let (requests, last) = packing.entry(node).or_insert((0, 0));
                    if *requests > 0 && *last + size <= max_request_size {
                        *last += size;
                        return true;
                    }
                    // A throttled broker (KIP-219) would not read a request before the throttle
                    // ends: the batches wait here, where linger and expiry still apply.
                    if let Some(until) = self.client.throttled_until(node) {
                        throttle_ends
                            .set(Some(throttle_ends.get().map_or(until, |t| t.min(until))));
                        return false;
                    }
                    let busy = in_flight_now.get(&node).copied().unwrap_or(0) + *requests;
                    // A broker not connected yet (or unreachable) gets one request, which
                    // makes its I/O task connect; the rest wait here, where they expire.
                    if busy >= max_in_flight || (busy > 0 && !self.client.is_connected(node)) {
                        return false;
                    }
                    *requests += 1;
                    *last = size;
                    true
                };
                self.acc.drain(
                    now,
                    closing,
                    &|tp| {
                        // A partition not yet in the transaction waits for AddPartitionsToTxn.
                        if self.txn.as_ref().is_some_and(|t| !t.may_send(tp)) {
                            return -1;
                        }
                        let l = leader_of(tp);
                        if l < 0 {
                            missing_leader.set(true);
                        }
                        l
                    },
                    &can_send,
                    idempotent,
                )
            };
            if missing_leader.get() {
                self.client.request_metadata_refresh();
            }
            let mut by_leader: BTreeMap<i32, Vec<ProducerBatch>> = BTreeMap::new();
            for d in drained {
                by_leader.entry(d.leader).or_default().push(d.batch);
            }
            for (leader, batches) in by_leader {
                for request in self.split_by_size(batches) {
                    *self.in_flight.lock().unwrap().entry(leader).or_default() += 1;
                    self.hand_over(leader, request);
                }
            }
            let mut sleep_until = next.unwrap_or(now + Duration::from_millis(100));
            if let Some(throttle_end) = throttle_ends.get() {
                sleep_until = sleep_until.min(throttle_end);
            }
            let sleep_until = sleep_until.max(now + Duration::from_micros(100));
            tokio::select! {
                _ = wake => {}
                _ = tokio::time::sleep_until(sleep_until) => {}
            }
        }
    }

    /// Groups batches into requests of at most `max.request.size`.
    fn split_by_size(&self, batches: Vec<ProducerBatch>) -> Vec<Vec<ProducerBatch>> {
        let mut out: Vec<Vec<ProducerBatch>> = Vec::new();
        let mut size = 0usize;
        for b in batches {
            let s = b.uncompressed_size();
            // The same rule as the drain's packing in `run`.
            if out.is_empty() || size + s > self.config.max_request_size {
                out.push(Vec::new());
                size = 0;
            }
            size += s;
            out.last_mut().unwrap().push(b);
        }
        out
    }

    /// Writes one Produce request, then handles its response on a task of its own.
    async fn send_request(self: Arc<Self>, leader: i32, mut batches: Vec<ProducerBatch>) {
        let ProducerIdAndEpoch { id: pid, epoch } = self.producer_id.lock().unwrap().current();
        let mut topics: Vec<TopicBatches> = Vec::new();
        let mut keep = Vec::with_capacity(batches.len());
        for mut b in batches.drain(..) {
            match self.acc.encode(&mut b, pid, epoch) {
                Ok(bytes) => {
                    self.metrics
                        .uncompressed_bytes
                        .fetch_add(b.uncompressed_size() as u64, Ordering::Relaxed);
                    self.metrics
                        .bytes_sent
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    // A request has a few topics: a scan beats a map.
                    match topics.iter_mut().find(|(t, _)| *t == b.tp.topic) {
                        Some((_, parts)) => parts.push((b.tp.partition, bytes)),
                        None => topics.push((b.tp.topic.clone(), vec![(b.tp.partition, bytes)])),
                    }
                    keep.push(b);
                }
                Err(e) => self.acc.fail(b, e, true),
            }
        }
        let request = ProduceRequestBody {
            transactional_id: self.txn.as_ref().map(|t| t.transactional_id.clone()),
            acks: self.config.acks,
            timeout_ms: self.config.client.request_timeout.as_millis() as i32,
            topics,
        };
        // Produce v12 adds the partition to the transaction (KIP-890): only when the
        // transaction follows version 2.
        let cap = match &self.txn {
            Some(t) if t.protocol_v2() => versions::PRODUCE_TRANSACTION_V1_MAX + 1,
            _ => versions::PRODUCE_TRANSACTION_V1_MAX,
        };
        let started = Instant::now();
        if self.config.acks == 0 {
            let sent = self
                .client
                .send_written_no_response::<ProduceRequest>(leader, cap, |f, v| request.write(f, v))
                .await;
            for b in keep {
                match &sent {
                    Ok(_) => self.complete_ok(b, -1, -1),
                    Err(e) => self.retry_or_fail(b, e.clone()),
                }
            }
            self.request_finished(leader);
            return;
        }
        match self
            .client
            .start_written::<ProduceRequest>(leader, cap, |f, v| request.write(f, v))
            .await
        {
            Err(e) => {
                self.failed_request(leader, keep, e);
                self.request_finished(leader);
            }
            Ok(in_flight) => {
                tokio::spawn(async move {
                    match in_flight.response().await {
                        Err(e) => self.failed_request(leader, keep, e),
                        Ok((resp, _)) => {
                            self.metrics.request_done(started.elapsed());
                            self.metrics.produce_throttled(resp.throttle_time_ms);
                            self.handle_response(resp, keep);
                        }
                    }
                    self.request_finished(leader);
                });
            }
        }
    }

    fn request_finished(&self, leader: i32) {
        if let Some(n) = self.in_flight.lock().unwrap().get_mut(&leader) {
            *n = n.saturating_sub(1);
        }
        self.acc.wake.notify_one();
    }

    fn failed_request(&self, leader: i32, batches: Vec<ProducerBatch>, e: KafkaError) {
        tracing::debug!(leader, "produce request failed: {e}");
        self.client.request_metadata_refresh();
        for b in batches {
            self.retry_or_fail(b, e.clone());
        }
    }

    fn handle_response(
        &self,
        resp: kafka_protocol::messages::ProduceResponse,
        batches: Vec<ProducerBatch>,
    ) {
        let mut results: HashMap<(String, i32), _> = HashMap::new();
        for t in resp.responses {
            for p in t.partition_responses {
                results.insert((t.name.to_string(), p.index), p);
            }
        }
        for b in batches {
            let Some(p) = results.remove(&(b.tp.topic.to_string(), b.tp.partition)) else {
                self.retry_or_fail(
                    b,
                    KafkaError::Protocol("the broker did not answer for a partition".into()),
                );
                continue;
            };
            match p.error_code {
                0 => self.complete_ok(b, p.base_offset, p.log_append_time_ms),
                // DUPLICATE_SEQUENCE_NUMBER: the broker already has this batch (a retry of an
                // acknowledged send).
                46 => self.complete_ok(b, p.base_offset, p.log_append_time_ms),
                code => {
                    let err = KafkaError::Broker {
                        code,
                        name: crate::error::error_name(code),
                        topic: Some(b.tp.topic.to_string()),
                        partition: Some(b.tp.partition),
                        message: p.error_message.map(|m| m.to_string()),
                    };
                    if is_leader_error(code) {
                        self.client.request_metadata_refresh();
                    }
                    // UNKNOWN_PRODUCER_ID, or OUT_OF_ORDER_SEQUENCE for the very batch the broker
                    // should expect next: the broker's sequence for this producer is not ours,
                    // and the batch is retried after an epoch bump restarts the sequences. An
                    // OUT_OF_ORDER_SEQUENCE behind an earlier batch still on its way is only
                    // retried, in order: the earlier one may have been written, and a bump
                    // would give it a new sequence and a second copy.
                    let out_of_sync = code == ResponseError::UnknownProducerId.code()
                        || (code == ResponseError::OutOfOrderSequenceNumber.code()
                            && self.acc.is_next_sequence(&b.tp, b.base_sequence));
                    if out_of_sync && self.config.enable_idempotence && self.txn.is_none() {
                        self.producer_id.lock().unwrap().bump_due();
                    }
                    self.retry_or_fail(b, err);
                }
            }
        }
    }

    fn complete_ok(&self, b: ProducerBatch, base_offset: i64, log_append_time: i64) {
        self.metrics
            .records_sent
            .fetch_add(b.record_count() as u64, Ordering::Relaxed);
        self.metrics.batches_sent.fetch_add(1, Ordering::Relaxed);
        self.acc.succeed(b, base_offset, log_append_time);
    }

    /// Retriable errors (and, with idempotence, out-of-order sequences caused by an earlier
    /// failed batch, or a forgotten producer id) go back to the queue; the rest fail.
    fn retry_or_fail(&self, b: ProducerBatch, e: KafkaError) {
        let code = e.code();
        // In a transaction a sequence error cannot be mended by an epoch bump under way: the
        // transaction aborts (and the epoch is bumped then).
        let retriable = e.is_retriable()
            || (self.config.enable_idempotence
                && self.txn.is_none()
                && matches!(
                    code.and_then(ResponseError::try_from_code),
                    Some(
                        ResponseError::OutOfOrderSequenceNumber | ResponseError::UnknownProducerId
                    )
                ));
        if retriable && self.config.retries > 0 {
            self.metrics
                .retries
                .fetch_add(b.record_count() as u64, Ordering::Relaxed);
            let delay = backoff(
                self.config.client.retry_backoff,
                self.config.client.retry_backoff_max,
                b.attempts,
            );
            self.acc.retry(b, e, delay);
        } else {
            self.metrics
                .errors
                .fetch_add(b.record_count() as u64, Ordering::Relaxed);
            if let Some(txn) = &self.txn {
                txn.batch_failed(&e, true);
            }
            self.acc.fail(b, e, true);
        }
    }
}
