//! The RecordAccumulator: per-partition queues of batches waiting to be sent.
//!
//! `send` appends a record into its partition's open batch (bytes written straight into the
//! batch buffer); the sender drains batches that are full, whose `linger.ms` expired, or that
//! a `flush()` asked for (or all of them while a send waits for memory). Memory is bounded by
//! `buffer.memory` (`buffer_pool.rs`): a batch holds its buffer's capacity and its records'
//! bookkeeping until it completes, and `send` waits up to `max.block.ms` for room.
//!
//! With idempotence a batch gets its sequence number when first drained and keeps it across
//! retries. When a batch of a partition fails retriably, that partition is held until all of
//! its in-flight batches are back, then drained again in sequence order, so retries never
//! reorder records (as the Java client does).
//!
//! With adaptive partitioning, `drain` also publishes each queue's length and, with
//! `partitioner.availability.timeout.ms`, which leaders have taken no batch for too long, for
//! the default partitioner (`partitioner.rs`, `LoadStats`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::buffer_pool::BufferPool;
use super::config::{PartitionerKind, ProducerConfig};
use super::delivery_sink::{CompletedBatch, DeliverySink, SinkRecord};
use super::idempotence::PartitionSequences;
use super::partitioner::{LoadStats, PartitionLoad};
use super::record::RecordMetadata;
use crate::error::{KafkaError, Result};
use crate::record::builder::BATCH_HEADER_LEN;
use crate::record::builder::{producer_ids, with_producer_ids};
use crate::record::{Append, BatchBuilder, Header};
use crate::topic_partition::{PartitionMap, TopicPartition};

/// Called once with a record's outcome (the user callback, interceptors).
pub type Completion = Box<dyn FnOnce(&Result<RecordMetadata>) + Send>;

/// Where a record's outcome finally goes: its `DeliveryFuture`, a callback that owns it
/// (bindings keep the metadata without copying it), or the producer's `DeliverySink` with
/// the record's token (one call per batch).
pub enum Delivery {
    Future(oneshot::Sender<Result<RecordMetadata>>),
    Owned(Box<dyn FnOnce(Result<RecordMetadata>) + Send>),
    Token(u64),
}

/// One record's bookkeeping inside a batch.
struct PendingRecord {
    offset_delta: i32,
    timestamp: i64,
    key_size: i32,
    value_size: i32,
    done: Option<Delivery>,
    callback: Option<Completion>,
}

/// What a record costs in `buffer.memory` besides its bytes: its `PendingRecord` (the vector
/// holding it may be twice its length) and its completion handle (a oneshot channel carrying
/// the outcome, or a boxed callback).
pub const RECORD_OVERHEAD: usize =
    2 * std::mem::size_of::<PendingRecord>() + std::mem::size_of::<Result<RecordMetadata>>() + 64;

/// Takes `n` bytes of `buffer.memory`: from the caller's `credit` first, then from the pool
/// if it has them now.
fn charge(pool: &BufferPool, credit: &mut usize, n: usize) -> bool {
    if *credit >= n {
        *credit -= n;
        return true;
    }
    if pool.try_take(n - *credit) {
        *credit = 0;
        return true;
    }
    false
}

/// A batch and the records waiting on it.
pub struct ProducerBatch {
    pub tp: TopicPartition,
    builder: BatchBuilder,
    records: Vec<PendingRecord>,
    /// The records sent with a token and no callback, kept compactly (a third of a
    /// `PendingRecord`): fewer cache lines written per record, and handed to the sink whole.
    tokens: Vec<SinkRecord>,
    pub created: Instant,
    /// Bytes of `buffer.memory` this batch holds: its buffer and its records' bookkeeping.
    charged: usize,
    /// The encoded bytes, fixed at the first drain (retries resend the same bytes).
    pub encoded: Option<Bytes>,
    pub base_sequence: i32,
    pub attempts: u32,
    pub retry_at: Option<Instant>,
    /// The flush generation the batch was opened in: a `flush()` waits for the batches of
    /// its generation and earlier, never for those opened after it began.
    generation: u64,
}

impl ProducerBatch {
    pub fn record_count(&self) -> usize {
        self.records.len() + self.tokens.len()
    }

    /// Files a record's bookkeeping: `waiters` is taken.
    fn keep(
        &mut self,
        offset_delta: i32,
        record: &NewRecord<'_>,
        waiters: &mut Option<(Delivery, Option<Completion>)>,
    ) {
        let (done, callback) = waiters.take().expect("a record is added once");
        let key_size = record.key.map_or(-1, |k| k.len() as i32);
        let value_size = record.value.map_or(-1, |v| v.len() as i32);
        match (done, callback) {
            (Delivery::Token(token), None) => self.tokens.push(SinkRecord {
                token,
                offset_delta,
                timestamp: record.timestamp,
                key_size,
                value_size,
            }),
            (done, callback) => self.records.push(PendingRecord {
                offset_delta,
                timestamp: record.timestamp,
                key_size,
                value_size,
                done: Some(done),
                callback,
            }),
        }
    }

    pub fn uncompressed_size(&self) -> usize {
        self.builder.size()
    }

    /// Hands every record its outcome: `result` builds a record's metadata (only for those
    /// that want one); the records sent with a token go to `sink` in one call.
    fn complete(
        self,
        sink: Option<&dyn DeliverySink>,
        outcome: std::result::Result<(i64, i64), &KafkaError>,
        result: impl Fn(&PendingRecord) -> Result<RecordMetadata>,
    ) {
        let ProducerBatch {
            tp,
            records,
            mut tokens,
            ..
        } = self;
        let compact = tokens.len();
        for mut r in records {
            if let Some(cb) = r.callback.take() {
                cb(&result(&r));
            }
            match r.done.take() {
                Some(Delivery::Future(tx)) => {
                    let _ = tx.send(result(&r));
                }
                Some(Delivery::Owned(f)) => f(result(&r)),
                Some(Delivery::Token(token)) => tokens.push(SinkRecord {
                    token,
                    offset_delta: r.offset_delta,
                    timestamp: r.timestamp,
                    key_size: r.key_size,
                    value_size: r.value_size,
                }),
                None => {}
            }
        }
        if tokens.is_empty() {
            return;
        }
        if compact > 0 && compact < tokens.len() {
            // Token records with a callback (interceptors) were kept apart: offset order.
            tokens.sort_by_key(|r| r.offset_delta);
        }
        match sink {
            Some(sink) => sink.batch_done(CompletedBatch {
                topic: &tp.topic,
                partition: tp.partition,
                result: outcome,
                records: tokens,
            }),
            // `send_to_sink` refuses records before a sink is set: not reached.
            None => tracing::warn!(%tp, records = tokens.len(), "outcomes with no delivery sink"),
        }
    }
}

