//! Failover on a three-node dev cluster (`Broker::cluster`, replication factor 3), driven by
//! its fault API: leaders stopped and restarted under an idempotent acks=all producer lose and
//! duplicate nothing; with `min.insync.replicas=2` two stopped nodes refuse acks=all sends
//! with NOT_ENOUGH_REPLICAS until one returns; a stopped leader's unreplicated tail is
//! truncated when it returns and no consumer sees it; a consumer group goes on across a
//! coordinator move; an isolated node's partitions move and it rejoins once healed. The dev
//! broker's cluster only (Apache Kafka here is one node): with `KRAFTY_TEST_BOOTSTRAP` set
//! these tests say so and return.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use krafty::admin::AdminClient;
use krafty::consumer::KafkaConsumer;
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;
use krafty_broker::ClusterHandle;
use krafty_tests::{admin_with_replicated_topic, dev_cluster, unique_topic, within};

const NOT_ENOUGH_REPLICAS: i16 = 19;

/// A three-node cluster with `configs` (six `__consumer_offsets` partitions unless given),
/// or `None` against an external one.
async fn three_nodes(configs: &[(&str, &str)]) -> Option<(ClusterHandle, tempfile::TempDir)> {
    let mut all = vec![("offsets.topic.num.partitions", "6")];
    all.extend_from_slice(configs);
    dev_cluster(&all).await
}

async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    admin_with_replicated_topic(bootstrap, topic, partitions)
        .await
        .close()
        .await;
}

async fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> KafkaProducer<String, String> {
    let mut props: Vec<(&str, &str)> = vec![("bootstrap.servers", bootstrap)];
    props.extend_from_slice(extra);
    KafkaProducer::from_properties(props, StringSerde, StringSerde)
        .await
        .unwrap()
}

