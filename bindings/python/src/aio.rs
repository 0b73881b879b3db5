//! The bridging under `krafty.aio` (`AIOKafkaProducer`, `AIOKafkaConsumer`): core futures run
//! on the clients' runtime and resolve asyncio futures on their loop's thread.
//!
//! Nothing here waits while holding the event loop. Each method creates a future on the running
//! loop, hands the core's future to the runtime, and returns; the outcome is converted on the
//! asyncio thread (`process::run_for_asyncio`: a runtime worker never waits for the GIL) and
//! set on the loop with `call_soon_threadsafe`. Only two things run on the loop's thread
//! itself: a send's serializers (as in aiokafka) and first poll (it completes there when the
//! record fits in the buffer, and goes on on the runtime, with no Python left to run, when it
//! must wait), and the deserializers (records are turned into Python objects where they are
//! delivered).
//!
//! Each client runs its operations one at a time in call order (`Ops`): the core serialises
//! them on the client's state anyway, and this way a `seek` made before a `getmany` takes
//! effect before it. Lookups that need no client state (`committed`, `topics`,
//! `partitions_for`) run beside them.
//!
//! A `getmany` whose awaiting task is cancelled takes nothing: before the core's poll returns
//! it is dropped (which takes nothing), after it the records go to the loop, and the operation
//! waits for the loop to say which were delivered; the rest are sought back before the next
//! operation runs. Rebalance listeners are coroutines run on the loop: the core calls the
//! listener on the runtime, which schedules the coroutine and waits (off the loop) for it; what
//! the coroutine calls on its consumer meanwhile (`commit`, `seek`, `position`, `assignment`,
//! `seek_to_*`) goes through the listener scope, as for the blocking consumer. A `commit` is
//! handed to the waiting runtime thread, the one the core's rebalance context may be used on,
//! which makes it there and then; the coroutine awaits the broker's answer.

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::Duration;

use bytes::Bytes;

use krafty::consumer::{
    ConsumerConfig, ConsumerRebalanceListener, ConsumerRecord as CoreRecord,
    KafkaConsumer as CoreConsumer, OffsetAndMetadata, OffsetReset, RebalanceContext,
};
use krafty::producer::{
    CompletedBatch, DeliverySink, KafkaProducer as CoreProducer, ProducerConfig, ProducerRecord,
};
use krafty::serialization::{BytesSerde, Serializer};
use krafty::{KafkaError, TopicPartition};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySet, PyTuple};
use pyo3::IntoPyObjectExt;
use tokio::sync::{mpsc, oneshot};

use crate::config::{properties, set_token_provider, take, take_token_provider};
use crate::consumer::{
    commit_now, deserialization_error, millis, offset_and_metadata, offsets_dict, offsets_from_py,
    tp_from_py, tp_set, tp_to_py, tps_from_py, CommitPath, Consumer, Deserializers, ListenerScope,
    Scope,
};
use crate::errors::{connect_error, to_py, IntoPy};
use crate::future::{settle, BatchCompletion, Outcome, RecordFuture, RecordMetadata, Shared};
use crate::producer::{
    header_size, headers_from_py, send_error, PyProducer, PySerializer, SERIALIZER_RAISED,
};

type Obj = Py<PyAny>;
type Op = Pin<Box<dyn Future<Output = ()> + Send>>;
type RawRecord = CoreRecord<Option<Bytes>, Option<Bytes>>;
/// Where records a getmany did not deliver are: each one's partition and offset.
type Undelivered = Vec<(TopicPartition, i64)>;

/// An asyncio future of the running loop, resolvable from any thread.
struct LoopFuture {
    event_loop: Obj,
    future: Obj,
}

impl LoopFuture {
    fn new(py: Python<'_>) -> PyResult<Self> {
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        Ok(LoopFuture {
            event_loop: event_loop.unbind(),
            future: future.unbind(),
        })
    }

    fn handle(&self, py: Python<'_>) -> Obj {
        self.future.clone_ref(py)
    }

    /// Sets the outcome on the loop's thread (nothing happens if the awaiting task was
    /// cancelled meanwhile, or the loop is closed).
    fn resolve(self, py: Python<'_>, r: PyResult<Obj>) {
        let (value, failed) = split(py, r);
        let scheduled = wrap_pyfunction!(settle, py).and_then(|f| {
            self.event_loop.call_method1(
                py,
                "call_soon_threadsafe",
                (f, self.future, value, failed),
            )
        });
        if let Err(e) = scheduled {
            if !loop_closed(py, &self.event_loop) {
                e.write_unraisable(py, None);
            }
        }
    }

    /// Sets the outcome now (on the loop's thread).
    fn resolve_here(self, py: Python<'_>, r: PyResult<Obj>) -> PyResult<()> {
        let (value, failed) = split(py, r);
        settle(self.future.bind(py), value.into_bound(py), failed)
    }
}

fn split(py: Python<'_>, r: PyResult<Obj>) -> (Obj, bool) {
    match r {
        Ok(v) => (v, false),
        Err(e) => (e.into_value(py).into_any(), true),
    }
}

fn loop_closed(py: Python<'_>, event_loop: &Obj) -> bool {
    event_loop
        .call_method0(py, "is_closed")
        .and_then(|v| v.extract::<bool>(py))
        .unwrap_or(true)
}

/// A client's operations, run one at a time in the order they were made, on the runtime.
struct Ops {
    tx: mpsc::UnboundedSender<Op>,
    /// Operations queued or running: a send polls inline only when none are.
    queued: Arc<AtomicUsize>,
}

impl Ops {
    fn new() -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Op>();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = queued.clone();
        crate::runtime::handle().spawn(async move {
            while let Some(op) = rx.recv().await {
                op.await;
                q.fetch_sub(1, Ordering::AcqRel);
            }
        });
        Ops { tx, queued }
    }

    fn idle(&self) -> bool {
        self.queued.load(Ordering::Acquire) == 0
    }

    fn push(&self, op: impl Future<Output = ()> + Send + 'static) {
        self.queued.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(Box::pin(op)).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Queues `op`; its outcome, converted on the asyncio thread, resolves the returned future.
    fn call<T: Send + 'static>(
        &self,
        py: Python<'_>,
        op: impl Future<Output = T> + Send + 'static,
        convert: impl FnOnce(Python<'_>, T) -> PyResult<Obj> + Send + 'static,
    ) -> PyResult<Obj> {
        let lf = LoopFuture::new(py)?;
        let handle = lf.handle(py);
        self.push(async move {
            let out = op.await;
            crate::process::run_for_asyncio(move |py| {
                let r = convert(py, out);
                lf.resolve(py, r)
            });
        });
        Ok(handle)
    }
}

