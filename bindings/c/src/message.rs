//! Records, headers and topic-partition lists as C sees them.

use std::ffi::{c_char, c_int, c_void, CString};

use bytes::Bytes;
use krafty_core::record::Header;
use krafty_core::TopicPartition;

use crate::errors::{
    arg_bytes, arg_str, c_string, guard, guard_value, krafty_resp_err_t, Error, Result,
};

// ---- headers ------------------------------------------------------------------------------

/// A list of record headers (name, value-or-null pairs, in order; names may repeat).
/// Not thread-safe.
#[allow(non_camel_case_types)]
#[derive(Default, Clone)]
pub struct krafty_headers_t {
    /// The core's headers, and each name NUL-terminated for `krafty_header_get`.
    pub(crate) headers: Vec<Header>,
    pub(crate) names: Vec<CString>,
}

impl krafty_headers_t {
    pub(crate) fn from_core(headers: Vec<Header>) -> Self {
        let names = headers.iter().map(|h| c_string(&h.key)).collect();
        krafty_headers_t { headers, names }
    }
}

/// A new, empty header list; free it with `krafty_headers_destroy`.
#[no_mangle]
pub extern "C" fn krafty_headers_new() -> *mut krafty_headers_t {
    guard_value(std::ptr::null_mut(), None, || {
        Ok(Box::into_raw(Box::default()))
    })
}

/// Frees a header list made by `krafty_headers_new` (NULL is ignored). Never free the
/// headers of a message this way.
///
/// # Safety
/// `headers` is NULL or from `krafty_headers_new`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn krafty_headers_destroy(headers: *mut krafty_headers_t) {
    guard_value((), None, || {
        if !headers.is_null() {
            // SAFETY: created by krafty_headers_new and not freed before, per the contract.
            drop(unsafe { Box::from_raw(headers) });
        }
        Ok(())
    })
}

/// Appends a header: `name` (NUL-terminated UTF-8) and `value_len` bytes of `value`
/// (NULL value with length 0 = a null value). The bytes are copied.
///
/// # Safety
/// `headers` live; `name` NUL-terminated; `value` NULL or `value_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn krafty_headers_add(
    headers: *mut krafty_headers_t,
    name: *const c_char,
    value: *const c_void,
    value_len: usize,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let h = unsafe { headers.as_mut() }.ok_or_else(|| Error::arg("headers is NULL"))?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let name = unsafe { arg_str(name, "name") }?;
        // SAFETY: NULL or value_len bytes per the contract.
        let value = unsafe { arg_bytes(value, value_len, "value") }?;
        h.headers.push(Header {
            key: name.to_string(),
            value: value.map(Bytes::copy_from_slice),
        });
        h.names.push(c_string(name));
        Ok(())
    })
}

/// How many headers the list has (0 for NULL).
///
/// # Safety
/// `headers` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_headers_count(headers: *const krafty_headers_t) -> usize {
    // SAFETY: NULL or live per the contract.
    guard_value(0, None, || {
        Ok(unsafe { headers.as_ref() }.map_or(0, |h| h.headers.len()))
    })
}

/// The `idx`-th header: its name, its value (NULL for a null value) and the value's length.
/// The pointers stay valid as long as the list (or the message owning it).
/// `KRAFTY_RESP_ERR__INVALID_ARG` when `idx` is out of range.
///
/// # Safety
/// `headers` live; the out pointers NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn krafty_header_get(
    headers: *const krafty_headers_t,
    idx: usize,
    name: *mut *const c_char,
    value: *mut *const c_void,
    value_len: *mut usize,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let h = unsafe { headers.as_ref() }.ok_or_else(|| Error::arg("headers is NULL"))?;
        let header = h.headers.get(idx).ok_or_else(|| {
            Error::arg(format!(
                "header {idx} out of range ({} headers)",
                h.headers.len()
            ))
        })?;
        // SAFETY: each out pointer is NULL or writable per the contract.
        unsafe {
            if let Some(n) = name.as_mut() {
                *n = h.names[idx].as_ptr();
            }
            if let Some(v) = value.as_mut() {
                *v = header
                    .value
                    .as_ref()
                    .map_or(std::ptr::null(), |b| b.as_ptr().cast());
            }
            if let Some(l) = value_len.as_mut() {
                *l = header.value.as_ref().map_or(0, |b| b.len());
            }
        }
        Ok(())
    })
}

