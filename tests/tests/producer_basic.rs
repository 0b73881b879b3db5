//! The producer's everyday behaviour, against whichever cluster `TestCluster` picks (the
//! embedded dev broker, or a real Kafka with `KRAFTY_TEST_BOOTSTRAP`): partitioning, offsets
//! per `acks` level, compression as stored, Kafka's error codes, `send_all`.
//!
//! Every test creates its own topics under unique names: a real Kafka keeps topics between
//! runs and has `num.partitions=1`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use krafty::producer::{murmur2_partition, ProducerRecord};
use krafty::KafkaError;
use krafty_tests::{read_all, read_batches, unique_topic, within, CollectingSink, TestCluster};

use krafty_tests::string_producer as producer;

fn text(b: &Option<bytes::Bytes>) -> String {
    String::from_utf8(b.as_deref().expect("not null").to_vec()).unwrap()
}

/// The values stored in a partition, in offset order.
async fn stored_values(bootstrap: &str, topic: &str, partition: i32) -> Vec<String> {
    read_all(bootstrap, topic, partition)
        .await
        .iter()
        .map(|r| text(&r.value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_by_murmur2_in_order_with_exact_offsets() {
    let cluster = TestCluster::start(3).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("keyed");
    cluster.create_topic(&topic, 3, &[]).await;
    let p = producer(&bs, &[]).await;
    let mut futures = Vec::new();
    for i in 0..300 {
        let r = ProducerRecord::new(&topic, format!("value-{i}"))
            .with_key(format!("key-{}", i % 10))
            .with_header("n", i.to_string());
        futures.push(p.send(r).await.unwrap());
    }
    let mut per_partition = vec![Vec::new(); 3];
    for (i, f) in futures.into_iter().enumerate() {
        let md = within(60, "delivery", f).await.unwrap();
        let key = format!("key-{}", i % 10);
        assert_eq!(md.partition, murmur2_partition(key.as_bytes(), 3), "{key}");
        per_partition[md.partition as usize].push((md.offset, i));
    }
    for (partition, sent) in per_partition.iter().enumerate() {
        assert!(!sent.is_empty(), "10 keys reach every one of 3 partitions");
        let offsets: Vec<i64> = sent.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..sent.len() as i64).collect::<Vec<_>>(),
            "dense offsets in send order on partition {partition}"
        );
        let stored = read_all(&bs, &topic, partition as i32).await;
        let stored: Vec<(i64, String, String, String)> = stored
            .iter()
            .map(|r| {
                assert_eq!(r.headers.len(), 1);
                (
                    r.offset,
                    text(&r.key),
                    text(&r.value),
                    text(&r.headers[0].value),
                )
            })
            .collect();
        let expected: Vec<(i64, String, String, String)> = sent
            .iter()
            .map(|(o, i)| {
                (
                    *o,
                    format!("key-{}", i % 10),
                    format!("value-{i}"),
                    i.to_string(),
                )
            })
            .collect();
        assert_eq!(stored, expected, "partition {partition}");
    }
    p.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}

/// acks=0 reports offset -1 (as the Java client: the broker does not answer); acks=1 and
/// acks=all report the offsets the log holds. Left at its default, idempotence turns itself
/// off for acks 0 and 1 (the stored batches carry no producer id) and is on for acks=all
/// (one producer id, sequences numbered from 0 with the offsets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_acks_level_reports_what_the_log_holds() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    const N: usize = 50;
    for acks in ["0", "1", "all"] {
        let topic = unique_topic(&format!("acks-{acks}"));
        cluster.create_topic(&topic, 1, &[]).await;
        let p = producer(&bs, &[("acks", acks), ("linger.ms", "2")]).await;
        let values: Vec<String> = (0..N).map(|i| format!("acks-{acks}-{i}")).collect();
        let mut fs = Vec::new();
        for v in &values {
            fs.push(
                p.send(ProducerRecord::new(&topic, v.clone()))
                    .await
                    .unwrap(),
            );
        }
        let mut offsets = Vec::new();
        for f in fs {
            let md = within(60, "delivery", f).await.unwrap();
            assert_eq!(md.partition, 0);
            offsets.push(md.offset);
        }
        p.close(Duration::from_secs(10)).await.unwrap();
        if acks == "0" {
            assert_eq!(offsets, vec![-1; N], "acks=0 has no offsets");
        } else {
            assert_eq!(offsets, (0..N as i64).collect::<Vec<_>>(), "acks={acks}");
        }
        // acks=0 gets no acknowledgement: read until the broker has every record (bounded).
        let deadline = Instant::now() + Duration::from_secs(30);
        let batches = loop {
            let batches = read_batches(&bs, &topic, 0).await;
            let n: usize = batches.iter().map(|b| b.records.len()).sum();
            if n >= N || Instant::now() > deadline {
                break batches;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let stored: Vec<(i64, String)> = batches
            .iter()
            .flat_map(|b| &b.records)
            .map(|r| (r.offset, text(&r.value)))
            .collect();
        let expected: Vec<(i64, String)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64, v.clone()))
            .collect();
        assert_eq!(stored, expected, "acks={acks}: each record once, in order");
        if acks == "all" {
            let pid = batches[0].producer_id;
            assert!(pid >= 0, "acks=all is idempotent by default");
            for b in &batches {
                assert_eq!(b.producer_id, pid);
                assert_eq!(
                    i64::from(b.base_sequence),
                    b.base_offset,
                    "sequences count from 0 with the offsets"
                );
            }
        } else {
            for b in &batches {
                assert_eq!(
                    (b.producer_id, b.base_sequence),
                    (-1, -1),
                    "acks={acks}: idempotence left at its default turns itself off"
                );
            }
        }
    }
    cluster.stop().await;
}

