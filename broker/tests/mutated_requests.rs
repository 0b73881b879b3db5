//! A brief mutation fuzz of the wire: valid requests of many APIs, each with bytes flipped,
//! truncated, extended or counts replaced, sent one per connection. The broker must answer or
//! close that connection, never panic (a panic hook counts every panic in the process), and
//! keep serving a healthy connection throughout (checked every 200 requests, or every
//! `MUTATED_REQUESTS_CHECK_EVERY`; on failure the last 200 requests are printed). Seeded and
//! bounded so CI runs it in about a second; `MUTATED_REQUESTS=N` runs longer,
//! `MUTATED_REQUESTS_SEED=S` replays a run. It found a CreateTopics whose mutated partition
//! count (16M) held the broker while it built the partitions.
//! It runs on the system allocator, which aborts the process on an allocation it cannot serve:
//! counts are checked against the frame before anything is allocated (vendor/kafka-protocol).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use krafty_broker::Broker;

static PANICS: AtomicUsize = AtomicUsize::new(0);
static FIRST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A framed request: header v1/v2 as the API and version need, then the body.
fn frame<R: Request + Encodable>(req: &R, version: i16) -> Vec<u8> {
    let key = ApiKey::try_from(R::KEY).unwrap();
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(sb("fuzz")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    req.encode(&mut buf, version).unwrap();
    let mut out = (buf.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&buf);
    out
}

fn batch() -> Bytes {
    let records: Vec<Record> = (0..3)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: -1,
            timestamp: 1_000 + i,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).unwrap();
    buf.freeze()
}

/// Valid requests across the APIs the broker serves, old and flexible versions.
fn seeds() -> Vec<Vec<u8>> {
    let topic = || TopicName(sb("fuzz"));
    let produce = |v| {
        frame(
            &ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(1000)
                .with_topic_data(
                    [produce_request::TopicProduceData::default()
                        .with_name(topic())
                        .with_partition_data(vec![
                            produce_request::PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(batch())),
                        ])]
                    .into_iter()
                    .collect(),
                ),
            v,
        )
    };
    let fetch = |v| {
        frame(
            &FetchRequest::default()
                .with_max_wait_ms(0)
                .with_max_bytes(1 << 20)
                .with_topics(vec![fetch_request::FetchTopic::default()
                    .with_topic(topic())
                    .with_partitions(vec![fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20)])]),
            v,
        )
    };
    let metadata = |v| {
        frame(
            &MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic())),
            ])),
            v,
        )
    };
    let commit = |v| {
        frame(
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(sb("g")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1),
                        ]),
                ]),
            v,
        )
    };
    let join = |v| {
        frame(
            &JoinGroupRequest::default()
                .with_group_id(GroupId(sb("g")))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(100)
                .with_protocol_type(sb("consumer"))
                .with_protocols(
                    vec![join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(sb("range"))
                        .with_metadata(Bytes::from_static(b"\x00\x01"))]
                    .into_iter()
                    .collect(),
                ),
            v,
        )
    };
    vec![
        frame(&ApiVersionsRequest::default(), 0),
        frame(
            &ApiVersionsRequest::default()
                .with_client_software_name(sb("f"))
                .with_client_software_version(sb("1")),
            3,
        ),
        metadata(1),
        metadata(9),
        produce(3),
        produce(9),
        fetch(4),
        fetch(12),
        frame(
            &ListOffsetsRequest::default().with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1)]),
            ]),
            7,
        ),
        frame(&FindCoordinatorRequest::default().with_key(sb("g")), 3),
        commit(2),
        commit(8),
        join(5),
        frame(
            &CreateTopicsRequest::default().with_topics(vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(sb("fuzz-made")))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ]),
            5,
        ),
        frame(
            &InitProducerIdRequest::default()
                .with_transaction_timeout_ms(-1)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            4,
        ),
    ]
}

