//! The default partitioner's keyless path (uniform sticky, KIP-794 adaptive partitioning)
//! against whichever cluster `TestCluster` picks (the embedded dev broker, or a real Kafka with
//! `KRAFTY_TEST_BOOTSTRAP`): whatever partitions it picks, every record lands exactly once,
//! offsets stay dense per partition, and the load spreads over every partition.
//!
//! A leader that is slow for some partitions only cannot be staged here: the dev broker and
//! the test proxy are one node, so every partition shares the leader. The choice by queue
//! length and the availability timeout are covered by the unit tests in
//! `core/src/producer/partitioner.rs` and `accumulator.rs`.

use std::collections::BTreeSet;
use std::time::Duration;

use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::KafkaError;
use krafty_tests::{read_all, unique_topic, within, TestCluster};

const PARTITIONS: i32 = 4;
/// Records of about 500 bytes with Java's 16 KiB batches: the sticky partition moves on about
/// 120 times, so a partition left out of every draw is vanishingly unlikely.
const RECORDS: usize = 4_000;

/// Sends `RECORDS` keyless records with `extra` settings and checks where they landed.
async fn keyless_records_land_once(cluster: &TestCluster, extra: &[(&str, &str)]) {
    let bs = cluster.bootstrap();
    let topic = unique_topic("keyless");
    cluster.create_topic(&topic, PARTITIONS, &[]).await;
    let mut props = vec![("bootstrap.servers", bs.as_str()), ("batch.size", "16384")];
    props.extend_from_slice(extra);
    let p = KafkaProducer::new(
        ProducerConfig::from_properties(props).unwrap(),
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let pad = "x".repeat(480);
    let mut futures = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let record = ProducerRecord::<String, String>::new(&topic, format!("{i:05}-{pad}"));
        futures.push(p.send(record).await.unwrap());
    }
    let mut acked = vec![Vec::new(); PARTITIONS as usize];
    for (i, f) in futures.into_iter().enumerate() {
        let md = within(60, "delivery", f).await.unwrap();
        acked[md.partition as usize].push((md.offset, i));
    }
    p.close(Duration::from_secs(10)).await.unwrap();
    let counts: Vec<usize> = acked.iter().map(Vec::len).collect();
    let mut stored_all = BTreeSet::new();
    for (partition, sent) in acked.iter_mut().enumerate() {
        assert!(
            !sent.is_empty(),
            "{extra:?}: partition {partition} got nothing ({counts:?} records per partition)"
        );
        sent.sort();
        let offsets: Vec<i64> = sent.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..sent.len() as i64).collect::<Vec<_>>(),
            "{extra:?}: dense offsets on partition {partition}"
        );
        let stored = read_all(&bs, &topic, partition as i32).await;
        assert_eq!(
            stored.len(),
            sent.len(),
            "{extra:?}: partition {partition} holds what was acknowledged there"
        );
        for (r, (offset, i)) in stored.iter().zip(sent.iter()) {
            assert_eq!(r.offset, *offset);
            assert!(r.key.is_none());
            let value = String::from_utf8(r.value.as_deref().unwrap().to_vec()).unwrap();
            assert!(
                value.starts_with(&format!("{i:05}-")),
                "{extra:?}: offset {offset} of partition {partition} holds record {value:.5}, \
                 acknowledged as {i}"
            );
            assert!(stored_all.insert(*i), "{extra:?}: record {i} stored twice");
        }
    }
    assert_eq!(stored_all.len(), RECORDS, "{extra:?}: every record once");
}

/// Default settings (adaptive partitioning on), with an availability timeout, and with
/// adaptive partitioning off: every record once, dense offsets, all four partitions used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_records_spread_over_every_partition_exactly_once() {
    let cluster = TestCluster::start(PARTITIONS).await;
    keyless_records_land_once(&cluster, &[]).await;
    keyless_records_land_once(&cluster, &[("partitioner.availability.timeout.ms", "1000")]).await;
    keyless_records_land_once(
        &cluster,
        &[("partitioner.adaptive.partitioning.enable", "false")],
    )
    .await;
    cluster.stop().await;
}

/// Kafka's validation of the partitioner's settings, at construction, naming the property.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_partitioner_settings_are_rejected_naming_the_property() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let cases = [
        ("partitioner.availability.timeout.ms", "-1"),
        ("partitioner.availability.timeout.ms", "soon"),
        ("partitioner.adaptive.partitioning.enable", "maybe"),
        ("partitioner.ignore.keys", "1"),
    ];
    for (name, value) in cases {
        let props = [("bootstrap.servers", bs.as_str()), (name, value)];
        let err = KafkaProducer::<String, String>::from_properties(props, StringSerde, StringSerde)
            .await
            .err()
            .unwrap_or_else(|| panic!("{name}={value} accepted"));
        match err {
            KafkaError::Config { property, .. } => assert_eq!(property, name, "{value}"),
            other => panic!("{name}={value}: not a config error: {other}"),
        }
    }
    let valid = [
        ("bootstrap.servers", bs.as_str()),
        ("partitioner.availability.timeout.ms", "0"),
        ("partitioner.adaptive.partitioning.enable", "FALSE"),
        ("partitioner.ignore.keys", "true"),
    ];
    let c = ProducerConfig::from_properties(valid).unwrap();
    assert!(!c.partitioner_adaptive && c.partitioner_ignore_keys);
    assert_eq!(c.partitioner_availability_timeout, Duration::ZERO);
    cluster.stop().await;
}
