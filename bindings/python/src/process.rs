//! Process-level mechanisms Python needs: fork, the callback thread, logging, exit.
//!
//! - Fork: `os.register_at_fork(after_in_child=_after_fork_in_child)` (set in `__init__.py`)
//!   makes the core start a fresh runtime in the child; every client keeps the fork generation
//!   it was created in and refuses to work in another ([`check_fork`]), with
//!   `ForkedClientError`.
//! - Callbacks: a record future's Python callbacks (and interceptors' `on_acknowledgement`)
//!   run on one thread of their own, not on the client's I/O threads, so a slow callback
//!   holds up no I/O; blocking calls on the client from there (`flush`, `close`, `get` of a
//!   pending future) raise instead of deadlocking. asyncio futures are resolved from another
//!   thread (`run_for_asyncio`), which runs no user code: a slow callback delays no `await`.
//! - Logging: the core's `tracing` events go through a channel to one thread that takes the GIL
//!   and calls `logging.getLogger("krafty...").log(level, message)`; a tokio worker never
//!   takes the GIL to log.
//! - Exit: open producers are flushed by an `atexit` hook, within a bounded time.
//!
//! Threads and state that a fork leaves behind are kept per fork generation: a child never
//! waits on a lock or a thread of its parent.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use krafty::runtime::fork_generation;
use krafty::KafkaError;
use pyo3::prelude::*;

use crate::producer::Producer;

const GENERATIONS: usize = 64;

/// The value of this fork generation, made on first use.
fn per_generation<T>(
    slots: &'static [OnceLock<T>; GENERATIONS],
    init: impl FnOnce() -> T,
) -> &'static T {
    let g = fork_generation().min(GENERATIONS - 1);
    slots[g].get_or_init(init)
}

// ---- fork ----------------------------------------------------------------------------------

/// Ok while still in the fork generation `created`, else `ForkedClientError`.
pub fn check_fork(created: usize) -> PyResult<()> {
    if created == fork_generation() {
        return Ok(());
    }
    Err(Python::attach(|py| {
        crate::errors::build(
            py,
            &KafkaError::IllegalState(
                "this client was created before os.fork(); create clients in the child".into(),
            ),
            "forked",
        )
    }))
}

/// Whether an object of generation `created` was inherited through a fork (its threads and
/// runtime are gone: it must be leaked, never dropped or used).
pub fn inherited(created: usize) -> bool {
    created != fork_generation()
}

/// The `os.register_at_fork(after_in_child=...)` hook.
#[pyfunction]
pub fn _after_fork_in_child() {
    krafty::runtime::after_fork_in_child();
}

// ---- callbacks -----------------------------------------------------------------------------

type Job = Box<dyn FnOnce(Python<'_>) + Send>;

struct CallbackThread {
    tx: mpsc::Sender<Job>,
    id: ThreadId,
}

static CALLBACKS: [OnceLock<CallbackThread>; GENERATIONS] =
    [const { OnceLock::new() }; GENERATIONS];

thread_local! {
    static ON_CALLBACK_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Where asyncio futures are resolved: their outcome converted and handed to the loop with
/// `call_soon_threadsafe`. Package code only, never the user's, so a slow callback on the
/// callback thread holds up no `await`; and not a runtime thread, which would wait for the
/// GIL while the clients' I/O waits for it.
static ASYNCIO: [OnceLock<CallbackThread>; GENERATIONS] = [const { OnceLock::new() }; GENERATIONS];

fn job_thread(name: &str, callbacks: bool) -> CallbackThread {
    let (tx, rx) = mpsc::channel::<Job>();
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            ON_CALLBACK_THREAD.with(|c| c.set(callbacks));
            for job in rx {
                if Python::try_attach(job).is_none() {
                    return; // the interpreter is shutting down
                }
            }
        })
        .unwrap_or_else(|e| panic!("cannot start the {name} thread: {e}"));
    CallbackThread {
        tx,
        id: handle.thread().id(),
    }
}

fn callback_thread() -> &'static CallbackThread {
    per_generation(&CALLBACKS, || job_thread("krafty-callbacks", true))
}

