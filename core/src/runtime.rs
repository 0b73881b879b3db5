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

/// The current runtime, if the client may spawn on it and block inside it: a multi-thread
/// one. A current-thread runtime is driven by the very thread a blocking call would block.
fn current_multi_thread() -> Option<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current()
        .ok()
        .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// The runtime handle background tasks are spawned on: the caller's multi-thread runtime, else
/// the crate's own.
pub fn handle() -> tokio::runtime::Handle {
    current_multi_thread().unwrap_or_else(|| owned().handle().clone())
}

/// Runs `fut` to completion from synchronous code. Inside a multi-thread runtime the current
/// worker is marked blocking; outside one the crate's own runtime drives it; inside a
/// current-thread runtime (which cannot lend its only thread) the crate's runtime drives it
/// from a helper thread. A client created by the async API on a current-thread runtime has
/// its background tasks there: block on it from that runtime and nothing can progress.
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if let Some(h) = current_multi_thread() {
        return tokio::task::block_in_place(|| h.block_on(fut));
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return owned().block_on(fut);
    }
    std::thread::scope(|s| {
        s.spawn(|| owned().block_on(fut))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
