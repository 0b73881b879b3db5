//! `krafty.KafkaConsumer`: the core consumer, its records turned into Python objects.
//!
//! The core consumer reads raw bytes; the Python deserializers run here, with the GIL, while
//! each record becomes a `ConsumerRecord` (calling into Python from the GIL-free poll for
//! every record would cost more than the fetch). Rebalance listeners run on the polling
//! thread, inside the core's poll, which holds the consumer's state meanwhile: what a
//! listener calls on its own consumer is served without that state (`ListenerScope`). A
//! `commit()` there is made through the core's rebalance context and waits for the broker's
//! answer, raising when it refuses (kafka-python's and Java's `commitSync` in
//! `onPartitionsRevoked`); a `seek()` is recorded and applied when the listener returns;
//! `position`, `committed`, `seek_to_beginning` / `seek_to_end` and the offset lookups ask
//! the cluster directly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;

use bytes::Bytes;
use krafty::consumer::{
    ConsumerConfig, ConsumerRebalanceListener, ConsumerRecord as CoreRecord,
    KafkaConsumer as CoreConsumer, OffsetAndMetadata, OffsetReset, RebalanceContext, TimestampType,
};
use krafty::serialization::BytesSerde;
use krafty::{KafkaError, TopicPartition};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PySet, PyTuple};
use pyo3::IntoPyObjectExt;

use crate::blocking::{wait, wait_fast};
use crate::config::{properties, set_token_provider, take, take_token_provider};
use crate::errors::{to_py, IntoPy};

pub(crate) type Consumer = CoreConsumer<Option<Bytes>, Option<Bytes>>;
type Obj = Py<PyAny>;

/// One record read from a partition, with kafka-python's fields. Constructible with
/// kafka-python's arguments (for tests), comparable and picklable.
#[pyclass(module = "krafty._krafty", frozen, get_all)]
pub struct ConsumerRecord {
    /// The topic the record was read from.
    topic: String,
    /// Its partition.
    partition: i32,
    /// The partition leader's epoch when the record was written, if the broker says.
    leader_epoch: Option<i32>,
    /// Its offset in the partition.
    offset: i64,
    /// Milliseconds since the epoch (see `timestamp_type`).
    timestamp: i64,
    /// 0 = CreateTime, 1 = LogAppendTime (kafka-python's numbering).
    timestamp_type: i32,
    key: Obj,
    value: Obj,
    /// `(name, bytes or None)` pairs.
    headers: Obj,
    /// None: record batches v2 have no per-record checksum (kafka-python's field).
    checksum: Option<i64>,
    /// Bytes of the key on the wire, -1 for a null key.
    serialized_key_size: i32,
    /// Bytes of the value on the wire, -1 for a null value.
    serialized_value_size: i32,
    /// Bytes of the header names and values, -1 for a record without headers.
    serialized_header_size: i32,
}

#[pymethods]
impl ConsumerRecord {
    #[new]
    #[pyo3(signature = (topic, partition, leader_epoch=None, offset=-1, timestamp=-1,
                        timestamp_type=0, key=None, value=None, headers=None, checksum=None,
                        serialized_key_size=-1, serialized_value_size=-1,
                        serialized_header_size=-1))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        topic: String,
        partition: i32,
        leader_epoch: Option<i32>,
        offset: i64,
        timestamp: i64,
        timestamp_type: i32,
        key: Option<Obj>,
        value: Option<Obj>,
        headers: Option<Obj>,
        checksum: Option<i64>,
        serialized_key_size: i32,
        serialized_value_size: i32,
        serialized_header_size: i32,
    ) -> PyResult<Self> {
        Ok(ConsumerRecord {
            topic,
            partition,
            leader_epoch,
            offset,
            timestamp,
            timestamp_type,
            key: key.unwrap_or_else(|| py.None()),
            value: value.unwrap_or_else(|| py.None()),
            headers: match headers {
                Some(h) => h,
                None => PyList::empty(py).into_any().unbind(),
            },
            checksum,
            serialized_key_size,
            serialized_value_size,
            serialized_header_size,
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "ConsumerRecord(topic={:?}, partition={}, offset={}, key={}, value={})",
            self.topic, self.partition, self.offset, self.key, self.value
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let args = slf.get().args(slf.py())?;
        PyTuple::new(slf.py(), [slf.get_type().into_any(), args.into_any()])
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Obj> {
        match other.cast::<Self>() {
            Ok(o) => self.args(py)?.eq(o.get().args(py)?)?.into_py_any(py),
            Err(_) => Ok(py.NotImplemented()),
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.args(py)?.hash()
    }
}

impl ConsumerRecord {
    /// The constructor's arguments, in kafka-python's order.
    fn args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let items: [Obj; 13] = [
            self.topic.clone().into_py_any(py)?,
            self.partition.into_py_any(py)?,
            self.leader_epoch.into_py_any(py)?,
            self.offset.into_py_any(py)?,
            self.timestamp.into_py_any(py)?,
            self.timestamp_type.into_py_any(py)?,
            self.key.clone_ref(py),
            self.value.clone_ref(py),
            self.headers.clone_ref(py),
            self.checksum.into_py_any(py)?,
            self.serialized_key_size.into_py_any(py)?,
            self.serialized_value_size.into_py_any(py)?,
            self.serialized_header_size.into_py_any(py)?,
        ];
        PyTuple::new(py, items)
    }
}

static TOPIC_PARTITION: PyOnceLock<Obj> = PyOnceLock::new();

/// `krafty.TopicPartition(topic, partition)` (a namedtuple).
pub fn tp_to_py<'py>(py: Python<'py>, tp: &TopicPartition) -> PyResult<Bound<'py, PyAny>> {
    let class = TOPIC_PARTITION.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("krafty")?.getattr("TopicPartition")?.unbind())
    })?;
    class.bind(py).call1((tp.topic.to_string(), tp.partition))
}

/// Any `(topic, partition)` pair, a `TopicPartition` included.
pub(crate) fn tp_from_py(o: &Bound<'_, PyAny>) -> PyResult<TopicPartition> {
    let (topic, partition): (String, i32) = o.extract()?;
    Ok(TopicPartition::new(topic, partition))
}

