//! Commit semantics a group member relies on: commits land in the order they were made, and a
//! member outside a stable generation cannot commit (Java's CommitFailed / rebalance in
//! progress). Against whichever cluster `TestCluster` picks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use krafty::consumer::KafkaConsumer;
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;
use krafty_tests::{unique_topic, TestCluster};

type Consumer = KafkaConsumer<String, String>;

async fn produce(bootstrap: &str, topic: &str, n: usize) {
    let p: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bootstrap)],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..n {
        deliveries.push(
            p.send(ProducerRecord::new(topic, format!("v{i}")).with_partition(0))
                .await
                .unwrap(),
        );
    }
    for (i, d) in deliveries.into_iter().enumerate() {
        assert_eq!(d.await.unwrap().offset, i as i64);
    }
    p.close(Duration::from_secs(10)).await.unwrap();
}

async fn member(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> Consumer {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "200"),
    ];
    props.extend_from_slice(extra);
    KafkaConsumer::from_properties(props, StringSerde, StringSerde)
        .await
        .unwrap()
}

/// Polls until `n` records arrived; panics after 60 s.
async fn poll_n(c: &Consumer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = 0;
    while got < n {
        assert!(
            Instant::now() < deadline,
            "only {got} of {n} records in 60 s"
        );
        got += c.poll(Duration::from_millis(200)).await.unwrap().len();
    }
    assert_eq!(got, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_commits_land_and_call_back_in_the_order_they_were_made() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("commit-order");
    cluster.create_topic(&topic, 1, &[]).await;
    produce(&bs, &topic, 100).await;
    let group = unique_topic("commit-order-g");
    let c = member(&bs, &group, &[]).await;
    c.subscribe(&[topic.as_str()], None).await.unwrap();
    poll_n(&c, 100).await;

    let tp = TopicPartition::new(topic.as_str(), 0);
    let outcomes: Arc<Mutex<Vec<(i64, bool)>>> = Arc::default();
    for offset in 1..=60 {
        c.seek(&tp, offset).await.unwrap();
        let outcomes = outcomes.clone();
        c.commit_async(move |r| outcomes.lock().unwrap().push((offset, r.is_ok())))
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while outcomes.lock().unwrap().len() < 60 {
        assert!(Instant::now() < deadline, "async commit callbacks missing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expected: Vec<(i64, bool)> = (1..=60).map(|o| (o, true)).collect();
    assert_eq!(
        *outcomes.lock().unwrap(),
        expected,
        "callbacks in call order, all succeeded"
    );
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(
        committed.get(&tp).map(|o| o.offset),
        Some(60),
        "the last commit made is the one that stays"
    );
    // A commit_sync after async ones lands after them too.
    c.seek(&tp, 75).await.unwrap();
    c.commit_async(|r| r.unwrap()).await.unwrap();
    c.seek(&tp, 80).await.unwrap();
    c.commit_sync().await.unwrap();
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed.get(&tp).map(|o| o.offset), Some(80));
    c.close().await.unwrap();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_lost_its_membership_cannot_commit_until_it_rejoins() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("commit-lost");
    cluster.create_topic(&topic, 1, &[]).await;
    produce(&bs, &topic, 10).await;
    let group = unique_topic("commit-lost-g");
    let c = member(&bs, &group, &[("max.poll.interval.ms", "1500")]).await;
    c.subscribe(&[topic.as_str()], None).await.unwrap();
    poll_n(&c, 10).await;
    let tp = TopicPartition::new(topic.as_str(), 0);
    c.commit_sync().await.unwrap();

    // Not polling for longer than max.poll.interval.ms: the member leaves the group (its
    // heartbeat thread gives the partitions up), so a commit now must fail, not go out with
    // generation -1 and succeed for partitions that may already belong to someone else.
    c.seek(&tp, 5).await.unwrap();
    let admin = cluster.admin().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !admin
        .describe_consumer_group(&group)
        .await
        .unwrap()
        .members
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the idle member still in the group after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = c
        .commit_sync()
        .await
        .expect_err("a commit outside the group");
    assert!(
        matches!(err.code(), Some(25) | Some(22) | Some(27)),
        "a commit-failed error (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or REBALANCE_IN_PROGRESS): {err}"
    );
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(
        committed.get(&tp).map(|o| o.offset),
        Some(10),
        "the refused commit changed nothing"
    );

    // Polling rejoins; the partition comes back (lost, then assigned) and commits work again.
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.assignment().await.is_empty() || c.commit_sync().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "no commit after rejoining in 60 s"
        );
        c.poll(Duration::from_millis(200)).await.unwrap();
    }
    c.close().await.unwrap();
    admin.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_with_assigned_partitions_commits_without_a_generation() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("commit-assign");
    cluster.create_topic(&topic, 1, &[]).await;
    produce(&bs, &topic, 5).await;
    let group = unique_topic("commit-assign-g");
    let c = member(&bs, &group, &[]).await;
    let tp = TopicPartition::new(topic.as_str(), 0);
    c.assign(std::slice::from_ref(&tp)).await.unwrap();
    poll_n(&c, 5).await;
    c.commit_sync().await.unwrap();
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed.get(&tp).map(|o| o.offset), Some(5));
    c.close().await.unwrap();
    cluster.stop().await;
}
