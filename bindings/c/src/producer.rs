//! `krafty_producer_t`: the core producer with C buffers in, and delivery reports queued for
//! `krafty_producer_poll` / `krafty_producer_flush` to serve on the caller's thread.
//!
//! The send path copies the key and the value once, into the core's record, and tags it with
//! the caller's opaque (the core's `DeliverySink` token: no allocation per record). The core
//! hands the outcomes of a whole batch to the producer's sink, which queues them (one lock
//! per batch) for poll / flush to serve.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use krafty_core::producer::{
    CompletedBatch, DeliverySink, KafkaProducer, ProducerConfig, ProducerRecord, SinkRecord,
};
use krafty_core::serialization::Serializer;
use krafty_core::KafkaError;

use crate::config::{krafty_conf_t, Opaque};
use crate::errors::{
    arg_bytes, arg_str, c_string, guard, guard_value, krafty_resp_err_t, Error, Result,
    KRAFTY_RESP_ERR__TIMED_OUT,
};
use crate::message::krafty_headers_t;
use crate::transactions::TxnCall;

/// `partition` for `krafty_producer_send`: let the partitioner choose (murmur2 of the key,
/// sticky batches for keyless records, as the Java client).
pub const KRAFTY_PARTITION_UA: i32 = -1;

/// The outcome of one record, as the delivery-report callback sees it. Valid only during the
/// callback.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct krafty_delivery_report_t {
    /// 0 when the broker acknowledged the record; else why it failed for good.
    pub err: krafty_resp_err_t,
    /// The failure's description, or NULL on success.
    pub errstr: *const c_char,
    /// The record's topic.
    pub topic: *const c_char,
    /// Its partition (-1 if it failed before one was chosen).
    pub partition: i32,
    /// Its offset (-1 on failure, or with acks=0).
    pub offset: i64,
    /// Its timestamp (ms since the epoch; -1 on failure).
    pub timestamp: i64,
    /// The `opaque` given to `krafty_producer_send` for this record.
    pub msg_opaque: *mut c_void,
}

/// The delivery-report callback: called once per record sent, with the outcome and the
/// user data given to `krafty_conf_set_dr_cb`. It runs on the thread that calls
/// `krafty_producer_poll` or `krafty_producer_flush`, never on a libkrafty thread, one report
/// after another. It may call `krafty_producer_send`; it must not destroy the producer.
#[allow(non_camel_case_types)]
pub type krafty_dr_cb_t = Option<
    unsafe extern "C" fn(
        producer: *mut krafty_producer_t,
        report: *const krafty_delivery_report_t,
        opaque: *mut c_void,
    ),
>;

/// A batch's outcome as the client's thread queues it: the records sent with an opaque.
struct ReportBatch {
    topic: Arc<CStr>,
    partition: i32,
    /// (base offset, log append time), or the error.
    result: std::result::Result<(i64, i64), Box<KafkaError>>,
    records: Vec<SinkRecord>,
}

/// A value on a cache line of its own (the sending threads write it, the client's read the
/// neighbours).
#[derive(Default)]
#[repr(align(128))]
struct CachePadded<T>(T);

/// A key or value as the C caller passed it: a pointer into the caller's buffer, copied once
/// by the serializer into the core's record (no second copy, no reference count).
pub(crate) struct Payload {
    ptr: *const u8,
    len: usize,
}

// SAFETY: a read-only view of the caller's buffer, read only by the serializer, which the core
// runs inside `send` on the sending thread (see `BorrowSerde`).
unsafe impl Send for Payload {}
// SAFETY: as above; nothing writes through the pointer.
unsafe impl Sync for Payload {}

