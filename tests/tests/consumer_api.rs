//! The rest of the consumer API, against whichever cluster `TestCluster` picks (the dev
//! broker, or a real Kafka with `KRAFTY_TEST_BOOTSTRAP`): `auto.offset.reset` (latest, none,
//! and positions out of range), seek / pause / resume, pattern subscription, wakeup, `recv`,
//! `commit_async`, offsets for times, and records the deserializer rejects.
//!
//! Every test creates its own topics (`unique_topic`, `create_topic`) and groups, since a real
//! Kafka keeps both between runs.

mod common_consumer;

use std::collections::BTreeMap;
use std::time::Duration;

use common_consumer::*;
use krafty::admin::OffsetSpec;
use krafty::consumer::{KafkaConsumer, OffsetAndMetadata};
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::{BytesSerde, StringSerde};
use krafty::KafkaError;
use krafty_tests::{unique_topic, TestCluster};
use tokio::time::{timeout, Instant};

/// `recv`, bounded: it polls until a record arrives, however long that takes.
async fn recv(c: &Consumer) -> Rec {
    let r = timeout(GROUP_WAIT, c.recv())
        .await
        .expect("recv returns a record in 60 s")
        .expect("recv succeeds");
    (r.partition, r.offset, r.value)
}

/// Polls (each poll must return nothing) until one fails; returns that error.
async fn poll_until_error(c: &Consumer, within: Duration) -> KafkaError {
    let deadline = Instant::now() + within;
    loop {
        assert!(Instant::now() < deadline, "poll did not fail in {within:?}");
        match poll_once(c, Duration::from_millis(200)).await {
            Ok(got) => assert_eq!(got, [], "no record before the error"),
            Err(e) => return e,
        }
    }
}

/// Asserts `err` is the error a position without a valid offset gets under
/// `auto.offset.reset=none` (Kafka's NoOffsetForPartitionException / OffsetOutOfRangeException,
/// both InvalidOffsetException): OFFSET_OUT_OF_RANGE naming the partition, not retriable.
fn assert_invalid_offset(err: &KafkaError, topic: &str, partition: i32) {
    match err {
        KafkaError::Broker {
            code: 1,
            name: "OFFSET_OUT_OF_RANGE",
            topic: Some(t),
            partition: Some(p),
            ..
        } if t == topic && *p == partition => {}
        other => panic!("expected OFFSET_OUT_OF_RANGE on {topic}-{partition}, got {other:?}"),
    }
    assert!(!err.is_retriable() && !err.is_fatal(), "{err:?}");
}

/// Polls until the position of `t` is `offset` (the reset after an out-of-range fetch happens
/// in the background of poll); every poll must return nothing.
async fn wait_for_position(c: &Consumer, t: &krafty::TopicPartition, offset: i64) {
    wait_until(READ_WAIT, "the position reset", || async move {
        assert_eq!(poll_once(c, Duration::from_millis(100)).await.unwrap(), []);
        c.position(t).await.unwrap() == offset
    })
    .await;
}

