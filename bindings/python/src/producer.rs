//! `krafty.KafkaProducer`: Python values in, the core producer underneath.
//!
//! The core producer is generic over the record types; here they are Python objects, and
//! the core calls back into Python for what the user plugs in: serializers, interceptors,
//! a partitioner. `send` polls the core's send once with the GIL held (a record that fits in
//! the buffer costs no thread switch) and releases the GIL only when the core must wait.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use krafty::producer::{
    BatchRecord, CompletedBatch, DeliverySink, KafkaProducer as CoreProducer, OwnedDelivery,
    Partitioner, ProducerConfig, ProducerInterceptor, ProducerRecord as CoreRecord,
    RecordMetadata as CoreMetadata, SinkRecord,
};
use krafty::record::Header;
use krafty::serialization::Serializer;
use krafty::KafkaError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString, PyTuple};

use crate::blocking::{wait, wait_fast};
use crate::config::{properties, set_token_provider, take, take_token_provider};
use crate::errors::{from_py, IntoPy};
use crate::future::{BatchCompletion, Outcome, RecordFuture, Shared};

type Obj = Py<PyAny>;
pub(crate) type Producer = CoreProducer<Obj, Obj>;

/// bytes, bytearray and str (UTF-8) as record bytes; None as Kafka's null.
pub fn to_bytes(v: &Bound<'_, PyAny>) -> Result<Option<Bytes>, String> {
    if v.is_none() {
        Ok(None)
    } else if let Ok(b) = v.cast::<PyBytes>() {
        Ok(Some(Bytes::copy_from_slice(b.as_bytes())))
    } else if let Ok(s) = v.cast::<PyString>() {
        let s = s.to_cow().map_err(|e| e.to_string())?;
        Ok(Some(Bytes::copy_from_slice(s.as_bytes())))
    } else if let Ok(b) = v.cast::<PyByteArray>() {
        Ok(Some(Bytes::from(b.to_vec())))
    } else {
        let ty = v.get_type().name().map_or("?".into(), |n| n.to_string());
        Err(format!(
            "expected bytes, bytearray, str or None, got {ty} (pass a serializer)"
        ))
    }
}

/// A key or value serializer: the user's callable (if any), then `to_bytes`.
pub(crate) struct PySerializer {
    pub func: Option<Obj>,
    pub what: &'static str,
    /// Whether a bytes value may be handed over without a copy: only where the serialized
    /// bytes are used inside the send that serialized them, while the record holding the
    /// value lives (the core producer's own calls). The asyncio producer serializes ahead
    /// and keeps the bytes: it copies.
    pub borrow: bool,
}

thread_local! {
    /// What the user's serializer raised, kept for `send` on the same thread (the core runs
    /// serializers on the sending thread) to set as the `SerializationError`'s `__cause__`:
    /// the core's error carries only its text.
    pub(crate) static SERIALIZER_RAISED: std::cell::RefCell<Option<PyErr>> = const { std::cell::RefCell::new(None) };
}

/// The core error of a failed send as a Python exception; a serializer's failure gets what
/// the serializer raised as its `__cause__`.
pub(crate) fn send_error(py: Python<'_>, e: &KafkaError) -> PyErr {
    let err = crate::errors::to_py(py, e);
    let cause = SERIALIZER_RAISED.with(|c| c.borrow_mut().take());
    if let (KafkaError::Serialization(_), Some(cause)) = (e, cause) {
        err.set_cause(py, Some(cause));
    }
    err
}

impl Serializer<Obj> for PySerializer {
    fn serialize(&self, _topic: &str, data: &Obj) -> krafty::Result<Option<Bytes>> {
        Python::attach(|py| {
            if self.func.is_none() && self.borrow {
                if let Ok(b) = data.bind(py).cast::<PyBytes>() {
                    // SAFETY: `data` is an immutable bytes object that the record being sent
                    // keeps alive, and the core uses the serialized bytes only inside the send
                    // that serialized them (it copies them into the batch when it appends), so
                    // the slice is never read after the object could go. No copy per record.
                    let slice: &'static [u8] = unsafe { std::mem::transmute(b.as_bytes()) };
                    return Ok(Some(Bytes::from_static(slice)));
                }
            }
            let v = match &self.func {
                Some(f) => f.call1(py, (data,)).map_err(|e| {
                    let core = from_py(py, self.what, e.clone_ref(py));
                    SERIALIZER_RAISED.with(|c| *c.borrow_mut() = Some(e));
                    core
                })?,
                None => data.clone_ref(py),
            };
            to_bytes(v.bind(py))
                .map_err(|e| KafkaError::Serialization(format!("{}: {e}", self.what)))
        })
    }
}