// ---- messages -----------------------------------------------------------------------------

/// A record returned by `krafty_consumer_poll` (or an error, when `err` is not 0). Every
/// pointer in it stays valid until `krafty_message_destroy`. Read-only.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct krafty_message_t {
    /// 0 for a record; else why the poll failed (`errstr` says more; the other fields may be
    /// empty).
    pub err: krafty_resp_err_t,
    /// The topic (NUL-terminated); "" for an error not tied to a topic.
    pub topic: *const c_char,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch (CreateTime or LogAppendTime, see `timestamp_type`).
    pub timestamp: i64,
    /// 0 CreateTime, 1 LogAppendTime.
    pub timestamp_type: c_int,
    /// The key, or NULL for a null key.
    pub key: *const c_void,
    pub key_len: usize,
    /// The value, or NULL for a null value (a tombstone).
    pub value: *const c_void,
    pub value_len: usize,
    /// The error's description when `err` is not 0, else NULL.
    pub errstr: *const c_char,
    /// libkrafty's own data; do not touch.
    pub _private: *mut c_void,
}

/// What a message owns; the C struct comes first so the pointer converts both ways.
#[repr(C)]
pub(crate) struct OwnedMessage {
    pub msg: krafty_message_t,
    topic: CString,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: krafty_headers_t,
    errstr: Option<CString>,
}

impl OwnedMessage {
    pub(crate) fn record(
        r: krafty_core::consumer::ConsumerRecord<Option<Bytes>, Option<Bytes>>,
    ) -> *mut krafty_message_t {
        let boxed = Box::new(OwnedMessage {
            msg: krafty_message_t {
                err: 0,
                topic: std::ptr::null(),
                partition: r.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type: match r.timestamp_type {
                    krafty_core::consumer::TimestampType::CreateTime => 0,
                    krafty_core::consumer::TimestampType::LogAppendTime => 1,
                },
                key: std::ptr::null(),
                key_len: 0,
                value: std::ptr::null(),
                value_len: 0,
                errstr: std::ptr::null(),
                _private: std::ptr::null_mut(),
            },
            topic: c_string(&r.topic),
            key: r.key,
            value: r.value,
            headers: krafty_headers_t::from_core(r.headers),
            errstr: None,
        });
        Self::finish(boxed)
    }

    pub(crate) fn error(e: &Error) -> *mut krafty_message_t {
        let boxed = Box::new(OwnedMessage {
            msg: krafty_message_t {
                err: e.code,
                topic: std::ptr::null(),
                partition: -1,
                offset: -1,
                timestamp: -1,
                timestamp_type: 0,
                key: std::ptr::null(),
                key_len: 0,
                value: std::ptr::null(),
                value_len: 0,
                errstr: std::ptr::null(),
                _private: std::ptr::null_mut(),
            },
            topic: CString::default(),
            key: None,
            value: None,
            headers: krafty_headers_t::default(),
            errstr: Some(c_string(&e.message)),
        });
        Self::finish(boxed)
    }

    /// Points the C fields at the owned data (which a Box keeps in place).
    fn finish(mut b: Box<OwnedMessage>) -> *mut krafty_message_t {
        b.msg.topic = b.topic.as_ptr();
        if let Some(k) = &b.key {
            b.msg.key = k.as_ptr().cast();
            b.msg.key_len = k.len();
        }
        if let Some(v) = &b.value {
            b.msg.value = v.as_ptr().cast();
            b.msg.value_len = v.len();
        }
        if let Some(e) = &b.errstr {
            b.msg.errstr = e.as_ptr();
        }
        Box::into_raw(b).cast()
    }
}

/// Frees a message from `krafty_consumer_poll` (NULL is ignored). Thread-safe: any thread may
/// free a message.
///
/// # Safety
/// `msg` is NULL or a message from `krafty_consumer_poll`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn krafty_message_destroy(msg: *mut krafty_message_t) {
    guard_value((), None, || {
        if !msg.is_null() {
            // SAFETY: every message handed out is an OwnedMessage (repr(C), message first)
            // made by Box::into_raw, not freed before per the contract.
            drop(unsafe { Box::from_raw(msg.cast::<OwnedMessage>()) });
        }
        Ok(())
    })
}