/// Sends `(value, timestamp)` records to partition `partition`, in order, each acknowledged.
async fn produce_timed(bs: &str, topic: &str, partition: i32, records: &[(&str, i64)]) {
    let p: KafkaProducer<String, String> =
        KafkaProducer::from_properties([("bootstrap.servers", bs)], StringSerde, StringSerde)
            .await
            .unwrap();
    for (v, ts) in records {
        let delivery = p
            .send(
                ProducerRecord::new(topic, v.to_string())
                    .with_timestamp(*ts)
                    .with_partition(partition),
            )
            .await
            .unwrap();
        timeout(CALL_BOUND, delivery).await.unwrap().unwrap();
    }
    timeout(CALL_BOUND, p.close(Duration::from_secs(5)))
        .await
        .unwrap()
        .unwrap();
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `auto.offset.reset=latest`: a member of a new group, and a consumer assigning the
/// partition, start at the end of the log; only what is produced afterwards is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_offset_reset_latest_starts_at_the_end_of_the_log() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("latest");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..10).await;
        let t = tp(&topic, 0);
        let latest = [("auto.offset.reset", "latest")];

        let assigned = consumer(&bs, None, &latest).await;
        assigned.assign(std::slice::from_ref(&t)).await.unwrap();
        assert_eq!(assigned.position(&t).await.unwrap(), 10);

        let group = unique_topic("g-latest");
        let member = consumer(&bs, Some(&group), &latest).await;
        member.subscribe(&[&topic], None).await.unwrap();
        let m = &member;
        wait_until(GROUP_WAIT, "assigned", || async move {
            assert_eq!(poll_once(m, Duration::from_millis(100)).await.unwrap(), []);
            assignment(m).await.len() == 1
        })
        .await;
        assert_eq!(member.position(&t).await.unwrap(), 10);

        produce(&bs, &topic, 0..1, 10..13).await;
        assert_eq!(poll_n(&member, 3, READ_WAIT).await, expected(0, 10..13));
        assert_eq!(poll_n(&assigned, 3, READ_WAIT).await, expected(0, 10..13));
        assert_quiet(&member, Duration::from_millis(300), "after offset 12").await;
        close(&member).await;
        close(&assigned).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// `auto.offset.reset=none` without a committed offset: `poll` fails with OFFSET_OUT_OF_RANGE
/// naming the partition (the Java client's NoOffsetForPartitionException), again on the next
/// poll (the position is not silently reset), until the application seeks; with a committed
/// offset, the group starts there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_offset_reset_none_fails_without_a_committed_offset_until_a_seek() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("reset-none");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..5).await;
        let t = tp(&topic, 0);
        let group = unique_topic("g-reset-none");
        let none = [("auto.offset.reset", "none")];
        let c = consumer(&bs, Some(&group), &none).await;
        c.subscribe(&[&topic], None).await.unwrap();
        let err = poll_until_error(&c, GROUP_WAIT).await;
        assert_invalid_offset(&err, &topic, 0);
        let again = poll_once(&c, Duration::from_millis(200)).await.unwrap_err();
        assert_invalid_offset(&again, &topic, 0);
        assert_eq!(
            assignment(&c).await,
            std::slice::from_ref(&t),
            "the member keeps the partition"
        );
        c.seek(&t, 2).await.unwrap();
        assert_eq!(poll_n(&c, 3, READ_WAIT).await, expected(0, 2..5));
        c.commit_sync().await.unwrap();
        close(&c).await;

        produce(&bs, &topic, 0..1, 5..7).await;
        let c = consumer(&bs, Some(&group), &none).await;
        c.subscribe(&[&topic], None).await.unwrap();
        assert_eq!(
            poll_n(&c, 2, GROUP_WAIT).await,
            expected(0, 5..7),
            "with a committed offset, `none` starts there"
        );
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// A position past the end of the log (a seek to 100 in a log of 10) is out of range: the
/// fetch answers OFFSET_OUT_OF_RANGE and the position is reset by `auto.offset.reset`:
/// earliest to 0, latest to the end, none fails naming the partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_past_the_end_is_reset_by_the_policy() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("past-end");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..10).await;
        let t = tp(&topic, 0);
        let at_100 = |policy: &'static str| {
            let (bs, t) = (bs.clone(), t.clone());
            async move {
                let c = consumer(&bs, None, &[("auto.offset.reset", policy)]).await;
                c.assign(std::slice::from_ref(&t)).await.unwrap();
                c.seek(&t, 100).await.unwrap();
                c
            }
        };

        let earliest = at_100("earliest").await;
        assert_eq!(poll_n(&earliest, 10, READ_WAIT).await, expected(0, 0..10));
        close(&earliest).await;

        let none = at_100("none").await;
        let err = poll_until_error(&none, READ_WAIT).await;
        assert_invalid_offset(&err, &topic, 0);
        let again = poll_once(&none, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_invalid_offset(&again, &topic, 0);
        none.seek(&t, 8).await.unwrap();
        assert_eq!(poll_n(&none, 2, READ_WAIT).await, expected(0, 8..10));
        close(&none).await;

        let latest = at_100("latest").await;
        wait_for_position(&latest, &t, 10).await;
        produce(&bs, &topic, 0..1, 10..12).await;
        assert_eq!(poll_n(&latest, 2, READ_WAIT).await, expected(0, 10..12));
        close(&latest).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// A position below the log start (records deleted with DeleteRecords) is out of range too:
/// earliest resets to the new log start, latest to the end, none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_position_is_reset_by_the_policy() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("deleted");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..10).await;
        let t = tp(&topic, 0);
        let admin = cluster.admin().await;
        admin
            .delete_records(&BTreeMap::from([(t.clone(), 6)]))
            .await
            .unwrap();
        assert_eq!(
            admin
                .list_offsets(std::slice::from_ref(&t), OffsetSpec::Earliest)
                .await
                .unwrap(),
            BTreeMap::from([(t.clone(), 6)])
        );
        admin.close().await;
        let at_2 = |policy: &'static str| {
            let (bs, t) = (bs.clone(), t.clone());
            async move {
                let c = consumer(&bs, None, &[("auto.offset.reset", policy)]).await;
                c.assign(std::slice::from_ref(&t)).await.unwrap();
                c.seek(&t, 2).await.unwrap();
                c
            }
        };

        let earliest = at_2("earliest").await;
        assert_eq!(poll_n(&earliest, 4, READ_WAIT).await, expected(0, 6..10));
        assert_eq!(
            earliest
                .beginning_offsets(std::slice::from_ref(&t))
                .await
                .unwrap()[&t],
            6
        );
        close(&earliest).await;

        let none = at_2("none").await;
        let err = poll_until_error(&none, READ_WAIT).await;
        assert_invalid_offset(&err, &topic, 0);
        close(&none).await;

        let latest = at_2("latest").await;
        wait_for_position(&latest, &t, 10).await;
        close(&latest).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// Pause, resume and seek: a paused partition returns nothing (not even records already
