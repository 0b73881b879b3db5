//! `RecordFuture`: the outcome of a send, for threads (`get`), callbacks and asyncio.
//!
//! The core completes each record on its background task; `Shared::complete` stores the
//! outcome and hands the Python callbacks already added to the callback thread (see
//! `process.rs`), which runs them and then wakes `get` callers, so a callback added before
//! `get()` has run when `get()` returns. The I/O threads never run Python callbacks. An
//! asyncio waiter is resolved from the asyncio thread (which runs no user code) with
//! `loop.call_soon_threadsafe`, on its own loop's thread.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use krafty::producer::{CompletedBatch, RecordMetadata as CoreMetadata, SinkRecord};
use krafty::KafkaError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::errors::to_py;

/// Where a record landed, with kafka-python's fields (`topic`, `partition`,
/// `topic_partition`, `offset`, `timestamp`, `checksum`, serialized sizes). Constructible with
/// kafka-python's arguments (for tests), comparable and picklable.
#[pyclass(module = "krafty._krafty", frozen, get_all)]
#[derive(Clone)]
pub struct RecordMetadata {
    /// The topic written to.
    pub topic: String,
    /// The partition written to.
    pub partition: i32,
    /// The record's offset; -1 with acks=0.
    pub offset: i64,
    /// CreateTime sent, or the broker's LogAppendTime.
    pub timestamp: i64,
    /// None: record batches v2 have no per-record checksum (kafka-python's field).
    pub checksum: Option<i64>,
    /// Bytes of the serialized key, -1 for none.
    pub serialized_key_size: i32,
    /// Bytes of the serialized value, -1 for none.
    pub serialized_value_size: i32,
    /// Bytes of the header names and values, -1 for no headers.
    pub serialized_header_size: i32,
}

#[pymethods]
impl RecordMetadata {
    #[new]
    #[pyo3(signature = (topic, partition, topic_partition=None, offset=-1, timestamp=-1,
                        checksum=None, serialized_key_size=-1, serialized_value_size=-1,
                        serialized_header_size=-1))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        topic: String,
        partition: i32,
        topic_partition: Option<&Bound<'_, PyAny>>,
        offset: i64,
        timestamp: i64,
        checksum: Option<i64>,
        serialized_key_size: i32,
        serialized_value_size: i32,
        serialized_header_size: i32,
    ) -> Self {
        // `topic_partition` is derived from topic and partition; kafka-python passes both.
        let _ = topic_partition;
        RecordMetadata {
            topic,
            partition,
            offset,
            timestamp,
            checksum,
            serialized_key_size,
            serialized_value_size,
            serialized_header_size,
        }
    }

    /// `TopicPartition(topic, partition)`.
    #[getter]
    fn topic_partition<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::consumer::tp_to_py(
            py,
            &krafty::TopicPartition::new(&self.topic, self.partition),
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "RecordMetadata(topic={:?}, partition={}, offset={}, timestamp={})",
            self.topic, self.partition, self.offset, self.timestamp
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let args = slf.get().args(py)?;
        PyTuple::new(py, [slf.get_type().into_any(), args.into_any()])
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match other.cast::<Self>() {
            Ok(o) => Ok(self
                .args(py)?
                .eq(o.get().args(py)?)?
                .into_pyobject(py)?
                .to_owned()
                .into_any()
                .unbind()),
            Err(_) => Ok(py.NotImplemented()),
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.args(py)?.hash()
    }
}

impl RecordMetadata {
    /// The constructor's arguments, in kafka-python's order.
    fn args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        (
            self.topic.clone(),
            self.partition,
            py.None(),
            self.offset,
            self.timestamp,
            self.checksum,
            self.serialized_key_size,
            self.serialized_value_size,
            self.serialized_header_size,
        )
            .into_pyobject(py)
    }

    pub fn from_core(m: &CoreMetadata, serialized_header_size: i32) -> Self {
        RecordMetadata {
            topic: m.topic.clone(),
            partition: m.partition,
            offset: m.offset,
            timestamp: m.timestamp,
            checksum: None,
            serialized_key_size: m.serialized_key_size,
            serialized_value_size: m.serialized_value_size,
            serialized_header_size,
        }
    }
}

/// One record's metadata (with its serialized header size), or a batch's (its topic, and its
/// records in the order sent); Python objects are made from it only when asked for.
#[derive(Clone)]
pub enum Outcome {
    One(CoreMetadata, i32),
    Many(Arc<str>, Vec<BatchRecord>),
}

/// A record of a `send_batch`, acknowledged (the topic is the batch's).
#[derive(Clone, Copy, Debug)]
pub struct BatchRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key_size: i32,
    pub value_size: i32,
    pub header_size: i32,
}

type Done = Result<Outcome, KafkaError>;

