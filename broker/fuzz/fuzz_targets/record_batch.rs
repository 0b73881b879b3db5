//! Any bytes as the records of a Produce request, appended to an in-memory partition: the
//! broker's batch checks (header against records, CRC, compression, offsets, sequences) must
//! refuse them with an error, never panic or allocate past `-malloc_limit_mb`; what is
//! accepted must read back. Most inputs get a consistent frame (length, magic 2, CRC) so the
//! fuzzer reaches the record checks behind them; the rest go in as they are.
#![no_main]

use std::sync::Mutex;

use bytes::Bytes;
use krafty_broker::log::{LogConfig, PartitionLog, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

static LOG: Mutex<Option<PartitionLog>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Some((&raw_mode, data)) = data.split_first() else {
        return;
    };
    let mut batch = data.to_vec();
    if raw_mode & 0x80 == 0 && batch.len() >= HEADER_LEN {
        let length = (batch.len() - 12) as i32;
        batch[8..12].copy_from_slice(&length.to_be_bytes());
        batch[16] = 2;
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    let mut guard = LOG.lock().unwrap_or_else(|e| e.into_inner());
    let log = guard.get_or_insert_with(|| {
        PartitionLog::open(None, LogConfig::default()).expect("an in-memory log opens")
    });
    // Start afresh now and then so the log does not grow without bound.
    if log.log_end_offset() > 100_000 {
        *log = PartitionLog::open(None, LogConfig::default()).expect("an in-memory log opens");
    }
    let before = log.log_end_offset();
    if let Ok(appended) = log.append(Bytes::from(batch), 0) {
        if !appended.duplicate {
            assert_eq!(appended.base_offset, before);
            let read = log
                .read(before, usize::MAX, true)
                .expect("what was appended reads back");
            assert!(!read.is_empty());
        }
    }
});