/// Waits until `done` holds for the cluster, failing with `what` and the partition's state.
async fn wait_for(
    cluster: &ClusterHandle,
    topic: &str,
    what: &str,
    done: impl Fn(&ClusterHandle) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(cluster) {
        assert!(
            Instant::now() < deadline,
            "{what}: {:?} {:?}",
            cluster.partition_state(topic, 0),
            cluster.replicas(topic, 0)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every record of `partitions` partitions from the start, by partition: (offset, value).
async fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> BTreeMap<i32, Vec<(i64, String)>> {
    let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bootstrap),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    consumer.assign(&tps).await.unwrap();
    let mut got: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        let count: usize = got.values().map(Vec::len).sum();
        // Past the expected count, a little longer: a duplicate would show up.
        if count >= expected && quiet_since.elapsed() > Duration::from_millis(500) {
            break;
        }
        let records = within(30, "poll", consumer.poll(Duration::from_millis(200)))
            .await
            .unwrap();
        if !records.is_empty() {
            quiet_since = Instant::now();
        }
        for r in records {
            got.entry(r.partition)
                .or_default()
                .push((r.offset, r.value));
        }
    }
    within(30, "close", consumer.close()).await.unwrap();
    got
}

/// A count from the environment, or `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Kafka's ReplicationTest shape, in small: an idempotent acks=all producer keeps sending
/// while the leader of each partition in turn is stopped and started again; every
/// acknowledged record is read back once, at its acknowledged offset, in send order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_stopped_and_restarted_under_an_idempotent_producer_lose_and_duplicate_nothing() {
    let Some((cluster, _dir)) = three_nodes(&[("min.insync.replicas", "2")]).await else {
        return;
    };
    let bootstrap = cluster.bootstrap_servers();
    let topic = unique_topic("failover");
    create_topic(&bootstrap, &topic, 3).await;
    let producer = producer(
        &bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", "2"),
            ("retry.backoff.ms", "20"),
            ("metadata.max.age.ms", "1000"),
        ],
    )
    .await;
    // At least this many, and on until the last restart: every stop falls amid sends
    // (`scripts/cluster-soak.sh` runs it with 200k records and more rounds).
    let records = env_count("KRAFTY_FAILOVER_RECORDS", 20_000);
    let rounds = env_count("KRAFTY_FAILOVER_ROUNDS", 6);
    let send_topic = topic.clone();
    let rounds_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = rounds_done.clone();
    let sending = tokio::spawn(async move {
        let mut pending = Vec::with_capacity(records);
        let mut i = 0;
        while i < records || !done.load(std::sync::atomic::Ordering::Relaxed) {
            let record = ProducerRecord::new(&send_topic, format!("{i:07}"))
                .with_key(format!("k{}", i % 97));
            pending.push((i, producer.send(record).await.unwrap()));
            if i % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            i += 1;
        }
        let mut sent: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
        for (i, delivery) in pending {
            let md = within(120, "delivery", delivery)
                .await
                .unwrap_or_else(|e| panic!("record {i} failed: {e}"));
            sent.entry(md.partition)
                .or_default()
                .push((md.offset, format!("{i:07}")));
        }
        producer.close(Duration::from_secs(10)).await.unwrap();
        sent
    });
    for round in 0..rounds {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let partition = (round % 3) as i32;
        let before = cluster.partition_state(&topic, partition).unwrap();
        cluster.stop_node(before.leader).await.unwrap();
        let after = cluster.partition_state(&topic, partition).unwrap();
        assert_ne!(after.leader, before.leader, "round {round}: a new leader");
        assert!(before.isr.contains(&after.leader), "elected from the ISR");
        assert_eq!(after.leader_epoch, before.leader_epoch + 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        cluster.start_node(before.leader).await.unwrap();
        wait_for(&cluster, &topic, "every replica back in the ISRs", |c| {
            (0..3).all(|p| c.partition_state(&topic, p).unwrap().isr.len() == 3)
        })
        .await;
    }
    rounds_done.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = within(180, "the producer", sending).await.unwrap();
    let total: usize = sent.values().map(Vec::len).sum();
    assert!(total >= records, "{total} records");
    for (p, records) in &sent {
        let mut sorted = records.clone();
        sorted.sort();
        let offsets: Vec<i64> = sorted.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..records.len() as i64).collect::<Vec<_>>(),
            "partition {p}: one offset per record, no gap"
        );
        let values: Vec<&String> = sorted.iter().map(|(_, v)| v).collect();
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: in send order"
        );
    }
    let mut expected = sent.clone();
    for records in expected.values_mut() {
        records.sort();
    }
    let got = read_all(&bootstrap, &topic, 3, total).await;
    assert!(
        got == expected,
        "every acknowledged record once, at its offset"
    );
    cluster.shutdown().await;
}

/// With `min.insync.replicas=2`, acks=all sends fail with NOT_ENOUGH_REPLICAS while two of
/// three nodes are down, and succeed again once one returns and catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_down_refuse_acks_all_with_not_enough_replicas_until_one_returns() {
    let Some((cluster, _dir)) = three_nodes(&[("min.insync.replicas", "2")]).await else {
        return;
    };
    let bootstrap = cluster.bootstrap_servers();
    let topic = unique_topic("min-isr");
    create_topic(&bootstrap, &topic, 1).await;
    let producer = producer(
        &bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "false"),
            ("retries", "0"),
        ],
    )
    .await;
    let send = |value: &str| {
        let record = ProducerRecord::new(&topic, value.to_string());
        let producer = &producer;
        async move {
            let delivery = producer.send(record).await.unwrap();
            within(60, "delivery", delivery).await
        }
    };
    assert_eq!(send("before").await.unwrap().offset, 0);
    let state = cluster.partition_state(&topic, 0).unwrap();
    let followers: Vec<i32> = state.followers();
    for f in &followers {
        cluster.stop_node(*f).await.unwrap();
    }
    assert_eq!(
        cluster.partition_state(&topic, 0).unwrap().isr,
        [state.leader]
    );
    let refused = send("while-down").await.unwrap_err();
    assert_eq!(refused.code(), Some(NOT_ENOUGH_REPLICAS), "{refused}");
    cluster.start_node(followers[0]).await.unwrap();
    wait_for(
        &cluster,
        &topic,
        "the returning node rejoins the ISR",
        |c| c.partition_state(&topic, 0).unwrap().isr.len() == 2,
    )
    .await;
    assert_eq!(send("after").await.unwrap().offset, 1);
    producer.close(Duration::from_secs(10)).await.unwrap();
    let got = read_all(&bootstrap, &topic, 1, 2).await;
    let values: Vec<&str> = got[&0].iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["before", "after"]);
    cluster.shutdown().await;
}

