//! `KafkaConsumer`: the core consumer, its records as Buffers.
//!
//! Every call runs on the core's runtime. Rebalance listeners: the core calls them inside its
//! poll, on a runtime worker, and waits for them (so a listener may commit before the
//! rebalance goes on). Here the worker leaves the runtime's pool (`block_in_place`, through
//! `krafty::runtime::block_on`), calls the JS listener through a threadsafe function and blocks
//! until the promise it returns settles; the commits and seeks the listener asked for
//! (`ListenerOutcome`) go through the core's rebalance context. The event loop is never
//! blocked: the JS listener runs as a normal task.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use krafty::consumer::{
    ConsumerConfig, ConsumerRebalanceListener, KafkaConsumer as CoreConsumer, OffsetAndMetadata,
    RebalanceContext,
};
use krafty::record::ConsumerRecordData;
use krafty::serialization::BytesSerde;
use krafty::{KafkaError, TopicPartition as CoreTp};
use napi::bindgen_prelude::{Buffer, Float64Array, Promise, PromiseRaw};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, Status};
use napi_derive::napi;
use tokio::sync::OnceCell;

use crate::config::{properties, Config};
use crate::errors::to_napi;
use crate::{core_runtime, on_core};

pub(crate) type Consumer = CoreConsumer<Option<Bytes>, Option<Bytes>>;

/// A topic partition.
#[napi(object)]
#[derive(Clone)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// A topic partition with an offset (and, for commits, optional metadata).
#[napi(object)]
#[derive(Clone)]
pub struct TopicPartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub metadata: Option<String>,
}

pub(crate) fn tp(t: &TopicPartition) -> CoreTp {
    CoreTp::new(&t.topic, t.partition)
}

pub(crate) fn tps(ts: &[TopicPartition]) -> Vec<CoreTp> {
    ts.iter().map(tp).collect()
}

pub(crate) fn from_tp(t: &CoreTp) -> TopicPartition {
    TopicPartition {
        topic: t.topic.to_string(),
        partition: t.partition,
    }
}

fn tpo(t: &CoreTp, offset: i64) -> TopicPartitionOffset {
    TopicPartitionOffset {
        topic: t.topic.to_string(),
        partition: t.partition,
        offset,
        metadata: None,
    }
}

fn offsets_map(offsets: &[TopicPartitionOffset]) -> BTreeMap<CoreTp, OffsetAndMetadata> {
    offsets
        .iter()
        .map(|o| {
            let mut om = OffsetAndMetadata::new(o.offset);
            if let Some(m) = &o.metadata {
                om.metadata = m.clone();
            }
            (CoreTp::new(&o.topic, o.partition), om)
        })
        .collect()
}

/// Records as `poll` hands them to JS: every key, value, header key and header value in one
/// Buffer, and their places in two Float64Arrays (`lib/client.js` makes the record objects,
/// with Buffers that are views of `data`). Building a JS object per record through napi calls
/// costs several times what this does.
#[napi(object)]
pub struct RecordBatch {
    pub data: Buffer,
    /// The topics, indexed by each record's first field.
    pub topics: Vec<String>,
    /// Per record, `RECORD_FIELDS` numbers: topic index, partition, offset, timestamp,
    /// timestamp type (0 CreateTime, 1 LogAppendTime), key start, key length (-1: null),
    /// value start, value length (-1: null), leader epoch (-1: unknown), header count.
    pub records: Float64Array,
    /// Per header, in record order: key start, key length, value start, value length (-1: null).
    pub headers: Float64Array,
}

fn put(data: &mut Vec<u8>, b: Option<&[u8]>) -> (f64, f64) {
    match b {
        Some(b) => {
            let start = data.len();
            data.extend_from_slice(b);
            (start as f64, b.len() as f64)
        }
        None => (0.0, -1.0),
    }
}

