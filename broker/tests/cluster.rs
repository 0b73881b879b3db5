//! A three-node dev cluster (`Broker::cluster`) over real TCP, spoken to with raw
//! `kafka-protocol` frames: the metadata every node gives, NOT_LEADER_OR_FOLLOWER from
//! followers, replication into every replica's log at the leader's offsets, the high watermark
//! gating consumers, acks=all waiting for the ISR, `min.insync.replicas`, and the ISR shrinking
//! after `replica.lag.time.max.ms` and growing back once the follower catches up.

mod common;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use krafty_broker::{Broker, ClusterHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Conn {
    stream: TcpStream,
    correlation: i32,
}

impl Conn {
    async fn connect(addr: &str) -> Conn {
        Conn {
            stream: TcpStream::connect(addr).await.unwrap(),
            correlation: 0,
        }
    }

    async fn to_node(cluster: &ClusterHandle, id: i32) -> Conn {
        Conn::connect(&cluster.node(id).unwrap().bootstrap_servers()).await
    }

    async fn send<R: Request>(&mut self, req: R, version: i16) -> R::Response {
        self.correlation += 1;
        let frame = common::request_frame(&req, version, self.correlation);
        self.stream.write_all(&frame).await.unwrap();
        let size = tokio::time::timeout(Duration::from_secs(20), self.stream.read_i32())
            .await
            .expect("an answer within 20 s")
            .unwrap();
        let mut frame = vec![0u8; size as usize];
        self.stream.read_exact(&mut frame).await.unwrap();
        common::decode_response::<R>(Bytes::from(frame), version, self.correlation)
    }
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A batch of `n` records from an idempotent producer (`producer_id`, epoch 0), sequences
/// from `first_sequence`.
fn batch(n: usize, producer_id: i64, first_sequence: i32) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: if producer_id >= 0 { 0 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // Without a producer id the base sequence is -1 (the encoder takes deltas).
            sequence: if producer_id >= 0 {
                first_sequence + i as i32
            } else {
                -1 + i as i32
            },
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
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
    .unwrap();
    buf.freeze()
}

async fn start(extra: &[(&str, &str)]) -> ClusterHandle {
    let mut builder = Broker::cluster(3).listen("127.0.0.1:0");
    for (k, v) in extra {
        builder = builder.config(*k, *v);
    }
    builder.start_cluster().await.expect("the cluster starts")
}

async fn create_topic(
    conn: &mut Conn,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(&str, &str)],
) -> i16 {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(sb(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(sb(k))
                            .with_value(Some(sb(v)))
                    })
                    .collect(),
            )]);
    conn.send(req, 7).await.topics[0].error_code
}

async fn metadata(conn: &mut Conn, topics: &[&str]) -> MetadataResponse {
    let req = MetadataRequest::default().with_topics(Some(
        topics
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(sb(t)))))
            .collect(),
    ));
    conn.send(req, 12).await
}

