//! Core errors to stable numeric codes, messages, and the panic boundary.
//!
//! Kafka's own codes (0 = no error, 1..) pass through unchanged; failures that happen in the
//! client (a bad argument, a timeout, a closed handle) get negative local codes below -100,
//! clear of Kafka's -1 (UNKNOWN_SERVER_ERROR). The numbers are part of the ABI: never renumber.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use krafty_core::KafkaError;

/// An error code: Kafka's (`>= -1`) or a local one (`<= -100`). `KRAFTY_RESP_ERR_NO_ERROR`
/// (0) is success.
#[allow(non_camel_case_types)]
pub type krafty_resp_err_t = i32;

/// Success.
pub const KRAFTY_RESP_ERR_NO_ERROR: krafty_resp_err_t = 0;
/// Kafka: the broker failed in a way it could not describe.
pub const KRAFTY_RESP_ERR_UNKNOWN_SERVER_ERROR: krafty_resp_err_t = -1;
/// Kafka: the requested offset is outside the partition's range.
pub const KRAFTY_RESP_ERR_OFFSET_OUT_OF_RANGE: krafty_resp_err_t = 1;
/// Kafka: the topic or partition does not exist (or the partition is out of range).
pub const KRAFTY_RESP_ERR_UNKNOWN_TOPIC_OR_PARTITION: krafty_resp_err_t = 3;
/// Kafka: the partition has no leader now (retriable).
pub const KRAFTY_RESP_ERR_LEADER_NOT_AVAILABLE: krafty_resp_err_t = 5;
/// Kafka: the broker is not the partition's leader (retriable).
pub const KRAFTY_RESP_ERR_NOT_LEADER_OR_FOLLOWER: krafty_resp_err_t = 6;
/// Kafka: the request timed out on the broker.
pub const KRAFTY_RESP_ERR_REQUEST_TIMED_OUT: krafty_resp_err_t = 7;
/// Kafka: the record is larger than `max.request.size` / `buffer.memory` or the broker's limit.
pub const KRAFTY_RESP_ERR_MESSAGE_TOO_LARGE: krafty_resp_err_t = 10;
/// Kafka: the group's coordinator is not available (retriable).
pub const KRAFTY_RESP_ERR_COORDINATOR_NOT_AVAILABLE: krafty_resp_err_t = 15;
/// Kafka: the broker is not the group's coordinator (retriable).
pub const KRAFTY_RESP_ERR_NOT_COORDINATOR: krafty_resp_err_t = 16;
/// Kafka: the topic name is invalid.
pub const KRAFTY_RESP_ERR_INVALID_TOPIC_EXCEPTION: krafty_resp_err_t = 17;
/// Kafka: fewer in-sync replicas than `min.insync.replicas` (retriable).
pub const KRAFTY_RESP_ERR_NOT_ENOUGH_REPLICAS: krafty_resp_err_t = 19;
/// Kafka: the member's generation is stale (a rebalance happened).
pub const KRAFTY_RESP_ERR_ILLEGAL_GENERATION: krafty_resp_err_t = 22;
/// Kafka: the group does not know this member.
pub const KRAFTY_RESP_ERR_UNKNOWN_MEMBER_ID: krafty_resp_err_t = 25;
/// Kafka: the group is rebalancing.
pub const KRAFTY_RESP_ERR_REBALANCE_IN_PROGRESS: krafty_resp_err_t = 27;
/// Kafka: not authorized for the topic.
pub const KRAFTY_RESP_ERR_TOPIC_AUTHORIZATION_FAILED: krafty_resp_err_t = 29;
/// Kafka: not authorized for the group.
pub const KRAFTY_RESP_ERR_GROUP_AUTHORIZATION_FAILED: krafty_resp_err_t = 30;
/// Kafka: the transaction coordinator refused the call in the transaction's state.
pub const KRAFTY_RESP_ERR_INVALID_TXN_STATE: krafty_resp_err_t = 48;
/// Kafka: SASL authentication failed.
pub const KRAFTY_RESP_ERR_SASL_AUTHENTICATION_FAILED: krafty_resp_err_t = 58;
/// Kafka: the broker refused the record as invalid (not retriable).
pub const KRAFTY_RESP_ERR_INVALID_RECORD: krafty_resp_err_t = 87;
/// Kafka: another producer with the same `transactional.id` has started: this one is fenced
/// (fatal: destroy it).
pub const KRAFTY_RESP_ERR_PRODUCER_FENCED: krafty_resp_err_t = 90;

