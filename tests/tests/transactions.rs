//! The transactional producer against the dev broker's transaction coordinator and Apache
//! Kafka (`KRAFTY_TEST_BOOTSTRAP`), in KIP-890's protocol v2 where the cluster finalized
//! `transaction.version` 2 (Kafka 4.x, the dev broker by default) and v1 elsewhere (Kafka 3.9,
//! a dev broker set to 1): commit and abort as a `read_committed` and a
//! `read_uncommitted` consumer see them, zombie fencing by a second instance with the same
//! `transactional.id`, consumer offsets committed with the transaction, a transaction past
//! its `transaction.timeout.ms` aborted by the coordinator, and every call in the wrong state
//! refused. Broker restarts are in `transactions_restart.rs`, a binary of their own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use krafty::consumer::OffsetAndMetadata;
use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::{KafkaError, TopicPartition};
use krafty_tests::clients::{
    isolated_consumer as consumer, transactional, values_until_quiet as read_values,
};
use krafty_tests::{read_batches, unique_topic, within, TestCluster};

/// A committed transaction over two partitions is seen by a read_committed consumer; an
/// aborted one is not (a read_uncommitted consumer sees both), and the producer goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_records_are_visible_and_aborted_ones_are_not() {
    let cluster = TestCluster::start(2).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("txn-visibility");
    cluster.create_topic(&topic, 2, &[]).await;
    let p = transactional(&bs, &unique_topic("txn-id")).await;
    within(60, "init", p.init_transactions()).await.unwrap();

    p.begin_transaction().unwrap();
    for i in 0..6 {
        p.send(ProducerRecord::new(topic.clone(), format!("c{i}")).with_partition(i % 2))
            .await
            .unwrap();
    }
    within(60, "commit", p.commit_transaction()).await.unwrap();

    // Written (acknowledged), then aborted.
    p.begin_transaction().unwrap();
    for f in futures_join(&p, &topic, "a", 4).await {
        within(30, "aborted record written", f).await.unwrap();
    }
    within(60, "abort", p.abort_transaction()).await.unwrap();
    // Never sent: an abort right after the sends fails them.
    p.begin_transaction().unwrap();
    let unsent = futures_join(&p, &topic, "u", 2).await;
    within(60, "abort", p.abort_transaction()).await.unwrap();
    for f in unsent {
        let _ = within(30, "unsent record outcome", f).await;
    }

    p.begin_transaction().unwrap();
    p.send(ProducerRecord::new(topic.clone(), "after".to_string()).with_partition(0))
        .await
        .unwrap();
    within(60, "commit", p.commit_transaction()).await.unwrap();

    let committed = consumer(&bs, &unique_topic("g-rc"), "read_committed").await;
    let mut seen = read_values(&committed, &topic, Duration::from_secs(3)).await;
    seen.sort();
    let mut expected: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
    expected.push("after".into());
    expected.sort();
    assert_eq!(
        seen, expected,
        "read_committed: the committed records, once each"
    );

    let uncommitted = consumer(&bs, &unique_topic("g-ru"), "read_uncommitted").await;
    let seen = read_values(&uncommitted, &topic, Duration::from_secs(3)).await;
    let aborted = seen
        .iter()
        .filter(|v| v.len() == 2 && v.starts_with('a'))
        .count();
    assert_eq!(
        aborted, 4,
        "read_uncommitted sees the aborted records: {seen:?}"
    );
    assert_eq!(
        seen.len(),
        11,
        "and the committed ones, not the unsent: {seen:?}"
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    committed.close().await.unwrap();
    uncommitted.close().await.unwrap();
    cluster.stop().await;
}

async fn futures_join(
    p: &KafkaProducer<String, String>,
    topic: &str,
    prefix: &str,
    n: i32,
) -> Vec<krafty::producer::DeliveryFuture> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            p.send(
                ProducerRecord::new(topic.to_string(), format!("{prefix}{i}"))
                    .with_partition(i % 2),
            )
            .await
            .unwrap(),
        );
    }
    out
}

