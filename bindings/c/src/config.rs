//! `krafty_conf_t`: Kafka properties by name, plus the callbacks a client is given.
//!
//! `krafty_conf_set` checks the name and value at once (as `rd_kafka_conf_set`): the pair is
//! parsed by the core's producer and consumer configuration on a neutral base, so the error
//! names the property exactly as Kafka does. Checks between properties (e.g.
//! `delivery.timeout.ms` against `linger.ms + request.timeout.ms`) run when the client is
//! created.

use std::ffi::{c_char, c_void};

use krafty_core::consumer::ConsumerConfig;
use krafty_core::producer::ProducerConfig;
use krafty_core::KafkaError;

use crate::consumer::{krafty_offset_commit_cb_t, krafty_rebalance_cb_t};
use crate::errors::{
    arg_str, guard, guard_value, krafty_resp_err_t, write_errstr, Error, Result,
    KRAFTY_RESP_ERR__INVALID_VALUE, KRAFTY_RESP_ERR__UNKNOWN_PROPERTY,
};
use crate::producer::krafty_dr_cb_t;

/// A user pointer passed back to a callback. Sent across threads as the C side promises.
#[derive(Clone, Copy, Debug)]
pub struct Opaque(pub *mut c_void);
// SAFETY: the pointer is never dereferenced by libkrafty, only handed back to the C callback;
// the header documents on which thread that happens.
unsafe impl Send for Opaque {}
// SAFETY: as above.
unsafe impl Sync for Opaque {}

/// A configuration: Kafka property names and values, and the callbacks. Not thread-safe: set
/// it from one thread; it may be reused (and destroyed) once clients are created from it.
#[allow(non_camel_case_types)]
#[derive(Clone, Default)]
pub struct krafty_conf_t {
    pub(crate) props: Vec<(String, String)>,
    pub(crate) dr_cb: Option<(krafty_dr_cb_t, Opaque)>,
    pub(crate) rebalance_cb: Option<(krafty_rebalance_cb_t, Opaque)>,
    pub(crate) offset_commit_cb: Option<(krafty_offset_commit_cb_t, Opaque)>,
}

impl krafty_conf_t {
    fn set(&mut self, name: &str, value: &str) -> Result<()> {
        check(name, value)?;
        self.props.retain(|(k, _)| k != name);
        self.props.push((name.to_string(), value.to_string()));
        Ok(())
    }
}

/// A Kafka config error on `name`, if `e` is one.
fn on_property<'a>(e: &'a KafkaError, name: &str) -> Option<&'a str> {
    match e {
        KafkaError::Config { property, reason } if property == name => Some(reason),
        _ => None,
    }
}

/// Whether `name=value` is valid for a producer or a consumer on its own.
fn check(name: &str, value: &str) -> Result<()> {
    let base = |extra: Option<(&str, &str)>| {
        let mut p = vec![(
            "bootstrap.servers".to_string(),
            "localhost:9092".to_string(),
        )];
        p.retain(|(k, _)| k != name);
        if let Some((k, v)) = extra {
            p.push((k.into(), v.into()));
        }
        p.push((name.to_string(), value.to_string()));
        p
    };
    let producer = ProducerConfig::from_properties(base(None)).err();
    let consumer = ConsumerConfig::from_properties(base(None)).err();
    let (Some(pe), Some(ce)) = (producer, consumer) else {
        return Ok(());
    };
    let unknown = |r: Option<&str>| r == Some("unknown configuration property");
    let (pr, cr) = (on_property(&pe, name), on_property(&ce, name));
    if unknown(pr) && unknown(cr) {
        return Err(Error::new(
            KRAFTY_RESP_ERR__UNKNOWN_PROPERTY,
            format!("no such configuration property: \"{name}\""),
        ));
    }
    // The reason from the client that knows the property.
    let (e, reason) = match (pr, cr) {
        (Some(r), _) if !unknown(Some(r)) => (&pe, r),
        (_, Some(r)) if !unknown(Some(r)) => (&ce, r),
        // The error is about another property: a check between properties, run at creation.
        _ => return Ok(()),
    };
    if reason.starts_with("must be at least") || reason.contains("requires") {
        // A check between properties: the others may still change.
        return Ok(());
    }
    Err(Error::new(KRAFTY_RESP_ERR__INVALID_VALUE, e.to_string()))
}

/// A new, empty configuration (`bootstrap.servers` must be set before creating a client).
#[no_mangle]
pub extern "C" fn krafty_conf_new() -> *mut krafty_conf_t {
    guard_value(std::ptr::null_mut(), None, || {
        Ok(Box::into_raw(Box::default()))
    })
}

/// A copy of `conf` (properties and callbacks), or NULL if `conf` is NULL.
///
/// # Safety
/// `conf` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn krafty_conf_dup(conf: *const krafty_conf_t) -> *mut krafty_conf_t {
    guard_value(std::ptr::null_mut(), None, || {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { conf.as_ref() }.ok_or_else(|| Error::arg("conf is NULL"))?;
        Ok(Box::into_raw(Box::new(c.clone())))
    })
}

