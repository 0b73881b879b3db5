//! Producer retries and failures, with idempotence on: every acknowledged record is in the log
//! exactly once, in send order, at the offset its acknowledgement reported.
//!
//! Some faults are the dev broker's injected ones (`TestCluster::faults`): those tests run on
//! the dev broker, return early on a real Kafka (each says so), and assert that their fault
//! fired. The rest run on both brokers: a [`Proxy`] in front of the cluster makes the broker
//! unreachable or loses an answer with its connection, and a topic's `max.message.bytes`
//! makes the broker refuse a record.

use std::time::{Duration, Instant};

use krafty::producer::{DeliveryFuture, KafkaProducer, ProducerRecord};
use krafty::KafkaError;
use krafty_tests::proxy::Proxy;
use krafty_tests::{read_all, read_batches, unique_topic, within, StoredBatch, TestCluster};

const PRODUCE: i16 = 0;
const INIT_PRODUCER_ID: i16 = 22;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const UNKNOWN_PRODUCER_ID: i16 = 59;

/// A producer with short retry backoffs (the faults here are retried many times), `extra` over.
async fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> KafkaProducer<String, String> {
    let fast_retries = [("retry.backoff.ms", "20"), ("retry.backoff.max.ms", "100")];
    krafty_tests::string_producer(bootstrap, &[&fast_retries[..], extra].concat()).await
}

/// Enqueues `r{i}` for each i of `range` to partition 0.
async fn enqueue(
    p: &KafkaProducer<String, String>,
    topic: &str,
    range: std::ops::Range<usize>,
) -> Vec<DeliveryFuture> {
    let mut fs = Vec::new();
    for i in range {
        fs.push(
            p.send(ProducerRecord::new(topic, format!("r{i}")).with_partition(0))
                .await
                .unwrap(),
        );
    }
    fs
}

/// The acknowledged offsets of `fs`, in order (each must succeed within 60 s).
async fn offsets(fs: Vec<DeliveryFuture>) -> Vec<i64> {
    let mut out = Vec::new();
    for f in fs {
        out.push(within(60, "delivery", f).await.unwrap().offset);
    }
    out
}

/// Sends `r{i}` for each i of `range` to partition 0; returns the acknowledged offsets.
async fn send_range(
    p: &KafkaProducer<String, String>,
    topic: &str,
    range: std::ops::Range<usize>,
) -> Vec<i64> {
    offsets(enqueue(p, topic, range).await).await
}

fn dense(range: std::ops::Range<usize>) -> Vec<i64> {
    range.map(|i| i as i64).collect()
}

/// Partition 0 holds exactly `r0..r{n-1}` at offsets 0..n; returns its batches.
async fn assert_exactly_once_in_order(bootstrap: &str, topic: &str, n: usize) -> Vec<StoredBatch> {
    let batches = read_batches(bootstrap, topic, 0).await;
    let stored: Vec<(i64, String)> = batches
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| {
            let v = r.value.as_deref().expect("a value");
            (r.offset, String::from_utf8(v.to_vec()).unwrap())
        })
        .collect();
    let expected: Vec<(i64, String)> = (0..n).map(|i| (i as i64, format!("r{i}"))).collect();
    assert_eq!(stored, expected, "every record exactly once, in send order");
    batches
}

/// One producer id throughout; each epoch's sequences start at 0 and follow the records.
/// Returns the epochs in log order (one entry per run of batches with the same epoch).
fn assert_sequences(batches: &[StoredBatch]) -> Vec<i16> {
    let pid = batches[0].producer_id;
    assert!(pid >= 0, "an idempotent producer's batches carry its id");
    let mut epochs: Vec<i16> = Vec::new();
    let mut next_sequence = 0;
    for b in batches {
        assert_eq!(b.producer_id, pid, "batch at {}", b.base_offset);
        if epochs.last() != Some(&b.producer_epoch) {
            assert!(
                epochs.last().is_none_or(|&e| e < b.producer_epoch),
                "epochs only grow: {epochs:?} then {}",
                b.producer_epoch
            );
            epochs.push(b.producer_epoch);
            next_sequence = 0;
        }
        assert_eq!(
            b.base_sequence, next_sequence,
            "batch at {} (epoch {})",
            b.base_offset, b.producer_epoch
        );
        next_sequence += b.records.len() as i32;
    }
    epochs
}

