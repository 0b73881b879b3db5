//! kafka-python's `describe_acls`, `create_acls` and `delete_acls` over the core's ACL calls.
//!
//! Shapes are kafka-python's: `describe_acls` returns `([ACL], NoError)` and raises the
//! broker's error class; `create_acls` returns `{"succeeded": [ACL], "failed": [(ACL, error
//! class)]}`; `delete_acls` returns `[(ACLFilter, [ACL deleted], error class)]`. The `ACL` and
//! filter classes are plain Python (`krafty/_acl.py`), read here by attribute.

use krafty::admin::{
    AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermissionType, AclResourceType,
    AdminClient,
};
use krafty::KafkaError;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::{list_of, type_name};
use crate::blocking::wait;
use crate::errors::IntoPy;

fn attr<'py>(o: &Bound<'py, PyAny>, name: &str, what: &str) -> PyResult<Bound<'py, PyAny>> {
    o.getattr(name).map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must hold krafty.admin.{} objects, got {}",
            if what == "acls" { "ACL" } else { "ACLFilter" },
            type_name(o)
        ))
    })
}

fn number(o: &Bound<'_, PyAny>, name: &str, what: &str) -> PyResult<i8> {
    attr(o, name, what)?
        .extract::<i8>()
        .map_err(|_| PyTypeError::new_err(format!("{what}: {name} must be one of Kafka's enums")))
}

fn text(o: &Bound<'_, PyAny>, name: &str, what: &str) -> PyResult<Option<String>> {
    let v = attr(o, name, what)?;
    if v.is_none() {
        return Ok(None);
    }
    v.extract()
        .map(Some)
        .map_err(|_| PyTypeError::new_err(format!("{what}: {name} must be a str or None")))
}

/// An `ACLFilter` (or `ACL`) as the core's filter.
fn filter_from_py(f: &Bound<'_, PyAny>, what: &str) -> PyResult<AclBindingFilter> {
    let pattern = attr(f, "resource_pattern", what)?;
    Ok(AclBindingFilter {
        resource_type: AclResourceType::from_wire(number(&pattern, "resource_type", what)?),
        resource_name: text(&pattern, "resource_name", what)?,
        pattern_type: AclPatternType::from_wire(number(&pattern, "pattern_type", what)?),
        principal: text(f, "principal", what)?,
        host: text(f, "host", what)?,
        operation: AclOperation::from_wire(number(f, "operation", what)?),
        permission: AclPermissionType::from_wire(number(f, "permission_type", what)?),
    })
}

fn acl_from_py(a: &Bound<'_, PyAny>) -> PyResult<AclBinding> {
    let f = filter_from_py(a, "acls")?;
    let missing = |field: &str| PyTypeError::new_err(format!("acls: an ACL needs its {field}"));
    Ok(AclBinding {
        resource_type: f.resource_type,
        resource_name: f.resource_name.ok_or_else(|| missing("resource_name"))?,
        pattern_type: f.pattern_type,
        principal: f.principal.ok_or_else(|| missing("principal"))?,
        host: f.host.ok_or_else(|| missing("host"))?,
        operation: f.operation,
        permission: f.permission,
    })
}

/// A core ACL as kafka-python's `ACL`.
fn acl_to_py<'py>(py: Python<'py>, a: &AclBinding) -> PyResult<Bound<'py, PyAny>> {
    let m = py.import("krafty.admin")?;
    let pattern = m.getattr("ResourcePattern")?.call1((
        m.getattr("ResourceType")?
            .call1((a.resource_type.wire(),))?,
        &a.resource_name,
        m.getattr("ACLResourcePatternType")?
            .call1((a.pattern_type.wire(),))?,
    ))?;
    m.getattr("ACL")?.call1((
        &a.principal,
        &a.host,
        m.getattr("ACLOperation")?.call1((a.operation.wire(),))?,
        m.getattr("ACLPermissionType")?
            .call1((a.permission.wire(),))?,
        pattern,
    ))
}

/// kafka-python's error class for an outcome: `NoError`, or the broker's code's class; an
/// error that is not the broker's raises.
fn error_class<'py, T>(py: Python<'py>, r: &Result<T, KafkaError>) -> PyResult<Bound<'py, PyAny>> {
    let errors = py.import("krafty.errors")?;
    match r {
        Ok(_) => errors.getattr("NoError"),
        Err(KafkaError::Broker { code, .. }) => errors.getattr("error_for_code")?.call1((*code,)),
        Err(e) => Err(e.clone()).py_err(py),
    }
}

pub(super) fn describe_acls<'py>(
    admin: &AdminClient,
    py: Python<'py>,
    acl_filter: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let filter = filter_from_py(acl_filter, "acl_filter")?;
    let found = wait(py, admin.describe_acls(&filter))?.py_err(py)?;
    let acls = PyList::empty(py);
    for a in &found {
        acls.append(acl_to_py(py, a)?)?;
    }
    let no_error = py.import("krafty.errors")?.getattr("NoError")?;
    Ok((acls, no_error).into_pyobject(py)?.into_any())
}

pub(super) fn create_acls<'py>(
    admin: &AdminClient,
    py: Python<'py>,
    acls: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let given = list_of(acls, "acls", "ACL objects")?;
    let bindings = given
        .iter()
        .map(acl_from_py)
        .collect::<PyResult<Vec<_>>>()?;
    let outcomes = wait(py, admin.create_acls(&bindings))?.py_err(py)?;
    let succeeded = PyList::empty(py);
    let failed = PyList::empty(py);
    for (acl, outcome) in given.iter().zip(&outcomes) {
        match outcome {
            Ok(()) => succeeded.append(acl)?,
            Err(_) => failed.append((acl, error_class(py, outcome)?))?,
        }
    }
    let out = PyDict::new(py);
    out.set_item("succeeded", succeeded)?;
    out.set_item("failed", failed)?;
    Ok(out)
}

pub(super) fn delete_acls<'py>(
    admin: &AdminClient,
    py: Python<'py>,
    acl_filters: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let given = list_of(acl_filters, "acl_filters", "ACLFilter objects")?;
    let filters = given
        .iter()
        .map(|f| filter_from_py(f, "acl_filters"))
        .collect::<PyResult<Vec<_>>>()?;
    let outcomes = wait(py, admin.delete_acls(&filters))?.py_err(py)?;
    let out = PyList::empty(py);
    for (filter, outcome) in given.iter().zip(&outcomes) {
        let deleted = PyList::empty(py);
        if let Ok(acls) = outcome {
            for a in acls {
                deleted.append(acl_to_py(py, a)?)?;
            }
        }
        out.append((filter, deleted, error_class(py, outcome)?))?;
    }
    Ok(out)
}
