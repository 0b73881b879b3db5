//! `krafty.KafkaConsumer`: the core consumer, its records turned into Python objects.
//!
//! The core consumer reads raw bytes; the Python deserializers run here, with the GIL, while
//! each record becomes a `ConsumerRecord` (calling into Python from the GIL-free poll for
//! every record would cost more than the fetch). Rebalance listeners run on the polling
//! thread, inside the core's poll; a `commit()` made from a listener goes through the
//! core's rebalance context, as the Java client allows `commitSync` in `onPartitionsRevoked`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use krafty::consumer::{
    ConsumerConfig, ConsumerRebalanceListener, ConsumerRecord as CoreRecord,
    KafkaConsumer as CoreConsumer, OffsetAndMetadata, RebalanceContext, TimestampType,
};
use krafty::serialization::BytesSerde;
use krafty::{KafkaError, TopicPartition};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PySet, PyTuple};

use crate::blocking::{wait, wait_fast};
use crate::config::{properties, take};
use crate::errors::{to_py, IntoPy};

type Consumer = CoreConsumer<Option<Bytes>, Option<Bytes>>;
type Obj = Py<PyAny>;

/// One record read from a partition.
#[pyclass(module = "krafty._krafty", frozen, get_all)]
pub struct ConsumerRecord {
    /// The topic the record was read from.
    topic: String,
    /// Its partition.
    partition: i32,
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
    /// The partition leader's epoch when the record was written, if the broker says.
    leader_epoch: Option<i32>,
    /// Bytes of the key on the wire, -1 for a null key.
    serialized_key_size: i32,
    /// Bytes of the value on the wire, -1 for a null value.
    serialized_value_size: i32,
}

#[pymethods]
impl ConsumerRecord {
    fn __repr__(&self) -> String {
        format!(
            "ConsumerRecord(topic={:?}, partition={}, offset={}, key={}, value={})",
            self.topic, self.partition, self.offset, self.key, self.value
        )
    }
}

static TOPIC_PARTITION: PyOnceLock<Obj> = PyOnceLock::new();

/// `krafty.TopicPartition(topic, partition)` (a namedtuple).
fn tp_to_py<'py>(py: Python<'py>, tp: &TopicPartition) -> PyResult<Bound<'py, PyAny>> {
    let class = TOPIC_PARTITION.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("krafty")?.getattr("TopicPartition")?.unbind())
    })?;
    class.bind(py).call1((tp.topic.to_string(), tp.partition))
}

/// Any `(topic, partition)` pair, a `TopicPartition` included.
fn tp_from_py(o: &Bound<'_, PyAny>) -> PyResult<TopicPartition> {
    let (topic, partition): (String, i32) = o.extract()?;
    Ok(TopicPartition::new(topic, partition))
}

fn tps_from_py(items: &Bound<'_, PyAny>) -> PyResult<Vec<TopicPartition>> {
    items.try_iter()?.map(|o| tp_from_py(&o?)).collect()
}

fn tp_set<'py>(py: Python<'py>, tps: &[TopicPartition]) -> PyResult<Bound<'py, PySet>> {
    let set = PySet::empty(py)?;
    for tp in tps {
        set.add(tp_to_py(py, tp)?)?;
    }
    Ok(set)
}

struct Deserializers {
    key: Option<Obj>,
    value: Option<Obj>,
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

    fn record(
        &self,
        py: Python<'_>,
        r: CoreRecord<Option<Bytes>, Option<Bytes>>,
    ) -> PyResult<ConsumerRecord> {
        let headers = PyList::empty(py);
        for h in r.headers {
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
            serialized_key_size: r.serialized_key_size,
            serialized_value_size: r.serialized_value_size,
        })
    }
}

/// What a listener's `commit()` / `position()` reach while the core runs the listener.
struct ListenerScope {
    positions: BTreeMap<TopicPartition, i64>,
    commits: BTreeMap<TopicPartition, OffsetAndMetadata>,
    seeks: BTreeMap<TopicPartition, i64>,
}

thread_local! {
    static IN_LISTENER: RefCell<Option<ListenerScope>> = const { RefCell::new(None) };
}

/// A Python rebalance listener: `on_partitions_revoked(partitions)`,
/// `on_partitions_assigned(partitions)`, optional `on_partitions_lost(partitions)`.
struct PyListener(Obj);

