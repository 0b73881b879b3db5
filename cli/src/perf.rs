//! `krafty perf produce|consume`: throughput and latency, shaped like Kafka's perf-test tools.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use krafty::consumer::{ConsumerConfig, KafkaConsumer};
use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::BytesSerde;
use krafty::TopicPartition;

use crate::{CliResult, ClientArgs};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Like kafka-producer-perf-test.
    Produce {
        #[arg(long)]
        topic: String,
        #[arg(long = "num-records", default_value_t = 1_000_000)]
        num_records: u64,
        #[arg(long = "record-size", default_value_t = 100)]
        record_size: usize,
        /// Records per second to aim for (-1: as fast as possible).
        #[arg(long, default_value_t = -1)]
        throughput: i64,
        /// Start an in-process dev broker for the run instead of using --bootstrap-server.
        #[arg(long)]
        embedded: bool,
    },
    /// Like kafka-consumer-perf-test.
    Consume {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Consume in this group (default: assign every partition, from the beginning).
        #[arg(long)]
        group: Option<String>,
        #[arg(long, default_value_t = 60_000)]
        timeout_ms: u64,
    },
}

/// `perf produce` times the latency of one record in this many.
const LATENCY_SAMPLE: u64 = 16;

/// Send-to-acknowledgement latencies (µs) in log-linear buckets, 16 per power of two: a
/// percentile is within 1/16 of the true value, and recording one is an atomic add (no
/// per-record allocation, lock or final sort to weigh on the producer being measured).
struct Latencies {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Latencies {
    fn new() -> Latencies {
        Latencies {
            buckets: (0..62 * 16).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    fn index(micros: u64) -> usize {
        if micros < 16 {
            return micros as usize;
        }
        let exp = 63 - micros.leading_zeros() as usize; // >= 4
        (exp - 3) * 16 + ((micros >> (exp - 4)) as usize - 16)
    }

    /// The smallest latency a bucket holds (µs).
    fn lower_bound(index: usize) -> u64 {
        let (group, sub) = (index / 16, (index % 16) as u64);
        if group == 0 {
            sub
        } else {
            (16 + sub) << (group - 1)
        }
    }

    fn record(&self, micros: u64) {
        self.buckets[Self::index(micros)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(micros, Ordering::Relaxed);
        self.max.fetch_max(micros, Ordering::Relaxed);
    }

    fn avg_ms(&self) -> f64 {
        let n = self.count.load(Ordering::Relaxed).max(1);
        self.sum.load(Ordering::Relaxed) as f64 / n as f64 / 1000.0
    }

    fn max_ms(&self) -> f64 {
        self.max.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// The `p` quantile (ms).
    fn percentile(&self, p: f64) -> f64 {
        let n = self.count.load(Ordering::Relaxed);
        let rank = ((n as f64 * p).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return Self::lower_bound(i) as f64 / 1000.0;
            }
        }
        self.max_ms()
    }
}

pub async fn run(client: &ClientArgs, command: Command) -> CliResult {
    match command {
        Command::Produce {
            topic,
            num_records,
            record_size,
            throughput,
            embedded,
        } => {
            let mut client = client.clone();
            let broker = if embedded {
                let b = krafty_broker::Broker::builder()
                    .listen("127.0.0.1:0")
                    .start()
                    .await
                    .map_err(|e| e.to_string())?;
                client.bootstrap_server = b.bootstrap_servers();
                Some(b)
            } else {
                None
            };
            let props = crate::props::client_properties(&client, &[])?;
            let config = ProducerConfig::from_properties(props).map_err(|e| e.to_string())?;
            let producer: KafkaProducer<Bytes, Bytes> =
                KafkaProducer::new(config, BytesSerde, BytesSerde)
                    .await
                    .map_err(|e| e.to_string())?;
            let payload = Bytes::from(
                (0..record_size)
                    .map(|i| b'a' + (i % 26) as u8)
                    .collect::<Vec<u8>>(),
            );
            let latencies = Arc::new(Latencies::new());
            let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let start = Instant::now();
            let mut last_report = Instant::now();
            let mut window_start = (Instant::now(), 0u64);
            for i in 0..num_records {
                if throughput > 0 {
                    let due = start + Duration::from_secs_f64(i as f64 / throughput as f64);
                    if due > Instant::now() {
                        tokio::time::sleep_until(due.into()).await;
                    }
                }
                // One record in LATENCY_SAMPLE has its latency timed (a clock read at each end):
                // the tool's own work per record stays small beside the client's, as in the
                // native peers it is compared with, which time none.
                let sent = (i % LATENCY_SAMPLE == 0).then(Instant::now);
                let (lat, errs) = (latencies.clone(), errors.clone());
                producer
                    .send_and_then(
                        ProducerRecord {
                            topic: topic.clone(),
                            partition: None,
                            timestamp: None,
                            key: None,
                            value: Some(payload.clone()),
                            headers: vec![],
                        },
                        move |r| match r {
                            Ok(_) => {
                                if let Some(sent) = sent {
                                    lat.record(sent.elapsed().as_micros() as u64)
                                }
                            }
                            Err(_) => {
                                errs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        },
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if i % 1024 == 0 && last_report.elapsed() > Duration::from_secs(5) {
                    let n = i - window_start.1;
                    let secs = window_start.0.elapsed().as_secs_f64();
                    eprintln!(
                        "{n} records sent, {:.1} records/sec ({:.2} MB/sec).",
                        n as f64 / secs,
                        n as f64 * record_size as f64 / secs / 1048576.0
                    );
                    last_report = Instant::now();
                    window_start = (Instant::now(), i);
                }
            }
            producer.flush().await.map_err(|e| e.to_string())?;
            let elapsed = start.elapsed().as_secs_f64();
            producer
                .close(Duration::from_secs(30))
                .await
                .map_err(|e| e.to_string())?;
            let lat = &latencies;
            println!(
                "{num_records} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {:.0} ms 50th, {:.0} ms 95th, {:.0} ms 99th, {:.0} ms 99.9th.",
                num_records as f64 / elapsed,
                num_records as f64 * record_size as f64 / elapsed / 1048576.0,
                lat.avg_ms(),
                lat.max_ms(),
                lat.percentile(0.5),
                lat.percentile(0.95),
                lat.percentile(0.99),
                lat.percentile(0.999),
            );
            if let Some(b) = broker {
                b.shutdown().await;
            }
            let errors = errors.load(std::sync::atomic::Ordering::Relaxed);
            if errors > 0 {
                return Err(format!("{errors} records failed"));
            }
            Ok(())
        }
        Command::Consume {
            topic,
            messages,
            group,
            timeout_ms,
        } => {
            let mut extra = vec![
                ("auto.offset.reset", "earliest".to_string()),
                ("enable.auto.commit", "false".to_string()),
            ];
            if let Some(g) = &group {
                extra.push(("group.id", g.clone()));
            }
            let props = crate::props::client_properties(client, &extra)?;
            let config = ConsumerConfig::from_properties(props).map_err(|e| e.to_string())?;
            let consumer: KafkaConsumer<Option<Bytes>, Option<Bytes>> =
                KafkaConsumer::new(config, BytesSerde, BytesSerde)
                    .await
                    .map_err(|e| e.to_string())?;
            if group.is_some() {
                consumer
                    .subscribe(&[topic.as_str()], None)
                    .await
                    .map_err(|e| e.to_string())?;
            } else {
                let admin = crate::props::admin(client).await?;
                let t = admin
                    .describe_topics(&[topic.as_str()])
                    .await
                    .map_err(|e| e.to_string())?
                    .remove(0);
                admin.close().await;
                let tps: Vec<TopicPartition> = t
                    .partitions
                    .iter()
                    .map(|p| TopicPartition::new(&topic, p.partition))
                    .collect();
                consumer.assign(&tps).await.map_err(|e| e.to_string())?;
            }
            let start = Instant::now();
            let (mut n, mut bytes) = (0u64, 0u64);
            let mut last = Instant::now();
            while n < messages && last.elapsed() < Duration::from_millis(timeout_ms) {
                let records = consumer
                    .poll(Duration::from_millis(500))
                    .await
                    .map_err(|e| e.to_string())?;
                if !records.is_empty() {
                    last = Instant::now();
                }
                for r in &records {
                    n += 1;
                    bytes +=
                        r.serialized_value_size.max(0) as u64 + r.serialized_key_size.max(0) as u64;
                }
            }
            let secs = start.elapsed().as_secs_f64();
            consumer.close().await.map_err(|e| e.to_string())?;
            println!("data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec");
            println!(
                "{:.4}, {:.4}, {n}, {:.4}",
                bytes as f64 / 1048576.0,
                bytes as f64 / 1048576.0 / secs,
                n as f64 / secs
            );
            if n < messages {
                return Err(format!(
                    "consumed {n} of {messages} records before the timeout"
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Latencies;

    #[test]
    fn latency_buckets_cover_every_value_and_percentiles_are_within_a_sixteenth() {
        for v in [
            0u64,
            1,
            15,
            16,
            17,
            31,
            32,
            1000,
            123_456,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let i = Latencies::index(v);
            assert!(Latencies::lower_bound(i) <= v, "{v}");
            assert!(v - Latencies::lower_bound(i) <= v / 16, "{v}");
        }
        let l = Latencies::new();
        for v in 1..=1000 {
            l.record(v * 1000);
        }
        let p50 = l.percentile(0.5);
        assert!((p50 - 500.0).abs() <= 500.0 / 16.0, "{p50}");
        assert_eq!(l.max_ms(), 1000.0);
        assert!((l.avg_ms() - 500.5).abs() < 1e-9);
    }
}
