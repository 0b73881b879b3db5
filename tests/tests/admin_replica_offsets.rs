//! `AdminClient::list_replica_log_end_offsets` (ListOffsets with Kafka's DEBUGGING_REPLICA_ID,
//! -2, sent to each replica's node): on one node, the dev broker or Apache Kafka, the only
//! replica's log end is the high watermark once acks=all records are acknowledged; on a
//! three-node dev cluster a paused follower's log end lags the leader's, and a stopped node's
//! replica is an error of its own while the others are still answered.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use krafty::admin::OffsetSpec;
use krafty::producer::ProducerRecord;
use krafty::{KafkaError, TopicPartition};
use krafty_broker::Broker;
use krafty_tests::clients::string_producer;
use krafty_tests::{external_bootstrap, unique_topic, within, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_only_replica_is_at_the_high_watermark() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("replica-ends");
    cluster.create_topic(&topic, 2, &[]).await;
    let producer = string_producer(&cluster.bootstrap(), &[("acks", "all")]).await;
    for i in 0..3 {
        let sent = producer
            .send(ProducerRecord::new(&topic, format!("v{i}")).with_partition(1))
            .await
            .unwrap();
        within(30, "delivery", sent).await.unwrap();
    }
    producer.close(Duration::from_secs(10)).await.unwrap();
    let admin = cluster.admin().await;
    let tps = [
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    ];
    let described = admin.describe_topics(&[topic.as_str()]).await.unwrap();
    let leaders: Vec<i32> = described[0].partitions.iter().map(|p| p.leader).collect();
    let high_watermarks = admin.list_offsets(&tps, OffsetSpec::Latest).await.unwrap();
    assert_eq!(
        high_watermarks,
        BTreeMap::from([(tps[0].clone(), 0), (tps[1].clone(), 3)])
    );
    let ends: BTreeMap<(TopicPartition, i32), i64> = admin
        .list_replica_log_end_offsets(&tps)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap()))
        .collect();
    assert_eq!(
        ends,
        BTreeMap::from([
            ((tps[0].clone(), leaders[0]), 0),
            ((tps[1].clone(), leaders[1]), 3)
        ])
    );
    let unknown = TopicPartition::new(unique_topic("no-such-topic"), 0);
    match admin.list_replica_log_end_offsets(&[unknown]).await {
        Err(e @ KafkaError::Broker { .. }) => assert_eq!(e.code(), Some(3), "{e}"),
        other => panic!("an unknown topic: {other:?}"),
    }
    admin.close().await;
    cluster.stop().await;
}

/// With one follower's fetchers paused after 2 acks=all records and 3 more sent with acks=1,
/// the leader and the fetching follower are at 5 and the paused follower at 2, the high
/// watermark (it is still in the ISR: the lag time is 10 minutes). Once that follower's node is
/// stopped its entry is a network error; the other two are still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_followers_log_end_lags_and_a_stopped_node_is_an_error_of_its_own() {
    if external_bootstrap().is_some() {
        println!("a multi-node dev cluster test: skipped with KRAFTY_TEST_BOOTSTRAP set");
        return;
    }
    let cluster = Broker::cluster(3)
        .listen("127.0.0.1:0")
        .config("default.replication.factor", "3")
        .config("offsets.topic.num.partitions", "3")
        // The paused follower stays in the ISR however slow the machine.
        .config("replica.lag.time.max.ms", "600000")
        .start_cluster()
        .await
        .expect("the cluster starts");
    let bootstrap = cluster.bootstrap_servers();
    let topic = unique_topic("replica-ends");
    let admin = krafty::admin::AdminClient::from_properties([("bootstrap.servers", &bootstrap)])
        .await
        .unwrap();
    admin
        .create_topics(&[krafty::admin::NewTopic::new(&topic, 1, -1)])
        .await
        .unwrap();
    let state = cluster.partition_state(&topic, 0).unwrap();
    let followers: Vec<i32> = state.followers();
    // The follower paused, then stopped, is not node 1: the admin client's Metadata requests
    // go there (the first of equally loaded brokers), and must still be answered.
    let (paused, fetching) = if followers[0] != 1 {
        (followers[0], followers[1])
    } else {
        (followers[1], followers[0])
    };
    let send = |acks: &'static str, values: &'static [&'static str]| {
        let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
        async move {
            let producer = string_producer(&bootstrap, &[("acks", acks)]).await;
            for v in values {
                let sent = producer
                    .send(ProducerRecord::new(&topic, v.to_string()))
                    .await
                    .unwrap();
                within(30, "delivery", sent).await.unwrap();
            }
            producer.close(Duration::from_secs(10)).await.unwrap();
        }
    };
    send("all", &["a", "b"]).await;
    cluster.pause_replica_fetchers(paused);
    send("1", &["c", "d", "e"]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cluster
        .replicas(&topic, 0)
        .iter()
        .any(|r| r.node_id == fetching && r.log_end_offset == 5)
    {
        assert!(Instant::now() < deadline, "the fetching follower reaches 5");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tp = TopicPartition::new(&topic, 0);
    let tps = [tp.clone()];
    assert_eq!(
        admin.list_offsets(&tps, OffsetSpec::Latest).await.unwrap()[&tp],
        2
    );
    let ends = admin.list_replica_log_end_offsets(&tps).await.unwrap();
    let ends: BTreeMap<i32, i64> = ends
        .into_iter()
        .map(|((_, node), end)| (node, end.unwrap()))
        .collect();
    assert_eq!(
        ends,
        BTreeMap::from([(state.leader, 5), (fetching, 5), (paused, 2)])
    );

    cluster.node(paused).unwrap().shutdown().await;
    let ends = admin.list_replica_log_end_offsets(&tps).await.unwrap();
    assert_eq!(ends.len(), 3, "{ends:?}");
    assert!(
        matches!(ends[&(tp.clone(), paused)], Err(KafkaError::Network { .. })),
        "{ends:?}"
    );
    assert_eq!(ends[&(tp.clone(), state.leader)].as_ref().ok(), Some(&5));
    assert_eq!(ends[&(tp.clone(), fetching)].as_ref().ok(), Some(&5));
    admin.close().await;
    cluster.shutdown().await;
}
