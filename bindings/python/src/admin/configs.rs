//! kafka-python's `describe_configs` and `alter_configs` over the core's config calls, for
//! topic and broker `ConfigResource`s.
//!
//! Shapes are kafka-python's: `describe_configs` returns `[DescribeConfigsResponse]` whose
//! `resources` are `(error_code, error_message, resource_type, resource_name, entries)`, the
//! entries `ConfigEntry` (DescribeConfigs v0's fields) or, with `include_synonyms`,
//! `ConfigEntryWithSynonyms` (v1's: `config_source` and `config_synonyms`); `alter_configs`
//! returns an `AlterConfigsResponse` whose `resources` are `(error_code, error_message,
//! resource_type, resource_name)`: as kafka-python does, a refused resource is reported
//! there, not raised.

use std::collections::{BTreeMap, BTreeSet};

use krafty::admin::{AdminClient, ConfigResource, ConfigResourceType};
use krafty::KafkaError;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::{list_of, type_name};
use crate::blocking::wait;
use crate::config::value_string;
use crate::errors::IntoPy;

fn resource_type_wire(t: ConfigResourceType) -> i8 {
    match t {
        ConfigResourceType::Topic => 2,
        ConfigResourceType::Broker => 4,
    }
}

/// kafka-python's `ConfigResource` (or any object with `resource_type`, `name`, `configs`).
fn resource_from_py<'py>(
    r: &Bound<'py, PyAny>,
) -> PyResult<(ConfigResource, Option<Bound<'py, PyAny>>)> {
    let wrong = || {
        PyTypeError::new_err(format!(
            "config_resources must hold ConfigResource(resource_type, name), got {}",
            type_name(r)
        ))
    };
    let kind: i64 = r
        .getattr("resource_type")
        .map_err(|_| wrong())?
        .extract()
        .map_err(|_| wrong())?;
    let resource_type = match kind {
        2 => ConfigResourceType::Topic,
        4 => ConfigResourceType::Broker,
        other => {
            return Err(super::unsupported(&format!(
                "a ConfigResource of resource_type {other} (TOPIC and BROKER are)"
            )))
        }
    };
    // kafka-python accepts a broker's id as an int.
    let name = r.getattr("name").map_err(|_| wrong())?;
    let name: String = match name.extract::<i64>() {
        Ok(id) => id.to_string(),
        Err(_) => name.extract().map_err(|_| wrong())?,
    };
    let configs = r.getattr("configs").ok().filter(|c| !c.is_none());
    Ok((
        ConfigResource {
            resource_type,
            name,
        },
        configs,
    ))
}

fn resources_from_py<'py>(
    config_resources: &Bound<'py, PyAny>,
) -> PyResult<Vec<(ConfigResource, Option<Bound<'py, PyAny>>)>> {
    list_of(
        config_resources,
        "config_resources",
        "ConfigResource objects",
    )?
    .iter()
    .map(resource_from_py)
    .collect()
}

/// `(error_code, error_message)` of one resource's outcome; an error that is not the
/// broker's (a lost connection) raises.
fn code_and_message(
    py: Python<'_>,
    outcome: &Result<(), KafkaError>,
) -> PyResult<(i16, Option<String>)> {
    match outcome {
        Ok(()) => Ok((0, None)),
        Err(KafkaError::Broker { code, message, .. }) => Ok((*code, message.clone())),
        Err(e) => Err(e.clone()).py_err(py),
    }
}

pub(super) fn describe_configs<'py>(
    admin: &AdminClient,
    py: Python<'py>,
    config_resources: &Bound<'py, PyAny>,
    include_synonyms: bool,
) -> PyResult<Bound<'py, PyList>> {
    let wanted = resources_from_py(config_resources)?;
    let mut asked = Vec::with_capacity(wanted.len());
    let mut keys: Vec<Option<BTreeSet<String>>> = Vec::with_capacity(wanted.len());
    for (r, configs) in wanted {
        keys.push(match configs {
            Some(c) if c.is_truthy()? => Some(
                c.try_iter()?
                    .map(|k| k?.extract::<String>())
                    .collect::<PyResult<BTreeSet<String>>>()?,
            ),
            _ => None,
        });
        asked.push(r);
    }
    let found = wait(py, admin.describe_configs(&asked, include_synonyms))?.py_err(py)?;
    let module = py.import("krafty.admin")?;
    let entry_class = module.getattr(if include_synonyms {
        "ConfigEntryWithSynonyms"
    } else {
        "ConfigEntry"
    })?;
    let synonym_class = module.getattr("ConfigSynonym")?;
    let resources = PyList::empty(py);
    for ((resource, outcome), keys) in found.into_iter().zip(keys) {
        // An unknown topic, a broker that is not there: raised, as before.
        let configs = outcome.py_err(py)?;
        let entries = PyList::empty(py);
        for c in configs {
            if keys.as_ref().is_some_and(|k| !k.contains(&c.name)) {
                continue;
            }
            let is_default = c.is_default();
            if include_synonyms {
                let synonyms = PyList::empty(py);
                for s in &c.synonyms {
                    synonyms.append(synonym_class.call1((&s.name, &s.value, s.source))?)?;
                }
                entries.append(entry_class.call1((
                    c.name,
                    c.value,
                    c.read_only,
                    c.source,
                    c.is_sensitive,
                    synonyms,
                ))?)?;
            } else {
                entries.append(entry_class.call1((
                    c.name,
                    c.value,
                    c.read_only,
                    is_default,
                    c.is_sensitive,
                ))?)?;
            }
        }
        resources.append((
            0i16,
            py.None(),
            resource_type_wire(resource.resource_type),
            resource.name,
            entries,
        ))?;
    }
    let response = module
        .getattr("DescribeConfigsResponse")?
        .call1((resources,))?;
    PyList::new(py, [response])
}

pub(super) fn alter_configs<'py>(
    admin: &AdminClient,
    py: Python<'py>,
    config_resources: &Bound<'py, PyAny>,
    validate_only: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let mut changes = Vec::new();
    for (r, configs) in resources_from_py(config_resources)? {
        let mut values = BTreeMap::new();
        if let Some(c) = configs {
            let c = c.cast::<PyDict>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "ConfigResource.configs must be a dict {{name: value}} for alter_configs, \
                     got {}",
                    type_name(&c)
                ))
            })?;
            for (k, v) in c.iter() {
                let k: String = k.extract().map_err(|_| {
                    PyTypeError::new_err("ConfigResource.configs: the names must be str")
                })?;
                if v.is_none() {
                    return Err(PyTypeError::new_err(format!(
                        "ConfigResource.configs[{k:?}] is None: AlterConfigs replaces a \
                         resource's configs, leave the config out to return it to its default"
                    )));
                }
                values.insert(k, value_string(&v)?);
            }
        }
        changes.push((r, values));
    }
    let outcomes = wait(py, admin.alter_configs(&changes, validate_only))?.py_err(py)?;
    let resources = PyList::empty(py);
    for (resource, outcome) in &outcomes {
        let (code, message) = code_and_message(py, outcome)?;
        resources.append((
            code,
            message,
            resource_type_wire(resource.resource_type),
            &resource.name,
        ))?;
    }
    py.import("krafty.admin")?
        .getattr("AlterConfigsResponse")?
        .call1((resources,))
}
