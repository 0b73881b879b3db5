//! `krafty_dev_broker_t`: the bundled Kafka-protocol broker, in this process, so a C test
//! suite needs no JVM; with its fault injection.

use std::ffi::{c_char, CString};

use krafty_broker::{Broker, BrokerHandle};

use crate::errors::{
    arg_str, c_string, guard, guard_value, krafty_resp_err_t, opt_str, Error,
    KRAFTY_RESP_ERR__INVALID_VALUE, KRAFTY_RESP_ERR__IO,
};

/// A running dev broker. Every function is thread-safe except `krafty_dev_broker_stop`,
/// which must be the last call on it.
#[allow(non_camel_case_types)]
pub struct krafty_dev_broker_t {
    handle: BrokerHandle,
    bootstrap: CString,
}

/// Starts a dev broker listening on `listen` (`"127.0.0.1:0"` when NULL: any free port;
/// give the same `"127.0.0.1:PORT"` again to restart on the port it had). `data_dir` keeps
/// the logs and committed offsets across restarts (NULL: in memory). `config` is NULL or a
/// NULL-terminated array of `"name=value"` broker properties (`"num.partitions=2"`). Returns
/// NULL on failure with the reason in `errstr` and `krafty_last_error()`.
///
/// # Safety
/// Strings NULL or NUL-terminated; `config` NULL or NULL-terminated; `errstr` NULL or
/// `errstr_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn krafty_dev_broker_start(
    listen: *const c_char,
    data_dir: *const c_char,
    config: *const *const c_char,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut krafty_dev_broker_t {
    guard_value(std::ptr::null_mut(), Some((errstr, errstr_size)), || {
        // SAFETY: NULL or NUL-terminated per the contract.
        let listen = unsafe { opt_str(listen, "listen") }?.unwrap_or("127.0.0.1:0");
        // SAFETY: as above.
        let data_dir = unsafe { opt_str(data_dir, "data_dir") }?;
        let mut builder = Broker::builder().listen(listen);
        if let Some(d) = data_dir {
            builder = builder.data_dir(d);
        }
        if !config.is_null() {
            let mut i = 0;
            loop {
                // SAFETY: a NULL-terminated array per the contract.
                let entry = unsafe { *config.add(i) };
                if entry.is_null() {
                    break;
                }
                // SAFETY: each entry NUL-terminated per the contract.
                let kv = unsafe { arg_str(entry, "config entry") }?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| Error::arg(format!("config entry `{kv}` is not name=value")))?;
                builder = builder.config(k.trim(), v.trim());
                i += 1;
            }
        }
        builder.build_config().map_err(|e| {
            Error::new(
                KRAFTY_RESP_ERR__INVALID_VALUE,
                format!(
                    "invalid broker configuration `{}`: {}",
                    e.property, e.reason
                ),
            )
        })?;
        let handle = krafty_core::runtime::block_on(builder.start())
            .map_err(|e| Error::new(KRAFTY_RESP_ERR__IO, format!("dev broker on {listen}: {e}")))?;
        Ok(Box::into_raw(Box::new(krafty_dev_broker_t {
            bootstrap: c_string(&handle.bootstrap_servers()),
            handle,
        })))
    })
}

/// `host:port` for `bootstrap.servers`; valid until `krafty_dev_broker_stop`. NULL for NULL.
///
/// # Safety
/// `broker` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_dev_broker_bootstrap(
    broker: *const krafty_dev_broker_t,
) -> *const c_char {
    guard_value(std::ptr::null(), None, || {
        // SAFETY: NULL or live per the contract.
        let b = unsafe { broker.as_ref() }.ok_or_else(|| Error::arg("broker is NULL"))?;
        Ok(b.bootstrap.as_ptr())
    })
}

/// Stops the broker (in-flight requests finish, logs are flushed to the data dir, the port
/// is released) and frees it. NULL is ignored.
///
/// # Safety
/// `broker` NULL or live, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn krafty_dev_broker_stop(broker: *mut krafty_dev_broker_t) {
    guard_value((), None, || {
        if broker.is_null() {
            return Ok(());
        }
        // SAFETY: made by krafty_dev_broker_start, freed once per the contract.
        let b = unsafe { Box::from_raw(broker) };
        krafty_core::runtime::block_on(b.handle.shutdown());
        Ok(())
    })
}

/// # Safety
/// `broker` NULL or live.
unsafe fn with(
    broker: *const krafty_dev_broker_t,
    f: impl FnOnce(&BrokerHandle),
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the caller's contract.
        let b = unsafe { broker.as_ref() }.ok_or_else(|| Error::arg("broker is NULL"))?;
        f(&b.handle);
        Ok(())
    })
}

/// Fault injection: the next `count` requests of Kafka API `api_key` (0 Produce, 1 Fetch,
/// 3 Metadata, 8 OffsetCommit, 9 OffsetFetch, 10 FindCoordinator, 11 JoinGroup, ...) fail
/// with Kafka error `error_code`; with `topic` (may be NULL) and `partition` (-1: any) only
/// that topic's / partition's entries do.
///
/// # Safety
/// `broker` NULL or live; `topic` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn krafty_dev_broker_fail_next(
    broker: *const krafty_dev_broker_t,
    api_key: i16,
    error_code: i16,
    count: u32,
    topic: *const c_char,
    partition: i32,
) -> krafty_resp_err_t {
    // SAFETY: NULL or NUL-terminated per the contract.
    let topic = match unsafe { opt_str(topic, "topic") } {
        Ok(t) => t,
        Err(e) => return crate::errors::set_last(&e),
    };
    let partition = (partition >= 0).then_some(partition);
    // SAFETY: NULL or live per the contract.
    unsafe {
        with(broker, |h| {
            h.faults()
                .fail_next(api_key, error_code, count, topic, partition)
        })
    }
}

/// Fault injection: every request of `api_key` waits `millis` first (0 removes the delay).
///
/// # Safety
/// `broker` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_dev_broker_add_latency(
    broker: *const krafty_dev_broker_t,
    api_key: i16,
    millis: u64,
) -> krafty_resp_err_t {
    // SAFETY: NULL or live per the contract.
    unsafe { with(broker, |h| h.faults().add_latency(api_key, millis)) }
}

/// Fault injection: after `requests` more answers, the connection serving the next request
/// is closed instead of answering.
///
/// # Safety
/// `broker` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_dev_broker_drop_connection_after(
    broker: *const krafty_dev_broker_t,
    requests: u32,
) -> krafty_resp_err_t {
    // SAFETY: NULL or live per the contract.
    unsafe { with(broker, |h| h.faults().drop_connection_after(requests)) }
}

/// Removes every injected fault that has not fired yet.
///
/// # Safety
/// `broker` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_dev_broker_clear_faults(
    broker: *const krafty_dev_broker_t,
) -> krafty_resp_err_t {
    // SAFETY: NULL or live per the contract.
    unsafe { with(broker, |h| h.faults().clear()) }
}

/// How many injected errors the broker has answered so far (-1 for NULL).
///
/// # Safety
/// `broker` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_dev_broker_errors_fired(broker: *const krafty_dev_broker_t) -> i64 {
    guard_value(-1, None, || {
        // SAFETY: NULL or live per the contract.
        let b = unsafe { broker.as_ref() }.ok_or_else(|| Error::arg("broker is NULL"))?;
        Ok(b.handle.faults().errors_fired() as i64)
    })
}
