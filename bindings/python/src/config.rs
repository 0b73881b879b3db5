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

/// A Python value as the string Kafka's config parser reads.
pub(crate) fn value_string(v: &Bound<'_, PyAny>) -> PyResult<String> {
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

/// kafka-python's and aiokafka's `sasl_oauth_token_provider`: an object whose `token()` returns
/// the bearer token (aiokafka's may be a coroutine) and whose optional `extensions()` returns a
/// dict of SASL extensions. Called on a blocking thread of the core at each (re-)authentication.
struct PyTokenProvider(Py<PyAny>);

impl krafty::config::OAuthBearerTokenProvider for PyTokenProvider {
    fn token(&self) -> Result<krafty::config::OAuthBearerToken, String> {
        Python::attach(|py| -> PyResult<krafty::config::OAuthBearerToken> {
            let provider = self.0.bind(py);
            let mut value = provider.call_method0("token")?;
            if value.hasattr("__await__")? {
                // A coroutine: run on this (non-loop) thread in a loop of its own.
                value = py.import("asyncio")?.call_method1("run", (value,))?;
            }
            let mut token = krafty::config::OAuthBearerToken::new(value.extract::<String>()?);
            if provider.hasattr("extensions")? {
                let ext = provider.call_method0("extensions")?;
                if !ext.is_none() {
                    for (k, v) in ext.cast::<PyDict>()?.iter() {
                        token.extensions.push((k.extract()?, v.extract()?));
                    }
                }
            }
            Ok(token)
        })
        .map_err(|e| e.to_string())
    }
}

/// Takes `sasl_oauth_token_provider` out of `kwargs` (before they become properties).
pub fn take_token_provider(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Option<Py<PyAny>>> {
    let provider = take(kwargs, "sasl_oauth_token_provider")?;
    if let Some(p) = &provider {
        if !p.hasattr("token")? {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "sasl_oauth_token_provider needs a token() method",
            ));
        }
    }
    Ok(provider.map(Bound::unbind))
}

/// Gives the client its token provider, when one was passed.
pub fn set_token_provider(
    py: Python<'_>,
    client: &mut krafty::config::ClientConfig,
    provider: Option<Py<PyAny>>,
) -> PyResult<()> {
    use crate::errors::IntoPy;
    match provider {
        Some(p) => client
            .set_oauthbearer_token_provider(std::sync::Arc::new(PyTokenProvider(p)))
            .py_err(py),
        None => Ok(()),
    }
}