/// (error code, base offset)
async fn produce(
    conn: &mut Conn,
    topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
    timeout_ms: i32,
) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(sb(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let resp = conn.send(req, 9).await;
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// A consumer's fetch (replica id -1): (error code, high watermark, record bytes).
async fn fetch(
    conn: &mut Conn,
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
) -> (i16, i64, usize) {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(sb(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let resp = conn.send(req, 12).await;
    let p = &resp.responses[0].partitions[0];
    (
        p.error_code,
        p.high_watermark,
        p.records.as_ref().map_or(0, |r| r.len()),
    )
}

/// A consumer's ListOffsets latest (replica id -1): (error code, offset).
async fn latest_offset(conn: &mut Conn, topic: &str, partition: i32) -> (i16, i64) {
    list_offsets_as(conn, -1, topic, partition, -1).await
}

/// ListOffsets at `timestamp` (-1 latest, -2 earliest) sent with `replica_id` (-1 a consumer,
/// -2 Kafka's DEBUGGING_REPLICA_ID): (error code, offset).
async fn list_offsets_as(
    conn: &mut Conn,
    replica_id: i32,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> (i16, i64) {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(sb(topic)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(timestamp)])]);
    let resp = conn.send(req, 7).await;
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.offset)
}

/// Waits (up to 10 s) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The partition's leader and its followers.
fn roles(cluster: &ClusterHandle, topic: &str, partition: i32) -> (i32, Vec<i32>) {
    let s = cluster.partition_state(topic, partition).unwrap();
    (s.leader, s.followers())
}

/// Every node lists every broker, and each partition's leader, epoch, replicas and ISR as
/// the controller records them; replication factors are checked against the node count and
/// default to `default.replication.factor`; FindCoordinator names the leader of the group's
/// `__consumer_offsets` partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_gives_the_cluster_metadata() {
    let cluster = start(&[]).await;
    let ids: Vec<i32> = cluster.nodes().iter().map(|n| n.node_id()).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(cluster.bootstrap_servers().split(',').count(), 3);
    let mut first = Conn::to_node(&cluster, 1).await;
    assert_eq!(create_topic(&mut first, "t", 3, 3, &[]).await, 0);
    assert_eq!(create_topic(&mut first, "too-many", 1, 4, &[]).await, 38);
    assert_eq!(create_topic(&mut first, "default-rf", 2, -1, &[]).await, 0);
    for id in ids {
        let mut conn = Conn::to_node(&cluster, id).await;
        let m = metadata(&mut conn, &["t", "default-rf", "auto"]).await;
        let mut brokers: Vec<(i32, i32)> =
            m.brokers.iter().map(|b| (b.node_id.0, b.port)).collect();
        brokers.sort_unstable();
        assert_eq!(brokers.iter().map(|b| b.0).collect::<Vec<_>>(), [1, 2, 3]);
        for (node, port) in &brokers {
            let addr = cluster.node(*node).unwrap().bootstrap_servers();
            assert!(addr.ends_with(&format!(":{port}")), "{addr} vs {port}");
        }
        assert_eq!(m.controller_id.0, 1);
        let t = m
            .topics
            .iter()
            .find(|t| t.name.as_ref().unwrap().as_str() == "t")
            .unwrap();
        assert_eq!(t.partitions.len(), 3);
        let mut leaders = Vec::new();
        for p in &t.partitions {
            let state = cluster.partition_state("t", p.partition_index).unwrap();
            assert_eq!(p.leader_id.0, state.leader);
            assert_eq!(
                p.leader_id.0, p.replica_nodes[0].0,
                "the leader is the first replica"
            );
            assert_eq!(p.leader_epoch, 0);
            let replicas: Vec<i32> = p.replica_nodes.iter().map(|b| b.0).collect();
            assert_eq!(replicas, state.replicas);
            let mut sorted = replicas.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [1, 2, 3]);
            assert_eq!(
                p.isr_nodes.iter().map(|b| b.0).collect::<Vec<_>>(),
                state.isr
            );
            leaders.push(p.leader_id.0);
        }
        leaders.sort_unstable();
        assert_eq!(leaders, [1, 2, 3], "round-robin leaders");
        for name in ["default-rf", "auto"] {
            let t = m
                .topics
                .iter()
                .find(|t| t.name.as_ref().unwrap().as_str() == name)
                .unwrap();
            assert_eq!(t.error_code, 0, "{name}");
            assert!(
                t.partitions.iter().all(|p| p.replica_nodes.len() == 1),
                "{name}"
            );
        }
        let coordinator = conn
            .send(
                FindCoordinatorRequest::default().with_key(sb("the-group")),
                2,
            )
            .await;
        let p = krafty_broker::topics::coordinator_partition("the-group", 50);
        let leader = cluster
            .partition_state("__consumer_offsets", p)
            .unwrap()
            .leader;
        assert_eq!(coordinator.node_id.0, leader);
        let expected = cluster.node(leader).unwrap().bootstrap_servers();
        assert!(expected.ends_with(&format!(":{}", coordinator.port)));
    }
    let offsets = cluster.partition_state("__consumer_offsets", 0).unwrap();
    assert_eq!(
        offsets.replicas.len(),
        3,
        "offsets.topic.replication.factor 3"
    );
    cluster.shutdown().await;
}

/// Produce and consumer Fetch to a follower get NOT_LEADER_OR_FOLLOWER (6), and so does
/// ListOffsets; the leader serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_answer_not_leader_or_follower() {
    let cluster = start(&[]).await;
    let mut conn = Conn::to_node(&cluster, 1).await;
    assert_eq!(create_topic(&mut conn, "t", 1, 3, &[]).await, 0);
    let (leader, followers) = roles(&cluster, "t", 0);
    for f in followers {
        let mut c = Conn::to_node(&cluster, f).await;
        assert_eq!(produce(&mut c, "t", 0, batch(1, -1, 0), 1, 5000).await.0, 6);
        assert_eq!(fetch(&mut c, "t", 0, 0, 0).await.0, 6);
        assert_eq!(latest_offset(&mut c, "t", 0).await.0, 6);
    }
    let mut c = Conn::to_node(&cluster, leader).await;
    assert_eq!(
        produce(&mut c, "t", 0, batch(1, -1, 0), 1, 5000).await,
        (0, 0)
    );
    cluster.shutdown().await;
}

