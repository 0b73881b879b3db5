//! Transaction markers: the control batches that end a transaction in each of its partitions.
//!
//! A marker is a transactional control batch of one record whose key is (version 0, type) with
//! type 0 for ABORT and 1 for COMMIT, and whose value is (version 0, coordinator epoch), as
//! Kafka's transaction coordinator writes them. Consumers never see these records; a
//! read_committed consumer uses the ABORT markers (via the aborted-transactions list of a
//! fetch) to drop the aborted data.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::batch::HEADER_LEN;
use super::records;

/// What a control batch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    Abort,
    Commit,
}

/// Builds the marker batch for `producer_id`/`producer_epoch` (offsets assigned on append).
pub fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    now_ms: i64,
) -> Bytes {
    let mut key = BytesMut::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(commit as i16).to_be_bytes());
    let mut value = BytesMut::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, std::iter::once(&record), &options)
        .expect("a control record always encodes");
    buf.freeze()
}

/// The type of a control batch, from its first record (`batch` is the whole batch, or at least
/// its header and first record's key). `None` when the key is not a known marker.
pub fn control_type(batch: &[u8]) -> Option<ControlType> {
    let b = batch.get(HEADER_LEN..)?;
    let mut pos = 0;
    let varint = |pos: &mut usize, max| records::varint(b, pos, max).ok();
    varint(&mut pos, 5)?; // record length
    pos += 1; // attributes
    varint(&mut pos, 10)?; // timestamp delta
    varint(&mut pos, 5)?; // offset delta
    let key_len = varint(&mut pos, 5)?;
    let key = b.get(pos..pos + 4).filter(|_| key_len >= 4)?;
    // The key: version (i16), then the type (i16).
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(ControlType::Abort),
        1 => Some(ControlType::Commit),
        _ => None,
    }
}

/// Bytes of a control batch enough for [`control_type`]: the header and the start of the record.
pub const CONTROL_PREFIX_LEN: usize = HEADER_LEN + 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::{crc_ok, BatchHeader};

    #[test]
    fn marker_is_a_transactional_control_batch_of_its_type() {
        for (commit, expected) in [(true, ControlType::Commit), (false, ControlType::Abort)] {
            let b = marker_batch(7, 3, commit, 0, 1_000);
            let h = BatchHeader::parse(&b).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.records_count),
                (7, 3, 1)
            );
            assert!(crc_ok(&b));
            assert_eq!(control_type(&b), Some(expected));
            assert_eq!(control_type(&b[..CONTROL_PREFIX_LEN]), Some(expected));
        }
    }

    #[test]
    fn decoders_see_the_marker_as_kafka_writes_it() {
        let mut b = marker_batch(7, 3, true, 5, 1_000);
        let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut b).unwrap();
        let r = &sets[0].records[0];
        assert!(r.control && r.transactional);
        assert_eq!(r.key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
        assert_eq!(r.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 5][..]));
    }
}