impl Payload {
    fn new(bytes: &[u8]) -> Self {
        Payload {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }
}

/// Hands the core a `Payload` without copying it: the bytes are the caller's buffer.
struct BorrowSerde;

impl Serializer<Payload> for BorrowSerde {
    fn serialize(&self, _topic: &str, data: &Payload) -> krafty_core::Result<Option<Bytes>> {
        // SAFETY: the caller's buffer (ptr, len) is valid until `krafty_producer_send`
        // returns, by the function's contract, and the serialized bytes do not outlive it:
        // the core copies them into the batch when it appends the record, and both ways a
        // send takes (`try_send_and_then` in place, or `send_and_then` run to completion on
        // this thread) append or fail before the call returns. The `'static` is never relied
        // on past that: no interceptor sees them (the C API has none) and nothing keeps them.
        let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(data.ptr, data.len) };
        Ok(Some(Bytes::from_static(bytes)))
    }
}

/// What the client's threads hand to the application's.
#[derive(Default)]
struct Reports {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Threads waiting on `ready` (a push notifies only when there are some).
    waiting: AtomicUsize,
    /// Whether outcomes are queued (a delivery-report callback is set) or only counted.
    queued: bool,
    /// Records accepted by `send`.
    sent: CachePadded<AtomicU64>,
    /// Records whose outcome is known (queued or, without a callback, counted).
    completed: AtomicU64,
    /// Reports served by poll/flush (or completed, without a callback).
    served: AtomicU64,
}

#[derive(Default)]
struct Queue {
    batches: Vec<ReportBatch>,
    /// The last batch's topic as a C string (batches of one topic share it).
    last_topic: Option<Arc<CStr>>,
}

impl DeliverySink for Reports {
    fn batch_done(&self, batch: CompletedBatch<'_>) {
        let n = batch.records.len() as u64;
        {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if self.queued {
                let topic = match &q.last_topic {
                    Some(t) if t.to_bytes() == batch.topic.as_bytes() => t.clone(),
                    _ => {
                        let t: Arc<CStr> = Arc::from(c_string(batch.topic).as_c_str());
                        q.last_topic = Some(t.clone());
                        t
                    }
                };
                q.batches.push(ReportBatch {
                    topic,
                    partition: batch.partition,
                    result: batch.result.map_err(|e| Box::new(e.clone())),
                    records: batch.records,
                });
            }
            self.completed.fetch_add(n, Ordering::SeqCst);
        }
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.ready.notify_all();
        }
    }
}

thread_local! {
    /// The topic name of this thread's last record sent in place, kept for the next
    /// record's `ProducerRecord` (no allocation per send to the same topic).
    static LAST_TOPIC: Cell<String> = const { Cell::new(String::new()) };
}

/// `topic` as an owned String, reusing this thread's last one.
fn topic_string(topic: &str) -> String {
    let mut s = LAST_TOPIC.with(Cell::take);
    if s != topic {
        s.clear();
        s.push_str(topic);
    }
    s
}

/// The state of the thread serving reports: the spare buffer swapped with the queue.
#[derive(Default)]
struct Serving {
    batches: Vec<ReportBatch>,
}

thread_local! {
    /// Set while this thread runs a delivery-report callback (poll/flush inside it serve
    /// nothing instead of deadlocking).
    static IN_DR_CB: Cell<bool> = const { Cell::new(false) };
}

/// A producer. Every function may be called from any thread at the same time
/// (`krafty_producer_send` from many threads is the expected use); delivery reports are
/// served by whichever thread polls. Destroy it from one thread, once no other call runs.
#[allow(non_camel_case_types)]
pub struct krafty_producer_t {
    pub(crate) inner: KafkaProducer<Payload, Payload>,
    dr: Option<(krafty_dr_cb_t, Opaque)>,
    reports: Arc<Reports>,
    serving: Mutex<Serving>,
    /// The core's runtime, entered while a send is polled (it may create timers).
    rt: tokio::runtime::Handle,
    /// A transactional call that timed out and goes on (`transactions.rs`).
    pub(crate) txn_call: TxnCall,
}

/// Runs `fut` on this thread: polled once in place (a send that fits in the buffer completes
/// without waiting), blocked on the core's runtime only when it must wait.
fn run<F: Future + Send>(rt: &tokio::runtime::Handle, fut: F) -> F::Output
where
    F::Output: Send,
{
    let mut fut = std::pin::pin!(fut);
    let polled = {
        let _rt = rt.enter();
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    };
    match polled {
        Poll::Ready(r) => r,
        Poll::Pending => krafty_core::runtime::block_on(fut),
    }
}

