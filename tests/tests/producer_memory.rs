//! Producer memory under a stopped broker: `buffer.memory` is the true bound of what the
//! producer holds. Its own test binary: peak RSS is the process's, so nothing else may run
//! beside it.
//!
//! Runs on both brokers: the broker becomes unreachable (a [`Proxy`] in front of it stops
//! forwarding, as a SIGSTOPped broker would: connections open, nothing answered), and the
//! producer keeps sending 100-byte records until `buffer.memory` is full.

use std::time::{Duration, Instant};

use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::KafkaError;
use krafty_tests::proxy::Proxy;
use krafty_tests::{unique_topic, TestCluster};

const MIB: usize = 1 << 20;
const BUFFER_MEMORY: usize = 32 * MIB;

/// A line of /proc/self/status in bytes (VmRSS: resident now; VmHWM: the peak).
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_rss_with_the_broker_unreachable_stays_within_buffer_memory() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("memory");
    cluster.create_topic(&topic, 3, &[]).await;
    let proxy = Proxy::start(cluster.bootstrap()).await;
    let buffer_memory = BUFFER_MEMORY.to_string();
    let p: KafkaProducer<String, String> = KafkaProducer::new(
        ProducerConfig::from_properties([
            ("bootstrap.servers", proxy.bootstrap.as_str()),
            ("buffer.memory", buffer_memory.as_str()),
            ("max.block.ms", "500"),
            ("delivery.timeout.ms", "300000"),
            ("request.timeout.ms", "120000"),
        ])
        .unwrap(),
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    for partition in 0..3 {
        let first = p
            .send(ProducerRecord::new(&topic, "first".to_string()).with_partition(partition))
            .await
            .unwrap();
        assert_eq!(first.await.unwrap().offset, 0);
    }
    proxy.blackhole();
    let rss_before = status_bytes("VmRSS:");
    let value = "v".repeat(100);
    let mut accepted = 0usize;
    let started = Instant::now();
    let err = loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "buffer.memory never filled: {accepted} records accepted"
        );
        match p.send(ProducerRecord::new(&topic, value.clone())).await {
            // The futures are dropped: the producer alone holds the records.
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, KafkaError::Timeout(ref m) if m.contains("buffer.memory")),
        "a full buffer, not another failure: {err}"
    );
    let rss_full = status_bytes("VmRSS:");
    let peak = status_bytes("VmHWM:");
    let available = p.metrics().buffer_available_bytes as usize;
    eprintln!(
        "accepted {accepted} records; RSS {} MiB before, {} MiB full, peak {} MiB; {available} bytes of buffer.memory left",
        rss_before / MIB,
        rss_full / MIB,
        peak / MIB
    );
    assert!(
        available < 2 * MIB,
        "send blocked because buffer.memory was used up: {available} bytes left"
    );
    assert!(
        peak <= BUFFER_MEMORY + 64 * MIB,
        "peak RSS {} MiB is over buffer.memory (32 MiB) + 64 MiB",
        peak / MIB
    );
    assert!(
        rss_full.saturating_sub(rss_before) >= BUFFER_MEMORY / 2,
        "what buffer.memory counts is really allocated: RSS grew {} MiB while it filled",
        rss_full.saturating_sub(rss_before) / MIB
    );
    assert!(
        accepted * 100 >= BUFFER_MEMORY / 5,
        "the records' bytes are a fair part of what is counted: {accepted} records"
    );
    // Nothing can be delivered: close gives up on the records and returns.
    let closed = tokio::time::timeout(Duration::from_secs(30), p.close(Duration::ZERO)).await;
    assert!(closed.is_ok(), "close returned");
    drop(proxy);
    cluster.stop().await;
}