/// Runs `job` (package code that resolves an asyncio future) on the asyncio thread, after the
/// jobs before it.
pub fn run_for_asyncio(job: impl FnOnce(Python<'_>) + Send + 'static) {
    let thread = per_generation(&ASYNCIO, || job_thread("krafty-asyncio", false));
    let _ = thread.tx.send(Box::new(job));
}

/// The callback thread's id (callbacks given to [`run_callbacks`] run there).
pub fn callback_thread_id() -> ThreadId {
    callback_thread().id
}

/// Runs `job` on the callback thread, after the jobs before it.
pub fn run_callbacks(job: impl FnOnce(Python<'_>) + Send + 'static) {
    let _ = callback_thread().tx.send(Box::new(job));
}

/// `IllegalStateError` when called from a callback: `what` would wait for the callback
/// thread itself (or hold up every other callback).
pub fn refuse_in_callback(py: Python<'_>, what: &str) -> PyResult<()> {
    if !ON_CALLBACK_THREAD.with(|c| c.get()) {
        return Ok(());
    }
    Err(crate::errors::to_py(
        py,
        &KafkaError::IllegalState(format!(
            "{what} cannot be called from a callback: it would wait for the callback thread \
             itself and deadlock (do it outside the callback)"
        )),
    ))
}

// ---- logging -------------------------------------------------------------------------------

/// The lowest Python logging level forwarded (`logging.WARNING` until set).
static MIN_LEVEL: AtomicI32 = AtomicI32::new(30);

struct LogRecord {
    level: i32,
    target: String,
    message: String,
}

static FORWARDERS: [OnceLock<mpsc::SyncSender<LogRecord>>; GENERATIONS] =
    [const { OnceLock::new() }; GENERATIONS];

fn forwarder() -> &'static mpsc::SyncSender<LogRecord> {
    per_generation(&FORWARDERS, || {
        // Bounded: a logging storm drops records rather than memory or a worker's time.
        let (tx, rx) = mpsc::sync_channel::<LogRecord>(10_000);
        std::thread::Builder::new()
            .name("krafty-logging".into())
            .spawn(move || {
                for r in rx {
                    let attached = Python::try_attach(|py| {
                        let result = py.import("logging").and_then(|logging| {
                            let logger =
                                logging.call_method1("getLogger", (logger_name(&r.target),))?;
                            if logger
                                .call_method1("isEnabledFor", (r.level,))?
                                .is_truthy()?
                            {
                                logger.call_method1("log", (r.level, r.message))?;
                            }
                            Ok(())
                        });
                        if let Err(e) = result {
                            e.write_unraisable(py, None);
                        }
                    });
                    if attached.is_none() {
                        return;
                    }
                }
            })
            .expect("cannot start the krafty logging thread");
        tx
    })
}

/// `krafty::network::client` → `krafty.network.client`; the broker's under `krafty.broker`.
fn logger_name(target: &str) -> String {
    let dotted = target.replace("::", ".");
    if let Some(rest) = dotted.strip_prefix("krafty_broker") {
        format!("krafty.broker{rest}")
    } else if dotted == "krafty" || dotted.starts_with("krafty.") {
        dotted
    } else if let Some(rest) = dotted.strip_prefix("krafty_py") {
        format!("krafty.python{rest}")
    } else {
        format!("krafty.{dotted}")
    }
}

fn python_level(level: &tracing::Level) -> i32 {
    match *level {
        tracing::Level::ERROR => 40,
        tracing::Level::WARN => 30,
        tracing::Level::INFO => 20,
        tracing::Level::DEBUG => 10,
        tracing::Level::TRACE => 5,
    }
}

fn level_filter(min: i32) -> tracing::level_filters::LevelFilter {
    use tracing::level_filters::LevelFilter;
    match min {
        i32::MIN..=5 => LevelFilter::TRACE,
        6..=10 => LevelFilter::DEBUG,
        11..=20 => LevelFilter::INFO,
        21..=30 => LevelFilter::WARN,
        31..=40 => LevelFilter::ERROR,
        _ => LevelFilter::OFF,
    }
}

/// The message and fields of an event, as `message key=value ...`.
struct Text(String);

impl tracing::field::Visit for Text {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}{rest}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        use std::fmt::Write;
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

/// The process-wide `tracing` subscriber: events at or above the level, to the channel.
struct ToPythonLogging;

impl tracing::Subscriber for ToPythonLogging {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        python_level(metadata.level()) >= MIN_LEVEL.load(Ordering::Relaxed)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(level_filter(MIN_LEVEL.load(Ordering::Relaxed)))
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let metadata = event.metadata();
        let mut text = Text(String::new());
        event.record(&mut text);
        let _ = forwarder().try_send(LogRecord {
            level: python_level(metadata.level()),
            target: metadata.target().to_string(),
            message: text.0,
        });
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Installs the subscriber (unless the process already has one), forwarding from `level` up.
pub fn init_logging(level: i32) {
    MIN_LEVEL.store(level, Ordering::Relaxed);
    let _ = tracing::subscriber::set_global_default(ToPythonLogging);
}

/// The lowest Python logging level the core forwards (the `krafty` logger's level is set in
/// Python by `krafty.set_log_level`, which calls this). `logging.NOTSET` forwards everything.
#[pyfunction]
pub fn _set_forwarded_level(level: i32) {
    MIN_LEVEL.store(level, Ordering::Relaxed);
    tracing::callsite::rebuild_interest_cache();
}

// ---- exit ----------------------------------------------------------------------------------

type Registered = (usize, Weak<Producer>);

static OPEN_PRODUCERS: [OnceLock<Mutex<Vec<Registered>>>; GENERATIONS] =
    [const { OnceLock::new() }; GENERATIONS];

fn open_producers() -> &'static Mutex<Vec<Registered>> {
    per_generation(&OPEN_PRODUCERS, Mutex::default)
}

/// Remembers a producer for the exit flush (weakly: a collected one is forgotten).
pub fn register_producer(generation: usize, producer: Weak<Producer>) {
    let mut open = open_producers().lock().unwrap();
    open.retain(|(_, p)| p.strong_count() > 0);
    open.push((generation, producer));
}

/// The `atexit` hook: flushes every producer still open, all within `timeout` seconds.
#[pyfunction]
pub fn _flush_at_exit(py: Python<'_>, timeout: f64) -> PyResult<()> {
    let live: Vec<Producer> = open_producers()
        .lock()
        .unwrap()
        .iter()
        .filter(|(g, _)| !inherited(*g))
        .filter_map(|(_, p)| p.upgrade())
        .map(|p| (*p).clone())
        .collect();
    if live.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
    crate::blocking::wait(py, async move {
        let flushes = live.into_iter().map(|p| {
            crate::runtime::handle().spawn(async move {
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = p.flush_within(left).await;
            })
        });
        let handles: Vec<_> = flushes.collect();
        for h in handles {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = tokio::time::timeout(left, h).await;
        }
    })?;
    Ok(())
}