/// ListOffsets with replica id -2 (Kafka's DEBUGGING_REPLICA_ID) is answered by every replica
/// from its own log, latest being that replica's log end offset: with one follower paused, the
/// leader's is past the high watermark a consumer's ListOffsets gives, the fetching follower's
/// equals the leader's and the paused follower's is the high watermark. A consumer's ListOffsets
/// to a follower is still NOT_LEADER_OR_FOLLOWER, and so is a debugging one to a node that holds
/// no replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debugging_list_offsets_reads_each_replicas_log_end() {
    let cluster = start(&[]).await;
    let mut conn = Conn::to_node(&cluster, 1).await;
    assert_eq!(create_topic(&mut conn, "t", 1, 3, &[]).await, 0);
    assert_eq!(create_topic(&mut conn, "two-replicas", 1, 2, &[]).await, 0);
    let (leader, followers) = roles(&cluster, "t", 0);
    let (paused, fetching) = (followers[0], followers[1]);
    let mut to_leader = Conn::to_node(&cluster, leader).await;
    assert_eq!(
        produce(&mut to_leader, "t", 0, batch(2, -1, 0), -1, 5000).await,
        (0, 0)
    );
    // Still in the ISR (the lag time is 30 s): the high watermark stays at its log end, 2.
    cluster.pause_replica_fetchers(paused);
    assert_eq!(
        produce(&mut to_leader, "t", 0, batch(3, -1, 0), 1, 5000).await,
        (0, 2)
    );
    eventually("the fetching follower holds 5 records", || {
        cluster
            .replicas("t", 0)
            .iter()
            .any(|r| r.node_id == fetching && r.log_end_offset == 5)
    })
    .await;
    assert_eq!(
        list_offsets_as(&mut to_leader, -1, "t", 0, -1).await,
        (0, 2)
    );
    assert_eq!(
        list_offsets_as(&mut to_leader, -2, "t", 0, -1).await,
        (0, 5)
    );
    let mut to_paused = Conn::to_node(&cluster, paused).await;
    assert_eq!(
        list_offsets_as(&mut to_paused, -2, "t", 0, -1).await,
        (0, 2)
    );
    assert_eq!(
        list_offsets_as(&mut to_paused, -2, "t", 0, -2).await,
        (0, 0)
    );
    assert_eq!(
        list_offsets_as(&mut to_paused, -1, "t", 0, -1).await,
        (6, -1)
    );
    let mut to_fetching = Conn::to_node(&cluster, fetching).await;
    assert_eq!(
        list_offsets_as(&mut to_fetching, -2, "t", 0, -1).await,
        (0, 5)
    );
    assert_eq!(
        list_offsets_as(&mut to_fetching, -1, "t", 0, -1).await,
        (6, -1)
    );
    let replicas = cluster.partition_state("two-replicas", 0).unwrap().replicas;
    let outsider = (1..=3).find(|n| !replicas.contains(n)).unwrap();
    let mut to_outsider = Conn::to_node(&cluster, outsider).await;
    assert_eq!(
        list_offsets_as(&mut to_outsider, -2, "two-replicas", 0, -1).await,
        (6, -1)
    );
    cluster.shutdown().await;
}

/// What the leader appends reaches every replica's log at the same offsets, byte for byte
/// (producer ids, sequences and timestamps as the leader wrote them), and every replica
/// learns the high watermark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_holds_the_leaders_log() {
    let cluster = start(&[]).await;
    let mut conn = Conn::to_node(&cluster, 1).await;
    assert_eq!(create_topic(&mut conn, "t", 1, 3, &[]).await, 0);
    let (leader, followers) = roles(&cluster, "t", 0);
    let mut c = Conn::to_node(&cluster, leader).await;
    let mut sequence = 0;
    for n in [3, 1, 5, 2] {
        let (code, _) = produce(&mut c, "t", 0, batch(n, 7, sequence), -1, 5000).await;
        assert_eq!(code, 0);
        sequence += n as i32;
    }
    eventually("every replica holds 11 records", || {
        cluster
            .replicas("t", 0)
            .iter()
            .all(|r| r.log_end_offset == 11 && r.high_watermark >= 11)
    })
    .await;
    let leaders_log = cluster.read_replica(leader, "t", 0, 0, 1 << 20).unwrap();
    for f in followers {
        assert_eq!(
            cluster.read_replica(f, "t", 0, 0, 1 << 20).unwrap(),
            leaders_log
        );
    }
    // A retry of the last batch is a duplicate on the leader, with its first offsets.
    let (code, base) = produce(&mut c, "t", 0, batch(2, 7, 9), -1, 5000).await;
    assert_eq!((code, base), (0, 9));
    cluster.shutdown().await;
}

/// A consumer reads only below the high watermark: records the followers have not fetched
/// are not served (nor is the end ListOffsets gives past it) until they have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_read_below_the_high_watermark() {
    let cluster = start(&[]).await;
    let mut conn = Conn::to_node(&cluster, 1).await;
    assert_eq!(create_topic(&mut conn, "t", 1, 3, &[]).await, 0);
    let (leader, followers) = roles(&cluster, "t", 0);
    let mut c = Conn::to_node(&cluster, leader).await;
    assert_eq!(
        produce(&mut c, "t", 0, batch(2, -1, 0), -1, 5000).await,
        (0, 0)
    );
    for f in &followers {
        cluster.pause_replica_fetchers(*f);
    }
    assert_eq!(
        produce(&mut c, "t", 0, batch(3, -1, 0), 1, 5000).await,
        (0, 2)
    );
    let (code, hw, bytes) = fetch(&mut c, "t", 0, 2, 200).await;
    assert_eq!(
        (code, hw, bytes),
        (0, 2, 0),
        "nothing past the high watermark"
    );
    let (code, hw, bytes) = fetch(&mut c, "t", 0, 0, 0).await;
    assert_eq!((code, hw), (0, 2));
    assert!(bytes > 0);
    assert_eq!(latest_offset(&mut c, "t", 0).await, (0, 2));
    for f in &followers {
        cluster.resume_replica_fetchers(*f);
    }
    let (code, hw, bytes) = fetch(&mut c, "t", 0, 2, 5000).await;
    assert_eq!(code, 0);
    if bytes == 0 {
        // Woken by the high watermark's move before the records: the next fetch has them.
        let (_, hw2, bytes2) = fetch(&mut c, "t", 0, 2, 5000).await;
        assert_eq!((hw2, bytes2 > 0), (5, true));
    } else {
        assert_eq!(hw, 5);
    }
    assert_eq!(latest_offset(&mut c, "t", 0).await, (0, 5));
    cluster.shutdown().await;
}

