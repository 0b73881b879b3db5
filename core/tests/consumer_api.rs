//! The rest of the consumer API: pattern subscription, wakeup, recv/stream, async commits,
//! offsets for times.

mod common;

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use krafty::consumer::KafkaConsumer;
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::{KafkaError, TopicPartition};

async fn produce(bs: &str, topic: &str, values: &[(&str, i64)]) {
    let p: KafkaProducer<String, String> =
        KafkaProducer::from_properties([("bootstrap.servers", bs)], StringSerde, StringSerde)
            .await
            .unwrap();
    for (v, ts) in values {
        p.send(
            ProducerRecord::new(topic, v.to_string())
                .with_timestamp(*ts)
                .with_partition(0),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    p.close(Duration::from_secs(5)).await.unwrap();
}

async fn consumer(bs: &str, group: &str) -> KafkaConsumer<String, String> {
    KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bs),
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("heartbeat.interval.ms", "200"),
            ("session.timeout.ms", "6000"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_subscription_follows_matching_topics() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "metrics.cpu", &[("c1", 1)]).await;
    produce(&bs, "metrics.mem", &[("m1", 1)]).await;
    produce(&bs, "logs.app", &[("l1", 1)]).await;
    let c = consumer(&bs, "g-pattern").await;
    c.subscribe_pattern(r"metrics\..*", None).await.unwrap();
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while values.len() < 2 && std::time::Instant::now() < deadline {
        values.extend(
            c.poll(Duration::from_millis(200))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.value),
        );
    }
    values.sort();
    assert_eq!(values, vec!["c1", "m1"]);
    assert_eq!(c.subscription().await, vec!["metrics.cpu", "metrics.mem"]);
    // A new matching topic joins the subscription.
    produce(&bs, "metrics.disk", &[("d1", 1)]).await;
    let mut more = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while more.is_empty() && std::time::Instant::now() < deadline {
        more.extend(
            c.poll(Duration::from_millis(200))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.value),
        );
    }
    assert_eq!(more, vec!["d1"]);
    c.close().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wakeup_interrupts_a_blocking_poll() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let c = consumer(&bs, "g-wakeup").await;
    c.assign(&[TopicPartition::new("quiet", 0)]).await.unwrap();
    let waker = c.clone();
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        waker.wakeup();
    });
    let err = c.poll(Duration::from_secs(30)).await.unwrap_err();
    assert!(matches!(err, KafkaError::Wakeup), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        c.poll(Duration::from_millis(10)).await.is_ok(),
        "the wakeup is consumed"
    );
    c.close().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_stream_commit_async_and_offsets_for_times() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "timed", &[("a", 1_000), ("b", 2_000), ("c", 3_000)]).await;
    let c = consumer(&bs, "g-stream").await;
    c.subscribe(&["timed"], None).await.unwrap();
    assert_eq!(c.recv().await.unwrap().value, "a");
    let mut stream = c.stream();
    for expected in ["b", "c"] {
        let item = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await;
        assert_eq!(item.unwrap().unwrap().value, expected);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    c.commit_async(move |r| {
        let _ = tx.send(r.is_ok());
    })
    .await
    .unwrap();
    assert!(rx.await.unwrap(), "the async commit succeeded");
    let tp = TopicPartition::new("timed", 0);
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp].offset,
        3
    );
    let times = BTreeMap::from([(tp.clone(), 1_500)]);
    assert_eq!(
        c.offsets_for_times(&times).await.unwrap()[&tp],
        Some((1, 2_000))
    );
    let late = BTreeMap::from([(tp.clone(), 9_000)]);
    assert_eq!(c.offsets_for_times(&late).await.unwrap()[&tp], None);
    assert_eq!(
        c.beginning_offsets(std::slice::from_ref(&tp))
            .await
            .unwrap()[&tp],
        0
    );
    c.close().await.unwrap();
    broker.shutdown().await;
}

