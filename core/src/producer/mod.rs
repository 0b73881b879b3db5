//! The producer: `send()` → interceptors → serializers → partitioner → accumulator → sender.
//!
//! [`KafkaProducer::send`] returns as soon as the record is in its partition's batch, with a
//! [`DeliveryFuture`] that resolves when the broker acknowledges it (or it fails for good).
//! The sender task (see `sender.rs`) ships batches in the background. A producer is `Send +
//! Sync` and cheap to clone; use it from async code or, through the `*_blocking` methods,
//! from plain threads.

mod accumulator;
mod buffer_pool;
mod config;
mod delivery_sink;
mod idempotence;
mod interceptor;
mod metrics;
mod partitioner;
mod produce_request;
mod record;
mod send_many;
mod sender;
mod transactions;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

pub use self::config::{PartitionerKind, ProducerConfig};
pub use self::delivery_sink::{CompletedBatch, DeliverySink, SinkRecord};
pub use self::interceptor::ProducerInterceptor;
pub use self::metrics::ProducerMetrics;
pub use self::partitioner::{
    murmur2_partition, Availability, DefaultPartitioner, Partitioner, RoundRobinPartitioner,
};
pub use self::record::{BatchRecord, ProducerRecord, RecordMetadata};
use accumulator::{Completion, Delivery, NewRecord, RecordAccumulator, RECORD_OVERHEAD};
use interceptor::guarded;
use sender::Sender;
use transactions::TransactionManager;

use crate::error::{KafkaError, Result};
use crate::network::{NetworkClient, PartitionInfo};
use crate::record::BatchBuilder;
use crate::serialization::Serializer;
use crate::topic_partition::TopicPartition;

/// A record batch's header: what a record alone in its batch adds to its size (the Java
/// client's size check counts it too).
const RECORD_BATCH_OVERHEAD: usize = 61;

/// Resolves to the record's metadata once the broker acknowledged it, or to the error that
/// ended it. Await it, or call [`DeliveryFuture::wait`] from a thread.
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(KafkaError::Closed)))
    }
}

impl DeliveryFuture {
    /// Blocks the calling thread until the outcome is known.
    pub fn wait(self) -> Result<RecordMetadata> {
        crate::runtime::block_on(self)
    }
}

type BoxSerializer<T> = Box<dyn Serializer<T>>;

struct Inner<K, V> {
    config: ProducerConfig,
    client: NetworkClient,
    acc: Arc<RecordAccumulator>,
    sender: Arc<Sender>,
    partitioner: Box<dyn Partitioner>,
    key_serializer: BoxSerializer<K>,
    value_serializer: BoxSerializer<V>,
    interceptors: Vec<Arc<dyn ProducerInterceptor<K, V>>>,
    closed: AtomicBool,
    sender_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// With `transactional.id`.
    txn: Option<Arc<TransactionManager>>,
}

/// A Kafka producer with the Java client's pipeline and guarantees.
pub struct KafkaProducer<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for KafkaProducer<K, V> {
    fn clone(&self) -> Self {
        KafkaProducer {
            inner: self.inner.clone(),
        }
    }
}

/// The outcome callback `try_send_and_then` takes, and hands back when the send must wait.
pub type OwnedDelivery = Box<dyn FnOnce(Result<RecordMetadata>) + Send>;

thread_local! {
    /// The partition this thread's last fast-path send went to: consecutive sends to it share
    /// its name instead of allocating one each.
    static LAST_PARTITION: std::cell::RefCell<Option<TopicPartition>> =
        const { std::cell::RefCell::new(None) };
}

/// What consecutive sends of one `send_all` share; a single send starts from scratch.
#[derive(Default)]
struct SendContext {
    now_ms: Option<i64>,
    deadline: Option<Instant>,
    /// The last topic's partition count.
    partitions: Option<(Arc<str>, i32)>,
    /// The last partition appended to (its name is reused, not copied).
    tp: Option<TopicPartition>,
}

