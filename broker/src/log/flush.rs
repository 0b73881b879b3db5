//! When a partition's log reaches the disk: Kafka's flush settings and the recovery point.
//!
//! An append writes its batch to the segment file with `pwrite(2)`: from then on it is in the
//! kernel's page cache and survives the broker process dying (a crash, a SIGKILL), but not the
//! machine losing power, until the kernel writes it back. An fsync (`flush`) forces the
//! segments past the recovery point to the disk (data, both indexes, the `.txnindex`) and
//! moves the recovery point to the log end. It happens:
//!
//! - on an append that leaves `flush.messages` offsets or more past the recovery point (Kafka
//!   counts offsets, so a transaction marker counts as one; default `Long.MAX_VALUE`: never);
//! - on the flusher's pass (every `log.flush.scheduler.interval.ms`) for a partition whose
//!   oldest unflushed append is `flush.ms` old (default `Long.MAX_VALUE`: never);
//! - when a segment rolls (the old segment is complete: it is synced, and a producer-state
//!   snapshot is written at the new segment's base offset);
//! - at a clean shutdown ([`PartitionLog::close`]), which also writes a snapshot at the end.
//!
//! In-memory logs have nothing to flush and ignore all of it.

use std::io;

use super::{snapshot, PartitionLog, Segment};

impl PartitionLog {
    /// Below this offset the log is on disk (fsynced); the topic manager checkpoints it.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// What opening this log read, and how many flushes fsynced it since.
    pub fn stats(&self) -> super::LogStats {
        self.stats
    }

    /// Fsyncs every segment with data past the recovery point (data, indexes, `.txnindex`) and
    /// moves the recovery point to the log end. Does nothing when nothing is unflushed.
    pub fn flush(&mut self) -> io::Result<()> {
        let end = self.log_end_offset();
        if self.dir.is_none() || end <= self.recovery_point {
            self.first_unflushed_ms = None;
            return Ok(());
        }
        let rp = self.recovery_point;
        let from = self.segments.partition_point(|s| s.next_offset <= rp);
        for seg in &mut self.segments[from..] {
            seg.flush()?;
        }
        self.recovery_point = end;
        self.first_unflushed_ms = None;
        self.stats.flushes += 1;
        Ok(())
    }

    /// The flusher's check: fsyncs the log when its oldest unflushed append is at least
    /// `flush.ms` old at `now_ms`. Whether it flushed.
    pub fn flush_if_due(&mut self, now_ms: i64) -> io::Result<bool> {
        match self.first_unflushed_ms {
            Some(since) if now_ms.saturating_sub(since) >= self.config.flush_ms => {
                self.flush()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// A clean shutdown's flush: everything to disk, and the producer-state snapshot at the log
    /// end, so the next start reads no batch.
    pub fn close(&mut self) -> io::Result<()> {
        self.flush()?;
        self.snapshot_at_end()
    }

    /// After an append (`now_ms` its time): counts it against `flush.ms`, and flushes when
    /// `flush.messages` offsets are past the recovery point.
    pub(super) fn after_append(&mut self, now_ms: i64) -> io::Result<()> {
        if self.dir.is_none() {
            return Ok(());
        }
        self.first_unflushed_ms.get_or_insert(now_ms);
        if self.log_end_offset() - self.recovery_point >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(())
    }

    /// Rolls: the full segment is synced, the new one created, and the producer state at its
    /// base offset written beside it (the rename's directory sync also covers the new files).
    pub(super) fn roll(&mut self, now_ms: i64) -> io::Result<()> {
        let next = self.log_end_offset();
        self.flush()?;
        let seg = Segment::create(
            self.dir.as_deref(),
            next,
            self.config.index_interval_bytes,
            now_ms,
        )?;
        self.segments.push(seg);
        // Without the snapshot a start replays batch headers instead: not worth failing an
        // append for.
        if let Err(e) = self.snapshot_at_end() {
            tracing::warn!(
                offset = next,
                "writing a producer-state snapshot failed: {e}"
            );
            if let Some(dir) = &self.dir {
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
        }
        Ok(())
    }

    /// Writes the producer-state snapshot at the log end, unless it is there already or the log
    /// holds no batch (a start with no snapshot begins with an empty state).
    fn snapshot_at_end(&mut self) -> io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let end = self.log_end_offset();
        if self.snapshot_at_end == Some(end) || self.size_bytes() == 0 {
            return Ok(());
        }
        snapshot::write(dir, end, &self.producers, &self.txns)?;
        self.snapshot_at_end = Some(end);
        Ok(())
    }
}