/// Local: an argument is invalid (a NULL pointer where one is required, a length without
/// data, a string that is not UTF-8).
pub const KRAFTY_RESP_ERR__INVALID_ARG: krafty_resp_err_t = -100;
/// Local: `krafty_conf_set` was given a property name no client knows.
pub const KRAFTY_RESP_ERR__UNKNOWN_PROPERTY: krafty_resp_err_t = -101;
/// Local: a property's value is invalid (or the configuration is inconsistent).
pub const KRAFTY_RESP_ERR__INVALID_VALUE: krafty_resp_err_t = -102;
/// Local: the operation did not finish in time (a flush, `max.block.ms`,
/// `delivery.timeout.ms`, a commit).
pub const KRAFTY_RESP_ERR__TIMED_OUT: krafty_resp_err_t = -103;
/// Local: connecting to or talking with a broker failed (retriable).
pub const KRAFTY_RESP_ERR__TRANSPORT: krafty_resp_err_t = -104;
/// Local: TLS with a broker failed (certificate not trusted, refused); not retriable.
pub const KRAFTY_RESP_ERR__SSL: krafty_resp_err_t = -105;
/// Local: a response did not decode, or no protocol version is shared.
pub const KRAFTY_RESP_ERR__PROTOCOL: krafty_resp_err_t = -106;
/// Local: a record could not be (de)serialized.
pub const KRAFTY_RESP_ERR__SERIALIZATION: krafty_resp_err_t = -107;
/// Local: the client is closed.
pub const KRAFTY_RESP_ERR__CLOSED: krafty_resp_err_t = -108;
/// Local: a blocking call was interrupted by a wakeup.
pub const KRAFTY_RESP_ERR__WAKEUP: krafty_resp_err_t = -109;
/// Local: the call is not valid in the handle's state (e.g. committing without `group.id`,
/// or a partition not assigned).
pub const KRAFTY_RESP_ERR__STATE: krafty_resp_err_t = -110;
/// Local: a fatal error; the client cannot continue.
pub const KRAFTY_RESP_ERR__FATAL: krafty_resp_err_t = -111;
/// Local: an internal error (a bug in libkrafty, caught before it reached C).
pub const KRAFTY_RESP_ERR__INTERNAL: krafty_resp_err_t = -112;
/// Local: an I/O error (e.g. the dev broker could not bind its port or open its data dir).
pub const KRAFTY_RESP_ERR__IO: krafty_resp_err_t = -113;
/// Local: any other failure.
pub const KRAFTY_RESP_ERR__FAIL: krafty_resp_err_t = -114;
/// Rebalance callback event: these partitions were assigned to the consumer.
pub const KRAFTY_RESP_ERR__ASSIGN_PARTITIONS: krafty_resp_err_t = -175;
/// Rebalance callback event: these partitions are being revoked (commit here).
pub const KRAFTY_RESP_ERR__REVOKE_PARTITIONS: krafty_resp_err_t = -174;
/// Rebalance callback event: these partitions were lost (another member may own them
/// already: do not commit).
pub const KRAFTY_RESP_ERR__LOST_PARTITIONS: krafty_resp_err_t = -173;