/// buffered for it) and keeps its position; resumed, it continues at exactly that offset; a
/// seek moves the next record returned; pause, seek and commit of a partition not assigned are
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_pause_and_resume_keep_exact_positions() {
    bounded(async {
        let cluster = TestCluster::start(2).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("seek");
        cluster.create_topic(&topic, 2, &[]).await;
        produce(&bs, &topic, 0..2, 0..10).await;
        let (p0, p1) = (tp(&topic, 0), tp(&topic, 1));
        let group = unique_topic("g-seek");
        let c = consumer(&bs, Some(&group), &[]).await;
        c.assign(&[p0.clone(), p1.clone()]).await.unwrap();

        c.pause(std::slice::from_ref(&p1)).await.unwrap();
        assert_eq!(c.paused().await, std::slice::from_ref(&p1));
        assert_eq!(poll_n(&c, 10, READ_WAIT).await, expected(0, 0..10));
        assert_quiet(&c, Duration::from_millis(500), "partition 1 is paused").await;
        assert_eq!(c.position(&p1).await.unwrap(), 0);
        c.resume(std::slice::from_ref(&p1)).await.unwrap();
        assert_eq!(c.paused().await, []);
        assert_eq!(poll_n(&c, 10, READ_WAIT).await, expected(1, 0..10));

        // Paused with records buffered: they stay buffered, and come back in order on resume.
        produce(&bs, &topic, 0..1, 10..20).await;
        assert_eq!(take_exactly(&c, 3, READ_WAIT).await, expected(0, 10..13));
        c.pause(std::slice::from_ref(&p0)).await.unwrap();
        assert_quiet(&c, Duration::from_millis(500), "partition 0 is paused").await;
        assert_eq!(c.position(&p0).await.unwrap(), 13);
        c.resume(std::slice::from_ref(&p0)).await.unwrap();
        assert_eq!(poll_n(&c, 7, READ_WAIT).await, expected(0, 13..20));

        c.seek(&p0, 7).await.unwrap();
        assert_eq!(c.position(&p0).await.unwrap(), 7);
        assert_eq!(poll_n(&c, 13, READ_WAIT).await, expected(0, 7..20));
        c.seek_to_beginning(std::slice::from_ref(&p0))
            .await
            .unwrap();
        assert_eq!(c.position(&p0).await.unwrap(), 0);
        c.seek_to_end(std::slice::from_ref(&p0)).await.unwrap();
        assert_eq!(c.position(&p0).await.unwrap(), 20);
        assert_eq!(
            c.end_offsets(&[p0.clone(), p1.clone()]).await.unwrap(),
            BTreeMap::from([(p0.clone(), 20), (p1.clone(), 10)])
        );
        assert_eq!(
            c.beginning_offsets(&[p0.clone(), p1.clone()])
                .await
                .unwrap(),
            BTreeMap::from([(p0.clone(), 0), (p1.clone(), 0)])
        );

        c.commit_offsets(BTreeMap::from([
            (p0.clone(), OffsetAndMetadata::new(20)),
            (p1.clone(), OffsetAndMetadata::new(4)),
        ]))
        .await
        .unwrap();
        assert_eq!(
            committed(&cluster, &group).await,
            BTreeMap::from([(p0.clone(), 20), (p1.clone(), 4)])
        );
        let unassigned = tp(&topic, 5);
        let err = c
            .commit_offsets(BTreeMap::from([(
                unassigned.clone(),
                OffsetAndMetadata::new(1),
            )]))
            .await
            .unwrap_err();
        assert!(matches!(err, KafkaError::IllegalState(_)), "{err}");
        let err = c
            .pause(std::slice::from_ref(&unassigned))
            .await
            .unwrap_err();
        assert!(matches!(err, KafkaError::IllegalState(_)), "{err}");
        let err = c.seek(&unassigned, 0).await.unwrap_err();
        assert!(matches!(err, KafkaError::IllegalState(_)), "{err}");
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// `poll_data_with` hands the fetched bytes to a visitor, in poll's order: exact partitions,
/// offsets and values, at most `max_records` per call, positions past exactly what it
/// visited (a `poll` after it goes on from there), and the consumed-records metric counts
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_data_with_visits_the_fetched_bytes_and_moves_positions_past_them() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("poll-data");
        cluster.create_topic(&topic, 2, &[]).await;
        produce(&bs, &topic, 0..2, 0..30).await;
        let c = consumer(&bs, None, &[]).await;
        let (p0, p1) = (tp(&topic, 0), tp(&topic, 1));
        c.assign(&[p0.clone(), p1.clone()]).await.unwrap();

        let mut seen: Vec<Rec> = Vec::new();
        let deadline = Instant::now() + READ_WAIT;
        while seen.len() < 25 && Instant::now() < deadline {
            let mut batch = Vec::new();
            let n = c
                .poll_data_with(
                    Duration::from_millis(200),
                    Some(25 - seen.len()),
                    |tp, r| {
                        assert_eq!(*tp.topic, *topic);
                        let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                        batch.push((tp.partition, r.offset, value));
                    },
                )
                .await
                .unwrap();
            assert_eq!(n, batch.len(), "the count is what was visited");
            assert!(n <= 25, "at most max_records");
            seen.extend(batch);
        }
        assert_eq!(seen.len(), 25);
        let mut rest = poll_n(&c, 35, READ_WAIT).await;
        let mut all = seen.clone();
        all.append(&mut rest);
        all.sort();
        let mut want = expected(0, 0..30);
        want.extend(expected(1, 0..30));
        assert_eq!(all, want, "every record once, with its own value");
        for p in [&p0, &p1] {
            let taken: Vec<i64> = seen
                .iter()
                .filter(|r| r.0 == p.partition)
                .map(|r| r.1)
                .collect();
            assert_eq!(
                taken,
                (0..taken.len() as i64).collect::<Vec<_>>(),
                "in offset order"
            );
            assert_eq!(c.position(p).await.unwrap(), 30);
        }
        assert_eq!(c.metrics().records_consumed_total, 60);
        close(&c).await;
        cluster.stop().await;
    })
    .await
}

