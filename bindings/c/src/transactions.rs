//! Transactions on `krafty_producer_t`, shaped as librdkafka's `rd_kafka_*_transaction(s)`:
//! each function is one call of the core's transactional producer, which owns the state
//! machine (`core/src/producer/transactions.rs`); this file converts arguments and errors and
//! bounds the wait.
//!
//! A call that can block runs as a task on the core's runtime, and the C caller waits for the
//! task up to `timeout_ms`. When the time is up the task is kept, not dropped: dropping the
//! core's future halfway (a commit between its flush and its EndTxn, say) would leave the
//! transaction in a state that no later call leaves. The caller gets `_TIMED_OUT` (retriable),
//! and calling the same function again waits for that task's outcome instead of starting a
//! second call (librdkafka's contract: "call it again"). Until then the other transactional
//! functions fail with `_STATE`, naming the one to call.

use std::ffi::c_int;
use std::future::Future;
use std::sync::Mutex;

use krafty_core::KafkaError;
use tokio::task::JoinHandle;

use crate::consumer::{krafty_consumer_group_metadata_t, offsets_of};
use crate::errors::{
    guard, krafty_resp_err_t, Error, Result, KRAFTY_RESP_ERR__INTERNAL, KRAFTY_RESP_ERR__STATE,
    KRAFTY_RESP_ERR__TIMED_OUT,
};
use crate::message::krafty_topic_partition_list_t;
use crate::producer::{krafty_producer_t, millis, Payload};

type Producer = krafty_core::producer::KafkaProducer<Payload, Payload>;

/// The producer's transactional call that timed out: still running, or finished with its
/// outcome not collected yet. Taken out by the thread that waits for it.
#[derive(Default)]
pub(crate) struct TxnCall(Mutex<Option<Pending>>);

struct Pending {
    /// The C function that started it.
    function: &'static str,
    task: JoinHandle<krafty_core::Result<()>>,
}

impl krafty_producer_t {
    /// `e`, marked when the producer's transaction must now be aborted.
    pub(crate) fn txn_error(&self, mut e: Error) -> Error {
        e.txn_requires_abort = !e.fatal && self.inner.transaction_requires_abort();
        e
    }

    fn core_error(&self, e: KafkaError) -> Error {
        self.txn_error(Error::from(e))
    }

    /// Takes the call `function` left running, or refuses `function` while another one is.
    fn take_pending(&self, function: &'static str) -> Result<Option<Pending>> {
        let mut pending = self.txn_call.0.lock().unwrap_or_else(|p| p.into_inner());
        match pending.take() {
            Some(p) if p.function == function => Ok(Some(p)),
            Some(p) => {
                let other = p.function;
                *pending = Some(p);
                Err(Error::new(
                    KRAFTY_RESP_ERR__STATE,
                    format!(
                        "{function}: an earlier {other} timed out and goes on: \
                         call {other} again first (it returns that call's outcome)"
                    ),
                ))
            }
            None => Ok(None),
        }
    }

    /// Runs the core call `start` makes (or, after a timeout, resumes the one `function` left
    /// running) and waits for it up to `timeout_ms`.
    fn transact<F>(
        &self,
        function: &'static str,
        timeout_ms: c_int,
        start: impl FnOnce(Producer) -> F,
    ) -> Result<()>
    where
        F: Future<Output = krafty_core::Result<()>> + Send + 'static,
    {
        let mut task = match self.take_pending(function)? {
            Some(p) => p.task,
            None => krafty_core::runtime::handle().spawn(start(self.inner.clone())),
        };
        let timeout = millis(timeout_ms);
        let waited = krafty_core::runtime::block_on(async {
            tokio::time::timeout(timeout, &mut task).await
        });
        match waited {
            Ok(Ok(outcome)) => outcome.map_err(|e| self.core_error(e)),
            Ok(Err(e)) => Err(Error::new(
                KRAFTY_RESP_ERR__INTERNAL,
                format!("{function}: internal error: {e}"),
            )),
            Err(_) => {
                *self.txn_call.0.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Pending { function, task });
                Err(Error::new(
                    KRAFTY_RESP_ERR__TIMED_OUT,
                    format!(
                        "{function} did not finish within {timeout_ms} ms; it goes on: \
                         call {function} again to wait for its outcome"
                    ),
                ))
            }
        }
    }
}

/// The producer behind a C pointer, or `_INVALID_ARG`.
///
/// # Safety
/// `p` is NULL or live.
unsafe fn handle<'a>(p: *mut krafty_producer_t) -> Result<&'a krafty_producer_t> {
    // SAFETY: NULL or live per the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| Error::arg("producer is NULL"))
}

/// Makes the producer transactional (`rd_kafka_init_transactions`): obtains the producer id
/// and epoch of its `transactional.id`, which fences any older producer with the same id (its
/// open transaction is aborted). Call it once, before the first transaction. Waits up to
/// `timeout_ms` (-1: no limit; the core also gives up after `max.block.ms`). Returns 0,
/// `_STATE` (no `transactional.id`, or called twice), `_TIMED_OUT` (it goes on: call it again
/// to wait for its outcome), or the broker's error.
///
/// # Safety
/// `producer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_init_transactions(
    producer: *mut krafty_producer_t,
    timeout_ms: c_int,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let p = unsafe { handle(producer) }?;
        p.transact(
            "krafty_producer_init_transactions",
            timeout_ms,
            |p| async move { p.init_transactions().await },
        )
    })
}

