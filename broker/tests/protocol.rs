//! The dev broker over real TCP, spoken to with raw `kafka-protocol` frames.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{self, FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use krafty_broker::{BlockingBroker, Broker};

struct Conn {
    stream: TcpStream,
    correlation: i32,
}

impl Conn {
    fn new(broker: &BlockingBroker) -> Conn {
        Conn::connect(&broker.bootstrap_servers())
    }

    /// A connection whose reads and writes give up after 15 s (see `read_frame`).
    fn connect(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        Conn {
            stream,
            correlation: 0,
        }
    }

    fn raw(&mut self, frame: &[u8]) {
        self.stream.write_all(frame).unwrap();
    }

    /// The next response frame, or `None` when the broker closed the connection (EOF, or a
    /// reset, even in the middle of a frame). A read that times out panics: a broker that hangs
    /// must fail the test, not pass for one that closed the connection.
    fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        if !read_or_closed(&mut self.stream, &mut len) {
            return None;
        }
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        if !read_or_closed(&mut self.stream, &mut body) {
            return None;
        }
        Some(Bytes::from(body))
    }

    fn send<R: Request>(&mut self, req: R, version: i16) -> Option<R::Response> {
        self.correlation += 1;
        self.raw(&common::request_frame(&req, version, self.correlation));
        let frame = self.read_frame()?;
        Some(common::decode_response::<R>(
            frame,
            version,
            self.correlation,
        ))
    }
}

/// Fills `buf`: true when it was filled, false when the peer closed the connection first (EOF,
/// or a reset). Panics on a timeout or any other error: "closed" must mean closed.
fn read_or_closed(stream: &mut TcpStream, buf: &mut [u8]) -> bool {
    match stream.read_exact(buf) {
        Ok(()) => true,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnexpectedEof
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
            ) =>
        {
            false
        }
        Err(e) => panic!(
            "the broker neither answered nor closed the connection: {e} ({:?})",
            e.kind()
        ),
    }
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn batch(values: &[&str], compression: Compression) -> Bytes {
    batch_of(values, compression, None)
}

/// [`batch`] from a transactional producer (id, epoch), sequences from 0.
fn batch_of(values: &[&str], compression: Compression, txn: Option<(i64, i16)>) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: txn.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: txn.map_or(-1, |t| t.0),
            producer_epoch: txn.map_or(-1, |t| t.1),
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: txn.map_or(-1, |_| 0) + i as i32,
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

