//! `KafkaConsumer::stream()`: records in order as a `Stream`, with the position moving past
//! each record as it is yielded (a commit covers exactly what was taken).

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use krafty::consumer::KafkaConsumer;
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;
use krafty_tests::{unique_topic, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_yields_records_in_order_and_commits_exactly_what_it_yielded() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("stream");
    cluster.create_topic(&topic, 1, &[]).await;
    let p: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str())],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    for i in 0..10 {
        p.send(ProducerRecord::new(&topic, format!("v{i}")).with_partition(0))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    p.close(Duration::from_secs(10)).await.unwrap();
    let group = unique_topic("stream-g");
    let c: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
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
    c.subscribe(&[topic.as_str()], None).await.unwrap();
    let mut stream = c.stream();
    let mut got = Vec::new();
    for _ in 0..4 {
        let next = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx));
        let record = tokio::time::timeout(Duration::from_secs(60), next)
            .await
            .expect("a record within 60 s")
            .expect("the stream goes on")
            .unwrap();
        got.push((record.offset, record.value));
    }
    drop(stream);
    let want: Vec<(i64, String)> = (0..4).map(|i| (i, format!("v{i}"))).collect();
    assert_eq!(got, want);
    c.commit_sync().await.unwrap();
    let tp = TopicPartition::new(topic.as_str(), 0);
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed.get(&tp).map(|o| o.offset), Some(4));
    c.close().await.unwrap();
    cluster.stop().await;
}
