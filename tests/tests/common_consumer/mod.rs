//! What the consumer suites (`consumer_group.rs`, `consumer_api.rs`) share: producing records
//! whose values name the offset they must land at, consumers with the suites' group timings,
//! polling until an exact count or a deadline, background pollers for group members, and a
//! rebalance listener that records what it was told.
//!
//! Every wait here is bounded, and every call into the client that could block (a poll, a
//! close, a delivery) runs under `tokio::time::timeout`, so a client bug fails a test instead
//! of hanging it. Records are compared as `(partition, offset, value)` lists.
#![allow(dead_code)] // each suite uses a part

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use krafty::consumer::{
    ConsumerRebalanceListener, ConsumerRecord, KafkaConsumer, RebalanceContext,
};
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::{KafkaError, TopicPartition};
use krafty_tests::TestCluster;
use tokio::time::{timeout, Instant};

pub type Consumer = KafkaConsumer<String, String>;

/// A record as the suites compare it: `(partition, offset, value)`.
pub type Rec = (i32, i64, String);

/// How long a test waits for a group to form or rebalance: generous, since a real Kafka, two
/// cores and test binaries running in parallel can make one join take seconds.
pub const GROUP_WAIT: Duration = Duration::from_secs(60);

/// How long a test waits for records that are already in the log.
pub const READ_WAIT: Duration = Duration::from_secs(30);

/// The bound on one client call that should return promptly (a short poll, a close, a commit).
pub const CALL_BOUND: Duration = Duration::from_secs(30);

/// The value produced at `offset` of `partition`: a record read back names where it must be.
pub fn value(partition: i32, offset: i64) -> String {
    format!("p{partition}-o{offset}")
}

/// The records `offsets` of `partition` as `produce` wrote them.
pub fn expected(partition: i32, offsets: Range<i64>) -> Vec<Rec> {
    offsets
        .map(|o| (partition, o, value(partition, o)))
        .collect()
}

pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

pub fn tps(topic: &str, partitions: impl IntoIterator<Item = i32>) -> Vec<TopicPartition> {
    partitions.into_iter().map(|p| tp(topic, p)).collect()
}

/// Appends `value(partition, o)` for each `o` of `offsets` to `topic`-`partition` (a topic a
/// test created and has not written past `offsets.start`), and checks each acknowledgement
/// reports exactly that offset.
pub async fn produce(bootstrap: &str, topic: &str, partitions: Range<i32>, offsets: Range<i64>) {
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bootstrap), ("linger.ms", "5")],
        StringSerde,
        StringSerde,
    )
    .await
    .expect("a producer connects");
    let mut pending = Vec::new();
    for p in partitions {
        for o in offsets.clone() {
            let record = ProducerRecord::new(topic, value(p, o))
                .with_key(format!("k{o}"))
                .with_partition(p);
            pending.push((p, o, producer.send(record).await.expect("send")));
        }
    }
    for (p, o, delivery) in pending {
        let md = timeout(Duration::from_secs(60), delivery)
            .await
            .unwrap_or_else(|_| panic!("{topic}-{p}@{o} not acknowledged in 60 s"))
            .unwrap_or_else(|e| panic!("{topic}-{p}@{o} failed: {e}"));
        assert_eq!(
            (md.partition, md.offset),
            (p, o),
            "{topic}: the record meant for {p}@{o}"
        );
    }
    timeout(CALL_BOUND, producer.close(Duration::from_secs(10)))
        .await
        .expect("the producer closes in 30 s")
        .expect("the producer closes");
}

/// A consumer of strings with the suites' settings: `auto.offset.reset=earliest`, a 6 s
/// session (Kafka's `group.min.session.timeout.ms`) with 200 ms heartbeats, and auto commit
/// off (a test that wants it says so), so that every committed offset comes from the test.
/// `extra` overrides these.
pub async fn consumer(bootstrap: &str, group: Option<&str>, extra: &[(&str, &str)]) -> Consumer {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "200"),
        ("enable.auto.commit", "false"),
    ];
    if let Some(g) = group {
        props.push(("group.id", g));
    }
    props.extend_from_slice(extra);
    KafkaConsumer::from_properties(props, StringSerde, StringSerde)
        .await
        .expect("a consumer connects")
}