/// A record as interceptors see it (before serialization, as in Java).
#[pyclass(module = "krafty._krafty", get_all, set_all)]
pub struct ProducerRecord {
    /// The topic to send to.
    topic: String,
    /// The value, before the value serializer.
    value: Obj,
    /// The key, before the key serializer (None: the sticky partitioner picks).
    key: Obj,
    /// An explicit partition, else None for the partitioner to choose.
    partition: Option<i32>,
    /// CreateTime in milliseconds since the epoch, else None for now.
    timestamp_ms: Option<i64>,
    /// `(name, bytes or None)` pairs.
    headers: Vec<(String, Option<Vec<u8>>)>,
}

#[pymethods]
impl ProducerRecord {
    #[new]
    #[pyo3(signature = (topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None))]
    fn new(
        py: Python<'_>,
        topic: String,
        value: Option<Obj>,
        key: Option<Obj>,
        partition: Option<i32>,
        timestamp_ms: Option<i64>,
        headers: Option<Vec<(String, Option<Vec<u8>>)>>,
    ) -> Self {
        ProducerRecord {
            topic,
            value: value.unwrap_or_else(|| py.None()),
            key: key.unwrap_or_else(|| py.None()),
            partition,
            timestamp_ms,
            headers: headers.unwrap_or_default(),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "ProducerRecord(topic={:?}, partition={:?}, value={}, key={})",
            self.topic, self.partition, self.value, self.key
        )
    }
}

fn record_to_py(py: Python<'_>, r: &CoreRecord<Obj, Obj>) -> ProducerRecord {
    let opt = |o: &Option<Obj>| o.as_ref().map_or_else(|| py.None(), |v| v.clone_ref(py));
    ProducerRecord {
        topic: r.topic.clone(),
        value: opt(&r.value),
        key: opt(&r.key),
        partition: r.partition,
        timestamp_ms: r.timestamp,
        headers: r
            .headers
            .iter()
            .map(|h| (h.key.clone(), h.value.as_ref().map(|v| v.to_vec())))
            .collect(),
    }
}

fn record_from_py(py: Python<'_>, r: &ProducerRecord) -> CoreRecord<Obj, Obj> {
    let opt = |o: &Obj| (!o.is_none(py)).then(|| o.clone_ref(py));
    CoreRecord {
        topic: r.topic.clone(),
        partition: r.partition,
        timestamp: r.timestamp_ms,
        key: opt(&r.key),
        value: opt(&r.value),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: k.clone(),
                value: v.clone().map(Bytes::from),
            })
            .collect(),
    }
}

/// A Python interceptor: any of `on_send(record)`, `on_acknowledgement(metadata, error)`,
/// `close()`. Its exceptions are reported and ignored, as the Java client logs them.
///
/// `on_send` runs on the sending thread. The core calls `on_acknowledgement` where the record
/// completes, on a runtime thread: there it is handed to the callback thread (`process.rs`),
/// in order, before the record's future completes (`future::ack_handed_off`), so `get()`
/// still returns after it ran. `close()` from a collected producer's background close is
/// handed over the same way.
struct PyInterceptor {
    obj: Arc<Obj>,
    /// Whether it has `on_acknowledgement` (asked once: most interceptors only `on_send`).
    acks: bool,
}

impl PyInterceptor {
    fn new(obj: &Bound<'_, PyAny>) -> Self {
        PyInterceptor {
            acks: obj.hasattr("on_acknowledgement").unwrap_or(false),
            obj: Arc::new(obj.clone().unbind()),
        }
    }
}

