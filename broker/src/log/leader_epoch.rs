//! The leader epoch cache (KIP-101): for each leader epoch that appended to this log, the
//! offset of its first batch. A leader answers OffsetForLeaderEpoch from it, and a follower
//! uses the answer to cut the records its log holds past where the new leader's log diverges
//! (what a high watermark alone cannot tell: a follower's HW may lag records every in-sync
//! replica holds, and an old leader's tail may hold records nobody else does). Kept in
//! `leader-epoch-checkpoint` beside the segments, in Kafka's text layout.

use std::io;
use std::path::Path;

/// The cache's file in the partition directory.
pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";

/// Kafka's sentinel for "no such epoch" and "no such offset" in OffsetForLeaderEpoch answers.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

/// One epoch and the offset its first batch got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// Entries ascending by epoch and by start offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochCache {
    entries: Vec<EpochEntry>,
}

impl EpochCache {
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// Records that `epoch` appends from `start_offset` on; true when this is a new entry
    /// (the caller persists it). An older or equal epoch changes nothing; an entry at or past
    /// `start_offset` is superseded (a leader that appended nothing in its epoch).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || self.latest().is_some_and(|l| epoch <= l.epoch) {
            return false;
        }
        self.entries.retain(|e| e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// The answer to OffsetForLeaderEpoch for `requested`: the largest epoch at or below it
    /// that this log has and where the epoch after it starts (the log end for the latest
    /// epoch). A requested epoch past the latest, or an empty cache, is undefined.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        let Some(latest) = self.latest() else {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        };
        if requested == latest.epoch {
            return (latest.epoch, log_end_offset);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => (floor.epoch, higher.start_offset),
            // Older than anything here: the log starts at the first known epoch.
            None => (requested, higher.start_offset),
        }
    }

    /// Forgets the epochs that start at or after `end_offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        self.entries.retain(|e| e.start_offset < end_offset);
    }

    /// Reads the checkpoint in `dir`; `None` when there is none or it does not parse.
    pub fn read(dir: &Path) -> Option<EpochCache> {
        let text = std::fs::read_to_string(dir.join(CHECKPOINT_FILE)).ok()?;
        let mut lines = text.lines();
        if lines.next()?.trim() != "0" {
            return None;
        }
        let count: usize = lines.next()?.trim().parse().ok()?;
        let mut cache = EpochCache::default();
        for line in lines.take(count) {
            let (epoch, offset) = line.trim().split_once(' ')?;
            cache.entries.push(EpochEntry {
                epoch: epoch.parse().ok()?,
                start_offset: offset.parse().ok()?,
            });
        }
        (cache.entries.len() == count).then_some(cache)
    }

    /// Replaces the checkpoint in `dir` (atomically: a crash leaves the old one or the new).
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        crate::durable::replace_file(&dir.join(CHECKPOINT_FILE), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut c = EpochCache::default();
        for (e, o) in entries {
            assert!(c.assign(*e, *o));
        }
        c
    }

    #[test]
    fn end_offsets_are_where_the_next_epoch_starts_and_the_log_end_for_the_latest() {
        let c = cache(&[(0, 0), (2, 10), (5, 30)]);
        assert_eq!(c.end_offset_for(5, 42), (5, 42));
        assert_eq!(c.end_offset_for(2, 42), (2, 30));
        assert_eq!(c.end_offset_for(0, 42), (0, 10));
        // An epoch this log never had ends where the next one it had starts.
        assert_eq!(c.end_offset_for(3, 42), (2, 30));
        assert_eq!(c.end_offset_for(6, 42), (UNDEFINED_EPOCH, UNDEFINED_OFFSET));
        assert_eq!(
            EpochCache::default().end_offset_for(0, 42),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
    }

    #[test]
    fn older_epochs_are_ignored_and_an_empty_epoch_is_superseded() {
        let mut c = cache(&[(1, 0)]);
        assert!(!c.assign(1, 5));
        assert!(!c.assign(0, 7));
        assert!(c.assign(3, 7));
        // Epoch 3 appended nothing before epoch 4 took over at the same offset.
        assert!(c.assign(4, 7));
        assert_eq!(c, cache(&[(1, 0), (4, 7)]));
        c.truncate_from_end(7);
        assert_eq!(c, cache(&[(1, 0)]));
    }

    #[test]
    fn the_checkpoint_round_trips_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(&[(0, 0), (3, 120)]);
        c.write(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CHECKPOINT_FILE)).unwrap(),
            "0\n2\n0 0\n3 120\n"
        );
        assert_eq!(EpochCache::read(dir.path()), Some(c));
        std::fs::write(dir.path().join(CHECKPOINT_FILE), "0\n2\n0 0\n").unwrap();
        assert_eq!(EpochCache::read(dir.path()), None);
    }
}
