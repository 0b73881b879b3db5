//! The two runtimes the Python package runs Rust on: the clients' and the DevBrokers'.
//!
//! The core uses the runtime it is driven from (`tokio::spawn`, `krafty::runtime::handle()`
//! inside one), so every core future this crate drives is driven from [`clients`]: blocking
//! calls through [`block_on`], background work through [`handle`]. Its threads ("krafty-io")
//! only ever run the core: Python callbacks, interceptors' `on_acknowledgement` and the
//! asyncio resolutions go to threads of their own (`process.rs`), so a slow callback holds up
//! no client's I/O or heartbeats. How many worker threads it has is the process's choice:
//! `krafty.set_worker_threads(n)` before the first client, or `KRAFTY_WORKER_THREADS`
//! (default 2, the core's own).
//!
//! An in-process `DevBroker` runs on [`brokers`] ("krafty-broker"), never on the clients'
//! threads: a test that saturates its clients still has a broker that answers, and the
//! broker's disk work does not take the clients' workers.
//!
//! Both are kept per fork generation, like the core's (see `krafty::runtime`): a child starts
//! fresh ones and never drops or waits on its parent's, whose threads it does not have.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use krafty::runtime::fork_generation;
use krafty::KafkaError;
use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

const GENERATIONS: usize = 64;
const DEFAULT_WORKERS: usize = 2;

static CLIENTS: [OnceLock<Runtime>; GENERATIONS] = [const { OnceLock::new() }; GENERATIONS];
static BROKERS: [OnceLock<Runtime>; GENERATIONS] = [const { OnceLock::new() }; GENERATIONS];

/// Worker threads asked for with `set_worker_threads` (0: not asked, the environment's or the
/// default). Read when a generation's clients' runtime starts.
static WORKERS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the threads of either runtime (workers and blocking pool alike).
    static RUNTIME_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn build(name: &str, workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .on_thread_start(|| RUNTIME_THREAD.with(|t| t.set(true)))
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("krafty: cannot start the {name} runtime: {e}"))
}

fn slot(slots: &'static [OnceLock<Runtime>; GENERATIONS]) -> &'static OnceLock<Runtime> {
    &slots[fork_generation().min(GENERATIONS - 1)]
}

/// The worker threads the clients' runtime starts with.
fn workers() -> usize {
    match WORKERS.load(Ordering::Acquire) {
        0 => std::env::var("KRAFTY_WORKER_THREADS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_WORKERS),
        n => n,
    }
}

/// The clients' runtime of this fork generation, started on first use.
pub fn clients() -> &'static Runtime {
    slot(&CLIENTS).get_or_init(|| build("krafty-io", workers()))
}

/// The DevBrokers' runtime of this fork generation, started on first use.
pub fn brokers() -> &'static Runtime {
    slot(&BROKERS).get_or_init(|| build("krafty-broker", DEFAULT_WORKERS))
}

/// Where background work of the clients is spawned.
pub fn handle() -> Handle {
    clients().handle().clone()
}

/// Whether this thread belongs to one of the runtimes: Python code that the core calls here
/// (an interceptor's `on_acknowledgement`, `close` of a collected producer) is handed to the
/// callback thread instead.
pub fn on_runtime_thread() -> bool {
    RUNTIME_THREAD.with(Cell::get)
}

/// Runs `fut` to completion on `rt`, from any thread. From a runtime's worker (Python code
/// that a core callback ran there, which should not happen but must not panic) the worker is
/// first moved out of its pool; from a current-thread runtime a helper thread drives it.
pub fn block_on<F>(rt: &'static Runtime, fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    match Handle::try_current() {
        Err(_) => rt.block_on(fut),
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| rt.block_on(fut))
        }
        Ok(_) => std::thread::scope(|s| {
            s.spawn(|| rt.block_on(fut))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
    }
}

/// `krafty.set_worker_threads(n)`: the clients' runtime's worker threads. Only before the
/// first client of the process (or of a forked child) starts it: `IllegalStateError` after,
/// unless it already has `n`.
#[pyfunction]
pub fn _set_worker_threads(py: Python<'_>, n: usize) -> PyResult<()> {
    if n == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "worker_threads must be at least 1",
        ));
    }
    WORKERS.store(n, Ordering::Release);
    match slot(&CLIENTS).get() {
        Some(rt) if rt.metrics().num_workers() != n => Err(crate::errors::to_py(
            py,
            &KafkaError::IllegalState(format!(
                "the clients' runtime runs already, with {} worker threads: call \
                 set_worker_threads before the first client (or set KRAFTY_WORKER_THREADS)",
                rt.metrics().num_workers()
            )),
        )),
        _ => Ok(()),
    }
}

/// The worker threads of the clients' runtime, None before the first client starts it.
#[pyfunction]
pub fn _worker_threads() -> Option<usize> {
    slot(&CLIENTS).get().map(|rt| rt.metrics().num_workers())
}