pub(crate) fn millis(timeout_ms: c_int) -> Duration {
    if timeout_ms < 0 {
        Duration::from_secs(u32::MAX as u64)
    } else {
        Duration::from_millis(timeout_ms as u64)
    }
}

impl krafty_producer_t {
    fn send(
        &self,
        topic: &str,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Option<&krafty_headers_t>,
        opaque: Opaque,
    ) -> Result<()> {
        if partition < KRAFTY_PARTITION_UA {
            return Err(Error::arg(format!(
                "partition {partition} is invalid (use KRAFTY_PARTITION_UA or a partition number)"
            )));
        }
        let record = ProducerRecord {
            topic: topic_string(topic),
            partition: (partition >= 0).then_some(partition),
            timestamp: None,
            key: key.map(Payload::new),
            value: value.map(Payload::new),
            headers: headers.map(|h| h.headers.clone()).unwrap_or_default(),
        };
        // Enqueued in place when nothing must wait; otherwise the same record goes through
        // the waiting path (metadata, buffer.memory), blocking up to max.block.ms.
        let token = opaque.0 as usize as u64;
        match self.inner.try_send_to_sink(&record, token) {
            Ok(true) => LAST_TOPIC.with(|t| t.set(record.topic)),
            Ok(false) => run(&self.rt, self.inner.send_to_sink(record, token))?,
            Err(e) => return Err(e.into()),
        }
        self.reports.sent.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Serves the reports queued now; returns how many.
    fn serve(&self, me: *mut krafty_producer_t) -> usize {
        if IN_DR_CB.with(Cell::get) {
            return 0;
        }
        let mut s = self.serving.lock().unwrap_or_else(|p| p.into_inner());
        {
            let mut q = self.reports.queue.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::swap(&mut q.batches, &mut s.batches);
        }
        let Some((cb, opaque)) = self.dr else {
            // No callback: outcomes are only counted.
            let done = self.reports.completed.load(Ordering::SeqCst);
            self.reports.served.fetch_max(done, Ordering::SeqCst);
            return 0;
        };
        let Some(cb) = cb else { return 0 };
        IN_DR_CB.with(|f| f.set(true));
        let mut n = 0;
        for b in s.batches.drain(..) {
            let errstr = b.result.as_ref().err().map(|e| c_string(&e.to_string()));
            let err = b
                .result
                .as_ref()
                .err()
                .map_or(0, |e| crate::errors::code(e));
            for r in &b.records {
                let (offset, timestamp) = match b.result {
                    Ok((base, _)) if base < 0 => (-1, r.timestamp),
                    Ok((base, log_append_time)) => (
                        base + i64::from(r.offset_delta),
                        if log_append_time >= 0 {
                            log_append_time
                        } else {
                            r.timestamp
                        },
                    ),
                    Err(_) => (-1, -1),
                };
                let report = krafty_delivery_report_t {
                    err,
                    errstr: errstr.as_ref().map_or(std::ptr::null(), |e| e.as_ptr()),
                    topic: b.topic.as_ptr(),
                    partition: b.partition,
                    offset,
                    timestamp,
                    msg_opaque: r.token as usize as *mut c_void,
                };
                // SAFETY: a C function pointer the application registered; the report and the
                // strings it points to live until it returns.
                unsafe { cb(me, &report, opaque.0) };
            }
            n += b.records.len();
        }
        self.reports.served.fetch_add(n as u64, Ordering::SeqCst);
        IN_DR_CB.with(|f| f.set(false));
        n
    }

    /// Waits until `done()` (checked under the queue's lock) or `deadline`, serving reports.
    fn serve_until(
        &self,
        me: *mut krafty_producer_t,
        deadline: Instant,
        done: impl Fn(&Reports, usize) -> bool,
    ) -> usize {
        let mut total = 0;
        loop {
            total += self.serve(me);
            let r = &*self.reports;
            let q = r.queue.lock().unwrap_or_else(|p| p.into_inner());
            if done(r, q.batches.len()) {
                return total;
            }
            let now = Instant::now();
            if now >= deadline {
                return total;
            }
            r.waiting.fetch_add(1, Ordering::SeqCst);
            let (q, _) = r
                .ready
                .wait_timeout_while(q, deadline - now, |q| {
                    !done(r, q.batches.len()) && q.batches.is_empty()
                })
                .unwrap_or_else(|p| p.into_inner());
            r.waiting.fetch_sub(1, Ordering::SeqCst);
            drop(q);
        }
    }

    /// Records sent whose report was not served (without a callback: not completed).
    fn outstanding(&self) -> u64 {
        let r = &self.reports;
        let done = if self.dr.is_some() {
            r.served.load(Ordering::SeqCst)
        } else {
            r.completed.load(Ordering::SeqCst)
        };
        r.sent.0.load(Ordering::SeqCst).saturating_sub(done)
    }

    fn all_served(r: &Reports, queued: usize) -> bool {
        queued == 0 && r.completed.load(Ordering::SeqCst) >= r.sent.0.load(Ordering::SeqCst)
    }
}

/// Creates a producer from `conf` (which is copied: the caller still owns and destroys it).
/// Connects to `bootstrap.servers` first. On failure returns NULL with the reason in
/// `errstr` (and `krafty_last_error()`).
///
/// # Safety
/// `conf` NULL or live; `errstr` NULL or `errstr_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_new(
    conf: *const krafty_conf_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut krafty_producer_t {
    guard_value(std::ptr::null_mut(), Some((errstr, errstr_size)), || {
        // SAFETY: NULL or live per the contract.
        let conf = unsafe { conf.as_ref() }.ok_or_else(|| Error::arg("conf is NULL"))?;
        let config = ProducerConfig::from_properties(conf.props.iter().cloned())?;
        let inner =
            krafty_core::runtime::block_on(KafkaProducer::new(config, BorrowSerde, BorrowSerde))?;
        let reports = Arc::new(Reports {
            queued: conf.dr_cb.is_some(),
            ..Reports::default()
        });
        inner.set_delivery_sink(reports.clone())?;
        Ok(Box::into_raw(Box::new(krafty_producer_t {
            inner,
            dr: conf.dr_cb,
            reports,
            serving: Mutex::default(),
            rt: krafty_core::runtime::handle(),
            txn_call: TxnCall::default(),
        })))
    })
}

/// Enqueues a record (`rd_kafka_producev`-like). `topic` is NUL-terminated; `partition` a
/// partition number or `KRAFTY_PARTITION_UA`; `key` / `value` are copied (NULL with length 0
/// is a null key / value); `headers` (may be NULL) are copied; `opaque` comes back in the
/// record's delivery report. Returns at once unless the buffer (`buffer.memory`) is full or
/// the topic's metadata is unknown, waiting then up to `max.block.ms`. Returns 0, or why the
/// record was not enqueued (no delivery report follows then): `_INVALID_ARG`,
/// `UNKNOWN_TOPIC_OR_PARTITION` (a partition out of range, a topic that does not exist
/// after `max.block.ms`), `MESSAGE_TOO_LARGE`, `_TIMED_OUT`, `_CLOSED`.
///
/// # Safety
/// `producer` NULL or live; `topic` NULL or NUL-terminated; `key`/`value` NULL or
/// `key_len`/`value_len` readable bytes; `headers` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_send(
    producer: *mut krafty_producer_t,
    topic: *const c_char,
    partition: i32,
    key: *const c_void,
    key_len: usize,
    value: *const c_void,
    value_len: usize,
    headers: *const krafty_headers_t,
    opaque: *mut c_void,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let p = unsafe { producer.as_ref() }.ok_or_else(|| Error::arg("producer is NULL"))?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let topic_str = unsafe { arg_str(topic, "topic") }?;
        if topic_str.is_empty() {
            return Err(Error::arg("topic is empty"));
        }
        // SAFETY: NULL or key_len readable bytes per the contract.
        let key = unsafe { arg_bytes(key, key_len, "key") }?;
        // SAFETY: NULL or value_len readable bytes per the contract.
        let value = unsafe { arg_bytes(value, value_len, "value") }?;
        // SAFETY: NULL or live per the contract.
        let headers = unsafe { headers.as_ref() };
        p.send(topic_str, partition, key, value, headers, Opaque(opaque))
            .map_err(|e| p.txn_error(e))
    })
}