pub(crate) fn tps_from_py(items: &Bound<'_, PyAny>) -> PyResult<Vec<TopicPartition>> {
    items.try_iter()?.map(|o| tp_from_py(&o?)).collect()
}

pub(crate) fn tp_set<'py>(py: Python<'py>, tps: &[TopicPartition]) -> PyResult<Bound<'py, PySet>> {
    let set = PySet::empty(py)?;
    for tp in tps {
        set.add(tp_to_py(py, tp)?)?;
    }
    Ok(set)
}

pub(crate) struct Deserializers {
    pub key: Option<Obj>,
    pub value: Option<Obj>,
}

impl Deserializers {
    fn apply(&self, py: Python<'_>, f: &Option<Obj>, data: Option<Bytes>) -> PyResult<Obj> {
        let raw = match data {
            Some(b) => PyBytes::new(py, &b).into_any().unbind(),
            None => py.None(),
        };
        match f {
            Some(f) if !raw.is_none(py) => f.call1(py, (raw,)),
            _ => Ok(raw),
        }
    }

    pub fn record(
        &self,
        py: Python<'_>,
        r: CoreRecord<Option<Bytes>, Option<Bytes>>,
    ) -> PyResult<ConsumerRecord> {
        let headers = PyList::empty(py);
        let mut header_size = if r.headers.is_empty() { -1 } else { 0 };
        for h in r.headers {
            header_size += (h.key.len() + h.value.as_ref().map_or(0, |v| v.len())) as i32;
            let v = h.value.map(|v| PyBytes::new(py, &v));
            headers.append((h.key, v))?;
        }
        Ok(ConsumerRecord {
            key: self.apply(py, &self.key, r.key)?,
            value: self.apply(py, &self.value, r.value)?,
            topic: r.topic,
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            timestamp_type: match r.timestamp_type {
                TimestampType::CreateTime => 0,
                TimestampType::LogAppendTime => 1,
            },
            headers: headers.into_any().unbind(),
            leader_epoch: r.leader_epoch,
            checksum: None,
            serialized_key_size: r.serialized_key_size,
            serialized_value_size: r.serialized_value_size,
            serialized_header_size: header_size,
        })
    }
}

pub(crate) type Offsets = BTreeMap<TopicPartition, OffsetAndMetadata>;

/// What a rebalance listener's calls on its own consumer reach while the core runs the
/// listener (the core's poll holds the consumer's state meanwhile): positions as they were,
/// the seeks the core makes when the listener returns, and the way to commit now.
pub(crate) struct ListenerScope {
    /// The thread running the listener's Python code: calls from other threads take their
    /// usual path (waiting for the consumer's state until the rebalance is over).
    pub thread: ThreadId,
    pub positions: BTreeMap<TopicPartition, i64>,
    /// Partitions just assigned (`on_partitions_assigned`), which have no position yet.
    pub assigned: Vec<TopicPartition>,
    pub seeks: BTreeMap<TopicPartition, i64>,
    pub commit: CommitPath,
}

/// How a commit made by the listener's Python code reaches the core's rebalance context,
/// which only the thread the core called the listener on may use (its waits block that
/// thread, and it is borrowed from that thread's stack).
pub(crate) enum CommitPath {
    /// The blocking consumer: the Python code runs on that thread (`ListenerScope::thread`).
    Here(ContextPtr),
    /// `krafty.aio`: the Python code runs on the event loop's thread while the core's thread
    /// waits for it, so the loop asks the core's thread to commit (see `aio::AioListener`).
    Ask(std::sync::mpsc::Sender<crate::aio::ListenerEvent>),
}

/// The core's rebalance context while a blocking consumer's listener runs.
#[derive(Clone, Copy)]
pub(crate) struct ContextPtr(*mut RebalanceContext<'static>);

// SAFETY: the pointer crosses threads only inside the scope's mutex; it is dereferenced on
// the scope's thread alone (`PyConsumer::with_scope` checks it), while `PyListener::call`
// runs there (`ScopeGuard` clears the scope before that call returns or unwinds).
unsafe impl Send for ContextPtr {}

impl ContextPtr {
    fn new(ctx: &mut RebalanceContext<'_>) -> Self {
        ContextPtr((ctx as *mut RebalanceContext<'_>).cast())
    }

    /// # Safety
    /// Only on the thread of the listener call that made it, before that call returns, and
    /// with no other reference to the context in use meanwhile.
    unsafe fn get<'a>(self) -> &'a mut RebalanceContext<'a> {
        // SAFETY: per this function's contract, the context is alive and not borrowed.
        unsafe { &mut *self.0.cast::<RebalanceContext<'a>>() }
    }
}

/// Commits from a rebalance listener now, on the thread the core called it on, and returns
/// the broker's answer: `offsets`, or (None) every position with the listener's `seeks`
/// applied. The positions go as the core holds them, leader epochs included; when the
/// listener sought some partitions, the others are recorded first so that one request
/// carries them all.
pub(crate) fn commit_now(
    ctx: &mut RebalanceContext<'_>,
    offsets: Option<Offsets>,
    seeks: &BTreeMap<TopicPartition, i64>,
) -> krafty::Result<()> {
    if let Some(offsets) = offsets {
        return ctx.commit_offsets_now(offsets);
    }
    let held: Vec<TopicPartition> = ctx
        .positions()
        .map(|(tp, _)| tp.clone())
        .filter(|tp| !seeks.contains_key(tp))
        .collect();
    if seeks.is_empty() {
        return ctx.commit_positions_now(&held);
    }
    // Without a group both calls fail alike, and the consumer drops what was recorded.
    ctx.commit_sync(&held);
    ctx.commit_offsets_now(
        seeks
            .iter()
            .map(|(tp, o)| (tp.clone(), OffsetAndMetadata::new(*o)))
            .collect(),
    )
}

/// What a commit made now from a listener commits (for `commit_async`'s callback): `offsets`,
/// or the positions with the listener's seeks applied (leader epochs left out).
fn asked_offsets(scope: &ListenerScope, offsets: Option<&Offsets>) -> Offsets {
    offsets.cloned().unwrap_or_else(|| {
        let mut at = scope.positions.clone();
        at.extend(scope.seeks.iter().map(|(tp, o)| (tp.clone(), *o)));
        at.into_iter()
            .map(|(tp, p)| (tp, OffsetAndMetadata::new(p)))
            .collect()
    })
}

/// One consumer's listener scope, shared by the consumer and its listener: a listener that
/// calls another consumer reaches that one normally.
pub(crate) type Scope = Arc<Mutex<Option<ListenerScope>>>;

/// Closes a blocking consumer's listener scope when the listener call ends, by returning or
/// by unwinding: the context pointer in it must not outlive the call.
struct ScopeGuard<'a>(&'a Scope);

impl ScopeGuard<'_> {
    fn close(&self) -> Option<ListenerScope> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        self.close();
    }
}

