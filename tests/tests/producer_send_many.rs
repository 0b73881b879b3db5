//! `try_send_many_to_sink`, the bindings' `send_batch` path, against whichever cluster
//! `TestCluster` picks (the embedded dev broker, or a real Kafka with
//! `KRAFTY_TEST_BOOTSTRAP`): records land where the partitioner or the call puts them, in
//! order, each token reported once; a record that must wait ends the call's run and the
//! caller sends it on its own; a failing record stops the call at its index.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use krafty::producer::{murmur2_partition, BatchRecord, KafkaProducer, ProducerRecord};
use krafty::KafkaError;
use krafty_tests::{
    read_all, string_producer, unique_topic, within, CollectingSink, TestCluster, Told,
};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn keyless(value: String) -> BatchRecord<String, String> {
    BatchRecord {
        timestamp: None,
        key: None,
        value: Some(value),
        headers: vec![],
    }
}

/// Sends `records` as a binding's `send_batch` does: as many at once as will go, the one
/// that must wait on its own (token = index). Returns how many calls came back short.
async fn send_many(
    p: &KafkaProducer<String, String>,
    topic: &str,
    partition: Option<i32>,
    records: &mut [BatchRecord<String, String>],
) -> usize {
    let (mut sent, mut short) = (0, 0);
    while sent < records.len() {
        sent += p
            .try_send_many_to_sink(topic, partition, &records[sent..], sent as u64)
            .unwrap_or_else(|(i, e)| panic!("record {} failed: {e}", sent + i));
        if let Some(next) = records.get_mut(sent) {
            short += 1;
            let waiting = ProducerRecord {
                topic: topic.to_string(),
                partition,
                timestamp: next.timestamp,
                key: next.key.take(),
                value: next.value.take(),
                headers: std::mem::take(&mut next.headers),
            };
            within(60, "send_to_sink", p.send_to_sink(waiting, sent as u64))
                .await
                .unwrap();
            sent += 1;
        }
    }
    short
}

/// What the sink was told, one entry per token, in token order.
fn by_token(sink: &CollectingSink, n: usize) -> Vec<Told> {
    let mut got = sink.records.lock().unwrap().clone();
    got.sort();
    assert_eq!(
        got.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..n as u64).collect::<Vec<_>>(),
        "each token reported exactly once"
    );
    assert!(got.iter().all(|r| r.3.is_none()), "no record failed");
    got
}

/// Keyless records follow the sticky partitioner across partitions, keyed ones murmur2,
/// mixed in one call; each partition holds its records in call order at offsets 0.., with
/// their own timestamps or the time of the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_land_where_the_partitioner_puts_them_in_order() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("sendmany");
    cluster.create_topic(&topic, 3, &[]).await;
    let p = string_producer(&bs, &[("linger.ms", "5"), ("batch.size", "1024")]).await;
    let sink = Arc::new(CollectingSink::default());
    p.set_delivery_sink(sink.clone()).unwrap();
    let n = 900;
    let mut records: Vec<BatchRecord<String, String>> = (0..n)
        .map(|i| BatchRecord {
            timestamp: (i % 5 == 0).then_some(1_000_000 + i as i64),
            key: (i % 3 == 0).then(|| format!("key-{}", i % 7)),
            ..keyless(format!("value-{i}"))
        })
        .collect();
    let expected = records.clone();
    let before = now_ms();
    let short = send_many(&p, &topic, None, &mut records).await;
    let after = now_ms();
    assert!(
        short <= 1,
        "only a first record waits (for the topic's metadata): {short}"
    );
    within(60, "flush", p.flush()).await.unwrap();

    let got = by_token(&sink, n);
    for (told, record) in got.iter().zip(&expected) {
        if let Some(key) = &record.key {
            assert_eq!(told.1, murmur2_partition(key.as_bytes(), 3), "{record:?}");
        }
    }
    let keyless_partitions: std::collections::BTreeSet<i32> = got
        .iter()
        .zip(&expected)
        .filter(|(_, r)| r.key.is_none())
        .map(|(t, _)| t.1)
        .collect();
    assert!(
        keyless_partitions.len() > 1,
        "sticky partitions move on after batch.size bytes: {keyless_partitions:?}"
    );
    for partition in 0..3 {
        let mine: Vec<(&Told, &BatchRecord<String, String>)> = got
            .iter()
            .zip(&expected)
            .filter(|(t, _)| t.1 == partition)
            .collect();
        assert_eq!(
            mine.iter().map(|(t, _)| t.2).collect::<Vec<_>>(),
            (0..mine.len() as i64).collect::<Vec<_>>(),
            "partition {partition}: offsets in call order"
        );
        let stored = read_all(&bs, &topic, partition).await;
        assert_eq!(stored.len(), mine.len());
        for (s, (_, r)) in stored.iter().zip(&mine) {
            assert_eq!(s.value.as_deref(), r.value.as_deref().map(str::as_bytes));
            assert_eq!(s.key.as_deref(), r.key.as_deref().map(str::as_bytes));
            match r.timestamp {
                Some(t) => assert_eq!(s.timestamp, t),
                None => assert!(
                    (before..=after).contains(&s.timestamp),
                    "{} not in {before}..={after}",
                    s.timestamp
                ),
            }
        }
    }
    p.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}