fn produce(
    conn: &mut Conn,
    topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
) -> Option<(i16, i64)> {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(sb(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let resp = conn.send(req, 9)?;
    let p = &resp.responses[0].partition_responses[0];
    Some((p.error_code, p.base_offset))
}

fn fetch(conn: &mut Conn, topic: &str, offset: i64, max_wait_ms: i32) -> (i16, Vec<String>) {
    let req = FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(sb(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let resp = conn.send(req, 12).unwrap();
    let p = &resp.responses[0].partitions[0];
    let mut data = p.records.clone().unwrap_or_default();
    let values = if data.is_empty() {
        vec![]
    } else {
        RecordBatchDecoder::decode_all(&mut data)
            .unwrap()
            .iter()
            .flat_map(|s| s.records.iter())
            .filter(|r| r.offset >= offset)
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect()
    };
    (p.error_code, values)
}

fn create_topic(conn: &mut Conn, name: &str, partitions: i32) -> i16 {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(sb(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    conn.send(req, 5).unwrap().topics[0].error_code
}

fn broker() -> BlockingBroker {
    Broker::builder()
        .listen("127.0.0.1:0")
        .start_blocking()
        .unwrap()
}

#[test]
fn produce_fetch_round_trip_with_every_codec() {
    let b = broker();
    let mut c = Conn::new(&b);
    assert_eq!(create_topic(&mut c, "codecs", 1), 0);
    let mut expected = Vec::new();
    for (i, codec) in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
    .into_iter()
    .enumerate()
    {
        let values: Vec<String> = (0..3).map(|j| format!("{codec:?}-{j}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(
            produce(&mut c, "codecs", 0, batch(&refs, codec), -1),
            Some((0, 3 * i as i64))
        );
        expected.extend(values);
    }
    assert_eq!(fetch(&mut c, "codecs", 0, 0), (0, expected.clone()));
    assert_eq!(fetch(&mut c, "codecs", 7, 0).1, expected[7..].to_vec());
    assert_eq!(fetch(&mut c, "codecs", 99, 0).0, 1, "OFFSET_OUT_OF_RANGE");
}

#[test]
fn acks_zero_gets_no_response_but_is_stored() {
    let b = broker();
    let mut c = Conn::new(&b);
    create_topic(&mut c, "fire", 1);
    // acks=0: nothing comes back; the next request's answer is the next frame.
    let req = ProduceRequest::default()
        .with_acks(0)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(sb("fire")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(&["x"], Compression::None)))])]);
    c.correlation += 1;
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(0)
        .with_request_api_version(9)
        .with_correlation_id(c.correlation)
        .encode(&mut buf, 2)
        .unwrap();
    req.encode(&mut buf, 9).unwrap();
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    c.raw(&buf);
    assert_eq!(fetch(&mut c, "fire", 0, 1000).1, vec!["x"]);
}

#[test]
fn errors_carry_kafka_codes() {
    let b = Broker::builder()
        .listen("127.0.0.1:0")
        .config("auto.create.topics.enable", "false")
        .config("message.max.bytes", "200")
        .start_blocking()
        .unwrap();
    let mut c = Conn::new(&b);
    assert_eq!(
        produce(&mut c, "nope", 0, batch(&["x"], Compression::None), -1)
            .unwrap()
            .0,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(create_topic(&mut c, "t", 1), 0);
    assert_eq!(create_topic(&mut c, "t", 1), 36, "TOPIC_ALREADY_EXISTS");
    assert_eq!(
        create_topic(&mut c, "bad name!", 1),
        17,
        "INVALID_TOPIC_EXCEPTION"
    );
    let big = "x".repeat(300);
    assert_eq!(
        produce(&mut c, "t", 0, batch(&[&big], Compression::None), -1)
            .unwrap()
            .0,
        10,
        "MESSAGE_TOO_LARGE"
    );
    let mut corrupt = batch(&["y"], Compression::None).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert_eq!(
        produce(&mut c, "t", 0, Bytes::from(corrupt), -1).unwrap().0,
        2,
        "CORRUPT_MESSAGE"
    );
    assert_eq!(
        produce(&mut c, "t", 0, batch(&["z"], Compression::None), 5)
            .unwrap()
            .0,
        21,
        "INVALID_REQUIRED_ACKS"
    );
    let md = c
        .send(
            MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(TopicName(sb("nope"))))])),
            12,
        )
        .unwrap();
    assert_eq!(md.topics[0].error_code, 3, "no auto-creation when disabled");
    let pid_with_timeout = |c: &mut Conn, tid: Option<&str>, timeout_ms: i32| {
        c.send(
            InitProducerIdRequest::default()
                .with_transactional_id(tid.map(|t| TransactionalId(sb(t))))
                .with_transaction_timeout_ms(timeout_ms),
            4,
        )
        .unwrap()
    };
    let pid = |c: &mut Conn, tid: Option<&str>| pid_with_timeout(c, tid, -1);
    assert_eq!(pid(&mut c, Some("")).error_code, 42, "INVALID_REQUEST");
    assert_eq!(
        pid(&mut c, Some("tx")).error_code,
        50,
        "INVALID_TRANSACTION_TIMEOUT"
    );
    assert_eq!(
        pid_with_timeout(&mut c, Some("tx"), 900_001).error_code,
        50,
        "past transaction.max.timeout.ms"
    );
    let transactional = pid_with_timeout(&mut c, Some("tx"), 60_000);
    assert_eq!(transactional.error_code, 0);
    assert!(transactional.producer_id.0 >= 0 && transactional.producer_epoch == 0);
    let again = pid_with_timeout(&mut c, Some("tx"), 60_000);
    assert_eq!(
        (again.producer_id, again.producer_epoch),
        (transactional.producer_id, 1),
        "a new instance of the same transactional id: same producer id, epoch bumped"
    );
    let idempotent = pid(&mut c, None);
    assert_eq!(idempotent.error_code, 0);
    assert!(idempotent.producer_id.0 >= 0);
}

#[test]
fn api_versions_for_an_unknown_version_answers_v0_with_error_35() {
    let b = broker();
    let mut c = Conn::new(&b);
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    buf.put_i16(18); // ApiVersions
    buf.put_i16(99); // a version from the future
    buf.put_i32(7);
    buf.put_i16(-1);
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    c.raw(&buf);
    let mut frame = c.read_frame().unwrap();
    assert_eq!(frame.get_i32(), 7, "header v0: correlation id only");
    let resp = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(resp.error_code, 35);
    assert_eq!(resp.api_keys.len(), 1);
    assert_eq!(
        (resp.api_keys[0].api_key, resp.api_keys[0].max_version),
        (18, 4)
    );
    // The full list at a supported version.
    let full = c.send(ApiVersionsRequest::default(), 3).unwrap();
    let fetch = full.api_keys.iter().find(|k| k.api_key == 1).unwrap();
    assert_eq!(
        fetch.max_version, 17,
        "Fetch up to v17: topics by id from v13 (fetch_from_v13_names_topics_by_id)"
    );
    assert!(
        full.api_keys.iter().all(|k| k.api_key != 68),
        "no KIP-848 ConsumerGroupHeartbeat"
    );
}

#[test]
fn malformed_and_oversize_frames_close_only_their_connection() {
    let b = Broker::builder()
        .listen("127.0.0.1:0")
        .config("socket.request.max.bytes", "1000")
        .start_blocking()
        .unwrap();
    let mut good = Conn::new(&b);
    create_topic(&mut good, "safe", 1);
    produce(
        &mut good,
        "safe",
        0,
        batch(&["kept"], Compression::None),
        -1,
    )
    .unwrap();
    for garbage in [
        vec![0, 0, 0, 10, 0x7f, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0], // unknown API key
        vec![0, 0, 0, 2, 0, 1],                                // shorter than a header
        vec![0, 0x10, 0, 0], // larger than socket.request.max.bytes
        vec![0, 0, 0, 12, 0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff], // Metadata body that does not decode
    ] {
        let mut bad = Conn::new(&b);
        bad.raw(&garbage);
        assert!(
            bad.read_frame().is_none(),
            "connection closed for {garbage:?}"
        );
    }
    assert_eq!(
        fetch(&mut good, "safe", 0, 0).1,
        vec!["kept"],
        "other connections keep being served"
    );
}