/// A second producer with the same transactional.id fences the first: the first's open
/// transaction is aborted by the coordinator and its next commit fails with PRODUCER_FENCED,
/// a fatal error; the second commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_fences_the_old_one() {
    let cluster = TestCluster::start(2).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("txn-fence");
    cluster.create_topic(&topic, 1, &[]).await;
    let id = unique_topic("txn-zombie");
    let old = transactional(&bs, &id).await;
    within(60, "init old", old.init_transactions())
        .await
        .unwrap();
    old.begin_transaction().unwrap();
    let f = old
        .send(ProducerRecord::new(topic.clone(), "zombie".to_string()))
        .await
        .unwrap();
    within(30, "zombie record written", f).await.unwrap();

    let new = transactional(&bs, &id).await;
    within(60, "init new", new.init_transactions())
        .await
        .unwrap();
    let e = within(60, "old commit", old.commit_transaction())
        .await
        .expect_err("the old instance is fenced");
    assert_eq!(e.code(), Some(90), "PRODUCER_FENCED: {e}");
    assert!(e.is_fatal(), "{e}");
    let again = old.begin_transaction().expect_err("fenced for good");
    assert_eq!(again.code(), Some(90), "{again}");

    new.begin_transaction().unwrap();
    new.send(ProducerRecord::new(topic.clone(), "new".to_string()))
        .await
        .unwrap();
    within(60, "new commit", new.commit_transaction())
        .await
        .unwrap();
    let c = consumer(&bs, &unique_topic("g-fence"), "read_committed").await;
    assert_eq!(
        read_values(&c, &topic, Duration::from_secs(3)).await,
        vec!["new".to_string()],
        "the zombie's record was aborted"
    );
    c.close().await.unwrap();
    new.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}

/// Consume-transform-produce: the consumer's offsets commit with the transaction (KIP-447
/// group metadata). After an aborted attempt the group's committed offset is unchanged; after
/// the committed one it is past the records read, and the output holds each record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_offsets_commit_with_the_transaction() {
    let cluster = TestCluster::start(2).await;
    let bs = cluster.bootstrap();
    let (input, output) = (unique_topic("txn-in"), unique_topic("txn-out"));
    cluster.create_topic(&input, 1, &[]).await;
    cluster.create_topic(&output, 1, &[]).await;
    let seed = krafty_tests::clients::string_producer(&bs, &[]).await;
    for i in 0..5 {
        seed.send(ProducerRecord::new(input.clone(), format!("in{i}")))
            .await
            .unwrap();
    }
    seed.flush().await.unwrap();
    let group = unique_topic("g-copy");
    let c = consumer(&bs, &group, "read_committed").await;
    c.subscribe(&[input.as_str()], None).await.unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while records.len() < 5 && Instant::now() < deadline {
        records.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    assert_eq!(records.len(), 5);
    let tp = TopicPartition::new(&input, 0);
    let offsets = BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(5))]);
    let meta = c.group_metadata().expect("a group member");

    let p = transactional(&bs, &unique_topic("txn-copier")).await;
    within(60, "init", p.init_transactions()).await.unwrap();
    // First attempt aborted: nothing of it counts.
    p.begin_transaction().unwrap();
    p.send(ProducerRecord::new(output.clone(), "lost".to_string()))
        .await
        .unwrap();
    within(
        60,
        "offsets",
        p.send_offsets_to_transaction(&offsets, &meta),
    )
    .await
    .unwrap();
    within(60, "abort", p.abort_transaction()).await.unwrap();
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert!(
        !committed.contains_key(&tp),
        "an aborted transaction commits no offset: {committed:?}"
    );
    // Second attempt committed.
    p.begin_transaction().unwrap();
    for r in &records {
        let v = r.value.to_uppercase();
        p.send(ProducerRecord::new(output.clone(), v))
            .await
            .unwrap();
    }
    within(
        60,
        "offsets",
        p.send_offsets_to_transaction(&offsets, &meta),
    )
    .await
    .unwrap();
    within(60, "commit", p.commit_transaction()).await.unwrap();
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed.get(&tp).map(|o| o.offset), Some(5));
    let reader = consumer(&bs, &unique_topic("g-out"), "read_committed").await;
    assert_eq!(
        read_values(&reader, &output, Duration::from_secs(3)).await,
        (0..5).map(|i| format!("IN{i}")).collect::<Vec<_>>()
    );
    reader.close().await.unwrap();
    c.close().await.unwrap();
    p.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}