/// A pattern subscription reads every topic whose name matches, and picks up a matching topic
/// created later; other topics are not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_subscription_follows_matching_topics() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let prefix = unique_topic("pattern");
        let name = |suffix: &str| format!("{prefix}.{suffix}");
        let (cpu, mem, app, disk) = (
            name("metrics.cpu"),
            name("metrics.mem"),
            name("logs.app"),
            name("metrics.disk"),
        );
        for t in [&cpu, &mem, &app] {
            cluster.create_topic(t, 1, &[]).await;
            produce(&bs, t, 0..1, 0..2).await;
        }
        let group = unique_topic("g-pattern");
        let c = consumer(&bs, Some(&group), &[]).await;
        // The prefix is letters, digits and dashes: literal in a regex.
        c.subscribe_pattern(&format!(r"{prefix}\.metrics\..*"), None)
            .await
            .unwrap();
        let read = |c: &Consumer, n: usize| {
            let c = c.clone();
            async move {
                let mut out: Vec<_> = poll_records(&c, n, GROUP_WAIT)
                    .await
                    .into_iter()
                    .map(|r| (r.topic, r.offset, r.value))
                    .collect();
                out.sort();
                out
            }
        };
        let got = read(&c, 4).await;
        let want = |t: &str, offsets: std::ops::Range<i64>| -> Vec<(String, i64, String)> {
            offsets.map(|o| (t.to_string(), o, value(0, o))).collect()
        };
        assert_eq!(got, [want(&cpu, 0..2), want(&mem, 0..2)].concat());
        assert_eq!(c.subscription().await, [cpu.clone(), mem.clone()]);
        // Committed, so the rebalance the new topic causes re-reads nothing.
        c.commit_sync().await.unwrap();
        assert_eq!(
            committed(&cluster, &group).await,
            BTreeMap::from([(tp(&cpu, 0), 2), (tp(&mem, 0), 2)])
        );

        cluster.create_topic(&disk, 1, &[]).await;
        produce(&bs, &disk, 0..1, 0..2).await;
        assert_eq!(read(&c, 2).await, want(&disk, 0..2));
        assert_eq!(
            c.subscription().await,
            [cpu.clone(), disk.clone(), mem.clone()]
        );
        assert_quiet(&c, Duration::from_millis(500), "logs.app does not match").await;
        close(&c).await;
        delete_topics(&cluster, &[&cpu, &mem, &app, &disk]).await;
        cluster.stop().await;
    })
    .await
}

