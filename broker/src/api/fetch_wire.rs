//! Fetch responses encoded by hand, so records go to the socket from the buffer the log read
//! them into.
//!
//! kafka-protocol's encoder copies every record byte into one response buffer. This one writes
//! the fields around the records into a small buffer and keeps each partition's records as
//! their own `Bytes`: a [`Frame`] is a list of chunks (fields, records, fields, ...) that the
//! connection hands to vectored writes (`server.rs`; on TLS rustls encrypts the chunks as they
//! are). Every other API keeps kafka-protocol's encoder, and so does the response header here.
//!
//! The layout follows Kafka's FetchResponse.json for every version the broker serves (4 to
//! 17; 18 lays out the same). From v12 (flexible versions) arrays, strings and bytes carry
//! their length as an unsigned varint of length + 1 (0: null), and every struct ends with its
//! tagged fields: a count, then (tag, size, value) in tag order.
//!
//! ```text
//! throttle_time_ms i32, v7+ error_code i16, v7+ session_id i32,
//! responses [ v<=12 topic string, v13+ topic_id uuid,
//!   partitions [ partition_index i32, error_code i16, high_watermark i64,
//!     last_stable_offset i64, v5+ log_start_offset i64,
//!     aborted_transactions nullable [ producer_id i64, first_offset i64 ],
//!     v11+ preferred_read_replica i32, records nullable bytes,
//!     tags: 0 diverging_epoch, 1 current_leader, 2 snapshot_id ] ],
//! tags: 0 node_endpoints (v16+)
//! ```
//!
//! It refuses what kafka-protocol's encoder refuses (a session id below v7, a preferred read
//! replica below v11, a version outside 4..=18), and writes unknown tagged fields as it does;
//! the tests compare the two byte for byte on varied responses at every version.

use std::collections::{BTreeMap, VecDeque};
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::*;
use kafka_protocol::messages::{FetchResponse, ResponseHeader};
use kafka_protocol::protocol::Encodable;

/// One response frame: its 4-byte size, then header and body as chunks, each partition's
/// records a chunk of its own (shared with the log read's buffer, not copied).
pub struct Frame {
    size: [u8; 4],
    /// Bytes of `size` already written.
    size_sent: usize,
    /// Never an empty chunk (`Buf::chunk` is empty only at the end).
    chunks: VecDeque<Bytes>,
    remaining: usize,
}

