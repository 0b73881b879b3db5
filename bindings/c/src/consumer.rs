//! `krafty_consumer_t`: the core consumer, one record per poll, rebalance and commit
//! callbacks on the polling thread.
//!
//! The core calls its rebalance listener on the thread that polls, inside the poll; the C
//! callback runs there too, and a commit or seek it makes goes through the core's
//! `RebalanceContext` (a commit is sent and answered before the call returns, as
//! librdkafka's `rd_kafka_commit` in its rebalance callback).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use krafty_core::consumer::{
    ConsumerConfig, ConsumerGroupMetadata, ConsumerRebalanceListener, KafkaConsumer,
    OffsetAndMetadata, RebalanceContext,
};
use krafty_core::serialization::BytesSerde;
use krafty_core::TopicPartition;

use crate::config::{krafty_conf_t, Opaque};
use crate::errors::{
    arg_str, guard, guard_value, krafty_resp_err_t, Error, Result,
    KRAFTY_RESP_ERR__ASSIGN_PARTITIONS, KRAFTY_RESP_ERR__LOST_PARTITIONS,
    KRAFTY_RESP_ERR__REVOKE_PARTITIONS, KRAFTY_RESP_ERR__STATE,
};
use crate::message::{
    krafty_message_t, krafty_topic_partition_list_t, OwnedMessage, KRAFTY_OFFSET_BEGINNING,
    KRAFTY_OFFSET_END, KRAFTY_OFFSET_INVALID,
};

/// The rebalance callback: `err` is `KRAFTY_RESP_ERR__ASSIGN_PARTITIONS` (partitions added),
/// `KRAFTY_RESP_ERR__REVOKE_PARTITIONS` (partitions taken away: commit here) or
/// `KRAFTY_RESP_ERR__LOST_PARTITIONS` (membership lost: another member may own them, do not
/// commit); `partitions` holds each one with the consumer's position as `offset`
/// (`KRAFTY_OFFSET_INVALID` if none yet); `opaque` is the user data given to
/// `krafty_conf_set_rebalance_cb`. It runs on the thread calling `krafty_consumer_poll`
/// (or `krafty_consumer_close`, `krafty_consumer_unsubscribe`, `krafty_consumer_destroy`).
/// Unlike librdkafka, the assignment is applied by libkrafty: the callback need not call
/// `krafty_consumer_assign`. Inside it only `krafty_consumer_commit` (synchronous even with
/// `async` 1: it returns the broker's answer before the rebalance goes on),
/// `krafty_consumer_seek` (applied when the callback returns) and `krafty_consumer_position`
/// may be called on this consumer; other consumer calls fail with `_STATE`. `partitions` is
/// valid during the callback only.
#[allow(non_camel_case_types)]
pub type krafty_rebalance_cb_t = Option<
    unsafe extern "C" fn(
        consumer: *mut krafty_consumer_t,
        err: krafty_resp_err_t,
        partitions: *const krafty_topic_partition_list_t,
        opaque: *mut c_void,
    ),
>;

/// The outcome of a `krafty_consumer_commit(..., async = 1)`: `err` (0 on success), the
/// offsets committed, and the user data given to `krafty_conf_set_offset_commit_cb`. Runs on
/// the thread calling `krafty_consumer_poll` (or `krafty_consumer_close`), in commit order.
/// `offsets` is valid during the callback only.
#[allow(non_camel_case_types)]
pub type krafty_offset_commit_cb_t = Option<
    unsafe extern "C" fn(
        consumer: *mut krafty_consumer_t,
        err: krafty_resp_err_t,
        offsets: *const krafty_topic_partition_list_t,
        opaque: *mut c_void,
    ),
>;

pub(crate) type Offsets = BTreeMap<TopicPartition, OffsetAndMetadata>;
type CommitOutcome = (Offsets, Result<()>);

/// A consumer. Its functions may be called from any thread, but poll from one thread at a
/// time (the one that runs the callbacks); `krafty_consumer_wakeup` may be called from any
/// thread at any time. Destroy it from one thread, once no other call runs.
#[allow(non_camel_case_types)]
pub struct krafty_consumer_t {
    inner: KafkaConsumer<Option<Bytes>, Option<Bytes>>,
    rebalance_cb: Option<(krafty_rebalance_cb_t, Opaque)>,
    commit_cb: Option<(krafty_offset_commit_cb_t, Opaque)>,
    commits: Arc<Mutex<Vec<CommitOutcome>>>,
    closed: std::sync::atomic::AtomicBool,
}

