//! Python keyword arguments and dicts to Kafka properties.
//!
//! `linger_ms=5` is `linger.ms=5` (Kafka's names have dots where Python needs underscores);
//! a dict passes Kafka's own names through. Values become the strings Kafka's config parser
//! reads: `True` -> `true`, lists -> comma separated. Validation (unknown names, bad values)
//! is the core's, so the error names the property exactly as Kafka does.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};

/// Collects `config` (a dict of Kafka names) and `kwargs` (Python names) into properties.
pub fn properties(
    config: Option<&Bound<'_, PyDict>>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Some(c) = config {
        for (k, v) in c.iter() {
            out.push((k.extract::<String>()?, value_string(&v)?));
        }
    }
    if let Some(kw) = kwargs {
        for (k, v) in kw.iter() {
            if v.is_none() {
                continue;
            }
            let python = k.extract::<String>()?;
            if python == "ssl_check_hostname" {
                // kafka-python's boolean is Kafka's algorithm name: https, or none.
                let check = v.is_truthy()?;
                let algorithm = if check { "https" } else { "" };
                out.push((
                    "ssl.endpoint.identification.algorithm".into(),
                    algorithm.into(),
                ));
                continue;
            }
            out.push((kafka_name(&python), value_string(&v)?));
        }
    }
    Ok(out)
}

/// Kafka's name for a keyword argument: underscores become dots, except for kafka-python's
/// names that Kafka spells otherwise.
fn kafka_name(python: &str) -> String {
    match python {
        "sasl_plain_username" => "sasl.username".into(),
        "sasl_plain_password" => "sasl.password".into(),
        "ssl_cafile" => "ssl.ca.location".into(),
        "ssl_certfile" => "ssl.certificate.location".into(),
        "ssl_keyfile" => "ssl.key.location".into(),
        "ssl_password" => "ssl.key.password".into(),
        other => other.replace('_', "."),
    }
}

fn value_string(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_instance_of::<PyBool>() {
        return Ok(if v.extract::<bool>()? {
            "true"
        } else {
            "false"
        }
        .into());
    }
    if v.is_instance_of::<PyString>() {
        return v.extract();
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let parts: Vec<String> = v
            .try_iter()?
            .map(|x| value_string(&x?))
            .collect::<PyResult<_>>()?;
        return Ok(parts.join(","));
    }
    Ok(v.str()?.to_string())
}

/// Removes and returns a Python-only option (a callable, an object) from `kwargs`.
pub fn take<'py>(
    kwargs: Option<&Bound<'py, PyDict>>,
    name: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some(kw) = kwargs else { return Ok(None) };
    let v = kw.get_item(name)?;
    if v.is_some() {
        kw.del_item(name)?;
    }
    Ok(v.filter(|v| !v.is_none()))
}