/// Calls `method` of the interceptor `obj` if it has one; reports what it raises.
fn call_interceptor<'py>(
    py: Python<'py>,
    obj: &Obj,
    method: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> Option<Obj> {
    let obj = obj.bind(py);
    if !obj.hasattr(method).unwrap_or(false) {
        return None;
    }
    match obj.call_method1(method, args) {
        Ok(v) => Some(v.unbind()),
        Err(e) => {
            e.write_unraisable(py, Some(obj));
            None
        }
    }
}

fn acknowledge(py: Python<'_>, obj: &Obj, result: Result<&CoreMetadata, &KafkaError>) {
    let (md, err) = match result {
        Ok(m) => (
            Py::new(py, crate::future::RecordMetadata::from_core(m, -1))
                .ok()
                .map(Py::into_any),
            None,
        ),
        Err(e) => (None, Some(crate::errors::to_py(py, e).into_value(py))),
    };
    call_interceptor(py, obj, "on_acknowledgement", (md, err));
}

impl ProducerInterceptor<Obj, Obj> for PyInterceptor {
    fn on_send(&self, record: &CoreRecord<Obj, Obj>) -> Option<CoreRecord<Obj, Obj>> {
        Python::attach(|py| {
            let rec = Py::new(py, record_to_py(py, record)).ok()?;
            let out = call_interceptor(py, &self.obj, "on_send", (rec,))?;
            let out = out.bind(py).cast::<ProducerRecord>().ok()?.borrow();
            Some(record_from_py(py, &out))
        })
    }

    fn on_acknowledgement(&self, result: Result<&CoreMetadata, &KafkaError>) {
        if !self.acks {
            return;
        }
        if !crate::runtime::on_runtime_thread() {
            // A send refused on the caller's thread: its outcome is told there.
            return Python::attach(|py| acknowledge(py, &self.obj, result));
        }
        let obj = self.obj.clone();
        let owned = result.cloned().map_err(Clone::clone);
        crate::process::run_callbacks(move |py| acknowledge(py, &obj, owned.as_ref()));
        crate::future::ack_handed_off();
    }

    fn close(&self) {
        let obj = self.obj.clone();
        let close = move |py: Python<'_>| {
            call_interceptor(py, &obj, "close", ());
        };
        if crate::runtime::on_runtime_thread() {
            crate::process::run_callbacks(close);
        } else {
            Python::attach(close);
        }
    }
}

/// A Python partitioner: `partition(topic, key_bytes, partition_count) -> int` (a method or
/// the object itself as a callable). An exception or an out-of-range answer is reported and
/// the record goes to the key's murmur2 partition (partition 0 without a key).
struct PyPartitioner(Obj);

impl Partitioner for PyPartitioner {
    fn partition(&self, topic: &str, key: Option<&[u8]>, _size: usize, count: i32) -> i32 {
        let fallback = || key.map_or(0, |k| krafty::producer::murmur2_partition(k, count));
        Python::attach(|py| {
            let obj = self.0.bind(py);
            let key = key.map(|k| PyBytes::new(py, k));
            let answer = if obj.hasattr("partition").unwrap_or(false) {
                obj.call_method1("partition", (topic, key, count))
            } else {
                obj.call1((topic, key, count))
            };
            match answer.and_then(|p| p.extract::<i32>()) {
                Ok(p) if (0..count).contains(&p) => p,
                Ok(p) => {
                    tracing::warn!(
                        topic,
                        partition = p,
                        count,
                        "partitioner answered a partition out of range"
                    );
                    fallback()
                }
                Err(e) => {
                    e.write_unraisable(py, Some(obj));
                    fallback()
                }
            }
        })
    }
}