/// 2,000 records in batches of a few records, five requests in flight: written in sequence
/// order, so the broker never asks for a retry. Runs on both brokers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_idempotent_sends_need_no_retries() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("pipelined");
    cluster.create_topic(&topic, 1, &[]).await;
    let p = producer(&bs, &[("linger.ms", "0"), ("batch.size", "200")]).await;
    assert_eq!(send_range(&p, &topic, 0..2000).await, dense(0..2000));
    let m = p.metrics();
    assert_eq!(
        m.record_retry_total, 0,
        "requests reached the broker in sequence order"
    );
    assert_eq!(m.record_send_total, 2000);
    assert!(m.request_latency_avg_ms > 0.0);
    p.close(Duration::from_secs(10)).await.unwrap();
    let batches = assert_exactly_once_in_order(&bs, &topic, 2000).await;
    assert!(batches.len() > 100, "small batches: {}", batches.len());
    assert_eq!(assert_sequences(&batches).len(), 1, "one epoch");
    cluster.stop().await;
}

/// Dev broker only (injected NOT_LEADER_OR_FOLLOWER; a one-node real Kafka never moves its
/// leader): the errors are retried, nothing is duplicated or reordered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_leader_errors_are_retried_without_duplicates() {
    let cluster = TestCluster::start(1).await;
    let Some(faults) = cluster.faults() else {
        println!("skipped: needs the dev broker's fault injection");
        return;
    };
    let bs = cluster.bootstrap();
    let topic = unique_topic("leader");
    cluster.create_topic(&topic, 1, &[]).await;
    let p = producer(&bs, &[("linger.ms", "1"), ("batch.size", "300")]).await;
    // Warm up (metadata, producer id), then make the next produce requests fail.
    assert_eq!(send_range(&p, &topic, 0..1).await, vec![0]);
    faults.fail_next(PRODUCE, NOT_LEADER_OR_FOLLOWER, 3, Some(&topic), Some(0));
    assert_eq!(send_range(&p, &topic, 1..500).await, dense(1..500));
    assert_eq!((faults.errors_fired(), faults.errors_pending()), (3, 0));
    assert!(
        p.metrics().record_retry_total > 0,
        "the injected errors were retried"
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    let batches = assert_exactly_once_in_order(&bs, &topic, 500).await;
    // A batch pipelined behind a refused one is answered OUT_OF_ORDER_SEQUENCE and retried
    // in order, with no epoch bump (as Java).
    let epochs = assert_sequences(&batches);
    assert_eq!(epochs.len(), 1, "epochs {epochs:?}");
    cluster.stop().await;
}

/// One request in flight, for the tests of a single lost answer: nothing else is pipelined
/// behind the appended batch, so its retry is the partition's next request. Several in flight
/// are what `answers_lost_again_and_again_lose_and_duplicate_nothing` covers (a client bug).
const ONE_IN_FLIGHT: (&str, &str) = ("max.in.flight.requests.per.connection", "1");

/// Dev broker only (it drops a connection after appending a request, before answering): the
/// retry of the appended batch is recognised as a duplicate and acknowledged with its
/// original offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_flight_loses_and_duplicates_nothing() {
    let cluster = TestCluster::start(1).await;
    let Some(faults) = cluster.faults() else {
        println!("skipped: needs the dev broker's fault injection");
        return;
    };
    let bs = cluster.bootstrap();
    let topic = unique_topic("dropped");
    cluster.create_topic(&topic, 1, &[]).await;
    let p = producer(
        &bs,
        &[("linger.ms", "1"), ("batch.size", "300"), ONE_IN_FLIGHT],
    )
    .await;
    assert_eq!(send_range(&p, &topic, 0..1).await, vec![0]);
    faults.drop_connection_after(3);
    assert_eq!(send_range(&p, &topic, 1..800).await, dense(1..800));
    assert_eq!(faults.connections_dropped(), 1, "the fault fired");
    assert!(
        p.metrics().record_retry_total > 0,
        "the lost answer was retried"
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    let batches = assert_exactly_once_in_order(&bs, &topic, 800).await;
    assert_eq!(assert_sequences(&batches).len(), 1);
    cluster.stop().await;
}