impl PyListener {
    fn call(&self, method: &str, ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        let scope = ListenerScope {
            positions: ctx.positions().map(|(tp, p)| (tp.clone(), p)).collect(),
            commits: BTreeMap::new(),
            seeks: BTreeMap::new(),
        };
        IN_LISTENER.with(|s| *s.borrow_mut() = Some(scope));
        Python::attach(|py| {
            let obj = self.0.bind(py);
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
        if let Some(scope) = IN_LISTENER.with(|s| s.borrow_mut().take()) {
            if !scope.commits.is_empty() {
                ctx.commit_offsets(scope.commits);
            }
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

fn listener(l: Option<Obj>) -> Option<Box<dyn ConsumerRebalanceListener>> {
    l.map(|l| Box::new(PyListener(l)) as _)
}

fn offsets_from_py(
    offsets: &Bound<'_, PyDict>,
) -> PyResult<BTreeMap<TopicPartition, OffsetAndMetadata>> {
    offsets
        .iter()
        .map(|(tp, o)| {
            let om = match o.extract::<i64>() {
                Ok(offset) => OffsetAndMetadata::new(offset),
                Err(_) => {
                    let (offset, metadata): (i64, String) = o.extract()?;
                    OffsetAndMetadata {
                        metadata,
                        ..OffsetAndMetadata::new(offset)
                    }
                }
            };
            Ok((tp_from_py(&tp)?, om))
        })
        .collect()
}

/// A Kafka consumer: `KafkaConsumer(*topics, group_id=..., **config)`. Iterate over it,
/// `async for` over it, or `poll()`.
#[pyclass(module = "krafty._krafty", name = "KafkaConsumer", frozen)]
pub struct PyConsumer {
    inner: Consumer,
    deserializers: std::sync::Arc<Deserializers>,
    /// Iteration ends after this long without a record (kafka-python's `consumer_timeout_ms`).
    iter_timeout: Option<Duration>,
}

#[pymethods]
impl PyConsumer {
    #[new]
    #[pyo3(signature = (*topics, config=None, **kwargs))]
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
        let iter_timeout = take(kwargs, "consumer_timeout_ms")?
            .map(|v| v.extract::<u64>())
            .transpose()?
            .map(Duration::from_millis);
        let config = ConsumerConfig::from_properties(properties(config, kwargs)?).py_err(py)?;
        let inner = wait(py, CoreConsumer::new(config, BytesSerde, BytesSerde))?.py_err(py)?;
        let consumer = PyConsumer {
            inner,
            deserializers: std::sync::Arc::new(deserializers),
            iter_timeout,
        };
        if !topics.is_empty() {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            wait(py, consumer.inner.subscribe(&names, None))?.py_err(py)?;
        }
        Ok(consumer)
    }

    /// Joins the group for `topics` (or every topic matching the regex `pattern`), with an
    /// optional rebalance listener.
    #[pyo3(signature = (topics=None, pattern=None, listener=None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        topics: Option<Vec<String>>,
        pattern: Option<String>,
        listener: Option<Obj>,
    ) -> PyResult<()> {
        let l = self::listener(listener);
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
        self.run(py, self.inner.unsubscribe())?.py_err(py)
    }

    /// Reads exactly these `TopicPartition`s, without group membership.
    fn assign(&self, py: Python<'_>, partitions: &Bound<'_, PyAny>) -> PyResult<()> {
        let tps = tps_from_py(partitions)?;
        self.run(py, self.inner.assign(&tps))?.py_err(py)
    }

    /// The partitions this consumer reads now, as a set of `TopicPartition`.
    fn assignment<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        let a = self.run(py, self.inner.assignment())?;
        tp_set(py, &a)
    }

    /// The topics subscribed to (for a pattern, those it matches now).
    fn subscription<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        let s = self.run(py, self.inner.subscription())?;
        PySet::new(py, s)
    }

    /// Records fetched since the last call, as `{TopicPartition: [ConsumerRecord, ...]}`;
    /// waits up to `timeout_ms` for some. At most `max_records` (default `max.poll.records`).
    #[pyo3(signature = (timeout_ms=0, max_records=None))]
    fn poll<'py>(
        &self,
        py: Python<'py>,
        timeout_ms: u64,
        max_records: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let timeout = Duration::from_millis(timeout_ms);
        let records = match max_records {
            Some(n) => self.run(py, self.inner.poll_at_most(timeout, n))?,
            None => self.run(py, self.inner.poll(timeout))?,
        }
        .py_err(py)?;
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
        outside_listener(py)?;
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
        let py = slf.py();
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        arm(slf.unbind(), event_loop.unbind(), future.clone().unbind());
        Ok(future.unbind())
    }