/// A Python rebalance listener: `on_partitions_revoked(partitions)`,
/// `on_partitions_assigned(partitions)`, optional `on_partitions_lost(partitions)`.
struct PyListener {
    listener: Obj,
    scope: Scope,
}

impl PyListener {
    fn call(&self, method: &str, ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        let scope = ListenerScope {
            thread: std::thread::current().id(),
            positions: ctx.positions().map(|(tp, p)| (tp.clone(), p)).collect(),
            assigned: if method == "on_partitions_assigned" {
                partitions.to_vec()
            } else {
                vec![]
            },
            seeks: BTreeMap::new(),
            commit: CommitPath::Here(ContextPtr::new(ctx)),
        };
        *self.scope.lock().unwrap() = Some(scope);
        let guard = ScopeGuard(&self.scope);
        // The Python code may commit through the context (`PyConsumer::commit_in_listener`);
        // `ctx` is not touched here until the guard has closed the scope.
        Python::attach(|py| {
            let obj = self.listener.bind(py);
            let method = if method == "on_partitions_lost" && !obj.hasattr(method).unwrap_or(false)
            {
                "on_partitions_revoked"
            } else {
                method
            };
            let r = tp_set(py, partitions).and_then(|set| obj.call_method1(method, (set,)));
            if let Err(e) = r {
                e.write_unraisable(py, Some(obj));
            }
        });
        if let Some(scope) = guard.close() {
            for (tp, offset) in scope.seeks {
                ctx.seek(&tp, offset);
            }
        }
    }
}

impl ConsumerRebalanceListener for PyListener {
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

/// An offset to commit: an int, `OffsetAndMetadata(offset, metadata, leader_epoch)`, or the
/// two-field `(offset, metadata)`; a leader epoch of -1 or None is unknown.
fn offset_from_py(o: &Bound<'_, PyAny>) -> PyResult<OffsetAndMetadata> {
    if let Ok(offset) = o.extract::<i64>() {
        return Ok(OffsetAndMetadata::new(offset));
    }
    let t: Vec<Bound<'_, PyAny>> = o.extract().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(
            "an offset to commit is an int, an OffsetAndMetadata or (offset, metadata)",
        )
    })?;
    if !(1..=3).contains(&t.len()) {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "OffsetAndMetadata takes (offset, metadata[, leader_epoch])",
        ));
    }
    let metadata = match t.get(1) {
        Some(m) if !m.is_none() => m.extract::<String>()?,
        _ => String::new(),
    };
    let leader_epoch = match t.get(2) {
        Some(e) if !e.is_none() => Some(e.extract::<i32>()?).filter(|e| *e >= 0),
        _ => None,
    };
    Ok(OffsetAndMetadata {
        offset: t[0].extract()?,
        leader_epoch,
        metadata,
    })
}

pub(crate) fn offsets_from_py(
    offsets: &Bound<'_, PyDict>,
) -> PyResult<BTreeMap<TopicPartition, OffsetAndMetadata>> {
    offsets
        .iter()
        .map(|(tp, o)| Ok((tp_from_py(&tp)?, offset_from_py(&o)?)))
        .collect()
}

static OFFSET_AND_METADATA: PyOnceLock<Obj> = PyOnceLock::new();
static OFFSET_AND_TIMESTAMP: PyOnceLock<Obj> = PyOnceLock::new();
static GROUP_METADATA: PyOnceLock<Obj> = PyOnceLock::new();

/// `send_offsets_to_transaction`'s group: a `ConsumerGroupMetadata` (or any object with its
/// fields), or kafka-python's bare group id (no generation: the coordinator does not fence).
pub(crate) fn group_metadata_from_py(
    g: &Bound<'_, PyAny>,
) -> PyResult<krafty::consumer::ConsumerGroupMetadata> {
    if let Ok(group_id) = g.extract::<String>() {
        return Ok(krafty::consumer::ConsumerGroupMetadata {
            group_id,
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        });
    }
    Ok(krafty::consumer::ConsumerGroupMetadata {
        group_id: g.getattr("group_id")?.extract()?,
        generation_id: g.getattr("generation_id")?.extract()?,
        member_id: g.getattr("member_id")?.extract()?,
        group_instance_id: g.getattr("group_instance_id")?.extract()?,
    })
}

/// A class of `krafty.structs`.
pub(crate) fn struct_class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Obj>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    Ok(cell
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("krafty.structs")?.getattr(name)?.unbind())
        })?
        .bind(py))
}

/// `krafty.OffsetAndMetadata(offset, metadata, leader_epoch)` (-1 for an unknown epoch).
pub(crate) fn offset_and_metadata<'py>(
    py: Python<'py>,
    o: &OffsetAndMetadata,
) -> PyResult<Bound<'py, PyAny>> {
    struct_class(py, &OFFSET_AND_METADATA, "OffsetAndMetadata")?.call1((
        o.offset,
        o.metadata.clone(),
        o.leader_epoch.unwrap_or(-1),
    ))
}

/// `{TopicPartition: OffsetAndMetadata}`.
fn offsets_to_py<'py>(
    py: Python<'py>,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (tp, o) in offsets {
        out.set_item(tp_to_py(py, tp)?, offset_and_metadata(py, o)?)?;
    }
    Ok(out)
}

/// A timeout argument in milliseconds (int or float; None: none).
pub(crate) fn millis(timeout_ms: Option<f64>) -> Option<Duration> {
    timeout_ms.map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0))
}