/// acks=all answers once every ISR member holds the batch: with a follower paused (still in
/// the ISR: the lag time is 30 s) the answer waits, and is REQUEST_TIMED_OUT after the
/// request's timeout; answered as soon as the follower catches up. acks=1 does not wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_waits_for_the_isr() {
    let cluster = start(&[]).await;
    let mut conn = Conn::to_node(&cluster, 1).await;
    assert_eq!(create_topic(&mut conn, "t", 1, 3, &[]).await, 0);
    let (leader, followers) = roles(&cluster, "t", 0);
    let mut c = Conn::to_node(&cluster, leader).await;
    assert_eq!(
        produce(&mut c, "t", 0, batch(1, -1, 0), -1, 5000).await,
        (0, 0)
    );
    cluster.pause_replica_fetchers(followers[0]);
    let asked = Instant::now();
    assert_eq!(produce(&mut c, "t", 0, batch(1, -1, 0), -1, 400).await.0, 7);
    assert!(asked.elapsed() >= Duration::from_millis(380));
    let acks_one = Instant::now();
    assert_eq!(
        produce(&mut c, "t", 0, batch(1, -1, 0), 1, 5000).await,
        (0, 2)
    );
    assert!(acks_one.elapsed() < Duration::from_millis(300));
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let answer = produce(&mut c, "t", 0, batch(1, -1, 0), -1, 10_000).await;
        (answer, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "acks=all answered before the ISR held the batch"
    );
    cluster.resume_replica_fetchers(followers[0]);
    let ((code, base), waited) = waiting.await.unwrap();
    assert_eq!((code, base), (0, 3));
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(5));
    let replicas = cluster.replicas("t", 0);
    assert!(
        replicas.iter().all(|r| r.log_end_offset == 4),
        "{replicas:?}"
    );
    cluster.shutdown().await;
}

/// A follower behind the leader's log end for longer than `replica.lag.time.max.ms` leaves
/// the ISR (Metadata shows it); with `min.insync.replicas` 3 acks=all is then refused with
/// NOT_ENOUGH_REPLICAS (acks=1 still goes), with 2 it is answered without the follower. Once
/// the follower fetches again and catches up it rejoins, and acks=all goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_isr_shrinks_after_the_lag_time_and_expands_after_catch_up() {
    let cluster = start(&[("replica.lag.time.max.ms", "1000")]).await;
    let mut conn = Conn::to_node(&cluster, 1).await;
    assert_eq!(
        create_topic(&mut conn, "strict", 1, 3, &[("min.insync.replicas", "3")]).await,
        0
    );
    assert_eq!(
        create_topic(&mut conn, "lenient", 1, 3, &[("min.insync.replicas", "2")]).await,
        0
    );
    // Both led by the same node, so that pausing one follower affects both.
    let (leader, followers) = roles(&cluster, "strict", 0);
    let lagging = followers[0];
    let (lenient_leader, _) = roles(&cluster, "lenient", 0);
    let mut c = Conn::to_node(&cluster, leader).await;
    let mut l = Conn::to_node(&cluster, lenient_leader).await;
    assert_eq!(
        produce(&mut c, "strict", 0, batch(1, -1, 0), -1, 5000).await,
        (0, 0)
    );
    cluster.pause_replica_fetchers(lagging);
    assert_eq!(
        produce(&mut c, "strict", 0, batch(1, -1, 0), 1, 5000).await,
        (0, 1)
    );
    let lenient_lags = cluster
        .partition_state("lenient", 0)
        .unwrap()
        .replicas
        .contains(&lagging)
        && lenient_leader != lagging;
    if lenient_lags {
        assert_eq!(
            produce(&mut l, "lenient", 0, batch(1, -1, 0), 1, 5000)
                .await
                .0,
            0
        );
    }
    eventually("the paused follower leaves the ISR", || {
        !cluster
            .partition_state("strict", 0)
            .unwrap()
            .isr
            .contains(&lagging)
    })
    .await;
    let m = metadata(&mut c, &["strict"]).await;
    let isr: Vec<i32> = m.topics[0].partitions[0]
        .isr_nodes
        .iter()
        .map(|b| b.0)
        .collect();
    assert_eq!(isr.len(), 2);
    assert!(!isr.contains(&lagging));
    assert!(
        cluster
            .partition_state("strict", 0)
            .unwrap()
            .partition_epoch
            > 0
    );
    assert_eq!(
        produce(&mut c, "strict", 0, batch(1, -1, 0), -1, 5000)
            .await
            .0,
        19
    );
    assert_eq!(
        produce(&mut c, "strict", 0, batch(1, -1, 0), 1, 5000).await,
        (0, 2)
    );
    if lenient_lags {
        eventually("the paused follower leaves the lenient ISR", || {
            !cluster
                .partition_state("lenient", 0)
                .unwrap()
                .isr
                .contains(&lagging)
        })
        .await;
        assert_eq!(
            produce(&mut l, "lenient", 0, batch(1, -1, 0), -1, 5000).await,
            (0, 1)
        );
    }
    cluster.resume_replica_fetchers(lagging);
    eventually("the follower rejoins the ISR", || {
        cluster
            .partition_state("strict", 0)
            .unwrap()
            .isr
            .contains(&lagging)
    })
    .await;
    assert_eq!(
        produce(&mut c, "strict", 0, batch(1, -1, 0), -1, 5000).await,
        (0, 3)
    );
    let replicas = cluster.replicas("strict", 0);
    assert!(
        replicas.iter().all(|r| r.log_end_offset == 4),
        "{replicas:?}"
    );
    cluster.shutdown().await;
}

