//! Records of the `__consumer_offsets` topic, in Kafka's own layout.
//!
//! Keys and values are version-prefixed big-endian structs as Kafka's group coordinator writes
//! them: OffsetCommitKey v1 (group, topic, partition) → OffsetCommitValue v3 (offset, leader
//! epoch, metadata, commit timestamp), and GroupMetadataKey v2 (group) → GroupMetadataValue v3.
//! A null value is a tombstone (offset or group deleted).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// One decoded `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    Group {
        group: String,
        value: Option<GroupValue>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// What survives a restart of a group: members rejoin and get a new generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn put_nullable(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn get_str(b: &mut Bytes) -> Option<String> {
    get_nullable(b)?.or(Some(String::new()))
}

fn get_nullable(b: &mut Bytes) -> Option<Option<String>> {
    if b.remaining() < 2 {
        return None;
    }
    let n = b.get_i16();
    if n < 0 {
        return Some(None);
    }
    if b.remaining() < n as usize {
        return None;
    }
    Some(Some(
        String::from_utf8_lossy(&b.split_to(n as usize)).into_owned(),
    ))
}

impl OffsetsRecord {
    pub fn key(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            OffsetsRecord::Offset {
                group,
                topic,
                partition,
                ..
            } => {
                b.put_i16(1);
                put_str(&mut b, group);
                put_str(&mut b, topic);
                b.put_i32(*partition);
            }
            OffsetsRecord::Group { group, .. } => {
                b.put_i16(2);
                put_str(&mut b, group);
            }
        }
        b.freeze()
    }

    pub fn value(&self) -> Option<Bytes> {
        let mut b = BytesMut::new();
        match self {
            OffsetsRecord::Offset { value, .. } => {
                let v = value.as_ref()?;
                b.put_i16(3);
                b.put_i64(v.offset);
                b.put_i32(v.leader_epoch);
                put_str(&mut b, &v.metadata);
                b.put_i64(v.commit_timestamp);
            }
            OffsetsRecord::Group { value, .. } => {
                let v = value.as_ref()?;
                b.put_i16(3);
                put_str(&mut b, &v.protocol_type);
                b.put_i32(v.generation);
                put_nullable(&mut b, v.protocol.as_deref());
                put_nullable(&mut b, v.leader.as_deref());
                b.put_i64(v.state_timestamp);
                b.put_i32(0); // members: they rejoin after a restart
            }
        }
        Some(b.freeze())
    }

    /// Decodes a key/value pair; `None` for records of other kinds or versions.
    pub fn decode(key: &Bytes, value: Option<&Bytes>) -> Option<OffsetsRecord> {
        let mut k = key.clone();
        if k.remaining() < 2 {
            return None;
        }
        match k.get_i16() {
            0 | 1 => {
                let group = get_str(&mut k)?;
                let topic = get_str(&mut k)?;
                if k.remaining() < 4 {
                    return None;
                }
                let partition = k.get_i32();
                let value = match value {
                    None => None,
                    Some(v) => {
                        let mut v = v.clone();
                        if v.remaining() < 10 {
                            return None;
                        }
                        let version = v.get_i16();
                        let offset = v.get_i64();
                        let leader_epoch = if version >= 3 { v.get_i32() } else { -1 };
                        let metadata = get_str(&mut v)?;
                        let commit_timestamp = if v.remaining() >= 8 { v.get_i64() } else { -1 };
                        Some(OffsetValue {
                            offset,
                            leader_epoch,
                            metadata,
                            commit_timestamp,
                        })
                    }
                };
                Some(OffsetsRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            2 => {
                let group = get_str(&mut k)?;
                let value = match value {
                    None => None,
                    Some(v) => {
                        let mut v = v.clone();
                        if v.remaining() < 2 {
                            return None;
                        }
                        let version = v.get_i16();
                        let protocol_type = get_str(&mut v)?;
                        let generation = if v.remaining() >= 4 { v.get_i32() } else { 0 };
                        let protocol = get_nullable(&mut v)?;
                        let leader = get_nullable(&mut v)?;
                        let state_timestamp = if version >= 2 && v.remaining() >= 8 {
                            v.get_i64()
                        } else {
                            -1
                        };
                        Some(GroupValue {
                            protocol_type,
                            generation,
                            protocol,
                            leader,
                            state_timestamp,
                        })
                    }
                };
                Some(OffsetsRecord::Group { group, value })
            }
            _ => None,
        }
    }
}

/// One uncompressed v2 batch holding `records`, ready for `PartitionLog::append_internal`.
pub fn encode_batch(records: &[OffsetsRecord], producer: Option<(i64, i16)>, now_ms: i64) -> Bytes {
    crate::log::internal_batch(
        records.iter().map(|r| (r.key(), r.value())),
        producer,
        now_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_in_kafka_layout() {
        let r = OffsetsRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(OffsetValue {
                offset: 42,
                leader_epoch: 0,
                metadata: "m".into(),
                commit_timestamp: 7,
            }),
        };
        // OffsetCommitKey v1: version, group, topic, partition.
        assert_eq!(&r.key()[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(
            OffsetsRecord::decode(&r.key(), r.value().as_ref()),
            Some(r.clone())
        );
        let g = OffsetsRecord::Group {
            group: "g".into(),
            value: Some(GroupValue {
                protocol_type: "consumer".into(),
                generation: 5,
                protocol: Some("range".into()),
                leader: None,
                state_timestamp: 9,
            }),
        };
        assert_eq!(OffsetsRecord::decode(&g.key(), g.value().as_ref()), Some(g));
        let tomb = OffsetsRecord::Group {
            group: "g".into(),
            value: None,
        };
        assert_eq!(OffsetsRecord::decode(&tomb.key(), None), Some(tomb));
    }
}
