//! `KafkaProducer`: the core producer with Buffer/string keys, values and headers.
//!
//! The constructor validates the config (an invalid one throws, naming the property) and
//! starts connecting on the core's runtime; every method waits for that connection, so a
//! cluster that cannot be reached rejects the first `send` (or `connect()`).
//!
//! `sendBatch` takes its records packed by `lib/client.js` (a `ProducerBatch`: one Buffer, two
//! Float64Arrays, the topics) and answers with one Float64Array: a record object read field by
//! field costs a dozen N-API calls and a copy per key and value, a packed batch a handful per
//! batch and one copy, which every record's key and value then share (`Bytes::slice`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use krafty::producer::{
    KafkaProducer as CoreProducer, ProducerConfig, ProducerRecord as CoreRecord,
};
use krafty::record::Header;
use krafty::serialization::BytesSerde;
use krafty::KafkaError;
use napi::bindgen_prelude::{Buffer, Either, Float64Array, PromiseRaw};
use napi::Env;
use napi_derive::napi;
use tokio::sync::OnceCell;

use crate::config::{properties, Config};
use crate::errors::to_napi;
use crate::{core_runtime, on_core};

type Producer = CoreProducer<Bytes, Bytes>;

/// Bytes from a Buffer or a string (UTF-8).
pub type Data = Either<Buffer, String>;

pub(crate) fn bytes(d: &Data) -> Bytes {
    match d {
        Either::A(b) => Bytes::copy_from_slice(b),
        Either::B(s) => Bytes::copy_from_slice(s.as_bytes()),
    }
}

/// A record header; the value may be null.
#[napi(object)]
pub struct RecordHeader {
    pub key: String,
    #[napi(ts_type = "Buffer | string")]
    pub value: Option<Data>,
}

/// A record to send. `key` null or absent: a null key. `partition` absent: the partitioner
/// picks (murmur2 of the key, as the Java client). `timestamp` absent: now.
#[napi(object)]
pub struct ProducerRecord {
    pub topic: String,
    #[napi(ts_type = "Buffer | string")]
    pub key: Option<Data>,
    #[napi(ts_type = "Buffer | string")]
    pub value: Option<Data>,
    pub headers: Option<Vec<RecordHeader>>,
    pub partition: Option<i32>,
    pub timestamp: Option<i64>,
}

/// Where an acknowledged record landed (offset -1 with acks=0).
#[napi(object)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
}

impl From<krafty::producer::RecordMetadata> for RecordMetadata {
    fn from(m: krafty::producer::RecordMetadata) -> Self {
        RecordMetadata {
            topic: m.topic,
            partition: m.partition,
            offset: m.offset,
            timestamp: m.timestamp,
        }
    }
}

fn core_record(r: &ProducerRecord) -> CoreRecord<Bytes, Bytes> {
    CoreRecord {
        topic: r.topic.clone(),
        partition: r.partition,
        timestamp: r.timestamp,
        key: r.key.as_ref().map(bytes),
        value: r.value.as_ref().map(bytes),
        headers: r
            .headers
            .iter()
            .flatten()
            .map(|h| Header {
                key: h.key.clone(),
                value: h.value.as_ref().map(bytes),
            })
            .collect(),
    }
}

/// `sendBatch`'s records, packed by `lib/client.js` (`pack`).
#[napi(object)]
pub struct ProducerBatch {
    /// Keys, values, header keys (UTF-8) and header values, back to back.
    pub data: Buffer,
    /// The topics, indexed by each record's first field.
    pub topics: Vec<String>,
    /// Per record, `BATCH_FIELDS` numbers: topic index, partition (NaN: the partitioner
    /// picks), timestamp (NaN: now), key start, key length (-1: null), value start, value
    /// length (-1: null), header count.
    pub records: Float64Array,
    /// Per header, in record order: key start, key length, value start, value length (-1: null).
    pub headers: Float64Array,
}

const BATCH_FIELDS: usize = 8;

fn malformed() -> napi::Error {
    napi::Error::from_reason("sendBatch: a malformed packed batch")
}