    /// Commits the positions of every assigned partition, or `offsets`
    /// (`{TopicPartition: offset or (offset, metadata)}`). Inside a rebalance listener the
    /// commit is made before the rebalance goes on.
    #[pyo3(signature = (offsets=None))]
    fn commit(&self, py: Python<'_>, offsets: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let explicit = offsets.map(offsets_from_py).transpose()?;
        let in_listener = IN_LISTENER.with(|s| {
            let mut s = s.borrow_mut();
            let scope = s.as_mut()?;
            let commits = explicit.clone().unwrap_or_else(|| {
                scope
                    .positions
                    .iter()
                    .map(|(tp, p)| (tp.clone(), OffsetAndMetadata::new(*p)))
                    .collect()
            });
            scope.commits.extend(commits);
            Some(())
        });
        if in_listener.is_some() {
            return Ok(());
        }
        match explicit {
            Some(o) => self.run(py, self.inner.commit_offsets(o))?,
            None => self.run(py, self.inner.commit_sync())?,
        }
        .py_err(py)
    }

    /// Commits the current positions in the background; `callback(exception or None)` runs
    /// on the client's thread when done.
    #[pyo3(signature = (callback=None))]
    fn commit_async(&self, py: Python<'_>, callback: Option<Obj>) -> PyResult<()> {
        let done = move |r: krafty::Result<()>| {
            if let Some(cb) = callback {
                Python::attach(|py| {
                    let err = r.err().map(|e| to_py(py, &e).into_value(py));
                    if let Err(e) = cb.call1(py, (err,)) {
                        e.write_unraisable(py, None);
                    }
                })
            }
        };
        self.run(py, self.inner.commit_async(done))?.py_err(py)
    }

    /// The committed offset of `partition`, or None.
    fn committed(&self, py: Python<'_>, partition: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        let tp = tp_from_py(partition)?;
        let c = self
            .run(py, self.inner.committed(std::slice::from_ref(&tp)))?
            .py_err(py)?;
        Ok(c.get(&tp).map(|o| o.offset))
    }

    /// The offset of the next record `poll` returns for `partition`.
    fn position(&self, py: Python<'_>, partition: &Bound<'_, PyAny>) -> PyResult<i64> {
        let tp = tp_from_py(partition)?;
        let in_listener =
            IN_LISTENER.with(|s| s.borrow().as_ref().map(|s| s.positions.get(&tp).copied()));
        if let Some(p) = in_listener {
            return p.ok_or_else(|| {
                to_py(
                    py,
                    &KafkaError::IllegalState(format!("{tp} is not assigned")),
                )
            });
        }
        self.run(py, self.inner.position(&tp))?.py_err(py)
    }

    /// Moves the position of `partition`; inside a rebalance listener the seek is applied
    /// when the listener returns.
    fn seek(&self, py: Python<'_>, partition: &Bound<'_, PyAny>, offset: i64) -> PyResult<()> {
        let tp = tp_from_py(partition)?;
        let in_listener = IN_LISTENER.with(|s| {
            let mut s = s.borrow_mut();
            s.as_mut()
                .map(|scope| scope.seeks.insert(tp.clone(), offset))
        });
        if in_listener.is_some() {
            return Ok(());
        }
        self.run(py, self.inner.seek(&tp, offset))?.py_err(py)
    }

    /// Seeks the given partitions (all assigned ones when none are given) to their start.
    #[pyo3(signature = (*partitions))]
    fn seek_to_beginning(&self, py: Python<'_>, partitions: &Bound<'_, PyTuple>) -> PyResult<()> {
        let tps = self.or_assigned(py, partitions)?;
        self.run(py, self.inner.seek_to_beginning(&tps))?.py_err(py)
    }

    /// Seeks the given partitions (all assigned ones when none are given) to their end.
    #[pyo3(signature = (*partitions))]
    fn seek_to_end(&self, py: Python<'_>, partitions: &Bound<'_, PyTuple>) -> PyResult<()> {
        let tps = self.or_assigned(py, partitions)?;
        self.run(py, self.inner.seek_to_end(&tps))?.py_err(py)
    }

