//! `RecordFuture`: the outcome of a send, for threads (`get`), callbacks and asyncio.
//!
//! The core completes each record on its background task; `Shared::complete` stores the
//! outcome, runs the Python callbacks already added (taking the GIL only then), and then wakes
//! `get` callers, so a callback added before `get()` has run when `get()` returns. An
//! asyncio waiter is resolved with `loop.call_soon_threadsafe`, on its own loop's thread.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use krafty::producer::RecordMetadata as CoreMetadata;
use krafty::KafkaError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::to_py;

/// Where a record landed (`topic`, `partition`, `offset`, `timestamp`, serialized sizes).
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
    /// Bytes of the serialized key, -1 for none.
    pub serialized_key_size: i32,
    /// Bytes of the serialized value, -1 for none.
    pub serialized_value_size: i32,
}

#[pymethods]
impl RecordMetadata {
    fn __repr__(&self) -> String {
        format!(
            "RecordMetadata(topic={:?}, partition={}, offset={}, timestamp={})",
            self.topic, self.partition, self.offset, self.timestamp
        )
    }
}

impl From<&CoreMetadata> for RecordMetadata {
    fn from(m: &CoreMetadata) -> Self {
        RecordMetadata {
            topic: m.topic.clone(),
            partition: m.partition,
            offset: m.offset,
            timestamp: m.timestamp,
            serialized_key_size: m.serialized_key_size,
            serialized_value_size: m.serialized_value_size,
        }
    }
}

/// One record's metadata, or a batch's (in the order sent); Python objects are made from it
/// only when asked for.
#[derive(Clone)]
pub enum Outcome {
    One(CoreMetadata),
    Many(Vec<CoreMetadata>),
}

type Done = Result<Outcome, KafkaError>;

enum Waiter {
    Callback(Py<PyAny>),
    Errback(Py<PyAny>),
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

/// The completion point shared by a `RecordFuture` and the core's callback.
#[derive(Default)]
pub struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

impl Shared {
    pub fn complete(&self, done: Done) {
        let mut st = self.state.lock().unwrap();
        let waiters = std::mem::take(&mut st.waiters);
        if waiters.is_empty() {
            // Most records have no waiter yet: keep the outcome without copying it.
            st.done = Some(done);
        } else {
            // Callbacks added from now on see `done` and run at once on their own thread.
            st.done = Some(done.clone());
            st.firing = Some(std::thread::current().id());
            drop(st);
            Python::attach(|py| {
                for w in waiters {
                    fire(py, w, &done);
                }
            });
            st = self.state.lock().unwrap();
            st.firing = None;
        }
        drop(st);
        self.cv.notify_all();
    }
}

fn outcome_py(py: Python<'_>, o: &Outcome) -> PyResult<Py<PyAny>> {
    Ok(match o {
        Outcome::One(m) => Py::new(py, RecordMetadata::from(m))?.into_any(),
        Outcome::Many(ms) => PyList::new(py, ms.iter().map(RecordMetadata::from))?
            .into_any()
            .unbind(),
    })
}

fn fire(py: Python<'_>, w: Waiter, done: &Done) {
    let r = match (w, done) {
        (Waiter::Callback(f), Ok(o)) => outcome_py(py, o).and_then(|v| f.call1(py, (v,))),
        (Waiter::Errback(f), Err(e)) => f.call1(py, (to_py(py, e).into_value(py),)),
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

    /// Calls `fn(metadata)` on success (at once if already acknowledged). Returns the future.
    fn add_callback(slf: Bound<'_, Self>, f: Py<PyAny>) -> PyResult<Bound<'_, Self>> {
        slf.get().add(slf.py(), Waiter::Callback(f));
        Ok(slf)
    }

    /// Calls `fn(exception)` on failure (at once if already failed). Returns the future.
    fn add_errback(slf: Bound<'_, Self>, f: Py<PyAny>) -> PyResult<Bound<'_, Self>> {
        slf.get().add(slf.py(), Waiter::Errback(f));
        Ok(slf)
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

/// Collects a batch's per-record outcomes into one `Shared` completion.
/// Per-record metadata, the first error, records outstanding, completed.
type BatchSlots = (Vec<Option<CoreMetadata>>, Option<KafkaError>, usize, bool);

pub struct BatchCompletion {
    slots: Mutex<BatchSlots>,
    /// Records in the batch (the slots are taken when it completes).
    expected: usize,
    pub shared: Arc<Shared>,
}

impl BatchCompletion {
    pub fn new(expected: usize) -> Arc<Self> {
        Arc::new(BatchCompletion {
            slots: Mutex::new((vec![None; expected], None, expected, false)),
            expected,
            shared: Arc::default(),
        })
    }

    /// Records the outcome of record `i`; the last one completes the batch.
    pub fn record(&self, i: usize, r: krafty::Result<CoreMetadata>) {
        let mut s = self.slots.lock().unwrap();
        match r {
            Ok(m) => s.0[i] = Some(m),
            Err(e) if s.1.is_none() => s.1 = Some(e),
            Err(_) => {}
        }
        s.2 -= 1;
        self.finish_if_done(s);
    }

    /// Only the first `sent` records went out (a send failed synchronously). Every record may
    /// already be acknowledged by now, the batch completed and its slots taken.
    pub fn truncate(&self, sent: usize) {
        let mut s = self.slots.lock().unwrap();
        let unsent = self.expected - sent;
        s.0.truncate(sent);
        s.2 -= unsent;
        self.finish_if_done(s);
    }

    fn finish_if_done(&self, mut s: std::sync::MutexGuard<'_, BatchSlots>) {
        if s.2 > 0 || s.3 {
            return;
        }
        s.3 = true;
        let done = match s.1.take() {
            Some(e) => Err(e),
            None => Ok(Outcome::Many(
                std::mem::take(&mut s.0).into_iter().flatten().collect(),
            )),
        };
        drop(s);
        self.shared.complete(done);
    }
}
