//! `krafty.DevBroker`: the bundled Kafka-protocol broker, in this process: one broker, or a
//! multi-node replicated cluster (`nodes=3`) with node faults (stop, start, isolate, heal).

use std::sync::Arc;

use krafty_broker::{Broker, BrokerHandle, ClusterHandle};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::blocking::wait_on;
use crate::config::properties;

/// What a DevBroker runs: one broker, or a cluster of nodes.
enum Running {
    Single(BrokerHandle),
    /// Shared with a node operation in progress (`stop_node` waits with the lock released).
    Cluster(Arc<ClusterHandle>),
}

/// A dev broker on `127.0.0.1` (port 0 = any free port), served by threads of its own
/// (`runtime::brokers`), not the clients'. Without `data_dir` it keeps
/// everything in memory. Broker settings use Kafka's names (`num_partitions=3` or
/// `{"num.partitions": 3}`). `listeners` replaces the one plaintext listener, Kafka's way
/// (`"PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"`), with users from `sasl_users`
/// (`"alice:alice-secret,bob:pw"`); `listener_bootstrap(name)` gives a listener's address.
/// `nodes=3` starts a replicated cluster of three nodes (ids 1 to 3, ports shifted by one per
/// node unless 0, `<data_dir>/node-<id>`), with faults to script failovers.
#[pyclass(module = "krafty._krafty", name = "DevBroker", frozen)]
pub struct PyBroker {
    handle: std::sync::Mutex<Option<Running>>,
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

/// A dict of Python from (key, value) pairs.
fn dict<'py>(py: Python<'py>, items: &[(&str, Bound<'py, PyAny>)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in items {
        d.set_item(k, v)?;
    }
    Ok(d)
}

#[pymethods]
impl PyBroker {
    #[new]
    #[pyo3(signature = (port=0, data_dir=None, config=None, listeners=None, nodes=1, **kwargs))]
    fn new(
        py: Python<'_>,
        port: u16,
        data_dir: Option<std::path::PathBuf>,
        config: Option<&Bound<'_, PyDict>>,
        listeners: Option<String>,
        nodes: i32,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        if nodes < 1 {
            return Err(PyValueError::new_err(format!(
                "nodes must be at least 1 (1: one broker, 3: a three-node cluster), got {nodes}"
            )));
        }
        let builder = if nodes == 1 {
            Broker::builder()
        } else {
            Broker::cluster(nodes)
        };
        let mut builder = match listeners {
            Some(spec) => builder.listeners(spec),
            None => builder.listen(format!("127.0.0.1:{port}")),
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
        let os_error = |e: std::io::Error| PyOSError::new_err(e.to_string());
        let (running, bootstrap) = if nodes == 1 {
            let handle =
                wait_on(py, crate::runtime::brokers(), builder.start())?.map_err(os_error)?;
            let bootstrap = handle.bootstrap_servers();
            (Running::Single(handle), bootstrap)
        } else {
            let cluster = wait_on(py, crate::runtime::brokers(), builder.start_cluster())?
                .map_err(os_error)?;
            let bootstrap = cluster.bootstrap_servers();
            (Running::Cluster(Arc::new(cluster)), bootstrap)
        };
        Ok(PyBroker {
            bootstrap,
            handle: std::sync::Mutex::new(Some(running)),
            generation: krafty::runtime::fork_generation(),
        })
    }

    /// `host:port` for `bootstrap_servers` (a cluster's: every node's, comma-separated).
    #[getter]
    fn bootstrap_servers(&self) -> String {
        self.bootstrap.clone()
    }

    /// The PEM of the CA that signed the broker's generated TLS certificate (clients trust it
    /// with `ssl_cafile`), when it has an SSL or SASL_SSL listener and no certificate files.
    /// A cluster's nodes share one.
    fn tls_ca_pem(&self) -> PyResult<Option<String>> {
        self.each(|h| h.tls_ca_pem().map(str::to_string))
            .map(|all| all.into_iter().flatten().next())
    }

    /// `host:port` of the listener named `name` (`"SASL_PLAINTEXT"`), or None. A cluster's:
    /// every running node's, comma-separated.
    fn listener_bootstrap(&self, name: &str) -> PyResult<Option<String>> {
        let all: Vec<String> = self
            .each(|h| h.listener_bootstrap(name))?
            .into_iter()
            .flatten()
            .collect();
        Ok((!all.is_empty()).then(|| all.join(",")))
    }

    /// The next `count` requests of API `api_key` fail with Kafka error `error_code` (only
    /// `topic`'s / `partition`'s entries, when given). On a cluster: on every running node,
    /// `count` each.
    #[pyo3(signature = (api_key, error_code, count=1, topic=None, partition=None))]
    fn fail_next(
        &self,
        api_key: i16,
        error_code: i16,
        count: u32,
        topic: Option<&str>,
        partition: Option<i32>,
    ) -> PyResult<()> {
        self.each(|h| {
            h.faults()
                .fail_next(api_key, error_code, count, topic, partition)
        })
        .map(drop)
    }

    /// Every request of `api_key` waits `millis` first (0 removes the delay). On a cluster: on
    /// every running node (replica fetches are Fetch requests too).
    fn add_latency(&self, api_key: i16, millis: u64) -> PyResult<()> {
        self.each(|h| h.faults().add_latency(api_key, millis))
            .map(drop)
    }

    /// After `requests` more answers, the next request is handled but its connection closed.
    /// On a cluster: on every running node.
    fn drop_connection_after(&self, requests: u32) -> PyResult<()> {
        self.each(|h| h.faults().drop_connection_after(requests))
            .map(drop)
    }

    /// Removes every injected fault that has not fired yet (the counts below are kept).
    fn clear_faults(&self) -> PyResult<()> {
        self.each(|h| h.faults().clear()).map(drop)
    }

    /// How many injected errors the broker has answered so far: one per request entry
    /// (partition, or whole request) that carried one. Proves that a `fail_next` fired.
    /// On a cluster: the running nodes' sum.
    fn errors_fired(&self) -> PyResult<u64> {
        self.each(|h| h.faults().errors_fired())
            .map(|n| n.iter().sum())
    }

    /// Injected errors not answered yet: the sum of every `fail_next` rule's remaining count.
    fn errors_pending(&self) -> PyResult<u64> {
        self.each(|h| h.faults().errors_pending())
            .map(|n| n.iter().sum())
    }

    /// How many connections `drop_connection_after` has dropped so far.
    fn connections_dropped(&self) -> PyResult<u64> {
        self.each(|h| h.faults().connections_dropped())
            .map(|n| n.iter().sum())
    }

    /// A cluster's node ids (running or not), ascending.
    fn node_ids(&self) -> PyResult<Vec<i32>> {
        Ok(self.cluster("node_ids")?.node_ids())
    }

    /// `host:port` of one node (running or not).
    fn node_bootstrap(&self, node_id: i32) -> PyResult<String> {
        let c = self.node("node_bootstrap", node_id)?;
        c.node_bootstrap(node_id)
            .ok_or_else(|| unknown_node(&c, node_id))
    }

    /// Stops a node as a killed process stops (its connections close; its logs stay): the
    /// partitions it led elect new leaders from their ISRs (leader epoch + 1) and it leaves
    /// every ISR. Stopping a stopped node does nothing.
    fn stop_node(&self, py: Python<'_>, node_id: i32) -> PyResult<()> {
        let c = self.node("stop_node", node_id)?;
        wait_on(py, crate::runtime::brokers(), c.stop_node(node_id))?.map_err(io_error)
    }

    /// Starts a stopped node again, on its old ports over its logs: it follows its partitions'
    /// leaders and rejoins their ISRs once caught up. Starting a running node does nothing.
    fn start_node(&self, py: Python<'_>, node_id: i32) -> PyResult<()> {
        let c = self.node("start_node", node_id)?;
        wait_on(py, crate::runtime::brokers(), c.start_node(node_id))?.map_err(io_error)
    }

    /// A network partition around a running node: its connections go silent (requests time
    /// out), it stops replicating and leaves every ISR, its partitions elect other leaders.
    /// `heal_node` ends it.
    fn isolate_node(&self, py: Python<'_>, node_id: i32) -> PyResult<()> {
        let c = self.running_node("isolate_node", node_id)?;
        py.detach(|| c.isolate_node(node_id)).map_err(io_error)
    }

    /// Ends `isolate_node`: the node's silent connections close, it follows again (truncating
    /// where its logs diverge) and rejoins the ISRs once caught up.
    fn heal_node(&self, py: Python<'_>, node_id: i32) -> PyResult<()> {
        let c = self.running_node("heal_node", node_id)?;
        py.detach(|| c.heal_node(node_id)).map_err(io_error)
    }

    /// Stops a running node's replication (it falls behind its leaders, and leaves their ISRs
    /// after `replica.lag.time.max.ms` once they have records it lacks), until
    /// `resume_replica_fetchers`.
    fn pause_replica_fetchers(&self, py: Python<'_>, node_id: i32) -> PyResult<()> {
        let c = self.running_node("pause_replica_fetchers", node_id)?;
        py.detach(|| c.pause_replica_fetchers(node_id));
        Ok(())
    }

    /// Ends `pause_replica_fetchers`.
    fn resume_replica_fetchers(&self, py: Python<'_>, node_id: i32) -> PyResult<()> {
        let c = self.running_node("resume_replica_fetchers", node_id)?;
        py.detach(|| c.resume_replica_fetchers(node_id));
        Ok(())
    }

    /// The cluster's record of a partition, or None for an unknown one: a dict with `leader`
    /// (a node id, -1 without one), `leader_epoch`, `replicas` (node ids, the preferred leader
    /// first), `isr` (the in-sync replicas, the leader included) and `partition_epoch`
    /// (bumped by every change, an ISR change included).
    fn partition_state<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        partition: i32,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let c = self.cluster("partition_state")?;
        let Some(s) = py.detach(|| c.partition_state(topic, partition)) else {
            return Ok(None);
        };
        dict(
            py,
            &[
                ("leader", s.leader.into_pyobject(py)?.into_any()),
                ("leader_epoch", s.leader_epoch.into_pyobject(py)?.into_any()),
                ("replicas", s.replicas.into_pyobject(py)?.into_any()),
                ("isr", s.isr.into_pyobject(py)?.into_any()),
                (
                    "partition_epoch",
                    s.partition_epoch.into_pyobject(py)?.into_any(),
                ),
            ],
        )
        .map(Some)
    }

