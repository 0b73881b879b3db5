//! A broker restart, with clients on either side of it. Its own test binary: the restart
//! disrupts every client of the broker, so nothing else may run beside it.
//!
//! The dev broker restarts in process; a real Kafka through `KRAFTY_TEST_RESTART_CMD` (see
//! `TestCluster::restart`). Without a way to restart, the test says so and passes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use krafty::consumer::KafkaConsumer;
use krafty::producer::{DeliveryFuture, KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;
use krafty_tests::{read_all, unique_topic, within, TestCluster};

const PARTITIONS: i32 = 3;
/// Records per partition before the restart, and after it.
const BEFORE: i64 = 100;
const AFTER: i64 = 10;

/// (partition, offset, value) as read or stored.
type Read = (i32, i64, String);

async fn consumer(bootstrap: &str, group: &str) -> KafkaConsumer<String, String> {
    KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bootstrap),
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("max.poll.records", "50"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap()
}

/// Polls until `c` has read at least `n` more records (or `secs` passed); returns them.
async fn read_at_least(c: &KafkaConsumer<String, String>, n: usize, secs: u64) -> Vec<Read> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while got.len() < n && Instant::now() < deadline {
        let records = within(60, "poll", c.poll(Duration::from_millis(500)))
            .await
            .unwrap();
        got.extend(
            records
                .into_iter()
                .map(|r| (r.partition, r.offset, r.value)),
        );
    }
    got
}

/// Sends `{prefix}-{i}` to partition `i % 3` for each i of `range`.
async fn send(
    p: &KafkaProducer<String, String>,
    topic: &str,
    prefix: &str,
    range: std::ops::Range<i64>,
) -> Vec<(i32, String, DeliveryFuture)> {
    let mut out = Vec::new();
    for i in range {
        let partition = (i % i64::from(PARTITIONS)) as i32;
        let value = format!("{prefix}-{i}");
        let f = p
            .send(ProducerRecord::new(topic, value.clone()).with_partition(partition))
            .await
            .unwrap();
        out.push((partition, value, f));
    }
    out
}

/// Awaits each delivery (within `secs`): what it reported, as (partition, offset, value).
async fn delivered(sent: Vec<(i32, String, DeliveryFuture)>, secs: u64) -> Vec<Read> {
    let mut out = Vec::new();
    for (partition, value, f) in sent {
        let md = within(secs, "delivery", f).await.unwrap();
        assert_eq!(md.partition, partition);
        out.push((partition, md.offset, value));
    }
    out.sort();
    out
}

/// Produce with an idempotent producer, consume part in a group and commit, restart the
/// broker; then a new member of the group resumes exactly at the committed offsets and reads
/// exactly the rest, and the producer, kept open across the restart, appends new records
/// right after the old ones: nothing lost, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_and_an_idempotent_producer_carry_on_across_a_restart() {
    let mut cluster = TestCluster::start(PARTITIONS).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("restart");
    let group = unique_topic("restart-group");
    cluster.create_topic(&topic, PARTITIONS, &[]).await;
    let tp = |p: i32| TopicPartition::new(topic.as_str(), p);

    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str()), ("linger.ms", "5")],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    assert!(producer.config().enable_idempotence);
    let n = BEFORE * i64::from(PARTITIONS);
    let before = delivered(send(&producer, &topic, "before", 0..n).await, 60).await;
    let expected_before: Vec<Read> = (0..n)
        .map(|i| {
            let p = (i % i64::from(PARTITIONS)) as i32;
            (p, i / i64::from(PARTITIONS), format!("before-{i}"))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(before, expected_before, "dense offsets per partition");

    // One member reads part of it and commits its positions.
    let first = consumer(&bs, &group).await;
    first.subscribe(&[topic.as_str()], None).await.unwrap();
    let mut read = read_at_least(&first, 150, 60).await;
    assert!(read.len() >= 150, "read {} records in 60 s", read.len());
    assert!((read.len() as i64) < n, "only part of it");
    within(30, "commit", first.commit_sync()).await.unwrap();
    let mut committed: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for p in 0..PARTITIONS {
        let position = within(30, "position", first.position(&tp(p)))
            .await
            .unwrap();
        committed.insert(tp(p), position);
    }
    within(30, "close", first.close()).await.unwrap();
    read.sort();
    let read_up_to_positions: Vec<Read> = expected_before
        .iter()
        .filter(|(p, o, _)| *o < committed[&tp(*p)])
        .cloned()
        .collect();
    assert_eq!(
        read, read_up_to_positions,
        "a member reads each partition in order"
    );
    let admin = cluster.admin().await;
    assert_eq!(
        admin.list_consumer_group_offsets(&group).await.unwrap(),
        committed,
        "its positions were committed"
    );
    admin.close().await;

    if !cluster.restart().await {
        println!(
            "skipped: this cluster cannot be restarted from here (set KRAFTY_TEST_RESTART_CMD)"
        );
        within(
            30,
            "producer close",
            producer.close(Duration::from_secs(10)),
        )
        .await
        .unwrap();
        return;
    }

    // (a) A new member resumes exactly at the committed offsets and reads exactly the rest.
    let second = consumer(&bs, &group).await;
    second.subscribe(&[topic.as_str()], None).await.unwrap();
    let rest: Vec<Read> = expected_before
        .iter()
        .filter(|(p, o, _)| *o >= committed[&tp(*p)])
        .cloned()
        .collect();
    let mut got = read_at_least(&second, rest.len(), 120).await;
    got.sort();
    assert_eq!(got, rest, "resumed at the committed offsets");

    // (b) The producer, open across the restart, appends right after the old records.
    let m = AFTER * i64::from(PARTITIONS);
    let after = delivered(send(&producer, &topic, "after", n..n + m).await, 150).await;
    let expected_after: Vec<Read> = (n..n + m)
        .map(|i| {
            let p = (i % i64::from(PARTITIONS)) as i32;
            (p, i / i64::from(PARTITIONS), format!("after-{i}"))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(after, expected_after, "offsets continue where they were");
    within(
        30,
        "producer close",
        producer.close(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    for p in 0..PARTITIONS {
        let stored: Vec<Read> = read_all(&bs, &topic, p)
            .await
            .into_iter()
            .map(|r| {
                let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                (p, r.offset, value)
            })
            .collect();
        let expected: Vec<Read> = expected_before
            .iter()
            .chain(&expected_after)
            .filter(|(q, _, _)| *q == p)
            .cloned()
            .collect();
        assert_eq!(stored, expected, "partition {p}: no loss, no duplicate");
    }

    // The member that resumed reads the new records too, and commits the end.
    let mut got = read_at_least(&second, expected_after.len(), 60).await;
    got.sort();
    assert_eq!(got, expected_after);
    within(30, "commit", second.commit_sync()).await.unwrap();
    within(30, "close", second.close()).await.unwrap();
    let ends: BTreeMap<TopicPartition, i64> =
        (0..PARTITIONS).map(|p| (tp(p), BEFORE + AFTER)).collect();
    let admin = cluster.admin().await;
    assert_eq!(
        admin.list_consumer_group_offsets(&group).await.unwrap(),
        ends
    );
    admin.close().await;
    cluster.stop().await;
}
