//! Records of the `__transaction_state` topic, in Kafka's own layout.
//!
//! Key: TransactionLogKey v0 (version i16, transactional id). Value: TransactionLogValue v0
//! (version i16, producer id i64, producer epoch i16, transaction timeout ms i32, status i8,
//! partitions as a nullable array of (topic, [partition]), last update ms i64, start ms i64),
//! big-endian with i16-length strings and i32-count arrays. A null value is a tombstone.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::state::{TxnMetadata, TxnStatus};

pub fn key(transactional_id: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + transactional_id.len());
    b.put_i16(0);
    put_str(&mut b, transactional_id);
    b.freeze()
}

pub fn value(m: &TxnMetadata) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i64(m.producer_id);
    b.put_i16(m.producer_epoch);
    b.put_i32(m.timeout_ms);
    b.put_i8(m.status as i8);
    b.put_i32(m.partitions.len() as i32);
    for (topic, partitions) in &m.partitions {
        put_str(&mut b, topic);
        b.put_i32(partitions.len() as i32);
        for p in partitions {
            b.put_i32(*p);
        }
    }
    b.put_i64(m.last_update_ms);
    b.put_i64(m.start_ms);
    b.freeze()
}

/// The transactional id of a key, `None` when it is not a v0 TransactionLogKey.
pub fn decode_key(mut k: &[u8]) -> Option<String> {
    if k.remaining() < 2 || k.get_i16() != 0 {
        return None;
    }
    get_str(&mut k)
}

/// A value back into metadata for `transactional_id` (`None`: malformed or unknown version).
pub fn decode_value(transactional_id: &str, mut v: &[u8]) -> Option<TxnMetadata> {
    if v.remaining() < 2 || v.get_i16() != 0 || v.remaining() < 8 + 2 + 4 + 1 + 4 {
        return None;
    }
    let producer_id = v.get_i64();
    let producer_epoch = v.get_i16();
    let timeout_ms = v.get_i32();
    let status = TxnStatus::from_i8(v.get_i8())?;
    let count = v.get_i32();
    let mut m = TxnMetadata::new(transactional_id, producer_id, producer_epoch, timeout_ms, 0);
    m.status = status;
    for _ in 0..count.max(0) {
        let topic = get_str(&mut v)?;
        if v.remaining() < 4 {
            return None;
        }
        let n = v.get_i32();
        if n < 0 || v.remaining() < n as usize * 4 {
            return None;
        }
        let set = m.partitions.entry(topic).or_default();
        for _ in 0..n {
            set.insert(v.get_i32());
        }
    }
    if v.remaining() < 16 {
        return None;
    }
    m.last_update_ms = v.get_i64();
    m.start_ms = v.get_i64();
    Some(m)
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn get_str(b: &mut &[u8]) -> Option<String> {
    if b.remaining() < 2 {
        return None;
    }
    let n = b.get_i16();
    if n < 0 || b.remaining() < n as usize {
        return None;
    }
    let s = String::from_utf8(b[..n as usize].to_vec()).ok()?;
    b.advance(n as usize);
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_in_kafka_layout() {
        let mut m = TxnMetadata::new("tx-1", 42, 3, 60_000, 1_000);
        m.status = TxnStatus::PrepareCommit;
        m.partitions
            .entry("orders".into())
            .or_default()
            .extend([0, 2]);
        m.partitions
            .entry("__consumer_offsets".into())
            .or_default()
            .insert(7);
        m.last_update_ms = 2_000;
        assert_eq!(decode_key(&key("tx-1")).as_deref(), Some("tx-1"));
        let v = value(&m);
        // version, producer id, epoch, timeout, status (PrepareCommit = 2), partitions count.
        assert_eq!(&v[..2], &[0, 0]);
        assert_eq!(i64::from_be_bytes(v[2..10].try_into().unwrap()), 42);
        assert_eq!(v[16], 2);
        assert_eq!(i32::from_be_bytes(v[17..21].try_into().unwrap()), 2);
        assert_eq!(decode_value("tx-1", &v), Some(m));
        assert_eq!(decode_value("tx-1", &v[..v.len() - 1]), None);
    }
}