/// `wakeup` interrupts a blocked `poll` (it fails with `Wakeup` long before its timeout); a
/// wakeup with no poll under way makes the next one fail at once; each wakeup is consumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wakeup_interrupts_a_blocking_poll() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("quiet");
        cluster.create_topic(&topic, 1, &[]).await;
        let c = consumer(&bs, None, &[]).await;
        c.assign(&[tp(&topic, 0)]).await.unwrap();
        let started = Instant::now();
        let waker = c.clone();
        let wake = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            waker.wakeup();
        });
        let err = timeout(Duration::from_secs(40), c.poll(Duration::from_secs(30)))
            .await
            .expect("poll returns")
            .unwrap_err();
        assert!(matches!(err, KafkaError::Wakeup), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "poll(30 s) woken after {:?}",
            started.elapsed()
        );
        wake.await.unwrap();
        assert_eq!(
            poll_once(&c, Duration::from_millis(10)).await.unwrap(),
            [],
            "the wakeup is consumed"
        );

        c.wakeup();
        let started = Instant::now();
        let err = poll_once(&c, Duration::from_secs(30)).await.unwrap_err();
        assert!(matches!(err, KafkaError::Wakeup), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(poll_once(&c, Duration::from_millis(10)).await.unwrap(), []);
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// `recv` hands out one record at a time; `commit_async` commits exactly the position (the
/// callback reports success, and the admin client reads the offset back); a failing
/// `commit_async` reports the broker's error to its callback: a consumer that is not a member
/// commits for a group that has one, and gets UNKNOWN_MEMBER_ID, the offset unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_and_commit_async_commit_exactly_and_report_failures() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("commit-async");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..5).await;
        let t = tp(&topic, 0);
        let group = unique_topic("g-commit-async");
        let c = consumer(&bs, Some(&group), &[]).await;
        c.subscribe(&[&topic], None).await.unwrap();
        for o in 0..3 {
            assert_eq!(recv(&c).await, (0, o, value(0, o)));
        }
        assert_eq!(c.position(&t).await.unwrap(), 3);
        let commit_async = |c: &Consumer| {
            let c = c.clone();
            async move {
                let (tx, rx) = tokio::sync::oneshot::channel();
                c.commit_async(move |r| {
                    let _ = tx.send(r);
                })
                .await
                .unwrap();
                timeout(CALL_BOUND, rx)
                    .await
                    .expect("the callback runs in 30 s")
                    .expect("the callback runs")
            }
        };
        commit_async(&c).await.expect("the async commit succeeds");
        assert_eq!(
            committed(&cluster, &group).await,
            BTreeMap::from([(t.clone(), 3)])
        );
        assert_eq!(
            c.committed(std::slice::from_ref(&t)).await.unwrap()[&t].offset,
            3
        );

        let outsider = consumer(&bs, Some(&group), &[]).await;
        outsider.assign(std::slice::from_ref(&t)).await.unwrap();
        outsider.seek(&t, 1).await.unwrap();
        match commit_async(&outsider).await {
            Err(KafkaError::Broker { code: 25, .. }) => {}
            other => panic!("expected UNKNOWN_MEMBER_ID, got {other:?}"),
        }
        assert_eq!(
            committed(&cluster, &group).await,
            BTreeMap::from([(t.clone(), 3)])
        );
        close(&outsider).await;
        assert_eq!(recv(&c).await, (0, 3, value(0, 3)));
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// `offsets_for_times`: per partition, the first offset whose timestamp is at or after the
/// one asked for, with its timestamp; `None` past the newest record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_finds_the_first_record_at_or_after_a_time() {
    bounded(async {
        let cluster = TestCluster::start(2).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("timed");
        cluster.create_topic(&topic, 2, &[]).await;
        // Recent timestamps: a broker may refuse records too far in the past or future.
        let base = now_ms() - 60_000;
        produce_timed(
            &bs,
            &topic,
            0,
            &[
                ("a", base + 1_000),
                ("b", base + 2_000),
                ("c", base + 3_000),
            ],
        )
        .await;
        produce_timed(&bs, &topic, 1, &[("x", base + 500), ("y", base + 5_000)]).await;
        let (p0, p1) = (tp(&topic, 0), tp(&topic, 1));
        let c = consumer(&bs, None, &[]).await;
        let at = |t0: i64, t1: i64| BTreeMap::from([(p0.clone(), t0), (p1.clone(), t1)]);
        assert_eq!(
            c.offsets_for_times(&at(base + 1_500, base + 1_500))
                .await
                .unwrap(),
            BTreeMap::from([
                (p0.clone(), Some((1, base + 2_000))),
                (p1.clone(), Some((1, base + 5_000)))
            ])
        );
        assert_eq!(
            c.offsets_for_times(&at(base + 2_000, 0)).await.unwrap(),
            BTreeMap::from([
                (p0.clone(), Some((1, base + 2_000))),
                (p1.clone(), Some((0, base + 500)))
            ]),
            "an exact timestamp finds its own record"
        );
        assert_eq!(
            c.offsets_for_times(&at(base + 3_001, base + 9_000))
                .await
                .unwrap(),
            BTreeMap::from([(p0.clone(), None), (p1.clone(), None)])
        );
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// Right after a topic is created a real cluster may answer ListOffsets with
/// NOT_LEADER_OR_FOLLOWER: the position reset inside poll and the explicit offset lookups retry.
///
/// Needs injected faults: runs on the dev broker only, and returns early on a real Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_lookups_retry_a_leader_not_ready_yet() {
    bounded(async {
        const LIST_OFFSETS: i16 = 2;
        let cluster = TestCluster::start(1).await;
        let Some(faults) = cluster.faults() else {
            eprintln!("skipped on a real Kafka: needs the dev broker's fault injection");
            return;
        };
        let bs = cluster.bootstrap();
        let topic = unique_topic("fresh");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..2).await;
        let t = tp(&topic, 0);
        faults.fail_next(LIST_OFFSETS, 6, 2, Some(&topic), Some(0));
        let c = consumer(&bs, Some(&unique_topic("g-fresh")), &[]).await;
        assert_eq!(
            c.beginning_offsets(std::slice::from_ref(&t)).await.unwrap(),
            BTreeMap::from([(t.clone(), 0)])
        );
        assert_eq!(faults.errors_fired(), 2);
        faults.fail_next(LIST_OFFSETS, 6, 2, Some(&topic), Some(0));
        c.subscribe(&[&topic], None).await.unwrap();
        assert_eq!(poll_n(&c, 2, GROUP_WAIT).await, expected(0, 0..2));
        assert_eq!(
            faults.errors_fired(),
            4,
            "the reset inside poll met both errors"
        );
        close(&c).await;
        cluster.stop().await;
    })
    .await
}

/// A partition the metadata names without a leader (an election under way) is looked up again
/// until it has one: ListOffsets goes to the leader, never to node -1.
///
/// Needs injected faults: runs on the dev broker only, and returns early on a real Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_lookups_wait_for_a_partition_without_a_leader() {
    bounded(async {
        const METADATA: i16 = 3;
        const LEADER_NOT_AVAILABLE: i16 = 5;
        let cluster = TestCluster::start(1).await;
        let Some(faults) = cluster.faults() else {
            eprintln!("skipped on a real Kafka: needs the dev broker's fault injection");
            return;
        };
        let bs = cluster.bootstrap();
        let topic = unique_topic("leaderless");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..3).await;
        let t = tp(&topic, 0);
        faults.fail_next(METADATA, LEADER_NOT_AVAILABLE, 2, Some(&topic), Some(0));
        let c = consumer(&bs, None, &[]).await;
        assert_eq!(
            c.end_offsets(std::slice::from_ref(&t)).await.unwrap(),
            BTreeMap::from([(t.clone(), 3)])
        );
        assert_eq!(
            faults.errors_fired(),
            2,
            "both leaderless answers were seen"
        );
        faults.fail_next(METADATA, LEADER_NOT_AVAILABLE, 2, Some(&topic), Some(0));
        c.assign(std::slice::from_ref(&t)).await.unwrap();
        c.seek_to_beginning(std::slice::from_ref(&t)).await.unwrap();
        assert_eq!(poll_n(&c, 3, READ_WAIT).await, expected(0, 0..3));
        close(&c).await;
        cluster.stop().await;
    })
    .await
}