#[test]
fn long_poll_fetch_wakes_on_append() {
    let b = broker();
    let mut c = Conn::new(&b);
    create_topic(&mut c, "wake", 1);
    let addr = b.bootstrap_servers();
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let mut p = Conn::connect(&addr);
        produce(&mut p, "wake", 0, batch(&["ping"], Compression::None), 1).unwrap();
    });
    let started = Instant::now();
    let (code, values) = fetch(&mut c, "wake", 0, 10_000);
    let waited = started.elapsed();
    producer.join().unwrap();
    assert_eq!((code, values), (0, vec!["ping".to_string()]));
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "woke on the append after {waited:?}"
    );
    let started = Instant::now();
    assert!(fetch(&mut c, "wake", 1, 400).1.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "honoured max_wait_ms when nothing arrived"
    );
}

/// Shutting down does not wait out a parked fetch's `max_wait_ms`: the fetch is answered (with
/// what there is) and the broker stops at once.
#[test]
fn shutdown_answers_a_parked_fetch_at_once() {
    let mut b = broker();
    let mut c = Conn::new(&b);
    create_topic(&mut c, "parked", 1);
    let fetching = std::thread::spawn(move || {
        let started = Instant::now();
        let answer = fetch(&mut c, "parked", 0, 30_000);
        (answer, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    b.shutdown();
    let stopped = started.elapsed();
    let ((code, values), waited) = fetching.join().unwrap();
    assert_eq!((code, values), (0, vec![]), "answered with nothing to read");
    assert!(
        stopped < Duration::from_secs(5) && waited < Duration::from_secs(5),
        "shutdown took {stopped:?}, the fetch {waited:?} (max_wait_ms 30 s)"
    );
}

#[test]
fn data_and_topics_survive_a_restart_and_retention_deletes_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = Broker::builder()
            .listen("127.0.0.1:0")
            .data_dir(dir.path())
            .config("log.segment.bytes", "300")
            .start_blocking()
            .unwrap();
        let mut c = Conn::new(&b);
        create_topic(&mut c, "durable", 2);
        for i in 0..10 {
            produce(
                &mut c,
                "durable",
                0,
                batch(&[&format!("m{i}")], Compression::None),
                -1,
            )
            .unwrap();
        }
    }
    let b = Broker::builder()
        .listen("127.0.0.1:0")
        .data_dir(dir.path())
        .config("log.segment.bytes", "300")
        .config("log.retention.bytes", "300")
        .start_blocking()
        .unwrap();
    let mut c = Conn::new(&b);
    let md = c
        .send(MetadataRequest::default().with_topics(None), 12)
        .unwrap();
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_deref().map(|n| n.as_str()) == Some("durable"))
        .expect("topic restored");
    assert_eq!(t.partitions.len(), 2);
    let values = fetch(&mut c, "durable", 0, 0).1;
    assert_eq!(values, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(
        produce(
            &mut c,
            "durable",
            0,
            batch(&["after"], Compression::None),
            -1
        ),
        Some((0, 10))
    );
    assert!(dir
        .path()
        .join("durable-0")
        .join("00000000000000000000.index")
        .exists());
    // Retention by bytes: old segments go, the log start moves, the end stays.
    b.enforce_retention_now();
    let req = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
        .with_name(TopicName(sb("durable")))
        .with_partitions(vec![ListOffsetsPartition::default()
            .with_partition_index(0)
            .with_timestamp(-2)])]);
    let earliest = c.send(req, 7).unwrap().topics[0].partitions[0].offset;
    assert!(earliest > 0, "log start moved to {earliest}");
    assert_eq!(
        fetch(&mut c, "durable", 0, 0).0,
        1,
        "deleted offsets are out of range"
    );
    assert_eq!(fetch(&mut c, "durable", 10, 0).1, vec!["after"]);
}

#[test]
fn fault_injection_errors_latency_and_dropped_connections() {
    let b = broker();
    let mut c = Conn::new(&b);
    create_topic(&mut c, "faulty", 1);
    b.faults().fail_next(0, 6, 2, Some("faulty"), Some(0));
    assert_eq!(
        produce(&mut c, "faulty", 0, batch(&["a"], Compression::None), -1)
            .unwrap()
            .0,
        6
    );
    assert_eq!(
        produce(&mut c, "faulty", 0, batch(&["a"], Compression::None), -1)
            .unwrap()
            .0,
        6
    );
    assert_eq!(
        produce(&mut c, "faulty", 0, batch(&["a"], Compression::None), -1),
        Some((0, 0)),
        "only two failed"
    );
    b.faults().fail_next(1, 75, 1, None, None);
    assert_eq!(fetch(&mut c, "faulty", 0, 0).0, 75);
    b.faults().add_latency(3, 300);
    let started = Instant::now();
    c.send(MetadataRequest::default().with_topics(None), 12)
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    b.faults().clear();
    b.faults().drop_connection_after(1);
    assert!(
        c.send(MetadataRequest::default().with_topics(None), 12)
            .is_some(),
        "one more is answered"
    );
    assert!(
        produce(&mut c, "faulty", 0, batch(&["b"], Compression::None), -1).is_none(),
        "then the connection dies unanswered"
    );
    let mut fresh = Conn::new(&b);
    assert_eq!(
        fetch(&mut fresh, "faulty", 0, 0).1,
        vec!["a", "b"],
        "the dropped request was still handled"
    );
}

