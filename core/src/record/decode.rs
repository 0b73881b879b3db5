//! Decodes the record batches of a Fetch response.
//!
//! Keys, values and header values are `Bytes` slices of the (decompressed) batch buffer: no
//! per-record copies. Batches below the fetch position are skipped, a trailing partial batch
//! (the broker cut the response at the byte limit) is ignored, control batches are dropped,
//! and with read_committed the aborted transactions the broker lists are dropped too.

use bytes::Bytes;

use super::compression::{decompress, Compression};
use super::varint::get_i64;
use super::Header;

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecordData {
    pub offset: i64,
    pub timestamp: i64,
    /// true when the topic uses LogAppendTime (the broker's time), false for CreateTime.
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    pub leader_epoch: i32,
}

/// A batch that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record batch at offset {0} failed its CRC check")]
    Crc(i64),
    #[error("record batch at offset {offset} is malformed: {reason}")]
    Malformed { offset: i64, reason: String },
}

/// An aborted transaction reported by the broker: (producer id, first offset).
pub type Aborted = (i64, i64);

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().unwrap())
}

/// Decodes every complete batch in `data`, keeping records at or after `from_offset`.
/// Returns the records and the offset after the last complete batch seen (the next fetch
/// position when every record was filtered out, e.g. a control batch).
pub fn decode_batches(
    data: &Bytes,
    from_offset: i64,
    check_crc: bool,
    aborted: Option<&[Aborted]>,
) -> Result<(Vec<ConsumerRecordData>, Option<i64>), DecodeError> {
    let mut out = Vec::with_capacity(record_count_bound(data));
    let mut pos = 0usize;
    let mut next = None;
    // read_committed, as the Java client does it: the broker's aborted transactions in offset
    // order; each one marks its producer as aborting from the batch that reaches its first
    // offset until that producer's next control marker.
    let mut upcoming: Vec<Aborted> = aborted.map(<[Aborted]>::to_vec).unwrap_or_default();
    upcoming.sort_by_key(|(_, first)| std::cmp::Reverse(*first));
    let mut aborted_pids: Vec<i64> = Vec::new();
    while pos + 61 <= data.len() {
        let b = &data[pos..];
        let base_offset = be_i64(b, 0);
        let length = be_i32(b, 8);
        if length < 49 {
            return Err(DecodeError::Malformed {
                offset: base_offset,
                reason: format!("length {length}"),
            });
        }
        let size = 12 + length as usize;
        if pos + size > data.len() {
            break; // partial trailing batch
        }
        let batch = data.slice(pos..pos + size);
        pos += size;
        let magic = batch[16] as i8;
        if magic != 2 {
            return Err(DecodeError::Malformed {
                offset: base_offset,
                reason: format!("magic {magic} (only v2 is supported)"),
            });
        }
        let leader_epoch = be_i32(&batch, 12);
        let crc = u32::from_be_bytes(batch[17..21].try_into().unwrap());
        if check_crc && crc32c::crc32c(&batch[21..]) != crc {
            return Err(DecodeError::Crc(base_offset));
        }
        let attributes = be_i16(&batch, 21);
        let last_offset_delta = be_i32(&batch, 23);
        let base_timestamp = be_i64(&batch, 27);
        let max_timestamp = be_i64(&batch, 35);
        let producer_id = be_i64(&batch, 43);
        let count = be_i32(&batch, 57);
        let last_offset = base_offset + last_offset_delta as i64;
        next = Some(last_offset + 1);
        let control = attributes & 0x20 != 0;
        let transactional = attributes & 0x10 != 0;
        if aborted.is_some() {
            while upcoming
                .last()
                .is_some_and(|(_, first)| *first <= last_offset)
            {
                let (pid, _) = upcoming.pop().expect("checked");
                aborted_pids.push(pid);
            }
            if transactional && control {
                // An abort (or commit) marker ends the producer's transaction.
                aborted_pids.retain(|p| *p != producer_id);
                continue;
            }
            if transactional && aborted_pids.contains(&producer_id) {
                continue;
            }
        }
        if control || last_offset < from_offset {
            continue;
        }
        let log_append_time = attributes & 0x08 != 0;
        let codec =
            Compression::from_attribute(attributes).map_err(|e| DecodeError::Malformed {
                offset: base_offset,
                reason: e.to_string(),
            })?;
        let records: Bytes = match codec {
            Compression::None => batch.slice(61..),
            c => Bytes::from(
                decompress(c, &batch[61..]).map_err(|e| DecodeError::Malformed {
                    offset: base_offset,
                    reason: e.to_string(),
                })?,
            ),
        };
        decode_records(
            &records,
            count,
            base_offset,
            base_timestamp,
            log_append_time.then_some(max_timestamp),
            leader_epoch,
            from_offset,
            &mut out,
        )
        .map_err(|reason| DecodeError::Malformed {
            offset: base_offset,
            reason,
        })?;
    }
    Ok((out, next))
}

