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

/// What survives a restart or a coordinator move of a group: its generation, protocol, and
/// (written when a rebalance completes) its members with their assignments, so they go on
/// heartbeating and committing in that generation, as with Kafka's coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

/// One member in GroupMetadataValue v3's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

fn get_bytes(b: &mut Bytes) -> Option<Bytes> {
    if b.remaining() < 4 {
        return None;
    }
    let n = b.get_i32();
    if n < 0 {
        return Some(Bytes::new());
    }
    (b.remaining() >= n as usize).then(|| b.split_to(n as usize))
}

/// The members of a GroupMetadataValue of `version` (v0 lacks the rebalance timeout, v0-2
/// the instance id); `None` when they do not parse.
fn get_members(v: &mut Bytes, version: i16) -> Option<Vec<MemberValue>> {
    if v.remaining() < 4 {
        return Some(Vec::new());
    }
    let count = v.get_i32().max(0);
    let mut members = Vec::new();
    for _ in 0..count {
        let member_id = get_str(v)?;
        let instance_id = if version >= 3 { get_nullable(v)? } else { None };
        let client_id = get_str(v)?;
        let client_host = get_str(v)?;
        let rebalance_timeout_ms = if version >= 1 {
            (v.remaining() >= 4).then(|| v.get_i32())?
        } else {
            -1
        };
        let session_timeout_ms = (v.remaining() >= 4).then(|| v.get_i32())?;
        let rebalance_timeout_ms = if rebalance_timeout_ms < 0 {
            session_timeout_ms
        } else {
            rebalance_timeout_ms
        };
        members.push(MemberValue {
            member_id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription: get_bytes(v)?,
            assignment: get_bytes(v)?,
        });
    }
    Some(members)
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
                b.put_i32(v.members.len() as i32);
                for m in &v.members {
                    put_str(&mut b, &m.member_id);
                    put_nullable(&mut b, m.instance_id.as_deref());
                    put_str(&mut b, &m.client_id);
                    put_str(&mut b, &m.client_host);
                    b.put_i32(m.rebalance_timeout_ms);
                    b.put_i32(m.session_timeout_ms);
                    put_bytes(&mut b, &m.subscription);
                    put_bytes(&mut b, &m.assignment);
                }
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
                        // Members that do not parse rejoin (the group is kept).
                        let members = get_members(&mut v, version).unwrap_or_default();
                        Some(GroupValue {
                            protocol_type,
                            generation,
                            protocol,
                            leader,
                            state_timestamp,
                            members,
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
                leader: Some("m1".into()),
                state_timestamp: 9,
                members: vec![MemberValue {
                    member_id: "m1".into(),
                    instance_id: Some("i1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 45_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"assign"),
                }],
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
