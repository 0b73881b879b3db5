//! One partition's log, laid out on disk as Kafka lays it out.
//!
//! A partition is a directory `<topic>-<partition>/` holding segments named by their base offset
//! (`00000000000000000000.log`) with a sparse offset index (`.index`) and time index
//! (`.timeindex`) beside each. Batches are stored exactly as the producer sent them, after CRC
//! validation and offset assignment, so Fetch serves bytes straight from the log. With no
//! directory the same structure lives in memory (tests, `--in-memory`). When appends reach
//! the disk (fsync, the recovery point) is `flush.rs`; what a start-up trusts and what it reads
//! again is `recovery.rs`.
//!
//! Concurrency: a `PartitionLog` is used behind one `Mutex` per partition (see [`SharedLog`]);
//! every method is synchronous and short. On a durable broker request handlers call the
//! methods that touch files from tokio's blocking pool (`api::off_workers`); the group
//! coordinator's appends to `__consumer_offsets` are the exception.

mod batch;
mod build;
pub mod checkpoint;
mod cleaner;
mod control;
mod flush;
mod index;
pub mod leader_epoch;
mod producer_state;
mod records;
mod recovery;
mod replay;
mod segment;
mod snapshot;
mod truncate;
mod txn_index;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

pub use batch::{BatchHeader, HEADER_LEN};
pub use build::internal_batch;
pub use cleaner::CleanStats;
pub use control::ControlType;
pub use recovery::LogStats;
pub use replay::REPLAY_CHUNK;
pub use txn_index::AbortedTxn;

/// A batch of `n` records, for other modules' tests.
#[cfg(test)]
pub(crate) fn batch_for_tests(n: usize) -> Bytes {
    batch::tests::batch(n, None, 0)
}
use leader_epoch::EpochCache;
use producer_state::{ProducerState, SequenceCheck};
use segment::Segment;
use txn_index::TxnIndex;

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
    /// `cleanup.policy` contains `delete`: retention deletes old segments (default).
    pub delete: bool,
    /// `cleanup.policy` contains `compact`: the cleaner keeps the latest record per key, and
    /// records without a key are refused.
    pub compact: bool,
    /// `min.cleanable.dirty.ratio` (default 0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms` (default 0).
    pub min_compaction_lag_ms: i64,
    /// `delete.retention.ms` (default 1 day): how long a compacted tombstone stays.
    pub delete_retention_ms: i64,
    /// `log.flush.interval.messages` / `flush.messages` (default `Long.MAX_VALUE`: never): an
    /// append leaving this many offsets past the recovery point fsyncs the log (`flush.rs`).
    pub flush_messages: i64,
    /// `log.flush.interval.ms` / `flush.ms` (default `Long.MAX_VALUE`: never): the flusher
    /// fsyncs a log whose oldest unflushed append is this old.
    pub flush_ms: i64,
    /// `min.insync.replicas` (default 1): an acks=all append needs this many in-sync replicas.
    pub min_insync_replicas: i32,
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
            delete: true,
            compact: false,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            delete_retention_ms: 86_400_000,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            min_insync_replicas: 1,
        }
    }
}

/// `cleanup.policy`: `delete`, `compact`, or both (comma-separated) → (delete, compact).
pub fn parse_cleanup_policy(v: &str) -> Result<(bool, bool), String> {
    let (mut delete, mut compact) = (false, false);
    for p in v.split(',').map(str::trim) {
        match p {
            "delete" => delete = true,
            "compact" => compact = true,
            _ => {
                return Err(format!(
                    "`{v}` is not a cleanup.policy (delete, compact or both)"
                ))
            }
        }
    }
    Ok((delete, compact))
}

/// The `cleanup.policy` value of a config.
pub fn cleanup_policy_name(c: &LogConfig) -> &'static str {
    match (c.delete, c.compact) {
        (true, true) => "compact,delete",
        (false, true) => "compact",
        _ => "delete",
    }
}

