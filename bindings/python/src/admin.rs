//! `krafty.KafkaAdminClient`: kafka-python's admin API over the core's `AdminClient`.
//!
//! Each method turns kafka-python's arguments (`NewTopic`, `NewPartitions`, `ConfigResource`,
//! `{TopicPartition: offset}`) into core values, runs the core call with the GIL released, and
//! builds kafka-python's result shapes (dicts for topics, `GroupInformation` namedtuples,
//! `{TopicPartition: OffsetAndMetadata}`). What the core cannot do raises
//! `NotImplementedError` naming the argument instead of being ignored. kafka-python's
//! `group_coordinator_id` and `partition_leader_id` are accepted for its signatures and not
//! needed: the core finds coordinators and leaders itself.

use std::collections::BTreeMap;

use krafty::admin::{AdminClient, CreateOptions, NewTopic};
use krafty::config::{ClientConfig, Properties};
use krafty::{KafkaError, TopicPartition};
use pyo3::exceptions::{PyNotImplementedError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::blocking::wait;
use crate::config::{properties, set_token_provider, take_token_provider, value_string};
use crate::consumer::{
    millis, offset_and_metadata, offsets_from_py, struct_class, tp_from_py, tp_to_py, within,
};
use crate::errors::IntoPy;

type Obj = Py<PyAny>;

mod acls;
mod configs;

static GROUP_INFORMATION: PyOnceLock<Obj> = PyOnceLock::new();
static MEMBER_INFORMATION: PyOnceLock<Obj> = PyOnceLock::new();

/// Cluster administration with kafka-python's `KafkaAdminClient` API.
#[pyclass(module = "krafty._krafty", name = "KafkaAdminClient", frozen)]
pub struct PyAdminClient {
    inner: AdminClient,
    /// The fork generation it was created in (see `process.rs`).
    generation: usize,
}

impl Drop for PyAdminClient {
    /// One inherited through a fork is leaked: its runtime and threads are gone.
    fn drop(&mut self) {
        if crate::process::inherited(self.generation) {
            std::mem::forget(self.inner.clone());
        }
    }
}

#[pymethods]
impl PyAdminClient {
    #[new]
    #[pyo3(signature = (config=None, **kwargs))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyDict>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let token_provider = take_token_provider(kwargs)?;
        // As `AdminClient::from_properties`, with the token provider set before connecting.
        let mut p = Properties::new(properties(config, kwargs)?);
        let mut client = ClientConfig::from_properties(&mut p, 30_000).py_err(py)?;
        p.ignore("default.api.timeout.ms");
        p.finish().py_err(py)?;
        set_token_provider(py, &mut client, token_provider)?;
        let inner = wait(py, AdminClient::connect(client))?
            .map_err(|e| crate::errors::connect_error(py, &e))?;
        Ok(PyAdminClient {
            inner,
            generation: krafty::runtime::fork_generation(),
        })
    }

    /// Creates `new_topics` (`NewTopic` objects). A broker error raises its class, e.g.
    /// `TopicAlreadyExistsError` (errno 36). `timeout_ms` bounds the call on the client's side.
    /// With `validate_only` the broker checks the topics and creates none.
    #[pyo3(signature = (new_topics, timeout_ms=None, validate_only=false))]
    fn create_topics(
        &self,
        py: Python<'_>,
        new_topics: &Bound<'_, PyAny>,
        timeout_ms: Option<f64>,
        validate_only: bool,
    ) -> PyResult<()> {
        self.check()?;
        let topics = list_of(new_topics, "new_topics", "NewTopic objects")?
            .iter()
            .map(new_topic_from_py)
            .collect::<PyResult<Vec<_>>>()?;
        let options = CreateOptions { validate_only };
        let create = self.inner.create_topics_with(&topics, &options);
        wait(py, within(millis(timeout_ms), "create_topics", create))?.py_err(py)
    }

    /// Deletes `topics` (names). `timeout_ms` bounds the call on the client's side.
    #[pyo3(signature = (topics, timeout_ms=None))]
    fn delete_topics(
        &self,
        py: Python<'_>,
        topics: &Bound<'_, PyAny>,
        timeout_ms: Option<f64>,
    ) -> PyResult<()> {
        self.check()?;
        let names = names_from_py(topics, "topics")?;
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let delete = self.inner.delete_topics(&refs);
        wait(py, within(millis(timeout_ms), "delete_topics", delete))?.py_err(py)
    }

    /// Every topic's name, internal ones included (as kafka-python), sorted.
    fn list_topics(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.check()?;
        wait(py, self.inner.list_topics(true))?.py_err(py)
    }

    /// kafka-python's topic metadata dicts (`topic`, `error_code`, `is_internal`,
    /// `partitions`: `partition`, `leader`, `replicas`, `isr`, `error_code`) for `topics`, or
    /// for every topic. An unknown topic raises `UnknownTopicOrPartitionError`.
    #[pyo3(signature = (topics=None))]
    fn describe_topics<'py>(
        &self,
        py: Python<'py>,
        topics: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.check()?;
        let names = match topics.filter(|t| !t.is_none()) {
            Some(t) => Some(names_from_py(t, "topics")?),
            None => None,
        };
        let admin = &self.inner;
        let described = wait(py, async move {
            let names = match names {
                Some(n) => n,
                None => admin.list_topics(true).await?,
            };
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            admin.describe_topics(&refs).await
        })?
        .py_err(py)?;
        let out = PyList::empty(py);
        for t in described {
            let partitions = PyList::empty(py);
            for p in &t.partitions {
                let d = PyDict::new(py);
                d.set_item("error_code", p.error_code)?;
                d.set_item("partition", p.partition)?;
                d.set_item("leader", p.leader)?;
                d.set_item("replicas", p.replicas.clone())?;
                d.set_item("isr", p.isr.clone())?;
                partitions.append(d)?;
            }
            let d = PyDict::new(py);
            d.set_item("error_code", t.error_code)?;
            d.set_item("topic", &t.name)?;
            d.set_item("is_internal", t.is_internal)?;
            d.set_item("partitions", partitions)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Grows topics: `{topic: NewPartitions(total_count, new_assignments=None)}` (or a bare
    /// total count). `timeout_ms` bounds the call on the client's side. With `validate_only`
    /// the broker checks the request and adds no partition.
    #[pyo3(signature = (topic_partitions, timeout_ms=None, validate_only=false))]
    fn create_partitions(
        &self,
        py: Python<'_>,
        topic_partitions: &Bound<'_, PyAny>,
        timeout_ms: Option<f64>,
        validate_only: bool,
    ) -> PyResult<()> {
        self.check()?;
        let wanted = topic_partitions.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "topic_partitions must be a dict {{topic: NewPartitions}}, got {}",
                type_name(topic_partitions)
            ))
        })?;
        let mut totals = Vec::new();
        for (topic, count) in wanted.iter() {
            let topic: String = topic.extract().map_err(|_| {
                PyTypeError::new_err("topic_partitions: the keys must be topic names (str)")
            })?;
            totals.push((topic, total_count_from_py(&count)?));
        }
        let admin = &self.inner;
        let options = CreateOptions { validate_only };
        let grow = async move {
            for (topic, (total, assignments)) in &totals {
                admin
                    .create_partitions_with(topic, *total, assignments.as_deref(), &options)
                    .await?;
            }
            Ok(())
        };
        wait(py, within(millis(timeout_ms), "create_partitions", grow))?.py_err(py)
    }

    /// Configs of topics and brokers, in kafka-python's response shape: a list with one
    /// `DescribeConfigsResponse` whose `resources` are `(error_code, error_message,
    /// resource_type, resource_name, entries)`, one per `ConfigResource` in order; the
    /// entries are `ConfigEntry`, or `ConfigEntryWithSynonyms` with `include_synonyms`.
    /// An unknown topic raises its error class.
    #[pyo3(signature = (config_resources, include_synonyms=false))]
    fn describe_configs<'py>(
        &self,
        py: Python<'py>,
        config_resources: &Bound<'py, PyAny>,
        include_synonyms: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        self.check()?;
        configs::describe_configs(&self.inner, py, config_resources, include_synonyms)
    }

    /// Replaces each resource's configs with its `ConfigResource.configs` (Kafka's
    /// AlterConfigs: a config left out returns to its default); returns an
    /// `AlterConfigsResponse` whose `resources` are `(error_code, error_message,
    /// resource_type, resource_name)`, a refused resource reported there as kafka-python
    /// does. With `validate_only` the broker checks the configs and changes nothing.
    #[pyo3(signature = (config_resources, validate_only=false))]
    fn alter_configs<'py>(
        &self,
        py: Python<'py>,
        config_resources: &Bound<'py, PyAny>,
        validate_only: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.check()?;
        configs::alter_configs(&self.inner, py, config_resources, validate_only)
    }

    /// The ACLs matching `acl_filter` (an `ACLFilter`): `([ACL], NoError)`; a broker error
    /// raises its class (`SecurityDisabledError`, 54, without an authorizer).
    fn describe_acls<'py>(
        &self,
        py: Python<'py>,
        acl_filter: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.check()?;
        acls::describe_acls(&self.inner, py, acl_filter)
    }

    /// Creates `acls` (`ACL` objects): `{"succeeded": [ACL], "failed": [(ACL, error
    /// class)]}`.
    fn create_acls<'py>(
        &self,
        py: Python<'py>,
        acls: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.check()?;
        acls::create_acls(&self.inner, py, acls)
    }

    /// Deletes the ACLs matching each of `acl_filters` (`ACLFilter` objects): `[(ACLFilter,
    /// [ACL deleted], error class)]`, `NoError` for a filter that was applied.
    fn delete_acls<'py>(
        &self,
        py: Python<'py>,
        acl_filters: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.check()?;
        acls::delete_acls(&self.inner, py, acl_filters)
    }

    /// `[(group_id, protocol_type)]` of every group the brokers know.
    fn list_consumer_groups(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        self.check()?;
        let groups = wait(py, self.inner.list_consumer_groups())?.py_err(py)?;
        Ok(groups
            .into_iter()
            .map(|g| (g.group_id, g.protocol_type))
            .collect())
    }

    /// One `GroupInformation` per group: `error_code` (0), `group`, `state`,
    /// `protocol_type`, `protocol`, `members` (`MemberInformation`: `member_id`, `client_id`,
    /// `client_host`, `member_metadata` (None), `member_assignment`: the member's
    /// `TopicPartition`s) and `authorized_operations` (None).
    #[pyo3(signature = (group_ids, group_coordinator_id=None, include_authorized_operations=false))]
    fn describe_consumer_groups<'py>(
        &self,
        py: Python<'py>,
        group_ids: &Bound<'py, PyAny>,
        group_coordinator_id: Option<i32>,
        include_authorized_operations: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        self.check()?;
        let _ = group_coordinator_id; // the core finds each group's coordinator
        if include_authorized_operations {
            return Err(unsupported(
                "describe_consumer_groups(include_authorized_operations=True)",
            ));
        }
        let groups = names_from_py(group_ids, "group_ids")?;
        let admin = &self.inner;
        let described = wait(py, async move {
            let mut out = Vec::with_capacity(groups.len());
            for g in &groups {
                out.push(admin.describe_consumer_group(g).await?);
            }
            Ok::<_, KafkaError>(out)
        })?
        .py_err(py)?;
        let group_class = struct_class(py, &GROUP_INFORMATION, "GroupInformation")?;
        let member_class = struct_class(py, &MEMBER_INFORMATION, "MemberInformation")?;
        let out = PyList::empty(py);
        for g in described {
            let members = PyList::empty(py);
            for m in &g.members {
                let assignment = PyList::empty(py);
                for tp in &m.assignment {
                    assignment.append(tp_to_py(py, tp)?)?;
                }
                members.append(member_class.call1((
                    &m.member_id,
                    &m.client_id,
                    &m.host,
                    py.None(),
                    assignment,
                ))?)?;
            }
            out.append(group_class.call1((
                0i16,
                &g.group_id,
                &g.state,
                &g.protocol_type,
                &g.protocol,
                members,
                py.None(),
            ))?)?;
        }
        Ok(out)
    }

    /// `{TopicPartition: OffsetAndMetadata}` of the group's committed offsets (the metadata
    /// string is "" and the leader epoch -1: the core returns offsets only). With `partitions`,
    /// just those, a partition without a commit at offset -1.
    #[pyo3(signature = (group_id, group_coordinator_id=None, partitions=None))]
    fn list_consumer_group_offsets<'py>(
        &self,
        py: Python<'py>,
        group_id: &str,
        group_coordinator_id: Option<i32>,
        partitions: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.check()?;
        let _ = group_coordinator_id; // the core finds the group's coordinator
        let only = match partitions.filter(|p| !p.is_none()) {
            Some(p) => Some(
                list_of(p, "partitions", "TopicPartitions")?
                    .iter()
                    .map(|tp| {
                        tp_from_py(tp).map_err(|_| {
                            PyTypeError::new_err(format!(
                                "partitions must hold TopicPartition(topic, partition), got {}",
                                tp.repr().map_or_else(|_| "?".into(), |r| r.to_string())
                            ))
                        })
                    })
                    .collect::<PyResult<Vec<TopicPartition>>>()?,
            ),
            None => None,
        };
        let committed = wait(py, self.inner.list_consumer_group_offsets(group_id))?.py_err(py)?;
        let offsets: BTreeMap<TopicPartition, i64> = match only {
            None => committed,
            Some(tps) => tps
                .into_iter()
                .map(|tp| {
                    let o = committed.get(&tp).copied().unwrap_or(-1);
                    (tp, o)
                })
                .collect(),
        };
        let out = PyDict::new(py);
        for (tp, o) in offsets {
            let o = krafty::consumer::OffsetAndMetadata::new(o);
            out.set_item(tp_to_py(py, &tp)?, offset_and_metadata(py, &o)?)?;
        }
        Ok(out)
    }

    /// Commits `offsets` (`{TopicPartition: offset or OffsetAndMetadata}`, the next offsets to
    /// read) for a group with no active member, as `kafka-consumer-groups.sh --reset-offsets`
    /// does; a group with members raises `UnknownMemberIdError`.
    #[pyo3(signature = (group_id, offsets, group_coordinator_id=None))]
    fn alter_consumer_group_offsets(
        &self,
        py: Python<'_>,
        group_id: &str,
        offsets: &Bound<'_, PyAny>,
        group_coordinator_id: Option<i32>,
    ) -> PyResult<()> {
        self.check()?;
        let _ = group_coordinator_id; // the core finds the group's coordinator
        let offsets = offsets
            .cast::<PyDict>()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "offsets must be a dict {{TopicPartition: offset}}, got {}",
                    type_name(offsets)
                ))
            })
            .and_then(|d| {
                offsets_from_py(d).map_err(|e| PyTypeError::new_err(format!("offsets: {e}")))
            })?;
        if let Some((tp, _)) = offsets.iter().find(|(_, o)| !o.metadata.is_empty()) {
            return Err(unsupported(&format!(
                "alter_consumer_group_offsets with a metadata string (offsets[{tp}])"
            )));
        }
        let offsets: BTreeMap<TopicPartition, i64> =
            offsets.into_iter().map(|(tp, o)| (tp, o.offset)).collect();
        wait(
            py,
            self.inner.alter_consumer_group_offsets(group_id, &offsets),
        )?
        .py_err(py)
    }

    /// Deletes groups with no members: `[(group_id, error class)]` with `NoError` for each
    /// group deleted, else the broker's error class (`NonEmptyGroupError`,
    /// `GroupIdNotFoundError`, ...), as kafka-python returns them.
    #[pyo3(signature = (group_ids, group_coordinator_id=None))]
    fn delete_consumer_groups<'py>(
        &self,
        py: Python<'py>,
        group_ids: &Bound<'py, PyAny>,
        group_coordinator_id: Option<i32>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.check()?;
        let _ = group_coordinator_id; // the core finds each group's coordinator
        let groups = names_from_py(group_ids, "group_ids")?;
        let admin = &self.inner;
        let results = wait(py, async move {
            let mut out = Vec::with_capacity(groups.len());
            for g in groups {
                // Per group, so one group's error is that group's answer, not the call's.
                let code = match admin.delete_consumer_groups(&[g.as_str()]).await {
                    Ok(()) => 0,
                    Err(KafkaError::Broker { code, .. }) => code,
                    Err(e) => return Err(e),
                };
                out.push((g, code));
            }
            Ok(out)
        })?
        .py_err(py)?;
        let errors = py.import("krafty.errors")?;
        let for_code = errors.getattr("error_for_code")?;
        let out = PyList::empty(py);
        for (g, code) in results {
            let class = if code == 0 {
                errors.getattr("NoError")?
            } else {
                for_code.call1((code,))?
            };
            out.append((g, class))?;
        }
        Ok(out)
    }

    /// Deletes the records before each offset (`{TopicPartition: offset}`; -1: the high
    /// watermark), moving the partition's log start there. `timeout_ms` bounds the call on the
    /// client's side.
    #[pyo3(signature = (records_to_delete, timeout_ms=None, partition_leader_id=None))]
    fn delete_records(
        &self,
        py: Python<'_>,
        records_to_delete: &Bound<'_, PyAny>,
        timeout_ms: Option<f64>,
        partition_leader_id: Option<i32>,
    ) -> PyResult<()> {
        self.check()?;
        let _ = partition_leader_id; // the core sends each partition to its leader
        let wanted = records_to_delete.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "records_to_delete must be a dict {{TopicPartition: offset}}, got {}",
                type_name(records_to_delete)
            ))
        })?;
        let mut before = BTreeMap::new();
        for (tp, offset) in wanted.iter() {
            let tp = tp_from_py(&tp).map_err(|_| {
                PyTypeError::new_err("records_to_delete: the keys must be TopicPartitions")
            })?;
            let offset: i64 = offset.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "records_to_delete maps TopicPartition to an offset (int), got {} for {tp}",
                    type_name(&offset)
                ))
            })?;
            before.insert(tp, offset);
        }
        let delete = self.inner.delete_records(&before);
        wait(py, within(millis(timeout_ms), "delete_records", delete))?.py_err(py)
    }

    /// Closes the connections; later calls raise `ClosedError`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.check()?;
        wait(py, self.inner.close())
    }

    /// kafka-python's cluster description, from a Metadata request: `{"throttle_time_ms",
    /// "brokers": [{"node_id", "host", "port", "rack"}], "cluster_id", "controller_id"}`.
    fn describe_cluster<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.check()?;
        let md = wait(py, self.inner.describe_cluster())?.py_err(py)?;
        let brokers = PyList::empty(py);
        for b in &md.brokers {
            let d = PyDict::new(py);
            d.set_item("node_id", b.node_id)?;
            d.set_item("host", &b.host)?;
            d.set_item("port", b.port)?;
            d.set_item("rack", &b.rack)?;
            brokers.append(d)?;
        }
        let out = PyDict::new(py);
        out.set_item("throttle_time_ms", 0)?;
        out.set_item("brokers", brokers)?;
        out.set_item("cluster_id", &md.cluster_id)?;
        out.set_item("controller_id", md.controller_id)?;
        Ok(out)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.close(py)
    }
}