/// Starts a transaction (`rd_kafka_begin_transaction`): the records sent until
/// `krafty_producer_commit_transaction` or `krafty_producer_abort_transaction` belong to it
/// (outside a transaction `krafty_producer_send` fails with `_STATE`). Does not block. `_STATE`
/// before `krafty_producer_init_transactions`, inside a transaction, or while a call that
/// timed out goes on; `KRAFTY_RESP_ERR_PRODUCER_FENCED` (fatal) once fenced.
///
/// # Safety
/// `producer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_begin_transaction(
    producer: *mut krafty_producer_t,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let p = unsafe { handle(producer) }?;
        // Refused while a call that timed out goes on (begin itself never blocks).
        p.take_pending("krafty_producer_begin_transaction")?;
        p.inner.begin_transaction().map_err(|e| p.core_error(e))
    })
}

/// Commits a consumer group's offsets with the transaction
/// (`rd_kafka_send_offsets_to_transaction`), for exactly-once consume-transform-produce:
/// they take effect if, and when, the transaction commits. `offsets` holds each input
/// partition with the next offset to read (the last processed record's offset + 1; >= 0);
/// `metadata` is the input consumer's `krafty_consumer_group_metadata` (the group coordinator
/// refuses a member fenced by a rebalance). Both stay the caller's. Waits up to `timeout_ms`
/// (-1: no limit). `_STATE` outside a transaction, `_INVALID_ARG` for NULLs or an offset < 0,
/// `_TIMED_OUT` (call it again to wait for the outcome; the arguments of that call are not
/// used), or the broker's error; when `krafty_last_error_txn_requires_abort()` then says 1,
/// abort the transaction.
///
/// # Safety
/// `producer`, `offsets`, `metadata` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_send_offsets_to_transaction(
    producer: *mut krafty_producer_t,
    offsets: *const krafty_topic_partition_list_t,
    metadata: *const krafty_consumer_group_metadata_t,
    timeout_ms: c_int,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let p = unsafe { handle(producer) }?;
        // SAFETY: NULL or live per the contract.
        let offsets = unsafe { offsets.as_ref() }.ok_or_else(|| Error::arg("offsets is NULL"))?;
        // SAFETY: NULL or live per the contract.
        let metadata = unsafe { metadata.as_ref() }
            .ok_or_else(|| Error::arg("metadata is NULL"))?
            .inner
            .clone();
        let offsets = offsets_of(offsets)?;
        p.transact(
            "krafty_producer_send_offsets_to_transaction",
            timeout_ms,
            |p| async move { p.send_offsets_to_transaction(&offsets, &metadata).await },
        )
    })
}

/// Commits the transaction (`rd_kafka_commit_transaction`): sends the records it holds, waits
/// for every acknowledgement, then commits (their delivery reports are served by
/// `krafty_producer_poll` / `krafty_producer_flush` as usual). Waits up to `timeout_ms` (-1:
/// no limit; the core also bounds the commit request by `max.block.ms`). Returns 0, or:
/// `KRAFTY_RESP_ERR_PRODUCER_FENCED` and others with `krafty_last_error_is_fatal()` 1 (destroy
/// the producer); an error with `krafty_last_error_txn_requires_abort()` 1 (a record or the
/// commit failed: call `krafty_producer_abort_transaction`, then begin again); `_TIMED_OUT`
/// (the commit goes on: call this again to wait for its outcome); `_STATE` outside a
/// transaction.
///
/// # Safety
/// `producer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_commit_transaction(
    producer: *mut krafty_producer_t,
    timeout_ms: c_int,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let p = unsafe { handle(producer) }?;
        p.transact(
            "krafty_producer_commit_transaction",
            timeout_ms,
            |p| async move { p.commit_transaction().await },
        )
    })
}

/// Aborts the transaction (`rd_kafka_abort_transaction`): records not sent yet fail (their
/// delivery reports say so), those written are marked aborted (a `read_committed` consumer
/// never sees them), and the producer can begin a new transaction. Waits up to `timeout_ms`
/// (-1: no limit). Returns 0, `_STATE` outside a transaction, a fatal error
/// (`krafty_last_error_is_fatal()`), `_TIMED_OUT` (call it again to wait for its outcome), or
/// the broker's error (call it again).
///
/// # Safety
/// `producer` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn krafty_producer_abort_transaction(
    producer: *mut krafty_producer_t,
    timeout_ms: c_int,
) -> krafty_resp_err_t {
    guard(|| {
        // SAFETY: NULL or live per the contract.
        let p = unsafe { handle(producer) }?;
        p.transact(
            "krafty_producer_abort_transaction",
            timeout_ms,
            |p| async move { p.abort_transaction().await },
        )
    })
}