/// A raw pointer moved into the core's listener (called on the polling thread only).
struct ConsumerPtr(*mut krafty_consumer_t);
// SAFETY: the listener is called by the core on the thread that polls the consumer, while
// the consumer is alive (the listener is dropped with it).
unsafe impl Send for ConsumerPtr {}

thread_local! {
    /// The consumer whose rebalance callback runs on this thread, and its context.
    static REBALANCE: Cell<Option<(*const krafty_consumer_t, *mut c_void)>> = const { Cell::new(None) };
}

/// The rebalance context when `c`'s rebalance callback runs on this thread.
fn in_rebalance<'a>(c: *const krafty_consumer_t) -> Option<&'a mut RebalanceContext<'a>> {
    let (who, ctx) = REBALANCE.with(Cell::get)?;
    if who != c {
        return None;
    }
    // SAFETY: set by CListener::call to a context that lives for the whole callback, and
    // cleared before it returns; only the callback's thread sees it.
    Some(unsafe { &mut *ctx.cast::<RebalanceContext<'a>>() })
}

fn not_in_rebalance(c: *const krafty_consumer_t) -> Result<()> {
    if in_rebalance(c).is_some() {
        return Err(Error::new(
            KRAFTY_RESP_ERR__STATE,
            "not allowed inside the rebalance callback (only commit, seek and position are)",
        ));
    }
    Ok(())
}

struct CListener {
    cb: unsafe extern "C" fn(
        *mut krafty_consumer_t,
        krafty_resp_err_t,
        *const krafty_topic_partition_list_t,
        *mut c_void,
    ),
    opaque: Opaque,
    consumer: ConsumerPtr,
}

impl CListener {
    fn call(
        &self,
        event: krafty_resp_err_t,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let list = krafty_topic_partition_list_t::from_partitions(
            partitions
                .iter()
                .map(|tp| (tp, ctx.position(tp).unwrap_or(KRAFTY_OFFSET_INVALID))),
        );
        let previous = REBALANCE.with(|r| {
            r.replace(Some((
                self.consumer.0.cast_const(),
                (ctx as *mut RebalanceContext<'_>).cast::<c_void>(),
            )))
        });
        // SAFETY: the application's callback; the list and the consumer outlive the call.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
            (self.cb)(self.consumer.0, event, &*list, self.opaque.0)
        }));
        REBALANCE.with(|r| r.set(previous));
    }
}

impl ConsumerRebalanceListener for CListener {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.call(KRAFTY_RESP_ERR__REVOKE_PARTITIONS, ctx, partitions)
    }
    fn on_partitions_assigned(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.call(KRAFTY_RESP_ERR__ASSIGN_PARTITIONS, ctx, partitions)
    }
    fn on_partitions_lost(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.call(KRAFTY_RESP_ERR__LOST_PARTITIONS, ctx, partitions)
    }
}

fn millis(timeout_ms: c_int) -> Duration {
    if timeout_ms < 0 {
        Duration::from_secs(u32::MAX as u64)
    } else {
        Duration::from_millis(timeout_ms as u64)
    }
}

fn block_on<F: std::future::Future + Send>(f: F) -> F::Output
where
    F::Output: Send,
{
    krafty_core::runtime::block_on(f)
}

pub(crate) fn offsets_of(list: &krafty_topic_partition_list_t) -> Result<Offsets> {
    let mut out = Offsets::new();
    for (tp, offset) in list.entries()? {
        if offset < 0 {
            return Err(Error::arg(format!(
                "offset {offset} for {tp} cannot be committed (give the next offset to read)"
            )));
        }
        out.insert(tp, OffsetAndMetadata::new(offset));
    }
    Ok(out)
}

fn list_of(offsets: &Offsets) -> Box<krafty_topic_partition_list_t> {
    krafty_topic_partition_list_t::from_partitions(offsets.iter().map(|(tp, o)| (tp, o.offset)))
}

impl krafty_consumer_t {
    /// Calls the commit callback for every asynchronous commit that finished.
    fn serve_commits(&self, me: *mut krafty_consumer_t) {
        let done: Vec<CommitOutcome> =
            std::mem::take(&mut *self.commits.lock().unwrap_or_else(|p| p.into_inner()));
        let Some((Some(cb), opaque)) = self.commit_cb else {
            return;
        };
        for (offsets, result) in done {
            let list = list_of(&offsets);
            let err = result.err().map_or(0, |e| e.code);
            // SAFETY: the application's callback; the list outlives the call.
            unsafe { cb(me, err, &*list, opaque.0) };
        }
    }