/// Group and transaction requests go to the node leading the key's internal partition: it
/// answers them, every other node answers NOT_COORDINATOR (16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_requests_elsewhere_get_not_coordinator() {
    let cluster = start(&[]).await;
    let mut conn = Conn::to_node(&cluster, 1).await;
    let group = "a-group";
    let found = conn
        .send(FindCoordinatorRequest::default().with_key(sb(group)), 2)
        .await;
    assert_eq!(found.error_code, 0);
    let coordinator = found.node_id.0;
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id(1)
        .with_member_id(sb("m"));
    for node in [1, 2, 3] {
        let mut c = Conn::to_node(&cluster, node).await;
        let code = c.send(heartbeat.clone(), 4).await.error_code;
        let join = c
            .send(
                JoinGroupRequest::default()
                    .with_group_id(GroupId(sb(group)))
                    .with_session_timeout_ms(10_000)
                    .with_rebalance_timeout_ms(10_000)
                    .with_protocol_type(sb("consumer")),
                5,
            )
            .await;
        if node == coordinator {
            assert_eq!(code, 25, "UNKNOWN_MEMBER_ID from the coordinator");
            assert_ne!(join.error_code, 16);
        } else {
            assert_eq!((code, join.error_code), (16, 16), "node {node}");
        }
    }
    let txn_id = "a-transactional-id";
    let found = conn
        .send(
            FindCoordinatorRequest::default()
                .with_key(sb(txn_id))
                .with_key_type(1),
            2,
        )
        .await;
    assert_eq!(found.error_code, 0);
    let state = cluster
        .partition_state(
            "__transaction_state",
            krafty_broker::topics::coordinator_partition(txn_id, 50),
        )
        .unwrap();
    assert_eq!(found.node_id.0, state.leader);
    assert_eq!(state.replicas.len(), 3);
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(sb(txn_id))))
        .with_transaction_timeout_ms(10_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    for node in [1, 2, 3] {
        let mut c = Conn::to_node(&cluster, node).await;
        let answer = c.send(init.clone(), 4).await;
        let expected = if node == state.leader { 0 } else { 16 };
        assert_eq!(answer.error_code, expected, "node {node}");
    }
    cluster.shutdown().await;
}

/// A cluster with a data dir starts again with its topics, replica assignments and records:
/// each node from its own `node-<id>` directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_cluster_restarts_with_its_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let start_durable = || async {
        Broker::cluster(3)
            .listen("127.0.0.1:0")
            .data_dir(dir.path())
            .config("offsets.topic.num.partitions", "3")
            .start_cluster()
            .await
            .unwrap()
    };
    let cluster = start_durable().await;
    let mut conn = Conn::to_node(&cluster, 1).await;
    assert_eq!(create_topic(&mut conn, "t", 2, 3, &[]).await, 0);
    let before: Vec<_> = (0..2)
        .map(|p| cluster.partition_state("t", p).unwrap())
        .collect();
    let (leader, _) = roles(&cluster, "t", 0);
    let mut c = Conn::to_node(&cluster, leader).await;
    assert_eq!(
        produce(&mut c, "t", 0, batch(5, -1, 0), -1, 5000).await,
        (0, 0)
    );
    eventually("every replica holds the records", || {
        cluster
            .replicas("t", 0)
            .iter()
            .all(|r| r.log_end_offset == 5)
    })
    .await;
    // A group's commit, kept by its coordinator (and replicated).
    let coordinator = commit_offset(&cluster, "restarted-group", "t", 4).await;
    cluster.shutdown().await;
    for id in [1, 2, 3] {
        assert!(dir.path().join(format!("node-{id}/t-0")).is_dir());
    }

    let cluster = start_durable().await;
    let after: Vec<_> = (0..2)
        .map(|p| cluster.partition_state("t", p).unwrap())
        .collect();
    assert_eq!(
        after.iter().map(|s| &s.replicas).collect::<Vec<_>>(),
        before.iter().map(|s| &s.replicas).collect::<Vec<_>>()
    );
    let replicas = cluster.replicas("t", 0);
    assert!(
        replicas.iter().all(|r| r.log_end_offset == 5),
        "{replicas:?}"
    );
    let mut c = Conn::to_node(&cluster, leader).await;
    let (code, _, bytes) = fetch(&mut c, "t", 0, 0, 2000).await;
    assert_eq!(code, 0);
    assert!(bytes > 0);
    assert_eq!(
        produce(&mut c, "t", 0, batch(1, -1, 0), -1, 5000).await,
        (0, 5)
    );
    let mut c = Conn::to_node(&cluster, coordinator).await;
    let fetched = c
        .send(
            OffsetFetchRequest::default()
                .with_group_id(GroupId(sb("restarted-group")))
                .with_topics(Some(vec![
                    kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(TopicName(sb("t")))
                        .with_partition_indexes(vec![0]),
                ])),
            7,
        )
        .await;
    assert_eq!(fetched.error_code, 0);
    assert_eq!(fetched.topics[0].partitions[0].committed_offset, 4);
    cluster.shutdown().await;
}

