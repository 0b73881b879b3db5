//! Producer metrics: counters updated on the send path, read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    pub records_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub uncompressed_bytes: AtomicU64,
    pub batches_sent: AtomicU64,
    pub retries: AtomicU64,
    pub errors: AtomicU64,
    pub requests: AtomicU64,
    pub request_latency_us_total: AtomicU64,
    pub request_latency_us_max: AtomicU64,
    /// Produce responses read, and the throttle times (KIP-219) they carried.
    pub produce_responses: AtomicU64,
    pub throttle_time_ms_total: AtomicU64,
    pub throttle_time_ms_max: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            records_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            uncompressed_bytes: AtomicU64::new(0),
            batches_sent: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            request_latency_us_total: AtomicU64::new(0),
            request_latency_us_max: AtomicU64::new(0),
            produce_responses: AtomicU64::new(0),
            throttle_time_ms_total: AtomicU64::new(0),
            throttle_time_ms_max: AtomicU64::new(0),
        }
    }
}

/// A point-in-time view of the producer's metrics (names follow the Java client's).
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerMetrics {
    pub record_send_total: u64,
    pub record_send_rate: f64,
    pub byte_total: u64,
    pub byte_rate: f64,
    pub batch_size_avg: f64,
    pub compression_rate_avg: f64,
    pub record_retry_total: u64,
    pub record_error_total: u64,
    pub request_latency_avg_ms: f64,
    pub request_latency_max_ms: f64,
    /// `produce-throttle-time-avg`: the mean throttle time of the Produce responses (0 for
    /// one not throttled).
    pub produce_throttle_time_avg_ms: f64,
    /// `produce-throttle-time-max`: the longest throttle time a Produce response carried.
    pub produce_throttle_time_max_ms: f64,
    pub buffer_available_bytes: u64,
    /// The producer's connections: created, re-authenticated.
    pub connections: crate::network::ConnectionMetrics,
}

impl Metrics {
    pub fn request_done(&self, latency: std::time::Duration) {
        let us = latency.as_micros() as u64;
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.request_latency_us_total
            .fetch_add(us, Ordering::Relaxed);
        self.request_latency_us_max.fetch_max(us, Ordering::Relaxed);
    }

    /// A Produce response's `throttle_time_ms` (0 when not throttled), as Java records it.
    pub fn produce_throttled(&self, throttle_time_ms: i32) {
        let ms = throttle_time_ms.max(0) as u64;
        self.produce_responses.fetch_add(1, Ordering::Relaxed);
        self.throttle_time_ms_total.fetch_add(ms, Ordering::Relaxed);
        self.throttle_time_ms_max.fetch_max(ms, Ordering::Relaxed);
    }

    pub fn snapshot(
        &self,
        buffer_available: usize,
        connections: crate::network::ConnectionMetrics,
    ) -> ProducerMetrics {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (records, bytes, batches, raw) = (
            get(&self.records_sent),
            get(&self.bytes_sent),
            get(&self.batches_sent),
            get(&self.uncompressed_bytes),
        );
        let requests = get(&self.requests);
        let produce_responses = get(&self.produce_responses);
        ProducerMetrics {
            record_send_total: records,
            record_send_rate: records as f64 / secs,
            byte_total: bytes,
            byte_rate: bytes as f64 / secs,
            batch_size_avg: if batches > 0 {
                bytes as f64 / batches as f64
            } else {
                0.0
            },
            compression_rate_avg: if raw > 0 {
                bytes as f64 / raw as f64
            } else {
                1.0
            },
            record_retry_total: get(&self.retries),
            record_error_total: get(&self.errors),
            request_latency_avg_ms: if requests > 0 {
                get(&self.request_latency_us_total) as f64 / requests as f64 / 1000.0
            } else {
                0.0
            },
            request_latency_max_ms: get(&self.request_latency_us_max) as f64 / 1000.0,
            produce_throttle_time_avg_ms: if produce_responses > 0 {
                get(&self.throttle_time_ms_total) as f64 / produce_responses as f64
            } else {
                0.0
            },
            produce_throttle_time_max_ms: get(&self.throttle_time_ms_max) as f64,
            buffer_available_bytes: buffer_available as u64,
            connections,
        }
    }
}