    /// Each replica of a partition as its node holds it (a stopped node's as it left it): a
    /// list of dicts with `node_id`, `log_start_offset`, `log_end_offset`, `high_watermark`;
    /// empty for an unknown partition.
    fn replicas<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        partition: i32,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let c = self.cluster("replicas")?;
        py.detach(|| c.replicas(topic, partition))
            .into_iter()
            .map(|r| {
                dict(
                    py,
                    &[
                        ("node_id", r.node_id.into_pyobject(py)?.into_any()),
                        (
                            "log_start_offset",
                            r.log_start_offset.into_pyobject(py)?.into_any(),
                        ),
                        (
                            "log_end_offset",
                            r.log_end_offset.into_pyobject(py)?.into_any(),
                        ),
                        (
                            "high_watermark",
                            r.high_watermark.into_pyobject(py)?.into_any(),
                        ),
                    ],
                )
            })
            .collect()
    }

    /// Stops the broker, or every node of a cluster (idempotent).
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        crate::process::check_fork(self.generation)?;
        let handle = self.handle.lock().unwrap().take();
        match handle {
            Some(Running::Single(h)) => {
                wait_on(
                    py,
                    crate::runtime::brokers(),
                    async move { h.shutdown().await },
                )?
            }
            Some(Running::Cluster(c)) => {
                wait_on(
                    py,
                    crate::runtime::brokers(),
                    async move { c.shutdown().await },
                )?
            }
            None => {}
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

/// A node operation's error: an unknown node is the caller's (ValueError), the rest the OS's.
fn io_error(e: std::io::Error) -> PyErr {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput => {
            PyValueError::new_err(e.to_string())
        }
        _ => PyOSError::new_err(e.to_string()),
    }
}

fn unknown_node(c: &ClusterHandle, node_id: i32) -> PyErr {
    let ids: Vec<String> = c.node_ids().iter().map(i32::to_string).collect();
    PyValueError::new_err(format!(
        "no node {node_id} in this cluster (its nodes: {})",
        ids.join(", ")
    ))
}

impl PyBroker {
    /// `f` on the broker, or on each running node of a cluster.
    fn each<T>(&self, f: impl Fn(&BrokerHandle) -> T) -> PyResult<Vec<T>> {
        crate::process::check_fork(self.generation)?;
        let guard = self.handle.lock().unwrap();
        match guard.as_ref() {
            Some(Running::Single(h)) => Ok(vec![f(h)]),
            Some(Running::Cluster(c)) => {
                let nodes = c.nodes();
                drop(guard);
                Ok(nodes.iter().map(|h| f(h)).collect())
            }
            None => Err(PyRuntimeError::new_err("the broker was shut down")),
        }
    }