#[derive(Default)]
struct PartitionQueue {
    batches: VecDeque<ProducerBatch>,
    in_flight: usize,
    /// Set when a batch failed retriably: drain nothing until `in_flight` is 0 again.
    hold: bool,
    /// The node the in-flight batches went to. With idempotence a partition sends to a new
    /// leader only once nothing is in flight to the old one (as librdkafka drains a partition
    /// on a leader change): else a batch still on its way (or failing) to the old leader would
    /// be retried behind later batches the new leader took, outside the broker's window of
    /// five batches it recognises as duplicates, and be refused OUT_OF_ORDER_SEQUENCE forever.
    in_flight_to: i32,
    /// Sequence numbers under the current producer id and epoch (idempotence).
    sequences: PartitionSequences,
    /// Where `drain` publishes this queue's load for the partitioner (adaptive partitioning).
    load: Option<Arc<PartitionLoad>>,
    /// The size of the last batch drained: a new batch starts with room for about as much,
    /// so a busy partition does not regrow (and copy) its buffer from a few hundred bytes.
    last_drained_size: usize,
}

/// What `drain` saw of one leader, for `partitioner.availability.timeout.ms` (Java's
/// per-node ready and drain times).
#[derive(Debug, Default)]
struct LeaderReadiness {
    /// The drain pass that last found a ready batch for this leader.
    pass: u64,
    /// Whether the leader took a batch in that pass.
    took: bool,
    /// Since when the leader has had ready batches at every pass and taken none. Cleared by a
    /// pass where it took one, or had nothing ready (nothing waits on it then).
    stalled_since: Option<Instant>,
}

/// Leaders' readiness across drain passes; only `drain` (the sender task) touches it.
#[derive(Debug, Default)]
struct Readiness {
    pass: u64,
    leaders: HashMap<i32, LeaderReadiness>,
}

/// Everything the sender needs to send one batch.
pub struct Drained {
    pub batch: ProducerBatch,
    pub leader: i32,
}

pub struct RecordAccumulator {
    config: ProducerConfig,
    queues: Mutex<PartitionMap<PartitionQueue>>,
    pub pool: Arc<BufferPool>,
    /// Records accepted but not yet completed (close waits for 0).
    incomplete: AtomicUsize,
    /// Incomplete batches per flush generation (see `ProducerBatch::generation`).
    incomplete_batches: Mutex<BTreeMap<u64, usize>>,
    /// Signalled when a generation's last batch completes.
    generation_done: Notify,
    /// The generation new batches open in; `flush()` moves it on.
    generation: AtomicU64,
    /// Batches of this generation and earlier are ready regardless of linger (a flush asked).
    flush_through: AtomicU64,
    /// Wakes the sender (a batch filled up, a flush started, a request finished).
    pub wake: Notify,
    /// Set when a batch that had taken sequence numbers failed for good (refused, expired):
    /// the broker still expects those numbers, so every later batch of that partition would
    /// be OUT_OF_ORDER_SEQUENCE. The sender bumps the epoch, which restarts all sequences.
    pub sequence_gap: AtomicBool,
    /// Queue lengths and leader availability for the default partitioner, when adaptive
    /// partitioning is on; `drain` publishes them.
    pub(crate) load: Option<Arc<LoadStats>>,
    /// Leaders' readiness, when `partitioner.availability.timeout.ms` is set. Lock order:
    /// `queues` → `readiness`.
    readiness: Mutex<Readiness>,
    /// Where the records sent with a token report (`Delivery::Token`); set once.
    pub sink: OnceLock<Arc<dyn DeliverySink>>,
}

/// A record about to be appended.
pub struct NewRecord<'a> {
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header],
}

impl RecordAccumulator {
    pub fn new(config: ProducerConfig) -> Self {
        let adaptive =
            config.partitioner == PartitionerKind::Default && config.partitioner_adaptive;
        RecordAccumulator {
            load: adaptive.then(|| Arc::new(LoadStats::default())),
            readiness: Mutex::new(Readiness::default()),
            pool: Arc::new(BufferPool::new(
                config.buffer_memory,
                config.batch_size.max(1),
            )),
            config,
            queues: Mutex::new(PartitionMap::default()),
            incomplete: AtomicUsize::new(0),
            incomplete_batches: Mutex::new(BTreeMap::new()),
            generation_done: Notify::new(),
            generation: AtomicU64::new(1),
            flush_through: AtomicU64::new(0),
            wake: Notify::new(),
            sequence_gap: AtomicBool::new(false),
            sink: OnceLock::new(),
        }
    }

    pub fn available_memory(&self) -> usize {
        self.pool.available()
    }