/// A `RecordBatch` being filled on a runtime thread, record by record as the core drains
/// them (`poll_data_with`): no `ConsumerRecord` built, one topic name per topic.
#[derive(Default)]
struct Packer {
    sizes: Arc<BatchSizes>,
    data: Vec<u8>,
    topics: Vec<String>,
    /// The last record's topic and its index in `topics`.
    last_topic: Option<(Arc<str>, usize)>,
    fields: Vec<f64>,
    headers: Vec<f64>,
}

/// A consumer's last packed batch: its data bytes, records and headers.
#[derive(Default)]
struct BatchSizes {
    data: AtomicUsize,
    records: AtomicUsize,
    headers: AtomicUsize,
}

impl Packer {
    /// A packer with room for as much as the last batch held (a busy consumer's batches are
    /// alike: no buffer regrows and copies itself as the records come).
    fn new(sizes: Arc<BatchSizes>) -> Self {
        let last = |n: &AtomicUsize| n.load(Ordering::Relaxed);
        Packer {
            data: Vec::with_capacity(last(&sizes.data)),
            fields: Vec::with_capacity(last(&sizes.records) * RECORD_FIELDS),
            headers: Vec::with_capacity(last(&sizes.headers) * 4),
            sizes,
            ..Packer::default()
        }
    }

    fn push(&mut self, tp: &CoreTp, r: ConsumerRecordData) {
        let topic = match &self.last_topic {
            Some((t, i)) if Arc::ptr_eq(t, &tp.topic) || **t == *tp.topic => *i,
            _ => {
                let i = match self.topics.iter().position(|t| **t == *tp.topic) {
                    Some(i) => i,
                    None => {
                        self.topics.push(tp.topic.to_string());
                        self.topics.len() - 1
                    }
                };
                self.last_topic = Some((tp.topic.clone(), i));
                i
            }
        };
        let data = &mut self.data;
        let (ks, kl) = put(data, r.key.as_deref());
        let (vs, vl) = put(data, r.value.as_deref());
        self.fields.extend_from_slice(&[
            // RECORD_FIELDS of them
            topic as f64,
            f64::from(tp.partition),
            r.offset as f64,
            r.timestamp as f64,
            if r.log_append_time { 1.0 } else { 0.0 },
            ks,
            kl,
            vs,
            vl,
            f64::from(r.leader_epoch.max(-1)),
            r.headers.len() as f64,
        ]);
        for h in &r.headers {
            let (hks, hkl) = put(data, Some(h.key.as_bytes()));
            let (hvs, hvl) = put(data, h.value.as_deref());
            self.headers.extend_from_slice(&[hks, hkl, hvs, hvl]);
        }
    }

    fn into_batch(self) -> RecordBatch {
        let sizes = &self.sizes;
        sizes.data.store(self.data.len(), Ordering::Relaxed);
        sizes
            .records
            .store(self.fields.len() / RECORD_FIELDS, Ordering::Relaxed);
        sizes
            .headers
            .store(self.headers.len() / 4, Ordering::Relaxed);
        RecordBatch {
            data: Buffer::from(self.data),
            topics: self.topics,
            records: Float64Array::new(self.fields),
            headers: Float64Array::new(self.headers),
        }
    }
}

const RECORD_FIELDS: usize = 11;

/// What a rebalance listener is told: `kind` is "revoked", "assigned" or "lost";
/// `positions` are the consumer's positions of the partitions it holds.
#[napi(object)]
pub struct ListenerEvent {
    pub kind: String,
    pub partitions: Vec<TopicPartition>,
    pub positions: Vec<TopicPartitionOffset>,
}

/// What a rebalance listener asks for before the rebalance goes on.
#[napi(object)]
pub struct ListenerOutcome {
    /// Offsets to commit (synchronously, before the rebalance goes on).
    pub commits: Option<Vec<TopicPartitionOffset>>,
    /// Positions to move (applied when the listener returns).
    pub seeks: Option<Vec<TopicPartitionOffset>>,
}

