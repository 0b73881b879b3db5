//! Sparse indexes of a segment: offset → file position and timestamp → offset.
//!
//! As in Kafka, an entry is added every `index.interval.bytes` of log data, so a lookup is a
//! binary search followed by a short scan of batch headers. Entries are kept in memory and
//! appended to the `.index` (8-byte: relative offset u32, position u32) and `.timeindex`
//! (12-byte: timestamp i64, relative offset u32) files. A segment below the recovery point is
//! opened from these files (checked: sorted, within the segment); any other segment has them
//! rebuilt from its batch headers, and the files rewritten when they disagree (missing, torn,
//! stale).

/// One offset-index entry, relative to the segment's base offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// One time-index entry: the largest timestamp seen so far, and the offset where it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl OffsetEntry {
    pub const SIZE: usize = 8;

    pub fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        b[4..].copy_from_slice(&self.position.to_be_bytes());
        b
    }

    /// Reads one entry of an `.index` file.
    pub fn decode(b: &[u8]) -> OffsetEntry {
        OffsetEntry {
            relative_offset: u32::from_be_bytes(b[..4].try_into().expect("8-byte entry")),
            position: u32::from_be_bytes(b[4..8].try_into().expect("8-byte entry")),
        }
    }
}

impl TimeEntry {
    pub const SIZE: usize = 12;

    pub fn encode(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..].copy_from_slice(&self.relative_offset.to_be_bytes());
        b
    }

    /// Reads one entry of a `.timeindex` file.
    pub fn decode(b: &[u8]) -> TimeEntry {
        TimeEntry {
            timestamp: i64::from_be_bytes(b[..8].try_into().expect("12-byte entry")),
            relative_offset: u32::from_be_bytes(b[8..12].try_into().expect("12-byte entry")),
        }
    }
}

/// Position to start scanning from for `relative_offset`: the last entry at or below it.
pub fn lookup_position(entries: &[OffsetEntry], relative_offset: u32) -> u32 {
    match entries.partition_point(|e| e.relative_offset <= relative_offset) {
        0 => 0,
        i => entries[i - 1].position,
    }
}

/// Relative offset to start scanning from for `timestamp`: the entry before the first one
/// whose timestamp reaches it (earlier batches may still hold larger timestamps).
pub fn lookup_timestamp(entries: &[TimeEntry], timestamp: i64) -> u32 {
    match entries.partition_point(|e| e.timestamp < timestamp) {
        0 => 0,
        i => entries[i - 1].relative_offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_finds_floor_entry() {
        let e = [
            OffsetEntry {
                relative_offset: 0,
                position: 0,
            },
            OffsetEntry {
                relative_offset: 10,
                position: 4096,
            },
            OffsetEntry {
                relative_offset: 25,
                position: 8300,
            },
        ];
        assert_eq!(lookup_position(&e, 0), 0);
        assert_eq!(lookup_position(&e, 9), 0);
        assert_eq!(lookup_position(&e, 10), 4096);
        assert_eq!(lookup_position(&e, 24), 4096);
        assert_eq!(lookup_position(&e, 1000), 8300);
        assert_eq!(lookup_position(&[], 5), 0);
    }

    #[test]
    fn time_lookup_starts_before_first_reaching_entry() {
        let t = [
            TimeEntry {
                timestamp: 5,
                relative_offset: 0,
            },
            TimeEntry {
                timestamp: 9,
                relative_offset: 4,
            },
        ];
        assert_eq!(lookup_timestamp(&t, 3), 0);
        assert_eq!(lookup_timestamp(&t, 7), 0);
        assert_eq!(lookup_timestamp(&t, 10), 4);
        assert_eq!(t[1].encode()[8..], 4u32.to_be_bytes());
    }
}