/// Commits `offset` for `group` on `topic`-0 at its coordinator (a simple commit, outside any
/// generation); the coordinator's node id.
async fn commit_offset(cluster: &ClusterHandle, group: &str, topic: &str, offset: i64) -> i32 {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let mut any = Conn::to_node(cluster, 1).await;
    let found = any
        .send(FindCoordinatorRequest::default().with_key(sb(group)), 2)
        .await;
    let mut c = Conn::to_node(cluster, found.node_id.0).await;
    let committed = c
        .send(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(sb(group)))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(sb(topic)))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)])]),
            8,
        )
        .await;
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);
    found.node_id.0
}

/// An acks=all produce waiting for followers that then leave the ISR (below
/// `min.insync.replicas`) is answered NOT_ENOUGH_REPLICAS_AFTER_APPEND (20): the batch is in
/// the leader's log, without the replication asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isr_shrinking_under_a_waiting_produce_answers_not_enough_replicas_after_append() {
    let cluster = start(&[("replica.lag.time.max.ms", "500")]).await;
    let mut conn = Conn::to_node(&cluster, 1).await;
    let configs = [("min.insync.replicas", "2")];
    assert_eq!(create_topic(&mut conn, "t", 1, 3, &configs).await, 0);
    let (leader, followers) = roles(&cluster, "t", 0);
    let mut c = Conn::to_node(&cluster, leader).await;
    assert_eq!(
        produce(&mut c, "t", 0, batch(1, -1, 0), -1, 5000).await,
        (0, 0)
    );
    for f in &followers {
        cluster.pause_replica_fetchers(*f);
    }
    let (code, base) = produce(&mut c, "t", 0, batch(1, -1, 0), -1, 10_000).await;
    assert_eq!((code, base), (20, 1));
    assert_eq!(cluster.partition_state("t", 0).unwrap().isr, [leader]);
    assert_eq!(
        produce(&mut c, "t", 0, batch(1, -1, 0), -1, 5000).await.0,
        19
    );
    cluster.shutdown().await;
}

/// Topic changes made through any node reach every node: a creation with the request's own
/// replica assignment (brokers checked against the cluster), growth (new partitions assigned
/// round-robin with the topic's replication factor), config changes, deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_changes_reach_every_node() {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::create_topics_request::CreatableReplicaAssignment;
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    let cluster = start(&[]).await;
    let mut one = Conn::to_node(&cluster, 1).await;
    let assigned = |ids: &[&[i32]]| -> Vec<CreatableReplicaAssignment> {
        ids.iter()
            .enumerate()
            .map(|(p, r)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(p as i32)
                    .with_broker_ids(r.iter().map(|b| BrokerId(*b)).collect())
            })
            .collect()
    };
    let create = |name: &str, a: Vec<CreatableReplicaAssignment>| {
        CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(sb(name)))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(a)])
    };
    let created = one
        .send(create("assigned", assigned(&[&[2, 3], &[3, 1]])), 7)
        .await;
    assert_eq!(created.topics[0].error_code, 0);
    assert_eq!(created.topics[0].replication_factor, 2);
    let p0 = cluster.partition_state("assigned", 0).unwrap();
    let p1 = cluster.partition_state("assigned", 1).unwrap();
    assert_eq!((p0.leader, p0.replicas), (2, vec![2, 3]));
    assert_eq!((p1.leader, p1.replicas), (3, vec![3, 1]));
    let refused = one
        .send(create("unknown-broker", assigned(&[&[2, 9]])), 7)
        .await;
    assert_eq!(refused.topics[0].error_code, 39);

    let mut three = Conn::to_node(&cluster, 3).await;
    let grown = three
        .send(
            CreatePartitionsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(TopicName(sb("assigned")))
                    .with_count(4)
                    // Null: the cluster places them (an empty list would assign none).
                    .with_assignments(None)]),
            1,
        )
        .await;
    assert_eq!(grown.results[0].error_code, 0);
    for id in [1, 2, 3] {
        let mut c = Conn::to_node(&cluster, id).await;
        let m = metadata(&mut c, &["assigned"]).await;
        assert_eq!(m.topics[0].partitions.len(), 4, "node {id}");
        for p in &m.topics[0].partitions {
            assert_eq!(
                p.replica_nodes.len(),
                2,
                "node {id}, partition {}",
                p.partition_index
            );
        }
    }
    // A node holds logs for its own replicas only.
    let state = cluster.partition_state("assigned", 3).unwrap();
    let leader = state.leader;
    let mut c = Conn::to_node(&cluster, leader).await;
    assert_eq!(
        produce(&mut c, "assigned", 3, batch(2, -1, 0), -1, 5000).await,
        (0, 0)
    );
    eventually("the new partition replicates", || {
        cluster
            .replicas("assigned", 3)
            .iter()
            .all(|r| r.log_end_offset == 2)
    })
    .await;

    let altered = one
        .send(
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(sb("assigned"))
                    .with_configs(vec![AlterableConfig::default()
                        .with_name(sb("min.insync.replicas"))
                        .with_config_operation(0)
                        .with_value(Some(sb("2")))]),
            ]),
            1,
        )
        .await;
    assert_eq!(altered.responses[0].error_code, 0);
    let mut two = Conn::to_node(&cluster, 2).await;
    let described = two
        .send(
            DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(sb("assigned"))
                    .with_configuration_keys(Some(vec![sb("min.insync.replicas")])),
            ]),
            1,
        )
        .await;
    let config = &described.results[0].configs[0];
    assert_eq!(
        (config.name.as_str(), config.value.as_deref()),
        ("min.insync.replicas", Some("2"))
    );

    let deleted = two
        .send(
            DeleteTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![
                    DeleteTopicState::default().with_name(Some(TopicName(sb("assigned"))))
                ]),
            6,
        )
        .await;
    assert_eq!(deleted.responses[0].error_code, 0);
    for id in [1, 2, 3] {
        let mut c = Conn::to_node(&cluster, id).await;
        let m = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(TopicName(sb("assigned"))))
            ]))
            .with_allow_auto_topic_creation(false);
        assert_eq!(c.send(m, 12).await.topics[0].error_code, 3, "node {id}");
    }
    assert!(cluster.partition_state("assigned", 0).is_none());
    cluster.shutdown().await;
}