/// For each `compression.type` the stored batches carry that codec in their attributes, are
/// much smaller than the same records stored uncompressed, and read back intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_type_really_compresses_the_stored_batches() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    const N: usize = 2000;
    let mut stored_bytes = Vec::new();
    for (codec, id) in [
        ("none", 0),
        ("gzip", 1),
        ("snappy", 2),
        ("lz4", 3),
        ("zstd", 4),
    ] {
        let topic = unique_topic(&format!("compress-{codec}"));
        cluster.create_topic(&topic, 1, &[]).await;
        let p = producer(&bs, &[("compression.type", codec), ("linger.ms", "20")]).await;
        // Compressible: each value repeats a phrase; keys repeat too.
        let values: Vec<String> = (0..N)
            .map(|i| format!("{i:06} {}", "the quick brown fox jumps over ".repeat(4)))
            .collect();
        let mut fs = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let r = ProducerRecord::new(&topic, v.clone()).with_key(format!("key-{}", i % 7));
            fs.push(p.send(r).await.unwrap());
        }
        for (i, f) in fs.into_iter().enumerate() {
            let md = within(60, "delivery", f).await.unwrap();
            assert_eq!(md.offset, i as i64, "{codec}");
        }
        p.close(Duration::from_secs(10)).await.unwrap();
        let batches = read_batches(&bs, &topic, 0).await;
        assert!(!batches.is_empty());
        for b in &batches {
            assert_eq!(
                b.codec(),
                id,
                "{codec}: batch at {} is stored",
                b.base_offset
            );
        }
        let got: Vec<(i64, String, String)> = batches
            .iter()
            .flat_map(|b| &b.records)
            .map(|r| (r.offset, text(&r.key), text(&r.value)))
            .collect();
        let expected: Vec<(i64, String, String)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64, format!("key-{}", i % 7), v.clone()))
            .collect();
        assert_eq!(got, expected, "{codec}: records intact");
        let size: usize = batches.iter().map(|b| b.size_bytes).sum();
        stored_bytes.push((codec, size));
    }
    println!("stored bytes per codec: {stored_bytes:?}");
    let plain = stored_bytes[0].1;
    for &(codec, size) in &stored_bytes[1..] {
        // Each codec shrinks these records at least 5 times (measured: snappy 9x, zstd 25x).
        assert!(
            size * 5 < plain,
            "{codec}: {size} bytes stored against {plain} uncompressed"
        );
    }
    cluster.stop().await;
}