/// Serves the delivery reports that are ready, calling the callback on this thread; waits up
/// to `timeout_ms` (0: not at all, -1: until one arrives) when none is. Returns how many
/// reports were served (0 for a NULL producer, or inside a delivery-report callback).
///
/// # Safety
/// `producer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_poll(
    producer: *mut krafty_producer_t,
    timeout_ms: c_int,
) -> c_int {
    guard_value(0, None, || {
        // SAFETY: NULL or live per the contract.
        let p = unsafe { producer.as_ref() }.ok_or_else(|| Error::arg("producer is NULL"))?;
        let n = p.serve(producer);
        if n > 0 || timeout_ms == 0 {
            return Ok(n as c_int);
        }
        let deadline = Instant::now() + millis(timeout_ms);
        let served = p.serve_until(producer, deadline, |r, queued| {
            queued > 0 || r.completed.load(Ordering::SeqCst) > r.served.load(Ordering::SeqCst)
        });
        Ok((served + p.serve(producer)) as c_int)
    })
}

/// Sends every buffered record now (regardless of `linger.ms`) and waits up to `timeout_ms`
/// (-1: no limit) until each one's outcome is known and its delivery report served on this
/// thread. `_TIMED_OUT` if some are still outstanding then (they stay queued).
///
/// # Safety
/// `producer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_flush(
    producer: *mut krafty_producer_t,
    timeout_ms: c_int,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let p = unsafe { producer.as_ref() }.ok_or_else(|| Error::arg("producer is NULL"))?;
        let timeout = millis(timeout_ms);
        let deadline = Instant::now() + timeout.min(Duration::from_secs(86_400 * 365));
        let flushed = krafty_core::runtime::block_on(p.inner.flush_within(timeout));
        p.serve_until(producer, deadline, krafty_producer_t::all_served);
        let outstanding = p.outstanding();
        flushed?;
        if outstanding > 0 {
            return Err(Error::new(
                KRAFTY_RESP_ERR__TIMED_OUT,
                format!("flush timed out: {outstanding} records outstanding"),
            ));
        }
        Ok(())
    })
}