    /// Appends a record to its partition's open batch, or to a new one. Takes from
    /// `buffer.memory` what the append allocates (see `buffer_pool.rs`), from `credit` first
    /// (bytes the caller already holds), without waiting: when the pool has not enough, nothing
    /// is appended, `credit` holds what was taken so far, and `Err(n)` says how many bytes this
    /// append needs in all, for the caller to wait for the rest (`BufferPool::take`) and try
    /// again. `waiters` is taken on success; the caller releases any credit left.
    pub fn append(
        &self,
        tp: &TopicPartition,
        record: &NewRecord<'_>,
        credit: &mut usize,
        waiters: &mut Option<(Delivery, Option<Completion>)>,
    ) -> std::result::Result<(), usize> {
        let mut queues = self.queues.lock().unwrap();
        // One lookup for the common case (the partition has a queue), two for a new one.
        let q = match queues.get_mut(tp) {
            Some(q) => q,
            None => self.new_queue(&mut queues, tp),
        };
        let wake = self.append_to(q, tp, record, credit, waiters)?;
        self.incomplete.fetch_add(1, Ordering::AcqRel);
        drop(queues);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Appends consecutive records of one partition under one lock, the i-th reporting to
    /// the delivery sink with token `first_token + i`. Stops where `buffer.memory` is short
    /// and returns how many it appended: the caller waits for the next one's room through
    /// `append`.
    pub fn append_run(
        &self,
        tp: &TopicPartition,
        records: &[NewRecord<'_>],
        first_token: u64,
    ) -> usize {
        // The records' bookkeeping taken in one step when the pool has it (else per record).
        let mut credit = 0;
        if self.pool.try_take(RECORD_OVERHEAD * records.len()) {
            credit = RECORD_OVERHEAD * records.len();
        }
        let mut queues = self.queues.lock().unwrap();
        // One lookup for the common case (the partition has a queue), two for a new one.
        let q = match queues.get_mut(tp) {
            Some(q) => q,
            None => self.new_queue(&mut queues, tp),
        };
        let mut wake = false;
        let mut appended = 0;
        for (i, record) in records.iter().enumerate() {
            let mut waiters = Some((Delivery::Token(first_token + i as u64), None));
            match self.append_to(q, tp, record, &mut credit, &mut waiters) {
                Ok(w) => wake |= w,
                Err(_) => break,
            }
            appended += 1;
        }
        self.incomplete.fetch_add(appended, Ordering::AcqRel);
        drop(queues);
        self.pool.release(credit);
        if wake {
            self.wake.notify_one();
        }
        appended
    }

    /// A partition's queue, made on its first record.
    fn new_queue<'q>(
        &self,
        queues: &'q mut PartitionMap<PartitionQueue>,
        tp: &TopicPartition,
    ) -> &'q mut PartitionQueue {
        let load = self.load.as_ref().map(|l| l.register(tp));
        queues.entry(tp.clone()).or_insert(PartitionQueue {
            load,
            ..PartitionQueue::default()
        })
    }

    /// `append` under the queues' lock, with the partition's queue; `Ok(true)` when the
    /// sender should be woken (a batch filled up or a new one opened). The caller counts the
    /// record in `incomplete`.
    fn append_to(
        &self,
        q: &mut PartitionQueue,
        tp: &TopicPartition,
        record: &NewRecord<'_>,
        credit: &mut usize,
        waiters: &mut Option<(Delivery, Option<Completion>)>,
    ) -> std::result::Result<bool, usize> {
        let batch_size = self.config.batch_size.max(1);
        // The largest buffer a batch may take: a full-size one must fit the pool beside a
        // record's bookkeeping (`batch.size` larger than `buffer.memory` still sends).
        let max_buffer = self.pool.limit().saturating_sub(RECORD_OVERHEAD);
        if !charge(&self.pool, credit, RECORD_OVERHEAD) {
            return Err(RECORD_OVERHEAD);
        }
        let append = |b: &mut BatchBuilder| {
            b.try_append(
                record.timestamp,
                record.key,
                record.value,
                record.headers,
                batch_size,
            )
        };
        let mut full = false;
        if let Some(b) = q.batches.back_mut().filter(|b| b.encoded.is_none()) {
            let mut outcome = append(&mut b.builder);
            if let Append::NeedsCapacity(needed) = outcome {
                // Double the buffer (up to batch.size): a partition sending steadily reaches
                // full-size buffers in a few steps, an occasional one stays small.
                let capacity = (b.builder.allocated() * 2)
                    .min(batch_size)
                    .min(max_buffer)
                    .max(needed);
                let old = b.builder.allocated();
                if let Some(reused) = (capacity == self.pool.poolable())
                    .then(|| self.pool.reuse())
                    .flatten()
                {
                    // The reused buffer's bytes are counted already; the old one's go back.
                    drop(b.builder.move_to(reused));
                    self.pool.release(old);
                    b.charged = b.charged - old + capacity;
                } else {
                    let extra = capacity - old;
                    if !charge(&self.pool, credit, extra) {
                        *credit += RECORD_OVERHEAD;
                        return Err(RECORD_OVERHEAD + extra);
                    }
                    b.builder.grow(capacity);
                    b.charged += extra;
                }
                outcome = append(&mut b.builder);
            }
            match outcome {
                Append::Added(delta) => {
                    b.keep(delta, record, waiters);
                    b.charged += RECORD_OVERHEAD;
                    return Ok(b.builder.size() >= batch_size);
                }
                Append::Full => full = true,
                Append::NeedsCapacity(_) => unreachable!("grown to fit"),
            }
        }
        // A new batch. A partition that just filled one gets a full-size buffer (as Java's
        // batches); one with a first or occasional record starts small and grows on demand,
        // from about the size its last batch reached while memory is plentiful.
        let needed = BATCH_HEADER_LEN
            + BatchBuilder::record_size_bound(record.key, record.value, record.headers);
        let preferred = if full {
            batch_size
        } else if self.pool.available() > self.pool.limit() / 2 {
            batch_size.min((needed * 2).max(q.last_drained_size.next_power_of_two()))
        } else {
            batch_size.min(needed * 2)
        };
        let capacity = preferred.max(256).min(max_buffer).max(needed);
        let mut builder = match (capacity == self.pool.poolable())
            .then(|| self.pool.reuse())
            .flatten()
        {
            // Its bytes are counted already: the batch takes them over.
            Some(reused) => BatchBuilder::with_buffer(reused),
            None => {
                if !charge(&self.pool, credit, capacity) {
                    *credit += RECORD_OVERHEAD;
                    return Err(RECORD_OVERHEAD + capacity);
                }
                BatchBuilder::new(capacity)
            }
        };
        let Append::Added(delta) = append(&mut builder) else {
            unreachable!("a first record fits its buffer and any limit")
        };
        let first_size = builder.size().saturating_sub(BATCH_HEADER_LEN).max(1);
        let generation = self.generation.load(Ordering::Acquire);
        *self
            .incomplete_batches
            .lock()
            .unwrap()
            .entry(generation)
            .or_default() += 1;
        q.batches.push_back(ProducerBatch {
            tp: tp.clone(),
            charged: builder.allocated() + RECORD_OVERHEAD,
            builder,
            records: Vec::new(),
            tokens: Vec::new(),
            created: Instant::now(),
            encoded: None,
            base_sequence: -1,
            attempts: 0,
            retry_at: None,
            generation,
        });
        let b = q.batches.back_mut().expect("just pushed");
        // Room for as many records of this size as the buffer holds: a busy partition's list
        // does not regrow (and copy) as it fills. (Counted in `RECORD_OVERHEAD` as the
        // records come.)
        let room = (capacity / first_size).max(1);
        match waiters {
            Some((Delivery::Token(_), None)) => b.tokens.reserve(room),
            _ => b.records.reserve(room),
        }
        b.keep(delta, record, waiters);
        // As the Java client: a new batch (whose linger deadline the sender does not know
        // yet) wakes the sender.
        Ok(true)
    }