/// Right after a topic is created a real cluster may answer ListOffsets with
/// NOT_LEADER_OR_FOLLOWER: the position reset inside poll and the explicit offset lookups retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_lookups_retry_a_leader_not_ready_yet() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    produce(&bs, "fresh", &[("a", 1), ("b", 2)]).await;
    let tp = TopicPartition::new("fresh", 0);
    const LIST_OFFSETS: i16 = 2;
    broker
        .faults()
        .fail_next(LIST_OFFSETS, 6, 2, Some("fresh"), Some(0));
    let c = consumer(&bs, "g-fresh").await;
    assert_eq!(
        c.beginning_offsets(std::slice::from_ref(&tp))
            .await
            .unwrap()[&tp],
        0
    );
    broker
        .faults()
        .fail_next(LIST_OFFSETS, 6, 2, Some("fresh"), Some(0));
    c.subscribe(&["fresh"], None).await.unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while got.len() < 2 && std::time::Instant::now() < deadline {
        for r in c.poll(Duration::from_millis(300)).await.unwrap() {
            got.push((r.offset, r.value));
        }
    }
    assert_eq!(got, vec![(0, "a".to_string()), (1, "b".to_string())]);
    c.close().await.unwrap();
}

/// A record the deserializer rejects stops poll at it, as in the Java client: the records before
/// it come back, the error names its partition and offset, the position stays on it until the
/// application seeks past, and the records after it are still delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_cannot_be_deserialized_is_not_skipped_silently() {
    use krafty::serialization::BytesSerde;
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
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
            p.send(ProducerRecord::new("mixed", v.to_vec()).with_partition(0))
                .await
                .unwrap(),
        );
    }
    for d in pending {
        d.await.unwrap();
    }
    p.close(Duration::from_secs(5)).await.unwrap();

    let c = consumer(&bs, "g-bad-record").await;
    let tp = TopicPartition::new("mixed", 0);
    c.assign(std::slice::from_ref(&tp)).await.unwrap();
    let mut first = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while first.is_empty() && std::time::Instant::now() < deadline {
        first = c.poll(Duration::from_millis(300)).await.unwrap();
    }
    let values: Vec<_> = first.iter().map(|r| (r.offset, r.value.as_str())).collect();
    assert_eq!(values, vec![(0, "a")]);
    for _ in 0..2 {
        match c.poll(Duration::from_millis(300)).await {
            Err(KafkaError::Serialization(m)) => assert!(m.contains("mixed-0@1"), "{m}"),
            other => panic!("expected a serialization error, got {other:?}"),
        }
        assert_eq!(c.position(&tp).await.unwrap(), 1);
    }
    c.seek(&tp, 2).await.unwrap();
    let mut rest = Vec::new();
    while rest.is_empty() && std::time::Instant::now() < deadline {
        rest = c.poll(Duration::from_millis(300)).await.unwrap();
    }
    assert_eq!(rest.len(), 1);
    assert_eq!((rest[0].offset, rest[0].value.as_str()), (2, "c"));
    c.close().await.unwrap();
}

/// `recv` hands out one record at a time from a batch of many: closing after three (auto
/// commit on) commits exactly past those three, and the group's next member starts at the fourth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_after_recv_commits_only_what_was_received() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let values: Vec<(String, i64)> = (0..50).map(|i| (format!("r{i}"), i)).collect();
    let refs: Vec<(&str, i64)> = values.iter().map(|(v, t)| (v.as_str(), *t)).collect();
    produce(&bs, "recv-commit", &refs).await;

    let c = consumer(&bs, "g-recv-commit").await;
    c.subscribe(&["recv-commit"], None).await.unwrap();
    for i in 0..3 {
        assert_eq!(c.recv().await.unwrap().value, format!("r{i}"));
    }
    let tp = TopicPartition::new("recv-commit", 0);
    assert_eq!(c.position(&tp).await.unwrap(), 3);
    c.close().await.unwrap();

    let next = consumer(&bs, "g-recv-commit").await;
    next.subscribe(&["recv-commit"], None).await.unwrap();
    let r = next.recv().await.unwrap();
    assert_eq!((r.offset, r.value.as_str()), (3, "r3"));
    next.close().await.unwrap();
}