    /// The cluster, for `method`: a RuntimeError on a single broker or after shutdown.
    fn cluster(&self, method: &str) -> PyResult<Arc<ClusterHandle>> {
        crate::process::check_fork(self.generation)?;
        match self.handle.lock().unwrap().as_ref() {
            Some(Running::Cluster(c)) => Ok(c.clone()),
            Some(Running::Single(_)) => Err(PyRuntimeError::new_err(format!(
                "{method}() needs a multi-node DevBroker (DevBroker(nodes=3)); this one is a \
                 single broker"
            ))),
            None => Err(PyRuntimeError::new_err("the broker was shut down")),
        }
    }

    /// The cluster, when `node_id` is one of its nodes (a ValueError otherwise).
    fn node(&self, method: &str, node_id: i32) -> PyResult<Arc<ClusterHandle>> {
        let c = self.cluster(method)?;
        if !c.node_ids().contains(&node_id) {
            return Err(unknown_node(&c, node_id));
        }
        Ok(c)
    }

    /// The cluster, when `node_id` is one of its nodes and runs (a RuntimeError when stopped).
    fn running_node(&self, method: &str, node_id: i32) -> PyResult<Arc<ClusterHandle>> {
        let c = self.node(method, node_id)?;
        if c.node(node_id).is_none() {
            return Err(PyRuntimeError::new_err(format!(
                "{method}({node_id}): node {node_id} is stopped (start_node({node_id}) first)"
            )));
        }
        Ok(c)
    }
}