/// Calls in the wrong state fail at once with IllegalState, and a producer without
/// transactional.id refuses transactions; settings that contradict transactions are refused at
/// construction naming the property.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_the_wrong_state_are_refused() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let p = transactional(&bs, &unique_topic("txn-states")).await;
    let illegal = |r: krafty::Result<()>, what: &str| match r {
        Err(KafkaError::IllegalState(_)) => {}
        other => panic!("{what}: expected IllegalState, got {other:?}"),
    };
    illegal(p.begin_transaction(), "begin before init");
    illegal(p.commit_transaction().await, "commit before init");
    illegal(
        p.send(ProducerRecord::new("t".to_string(), "x".to_string()))
            .await
            .map(|_| ()),
        "send outside a transaction",
    );
    let plain: KafkaProducer<String, String> =
        krafty_tests::clients::string_producer(&bs, &[]).await;
    illegal(plain.init_transactions().await, "no transactional.id");
    for (props, property) in [
        (
            vec![("transactional.id", "x"), ("enable.idempotence", "false")],
            "enable.idempotence",
        ),
        (vec![("transactional.id", "x"), ("acks", "1")], "acks"),
    ] {
        let mut all = vec![("bootstrap.servers", bs.as_str())];
        all.extend(props);
        match ProducerConfig::from_properties(all) {
            Err(KafkaError::Config { property: p, .. }) => assert_eq!(p, property),
            other => panic!(
                "{property}: expected a config error, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    within(60, "init", p.init_transactions()).await.unwrap();
    illegal(p.init_transactions().await, "init twice");
    illegal(p.commit_transaction().await, "commit without begin");
    p.begin_transaction().unwrap();
    illegal(p.begin_transaction(), "begin twice");
    within(60, "abort", p.abort_transaction()).await.unwrap();
    cluster.stop().await;
}

/// A transaction left open past `transaction.timeout.ms` is aborted by the coordinator: its
/// record never reaches a read_committed consumer (which reads on past it once the abort moves
/// the last stable offset), and the producer that let it expire cannot commit it. Under
/// protocol v1 it is fenced (PRODUCER_FENCED, fatal), as Kafka 3.9 answers; under v2 (Kafka
/// 4.x) its abort recovers it with the epoch the coordinator bumped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_transaction_is_aborted_by_the_coordinator() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("txn-timeout");
    cluster.create_topic(&topic, 1, &[]).await;
    let slow: KafkaProducer<String, String> = KafkaProducer::new(
        ProducerConfig::from_properties([
            ("bootstrap.servers", bs.as_str()),
            ("transactional.id", unique_topic("txn-slow").as_str()),
            ("transaction.timeout.ms", "2000"),
        ])
        .unwrap(),
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    within(60, "init", slow.init_transactions()).await.unwrap();
    slow.begin_transaction().unwrap();
    let f = slow
        .send(ProducerRecord::new(topic.clone(), "expired".to_string()))
        .await
        .unwrap();
    within(30, "the transactional record is written", f)
        .await
        .unwrap();
    // A record after it: read_committed reaches it only when the transaction is decided.
    let plain: KafkaProducer<String, String> =
        krafty_tests::clients::string_producer(&bs, &[]).await;
    let f = plain
        .send(ProducerRecord::new(topic.clone(), "after".to_string()))
        .await
        .unwrap();
    within(30, "the plain record is written", f).await.unwrap();

    // Kafka looks for expired transactions every 10 s by default; the dev broker every 1 s.
    let c = consumer(&bs, &unique_topic("g-timeout"), "read_committed").await;
    c.subscribe(&[topic.as_str()], None).await.unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.contains(&"after".to_string()) && Instant::now() < deadline {
        let got = c.poll(Duration::from_millis(300)).await.unwrap();
        seen.extend(got.into_iter().map(|r| r.value));
    }
    assert_eq!(
        seen,
        vec!["after".to_string()],
        "the expired transaction was aborted, and only then was `after` readable"
    );
    let e = within(60, "commit after expiry", slow.commit_transaction())
        .await
        .expect_err("the coordinator aborted this transaction");
    if transaction_version(&bs).await >= 2 {
        // Protocol v2: the coordinator's abort bumped the epoch; the commit is refused, the
        // producer's abort is taken as that abort and hands it the new epoch: it goes on.
        assert_eq!(e.code(), Some(48), "INVALID_TXN_STATE: {e}");
        assert!(!e.is_fatal() && slow.transaction_requires_abort());
        within(60, "abort", slow.abort_transaction()).await.unwrap();
        slow.begin_transaction().unwrap();
        let f = slow
            .send(ProducerRecord::new(topic.clone(), "recovered".to_string()))
            .await
            .unwrap();
        within(30, "written under the new epoch", f).await.unwrap();
        within(60, "commit", slow.commit_transaction())
            .await
            .unwrap();
        let mut rest = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while rest.is_empty() && Instant::now() < deadline {
            let got = c.poll(Duration::from_millis(300)).await.unwrap();
            rest.extend(got.into_iter().map(|r| r.value));
        }
        assert_eq!(rest, ["recovered"]);
    } else {
        // Protocol v1 (Kafka 3.9 as the dev broker): the coordinator fenced the epoch when it
        // aborted; the producer is done.
        assert_eq!(e.code(), Some(90), "PRODUCER_FENCED: {e}");
        assert!(e.is_fatal());
        let a = within(60, "abort", slow.abort_transaction()).await;
        assert_eq!(a.unwrap_err().code(), Some(90));
    }
    c.close().await.unwrap();
    plain.close(Duration::from_secs(10)).await.unwrap();
    let _ = slow.close(Duration::from_secs(5)).await;
    cluster.stop().await;
}

/// A commit that outlives `max.block.ms` (its EndTxn held up by the broker) fails with a
/// timeout and is resumed by calling `commit_transaction` again, as in Java; an abort in
/// between is refused. The records end up committed. Needs the dev broker's latency
/// injection: on a real Kafka the test returns early.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_past_max_block_ms_is_resumed_by_calling_it_again() {
    let cluster = TestCluster::start(1).await;
    let Some(faults) = cluster.faults() else {
        eprintln!("skipped: needs the dev broker's latency injection");
        return;
    };
    let bs = cluster.bootstrap();
    let topic = unique_topic("txn-slow-commit");
    cluster.create_topic(&topic, 1, &[]).await;
    let p: KafkaProducer<String, String> = KafkaProducer::new(
        ProducerConfig::from_properties([
            ("bootstrap.servers", bs.as_str()),
            ("transactional.id", unique_topic("txn-slow-commit").as_str()),
            ("max.block.ms", "1000"),
        ])
        .unwrap(),
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    within(60, "init", p.init_transactions()).await.unwrap();
    p.begin_transaction().unwrap();
    p.send(ProducerRecord::new(topic.clone(), "slow".to_string()))
        .await
        .unwrap();
    faults.add_latency(26, 3_000); // EndTxn
    let e = within(30, "commit", p.commit_transaction())
        .await
        .expect_err("EndTxn takes longer than max.block.ms");
    assert!(matches!(e, KafkaError::Timeout(_)), "{e}");
    match within(30, "abort", p.abort_transaction()).await {
        Err(KafkaError::IllegalState(_)) => {}
        other => panic!("abort during a pending commit: {other:?}"),
    }
    faults.add_latency(26, 0);
    // Each call waits up to max.block.ms for the same EndTxn, held 3 s by the broker.
    let mut attempts = 1;
    loop {
        attempts += 1;
        match within(30, "commit again", p.commit_transaction()).await {
            Ok(()) => break,
            Err(KafkaError::Timeout(_)) if attempts < 6 => {}
            Err(e) => panic!("the commit resumes: {e}"),
        }
    }
    assert!(
        attempts >= 3,
        "the first retry still waited for the held EndTxn"
    );
    let c = consumer(&bs, &unique_topic("g-slow"), "read_committed").await;
    assert_eq!(
        read_values(&c, &topic, Duration::from_secs(3)).await,
        vec!["slow".to_string()]
    );
    p.begin_transaction().expect("the producer goes on");
    p.abort_transaction().await.unwrap();
    c.close().await.unwrap();
    p.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}

/// The `transaction.version` the cluster finalized (KIP-584), 0 when it reports none.
async fn transaction_version(bootstrap: &str) -> i16 {
    let client = krafty::network::NetworkClient::connect(krafty::config::ClientConfig {
        bootstrap_servers: vec![bootstrap.to_string()],
        ..Default::default()
    })
    .await
    .expect("connects");
    let node = client.metadata().brokers[0].node_id;
    let level = client
        .finalized_feature(node, "transaction.version")
        .await
        .expect("ApiVersions");
    client.close().await;
    level.unwrap_or(0)
}

/// KIP-890: where the cluster finalized `transaction.version` 2 the producer follows protocol
/// v2, and every end of a transaction (commit or abort) bumps the epoch: each transaction's
/// batches carry the next epoch, their sequences from 0, so a late write of an ended
/// transaction cannot land. Under protocol v1 (Kafka 3.9) one epoch carries them all, the
/// sequences running on. Either way read_committed sees the committed ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_transaction_version_2_each_end_bumps_the_epoch() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("txn-epochs");
    cluster.create_topic(&topic, 1, &[]).await;
    check_epochs(&bs, &topic, transaction_version(&bs).await >= 2).await;
    cluster.stop().await;
}

/// The same on a dev broker set to `transaction.version=1`, as a Kafka 3.x cluster: the
/// producer falls back to protocol v1 (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn v4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_transaction_version_1_cluster_the_producer_speaks_protocol_v1() {
    if krafty_tests::external_bootstrap().is_some() {
        return; // Kafka 3.9.1 is the v1 cluster there (the test above)
    }
    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .config("transaction.version", "1")
        .start()
        .await
        .unwrap();
    let bs = broker.bootstrap_servers();
    assert_eq!(transaction_version(&bs).await, 1);
    let topic = unique_topic("txn-epochs-v1");
    let admin = krafty::admin::AdminClient::from_properties([("bootstrap.servers", bs.as_str())])
        .await
        .unwrap();
    admin
        .create_topics(&[krafty::admin::NewTopic::new(&topic, 1, 1)])
        .await
        .unwrap();
    admin.close().await;
    check_epochs(&bs, &topic, false).await;
    broker.shutdown().await;
}