/// Runs `op` on the runtime beside the queued operations (it needs no client state).
fn spawn<T: Send + 'static>(
    py: Python<'_>,
    op: impl Future<Output = T> + Send + 'static,
    convert: impl FnOnce(Python<'_>, T) -> PyResult<Obj> + Send + 'static,
) -> PyResult<Obj> {
    let lf = LoopFuture::new(py)?;
    let handle = lf.handle(py);
    crate::runtime::handle().spawn(async move {
        let out = op.await;
        crate::process::run_for_asyncio(move |py| {
            let r = convert(py, out);
            lf.resolve(py, r)
        });
    });
    Ok(handle)
}

/// A future already resolved with `r`.
fn ready(py: Python<'_>, r: PyResult<Obj>) -> PyResult<Obj> {
    let lf = LoopFuture::new(py)?;
    let handle = lf.handle(py);
    lf.resolve_here(py, r)?;
    Ok(handle)
}

fn none(py: Python<'_>, r: krafty::Result<()>) -> PyResult<Obj> {
    r.py_err(py).map(|()| py.None())
}

fn not_started() -> KafkaError {
    KafkaError::IllegalState("call `await start()` first".into())
}

impl Drop for AioProducer {
    /// Collected without `stop()`: closed in the background, as `KafkaProducer` is (records
    /// already sent get a second to be acknowledged). One inherited through a fork is leaked:
    /// its runtime and threads are gone.
    fn drop(&mut self) {
        if crate::process::inherited(self.generation) {
            std::mem::forget(self.inner.clone());
            return;
        }
        if let Some(p) = self.inner.get().cloned() {
            crate::runtime::handle().spawn(async move {
                let _ = p.close(Duration::from_secs(1)).await;
            });
        }
    }
}

impl Drop for AioConsumer {
    /// One inherited through a fork is leaked: its runtime and threads are gone.
    fn drop(&mut self) {
        if crate::process::inherited(self.generation) {
            std::mem::forget(self.inner.clone());
        }
    }
}

/// The core producer under `AIOKafkaProducer`: records reach it serialized, so no Python
/// code runs where it completes a send that had to wait.
type BytesProducer = CoreProducer<Bytes, Bytes>;

/// A send's delivery future, waiting for its record's outcome.
struct AwaitingDelivery {
    event_loop: Obj,
    future: Obj,
    header_size: i32,
}

/// The asyncio producer's `DeliverySink`: a record sent in place carries a token naming its
/// delivery future. A completed core batch resolves its futures with one job on the asyncio
/// thread and one `call_soon_threadsafe` per loop (not one per record, each a write to the
/// loop's self-pipe).
#[derive(Default)]
struct AioDeliveries {
    awaiting: Mutex<HashMap<u64, AwaitingDelivery>>,
    next: AtomicU64,
}

impl DeliverySink for AioDeliveries {
    fn batch_done(&self, batch: CompletedBatch<'_>) {
        let mut settled = Vec::with_capacity(batch.records.len());
        {
            let mut awaiting = self.awaiting.lock().unwrap();
            for r in &batch.records {
                if let Some(d) = awaiting.remove(&r.token) {
                    settled.push((d, batch.offset(r), batch.timestamp(r), *r));
                }
            }
        }
        if settled.is_empty() {
            return;
        }
        let topic = batch.topic.to_string();
        let partition = batch.partition;
        let error = batch.result.err().cloned();
        crate::process::run_for_asyncio(move |py| {
            let mut by_loop: Vec<(Obj, Vec<Settle>)> = Vec::new();
            for (d, offset, timestamp, r) in settled {
                let (value, failed) = match &error {
                    Some(e) => (to_py(py, e).into_value(py).into_any(), true),
                    None => match Py::new(
                        py,
                        RecordMetadata {
                            topic: topic.clone(),
                            partition,
                            offset,
                            timestamp,
                            checksum: None,
                            serialized_key_size: r.key_size,
                            serialized_value_size: r.value_size,
                            serialized_header_size: d.header_size,
                        },
                    ) {
                        Ok(md) => (md.into_any(), false),
                        Err(e) => (e.into_value(py).into_any(), true),
                    },
                };
                let entry = match by_loop.iter_mut().find(|(l, _)| l.is(&d.event_loop)) {
                    Some(entry) => entry,
                    None => {
                        by_loop.push((d.event_loop, Vec::new()));
                        by_loop.last_mut().expect("just pushed")
                    }
                };
                entry.1.push((d.future, value, failed));
            }
            for (event_loop, items) in by_loop {
                let scheduled = wrap_pyfunction!(settle_all, py)
                    .and_then(|f| event_loop.call_method1(py, "call_soon_threadsafe", (f, items)));
                if let Err(e) = scheduled {
                    if !loop_closed(py, &event_loop) {
                        e.write_unraisable(py, None);
                    }
                }
            }
        });
    }
}

/// An asyncio future to resolve: the future, its value or exception, whether it failed.
type Settle = (Obj, Obj, bool);

/// Resolves many asyncio futures on their loop: `(future, value, failed)` triples.
#[pyfunction]
fn settle_all(items: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>, bool)>) -> PyResult<()> {
    for (future, value, failed) in items {
        settle(&future, value, failed)?;
    }
    Ok(())
}

/// The bridging under `krafty.aio.AIOKafkaProducer`: every method returns an asyncio future.
#[pyclass(module = "krafty._krafty", name = "_AioProducer", frozen)]
pub struct AioProducer {
    /// What `start` builds the core producer from; taken by it.
    setup: Mutex<Option<ProducerConfig>>,
    /// The user's serializers, run by `send` on the loop's thread (as aiokafka runs them).
    key_serializer: PySerializer,
    value_serializer: PySerializer,
    inner: Arc<OnceLock<BytesProducer>>,
    ops: Ops,
    /// Delivery futures of the records sent in place.
    deliveries: Arc<AioDeliveries>,
    /// The fork generation it was created in (see `process.rs`).
    generation: usize,
}