#[test]
fn list_offsets_answers_at_every_advertised_version() {
    let b = broker();
    let mut c = Conn::new(&b);
    create_topic(&mut c, "lo", 1);
    produce(&mut c, "lo", 0, batch(&["a", "b"], Compression::None), -1).unwrap();
    for version in 1..=7 {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(sb("lo")))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]);
        let resp = c
            .send(req, version)
            .unwrap_or_else(|| panic!("v{version} answered"));
        assert_eq!(resp.topics[0].partitions[0].offset, 2, "v{version}");
    }
}

#[test]
fn delete_records_describe_cluster_leader_epochs_and_configs() {
    let b = broker();
    let mut c = Conn::new(&b);
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(sb("admin")))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(sb("retention.ms"))
                    .with_value(Some(sb("1000"))),
            ])]);
    assert_eq!(c.send(req, 5).unwrap().topics[0].error_code, 0);
    for i in 0..5 {
        produce(
            &mut c,
            "admin",
            0,
            batch(&[&format!("r{i}")], Compression::None),
            -1,
        )
        .unwrap();
    }
    // DeleteRecords moves the low watermark; reads below it are out of range.
    let req = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
            .with_name(TopicName(sb("admin")))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(3),
            ])]);
    let resp = c.send(req, 2).unwrap();
    assert_eq!(
        (
            resp.topics[0].partitions[0].error_code,
            resp.topics[0].partitions[0].low_watermark
        ),
        (0, 3)
    );
    assert_eq!(fetch(&mut c, "admin", 1, 0).0, 1);
    assert_eq!(fetch(&mut c, "admin", 3, 0).1, vec!["r3", "r4"]);
    // DescribeCluster names this node.
    let cluster = c.send(DescribeClusterRequest::default(), 0).unwrap();
    assert_eq!((cluster.controller_id.0, cluster.brokers.len()), (1, 1));
    assert_eq!(
        format!(
            "{}:{}",
            cluster.brokers[0].host.as_str(),
            cluster.brokers[0].port
        ),
        b.bootstrap_servers()
    );
    // OffsetForLeaderEpoch: epoch 0 ends at the log end.
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                .with_topic(TopicName(sb("admin")))
                .with_partitions(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(0)
                        .with_leader_epoch(0),
                ]),
        ]);
    let e = &c.send(req, 4).unwrap().topics[0].partitions[0];
    assert_eq!((e.error_code, e.leader_epoch, e.end_offset), (0, 0, 5));
    // DescribeConfigs: the override and a default, with their sources.
    let req = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(sb("admin"))
            .with_configuration_keys(None),
    ]);
    let r = &c.send(req, 4).unwrap().results[0];
    let get = |k: &str| {
        r.configs
            .iter()
            .find(|x| x.name.as_str() == k)
            .map(|x| (x.value.as_ref().unwrap().to_string(), x.config_source))
    };
    assert_eq!(
        get("retention.ms"),
        Some(("1000".to_string(), 1)),
        "dynamic topic config"
    );
    assert_eq!(
        get("cleanup.policy"),
        Some(("delete".to_string(), 5)),
        "default"
    );
}

/// A SASL_PLAINTEXT listener beside a plaintext one: PLAIN over raw frames authenticates and
/// then serves everything, Metadata advertising the listener the client came in on; before
/// authentication only ApiVersions and the SASL requests are served, and anything else (other
/// requests, garbage, a wrong password after its SASL_AUTHENTICATION_FAILED answer) closes
/// that one connection while the authenticated one keeps being served.
#[test]
fn sasl_listener_authenticates_and_garbage_before_authentication_closes_only_its_connection() {
    let b = Broker::builder()
        .listeners("PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0")
        .sasl_user("alice", "alice-secret")
        .config("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512")
        .start_blocking()
        .unwrap();
    let sasl_addr = b.listener_bootstrap("SASL_PLAINTEXT").unwrap();
    let plain_addr = b.listener_bootstrap("PLAINTEXT").unwrap();
    assert_eq!(plain_addr, b.bootstrap_servers());
    let port = |a: &str| a.rsplit_once(':').unwrap().1.parse::<i32>().unwrap();

    let login = |conn: &mut Conn, password: &str| -> SaslAuthenticateResponse {
        let versions = conn.send(ApiVersionsRequest::default(), 3).unwrap();
        assert!(versions
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::SaslAuthenticate as i16));
        let hs = conn
            .send(
                SaslHandshakeRequest::default().with_mechanism(sb("PLAIN")),
                1,
            )
            .unwrap();
        assert_eq!(hs.error_code, 0);
        assert_eq!(hs.mechanisms, vec![sb("PLAIN"), sb("SCRAM-SHA-512")]);
        let token = format!("\0alice\0{password}");
        conn.send(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token.into_bytes())),
            2,
        )
        .unwrap()
    };
    let mut good = Conn::connect(&sasl_addr);
    assert_eq!(login(&mut good, "alice-secret").error_code, 0);
    let md = good
        .send(MetadataRequest::default().with_topics(None), 12)
        .unwrap();
    assert_eq!(
        md.brokers[0].port,
        port(&sasl_addr),
        "the SASL port is advertised"
    );
    create_topic(&mut good, "sasl-safe", 1);

    // A mechanism not enabled: UNSUPPORTED_SASL_MECHANISM (33) with the enabled list.
    let mut other = Conn::connect(&sasl_addr);
    let hs = other
        .send(
            SaslHandshakeRequest::default().with_mechanism(sb("SCRAM-SHA-256")),
            1,
        )
        .unwrap();
    assert_eq!(hs.error_code, 33);

    // A wrong password: SASL_AUTHENTICATION_FAILED with a message, then the connection closes.
    let mut wrong = Conn::connect(&sasl_addr);
    let r = login(&mut wrong, "nope");
    assert_eq!(r.error_code, 58);
    assert!(r.error_message.unwrap().contains("PLAIN"));
    assert!(wrong.read_frame().is_none(), "closed after the failure");

    // Requests before authentication and garbage close their connection.
    let mut early = Conn::connect(&sasl_addr);
    assert!(
        early
            .send(MetadataRequest::default().with_topics(None), 12)
            .is_none(),
        "Metadata before authentication closes the connection"
    );
    for garbage in [
        vec![0, 0, 0, 10, 0x7f, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![0xde, 0xad, 0xbe, 0xef, 1, 2, 3],
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ] {
        let mut bad = Conn::connect(&sasl_addr);
        bad.raw(&garbage);
        assert!(bad.read_frame().is_none(), "closed for {garbage:?}");
    }

    // The plaintext listener needs no login and advertises its own port.
    let mut plain = Conn::connect(&plain_addr);
    let md = plain
        .send(MetadataRequest::default().with_topics(None), 12)
        .unwrap();
    assert_eq!(md.brokers[0].port, port(&plain_addr));

    // The authenticated connection is still served.
    produce(
        &mut good,
        "sasl-safe",
        0,
        batch(&["kept"], Compression::None),
        -1,
    )
    .unwrap();
    assert_eq!(fetch(&mut good, "sasl-safe", 0, 0).1, vec!["kept"]);
}

