//! Clients with the suites' settings, shared by the test files.

use std::time::{Duration, Instant};

use krafty::admin::{AdminClient, NewTopic};
use krafty::consumer::KafkaConsumer;
use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;

use crate::{unique_topic, within};

/// A producer of strings to `bootstrap`, with `extra` properties over Kafka's defaults.
pub async fn string_producer(
    bootstrap: &str,
    extra: &[(&str, &str)],
) -> KafkaProducer<String, String> {
    let mut props = vec![("bootstrap.servers", bootstrap)];
    props.extend_from_slice(extra);
    KafkaProducer::new(
        ProducerConfig::from_properties(props).expect("valid producer settings"),
        StringSerde,
        StringSerde,
    )
    .await
    .expect("a producer connects")
}

/// Admin, producer and a consumer group with `props` (a security setting, say): a topic named
/// after `what` created, 10 records produced
/// and consumed back, values and offsets exact.
pub async fn round_trip(what: &str, props: &[(&str, &str)]) {
    let topic = unique_topic(&what.to_ascii_lowercase());
    let admin = within(30, "admin", AdminClient::from_properties(props.to_vec()))
        .await
        .unwrap_or_else(|e| panic!("{what}: admin: {e}"));
    admin
        .create_topics(&[NewTopic::new(&topic, 1, 1)])
        .await
        .unwrap();
    admin.close().await;

    let producer: KafkaProducer<String, String> =
        KafkaProducer::from_properties(props.to_vec(), StringSerde, StringSerde)
            .await
            .unwrap_or_else(|e| panic!("{what}: producer: {e}"));
    let mut deliveries = Vec::new();
    for i in 0..10 {
        deliveries.push(
            producer
                .send(ProducerRecord::new(&topic, format!("{what}-{i}")))
                .await
                .unwrap(),
        );
    }
    let mut offsets = Vec::new();
    for d in deliveries {
        offsets.push(within(60, "delivery", d).await.unwrap().offset);
    }
    assert_eq!(offsets, (0..10).collect::<Vec<i64>>(), "{what}");
    producer.close(Duration::from_secs(10)).await.unwrap();

    let group = unique_topic("round-trip-group");
    let mut cp = props.to_vec();
    cp.extend([
        ("group.id", group.as_str()),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ]);
    let consumer: KafkaConsumer<String, String> =
        KafkaConsumer::from_properties(cp, StringSerde, StringSerde)
            .await
            .unwrap_or_else(|e| panic!("{what}: consumer: {e}"));
    consumer.subscribe(&[topic.as_str()], None).await.unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < 10 && Instant::now() < deadline {
        for r in within(30, "poll", consumer.poll(Duration::from_millis(500)))
            .await
            .unwrap()
        {
            got.push((r.offset, r.value));
        }
    }
    within(30, "commit", consumer.commit_sync()).await.unwrap();
    within(30, "close", consumer.close()).await.unwrap();
    let expected: Vec<(i64, String)> = (0..10).map(|i| (i, format!("{what}-{i}"))).collect();
    assert_eq!(got, expected, "{what}: every record once, in order");
}

/// A transactional producer of strings (`transaction.timeout.ms` 30 s), not yet initialized.
pub async fn transactional(bootstrap: &str, id: &str) -> KafkaProducer<String, String> {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap),
        ("transactional.id", id),
        ("transaction.timeout.ms", "30000"),
    ])
    .expect("valid settings");
    KafkaProducer::new(config, StringSerde, StringSerde)
        .await
        .expect("connects")
}

/// A consumer of strings in `group` from the earliest offset, without auto-commit, at
/// `isolation` (`read_committed` or `read_uncommitted`).
pub async fn isolated_consumer(
    bootstrap: &str,
    group: &str,
    isolation: &str,
) -> KafkaConsumer<String, String> {
    KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bootstrap),
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("isolation.level", isolation),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .expect("consumer")
}

/// Values `c` reads from `topic` until `quiet` passes without a record (or 30 s).
pub async fn values_until_quiet(
    c: &KafkaConsumer<String, String>,
    topic: &str,
    quiet: Duration,
) -> Vec<String> {
    c.subscribe(&[topic], None).await.unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Instant::now();
    while Instant::now() < deadline && last.elapsed() < quiet {
        let got = c.poll(Duration::from_millis(200)).await.unwrap();
        if !got.is_empty() {
            last = Instant::now();
        }
        out.extend(got.into_iter().map(|r| r.value));
    }
    out
}

/// (token, partition, offset, error code) of a record a `DeliverySink` was told about.
pub type Told = (u64, i32, i64, Option<i16>);

/// A `DeliverySink` that keeps what it was told, batch by batch.
#[derive(Default)]
pub struct CollectingSink {
    /// The records in the order the sink saw them.
    pub records: std::sync::Mutex<Vec<Told>>,
    /// How many times it was called (once per batch).
    pub batches: std::sync::atomic::AtomicUsize,
}

impl krafty::producer::DeliverySink for CollectingSink {
    fn batch_done(&self, batch: krafty::producer::CompletedBatch<'_>) {
        self.batches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let code = batch.result.err().map(|e| e.code().unwrap_or(-1));
        let mut out = self.records.lock().unwrap();
        for r in &batch.records {
            out.push((r.token, batch.partition, batch.offset(r), code));
        }
    }
}