/// Runs on both brokers: the [`Proxy`] loses the answer to a produce request that reached the
/// broker and closes its connection. The retry of the appended batch is recognised as a
/// duplicate and acknowledged with its original offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_produce_answer_lost_with_its_connection_is_deduplicated() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("lost-answer");
    cluster.create_topic(&topic, 1, &[]).await;
    let proxy = Proxy::start(cluster.bootstrap()).await;
    let p = producer(
        &proxy.bootstrap,
        &[("linger.ms", "1"), ("batch.size", "300"), ONE_IN_FLIGHT],
    )
    .await;
    assert_eq!(send_range(&p, &topic, 0..1).await, vec![0]);
    assert!(
        proxy.forwarded().contains(&PRODUCE),
        "the client reaches the broker through the proxy"
    );
    proxy.lose_produce_answers(4, 1);
    assert_eq!(send_range(&p, &topic, 1..800).await, dense(1..800));
    assert_eq!(proxy.answers_lost(), 1, "the fault fired");
    assert!(
        p.metrics().record_retry_total > 0,
        "the lost answer was retried"
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    let batches = assert_exactly_once_in_order(&cluster.bootstrap(), &topic, 800).await;
    assert_eq!(assert_sequences(&batches).len(), 1);
    cluster.stop().await;
}

/// Runs on both brokers: the [`Proxy`] loses the answer to every third produce request, 60
/// times, closing the connection (and losing the answers pipelined behind it) while the
/// application keeps sending, five requests in flight. Every record is acknowledged at its
/// offset and stored once, in order.
///
/// Dropped connections lose answers again and again while five requests are in flight: a
/// batch whose answer was lost is resent as it was (same epoch and sequence, so the broker
/// deduplicates it), never re-sequenced under a bumped epoch (which stored it twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_lost_again_and_again_lose_and_duplicate_nothing() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("lost-answers");
    cluster.create_topic(&topic, 1, &[]).await;
    let proxy = Proxy::start(cluster.bootstrap()).await;
    // The request started as its connection closes waits request.timeout.ms: 5 s, not 30.
    let p = producer(
        &proxy.bootstrap,
        &[
            ("linger.ms", "1"),
            ("batch.size", "200"),
            ("request.timeout.ms", "5000"),
        ],
    )
    .await;
    assert_eq!(send_range(&p, &topic, 0..1).await, vec![0]);
    proxy.lose_produce_answers(3, 60);
    let acknowledged = send_range(&p, &topic, 1..3000).await;
    assert_eq!(
        acknowledged,
        dense(1..3000),
        "each record acknowledged at its own offset, in send order"
    );
    assert_eq!(proxy.answers_lost(), 60, "the fault fired 60 times");
    p.close(Duration::from_secs(10)).await.unwrap();
    let batches = assert_exactly_once_in_order(&cluster.bootstrap(), &topic, 3000).await;
    assert_eq!(assert_sequences(&batches).len(), 1);
    cluster.stop().await;
}

/// Dev broker only (injected NOT_ENOUGH_REPLICAS: a one-node Kafka 4.x caps
/// `min.insync.replicas` at the replication factor, so it never answers that): a record whose
/// every attempt fails retriably fails with a timeout error (code 7) at `delivery.timeout.ms`,
/// and is not in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_retried_past_delivery_timeout_fails_with_a_timeout_error() {
    let cluster = TestCluster::start(1).await;
    let Some(faults) = cluster.faults() else {
        println!("skipped: needs the dev broker's fault injection");
        return;
    };
    let bs = cluster.bootstrap();
    let topic = unique_topic("retried");
    cluster.create_topic(&topic, 1, &[]).await;
    faults.fail_next(PRODUCE, NOT_ENOUGH_REPLICAS, 100_000, Some(&topic), None);
    let p = producer(
        &bs,
        &[
            ("delivery.timeout.ms", "3000"),
            ("request.timeout.ms", "1000"),
            ("linger.ms", "0"),
        ],
    )
    .await;
    let started = Instant::now();
    let f = p
        .send(ProducerRecord::new(&topic, "late".to_string()).with_partition(0))
        .await
        .unwrap();
    let err = within(60, "the expiring record", f).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, KafkaError::Timeout(_)), "{err}");
    assert_eq!(err.code(), Some(7));
    assert!(err.to_string().contains("delivery.timeout.ms"), "{err}");
    // Krafty gives up when the next retry would come after the deadline, so up to one
    // backoff (retry.backoff.max.ms, 100 here) before it; Java only once it has passed.
    assert!(
        (Duration::from_millis(2500)..Duration::from_secs(10)).contains(&elapsed),
        "failed after {elapsed:?}, delivery.timeout.ms is 3 s"
    );
    assert!(
        faults.errors_fired() >= 10,
        "retried: {}",
        faults.errors_fired()
    );
    assert!(p.metrics().record_retry_total >= 10);
    faults.clear();
    p.close(Duration::from_secs(10)).await.unwrap();
    assert!(read_all(&bs, &topic, 0).await.is_empty());
    cluster.stop().await;
}