/// A record the deserializer rejects stops poll at it, as in the Java client: the records before
/// it come back, the error names its partition and offset, the position stays on it until the
/// application seeks past, and the records after it are still delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_cannot_be_deserialized_is_not_skipped_silently() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("mixed");
        cluster.create_topic(&topic, 1, &[]).await;
        let p: KafkaProducer<Vec<u8>, Vec<u8>> = KafkaProducer::from_properties(
            [("bootstrap.servers", bs.as_str())],
            BytesSerde,
            BytesSerde,
        )
        .await
        .unwrap();
        let mut pending = Vec::new();
        for v in [&b"a"[..], &[0xff, 0xfe][..], &b"c"[..]] {
            pending.push(
                p.send(ProducerRecord::new(&topic, v.to_vec()).with_partition(0))
                    .await
                    .unwrap(),
            );
        }
        for (i, d) in pending.into_iter().enumerate() {
            assert_eq!(
                timeout(CALL_BOUND, d).await.unwrap().unwrap().offset,
                i as i64
            );
        }
        timeout(CALL_BOUND, p.close(Duration::from_secs(5)))
            .await
            .unwrap()
            .unwrap();

        let c: Consumer = KafkaConsumer::from_properties(
            [
                ("bootstrap.servers", bs.as_str()),
                ("auto.offset.reset", "earliest"),
            ],
            StringSerde,
            StringSerde,
        )
        .await
        .unwrap();
        let t = tp(&topic, 0);
        c.assign(std::slice::from_ref(&t)).await.unwrap();
        assert_eq!(
            poll_n(&c, 1, READ_WAIT).await,
            [(0, 0, "a".to_string())],
            "the record before the bad one"
        );
        for _ in 0..2 {
            match poll_once(&c, Duration::from_millis(300)).await {
                Err(KafkaError::Serialization(m)) => {
                    assert!(m.contains(&format!("{topic}-0@1")), "{m}")
                }
                other => panic!("expected a serialization error, got {other:?}"),
            }
            assert_eq!(c.position(&t).await.unwrap(), 1, "the position stays on it");
        }
        c.seek(&t, 2).await.unwrap();
        assert_eq!(poll_n(&c, 1, READ_WAIT).await, [(0, 2, "c".to_string())]);
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// `recv` hands out one record at a time from a batch of many: closing after three (auto
/// commit on) commits exactly past those three, and the group's next member starts at the
/// fourth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_after_recv_commits_only_what_was_received() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("recv-commit");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..50).await;
        let group = unique_topic("g-recv-commit");
        let auto = [
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "600000"),
        ];
        let c = consumer(&bs, Some(&group), &auto).await;
        c.subscribe(&[&topic], None).await.unwrap();
        for o in 0..3 {
            assert_eq!(recv(&c).await, (0, o, value(0, o)));
        }
        let t = tp(&topic, 0);
        assert_eq!(c.position(&t).await.unwrap(), 3);
        close(&c).await;
        assert_eq!(
            committed(&cluster, &group).await,
            BTreeMap::from([(t.clone(), 3)])
        );

        let next = consumer(&bs, Some(&group), &[]).await;
        next.subscribe(&[&topic], None).await.unwrap();
        assert_eq!(recv(&next).await, (0, 3, value(0, 3)));
        close(&next).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// Without `group.id`, `subscribe` reads every partition of the topic from
