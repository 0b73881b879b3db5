//! One segment: a `.log` file of whole batches plus its two sparse indexes.
//!
//! The data lives in a file (`<base offset>.log`) or, for in-memory logs, a `Vec<u8>`; both
//! behind [`Storage`] so the rest of the log does not care which.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::control::{self, ControlType, CONTROL_PREFIX_LEN};
use super::index::{self, OffsetEntry, TimeEntry};
use super::txn_index::AbortedTxn;

/// Kafka's file name for a segment: the base offset as 20 zero-padded digits.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// Where a segment's bytes are.
enum Storage {
    Memory(Vec<u8>),
    Disk {
        log: File,
        index: File,
        time_index: File,
        dir: PathBuf,
    },
}

/// A segment and its indexes.
pub struct Segment {
    pub base_offset: i64,
    storage: Storage,
    len: u64,
    /// Offset after the last batch (== base_offset when empty).
    pub next_offset: i64,
    /// Largest timestamp of any batch, -1 when empty.
    pub max_timestamp: i64,
    /// Offset of the batch holding `max_timestamp`.
    pub max_timestamp_offset: i64,
    /// When the segment got its first batch (for `segment.ms` rolls), or when it was created.
    pub created_ms: i64,
    index: Vec<OffsetEntry>,
    time_index: Vec<TimeEntry>,
    bytes_since_index: usize,
    index_interval: usize,
    /// An aborted transaction was added to the `.txnindex` since the last flush.
    txn_index_dirty: bool,
}

/// What a header scan found at a position.
pub struct ScannedBatch {
    pub position: u64,
    pub header: BatchHeader,
}

impl Segment {
    /// Creates an empty segment (files truncated if present).
    pub fn create(
        dir: Option<&Path>,
        base_offset: i64,
        index_interval: usize,
        now_ms: i64,
    ) -> io::Result<Segment> {
        let storage = match dir {
            None => Storage::Memory(Vec::new()),
            Some(dir) => {
                let open = |ext: &str| {
                    OpenOptions::new()
                        .create(true)
                        .read(true)
                        .write(true)
                        .truncate(true)
                        .open(dir.join(format!("{}.{ext}", file_stem(base_offset))))
                };
                Storage::Disk {
                    log: open("log")?,
                    index: open("index")?,
                    time_index: open("timeindex")?,
                    dir: dir.to_path_buf(),
                }
            }
        };
        Ok(Segment {
            base_offset,
            storage,
            len: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            max_timestamp_offset: base_offset,
            created_ms: now_ms,
            index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_index: 0,
            index_interval,
            txn_index_dirty: false,
        })
    }