/// Runs on both brokers: the broker becomes unreachable (the [`Proxy`] in front of it stops
/// forwarding: requests go unanswered, new connections get no answer to their handshake). A
/// record sent then fails with a timeout error at `delivery.timeout.ms` and is not in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_for_an_unreachable_broker_fails_at_delivery_timeout() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("unreachable");
    cluster.create_topic(&topic, 1, &[]).await;
    let proxy = Proxy::start(cluster.bootstrap()).await;
    let p = producer(
        &proxy.bootstrap,
        &[
            ("delivery.timeout.ms", "3000"),
            ("request.timeout.ms", "1000"),
            ("linger.ms", "0"),
        ],
    )
    .await;
    assert_eq!(send_range(&p, &topic, 0..1).await, vec![0]);
    assert!(proxy.forwarded().contains(&PRODUCE), "through the proxy");
    proxy.blackhole();
    let started = Instant::now();
    let f = p
        .send(ProducerRecord::new(&topic, "late".to_string()).with_partition(0))
        .await
        .unwrap();
    let err = within(60, "the expiring record", f).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, KafkaError::Timeout(_)), "{err}");
    assert_eq!(err.code(), Some(7));
    assert!(
        (Duration::from_millis(2500)..Duration::from_secs(10)).contains(&elapsed),
        "failed after {elapsed:?}, delivery.timeout.ms is 3 s"
    );
    assert!(
        proxy.swallowed().contains(&PRODUCE),
        "the fault fired: the produce request went unanswered"
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    let stored = read_all(&cluster.bootstrap(), &topic, 0).await;
    let values: Vec<&[u8]> = stored.iter().map(|r| r.value.as_deref().unwrap()).collect();
    assert_eq!(values, vec![&b"r0"[..]], "`late` never reached the broker");
    cluster.stop().await;
}

/// Runs on both brokers: with the broker unreachable (the [`Proxy`] stops forwarding) nothing
/// is acknowledged, so `buffer.memory` fills up; `send` then blocks for `max.block.ms` and
/// fails with a timeout naming `buffer.memory`. Every accepted record then fails at
/// `delivery.timeout.ms`; none is in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_full_blocks_then_fails_after_max_block() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("full");
    cluster.create_topic(&topic, 1, &[]).await;
    let proxy = Proxy::start(cluster.bootstrap()).await;
    let p = producer(
        &proxy.bootstrap,
        &[
            ("buffer.memory", "20000"),
            ("max.block.ms", "300"),
            ("linger.ms", "0"),
            ("request.timeout.ms", "1000"),
            ("delivery.timeout.ms", "3000"),
        ],
    )
    .await;
    assert_eq!(send_range(&p, &topic, 0..1).await, vec![0]);
    proxy.blackhole();
    let value = |i: usize| format!("r{i}:{}", "x".repeat(500));
    let mut accepted = Vec::new();
    let err = loop {
        let i = accepted.len() + 1;
        assert!(
            i < 100,
            "100 records of 500 bytes cannot fit in 20,000 bytes"
        );
        let started = Instant::now();
        match p
            .send(ProducerRecord::new(&topic, value(i)).with_partition(0))
            .await
        {
            Ok(f) => accepted.push(f),
            Err(e) => {
                let blocked = started.elapsed();
                assert!(
                    (Duration::from_millis(300)..Duration::from_secs(10)).contains(&blocked),
                    "send blocked for max.block.ms (300 ms), then failed: {blocked:?}"
                );
                break e;
            }
        }
    };
    assert!(matches!(err, KafkaError::Timeout(_)), "{err}");
    assert!(err.to_string().contains("buffer.memory"), "{err}");
    // A record costs its bytes (about 520) and its bookkeeping (a few hundred) when it shares
    // a batch's buffer, up to its own buffer (twice its size) when it goes out alone.
    assert!(
        (12..=30).contains(&accepted.len()),
        "20,000 bytes hold 12 to 30 such records: {}",
        accepted.len()
    );
    assert!(proxy.swallowed().contains(&PRODUCE), "the fault fired");
    for f in accepted {
        let err = within(60, "an accepted record", f).await.unwrap_err();
        assert!(matches!(err, KafkaError::Timeout(_)), "{err}");
    }
    p.close(Duration::from_secs(10)).await.unwrap();
    let stored = read_all(&cluster.bootstrap(), &topic, 0).await;
    assert_eq!(
        stored.len(),
        1,
        "only the record sent before the broker went away"
    );
    cluster.stop().await;
}

