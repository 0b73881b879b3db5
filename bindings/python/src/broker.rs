//! `krafty.DevBroker`: the bundled Kafka-protocol broker, in this process.

use krafty_broker::{Broker, BrokerHandle};
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::blocking::wait_on;
use crate::config::properties;

/// A dev broker on `127.0.0.1` (port 0 = any free port), served by threads of its own
/// (`runtime::brokers`), not the clients'. Without `data_dir` it keeps
/// everything in memory. Broker settings use Kafka's names (`num_partitions=3` or
/// `{"num.partitions": 3}`). `listeners` replaces the one plaintext listener, Kafka's way
/// (`"PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"`), with users from `sasl_users`
/// (`"alice:alice-secret,bob:pw"`); `listener_bootstrap(name)` gives a listener's address.
#[pyclass(module = "krafty._krafty", name = "DevBroker", frozen)]
pub struct PyBroker {
    handle: std::sync::Mutex<Option<BrokerHandle>>,
    bootstrap: String,
    /// The fork generation it was started in (see `process.rs`).
    generation: usize,
}

impl Drop for PyBroker {
    /// One inherited through a fork is leaked: its runtime and threads are gone.
    fn drop(&mut self) {
        if crate::process::inherited(self.generation) {
            if let Ok(mut h) = self.handle.lock() {
                std::mem::forget(h.take());
            }
        }
    }
}

#[pymethods]
impl PyBroker {
    #[new]
    #[pyo3(signature = (port=0, data_dir=None, config=None, listeners=None, **kwargs))]
    fn new(
        py: Python<'_>,
        port: u16,
        data_dir: Option<std::path::PathBuf>,
        config: Option<&Bound<'_, PyDict>>,
        listeners: Option<String>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut builder = match listeners {
            Some(spec) => Broker::builder().listeners(spec),
            None => Broker::builder().listen(format!("127.0.0.1:{port}")),
        };
        if let Some(dir) = data_dir {
            builder = builder.data_dir(dir);
        }
        for (k, v) in properties(config, kwargs)? {
            builder = builder.config(k, v);
        }
        builder.build_config().map_err(|e| {
            let err = krafty::KafkaError::Config {
                property: e.property,
                reason: e.reason,
            };
            crate::errors::to_py(py, &err)
        })?;
        let handle = wait_on(py, crate::runtime::brokers(), builder.start())?
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(PyBroker {
            bootstrap: handle.bootstrap_servers(),
            handle: std::sync::Mutex::new(Some(handle)),
            generation: krafty::runtime::fork_generation(),
        })
    }

    /// `host:port` for `bootstrap_servers`.
    #[getter]
    fn bootstrap_servers(&self) -> String {
        self.bootstrap.clone()
    }

    /// The PEM of the CA that signed the broker's generated TLS certificate (clients trust it
    /// with `ssl_cafile`), when it has an SSL or SASL_SSL listener and no certificate files.
    fn tls_ca_pem(&self) -> PyResult<Option<String>> {
        self.with(|h| h.tls_ca_pem().map(str::to_string))
    }

    /// `host:port` of the listener named `name` (`"SASL_PLAINTEXT"`), or None.
    fn listener_bootstrap(&self, name: &str) -> PyResult<Option<String>> {
        self.with(|h| h.listener_bootstrap(name))
    }

    /// The next `count` requests of API `api_key` fail with Kafka error `error_code` (only
    /// `topic`'s / `partition`'s entries, when given).
    #[pyo3(signature = (api_key, error_code, count=1, topic=None, partition=None))]
    fn fail_next(
        &self,
        api_key: i16,
        error_code: i16,
        count: u32,
        topic: Option<&str>,
        partition: Option<i32>,
    ) -> PyResult<()> {
        self.with(|h| {
            h.faults()
                .fail_next(api_key, error_code, count, topic, partition)
        })
    }

    /// Every request of `api_key` waits `millis` first (0 removes the delay).
    fn add_latency(&self, api_key: i16, millis: u64) -> PyResult<()> {
        self.with(|h| h.faults().add_latency(api_key, millis))
    }

    /// After `requests` more answers, the next request is handled but its connection closed.
    fn drop_connection_after(&self, requests: u32) -> PyResult<()> {
        self.with(|h| h.faults().drop_connection_after(requests))
    }

    /// Removes every injected fault that has not fired yet (the counts below are kept).
    fn clear_faults(&self) -> PyResult<()> {
        self.with(|h| h.faults().clear())
    }

    /// How many injected errors the broker has answered so far: one per request entry
    /// (partition, or whole request) that carried one. Proves that a `fail_next` fired.
    fn errors_fired(&self) -> PyResult<u64> {
        self.with(|h| h.faults().errors_fired())
    }

    /// Injected errors not answered yet: the sum of every `fail_next` rule's remaining count.
    fn errors_pending(&self) -> PyResult<u64> {
        self.with(|h| h.faults().errors_pending())
    }

    /// How many connections `drop_connection_after` has dropped so far.
    fn connections_dropped(&self) -> PyResult<u64> {
        self.with(|h| h.faults().connections_dropped())
    }

    /// Stops the broker (idempotent).
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let handle = self.handle.lock().unwrap().take();
        if let Some(h) = handle {
            wait_on(
                py,
                crate::runtime::brokers(),
                async move { h.shutdown().await },
            )?;
        }
        Ok(())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.shutdown(py)
    }

    fn __repr__(&self) -> String {
        format!("DevBroker({})", self.bootstrap)
    }
}

impl PyBroker {
    fn with<T>(&self, f: impl FnOnce(&BrokerHandle) -> T) -> PyResult<T> {
        crate::process::check_fork(self.generation)?;
        match self.handle.lock().unwrap().as_ref() {
            Some(h) => Ok(f(h)),
            None => Err(PyRuntimeError::new_err("the broker was shut down")),
        }
    }
}