    /// Takes the batches ready to send, at most one per partition (Kafka allows one batch per
    /// partition in a Produce request), grouped by leader. `leader_of` returns -1 when the
    /// partition has no known leader; `can_send_to(leader, batch_bytes)` admits one more batch
    /// for a leader (the sender packs requests there). Also returns when to look again.
    ///
    /// With adaptive partitioning it publishes every queue's length for the partitioner and,
    /// with `partitioner.availability.timeout.ms`, marks the partitions of leaders that had
    /// ready batches and took none for longer than that (`leader_of` is then asked about
    /// every partition with a queue).
    pub fn drain(
        &self,
        now: Instant,
        closing: bool,
        leader_of: &dyn Fn(&TopicPartition) -> i32,
        can_send_to: &dyn Fn(i32, usize) -> bool,
        idempotent: bool,
    ) -> (Vec<Drained>, Option<Instant>) {
        let flush_through = self.flush_through.load(Ordering::Acquire);
        // A send waits for memory that only completing batches free: linger no longer.
        let exhausted = self.pool.exhausted();
        let max_in_flight_per_partition = if idempotent {
            self.config.max_in_flight.min(5)
        } else {
            usize::MAX
        };
        let mut out = Vec::new();
        let mut next_check: Option<Instant> = None;
        let mut earliest =
            |t: Instant| next_check = Some(next_check.map_or(t, |n: Instant| n.min(t)));
        let timeout = self.config.partitioner_availability_timeout;
        let mut readiness =
            (self.load.is_some() && !timeout.is_zero()).then(|| self.readiness.lock().unwrap());
        let pass = readiness.as_mut().map_or(0, |r| {
            r.pass += 1;
            r.pass
        });
        let mut queues = self.queues.lock().unwrap();
        for (tp, q) in queues.iter_mut() {
            if let Some(load) = &q.load {
                load.set_queued(q.batches.len());
            }
            if q.hold && q.in_flight > 0 {
                continue;
            }
            q.hold = false;
            let Some(front) = q.batches.front() else {
                continue;
            };
            if let Some(at) = front.retry_at {
                if at > now {
                    earliest(at);
                    continue;
                }
            }
            let linger_done = front.created + self.config.linger;
            let ready = front.encoded.is_some()
                || q.batches.len() > 1
                || front.builder.size() >= self.config.batch_size
                || linger_done <= now
                || closing
                || exhausted
                || front.generation <= flush_through;
            if !ready {
                earliest(linger_done);
                continue;
            }
            if q.in_flight >= max_in_flight_per_partition
                || (idempotent && !q.sequences.may_send(q.in_flight))
            {
                continue;
            }
            let leader = leader_of(tp);
            if leader < 0 || (idempotent && q.in_flight > 0 && q.in_flight_to != leader) {
                continue;
            }
            let took = can_send_to(leader, front.uncompressed_size());
            if let Some(r) = readiness.as_mut() {
                let seen = r.leaders.entry(leader).or_default();
                if seen.pass != pass {
                    seen.pass = pass;
                    seen.took = false;
                }
                seen.took |= took;
            }
            if !took {
                continue;
            }
            let mut batch = q.batches.pop_front().expect("front exists");
            if batch.attempts == 0 {
                q.last_drained_size = batch.builder.size();
            }
            if idempotent && batch.base_sequence < 0 {
                batch.base_sequence = q.sequences.assign(batch.builder.count());
            }
            q.in_flight += 1;
            q.in_flight_to = leader;
            out.push(Drained { batch, leader });
        }
        if let Some(r) = readiness.as_mut() {
            for seen in r.leaders.values_mut() {
                if seen.pass == pass && !seen.took {
                    seen.stalled_since.get_or_insert(now);
                } else {
                    seen.stalled_since = None;
                }
            }
            let unavailable = |leader: i32| {
                r.leaders.get(&leader).is_some_and(|seen| {
                    seen.stalled_since
                        .is_some_and(|since| now.saturating_duration_since(since) > timeout)
                })
            };
            for (tp, q) in queues.iter() {
                if let Some(load) = &q.load {
                    load.set_unavailable(unavailable(leader_of(tp)));
                }
            }
        }
        (out, next_check)
    }

    /// Fixes a drained batch's bytes (first send), with the producer id and epoch. A retry
    /// resends the same bytes; after an epoch bump they get the new id, epoch and sequence.
    pub fn encode(&self, batch: &mut ProducerBatch, producer_id: i64, epoch: i16) -> Result<Bytes> {
        let seq = if producer_id >= 0 {
            batch.base_sequence
        } else {
            -1
        };
        if let Some(b) = &batch.encoded {
            if producer_ids(b) == (producer_id, epoch, seq) {
                return Ok(b.clone());
            }
            let b = with_producer_ids(b, producer_id, epoch, seq);
            batch.encoded = Some(b.clone());
            return Ok(b);
        }
        let open = batch.builder.allocated();
        batch
            .builder
            .set_transactional(self.config.transactional_id.is_some());
        let (built, spare) = batch.builder.build_vec(
            self.config.compression,
            self.config.compression_level,
            producer_id,
            epoch,
            seq,
        )?;
        // A compressed batch now holds its compressed bytes only.
        let freed = open.saturating_sub(batch.builder.allocated());
        batch.charged -= freed;
        self.pool.release(freed);
        if let Some(spare) = spare {
            self.pool.recycle(spare);
        }
        // Back to the pool once acknowledged and written.
        let bytes = self.pool.share(built);
        batch.encoded = Some(bytes.clone());
        Ok(bytes)
    }

