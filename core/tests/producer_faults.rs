//! Producer retries through the dev broker's injected faults, with idempotence on: every
//! acknowledged record is in the log exactly once, in send order.

mod common;

use std::time::Duration;

use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;

async fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> KafkaProducer<String, String> {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("retry.backoff.ms", "20"),
        ("retry.backoff.max.ms", "100"),
    ];
    props.extend_from_slice(extra);
    KafkaProducer::new(
        ProducerConfig::from_properties(props).unwrap(),
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap()
}

/// Sends `n` records to partition 0 and returns their acknowledged offsets.
async fn send_all(p: &KafkaProducer<String, String>, topic: &str, n: usize) -> Vec<i64> {
    let mut fs = Vec::new();
    for i in 0..n {
        fs.push(
            p.send(ProducerRecord::new(topic, format!("r{i}")).with_partition(0))
                .await
                .unwrap(),
        );
    }
    let mut offsets = Vec::new();
    for f in fs {
        offsets.push(f.await.unwrap().offset);
    }
    offsets
}

async fn assert_exactly_once_in_order(bootstrap: &str, topic: &str, n: usize) {
    let stored = common::read_all(bootstrap, topic, 0).await;
    let values: Vec<String> = stored
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    let expected: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    assert_eq!(values, expected, "every record exactly once, in send order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_idempotent_sends_need_no_retries() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let p = producer(&bs, &[("linger.ms", "0"), ("batch.size", "200")]).await;
    let offsets = send_all(&p, "pipelined", 2000).await;
    assert_eq!(offsets, (0..2000).collect::<Vec<i64>>());
    let m = p.metrics();
    assert_eq!(
        m.record_retry_total, 0,
        "requests reached the broker in sequence order"
    );
    assert!(m.request_latency_avg_ms > 0.0);
    p.close(Duration::from_secs(5)).await.unwrap();
    assert_exactly_once_in_order(&bs, "pipelined", 2000).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_leader_errors_are_retried_without_duplicates() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let p = producer(&bs, &[("linger.ms", "1"), ("batch.size", "300")]).await;
    // Warm up (metadata, producer id), then make the next produce requests fail.
    send_all(&p, "leader", 1).await;
    broker.faults().fail_next(0, 6, 3, Some("leader"), Some(0));
    let mut fs = Vec::new();
    for i in 1..500 {
        fs.push(
            p.send(ProducerRecord::new("leader", format!("r{i}")).with_partition(0))
                .await
                .unwrap(),
        );
    }
    for f in fs {
        f.await.unwrap();
    }
    assert!(
        p.metrics().record_retry_total > 0,
        "the injected errors were retried"
    );
    p.close(Duration::from_secs(5)).await.unwrap();
    assert_exactly_once_in_order(&bs, "leader", 500).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_flight_loses_and_duplicates_nothing() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let p = producer(&bs, &[("linger.ms", "1"), ("batch.size", "300")]).await;
    send_all(&p, "dropped", 1).await;
    // The broker appends the next requests, then drops the connection before answering one:
    // the retry of an appended batch must be recognised as a duplicate.
    broker.faults().drop_connection_after(3);
    let mut fs = Vec::new();
    for i in 1..800 {
        fs.push(
            p.send(ProducerRecord::new("dropped", format!("r{i}")).with_partition(0))
                .await
                .unwrap(),
        );
    }
    for f in fs {
        f.await.unwrap();
    }
    p.close(Duration::from_secs(5)).await.unwrap();
    assert_exactly_once_in_order(&bs, "dropped", 800).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_past_delivery_timeout_fails_with_a_timeout_error() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let p = producer(
        &bs,
        &[
            ("delivery.timeout.ms", "1500"),
            ("request.timeout.ms", "1000"),
            ("linger.ms", "0"),
        ],
    )
    .await;
    send_all(&p, "slow", 1).await;
    // Every produce request now takes longer than the request timeout.
    broker.faults().add_latency(0, 3000);
    let err = p
        .send(ProducerRecord::new("slow", "late".to_string()).with_partition(0))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(7), "a timeout error: {err}");
    broker.faults().clear();
    p.close(Duration::from_secs(10)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_full_blocks_then_fails_after_max_block() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let p = producer(
        &bs,
        &[
            ("buffer.memory", "20000"),
            ("max.block.ms", "300"),
            ("linger.ms", "0"),
            ("request.timeout.ms", "5000"),
        ],
    )
    .await;
    send_all(&p, "full", 1).await;
    broker.faults().add_latency(0, 2000);
    let started = std::time::Instant::now();
    let mut err = None;
    for i in 0..100 {
        match p
            .send(ProducerRecord::new("full", format!("{i:0>500}")).with_partition(0))
            .await
        {
            Ok(_) => {}
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("the buffer filled up");
    assert!(err.to_string().contains("buffer.memory"), "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "send blocked for max.block.ms first"
    );
    broker.faults().clear();
    p.close(Duration::from_secs(10)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_producer_id_bumps_the_epoch_and_keeps_order() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let p = producer(&bs, &[("linger.ms", "1"), ("batch.size", "300")]).await;
    send_all(&p, "epoch", 1).await;
    // The broker "forgets" the producer: KIP-360 bumps the epoch and restarts sequences.
    broker.faults().fail_next(0, 59, 1, Some("epoch"), Some(0));
    let mut fs = Vec::new();
    for i in 1..300 {
        fs.push(
            p.send(ProducerRecord::new("epoch", format!("r{i}")).with_partition(0))
                .await
                .unwrap(),
        );
    }
    for f in fs {
        f.await.unwrap();
    }
    p.close(Duration::from_secs(5)).await.unwrap();
    assert_exactly_once_in_order(&bs, "epoch", 300).await;
    let stored = common::read_all(&bs, "epoch", 0).await;
    assert!(!stored.is_empty());
    broker.shutdown().await;
}

/// InitProducerId answered with COORDINATOR_NOT_AVAILABLE is retried: the idempotent producer
/// gets its id and delivers every record once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_producer_id_is_retried_until_the_coordinator_answers() {
    const INIT_PRODUCER_ID: i16 = 22;
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    broker
        .faults()
        .fail_next(INIT_PRODUCER_ID, 15, 2, None, None);
    let p = producer(&bs, &[]).await;
    send_all(&p, "pid", 50).await;
    p.close(Duration::from_secs(5)).await.unwrap();
    assert_exactly_once_in_order(&bs, "pid", 50).await;
    broker.shutdown().await;
}
