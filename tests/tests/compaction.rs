//! Log compaction (`cleanup.policy=compact`) on the dev broker and Apache Kafka: once the
//! cleaner has run, a consumer from the beginning sees each key's latest value at its
//! original offset, a deleted key (tombstone) is gone after `delete.retention.ms`, a record
//! without a key is refused with INVALID_RECORD, and `__consumer_offsets` and
//! `__transaction_state` are compacted.

use std::time::{Duration, Instant};

use bytes::Bytes;
use krafty::consumer::KafkaConsumer;
use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::BytesSerde;
use krafty::TopicPartition;
use krafty_tests::{read_all, unique_topic, within, TestCluster};

type Producer = KafkaProducer<Bytes, Option<Bytes>>;

async fn send(
    p: &Producer,
    topic: &str,
    key: Option<&str>,
    value: Option<&str>,
) -> krafty::Result<i64> {
    let mut record =
        ProducerRecord::new(topic.to_string(), value.map(|v| Bytes::from(v.to_string())));
    if let Some(k) = key {
        record = record.with_key(Bytes::from(k.to_string()));
    }
    let f = p.send(record).await?;
    within(30, "delivered", f).await.map(|m| m.offset)
}

/// (key, value) of the records of `keys` in the partition, in offset order.
fn view(records: &[(Option<Bytes>, Option<Bytes>)]) -> Vec<(String, Option<String>)> {
    let text = |b: &Bytes| String::from_utf8(b.to_vec()).unwrap();
    records
        .iter()
        .filter(|(k, _)| k.as_ref().is_some_and(|k| k.starts_with(b"k")))
        .map(|(k, v)| (text(k.as_ref().unwrap()), v.as_ref().map(text)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_topic_keeps_the_latest_value_of_each_key() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("compacted");
    cluster
        .create_topic(
            &topic,
            1,
            &[
                ("cleanup.policy", "compact"),
                ("segment.ms", "100"),
                ("min.cleanable.dirty.ratio", "0.01"),
                ("delete.retention.ms", "0"),
            ],
        )
        .await;
    let config =
        ProducerConfig::from_properties([("bootstrap.servers", bs.as_str()), ("linger.ms", "0")])
            .unwrap();
    let p: Producer = KafkaProducer::new(config, BytesSerde, BytesSerde)
        .await
        .unwrap();
    for round in ["v1", "v2"] {
        for k in 0..10 {
            send(&p, &topic, Some(&format!("k{k}")), Some(round))
                .await
                .unwrap();
        }
    }
    send(&p, &topic, Some("k9"), None).await.unwrap();
    let refused = send(&p, &topic, None, Some("no key")).await.unwrap_err();
    assert_eq!(refused.code(), Some(87), "INVALID_RECORD: {refused}");

    let expected: Vec<(String, Option<String>)> = (0..9)
        .map(|k| (format!("k{k}"), Some("v2".to_string())))
        .collect();
    // Kafka never cleans the active segment: later records (after segment.ms) roll it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut tick = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tick += 1;
        send(&p, &topic, Some("tick"), Some(&tick.to_string()))
            .await
            .unwrap();
        let stored: Vec<_> = read_all(&bs, &topic, 0)
            .await
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect();
        if view(&stored) == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not compacted after 120 s: {:?}",
            view(&stored)
        );
    }

    // The consumer reads across the gaps compaction left.
    let c: KafkaConsumer<Bytes, Option<Bytes>> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bs.as_str()),
            ("auto.offset.reset", "earliest"),
            ("group.id", unique_topic("g-compacted").as_str()),
            ("enable.auto.commit", "false"),
        ],
        BytesSerde,
        BytesSerde,
    )
    .await
    .unwrap();
    c.assign(&[TopicPartition::new(&topic, 0)]).await.unwrap();
    let mut read = Vec::new();
    let mut offsets = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while view(&read).len() < expected.len() && Instant::now() < deadline {
        for r in c.poll(Duration::from_millis(200)).await.unwrap() {
            offsets.push(r.offset);
            read.push((Some(r.key), r.value));
        }
    }
    assert_eq!(view(&read), expected);
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "offsets only grow: {offsets:?}"
    );
    assert_eq!(
        offsets[0], 10,
        "k0's v2 kept its offset (k0..k9 v1 took 0..9)"
    );
    // A commit: on a fresh Kafka this creates __consumer_offsets, checked below.
    c.commit_sync().await.unwrap();
    c.close().await.unwrap();
    p.close(Duration::from_secs(10)).await.unwrap();

    // Committed offsets and transactions' states live in compacted topics too, as in Kafka
    // (a transactional producer creates __transaction_state on a fresh cluster).
    let txn: KafkaProducer<Bytes, Option<Bytes>> = KafkaProducer::new(
        ProducerConfig::from_properties([
            ("bootstrap.servers", bs.as_str()),
            ("transactional.id", unique_topic("compacted-txn").as_str()),
        ])
        .unwrap(),
        BytesSerde,
        BytesSerde,
    )
    .await
    .unwrap();
    within(60, "init", txn.init_transactions()).await.unwrap();
    txn.close(Duration::from_secs(10)).await.unwrap();
    let admin = cluster.admin().await;
    for internal in ["__consumer_offsets", "__transaction_state"] {
        let configs = admin.describe_topic_configs(internal).await.unwrap();
        assert!(
            configs
                .iter()
                .any(|(k, v, _)| k == "cleanup.policy" && v == "compact"),
            "{internal}: {configs:?}"
        );
    }
    admin.close().await;
    cluster.stop().await;
}