/// The bytes at `start..start + len` of the batch's data, shared (None if `len` is negative).
fn part(data: &Bytes, start: f64, len: f64) -> napi::Result<Option<Bytes>> {
    if len < 0.0 {
        return Ok(None);
    }
    let (start, len) = (start as usize, len as usize);
    match start.checked_add(len) {
        Some(end) if end <= data.len() => Ok(Some(data.slice(start..end))),
        _ => Err(malformed()),
    }
}

fn batch_records(batch: &ProducerBatch) -> napi::Result<Vec<CoreRecord<Bytes, Bytes>>> {
    let data = Bytes::copy_from_slice(&batch.data);
    let (fields, headers): (&[f64], &[f64]) = (&batch.records, &batch.headers);
    if fields.len() % BATCH_FIELDS != 0 || headers.len() % 4 != 0 {
        return Err(malformed());
    }
    let mut next_header: usize = 0;
    let mut out = Vec::with_capacity(fields.len() / BATCH_FIELDS);
    for f in fields.chunks_exact(BATCH_FIELDS) {
        let topic = batch.topics.get(f[0] as usize).ok_or_else(malformed)?;
        let end = next_header.saturating_add(4usize.saturating_mul(f[7] as usize));
        let record_headers = headers.get(next_header..end).ok_or_else(malformed)?;
        next_header = end;
        out.push(CoreRecord {
            topic: topic.clone(),
            partition: (!f[1].is_nan()).then_some(f[1] as i32),
            timestamp: (!f[2].is_nan()).then_some(f[2] as i64),
            key: part(&data, f[3], f[4])?,
            value: part(&data, f[5], f[6])?,
            headers: record_headers
                .chunks_exact(4)
                .map(|h| {
                    let key = part(&data, h[0], h[1])?.ok_or_else(malformed)?;
                    Ok(Header {
                        key: String::from_utf8_lossy(&key).into_owned(),
                        value: part(&data, h[2], h[3])?,
                    })
                })
                .collect::<napi::Result<_>>()?,
        });
    }
    Ok(out)
}

type Connection = Arc<OnceCell<Result<Producer, KafkaError>>>;

/// A Kafka producer configured by Kafka property names.
#[napi]
pub struct KafkaProducer {
    config: ProducerConfig,
    conn: Connection,
}

/// The producer, once connected (the first caller connects).
async fn connected(conn: Connection, config: ProducerConfig) -> krafty::Result<Producer> {
    conn.get_or_init(|| Producer::new(config, BytesSerde, BytesSerde))
        .await
        .clone()
}