/// A leader that appended records its followers never fetched (acks=1) is stopped; a follower
/// takes over and appends new records at the same offsets. When the old leader returns it
/// truncates its tail (OffsetForLeaderEpoch) and copies the new leader's records: every
/// replica then holds the same log, and no consumer ever reads the lost tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_leader_truncates_its_unreplicated_tail() {
    let Some((cluster, _dir)) = three_nodes(&[]).await else {
        return;
    };
    let bootstrap = cluster.bootstrap_servers();
    let topic = unique_topic("truncation");
    create_topic(&bootstrap, &topic, 1).await;
    let all = producer(&bootstrap, &[("acks", "all")]).await;
    for i in 0..10 {
        let d = all
            .send(ProducerRecord::new(&topic, format!("r{i}")))
            .await
            .unwrap();
        assert_eq!(within(30, "delivery", d).await.unwrap().offset, i);
    }
    let state = cluster.partition_state(&topic, 0).unwrap();
    let old = state.leader;
    let followers = state.followers();
    wait_for(&cluster, &topic, "followers hold the first records", |c| {
        c.replicas(&topic, 0).iter().all(|r| r.log_end_offset == 10)
    })
    .await;
    for f in &followers {
        cluster.pause_replica_fetchers(*f);
    }
    let one = producer(
        &bootstrap,
        &[("acks", "1"), ("enable.idempotence", "false")],
    )
    .await;
    for i in 0..5 {
        let d = one
            .send(ProducerRecord::new(&topic, format!("tail{i}")))
            .await
            .unwrap();
        assert_eq!(within(30, "delivery", d).await.unwrap().offset, 10 + i);
    }
    one.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop_node(old).await.unwrap();
    for f in &followers {
        cluster.resume_replica_fetchers(*f);
    }
    let new = cluster.partition_state(&topic, 0).unwrap();
    assert!(followers.contains(&new.leader));
    assert_eq!(new.leader_epoch, 1);
    for i in 0..3 {
        let d = all
            .send(ProducerRecord::new(&topic, format!("after{i}")))
            .await
            .unwrap();
        assert_eq!(within(60, "delivery", d).await.unwrap().offset, 10 + i);
    }
    all.close(Duration::from_secs(10)).await.unwrap();
    let old_log = cluster.replicas(&topic, 0);
    let old_end = old_log
        .iter()
        .find(|r| r.node_id == old)
        .unwrap()
        .log_end_offset;
    assert_eq!(old_end, 15, "the stopped leader kept its tail: {old_log:?}");

    cluster.start_node(old).await.unwrap();
    wait_for(
        &cluster,
        &topic,
        "the old leader truncates and catches up",
        |c| {
            c.partition_state(&topic, 0).unwrap().isr.len() == 3
                && c.replicas(&topic, 0).iter().all(|r| r.log_end_offset == 13)
        },
    )
    .await;
    let leaders = cluster
        .read_replica(new.leader, &topic, 0, 0, 1 << 20)
        .unwrap();
    for r in cluster.replicas(&topic, 0) {
        let log = cluster
            .read_replica(r.node_id, &topic, 0, 0, 1 << 20)
            .unwrap();
        assert!(log == leaders, "node {}'s replica differs", r.node_id);
    }
    let got = read_all(&bootstrap, &topic, 1, 13).await;
    let values: Vec<String> = got[&0].iter().map(|(_, v)| v.clone()).collect();
    let mut expected: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    expected.extend((0..3).map(|i| format!("after{i}")));
    assert_eq!(values, expected);
    cluster.shutdown().await;
}