const LOCAL: &[(krafty_resp_err_t, &str, &str)] = &[
    (
        KRAFTY_RESP_ERR__INVALID_ARG,
        "_INVALID_ARG",
        "Local: invalid argument",
    ),
    (
        KRAFTY_RESP_ERR__UNKNOWN_PROPERTY,
        "_UNKNOWN_PROPERTY",
        "Local: unknown configuration property",
    ),
    (
        KRAFTY_RESP_ERR__INVALID_VALUE,
        "_INVALID_VALUE",
        "Local: invalid configuration value",
    ),
    (KRAFTY_RESP_ERR__TIMED_OUT, "_TIMED_OUT", "Local: timed out"),
    (
        KRAFTY_RESP_ERR__TRANSPORT,
        "_TRANSPORT",
        "Local: broker transport failure",
    ),
    (KRAFTY_RESP_ERR__SSL, "_SSL", "Local: TLS failure"),
    (
        KRAFTY_RESP_ERR__PROTOCOL,
        "_PROTOCOL",
        "Local: protocol error",
    ),
    (
        KRAFTY_RESP_ERR__SERIALIZATION,
        "_SERIALIZATION",
        "Local: serialization error",
    ),
    (
        KRAFTY_RESP_ERR__CLOSED,
        "_CLOSED",
        "Local: client is closed",
    ),
    (KRAFTY_RESP_ERR__WAKEUP, "_WAKEUP", "Local: woken up"),
    (KRAFTY_RESP_ERR__STATE, "_STATE", "Local: erroneous state"),
    (KRAFTY_RESP_ERR__FATAL, "_FATAL", "Local: fatal error"),
    (
        KRAFTY_RESP_ERR__INTERNAL,
        "_INTERNAL",
        "Local: internal error",
    ),
    (KRAFTY_RESP_ERR__IO, "_IO", "Local: I/O error"),
    (KRAFTY_RESP_ERR__FAIL, "_FAIL", "Local: failure"),
    (
        KRAFTY_RESP_ERR__ASSIGN_PARTITIONS,
        "_ASSIGN_PARTITIONS",
        "Local: assign partitions",
    ),
    (
        KRAFTY_RESP_ERR__REVOKE_PARTITIONS,
        "_REVOKE_PARTITIONS",
        "Local: revoke partitions",
    ),
    (
        KRAFTY_RESP_ERR__LOST_PARTITIONS,
        "_LOST_PARTITIONS",
        "Local: lost partitions",
    ),
];

/// The code of a core error.
pub fn code(e: &KafkaError) -> krafty_resp_err_t {
    match e {
        KafkaError::Broker { code, .. } => *code as i32,
        KafkaError::RecordTooLarge { .. } => KRAFTY_RESP_ERR_MESSAGE_TOO_LARGE,
        KafkaError::Config { reason, .. } if reason == "unknown configuration property" => {
            KRAFTY_RESP_ERR__UNKNOWN_PROPERTY
        }
        KafkaError::Config { .. } => KRAFTY_RESP_ERR__INVALID_VALUE,
        KafkaError::Timeout(_) => KRAFTY_RESP_ERR__TIMED_OUT,
        KafkaError::Network { .. } => KRAFTY_RESP_ERR__TRANSPORT,
        KafkaError::Tls { .. } => KRAFTY_RESP_ERR__SSL,
        KafkaError::Protocol(_) => KRAFTY_RESP_ERR__PROTOCOL,
        KafkaError::Serialization(_) => KRAFTY_RESP_ERR__SERIALIZATION,
        KafkaError::Closed => KRAFTY_RESP_ERR__CLOSED,
        KafkaError::Wakeup => KRAFTY_RESP_ERR__WAKEUP,
        KafkaError::IllegalState(_) => KRAFTY_RESP_ERR__STATE,
        KafkaError::Fatal(_) => KRAFTY_RESP_ERR__FATAL,
        _ => KRAFTY_RESP_ERR__FAIL,
    }
}

/// A failure as the binding reports it: a code, a message, and what the caller must do about
/// it (`krafty_last_error_is_fatal`, `krafty_last_error_txn_requires_abort`).
#[derive(Debug, Clone)]
pub struct Error {
    pub code: krafty_resp_err_t,
    pub message: String,
    /// The client cannot be used any more (the core's `KafkaError::is_fatal`).
    pub fatal: bool,
    /// The producer's transaction failed and must be aborted (the core's
    /// `transaction_requires_abort`, read by the producer's calls when they fail).
    pub txn_requires_abort: bool,
}

impl Error {
    pub fn new(code: krafty_resp_err_t, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            fatal: false,
            txn_requires_abort: false,
        }
    }

    pub fn arg(message: impl Into<String>) -> Self {
        Error::new(KRAFTY_RESP_ERR__INVALID_ARG, message)
    }
}

impl From<KafkaError> for Error {
    fn from(e: KafkaError) -> Self {
        Error::from(&e)
    }
}