/// `min.cleanable.dirty.ratio`: a number from 0 to 1.
pub fn parse_dirty_ratio(v: &str) -> Result<f64, String> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("`{v}` is not a ratio from 0 to 1"))
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
    /// The partition directory; `None` for an in-memory log.
    dir: Option<PathBuf>,
    config: LogConfig,
    /// Sorted by base offset; never empty: the last one is the active segment.
    segments: Vec<Segment>,
    log_start_offset: i64,
    producers: ProducerState,
    /// Open and aborted transactions (the LSO and read_committed fetches).
    txns: TxnIndex,
    /// Below this offset the log was compacted by an earlier pass (in memory: after a restart
    /// the first pass cleans again, which changes nothing).
    cleaned_up_to: i64,
    /// Fetches parked on this partition: each is notified after every append while its
    /// handler keeps the `Arc` (see [`PartitionLog::notify_on_append`]).
    waiters: Vec<Weak<Notify>>,
    /// Below this offset everything is fsynced (`flush.rs`).
    recovery_point: i64,
    /// When the oldest append past the recovery point was made (`flush.ms`).
    first_unflushed_ms: Option<i64>,
    /// The log end, while the producer-state snapshot of it is on disk.
    snapshot_at_end: Option<i64>,
    stats: LogStats,
    /// A replicated partition's high watermark (`cluster/high_watermark.rs` moves it); `None`
    /// while it is the log end (see [`PartitionLog::high_watermark`]).
    high_watermark: Option<i64>,
    /// Where each leader epoch's appends start (`leader_epoch.rs`).
    epochs: EpochCache,
    /// The epoch stamped on the batches this log appends as its partition's leader.
    leader_epoch: i32,
}

/// File in the partition directory keeping the log start offset moved by DeleteRecords.
const LOG_START_FILE: &str = "log-start-offset";

fn error(code: i16, message: impl Into<String>) -> AppendError {
    AppendError {
        code,
        message: message.into(),
    }
}

impl PartitionLog {
    /// Opens the log in `dir` (created if missing) without a recovery point: every batch
    /// header is read, the active segment's CRCs are checked, a torn tail is truncated, missing
    /// indexes are rebuilt, and idempotent producer state and transactions (open ones, aborted
    /// ones and their `.txnindex` files) are rebuilt from the batches. `None` gives an
    /// in-memory log.
    pub fn open(dir: Option<&Path>, config: LogConfig) -> io::Result<PartitionLog> {
        Self::open_recovering(dir, config, None)
    }

    /// [`open`](Self::open) trusting what lies below `recovery_point` (from the recovery-point
    /// checkpoint): those segments are opened from their index files without reading their
    /// batches, producer state comes from a snapshot, and only the rest is scanned and checked
    /// (`recovery.rs`).
    pub fn open_recovering(
        dir: Option<&Path>,
        config: LogConfig,
        recovery_point: Option<i64>,
    ) -> io::Result<PartitionLog> {
        let loaded = recovery::load(dir, &config, recovery_point)?;
        let end = loaded.segments.last().map_or(0, |s| s.next_offset);
        let unflushed = loaded.recovery_point < end;
        let epochs = load_epochs(dir, &loaded.segments, end)?;
        let leader_epoch = epochs.latest().map_or(0, |e| e.epoch);
        Ok(PartitionLog {
            dir: dir.map(Path::to_path_buf),
            config,
            segments: loaded.segments,
            log_start_offset: loaded.log_start_offset,
            producers: loaded.producers,
            txns: loaded.txns,
            recovery_point: loaded.recovery_point,
            first_unflushed_ms: unflushed.then(now_ms),
            snapshot_at_end: loaded.snapshot_at_end,
            stats: loaded.stats,
            cleaned_up_to: 0,
            waiters: Vec::new(),
            high_watermark: None,
            epochs,
            leader_epoch,
        })
    }

    /// Validates one v2 record batch from a Produce request (magic, CRC, record count, size,
    /// producer id / epoch / sequence) and appends it with offsets assigned.
    pub fn append(&mut self, batch: Bytes, now_ms: i64) -> Result<AppendResult, AppendError> {
        self.append_checked(batch, now_ms, true)
    }

    /// Appends a batch the broker built itself (internal topics); still assigns offsets.
    pub fn append_internal(
        &mut self,
        batch: Bytes,
        now_ms: i64,
    ) -> Result<AppendResult, AppendError> {
        self.append_checked(batch, now_ms, false)
    }