/// Three transactions of three records (committed, aborted, committed) to `topic`'s one
/// partition, then their stored batches: one epoch per transaction under `v2`, else one in all.
async fn check_epochs(bs: &str, topic: &str, v2: bool) {
    let p = transactional(bs, &unique_topic("txn-epochs-id")).await;
    within(60, "init", p.init_transactions()).await.unwrap();
    for (name, commit) in [("a", true), ("b", false), ("c", true)] {
        p.begin_transaction().unwrap();
        for i in 0..3 {
            let f = p
                .send(ProducerRecord::new(topic.to_string(), format!("{name}{i}")))
                .await
                .unwrap();
            within(30, "record written", f).await.unwrap();
        }
        if commit {
            within(60, "commit", p.commit_transaction()).await.unwrap();
        } else {
            within(60, "abort", p.abort_transaction()).await.unwrap();
        }
    }

    let batches = read_batches(bs, topic, 0).await;
    let data: Vec<_> = batches
        .iter()
        .filter(|b| b.attributes & 0x20 == 0)
        .collect();
    let values: Vec<String> = data
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(
        values,
        ["a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2"]
    );
    // (epoch, sequences of its records) in log order
    let mut runs: Vec<(i16, Vec<i32>)> = Vec::new();
    for b in &data {
        assert!(b.attributes & 0x10 != 0, "a transactional batch");
        if runs.last().is_none_or(|r| r.0 != b.producer_epoch) {
            runs.push((b.producer_epoch, Vec::new()));
        }
        let seqs = &mut runs.last_mut().unwrap().1;
        seqs.extend((0..b.records.len() as i32).map(|i| b.base_sequence + i));
    }
    let first = runs[0].0;
    if v2 {
        assert_eq!(
            runs,
            [
                (first, vec![0, 1, 2]),
                (first + 1, vec![0, 1, 2]),
                (first + 2, vec![0, 1, 2])
            ],
            "protocol v2: a new epoch per transaction, sequences from 0"
        );
    } else {
        assert_eq!(
            runs,
            [(first, (0..9).collect::<Vec<i32>>())],
            "protocol v1: one epoch, sequences running on"
        );
    }
    let committed = consumer(bs, &unique_topic("g-epochs"), "read_committed").await;
    let seen = read_values(&committed, topic, Duration::from_secs(3)).await;
    assert_eq!(seen, ["a0", "a1", "a2", "c0", "c1", "c2"]);
    committed.close().await.unwrap();
    p.close(Duration::from_secs(10)).await.unwrap();
}