    fn listener(&self, me: *mut krafty_consumer_t) -> Option<Box<dyn ConsumerRebalanceListener>> {
        match self.rebalance_cb {
            Some((Some(cb), opaque)) => Some(Box::new(CListener {
                cb,
                opaque,
                consumer: ConsumerPtr(me),
            })),
            _ => None,
        }
    }
}

/// The consumer behind a C pointer, or `_INVALID_ARG`.
///
/// # Safety
/// `c` is NULL or live.
unsafe fn handle<'a>(c: *mut krafty_consumer_t) -> Result<&'a krafty_consumer_t> {
    // SAFETY: NULL or live per the caller's contract.
    unsafe { c.as_ref() }.ok_or_else(|| Error::arg("consumer is NULL"))
}

/// # Safety
/// `l` is NULL or live.
unsafe fn list<'a>(
    l: *const krafty_topic_partition_list_t,
) -> Result<&'a krafty_topic_partition_list_t> {
    // SAFETY: NULL or live per the caller's contract.
    unsafe { l.as_ref() }.ok_or_else(|| Error::arg("partitions is NULL"))
}

/// Creates a consumer from `conf` (copied; the caller still destroys it). `group.id` makes
/// it a group member (subscribe) and lets it commit. NULL on failure with the reason in
/// `errstr` and `krafty_last_error()`.
///
/// # Safety
/// `conf` NULL or live; `errstr` NULL or `errstr_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_new(
    conf: *const krafty_conf_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut krafty_consumer_t {
    guard_value(std::ptr::null_mut(), Some((errstr, errstr_size)), || {
        // SAFETY: NULL or live per the contract.
        let conf = unsafe { conf.as_ref() }.ok_or_else(|| Error::arg("conf is NULL"))?;
        let config = ConsumerConfig::from_properties(conf.props.iter().cloned())?;
        let inner = block_on(KafkaConsumer::new(config, BytesSerde, BytesSerde))?;
        Ok(Box::into_raw(Box::new(krafty_consumer_t {
            inner,
            rebalance_cb: conf.rebalance_cb,
            commit_cb: conf.offset_commit_cb,
            commits: Arc::default(),
            closed: Default::default(),
        })))
    })
}

/// Subscribes to `topic_cnt` topics (joining the group with `group.id`; without it, reading
/// every partition of them). Replaces an earlier subscription; an empty list unsubscribes.
///
/// # Safety
/// `consumer` NULL or live; `topics` NULL or `topic_cnt` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_subscribe(
    consumer: *mut krafty_consumer_t,
    topics: *const *const c_char,
    topic_cnt: usize,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        not_in_rebalance(consumer)?;
        if topics.is_null() && topic_cnt > 0 {
            return Err(Error::arg("topics is NULL"));
        }
        let mut names = Vec::with_capacity(topic_cnt);
        for i in 0..topic_cnt {
            // SAFETY: topics has topic_cnt entries, each NULL or NUL-terminated.
            let t = unsafe { arg_str(*topics.add(i), "topic") }?;
            if t.is_empty() {
                return Err(Error::arg("a topic name is empty"));
            }
            names.push(t);
        }
        let listener = c.listener(consumer);
        block_on(c.inner.subscribe(&names, listener))?;
        Ok(())
    })
}

/// Leaves the group (revoking through the rebalance callback, on this thread) and forgets the
/// subscription or assignment.
///
/// # Safety
/// `consumer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_unsubscribe(
    consumer: *mut krafty_consumer_t,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        not_in_rebalance(consumer)?;
        block_on(c.inner.unsubscribe())?;
        Ok(())
    })
}

/// Reads exactly these partitions, with no group membership (commits still go to
/// `group.id`). An entry's `offset`, when not `KRAFTY_OFFSET_INVALID`, is where reading
/// starts (`KRAFTY_OFFSET_BEGINNING`, `KRAFTY_OFFSET_END` or an offset); otherwise the
/// committed offset, else `auto.offset.reset`. NULL or an empty list clears the assignment.
///
/// # Safety
/// `consumer` NULL or live; `partitions` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_assign(
    consumer: *mut krafty_consumer_t,
    partitions: *const krafty_topic_partition_list_t,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        not_in_rebalance(consumer)?;
        // SAFETY: NULL or live per the contract.
        let entries = match unsafe { partitions.as_ref() } {
            Some(l) => l.entries()?,
            None => vec![],
        };
        let tps: Vec<TopicPartition> = entries.iter().map(|(tp, _)| tp.clone()).collect();
        block_on(c.inner.assign(&tps))?;
        for (tp, offset) in entries {
            seek(c, &tp, offset)?;
        }
        Ok(())
    })
}