/// A record over `max.request.size` is refused by `send` (RecordTooLarge, code 10); one under
/// it but over the topic's `max.message.bytes` is refused by the broker with
/// MESSAGE_TOO_LARGE (10), and nothing of it is stored: the next record takes offset 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_records_fail_with_message_too_large() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("oversize");
    cluster
        .create_topic(&topic, 1, &[("max.message.bytes", "2000")])
        .await;

    let p = producer(&bs, &[("max.request.size", "1000")]).await;
    let err = p
        .send(ProducerRecord::new(&topic, "x".repeat(2000)))
        .await
        .err()
        .expect("send refuses a record over max.request.size");
    assert!(
        matches!(
            err,
            KafkaError::RecordTooLarge {
                limit_name: "max.request.size",
                limit: 1000,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.code(), Some(10));
    p.close(Duration::from_secs(10)).await.unwrap();

    // Not idempotent: a refused batch must not hold the partition (see producer_faults.rs for
    // the idempotent case).
    let p = producer(&bs, &[("acks", "1"), ("linger.ms", "0")]).await;
    let refused = p
        .send(ProducerRecord::new(&topic, "y".repeat(5000)))
        .await
        .expect("under max.request.size: send accepts it");
    let err = within(60, "the refused record", refused)
        .await
        .expect_err("over the topic's max.message.bytes");
    assert!(
        matches!(
            err,
            KafkaError::Broker {
                code: 10,
                name: "MESSAGE_TOO_LARGE",
                partition: Some(0),
                ..
            }
        ),
        "{err}"
    );
    let small = p
        .send(ProducerRecord::new(&topic, "small".to_string()))
        .await
        .unwrap();
    let md = within(60, "the small record", small).await.unwrap();
    assert_eq!(
        (md.partition, md.offset),
        (0, 0),
        "nothing of the refused one was stored"
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    let stored: Vec<String> = stored_values(&bs, &topic, 0).await;
    assert_eq!(stored, vec!["small"]);
    cluster.stop().await;
}

/// A partition the topic does not have fails with UNKNOWN_TOPIC_OR_PARTITION (3); a topic
/// whose name Kafka forbids fails at once with INVALID_TOPIC_EXCEPTION (17), as the Java
/// producer's `send` throws InvalidTopicException. On the dev broker a second broker with
/// `auto.create.topics.enable=false` checks that a missing topic fails with 3 after
/// `max.block.ms` (a real Kafka's broker setting is not ours to change: it auto-creates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topics_and_partitions_fail_with_kafka_codes() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("known");
    cluster.create_topic(&topic, 1, &[]).await;
    let p = producer(&bs, &[("max.block.ms", "20000")]).await;
    let err = p
        .send(ProducerRecord::new(&topic, "v".to_string()).with_partition(7))
        .await
        .err()
        .expect("partition 7 of a 1-partition topic");
    assert_eq!(err.code(), Some(3), "{err}");

    let illegal = format!("{}!", unique_topic("illegal"));
    let started = Instant::now();
    let err = p
        .send(ProducerRecord::new(&illegal, "v".to_string()))
        .await
        .err()
        .expect("a topic that cannot exist");
    assert_eq!(err.code(), Some(17), "INVALID_TOPIC_EXCEPTION: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "not retriable: no wait for max.block.ms ({:?})",
        started.elapsed()
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;

    if krafty_tests::external_bootstrap().is_some() {
        println!("the missing-topic case needs auto.create.topics.enable=false: dev broker only");
        return;
    }
    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .config("auto.create.topics.enable", "false")
        .start()
        .await
        .unwrap();
    let p = producer(&broker.bootstrap_servers(), &[("max.block.ms", "300")]).await;
    let started = Instant::now();
    let err = p
        .send(ProducerRecord::new("missing", "v".to_string()))
        .await
        .err()
        .expect("a missing topic the broker does not create");
    assert_eq!(err.code(), Some(3), "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited max.block.ms"
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    broker.shutdown().await;
}

/// `send_all` reports every record it enqueued, with its exact offset, and stops at the first
/// record it cannot enqueue, returning its index and error: the records after it are not sent
/// and not reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_all_reports_each_record_and_stops_at_the_first_it_cannot_enqueue() {
    let cluster = TestCluster::start(2).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("bulk");
    cluster.create_topic(&topic, 2, &[]).await;
    let p = producer(&bs, &[]).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let records: Vec<_> = (0..100)
        .map(|i| ProducerRecord::new(&topic, format!("v{i}")).with_partition(1))
        .chain([ProducerRecord::new(&topic, "late".to_string()).with_partition(9)])
        .chain([ProducerRecord::new(&topic, "never".to_string()).with_partition(0)])
        .collect();
    let err = p
        .send_all(records, move |i, r| tx.send((i, r)).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.0, 100,
        "the record for partition 9 is the first refused"
    );
    assert_eq!(
        err.1.code(),
        Some(3),
        "UNKNOWN_TOPIC_OR_PARTITION: {}",
        err.1
    );
    let mut outcomes = Vec::new();
    while outcomes.len() < 100 {
        let next = within(60, "send_all outcome", rx.recv()).await;
        outcomes.push(next.expect("an outcome for each enqueued record"));
    }
    p.flush_within(Duration::from_secs(30)).await.unwrap();
    outcomes.sort_by_key(|(i, _)| *i);
    for (i, r) in outcomes {
        let md = r.unwrap();
        assert_eq!((md.partition, md.offset), (1, i as i64), "record {i}");
    }
    // The callback (and its channel end) is dropped once every enqueued record reported.
    assert!(
        matches!(
            rx.try_recv(),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected)
        ),
        "no outcome for the refused record nor for the one after it"
    );
    let values: Vec<String> = stored_values(&bs, &topic, 1).await;
    assert_eq!(
        values,
        (0..100).map(|i| format!("v{i}")).collect::<Vec<_>>()
    );
    assert!(
        read_all(&bs, &topic, 0).await.is_empty(),
        "`never` was not sent"
    );

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let ok = p
        .send_all(
            vec![ProducerRecord::new(&topic, "x".to_string()).with_partition(0)],
            move |i, r| tx.send((i, r)).unwrap(),
        )
        .await;
    assert_eq!(ok.unwrap(), 1);
    let (i, r) = within(60, "send_all outcome", rx.recv()).await.unwrap();
    let md = r.unwrap();
    assert_eq!((i, md.partition, md.offset), (0, 0, 0));
    p.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}

/// `try_send_and_then` (the bindings' per-record path) enqueues in place when nothing must
/// wait, and hands the callback back untouched when the send would wait: metadata missing, or
/// interceptors to run. The records it enqueued land exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_send_and_then_enqueues_in_place_or_hands_the_callback_back() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("try-send");
    cluster.create_topic(&topic, 1, &[]).await;
    let p = producer(&bs, &[]).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let callback = |i: usize| -> krafty::producer::OwnedDelivery {
        let tx = tx.clone();
        Box::new(move |r| tx.send((i, r)).unwrap())
    };

    // Metadata for a topic it never sent to is missing: the callback comes back unused.
    let first = ProducerRecord::new(&topic, "v0".to_string());
    let back = p.try_send_and_then(&first, callback(0)).unwrap();
    let back = back.expect("metadata missing: handed back");
    p.send_and_then(first, back).await.unwrap();
    // Now the topic is known: the rest go in place.
    for i in 1..50 {
        let r = ProducerRecord::new(&topic, format!("v{i}")).with_key(format!("k{i}"));
        assert!(
            p.try_send_and_then(&r, callback(i)).unwrap().is_none(),
            "record {i} enqueued in place"
        );
    }
    let mut outcomes = Vec::new();
    for _ in 0..50 {
        let (i, r) = within(60, "delivery", rx.recv()).await.unwrap();
        outcomes.push((i, r.unwrap().offset));
    }
    outcomes.sort();
    assert_eq!(
        outcomes,
        (0..50).map(|i| (i, i as i64)).collect::<Vec<_>>(),
        "each callback once, each record at its own offset, in send order"
    );
    let values: Vec<String> = stored_values(&bs, &topic, 0).await;
    assert_eq!(values, (0..50).map(|i| format!("v{i}")).collect::<Vec<_>>());
    // A refused record is an error, as from send_and_then.
    let out_of_range = ProducerRecord::new(&topic, "x".to_string()).with_partition(7);
    match p.try_send_and_then(&out_of_range, callback(99)) {
        Err(KafkaError::Broker { code, .. }) => assert_eq!(code, 3, "UNKNOWN_TOPIC_OR_PARTITION"),
        other => panic!(
            "expected UNKNOWN_TOPIC_OR_PARTITION, got {:?}",
            other.map(|b| b.is_some())
        ),
    }
    p.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}

