//! The consumer against the in-process dev broker: groups, commits, resets, seeks, pauses.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use krafty::consumer::{ConsumerRebalanceListener, KafkaConsumer, RebalanceContext};
use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::{KafkaError, TopicPartition};

type Consumer = KafkaConsumer<String, String>;

async fn produce(bootstrap: &str, topic: &str, n: usize, partitions: i32) {
    let p: KafkaProducer<String, String> = KafkaProducer::new(
        ProducerConfig::from_properties([("bootstrap.servers", bootstrap)]).unwrap(),
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let mut fs = Vec::new();
    for i in 0..n {
        let r = ProducerRecord::new(topic, format!("v{i}"))
            .with_key(format!("k{i}"))
            .with_partition((i as i32) % partitions);
        fs.push(p.send(r).await.unwrap());
    }
    for f in fs {
        f.await.unwrap();
    }
    p.close(Duration::from_secs(5)).await.unwrap();
}

async fn consumer(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> Consumer {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "200"),
    ];
    props.extend_from_slice(extra);
    KafkaConsumer::from_properties(props, StringSerde, StringSerde)
        .await
        .unwrap()
}

/// Polls until `n` records arrived (or 20 s passed).
async fn poll_n(c: &Consumer, n: usize) -> Vec<(i32, i64, String)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < n && tokio::time::Instant::now() < deadline {
        for r in c.poll(Duration::from_millis(200)).await.unwrap() {
            out.push((r.partition, r.offset, r.value));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_consumer_reads_everything_in_order_per_partition() {
    let broker = common::broker(3).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "in-order", 300, 3).await;
    let c = consumer(&bs, "g-order", &[("enable.auto.commit", "false")]).await;
    c.subscribe(&["in-order"], None).await.unwrap();
    let got = poll_n(&c, 300).await;
    assert_eq!(got.len(), 300);
    for p in 0..3 {
        let offsets: Vec<i64> = got.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
        assert_eq!(
            offsets,
            (0..100).collect::<Vec<_>>(),
            "partition {p} in order, exactly once"
        );
        let values: Vec<&str> = got
            .iter()
            .filter(|r| r.0 == p)
            .map(|r| r.2.as_str())
            .collect();
        assert_eq!(values[1], format!("v{}", 3 + p));
    }
    assert_eq!(c.assignment().await.len(), 3);
    c.close().await.unwrap();
    broker.shutdown().await;
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl ConsumerRebalanceListener for Log {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        ctx.commit_sync(partitions);
        self.0
            .lock()
            .unwrap()
            .push(format!("revoked {}", partitions.len()));
    }
    fn on_partitions_assigned(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.0
            .lock()
            .unwrap()
            .push(format!("assigned {}", partitions.len()));
    }
}

/// Polls `c` in the background until told to stop.
fn keep_polling(
    c: Consumer,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match c.poll(Duration::from_millis(100)).await {
                Err(KafkaError::Closed) => return,
                Err(e) => panic!("poll failed: {e}"),
                Ok(_) => {}
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_split_six_partitions_and_a_leaver_hands_over() {
    let broker = common::broker(6).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "split", 60, 6).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut consumers = Vec::new();
    let mut logs = Vec::new();
    for _ in 0..3 {
        let c = consumer(
            &bs,
            "g-split",
            &[("partition.assignment.strategy", "range")],
        )
        .await;
        let log = Log::default();
        c.subscribe(&["split"], Some(Box::new(log.clone())))
            .await
            .unwrap();
        logs.push(log);
        consumers.push(c);
    }
    let tasks: Vec<_> = consumers
        .iter()
        .map(|c| keep_polling(c.clone(), stop.clone()))
        .collect();
    let sizes = |cs: &[Consumer]| {
        let cs = cs.to_vec();
        async move {
            let mut v = Vec::new();
            for c in &cs {
                v.push(c.assignment().await.len());
            }
            v
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sizes(&consumers).await != vec![2, 2, 2] && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sizes(&consumers).await, vec![2, 2, 2]);
    // The third leaves: its two partitions move to the others.
    let leaver = consumers.pop().unwrap();
    leaver.close().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sizes(&consumers).await != vec![3, 3] && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sizes(&consumers).await, vec![3, 3]);
    let events = logs[0].0.lock().unwrap().clone();
    // Eager protocol: each rebalance revokes everything first, then assigns; the first event
    // is an assignment (of 2, or of all 6 if this member joined before the others).
    assert!(
        events.first().is_some_and(|e| e.starts_with("assigned")),
        "{events:?}"
    );
    for pair in events.windows(2) {
        assert_ne!(
            pair[0].split(' ').next(),
            pair[1].split(' ').next(),
            "revoke and assign alternate: {events:?}"
        );
    }
    let last_revoke = events
        .iter()
        .rposition(|e| e.starts_with("revoked"))
        .expect("revoked before the handover");
    assert_eq!(events[last_revoke + 1], "assigned 3", "{events:?}");
    assert_eq!(
        logs[2].0.lock().unwrap().last().map(String::as_str),
        Some("revoked 2"),
        "the leaver revoked on close"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    for c in consumers {
        c.close().await.unwrap();
    }
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_close_restart_resumes_at_the_committed_offset() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        krafty_broker::Broker::builder()
            .listen("127.0.0.1:0")
            .data_dir(dir.path())
            .start()
    };
    let broker = start().await.unwrap();
    let bs = broker.bootstrap_servers();
    produce(&bs, "resume", 50, 1).await;
    let c = consumer(
        &bs,
        "g-resume",
        &[("enable.auto.commit", "false"), ("max.poll.records", "20")],
    )
    .await;
    c.subscribe(&["resume"], None).await.unwrap();
    let first = poll_n(&c, 20).await;
    assert_eq!(first.len(), 20);
    c.commit_sync().await.unwrap();
    let tp = TopicPartition::new("resume", 0);
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp].offset,
        20,
        "a commit is the next offset to read"
    );
    c.close().await.unwrap();
    broker.shutdown().await;
    // The broker restarts from its data dir; a new consumer resumes at 20.
    let broker = start().await.unwrap();
    let bs = broker.bootstrap_servers();
    let c = consumer(&bs, "g-resume", &[("enable.auto.commit", "false")]).await;
    c.subscribe(&["resume"], None).await.unwrap();
    let rest = poll_n(&c, 30).await;
    assert_eq!(rest.first().map(|r| r.1), Some(20));
    assert_eq!(rest.len(), 30);
    assert_eq!(rest.last().map(|r| r.2.as_str()), Some("v49"));
    c.close().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_commit_and_offset_reset_policies() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "reset", 10, 1).await;
    let tp = TopicPartition::new("reset", 0);
    // Auto commit: closing commits the position.
    let c = consumer(&bs, "g-auto", &[("auto.commit.interval.ms", "100")]).await;
    c.subscribe(&["reset"], None).await.unwrap();
    assert_eq!(poll_n(&c, 10).await.len(), 10);
    c.close().await.unwrap();
    let check = consumer(&bs, "g-auto", &[]).await;
    assert_eq!(
        check.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp].offset,
        10
    );
    check.close().await.unwrap();
    // latest: only what is produced after joining.
    let c = consumer(&bs, "g-latest", &[("auto.offset.reset", "latest")]).await;
    c.assign(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(c.position(&tp).await.unwrap(), 10);
    c.close().await.unwrap();
    // none: an error naming OFFSET_OUT_OF_RANGE.
    let c = consumer(&bs, "g-none", &[("auto.offset.reset", "none")]).await;
    c.subscribe(&["reset"], None).await.unwrap();
    let err = c.poll(Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.code(), Some(1), "{err}");
    c.close().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_pause_resume_and_commit_of_unowned_partition() {
    let broker = common::broker(2).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "seek", 20, 2).await;
    let (p0, p1) = (
        TopicPartition::new("seek", 0),
        TopicPartition::new("seek", 1),
    );
    let c = consumer(&bs, "g-seek", &[("enable.auto.commit", "false")]).await;
    c.assign(&[p0.clone(), p1.clone()]).await.unwrap();
    c.pause(std::slice::from_ref(&p1)).await.unwrap();
    assert_eq!(c.paused().await, vec![p1.clone()]);
    let got = poll_n(&c, 10).await;
    assert!(
        got.iter().all(|r| r.0 == 0),
        "paused partition is not returned"
    );
    assert!(c.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    c.resume(std::slice::from_ref(&p1)).await.unwrap();
    let got = poll_n(&c, 10).await;
    assert_eq!(got.iter().filter(|r| r.0 == 1).count(), 10);
    c.seek(&p0, 7).await.unwrap();
    let again = poll_n(&c, 3).await;
    assert_eq!(again.iter().map(|r| r.1).collect::<Vec<_>>(), vec![7, 8, 9]);
    c.seek_to_beginning(std::slice::from_ref(&p0))
        .await
        .unwrap();
    assert_eq!(c.position(&p0).await.unwrap(), 0);
    assert_eq!(
        c.end_offsets(std::slice::from_ref(&p0)).await.unwrap()[&p0],
        10
    );
    let err = c
        .commit_offsets(BTreeMap::from([(
            TopicPartition::new("seek", 5),
            krafty::consumer::OffsetAndMetadata::new(1),
        )]))
        .await
        .unwrap_err();
    assert!(matches!(err, KafkaError::IllegalState(_)), "{err}");
    c.close().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_loses_its_partitions() {
    let broker = common::broker(2).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "slow", 10, 2).await;
    let fast = consumer(&bs, "g-slow", &[("max.poll.interval.ms", "1500")]).await;
    let slow = consumer(&bs, "g-slow", &[("max.poll.interval.ms", "1500")]).await;
    fast.subscribe(&["slow"], None).await.unwrap();
    slow.subscribe(&["slow"], None).await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let task = keep_polling(fast.clone(), stop.clone());
    // Both poll until the group is balanced, then `slow` stops polling.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while slow.assignment().await.len() != 1 && std::time::Instant::now() < deadline {
        let _ = slow.poll(Duration::from_millis(100)).await;
    }
    assert_eq!(slow.assignment().await.len(), 1);
    let f = fast.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if f.assignment().await.len() == 2 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        fast.assignment().await.len(),
        2,
        "the poller took over both partitions"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    task.await.unwrap();
    fast.close().await.unwrap();
    slow.close().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarts_without_a_rebalance() {
    let broker = common::broker(2).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "static", 10, 2).await;
    let a = consumer(&bs, "g-static", &[("group.instance.id", "a")]).await;
    a.subscribe(&["static"], None).await.unwrap();
    assert_eq!(poll_n(&a, 10).await.len(), 10);
    let before = a.group_metadata().unwrap();
    assert!(before.generation_id >= 1);
    a.close().await.unwrap();
    // The restarted instance gets a new member id but the same generation: no rebalance.
    let a2 = consumer(&bs, "g-static", &[("group.instance.id", "a")]).await;
    a2.subscribe(&["static"], None).await.unwrap();
    let _ = a2.poll(Duration::from_millis(500)).await.unwrap();
    assert_eq!(a2.assignment().await.len(), 2);
    let after = a2.group_metadata().unwrap();
    assert_eq!(
        after.generation_id, before.generation_id,
        "no new generation"
    );
    assert_ne!(after.member_id, before.member_id);
    a2.close().await.unwrap();
    // A dynamic member joining does rebalance: the generation moves on.
    let b = consumer(&bs, "g-static", &[]).await;
    b.subscribe(&["static"], None).await.unwrap();
    // poll returns by its timeout while the group waits for the static member's session.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while b.assignment().await.is_empty() && std::time::Instant::now() < deadline {
        let _ = b.poll(Duration::from_millis(500)).await.unwrap();
    }
    assert!(b.group_metadata().unwrap().generation_id > before.generation_id);
    b.close().await.unwrap();
    broker.shutdown().await;
}