#[test]
fn a_transactional_batch_needs_its_partition_added_to_the_transaction() {
    let b = broker();
    let mut c = Conn::new(&b);
    assert_eq!(create_topic(&mut c, "tx", 2), 0);
    let init = c
        .send(
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(sb("tx-1"))))
                .with_transaction_timeout_ms(60_000),
            4,
        )
        .unwrap();
    assert_eq!(init.error_code, 0);
    let ids = (init.producer_id.0, init.producer_epoch);
    let records = batch_of(&["x"], Compression::None, Some(ids));
    assert_eq!(
        produce(&mut c, "tx", 0, records.clone(), -1).unwrap().0,
        48,
        "INVALID_TXN_STATE: partition 0 was never added"
    );
    let added = c
        .send(
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(sb("tx-1")))
                .with_v3_and_below_producer_id(init.producer_id)
                .with_v3_and_below_producer_epoch(init.producer_epoch)
                .with_v3_and_below_topics(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(sb("tx")))
                        .with_partitions(vec![0]),
                ]),
            3,
        )
        .unwrap();
    let code = added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(code, 0);
    assert_eq!(
        produce(&mut c, "tx", 0, records.clone(), -1).unwrap(),
        (0, 0)
    );
    assert_eq!(
        produce(&mut c, "tx", 1, records, -1).unwrap().0,
        48,
        "partition 1 is not in the transaction"
    );
}

/// A Fetch v12 in session `(id, epoch)` naming `partitions` (partition, offset) of topic `fs`
/// and forgetting `forget`: (top-level error, session id, [(partition, values)]).
fn session_fetch(
    c: &mut Conn,
    id: i32,
    epoch: i32,
    partitions: &[(i32, i64)],
    forget: &[i32],
) -> (i16, i32, Vec<(i32, Vec<String>)>) {
    let topics = if partitions.is_empty() {
        vec![]
    } else {
        vec![FetchTopic::default()
            .with_topic(TopicName(sb("fs")))
            .with_partitions(
                partitions
                    .iter()
                    .map(|(p, offset)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_fetch_offset(*offset)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]
    };
    let forgotten = if forget.is_empty() {
        vec![]
    } else {
        vec![fetch_request::ForgottenTopic::default()
            .with_topic(TopicName(sb("fs")))
            .with_partitions(forget.to_vec())]
    };
    let req = FetchRequest::default()
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_id(id)
        .with_session_epoch(epoch)
        .with_topics(topics)
        .with_forgotten_topics_data(forgotten);
    let resp = c.send(req, 12).unwrap();
    let parts = resp
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            let mut data = p.records.clone().unwrap_or_default();
            let values = RecordBatchDecoder::decode_all(&mut data)
                .unwrap_or_default()
                .iter()
                .flat_map(|s| s.records.iter())
                .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
                .collect();
            (p.partition_index, values)
        })
        .collect();
    (resp.error_code, resp.session_id, parts)
}

