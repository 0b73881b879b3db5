//! `allow.auto.create.topics`: a consumer's metadata requests create a missing topic only
//! when it allows it (the broker's `auto.create.topics.enable` is on in both clusters).

use std::time::{Duration, Instant};

use krafty::consumer::KafkaConsumer;
use krafty::serialization::StringSerde;
use krafty_tests::{unique_topic, TestCluster};

/// Subscribes to `topic` and polls for 3 s (the consumer asks for its metadata meanwhile).
async fn subscribe_and_poll(bootstrap: &str, topic: &str, allow: &str) {
    let group = unique_topic("auto-create-g");
    let c: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bootstrap),
            ("group.id", group.as_str()),
            ("allow.auto.create.topics", allow),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "200"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    c.subscribe(&[topic], None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        c.poll(Duration::from_millis(300)).await.unwrap();
    }
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_creates_a_missing_topic_only_when_allowed() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let admin = cluster.admin().await;

    let refused = unique_topic("auto-create-no");
    subscribe_and_poll(&bs, &refused, "false").await;
    let topics = admin.list_topics(false).await.unwrap();
    assert!(
        !topics.contains(&refused),
        "allow.auto.create.topics=false created {refused}"
    );

    let allowed = unique_topic("auto-create-yes");
    subscribe_and_poll(&bs, &allowed, "true").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !admin.list_topics(false).await.unwrap().contains(&allowed) {
        assert!(
            Instant::now() < deadline,
            "{allowed} was not created by the default consumer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin.delete_topics(&[allowed.as_str()]).await.unwrap();
    admin.close().await;
    cluster.stop().await;
}