/// The records the whole batches in `data` claim, each claim capped by what its bytes can hold
/// (a record takes at least 7 bytes; a compressed batch's claim is capped at 100,000): the
/// decoded records' Vec is sized once instead of doubled, and a claim from the wire cannot
/// reserve more than the response could carry.
fn record_count_bound(data: &[u8]) -> usize {
    let mut pos = 0usize;
    let mut total = 0usize;
    while pos + 61 <= data.len() {
        let length = be_i32(&data[pos..], 8);
        if length < 49 {
            break;
        }
        let size = 12 + length as usize;
        if pos + size > data.len() {
            break;
        }
        let count = be_i32(&data[pos..], 57).max(0) as usize;
        let compressed = be_i16(&data[pos..], 21) & 0x07 != 0;
        total += count.min(if compressed { 100_000 } else { (size - 61) / 7 });
        pos += size;
    }
    total
}

#[allow(clippy::too_many_arguments)]
fn decode_records(
    records: &Bytes,
    count: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    leader_epoch: i32,
    from_offset: i64,
    out: &mut Vec<ConsumerRecordData>,
) -> Result<(), String> {
    let mut pos = 0usize;
    let truncated = || "truncated record".to_string();
    // Lengths come from the wire: a negative or huge one is an error, never an overflow, and
    // no field may reach past the end of its own record (`limit`).
    let span = |pos: usize, len: i64, limit: usize| -> Result<usize, String> {
        usize::try_from(len)
            .ok()
            .and_then(|len| pos.checked_add(len))
            .filter(|end| *end <= limit)
            .ok_or_else(|| format!("a length of {len} at byte {pos} runs past its record"))
    };
    let slice = |pos: &mut usize, limit: usize| -> Result<Option<Bytes>, String> {
        let len = get_i64(records, pos).ok_or_else(truncated)?;
        if len < 0 {
            return Ok(None);
        }
        let end = span(*pos, len, limit)?;
        let b = records.slice(*pos..end);
        *pos = end;
        Ok(Some(b))
    };
    for _ in 0..count {
        let len = get_i64(records, &mut pos).ok_or_else(truncated)?;
        if len < 1 {
            return Err(format!("record length {len}"));
        }
        let end = span(pos, len, records.len())?;
        pos += 1; // attributes
        let ts_delta = get_i64(records, &mut pos).ok_or_else(truncated)?;
        let offset_delta = get_i64(records, &mut pos).ok_or_else(truncated)?;
        let key = slice(&mut pos, end)?;
        let value = slice(&mut pos, end)?;
        let header_count = get_i64(records, &mut pos).ok_or_else(truncated)?;
        let mut headers = Vec::with_capacity(header_count.clamp(0, 64) as usize);
        for _ in 0..header_count.max(0) {
            let k = slice(&mut pos, end)?.unwrap_or_default();
            let v = slice(&mut pos, end)?;
            headers.push(Header {
                key: String::from_utf8_lossy(&k).into_owned(),
                value: v,
            });
        }
        pos = end;
        let offset = base_offset
            .checked_add(offset_delta)
            .ok_or_else(|| format!("offset delta {offset_delta}"))?;
        if offset < from_offset {
            continue;
        }
        out.push(ConsumerRecordData {
            offset,
            timestamp: log_append_time.unwrap_or(base_timestamp.wrapping_add(ts_delta)),
            log_append_time: log_append_time.is_some(),
            key,
            value,
            headers,
            leader_epoch,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::BatchBuilder;
    use super::*;

    fn two_batches(codec: Compression) -> Bytes {
        let mut a = BatchBuilder::new(256);
        a.try_append(
            10,
            Some(b"a"),
            Some(b"1"),
            &[Header::new("h", "x")],
            1 << 20,
        )
        .added()
        .unwrap();
        a.try_append(11, Some(b"b"), Some(b"2"), &[], 1 << 20)
            .added()
            .unwrap();
        let mut b = BatchBuilder::new(256);
        b.try_append(12, None, Some(b"3"), &[], 1 << 20)
            .added()
            .unwrap();
        let mut first = a.build(codec, None, -1, -1, -1).unwrap().to_vec();
        let mut second = b.build(codec, None, -1, -1, -1).unwrap().to_vec();
        second[..8].copy_from_slice(&2i64.to_be_bytes()); // as the broker assigns offsets
        first.append(&mut second);
        Bytes::from(first)
    }

    #[test]
    fn lengths_from_the_wire_that_do_not_fit_are_errors_not_overflows() {
        let mut b = BatchBuilder::new(256);
        b.try_append(10, Some(b"key"), Some(b"value"), &[], 1 << 20)
            .added()
            .unwrap();
        let good = b
            .build(Compression::None, None, -1, -1, -1)
            .unwrap()
            .to_vec();
        // Byte 61 is the first record's length, 65 its key's length (one varint byte each).
        for (at, zigzag, what) in [
            (61, 9u8, "record length -5"),
            (61, 0, "record length 0"),
            (65, 126, "key length 63, past its record"),
        ] {
            let mut bad = good.clone();
            bad[at] = zigzag;
            let result = decode_batches(&Bytes::from(bad), 0, false, None);
            assert!(
                matches!(result, Err(DecodeError::Malformed { offset: 0, .. })),
                "{what}: {result:?}"
            );
        }
        let (records, _) = decode_batches(&Bytes::from(good), 0, true, None).unwrap();
        assert_eq!(records[0].key.as_deref(), Some(&b"key"[..]));
    }

    #[test]
    fn decodes_offsets_keys_values_headers_for_every_codec() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let data = two_batches(codec);
            let (recs, next) = decode_batches(&data, 1, true, None).unwrap();
            assert_eq!(
                recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
                vec![1, 2],
                "{codec:?}"
            );
            assert_eq!(recs[0].key.as_deref(), Some(&b"b"[..]));
            assert_eq!(recs[1].value.as_deref(), Some(&b"3"[..]));
            assert_eq!(recs[1].timestamp, 12);
            assert_eq!(next, Some(3));
            let (all, _) = decode_batches(&data, 0, true, None).unwrap();
            assert_eq!(all[0].headers, vec![Header::new("h", "x")]);
        }
    }

    #[test]
    fn ignores_a_partial_trailing_batch_and_rejects_bad_crc() {
        let data = two_batches(Compression::None);
        let cut = data.slice(..data.len() - 5);
        let (recs, next) = decode_batches(&cut, 0, true, None).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(next, Some(2));
        let mut bad = data.to_vec();
        bad[70] ^= 1;
        assert_eq!(
            decode_batches(&Bytes::from(bad), 0, true, None).unwrap_err(),
            DecodeError::Crc(0)
        );
    }

    /// Batches of producer 7: data 0-1 + commit marker 2, data 3-4 + abort marker 5, data 6 +
    /// commit marker 7; the broker reports the transaction from offset 3 as aborted.
    fn transactions() -> Bytes {
        use kafka_protocol::records::{
            Compression as C, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        let rec = |offset: i64, control: bool| Record {
            transactional: true,
            control,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: 7,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp: 1000 + offset,
            key: None,
            value: Some(Bytes::from(if control {
                vec![0, 0, 0, 0]
            } else {
                vec![b'v']
            })),
            headers: Default::default(),
        };
        let opts = RecordEncodeOptions {
            version: 2,
            compression: C::None,
        };
        let mut buf = bytes::BytesMut::new();
        for batch in [
            vec![rec(0, false), rec(1, false)],
            vec![rec(2, true)],
            vec![rec(3, false), rec(4, false)],
            vec![rec(5, true)],
            vec![rec(6, false)],
            vec![rec(7, true)],
        ] {
            RecordBatchEncoder::encode(&mut buf, &batch, &opts).unwrap();
        }
        buf.freeze()
    }

    #[test]
    fn read_committed_drops_only_the_aborted_transaction() {
        let data = transactions();
        let offsets = |from, aborted: Option<&[Aborted]>| {
            let (records, next) = decode_batches(&data, from, true, aborted).unwrap();
            (records.iter().map(|r| r.offset).collect::<Vec<_>>(), next)
        };
        let aborted: &[Aborted] = &[(7, 3)];
        assert_eq!(offsets(0, Some(aborted)), (vec![0, 1, 6], Some(8)));
        // A fetch from inside the aborted transaction still knows it is aborted.
        assert_eq!(offsets(4, Some(aborted)), (vec![6], Some(8)));
        // read_uncommitted: every data record, never a control marker.
        assert_eq!(offsets(0, None), (vec![0, 1, 3, 4, 6], Some(8)));
    }
}