/// `auto.offset.reset`, with no group (kafka-python's behaviour); commits are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_without_group_reads_every_partition_and_refuses_commits() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("groupless");
        cluster.create_topic(&topic, 3, &[]).await;
        produce(&bs, &topic, 0..3, 0..4).await;
        let c = consumer(&bs, None, &[]).await;
        c.subscribe(&[topic.as_str()], None).await.unwrap();
        let mut got = poll_n(&c, 12, READ_WAIT).await;
        got.sort();
        assert_eq!(
            got,
            [expected(0, 0..4), expected(1, 0..4), expected(2, 0..4)].concat()
        );
        assert_eq!(assignment(&c).await, tps(&topic, 0..3));
        assert_eq!(c.subscription().await, vec![topic.clone()]);
        assert!(matches!(
            c.commit_sync().await,
            Err(KafkaError::IllegalState(_))
        ));
        assert!(matches!(
            c.committed(&tps(&topic, 0..3)).await,
            Err(KafkaError::IllegalState(_))
        ));
        assert!(c.group_metadata().is_none());
        close(&c).await;
    })
    .await
}

/// A pattern subscription without `group.id` picks up a matching topic created after it
/// started, and reads every partition of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_without_group_picks_up_new_topics() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let bs = cluster.bootstrap();
        let prefix = unique_topic("groupless-pattern");
        let (a, b) = (format!("{prefix}.a"), format!("{prefix}.b"));
        cluster.create_topic(&a, 3, &[]).await;
        produce(&bs, &a, 0..3, 0..1).await;
        let c = consumer(&bs, None, &[]).await;
        // The prefix is letters, digits and dashes: literal in a regex.
        c.subscribe_pattern(&format!(r"{prefix}\..*"), None)
            .await
            .unwrap();
        let read = |n: usize| {
            let c = c.clone();
            async move {
                let mut out: Vec<(String, i32)> = poll_records(&c, n, READ_WAIT)
                    .await
                    .into_iter()
                    .map(|r| (r.topic, r.partition))
                    .collect();
                out.sort();
                out
            }
        };
        let first = read(3).await;
        assert_eq!(first, (0..3).map(|p| (a.clone(), p)).collect::<Vec<_>>());
        cluster.create_topic(&b, 3, &[]).await;
        produce(&bs, &b, 0..3, 0..1).await;
        let second = read(3).await;
        assert_eq!(second, (0..3).map(|p| (b.clone(), p)).collect::<Vec<_>>());
        assert_eq!(c.subscription().await, vec![a.clone(), b.clone()]);
        close(&c).await;
    })
    .await
}
