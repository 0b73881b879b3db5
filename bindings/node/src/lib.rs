//! The `krafty` Node addon: JS conversions around the Rust core (napi-rs).
//!
//! Behaviour lives in the `krafty` and `krafty-broker` crates. Each method here converts its
//! arguments on the JS thread, runs the core's future on the core's runtime (never on the event
//! loop, never on napi's own runtime), and converts the outcome back on the JS thread. Errors
//! leave as a JS `Error` whose message carries the core error's fields (`errors.rs`); the JS
//! layer (`lib/`) turns it into a `KraftyError`.

mod admin;
mod broker;
mod config;
mod consumer;
mod errors;
mod producer;

use std::future::Future;
use std::sync::OnceLock;

use napi_derive::napi;

/// mimalloc, as the broker's binaries (`krafty_broker::ServerAllocator`): records are allocated
/// and freed on different threads (the core's runtime, node's main thread), which it serves
/// without a shared arena lock.
#[global_allocator]
static ALLOCATOR: krafty_broker::ServerAllocator = krafty_broker::ServerAllocator;

/// The core's own multi-thread runtime. Asked from a plain thread: from inside napi's runtime
/// `krafty::runtime::handle()` would answer with napi's.
pub(crate) fn core_runtime() -> &'static tokio::runtime::Handle {
    static HANDLE: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        std::thread::spawn(krafty::runtime::handle)
            .join()
            .expect("the krafty runtime could not start")
    })
}

/// Runs `fut` on the core's runtime; its error becomes the JS error of the promise.
pub(crate) async fn on_core<T: Send + 'static>(
    fut: impl Future<Output = krafty::Result<T>> + Send + 'static,
) -> napi::Result<T> {
    match core_runtime().spawn(fut).await {
        Ok(r) => r.map_err(|e| errors::to_napi(&e)),
        Err(e) => Err(napi::Error::from_reason(format!("krafty task failed: {e}"))),
    }
}

/// The addon's version (the workspace's).
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The partition the default partitioner picks for `key` (Kafka's murmur2, as the Java
/// client computes it).
#[napi]
pub fn murmur2_partition(key: &[u8], partition_count: i32) -> napi::Result<i32> {
    if partition_count <= 0 {
        return Err(napi::Error::from_reason("partitionCount must be positive"));
    }
    Ok(krafty::producer::murmur2_partition(key, partition_count))
}