pub(crate) fn headers_from_py(h: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Header>> {
    let Some(h) = h.filter(|h| !h.is_none()) else {
        return Ok(vec![]);
    };
    let pairs: Vec<(String, Bound<'_, PyAny>)> = match h.cast::<PyDict>() {
        Ok(d) => d
            .iter()
            .map(|(k, v)| Ok((k.extract()?, v)))
            .collect::<PyResult<_>>()?,
        Err(_) => h.extract()?,
    };
    pairs
        .into_iter()
        .map(|(key, v)| {
            let value = to_bytes(&v).map_err(pyo3::exceptions::PyTypeError::new_err)?;
            Ok(Header { key, value })
        })
        .collect()
}

/// A Kafka producer. Configure it with Python names (`linger_ms=5`) or Kafka's own
/// (`{"linger.ms": 5}`); unknown or invalid settings raise `ConfigError` naming the property.
#[pyclass(module = "krafty._krafty", name = "KafkaProducer", frozen)]
pub struct PyProducer {
    inner: Arc<Producer>,
    /// The fork generation it was created in (see `process.rs`).
    generation: usize,
    /// No user serializer or partitioner: `send` enqueues in place (`try_send_and_then`),
    /// whose fallback may serialize and partition a record twice, which only code of ours may.
    in_place: bool,
    /// Where the records of `send_batch` report, when it enqueues in place.
    batches: Arc<BatchSink>,
}

/// The producer's `DeliverySink` for `send_batch`: a record's token is its batch's id (high
/// 32 bits) and its index in the batch; a core batch's outcomes go to each send_batch's
/// completion in one lock.
#[derive(Default)]
struct BatchSink {
    pending: Mutex<HashMap<u32, Arc<BatchCompletion>>>,
    next_id: AtomicU32,
}

impl BatchSink {
    fn register(&self, batch: &Arc<BatchCompletion>) -> u32 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.pending.lock().unwrap().insert(id, batch.clone());
        id
    }

    fn forget(&self, id: u32) {
        self.pending.lock().unwrap().remove(&id);
    }
}

impl DeliverySink for BatchSink {
    fn batch_done(&self, batch: CompletedBatch<'_>) {
        let mut run: Vec<(usize, SinkRecord)> = Vec::with_capacity(batch.records.len());
        let mut records = batch.records.iter().peekable();
        while let Some(first) = records.next() {
            let id = (first.token >> 32) as u32;
            run.clear();
            run.push(((first.token & 0xffff_ffff) as usize, *first));
            while let Some(r) = records.next_if(|r| (r.token >> 32) as u32 == id) {
                run.push(((r.token & 0xffff_ffff) as usize, *r));
            }
            let Some(completion) = self.pending.lock().unwrap().get(&id).cloned() else {
                continue;
            };
            if completion.delivered(&batch, &run) {
                self.forget(id);
            }
        }
    }
}

impl Drop for PyProducer {
    /// Collected without `close()`: the core's background task would run on, so it is closed
    /// in the background (records already sent get a second to be acknowledged). One
    /// inherited through a fork is leaked: its runtime is gone.
    fn drop(&mut self) {
        if crate::process::inherited(self.generation) {
            std::mem::forget(self.inner.clone());
            return;
        }
        let producer = (*self.inner).clone();
        crate::runtime::handle().spawn(async move {
            let _ = producer.close(Duration::from_secs(1)).await;
        });
    }
}

