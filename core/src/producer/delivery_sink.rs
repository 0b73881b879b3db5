//! A producer-wide receiver of delivery outcomes, told once per batch.
//!
//! A future or a callback per record costs an allocation when the record is sent and a call
//! (often a lock and an atomic or two, in a binding that queues outcomes for another thread)
//! when it completes. librdkafka's C API instead tags each message with an opaque and serves
//! outcomes from one queue; a `DeliverySink` is that model: records sent with
//! `KafkaProducer::try_send_to_sink` / `send_to_sink` carry a `u64` token, and the sink gets
//! one call per completed batch with the tokens of its records, in offset order.

use crate::error::KafkaError;

/// Receives the outcomes of the records sent with a token. Called on the client's
/// background threads, once per batch: keep it short (queue, count, wake).
pub trait DeliverySink: Send + Sync + 'static {
    fn batch_done(&self, batch: CompletedBatch<'_>);
}

/// One batch's outcome and the records of it that were sent with a token.
pub struct CompletedBatch<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// The batch's base offset (-1 when unknown, as with acks=0) and the log append time
    /// (-1 unless the topic uses LogAppendTime), or why the batch failed.
    pub result: Result<(i64, i64), &'a KafkaError>,
    /// The records sent with a token, in offset order (the sink may keep them).
    pub records: Vec<SinkRecord>,
}

/// A record sent with a token: its place in the batch, its own timestamp and its serialized
/// key and value sizes (-1 for null).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkRecord {
    pub token: u64,
    pub offset_delta: i32,
    pub timestamp: i64,
    pub key_size: i32,
    pub value_size: i32,
}

impl CompletedBatch<'_> {
    /// The record's offset (-1 when the batch failed or its base offset is unknown).
    pub fn offset(&self, r: &SinkRecord) -> i64 {
        match self.result {
            Ok((base, _)) if base >= 0 => base + i64::from(r.offset_delta),
            _ => -1,
        }
    }

    /// The record's timestamp as acknowledged: the log append time when the broker set one.
    pub fn timestamp(&self, r: &SinkRecord) -> i64 {
        match self.result {
            Ok((_, log_append_time)) if log_append_time >= 0 => log_append_time,
            Ok(_) => r.timestamp,
            Err(_) => -1,
        }
    }
}