/// Records sent whose delivery report has not been served yet (-1 for NULL).
///
/// # Safety
/// `producer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_outq_len(producer: *const krafty_producer_t) -> i64 {
    guard_value(-1, None, || {
        // SAFETY: NULL or live per the contract.
        let p = unsafe { producer.as_ref() }.ok_or_else(|| Error::arg("producer is NULL"))?;
        Ok(p.outstanding() as i64)
    })
}

/// Delivers what it can within `timeout_ms` (-1: no limit), fails the rest (`_CLOSED`
/// reports, served by a later poll) and stops the client's background work. Later sends fail
/// with `_CLOSED`. Idempotent; `krafty_producer_destroy` still frees the handle.
///
/// # Safety
/// `producer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_close(
    producer: *mut krafty_producer_t,
    timeout_ms: c_int,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let p = unsafe { producer.as_ref() }.ok_or_else(|| Error::arg("producer is NULL"))?;
        krafty_core::runtime::block_on(p.inner.close(millis(timeout_ms)))?;
        Ok(())
    })
}

/// Closes the producer without waiting (records not yet acknowledged fail; their reports are
/// dropped unserved: call `krafty_producer_flush` first) and frees it. NULL is ignored.
///
/// # Safety
/// `producer` NULL or live, with no other call on it running or following.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_destroy(producer: *mut krafty_producer_t) {
    guard_value((), None, || {
        if producer.is_null() {
            return Ok(());
        }
        // SAFETY: made by krafty_producer_new, freed once per the contract.
        let p = unsafe { Box::from_raw(producer) };
        let _ = krafty_core::runtime::block_on(p.inner.close(Duration::ZERO));
        drop(p);
        Ok(())
    })
}