impl Buf for Frame {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        if self.size_sent < self.size.len() {
            return &self.size[self.size_sent..];
        }
        self.chunks.front().map_or(&[], |c| &c[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advanced past the end of the frame");
        self.remaining -= cnt;
        let from_size = cnt.min(self.size.len() - self.size_sent);
        self.size_sent += from_size;
        cnt -= from_size;
        while cnt > 0 {
            let front = self.chunks.front_mut().expect("cnt is within remaining");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.chunks.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        if self.size_sent < self.size.len() && n < dst.len() {
            dst[n] = IoSlice::new(&self.size[self.size_sent..]);
            n += 1;
        }
        for chunk in &self.chunks {
            if n == dst.len() {
                break;
            }
            dst[n] = IoSlice::new(chunk);
            n += 1;
        }
        n
    }
}

/// Builds a frame: fields go to `head`, which is cut off into a chunk before each records
/// chunk (`BytesMut::split` shares its allocation, copying nothing).
struct Writer {
    head: BytesMut,
    chunks: VecDeque<Bytes>,
    len: usize,
}

type Result<T> = std::result::Result<T, String>;

impl Writer {
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    fn records(&mut self, records: &Bytes) {
        if records.is_empty() {
            return;
        }
        let fields = self.head.split().freeze();
        self.push(fields);
        self.push(records.clone());
    }

    fn finish(mut self) -> Result<Frame> {
        let fields = self.head.split().freeze();
        self.push(fields);
        let size = i32::try_from(self.len).map_err(|_| format!("a frame of {} bytes", self.len))?;
        Ok(Frame {
            size: size.to_be_bytes(),
            size_sent: 0,
            chunks: self.chunks,
            remaining: 4 + self.len,
        })
    }
}

fn uvarint(b: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        b.put_u8(v as u8 | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

fn u32_len(n: usize) -> Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n < u32::MAX)
        .ok_or_else(|| format!("a length of {n}"))
}

fn array_len(b: &mut BytesMut, flexible: bool, n: usize) -> Result<()> {
    if flexible {
        uvarint(b, u32_len(n)? + 1);
    } else {
        b.put_i32(i32::try_from(n).map_err(|_| format!("an array of {n}"))?);
    }
    Ok(())
}

fn string(b: &mut BytesMut, flexible: bool, s: &str) -> Result<()> {
    if flexible {
        uvarint(b, u32_len(s.len())? + 1);
    } else {
        b.put_i16(i16::try_from(s.len()).map_err(|_| format!("a string of {}", s.len()))?);
    }
    b.put_slice(s.as_bytes());
    Ok(())
}

/// A flexible version's tagged fields: `known` of them written by the caller before the
/// unknown ones (those from tag `first_unknown` on are written; all are counted, as
/// kafka-protocol does).
fn tag_count(b: &mut BytesMut, known: usize, unknown: &BTreeMap<i32, Bytes>) -> Result<()> {
    uvarint(b, u32_len(known + unknown.len())?);
    Ok(())
}

fn unknown_tags(
    b: &mut BytesMut,
    unknown: &BTreeMap<i32, Bytes>,
    first_unknown: i32,
) -> Result<()> {
    for (tag, value) in unknown.range(first_unknown..) {
        uvarint(b, *tag as u32);
        uvarint(b, u32_len(value.len())?);
        b.put_slice(value);
    }
    Ok(())
}

/// A struct's tagged fields when it has only unknown ones.
fn only_unknown_tags(b: &mut BytesMut, unknown: &BTreeMap<i32, Bytes>) -> Result<()> {
    tag_count(b, 0, unknown)?;
    unknown_tags(b, unknown, 0)
}

/// One known tagged field: its tag, its size, then what `value` writes.
fn tagged(
    b: &mut BytesMut,
    tag: u32,
    value: impl FnOnce(&mut BytesMut) -> Result<()>,
) -> Result<()> {
    let mut field = BytesMut::new();
    value(&mut field)?;
    uvarint(b, tag);
    uvarint(b, u32_len(field.len())?);
    b.put_slice(&field);
    Ok(())
}

/// The frame answering a Fetch at `version`: size, response header (at `header_version`, by
/// kafka-protocol) and `response`, its records not copied.
pub fn encode_fetch_response(
    correlation_id: i32,
    header_version: i16,
    response: &FetchResponse,
    version: i16,
) -> Result<Frame> {
    if !(4..=18).contains(&version) {
        return Err(format!("Fetch v{version} is not encoded"));
    }
    let flexible = version >= 12;
    let partitions: usize = response.responses.iter().map(|t| t.partitions.len()).sum();
    let mut w = Writer {
        head: BytesMut::with_capacity(64 + 32 * response.responses.len() + 80 * partitions),
        chunks: VecDeque::with_capacity(1 + 2 * partitions),
        len: 0,
    };
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut w.head, header_version)
        .map_err(|e| e.to_string())?;
    let b = &mut w.head;
    b.put_i32(response.throttle_time_ms);
    if version >= 7 {
        b.put_i16(response.error_code);
        b.put_i32(response.session_id);
    } else if response.session_id != 0 {
        return Err(format!("a session id in Fetch v{version}"));
    }
    array_len(b, flexible, response.responses.len())?;
    for topic in &response.responses {
        let b = &mut w.head;
        if version <= 12 {
            string(b, flexible, &topic.topic)?;
        }
        if version >= 13 {
            b.put_slice(topic.topic_id.as_bytes());
        }
        array_len(b, flexible, topic.partitions.len())?;
        for p in &topic.partitions {
            partition(&mut w, p, version)?;
        }
        if flexible {
            only_unknown_tags(&mut w.head, &topic.unknown_tagged_fields)?;
        }
    }
    if flexible {
        let b = &mut w.head;
        let endpoints = version >= 16 && !response.node_endpoints.is_empty();
        tag_count(b, endpoints as usize, &response.unknown_tagged_fields)?;
        if endpoints {
            tagged(b, 0, |b| {
                array_len(b, true, response.node_endpoints.len())?;
                for e in &response.node_endpoints {
                    b.put_i32(e.node_id.0);
                    string(b, true, &e.host)?;
                    b.put_i32(e.port);
                    match &e.rack {
                        Some(rack) => string(b, true, rack)?,
                        None => uvarint(b, 0),
                    }
                    only_unknown_tags(b, &e.unknown_tagged_fields)?;
                }
                Ok(())
            })?;
        }
        unknown_tags(b, &response.unknown_tagged_fields, 1)?;
    }
    w.finish()
}

fn partition(w: &mut Writer, p: &PartitionData, version: i16) -> Result<()> {
    let flexible = version >= 12;
    let b = &mut w.head;
    b.put_i32(p.partition_index);
    b.put_i16(p.error_code);
    b.put_i64(p.high_watermark);
    b.put_i64(p.last_stable_offset);
    if version >= 5 {
        b.put_i64(p.log_start_offset);
    }
    match &p.aborted_transactions {
        None if flexible => uvarint(b, 0),
        None => b.put_i32(-1),
        Some(aborted) => {
            array_len(b, flexible, aborted.len())?;
            for a in aborted {
                b.put_i64(a.producer_id.0);
                b.put_i64(a.first_offset);
                if flexible {
                    only_unknown_tags(b, &a.unknown_tagged_fields)?;
                }
            }
        }
    }
    if version >= 11 {
        b.put_i32(p.preferred_read_replica.0);
    } else if p.preferred_read_replica.0 != -1 {
        return Err(format!("a preferred read replica in Fetch v{version}"));
    }
    match &p.records {
        None if flexible => uvarint(b, 0),
        None => b.put_i32(-1),
        Some(records) if flexible => uvarint(b, u32_len(records.len())? + 1),
        Some(records) => b.put_i32(
            i32::try_from(records.len())
                .map_err(|_| format!("{} bytes of records", records.len()))?,
        ),
    }
    if let Some(records) = &p.records {
        w.records(records);
    }
    if flexible {
        let b = &mut w.head;
        let diverging = p.diverging_epoch != EpochEndOffset::default();
        let leader = p.current_leader != LeaderIdAndEpoch::default();
        let snapshot = p.snapshot_id != SnapshotId::default();
        let known = diverging as usize + leader as usize + snapshot as usize;
        tag_count(b, known, &p.unknown_tagged_fields)?;
        if diverging {
            tagged(b, 0, |b| {
                b.put_i32(p.diverging_epoch.epoch);
                b.put_i64(p.diverging_epoch.end_offset);
                only_unknown_tags(b, &p.diverging_epoch.unknown_tagged_fields)
            })?;
        }
        if leader {
            tagged(b, 1, |b| {
                b.put_i32(p.current_leader.leader_id.0);
                b.put_i32(p.current_leader.leader_epoch);
                only_unknown_tags(b, &p.current_leader.unknown_tagged_fields)
            })?;
        }
        if snapshot {
            tagged(b, 2, |b| {
                b.put_i64(p.snapshot_id.end_offset);
                b.put_i32(p.snapshot_id.epoch);
                only_unknown_tags(b, &p.snapshot_id.unknown_tagged_fields)
            })?;
        }
        unknown_tags(b, &p.unknown_tagged_fields, 3)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiKey, BrokerId, ProducerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    /// The whole frame in one buffer.
    fn contiguous(frame: &Frame) -> Bytes {
        let mut out = BytesMut::with_capacity(frame.remaining);
        out.put_slice(&frame.size[frame.size_sent..]);
        for chunk in &frame.chunks {
            out.put_slice(chunk);
        }
        out.freeze()
    }

    /// What kafka-protocol's encoder writes for the same frame.
    fn reference(correlation_id: i32, r: &FetchResponse, version: i16) -> Option<Bytes> {
        let header_version = ApiKey::Fetch.response_header_version(version);
        let mut out = BytesMut::new();
        out.put_i32(0);
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut out, header_version)
            .ok()?;
        r.encode(&mut out, version).ok()?;
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        Some(out.freeze())
    }

    fn hand(correlation_id: i32, r: &FetchResponse, version: i16) -> Option<Frame> {
        let header_version = ApiKey::Fetch.response_header_version(version);
        encode_fetch_response(correlation_id, header_version, r, version).ok()
    }

    /// The frame as a socket receives it through vectored writes of at most `per_write`
    /// slices that stop part-way (as partial writes do).
    fn written(mut frame: Frame, per_write: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut round = 0usize;
        while frame.has_remaining() {
            let mut slices = vec![IoSlice::new(&[]); per_write];
            let n = frame.chunks_vectored(&mut slices);
            assert!(n > 0);
            let mut take: usize = slices[..n].iter().map(|s| s.len()).sum();
            // Every other write is short, cutting a slice in the middle.
            round += 1;
            if round.is_multiple_of(2) && take > 1 {
                take = take / 2 + 1;
            }
            let mut left = take;
            for s in &slices[..n] {
                let k = left.min(s.len());
                out.extend_from_slice(&s[..k]);
                left -= k;
            }
            frame.advance(take);
        }
        assert_eq!(frame.chunk(), &[] as &[u8]);
        out
    }

    fn tags(rng: &mut fastrand::Rng, first: i32) -> BTreeMap<i32, Bytes> {
        (0..rng.usize(0..3))
            .map(|_| {
                let value: Vec<u8> = (0..rng.usize(0..5)).map(|_| rng.u8(..)).collect();
                (rng.i32(first..first + 40), Bytes::from(value))
            })
            .collect()
    }

    fn name(rng: &mut fastrand::Rng) -> StrBytes {
        let len = rng.usize(0..20);
        StrBytes::from_string((0..len).map(|_| rng.alphanumeric()).collect())
    }

    /// Records as the log hands them: absent, empty, or some bytes (up to a few KiB, so
    /// varint lengths take one to three bytes).
    fn records(rng: &mut fastrand::Rng) -> Option<Bytes> {
        match rng.u8(0..5) {
            0 => None,
            1 => Some(Bytes::new()),
            _ => {
                let len = rng.usize(1..5000);
                Some(Bytes::from(
                    (0..len).map(|_| rng.u8(..)).collect::<Vec<u8>>(),
                ))
            }
        }
    }

    /// A response with what `version` can carry (kafka-protocol refuses the rest), every
    /// field varied.
    fn response(rng: &mut fastrand::Rng, version: i16) -> FetchResponse {
        let flexible = version >= 12;
        let topics = (0..rng.usize(0..4))
            .map(|_| {
                let partitions = (0..rng.usize(0..4))
                    .map(|_| {
                        let mut p = PartitionData::default()
                            .with_partition_index(rng.i32(-1..100))
                            .with_error_code(rng.i16(-1..120))
                            .with_high_watermark(rng.i64(..))
                            .with_last_stable_offset(rng.i64(..))
                            .with_log_start_offset(rng.i64(..))
                            .with_records(records(rng));
                        p.aborted_transactions = match rng.u8(0..3) {
                            0 => None,
                            _ => Some(
                                (0..rng.usize(0..3))
                                    .map(|_| {
                                        let a = AbortedTransaction::default()
                                            .with_producer_id(ProducerId(rng.i64(..)))
                                            .with_first_offset(rng.i64(..));
                                        if flexible {
                                            a.with_unknown_tagged_fields(tags(rng, 0))
                                        } else {
                                            a
                                        }
                                    })
                                    .collect(),
                            ),
                        };
                        if version >= 11 && rng.bool() {
                            p.preferred_read_replica = BrokerId(rng.i32(0..5));
                        }
                        if flexible {
                            if rng.bool() {
                                p.diverging_epoch = EpochEndOffset::default()
                                    .with_epoch(rng.i32(-1..9))
                                    .with_end_offset(rng.i64(-1..1000))
                                    .with_unknown_tagged_fields(tags(rng, 0));
                            }
                            if rng.bool() {
                                p.current_leader = LeaderIdAndEpoch::default()
                                    .with_leader_id(BrokerId(rng.i32(-1..3)))
                                    .with_leader_epoch(rng.i32(-1..9));
                            }
                            if rng.bool() {
                                p.snapshot_id = SnapshotId::default()
                                    .with_end_offset(rng.i64(-1..1000))
                                    .with_epoch(rng.i32(-1..9));
                            }
                            p.unknown_tagged_fields = tags(rng, 3);
                        }
                        p
                    })
                    .collect();
                let t = FetchableTopicResponse::default()
                    .with_topic(TopicName(name(rng)))
                    .with_topic_id(uuid::Uuid::from_u128(rng.u128(..)))
                    .with_partitions(partitions);
                if flexible {
                    t.with_unknown_tagged_fields(tags(rng, 0))
                } else {
                    t
                }
            })
            .collect();
        let mut r = FetchResponse::default()
            .with_throttle_time_ms(rng.i32(0..10_000))
            .with_responses(topics);
        if version >= 7 {
            r.error_code = rng.i16(0..100);
            r.session_id = rng.i32(..);
        }
        if flexible {
            r.unknown_tagged_fields = tags(rng, 1);
        }
        if version >= 16 && rng.bool() {
            r.node_endpoints = (0..rng.usize(1..3))
                .map(|_| {
                    NodeEndpoint::default()
                        .with_node_id(BrokerId(rng.i32(0..5)))
                        .with_host(name(rng))
                        .with_port(rng.i32(1..65536))
                        .with_rack(rng.bool().then(|| name(rng)))
                        .with_unknown_tagged_fields(tags(rng, 0))
                })
                .collect();
        }
        r
    }

    /// Byte for byte what kafka-protocol writes, at every version served, over hundreds of
    /// varied responses each (errors, aborted transactions, null / empty / large records,
    /// topic names and ids, session ids, diverging epochs, leaders, snapshots, node
    /// endpoints, unknown tagged fields), however the vectored writes split the frame.
    #[test]
    fn matches_kafka_protocols_encoding_at_every_served_version() {
        let (_, min, max) = *super::super::SUPPORTED
            .iter()
            .find(|(k, _, _)| *k == ApiKey::Fetch)
            .unwrap();
        let mut rng = fastrand::Rng::with_seed(16);
        for version in min..=max {
            for case in 0..300 {
                let r = response(&mut rng, version);
                let correlation_id = rng.i32(..);
                let want = reference(correlation_id, &r, version)
                    .unwrap_or_else(|| panic!("kafka-protocol refused v{version} case {case}"));
                let frame = hand(correlation_id, &r, version).unwrap();
                assert_eq!(frame.remaining(), want.len(), "v{version} case {case}");
                assert_eq!(contiguous(&frame), want, "v{version} case {case}");
                let per_write = rng.usize(1..8);
                assert_eq!(written(frame, per_write), want, "v{version} case {case}");
            }
        }
    }

    /// The records are the log's buffer itself, not a copy of it.
    #[test]
    fn records_are_sent_from_their_own_buffer() {
        let records = Bytes::from(vec![7u8; 1000]);
        let r = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![
                PartitionData::default().with_records(Some(records.clone()))
            ])]);
        for version in [4, 12, 17] {
            let frame = hand(1, &r, version).unwrap();
            assert!(
                frame.chunks.iter().any(|c| c.as_ptr() == records.as_ptr()),
                "v{version}: the records chunk points into the read buffer"
            );
        }
    }

    /// What kafka-protocol refuses is refused here too.
    #[test]
    fn refuses_fields_the_version_cannot_carry() {
        let session = FetchResponse::default().with_session_id(5);
        assert!(reference(1, &session, 6).is_none());
        assert!(hand(1, &session, 6).is_none());
        let replica =
            FetchResponse::default()
                .with_responses(vec![FetchableTopicResponse::default().with_partitions(
                    vec![PartitionData::default().with_preferred_read_replica(BrokerId(1))],
                )]);
        assert!(reference(1, &replica, 10).is_none());
        assert!(hand(1, &replica, 10).is_none());
        assert!(hand(1, &FetchResponse::default(), 3).is_none());
    }
}