#[pymethods]
impl PyProducer {
    #[new]
    #[pyo3(signature = (config=None, **kwargs))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyDict>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let key_serializer = take(kwargs, "key_serializer")?.map(Bound::unbind);
        let value_serializer = take(kwargs, "value_serializer")?.map(Bound::unbind);
        let interceptors: Vec<Arc<dyn ProducerInterceptor<Obj, Obj>>> =
            match take(kwargs, "interceptors")? {
                Some(list) => list
                    .try_iter()?
                    .map(|i| Ok(Arc::new(PyInterceptor::new(&i?)) as _))
                    .collect::<PyResult<_>>()?,
                None => vec![],
            };
        let partitioner = take(kwargs, "partitioner")?.map(Bound::unbind);
        let in_place =
            key_serializer.is_none() && value_serializer.is_none() && partitioner.is_none();
        let token_provider = take_token_provider(kwargs)?;
        let mut config = ProducerConfig::from_properties(properties(config, kwargs)?).py_err(py)?;
        set_token_provider(py, &mut config.client, token_provider)?;
        let inner = wait(
            py,
            CoreProducer::with_interceptors(
                config,
                PySerializer {
                    func: key_serializer,
                    what: "key_serializer",
                    borrow: true,
                },
                PySerializer {
                    func: value_serializer,
                    what: "value_serializer",
                    borrow: true,
                },
                interceptors,
            ),
        )?;
        let mut inner = inner.map_err(|e| crate::errors::connect_error(py, &e))?;
        if let Some(p) = partitioner {
            inner.set_partitioner(PyPartitioner(p)).py_err(py)?;
        }
        let batches = Arc::new(BatchSink::default());
        if in_place {
            inner.set_delivery_sink(batches.clone()).py_err(py)?;
        }
        let inner = Arc::new(inner);
        let generation = krafty::runtime::fork_generation();
        crate::process::register_producer(generation, Arc::downgrade(&inner));
        Ok(PyProducer {
            inner,
            generation,
            in_place,
            batches,
        })
    }

    /// Enqueues a record and returns its `RecordFuture`. Blocks (GIL released) only while
    /// the buffer is full or the topic's metadata is missing, up to `max.block.ms`.
    #[pyo3(signature = (topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None))]
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        py: Python<'_>,
        topic: String,
        value: Option<Obj>,
        key: Option<Obj>,
        partition: Option<i32>,
        timestamp_ms: Option<i64>,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<RecordFuture> {
        crate::process::check_fork(self.generation)?;
        let headers = headers_from_py(headers)?;
        let header_size = header_size(&headers);
        let record = CoreRecord {
            topic,
            partition,
            timestamp: timestamp_ms,
            key,
            value,
            headers,
        };
        let shared = Arc::new(Shared::default());
        let done = shared.clone();
        let on_delivery: OwnedDelivery =
            Box::new(move |r| done.complete(r.map(|m| Outcome::One(m, header_size))));
        SERIALIZER_RAISED.with(|c| c.borrow_mut().take());
        let back = if self.in_place {
            self.inner
                .try_send_and_then(&record, on_delivery)
                .map_err(|e| send_error(py, &e))?
        } else {
            Some(on_delivery)
        };
        if let Some(on_delivery) = back {
            wait_fast(py, self.inner.send_and_then(record, on_delivery))?
                .map_err(|e| send_error(py, &e))?;
        }
        Ok(RecordFuture { shared })
    }

    /// Sends many records to `topic` in one call: each item a value, or a `(key, value)` or
    /// `(key, value, headers)` tuple. Returns one `RecordFuture` whose result is the list of
    /// `RecordMetadata` in order (or the first error). If a record cannot be enqueued, the
    /// error is raised at once with `.sent` (records enqueued before it) and `.future`.
    #[pyo3(signature = (topic, records, partition=None))]
    fn send_batch(
        &self,
        py: Python<'_>,
        topic: &str,
        records: &Bound<'_, PyAny>,
        partition: Option<i32>,
    ) -> PyResult<RecordFuture> {
        crate::process::check_fork(self.generation)?;
        if self.in_place {
            return self.send_batch_in_place(py, topic, records, partition);
        }
        let records = records
            .try_iter()?
            .map(|item| Self::batch_record(py, topic, &item?, partition))
            .collect::<PyResult<Vec<_>>>()?;
        let batch = BatchCompletion::new(
            topic,
            records.iter().map(|r| header_size(&r.headers)).collect(),
        );
        let b = batch.clone();
        SERIALIZER_RAISED.with(|c| c.borrow_mut().take());
        let sent = wait_fast(py, self.inner.send_all(records, move |i, r| b.record(i, r)))?;
        match sent {
            Ok(n) => {
                batch.truncate(n);
                Ok(RecordFuture {
                    shared: batch.shared.clone(),
                })
            }
            Err((i, e)) => {
                batch.truncate(i);
                let e = send_error(py, &e);
                let exc = e.value(py);
                exc.setattr("sent", i)?;
                exc.setattr(
                    "future",
                    RecordFuture {
                        shared: batch.shared.clone(),
                    },
                )?;
                Err(e)
            }
        }
    }

    /// Sends everything buffered now and waits for each outcome; `KafkaTimeoutError` after
    /// `timeout` seconds (the records stay queued).
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        crate::process::refuse_in_callback(py, "KafkaProducer.flush()")?;
        wait(py, self.inner.flush_within(seconds(timeout)))?.py_err(py)
    }

    /// Delivers what it can within `timeout` seconds (default: until done), fails the rest,
    /// and stops. Later sends raise `ClosedError`.
    #[pyo3(signature = (timeout=None))]
    fn close(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        crate::process::refuse_in_callback(py, "KafkaProducer.close()")?;
        wait(py, self.inner.close(seconds(timeout)))?.py_err(py)
    }

    /// Transactions (`transactional_id`): obtains the id's producer epoch, fencing an older
    /// producer with the same id. Once, before the first transaction.
    fn init_transactions(&self, py: Python<'_>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        wait(py, self.inner.init_transactions())?.py_err(py)
    }

    /// Starts a transaction: sends until `commit_transaction` or `abort_transaction` belong
    /// to it.
    fn begin_transaction(&self) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        Python::attach(|py| self.inner.begin_transaction().py_err(py))
    }

    /// Commits the group's `offsets` ({TopicPartition: OffsetAndMetadata or int}: the next
    /// offsets to read) with the transaction. `group` is the consumer's `group_metadata()`
    /// (which fences a consumer that lost its partitions) or, as kafka-python, a group id.
    fn send_offsets_to_transaction(
        &self,
        py: Python<'_>,
        offsets: &Bound<'_, PyDict>,
        group: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let offsets = crate::consumer::offsets_from_py(offsets)?;
        let group = crate::consumer::group_metadata_from_py(group)?;
        wait(py, self.inner.send_offsets_to_transaction(&offsets, &group))?.py_err(py)
    }

    /// Sends what the transaction holds, waits for every acknowledgement, and commits it.
    fn commit_transaction(&self, py: Python<'_>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        crate::process::refuse_in_callback(py, "KafkaProducer.commit_transaction()")?;
        wait(py, self.inner.commit_transaction())?.py_err(py)
    }

    /// Aborts the transaction: records not yet sent fail, the rest are marked aborted
    /// (a `read_committed` consumer never sees them); the next transaction can begin.
    fn abort_transaction(&self, py: Python<'_>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        crate::process::refuse_in_callback(py, "KafkaProducer.abort_transaction()")?;
        wait(py, self.inner.abort_transaction())?.py_err(py)
    }

    /// The partition numbers of `topic`.
    fn partitions_for(&self, py: Python<'_>, topic: &str) -> PyResult<Vec<i32>> {
        crate::process::check_fork(self.generation)?;
        let parts = wait(py, self.inner.partitions_for(topic))?.py_err(py)?;
        Ok(parts.into_iter().map(|p| p.partition).collect())
    }

    /// The producer's metrics, as kafka-python (and the Java client) name and group them:
    /// `{"producer-metrics": {"record-send-total": ..., ...}}`.
    #[pyo3(signature = (raw=false))]
    fn metrics<'py>(&self, py: Python<'py>, raw: bool) -> PyResult<Bound<'py, PyDict>> {
        crate::process::check_fork(self.generation)?;
        let _ = raw; // kafka-python's raw form is its own metric objects
        let m = self.inner.metrics();
        let group = PyDict::new(py);
        group.set_item("record-send-total", m.record_send_total)?;
        group.set_item("record-send-rate", m.record_send_rate)?;
        group.set_item("byte-total", m.byte_total)?;
        group.set_item("byte-rate", m.byte_rate)?;
        group.set_item("batch-size-avg", m.batch_size_avg)?;
        group.set_item("compression-rate-avg", m.compression_rate_avg)?;
        group.set_item("record-retry-total", m.record_retry_total)?;
        group.set_item("record-error-total", m.record_error_total)?;
        group.set_item("request-latency-avg", m.request_latency_avg_ms)?;
        group.set_item("request-latency-max", m.request_latency_max_ms)?;
        group.set_item("produce-throttle-time-avg", m.produce_throttle_time_avg_ms)?;
        group.set_item("produce-throttle-time-max", m.produce_throttle_time_max_ms)?;
        group.set_item("buffer-available-bytes", m.buffer_available_bytes)?;
        let out = PyDict::new(py);
        out.set_item("producer-metrics", group)?;
        Ok(out)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.close(py, None)
    }
}