    /// Stops fetching from these partitions (positions kept) until `resume`.
    #[pyo3(signature = (*partitions))]
    fn pause(&self, py: Python<'_>, partitions: &Bound<'_, PyTuple>) -> PyResult<()> {
        let tps = tps_from_py(partitions)?;
        self.run(py, self.inner.pause(&tps))?.py_err(py)
    }

    /// Fetches from paused partitions again.
    #[pyo3(signature = (*partitions))]
    fn resume(&self, py: Python<'_>, partitions: &Bound<'_, PyTuple>) -> PyResult<()> {
        let tps = tps_from_py(partitions)?;
        self.run(py, self.inner.resume(&tps))?.py_err(py)
    }

    /// The paused partitions, as a set of `TopicPartition`.
    fn paused<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        let p = self.run(py, self.inner.paused())?;
        tp_set(py, &p)
    }

    /// `{TopicPartition: first offset}` for `partitions`.
    fn beginning_offsets<'py>(
        &self,
        py: Python<'py>,
        partitions: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let tps = tps_from_py(partitions)?;
        let o = self
            .run(py, self.inner.beginning_offsets(&tps))?
            .py_err(py)?;
        offsets_dict(py, o)
    }

    /// `{TopicPartition: log end offset}` for `partitions`.
    fn end_offsets<'py>(
        &self,
        py: Python<'py>,
        partitions: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let tps = tps_from_py(partitions)?;
        let o = self.run(py, self.inner.end_offsets(&tps))?.py_err(py)?;
        offsets_dict(py, o)
    }

    /// `{TopicPartition: (offset, timestamp) or None}`: the first record at or after each
    /// timestamp (ms).
    fn offsets_for_times<'py>(
        &self,
        py: Python<'py>,
        timestamps: &Bound<'_, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let times = timestamps
            .iter()
            .map(|(tp, ts)| Ok((tp_from_py(&tp)?, ts.extract::<i64>()?)))
            .collect::<PyResult<BTreeMap<_, _>>>()?;
        let found = self
            .run(py, self.inner.offsets_for_times(&times))?
            .py_err(py)?;
        let out = PyDict::new(py);
        for (tp, v) in found {
            out.set_item(tp_to_py(py, &tp)?, v)?;
        }
        Ok(out)
    }

    /// Makes a blocked `poll` (or iteration) on another thread raise `WakeupError`.
    fn wakeup(&self) {
        self.inner.wakeup()
    }

    /// Commits (with auto commit on), revokes through the listener, leaves the group.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, self.inner.close())?.py_err(py)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.close(py)
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

    /// Runs a core call, unless a rebalance listener is running on this thread: the core's
    /// poll holds the consumer then, so only `commit`, `position` and `seek` are served there.
    fn run<F>(&self, py: Python<'_>, fut: F) -> PyResult<F::Output>
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        outside_listener(py)?;
        wait(py, fut)
    }

    fn or_assigned(
        &self,
        py: Python<'_>,
        partitions: &Bound<'_, PyTuple>,
    ) -> PyResult<Vec<TopicPartition>> {
        if partitions.is_empty() {
            return self.run(py, self.inner.assignment());
        }
        tps_from_py(partitions)
    }
}

fn outside_listener(py: Python<'_>) -> PyResult<()> {
    if IN_LISTENER.with(|s| s.borrow().is_some()) {
        return Err(to_py(
            py,
            &KafkaError::IllegalState(
                "only commit(), position() and seek() may be called from a rebalance listener"
                    .into(),
            ),
        ));
    }
    Ok(())
}

fn offsets_dict(py: Python<'_>, o: BTreeMap<TopicPartition, i64>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for (tp, v) in o {
        out.set_item(tp_to_py(py, &tp)?, v)?;
    }
    Ok(out)
}

/// `SerializationError` naming the record a deserializer refused, caused by what it raised.
fn deserialization_error(py: Python<'_>, tp: &TopicPartition, offset: i64, cause: PyErr) -> PyErr {
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
    krafty::runtime::handle().spawn(async move {
        let ready = loop {
            match core.wait_for_records(Duration::from_millis(500)).await {
                Ok(true) => break Ok(()),
                Ok(false) => continue,
                Err(e) => break Err(e),
            }
        };
        Python::attach(|py| {
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