/// Polls until `seen` holds `count` distinct values.
async fn poll_until(
    consumer: &KafkaConsumer<String, String>,
    seen: &mut std::collections::BTreeSet<String>,
    count: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < count {
        assert!(
            Instant::now() < deadline,
            "{} of {count} records",
            seen.len()
        );
        for r in within(30, "poll", consumer.poll(Duration::from_millis(200)))
            .await
            .unwrap()
        {
            seen.insert(r.value);
        }
    }
}

/// A group's coordinator node is stopped mid-consumption: the group moves to the new leader
/// of its `__consumer_offsets` partition (loaded from that replica, members and assignments
/// included), the consumer finds it and goes on, and its next commit lands there in the same
/// generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_group_goes_on_across_a_coordinator_move() {
    let Some((cluster, _dir)) = three_nodes(&[]).await else {
        return;
    };
    let bootstrap = cluster.bootstrap_servers();
    let topic = unique_topic("coordinator-move");
    create_topic(&bootstrap, &topic, 3).await;
    let producer = producer(&bootstrap, &[("acks", "all")]).await;
    let send_range = |from: usize, to: usize| {
        let producer = &producer;
        let topic = &topic;
        async move {
            let mut pending = Vec::new();
            for i in from..to {
                let record = ProducerRecord::new(topic, format!("v{i:04}"));
                pending.push(producer.send(record).await.unwrap());
            }
            for d in pending {
                within(60, "delivery", d).await.unwrap();
            }
        }
    };
    send_range(0, 300).await;
    let group = unique_topic("moving-group");
    let offsets_partition = krafty_broker::topics::coordinator_partition(&group, 6);
    let coordinator = cluster
        .partition_state("__consumer_offsets", offsets_partition)
        .unwrap()
        .leader;
    let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("group.id", group.as_str()),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "200"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    consumer.subscribe(&[topic.as_str()], None).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    poll_until(&consumer, &mut seen, 300).await;
    // A commit is answered once every in-sync replica of the offsets partition holds it: not
    // while the followers fetch nothing (their lag time is far off).
    let followers: Vec<i32> = cluster
        .partition_state("__consumer_offsets", offsets_partition)
        .unwrap()
        .replicas
        .into_iter()
        .filter(|r| *r != coordinator)
        .collect();
    for f in &followers {
        cluster.pause_replica_fetchers(*f);
    }
    let early = tokio::time::timeout(Duration::from_secs(1), consumer.commit_sync()).await;
    assert!(
        early.is_err(),
        "answered before the followers had it: {early:?}"
    );
    for f in &followers {
        cluster.resume_replica_fetchers(*f);
    }
    within(30, "commit", consumer.commit_sync()).await.unwrap();
    cluster.stop_node(coordinator).await.unwrap();
    let moved_to = cluster
        .partition_state("__consumer_offsets", offsets_partition)
        .unwrap()
        .leader;
    assert!(
        moved_to != coordinator && moved_to > 0,
        "moved to {moved_to}"
    );
    // The acknowledged commit is on the new coordinator.
    let admin = AdminClient::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .unwrap();
    let committed = admin.list_consumer_group_offsets(&group).await.unwrap();
    assert_eq!(committed.values().sum::<i64>(), 300, "{committed:?}");
    send_range(300, 400).await;
    poll_until(&consumer, &mut seen, 400).await;
    // The new coordinator loaded the group, members included: the member commits in its
    // generation without a rebalance.
    within(30, "commit after the move", consumer.commit_sync())
        .await
        .unwrap();
    within(30, "close", consumer.close()).await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();
    let expected: std::collections::BTreeSet<String> =
        (0..400).map(|i| format!("v{i:04}")).collect();
    assert_eq!(seen, expected);
    let committed = admin.list_consumer_group_offsets(&group).await.unwrap();
    assert_eq!(committed.values().sum::<i64>(), 400, "{committed:?}");
    admin.close().await;
    cluster.shutdown().await;
}