/// The message's headers (an empty list when it has none), owned by the message: do not
/// destroy them. NULL for a NULL message.
///
/// # Safety
/// `msg` is NULL or a live message from `krafty_consumer_poll`.
#[no_mangle]
pub unsafe extern "C" fn krafty_message_headers(
    msg: *const krafty_message_t,
) -> *const krafty_headers_t {
    guard_value(std::ptr::null(), None, || {
        // SAFETY: NULL or an OwnedMessage per the contract.
        let m = unsafe { msg.cast::<OwnedMessage>().as_ref() };
        Ok(m.map_or(std::ptr::null(), |m| &m.headers as *const _))
    })
}

// ---- topic partition lists ---------------------------------------------------------------

/// One entry of a `krafty_topic_partition_list_t`.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct krafty_topic_partition_t {
    /// NUL-terminated, owned by the list.
    pub topic: *mut c_char,
    pub partition: i32,
    /// An offset: the next one to read (commits, positions, committed offsets), or
    /// `KRAFTY_OFFSET_INVALID` (-1001) when none is known.
    pub offset: i64,
    /// A per-entry outcome, where a call sets one.
    pub err: krafty_resp_err_t,
}

/// A list of (topic, partition, offset) entries, as librdkafka's. Build it with
/// `krafty_topic_partition_list_new` / `_add`; read `elems[0..cnt]` directly. Not thread-safe.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct krafty_topic_partition_list_t {
    pub cnt: c_int,
    pub size: c_int,
    pub elems: *mut krafty_topic_partition_t,
}

/// No offset known (`krafty_topic_partition_t.offset`).
pub const KRAFTY_OFFSET_INVALID: i64 = -1001;
/// `krafty_consumer_seek`: the partition's first offset.
pub const KRAFTY_OFFSET_BEGINNING: i64 = -2;
/// `krafty_consumer_seek`: the partition's end (the next offset written).
pub const KRAFTY_OFFSET_END: i64 = -1;

impl krafty_topic_partition_list_t {
    fn with_capacity(n: usize) -> Box<Self> {
        let mut v: Vec<krafty_topic_partition_t> = Vec::with_capacity(n.max(1));
        let (elems, size) = (v.as_mut_ptr(), v.capacity());
        std::mem::forget(v);
        Box::new(krafty_topic_partition_list_t {
            cnt: 0,
            size: size as c_int,
            elems,
        })
    }

    /// Runs `f` on the entries as a Vec, keeping the C view in step.
    fn with_vec<T>(&mut self, f: impl FnOnce(&mut Vec<krafty_topic_partition_t>) -> T) -> T {
        // SAFETY: elems/cnt/size always describe a Vec's buffer (built by with_capacity and
        // only changed here).
        let mut v =
            unsafe { Vec::from_raw_parts(self.elems, self.cnt as usize, self.size as usize) };
        let out = f(&mut v);
        self.cnt = v.len() as c_int;
        self.size = v.capacity() as c_int;
        self.elems = v.as_mut_ptr();
        std::mem::forget(v);
        out
    }