enum Waiter {
    Callback(Py<PyAny>),
    Errback(Py<PyAny>),
    /// `add_both`: the same function for either outcome.
    Both(Py<PyAny>),
    Asyncio {
        event_loop: Py<PyAny>,
        future: Py<PyAny>,
    },
}

#[derive(Default)]
struct State {
    done: Option<Done>,
    waiters: Vec<Waiter>,
    /// The completing thread while it runs the callbacks registered before completion: as in
    /// the Java client, `get()` on other threads returns only after they ran.
    firing: Option<std::thread::ThreadId>,
}

impl State {
    /// The outcome as `get()` on this thread may see it.
    fn settled(&self) -> Option<&Done> {
        match self.firing {
            Some(t) if t != std::thread::current().id() => None,
            _ => self.done.as_ref(),
        }
    }
}

thread_local! {
    /// Set on a runtime thread that just handed an interceptor's `on_acknowledgement` to the
    /// callback thread; the record's completion, which the core makes next on the same thread,
    /// takes it and completes through the callback thread too (after the interceptor).
    static ACK_HANDED_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Says that the record completing next on this thread had its interceptors'
/// `on_acknowledgement` handed to the callback thread: `get()` must not return before they ran.
pub fn ack_handed_off() {
    ACK_HANDED_OFF.with(|c| c.set(true));
}

/// The completion point shared by a `RecordFuture` and the core's callback.
#[derive(Default)]
pub struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

impl Shared {
    /// Stores the outcome. Callbacks already added run on the callback thread (never on the
    /// client's I/O thread that completes the record); `get()` elsewhere returns after them,
    /// and after the interceptors' `on_acknowledgement` handed there just before.
    pub fn complete(self: &Arc<Self>, done: Done) {
        let after_ack = ACK_HANDED_OFF.with(|c| c.replace(false));
        let mut st = self.state.lock().unwrap();
        let mut waiters = std::mem::take(&mut st.waiters);
        if waiters.is_empty() && !after_ack {
            // Most records have no waiter yet: keep the outcome without copying it.
            st.done = Some(done);
            drop(st);
            self.cv.notify_all();
            return;
        }
        // `await`s are resolved from the asyncio thread, which runs no user code: a slow
        // callback holds none up. (After an interceptor, they wait for it with the rest.)
        let mut awaiting = vec![];
        if !after_ack {
            let (a, rest) = waiters
                .into_iter()
                .partition(|w| matches!(w, Waiter::Asyncio { .. }));
            (awaiting, waiters) = (a, rest);
        }
        if !awaiting.is_empty() {
            let done = done.clone();
            crate::process::run_for_asyncio(move |py| {
                for w in awaiting {
                    fire(py, w, &done);
                }
            });
        }
        if waiters.is_empty() && !after_ack {
            st.done = Some(done);
            drop(st);
            self.cv.notify_all();
            return;
        }
        // Callbacks added from now on see `done` and run at once on their own thread.
        st.done = Some(done.clone());
        st.firing = Some(crate::process::callback_thread_id());
        drop(st);
        let shared = self.clone();
        crate::process::run_callbacks(move |py| {
            for w in waiters {
                fire(py, w, &done);
            }
            shared.state.lock().unwrap().firing = None;
            shared.cv.notify_all();
        });
    }
}

fn outcome_py(py: Python<'_>, o: &Outcome) -> PyResult<Py<PyAny>> {
    Ok(match o {
        Outcome::One(m, h) => Py::new(py, RecordMetadata::from_core(m, *h))?.into_any(),
        Outcome::Many(topic, records) => PyList::new(
            py,
            records.iter().map(|r| RecordMetadata {
                topic: topic.to_string(),
                partition: r.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                checksum: None,
                serialized_key_size: r.key_size,
                serialized_value_size: r.value_size,
                serialized_header_size: r.header_size,
            }),
        )?
        .into_any()
        .unbind(),
    })
}

fn fire(py: Python<'_>, w: Waiter, done: &Done) {
    let r = match (w, done) {
        (Waiter::Callback(f) | Waiter::Both(f), Ok(o)) => {
            outcome_py(py, o).and_then(|v| f.call1(py, (v,)))
        }
        (Waiter::Errback(f) | Waiter::Both(f), Err(e)) => {
            f.call1(py, (to_py(py, e).into_value(py),))
        }
        (Waiter::Asyncio { event_loop, future }, d) => {
            settle_threadsafe(py, &event_loop, future, d)
        }
        _ => return,
    };
    if let Err(e) = r {
        e.write_unraisable(py, None);
    }
}

fn settle_threadsafe(
    py: Python<'_>,
    event_loop: &Py<PyAny>,
    future: Py<PyAny>,
    done: &Done,
) -> PyResult<Py<PyAny>> {
    let (value, failed) = match done {
        Ok(o) => (outcome_py(py, o)?, false),
        Err(e) => (to_py(py, e).into_value(py).into_any(), true),
    };
    let settle = wrap_pyfunction!(settle, py)?;
    event_loop.call_method1(py, "call_soon_threadsafe", (settle, future, value, failed))
}

/// Resolves an asyncio future on its loop (unless the awaiting task was cancelled).
#[pyfunction]
pub fn settle(future: &Bound<'_, PyAny>, value: Bound<'_, PyAny>, failed: bool) -> PyResult<()> {
    if future.call_method0("done")?.extract::<bool>()? {
        return Ok(());
    }
    if failed {
        future.call_method1("set_exception", (value,))?;
    } else {
        future.call_method1("set_result", (value,))?;
    }
    Ok(())
}

/// The outcome of `send` (a `RecordMetadata`) or `send_batch` (a list of them). Block on it
/// with `get(timeout)`, attach `add_callback` / `add_errback`, or `await` it from asyncio.
#[pyclass(module = "krafty._krafty", frozen)]
pub struct RecordFuture {
    pub shared: Arc<Shared>,
}

#[pymethods]
impl RecordFuture {
    /// Waits for the outcome (GIL released); raises the record's `KafkaError`, or
    /// `KafkaTimeoutError` when `timeout` seconds pass first.
    #[pyo3(signature = (timeout=None))]
    fn get(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
        if self.shared.state.lock().unwrap().settled().is_none() {
            crate::process::refuse_in_callback(py, "RecordFuture.get() of a pending send")?;
        }
        loop {
            let done = py.detach(|| {
                let st = self.shared.state.lock().unwrap();
                let slice = Duration::from_millis(100).min(deadline.map_or(Duration::MAX, |d| {
                    d.saturating_duration_since(Instant::now())
                }));
                let (st, _) = self
                    .shared
                    .cv
                    .wait_timeout_while(st, slice, |s| s.settled().is_none())
                    .unwrap();
                st.settled().cloned()
            });
            match done {
                Some(Ok(o)) => return outcome_py(py, &o),
                Some(Err(e)) => return Err(to_py(py, &e)),
                None if deadline.is_some_and(|d| Instant::now() >= d) => {
                    return Err(to_py(
                        py,
                        &KafkaError::Timeout(format!("no acknowledgement within {timeout:?} s")),
                    ))
                }
                None => py.check_signals()?,
            }
        }
    }

    /// Calls `fn(*args, metadata, **kwargs)` on success (at once if already acknowledged).
    /// Returns the future.
    #[pyo3(signature = (f, *args, **kwargs))]
    fn add_callback<'py>(
        slf: Bound<'py, Self>,
        f: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, Self>> {
        let f = partial(f, args, kwargs)?;
        slf.get().add(slf.py(), Waiter::Callback(f));
        Ok(slf)
    }

    /// Calls `fn(*args, exception, **kwargs)` on failure (at once if already failed). Returns
    /// the future.
    #[pyo3(signature = (f, *args, **kwargs))]
    fn add_errback<'py>(
        slf: Bound<'py, Self>,
        f: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, Self>> {
        let f = partial(f, args, kwargs)?;
        slf.get().add(slf.py(), Waiter::Errback(f));
        Ok(slf)
    }

    /// Calls `fn(*args, metadata_or_exception, **kwargs)` with either outcome. Returns the
    /// future.
    #[pyo3(signature = (f, *args, **kwargs))]
    fn add_both<'py>(
        slf: Bound<'py, Self>,
        f: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, Self>> {
        let f = partial(f, args, kwargs)?;
        slf.get().add(slf.py(), Waiter::Both(f));
        Ok(slf)
    }

    /// True when the send failed with an error that a retry may overcome.
    fn retriable(&self) -> bool {
        matches!(self.shared.state.lock().unwrap().settled(), Some(Err(e)) if e.is_retriable())
    }

    /// True once the outcome is known.
    #[getter]
    fn is_done(&self) -> bool {
        self.shared.state.lock().unwrap().settled().is_some()
    }

    /// True once the record was acknowledged.
    fn succeeded(&self) -> bool {
        matches!(self.shared.state.lock().unwrap().settled(), Some(Ok(_)))
    }

    /// True once the send failed.
    fn failed(&self) -> bool {
        matches!(self.shared.state.lock().unwrap().settled(), Some(Err(_)))
    }

    /// The exception of a failed send, else None.
    #[getter]
    fn exception(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        match self.shared.state.lock().unwrap().settled() {
            Some(Err(e)) => Some(to_py(py, e).into_value(py).into_any()),
            _ => None,
        }
    }

    /// The metadata of a successful send, else None.
    #[getter]
    fn value(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.shared.state.lock().unwrap().settled() {
            Some(Ok(o)) => Ok(Some(outcome_py(py, o)?)),
            _ => Ok(None),
        }
    }

    fn __await__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        let awaitable = future.call_method0("__await__")?.unbind();
        self.add(
            py,
            Waiter::Asyncio {
                event_loop: event_loop.unbind(),
                future: future.unbind(),
            },
        );
        Ok(awaitable)
    }

    fn __repr__(&self) -> &'static str {
        match self.shared.state.lock().unwrap().settled() {
            None => "<RecordFuture pending>",
            Some(Ok(_)) => "<RecordFuture succeeded>",
            Some(Err(_)) => "<RecordFuture failed>",
        }
    }
}

