//! Soaks: long runs under repeated failures, checking the guarantees end to end. Not part of
//! the test command (minutes each): `scripts/soak.sh` runs them in release.
//!
//! Dev broker only: they kill and restart the broker process (SIGKILL) and inject NOT_LEADER
//! answers and dropped connections, which a shared Apache Kafka cannot take.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use krafty::consumer::KafkaConsumer;
use krafty::producer::{KafkaProducer, ProducerRecord, RecordMetadata};
use krafty::serialization::StringSerde;
use krafty::Result;
use krafty_tests::{read_all, unique_topic, TestCluster};

/// The `krafty-broker` binary next to this test's (the soak script builds both).
fn broker_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("krafty-broker");
    assert!(
        bin.exists(),
        "{} missing: run scripts/soak.sh (it builds the broker)",
        bin.display()
    );
    bin
}

/// The dev broker as a process, durable, on a fixed address so it can come back there.
struct BrokerProcess {
    child: Option<Child>,
    addr: String,
    data: tempfile::TempDir,
}

impl BrokerProcess {
    fn start() -> BrokerProcess {
        // The port must be known before the process binds it (it comes back on the same one).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut b = BrokerProcess {
            child: None,
            addr: format!("127.0.0.1:{port}"),
            data: tempfile::tempdir().unwrap(),
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let child = Command::new(broker_binary())
            .args(["--listen", &self.addr, "--data-dir"])
            .arg(self.data.path())
            .args(["--set", "num.partitions=3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&self.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "the broker did not listen in 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no flush beyond what the broker already wrote.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Checks that partition `p` holds exactly the values 0..n in order (no loss, no duplicate).
async fn assert_exactly_once_in_order(bootstrap: &str, topic: &str, sent: &[usize]) {
    for (p, &n) in sent.iter().enumerate() {
        let values: Vec<usize> = read_all(bootstrap, topic, p as i32)
            .await
            .into_iter()
            .map(|r| {
                std::str::from_utf8(r.value.as_deref().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        let dups = values.len().saturating_sub(n);
        let first_gap = values.iter().enumerate().find(|(i, v)| *i != **v);
        assert!(
            values.len() == n && first_gap.is_none(),
            "partition {p}: {} records for {n} sent ({dups} extra), first out of place: {first_gap:?}",
            values.len()
        );
    }
}

type Outcomes = Arc<Mutex<Vec<Result<RecordMetadata>>>>;

/// Sends `n` records round-robin over 3 partitions (value = the record's index in its
/// partition), calling `every(i)` after each record; returns the count per partition.
async fn produce(
    producer: &KafkaProducer<String, String>,
    topic: &str,
    n: usize,
    outcomes: &Outcomes,
    mut every: impl FnMut(usize),
) -> Vec<usize> {
    let mut sent = vec![0usize; 3];
    for i in 0..n {
        let p = i % 3;
        let record = ProducerRecord::new(topic, sent[p].to_string()).with_partition(p as i32);
        sent[p] += 1;
        let outcomes = outcomes.clone();
        producer
            .send_and_then(record, move |r| outcomes.lock().unwrap().push(r))
            .await
            .unwrap();
        every(i);
        if i % 1_000 == 0 {
            // Paces the loop a little so that faults injected by `every` meet traffic.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    sent
}

async fn wait_for_outcomes(outcomes: &Outcomes, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while outcomes.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "outcomes missing after 300 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let errors: Vec<String> = outcomes
        .lock()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(
        errors.is_empty(),
        "{} records failed, first: {:?}",
        errors.len(),
        errors.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: scripts/soak.sh"]
async fn idempotent_producer_through_two_broker_kills() {
    const N: usize = 500_000;
    let mut broker = BrokerProcess::start();
    let bs = broker.addr.clone();
    let topic = unique_topic("soak-kill");
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str()), ("linger.ms", "5")],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let outcomes: Outcomes = Arc::default();
    let kills = Arc::new(AtomicUsize::new(0));
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    // Kills run on a thread of their own: the broker is down for a second each time.
    let killer = std::thread::spawn(move || {
        for () in kill_rx {
            broker.kill();
            std::thread::sleep(Duration::from_secs(1));
            broker.spawn();
        }
        broker
    });
    let sent = produce(&producer, &topic, N, &outcomes, |i| {
        if i == N / 3 || i == 2 * N / 3 {
            kills.fetch_add(1, Ordering::AcqRel);
            kill_tx.send(()).unwrap();
        }
    })
    .await;
    drop(kill_tx);
    wait_for_outcomes(&outcomes, N).await;
    let _broker = tokio::task::spawn_blocking(move || killer.join().unwrap())
        .await
        .unwrap();
    assert_eq!(kills.load(Ordering::Acquire), 2);
    producer.close(Duration::from_secs(30)).await.unwrap();
    assert_exactly_once_in_order(&bs, &topic, &sent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: scripts/soak.sh"]
async fn idempotent_producer_through_not_leader_answers_and_dropped_connections() {
    const N: usize = 300_000;
    let cluster = TestCluster::start(3).await;
    let bs = cluster.bootstrap();
    let faults = cluster.faults().expect("the dev broker");
    let topic = unique_topic("soak-faults");
    cluster.create_topic(&topic, 3, &[]).await;
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str()), ("linger.ms", "5")],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let outcomes: Outcomes = Arc::default();
    // Every 20,000 records sent, one partition's next Produce answer is NOT_LEADER and a
    // connection drops mid-flight; the loop yields so the sender meets them with traffic.
    let injected = AtomicUsize::new(0);
    let sent = produce(&producer, &topic, N, &outcomes, |i| {
        if i % 20_000 == 10_000 {
            let k = injected.fetch_add(1, Ordering::AcqRel);
            faults.fail_next(0, 6, 1, Some(&topic), Some((k % 3) as i32));
            faults.drop_connection_after(3);
        }
    })
    .await;
    wait_for_outcomes(&outcomes, N).await;
    let injected = injected.load(Ordering::Acquire) as u64;
    // The last faults may find no request left to hit, and a drop armed again before it
    // fired replaces the earlier one: most NOT_LEADERs and several drops must have fired.
    assert!(injected >= 10, "{injected}");
    let fired = faults.errors_fired();
    assert!(fired >= injected / 2, "{fired} NOT_LEADER of {injected}");
    let dropped = faults.connections_dropped();
    assert!(dropped >= 2, "{dropped} connections dropped");
    producer.close(Duration::from_secs(30)).await.unwrap();
    assert_exactly_once_in_order(&bs, &topic, &sent).await;
    cluster.stop().await;
}

/// A member that processes each batch, then commits it; on a runtime of its own so that
/// shutting that runtime down kills it as a crash would (no LeaveGroup, no commit).
fn start_member(
    bootstrap: String,
    group: String,
    topic: String,
    processed: Arc<Mutex<BTreeSet<(i32, i64)>>>,
) -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.spawn(async move {
        let c: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
            [
                ("bootstrap.servers", bootstrap.as_str()),
                ("group.id", group.as_str()),
                ("auto.offset.reset", "earliest"),
                ("enable.auto.commit", "false"),
                ("session.timeout.ms", "6000"),
                ("heartbeat.interval.ms", "500"),
                ("max.poll.records", "200"),
            ],
            StringSerde,
            StringSerde,
        )
        .await
        .unwrap();
        c.subscribe(&[topic.as_str()], None).await.unwrap();
        loop {
            let Ok(records) = c.poll(Duration::from_millis(200)).await else {
                continue;
            };
            {
                let mut p = processed.lock().unwrap();
                for r in &records {
                    p.insert((r.partition, r.offset));
                }
            }
            // A failed commit (the member lost its partitions) is redone by the next owner.
            let _ = c.commit_sync().await;
        }
    });
    rt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: scripts/soak.sh"]
async fn a_group_with_crashing_members_processes_every_record() {
    const PER_PARTITION: usize = 60_000;
    let cluster = TestCluster::start(3).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("soak-group");
    cluster.create_topic(&topic, 3, &[]).await;
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str())],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let outcomes: Outcomes = Arc::default();
    produce(&producer, &topic, 3 * PER_PARTITION, &outcomes, |_| {}).await;
    wait_for_outcomes(&outcomes, 3 * PER_PARTITION).await;
    producer.close(Duration::from_secs(30)).await.unwrap();

    let group = unique_topic("soak-group-g");
    let processed: Arc<Mutex<BTreeSet<(i32, i64)>>> = Arc::default();
    let member = |p: &Arc<Mutex<BTreeSet<(i32, i64)>>>| {
        start_member(bs.clone(), group.clone(), topic.clone(), p.clone())
    };
    let mut members = vec![member(&processed), member(&processed)];
    let total = 3 * PER_PARTITION;
    let progress = || processed.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(600);
    // Crash a member at a third and at two thirds; a new one takes its place each time.
    for threshold in [total / 3, 2 * total / 3] {
        while progress() < threshold {
            assert!(Instant::now() < deadline, "stalled at {}", progress());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let crashed = members.remove(0);
        crashed.shutdown_background();
        members.push(member(&processed));
    }
    while progress() < total {
        assert!(
            Instant::now() < deadline,
            "stalled at {} of {total}",
            progress()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done = processed.lock().unwrap().clone();
    let mut per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    for (p, _) in &done {
        *per_partition.entry(*p).or_default() += 1;
    }
    assert_eq!(
        per_partition,
        (0..3).map(|p| (p, PER_PARTITION)).collect(),
        "every offset of every partition processed at least once"
    );
    for m in members {
        m.shutdown_background();
    }
    cluster.stop().await;
}
