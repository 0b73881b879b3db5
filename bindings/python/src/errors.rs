//! Core errors to the `krafty.errors` exception hierarchy.
//!
//! The classes live in Python (`python/krafty/errors.py`) so users can subclass and import
//! them normally; this module only passes the core error's fields to the factory there.

use krafty::KafkaError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static FACTORY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The Python exception for a core error.
pub fn to_py(py: Python<'_>, e: &KafkaError) -> PyErr {
    build(py, e, kind(e))
}

fn kind(e: &KafkaError) -> &'static str {
    match e {
        KafkaError::Config { .. } => "config",
        KafkaError::Broker { .. } => "broker",
        KafkaError::RecordTooLarge { .. } => "record_too_large",
        KafkaError::Timeout(_) => "timeout",
        KafkaError::Network { .. } => "network",
        KafkaError::Tls { .. } => "tls",
        KafkaError::Protocol(_) => "protocol",
        KafkaError::Serialization(_) => "serialization",
        KafkaError::Closed => "closed",
        KafkaError::Wakeup => "wakeup",
        KafkaError::IllegalState(_) => "illegal_state",
        KafkaError::Fatal(_) => "fatal",
        _ => "other",
    }
}

/// The exception of class `kind` (see `_BY_KIND` in `errors.py`) for a core error.
pub(crate) fn build(py: Python<'_>, e: &KafkaError, kind: &str) -> PyErr {
    let factory = match FACTORY.get_or_try_init(py, || {
        py.import("krafty.errors")?
            .getattr("_from_core")
            .map(Bound::unbind)
    }) {
        Ok(f) => f.bind(py),
        Err(err) => return err,
    };
    let (name, topic, partition, property) = match e {
        KafkaError::Broker {
            name,
            topic,
            partition,
            ..
        } => (Some(*name), topic.clone(), *partition, None),
        KafkaError::Config { property, .. } => (None, None, None, Some(property.clone())),
        _ => (None, None, None, None),
    };
    let args = (
        kind,
        e.to_string(),
        e.code(),
        name,
        e.is_retriable(),
        topic,
        partition,
        property,
    );
    match factory.call1(args) {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// The error of a client's constructor: a network failure there means no bootstrap server
/// answered (kafka-python's `NoBrokersAvailable`, a `KafkaConnectionError`).
pub fn connect_error(py: Python<'_>, e: &KafkaError) -> PyErr {
    match e {
        KafkaError::Network { .. } => build(py, e, "no_brokers"),
        _ => to_py(py, e),
    }
}

/// `Result<T, KafkaError>` into `PyResult<T>`.
pub trait IntoPy<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for krafty::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}

/// A Python exception raised in user code (a serializer, a listener), as a core error.
pub fn from_py(py: Python<'_>, what: &str, e: PyErr) -> KafkaError {
    if let Some(tb) = e.traceback(py) {
        if let Ok(s) = tb.format() {
            return KafkaError::Serialization(format!("{what} raised {e}\n{s}"));
        }
    }
    KafkaError::Serialization(format!("{what} raised {e}"))
}