#[test]
fn fetch_sessions_answer_incrementally() {
    let b = broker();
    let mut c = Conn::new(&b);
    assert_eq!(create_topic(&mut c, "fs", 2), 0);
    produce(&mut c, "fs", 0, batch(&["a"], Compression::None), -1).unwrap();
    produce(&mut c, "fs", 1, batch(&["b"], Compression::None), -1).unwrap();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // Epoch -1: no session.
    let (e, id, parts) = session_fetch(&mut c, 0, -1, &[(0, 0)], &[]);
    assert_eq!((e, id), (0, 0));
    assert_eq!(parts, vec![(0, s(&["a"]))]);
    // Epoch 0: a full fetch opens a session and answers every partition.
    let (e, id, parts) = session_fetch(&mut c, 0, 0, &[(0, 0), (1, 0)], &[]);
    assert_eq!(e, 0);
    assert!(id > 0, "a session id");
    assert_eq!(parts, vec![(0, s(&["a"])), (1, s(&["b"]))]);
    // Epoch 1: the new positions; nothing changed, so nothing in the answer.
    assert_eq!(
        session_fetch(&mut c, id, 1, &[(0, 1), (1, 1)], &[]),
        (0, id, vec![])
    );
    // A record on partition 1: the next incremental fetch names no partition and gets it.
    produce(&mut c, "fs", 1, batch(&["c"], Compression::None), -1).unwrap();
    assert_eq!(
        session_fetch(&mut c, id, 2, &[], &[]),
        (0, id, vec![(1, s(&["c"]))])
    );
    // A stale epoch, and an unknown session.
    assert_eq!(
        session_fetch(&mut c, id, 2, &[], &[]).0,
        71,
        "INVALID_FETCH_SESSION_EPOCH"
    );
    assert_eq!(
        session_fetch(&mut c, id + 1, 1, &[], &[]).0,
        70,
        "FETCH_SESSION_ID_NOT_FOUND"
    );
    // Partition 1 forgotten: its new records are no longer answered.
    assert_eq!(
        session_fetch(&mut c, id, 3, &[(1, 2)], &[1]),
        (0, id, vec![])
    );
    produce(&mut c, "fs", 1, batch(&["d"], Compression::None), -1).unwrap();
    produce(&mut c, "fs", 0, batch(&["e"], Compression::None), -1).unwrap();
    assert_eq!(
        session_fetch(&mut c, id, 4, &[], &[]),
        (0, id, vec![(0, s(&["e"]))])
    );
    // Epoch -1 with the id closes the session.
    assert_eq!(session_fetch(&mut c, id, -1, &[(0, 2)], &[]).1, 0);
    assert_eq!(session_fetch(&mut c, id, 5, &[], &[]).0, 70);
}

#[test]
fn fetch_from_v13_names_topics_by_id() {
    let b = broker();
    let mut c = Conn::new(&b);
    assert_eq!(create_topic(&mut c, "by-id", 1), 0);
    produce(
        &mut c,
        "by-id",
        0,
        batch(&["x", "y"], Compression::None),
        -1,
    )
    .unwrap();
    let md = c
        .send(
            MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(TopicName(sb("by-id"))))])),
            12,
        )
        .unwrap();
    let id = md.topics[0].topic_id;
    assert!(!id.is_nil());
    let fetch_by_id = |c: &mut Conn, id: uuid::Uuid| {
        let req = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic_id(id)
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20)])]);
        c.send(req, 17).unwrap()
    };
    let resp = fetch_by_id(&mut c, id);
    assert_eq!(resp.responses[0].topic_id, id);
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 2));
    let mut data = p.records.clone().unwrap();
    let values: Vec<_> = RecordBatchDecoder::decode_all(&mut data)
        .unwrap()
        .iter()
        .flat_map(|s| s.records.iter())
        .map(|r| r.value.clone().unwrap())
        .collect();
    assert_eq!(values, vec![Bytes::from("x"), Bytes::from("y")]);
    let other = uuid::Uuid::from_u128(7);
    let resp = fetch_by_id(&mut c, other);
    assert_eq!(resp.responses[0].topic_id, other);
    assert_eq!(
        resp.responses[0].partitions[0].error_code, 100,
        "UNKNOWN_TOPIC_ID"
    );
}

/// A transactional Produce at `version` from `transactional_id`: the partition's error code.
fn produce_txn(
    conn: &mut Conn,
    id: &str,
    topic: &str,
    partition: i32,
    records: Bytes,
    version: i16,
) -> i16 {
    let req = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(sb(id))))
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(sb(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    conn.send(req, version).unwrap().responses[0].partition_responses[0].error_code
}

/// EndTxn v5 from `id` under `(producer id, epoch)`: (error, producer id, epoch answered).
fn end_txn_v5(conn: &mut Conn, id: &str, ids: (i64, i16), commit: bool) -> (i16, i64, i16) {
    let r = conn
        .send(
            EndTxnRequest::default()
                .with_transactional_id(TransactionalId(sb(id)))
                .with_producer_id(ProducerId(ids.0))
                .with_producer_epoch(ids.1)
                .with_committed(commit),
            5,
        )
        .unwrap();
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// The partitions of `id`'s open transaction, as DescribeTransactions lists them.
fn txn_partitions(conn: &mut Conn, id: &str) -> (String, Vec<(String, Vec<i32>)>) {
    let r = conn
        .send(
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(sb(id))]),
            0,
        )
        .unwrap();
    let s = &r.transaction_states[0];
    let topics = s
        .topics
        .iter()
        .map(|t| (t.topic.to_string(), t.partitions.clone()))
        .collect();
    (s.transaction_state.to_string(), topics)
}

/// ApiVersions v3's features and the versions KIP-890 changed: (finalized
/// transaction.version, Produce max, EndTxn max, TxnOffsetCommit max).
fn transaction_versions(conn: &mut Conn) -> (Option<i16>, i16, i16, i16) {
    let r = conn.send(ApiVersionsRequest::default(), 3).unwrap();
    let max = |k: ApiKey| {
        r.api_keys
            .iter()
            .find(|v| v.api_key == k as i16)
            .unwrap()
            .max_version
    };
    let level = r
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "transaction.version")
        .map(|f| f.max_version_level);
    assert!(r
        .supported_features
        .iter()
        .any(|f| f.name.as_str() == "transaction.version" && f.max_version == 2));
    (
        level,
        max(ApiKey::Produce),
        max(ApiKey::EndTxn),
        max(ApiKey::TxnOffsetCommit),
    )
}

