//! End to end through whichever cluster `TestCluster` picks: admin, producer, consumer group.

use std::collections::BTreeMap;
use std::time::Duration;

use krafty::admin::{AdminClient, NewTopic};
use krafty::consumer::KafkaConsumer;
use krafty::producer::{murmur2_partition, KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty_tests::{unique_topic, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_round_trip_through_a_group_with_commits() {
    let cluster = TestCluster::start(3).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("e2e");
    let admin = AdminClient::from_properties([("bootstrap.servers", bs.as_str())])
        .await
        .unwrap();
    admin
        .create_topics(&[NewTopic::new(&topic, 3, 1)])
        .await
        .unwrap();
    // A KRaft broker serves a new topic's metadata a moment after CreateTopics answers (as
    // with the Java admin client, describe may say UNKNOWN_TOPIC_OR_PARTITION until then).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let described = loop {
        match admin.describe_topics(&[topic.as_str()]).await {
            Err(e) if e.code() == Some(3) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            r => break r.unwrap(),
        }
    };
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
        let md = delivery.await.unwrap();
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
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while got.len() < 1000 && std::time::Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            got.push((r.partition, r.offset, r.value));
        }
    }
    consumer.commit_sync().await.unwrap();
    consumer.close().await.unwrap();
    got.sort();
    sent.sort();
    assert_eq!(
        got, sent,
        "every record once, at the offset its acknowledgement reported"
    );

    let committed = admin.list_consumer_group_offsets(&group).await.unwrap();
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for (p, o, _) in &sent {
        let e = ends.entry(*p).or_default();
        *e = (*e).max(o + 1);
    }
    for (tp, offset) in committed {
        assert_eq!(Some(&offset), ends.get(&tp.partition), "{tp}");
    }
    admin.delete_topics(&[topic.as_str()]).await.unwrap();
    admin.close().await;
    cluster.stop().await;
}

/// Every codec's framing must be what the cluster accepts and what it serves back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_through_the_cluster() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let admin = AdminClient::from_properties([("bootstrap.servers", bs.as_str())])
        .await
        .unwrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = unique_topic(&format!("codec-{codec}"));
        admin
            .create_topics(&[NewTopic::new(&topic, 1, 1)])
            .await
            .unwrap();
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
            assert_eq!(d.await.unwrap().offset, i as i64, "{codec}");
        }
        producer.close(Duration::from_secs(10)).await.unwrap();

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
            .assign(&[krafty::TopicPartition::new(topic.as_str(), 0)])
            .await
            .unwrap();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while got.len() < values.len() && std::time::Instant::now() < deadline {
            for r in consumer.poll(Duration::from_millis(500)).await.unwrap() {
                assert_eq!(r.offset, got.len() as i64, "{codec}");
                assert_eq!(r.key, format!("k{}", r.value.len()), "{codec}");
                got.push(r.value);
            }
        }
        assert_eq!(got, values, "{codec}");
        consumer.close().await.unwrap();
        admin.delete_topics(&[topic.as_str()]).await.unwrap();
    }
    admin.close().await;
    cluster.stop().await;
}
