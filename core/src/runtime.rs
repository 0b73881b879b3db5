//! Where the client's background tasks run.
//!
//! Inside a tokio runtime the client uses it; from plain threads (and from the Python, Node and
//! C bindings) it uses one process-wide multi-thread runtime it owns, so no caller needs a
//! runtime. After `fork()` that runtime's threads do not exist in the child: a binding calls
//! [`after_fork_in_child`] there (Python's `os.register_at_fork`), which makes the next use start
//! a fresh runtime and bumps [`fork_generation`]. Clients created before the fork still refer to
//! the dead runtime: a binding compares the generation it saw at creation with the current one
//! and refuses to use them.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// How many nested forks (a child of a child ...) may each start their own runtime.
const MAX_FORK_DEPTH: usize = 64;

/// One runtime slot per fork generation. A slot is only ever initialised by the process of its
/// generation, so a child never waits on a lock a parent's thread held when it forked, and the
/// dead runtimes of earlier generations are never dropped (their threads are gone).
static RUNTIMES: [OnceLock<tokio::runtime::Runtime>; MAX_FORK_DEPTH] =
    [const { OnceLock::new() }; MAX_FORK_DEPTH];

static GENERATION: AtomicUsize = AtomicUsize::new(0);

/// How many times this process's lineage has called [`after_fork_in_child`]: 0 in the original
/// process. A client made with generation `g` is usable only while this is still `g`.
pub fn fork_generation() -> usize {
    GENERATION.load(Ordering::Acquire)
}

/// Call in the child right after `fork()`, before anything else uses the crate: the next
/// client starts a fresh runtime (the parent's one is leaked, never dropped) and
/// [`fork_generation`] moves on. Clients created before the fork must not be used any more.
pub fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

fn owned() -> &'static tokio::runtime::Runtime {
    let generation = fork_generation();
    let slot = RUNTIMES
        .get(generation)
        .unwrap_or_else(|| panic!("krafty: more than {MAX_FORK_DEPTH} nested fork() generations"));
    slot.get_or_init(|| {
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