/// `fut`, failing with a (client-side) timeout after `timeout` when one is given.
pub(crate) async fn within<T>(
    timeout: Option<Duration>,
    what: &str,
    fut: impl std::future::Future<Output = krafty::Result<T>>,
) -> krafty::Result<T> {
    match timeout {
        None => fut.await,
        Some(t) => tokio::time::timeout(t, fut).await.unwrap_or_else(|_| {
            Err(KafkaError::Timeout(format!(
                "{what} took longer than {t:?}"
            )))
        }),
    }
}

/// A Kafka consumer: `KafkaConsumer(*topics, group_id=..., **config)` or
/// `KafkaConsumer(*topics, {"group.id": ...})`. Without `group_id` it reads every partition of
/// the topics, with no group and no commits (as kafka-python). Iterate over it, `async for`
/// over it, or `poll()`.
#[pyclass(module = "krafty._krafty", name = "KafkaConsumer", frozen)]
pub struct PyConsumer {
    inner: Consumer,
    /// The fork generation it was created in (see `process.rs`).
    generation: usize,
    deserializers: Arc<Deserializers>,
    /// Iteration ends after this long without a record (kafka-python's `consumer_timeout_ms`).
    iter_timeout: Option<Duration>,
    /// `auto.offset.reset`: where `position()` in a listener starts a partition without a
    /// committed offset.
    reset: OffsetReset,
    /// Set while this consumer's rebalance listener runs.
    scope: Scope,
}

impl Drop for PyConsumer {
    /// One inherited through a fork is leaked: its runtime and threads are gone.
    fn drop(&mut self) {
        if crate::process::inherited(self.generation) {
            std::mem::forget(self.inner.clone());
        }
    }
}

#[pymethods]
impl PyConsumer {
    #[new]
    #[pyo3(signature = (*topics, config=None, **kwargs))]
    fn new(
        py: Python<'_>,
        topics: &Bound<'_, PyTuple>,
        config: Option<&Bound<'_, PyDict>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        // A dict among the positional arguments is the configuration, as for the producer.
        let mut config = config.cloned();
        let mut names = Vec::new();
        for t in topics.iter() {
            match t.cast::<PyDict>() {
                Ok(d) if config.is_none() => config = Some(d.clone()),
                Ok(_) => {
                    return Err(pyo3::exceptions::PyTypeError::new_err(
                        "pass one configuration dict",
                    ))
                }
                Err(_) => names.push(t.extract::<String>()?),
            }
        }
        let deserializers = Deserializers {
            key: take(kwargs, "key_deserializer")?.map(Bound::unbind),
            value: take(kwargs, "value_deserializer")?.map(Bound::unbind),
        };
        let iter_timeout = take(kwargs, "consumer_timeout_ms")?
            .map(|v| v.extract::<f64>())
            .transpose()?
            .and_then(|ms| millis(Some(ms)));
        let token_provider = take_token_provider(kwargs)?;
        let mut config =
            ConsumerConfig::from_properties(properties(config.as_ref(), kwargs)?).py_err(py)?;
        set_token_provider(py, &mut config.client, token_provider)?;
        let reset = config.auto_offset_reset;
        let inner = wait(py, CoreConsumer::new(config, BytesSerde, BytesSerde))?
            .map_err(|e| crate::errors::connect_error(py, &e))?;
        let consumer = PyConsumer {
            inner,
            generation: krafty::runtime::fork_generation(),
            deserializers: Arc::new(deserializers),
            iter_timeout,
            reset,
            scope: Scope::default(),
        };
        if !names.is_empty() {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            wait(py, consumer.inner.subscribe(&names, None))?.py_err(py)?;
        }
        Ok(consumer)
    }

