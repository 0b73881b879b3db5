//! Where the client's background tasks run.
//!
//! Inside a tokio runtime the client uses it; from plain threads (and from the Python, Node and
//! C bindings) it uses one process-wide multi-thread runtime it owns, so no caller needs a
//! runtime. After `fork()` that runtime's threads do not exist in the child: create clients in
//! the child process, not before forking.

use std::future::Future;
use std::sync::OnceLock;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

fn owned() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("krafty")
            .enable_all()
            .build()
            .expect("failed to start the krafty runtime")
    })
}

/// The runtime handle background tasks are spawned on.
pub fn handle() -> tokio::runtime::Handle {
    tokio::runtime::Handle::try_current().unwrap_or_else(|_| owned().handle().clone())
}

/// Runs `fut` to completion from synchronous code. Inside a multi-thread runtime the current
/// worker is marked blocking; outside one the crate's own runtime drives it.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => tokio::task::block_in_place(|| h.block_on(fut)),
        Err(_) => owned().block_on(fut),
    }
}