    fn append_checked(
        &mut self,
        batch: Bytes,
        now_ms: i64,
        from_client: bool,
    ) -> Result<AppendResult, AppendError> {
        let h = BatchHeader::parse(&batch)
            .ok_or_else(|| error(2, "record batch shorter than its header"))?;
        if h.magic != 2 {
            return Err(error(
                43,
                format!(
                    "message format v{} is not supported; v2 is required",
                    h.magic
                ),
            ));
        }
        if batch.len() > self.config.max_message_bytes {
            return Err(error(
                10,
                format!(
                    "batch of {} bytes exceeds max.message.bytes {}",
                    batch.len(),
                    self.config.max_message_bytes
                ),
            ));
        }
        if h.length < 0 || h.total_size() > batch.len() {
            return Err(error(2, "record batch length exceeds the bytes sent"));
        }
        if h.total_size() < batch.len() {
            return Err(error(
                87,
                "a produce request must carry exactly one record batch per partition",
            ));
        }
        if !batch::crc_ok(&batch) {
            return Err(error(2, "record batch CRC does not match its contents"));
        }
        if h.records_count <= 0 || h.records_count != h.last_offset_delta + 1 {
            return Err(error(
                87,
                format!(
                    "records count {} does not match last offset delta {}",
                    h.records_count, h.last_offset_delta
                ),
            ));
        }
        if from_client && h.is_control() {
            return Err(error(87, "clients may not produce control batches"));
        }
        if from_client {
            records::check(&batch, &h, self.config.compact).map_err(|reason| error(87, reason))?;
        }
        if from_client && h.producer_id >= 0 {
            if let SequenceCheck::Duplicate {
                first_offset,
                last_offset,
            } = self.producers.check(&h)?
            {
                return Ok(AppendResult {
                    base_offset: first_offset,
                    last_offset,
                    log_append_time_ms: -1,
                    log_start_offset: self.log_start_offset,
                    duplicate: true,
                });
            }
        }
        let base_offset = self.log_end_offset();
        let mut bytes = BytesMut::from(batch);
        batch::assign_offsets(&mut bytes, base_offset, self.leader_epoch);
        let log_append_time_ms = if self.config.timestamp_type == TimestampType::LogAppendTime {
            batch::set_log_append_time(&mut bytes, now_ms);
            now_ms
        } else {
            -1
        };
        let h = BatchHeader::parse(&bytes).expect("header parsed above");
        self.write_batch(&bytes, &h, now_ms)?;
        Ok(AppendResult {
            base_offset,
            last_offset: h.last_offset(),
            log_append_time_ms,
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// Writes one batch whose offsets are final: the segment, producer state, transactions,
    /// `flush.messages`, and the fetches parked on this log.
    fn write_batch(
        &mut self,
        bytes: &[u8],
        h: &BatchHeader,
        now_ms: i64,
    ) -> Result<(), AppendError> {
        self.maybe_roll(bytes.len(), now_ms).map_err(io_error)?;
        self.active().append(bytes, h).map_err(io_error)?;
        self.producers.record(h);
        if self.epochs.assign(h.partition_leader_epoch, h.base_offset) {
            self.save_epochs().map_err(io_error)?;
        }
        if h.is_transactional() {
            let marker = h
                .is_control()
                .then(|| control::control_type(bytes))
                .flatten();
            let end = self.log_end_offset();
            if let Some(aborted) = self.txns.on_batch(h, marker, end) {
                self.active().append_aborted(&aborted).map_err(io_error)?;
            }
        }
        // `flush.messages`: with 1, what a fetch sees (and the producer's answer) is on disk.
        let flushed = self.after_append(now_ms);
        self.wake_waiters();
        flushed.map_err(io_error)
    }

    /// A follower's append: the batches a Fetch from the leader returned, kept exactly as the
    /// leader wrote them (offsets, producer ids and sequences, timestamps), so every replica
    /// holds the same log. Batches this log already holds are skipped, and a partial batch at
    /// the end (a fetch cut by its byte limit) is left for the next fetch. Returns the new
    /// log end.
    pub fn append_replicated(&mut self, records: Bytes, now_ms: i64) -> Result<i64, AppendError> {
        let mut rest = records;
        while let Some(h) = BatchHeader::parse(&rest) {
            let size = h.total_size();
            if h.length < 0 || size > rest.len() {
                break;
            }
            let batch = rest.split_to(size);
            if h.last_offset() < self.log_end_offset() {
                continue;
            }
            // An empty log starting inside this batch (it started at the leader's log start,
            // which DeleteRecords may put mid-batch): it starts at the batch instead, and the
            // leader's log start comes with the fetch answer (Kafka's follower does the same).
            if h.base_offset < self.log_end_offset() && self.size_bytes() == 0 {
                self.truncate_fully_and_start_at(h.base_offset)
                    .map_err(io_error)?;
            }
            if h.base_offset < self.log_end_offset() || h.magic != 2 || !batch::crc_ok(&batch) {
                return Err(error(
                    2,
                    format!(
                        "replicated batch at offset {} does not follow the log end {}",
                        h.base_offset,
                        self.log_end_offset()
                    ),
                ));
            }
            self.write_batch(&batch, &h, now_ms)?;
        }
        Ok(self.log_end_offset())
    }

    /// This replica leads its partition from now on in `epoch`: the batches it appends carry
    /// it, and its epoch cache says the epoch starts at the log end.
    pub fn become_leader(&mut self, epoch: i32) -> io::Result<()> {
        self.leader_epoch = epoch;
        if self.epochs.assign(epoch, self.log_end_offset()) {
            self.save_epochs()?;
        }
        Ok(())
    }

    /// The epoch this log stamps on what it appends.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// Wakes the fetches and acks=all produces parked on this log, to look again (its
    /// partition's leadership changed).
    pub fn wake_parked(&mut self) {
        self.wake_waiters();
    }

    /// Where the latest leader epoch's appends start (the log start before any).
    pub fn latest_epoch_start(&self) -> i64 {
        self.epochs
            .latest()
            .map_or(self.log_start_offset, |e| e.start_offset)
    }

    /// The latest leader epoch this log holds records of (or was led in), if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest().map(|e| e.epoch)
    }

    /// OffsetForLeaderEpoch's answer for `epoch`: (the largest epoch at or below it here,
    /// the offset where that epoch's appends end); (-1, -1) when undefined.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        if self.epochs.latest().is_none() {
            // Nothing appended yet: the current epoch starts at the log start.
            let mut current = EpochCache::default();
            current.assign(self.leader_epoch, self.log_start_offset);
            return current.end_offset_for(epoch, self.log_end_offset());
        }
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    fn save_epochs(&self) -> io::Result<()> {
        match &self.dir {
            Some(dir) => self.epochs.write(dir),
            None => Ok(()),
        }
    }

    /// The high watermark: below it every in-sync replica holds the records, and consumers
    /// read only below it. A log that is not replicated (one node, or a leader that is its
    /// partition's only in-sync replica) has it at its log end.
    pub fn high_watermark(&self) -> i64 {
        let end = self.log_end_offset();
        self.high_watermark.map_or(end, |hw| hw.min(end))
    }

    /// Whether the high watermark is tracked apart from the log end (a replicated partition).
    pub fn high_watermark_tracked(&self) -> bool {
        self.high_watermark.is_some()
    }

    /// Whether the high watermark follows the in-sync replicas (`Some(start)`, its value for
    /// now) or the log end (`None`). Parked fetches and acks=all produces are woken, as it
    /// may have moved.
    pub fn track_high_watermark(&mut self, start: Option<i64>) {
        self.high_watermark = start.map(|hw| hw.min(self.log_end_offset()));
        self.wake_waiters();
    }

    /// Moves a tracked high watermark forward to `hw` (never back, never past the log end),
    /// waking the fetches and acks=all produces parked on this log when it moves. Whether it
    /// moved.
    pub fn advance_high_watermark(&mut self, hw: i64) -> bool {
        let end = self.log_end_offset();
        match self.high_watermark {
            Some(old) if hw.min(end) > old => {
                self.high_watermark = Some(hw.min(end));
                self.wake_waiters();
                true
            }
            _ => false,
        }
    }

    /// Writes a transaction marker (COMMIT or ABORT) for `producer_id`, as the transaction
    /// coordinator does for every partition of an ending transaction. A marker older than the
    /// producer's epoch here is refused with INVALID_PRODUCER_EPOCH (47).
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendResult, AppendError> {
        if let Some(current) = self.producers.epoch_of(producer_id) {
            if producer_epoch < current {
                return Err(error(
                    47,
                    format!(
                        "marker epoch {producer_epoch} is older than producer {producer_id}'s epoch {current}"
                    ),
                ));
            }
        }
        let batch = control::marker_batch(
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
            now_ms,
        );
        self.append_checked(batch, now_ms, false)
    }

    /// Has `waiter` notified (`Notify::notify_one`, so a wake-up before the wait is kept)
    /// after every append to this log (client batches, transaction markers, internal records:
    /// whatever moves the end or the last stable offset), until the caller drops its `Arc`. A
    /// fetch registers under the lock it reads under, so no append after its read is missed,
    /// and only appends to the partitions it reads wake it.
    pub fn notify_on_append(&mut self, waiter: &Arc<Notify>) {
        self.waiters.retain(|w| w.strong_count() > 0);
        if !self
            .waiters
            .iter()
            .any(|w| w.as_ptr() == Arc::as_ptr(waiter))
        {
            self.waiters.push(Arc::downgrade(waiter));
        }
    }

    fn wake_waiters(&mut self) {
        self.waiters.retain(|w| match w.upgrade() {
            Some(waiter) => {
                waiter.notify_one();
                true
            }
            None => false,
        });
    }

    /// The last stable offset: below it every transaction is decided.
    pub fn last_stable_offset(&self) -> i64 {
        self.txns.last_stable_offset(self.log_end_offset())
    }

    /// Aborted transactions a read_committed fetch of `[from, to)` lists.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.txns.aborted_between(from, to)
    }