    /// Subscribes to `topics` (or every topic matching the regex `pattern`), with an optional
    /// rebalance listener: joins the group, or without `group_id` reads every partition.
    #[pyo3(signature = (topics=None, pattern=None, listener=None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        topics: Option<Vec<String>>,
        pattern: Option<String>,
        listener: Option<Obj>,
    ) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let l = listener.map(|listener| {
            Box::new(PyListener {
                listener,
                scope: self.scope.clone(),
            }) as Box<dyn ConsumerRebalanceListener>
        });
        match (topics, pattern) {
            (Some(t), None) => {
                let names: Vec<&str> = t.iter().map(String::as_str).collect();
                self.run(py, self.inner.subscribe(&names, l))?.py_err(py)
            }
            (None, Some(p)) => self
                .run(py, self.inner.subscribe_pattern(&p, l))?
                .py_err(py),
            _ => Err(pyo3::exceptions::PyValueError::new_err(
                "pass exactly one of topics or pattern",
            )),
        }
    }

    /// Leaves the subscription (revoking its partitions through the listener) and the group.
    fn unsubscribe(&self, py: Python<'_>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        self.run(py, self.inner.unsubscribe())?.py_err(py)
    }

    /// Reads exactly these `TopicPartition`s, without group membership.
    fn assign(&self, py: Python<'_>, partitions: &Bound<'_, PyAny>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let tps = tps_from_py(partitions)?;
        self.run(py, self.inner.assign(&tps))?.py_err(py)
    }

    /// The partitions this consumer reads now, as a set of `TopicPartition`.
    fn assignment<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        crate::process::check_fork(self.generation)?;
        let in_listener = self.with_scope(|s| {
            let mut all: BTreeSet<TopicPartition> = s.positions.keys().cloned().collect();
            all.extend(s.assigned.iter().cloned());
            all.into_iter().collect::<Vec<_>>()
        });
        let a = match in_listener {
            Some(a) => a,
            None => self.run(py, self.inner.assignment())?,
        };
        tp_set(py, &a)
    }

    /// The topics subscribed to (for a pattern, those it matches now).
    fn subscription<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        crate::process::check_fork(self.generation)?;
        let s = self.run(py, self.inner.subscription())?;
        PySet::new(py, s)
    }

    /// Records fetched since the last call, as `{TopicPartition: [ConsumerRecord, ...]}`;
    /// waits up to `timeout_ms` (int or float; None: until records come) for some. At most
    /// `max_records` (default `max.poll.records`).
    #[pyo3(signature = (timeout_ms=Some(0.0), max_records=None, update_offsets=true))]
    fn poll<'py>(
        &self,
        py: Python<'py>,
        timeout_ms: Option<f64>,
        max_records: Option<usize>,
        update_offsets: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        crate::process::check_fork(self.generation)?;
        let _ = update_offsets; // kafka-python's; positions always move past what is returned
                                // None waits until records come: in hour-long polls, each one returning nothing.
        let timeout = millis(timeout_ms).unwrap_or(Duration::from_secs(3600));
        let records = loop {
            let records = match max_records {
                Some(n) => self.run(py, self.inner.poll_at_most(timeout, n))?,
                None => self.run(py, self.inner.poll(timeout))?,
            }
            .py_err(py)?;
            if !records.is_empty() || timeout_ms.is_some() {
                break records;
            }
        };
        let out = PyDict::new(py);
        let mut current: Option<(TopicPartition, Bound<'py, PyList>)> = None;
        let mut records = records.into_iter();
        while let Some(r) = records.next() {
            let tp = TopicPartition::new(&r.topic, r.partition);
            let offset = r.offset;
            let rec = match self.deserializers.record(py, r) {
                Ok(rec) => rec,
                Err(cause) => {
                    let mut back = vec![(tp, offset)];
                    back.extend(
                        records.map(|r| (TopicPartition::new(&r.topic, r.partition), r.offset)),
                    );
                    let err = self.put_back(py, back, cause);
                    // What came before is delivered now; the next poll raises on this record.
                    return if out.is_empty() { Err(err) } else { Ok(out) };
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
        Ok(out)
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ConsumerRecord>> {
        crate::process::check_fork(self.generation)?;
        self.outside_listener(py)?;
        let next = match self.iter_timeout {
            Some(t) => match wait_fast(py, async {
                tokio::time::timeout(t, self.inner.recv()).await
            })? {
                Ok(r) => r,
                Err(_) => return Ok(None),
            },
            None => wait_fast(py, self.inner.recv())?,
        };
        let next = next.py_err(py)?;
        let at = (
            TopicPartition::new(&next.topic, next.partition),
            next.offset,
        );
        match self.deserializers.record(py, next) {
            Ok(rec) => Ok(Some(rec)),
            Err(cause) => Err(self.put_back(py, vec![at], cause)),
        }
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next record, for `async for`: the core fetches on its runtime until records are
    /// buffered, and the record is taken on the event loop's thread, only if the awaiting
    /// task is still waiting for it (a cancelled step, as under `asyncio.wait_for`, takes
    /// nothing and loses nothing).
    fn __anext__(slf: Bound<'_, Self>) -> PyResult<Obj> {
        crate::process::check_fork(slf.get().generation)?;
        let py = slf.py();
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        arm(slf.unbind(), event_loop.unbind(), future.clone().unbind());
        Ok(future.unbind())
    }

    /// Commits the positions of every assigned partition, or `offsets`
    /// (`{TopicPartition: OffsetAndMetadata, (offset, metadata) or offset}`), and returns once
    /// the broker accepted them; raises when it refuses. Inside a rebalance listener the
    /// commit is made there, before the rebalance goes on (the positions with the listener's
    /// seeks applied; `timeout_ms` does not apply, the request's own timeout does). Without a
    /// `group_id`, raises `IllegalStateError`.
    #[pyo3(signature = (offsets=None, timeout_ms=None))]
    fn commit(
        &self,
        py: Python<'_>,
        offsets: Option<&Bound<'_, PyDict>>,
        timeout_ms: Option<f64>,
    ) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let explicit = offsets.map(offsets_from_py).transpose()?;
        if let Some((_, answer)) = self.commit_in_listener(py, explicit.as_ref()) {
            return answer.py_err(py);
        }
        let t = millis(timeout_ms);
        match explicit {
            Some(o) => self.run(py, within(t, "commit", self.inner.commit_offsets(o)))?,
            None => self.run(py, within(t, "commit", self.inner.commit_sync()))?,
        }
        .py_err(py)
    }

    /// Commits `offsets` (default: the current positions) in the background;
    /// `callback(offsets, exception or None)` runs on the client's thread when done (the
    /// offsets as `{TopicPartition: OffsetAndMetadata}`), as in kafka-python. Inside a
    /// rebalance listener the commit is made at once, as `commit()` makes it, so that it lands
    /// before the partitions move; the broker's answer still goes to the callback (a commit
    /// refused before it is sent, without a `group_id`, raises as outside a listener).
    #[pyo3(signature = (offsets=None, callback=None))]
    fn commit_async(
        &self,
        py: Python<'_>,
        offsets: Option<&Bound<'_, PyAny>>,
        callback: Option<Obj>,
    ) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let offsets = match offsets.filter(|o| !o.is_none()) {
            Some(o) => match o.cast::<PyDict>() {
                Ok(d) => Some(offsets_from_py(d)?),
                Err(_) => {
                    return Err(pyo3::exceptions::PyTypeError::new_err(
                        "commit_async(offsets=None, callback=None): offsets is a dict \
                         {TopicPartition: OffsetAndMetadata}; pass the callback as callback=",
                    ))
                }
            },
            None => None,
        };
        // The callback runs on the callback thread (as send callbacks do), never on the
        // client's I/O thread: a slow one holds up only other callbacks.
        let done = move |committed: &BTreeMap<TopicPartition, OffsetAndMetadata>,
                         r: krafty::Result<()>| {
            if let Some(cb) = callback {
                let committed = committed.clone();
                crate::process::run_callbacks(move |py| {
                    let err = r.err().map(|e| to_py(py, &e).into_value(py));
                    let called = offsets_to_py(py, &committed)
                        .and_then(|offsets| cb.call1(py, (offsets, err)));
                    if let Err(e) = called {
                        e.write_unraisable(py, None);
                    }
                })
            }
        };
        if let Some((asked, answer)) = self.commit_in_listener(py, offsets.as_ref()) {
            if let Err(e @ KafkaError::IllegalState(_)) = &answer {
                return Err(to_py(py, e));
            }
            done(&asked, answer);
            return Ok(());
        }
        self.run(py, self.inner.commit_offsets_async(offsets, done))?
            .py_err(py)
    }

    /// This member's place in its group (`ConsumerGroupMetadata`), for
    /// `KafkaProducer.send_offsets_to_transaction`; None without a `group_id`.
    fn group_metadata<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        crate::process::check_fork(self.generation)?;
        self.inner
            .group_metadata()
            .map(|m| {
                struct_class(py, &GROUP_METADATA, "ConsumerGroupMetadata")?.call1((
                    m.group_id,
                    m.generation_id,
                    m.member_id,
                    m.group_instance_id,
                ))
            })
            .transpose()
    }

    /// The committed offset of `partition` (an int, or with `metadata=True` an
    /// `OffsetAndMetadata`), or None. Without a `group_id`, raises `IllegalStateError`.
    #[pyo3(signature = (partition, metadata=false, timeout_ms=None))]
    fn committed<'py>(
        &self,
        py: Python<'py>,
        partition: &Bound<'_, PyAny>,
        metadata: bool,
        timeout_ms: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        crate::process::check_fork(self.generation)?;
        let tp = tp_from_py(partition)?;
        // No consumer state is involved: this works from a rebalance listener too.
        let c = wait(
            py,
            within(
                millis(timeout_ms),
                "committed",
                self.inner.committed(std::slice::from_ref(&tp)),
            ),
        )?
        .py_err(py)?;
        c.get(&tp)
            .map(|o| {
                if metadata {
                    offset_and_metadata(py, o)
                } else {
                    o.offset.into_bound_py_any(py)
                }
            })
            .transpose()
    }

    /// The offset of the next record `poll` returns for `partition`.
    fn position(&self, py: Python<'_>, partition: &Bound<'_, PyAny>) -> PyResult<i64> {
        crate::process::check_fork(self.generation)?;
        let tp = tp_from_py(partition)?;
        let in_listener = self.with_scope(|s| {
            let known = s.seeks.get(&tp).or(s.positions.get(&tp)).copied();
            (known, s.assigned.contains(&tp))
        });
        match in_listener {
            None => self.run(py, self.inner.position(&tp))?.py_err(py),
            Some((Some(p), _)) => Ok(p),
            Some((None, true)) => {
                let p = self.initial_position(py, &tp)?;
                self.with_scope(|s| s.seeks.insert(tp.clone(), p));
                Ok(p)
            }
            Some((None, false)) => Err(to_py(
                py,
                &KafkaError::IllegalState(format!("{tp} is not assigned")),
            )),
        }
    }

    /// Moves the position of `partition`; inside a rebalance listener the seek is applied
    /// when the listener returns.
    fn seek(&self, py: Python<'_>, partition: &Bound<'_, PyAny>, offset: i64) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let tp = tp_from_py(partition)?;
        if self
            .with_scope(|s| s.seeks.insert(tp.clone(), offset))
            .is_some()
        {
            return Ok(());
        }
        self.run(py, self.inner.seek(&tp, offset))?.py_err(py)
    }

    /// Seeks the given partitions (all assigned ones when none are given) to their start.
    #[pyo3(signature = (*partitions))]
    fn seek_to_beginning(&self, py: Python<'_>, partitions: &Bound<'_, PyTuple>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        self.seek_to(py, partitions, true)
    }

    /// Seeks the given partitions (all assigned ones when none are given) to their end.
    #[pyo3(signature = (*partitions))]
    fn seek_to_end(&self, py: Python<'_>, partitions: &Bound<'_, PyTuple>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        self.seek_to(py, partitions, false)
    }

    /// Stops fetching from these partitions (positions kept) until `resume`.
    #[pyo3(signature = (*partitions))]
    fn pause(&self, py: Python<'_>, partitions: &Bound<'_, PyTuple>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let tps = tps_from_py(partitions)?;
        self.run(py, self.inner.pause(&tps))?.py_err(py)
    }

    /// Fetches from paused partitions again.
    #[pyo3(signature = (*partitions))]
    fn resume(&self, py: Python<'_>, partitions: &Bound<'_, PyTuple>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let tps = tps_from_py(partitions)?;
        self.run(py, self.inner.resume(&tps))?.py_err(py)
    }

    /// The paused partitions, as a set of `TopicPartition`.
    fn paused<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        crate::process::check_fork(self.generation)?;
        let p = self.run(py, self.inner.paused())?;
        tp_set(py, &p)
    }

    /// `{TopicPartition: first offset}` for `partitions`.
    #[pyo3(signature = (partitions, timeout_ms=None))]
    fn beginning_offsets<'py>(
        &self,
        py: Python<'py>,
        partitions: &Bound<'_, PyAny>,
        timeout_ms: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        crate::process::check_fork(self.generation)?;
        let tps = tps_from_py(partitions)?;
        let t = millis(timeout_ms);
        let o = wait(
            py,
            within(t, "beginning_offsets", self.inner.beginning_offsets(&tps)),
        )?
        .py_err(py)?;
        offsets_dict(py, o)
    }

    /// `{TopicPartition: log end offset}` for `partitions`.
    #[pyo3(signature = (partitions, timeout_ms=None))]
    fn end_offsets<'py>(
        &self,
        py: Python<'py>,
        partitions: &Bound<'_, PyAny>,
        timeout_ms: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        crate::process::check_fork(self.generation)?;
        let tps = tps_from_py(partitions)?;
        let t = millis(timeout_ms);
        let o = wait(py, within(t, "end_offsets", self.inner.end_offsets(&tps)))?.py_err(py)?;
        offsets_dict(py, o)
    }

    /// `{TopicPartition: OffsetAndTimestamp(offset, timestamp, leader_epoch) or None}`: the
    /// first record at or after each timestamp (ms).
    #[pyo3(signature = (timestamps, timeout_ms=None))]
    fn offsets_for_times<'py>(
        &self,
        py: Python<'py>,
        timestamps: &Bound<'_, PyDict>,
        timeout_ms: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        crate::process::check_fork(self.generation)?;
        let times = timestamps
            .iter()
            .map(|(tp, ts)| Ok((tp_from_py(&tp)?, ts.extract::<i64>()?)))
            .collect::<PyResult<BTreeMap<_, _>>>()?;
        let t = millis(timeout_ms);
        let found = wait(
            py,
            within(t, "offsets_for_times", self.inner.offsets_for_times(&times)),
        )?
        .py_err(py)?;
        let class = struct_class(py, &OFFSET_AND_TIMESTAMP, "OffsetAndTimestamp")?;
        let out = PyDict::new(py);
        for (tp, v) in found {
            let v = match v {
                Some((offset, timestamp)) => Some(class.call1((offset, timestamp, -1))?),
                None => None,
            };
            out.set_item(tp_to_py(py, &tp)?, v)?;
        }
        Ok(out)
    }

    /// The partition numbers of `topic` as a set, or None when the cluster does not know it.
    fn partitions_for_topic<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
    ) -> PyResult<Option<Bound<'py, PySet>>> {
        crate::process::check_fork(self.generation)?;
        let parts = wait(py, self.inner.partitions_for(topic))?.py_err(py)?;
        parts.map(|p| PySet::new(py, p)).transpose()
    }

    /// The names of every topic in the cluster (internal ones excluded), as a set.
    fn topics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        crate::process::check_fork(self.generation)?;
        let topics = wait(py, self.inner.list_topics())?.py_err(py)?;
        PySet::new(py, topics.keys())
    }

    /// The high watermark of `partition` (the offset the next record written there gets) as
    /// the last fetch response reported it; None before one did, or when not assigned.
    fn highwater(&self, py: Python<'_>, partition: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        crate::process::check_fork(self.generation)?;
        let tp = tp_from_py(partition)?;
        self.run(py, self.inner.highwater(&tp))
    }

    /// Whether a connection to a broker is open now.
    fn bootstrap_connected(&self) -> PyResult<bool> {
        crate::process::check_fork(self.generation)?;
        Ok(self.inner.bootstrap_connected())
    }

    /// The consumer's metrics, as kafka-python (and the Java client) name and group them:
    /// `{"consumer-fetch-manager-metrics": {"records-consumed-total": ..., ...}}`.
    #[pyo3(signature = (raw=false))]
    fn metrics<'py>(&self, py: Python<'py>, raw: bool) -> PyResult<Bound<'py, PyDict>> {
        crate::process::check_fork(self.generation)?;
        let _ = raw; // kafka-python's raw form is its own metric objects
        let m = self.inner.metrics();
        let fetch = PyDict::new(py);
        fetch.set_item("records-consumed-total", m.records_consumed_total)?;
        fetch.set_item("records-consumed-rate", m.records_consumed_rate)?;
        fetch.set_item("bytes-consumed-total", m.bytes_consumed_total)?;
        fetch.set_item("bytes-consumed-rate", m.bytes_consumed_rate)?;
        let out = PyDict::new(py);
        out.set_item("consumer-fetch-manager-metrics", fetch)?;
        Ok(out)
    }

    /// Makes a blocked `poll` (or iteration) on another thread raise `WakeupError`.
    fn wakeup(&self) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        self.inner.wakeup();
        Ok(())
    }

    /// Commits (with auto commit on, unless `autocommit=False`), revokes through the
    /// listener, leaves the group; what is not done within `timeout_ms` is given up.
    #[pyo3(signature = (autocommit=true, timeout_ms=None))]
    fn close(&self, py: Python<'_>, autocommit: bool, timeout_ms: Option<f64>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let timeout = millis(timeout_ms).unwrap_or(Duration::MAX);
        self.run(py, self.inner.close_within(timeout, autocommit))?
            .py_err(py)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        self.close(py, true, None)
    }
}

