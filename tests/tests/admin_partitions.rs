//! `AdminClient::create_partitions` on the dev broker and Apache Kafka: a topic grows to the
//! count asked for (the new partitions placed by the broker), and a smaller count is refused
//! with INVALID_PARTITIONS.

use krafty::KafkaError;
use krafty_tests::{unique_topic, TestCluster};

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
    let described = admin.describe_topics(&[topic.as_str()]).await.unwrap();
    assert_eq!(described[0].partitions.len(), 5);
    match admin.create_partitions(&topic, 3).await {
        Err(e @ KafkaError::Broker { .. }) => assert_eq!(e.code(), Some(37), "{e}"),
        other => panic!("shrinking: {other:?}"),
    }
    admin.close().await;
    cluster.stop().await;
}