    /// A batch came back acknowledged at `base_offset`.
    pub fn succeed(&self, batch: ProducerBatch, base_offset: i64, log_append_time: i64) {
        if let Some(q) = self.queues.lock().unwrap().get_mut(&batch.tp) {
            q.in_flight = q.in_flight.saturating_sub(1);
            q.sequences
                .acknowledged(batch.base_sequence, batch.builder.count());
        }
        let generation = batch.generation;
        let topic = batch.tp.topic.to_string();
        let partition = batch.tp.partition;
        let charged = batch.charged;
        let n = batch.record_count();
        let sink = self.sink.get().map(|s| &**s);
        batch.complete(sink, Ok((base_offset, log_append_time)), |r| {
            Ok(RecordMetadata {
                topic: topic.clone(),
                partition,
                offset: if base_offset >= 0 {
                    base_offset + r.offset_delta as i64
                } else {
                    -1
                },
                timestamp: if log_append_time >= 0 {
                    log_append_time
                } else {
                    r.timestamp
                },
                serialized_key_size: r.key_size,
                serialized_value_size: r.value_size,
            })
        });
        // After the outcomes are out: a flush waiting on this batch returns with its records'
        // futures and callbacks complete.
        self.batch_done(generation);
        self.records_done(n, charged);
    }

    /// A batch failed for good.
    pub fn fail(&self, batch: ProducerBatch, error: KafkaError, was_in_flight: bool) {
        if was_in_flight {
            self.finish_in_flight(&batch.tp);
        }
        let charged = batch.charged;
        let n = batch.record_count();
        if batch.base_sequence >= 0 {
            self.sequence_gap.store(true, Ordering::Release);
        }
        let generation = batch.generation;
        tracing::debug!(tp = %batch.tp, records = n, "batch failed: {error}");
        let sink = self.sink.get().map(|s| &**s);
        batch.complete(sink, Err(&error), |_| Err(error.clone()));
        self.batch_done(generation);
        self.records_done(n, charged);
    }

    /// A batch failed retriably: back to the front of its queue (in sequence order) after
    /// `backoff`, holding the partition until its other in-flight batches return. Fails it
    /// instead when `delivery.timeout.ms` has passed.
    pub fn retry(&self, mut batch: ProducerBatch, error: KafkaError, backoff: Duration) {
        let now = Instant::now();
        if now.duration_since(batch.created) + backoff >= self.config.delivery_timeout
            || batch.attempts as i64 >= self.config.retries as i64
        {
            let err = if batch.attempts as i64 >= self.config.retries as i64 {
                error
            } else {
                expired(&batch, self.config.delivery_timeout)
            };
            return self.fail(batch, err, true);
        }
        tracing::debug!(tp = %batch.tp, base_sequence = batch.base_sequence, records = batch.record_count(), attempt = batch.attempts, "batch retried: {error}");
        batch.attempts += 1;
        batch.retry_at = Some(now + backoff);
        let mut queues = self.queues.lock().unwrap();
        let q = queues.entry(batch.tp.clone()).or_default();
        q.in_flight -= 1;
        q.hold = true;
        // Keep sent batches in sequence order ahead of the unsent ones.
        let pos = q
            .batches
            .iter()
            .position(|b| b.encoded.is_none() || b.base_sequence > batch.base_sequence)
            .unwrap_or(q.batches.len());
        q.batches.insert(pos, batch);
        drop(queues);
        self.wake.notify_one();
    }

    /// Resets sequence numbers after an epoch bump (KIP-360): queued batches take new ones
    /// when drained again (their bytes get the new id, epoch and sequence in `encode`).
    pub fn reset_sequences(&self) {
        let mut queues = self.queues.lock().unwrap();
        for q in queues.values_mut() {
            q.sequences.reset();
            for b in q.batches.iter_mut() {
                b.base_sequence = -1;
            }
        }
    }

    /// Whether `base_sequence` is the one the broker expects next on `tp` (every batch before
    /// it acknowledged). An OUT_OF_ORDER_SEQUENCE for such a batch means the broker's state is
    /// not ours; for any other batch an earlier one is still on its way, and a retry in order
    /// resolves it (as Java does: re-sequencing a batch whose outcome is unknown duplicates it).
    pub fn is_next_sequence(&self, tp: &TopicPartition, base_sequence: i32) -> bool {
        self.queues
            .lock()
            .unwrap()
            .get(tp)
            .is_some_and(|q| q.sequences.is_next(base_sequence))
    }

    fn finish_in_flight(&self, tp: &TopicPartition) {
        if let Some(q) = self.queues.lock().unwrap().get_mut(tp) {
            q.in_flight = q.in_flight.saturating_sub(1);
        }
    }

    fn records_done(&self, n: usize, charged: usize) {
        self.pool.release(charged);
        self.incomplete.fetch_sub(n, Ordering::AcqRel);
        self.wake.notify_one();
    }

    fn batch_done(&self, generation: u64) {
        let mut batches = self.incomplete_batches.lock().unwrap();
        let count = batches.entry(generation).or_default();
        *count = count.saturating_sub(1);
        if *count == 0 {
            batches.remove(&generation);
            drop(batches);
            self.generation_done.notify_waiters();
        }
    }

    /// Fails queued (not in-flight) batches older than `delivery.timeout.ms`.
    pub fn expire(&self, now: Instant) {
        let mut expired_batches = Vec::new();
        {
            let mut queues = self.queues.lock().unwrap();
            for q in queues.values_mut() {
                while q
                    .batches
                    .front()
                    .is_some_and(|b| now.duration_since(b.created) >= self.config.delivery_timeout)
                {
                    expired_batches.push(q.batches.pop_front().unwrap());
                }
            }
        }
        for b in expired_batches {
            let e = expired(&b, self.config.delivery_timeout);
            self.fail(b, e, false);
        }
    }

    /// Fails everything still queued (close without delivery).
    pub fn abort_all(&self, error: KafkaError) {
        let batches: Vec<ProducerBatch> = self
            .queues
            .lock()
            .unwrap()
            .values_mut()
            .flat_map(|q| q.batches.drain(..))
            .collect();
        for b in batches {
            self.fail(b, error.clone(), false);
        }
    }

    /// Fails the queued batches of the partitions `which` selects (a transaction's partitions
    /// that could not be added, or were never added before an abort).
    pub fn abort_where(&self, which: impl Fn(&TopicPartition) -> bool, error: KafkaError) {
        let batches: Vec<ProducerBatch> = self
            .queues
            .lock()
            .unwrap()
            .iter_mut()
            .filter(|(tp, _)| which(tp))
            .flat_map(|(_, q)| q.batches.drain(..))
            .collect();
        for b in batches {
            self.fail(b, error.clone(), false);
        }
    }

    pub fn incomplete(&self) -> usize {
        self.incomplete.load(Ordering::Acquire)
    }