/// After the leader stops, the new leader answers in leader epoch 1: requests naming epoch 0
/// get FENCED_LEADER_EPOCH (74), epoch 2 UNKNOWN_LEADER_EPOCH (75); Metadata and ListOffsets
/// report epoch 1; OffsetForLeaderEpoch says epoch 0 ended where epoch 1 began and epoch 1
/// runs to the log end; the stopped node is left out of Metadata's brokers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_fences_requests_naming_the_old_epoch() {
    let cluster = start(&[]).await;
    let topic = "epochs";
    let mut conn = Conn::to_node(&cluster, 1).await;
    assert_eq!(create_topic(&mut conn, topic, 1, 3, &[]).await, 0);
    let (old, _) = roles(&cluster, topic, 0);
    let mut to_old = Conn::to_node(&cluster, old).await;
    assert_eq!(
        produce(&mut to_old, topic, 0, batch(4, -1, 0), -1, 5000).await,
        (0, 0)
    );
    cluster.stop_node(old).await.unwrap();
    let (new, _) = roles(&cluster, topic, 0);
    assert_ne!(new, old);
    let mut conn = Conn::to_node(&cluster, new).await;
    assert_eq!(
        produce(&mut conn, topic, 0, batch(2, -1, 0), -1, 5000).await,
        (0, 4)
    );

    let md = metadata(&mut conn, &[topic]).await;
    let p = &md.topics[0].partitions[0];
    assert_eq!((p.leader_id.0, p.leader_epoch), (new, 1));
    assert!(
        md.brokers.iter().all(|b| b.node_id.0 != old),
        "{:?}",
        md.brokers
    );

    let list = |epoch: i32| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(sb(topic)))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_current_leader_epoch(epoch)
                    .with_timestamp(-1)])])
    };
    for (epoch, code) in [(0, 74), (2, 75), (1, 0), (-1, 0)] {
        let r = conn.send(list(epoch), 7).await;
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, code, "ListOffsets naming epoch {epoch}");
        if code == 0 {
            assert_eq!((p.offset, p.leader_epoch), (6, 1));
        }
    }

    let fetch_in = |epoch: i32| {
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(sb(topic)))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_current_leader_epoch(epoch)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20)])])
    };
    for (epoch, code) in [(0, 74), (2, 75), (1, 0)] {
        let r = conn.send(fetch_in(epoch), 12).await;
        assert_eq!(
            r.responses[0].partitions[0].error_code, code,
            "Fetch naming epoch {epoch}"
        );
    }

    let end_of = |asked: i32, current: i32| {
        use kafka_protocol::messages::offset_for_leader_epoch_request::*;
        OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![OffsetForLeaderTopic::default()
                .with_topic(TopicName(sb(topic)))
                .with_partitions(vec![OffsetForLeaderPartition::default()
                    .with_partition(0)
                    .with_current_leader_epoch(current)
                    .with_leader_epoch(asked)])])
    };
    for (asked, current, expected) in [(0, 1, (0, 0, 4)), (1, 1, (0, 1, 6)), (0, 0, (74, -1, -1))] {
        let r = conn.send(end_of(asked, current), 4).await;
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.leader_epoch, p.end_offset),
            expected,
            "OffsetForLeaderEpoch for epoch {asked} naming {current}"
        );
    }
    cluster.shutdown().await;
}