/// An isolated leader's partition moves to an in-sync follower and an acks=all producer goes
/// on there (its requests to the silent node time out); healed, the node follows again and
/// holds the same log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_is_replaced_and_rejoins_when_healed() {
    let Some((cluster, _dir)) = three_nodes(&[]).await else {
        return;
    };
    let bootstrap = cluster.bootstrap_servers();
    let topic = unique_topic("isolation");
    create_topic(&bootstrap, &topic, 1).await;
    let producer = producer(
        &bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("request.timeout.ms", "2000"),
            ("retry.backoff.ms", "50"),
        ],
    )
    .await;
    let send = |i: usize| {
        let producer = &producer;
        let record = ProducerRecord::new(&topic, format!("r{i}"));
        async move {
            let d = producer.send(record).await.unwrap();
            within(60, "delivery", d).await.unwrap().offset
        }
    };
    for i in 0..5 {
        assert_eq!(send(i).await, i as i64);
    }
    let before = cluster.partition_state(&topic, 0).unwrap();
    cluster.isolate_node(before.leader).unwrap();
    let after = cluster.partition_state(&topic, 0).unwrap();
    assert_ne!(after.leader, before.leader);
    assert_eq!(after.leader_epoch, before.leader_epoch + 1);
    assert!(!after.isr.contains(&before.leader));
    for i in 5..10 {
        assert_eq!(send(i).await, i as i64);
    }
    cluster.heal_node(before.leader).unwrap();
    wait_for(&cluster, &topic, "the healed node rejoins", |c| {
        c.partition_state(&topic, 0).unwrap().isr.len() == 3
            && c.replicas(&topic, 0).iter().all(|r| r.log_end_offset == 10)
    })
    .await;
    producer.close(Duration::from_secs(10)).await.unwrap();
    let got = read_all(&bootstrap, &topic, 1, 10).await;
    let values: Vec<&str> = got[&0].iter().map(|(_, v)| v.as_str()).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    assert_eq!(values, expected);
    cluster.shutdown().await;
}

/// The transaction coordinator's node stops mid-transaction: the new leader of the
/// transactional id's `__transaction_state` partition loads the open transaction (its
/// partitions included, replicated before each request was answered), the producer finds it
/// and commits, and a read_committed consumer reads the transaction once; a second
/// transaction runs on the new coordinator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_commits_across_a_coordinator_move() {
    let Some((cluster, _dir)) = three_nodes(&[("transaction.state.log.num.partitions", "5")]).await
    else {
        return;
    };
    let bootstrap = cluster.bootstrap_servers();
    let topic = unique_topic("txn-move");
    create_topic(&bootstrap, &topic, 3).await;
    let id = unique_topic("txn-move-id");
    let p = krafty_tests::clients::transactional(&bootstrap, &id).await;
    within(60, "init", p.init_transactions()).await.unwrap();
    p.begin_transaction().unwrap();
    for i in 0..9 {
        p.send(ProducerRecord::new(topic.clone(), format!("t{i}")).with_partition(i % 3))
            .await
            .unwrap();
    }
    within(60, "flush", p.flush()).await.unwrap();
    let state_partition = krafty_broker::topics::coordinator_partition(&id, 5);
    let coordinator = cluster
        .partition_state("__transaction_state", state_partition)
        .unwrap()
        .leader;
    cluster.stop_node(coordinator).await.unwrap();
    let moved_to = cluster
        .partition_state("__transaction_state", state_partition)
        .unwrap()
        .leader;
    assert!(
        moved_to > 0 && moved_to != coordinator,
        "moved to {moved_to}"
    );
    within(60, "commit after the move", p.commit_transaction())
        .await
        .unwrap();
    p.begin_transaction().unwrap();
    p.send(ProducerRecord::new(topic.clone(), "second".to_string()).with_partition(0))
        .await
        .unwrap();
    within(60, "second commit", p.commit_transaction())
        .await
        .unwrap();
    p.close(Duration::from_secs(10)).await.unwrap();
    let consumer = krafty_tests::clients::isolated_consumer(
        &bootstrap,
        &unique_topic("g-rc"),
        "read_committed",
    )
    .await;
    let mut seen =
        krafty_tests::clients::values_until_quiet(&consumer, &topic, Duration::from_secs(2)).await;
    seen.sort();
    let mut expected: Vec<String> = (0..9).map(|i| format!("t{i}")).collect();
    expected.push("second".into());
    expected.sort();
    assert_eq!(seen, expected);
    cluster.shutdown().await;
}
