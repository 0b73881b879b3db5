//! Opening a partition's log from its directory: what is trusted, what is read again.
//!
//! With a recovery point (from the data dir's checkpoint, `checkpoint.rs`), the segments wholly
//! below it were fsynced before the checkpoint named it, so they are opened from their index
//! files (`Segment::open_indexed`) without reading their batches; the segments from the one
//! holding the recovery point on may hold writes that never reached the disk, so each of their
//! batches is read and its CRC checked, and a torn or corrupt tail is truncated.
//!
//! Producer state and transactions come from the batches a scan reads; for the skipped part
//! they come from the producer-state snapshot at the start of the first segment read (or at
//! the log end when none is), and the aborted transactions from the skipped segments'
//! `.txnindex` files. Without such a snapshot the skipped segments' batch headers are replayed
//! for producer state from the latest snapshot before them (or from the first segment).
//!
//! Without a recovery point (no checkpoint, no entry for the partition) everything is scanned
//! as it always was: every batch header, and the active segment's CRCs. A `.txnindex` that does
//! not parse falls back to that too.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use super::producer_state::ProducerState;
use super::segment::Segment;
use super::txn_index::{AbortedTxn, TxnIndex};
use super::{now_ms, snapshot, LogConfig, LOG_START_FILE};

/// What opening a log read, and how often it was fsynced since (diagnostics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Segments opened from their index files, below the recovery point: their batches were
    /// not read (only the headers after their last index entry, to find their end).
    pub segments_from_index: usize,
    /// Batches whose headers were read at open (scanned and validated, or replayed for
    /// producer state).
    pub batches_scanned: u64,
    /// Flushes that fsynced data since the log was opened (`flush.messages`, `flush.ms`, rolls,
    /// shutdown).
    pub flushes: u64,
}

/// A log as found on disk.
pub(super) struct Loaded {
    pub segments: Vec<Segment>,
    pub log_start_offset: i64,
    pub producers: ProducerState,
    pub txns: TxnIndex,
    /// Below it everything is on disk (the checkpoint's value, or the first segment's base).
    pub recovery_point: i64,
    /// The log end, when a snapshot of it is on disk (a clean shutdown's, loaded).
    pub snapshot_at_end: Option<i64>,
    pub stats: LogStats,
}

/// The files of a partition directory that recovery looks at.
struct Listing {
    /// Base offsets of the `.log` files, sorted.
    bases: Vec<i64>,
    /// Offsets of the `.snapshot` files.
    snapshots: BTreeSet<i64>,
}

impl Listing {
    fn read(dir: &Path) -> io::Result<Listing> {
        let mut bases = Vec::new();
        let mut snapshots = BTreeSet::new();
        for entry in std::fs::read_dir(dir)? {
            let Ok(name) = entry?.file_name().into_string() else {
                continue;
            };
            let Some((stem, ext)) = name.split_once('.') else {
                continue;
            };
            let Ok(offset) = stem.parse::<i64>() else {
                continue;
            };
            match ext {
                "log" => bases.push(offset),
                "snapshot" => {
                    snapshots.insert(offset);
                }
                _ => {}
            }
        }
        bases.sort_unstable();
        Ok(Listing { bases, snapshots })
    }
}

/// The part of the log start-up may trust, as `plan` found it.
struct Trusted {
    /// The segments wholly below the recovery point, in order, opened from their indexes.
    indexed: Vec<Segment>,
    /// How many of them the snapshot covers (their batches are not replayed).
    covered: usize,
    producers: ProducerState,
    open_txns: Vec<(i64, i64)>,
    /// From the covered segments' `.txnindex` files.
    aborted: Vec<AbortedTxn>,
}