fn seek(c: &krafty_consumer_t, tp: &TopicPartition, offset: i64) -> Result<()> {
    match offset {
        KRAFTY_OFFSET_INVALID => Ok(()),
        KRAFTY_OFFSET_BEGINNING => Ok(block_on(
            c.inner.seek_to_beginning(std::slice::from_ref(tp)),
        )?),
        KRAFTY_OFFSET_END => Ok(block_on(c.inner.seek_to_end(std::slice::from_ref(tp)))?),
        o if o >= 0 => Ok(block_on(c.inner.seek(tp, o))?),
        o => Err(Error::arg(format!("offset {o} for {tp} is not an offset"))),
    }
}

/// The consumer's current assignment, as a new list the caller destroys (offsets
/// `KRAFTY_OFFSET_INVALID`).
///
/// # Safety
/// `consumer` NULL or live; `partitions` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_assignment(
    consumer: *mut krafty_consumer_t,
    partitions: *mut *mut krafty_topic_partition_list_t,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        not_in_rebalance(consumer)?;
        if partitions.is_null() {
            return Err(Error::arg("partitions is NULL"));
        }
        let assigned = block_on(c.inner.assignment());
        let list = krafty_topic_partition_list_t::from_partitions(
            assigned.iter().map(|tp| (tp, KRAFTY_OFFSET_INVALID)),
        );
        // SAFETY: non-NULL and writable per the contract.
        unsafe { *partitions = Box::into_raw(list) };
        Ok(())
    })
}

/// Waits up to `timeout_ms` (-1: no limit) for the next record and returns it, or NULL when
/// none came in time. A message whose `err` is not 0 reports an error instead (`errstr`
/// says why). Free every message with `krafty_message_destroy`. The position moves past
/// each record returned, and only past it: a commit covers exactly what was returned.
/// Rebalance and asynchronous-commit callbacks run inside this call, on this thread.
///
/// # Safety
/// `consumer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_poll(
    consumer: *mut krafty_consumer_t,
    timeout_ms: c_int,
) -> *mut krafty_message_t {
    guard_value(std::ptr::null_mut(), None, || {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        if in_rebalance(consumer).is_some() {
            return Ok(OwnedMessage::error(&Error::new(
                KRAFTY_RESP_ERR__STATE,
                "krafty_consumer_poll inside the rebalance callback",
            )));
        }
        c.serve_commits(consumer);
        let polled = block_on(c.inner.poll_at_most(millis(timeout_ms), 1));
        c.serve_commits(consumer);
        Ok(match polled {
            Ok(mut records) => records
                .pop()
                .map_or(std::ptr::null_mut(), OwnedMessage::record),
            Err(e) => OwnedMessage::error(&Error::from(e)),
        })
    })
}

/// Commits offsets: `offsets` NULL commits the position of every assigned partition (the
/// offset after the last record returned); else each entry's `offset` (the next offset to
/// read; each partition must be assigned). `async` 0 waits for the broker's answer and
/// returns it; `async` 1 returns at once and the outcome goes to the offset-commit callback.
/// Commits are sent in call order. Inside the rebalance callback the commit is always
/// synchronous (`async` is ignored): it is sent and its outcome returned, the broker's error
/// code with `krafty_last_error()` set when refused, before the rebalance goes on, as a
/// synchronous commit outside the callback. `_STATE` without `group.id`.
///
/// # Safety
/// `consumer` NULL or live; `offsets` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_commit(
    consumer: *mut krafty_consumer_t,
    offsets: *const krafty_topic_partition_list_t,
    async_: c_int,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        // SAFETY: NULL or live per the contract.
        let offsets = match unsafe { offsets.as_ref() } {
            Some(l) => Some(offsets_of(l)?),
            None => None,
        };
        if let Some(ctx) = in_rebalance(consumer) {
            match offsets {
                Some(o) => ctx.commit_offsets_now(o)?,
                None => {
                    let tps: Vec<TopicPartition> =
                        ctx.positions().map(|(tp, _)| tp.clone()).collect();
                    ctx.commit_positions_now(&tps)?;
                }
            }
            return Ok(());
        }
        if async_ != 0 {
            let done = c.commits.clone();
            block_on(c.inner.commit_offsets_async(offsets, move |o, r| {
                done.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((o.clone(), r.map_err(Error::from)));
            }))?;
            return Ok(());
        }
        match offsets {
            Some(o) => block_on(c.inner.commit_offsets(o))?,
            None => block_on(c.inner.commit_sync())?,
        }
        Ok(())
    })
}

