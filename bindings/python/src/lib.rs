//! The `krafty._krafty` extension module: Python conversions around the Rust core.
//!
//! Behaviour lives in the `krafty` and `krafty-broker` crates; this crate turns Python
//! values into core types and back, releases the GIL around every blocking call, and maps
//! errors to `krafty.errors`. The pure-Python half of the package (`python/krafty`) holds the
//! exception classes, `TopicPartition` and the pytest fixture.

mod admin;
mod aio;
mod blocking;
mod broker;
mod config;
mod consumer;
mod errors;
mod future;
mod process;
mod producer;
mod runtime;

use pyo3::prelude::*;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule(name = "_krafty")]
fn krafty_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<producer::PyProducer>()?;
    m.add_class::<producer::ProducerRecord>()?;
    m.add_class::<future::RecordFuture>()?;
    m.add_class::<future::RecordMetadata>()?;
    m.add_class::<consumer::PyConsumer>()?;
    m.add_class::<consumer::ConsumerRecord>()?;
    m.add_class::<broker::PyBroker>()?;
    m.add_class::<admin::PyAdminClient>()?;
    m.add_class::<aio::AioProducer>()?;
    m.add_class::<aio::AioConsumer>()?;
    m.add_function(wrap_pyfunction!(murmur2_partition, m)?)?;
    m.add_function(wrap_pyfunction!(process::_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(process::_set_forwarded_level, m)?)?;
    m.add_function(wrap_pyfunction!(process::_flush_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::_set_worker_threads, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::_worker_threads, m)?)?;
    let level = m
        .py()
        .import("logging")?
        .call_method1("getLogger", ("krafty",))?
        .call_method0("getEffectiveLevel")?
        .extract::<i32>()?;
    process::init_logging(level);
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// The partition the default partitioner picks for `key` (Kafka's murmur2, as the Java
/// client computes it).
#[pyfunction]
fn murmur2_partition(key: &[u8], partition_count: i32) -> PyResult<i32> {
    if partition_count <= 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "partition_count must be positive",
        ));
    }
    Ok(krafty::producer::murmur2_partition(key, partition_count))
}
