//! Batches the broker writes itself, to its internal topics (`__consumer_offsets`,
//! `__transaction_state`): uncompressed v2 batches of key/value records.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One batch of `(key, value)` records (a `None` value is a tombstone). With `producer`
/// (id, epoch) the batch is transactional: part of that producer's open transaction, decided
/// by the marker its coordinator writes later (TxnOffsetCommit).
pub fn internal_batch(
    records: impl IntoIterator<Item = (Bytes, Option<Bytes>)>,
    producer: Option<(i64, i16)>,
    now_ms: i64,
) -> Bytes {
    keyed_batch(
        records,
        producer.map(|(id, epoch)| (id, epoch, -1)),
        producer.is_some(),
        now_ms,
    )
}

/// One uncompressed batch of `(key, value)` records at `now_ms`, from `producer` (id, epoch,
/// first sequence) when given, transactional or not.
pub fn keyed_batch(
    records: impl IntoIterator<Item = (Bytes, Option<Bytes>)>,
    producer: Option<(i64, i16, i32)>,
    transactional: bool,
    now_ms: i64,
) -> Bytes {
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: producer.map_or(-1, |p| p.0),
            producer_epoch: producer.map_or(-1, |p| p.1),
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset - sequence is constant.
            sequence: producer.map_or(-1, |p| p.2) + i as i32,
            timestamp: now_ms,
            key: Some(key),
            value,
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encoding an uncompressed batch cannot fail");
    buf.freeze()
}