/// Fills each entry's `offset` with the group's committed offset for it
/// (`KRAFTY_OFFSET_INVALID` when none). `_STATE` without `group.id`.
///
/// # Safety
/// `consumer` NULL or live; `partitions` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_committed(
    consumer: *mut krafty_consumer_t,
    partitions: *mut krafty_topic_partition_list_t,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        not_in_rebalance(consumer)?;
        // SAFETY: NULL or live per the contract.
        let l = unsafe { partitions.as_mut() }.ok_or_else(|| Error::arg("partitions is NULL"))?;
        let tps: Vec<TopicPartition> = l.entries()?.into_iter().map(|(tp, _)| tp).collect();
        let committed = block_on(c.inner.committed(&tps))?;
        for (e, tp) in l.elems_mut().iter_mut().zip(&tps) {
            e.offset = committed
                .get(tp)
                .map_or(KRAFTY_OFFSET_INVALID, |o| o.offset);
            e.err = 0;
        }
        Ok(())
    })
}

/// Fills each entry's `offset` with the consumer's position (the next offset it will return);
/// an entry not assigned gets `KRAFTY_OFFSET_INVALID` and `err` `_STATE`.
///
/// # Safety
/// `consumer` NULL or live; `partitions` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_position(
    consumer: *mut krafty_consumer_t,
    partitions: *mut krafty_topic_partition_list_t,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        // SAFETY: NULL or live per the contract.
        let l = unsafe { partitions.as_mut() }.ok_or_else(|| Error::arg("partitions is NULL"))?;
        let tps: Vec<TopicPartition> = l.entries()?.into_iter().map(|(tp, _)| tp).collect();
        let ctx = in_rebalance(consumer);
        for (e, tp) in l.elems_mut().iter_mut().zip(&tps) {
            let pos = match &ctx {
                Some(ctx) => ctx.position(tp).ok_or_else(|| {
                    Error::new(KRAFTY_RESP_ERR__STATE, format!("no position for {tp}"))
                }),
                None => block_on(c.inner.position(tp)).map_err(Error::from),
            };
            match pos {
                Ok(o) => {
                    e.offset = o;
                    e.err = 0;
                }
                Err(err) => {
                    e.offset = KRAFTY_OFFSET_INVALID;
                    e.err = err.code;
                }
            }
        }
        Ok(())
    })
}

/// Moves the position of an assigned partition: the next poll returns `offset` (or the
/// first / next-written record for `KRAFTY_OFFSET_BEGINNING` / `KRAFTY_OFFSET_END`).
/// `_STATE` if the partition is not assigned.
///
/// # Safety
/// `consumer` NULL or live; `topic` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_seek(
    consumer: *mut krafty_consumer_t,
    topic: *const c_char,
    partition: i32,
    offset: i64,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let topic = unsafe { arg_str(topic, "topic") }?;
        let tp = TopicPartition::new(topic, partition);
        if let Some(ctx) = in_rebalance(consumer) {
            if offset < 0 {
                return Err(Error::arg(
                    "inside the rebalance callback, seek to an offset >= 0",
                ));
            }
            ctx.seek(&tp, offset);
            return Ok(());
        }
        if offset == KRAFTY_OFFSET_INVALID {
            return Err(Error::arg("KRAFTY_OFFSET_INVALID is not a position"));
        }
        seek(c, &tp, offset)
    })
}

fn pause_resume(
    consumer: *mut krafty_consumer_t,
    partitions: *const krafty_topic_partition_list_t,
    pause: bool,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the exported functions' contract.
        let c = unsafe { handle(consumer) }?;
        not_in_rebalance(consumer)?;
        // SAFETY: as above.
        let tps: Vec<TopicPartition> = unsafe { list(partitions) }?
            .entries()?
            .into_iter()
            .map(|(tp, _)| tp)
            .collect();
        if pause {
            block_on(c.inner.pause(&tps))?;
        } else {
            block_on(c.inner.resume(&tps))?;
        }
        Ok(())
    })
}