#[pymethods]
impl AioProducer {
    /// Validates the configuration (no network).
    #[new]
    #[pyo3(signature = (config=None, **kwargs))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyDict>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let key = take(kwargs, "key_serializer")?.map(Bound::unbind);
        let value = take(kwargs, "value_serializer")?.map(Bound::unbind);
        let token_provider = take_token_provider(kwargs)?;
        let mut config = ProducerConfig::from_properties(properties(config, kwargs)?).py_err(py)?;
        set_token_provider(py, &mut config.client, token_provider)?;
        config.validate().py_err(py)?;
        let ser = |func, what| PySerializer {
            func,
            what,
            borrow: false,
        };
        Ok(AioProducer {
            setup: Mutex::new(Some(config)),
            key_serializer: ser(key, "key_serializer"),
            value_serializer: ser(value, "value_serializer"),
            inner: Arc::default(),
            ops: Ops::new(),
            deliveries: Arc::default(),
            generation: krafty::runtime::fork_generation(),
        })
    }

    /// Connects (on the runtime).
    fn start(&self, py: Python<'_>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let Some(config) = self.setup.lock().unwrap().take() else {
            return ready(py, Ok(py.None()));
        };
        let inner = self.inner.clone();
        let deliveries = self.deliveries.clone();
        self.ops.call(
            py,
            async move {
                let p = CoreProducer::new(config, BytesSerde, BytesSerde).await?;
                p.set_delivery_sink(deliveries)?;
                let _ = inner.set(p);
                Ok(())
            },
            |py, r: krafty::Result<()>| r.map(|()| py.None()).map_err(|e| connect_error(py, &e)),
        )
    }

    /// Enqueues a record. `(True, delivery)` when it went in place: `delivery` is an asyncio
    /// future of its `RecordMetadata`; `(False, enqueued)` when it waits (metadata, a full
    /// buffer, sends before it still waiting): `enqueued` resolves to its `RecordFuture` once
    /// enqueued.
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
    ) -> PyResult<(bool, Obj)> {
        crate::process::check_fork(self.generation)?;
        let p = self.producer(py)?;
        let headers = headers_from_py(headers)?;
        let hs = header_size(&headers);
        let record = self.serialized(
            py,
            ProducerRecord {
                topic,
                partition,
                timestamp: timestamp_ms,
                key,
                value,
                headers,
            },
        )?;
        if self.ops.idle() {
            let delivery = LoopFuture::new(py)?;
            let future = delivery.handle(py);
            let deliveries = &self.deliveries;
            let token = deliveries.next.fetch_add(1, Ordering::Relaxed);
            deliveries.awaiting.lock().unwrap().insert(
                token,
                AwaitingDelivery {
                    event_loop: delivery.event_loop,
                    future: delivery.future,
                    header_size: hs,
                },
            );
            match p.try_send_to_sink(&record, token) {
                Ok(true) => return Ok((true, future)),
                Ok(false) => {
                    deliveries.awaiting.lock().unwrap().remove(&token);
                }
                Err(e) => {
                    deliveries.awaiting.lock().unwrap().remove(&token);
                    return Err(send_error(py, &e));
                }
            }
        }
        let shared = Arc::new(Shared::default());
        let done = shared.clone();
        let sent = Box::pin(async move {
            p.send_and_then(record, move |r| {
                done.complete(r.map(|m| Outcome::One(m, hs)))
            })
            .await
        });
        let enqueued = self.enqueue(py, sent, move |py| {
            Ok(Py::new(py, RecordFuture { shared })?.into_any())
        })?;
        Ok((false, enqueued))
    }

    /// Enqueues records (values or `(key, value[, headers])` tuples): the future resolves to
    /// one `RecordFuture` for the list of their `RecordMetadata`.
    #[pyo3(signature = (topic, records, partition=None))]
    fn send_batch(
        &self,
        py: Python<'_>,
        topic: &str,
        records: &Bound<'_, PyAny>,
        partition: Option<i32>,
    ) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let p = self.producer(py)?;
        let records = records
            .try_iter()?
            .map(|item| {
                let record = PyProducer::batch_record(py, topic, &item?, partition)?;
                self.serialized(py, record)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let batch = BatchCompletion::new(
            topic,
            records.iter().map(|r| header_size(&r.headers)).collect(),
        );
        let b = batch.clone();
        let sent = Box::pin(async move {
            match p.send_all(records, move |i, r| b.record(i, r)).await {
                Ok(n) => Ok(n),
                Err((_, e)) => Err(e),
            }
        });
        let shared = batch.shared.clone();
        let batch2 = batch.clone();
        self.enqueue_then(py, sent, move |py, n| {
            batch2.truncate(n);
            Ok(Py::new(py, RecordFuture { shared })?.into_any())
        })
    }

    /// Sends everything buffered and waits for each outcome.
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let p = self.producer(py)?;
        let t = crate::producer::seconds(timeout);
        self.ops
            .call(py, async move { p.flush_within(t).await }, none)
    }

    /// Delivers what it can within `timeout` seconds (default: until done) and stops.
    #[pyo3(signature = (timeout=None))]
    fn stop(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        self.setup.lock().unwrap().take();
        let Some(p) = self.inner.get().cloned() else {
            return ready(py, Ok(py.None()));
        };
        let t = crate::producer::seconds(timeout);
        self.ops.call(py, async move { p.close(t).await }, none)
    }

    /// The partition numbers of `topic`, as a set.
    fn partitions_for(&self, py: Python<'_>, topic: String) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let p = self.producer(py)?;
        spawn(
            py,
            async move { p.partitions_for(&topic).await },
            |py, r| {
                let parts = r.py_err(py)?;
                Ok(PySet::new(py, parts.into_iter().map(|p| p.partition))?
                    .into_any()
                    .unbind())
            },
        )
    }
}

