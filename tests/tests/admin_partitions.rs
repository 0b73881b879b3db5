//! `AdminClient::create_partitions` on the dev broker and Apache Kafka: a topic grows to the
//! count asked for (the new partitions placed by the broker), and a smaller count is refused
//! with INVALID_PARTITIONS.

use krafty::KafkaError;
use krafty_tests::{described_when, unique_topic, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_grows_and_never_shrinks() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("grow");
    cluster.create_topic(&topic, 2, &[]).await;
    let admin = cluster.admin().await;
    admin
        .create_partitions(&topic, 5)
        .await
        .expect("grows to 5");
    // Kafka's brokers learn of new partitions from the controller a moment after it answered.
    let described = described_when(&admin, &topic, "5 led partitions", |t| {
        t.partitions.len() >= 5 && t.partitions.iter().all(|p| p.leader >= 0)
    })
    .await;
    let numbers: Vec<i32> = described.partitions.iter().map(|p| p.partition).collect();
    assert_eq!(numbers, [0, 1, 2, 3, 4]);
    match admin.create_partitions(&topic, 3).await {
        Err(e @ KafkaError::Broker { .. }) => assert_eq!(e.code(), Some(37), "{e}"),
        other => panic!("shrinking: {other:?}"),
    }
    admin.close().await;
    cluster.stop().await;
}