/// A follower that was away while its leader deleted the records it lacks (DeleteRecords past
/// the follower's log end) gets OFFSET_OUT_OF_RANGE, empties its log to start at the leader's
/// log start, replicates from there, and rejoins the ISR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_the_leaders_log_start_starts_over_there() {
    let cluster = start(&[("replica.lag.time.max.ms", "300")]).await;
    let topic = "log-start";
    let mut conn = Conn::to_node(&cluster, 1).await;
    assert_eq!(create_topic(&mut conn, topic, 1, 3, &[]).await, 0);
    let (leader, followers) = roles(&cluster, topic, 0);
    let away = followers[0];
    let mut to_leader = Conn::to_node(&cluster, leader).await;
    assert_eq!(
        produce(&mut to_leader, topic, 0, batch(4, -1, 0), -1, 5000).await,
        (0, 0)
    );
    eventually("every replica holds the first records", || {
        cluster
            .replicas(topic, 0)
            .iter()
            .all(|r| r.log_end_offset == 4)
    })
    .await;
    cluster.pause_replica_fetchers(away);
    // acks=1: the paused follower is still in the ISR (it leaves after the lag time).
    assert_eq!(
        produce(&mut to_leader, topic, 0, batch(6, -1, 0), 1, 5000).await,
        (0, 4)
    );
    eventually("the paused follower leaves the ISR", || {
        !cluster
            .partition_state(topic, 0)
            .unwrap()
            .isr
            .contains(&away)
    })
    .await;
    let delete = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            kafka_protocol::messages::delete_records_request::DeleteRecordsTopic::default()
                .with_name(TopicName(sb(topic)))
                .with_partitions(vec![
                kafka_protocol::messages::delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(8),
            ]),
        ]);
    let deleted = to_leader.send(delete, 2).await;
    let d = &deleted.topics[0].partitions[0];
    assert_eq!((d.error_code, d.low_watermark), (0, 8));
    let before = cluster.replicas(topic, 0);
    let stale = before.iter().find(|r| r.node_id == away).unwrap();
    assert_eq!((stale.log_start_offset, stale.log_end_offset), (0, 4));
    cluster.resume_replica_fetchers(away);
    eventually(
        "the follower starts over at the leader's log start and rejoins",
        || {
            let caught_up = cluster
                .replicas(topic, 0)
                .iter()
                .any(|r| r.node_id == away && r.log_start_offset == 8 && r.log_end_offset == 10);
            caught_up
                && cluster
                    .partition_state(topic, 0)
                    .unwrap()
                    .isr
                    .contains(&away)
        },
    )
    .await;
    let leaders = cluster.read_replica(leader, topic, 0, 8, 1 << 20).unwrap();
    assert_eq!(
        cluster.read_replica(away, topic, 0, 8, 1 << 20).unwrap(),
        leaders
    );
    cluster.shutdown().await;
}

/// CreatePartitions with manual assignments on a cluster places each new partition on the
/// nodes named (the first leads); a wrong count, replica count, or broker is
/// INVALID_REPLICA_ASSIGNMENT (39) and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_partitions_places_new_partitions_as_assigned() {
    use kafka_protocol::messages::create_partitions_request::{
        CreatePartitionsAssignment, CreatePartitionsTopic,
    };
    let cluster = start(&[]).await;
    let topic = "grown";
    let mut conn = Conn::to_node(&cluster, 2).await;
    assert_eq!(create_topic(&mut conn, topic, 1, 3, &[]).await, 0);
    let grow = |count: i32, assignments: Vec<Vec<i32>>| {
        CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(TopicName(sb(topic)))
                .with_count(count)
                .with_assignments(Some(
                    assignments
                        .into_iter()
                        .map(|ids| {
                            CreatePartitionsAssignment::default()
                                .with_broker_ids(ids.into_iter().map(BrokerId).collect())
                        })
                        .collect(),
                ))])
    };
    for (count, assignments, why) in [
        (
            3,
            vec![vec![3, 1, 2]],
            "one assignment for two new partitions",
        ),
        (
            2,
            vec![vec![3, 1]],
            "two replicas where the topic has three",
        ),
        (2, vec![vec![3, 1, 7]], "no node 7"),
        (2, vec![vec![3, 3, 1]], "node 3 twice"),
    ] {
        let r = conn.send(grow(count, assignments), 3).await;
        assert_eq!(
            r.results[0].error_code, 39,
            "{why}: {:?}",
            r.results[0].error_message
        );
    }
    assert!(cluster.partition_state(topic, 1).is_none(), "nothing added");
    let r = conn
        .send(grow(3, vec![vec![3, 1, 2], vec![2, 3, 1]]), 3)
        .await;
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    let one = cluster.partition_state(topic, 1).unwrap();
    let two = cluster.partition_state(topic, 2).unwrap();
    assert_eq!((one.replicas.clone(), one.leader), (vec![3, 1, 2], 3));
    assert_eq!((two.replicas.clone(), two.leader), (vec![2, 3, 1], 2));
    // Every node answers the new partitions' leaders, and the leader takes records.
    let md = metadata(&mut conn, &[topic]).await;
    let leaders: Vec<(i32, i32)> = md.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.leader_id.0))
        .collect();
    assert_eq!(&leaders[1..], &[(1, 3), (2, 2)]);
    let mut to_three = Conn::to_node(&cluster, 3).await;
    assert_eq!(
        produce(&mut to_three, topic, 1, batch(2, -1, 0), -1, 5000).await,
        (0, 0)
    );
    cluster.shutdown().await;
}