/// Stops fetching these (assigned) partitions until `krafty_consumer_resume`; polls return
/// nothing from them meanwhile. `_STATE` for a partition not assigned.
///
/// # Safety
/// `consumer` NULL or live; `partitions` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_pause(
    consumer: *mut krafty_consumer_t,
    partitions: *const krafty_topic_partition_list_t,
) -> krafty_resp_err_t {
    pause_resume(consumer, partitions, true)
}

/// Fetches paused partitions again.
///
/// # Safety
/// `consumer` NULL or live; `partitions` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_resume(
    consumer: *mut krafty_consumer_t,
    partitions: *const krafty_topic_partition_list_t,
) -> krafty_resp_err_t {
    pause_resume(consumer, partitions, false)
}

/// Interrupts a `krafty_consumer_poll` blocked on another thread (it returns a message with
/// err `_WAKEUP`); if none is running, the next one does. Any thread.
///
/// # Safety
/// `consumer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_wakeup(
    consumer: *mut krafty_consumer_t,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        unsafe { handle(consumer) }?.inner.wakeup();
        Ok(())
    })
}

/// A consumer's place in its group (group id, generation, member id, `group.instance.id`),
/// as `krafty_consumer_group_metadata` took it, for
/// `krafty_producer_send_offsets_to_transaction`. Read-only: use it from any thread; free it
/// with `krafty_consumer_group_metadata_destroy`.
#[allow(non_camel_case_types)]
pub struct krafty_consumer_group_metadata_t {
    pub(crate) inner: ConsumerGroupMetadata,
}

/// The consumer's group metadata now, for `krafty_producer_send_offsets_to_transaction`
/// (which fences a member that lost its partitions: take it after the last poll that returned
/// the records the transaction covers). A new handle the caller frees with
/// `krafty_consumer_group_metadata_destroy`. NULL, with the reason in `krafty_last_error()`,
/// without `group.id` (`_STATE`), inside the rebalance callback (`_STATE`), or for a NULL
/// consumer (`_INVALID_ARG`).
///
/// # Safety
/// `consumer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_group_metadata(
    consumer: *mut krafty_consumer_t,
) -> *mut krafty_consumer_group_metadata_t {
    guard_value(std::ptr::null_mut(), None, || {
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        not_in_rebalance(consumer)?;
        let inner = c.inner.group_metadata().ok_or_else(|| {
            Error::new(
                KRAFTY_RESP_ERR__STATE,
                "no group metadata: the consumer has no group.id",
            )
        })?;
        Ok(Box::into_raw(Box::new(krafty_consumer_group_metadata_t {
            inner,
        })))
    })
}

/// Frees group metadata from `krafty_consumer_group_metadata` (NULL is ignored).
///
/// # Safety
/// `metadata` NULL or from `krafty_consumer_group_metadata`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_group_metadata_destroy(
    metadata: *mut krafty_consumer_group_metadata_t,
) {
    guard_value((), None, || {
        if !metadata.is_null() {
            // SAFETY: made by krafty_consumer_group_metadata, freed once per the contract.
            drop(unsafe { Box::from_raw(metadata) });
        }
        Ok(())
    })
}

/// Commits (with `enable.auto.commit`), revokes through the rebalance callback (on this
/// thread), leaves the group and closes the connections; serves the outstanding
/// offset-commit callbacks. Later calls fail with `_CLOSED`. Idempotent.
///
/// # Safety
/// `consumer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_close(
    consumer: *mut krafty_consumer_t,
) -> krafty_resp_err_t {
    guard(|| {
        not_in_rebalance(consumer)?;
        // SAFETY: NULL or live per the contract.
        let c = unsafe { handle(consumer) }?;
        if c.closed.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Ok(());
        }
        let r = block_on(c.inner.close());
        c.serve_commits(consumer);
        r?;
        Ok(())
    })
}

/// Closes the consumer (as `krafty_consumer_close`, when not done yet) and frees it. NULL is
/// ignored.
///
/// # Safety
/// `consumer` NULL or live, with no other call on it running or following.
#[no_mangle]
pub unsafe extern "C" fn krafty_consumer_destroy(consumer: *mut krafty_consumer_t) {
    guard_value((), None, || {
        if consumer.is_null() {
            return Ok(());
        }
        // SAFETY: live per the contract.
        unsafe { krafty_consumer_close(consumer) };
        // SAFETY: made by krafty_consumer_new, freed once per the contract.
        drop(unsafe { Box::from_raw(consumer) });
        Ok(())
    })
}