/// One mutation of `seed` (its 4-byte length prefix kept right unless the mutation is about it).
fn mutate(rng: &mut fastrand::Rng, seed: &[u8]) -> Vec<u8> {
    let mut m = seed.to_vec();
    let body = 4..m.len();
    match rng.u8(0..6) {
        // Flip a few bytes anywhere after the length.
        0 => {
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(body.clone());
                m[at] ^= 1 << rng.u8(0..8);
            }
        }
        // A random byte value.
        1 => {
            let at = rng.usize(body.clone());
            m[at] = rng.u8(..);
        }
        // A count or length replaced by an extreme i32 (or varint) somewhere.
        2 => {
            let at = rng.usize(4..m.len().saturating_sub(4).max(5));
            let v = *rng
                .choice(&[i32::MAX, i32::MIN, -1, -2, 0x7fff, 1 << 24])
                .unwrap();
            let end = (at + 4).min(m.len());
            m[at..end].copy_from_slice(&v.to_be_bytes()[..end - at]);
        }
        // Truncated: the length prefix says so.
        3 => {
            let keep = rng.usize(4..m.len());
            m.truncate(keep);
        }
        // Random bytes appended inside the frame.
        4 => {
            let n = rng.usize(1..64);
            m.extend((0..n).map(|_| rng.u8(..)));
        }
        // The length prefix itself lies.
        _ => {
            let lie = (m.len() as i32 - 4) + rng.i32(-8..8);
            m[..4].copy_from_slice(&lie.to_be_bytes());
            return m;
        }
    }
    let len = (m.len() - 4) as i32;
    m[..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// Sends `frame` and waits for an answer or the connection's close (both fine). A mutated
/// request may legitimately wait (a Fetch's `max_wait_ms` or a JoinGroup's rebalance timeout
/// grown by the mutation): after a second the client gives up, as a client would; whether
/// the broker still serves is checked on a healthy connection.
fn exchange(addr: &str, frame: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    if s.write_all(frame).is_err() {
        return;
    }
    // A frame whose length lies long waits for bytes that never come: closing our side ends it.
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::WouldBlock
                        | ErrorKind::TimedOut
                ) =>
            {
                return
            }
            Err(e) => panic!("reading the answer failed: {e}"),
        }
    }
}

#[test]
fn mutated_requests_never_panic_the_broker() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("panic: {info}");
        PANICS.fetch_add(1, Ordering::SeqCst);
        FIRST_PANIC
            .lock()
            .unwrap()
            .get_or_insert_with(|| info.to_string());
    }));
    let b = Broker::builder()
        .listen("127.0.0.1:0")
        .config("num.partitions", "1")
        .config("group.initial.rebalance.delay.ms", "0")
        .start_blocking()
        .unwrap();
    let addr = b.bootstrap_servers();
    let seeds = seeds();
    // Every seed is valid: it is answered.
    for s in &seeds {
        exchange(&addr, s);
    }
    let n: usize = std::env::var("MUTATED_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let seed: u64 = std::env::var("MUTATED_REQUESTS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6b72_6166_7479);
    let check_every: usize = std::env::var("MUTATED_REQUESTS_CHECK_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut recent: std::collections::VecDeque<Vec<u8>> = Default::default();
    for i in 0..n {
        let base = rng.choice(&seeds).unwrap();
        let m = mutate(&mut rng, base);
        exchange(&addr, &m);
        recent.push_back(m);
        if recent.len() > 200 {
            recent.pop_front();
        }
        if i % check_every == 0 {
            // A healthy connection is still served.
            let mut good = TcpStream::connect(&addr).unwrap();
            good.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            good.write_all(&seeds[0]).unwrap();
            let mut len = [0u8; 4];
            if let Err(e) = good.read_exact(&mut len) {
                for m in recent.iter().filter(|m| m.len() >= 8) {
                    let key = i16::from_be_bytes([m[4], m[5]]);
                    let version = i16::from_be_bytes([m[6], m[7]]);
                    eprintln!(
                        "sent api {key} v{version} ({} bytes): {:02x?}",
                        m.len(),
                        &m[..m.len().min(96)]
                    );
                }
                let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
                panic!("after {i} requests the broker stopped serving ({fds} open files): {e}");
            }
        }
    }
    let _ = std::panic::take_hook();
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "seed {seed}: the first panic: {:?}",
        FIRST_PANIC.lock().unwrap()
    );
}