/// KIP-890's transaction protocol v2 (`transaction.version` 2, the default): ApiVersions
/// finalizes the feature; a Produce v12 adds its partition and a TxnOffsetCommit v5 the
/// group's offsets partition; EndTxn v5 bumps the epoch and answers with it, a retry with the
/// epoch before the bump gets that answer again, the other end with it INVALID_TXN_STATE; with
/// nothing open a commit is INVALID_TXN_STATE and an abort bumps the epoch, as Kafka 4.1 and
/// 4.4 answer.
#[test]
fn transaction_protocol_v2_adds_partitions_itself_and_bumps_the_epoch_at_each_end() {
    let b = broker();
    let mut c = Conn::new(&b);
    assert_eq!(transaction_versions(&mut c), (Some(2), 12, 5, 5));
    assert_eq!(create_topic(&mut c, "tv2", 2), 0);
    let init = c
        .send(
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(sb("tv2-id"))))
                .with_transaction_timeout_ms(60_000),
            5,
        )
        .unwrap();
    assert_eq!(init.error_code, 0);
    let (pid, e) = (init.producer_id.0, init.producer_epoch);
    let records = batch_of(&["x"], Compression::None, Some((pid, e)));
    assert_eq!(
        produce_txn(&mut c, "tv2-id", "tv2", 1, records.clone(), 11),
        48,
        "v11 is protocol v1: the partition must be added first"
    );
    assert_eq!(produce_txn(&mut c, "tv2-id", "tv2", 0, records, 12), 0);
    assert_eq!(
        txn_partitions(&mut c, "tv2-id"),
        ("Ongoing".to_string(), vec![("tv2".to_string(), vec![0])])
    );
    assert_eq!(
        end_txn_v5(&mut c, "tv2-id", (pid, e), true),
        (0, pid, e + 1)
    );
    assert_eq!(
        end_txn_v5(&mut c, "tv2-id", (pid, e), true),
        (0, pid, e + 1),
        "a retry"
    );
    assert_eq!(
        end_txn_v5(&mut c, "tv2-id", (pid, e), false).0,
        48,
        "the other end"
    );
    assert_eq!(
        end_txn_v5(&mut c, "tv2-id", (pid, e + 1), true).0,
        48,
        "nothing to commit"
    );
    assert_eq!(
        end_txn_v5(&mut c, "tv2-id", (pid, e + 1), false),
        (0, pid, e + 2),
        "an abort with nothing open still moves the epoch on"
    );
    assert_eq!(
        end_txn_v5(&mut c, "tv2-id", (pid, e), false).0,
        90,
        "an older epoch"
    );
    let e = e + 1;

    // The next transaction, under the bumped epoch: its sequences start again at 0.
    let records = batch_of(&["y"], Compression::None, Some((pid, e + 1)));
    assert_eq!(produce_txn(&mut c, "tv2-id", "tv2", 0, records, 12), 0);
    let committed = c
        .send(
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(sb("tv2-id")))
                .with_group_id(GroupId(sb("tv2-group")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(e + 1)
                .with_generation_id(-1)
                .with_member_id(sb(""))
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(sb("tv2")))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1),
                        ]),
                ]),
            5,
        )
        .unwrap();
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);
    let (state, topics) = txn_partitions(&mut c, "tv2-id");
    assert_eq!(state, "Ongoing");
    assert!(
        topics.iter().any(|(t, _)| t == "__consumer_offsets"),
        "the offsets partition joined: {topics:?}"
    );
    assert_eq!(
        end_txn_v5(&mut c, "tv2-id", (pid, e + 1), false),
        (0, pid, e + 2)
    );
}

/// `transaction.version=1` (a Kafka 3.x cluster): the feature is finalized at 1, Produce,
/// EndTxn and TxnOffsetCommit stop at their protocol v1 versions, and an EndTxn v5 is a
/// version this broker does not serve (its connection closes, others go on).
#[test]
fn transaction_version_1_offers_protocol_v1_only() {
    let b = Broker::builder()
        .listen("127.0.0.1:0")
        .config("transaction.version", "1")
        .start_blocking()
        .unwrap();
    let mut c = Conn::new(&b);
    assert_eq!(transaction_versions(&mut c), (Some(1), 11, 4, 4));
    let mut v5 = Conn::new(&b);
    assert!(v5
        .send(
            EndTxnRequest::default().with_transactional_id(TransactionalId(sb("t"))),
            5
        )
        .is_none());
    assert_eq!(create_topic(&mut c, "tv1", 1), 0, "the others go on");
    assert!(Broker::builder()
        .config("transaction.version", "3")
        .build_config()
        .is_err());
}

/// One IncrementalAlterConfigs of a topic's configs: (name, operation, value).
fn incremental_alter(
    conn: &mut Conn,
    resource_type: i8,
    name: &str,
    configs: &[(&str, i8, Option<&str>)],
) -> (i16, String) {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(sb(name))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, op, v)| {
                        AlterableConfig::default()
                            .with_name(sb(k))
                            .with_config_operation(*op)
                            .with_value(v.map(sb))
                    })
                    .collect(),
            ),
    ]);
    let r = &conn.send(req, 1).unwrap().responses[0];
    assert_eq!(r.resource_name.as_str(), name);
    (
        r.error_code,
        r.error_message.as_deref().unwrap_or("").to_string(),
    )
}