    /// Opens an existing on-disk segment. Scans every batch header to rebuild the indexes and
    /// the segment's end; with `check_crc` (the active segment) a torn or corrupt tail is
    /// truncated. Calls `on_batch` for each valid batch, with a control batch's marker type
    /// (producer-state and transaction rebuild).
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_interval: usize,
        check_crc: bool,
        now_ms: i64,
        on_batch: &mut dyn FnMut(&BatchHeader, Option<ControlType>),
    ) -> io::Result<Segment> {
        let stem = file_stem(base_offset);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(format!("{stem}.log")))?;
        let file_len = log.metadata()?.len();
        let open_idx = |ext: &str| {
            OpenOptions::new()
                .create(true)
                .read(true)
                .write(true)
                .truncate(false)
                .open(dir.join(format!("{stem}.{ext}")))
        };
        let (index_file, time_file) = (open_idx("index")?, open_idx("timeindex")?);
        let created_ms = modified_ms(&log, now_ms);
        let mut seg = Segment {
            base_offset,
            storage: Storage::Disk {
                log,
                index: index_file,
                time_index: time_file,
                dir: dir.to_path_buf(),
            },
            len: file_len,
            next_offset: base_offset,
            max_timestamp: -1,
            max_timestamp_offset: base_offset,
            created_ms,
            index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_index: 0,
            index_interval,
            txn_index_dirty: false,
        };
        // Rebuild indexes from the batches; stop at the first batch that is torn or corrupt.
        let mut pos = 0u64;
        let mut good_end = 0u64;
        while pos < file_len {
            let Some(header) = seg.header_at(pos)? else {
                break;
            };
            let size = header.total_size() as u64;
            if header.magic != 2
                || header.length < (HEADER_LEN - batch::LOG_OVERHEAD) as i32
                || pos + size > file_len
            {
                break;
            }
            if check_crc && !batch::crc_ok(&seg.read_at(pos, size as usize)?) {
                break;
            }
            seg.track(pos, &header);
            let marker = if header.is_control() {
                control::control_type(&seg.read_at(pos, CONTROL_PREFIX_LEN.min(size as usize))?)
            } else {
                None
            };
            on_batch(&header, marker);
            pos += size;
            good_end = pos;
        }
        let truncated = good_end < file_len;
        if truncated {
            tracing::warn!(segment = %stem, kept = good_end, dropped = file_len - good_end, "truncating torn or corrupt log tail");
            seg.truncate(good_end)?;
        }
        // What recovery changed is made durable now: later flushes start at the recovery point.
        if seg.rewrite_index_files()? || truncated {
            seg.flush()?;
        }
        Ok(seg)
    }

    /// Opens a segment below the recovery point from its index files, without reading its
    /// batches: the indexes are read and checked (sorted, within the file), and only the batch
    /// headers from the last offset-index entry on are read, for the segment's end and largest
    /// timestamp (as Kafka's `readNextOffset`). `None` when the index files are missing or do
    /// not check out, or that tail is not whole batches up to the end of the file: the caller
    /// scans the segment instead.
    pub fn open_indexed(
        dir: &Path,
        base_offset: i64,
        index_interval: usize,
        now_ms: i64,
    ) -> io::Result<Option<Segment>> {
        let stem = file_stem(base_offset);
        let open = |ext: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(dir.join(format!("{stem}.{ext}")))
        };
        let log = open("log")?;
        let (index_file, time_file) = match (open("index"), open("timeindex")) {
            (Ok(index), Ok(time)) => (index, time),
            (Err(e), _) | (_, Err(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let file_len = log.metadata()?.len();
        let Some(index) = read_entries(&index_file, OffsetEntry::SIZE, OffsetEntry::decode)? else {
            return Ok(None);
        };
        let Some(time_index) = read_entries(&time_file, TimeEntry::SIZE, TimeEntry::decode)? else {
            return Ok(None);
        };
        let index_ok = index
            .windows(2)
            .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position)
            && index
                .iter()
                .all(|e| e.position > 0 && (e.position as u64) < file_len);
        // One time entry at most per offset entry, the first with the first.
        let last_rel = index.last().map(|e| e.relative_offset);
        let time_ok = index.is_empty() == time_index.is_empty()
            && time_index.windows(2).all(|w| {
                w[0].timestamp < w[1].timestamp && w[0].relative_offset < w[1].relative_offset
            })
            && time_index
                .last()
                .is_none_or(|t| Some(t.relative_offset) <= last_rel);
        if !index_ok || !time_ok {
            return Ok(None);
        }
        let created_ms = modified_ms(&log, now_ms);
        let tail_start = index.last().map_or(0, |e| e.position as u64);
        let indexed_max = time_index.last().map_or(-1, |t| t.timestamp);
        let mut seg = Segment {
            base_offset,
            storage: Storage::Disk {
                log,
                index: index_file,
                time_index: time_file,
                dir: dir.to_path_buf(),
            },
            len: file_len,
            next_offset: base_offset,
            max_timestamp: -1,
            max_timestamp_offset: base_offset,
            created_ms,
            index,
            time_index,
            bytes_since_index: (file_len - tail_start) as usize,
            index_interval,
            txn_index_dirty: false,
        };
        // The tail: whole batches from the last indexed one to the end of the file.
        let mut pos = tail_start;
        let mut tail_max = (-1i64, base_offset);
        while pos < file_len {
            let Some(h) = seg.header_at(pos)? else {
                return Ok(None);
            };
            let size = h.total_size() as u64;
            let indexed_here = last_rel.filter(|_| pos == tail_start);
            if h.magic != 2
                || h.length < (HEADER_LEN - batch::LOG_OVERHEAD) as i32
                || pos + size > file_len
                || h.base_offset < seg.next_offset
                || indexed_here.is_some_and(|rel| h.base_offset != base_offset + rel as i64)
            {
                return Ok(None);
            }
            if h.max_timestamp > tail_max.0 {
                tail_max = (h.max_timestamp, h.base_offset);
            }
            seg.next_offset = h.last_offset() + 1;
            pos += size;
        }
        // The largest timestamp and the first batch holding it, as a scan finds them: from the
        // tail when it holds a larger one than the time index, else where the index says.
        if tail_max.0 > indexed_max {
            (seg.max_timestamp, seg.max_timestamp_offset) = tail_max;
        } else if indexed_max >= 0 {
            seg.max_timestamp = indexed_max;
            match seg.find_timestamp(indexed_max)? {
                Some((offset, _)) => seg.max_timestamp_offset = offset,
                None => return Ok(None),
            }
        }
        Ok(Some(seg))
    }

    /// Calls `on_batch` with each batch's header (and a control batch's marker type), reading
    /// headers only: the producer state of a segment opened from its indexes, when no snapshot
    /// covers it. Stops at a header that does not parse.
    pub fn replay(
        &self,
        on_batch: &mut dyn FnMut(&BatchHeader, Option<ControlType>),
    ) -> io::Result<()> {
        let mut pos = 0u64;
        while let Some(h) = self.header_at(pos)? {
            let size = h.total_size();
            if h.magic != 2 || size < HEADER_LEN || pos + size as u64 > self.len {
                break;
            }
            let marker = if h.is_control() {
                control::control_type(&self.read_at(pos, CONTROL_PREFIX_LEN.min(size))?)
            } else {
                None
            };
            on_batch(&h, marker);
            pos += size as u64;
        }
        Ok(())
    }

    /// Records a batch at `position` in the in-memory indexes and segment bounds.
    fn track(
        &mut self,
        position: u64,
        h: &BatchHeader,
    ) -> (Option<OffsetEntry>, Option<TimeEntry>) {
        let rel = (h.base_offset - self.base_offset) as u32;
        let mut added = (None, None);
        if position > 0 && self.bytes_since_index >= self.index_interval {
            let e = OffsetEntry {
                relative_offset: rel,
                position: position as u32,
            };
            self.index.push(e);
            added.0 = Some(e);
            let max_ts = self.max_timestamp.max(h.max_timestamp);
            if self.time_index.last().is_none_or(|t| max_ts > t.timestamp) {
                let t = TimeEntry {
                    timestamp: max_ts,
                    relative_offset: rel,
                };
                self.time_index.push(t);
                added.1 = Some(t);
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.total_size();
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.max_timestamp_offset = h.base_offset;
        }
        self.next_offset = h.last_offset() + 1;
        added
    }

    /// Appends a batch whose offsets are already assigned.
    pub fn append(&mut self, bytes: &[u8], header: &BatchHeader) -> io::Result<()> {
        let position = self.len;
        match &mut self.storage {
            Storage::Memory(v) => v.extend_from_slice(bytes),
            Storage::Disk { log, .. } => log.write_all_at(bytes, position)?,
        }
        self.len += bytes.len() as u64;
        let (entry, time_entry) = self.track(position, header);
        if let Storage::Disk {
            index, time_index, ..
        } = &mut self.storage
        {
            if let Some(e) = entry {
                index.write_all_at(
                    &e.encode(),
                    ((self.index.len() - 1) * OffsetEntry::SIZE) as u64,
                )?;
            }
            if let Some(t) = time_entry {
                time_index.write_all_at(
                    &t.encode(),
                    ((self.time_index.len() - 1) * TimeEntry::SIZE) as u64,
                )?;
            }
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn read_at(&self, position: u64, len: usize) -> io::Result<Vec<u8>> {
        let len = len.min((self.len.saturating_sub(position)) as usize);
        match &self.storage {
            Storage::Memory(v) => Ok(v[position as usize..position as usize + len].to_vec()),
            Storage::Disk { log, .. } => {
                let mut buf = vec![0u8; len];
                log.read_exact_at(&mut buf, position)?;
                Ok(buf)
            }
        }
    }

    /// Fills `buf` with the bytes from `position` (which the caller keeps within the segment).
    pub fn read_into(&self, position: u64, buf: &mut [u8]) -> io::Result<()> {
        match &self.storage {
            Storage::Memory(v) => {
                let at = position as usize;
                buf.copy_from_slice(&v[at..at + buf.len()]);
                Ok(())
            }
            Storage::Disk { log, .. } => log.read_exact_at(buf, position),
        }
    }

    /// The header of the batch at `position`, if a whole header is there.
    pub fn header_at(&self, position: u64) -> io::Result<Option<BatchHeader>> {
        if position + HEADER_LEN as u64 > self.len {
            return Ok(None);
        }
        match &self.storage {
            Storage::Memory(v) => Ok(BatchHeader::parse(&v[position as usize..])),
            Storage::Disk { log, .. } => {
                let mut buf = [0u8; HEADER_LEN];
                log.read_exact_at(&mut buf, position)?;
                Ok(BatchHeader::parse(&buf))
            }
        }
    }

    /// Batch headers from `position` to the end of the segment.
    pub fn scan_from(
        &self,
        mut position: u64,
    ) -> impl Iterator<Item = io::Result<ScannedBatch>> + '_ {
        std::iter::from_fn(move || match self.header_at(position) {
            Ok(Some(header)) => {
                let at = position;
                position += header.total_size() as u64;
                Some(Ok(ScannedBatch {
                    position: at,
                    header,
                }))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        })
    }

    /// Position of the batch that contains `offset`, if this segment has one.
    pub fn find_position(&self, offset: i64) -> io::Result<Option<u64>> {
        if offset < self.base_offset || offset >= self.next_offset {
            return Ok(None);
        }
        let start = index::lookup_position(&self.index, (offset - self.base_offset) as u32) as u64;
        for b in self.scan_from(start) {
            let b = b?;
            if b.header.last_offset() >= offset {
                return Ok(Some(b.position));
            }
        }
        Ok(None)
    }

    /// The first batch whose max timestamp is >= `timestamp`: (its base offset, its max timestamp).
    pub fn find_timestamp(&self, timestamp: i64) -> io::Result<Option<(i64, i64)>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        let rel = index::lookup_timestamp(&self.time_index, timestamp);
        let start = self
            .find_position(self.base_offset + rel as i64)?
            .unwrap_or(0);
        for b in self.scan_from(start) {
            let b = b?;
            if b.header.max_timestamp >= timestamp {
                return Ok(Some((b.header.base_offset, b.header.max_timestamp)));
            }
        }
        Ok(None)
    }

    /// Cuts the segment at `position`, dropping index entries past it.
    pub fn truncate(&mut self, position: u64) -> io::Result<()> {
        match &mut self.storage {
            Storage::Memory(v) => v.truncate(position as usize),
            Storage::Disk { log, .. } => log.set_len(position)?,
        }
        self.len = position;
        self.index.retain(|e| (e.position as u64) < position);
        Ok(())
    }

    /// Cuts the segment before the batch holding `offset` (a follower truncating to its
    /// leader's log), then re-tracks what is left so its indexes, bounds and max timestamp
    /// describe exactly the batches kept.
    pub fn truncate_to_offset(&mut self, offset: i64) -> io::Result<()> {
        let Some(cut) = self.find_position(offset)? else {
            return Ok(());
        };
        self.truncate(cut)?;
        let kept: Vec<ScannedBatch> = self.scan_from(0).collect::<io::Result<_>>()?;
        self.index.clear();
        self.time_index.clear();
        self.bytes_since_index = 0;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.max_timestamp_offset = self.base_offset;
        for b in &kept {
            self.track(b.position, &b.header);
        }
        self.rewrite_index_files()?;
        Ok(())
    }

    /// Writes the in-memory indexes over the index files (after recovery or truncation);
    /// whether a file changed.
    fn rewrite_index_files(&mut self) -> io::Result<bool> {
        let mut changed = false;
        if let Storage::Disk {
            index, time_index, ..
        } = &mut self.storage
        {
            let idx: Vec<u8> = self.index.iter().flat_map(|e| e.encode()).collect();
            let tix: Vec<u8> = self.time_index.iter().flat_map(|e| e.encode()).collect();
            let mut current = vec![0u8; index.metadata()?.len() as usize];
            index.read_exact_at(&mut current, 0)?;
            if current != idx {
                index.set_len(0)?;
                index.write_all_at(&idx, 0)?;
                changed = true;
            }
            let mut current = vec![0u8; time_index.metadata()?.len() as usize];
            time_index.read_exact_at(&mut current, 0)?;
            if current != tix {
                time_index.set_len(0)?;
                time_index.write_all_at(&tix, 0)?;
                changed = true;
            }
        }
        Ok(changed)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if let Storage::Disk {
            log,
            index,
            time_index,
            ..
        } = &mut self.storage
        {
            log.flush()?;
            log.sync_data()?;
            index.sync_data()?;
            time_index.sync_data()?;
        }
        if std::mem::take(&mut self.txn_index_dirty) {
            if let Storage::Disk { dir, .. } = &self.storage {
                let path = dir.join(format!("{}.txnindex", file_stem(self.base_offset)));
                File::open(path)?.sync_data()?;
            }
        }
        Ok(())
    }

    /// Replaces the segment's batches with `batches` (the log cleaner's output: a subset of
    /// the records, same offsets). On disk the new file is written beside the old one, synced
    /// and renamed over it, so a crash leaves one or the other whole. The segment still covers
    /// the offsets it covered, whatever was removed at its end.
    pub fn replace_batches(&mut self, batches: &[bytes::Bytes]) -> io::Result<()> {
        let next_offset = self.next_offset;
        match &mut self.storage {
            Storage::Memory(v) => {
                v.clear();
                for b in batches {
                    v.extend_from_slice(b);
                }
            }
            Storage::Disk { log, dir, .. } => {
                let path = dir.join(format!("{}.log", file_stem(self.base_offset)));
                let tmp = path.with_extension("log.cleaned");
                {
                    let mut f = File::create(&tmp)?;
                    for b in batches {
                        f.write_all(b)?;
                    }
                    f.sync_all()?;
                }
                std::fs::rename(&tmp, &path)?;
                *log = OpenOptions::new().read(true).write(true).open(&path)?;
            }
        }
        self.index.clear();
        self.time_index.clear();
        self.bytes_since_index = 0;
        self.max_timestamp = -1;
        self.max_timestamp_offset = self.base_offset;
        let mut position = 0u64;
        for b in batches {
            let h = BatchHeader::parse(b).expect("the cleaner writes whole batches");
            self.track(position, &h);
            position += b.len() as u64;
        }
        self.len = position;
        self.next_offset = next_offset;
        // The segment lies below the recovery point, where a restart trusts the index files
        // and the rename: both must be on disk.
        self.rewrite_index_files()?;
        self.flush()?;
        if let Storage::Disk { dir, .. } = &self.storage {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Adds an aborted transaction whose ABORT marker this segment holds to its `.txnindex`.
    pub fn append_aborted(&mut self, aborted: &AbortedTxn) -> io::Result<()> {
        if let Storage::Disk { dir, .. } = &self.storage {
            let path = dir.join(format!("{}.txnindex", file_stem(self.base_offset)));
            let mut f = OpenOptions::new().create(true).append(true).open(path)?;
            f.write_all(&aborted.encode())?;
            self.txn_index_dirty = true;
        }
        Ok(())
    }

    /// The aborted transactions in this segment's `.txnindex` (none without the file); `None`
    /// when the file is not whole entries of a known version.
    pub fn read_txn_index(&self) -> io::Result<Option<Vec<AbortedTxn>>> {
        let Storage::Disk { dir, .. } = &self.storage else {
            return Ok(Some(Vec::new()));
        };
        let path = dir.join(format!("{}.txnindex", file_stem(self.base_offset)));
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(Vec::new())),
            Err(e) => return Err(e),
        };
        if !bytes.len().is_multiple_of(AbortedTxn::SIZE) {
            return Ok(None);
        }
        Ok(bytes
            .chunks_exact(AbortedTxn::SIZE)
            .map(|e| AbortedTxn::decode(e.try_into().expect("whole entries")))
            .collect())
    }

    /// Writes the `.txnindex` from the aborted transactions found by recovery (none: no file).
    pub fn rewrite_txn_index<'a>(
        &self,
        aborted: impl Iterator<Item = &'a AbortedTxn>,
    ) -> io::Result<()> {
        if let Storage::Disk { dir, .. } = &self.storage {
            let path = dir.join(format!("{}.txnindex", file_stem(self.base_offset)));
            let bytes: Vec<u8> = aborted.flat_map(|a| a.encode()).collect();
            if !bytes.is_empty() && std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
                crate::durable::replace_file(&path, &bytes)?;
            } else if bytes.is_empty() && path.exists() {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Removes the segment's files.
    pub fn delete(self) -> io::Result<()> {
        if let Storage::Disk { dir, .. } = &self.storage {
            let stem = file_stem(self.base_offset);
            // The producer-state snapshot at the segment's base offset goes with it.
            for ext in ["log", "index", "timeindex", "txnindex", "snapshot"] {
                match std::fs::remove_file(dir.join(format!("{stem}.{ext}"))) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// When `file` was last modified, in ms since the epoch (`now_ms` when unknown): a segment's
/// age for `segment.ms` after a restart.
fn modified_ms(file: &File, now_ms: i64) -> i64 {
    file.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(now_ms, |d| d.as_millis() as i64)
}

/// The fixed-size entries of an index file; `None` when its length is not whole entries.
fn read_entries<T>(file: &File, size: usize, decode: fn(&[u8]) -> T) -> io::Result<Option<Vec<T>>> {
    let mut bytes = vec![0u8; file.metadata()?.len() as usize];
    file.read_exact_at(&mut bytes, 0)?;
    if !bytes.len().is_multiple_of(size) {
        return Ok(None);
    }
    Ok(Some(bytes.chunks_exact(size).map(decode).collect()))
}