/// A call stops where `buffer.memory` runs short and holds nothing for the rest: the
/// caller's record waits for room, the calls go on, and every record lands in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_stops_where_memory_runs_short_and_loses_nothing() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("sendmany-mem");
    cluster.create_topic(&topic, 1, &[]).await;
    let memory = 32 * 1024;
    let p = string_producer(
        &bs,
        &[
            ("linger.ms", "5"),
            ("batch.size", "4096"),
            ("buffer.memory", "32768"),
        ],
    )
    .await;
    let sink = Arc::new(CollectingSink::default());
    p.set_delivery_sink(sink.clone()).unwrap();
    let n = 3000;
    let mut records: Vec<_> = (0..n).map(|i| keyless(format!("{i:0>100}"))).collect();
    let short = send_many(&p, &topic, Some(0), &mut records).await;
    assert!(
        short > 1,
        "3000 records of 100 bytes do not fit 32 KiB at once"
    );
    within(60, "flush", p.flush()).await.unwrap();

    let got = by_token(&sink, n);
    assert_eq!(
        got.iter().map(|t| t.2).collect::<Vec<_>>(),
        (0..n as i64).collect::<Vec<_>>(),
        "offsets in call order"
    );
    let stored = read_all(&bs, &topic, 0).await;
    let values: Vec<String> = stored
        .iter()
        .map(|r| String::from_utf8(r.value.as_deref().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(
        values,
        (0..n).map(|i| format!("{i:0>100}")).collect::<Vec<_>>()
    );
    // With everything acknowledged, only reused full-size buffers stay counted: no
    // record's bookkeeping was kept for a record that did not go.
    let held = memory - p.metrics().buffer_available_bytes as usize;
    assert_eq!(held % 4096, 0, "{held} bytes still held");
    p.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}

/// Large records go in steps bounded by their bytes (about three 100 KB records a step):
/// each still lands once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_records_land_in_order_across_steps() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("sendmany-large");
    cluster.create_topic(&topic, 1, &[]).await;
    let p = string_producer(&bs, &[("linger.ms", "5")]).await;
    let sink = Arc::new(CollectingSink::default());
    p.set_delivery_sink(sink.clone()).unwrap();
    let values: Vec<String> = (0..12)
        .map(|i| char::from(b'a' + i as u8).to_string().repeat(100_000))
        .collect();
    let mut records: Vec<_> = values.iter().cloned().map(keyless).collect();
    send_many(&p, &topic, None, &mut records).await;
    within(60, "flush", p.flush()).await.unwrap();
    let got = by_token(&sink, 12);
    assert_eq!(
        got.iter().map(|t| (t.1, t.2)).collect::<Vec<_>>(),
        (0..12).map(|i| (0, i)).collect::<Vec<_>>()
    );
    let stored = read_all(&bs, &topic, 0).await;
    let stored: Vec<&[u8]> = stored.iter().map(|r| r.value.as_deref().unwrap()).collect();
    assert_eq!(
        stored,
        values.iter().map(|v| v.as_bytes()).collect::<Vec<_>>()
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}

/// A call needs a sink; a partition the topic lacks fails the call at record 0 with
/// UNKNOWN_TOPIC_OR_PARTITION; a record over `max.request.size` fails at its index, the
/// records before it sent; a closed producer refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_record_stops_the_call_at_its_index() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("sendmany-err");
    cluster.create_topic(&topic, 2, &[]).await;
    let p = string_producer(&bs, &[("linger.ms", "5"), ("max.request.size", "2000")]).await;
    let mut records: Vec<_> = ["a", "b"].map(|v| keyless(v.to_string())).to_vec();
    match p.try_send_many_to_sink(&topic, Some(0), &records, 0) {
        Err((0, KafkaError::IllegalState(_))) => {}
        other => panic!("expected IllegalState without a sink, got {other:?}"),
    }
    let sink = Arc::new(CollectingSink::default());
    p.set_delivery_sink(sink.clone()).unwrap();
    assert!(send_many(&p, &topic, Some(1), &mut records).await <= 1);

    let more: Vec<_> = ["c", "d"].map(|v| keyless(v.to_string())).to_vec();
    match p.try_send_many_to_sink(&topic, Some(2), &more, 2) {
        Err((0, e)) => assert_eq!(e.code(), Some(3), "{e}"),
        other => panic!("expected UNKNOWN_TOPIC_OR_PARTITION, got {other:?}"),
    }
    let mut failing: Vec<_> = ["c", "d"].map(|v| keyless(v.to_string())).to_vec();
    failing.push(keyless("x".repeat(3000)));
    failing.push(keyless("e".to_string()));
    match p.try_send_many_to_sink(&topic, Some(1), &failing, 2) {
        Err((2, KafkaError::RecordTooLarge { limit: 2000, .. })) => {}
        other => panic!("expected RecordTooLarge at index 2, got {other:?}"),
    }
    within(60, "flush", p.flush()).await.unwrap();
    let got = by_token(&sink, 4);
    assert_eq!(
        got.iter().map(|t| (t.1, t.2)).collect::<Vec<_>>(),
        [(1, 0), (1, 1), (1, 2), (1, 3)]
    );
    let stored = read_all(&bs, &topic, 1).await;
    let values: Vec<&[u8]> = stored.iter().map(|r| r.value.as_deref().unwrap()).collect();
    assert_eq!(values, [b"a", b"b", b"c", b"d"]);

    p.close(Duration::from_secs(10)).await.unwrap();
    match p.try_send_many_to_sink(&topic, Some(1), &more, 9) {
        Err((0, KafkaError::Closed)) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
    cluster.stop().await;
}