    /// Makes every batch opened so far ready (no linger) and waits until each completed.
    /// Records sent after the call, in batches opened after it, neither delay it nor lose
    /// their linger (Java's flush waits for the batches incomplete when it was called).
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let through = self.generation.fetch_add(1, Ordering::AcqRel);
        self.flush_through.fetch_max(through, Ordering::AcqRel);
        self.wake.notify_one();
        let result = tokio::time::timeout(timeout, async {
            loop {
                let done = self.generation_done.notified();
                let pending = {
                    let batches = self.incomplete_batches.lock().unwrap();
                    batches.range(..=through).next().is_some()
                };
                if !pending {
                    return;
                }
                done.await;
            }
        })
        .await;
        result.map_err(|_| {
            KafkaError::Timeout(format!(
                "flush did not complete within {timeout:?}; {} records pending",
                self.incomplete()
            ))
        })
    }
}

fn expired(b: &ProducerBatch, timeout: Duration) -> KafkaError {
    KafkaError::Timeout(format!(
        "expiring {} record(s) for {}: {} ms has passed since batch creation (delivery.timeout.ms)",
        b.record_count(),
        b.tp,
        timeout.as_millis()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(batch_size: usize, buffer: usize) -> ProducerConfig {
        ProducerConfig {
            batch_size,
            buffer_memory: buffer,
            linger: Duration::from_millis(50),
            max_block: Duration::from_millis(100),
            ..ProducerConfig::default()
        }
    }

    fn record(value: &[u8]) -> NewRecord<'_> {
        NewRecord {
            timestamp: 1,
            key: None,
            value: Some(value),
            headers: &[],
        }
    }

    fn add(
        acc: &RecordAccumulator,
        tp: &TopicPartition,
        value: &[u8],
    ) -> oneshot::Receiver<Result<RecordMetadata>> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = Some((Delivery::Future(tx), None));
        acc.append(tp, &record(value), &mut 0, &mut waiters)
            .expect("buffer.memory has room");
        rx
    }

    #[tokio::test(start_paused = true)]
    async fn batches_close_at_batch_size_or_linger() {
        let acc = RecordAccumulator::new(config(250, 1 << 20));
        let tp = TopicPartition::new("t", 0);
        let now = Instant::now();
        let leader = |_: &TopicPartition| 1;
        let any = |_: i32, _: usize| true;
        add(&acc, &tp, &[0; 50]);
        let (ready, next) = acc.drain(now, false, &leader, &any, false);
        assert!(ready.is_empty(), "lingering");
        assert_eq!(next, Some(now + Duration::from_millis(50)));
        for _ in 0..4 {
            add(&acc, &tp, &[0; 50]);
        }
        let (ready, _) = acc.drain(now, false, &leader, &any, false);
        assert_eq!(ready.len(), 1, "a full batch is ready before linger");
        assert_eq!(
            ready[0].batch.record_count(),
            3,
            "250-byte batches hold three 50-byte records"
        );
        let (ready2, _) = acc.drain(now + Duration::from_millis(60), false, &leader, &any, false);
        assert_eq!(ready2.len(), 1, "the rest after linger.ms");
        assert_eq!(ready2[0].batch.record_count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn flush_waits_only_for_batches_opened_before_it() {
        let acc = std::sync::Arc::new(RecordAccumulator::new(config(1000, 1 << 20)));
        let (t0, t1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        let now = Instant::now();
        let leader = |_: &TopicPartition| 1;
        let any = |_: i32, _: usize| true;
        let before = add(&acc, &t0, &[0; 10]);
        let flush = tokio::spawn({
            let acc = acc.clone();
            async move { acc.flush(Duration::from_secs(60)).await }
        });
        tokio::task::yield_now().await;
        let after = add(&acc, &t1, &[0; 10]);
        let (ready, _) = acc.drain(now, false, &leader, &any, false);
        assert_eq!(
            ready.len(),
            1,
            "only the batch opened before the flush skips linger"
        );
        assert_eq!(ready[0].batch.tp, t0);
        acc.succeed(ready.into_iter().next().unwrap().batch, 5, -1);
        tokio::time::timeout(Duration::from_secs(1), flush)
            .await
            .expect("the flush returns while a later record still lingers")
            .unwrap()
            .unwrap();
        assert_eq!(before.await.unwrap().unwrap().offset, 5);
        assert_eq!(acc.incomplete(), 1, "the later record is still queued");
        let (later, _) = acc.drain(now + Duration::from_millis(60), false, &leader, &any, false);
        assert_eq!(later.len(), 1, "and goes out after its own linger");
        acc.succeed(later.into_iter().next().unwrap().batch, 0, -1);
        assert_eq!(after.await.unwrap().unwrap().offset, 0);
    }

    /// buffer.memory counts what is allocated: buffers at their capacity (growing on demand,
    /// up to batch.size) and each record's bookkeeping; a completed batch gives it all back.
    #[tokio::test(start_paused = true)]
    async fn memory_counts_buffer_capacity_and_bookkeeping() {
        let acc = RecordAccumulator::new(config(4096, 1 << 20));
        let tp = TopicPartition::new("t", 0);
        add(&acc, &tp, &[0; 100]);
        let first = acc.pool.used();
        let queued = |acc: &RecordAccumulator| {
            let queues = acc.queues.lock().unwrap();
            let q = queues.get(&tp).unwrap();
            let capacity: usize = q.batches.iter().map(|b| b.builder.allocated()).sum();
            let records: usize = q.batches.iter().map(|b| b.record_count()).sum();
            (capacity, records, q.batches.len())
        };
        let (capacity, _, _) = queued(&acc);
        assert!(
            (256..=512).contains(&capacity),
            "a first batch starts small: {capacity}"
        );
        assert_eq!(first, capacity + RECORD_OVERHEAD);
        for _ in 0..60 {
            add(&acc, &tp, &[0; 100]);
        }
        let (capacity, records, batches) = queued(&acc);
        assert_eq!(records, 61);
        assert_eq!(batches, 2, "4096-byte batches hold about 36 such records");
        assert_eq!(
            acc.pool.used(),
            capacity + 61 * RECORD_OVERHEAD,
            "exactly the buffers' capacity and the bookkeeping"
        );
        assert!(
            capacity <= 2 * 4096,
            "no buffer past batch.size: {capacity}"
        );
        let now = Instant::now() + Duration::from_secs(1);
        let (ready, _) = acc.drain(now, false, &|_| 1, &|_, _| true, false);
        let mut batch = ready.into_iter().next().unwrap().batch;
        acc.encode(&mut batch, -1, -1).unwrap();
        acc.succeed(batch, 0, -1);
        let (ready, _) = acc.drain(now, false, &|_| 1, &|_, _| true, false);
        let mut batch = ready.into_iter().next().unwrap().batch;
        acc.encode(&mut batch, -1, -1).unwrap();
        acc.succeed(batch, 36, -1);
        let kept = acc.pool.used();
        assert!(
            kept > 0 && kept.is_multiple_of(4096) && kept <= 2 * 4096,
            "completed batches give everything back but full-size buffers kept for reuse: {kept}"
        );
        assert!(
            acc.pool.try_take(acc.pool.limit()),
            "kept buffers give way when the memory is wanted"
        );
    }

    /// A full pool appends nothing and says how much the append needs; with that much credit
    /// it goes in, and a send waiting for memory makes lingering batches ready.
    #[tokio::test(start_paused = true)]
    async fn a_full_pool_refuses_without_side_effects_then_takes_credit() {
        let acc = std::sync::Arc::new(RecordAccumulator::new(config(1 << 20, 4096)));
        let tp = TopicPartition::new("t", 0);
        let big = vec![0u8; 1000];
        let mut credit = 0;
        let (needed, mut waiters) = loop {
            let (tx, _rx) = oneshot::channel();
            let mut waiters = Some((Delivery::Future(tx), None));
            let used = acc.pool.used();
            if let Err(needed) = acc.append(&tp, &record(&big), &mut credit, &mut waiters) {
                assert!(needed > 4096 - used, "{needed} bytes are not free");
                assert!(credit < needed);
                assert_eq!(acc.pool.used(), used + credit, "what was taken is credit");
                assert!(waiters.is_some(), "nor the record appended");
                break (needed, waiters);
            }
            assert!(
                acc.incomplete() < 4,
                "4096 bytes hold three 1000-byte records"
            );
        };
        assert_eq!(acc.incomplete(), 2, "the buffer grew for the second record");
        let now = Instant::now();
        let (ready, _) = acc.drain(now, false, &|_| 1, &|_, _| true, false);
        assert!(ready.is_empty(), "lingering");
        let waiting = tokio::spawn({
            let acc = acc.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(10);
                acc.pool.take(needed - credit, deadline, || {}).await
            }
        });
        tokio::task::yield_now().await;
        let (ready, _) = acc.drain(now, false, &|_| 1, &|_, _| true, false);
        assert_eq!(
            ready.len(),
            1,
            "ready without linger: a send waits for memory"
        );
        let mut batch = ready.into_iter().next().unwrap().batch;
        acc.encode(&mut batch, -1, -1).unwrap();
        acc.succeed(batch, 0, -1);
        waiting.await.unwrap().unwrap();
        credit = needed;
        acc.append(&tp, &record(&big), &mut credit, &mut waiters)
            .unwrap();
        assert!(waiters.is_none());
        acc.pool.release(credit);
        let queues = acc.queues.lock().unwrap();
        let batch = &queues.get(&tp).unwrap().batches[0];
        assert_eq!(
            acc.pool.used(),
            batch.builder.allocated() + RECORD_OVERHEAD,
            "the pool holds the new batch alone; the credit left was given back"
        );
    }

    /// A run appends under one lock what `append` would record by record (batches closing
    /// at batch.size, tokens in order), takes the records' bookkeeping at once, and stops
    /// where the pool runs short holding nothing for the records it did not append.
    #[tokio::test(start_paused = true)]
    async fn a_run_appends_in_order_and_stops_where_memory_runs_short() {
        let values = vec![[7u8; 50]; 40];
        let records: Vec<NewRecord<'_>> = values.iter().map(|v| record(v)).collect();
        let tokens = |acc: &RecordAccumulator, tp: &TopicPartition| {
            let queues = acc.queues.lock().unwrap();
            let q = queues.get(tp).unwrap();
            let held: usize = q.batches.iter().map(|b| b.charged).sum();
            let counts: Vec<usize> = q.batches.iter().map(|b| b.record_count()).collect();
            let tokens: Vec<u64> = q
                .batches
                .iter()
                .flat_map(|b| b.tokens.iter().map(|t| t.token))
                .collect();
            (tokens, counts, held)
        };
        let tp = TopicPartition::new("t", 0);

        let roomy = RecordAccumulator::new(config(250, 1 << 20));
        assert_eq!(roomy.append_run(&tp, &records, 100), 40);
        let (got, counts, held) = tokens(&roomy, &tp);
        assert_eq!(got, (100..140).collect::<Vec<u64>>());
        assert!(counts.iter().all(|c| *c == 3 || *c == 1), "{counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), 40);
        assert_eq!(roomy.incomplete(), 40);
        assert_eq!(roomy.pool.used(), held, "the credit left was given back");

        let short = RecordAccumulator::new(config(250, 4096));
        let n = short.append_run(&tp, &records, 0);
        assert!(n > 0 && n < 40, "4096 bytes hold some of the records: {n}");
        let (got, _, held) = tokens(&short, &tp);
        assert_eq!(got, (0..n as u64).collect::<Vec<u64>>());
        assert_eq!(short.incomplete(), n);
        assert_eq!(
            short.pool.used(),
            held,
            "nothing held for records not appended"
        );
    }

    /// Adaptive partitioning: each drain publishes every queue's length, and a leader that had
    /// ready batches and took none for longer than `partitioner.availability.timeout.ms` has
    /// its partitions marked unavailable until it takes one again.
    #[tokio::test(start_paused = true)]
    async fn drain_publishes_queue_lengths_and_stalled_leaders() {
        let mut c = config(100, 1 << 20);
        c.partitioner_availability_timeout = Duration::from_millis(100);
        let acc = RecordAccumulator::new(c);
        let load = acc.load.clone().expect("adaptive by default");
        let (t0, t1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        // Partition p is led by broker p + 1; broker 2 takes nothing (say, not connected).
        let leader = |tp: &TopicPartition| tp.partition + 1;
        let only_1 = |node: i32, _: usize| node == 1;
        for _ in 0..3 {
            add(&acc, &t0, &[0; 60]);
            add(&acc, &t1, &[0; 60]);
        }
        let start = Instant::now() + Duration::from_millis(60);
        let (ready, _) = acc.drain(start, false, &leader, &only_1, false);
        assert_eq!(ready.len(), 1);
        assert_eq!(
            load.read("t", &[0, 1]),
            vec![(3, false), (3, false)],
            "lengths before this drain took any; the stall has just begun"
        );
        let later = start + Duration::from_millis(150);
        let (ready, _) = acc.drain(later, false, &leader, &only_1, false);
        assert_eq!(ready.len(), 1);
        assert_eq!(
            load.read("t", &[0, 1]),
            vec![(2, false), (3, true)],
            "broker 2 took nothing for 150 ms"
        );
        let (ready, _) = acc.drain(later, false, &leader, &|_, _| true, false);
        assert_eq!(ready.len(), 2, "broker 2 takes a batch again");
        assert_eq!(load.read("t", &[0, 1]), vec![(1, false), (3, false)]);
        let plain = RecordAccumulator::new(ProducerConfig {
            partitioner_adaptive: false,
            ..config(100, 1 << 20)
        });
        assert!(plain.load.is_none(), "nothing published without adaptive");
    }

    #[tokio::test(start_paused = true)]
    async fn completion_reports_offsets_and_retry_keeps_sequence_order() {
        let acc = RecordAccumulator::new(config(60, 1 << 20));
        let tp = TopicPartition::new("t", 0);
        let leader = |_: &TopicPartition| 1;
        let any = |_: i32, _: usize| true;
        let first = add(&acc, &tp, &[0; 40]);
        let r0 = add(&acc, &tp, &[1; 40]);
        let r1 = add(&acc, &tp, &[2; 40]);
        let now = Instant::now() + Duration::from_millis(100);
        // Until the broker acknowledged one batch of this producer id, one at a time: a
        // broker without state for the producer would take any first sequence.
        let (mut one, _) = acc.drain(now, false, &leader, &any, true);
        let (held, _) = acc.drain(now, false, &leader, &any, true);
        assert!(
            held.is_empty(),
            "a second batch before the first was acknowledged"
        );
        let mut one = one.pop().unwrap().batch;
        acc.encode(&mut one, 7, 0).unwrap();
        acc.succeed(one, 99, -1);
        assert_eq!(first.await.unwrap().unwrap().offset, 99);
        let (mut a, _) = acc.drain(now, false, &leader, &any, true);
        let (mut b, _) = acc.drain(now, false, &leader, &any, true);
        let (mut a, mut b) = (a.pop().unwrap().batch, b.pop().unwrap().batch);
        assert_eq!((a.base_sequence, b.base_sequence), (1, 2));
        acc.encode(&mut a, 7, 0).unwrap();
        acc.encode(&mut b, 7, 0).unwrap();
        // The first fails retriably: the partition holds until the second returns too.
        acc.retry(a, KafkaError::broker(6), Duration::from_millis(10));
        let (none, _) = acc.drain(now + Duration::from_millis(20), false, &leader, &any, true);
        assert!(none.is_empty(), "held while a batch is in flight");
        acc.retry(b, KafkaError::broker(45), Duration::from_millis(10));
        let (again, _) = acc.drain(now + Duration::from_millis(20), false, &leader, &any, true);
        assert_eq!(again[0].batch.base_sequence, 1, "retried in sequence order");
        acc.succeed(again.into_iter().next().unwrap().batch, 100, -1);
        assert_eq!(r0.await.unwrap().unwrap().offset, 100);
        let (last, _) = acc.drain(now + Duration::from_millis(40), false, &leader, &any, true);
        assert_eq!(last[0].batch.base_sequence, 2);
        acc.succeed(last.into_iter().next().unwrap().batch, 101, -1);
        assert_eq!(r1.await.unwrap().unwrap().offset, 101);
        assert_eq!(acc.incomplete(), 0);
    }

    /// With idempotence a partition whose leader moved waits until nothing is in flight to the
    /// old leader: a batch that failed there is retried first, at the new leader, which may
    /// already hold it (replicated) and then recognises it as a duplicate.
    #[tokio::test(start_paused = true)]
    async fn an_idempotent_partition_reaches_a_new_leader_only_after_the_old_leaders_batches() {
        let acc = RecordAccumulator::new(config(60, 1 << 20));
        let tp = TopicPartition::new("t", 0);
        let any = |_: i32, _: usize| true;
        let first = add(&acc, &tp, &[0; 40]);
        let now = Instant::now() + Duration::from_millis(100);
        let (mut one, _) = acc.drain(now, false, &|_| 1, &any, true);
        let mut one = one.pop().unwrap().batch;
        acc.encode(&mut one, 7, 0).unwrap();
        acc.succeed(one, 10, -1);
        assert_eq!(first.await.unwrap().unwrap().offset, 10);
        let r1 = add(&acc, &tp, &[1; 40]);
        let r2 = add(&acc, &tp, &[2; 40]);
        let (mut a, _) = acc.drain(now, false, &|_| 1, &any, true);
        let mut a = a.pop().unwrap().batch;
        acc.encode(&mut a, 7, 0).unwrap();
        // The leader moved to node 2 while `a` is on its way to node 1.
        let (none, _) = acc.drain(now, false, &|_| 2, &any, true);
        assert!(
            none.is_empty(),
            "sent to node 2 while a batch is in flight to node 1"
        );
        acc.retry(a, KafkaError::broker(6), Duration::from_millis(10));
        let (again, _) = acc.drain(now + Duration::from_millis(20), false, &|_| 2, &any, true);
        assert_eq!(again.len(), 1);
        assert_eq!(
            (again[0].batch.base_sequence, again[0].leader),
            (1, 2),
            "the retry first"
        );
        let (held, _) = acc.drain(now + Duration::from_millis(20), false, &|_| 2, &any, true);
        assert_eq!(held.len(), 1, "then the next batch to the same leader");
        assert_eq!(held[0].batch.base_sequence, 2);
        acc.succeed(again.into_iter().next().unwrap().batch, 11, -1);
        acc.succeed(held.into_iter().next().unwrap().batch, 12, -1);
        assert_eq!(r1.await.unwrap().unwrap().offset, 11);
        assert_eq!(r2.await.unwrap().unwrap().offset, 12);
    }
}