/// One `poll(timeout)`, failing the test if the call overruns by `CALL_BOUND`.
pub async fn poll_once(c: &Consumer, wait: Duration) -> krafty::Result<Vec<Rec>> {
    let records = timeout(wait + CALL_BOUND, c.poll(wait))
        .await
        .unwrap_or_else(|_| panic!("poll({wait:?}) had not returned after {CALL_BOUND:?} more"))?;
    Ok(records
        .into_iter()
        .map(|r| (r.partition, r.offset, r.value))
        .collect())
}

/// Polls until at least `n` records arrived or `within` passed; returns what arrived, in order
/// (the test compares the exact list, so a shortfall or a duplicate shows there).
pub async fn poll_n(c: &Consumer, n: usize, within: Duration) -> Vec<Rec> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        out.extend(
            poll_once(c, Duration::from_millis(200))
                .await
                .unwrap_or_else(|e| panic!("poll failed: {e}")),
        );
    }
    out
}

/// Polls until at least `n` records arrived or `within` passed; returns them whole, in order
/// (for tests that look at more than partition, offset and value).
pub async fn poll_records(
    c: &Consumer,
    n: usize,
    within: Duration,
) -> Vec<ConsumerRecord<String, String>> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        let got = timeout(CALL_BOUND, c.poll(Duration::from_millis(200)))
            .await
            .expect("poll returns")
            .expect("poll succeeds");
        out.extend(got);
    }
    out
}

/// Polls with `poll_at_most` until exactly `n` records were taken (so the position is exactly
/// past them), or `within` passed.
pub async fn take_exactly(c: &Consumer, n: usize, within: Duration) -> Vec<Rec> {
    let deadline = Instant::now() + within;
    let mut out: Vec<Rec> = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        let got = timeout(
            CALL_BOUND,
            c.poll_at_most(Duration::from_millis(200), n - out.len()),
        )
        .await
        .expect("poll returns in 30 s")
        .expect("poll succeeds");
        out.extend(got.into_iter().map(|r| (r.partition, r.offset, r.value)));
    }
    out
}

/// Polls for `period` and asserts nothing arrives (what was expected has all been read).
pub async fn assert_quiet(c: &Consumer, period: Duration, what: &str) {
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        let got = poll_once(c, Duration::from_millis(100))
            .await
            .unwrap_or_else(|e| panic!("poll failed: {e}"));
        assert!(got.is_empty(), "{what}: unexpected records {got:?}");
    }
}

/// The records of one partition, in the order they arrived.
pub fn of_partition(records: &[Rec], partition: i32) -> Vec<Rec> {
    records
        .iter()
        .filter(|r| r.0 == partition)
        .cloned()
        .collect()
}

/// Checks `check` every 50 ms until it holds; fails the test after `within`.
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not so after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A consumer's assignment, bounded (it waits for the consumer's state, which a poll holds).
pub async fn assignment(c: &Consumer) -> Vec<TopicPartition> {
    timeout(CALL_BOUND, c.assignment())
        .await
        .expect("assignment() returns in 30 s")
}

/// Closes a consumer, bounded.
pub async fn close(c: &Consumer) {
    timeout(CALL_BOUND, c.close())
        .await
        .expect("close() returns in 30 s")
        .expect("close succeeds");
}

/// A group's committed offsets as the admin client reads them (independent of any member).
pub async fn committed(cluster: &TestCluster, group: &str) -> BTreeMap<TopicPartition, i64> {
    let admin = cluster.admin().await;
    let offsets = timeout(CALL_BOUND, admin.list_consumer_group_offsets(group))
        .await
        .expect("OffsetFetch answers in 30 s")
        .unwrap_or_else(|e| panic!("the committed offsets of {group}: {e}"));
    admin.close().await;
    offsets
}

