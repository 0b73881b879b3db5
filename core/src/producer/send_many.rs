//! Many records of one topic enqueued in one call (the bindings' `send_batch`).
//!
//! Per record, a send looks up the topic's metadata, reads the clock, locks the partitioner
//! and the accumulator, and bumps shared counters: most of its cost when the record is
//! small. Here the records share one metadata lookup, and each run of them bound for one
//! partition shares one clock reading, one partitioner lock and one accumulator lock (as
//! librdkafka's `rd_kafka_produce_batch` shares one timestamp and one partition lock).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::accumulator::NewRecord;
use super::record::BatchRecord;
use super::{
    check_partition, now_ms, reuse_partition, KafkaProducer, LAST_PARTITION, RECORD_BATCH_OVERHEAD,
};
use crate::error::KafkaError;
use crate::topic_partition::TopicPartition;

/// Records serialized, partitioned and appended per step: bounds how long the accumulator's
/// lock is held (the sender drains under it).
const STEP: usize = 256;

/// A step also ends once its records' serialized bytes reach this: large records are not
/// all serialized (a serializer may copy) ahead of their append.
const STEP_BYTES: usize = 256 * 1024;

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> KafkaProducer<K, V> {
    /// `try_send_to_sink` for many records of `topic`, each sent to `partition` or where the
    /// partitioner puts it; the i-th reports to the sink with token `first_token + i`.
    /// Enqueues records from the first on as long as none must wait, and returns how many:
    /// fewer than all when the next one would wait (the topic's metadata missing,
    /// `buffer.memory` short) or has interceptors to run. The caller then awaits
    /// `send_to_sink` with that one and calls again with the rest. `Err((i, e))`: record `i`
    /// failed (nothing of it reaches the sink); the `i` before it were enqueued.
    ///
    /// Records without a timestamp get the clock's reading when their step (up to 256
    /// records or 256 KiB) is appended. When memory runs short partway, the partitioner has
    /// already counted the step's remaining records once (its sticky partition may move on
    /// a little early).
    pub fn try_send_many_to_sink(
        &self,
        topic: &str,
        partition: Option<i32>,
        records: &[BatchRecord<K, V>],
        first_token: u64,
    ) -> std::result::Result<usize, (usize, KafkaError)> {
        self.check_sink().map_err(|e| (0, e))?;
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err((0, KafkaError::Closed));
        }
        if !inner.interceptors.is_empty() || records.is_empty() {
            return Ok(0);
        }
        if let Some(txn) = &inner.txn {
            txn.check_send().map_err(|e| (0, e))?;
        }
        let Some(partitions) = self.known_partitions(topic) else {
            return Ok(0);
        };
        if let Some(p) = partition {
            check_partition(topic, p, partitions).map_err(|e| (0, e))?;
        }
        let mut serialized: Vec<(Option<Bytes>, Option<Bytes>, usize)> =
            Vec::with_capacity(STEP.min(records.len()));
        let mut chosen = Vec::with_capacity(STEP.min(records.len()));
        let mut last: Option<TopicPartition> = None;
        let mut sent = 0;
        while sent < records.len() {
            serialized.clear();
            let mut failure = None;
            let mut bytes = 0;
            for r in &records[sent..] {
                if serialized.len() == STEP || bytes >= STEP_BYTES {
                    break;
                }
                match self.serialize_parts(topic, r.key.as_ref(), r.value.as_ref(), &r.headers) {
                    Ok(s) => {
                        bytes += s.2;
                        serialized.push(s);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            let step = &records[sent..sent + serialized.len()];
            chosen.clear();
            match partition {
                Some(p) => chosen.resize(serialized.len(), p),
                None => {
                    // The partitioner counts the records' own bytes, as `choose_partition`.
                    let keyed: Vec<(Option<&[u8]>, usize)> = serialized
                        .iter()
                        .map(|(key, _, size)| (key.as_deref(), size - RECORD_BATCH_OVERHEAD))
                        .collect();
                    inner
                        .partitioner
                        .partition_all(topic, &keyed, partitions, &mut chosen);
                }
            }
            let now = now_ms();
            let appending: Vec<NewRecord<'_>> = serialized
                .iter()
                .zip(step)
                .map(|((key, value, _), r)| NewRecord {
                    timestamp: r.timestamp.unwrap_or(now),
                    key: key.as_deref(),
                    value: value.as_deref(),
                    headers: &r.headers,
                })
                .collect();
            let mut i = 0;
            while i < appending.len() {
                let p = chosen[i];
                let end = i + chosen[i..].iter().take_while(|c| **c == p).count();
                let tp = reuse_partition(topic, p, last.take());
                if let Some(txn) = &inner.txn {
                    txn.add_partition(&tp);
                }
                let token = first_token + (sent + i) as u64;
                i += inner.acc.append_run(&tp, &appending[i..end], token);
                last = Some(tp);
                if i < end {
                    // buffer.memory is short: the caller waits for room for record `i`.
                    remember(last);
                    return Ok(sent + i);
                }
            }
            sent += appending.len();
            if let Some(e) = failure {
                remember(last);
                return Err((sent, e));
            }
        }
        remember(last);
        Ok(sent)
    }
}

/// Keeps the last partition appended to for this thread's next send (see `LAST_PARTITION`).
fn remember(last: Option<TopicPartition>) {
    if last.is_some() {
        LAST_PARTITION.with(|l| *l.borrow_mut() = last);
    }
}
