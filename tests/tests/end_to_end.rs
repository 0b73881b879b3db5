//! End to end through whichever cluster `TestCluster` picks: admin, producer, consumer group.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use krafty::consumer::KafkaConsumer;
use krafty::producer::{murmur2_partition, KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;
use krafty_tests::{read_batches, unique_topic, within, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_round_trip_through_a_group_with_commits() {
    let cluster = TestCluster::start(3).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("e2e");
    cluster.create_topic(&topic, 3, &[]).await;
    let admin = cluster.admin().await;
    let described = admin.describe_topics(&[topic.as_str()]).await.unwrap();
    assert_eq!(described[0].partitions.len(), 3);

    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [
            ("bootstrap.servers", bs.as_str()),
            ("compression.type", "lz4"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let mut pending = Vec::new();
    for i in 0..1000 {
        let key = format!("user-{}", i % 37);
        let delivery = producer
            .send(ProducerRecord::new(&topic, format!("event-{i}")).with_key(key.clone()))
            .await
            .unwrap();
        pending.push((key, format!("event-{i}"), delivery));
    }
    let mut sent = Vec::new();
    for (key, value, delivery) in pending {
        let md = within(60, "delivery", delivery).await.unwrap();
        assert_eq!(md.partition, murmur2_partition(key.as_bytes(), 3));
        sent.push((md.partition, md.offset, value));
    }
    producer.close(Duration::from_secs(10)).await.unwrap();

    let group = unique_topic("e2e-group");
    let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bs.as_str()),
            ("group.id", group.as_str()),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    consumer.subscribe(&[topic.as_str()], None).await.unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < 1000 && Instant::now() < deadline {
        let records = within(30, "poll", consumer.poll(Duration::from_millis(500)))
            .await
            .unwrap();
        for r in records {
            got.push((r.partition, r.offset, r.value));
        }
    }
    within(30, "commit", consumer.commit_sync()).await.unwrap();
    within(30, "close", consumer.close()).await.unwrap();
    got.sort();
    sent.sort();
    assert_eq!(
        got, sent,
        "every record once, at the offset its acknowledgement reported"
    );

    // The group committed, for every partition, the offset after the last record it read.
    let mut expected: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for (p, o, _) in &sent {
        let e = expected
            .entry(TopicPartition::new(topic.as_str(), *p))
            .or_default();
        *e = (*e).max(o + 1);
    }
    assert_eq!(expected.len(), 3, "37 keys reach all 3 partitions");
    assert_eq!(expected.values().sum::<i64>(), 1000);
    let committed = admin.list_consumer_group_offsets(&group).await.unwrap();
    assert_eq!(committed, expected, "the committed offsets");
    admin.delete_topics(&[topic.as_str()]).await.unwrap();
    admin.close().await;
    cluster.stop().await;
}

/// Every codec's framing must be what the cluster accepts, stores (the stored batches carry
/// the codec) and serves back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_through_the_cluster() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let admin = cluster.admin().await;
    for (codec, id) in [
        ("none", 0),
        ("gzip", 1),
        ("snappy", 2),
        ("lz4", 3),
        ("zstd", 4),
    ] {
        let topic = unique_topic(&format!("codec-{codec}"));
        cluster.create_topic(&topic, 1, &[]).await;
        let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
            [
                ("bootstrap.servers", bs.as_str()),
                ("compression.type", codec),
                ("linger.ms", "20"),
            ],
            StringSerde,
            StringSerde,
        )
        .await
        .unwrap();
        // Enough records for several 64 KiB lz4 blocks in one batch.
        let values: Vec<String> = (0..3000)
            .map(|i| format!("{codec} record {i} {}", "x".repeat(i % 50)))
            .collect();
        let mut pending = Vec::new();
        for v in &values {
            pending.push(
                producer
                    .send(ProducerRecord::new(&topic, v.clone()).with_key(format!("k{}", v.len())))
                    .await
                    .unwrap(),
            );
        }
        for (i, d) in pending.into_iter().enumerate() {
            let md = within(60, "delivery", d).await.unwrap();
            assert_eq!(md.offset, i as i64, "{codec}");
        }
        producer.close(Duration::from_secs(10)).await.unwrap();

        let batches = read_batches(&bs, &topic, 0).await;
        assert!(!batches.is_empty(), "{codec}");
        for b in &batches {
            assert_eq!(b.codec(), id, "{codec}: batch at {}", b.base_offset);
        }
        let stored: Vec<&[u8]> = batches
            .iter()
            .flat_map(|b| &b.records)
            .map(|r| r.value.as_deref().unwrap())
            .collect();
        assert_eq!(
            stored,
            values.iter().map(|v| v.as_bytes()).collect::<Vec<_>>(),
            "{codec}: as stored"
        );

        let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
            [
                ("bootstrap.servers", bs.as_str()),
                ("auto.offset.reset", "earliest"),
            ],
            StringSerde,
            StringSerde,
        )
        .await
        .unwrap();
        consumer
            .assign(&[TopicPartition::new(topic.as_str(), 0)])
            .await
            .unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < values.len() && Instant::now() < deadline {
            let records = within(30, "poll", consumer.poll(Duration::from_millis(500)))
                .await
                .unwrap();
            for r in records {
                assert_eq!(r.offset, got.len() as i64, "{codec}");
                assert_eq!(r.key, format!("k{}", r.value.len()), "{codec}");
                got.push(r.value);
            }
        }
        assert_eq!(got, values, "{codec}: as consumed");
        within(30, "close", consumer.close()).await.unwrap();
        admin.delete_topics(&[topic.as_str()]).await.unwrap();
    }
    admin.close().await;
    cluster.stop().await;
}