impl PyProducer {
    /// `send_batch` without user serializers or partitioner: each record is enqueued in place
    /// with a token for the producer's `BatchSink` (no callback or future per record), or,
    /// when it must wait, through the waiting path with the same token.
    fn send_batch_in_place(
        &self,
        py: Python<'_>,
        topic: &str,
        records: &Bound<'_, PyAny>,
        partition: Option<i32>,
    ) -> PyResult<RecordFuture> {
        let mut header_sizes = Vec::new();
        let mut prepared = Vec::new();
        for item in records.try_iter()? {
            let (key, value, headers) = Self::batch_fields(py, &item?)?;
            header_sizes.push(header_size(&headers));
            prepared.push(BatchRecord {
                timestamp: None,
                key,
                value,
                headers,
            });
        }
        let batch = BatchCompletion::new(topic, header_sizes);
        let id = self.batches.register(&batch);
        let token = |i: usize| (u64::from(id) << 32) | i as u64;
        let mut sent = 0;
        let mut failure = None;
        while sent < prepared.len() {
            match self
                .inner
                .try_send_many_to_sink(topic, partition, &prepared[sent..], token(sent))
            {
                Ok(n) => sent += n,
                Err((n, e)) => {
                    sent += n;
                    failure = Some(e);
                    break;
                }
            }
            let Some(next) = prepared.get_mut(sent) else {
                break;
            };
            // The next record must wait (metadata, memory, interceptors): sent on its own.
            let waiting = CoreRecord {
                topic: topic.to_string(),
                partition,
                timestamp: None,
                key: next.key.take(),
                value: next.value.take(),
                headers: std::mem::take(&mut next.headers),
            };
            match wait_fast(py, self.inner.send_to_sink(waiting, token(sent))) {
                Ok(Ok(())) => sent += 1,
                Ok(Err(e)) => {
                    failure = Some(e);
                    break;
                }
                Err(interrupted) => {
                    // Ctrl-C while waiting: the records sent so far still report.
                    if batch.truncate(sent) {
                        self.batches.forget(id);
                    }
                    return Err(interrupted);
                }
            }
        }
        if batch.truncate(sent) {
            self.batches.forget(id);
        }
        let future = RecordFuture {
            shared: batch.shared.clone(),
        };
        match failure {
            None => Ok(future),
            Some(e) => {
                let e = send_error(py, &e);
                let exc = e.value(py);
                exc.setattr("sent", sent)?;
                exc.setattr("future", future)?;
                Err(e)
            }
        }
    }