impl RecordFuture {
    fn add(&self, py: Python<'_>, w: Waiter) {
        let done = {
            let mut st = self.shared.state.lock().unwrap();
            match &st.done {
                Some(d) => d.clone(),
                None => {
                    st.waiters.push(w);
                    return;
                }
            }
        };
        fire(py, w, &done);
    }
}

/// `f` with `args` and `kwargs` bound first, as kafka-python's `functools.partial`.
fn partial(
    f: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    if args.is_empty() && kwargs.is_none_or(|k| k.is_empty()) {
        return Ok(f.clone().unbind());
    }
    let py = f.py();
    let mut all = vec![f.clone()];
    all.extend(args.iter());
    let partial = py.import("functools")?.getattr("partial")?;
    Ok(partial.call(PyTuple::new(py, all)?, kwargs)?.unbind())
}

/// Collects a batch's per-record outcomes into one `Shared` completion.
/// Per-record outcome, the first error, records outstanding, completed.
type BatchSlots = (Vec<Option<BatchRecord>>, Option<KafkaError>, usize, bool);

pub struct BatchCompletion {
    slots: Mutex<BatchSlots>,
    topic: Arc<str>,
    /// Records in the batch (the slots are taken when it completes).
    expected: usize,
    /// Each record's serialized header size (-1 without headers).
    header_sizes: Vec<i32>,
    pub shared: Arc<Shared>,
}

