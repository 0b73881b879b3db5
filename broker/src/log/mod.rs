//! One partition's log, laid out on disk as Kafka lays it out.
//!
//! A partition is a directory `<topic>-<partition>/` holding segments named by their base offset
//! (`00000000000000000000.log`) with a sparse offset index (`.index`) and time index
//! (`.timeindex`) beside each. Batches are stored exactly as the producer sent them, after CRC
//! validation and offset assignment, so Fetch serves bytes straight from the log. With no
//! directory the same structure lives in memory (tests, `--in-memory`).
//!
//! Concurrency: a `PartitionLog` is used behind one `Mutex` per partition (see [`SharedLog`]);
//! every method is synchronous and short.

use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// A partition log shared between request handlers.
pub type SharedLog = Arc<Mutex<PartitionLog>>;

/// Per-topic log settings, with Kafka's broker/topic property names in the doc comments.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `log.segment.bytes` / `segment.bytes` (default 1 GiB).
    pub segment_bytes: u64,
    /// `log.roll.ms` / `segment.ms` (default 7 days).
    pub segment_ms: i64,
    /// `log.retention.ms` / `retention.ms` (default 7 days; -1 = forever).
    pub retention_ms: i64,
    /// `log.retention.bytes` / `retention.bytes` (default -1 = unlimited).
    pub retention_bytes: i64,
    /// `log.index.interval.bytes` / `index.interval.bytes` (default 4096).
    pub index_interval_bytes: usize,
    /// `log.message.timestamp.type` / `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.max.bytes` (default 1048588): the largest batch accepted.
    pub max_message_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            timestamp_type: TimestampType::CreateTime,
            max_message_bytes: 1_048_588,
        }
    }
}

/// Which timestamp a topic keeps: the producer's, or the broker's at append time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's timestamp when the topic uses LogAppendTime, else -1.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// True when the batch was a retry of one already in the log (idempotent producer):
    /// the offsets are the original ones and nothing was appended.
    pub duplicate: bool,
}

/// Why an append was refused: a Kafka error code and a message for the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendError {
    pub code: i16,
    pub message: String,
}

/// One partition's log.
pub struct PartitionLog {
    // Implementation: log/segment.rs, log/index.rs, log/time_index.rs, log/batch.rs,
    // log/producer_state.rs, log/recovery.rs.
}

impl PartitionLog {
    /// Opens the log in `dir` (created if missing), recovering the active segment: CRCs are
    /// checked, a torn tail is truncated, missing indexes are rebuilt, and idempotent producer
    /// state is rebuilt from the batches. `None` gives an in-memory log.
    pub fn open(dir: Option<&Path>, config: LogConfig) -> std::io::Result<PartitionLog> {
        let _ = (dir, config);
        todo!("log agent")
    }

    /// Validates one v2 record batch from a Produce request (magic, CRC, record count, size,
    /// producer id / epoch / sequence) and appends it with offsets assigned.
    pub fn append(&mut self, batch: Bytes, now_ms: i64) -> Result<AppendResult, AppendError> {
        let _ = (batch, now_ms);
        todo!("log agent")
    }

    /// Appends a batch the broker built itself (internal topics); still assigns offsets.
    pub fn append_internal(&mut self, batch: Bytes, now_ms: i64) -> Result<AppendResult, AppendError> {
        let _ = (batch, now_ms);
        todo!("log agent")
    }

    /// Reads whole batches starting with the one that holds `offset`, up to `max_bytes`; when
    /// `min_one` the first batch is returned even if larger. `Err(code)` is OFFSET_OUT_OF_RANGE.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes, i16> {
        let _ = (offset, max_bytes, min_one);
        todo!("log agent")
    }

    pub fn log_start_offset(&self) -> i64 {
        todo!("log agent")
    }

    /// The next offset to be assigned; the high watermark on a single node.
    pub fn log_end_offset(&self) -> i64 {
        todo!("log agent")
    }

    /// The earliest offset whose timestamp is >= `timestamp_ms`, with that timestamp.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Option<(i64, i64)> {
        let _ = timestamp_ms;
        todo!("log agent")
    }

    /// The largest timestamp in the log and its offset (ListOffsets MAX_TIMESTAMP, -3).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        todo!("log agent")
    }

    /// DeleteRecords: moves the log start offset to `offset` (deleting whole segments below it).
    /// Returns the new log start offset, or OFFSET_OUT_OF_RANGE when past the end.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, i16> {
        let _ = offset;
        todo!("log agent")
    }

    /// Applies `retention.ms` / `retention.bytes`, deleting whole old segments; rolls the
    /// active segment when `segment.ms` has passed. Returns how many segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> usize {
        let _ = now_ms;
        todo!("log agent")
    }

    /// The highest producer id seen in this log, so new ids never collide after a restart.
    pub fn max_producer_id(&self) -> i64 {
        todo!("log agent")
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        todo!("log agent")
    }

    /// Writes buffered data and indexes to disk.
    pub fn flush(&mut self) -> std::io::Result<()> {
        todo!("log agent")
    }

    /// Changes the settings (DescribeConfigs / alter); takes effect on the next append.
    pub fn set_config(&mut self, config: LogConfig) {
        let _ = config;
        todo!("log agent")
    }

    pub fn config(&self) -> &LogConfig {
        todo!("log agent")
    }
}