type ListenerFn =
    ThreadsafeFunction<ListenerEvent, Promise<ListenerOutcome>, ListenerEvent, Status, false, true>;

struct JsListener {
    f: Arc<ListenerFn>,
}

impl JsListener {
    fn call(&self, kind: &str, ctx: &mut RebalanceContext<'_>, partitions: &[CoreTp]) {
        let event = ListenerEvent {
            kind: kind.to_string(),
            partitions: partitions.iter().map(from_tp).collect(),
            positions: ctx.positions().map(|(t, o)| tpo(t, o)).collect(),
        };
        let f = self.f.clone();
        let wait = async move { f.call_async_catch(event).await?.await };
        // The core waits for the listener: on a runtime worker (where every call of this
        // binding runs the core) the worker leaves the pool while JS runs it.
        let outcome = krafty::runtime::block_on(wait);
        match outcome {
            Ok(o) => {
                if let Some(c) = o.commits.filter(|c| !c.is_empty()) {
                    ctx.commit_offsets(offsets_map(&c));
                }
                for s in o.seeks.into_iter().flatten() {
                    ctx.seek(&CoreTp::new(&s.topic, s.partition), s.offset);
                }
            }
            Err(e) => eprintln!("krafty: the rebalance listener ({kind}) failed: {e}"),
        }
    }
}

impl ConsumerRebalanceListener for JsListener {
    fn on_partitions_revoked(&mut self, ctx: &mut RebalanceContext<'_>, p: &[CoreTp]) {
        self.call("revoked", ctx, p)
    }
    fn on_partitions_assigned(&mut self, ctx: &mut RebalanceContext<'_>, p: &[CoreTp]) {
        self.call("assigned", ctx, p)
    }
    fn on_partitions_lost(&mut self, ctx: &mut RebalanceContext<'_>, p: &[CoreTp]) {
        self.call("lost", ctx, p)
    }
}

/// The group membership (generation -1 when not a member yet).
#[napi(object)]
pub struct GroupMetadata {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    /// `group.instance.id` (static membership), when set.
    pub group_instance_id: Option<String>,
}

type Connection = Arc<OnceCell<Result<Consumer, KafkaError>>>;

async fn connected(conn: Connection, config: ConsumerConfig) -> krafty::Result<Consumer> {
    conn.get_or_init(|| Consumer::new(config, BytesSerde, BytesSerde))
        .await
        .clone()
}

/// A Kafka consumer configured by Kafka property names.
#[napi]
pub struct KafkaConsumer {
    config: ConsumerConfig,
    conn: Connection,
    /// The sizes of the last batch `poll` packed, to size the next one's buffers.
    last_batch: Arc<BatchSizes>,
}

macro_rules! op {
    ($self:ident, $env:ident, |$c:ident| $body:expr) => {{
        let fut = $self.consumer();
        $env.spawn_future(on_core(async move {
            let $c = fut.await?;
            $body
        }))
    }};
}