impl BatchCompletion {
    pub fn new(topic: &str, header_sizes: Vec<i32>) -> Arc<Self> {
        let expected = header_sizes.len();
        Arc::new(BatchCompletion {
            slots: Mutex::new((vec![None; expected], None, expected, false)),
            topic: Arc::from(topic),
            expected,
            header_sizes,
            shared: Arc::default(),
        })
    }

    /// Records the outcome of record `i`; the last one completes the batch.
    pub fn record(&self, i: usize, r: krafty::Result<CoreMetadata>) {
        let mut s = self.slots.lock().unwrap();
        match r {
            Ok(m) => {
                s.0[i] = Some(BatchRecord {
                    partition: m.partition,
                    offset: m.offset,
                    timestamp: m.timestamp,
                    key_size: m.serialized_key_size,
                    value_size: m.serialized_value_size,
                    header_size: self.header_sizes[i],
                })
            }
            Err(e) if s.1.is_none() => s.1 = Some(e),
            Err(_) => {}
        }
        s.2 -= 1;
        self.finish_if_done(s);
    }

    /// Records the outcomes of records of one core batch (`(index, record)` pairs) under
    /// one lock; true when that completed this batch.
    pub fn delivered(&self, batch: &CompletedBatch<'_>, records: &[(usize, SinkRecord)]) -> bool {
        let mut s = self.slots.lock().unwrap();
        match batch.result {
            Ok(_) => {
                for (i, r) in records {
                    s.0[*i] = Some(BatchRecord {
                        partition: batch.partition,
                        offset: batch.offset(r),
                        timestamp: batch.timestamp(r),
                        key_size: r.key_size,
                        value_size: r.value_size,
                        header_size: self.header_sizes[*i],
                    });
                }
            }
            Err(e) => {
                if s.1.is_none() {
                    s.1 = Some(e.clone());
                }
            }
        }
        s.2 -= records.len();
        let done = s.2 == 0;
        self.finish_if_done(s);
        done
    }

    /// Only the first `sent` records went out (a send failed synchronously). Every record may
    /// already be acknowledged by now, the batch completed and its slots taken. True when
    /// the batch is complete.
    pub fn truncate(&self, sent: usize) -> bool {
        let mut s = self.slots.lock().unwrap();
        let unsent = self.expected - sent;
        s.0.truncate(sent);
        s.2 -= unsent;
        let done = s.2 == 0;
        self.finish_if_done(s);
        done
    }

    fn finish_if_done(&self, mut s: std::sync::MutexGuard<'_, BatchSlots>) {
        if s.2 > 0 || s.3 {
            return;
        }
        s.3 = true;
        let done = match s.1.take() {
            Some(e) => Err(e),
            None => Ok(Outcome::Many(
                self.topic.clone(),
                std::mem::take(&mut s.0).into_iter().flatten().collect(),
            )),
        };
        drop(s);
        self.shared.complete(done);
    }
}