    pub(crate) fn push(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> *mut krafty_topic_partition_t {
        self.with_vec(|v| {
            v.push(krafty_topic_partition_t {
                topic: c_string(topic).into_raw(),
                partition,
                offset,
                err: 0,
            });
            v.last_mut().map_or(std::ptr::null_mut(), |e| e as *mut _)
        })
    }

    /// The entries as (topic partition, offset) pairs.
    pub(crate) fn entries(&self) -> Result<Vec<(TopicPartition, i64)>> {
        let mut out = Vec::with_capacity(self.cnt.max(0) as usize);
        for e in self.elems() {
            // SAFETY: every entry's topic is a NUL-terminated string owned by the list (or
            // NULL, rejected by arg_str).
            let topic = unsafe { arg_str(e.topic, "topic") }?;
            out.push((TopicPartition::new(topic, e.partition), e.offset));
        }
        Ok(out)
    }

    pub(crate) fn elems(&self) -> &[krafty_topic_partition_t] {
        if self.elems.is_null() || self.cnt <= 0 {
            return &[];
        }
        // SAFETY: elems points to cnt initialised entries.
        unsafe { std::slice::from_raw_parts(self.elems, self.cnt as usize) }
    }

    pub(crate) fn elems_mut(&mut self) -> &mut [krafty_topic_partition_t] {
        if self.elems.is_null() || self.cnt <= 0 {
            return &mut [];
        }
        // SAFETY: elems points to cnt initialised entries, borrowed mutably through self.
        unsafe { std::slice::from_raw_parts_mut(self.elems, self.cnt as usize) }
    }

    pub(crate) fn from_partitions<'a>(
        partitions: impl ExactSizeIterator<Item = (&'a TopicPartition, i64)>,
    ) -> Box<Self> {
        let mut l = Self::with_capacity(partitions.len());
        for (tp, offset) in partitions {
            l.push(&tp.topic, tp.partition, offset);
        }
        l
    }
}

impl Drop for krafty_topic_partition_list_t {
    fn drop(&mut self) {
        // SAFETY: elems/cnt/size describe a Vec's buffer (see with_vec); dropped once here.
        let v = unsafe { Vec::from_raw_parts(self.elems, self.cnt as usize, self.size as usize) };
        for e in &v {
            if !e.topic.is_null() {
                // SAFETY: made by CString::into_raw in push, freed once here.
                drop(unsafe { CString::from_raw(e.topic) });
            }
        }
    }
}

/// A new, empty list with room for `size` entries (it grows as needed).
#[no_mangle]
pub extern "C" fn krafty_topic_partition_list_new(
    size: c_int,
) -> *mut krafty_topic_partition_list_t {
    guard_value(std::ptr::null_mut(), None, || {
        Ok(Box::into_raw(krafty_topic_partition_list_t::with_capacity(
            size.max(0) as usize,
        )))
    })
}

/// Frees a list and its topic strings (NULL is ignored).
///
/// # Safety
/// `list` is NULL or a list from libkrafty that the caller owns, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn krafty_topic_partition_list_destroy(
    list: *mut krafty_topic_partition_list_t,
) {
    guard_value((), None, || {
        if !list.is_null() {
            // SAFETY: made by Box::into_raw in this crate, freed once per the contract.
            drop(unsafe { Box::from_raw(list) });
        }
        Ok(())
    })
}

/// Appends (`topic`, `partition`) with offset `KRAFTY_OFFSET_INVALID` and returns the entry
/// (valid until the list changes), or NULL on a bad argument. Set `->offset` to commit it.
///
/// # Safety
/// `list` NULL or live; `topic` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn krafty_topic_partition_list_add(
    list: *mut krafty_topic_partition_list_t,
    topic: *const c_char,
    partition: i32,
) -> *mut krafty_topic_partition_t {
    guard_value(std::ptr::null_mut(), None, || {
        // SAFETY: NULL or live per the contract.
        let l = unsafe { list.as_mut() }.ok_or_else(|| Error::arg("list is NULL"))?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let topic = unsafe { arg_str(topic, "topic") }?;
        Ok(l.push(topic, partition, KRAFTY_OFFSET_INVALID))
    })
}

/// The entry for (`topic`, `partition`), or NULL.
///
/// # Safety
/// `list` NULL or live; `topic` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn krafty_topic_partition_list_find(
    list: *const krafty_topic_partition_list_t,
    topic: *const c_char,
    partition: i32,
) -> *mut krafty_topic_partition_t {
    guard_value(std::ptr::null_mut(), None, || {
        // SAFETY: NULL or live per the contract.
        let l = unsafe { list.as_ref() }.ok_or_else(|| Error::arg("list is NULL"))?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let topic = unsafe { arg_str(topic, "topic") }?;
        for (i, e) in l.elems().iter().enumerate() {
            // SAFETY: the list's topics are NUL-terminated strings it owns.
            let t = unsafe { std::ffi::CStr::from_ptr(e.topic) };
            if e.partition == partition && t.to_bytes() == topic.as_bytes() {
                // SAFETY: i < cnt.
                return Ok(unsafe { l.elems.add(i) });
            }
        }
        Ok(std::ptr::null_mut())
    })
}
