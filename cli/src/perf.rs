//! `krafty perf produce|consume`: throughput and latency, shaped like Kafka's perf-test tools.

use std::sync::{Arc, Mutex};
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

/// Latency percentiles from a sorted sample (ms).
fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
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
            let latencies = Arc::new(Mutex::new(Vec::with_capacity(num_records as usize)));
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
                let sent = Instant::now();
                let (lat, errs) = (latencies.clone(), errors.clone());
                producer
                    .send_with_callback(
                        ProducerRecord {
                            topic: topic.clone(),
                            partition: None,
                            timestamp: None,
                            key: None,
                            value: Some(payload.clone()),
                            headers: vec![],
                        },
                        move |r| match r {
                            Ok(_) => lat.lock().unwrap().push(sent.elapsed().as_micros() as u32),
                            Err(_) => {
                                errs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        },
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if last_report.elapsed() > Duration::from_secs(5) {
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
            let mut lat = latencies.lock().unwrap().clone();
            lat.sort_unstable();
            let avg = lat.iter().map(|l| *l as f64).sum::<f64>() / lat.len().max(1) as f64 / 1000.0;
            println!(
                "{num_records} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {:.0} ms 50th, {:.0} ms 95th, {:.0} ms 99th, {:.0} ms 99.9th.",
                num_records as f64 / elapsed,
                num_records as f64 * record_size as f64 / elapsed / 1048576.0,
                avg,
                lat.last().copied().unwrap_or(0) as f64 / 1000.0,
                percentile(&lat, 0.5),
                percentile(&lat, 0.95),
                percentile(&lat, 0.99),
                percentile(&lat, 0.999),
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