/// Dev broker only (injected UNKNOWN_PRODUCER_ID): the broker "forgets" the producer, KIP-360
/// bumps the epoch (same producer id) and sequences restart at 0; nothing is lost, duplicated
/// or reordered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_producer_id_bumps_the_epoch_and_keeps_order() {
    let cluster = TestCluster::start(1).await;
    let Some(faults) = cluster.faults() else {
        println!("skipped: needs the dev broker's fault injection");
        return;
    };
    let bs = cluster.bootstrap();
    let topic = unique_topic("epoch");
    cluster.create_topic(&topic, 1, &[]).await;
    let p = producer(&bs, &[("linger.ms", "1"), ("batch.size", "300")]).await;
    assert_eq!(send_range(&p, &topic, 0..1).await, vec![0]);
    faults.fail_next(PRODUCE, UNKNOWN_PRODUCER_ID, 1, Some(&topic), Some(0));
    assert_eq!(send_range(&p, &topic, 1..300).await, dense(1..300));
    assert_eq!((faults.errors_fired(), faults.errors_pending()), (1, 0));
    p.close(Duration::from_secs(10)).await.unwrap();
    let batches = assert_exactly_once_in_order(&bs, &topic, 300).await;
    let epochs = assert_sequences(&batches);
    assert_eq!(
        epochs,
        vec![epochs[0], epochs[0] + 1],
        "r0 under the first epoch, the rest under the bumped one"
    );
    assert_eq!(
        batches[0].records.len(),
        1,
        "only the warm-up record before the bump"
    );
    assert_eq!(batches[1].producer_epoch, epochs[0] + 1);
    cluster.stop().await;
}

/// Dev broker only (injected COORDINATOR_NOT_AVAILABLE on InitProducerId): the idempotent
/// producer retries until it gets its id, then delivers every record once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_producer_id_is_retried_until_the_coordinator_answers() {
    let cluster = TestCluster::start(1).await;
    let Some(faults) = cluster.faults() else {
        println!("skipped: needs the dev broker's fault injection");
        return;
    };
    let bs = cluster.bootstrap();
    let topic = unique_topic("pid");
    cluster.create_topic(&topic, 1, &[]).await;
    faults.fail_next(INIT_PRODUCER_ID, COORDINATOR_NOT_AVAILABLE, 2, None, None);
    let p = producer(&bs, &[]).await;
    assert_eq!(send_range(&p, &topic, 0..50).await, dense(0..50));
    assert_eq!((faults.errors_fired(), faults.errors_pending()), (2, 0));
    p.close(Duration::from_secs(10)).await.unwrap();
    let batches = assert_exactly_once_in_order(&bs, &topic, 50).await;
    assert_eq!(assert_sequences(&batches).len(), 1);
    cluster.stop().await;
}

/// Runs on both brokers. An idempotent producer's record refused by the broker
/// (MESSAGE_TOO_LARGE over the topic's `max.message.bytes`) fails alone: the next record to
/// the same partition is delivered, right after the one before it. The refused batch used a
/// sequence number the broker never stored, so the producer must not leave later batches of
/// the partition waiting on it (Java bumps the epoch and restarts the partition's sequences).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_partition_delivers_after_a_refused_record() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("refused");
    cluster
        .create_topic(&topic, 1, &[("max.message.bytes", "2000")])
        .await;
    let p = producer(
        &bs,
        &[
            ("linger.ms", "0"),
            ("request.timeout.ms", "5000"),
            ("delivery.timeout.ms", "15000"),
        ],
    )
    .await;
    let before = p
        .send(ProducerRecord::new(&topic, "before".to_string()).with_partition(0))
        .await
        .unwrap();
    assert_eq!(within(60, "before", before).await.unwrap().offset, 0);
    let big = p
        .send(ProducerRecord::new(&topic, "x".repeat(5000)).with_partition(0))
        .await
        .unwrap();
    let err = within(60, "the refused record", big).await.unwrap_err();
    assert_eq!(err.code(), Some(10), "MESSAGE_TOO_LARGE: {err}");
    let after = p
        .send(ProducerRecord::new(&topic, "after".to_string()).with_partition(0))
        .await
        .unwrap();
    let md = within(60, "after", after).await.unwrap();
    assert_eq!(md.offset, 1, "right after `before`");
    p.close(Duration::from_secs(10)).await.unwrap();
    let values: Vec<Vec<u8>> = read_all(&bs, &topic, 0)
        .await
        .iter()
        .map(|r| r.value.clone().unwrap().to_vec())
        .collect();
    assert_eq!(values, vec![b"before".to_vec(), b"after".to_vec()]);
    cluster.stop().await;
}