impl PyConsumer {
    /// A Python deserializer refused the first of `back` (records in poll order): each of
    /// their partitions moves back to its first undelivered record, so nothing is skipped,
    /// and the error to raise names the refused record.
    fn put_back(&self, py: Python<'_>, back: Vec<(TopicPartition, i64)>, cause: PyErr) -> PyErr {
        let (tp, offset) = back[0].clone();
        let mut first: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for (tp, o) in back {
            first.entry(tp).or_insert(o);
        }
        for (tp, o) in first {
            if let Err(e) = self
                .run(py, self.inner.seek(&tp, o))
                .and_then(|r| r.py_err(py))
            {
                return e;
            }
        }
        deserialization_error(py, &tp, offset, cause)
    }

    /// `f` on this consumer's listener scope, when its rebalance listener is running on this
    /// thread (else None).
    fn with_scope<R>(&self, f: impl FnOnce(&mut ListenerScope) -> R) -> Option<R> {
        let mut scope = self.scope.lock().unwrap();
        scope
            .as_mut()
            .filter(|s| s.thread == std::thread::current().id())
            .map(f)
    }

    /// When this consumer's rebalance listener runs on this thread: commits `offsets` (None:
    /// the positions, with the listener's seeks applied) through the core's rebalance context
    /// and waits for the broker's answer. Returns what was committed and the answer; None
    /// elsewhere (another thread takes the usual path, which waits for the consumer's state).
    ///
    /// The GIL is released while the core waits, and no lock is held: the commit runs as a
    /// task on the core's runtime, which takes neither (a Python token provider called for it
    /// takes the GIL, free then), and other Python threads go on meanwhile; none of them can
    /// reach the context, which only this thread's calls see. Ctrl-C is not checked during
    /// that wait, which the request timeout bounds.
    fn commit_in_listener(
        &self,
        py: Python<'_>,
        offsets: Option<&Offsets>,
    ) -> Option<(Offsets, krafty::Result<()>)> {
        let (ctx, seeks, asked) = self.with_scope(|s| match &s.commit {
            CommitPath::Here(ctx) => Some((*ctx, s.seeks.clone(), asked_offsets(s, offsets))),
            CommitPath::Ask(_) => None,
        })??;
        let explicit = offsets.cloned();
        let answer = py.detach(move || {
            // SAFETY: `with_scope` found this consumer's listener scope open for this thread,
            // which is inside `PyListener::call` for it (the scope is closed before that
            // returns), and this thread, blocked here, is the only one that uses the context.
            let ctx = unsafe { ctx.get() };
            commit_now(ctx, explicit, &seeks)
        });
        Some((asked, answer))
    }