/// Opens the log in `dir` (created if missing); `None` gives an empty in-memory log.
pub(super) fn load(
    dir: Option<&Path>,
    config: &LogConfig,
    recovery_point: Option<i64>,
) -> io::Result<Loaded> {
    let now = now_ms();
    let interval = config.index_interval_bytes;
    let Some(dir) = dir else {
        return Ok(Loaded {
            segments: vec![Segment::create(None, 0, interval, now)?],
            log_start_offset: 0,
            producers: ProducerState::default(),
            txns: TxnIndex::default(),
            recovery_point: 0,
            snapshot_at_end: None,
            stats: LogStats::default(),
        });
    };
    std::fs::create_dir_all(dir)?;
    let files = Listing::read(dir)?;
    let trusted = match recovery_point {
        Some(rp) => plan(dir, &files, rp, interval, now)?,
        None => None,
    };
    let mut stats = LogStats::default();
    let (mut segments, covered, mut producers, mut txns) = match trusted {
        Some(t) => (
            t.indexed,
            t.covered,
            t.producers,
            TxnIndex::restore(t.open_txns, t.aborted),
        ),
        None => (Vec::new(), 0, ProducerState::default(), TxnIndex::default()),
    };
    let skipped = segments.len();
    stats.segments_from_index = skipped;
    {
        let mut on_batch = |h: &super::BatchHeader, marker| {
            stats.batches_scanned += 1;
            producers.record(h);
            txns.on_batch(h, marker, h.last_offset() + 1);
        };
        for seg in &segments[covered..] {
            seg.replay(&mut on_batch)?;
        }
        // Past the recovery point every CRC is checked; without one, the active segment's.
        let last = files.bases.len().saturating_sub(1);
        for (i, base) in files.bases.iter().enumerate().skip(skipped) {
            let check_crc = recovery_point.is_some() || i == last;
            segments.push(Segment::open(
                dir,
                *base,
                interval,
                check_crc,
                now,
                &mut on_batch,
            )?);
        }
    }
    let mut log_start_offset = match std::fs::read_to_string(dir.join(LOG_START_FILE)) {
        Ok(text) => text.trim().parse().unwrap_or(0),
        Err(_) => 0,
    };
    if segments.is_empty() {
        segments.push(Segment::create(Some(dir), log_start_offset, interval, now)?);
        // The new files' names live in the directory.
        std::fs::File::open(dir)?.sync_all()?;
    }
    log_start_offset = log_start_offset.max(segments[0].base_offset);
    let end = segments.last().map_or(0, |s| s.next_offset);
    log_start_offset = log_start_offset.min(end);
    txns.drop_below(log_start_offset);
    // The covered segments' `.txnindex` files are what the list was read from.
    for seg in &segments[covered..] {
        seg.rewrite_txn_index(txns.aborted_in_segment(seg.base_offset, seg.next_offset))?;
    }
    let snapshot_at_end = (covered == files.bases.len() && covered > 0).then_some(end);
    // A snapshot stays beside its segment, or at the log end while it describes it; others
    // (an older shutdown's, one past a truncated tail) would only mislead a later start.
    for offset in &files.snapshots {
        let beside = segments.iter().any(|s| s.base_offset == *offset);
        if !beside && Some(*offset) != snapshot_at_end {
            let _ = std::fs::remove_file(snapshot::path(dir, *offset));
        }
    }
    let recovery_point = match recovery_point {
        Some(rp) => rp.min(end),
        None => segments[0].base_offset.min(end),
    };
    Ok(Loaded {
        segments,
        log_start_offset,
        producers,
        txns,
        recovery_point,
        snapshot_at_end,
        stats,
    })
}

/// Which segments start-up may open from their indexes below `rp`, and the state they leave:
/// `Ok(None)` falls back to scanning everything (a damaged `.txnindex`).
fn plan(
    dir: &Path,
    files: &Listing,
    rp: i64,
    interval: usize,
    now: i64,
) -> io::Result<Option<Trusted>> {
    let bases = &files.bases;
    let mut indexed: Vec<Segment> = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        // A segment ends where the next begins; the last must end at the recovery point itself
        // (anything after it was never fsynced).
        let next = bases.get(i + 1).copied();
        if next.map_or(*base > rp, |next| next > rp) {
            break;
        }
        let Some(seg) = Segment::open_indexed(dir, *base, interval, now)? else {
            tracing::debug!(dir = %dir.display(), base, "index files do not check out; scanning from this segment");
            break;
        };
        if !next.map_or(seg.next_offset == rp, |next| seg.next_offset <= next) {
            break;
        }
        indexed.push(seg);
    }
    // The latest snapshot at a segment boundary not past the first segment to scan, or at the
    // end when every segment is trusted.
    let start_of = |j: usize| match bases.get(j) {
        Some(base) => *base,
        None => indexed.last().map_or(0, |s| s.next_offset),
    };
    let found = (0..=indexed.len()).rev().find_map(|j| {
        let offset = start_of(j);
        if !files.snapshots.contains(&offset) {
            return None;
        }
        snapshot::read(dir, offset).map(|state| (j, state))
    });
    let (covered, (producers, open_txns)) = found.unwrap_or_default();
    let mut aborted = Vec::new();
    for seg in &indexed[..covered] {
        match seg.read_txn_index()? {
            Some(mut list) => aborted.append(&mut list),
            None => {
                tracing::warn!(
                    dir = %dir.display(),
                    segment = seg.base_offset,
                    "damaged .txnindex below the recovery point; scanning the whole log"
                );
                return Ok(None);
            }
        }
    }
    Ok(Some(Trusted {
        indexed,
        covered,
        producers,
        open_txns,
        aborted,
    }))
}