impl SendContext {
    /// The end of `max.block.ms`, from the first time a send may wait (no clock read for the
    /// sends that never do).
    fn deadline(&mut self, max_block: Duration) -> Instant {
        *self
            .deadline
            .get_or_insert_with(|| Instant::now() + max_block)
    }
}

/// A partition named explicitly, refused when the topic has no such partition.
fn check_partition(topic: &str, p: i32, partitions: i32) -> Result<i32> {
    if p < 0 || p >= partitions {
        return Err(KafkaError::Broker {
            code: 3,
            name: "UNKNOWN_TOPIC_OR_PARTITION",
            topic: Some(topic.to_string()),
            partition: Some(p),
            message: Some(format!("partition {p} is not in [0, {partitions})")),
        });
    }
    Ok(p)
}

/// The partition as a `TopicPartition`, sharing the name of `last` or of this thread's last
/// fast-path send when it is the same partition (no allocation per record).
fn reuse_partition(topic: &str, partition: i32, last: Option<TopicPartition>) -> TopicPartition {
    let same = |tp: &TopicPartition| tp.partition == partition && *tp.topic == *topic;
    match last {
        Some(tp) if same(&tp) => tp,
        _ => LAST_PARTITION
            .with(|last| last.borrow().as_ref().filter(|tp| same(tp)).cloned())
            .unwrap_or_else(|| TopicPartition::new(topic, partition)),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> KafkaProducer<K, V> {
    /// Connects to the cluster and starts the sender.
    pub async fn new(
        config: ProducerConfig,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
    ) -> Result<Self> {
        Self::with_interceptors(config, key_serializer, value_serializer, vec![]).await
    }

    /// Builds a producer from Kafka property names (`bootstrap.servers`, `acks`, ...).
    pub async fn from_properties<Kp: Into<String>, Vp: Into<String>>(
        properties: impl IntoIterator<Item = (Kp, Vp)>,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
    ) -> Result<Self> {
        Self::new(
            ProducerConfig::from_properties(properties)?,
            key_serializer,
            value_serializer,
        )
        .await
    }

    /// Like [`KafkaProducer::new`], with a chain of interceptors (called in order).
    pub async fn with_interceptors(
        config: ProducerConfig,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
        interceptors: Vec<Arc<dyn ProducerInterceptor<K, V>>>,
    ) -> Result<Self> {
        config.validate()?;
        let client = NetworkClient::connect(config.client.clone()).await?;
        let acc = Arc::new(RecordAccumulator::new(config.clone()));
        let metrics = Arc::new(metrics::Metrics::default());
        let txn = config.transactional_id.as_deref().map(|id| {
            Arc::new(TransactionManager::new(
                id,
                config.transaction_timeout,
                client.clone(),
                (config.client.retry_backoff, config.client.retry_backoff_max),
            ))
        });
        let sender = Arc::new(Sender::new(
            client.clone(),
            acc.clone(),
            config.clone(),
            metrics,
            txn.clone(),
        ));
        let task = tokio::spawn(sender.clone().run());
        let partitioner: Box<dyn Partitioner> = match config.partitioner {
            PartitionerKind::Default => {
                let metadata = client.clone();
                let partitioner =
                    DefaultPartitioner::new(config.batch_size, config.partitioner_ignore_keys)
                        .with_availability(Arc::new(move |topic: &str| {
                            metadata.metadata().topic(topic).map_or_else(Vec::new, |t| {
                                t.partitions
                                    .iter()
                                    .filter(|p| p.leader >= 0)
                                    .map(|p| p.partition)
                                    .collect()
                            })
                        }));
                // Adaptive partitioning: the accumulator publishes what the partitioner reads.
                Box::new(match &acc.load {
                    Some(load) => partitioner.with_load_stats(load.clone()),
                    None => partitioner,
                })
            }
            PartitionerKind::RoundRobin => Box::new(RoundRobinPartitioner::default()),
        };
        Ok(KafkaProducer {
            inner: Arc::new(Inner {
                config,
                client,
                acc,
                sender,
                partitioner,
                key_serializer: Box::new(key_serializer),
                value_serializer: Box::new(value_serializer),
                interceptors,
                closed: AtomicBool::new(false),
                sender_task: Mutex::new(Some(task)),
                txn,
            }),
        })
    }

    /// [`KafkaProducer::new`] for callers without an async runtime.
    pub fn new_blocking(
        config: ProducerConfig,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
    ) -> Result<Self> {
        crate::runtime::block_on(Self::new(config, key_serializer, value_serializer))
    }

    /// Replaces a custom partitioner (before sending anything).
    pub fn set_partitioner(&mut self, partitioner: impl Partitioner + 'static) -> Result<()> {
        let inner = Arc::get_mut(&mut self.inner).ok_or_else(|| {
            KafkaError::IllegalState("set the partitioner before cloning the producer".into())
        })?;
        inner.partitioner = Box::new(partitioner);
        Ok(())
    }

    /// Enqueues a record. Waits only when metadata for the topic is missing or `buffer.memory`
    /// is full (both up to `max.block.ms`); returns the future of its acknowledgement.
    pub async fn send(&self, record: ProducerRecord<K, V>) -> Result<DeliveryFuture> {
        let (tx, rx) = oneshot::channel();
        self.send_inner(
            record,
            None,
            Delivery::Future(tx),
            &mut SendContext::default(),
        )
        .await?;
        Ok(DeliveryFuture { rx })
    }

    /// Like `send`, also calling `callback` with the outcome (on the client's background task).
    pub async fn send_with_callback(
        &self,
        record: ProducerRecord<K, V>,
        callback: impl FnOnce(Result<&RecordMetadata, &KafkaError>) + Send + 'static,
    ) -> Result<DeliveryFuture> {
        let cb: Completion = Box::new(move |r: &Result<RecordMetadata>| callback(r.as_ref()));
        let (tx, rx) = oneshot::channel();
        self.send_inner(
            record,
            Some(cb),
            Delivery::Future(tx),
            &mut SendContext::default(),
        )
        .await?;
        Ok(DeliveryFuture { rx })
    }

    /// Like `send`, handing the outcome (owned) to `on_delivery` instead of a future: the
    /// cheapest way to be told, for callers that keep the metadata (the bindings).
    pub async fn send_and_then(
        &self,
        record: ProducerRecord<K, V>,
        on_delivery: impl FnOnce(Result<RecordMetadata>) + Send + 'static,
    ) -> Result<()> {
        self.send_inner(
            record,
            None,
            Delivery::Owned(Box::new(on_delivery)),
            &mut SendContext::default(),
        )
        .await
    }

    /// Sends many records in one call; `on_delivery(i, outcome)` is told about the i-th. The
    /// records share one clock reading (their timestamp when they have none), one
    /// `max.block.ms` deadline and one metadata lookup per topic, which makes a batch much
    /// cheaper than as many `send`s. Stops at the first record that cannot be enqueued and
    /// returns its index with the error; the records before it were enqueued and are
    /// reported as usual.
    pub async fn send_all<I>(
        &self,
        records: I,
        on_delivery: impl Fn(usize, Result<RecordMetadata>) + Send + Sync + 'static,
    ) -> std::result::Result<usize, (usize, KafkaError)>
    where
        I: IntoIterator<Item = ProducerRecord<K, V>>,
    {
        let on_delivery = Arc::new(on_delivery);
        let mut ctx = SendContext::default();
        let mut sent = 0;
        for (i, record) in records.into_iter().enumerate() {
            let f = on_delivery.clone();
            let delivery = Delivery::Owned(Box::new(move |r| f(i, r)));
            self.send_inner(record, None, delivery, &mut ctx)
                .await
                .map_err(|e| (i, e))?;
            sent += 1;
        }
        Ok(sent)
    }

    /// `send` for plain threads: blocks only when `send` would wait.
    pub fn send_blocking(&self, record: ProducerRecord<K, V>) -> Result<DeliveryFuture> {
        let mut fut = std::pin::pin!(self.send(record));
        // The common case completes without waiting: poll once before paying for a runtime.
        // Inside the runtime's context: a send that must wait creates timers.
        let polled = {
            let _rt = crate::runtime::handle().enter();
            fut.as_mut()
                .poll(&mut Context::from_waker(std::task::Waker::noop()))
        };
        match polled {
            Poll::Ready(r) => r,
            Poll::Pending => crate::runtime::block_on(fut),
        }
    }

    async fn send_inner(
        &self,
        mut record: ProducerRecord<K, V>,
        callback: Option<Completion>,
        delivery: Delivery,
        ctx: &mut SendContext,
    ) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(KafkaError::Closed);
        }
        if let Some(txn) = &inner.txn {
            txn.check_send()?;
        }
        for i in &inner.interceptors {
            let replaced = guarded("on_send", || None, || i.on_send(&record));
            if let Some(r) = replaced {
                record = r;
            }
        }
        let result = self.enqueue(record, callback, delivery, ctx).await;
        if let Err(e) = &result {
            // A record refused here is an outcome too (Java's onSendError).
            for i in &inner.interceptors {
                guarded("on_acknowledgement", || (), || i.on_acknowledgement(Err(e)));
            }
        }
        result
    }

    /// Serializes, partitions and appends an intercepted record.
    async fn enqueue(
        &self,
        record: ProducerRecord<K, V>,
        callback: Option<Completion>,
        delivery: Delivery,
        ctx: &mut SendContext,
    ) -> Result<()> {
        let inner = &self.inner;
        let (key, value, size) = self.serialize_checked(&record)?;
        let max_block = inner.config.max_block;
        let partitions = match self.partitions_now(&record.topic, ctx) {
            Some(n) => n,
            None => {
                let n = self
                    .wait_for_partitions(&record.topic, ctx.deadline(max_block))
                    .await?;
                ctx.partitions = Some((Arc::from(record.topic.as_str()), n));
                n
            }
        };
        let tp = self.choose_partition(&record, key.as_deref(), size, partitions, ctx)?;
        let new_record = self.new_record(&record, &key, &value, ctx);
        let mut waiters = Some((delivery, self.completion(callback)));
        // Bytes of buffer.memory held for this record while the pool was short.
        let mut credit = 0;
        let acc = &inner.acc;
        while let Err(needed) = acc.append(&tp, &new_record, &mut credit, &mut waiters) {
            let more = needed.saturating_sub(credit);
            if let Err(e) = acc
                .pool
                .take(more, ctx.deadline(max_block), || acc.wake.notify_one())
                .await
            {
                acc.pool.release(credit);
                return Err(e);
            }
            credit += more;
        }
        acc.pool.release(credit);
        ctx.tp = Some(tp);
        Ok(())
    }

    /// `send_and_then` when it need not wait, with no future built or polled (the bindings'
    /// per-record path): `Ok(None)` when the record was enqueued; `Ok(Some(on_delivery))`,
    /// handed back untouched, when the send would wait (the topic's metadata missing,
    /// `buffer.memory` short) or has interceptors to run: the caller then awaits
    /// `send_and_then` with the same record, which serializes it again (use it with
    /// serializers without side effects). Errors are the ones `send_and_then` returns.
    pub fn try_send_and_then(
        &self,
        record: &ProducerRecord<K, V>,
        on_delivery: OwnedDelivery,
    ) -> Result<Option<OwnedDelivery>> {
        match self.try_enqueue(record, Delivery::Owned(on_delivery))? {
            None => Ok(None),
            Some(Delivery::Owned(on_delivery)) => Ok(Some(on_delivery)),
            Some(_) => unreachable!("a record not appended keeps its delivery"),
        }
    }

    /// Sets the `DeliverySink` that the records sent with `try_send_to_sink` / `send_to_sink`
    /// report to, once per producer.
    pub fn set_delivery_sink(&self, sink: Arc<dyn DeliverySink>) -> Result<()> {
        self.inner.acc.sink.set(sink).map_err(|_| {
            KafkaError::IllegalState("the producer's delivery sink is set already".into())
        })
    }

    /// `send_to_sink` when it need not wait: `Ok(true)` when the record was enqueued (its
    /// outcome goes to the sink with `token`), `Ok(false)` when the send would wait (the
    /// topic's metadata missing, `buffer.memory` short) or has interceptors to run: the caller
    /// then awaits `send_to_sink` with the same record. An error is the record's outcome
    /// (nothing reaches the sink).
    pub fn try_send_to_sink(&self, record: &ProducerRecord<K, V>, token: u64) -> Result<bool> {
        self.check_sink()?;
        Ok(self.try_enqueue(record, Delivery::Token(token))?.is_none())
    }

    /// Like `send_and_then`, the outcome going to the producer's `DeliverySink` with `token`
    /// (the cheapest way to be told: no allocation per record, one call per batch).
    pub async fn send_to_sink(&self, record: ProducerRecord<K, V>, token: u64) -> Result<()> {
        self.check_sink()?;
        self.send_inner(
            record,
            None,
            Delivery::Token(token),
            &mut SendContext::default(),
        )
        .await
    }

    fn check_sink(&self) -> Result<()> {
        match self.inner.acc.sink.get() {
            Some(_) => Ok(()),
            None => Err(KafkaError::IllegalState(
                "send_to_sink needs a delivery sink (set_delivery_sink)".into(),
            )),
        }
    }

    /// Enqueues the record in place when nothing must wait; hands `delivery` back otherwise.
    fn try_enqueue(
        &self,
        record: &ProducerRecord<K, V>,
        delivery: Delivery,
    ) -> Result<Option<Delivery>> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(KafkaError::Closed);
        }
        if !inner.interceptors.is_empty() {
            return Ok(Some(delivery));
        }
        if let Some(txn) = &inner.txn {
            txn.check_send()?;
        }
        let mut ctx = SendContext::default();
        let (key, value, size) = self.serialize_checked(record)?;
        // Not kept in `ctx` (which ends with this call): that would copy the topic's name.
        let Some(partitions) = self.known_partitions(&record.topic) else {
            return Ok(Some(delivery));
        };
        let tp = self.choose_partition(record, key.as_deref(), size, partitions, &mut ctx)?;
        let new_record = self.new_record(record, &key, &value, &mut ctx);
        let mut waiters = Some((delivery, None));
        let mut credit = 0;
        let appended = inner
            .acc
            .append(&tp, &new_record, &mut credit, &mut waiters)
            .is_ok();
        inner.acc.pool.release(credit);
        if appended {
            LAST_PARTITION.with(|last| *last.borrow_mut() = Some(tp));
            return Ok(None);
        }
        match waiters {
            Some((delivery, _)) => Ok(Some(delivery)),
            None => unreachable!("a record not appended keeps its delivery"),
        }
    }

    /// The serialized key and value, and the record's size bound (batch overhead included),
    /// checked against `max.request.size` and `buffer.memory`.
    fn serialize_checked(
        &self,
        record: &ProducerRecord<K, V>,
    ) -> Result<(Option<Bytes>, Option<Bytes>, usize)> {
        self.serialize_parts(
            &record.topic,
            record.key.as_ref(),
            record.value.as_ref(),
            &record.headers,
        )
    }

    /// `serialize_checked` of a record's parts.
    fn serialize_parts(
        &self,
        topic: &str,
        key: Option<&K>,
        value: Option<&V>,
        headers: &[crate::record::Header],
    ) -> Result<(Option<Bytes>, Option<Bytes>, usize)> {
        let inner = &self.inner;
        let key = match key {
            Some(k) => inner.key_serializer.serialize(topic, k)?,
            None => None,
        };
        let value = match value {
            Some(v) => inner.value_serializer.serialize(topic, v)?,
            None => None,
        };
        let size = BatchBuilder::record_size_bound(key.as_deref(), value.as_deref(), headers)
            + RECORD_BATCH_OVERHEAD;
        if size > inner.config.max_request_size {
            return Err(KafkaError::RecordTooLarge {
                size,
                limit: inner.config.max_request_size,
                limit_name: "max.request.size",
            });
        }
        if size + RECORD_OVERHEAD > inner.config.buffer_memory {
            return Err(KafkaError::RecordTooLarge {
                size: size + RECORD_OVERHEAD,
                limit: inner.config.buffer_memory,
                limit_name: "buffer.memory",
            });
        }
        Ok((key, value, size))
    }

    /// The topic's partition count from the context or the metadata cache, without waiting.
    fn partitions_now(&self, topic: &str, ctx: &mut SendContext) -> Option<i32> {
        match &ctx.partitions {
            Some((t, n)) if **t == *topic => Some(*n),
            _ => {
                let n = self.known_partitions(topic)?;
                ctx.partitions = Some((Arc::from(topic), n));
                Some(n)
            }
        }
    }

    /// The record's partition (its own, checked, or the partitioner's), as a `TopicPartition`
    /// that reuses the last one's name when it can; added to an open transaction.
    fn choose_partition(
        &self,
        record: &ProducerRecord<K, V>,
        key: Option<&[u8]>,
        size: usize,
        partitions: i32,
        ctx: &mut SendContext,
    ) -> Result<TopicPartition> {
        let inner = &self.inner;
        let topic = &record.topic;
        let partition = match record.partition {
            Some(p) => check_partition(topic, p, partitions)?,
            // The sticky partitioner counts the record's own bytes, not the batch header the
            // memory reservation adds: batches fill to batch.size before it moves on.
            None => {
                inner
                    .partitioner
                    .partition(topic, key, size - RECORD_BATCH_OVERHEAD, partitions)
            }
        };
        let tp = reuse_partition(topic, partition, ctx.tp.take());
        if let Some(txn) = &inner.txn {
            txn.add_partition(&tp);
        }
        Ok(tp)
    }

    /// The record as the accumulator appends it (its timestamp, or one clock read per context).
    fn new_record<'a>(
        &self,
        record: &'a ProducerRecord<K, V>,
        key: &'a Option<Bytes>,
        value: &'a Option<Bytes>,
        ctx: &mut SendContext,
    ) -> NewRecord<'a> {
        NewRecord {
            timestamp: record
                .timestamp
                .unwrap_or_else(|| *ctx.now_ms.get_or_insert_with(now_ms)),
            key: key.as_deref(),
            value: value.as_deref(),
            headers: &record.headers,
        }
    }

    /// Chains the interceptors' `on_acknowledgement` with the user's callback.
    fn completion(&self, callback: Option<Completion>) -> Option<Completion> {
        if self.inner.interceptors.is_empty() {
            return callback;
        }
        let interceptors = self.inner.interceptors.clone();
        Some(Box::new(move |r: &Result<RecordMetadata>| {
            for i in &interceptors {
                guarded(
                    "on_acknowledgement",
                    || (),
                    || i.on_acknowledgement(r.as_ref()),
                );
            }
            if let Some(cb) = callback {
                cb(r);
            }
        }))
    }

    /// The topic's partition count if the metadata cache has it.
    fn known_partitions(&self, topic: &str) -> Option<i32> {
        let md = self.inner.client.metadata();
        let t = md.topic(topic)?;
        (t.error_code == 0 && !t.partitions.is_empty()).then_some(t.partitions.len() as i32)
    }

    /// The topic's partition count, fetching metadata until `deadline` if needed.
    async fn wait_for_partitions(&self, topic: &str, deadline: Instant) -> Result<i32> {
        let mut attempt = 0;
        loop {
            let md = self.inner.client.metadata();
            if let Some(t) = md.topic(topic) {
                if t.error_code == 0 && !t.partitions.is_empty() {
                    return Ok(t.partitions.len() as i32);
                }
                if !KafkaError::broker(t.error_code).is_retriable() && t.error_code != 0 {
                    return Err(KafkaError::broker_for(t.error_code, topic, -1));
                }
            }
            if Instant::now() >= deadline {
                let code =
                    md.topic(topic)
                        .map_or(3, |t| if t.error_code != 0 { t.error_code } else { 3 });
                return Err(KafkaError::Broker {
                    code,
                    name: crate::error::error_name(code),
                    topic: Some(topic.to_string()),
                    partition: None,
                    message: Some(format!(
                        "topic not present in metadata after max.block.ms ({} ms)",
                        self.inner.config.max_block.as_millis()
                    )),
                });
            }
            if attempt > 0 {
                let pause = crate::network::backoff(
                    Duration::from_millis(50),
                    self.inner.config.client.retry_backoff_max,
                    attempt,
                );
                tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now())))
                    .await;
            }
            attempt += 1;
            let _ = self
                .inner
                .client
                .refresh_metadata(&[topic.to_string()])
                .await;
        }
    }

    /// Sends every buffered record now and waits until each one completed.
    pub async fn flush(&self) -> Result<()> {
        self.flush_within(Duration::from_secs(u32::MAX as u64))
            .await
    }

    /// `flush`, giving up with `KafkaError::Timeout` after `timeout` (the records stay queued).
    pub async fn flush_within(&self, timeout: Duration) -> Result<()> {
        self.inner.acc.flush(timeout).await
    }

    pub fn flush_blocking(&self) -> Result<()> {
        crate::runtime::block_on(self.flush())
    }

    /// Delivers what it can within `timeout`, fails the rest (nothing is dropped silently),
    /// and stops the background work. Later sends fail with `KafkaError::Closed`.
    pub async fn close(&self, timeout: Duration) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let flushed = self.inner.acc.flush(timeout).await;
        self.inner.sender.closing.store(true, Ordering::Release);
        if flushed.is_err() {
            self.inner.acc.abort_all(KafkaError::Closed);
        }
        self.inner.acc.wake.notify_one();
        let task = self.inner.sender_task.lock().unwrap().take();
        if let Some(t) = task {
            if tokio::time::timeout(Duration::from_secs(5).max(timeout), t)
                .await
                .is_err()
            {
                tracing::warn!("sender did not stop in time");
            }
        }
        for i in &self.inner.interceptors {
            guarded("close", || (), || i.close());
        }
        self.inner.client.close().await;
        flushed
    }

    pub fn close_blocking(&self, timeout: Duration) -> Result<()> {
        crate::runtime::block_on(self.close(timeout))
    }

    /// The partitions of `topic` with their leaders.
    pub async fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>> {
        self.wait_for_partitions(topic, Instant::now() + self.inner.config.max_block)
            .await?;
        Ok(self
            .inner
            .client
            .metadata()
            .topic(topic)
            .map(|t| t.partitions.clone())
            .unwrap_or_default())
    }

    fn transactions(&self) -> Result<&Arc<TransactionManager>> {
        self.inner.txn.as_ref().ok_or_else(|| {
            KafkaError::IllegalState(
                "transactions need transactional.id in the producer's configuration".into(),
            )
        })
    }

    /// Obtains the producer id and epoch of `transactional.id`: fences any earlier instance
    /// with the same id (its open transaction is aborted). Call once, before the first
    /// transaction.
    pub async fn init_transactions(&self) -> Result<()> {
        let txn = self.transactions()?;
        let ids = self.bounded("init_transactions", txn.init()).await?;
        self.inner.sender.set_producer_ids(ids);
        self.inner.acc.wake.notify_one();
        Ok(())
    }

    /// Starts a transaction: sends until `commit_transaction` or `abort_transaction` belong
    /// to it.
    pub fn begin_transaction(&self) -> Result<()> {
        self.transactions()?.begin()
    }

    /// Commits the consumer group's `offsets` (the next records to read) with the
    /// transaction: exactly-once consume-transform-produce. `group` is the consumer's
    /// `group_metadata()`, which fences a consumer that lost its partitions (KIP-447).
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &std::collections::BTreeMap<TopicPartition, crate::consumer::OffsetAndMetadata>,
        group: &crate::consumer::ConsumerGroupMetadata,
    ) -> Result<()> {
        let txn = self.transactions()?;
        self.bounded(
            "send_offsets_to_transaction",
            txn.send_offsets(offsets, group, self.inner.sender.producer_ids()),
        )
        .await
    }

    /// A transaction call bounded by `max.block.ms`, as Java's.
    async fn bounded<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let limit = self.inner.config.max_block;
        tokio::time::timeout(limit, call).await.map_err(|_| {
            KafkaError::Timeout(format!(
                "{what} did not complete within max.block.ms ({limit:?})"
            ))
        })?
    }

    /// Sends what the transaction holds, waits for every acknowledgement, then commits it. If
    /// any part failed the commit fails with that error and the transaction must be aborted.
    /// A commit that outlives `max.block.ms` fails with a timeout and is resumed by calling
    /// `commit_transaction` again (an abort is refused until it completes), as in Java.
    pub async fn commit_transaction(&self) -> Result<()> {
        let txn = self.transactions()?;
        txn.start_end(true)?;
        let flushed = self
            .inner
            .acc
            .flush(Duration::from_secs(u32::MAX as u64))
            .await;
        if let Some(e) = txn.commit_blocked() {
            return Err(e);
        }
        flushed?;
        // The EndTxn runs as a task of its own: when the wait below gives up, the commit goes
        // on, and the next commit_transaction waits for that same EndTxn.
        let mut end = match txn.take_pending_commit() {
            Some(task) => task,
            None => {
                let (txn, sender) = (txn.clone(), self.inner.sender.clone());
                let ids = sender.producer_ids();
                crate::runtime::handle().spawn(async move {
                    txn.end(true, ids, |next| sender.set_producer_ids(next))
                        .await
                })
            }
        };
        let limit = self.inner.config.max_block;
        match tokio::time::timeout(limit, &mut end).await {
            Ok(Ok(ended)) => ended.map(|_| ()),
            Ok(Err(e)) => Err(KafkaError::IllegalState(format!(
                "commit_transaction: the EndTxn task failed: {e}"
            ))),
            Err(_) => {
                txn.keep_pending_commit(end);
                Err(KafkaError::Timeout(format!(
                    "commit_transaction did not complete within max.block.ms ({limit:?}); \
                     it goes on: call commit_transaction again to wait for it"
                )))
            }
        }
    }

    /// Aborts the transaction: records not yet sent fail, the rest are marked aborted (a
    /// `read_committed` consumer never sees them). The producer can begin a new transaction
    /// after it, unless it was fenced.
    pub async fn abort_transaction(&self) -> Result<()> {
        let txn = self.transactions()?;
        txn.start_end(false)?;
        let aborted = KafkaError::IllegalState("the transaction was aborted".into());
        self.inner.acc.abort_where(|tp| txn.not_added(tp), aborted);
        self.inner
            .acc
            .flush(Duration::from_secs(u32::MAX as u64))
            .await?;
        let bump = self
            .bounded(
                "abort_transaction",
                txn.end(false, self.inner.sender.producer_ids(), |next| {
                    self.inner.sender.set_producer_ids(next)
                }),
            )
            .await?;
        if bump {
            let ids = self
                .bounded(
                    "abort_transaction",
                    txn.bump_epoch(self.inner.sender.producer_ids()),
                )
                .await?;
            self.inner.sender.set_producer_ids(ids);
        }
        Ok(())
    }

    /// Whether the current transaction failed (a batch, an AddPartitionsToTxn, the offsets or
    /// the EndTxn) and must be aborted with `abort_transaction` before the producer can go on.
    /// False without `transactional.id`, and when fenced ([`KafkaError::is_fatal`]).
    pub fn transaction_requires_abort(&self) -> bool {
        self.inner.txn.as_ref().is_some_and(|t| t.requires_abort())
    }

    pub fn metrics(&self) -> ProducerMetrics {
        self.inner.sender.metrics.snapshot(
            self.inner.acc.available_memory(),
            self.inner.client.connection_metrics(),
        )
    }

    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }
}