impl PyAdminClient {
    fn check(&self) -> PyResult<()> {
        crate::process::check_fork(self.generation)
    }
}

fn unsupported(what: &str) -> PyErr {
    PyNotImplementedError::new_err(format!("{what} is not supported by krafty's admin client"))
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map_or_else(|_| "?".into(), |n| n.to_string())
}

/// The items of a list (or other iterable, not a str or bytes) argument.
fn list_of<'py>(
    v: &Bound<'py, PyAny>,
    argument: &str,
    of: &str,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let wrong = || {
        PyTypeError::new_err(format!(
            "{argument} must be a list of {of}, got {}",
            type_name(v)
        ))
    };
    if v.is_instance_of::<PyString>() || v.is_instance_of::<PyBytes>() {
        return Err(wrong());
    }
    v.try_iter()
        .map_err(|_| wrong())?
        .collect::<PyResult<Vec<_>>>()
}

/// A list of names (topics, group ids).
fn names_from_py(v: &Bound<'_, PyAny>, argument: &str) -> PyResult<Vec<String>> {
    list_of(v, argument, "names (str)")?
        .iter()
        .map(|n| {
            n.extract::<String>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{argument} must hold names (str), got {}",
                    type_name(n)
                ))
            })
        })
        .collect()
}

/// kafka-python's `NewTopic` (or any object with its attributes) as the core's.
fn new_topic_from_py(t: &Bound<'_, PyAny>) -> PyResult<NewTopic> {
    let attr = |name: &str| {
        t.getattr(name).map_err(|_| {
            PyTypeError::new_err(format!(
                "new_topics must hold NewTopic(name, num_partitions, replication_factor), got {}",
                type_name(t)
            ))
        })
    };
    let field = |name: &str, v: Bound<'_, PyAny>| {
        PyTypeError::new_err(format!(
            "NewTopic.{name} must be an int, got {}",
            type_name(&v)
        ))
    };
    let name: String = attr("name")?
        .extract()
        .map_err(|_| PyTypeError::new_err("NewTopic.name must be a str"))?;
    let partitions = attr("num_partitions")?;
    let partitions: i32 = partitions
        .extract()
        .map_err(|_| field("num_partitions", partitions))?;
    let replication = attr("replication_factor")?;
    let replication: i16 = replication
        .extract()
        .map_err(|_| field("replication_factor", replication))?;
    let mut topic = NewTopic::new(name, partitions, replication);
    if let Ok(a) = t.getattr("replica_assignments") {
        if a.is_truthy()? {
            let wrong = || {
                PyTypeError::new_err(
                    "NewTopic.replica_assignments must be a dict {partition: [broker ids]}",
                )
            };
            let a = a.cast::<PyDict>().map_err(|_| wrong())?;
            for (p, brokers) in a.iter() {
                let p: i32 = p.extract().map_err(|_| wrong())?;
                let brokers: Vec<i32> = brokers.extract().map_err(|_| wrong())?;
                topic.replica_assignments.insert(p, brokers);
            }
        }
    }
    if let Ok(configs) = t.getattr("topic_configs") {
        if !configs.is_none() {
            let configs = configs.cast::<PyDict>().map_err(|_| {
                PyTypeError::new_err("NewTopic.topic_configs must be a dict {name: value}")
            })?;
            for (k, v) in configs.iter() {
                let k: String = k.extract().map_err(|_| {
                    PyTypeError::new_err("NewTopic.topic_configs: the names must be str")
                })?;
                topic.configs.insert(k, value_string(&v)?);
            }
        }
    }
    Ok(topic)
}

/// A `NewPartitions` (or a bare int) as the topic's new total partition count and the
/// brokers of each new partition (None: the broker places them).
fn total_count_from_py(v: &Bound<'_, PyAny>) -> PyResult<(i32, Option<Vec<Vec<i32>>>)> {
    if let Ok(n) = v.extract::<i32>() {
        return Ok((n, None));
    }
    let wrong = || {
        PyTypeError::new_err(format!(
            "topic_partitions maps a topic to NewPartitions(total_count), got {}",
            type_name(v)
        ))
    };
    let total = v.getattr("total_count").map_err(|_| wrong())?;
    let assignments = match v.getattr("new_assignments") {
        Ok(a) if !a.is_none() => Some(a.extract::<Vec<Vec<i32>>>().map_err(|_| {
            PyTypeError::new_err(
                "NewPartitions.new_assignments must be a list of [broker ids], one per new \
                 partition",
            )
        })?),
        _ => None,
    };
    Ok((total.extract().map_err(|_| wrong())?, assignments))
}