    /// Runs a core call that needs the consumer's state, unless this consumer's rebalance
    /// listener is running on this thread: the core's poll holds that state then.
    fn run<F>(&self, py: Python<'_>, fut: F) -> PyResult<F::Output>
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        self.outside_listener(py)?;
        wait(py, fut)
    }

    fn outside_listener(&self, py: Python<'_>) -> PyResult<()> {
        if self.with_scope(|_| ()).is_some() {
            return Err(to_py(
                py,
                &KafkaError::IllegalState(
                    "a rebalance listener may call commit(), seek(), seek_to_beginning(), \
                     seek_to_end(), position(), committed(), assignment() and the offset \
                     lookups of its consumer, not this"
                        .into(),
                ),
            ));
        }
        Ok(())
    }

    /// Where a partition just assigned starts, as `position()` in the listener sees it: its
    /// committed offset, else by `auto.offset.reset` (as the core's poll will position it).
    fn initial_position(&self, py: Python<'_>, tp: &TopicPartition) -> PyResult<i64> {
        let one = std::slice::from_ref(tp);
        if let Ok(committed) = wait(py, self.inner.committed(one))? {
            if let Some(o) = committed.get(tp) {
                return Ok(o.offset);
            }
        }
        let found = match self.reset {
            OffsetReset::Earliest => wait(py, self.inner.beginning_offsets(one))?,
            OffsetReset::Latest => wait(py, self.inner.end_offsets(one))?,
            OffsetReset::None => Err(KafkaError::IllegalState(format!(
                "{tp} has no committed offset and auto.offset.reset is none"
            ))),
        }
        .py_err(py)?;
        found
            .get(tp)
            .copied()
            .ok_or_else(|| to_py(py, &KafkaError::IllegalState(format!("no offset for {tp}"))))
    }