    /// A `send_batch` item's key, value and headers: a value, or `(key, value)` /
    /// `(key, value, headers)`; None is Kafka's null.
    fn batch_fields(
        py: Python<'_>,
        item: &Bound<'_, PyAny>,
    ) -> PyResult<(Option<Obj>, Option<Obj>, Vec<Header>)> {
        let (key, value, headers) = match item.cast::<PyTuple>() {
            Ok(t) if t.len() == 2 || t.len() == 3 => (
                Some(t.get_item(0)?.unbind()),
                Some(t.get_item(1)?.unbind()),
                headers_from_py(t.get_item(2).ok().as_ref())?,
            ),
            _ => (None, Some(item.clone().unbind()), vec![]),
        };
        let opt = |o: Option<Obj>| o.filter(|v| !v.is_none(py));
        Ok((opt(key), opt(value), headers))
    }

    pub(crate) fn batch_record(
        py: Python<'_>,
        topic: &str,
        item: &Bound<'_, PyAny>,
        partition: Option<i32>,
    ) -> PyResult<CoreRecord<Obj, Obj>> {
        let (key, value, headers) = Self::batch_fields(py, item)?;
        Ok(CoreRecord {
            topic: topic.to_string(),
            partition,
            timestamp: None,
            key,
            value,
            headers,
        })
    }
}

/// kafka-python's `serialized_header_size`: the header names' and values' bytes, -1 without
/// headers.
pub(crate) fn header_size(headers: &[Header]) -> i32 {
    if headers.is_empty() {
        return -1;
    }
    headers
        .iter()
        .map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len()))
        .sum::<usize>() as i32
}

/// Seconds from Python (None = no limit) as a Duration.
pub fn seconds(t: Option<f64>) -> Duration {
    t.map_or(Duration::from_secs(u32::MAX as u64), |s| {
        Duration::from_secs_f64(s.max(0.0))
    })
}