/// Frees `conf` (NULL is ignored). Clients created from it keep their own copy.
///
/// # Safety
/// `conf` is NULL or a configuration not used after this call.
#[no_mangle]
pub unsafe extern "C" fn krafty_conf_destroy(conf: *mut krafty_conf_t) {
    guard_value((), None, || {
        if !conf.is_null() {
            // SAFETY: created by krafty_conf_new/dup and not freed before, per the contract.
            drop(unsafe { Box::from_raw(conf) });
        }
        Ok(())
    })
}

/// Sets the Kafka property `name` to `value` (`"linger.ms"`, `"5"`), replacing an earlier
/// value. Returns `KRAFTY_RESP_ERR_NO_ERROR`, `KRAFTY_RESP_ERR__UNKNOWN_PROPERTY`,
/// `KRAFTY_RESP_ERR__INVALID_VALUE` or `KRAFTY_RESP_ERR__INVALID_ARG` (a NULL argument), with
/// the reason in `errstr` (`errstr_size` bytes, NUL-terminated; may be NULL).
///
/// # Safety
/// `conf` is NULL or live; `name`, `value` NULL or NUL-terminated; `errstr` NULL or
/// `errstr_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn krafty_conf_set(
    conf: *mut krafty_conf_t,
    name: *const c_char,
    value: *const c_char,
    errstr: *mut c_char,
    errstr_size: usize,
) -> krafty_resp_err_t {
    let err = guard(|| {
        // SAFETY: NULL or live per the contract.
        let conf = unsafe { conf.as_mut() }.ok_or_else(|| Error::arg("conf is NULL"))?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let name = unsafe { arg_str(name, "name") }?;
        // SAFETY: as above.
        let value = unsafe { arg_str(value, "value") }?;
        conf.set(name, value)
    });
    if err != 0 {
        // SAFETY: errstr is NULL or has errstr_size bytes per the contract.
        unsafe {
            write_errstr(
                errstr,
                errstr_size,
                &std::ffi::CStr::from_ptr(crate::errors::krafty_last_error()).to_string_lossy(),
            )
        };
    } else {
        // SAFETY: as above.
        unsafe { write_errstr(errstr, errstr_size, "") };
    }
    err
}

/// Copies the value of `name` into `dest` (`*dest_size` bytes). On return `*dest_size` is
/// the size needed, NUL included. `dest` may be NULL to ask for the size.
/// `KRAFTY_RESP_ERR__UNKNOWN_PROPERTY` if the property was not set.
///
/// # Safety
/// `conf`, `name` live; `dest` NULL or `*dest_size` writable bytes; `dest_size` valid.
#[no_mangle]
pub unsafe extern "C" fn krafty_conf_get(
    conf: *const krafty_conf_t,
    name: *const c_char,
    dest: *mut c_char,
    dest_size: *mut usize,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let conf = unsafe { conf.as_ref() }.ok_or_else(|| Error::arg("conf is NULL"))?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let name = unsafe { arg_str(name, "name") }?;
        // SAFETY: NULL or valid per the contract.
        let size = unsafe { dest_size.as_mut() }.ok_or_else(|| Error::arg("dest_size is NULL"))?;
        let value = conf
            .props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                Error::new(
                    KRAFTY_RESP_ERR__UNKNOWN_PROPERTY,
                    format!("\"{name}\" is not set"),
                )
            })?;
        if !dest.is_null() {
            // SAFETY: dest has *size bytes per the contract.
            unsafe { write_errstr(dest, *size, value) };
        }
        *size = value.len() + 1;
        Ok(())
    })
}

/// The producer's delivery-report callback and its user data (`opaque`). See
/// `krafty_dr_cb_t` for when and on which thread it runs. NULL `cb` removes it.
///
/// # Safety
/// `conf` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_conf_set_dr_cb(
    conf: *mut krafty_conf_t,
    cb: krafty_dr_cb_t,
    opaque: *mut c_void,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let conf = unsafe { conf.as_mut() }.ok_or_else(|| Error::arg("conf is NULL"))?;
        conf.dr_cb = cb.is_some().then_some((cb, Opaque(opaque)));
        Ok(())
    })
}

/// The consumer's rebalance callback and its user data. See `krafty_rebalance_cb_t`.
///
/// # Safety
/// `conf` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_conf_set_rebalance_cb(
    conf: *mut krafty_conf_t,
    cb: krafty_rebalance_cb_t,
    opaque: *mut c_void,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let conf = unsafe { conf.as_mut() }.ok_or_else(|| Error::arg("conf is NULL"))?;
        conf.rebalance_cb = cb.is_some().then_some((cb, Opaque(opaque)));
        Ok(())
    })
}

/// The consumer's callback for the outcome of asynchronous commits, and its user data.
/// See `krafty_offset_commit_cb_t`.
///
/// # Safety
/// `conf` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_conf_set_offset_commit_cb(
    conf: *mut krafty_conf_t,
    cb: krafty_offset_commit_cb_t,
    opaque: *mut c_void,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let conf = unsafe { conf.as_mut() }.ok_or_else(|| Error::arg("conf is NULL"))?;
        conf.offset_commit_cb = cb.is_some().then_some((cb, Opaque(opaque)));
        Ok(())
    })
}
