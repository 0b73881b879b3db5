//! The records of a produced v2 batch, checked against its header as Kafka's log validator
//! does before anything is appended: exactly `records_count` records (decompressed first when
//! the batch is compressed), each record's length covering its fields exactly, offset deltas
//! 0, 1, 2, ... in order. A header that claims more records than the batch holds would
//! otherwise move the log end offset past records that do not exist.

use bytes::Bytes;
use kafka_protocol::compression::{Decompressor, Gzip, Lz4, Snappy, Zstd};

use super::batch::{BatchHeader, HEADER_LEN};

/// Reads a zigzag varint (Kafka's varint / varlong) at `*pos`, at most `max_bytes` long.
pub(super) fn varint(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Result<i64, String> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let b = *buf.get(*pos).ok_or("a record ends inside a varint")?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    Err("a varint is longer than allowed".into())
}

/// Skips a length-prefixed byte string (`-1`: null, when `nullable`).
fn skip_bytes(buf: &[u8], pos: &mut usize, nullable: bool, what: &str) -> Result<(), String> {
    let len = varint(buf, pos, 5)?;
    if len == -1 && nullable {
        return Ok(());
    }
    let len = usize::try_from(len).map_err(|_| format!("invalid {what} length {len}"))?;
    let end = pos
        .checked_add(len)
        .filter(|e| *e <= buf.len())
        .ok_or_else(|| format!("the {what} runs past its record"))?;
    *pos = end;
    Ok(())
}

/// Checks one record occupying all of `record` and having offset delta `expected_delta`.
fn check_record(record: &[u8], expected_delta: i32, require_key: bool) -> Result<(), String> {
    if record.is_empty() {
        return Err("an empty record".into());
    }
    let mut pos = 1; // attributes
    varint(record, &mut pos, 10)?; // timestamp delta
    let delta = varint(record, &mut pos, 5)?;
    if delta != i64::from(expected_delta) {
        return Err(format!(
            "record {expected_delta} has offset delta {delta}: offset deltas must be 0, 1, 2, ..."
        ));
    }
    if require_key && varint(record, &mut pos.clone(), 5)? == -1 {
        return Err("a compacted topic cannot accept a record without a key".into());
    }
    skip_bytes(record, &mut pos, true, "key")?;
    skip_bytes(record, &mut pos, true, "value")?;
    let headers = varint(record, &mut pos, 5)?;
    if headers < 0 {
        return Err(format!("invalid header count {headers}"));
    }
    for _ in 0..headers {
        skip_bytes(record, &mut pos, false, "header key")?;
        skip_bytes(record, &mut pos, true, "header value")?;
    }
    if pos != record.len() {
        return Err(format!(
            "record {expected_delta} declares {} bytes but its fields take {pos}",
            record.len()
        ));
    }
    Ok(())
}

/// Walks `section` (the records, uncompressed): exactly `count` well-formed records.
fn walk(section: &[u8], count: i32, require_key: bool) -> Result<(), String> {
    let mut pos = 0;
    let mut n: i32 = 0;
    while pos < section.len() {
        if n == count {
            return Err(format!("the batch holds more than its {count} records"));
        }
        let len = varint(section, &mut pos, 5)?;
        let len = usize::try_from(len).map_err(|_| format!("invalid record length {len}"))?;
        let end = pos
            .checked_add(len)
            .filter(|e| *e <= section.len())
            .ok_or_else(|| format!("record {n} runs past the end of the batch"))?;
        check_record(&section[pos..end], n, require_key)?;
        pos = end;
        n += 1;
    }
    if n != count {
        return Err(format!(
            "the batch header claims {count} records but the batch holds {n}"
        ));
    }
    Ok(())
}

/// Checks `batch` (one whole v2 batch whose header is `h`, CRC already verified). `Err` holds
/// the reason for INVALID_RECORD. With `require_key` (a compacted topic) every record needs a
/// key.
pub fn check(batch: &Bytes, h: &BatchHeader, require_key: bool) -> Result<(), String> {
    let mut section = batch.slice(HEADER_LEN..h.total_size());
    let count = h.records_count;
    let checked = |buf: &mut Bytes| Ok(walk(buf, count, require_key));
    let result: Result<Result<(), String>, _> = match h.attributes & 0x07 {
        0 => return walk(&section, count, require_key),
        1 => Gzip::decompress(&mut section, checked),
        2 => Snappy::decompress(&mut section, checked),
        3 => Lz4::decompress(&mut section, checked),
        4 => Zstd::decompress(&mut section, checked),
        codec => return Err(format!("unknown compression codec {codec}")),
    };
    result.map_err(|e| format!("the records do not decompress: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Record bytes: attributes, timestamp delta 0, `delta`, key "k", value "v", no headers.
    fn record(delta: u8) -> Vec<u8> {
        let body = vec![0, 0, delta * 2, 2, b'k', 2, b'v', 0];
        let mut r = vec![(body.len() * 2) as u8];
        r.extend(body);
        r
    }

    #[test]
    fn counts_offset_deltas_and_lengths_must_agree() {
        let two: Vec<u8> = record(0).into_iter().chain(record(1)).collect();
        assert_eq!(walk(&two, 2, false), Ok(()));
        assert!(walk(&two, 1_000_001, false)
            .unwrap_err()
            .contains("claims 1000001"));
        assert!(walk(&two, 1, false).unwrap_err().contains("more than"));
        let swapped: Vec<u8> = record(1).into_iter().chain(record(0)).collect();
        assert!(walk(&swapped, 2, false)
            .unwrap_err()
            .contains("offset delta"));
        let mut short = record(0);
        short[0] = 40; // claims 20 bytes
        assert!(walk(&short, 1, false).unwrap_err().contains("runs past"));
        let mut long = record(0);
        long.push(0);
        long[0] = 18; // 9 bytes: one more than the fields take
        assert!(walk(&long, 1, false)
            .unwrap_err()
            .contains("declares 9 bytes"));
        assert!(
            walk(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 1, false).is_err(),
            "overlong varint"
        );
    }
}