    /// `seek_to_beginning` / `seek_to_end`; from this consumer's listener, the offsets are
    /// looked up at once and the seeks applied when the listener returns.
    fn seek_to(
        &self,
        py: Python<'_>,
        partitions: &Bound<'_, PyTuple>,
        start: bool,
    ) -> PyResult<()> {
        let listener_partitions = self.with_scope(|s| {
            let mut all: BTreeSet<TopicPartition> = s.positions.keys().cloned().collect();
            all.extend(s.assigned.iter().cloned());
            all.into_iter().collect::<Vec<_>>()
        });
        let Some(owned) = listener_partitions else {
            let tps = if partitions.is_empty() {
                self.run(py, self.inner.assignment())?
            } else {
                tps_from_py(partitions)?
            };
            return if start {
                self.run(py, self.inner.seek_to_beginning(&tps))?
            } else {
                self.run(py, self.inner.seek_to_end(&tps))?
            }
            .py_err(py);
        };
        let tps = if partitions.is_empty() {
            owned
        } else {
            tps_from_py(partitions)?
        };
        let offsets = if start {
            wait(py, self.inner.beginning_offsets(&tps))?
        } else {
            wait(py, self.inner.end_offsets(&tps))?
        }
        .py_err(py)?;
        self.with_scope(|s| s.seeks.extend(offsets));
        Ok(())
    }
}

pub(crate) fn offsets_dict(
    py: Python<'_>,
    o: BTreeMap<TopicPartition, i64>,
) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for (tp, v) in o {
        out.set_item(tp_to_py(py, &tp)?, v)?;
    }
    Ok(out)
}

/// `SerializationError` naming the record a deserializer refused, caused by what it raised.
pub(crate) fn deserialization_error(
    py: Python<'_>,
    tp: &TopicPartition,
    offset: i64,
    cause: PyErr,
) -> PyErr {
    let err = to_py(
        py,
        &KafkaError::Serialization(format!(
            "record {tp}@{offset} could not be deserialized ({cause}); seek past it to go on"
        )),
    );
    err.set_cause(py, Some(cause));
    err
}

/// Waits on the runtime until records are buffered, then schedules a `Take` on the loop.
fn arm(consumer: Py<PyConsumer>, event_loop: Obj, future: Obj) {
    let core = Python::attach(|py| consumer.bind(py).get().inner.clone());
    crate::runtime::handle().spawn(async move {
        let ready = loop {
            match core.wait_for_records(Duration::from_millis(500)).await {
                Ok(true) => break Ok(()),
                Ok(false) => continue,
                Err(e) => break Err(e),
            }
        };
        // Scheduled from the asyncio thread: this worker never waits for the GIL.
        crate::process::run_for_asyncio(move |py| {
            let scheduled = match ready {
                Ok(()) => Py::new(
                    py,
                    Take {
                        consumer,
                        event_loop: event_loop.clone_ref(py),
                    },
                )
                .and_then(|take| {
                    event_loop.call_method1(py, "call_soon_threadsafe", (take, future))
                }),
                Err(e) => wrap_pyfunction!(crate::future::settle, py).and_then(|settle| {
                    let exc = to_py(py, &e).into_value(py).into_any();
                    event_loop.call_method1(py, "call_soon_threadsafe", (settle, future, exc, true))
                }),
            };
            if let Err(e) = scheduled {
                e.write_unraisable(py, None);
            }
        });
    });
}

/// Takes one buffered record on the event loop's thread for an `async for` step still
/// awaiting it; waits again when the records went away meanwhile (a rebalance, a seek).
#[pyclass(module = "krafty._krafty", frozen)]
struct Take {
    consumer: Py<PyConsumer>,
    event_loop: Obj,
}

#[pymethods]
impl Take {
    fn __call__(&self, py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("done")?.extract::<bool>()? {
            return Ok(()); // cancelled: nothing was taken
        }
        let consumer = self.consumer.bind(py).get();
        let taken = wait_fast(py, consumer.inner.poll_at_most(Duration::ZERO, 1))
            .and_then(|r| r.py_err(py))
            .and_then(|mut records| {
                records
                    .pop()
                    .map(|r| {
                        let at = (TopicPartition::new(&r.topic, r.partition), r.offset);
                        consumer
                            .deserializers
                            .record(py, r)
                            .map_err(|cause| consumer.put_back(py, vec![at], cause))
                    })
                    .transpose()
            });
        match taken {
            Ok(Some(rec)) => {
                future.call_method1("set_result", (Py::new(py, rec)?,))?;
            }
            Ok(None) => arm(
                self.consumer.clone_ref(py),
                self.event_loop.clone_ref(py),
                future.clone().unbind(),
            ),
            Err(e) => {
                future.call_method1("set_exception", (e.into_value(py),))?;
            }
        }
        Ok(())
    }
}