/// poll(timeout) returns by its timeout while a rebalance waits for another member (the join
/// goes on in the background, as the Java client's does), and picks the assignment up later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_returns_by_its_timeout_while_the_group_rebalances() {
    let broker = common::broker(2).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "settle", 10, 2).await;
    let slow_rejoin = [
        ("max.poll.interval.ms", "30000"),
        ("session.timeout.ms", "30000"),
    ];
    let a = consumer(&bs, "g-settle", &slow_rejoin).await;
    a.subscribe(&["settle"], None).await.unwrap();
    assert_eq!(poll_n(&a, 10).await.len(), 10);
    let b = consumer(&bs, "g-settle", &slow_rejoin).await;
    b.subscribe(&["settle"], None).await.unwrap();
    // `a` does not poll, so the group waits for it to rejoin (up to its 30 s rebalance timeout).
    let started = std::time::Instant::now();
    assert!(b.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "poll(300 ms) returned after {:?}",
        started.elapsed()
    );
    assert!(b.assignment().await.is_empty());
    // Once `a` polls (and rejoins), the group settles and each member has one partition.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (a.assignment().await.len(), b.assignment().await.len()) != (1, 1)
        && std::time::Instant::now() < deadline
    {
        let _ = a.poll(Duration::from_millis(100)).await.unwrap();
        let _ = b.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert_eq!(
        (a.assignment().await.len(), b.assignment().await.len()),
        (1, 1)
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
    broker.shutdown().await;
}

/// A coordinator that moves or is loading (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
/// COORDINATOR_LOAD_IN_PROGRESS on join, offset fetch, heartbeat and commit) is looked up again
/// and the group carries on: same generation, every record once, commits land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_follows_a_coordinator_that_moves() {
    const OFFSET_COMMIT: i16 = 8;
    const OFFSET_FETCH: i16 = 9;
    const JOIN_GROUP: i16 = 11;
    const HEARTBEAT: i16 = 12;
    let broker = common::broker(2).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "failover", 20, 2).await;
    broker.faults().fail_next(JOIN_GROUP, 16, 1, None, None);
    broker.faults().fail_next(OFFSET_FETCH, 14, 1, None, None);
    let c = consumer(&bs, "g-failover", &[("enable.auto.commit", "false")]).await;
    c.subscribe(&["failover"], None).await.unwrap();
    let mut got = poll_n(&c, 20).await;
    got.sort();
    let expected: Vec<(i32, i64)> = (0..2).flat_map(|p| (0..10).map(move |o| (p, o))).collect();
    assert_eq!(got.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(), expected);
    let generation = c.group_metadata().unwrap().generation_id;

    broker.faults().fail_next(HEARTBEAT, 16, 3, None, None);
    broker.faults().fail_next(OFFSET_COMMIT, 15, 2, None, None);
    c.commit_sync().await.unwrap();
    for _ in 0..10 {
        assert!(c.poll(Duration::from_millis(150)).await.unwrap().is_empty());
    }
    assert_eq!(
        c.group_metadata().unwrap().generation_id,
        generation,
        "no rebalance"
    );
    assert_eq!(c.assignment().await.len(), 2);
    let tps = [
        TopicPartition::new("failover", 0),
        TopicPartition::new("failover", 1),
    ];
    let committed = c.committed(&tps).await.unwrap();
    assert_eq!(
        tps.iter()
            .map(|tp| committed[tp].offset)
            .collect::<Vec<_>>(),
        vec![10, 10]
    );
    c.close().await.unwrap();
    broker.shutdown().await;
}