impl From<&KafkaError> for Error {
    fn from(e: &KafkaError) -> Self {
        Error {
            code: code(e),
            message: e.to_string(),
            fatal: e.is_fatal(),
            txn_requires_abort: false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// This thread's last failure, as `krafty_last_error*` report it.
#[derive(Default)]
struct LastError {
    message: CString,
    fatal: bool,
    txn_requires_abort: bool,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = RefCell::default();
}

/// Records `e` as this thread's last error and returns its code.
pub fn set_last(e: &Error) -> krafty_resp_err_t {
    LAST_ERROR.with(|l| {
        *l.borrow_mut() = LastError {
            message: c_string(&e.message),
            fatal: e.fatal,
            txn_requires_abort: e.txn_requires_abort,
        }
    });
    e.code
}

fn clear_last() {
    LAST_ERROR.with(|l| {
        let mut l = l.borrow_mut();
        if !l.message.as_bytes().is_empty() || l.fatal || l.txn_requires_abort {
            *l = LastError::default();
        }
    });
}

/// A C string of `s`, with interior NULs replaced.
pub fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

/// Copies `msg` into the caller's `errstr` buffer (truncated, always NUL-terminated).
///
/// # Safety
/// `errstr` is NULL or points to `size` writable bytes.
pub unsafe fn write_errstr(errstr: *mut c_char, size: usize, msg: &str) {
    if errstr.is_null() || size == 0 {
        return;
    }
    let bytes = msg.as_bytes();
    let mut n = bytes.len().min(size - 1);
    // Do not cut a UTF-8 sequence in half.
    while n > 0 && n < bytes.len() && (bytes[n] & 0xC0) == 0x80 {
        n -= 1;
    }
    // SAFETY: the caller guarantees `size` writable bytes at `errstr`; n + 1 <= size.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), errstr.cast::<u8>(), n);
        *errstr.add(n) = 0;
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// The panic boundary of a call returning an error code: runs `f`, turns its error or a
/// panic into a code (and this thread's last error).
pub fn guard(f: impl FnOnce() -> Result<()>) -> krafty_resp_err_t {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            clear_last();
            KRAFTY_RESP_ERR_NO_ERROR
        }
        Ok(Err(e)) => set_last(&e),
        Err(p) => set_last(&Error::new(
            KRAFTY_RESP_ERR__INTERNAL,
            format!("internal error (panic): {}", panic_message(p.as_ref())),
        )),
    }
}

/// The panic boundary of a call returning a value: `fallback` on error or panic (the error
/// becomes this thread's last error, and is copied to `errstr` when given).
pub fn guard_value<T>(
    fallback: T,
    errstr: Option<(*mut c_char, usize)>,
    f: impl FnOnce() -> Result<T>,
) -> T {
    let e = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => {
            clear_last();
            return v;
        }
        Ok(Err(e)) => e,
        Err(p) => Error::new(
            KRAFTY_RESP_ERR__INTERNAL,
            format!("internal error (panic): {}", panic_message(p.as_ref())),
        ),
    };
    set_last(&e);
    if let Some((buf, size)) = errstr {
        // SAFETY: the exported function's contract: errstr is NULL or has errstr_size bytes.
        unsafe { write_errstr(buf, size, &e.message) };
    }
    fallback
}

/// A required C string argument as `&str`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
pub unsafe fn arg_str<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::arg(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| Error::arg(format!("{what} is not valid UTF-8")))
}

/// An optional C string argument (NULL = None).
///
/// # Safety
/// As [`arg_str`].
pub unsafe fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: as the caller guarantees for arg_str.
        unsafe { arg_str(p, what) }.map(Some)
    }
}

/// A byte buffer argument: NULL with length 0 is Kafka's null.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes.
pub unsafe fn arg_bytes<'a>(
    p: *const std::ffi::c_void,
    len: usize,
    what: &str,
) -> Result<Option<&'a [u8]>> {
    if p.is_null() {
        if len != 0 {
            return Err(Error::arg(format!(
                "{what} is NULL but {what}_len is {len}"
            )));
        }
        return Ok(None);
    }
    // SAFETY: non-NULL with `len` readable bytes per the caller's contract.
    Ok(Some(unsafe {
        std::slice::from_raw_parts(p.cast::<u8>(), len)
    }))
}

