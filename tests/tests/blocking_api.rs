//! The blocking facade (`new_blocking`, `send_blocking`, `DeliveryFuture::wait`,
//! `poll_blocking`, `close_blocking`) from plain threads and from inside a current-thread
//! tokio runtime, where tokio's `block_in_place` would panic.

use std::time::{Duration, Instant};

use krafty::consumer::{ConsumerConfig, KafkaConsumer};
use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;
use krafty_tests::{unique_topic, TestCluster};

/// Sends three records and reads them back, all through blocking calls.
fn round_trip(bootstrap: &str, topic: &str) {
    let producer: KafkaProducer<String, String> = KafkaProducer::new_blocking(
        ProducerConfig::from_properties([("bootstrap.servers", bootstrap)]).unwrap(),
        StringSerde,
        StringSerde,
    )
    .unwrap();
    for i in 0..3 {
        let md = producer
            .send_blocking(ProducerRecord::new(topic, format!("v{i}")).with_partition(0))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!((md.partition, md.offset), (0, i));
    }
    producer.close_blocking(Duration::from_secs(10)).unwrap();

    let consumer: KafkaConsumer<String, String> = KafkaConsumer::new_blocking(
        ConsumerConfig::from_properties([
            ("bootstrap.servers", bootstrap),
            ("auto.offset.reset", "earliest"),
        ])
        .unwrap(),
        StringSerde,
        StringSerde,
    )
    .unwrap();
    krafty::runtime::block_on(consumer.assign(&[TopicPartition::new(topic, 0)])).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 3 {
        assert!(Instant::now() < deadline, "only {got:?} in 30 s");
        for r in consumer.poll_blocking(Duration::from_millis(200)).unwrap() {
            got.push((r.offset, r.value));
        }
    }
    let want: Vec<(i64, String)> = (0..3).map(|i| (i, format!("v{i}"))).collect();
    assert_eq!(got, want);
    consumer.close_blocking().unwrap();
}

/// The cluster and its topic, set up on a runtime of their own.
fn cluster_with_topic(rt: &tokio::runtime::Runtime, prefix: &str) -> (TestCluster, String) {
    rt.block_on(async {
        let cluster = TestCluster::start(1).await;
        let topic = unique_topic(prefix);
        cluster.create_topic(&topic, 1, &[]).await;
        (cluster, topic)
    })
}

#[test]
fn blocking_calls_from_a_plain_thread() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (cluster, topic) = cluster_with_topic(&rt, "blocking-thread");
    round_trip(&cluster.bootstrap(), &topic);
    rt.block_on(cluster.stop());
}

#[test]
fn blocking_calls_inside_a_current_thread_runtime() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (cluster, topic) = cluster_with_topic(&rt, "blocking-current");
    let bootstrap = cluster.bootstrap();
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    current.block_on(async { round_trip(&bootstrap, &topic) });
    rt.block_on(cluster.stop());
}