impl AioProducer {
    /// The record with its key and value serialized, here on the loop's thread: what the
    /// core does with it later (on its runtime, when the send must wait) needs no Python. A
    /// serializer's exception is the `SerializationError`'s `__cause__`.
    fn serialized(
        &self,
        py: Python<'_>,
        record: ProducerRecord<Obj, Obj>,
    ) -> PyResult<ProducerRecord<Bytes, Bytes>> {
        let ProducerRecord {
            topic,
            partition,
            timestamp,
            key,
            value,
            headers,
        } = record;
        let ser = |s: &PySerializer, v: Option<Obj>| match v {
            None => Ok(None),
            Some(v) => {
                SERIALIZER_RAISED.with(|c| c.borrow_mut().take());
                s.serialize(&topic, &v).map_err(|e| send_error(py, &e))
            }
        };
        let key = ser(&self.key_serializer, key)?;
        let value = ser(&self.value_serializer, value)?;
        Ok(ProducerRecord {
            topic,
            partition,
            timestamp,
            key,
            value,
            headers,
        })
    }

    fn producer(&self, py: Python<'_>) -> PyResult<BytesProducer> {
        self.inner
            .get()
            .cloned()
            .ok_or_else(|| to_py(py, &not_started()))
    }

    fn enqueue(
        &self,
        py: Python<'_>,
        sent: Pin<Box<dyn Future<Output = krafty::Result<()>> + Send>>,
        made: impl FnOnce(Python<'_>) -> PyResult<Obj> + Send + 'static,
    ) -> PyResult<Obj> {
        let sent = Box::pin(async move { sent.await.map(|()| 0usize) });
        self.enqueue_then(py, sent, move |py, _| made(py))
    }

    /// Polls a send once here (serializers included): when it fits in the buffer it is
    /// enqueued now. Otherwise (metadata missing, buffer full), and whenever earlier sends are
    /// still waiting (so records keep their call order), it goes on on the runtime.
    fn enqueue_then(
        &self,
        py: Python<'_>,
        mut sent: Pin<Box<dyn Future<Output = krafty::Result<usize>> + Send>>,
        made: impl FnOnce(Python<'_>, usize) -> PyResult<Obj> + Send + 'static,
    ) -> PyResult<Obj> {
        let lf = LoopFuture::new(py)?;
        let handle = lf.handle(py);
        SERIALIZER_RAISED.with(|c| c.borrow_mut().take());
        if self.ops.idle() {
            let polled = {
                let _rt = crate::runtime::handle().enter();
                sent.as_mut().poll(&mut Context::from_waker(Waker::noop()))
            };
            if let Poll::Ready(r) = polled {
                let r = r.map_err(|e| send_error(py, &e)).and_then(|n| made(py, n));
                lf.resolve_here(py, r)?;
                return Ok(handle);
            }
        }
        self.ops.push(async move {
            let r = sent.await;
            crate::process::run_for_asyncio(move |py| {
                let r = r.map_err(|e| to_py(py, &e)).and_then(|n| made(py, n));
                lf.resolve(py, r)
            });
        });
        Ok(handle)
    }
}

/// Called by the loop with the future it is done with: asks the operation waiting on the
/// runtime to give up (nothing is taken when it had not finished).
#[pyclass(module = "krafty._krafty", frozen)]
struct Cancel(Mutex<Option<oneshot::Sender<()>>>);

#[pymethods]
impl Cancel {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        if let Some(tx) = self.0.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }
}

/// Turns a getmany's records into Python objects on the loop's thread, for a step still
/// awaiting them, and tells the operation which records were not delivered (all of them when
/// the step was cancelled; those from the one a deserializer refused).
#[pyclass(module = "krafty._krafty", frozen)]
struct Deliver {
    records: Mutex<Option<Vec<RawRecord>>>,
    deserializers: Arc<Deserializers>,
    undelivered: Mutex<Option<oneshot::Sender<Undelivered>>>,
}

#[pymethods]
impl Deliver {
    fn __call__(&self, py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<()> {
        let records = self.records.lock().unwrap().take().unwrap_or_default();
        let back_tx = self.undelivered.lock().unwrap().take();
        let at = |r: &RawRecord| (TopicPartition::new(&r.topic, r.partition), r.offset);
        if future.call_method0("done")?.extract::<bool>()? {
            if let Some(tx) = back_tx {
                let _ = tx.send(records.iter().map(at).collect());
            }
            return Ok(());
        }
        let out = PyDict::new(py);
        let mut back = vec![];
        let mut failed = None;
        let mut current: Option<(TopicPartition, Bound<'_, PyList>)> = None;
        let mut rest = records.into_iter();
        while let Some(r) = rest.next() {
            let (tp, offset) = at(&r);
            let rec = match self.deserializers.record(py, r) {
                Ok(rec) => rec,
                Err(cause) => {
                    back.push((tp.clone(), offset));
                    back.extend(rest.map(|r| at(&r)));
                    failed = Some(deserialization_error(py, &tp, offset, cause));
                    break;
                }
            };
            if !matches!(&current, Some((t, _)) if *t == tp) {
                let list = PyList::empty(py);
                out.set_item(tp_to_py(py, &tp)?, &list)?;
                current = Some((tp, list));
            }
            if let Some((_, list)) = &current {
                list.append(rec)?;
            }
        }
        if let Some(tx) = back_tx {
            let _ = tx.send(back);
        }
        // What came before a refused record is delivered now; the next getmany raises.
        match failed {
            Some(e) if out.is_empty() => {
                future.call_method1("set_exception", (e.into_value(py),))?;
            }
            _ => {
                future.call_method1("set_result", (out,))?;
            }
        }
        Ok(())
    }
}

/// What the core's thread, waiting while the loop runs a listener, hears from the loop.
pub(crate) enum ListenerEvent {
    /// The listener asked for a commit, made on the core's thread through the context.
    Commit(CommitRequest),
    /// The listener finished (or will never run).
    Done,
}

/// A `commit()` awaited by a listener: `offsets`, or (None) the positions with `seeks`
/// (the listener's, when it asked) applied; the broker's answer goes back on `reply`.
pub(crate) struct CommitRequest {
    offsets: Option<BTreeMap<TopicPartition, OffsetAndMetadata>>,
    seeks: BTreeMap<TopicPartition, i64>,
    reply: oneshot::Sender<krafty::Result<()>>,
}

impl CommitRequest {
    /// On the thread the core called the listener on (which waits for the answer).
    fn serve(self, ctx: &mut RebalanceContext<'_>) {
        let _ = self.reply.send(commit_now(ctx, self.offsets, &self.seeks));
    }
}

/// Called by the loop when a listener coroutine finished; dropped uncalled (the loop could
/// not run it), it says so too.
#[pyclass(module = "krafty._krafty", frozen)]
struct ListenerDone(Mutex<Option<std::sync::mpsc::Sender<ListenerEvent>>>);

impl ListenerDone {
    fn done(&self) {
        let tx = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(tx) = tx {
            let _ = tx.send(ListenerEvent::Done);
        }
    }
}

impl Drop for ListenerDone {
    fn drop(&mut self) {
        self.done();
    }
}

#[pymethods]
impl ListenerDone {
    fn __call__(&self) {
        self.done();
    }
}

/// A rebalance listener whose callbacks may be coroutines, run on the loop's thread.
struct AioListener {
    listener: Obj,
    event_loop: Obj,
    loop_thread: ThreadId,
    scope: Scope,
    assignment: Arc<Mutex<BTreeSet<TopicPartition>>>,
}

impl AioListener {
    fn call(&self, method: &str, ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        let assigned = method == "on_partitions_assigned";
        {
            let mut a = self.assignment.lock().unwrap();
            for tp in partitions {
                if assigned {
                    a.insert(tp.clone());
                } else {
                    a.remove(tp);
                }
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        *self.scope.lock().unwrap() = Some(ListenerScope {
            thread: self.loop_thread,
            positions: ctx.positions().map(|(tp, p)| (tp.clone(), p)).collect(),
            assigned: if assigned {
                partitions.to_vec()
            } else {
                vec![]
            },
            seeks: BTreeMap::new(),
            commit: CommitPath::Ask(tx.clone()),
        });
        // The core calls listeners inside its poll, on a runtime worker: that worker leaves the
        // pool (`block_in_place`, another thread takes its tasks) before it waits for the GIL
        // to schedule the coroutine, and while the loop runs it (the coroutine may use the
        // runtime meanwhile). The coroutine's commits are made here, the one thread that may
        // use `ctx`; the loop awaits their answer and is never blocked.
        tokio::task::block_in_place(|| {
            let scheduled = Python::attach(|py| -> PyResult<()> {
                let run = py.import("krafty.aio")?.getattr("_run_listener")?;
                let done = ListenerDone(Mutex::new(Some(tx)));
                self.event_loop.call_method1(
                    py,
                    "call_soon_threadsafe",
                    (
                        run,
                        self.listener.clone_ref(py),
                        method,
                        tp_set(py, partitions)?,
                        done,
                    ),
                )?;
                Ok(())
            });
            if let Err(e) = scheduled {
                return Python::attach(|py| e.write_unraisable(py, None));
            }
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(ListenerEvent::Commit(request)) => request.serve(ctx),
                    Ok(ListenerEvent::Done) | Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => {
                        if Python::attach(|py| loop_closed(py, &self.event_loop)) {
                            break;
                        }
                    }
                }
            }
        });
        let scope = self.scope.lock().unwrap().take();
        // Commits are sent with the scope locked and open, so none comes after this point;
        // one asked for after the listener finished (by a task it left running) is made now.
        for event in rx.try_iter() {
            if let ListenerEvent::Commit(request) = event {
                request.serve(ctx);
            }
        }
        if let Some(scope) = scope {
            for (tp, offset) in scope.seeks {
                ctx.seek(&tp, offset);
            }
        }
    }
}

impl ConsumerRebalanceListener for AioListener {
    fn on_partitions_revoked(&mut self, ctx: &mut RebalanceContext<'_>, p: &[TopicPartition]) {
        self.call("on_partitions_revoked", ctx, p)
    }
    fn on_partitions_assigned(&mut self, ctx: &mut RebalanceContext<'_>, p: &[TopicPartition]) {
        self.call("on_partitions_assigned", ctx, p)
    }
    fn on_partitions_lost(&mut self, ctx: &mut RebalanceContext<'_>, p: &[TopicPartition]) {
        self.call("on_partitions_lost", ctx, p)
    }
}

/// A subscription or assignment made before `start`.
enum Plan {
    Topics(Vec<String>, Option<Obj>),
    Pattern(String, Option<Obj>),
    Assign(Vec<TopicPartition>),
}

/// The bridging under `krafty.aio.AIOKafkaConsumer`.
#[pyclass(module = "krafty._krafty", name = "_AioConsumer", frozen)]
pub struct AioConsumer {
    /// What `start` builds the core consumer from, and what to read once started.
    setup: Mutex<Option<(ConsumerConfig, Option<Plan>)>>,
    inner: Arc<OnceLock<Consumer>>,
    ops: Ops,
    deserializers: Arc<Deserializers>,
    reset: OffsetReset,
    scope: Scope,
    /// What `assignment()` answers without waiting: refreshed after each operation and by the
    /// listener.
    assignment: Arc<Mutex<BTreeSet<TopicPartition>>>,
    /// The failure of a call that returned at once (`seek`, `subscribe`, `assign`, ...),
    /// raised by the next `getmany`.
    deferred: Arc<Mutex<Option<KafkaError>>>,
    /// The loop `start` ran on: listener coroutines run there.
    event_loop: Mutex<Option<(Obj, ThreadId)>>,
    /// The fork generation it was created in (see `process.rs`).
    generation: usize,
}

#[pymethods]
impl AioConsumer {
    /// Validates the configuration (no network).
    #[new]
    #[pyo3(signature = (topics, config=None, **kwargs))]
    fn new(
        py: Python<'_>,
        topics: Vec<String>,
        config: Option<&Bound<'_, PyDict>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let deserializers = Deserializers {
            key: take(kwargs, "key_deserializer")?.map(Bound::unbind),
            value: take(kwargs, "value_deserializer")?.map(Bound::unbind),
        };
        let token_provider = take_token_provider(kwargs)?;
        let mut config = ConsumerConfig::from_properties(properties(config, kwargs)?).py_err(py)?;
        set_token_provider(py, &mut config.client, token_provider)?;
        let plan = (!topics.is_empty()).then(|| Plan::Topics(topics, None));
        Ok(AioConsumer {
            reset: config.auto_offset_reset,
            setup: Mutex::new(Some((config, plan))),
            inner: Arc::default(),
            ops: Ops::new(),
            deserializers: Arc::new(deserializers),
            scope: Scope::default(),
            assignment: Arc::default(),
            deferred: Arc::default(),
            event_loop: Mutex::new(None),
            generation: krafty::runtime::fork_generation(),
        })
    }

    /// Connects and subscribes (or assigns) as asked before (on the runtime).
    fn start(&self, py: Python<'_>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        *self.event_loop.lock().unwrap() = Some((event_loop.unbind(), std::thread::current().id()));
        let Some((config, plan)) = self.setup.lock().unwrap().take() else {
            return ready(py, Ok(py.None()));
        };
        let plan = plan.map(|p| self.apply_plan(py, p));
        let inner = self.inner.clone();
        let cache = self.assignment.clone();
        self.ops.call(
            py,
            async move {
                let c = CoreConsumer::new(config, BytesSerde, BytesSerde).await?;
                let _ = inner.set(c.clone());
                if let Some(plan) = plan {
                    plan(c.clone()).await?;
                }
                refresh(&c, &cache).await;
                Ok(())
            },
            |py, r: krafty::Result<()>| r.map(|()| py.None()).map_err(|e| connect_error(py, &e)),
        )
    }

    /// Subscribes to `topics` or a regex `pattern`, with an optional listener (returns at once).
    #[pyo3(signature = (topics=None, pattern=None, listener=None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        topics: Option<Vec<String>>,
        pattern: Option<String>,
        listener: Option<Obj>,
    ) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let plan = match (topics, pattern) {
            (Some(t), None) => Plan::Topics(t, listener),
            (None, Some(p)) => Plan::Pattern(p, listener),
            _ => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "pass exactly one of topics or pattern",
                ))
            }
        };
        self.plan(py, plan)
    }

    /// Reads exactly these partitions, without a group (returns at once).
    fn assign(&self, py: Python<'_>, partitions: &Bound<'_, PyAny>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let tps = tps_from_py(partitions)?;
        *self.assignment.lock().unwrap() = tps.iter().cloned().collect();
        self.plan(py, Plan::Assign(tps))
    }

    /// Leaves the subscription and the group (returns at once).
    fn unsubscribe(&self) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        if let Some((_, plan)) = self.setup.lock().unwrap().as_mut() {
            *plan = None;
            return Ok(());
        }
        self.background(|c| async move { c.unsubscribe().await });
        Ok(())
    }

    /// The partitions assigned now, as a set of `TopicPartition`.
    fn assignment<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        crate::process::check_fork(self.generation)?;
        let in_listener = self.with_scope(|s| {
            let mut all: BTreeSet<TopicPartition> = s.positions.keys().cloned().collect();
            all.extend(s.assigned.iter().cloned());
            all
        });
        let a = in_listener.unwrap_or_else(|| self.assignment.lock().unwrap().clone());
        tp_set(py, &a.into_iter().collect::<Vec<_>>())
    }

    /// Records as `{TopicPartition: [ConsumerRecord]}`, waiting up to `timeout_ms` for some.
    #[pyo3(signature = (timeout_ms, max_records=None))]
    fn getmany(
        &self,
        py: Python<'_>,
        timeout_ms: f64,
        max_records: Option<usize>,
    ) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let lf = LoopFuture::new(py)?;
        let handle = lf.handle(py);
        let (cancel_tx, cancel_rx) = oneshot::channel();
        handle.call_method1(
            py,
            "add_done_callback",
            (Cancel(Mutex::new(Some(cancel_tx))),),
        )?;
        let inner = self.inner.clone();
        let deferred = self.deferred.clone();
        let cache = self.assignment.clone();
        let deserializers = self.deserializers.clone();
        let timeout = millis(Some(timeout_ms)).unwrap_or_default();
        self.ops.push(async move {
            let failed = |e: KafkaError, lf: LoopFuture| {
                crate::process::run_for_asyncio(move |py| lf.resolve(py, Err(to_py(py, &e))))
            };
            if let Some(e) = deferred.lock().unwrap().take() {
                return failed(e, lf);
            }
            let Some(c) = inner.get().cloned() else {
                return failed(not_started(), lf);
            };
            let polled = tokio::select! {
                biased;
                _ = cancel_rx => return, // dropped before returning: nothing taken
                r = async {
                    match max_records {
                        Some(n) => c.poll_at_most(timeout, n).await,
                        None => c.poll(timeout).await,
                    }
                } => r,
            };
            refresh(&c, &cache).await;
            let records = match polled {
                Err(e) => return failed(e, lf),
                Ok(r) => r,
            };
            let firsts = |back: Undelivered| {
                let mut first = BTreeMap::new();
                for (tp, o) in back {
                    first.entry(tp).or_insert(o);
                }
                first
            };
            let all: Vec<_> = records
                .iter()
                .map(|r| (TopicPartition::new(&r.topic, r.partition), r.offset))
                .collect();
            let (back_tx, back_rx) = oneshot::channel();
            let deliver = Deliver {
                records: Mutex::new(Some(records)),
                deserializers,
                undelivered: Mutex::new(Some(back_tx)),
            };
            crate::process::run_for_asyncio(move |py| {
                // Not scheduled (the loop is closed): `deliver` is dropped, and with it the
                // sender of `back_rx`, so every record counts as not delivered.
                let _ =
                    lf.event_loop
                        .call_method1(py, "call_soon_threadsafe", (deliver, lf.future));
            });
            // Until the loop says what it delivered, nothing else runs on this consumer.
            let back = back_rx.await.unwrap_or(all);
            for (tp, offset) in firsts(back) {
                let _ = c.seek(&tp, offset).await;
            }
        });
        Ok(handle)
    }

    /// Commits the positions of every assigned partition, or `offsets`. From a rebalance
    /// listener, the commit is made before the rebalance goes on, and the awaitable gives the
    /// broker's answer (raising when it refuses).
    #[pyo3(signature = (offsets=None))]
    fn commit(&self, py: Python<'_>, offsets: Option<&Bound<'_, PyDict>>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let explicit = offsets.map(offsets_from_py).transpose()?;
        let (reply, answer) = oneshot::channel();
        let asked = self.with_scope(|scope| match &scope.commit {
            // Sent with the scope locked: the listener's thread takes the scope before it
            // stops serving requests (see `AioListener::call`), so it sees this one.
            CommitPath::Ask(tx) => tx
                .send(ListenerEvent::Commit(CommitRequest {
                    offsets: explicit.clone(),
                    seeks: scope.seeks.clone(),
                    reply,
                }))
                .is_ok(),
            CommitPath::Here(_) => false,
        });
        if asked == Some(true) {
            return spawn(
                py,
                async move {
                    answer.await.unwrap_or_else(|_| {
                        Err(KafkaError::IllegalState(
                            "the rebalance listener's commit was dropped".into(),
                        ))
                    })
                },
                none,
            );
        }
        let inner = self.inner.clone();
        self.ops.call(
            py,
            async move {
                let c = inner.get().cloned().ok_or_else(not_started)?;
                match explicit {
                    Some(o) => c.commit_offsets(o).await,
                    None => c.commit_sync().await,
                }
            },
            none,
        )
    }

    /// The committed offset of `partition` (an int, or with `metadata=True` an
    /// `OffsetAndMetadata`), or None.
    #[pyo3(signature = (partition, metadata=false))]
    fn committed(
        &self,
        py: Python<'_>,
        partition: &Bound<'_, PyAny>,
        metadata: bool,
    ) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let tp = tp_from_py(partition)?;
        let c = self.consumer(py)?;
        spawn(
            py,
            async move {
                let r = c.committed(std::slice::from_ref(&tp)).await;
                r.map(|mut m| m.remove(&tp))
            },
            move |py, r| match r.py_err(py)? {
                None => Ok(py.None()),
                Some(o) if metadata => Ok(offset_and_metadata(py, &o)?.unbind()),
                Some(o) => o.offset.into_py_any(py),
            },
        )
    }

    /// The offset of the next record for `partition`.
    fn position(&self, py: Python<'_>, partition: &Bound<'_, PyAny>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let tp = tp_from_py(partition)?;
        let in_listener = self.with_scope(|s| {
            let known = s.seeks.get(&tp).or(s.positions.get(&tp)).copied();
            (known, s.assigned.contains(&tp))
        });
        match in_listener {
            None => {
                let inner = self.inner.clone();
                self.ops.call(
                    py,
                    async move {
                        inner
                            .get()
                            .cloned()
                            .ok_or_else(not_started)?
                            .position(&tp)
                            .await
                    },
                    |py, r| r.py_err(py)?.into_py_any(py),
                )
            }
            Some((Some(p), _)) => ready(py, p.into_py_any(py)),
            Some((None, true)) => {
                let c = self.consumer(py)?;
                let reset = self.reset;
                let scope = self.scope.clone();
                spawn(
                    py,
                    async move {
                        let p = initial_position(&c, reset, &tp).await?;
                        if let Some(s) = scope.lock().unwrap().as_mut() {
                            s.seeks.insert(tp, p);
                        }
                        Ok(p)
                    },
                    |py, r: krafty::Result<i64>| r.py_err(py)?.into_py_any(py),
                )
            }
            Some((None, false)) => ready(
                py,
                Err(to_py(
                    py,
                    &KafkaError::IllegalState(format!("{tp} is not assigned")),
                )),
            ),
        }
    }

    /// Moves the position of `partition` (returns at once; applied before the next getmany).
    fn seek(&self, partition: &Bound<'_, PyAny>, offset: i64) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let tp = tp_from_py(partition)?;
        if self
            .with_scope(|s| s.seeks.insert(tp.clone(), offset))
            .is_some()
        {
            return Ok(());
        }
        self.background(move |c| async move { c.seek(&tp, offset).await });
        Ok(())
    }

    /// Seeks `partitions` (all assigned ones when empty) to their first offset.
    #[pyo3(signature = (*partitions))]
    fn seek_to_beginning(&self, py: Python<'_>, partitions: &Bound<'_, PyTuple>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        self.seek_to(py, partitions, true)
    }

    /// Seeks `partitions` (all assigned ones when empty) to their end.
    #[pyo3(signature = (*partitions))]
    fn seek_to_end(&self, py: Python<'_>, partitions: &Bound<'_, PyTuple>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        self.seek_to(py, partitions, false)
    }

    /// Stops fetching from these partitions until `resume` (returns at once).
    #[pyo3(signature = (*partitions))]
    fn pause(&self, partitions: &Bound<'_, PyTuple>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let tps = tps_from_py(partitions)?;
        self.background(move |c| async move { c.pause(&tps).await });
        Ok(())
    }

    /// Fetches from paused partitions again (returns at once).
    #[pyo3(signature = (*partitions))]
    fn resume(&self, partitions: &Bound<'_, PyTuple>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let tps = tps_from_py(partitions)?;
        self.background(move |c| async move { c.resume(&tps).await });
        Ok(())
    }

    /// `{TopicPartition: first offset}`.
    fn beginning_offsets(&self, py: Python<'_>, partitions: &Bound<'_, PyAny>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let tps = tps_from_py(partitions)?;
        let c = self.consumer(py)?;
        spawn(
            py,
            async move { c.beginning_offsets(&tps).await },
            |py, r| Ok(offsets_dict(py, r.py_err(py)?)?.into_any().unbind()),
        )
    }

    /// `{TopicPartition: log end offset}`.
    fn end_offsets(&self, py: Python<'_>, partitions: &Bound<'_, PyAny>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let tps = tps_from_py(partitions)?;
        let c = self.consumer(py)?;
        spawn(py, async move { c.end_offsets(&tps).await }, |py, r| {
            Ok(offsets_dict(py, r.py_err(py)?)?.into_any().unbind())
        })
    }

    /// Every topic's name (internal ones excluded), as a set.
    fn topics(&self, py: Python<'_>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        let c = self.consumer(py)?;
        spawn(py, async move { c.list_topics().await }, |py, r| {
            Ok(PySet::new(py, r.py_err(py)?.keys())?.into_any().unbind())
        })
    }

    /// Commits (with auto commit on), revokes through the listener, leaves the group.
    #[pyo3(signature = (timeout_ms=None))]
    fn stop(&self, py: Python<'_>, timeout_ms: Option<f64>) -> PyResult<Obj> {
        crate::process::check_fork(self.generation)?;
        self.setup.lock().unwrap().take();
        let Some(c) = self.inner.get().cloned() else {
            return ready(py, Ok(py.None()));
        };
        let timeout = millis(timeout_ms).unwrap_or(Duration::MAX);
        self.ops
            .call(py, async move { c.close_within(timeout, true).await }, none)
    }
}