/// A topic config by DescribeConfigs: (value, source).
fn topic_config(conn: &mut Conn, topic: &str, key: &str) -> (String, i8) {
    let req = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(sb(topic))
            .with_configuration_keys(Some(vec![sb(key)])),
    ]);
    let r = conn.send(req, 4).unwrap();
    let c = &r.results[0].configs[0];
    (c.value.as_deref().unwrap().to_string(), c.config_source)
}

/// Topic configs change by IncrementalAlterConfigs (SET, DELETE, APPEND and SUBTRACT on the
/// list `cleanup.policy`) and AlterConfigs (the given set replaces the overrides), checked as
/// at creation (INVALID_CONFIG naming the property) and shown by DescribeConfigs with their
/// sources; a durable broker's flusher then fsyncs a topic given `flush.ms=0` and checkpoints
/// its recovery point.
#[test]
fn topic_configs_alter_and_the_flusher_honours_flush_ms() {
    let dir = tempfile::tempdir().unwrap();
    let b = Broker::builder()
        .listen("127.0.0.1:0")
        .data_dir(dir.path())
        .config("log.flush.scheduler.interval.ms", "50")
        .config("log.flush.interval.ms", "9223372036854775807")
        .start_blocking()
        .unwrap();
    let mut c = Conn::new(&b);
    assert_eq!(create_topic(&mut c, "flushed", 1), 0);
    let max = i64::MAX.to_string();
    assert_eq!(
        topic_config(&mut c, "flushed", "flush.ms"),
        (max.clone(), 5)
    );
    let (code, message) = incremental_alter(
        &mut c,
        2,
        "flushed",
        &[("flush.ms", 0, Some("0")), ("flush.messages", 0, Some("0"))],
    );
    assert_eq!(code, 40, "{message}");
    assert!(message.contains("flush.messages"), "{message}");
    assert_eq!(
        topic_config(&mut c, "flushed", "flush.ms"),
        (max.clone(), 5),
        "nothing of a refused request applies"
    );
    let set = [("flush.ms", 0, Some("0"))];
    assert_eq!(incremental_alter(&mut c, 2, "flushed", &set).0, 0);
    assert_eq!(topic_config(&mut c, "flushed", "flush.ms"), ("0".into(), 1));
    // The flusher (every 50 ms) fsyncs the append and checkpoints the recovery point.
    produce(
        &mut c,
        "flushed",
        0,
        batch(&["a", "b"], Compression::None),
        -1,
    )
    .unwrap();
    let checkpoint = dir.path().join("recovery-point-offset-checkpoint");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&checkpoint).unwrap_or_default();
        if text.lines().any(|l| l == "flushed 0 2") {
            break;
        }
        assert!(Instant::now() < deadline, "checkpoint: {text:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Lists: APPEND and SUBTRACT on cleanup.policy, refused elsewhere.
    let append = [("cleanup.policy", 2, Some("compact"))];
    assert_eq!(incremental_alter(&mut c, 2, "flushed", &append).0, 0);
    assert_eq!(
        topic_config(&mut c, "flushed", "cleanup.policy").0,
        "delete,compact"
    );
    let subtract = [("cleanup.policy", 3, Some("delete"))];
    assert_eq!(incremental_alter(&mut c, 2, "flushed", &subtract).0, 0);
    assert_eq!(
        topic_config(&mut c, "flushed", "cleanup.policy").0,
        "compact"
    );
    let not_a_list = [("retention.ms", 2, Some("5"))];
    assert_eq!(incremental_alter(&mut c, 2, "flushed", &not_a_list).0, 40);
    let delete = [("cleanup.policy", 1, None)];
    assert_eq!(incremental_alter(&mut c, 2, "flushed", &delete).0, 0);
    assert_eq!(
        topic_config(&mut c, "flushed", "cleanup.policy"),
        ("delete".into(), 5)
    );
    // AlterConfigs replaces every override: flush.ms returns to the default.
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let alter = |resource_type: i8, name: &str, configs: &[(&str, &str)]| {
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(sb(name))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(sb(k))
                            .with_value(Some(sb(v)))
                    })
                    .collect(),
            )])
    };
    let r = c
        .send(alter(2, "flushed", &[("flush.messages", "1")]), 2)
        .unwrap();
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(
        topic_config(&mut c, "flushed", "flush.messages"),
        ("1".into(), 1)
    );
    assert_eq!(topic_config(&mut c, "flushed", "flush.ms"), (max, 5));
    let r = c
        .send(alter(2, "flushed", &[("flush.ms", "-1")]), 0)
        .unwrap();
    assert_eq!(r.responses[0].error_code, 40);
    assert!(r.responses[0]
        .error_message
        .as_deref()
        .is_some_and(|m| m.contains("flush.ms")));
    let r = c
        .send(alter(2, "missing", &[("flush.ms", "1")]), 1)
        .unwrap();
    assert_eq!(r.responses[0].error_code, 3, "unknown topic");
    let r = c
        .send(alter(4, "1", &[("log.flush.interval.ms", "1")]), 1)
        .unwrap();
    assert_eq!(
        r.responses[0].error_code, 42,
        "broker configs are set at start"
    );
}