fn names() -> &'static HashMap<krafty_resp_err_t, (CString, CString)> {
    static NAMES: OnceLock<HashMap<krafty_resp_err_t, (CString, CString)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut m = HashMap::new();
        for code in -1..=200i32 {
            let name = krafty_core::error::error_name(code as i16);
            if name != "UNKNOWN" || code == -1 {
                m.insert(code, (c_string(name), c_string(&format!("Broker: {name}"))));
            }
        }
        m.insert(0, (c_string("NO_ERROR"), c_string("Success")));
        for (code, name, text) in LOCAL {
            m.insert(*code, (c_string(name), c_string(text)));
        }
        m
    })
}

/// A static, human-readable description of `err` ("Success", "Broker: NOT_LEADER_OR_FOLLOWER",
/// "Local: timed out"); never NULL. For the message of one failure use the `errstr`
/// buffer or `krafty_last_error()`.
#[no_mangle]
pub extern "C" fn krafty_err2str(err: krafty_resp_err_t) -> *const c_char {
    static UNKNOWN: &CStr = c"Unknown error code";
    catch_unwind(|| {
        names()
            .get(&err)
            .map_or(UNKNOWN.as_ptr(), |(_, t)| t.as_ptr())
    })
    .unwrap_or(UNKNOWN.as_ptr())
}

/// The static symbolic name of `err` without the `KRAFTY_RESP_ERR_` prefix
/// ("NO_ERROR", "UNKNOWN_TOPIC_OR_PARTITION", "_TIMED_OUT"); never NULL.
#[no_mangle]
pub extern "C" fn krafty_err2name(err: krafty_resp_err_t) -> *const c_char {
    static UNKNOWN: &CStr = c"UNKNOWN";
    catch_unwind(|| {
        names()
            .get(&err)
            .map_or(UNKNOWN.as_ptr(), |(n, _)| n.as_ptr())
    })
    .unwrap_or(UNKNOWN.as_ptr())
}

/// 1 if retrying the same operation may succeed (Kafka's retriable codes, `_TIMED_OUT`,
/// `_TRANSPORT`), else 0.
#[no_mangle]
pub extern "C" fn krafty_err_retriable(err: krafty_resp_err_t) -> c_int {
    catch_unwind(|| {
        let retriable = match err {
            KRAFTY_RESP_ERR__TIMED_OUT | KRAFTY_RESP_ERR__TRANSPORT => true,
            e if (-1..=i16::MAX as i32).contains(&e) && e != 0 => {
                KafkaError::broker(e as i16).is_retriable()
            }
            _ => false,
        };
        retriable as c_int
    })
    .unwrap_or(0)
}

/// The message of the last failed libkrafty call on the calling thread ("" after a call
/// that succeeded). Valid until the next libkrafty call on this thread; never NULL.
#[no_mangle]
pub extern "C" fn krafty_last_error() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().message.as_ptr())
}

/// 1 if the last failed libkrafty call on the calling thread failed for good: the client
/// cannot be used any more and must be destroyed (`KRAFTY_RESP_ERR_PRODUCER_FENCED`: another
/// producer with the same `transactional.id` started; `_FATAL`; `_CLOSED`). Else 0 (also
/// after a call that succeeded).
#[no_mangle]
pub extern "C" fn krafty_last_error_is_fatal() -> c_int {
    LAST_ERROR.with(|l| l.borrow().fatal as c_int)
}

/// 1 if, after the last failed libkrafty call on the calling thread, the producer's
/// transaction cannot commit any more (a record, the offsets or the commit failed): call
/// `krafty_producer_abort_transaction`, then begin a new transaction (and, consuming, rewind
/// to the last committed offsets). Else 0: a fatal error (`krafty_last_error_is_fatal`), a
/// call in the wrong state or with bad arguments, a timeout (call the same function again),
/// or a call that succeeded.
#[no_mangle]
pub extern "C" fn krafty_last_error_txn_requires_abort() -> c_int {
    LAST_ERROR.with(|l| l.borrow().txn_requires_abort as c_int)
}