/// Runs on both brokers. Records sent with a token report to the producer's one
/// `DeliverySink`, once per batch: every token exactly once, each at its own offset in send
/// order, a refused batch with the broker's error (MESSAGE_TOO_LARGE over the topic's
/// `max.message.bytes`). Sending with a token needs a sink, and a sink is set once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_sink_gets_each_tokens_outcome_once_per_batch() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("sink");
    cluster
        .create_topic(&topic, 2, &[("max.message.bytes", "2000")])
        .await;
    let p = producer(&bs, &[("linger.ms", "20"), ("acks", "1")]).await;
    let first = ProducerRecord::new(&topic, "v0".to_string()).with_partition(0);
    match p.try_send_to_sink(&first, 0) {
        Err(KafkaError::IllegalState(_)) => {}
        other => panic!("expected IllegalState without a sink, got {other:?}"),
    }
    let sink = Arc::new(CollectingSink::default());
    p.set_delivery_sink(sink.clone()).unwrap();
    assert!(matches!(
        p.set_delivery_sink(Arc::new(CollectingSink::default())),
        Err(KafkaError::IllegalState(_))
    ));

    // The first send finds no metadata: try_send_to_sink says so, send_to_sink waits for it.
    assert!(!p.try_send_to_sink(&first, 0).unwrap());
    p.send_to_sink(first, 0).await.unwrap();
    for token in 1..200u64 {
        let r = ProducerRecord::new(&topic, format!("v{token}")).with_partition((token % 2) as i32);
        assert!(
            p.try_send_to_sink(&r, token).unwrap(),
            "record {token} in place"
        );
    }
    // Over max.message.bytes, under max.request.size: the broker refuses its batch.
    let big = ProducerRecord::new(&topic, "x".repeat(5000)).with_partition(1);
    within(60, "flush", p.flush()).await.unwrap();
    assert!(p.try_send_to_sink(&big, 999).unwrap());
    within(60, "flush", p.flush()).await.unwrap();

    let got = sink.records.lock().unwrap().clone();
    assert_eq!(got.len(), 201, "every token reported: {got:?}");
    let mut tokens: Vec<u64> = got.iter().map(|r| r.0).collect();
    tokens.sort();
    let mut expected: Vec<u64> = (0..200).collect();
    expected.push(999);
    assert_eq!(tokens, expected, "each token exactly once");
    for partition in 0..2 {
        let offsets: Vec<(u64, i64)> = got
            .iter()
            .filter(|r| r.1 == partition && r.0 != 999)
            .map(|r| (r.0, r.2))
            .collect();
        let mut by_token = offsets.clone();
        by_token.sort();
        assert_eq!(
            by_token.iter().map(|r| r.1).collect::<Vec<_>>(),
            (0..100).collect::<Vec<i64>>(),
            "partition {partition}: offsets 0..100 in send order"
        );
        assert!(got.iter().all(|r| r.0 == 999 || r.3.is_none()));
    }
    let refused = got.iter().find(|r| r.0 == 999).unwrap();
    assert_eq!(
        (refused.1, refused.2, refused.3),
        (1, -1, Some(10)),
        "MESSAGE_TOO_LARGE"
    );
    let batches = sink.batches.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        batches < 201,
        "one call per batch, not per record ({batches} calls)"
    );
    let values: Vec<String> = stored_values(&bs, &topic, 0).await;
    assert_eq!(
        values,
        (0..200)
            .step_by(2)
            .map(|i| format!("v{i}"))
            .collect::<Vec<_>>()
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}