/// Deletes the topics a test created (a real Kafka keeps them otherwise); best effort.
pub async fn delete_topics(cluster: &TestCluster, topics: &[&str]) {
    let admin = cluster.admin().await;
    let _ = timeout(CALL_BOUND, admin.delete_topics(topics)).await;
    admin.close().await;
}

/// What a rebalance listener was told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
    Lost(Vec<TopicPartition>),
}

/// A rebalance listener that records its calls (partitions sorted) and, when asked to, commits
/// the revoked partitions' positions from `on_partitions_revoked`, as applications that
/// commit on revocation do.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
    commit_on_revoke: bool,
}

impl Recorder {
    pub fn committing() -> Recorder {
        Recorder {
            commit_on_revoke: true,
            ..Recorder::default()
        }
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The events without the empty assignments a cooperative rebalance reports when a
    /// member gained nothing (the Java client calls `onPartitionsAssigned` with none, too).
    pub fn changes(&self) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| !matches!(e, Event::Assigned(p) if p.is_empty()))
            .collect()
    }

    pub fn boxed(&self) -> Option<Box<dyn ConsumerRebalanceListener>> {
        Some(Box::new(self.clone()))
    }

    fn push(&self, event: fn(Vec<TopicPartition>) -> Event, partitions: &[TopicPartition]) {
        let mut sorted = partitions.to_vec();
        sorted.sort();
        self.events.lock().unwrap().push(event(sorted));
    }
}

impl ConsumerRebalanceListener for Recorder {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        if self.commit_on_revoke {
            ctx.commit_sync(partitions);
        }
        self.push(Event::Revoked, partitions);
    }

    fn on_partitions_assigned(
        &mut self,
        _: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.push(Event::Assigned, partitions);
    }

    fn on_partitions_lost(&mut self, _: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        self.push(Event::Lost, partitions);
    }
}

/// A group member polling in the background (every 100 ms) and keeping what it reads, as an
/// application's poll loop would, so the group can rebalance around it.
pub struct Member {
    pub consumer: Consumer,
    records: Arc<Mutex<Vec<Rec>>>,
    stop: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Member {
    pub fn start(consumer: Consumer) -> Member {
        let records = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (c, records, stop) = (consumer.clone(), records.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Acquire) {
                    match poll_once(&c, Duration::from_millis(100)).await {
                        Ok(got) => records.lock().unwrap().extend(got),
                        Err(KafkaError::Closed) => return,
                        Err(e) => panic!("a member's poll failed: {e}"),
                    }
                }
            })
        };
        Member {
            consumer,
            records,
            stop,
            task: Some(task),
        }
    }

    /// Everything it has read so far, in order.
    pub fn records(&self) -> Vec<Rec> {
        self.records.lock().unwrap().clone()
    }

    pub async fn assignment(&self) -> Vec<TopicPartition> {
        assignment(&self.consumer).await
    }

    /// Stops polling (the poll under way finishes first); a panic in the poll loop fails the
    /// test here.
    pub async fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(task) = self.task.take() {
            timeout(CALL_BOUND, task)
                .await
                .expect("the poll loop stops in 30 s")
                .expect("the poll loop did not panic");
        }
    }

    /// Stops polling and closes the consumer; returns what it read.
    pub async fn close(mut self) -> Vec<Rec> {
        self.stop().await;
        close(&self.consumer).await;
        self.records()
    }
}

/// The bound on a whole test: every wait inside has its own, this one catches the rest (a
/// client call that never returns), so no test can hang.
pub const TEST_BOUND: Duration = Duration::from_secs(300);

/// Runs a test's body under `TEST_BOUND`.
pub async fn bounded(body: impl Future<Output = ()>) {
    timeout(TEST_BOUND, body)
        .await
        .unwrap_or_else(|_| panic!("the test had not finished after {TEST_BOUND:?}"))
}
