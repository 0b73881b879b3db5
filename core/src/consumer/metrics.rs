//! Consumer metrics: what `poll` handed to the application, counted as it returns, read as a
//! snapshot (`KafkaConsumer::metrics`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub(super) struct Metrics {
    started: Instant,
    records: AtomicU64,
    /// Key and value bytes of those records.
    bytes: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

/// A point-in-time view of the consumer's metrics (names follow the Java client's
/// `consumer-fetch-manager-metrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerMetrics {
    /// `records-consumed-total`: records returned by `poll`.
    pub records_consumed_total: u64,
    /// `records-consumed-rate`: per second since the consumer was created.
    pub records_consumed_rate: f64,
    /// `bytes-consumed-total`: key and value bytes of those records.
    pub bytes_consumed_total: u64,
    /// `bytes-consumed-rate`: per second since the consumer was created.
    pub bytes_consumed_rate: f64,
    /// The consumer's connections: created, re-authenticated.
    pub connections: crate::network::ConnectionMetrics,
}

impl Metrics {
    /// `poll` returned `records` records of `bytes` key and value bytes.
    pub fn consumed(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn snapshot(&self, connections: crate::network::ConnectionMetrics) -> ConsumerMetrics {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let records = self.records.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        ConsumerMetrics {
            records_consumed_total: records,
            records_consumed_rate: records as f64 / secs,
            bytes_consumed_total: bytes,
            bytes_consumed_rate: bytes as f64 / secs,
            connections,
        }
    }
}