impl AioConsumer {
    fn consumer(&self, py: Python<'_>) -> PyResult<Consumer> {
        self.inner
            .get()
            .cloned()
            .ok_or_else(|| to_py(py, &not_started()))
    }

    /// `f` on the listener scope, when called on the loop's thread while a listener runs.
    fn with_scope<R>(&self, f: impl FnOnce(&mut ListenerScope) -> R) -> Option<R> {
        let mut scope = self.scope.lock().unwrap();
        scope
            .as_mut()
            .filter(|s| s.thread == std::thread::current().id())
            .map(f)
    }

    /// Queues `op`; its failure is raised by the next `getmany`.
    fn background<F>(&self, op: impl FnOnce(Consumer) -> F + Send + 'static)
    where
        F: Future<Output = krafty::Result<()>> + Send,
    {
        let inner = self.inner.clone();
        let deferred = self.deferred.clone();
        let cache = self.assignment.clone();
        self.ops.push(async move {
            let r = match inner.get().cloned() {
                Some(c) => {
                    let r = op(c.clone()).await;
                    refresh(&c, &cache).await;
                    r
                }
                None => Err(not_started()),
            };
            if let Err(e) = r {
                deferred.lock().unwrap().get_or_insert(e);
            }
        });
    }

    /// Before `start`, keeps `plan` for it; after, queues it.
    fn plan(&self, py: Python<'_>, plan: Plan) -> PyResult<()> {
        if let Some((_, kept)) = self.setup.lock().unwrap().as_mut() {
            *kept = Some(plan);
            return Ok(());
        }
        let run = self.apply_plan(py, plan);
        self.background(run);
        Ok(())
    }

    /// The core call a plan makes (its listener bound to the loop `start` ran on).
    #[allow(clippy::type_complexity)]
    fn apply_plan(
        &self,
        py: Python<'_>,
        plan: Plan,
    ) -> impl FnOnce(Consumer) -> Pin<Box<dyn Future<Output = krafty::Result<()>> + Send>> + Send + 'static
    {
        let event_loop = self
            .event_loop
            .lock()
            .unwrap()
            .as_ref()
            .map(|(l, t)| (l.clone_ref(py), *t));
        let scope = self.scope.clone();
        let assignment = self.assignment.clone();
        let listener = move |l: Option<Obj>| -> Option<Box<dyn ConsumerRebalanceListener>> {
            let l = l?;
            let (event_loop, loop_thread) = event_loop?;
            Some(Box::new(AioListener {
                listener: l,
                event_loop,
                loop_thread,
                scope,
                assignment,
            }))
        };
        move |c: Consumer| match plan {
            Plan::Topics(t, l) => {
                let l = listener(l);
                Box::pin(async move {
                    let names: Vec<&str> = t.iter().map(String::as_str).collect();
                    c.subscribe(&names, l).await
                })
            }
            Plan::Pattern(p, l) => {
                let l = listener(l);
                Box::pin(async move { c.subscribe_pattern(&p, l).await })
            }
            Plan::Assign(tps) => Box::pin(async move { c.assign(&tps).await }),
        }
    }

    fn seek_to(
        &self,
        py: Python<'_>,
        partitions: &Bound<'_, PyTuple>,
        start: bool,
    ) -> PyResult<Obj> {
        let listener_partitions = self.with_scope(|s| {
            let mut all: BTreeSet<TopicPartition> = s.positions.keys().cloned().collect();
            all.extend(s.assigned.iter().cloned());
            all.into_iter().collect::<Vec<_>>()
        });
        let asked = tps_from_py(partitions)?;
        if let Some(owned) = listener_partitions {
            // In a listener: look the offsets up now, seek when the listener returns.
            let tps = if asked.is_empty() { owned } else { asked };
            let c = self.consumer(py)?;
            let scope = self.scope.clone();
            return spawn(
                py,
                async move {
                    let offsets = if start {
                        c.beginning_offsets(&tps).await?
                    } else {
                        c.end_offsets(&tps).await?
                    };
                    if let Some(s) = scope.lock().unwrap().as_mut() {
                        s.seeks.extend(offsets);
                    }
                    Ok(())
                },
                none,
            );
        }
        let inner = self.inner.clone();
        self.ops.call(
            py,
            async move {
                let c = inner.get().cloned().ok_or_else(not_started)?;
                let tps = if asked.is_empty() {
                    c.assignment().await
                } else {
                    asked
                };
                if start {
                    c.seek_to_beginning(&tps).await
                } else {
                    c.seek_to_end(&tps).await
                }
            },
            none,
        )
    }
}

/// Refreshes what `assignment()` answers.
async fn refresh(c: &Consumer, cache: &Mutex<BTreeSet<TopicPartition>>) {
    let a = c.assignment().await;
    *cache.lock().unwrap() = a.into_iter().collect();
}

/// Where a partition just assigned starts, as `position()` in a listener sees it: its committed
/// offset, else by `auto.offset.reset`.
async fn initial_position(
    c: &Consumer,
    reset: OffsetReset,
    tp: &TopicPartition,
) -> krafty::Result<i64> {
    let one = std::slice::from_ref(tp);
    if let Ok(committed) = c.committed(one).await {
        if let Some(o) = committed.get(tp) {
            return Ok(o.offset);
        }
    }
    let found = match reset {
        OffsetReset::Earliest => c.beginning_offsets(one).await?,
        OffsetReset::Latest => c.end_offsets(one).await?,
        OffsetReset::None => {
            return Err(KafkaError::IllegalState(format!(
                "{tp} has no committed offset and auto.offset.reset is none"
            )))
        }
    };
    found
        .get(tp)
        .copied()
        .ok_or_else(|| KafkaError::IllegalState(format!("no offset for {tp}")))
}