#[napi]
impl KafkaConsumer {
    /// Validates `config` (throws a KraftyError naming a bad property) and starts connecting.
    #[napi(
        constructor,
        ts_args_type = "config: Record<string, string | number | boolean>"
    )]
    pub fn new(config: Config) -> napi::Result<Self> {
        let config =
            ConsumerConfig::from_properties(properties(&config)).map_err(|e| to_napi(&e))?;
        let conn: Connection = Arc::new(OnceCell::new());
        core_runtime().spawn(connected(conn.clone(), config.clone()));
        Ok(KafkaConsumer {
            config,
            conn,
            last_batch: Arc::default(),
        })
    }

    fn consumer(
        &self,
    ) -> impl std::future::Future<Output = krafty::Result<Consumer>> + Send + 'static {
        connected(self.conn.clone(), self.config.clone())
    }

    /// Resolves once connected to the cluster.
    #[napi]
    pub fn connect<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        op!(self, env, |_c| Ok(()))
    }

    /// Joins the group for `topics` (without `group.id`: reads every partition of them).
    /// `listener(event)` returns a promise of what to commit and seek before the rebalance
    /// goes on.
    #[napi(
        ts_args_type = "topics: string[], listener?: (event: ListenerEvent) => Promise<ListenerOutcome>"
    )]
    pub fn subscribe<'env>(
        &self,
        env: &'env Env,
        topics: Vec<String>,
        listener: Option<ListenerFn>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let l = listener
            .map(|f| Box::new(JsListener { f: Arc::new(f) }) as Box<dyn ConsumerRebalanceListener>);
        op!(self, env, |c| {
            let t: Vec<&str> = topics.iter().map(String::as_str).collect();
            c.subscribe(&t, l).await
        })
    }

    /// Reads exactly these partitions, without group membership.
    #[napi]
    pub fn assign<'env>(
        &self,
        env: &'env Env,
        partitions: Vec<TopicPartition>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = tps(&partitions);
        op!(self, env, |c| c.assign(&p).await)
    }

    /// Leaves the group (revoking partitions through the listener).
    #[napi]
    pub fn unsubscribe<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        op!(self, env, |c| c.unsubscribe().await)
    }

    #[napi(ts_return_type = "Promise<TopicPartition[]>")]
    pub fn assignment<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, Vec<TopicPartition>>> {
        op!(self, env, |c| Ok(c
            .assignment()
            .await
            .iter()
            .map(from_tp)
            .collect()))
    }

    #[napi(ts_return_type = "Promise<string[]>")]
    pub fn subscription<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, Vec<String>>> {
        op!(self, env, |c| Ok(c.subscription().await))
    }

    /// The records fetched since the last call (at most `maxRecords`, default
    /// `max.poll.records`), waiting up to `timeoutMs` for some, as a `RecordBatch`.
    #[napi(ts_return_type = "Promise<RecordBatch>")]
    pub fn poll<'env>(
        &self,
        env: &'env Env,
        timeout_ms: f64,
        max_records: Option<u32>,
    ) -> napi::Result<PromiseRaw<'env, RecordBatch>> {
        let fut = self.consumer();
        let timeout = Duration::from_millis(timeout_ms.max(0.0) as u64);
        let sizes = self.last_batch.clone();
        env.spawn_future_with_callback(
            on_core(async move {
                let c = fut.await?;
                let mut packer = Packer::new(sizes);
                let max = max_records.map(|n| n as usize);
                c.poll_data_with(timeout, max, |tp, r| packer.push(tp, r))
                    .await?;
                Ok(packer)
            }),
            |_env, packer| Ok(packer.into_batch()),
        )
    }

    /// Interrupts a pending `poll` (it rejects with code WAKEUP).
    #[napi]
    pub fn wakeup(&self) {
        if let Some(Ok(c)) = self.conn.get() {
            c.wakeup();
        }
    }

    /// Commits `offsets` (the next offsets to read), or the positions of every assigned
    /// partition; resolves when the group coordinator acknowledged it.
    #[napi]
    pub fn commit<'env>(
        &self,
        env: &'env Env,
        offsets: Option<Vec<TopicPartitionOffset>>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let explicit = offsets.map(|o| offsets_map(&o));
        op!(self, env, |c| match explicit {
            Some(o) => c.commit_offsets(o).await,
            None => c.commit_sync().await,
        })
    }

    /// The group's committed offsets of `partitions` (absent: none committed).
    #[napi(ts_return_type = "Promise<TopicPartitionOffset[]>")]
    pub fn committed<'env>(
        &self,
        env: &'env Env,
        partitions: Vec<TopicPartition>,
    ) -> napi::Result<PromiseRaw<'env, Vec<TopicPartitionOffset>>> {
        let p = tps(&partitions);
        op!(self, env, |c| Ok(c
            .committed(&p)
            .await?
            .into_iter()
            .map(|(t, o)| TopicPartitionOffset {
                topic: t.topic.to_string(),
                partition: t.partition,
                offset: o.offset,
                metadata: Some(o.metadata),
            })
            .collect()))
    }

    /// The next offset the consumer returns for an assigned partition.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn position<'env>(
        &self,
        env: &'env Env,
        partition: TopicPartition,
    ) -> napi::Result<PromiseRaw<'env, i64>> {
        let p = tp(&partition);
        op!(self, env, |c| c.position(&p).await)
    }

    /// Moves the position of an assigned partition.
    #[napi]
    pub fn seek<'env>(
        &self,
        env: &'env Env,
        partition: TopicPartition,
        offset: i64,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = tp(&partition);
        op!(self, env, |c| c.seek(&p, offset).await)
    }

    #[napi]
    pub fn seek_to_beginning<'env>(
        &self,
        env: &'env Env,
        partitions: Vec<TopicPartition>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = tps(&partitions);
        op!(self, env, |c| c.seek_to_beginning(&p).await)
    }

    #[napi]
    pub fn seek_to_end<'env>(
        &self,
        env: &'env Env,
        partitions: Vec<TopicPartition>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = tps(&partitions);
        op!(self, env, |c| c.seek_to_end(&p).await)
    }

    /// Stops fetching `partitions` (their positions stay).
    #[napi]
    pub fn pause<'env>(
        &self,
        env: &'env Env,
        partitions: Vec<TopicPartition>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = tps(&partitions);
        op!(self, env, |c| c.pause(&p).await)
    }

    #[napi]
    pub fn resume<'env>(
        &self,
        env: &'env Env,
        partitions: Vec<TopicPartition>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = tps(&partitions);
        op!(self, env, |c| c.resume(&p).await)
    }

    #[napi(ts_return_type = "Promise<TopicPartition[]>")]
    pub fn paused<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, Vec<TopicPartition>>> {
        op!(self, env, |c| Ok(c
            .paused()
            .await
            .iter()
            .map(from_tp)
            .collect()))
    }

    /// The first offsets of `partitions`.
    #[napi(ts_return_type = "Promise<TopicPartitionOffset[]>")]
    pub fn beginning_offsets<'env>(
        &self,
        env: &'env Env,
        partitions: Vec<TopicPartition>,
    ) -> napi::Result<PromiseRaw<'env, Vec<TopicPartitionOffset>>> {
        let p = tps(&partitions);
        op!(self, env, |c| Ok(c
            .beginning_offsets(&p)
            .await?
            .iter()
            .map(|(t, o)| tpo(t, *o))
            .collect()))
    }

    /// The high watermarks (next offset to be written) of `partitions`.
    #[napi(ts_return_type = "Promise<TopicPartitionOffset[]>")]
    pub fn end_offsets<'env>(
        &self,
        env: &'env Env,
        partitions: Vec<TopicPartition>,
    ) -> napi::Result<PromiseRaw<'env, Vec<TopicPartitionOffset>>> {
        let p = tps(&partitions);
        op!(self, env, |c| Ok(c
            .end_offsets(&p)
            .await?
            .iter()
            .map(|(t, o)| tpo(t, *o))
            .collect()))
    }

    /// This member's place in its group, or null without `group.id`.
    #[napi(ts_return_type = "Promise<GroupMetadata | null>")]
    pub fn group_metadata<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, Option<GroupMetadata>>> {
        op!(self, env, |c| Ok(c.group_metadata().map(|m| {
            GroupMetadata {
                group_id: m.group_id,
                generation_id: m.generation_id,
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
            }
        })))
    }

    /// Leaves the group (auto-committing first when `enable.auto.commit`) and closes.
    #[napi]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let fut = self.consumer();
        env.spawn_future(on_core(async move {
            match fut.await {
                Ok(c) => c.close().await,
                Err(_) => Ok(()),
            }
        }))
    }
}