#[napi]
impl KafkaProducer {
    /// Validates `config` (throws a KraftyError naming a bad property) and starts connecting.
    #[napi(
        constructor,
        ts_args_type = "config: Record<string, string | number | boolean>"
    )]
    pub fn new(config: Config) -> napi::Result<Self> {
        let config =
            ProducerConfig::from_properties(properties(&config)).map_err(|e| to_napi(&e))?;
        config.validate().map_err(|e| to_napi(&e))?;
        let conn: Connection = Arc::new(OnceCell::new());
        core_runtime().spawn(connected(conn.clone(), config.clone()));
        Ok(KafkaProducer { config, conn })
    }

    fn producer(
        &self,
    ) -> impl std::future::Future<Output = krafty::Result<Producer>> + Send + 'static {
        connected(self.conn.clone(), self.config.clone())
    }

    /// Resolves once connected to the cluster.
    #[napi]
    pub fn connect<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.producer();
        env.spawn_future(on_core(async move { p.await.map(|_| ()) }))
    }

    /// Sends one record; resolves when the broker acknowledged it.
    #[napi(ts_return_type = "Promise<RecordMetadata>")]
    pub fn send<'env>(
        &self,
        env: &'env Env,
        record: ProducerRecord,
    ) -> napi::Result<PromiseRaw<'env, RecordMetadata>> {
        let record = core_record(&record);
        let p = self.producer();
        env.spawn_future(on_core(async move {
            let delivery = p.await?.send(record).await?;
            delivery.await.map(RecordMetadata::from)
        }))
    }

    /// Sends records in order (one clock reading, one metadata lookup per topic); resolves,
    /// once all are acknowledged, with three numbers per record in the same order: partition,
    /// offset, timestamp (`lib/client.js` makes the RecordMetadata objects). Rejects with the
    /// first error.
    #[napi(ts_return_type = "Promise<Float64Array>")]
    pub fn send_batch<'env>(
        &self,
        env: &'env Env,
        batch: ProducerBatch,
    ) -> napi::Result<PromiseRaw<'env, Float64Array>> {
        let records = batch_records(&batch)?;
        drop(batch);
        let n = records.len();
        let p = self.producer();
        env.spawn_future(on_core(async move {
            let producer = p.await?;
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            producer
                .send_all(records, move |i, r| {
                    let _ = tx.send((i, r));
                })
                .await
                .map_err(|(_, e)| e)?;
            let mut out = vec![0.0; 3 * n];
            for _ in 0..n {
                let Some((i, r)) = rx.recv().await else {
                    return Err(KafkaError::Closed);
                };
                let m = r?;
                out[3 * i..3 * i + 3].copy_from_slice(&[
                    f64::from(m.partition),
                    m.offset as f64,
                    m.timestamp as f64,
                ]);
            }
            Ok(Float64Array::new(out))
        }))
    }

    /// Resolves when every record sent so far is acknowledged (or failed).
    #[napi]
    pub fn flush<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.producer();
        env.spawn_future(on_core(async move { p.await?.flush().await }))
    }

    /// The partitions of `topic` (from metadata).
    #[napi(ts_return_type = "Promise<number[]>")]
    pub fn partitions_for<'env>(
        &self,
        env: &'env Env,
        topic: String,
    ) -> napi::Result<PromiseRaw<'env, Vec<i32>>> {
        let p = self.producer();
        env.spawn_future(on_core(async move {
            let parts = p.await?.partitions_for(&topic).await?;
            Ok(parts.into_iter().map(|p| p.partition).collect())
        }))
    }

    /// Transactions (`transactional.id` in the config): obtains the id's producer epoch,
    /// fencing an older instance with the same id.
    #[napi]
    pub fn init_transactions<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.producer();
        env.spawn_future(on_core(async move { p.await?.init_transactions().await }))
    }

    #[napi]
    pub fn begin_transaction<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.producer();
        env.spawn_future(on_core(async move { p.await?.begin_transaction() }))
    }

    /// Commits the consumer group's `offsets` (the next offsets to read) with the
    /// transaction; `group` is the consumer's `groupMetadata()`.
    #[napi]
    pub fn send_offsets_to_transaction<'env>(
        &self,
        env: &'env Env,
        offsets: Vec<crate::consumer::TopicPartitionOffset>,
        group: crate::consumer::GroupMetadata,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let offsets: std::collections::BTreeMap<_, _> = offsets
            .into_iter()
            .map(|o| {
                let mut om = krafty::consumer::OffsetAndMetadata::new(o.offset);
                om.metadata = o.metadata.unwrap_or_default();
                (krafty::TopicPartition::new(&o.topic, o.partition), om)
            })
            .collect();
        let group = krafty::consumer::ConsumerGroupMetadata {
            group_id: group.group_id,
            generation_id: group.generation_id,
            member_id: group.member_id,
            group_instance_id: group.group_instance_id,
        };
        let p = self.producer();
        env.spawn_future(on_core(async move {
            p.await?.send_offsets_to_transaction(&offsets, &group).await
        }))
    }

    #[napi]
    pub fn commit_transaction<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.producer();
        env.spawn_future(on_core(async move { p.await?.commit_transaction().await }))
    }

    #[napi]
    pub fn abort_transaction<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.producer();
        env.spawn_future(on_core(async move { p.await?.abort_transaction().await }))
    }

    /// Flushes (up to `timeoutMs`, default 30 s), then closes. A producer that could not
    /// connect closes at once.
    #[napi]
    pub fn close<'env>(
        &self,
        env: &'env Env,
        timeout_ms: Option<u32>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.producer();
        let timeout = Duration::from_millis(u64::from(timeout_ms.unwrap_or(30_000)));
        env.spawn_future(on_core(async move {
            match p.await {
                Ok(p) => p.close(timeout).await,
                Err(_) => Ok(()),
            }
        }))
    }
}
