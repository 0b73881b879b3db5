//! The Krafty client against a three-node dev cluster (`Broker::cluster`), replication factor
//! 3: an idempotent acks=all producer's records come back exactly once and in order through a
//! consumer group whose coordinator is not the bootstrap node, every replica holding the
//! leader's log; a transaction commits across partitions led by different nodes. The dev
//! broker's cluster only: with `KRAFTY_TEST_BOOTSTRAP` set these tests say so and return.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use krafty::consumer::KafkaConsumer;
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;
use krafty_broker::{Broker, ClusterHandle};
use krafty_tests::clients::{isolated_consumer, transactional, values_until_quiet};
use krafty_tests::{
    admin_with_replicated_topic as admin_with_topic, dev_cluster, external_bootstrap, unique_topic,
    within,
};

/// A three-node cluster, or `None` against an external cluster.
async fn three_nodes() -> Option<(ClusterHandle, tempfile::TempDir)> {
    dev_cluster(&[
        ("offsets.topic.num.partitions", "10"),
        ("transaction.state.log.num.partitions", "5"),
    ])
    .await
}

/// A group id whose coordinator (the leader of its `__consumer_offsets` partition) is not
/// node `not`.
fn group_coordinated_elsewhere(cluster: &ClusterHandle, not: i32) -> (String, i32) {
    (0..1000)
        .map(|i| unique_topic(&format!("replicated-group-{i}")))
        .find_map(|g| {
            let p = krafty_broker::topics::coordinator_partition(&g, 10);
            let leader = cluster.partition_state("__consumer_offsets", p)?.leader;
            (leader != not).then_some((g, leader))
        })
        .expect("some group is coordinated by another node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_idempotent_records_round_trip_exactly_once_through_a_group() {
    let Some((cluster, _dir)) = three_nodes().await else {
        return;
    };
    let first = cluster.nodes()[0].bootstrap_servers();
    let bootstrap = first.as_str();
    let topic = unique_topic("replicated");
    let admin = admin_with_topic(bootstrap, &topic, 3).await;
    let leaders: Vec<i32> = (0..3)
        .map(|p| cluster.partition_state(&topic, p).unwrap().leader)
        .collect();
    let mut distinct = leaders.clone();
    distinct.sort_unstable();
    assert_eq!(distinct, [1, 2, 3], "one partition led by each node");

    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [
            ("bootstrap.servers", bootstrap),
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let mut pending = Vec::new();
    for i in 0..3000 {
        let record = ProducerRecord::new(&topic, format!("r{i}")).with_key(format!("k{}", i % 101));
        pending.push((format!("r{i}"), producer.send(record).await.unwrap()));
    }
    let mut sent: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    for (value, delivery) in pending {
        let md = within(60, "delivery", delivery).await.unwrap();
        sent.entry(md.partition)
            .or_default()
            .push((md.offset, value));
    }
    producer.close(Duration::from_secs(10)).await.unwrap();
    for (p, records) in &sent {
        let offsets: Vec<i64> = records.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..records.len() as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
    }

    let (group, coordinator) = group_coordinated_elsewhere(&cluster, 1);
    assert_ne!(coordinator, 1);
    let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bootstrap),
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
    let mut got: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.values().map(Vec::len).sum::<usize>() < 3000 && Instant::now() < deadline {
        for r in within(30, "poll", consumer.poll(Duration::from_millis(500)))
            .await
            .unwrap()
        {
            got.entry(r.partition)
                .or_default()
                .push((r.offset, r.value));
        }
    }
    within(30, "commit", consumer.commit_sync()).await.unwrap();
    within(30, "close", consumer.close()).await.unwrap();
    assert_eq!(
        got, sent,
        "every record once, in order, at its acknowledged offset"
    );

    let committed = admin.list_consumer_group_offsets(&group).await.unwrap();
    let expected: BTreeMap<TopicPartition, i64> = sent
        .iter()
        .map(|(p, r)| (TopicPartition::new(topic.as_str(), *p), r.len() as i64))
        .collect();
    assert_eq!(
        committed, expected,
        "the offsets the coordinator on node {coordinator} keeps"
    );
    admin.close().await;

    // Every replica holds the leader's log, byte for byte.
    for p in 0..3 {
        let end = sent[&p].len() as i64;
        let deadline = Instant::now() + Duration::from_secs(10);
        // Followers learn the high watermark from their next fetch's answer.
        let settled =
            |r: &krafty_broker::ReplicaInfo| r.log_end_offset == end && r.high_watermark == end;
        while !cluster.replicas(&topic, p).iter().all(settled) {
            assert!(
                Instant::now() < deadline,
                "replicas of {p}: {:?}",
                cluster.replicas(&topic, p)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let leader = cluster.partition_state(&topic, p).unwrap().leader;
        let leaders_log = cluster
            .read_replica(leader, &topic, p, 0, 64 << 20)
            .unwrap();
        for r in cluster.replicas(&topic, p) {
            let log = cluster
                .read_replica(r.node_id, &topic, p, 0, 64 << 20)
                .unwrap();
            assert!(
                log == leaders_log,
                "node {}'s replica of {p} differs",
                r.node_id
            );
        }
    }
    cluster.shutdown().await;
}

/// A transaction over partitions led by different nodes commits (its markers reach each
/// leader, and the followers), and a read_committed consumer reads it all once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_commits_across_nodes() {
    let Some((cluster, _dir)) = three_nodes().await else {
        return;
    };
    let bootstrap = cluster.nodes()[0].bootstrap_servers();
    let topic = unique_topic("replicated-txn");
    admin_with_topic(&bootstrap, &topic, 3).await.close().await;
    let p = transactional(&bootstrap, &unique_topic("replicated-txn-id")).await;
    within(60, "init", p.init_transactions()).await.unwrap();
    p.begin_transaction().unwrap();
    for i in 0..9 {
        p.send(ProducerRecord::new(topic.clone(), format!("t{i}")).with_partition(i % 3))
            .await
            .unwrap();
    }
    within(60, "commit", p.commit_transaction()).await.unwrap();
    let consumer = isolated_consumer(&bootstrap, &unique_topic("g-rc"), "read_committed").await;
    let mut seen = values_until_quiet(&consumer, &topic, Duration::from_secs(3)).await;
    seen.sort();
    let mut expected: Vec<String> = (0..9).map(|i| format!("t{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected);
    cluster.shutdown().await;
}

/// acks=all through a follower falling behind: the producer's requests wait while the paused
/// follower is still in the ISR, go on once it leaves it (`replica.lag.time.max.ms`), and
/// every record is acknowledged once, in order; the follower then catches up and rejoins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_goes_on_after_a_lagging_follower_leaves_the_isr() {
    if external_bootstrap().is_some() {
        println!("a multi-node dev cluster test: skipped with KRAFTY_TEST_BOOTSTRAP set");
        return;
    }
    let cluster = Broker::cluster(3)
        .listen("127.0.0.1:0")
        .config("replica.lag.time.max.ms", "1000")
        .config("min.insync.replicas", "2")
        .config("offsets.topic.num.partitions", "3")
        .start_cluster()
        .await
        .expect("the cluster starts");
    let bootstrap = cluster.bootstrap_servers();
    let topic = unique_topic("replicated-lagging");
    admin_with_topic(&bootstrap, &topic, 1).await.close().await;
    let state = cluster.partition_state(&topic, 0).unwrap();
    let lagging = *state.replicas.iter().find(|r| **r != state.leader).unwrap();
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("acks", "all"),
            ("enable.idempotence", "true"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let mut offsets = Vec::new();
    for i in 0..300 {
        if i == 100 {
            cluster.pause_replica_fetchers(lagging);
        }
        if i == 200 {
            let isr = cluster.partition_state(&topic, 0).unwrap().isr;
            assert!(!isr.contains(&lagging), "still in the ISR: {isr:?}");
            cluster.resume_replica_fetchers(lagging);
        }
        let delivery = producer
            .send(ProducerRecord::new(&topic, format!("r{i}")))
            .await
            .unwrap();
        // One at a time: the pause falls between two records.
        offsets.push(within(60, "delivery", delivery).await.unwrap().offset);
    }
    producer.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!(offsets, (0..300).collect::<Vec<i64>>());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cluster
        .partition_state(&topic, 0)
        .unwrap()
        .isr
        .contains(&lagging)
    {
        assert!(
            Instant::now() < deadline,
            "the follower did not rejoin the ISR"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let caught_up = cluster
        .replicas(&topic, 0)
        .iter()
        .all(|r| r.log_end_offset == 300);
    assert!(caught_up, "{:?}", cluster.replicas(&topic, 0));
    cluster.shutdown().await;
}