    /// The epoch this partition last saw from `producer_id` (fencing internal writes).
    pub fn producer_epoch(&self, producer_id: i64) -> Option<i16> {
        self.producers.epoch_of(producer_id)
    }

    /// Producers with a transaction open in this partition.
    pub fn open_transactions(&self) -> Vec<i64> {
        self.txns.open_producers().collect()
    }

    fn active(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has an active segment")
    }

    /// Starts a new segment when the active one would pass `segment.bytes` or is older than
    /// `segment.ms`.
    fn maybe_roll(&mut self, incoming: usize, now_ms: i64) -> io::Result<()> {
        let seg_bytes = self.config.segment_bytes;
        let seg_ms = self.config.segment_ms;
        let active = self.segments.last().expect("active segment");
        let full = active.size() + incoming as u64 > seg_bytes;
        let old = now_ms - active.created_ms >= seg_ms;
        if !active.is_empty() && (full || old) {
            self.roll(now_ms)?;
        }
        Ok(())
    }

    /// Reads whole batches starting with the one that holds `offset`, up to `max_bytes`; when
    /// `min_one` the first batch is returned even if larger. `Err(code)` is OFFSET_OUT_OF_RANGE.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes, i16> {
        self.read_below(offset, max_bytes, min_one, i64::MAX)
    }

    /// [`read`](Self::read) stopping before the first batch that starts at or past `limit`
    /// (the LSO for read_committed).
    ///
    /// The bytes are read once, straight into the buffer the Fetch response sends: the offset
    /// index finds where to start (and, below the log end, where `limit` is), one read per
    /// segment takes as much as the budget allows, and the batch headers are walked in that
    /// buffer (not with a read each) to cut it after the last whole batch that fits. The
    /// buffer is sized before the first read, so it never moves; a read spanning segments
    /// fills it segment after segment.
    pub fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        limit: i64,
    ) -> Result<Bytes, i16> {
        if offset < self.log_start_offset || offset > self.log_end_offset() {
            return Err(1);
        }
        let io = |_: io::Error| -1i16;
        // Behind an open transaction, nothing past the LSO is read (however much it wrote).
        let stop = if limit < self.log_end_offset() {
            Some(self.position_of(limit).map_err(io)?)
        } else {
            None
        };
        let end_of = |i: usize| match stop {
            Some((j, position)) if i == j => position,
            Some((j, _)) if i > j => 0,
            _ => self.segments[i].size(),
        };
        let first = self.segments.partition_point(|s| s.next_offset <= offset);
        // The batch holding `offset`; compaction leaves gaps (and the cleaner may empty a
        // segment), so it may be the first batch of a later segment.
        let mut start = None;
        for (i, seg) in self.segments.iter().enumerate().skip(first) {
            let position = if offset > seg.base_offset {
                seg.find_position(offset).map_err(io)?
            } else {
                Some(0)
            };
            if let Some(p) = position.filter(|p| *p < end_of(i)) {
                start = Some((i, p));
                break;
            }
        }
        let Some((first, position)) = start else {
            return Ok(Bytes::new());
        };
        let available = (first..self.segments.len()).map(end_of).sum::<u64>() - position;
        let mut wanted = max_bytes;
        if min_one {
            if let Some(h) = self.segments[first].header_at(position).map_err(io)? {
                wanted = wanted.max(h.total_size());
            }
        }
        let cap = available.min(wanted as u64) as usize;
        let mut out = BytesMut::zeroed(cap);
        let mut filled = 0;
        let mut budget = max_bytes;
        let mut need_one = min_one;
        for (i, seg) in self.segments.iter().enumerate().skip(first) {
            let from = if i == first { position } else { 0 };
            let in_segment = end_of(i).saturating_sub(from) as usize;
            let n = in_segment.min(cap - filled);
            if n == 0 {
                if in_segment == 0 && end_of(i) == seg.size() {
                    continue; // emptied by the cleaner: the records go on in the next one
                }
                break;
            }
            let read = &mut out[filled..filled + n];
            seg.read_into(from, read).map_err(io)?;
            let mut kept = 0;
            let mut cut = false;
            while let Some(h) = BatchHeader::parse(&read[kept..]) {
                let size = h.total_size();
                if h.base_offset >= limit || kept + size > n || (size > budget && !need_one) {
                    cut = true;
                    break;
                }
                kept += size;
                budget = budget.saturating_sub(size);
                need_one = false;
            }
            filled += kept;
            // A batch that did not fit ends the read: the next segment's records come after
            // the ones left out here.
            if cut || kept < in_segment || budget == 0 || end_of(i) < seg.size() {
                break;
            }
        }
        out.truncate(filled);
        Ok(out.freeze())
    }

    /// Where the batch holding `offset` starts (segment index, byte position), or the first
    /// batch after it when compaction removed it; the end of the log for the log end offset.
    fn position_of(&self, offset: i64) -> io::Result<(usize, u64)> {
        let i = self.segments.partition_point(|s| s.next_offset <= offset);
        let Some(seg) = self.segments.get(i) else {
            let last = self.segments.len() - 1;
            return Ok((last, self.segments[last].size()));
        };
        if offset <= seg.base_offset {
            return Ok((i, 0));
        }
        let Some(p) = seg.find_position(offset)? else {
            return Ok((i, seg.size()));
        };
        // A batch starting below `offset` is still read (the walk stops at batches starting
        // at or past it): the bound is after it.
        Ok(match seg.header_at(p)? {
            Some(h) if h.base_offset < offset => (i, p + h.total_size() as u64),
            _ => (i, p),
        })
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The next offset to be assigned (the log end offset, LEO); the high watermark on a
    /// single node.
    pub fn log_end_offset(&self) -> i64 {
        self.segments.last().map_or(0, |s| s.next_offset)
    }

    /// The earliest offset whose timestamp is >= `timestamp_ms`, with that timestamp.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Option<(i64, i64)> {
        for seg in &self.segments {
            let Ok(Some((base, _))) = seg.find_timestamp(timestamp_ms) else {
                continue;
            };
            let pos = seg.find_position(base).ok()??;
            let h = seg.header_at(pos).ok()??;
            let bytes = seg.read_at(pos, h.total_size()).ok()?;
            // The index finds the batch; the exact record needs the records themselves.
            let sets =
                kafka_protocol::records::RecordBatchDecoder::decode_all(&mut Bytes::from(bytes))
                    .ok()?;
            let found = sets
                .iter()
                .flat_map(|s| s.records.iter())
                .map(|r| {
                    (
                        r.offset,
                        if h.attributes & 0x08 != 0 {
                            h.max_timestamp
                        } else {
                            r.timestamp
                        },
                    )
                })
                .find(|(off, ts)| *ts >= timestamp_ms && *off >= self.log_start_offset);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The largest timestamp in the log and its offset (ListOffsets MAX_TIMESTAMP, -3).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.segments
            .iter()
            .filter(|s| !s.is_empty())
            .fold(None, |best: Option<(i64, i64)>, s| match best {
                Some((_, ts)) if ts >= s.max_timestamp => best,
                _ => Some((s.max_timestamp_offset, s.max_timestamp)),
            })
    }

    /// DeleteRecords: moves the log start offset to `offset` (deleting whole segments below it).
    /// Returns the new log start offset, or OFFSET_OUT_OF_RANGE when past the end.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, i16> {
        let end = self.log_end_offset();
        let offset = if offset == -1 { end } else { offset };
        if offset < 0 || offset > end {
            return Err(1);
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        self.log_start_offset = offset;
        if offset == end && !self.segments.last().expect("active").is_empty() {
            self.roll(now_ms()).map_err(|_| -1i16)?;
        }
        self.delete_segments_below_start().map_err(|_| -1i16)?;
        if let Some(dir) = &self.dir {
            crate::durable::replace_file(&dir.join(LOG_START_FILE), offset.to_string().as_bytes())
                .map_err(|_| -1i16)?;
        }
        Ok(offset)
    }

    /// Drops non-active segments that lie wholly below the log start offset.
    fn delete_segments_below_start(&mut self) -> io::Result<()> {
        while self.segments.len() > 1 && self.segments[0].next_offset <= self.log_start_offset {
            self.segments.remove(0).delete()?;
        }
        self.txns.drop_below(self.log_start_offset);
        Ok(())
    }

    /// Applies `retention.ms` / `retention.bytes`, deleting whole old segments; rolls the
    /// active segment when `segment.ms` has passed. Returns how many segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> usize {
        let mut deleted = 0;
        if let Err(e) = self.maybe_roll(0, now_ms) {
            tracing::warn!("segment roll failed: {e}");
        }
        if !self.config.delete {
            return 0;
        }
        let retention_ms = self.config.retention_ms;
        let retention_bytes = self.config.retention_bytes;
        let mut total = self.size_bytes();
        while self.segments.len() > 1 {
            let oldest = &self.segments[0];
            let expired = retention_ms >= 0 && oldest.max_timestamp < now_ms - retention_ms;
            let over = retention_bytes >= 0 && total - oldest.size() >= retention_bytes as u64;
            if !(expired || over) {
                break;
            }
            let seg = self.segments.remove(0);
            total -= seg.size();
            if let Err(e) = seg.delete() {
                tracing::warn!("deleting an expired segment failed: {e}");
            }
            deleted += 1;
        }
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset);
        self.txns.drop_below(self.log_start_offset);
        deleted
    }

    /// The highest producer id seen in this log, so new ids never collide after a restart.
    pub fn max_producer_id(&self) -> i64 {
        self.producers.max_producer_id()
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size).sum()
    }

    /// Number of segments (the active one included).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Changes the settings (DescribeConfigs / alter); takes effect on the next append.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Deletes every segment and the partition directory (DeleteTopics).
    pub fn delete(self) -> io::Result<()> {
        for seg in self.segments {
            seg.delete()?;
        }
        if let Some(dir) = self.dir {
            std::fs::remove_dir_all(dir)?;
        }
        Ok(())
    }
}

fn io_error(e: io::Error) -> AppendError {
    error(-1, format!("log I/O failed: {e}"))
}

/// Milliseconds since the Unix epoch.
/// The leader epoch cache of a log just opened: its checkpoint, else (a log written before
/// there was one) every batch header read once; epochs past the log end (a torn tail) go.
fn load_epochs(dir: Option<&Path>, segments: &[Segment], end: i64) -> io::Result<EpochCache> {
    let Some(dir) = dir else {
        return Ok(EpochCache::default());
    };
    let mut epochs = match EpochCache::read(dir) {
        Some(cache) => cache,
        None => {
            let mut cache = EpochCache::default();
            for seg in segments {
                seg.replay(&mut |h, _| {
                    cache.assign(h.partition_leader_epoch, h.base_offset);
                })?;
            }
            if cache.latest().is_some() {
                cache.write(dir)?;
            }
            cache
        }
    };
    epochs.truncate_from_end(end);
    Ok(epochs)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod tests;
