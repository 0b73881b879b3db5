//! librdkafka, driven natively through the `rdkafka` crate, as a benchmark peer for
//! bench/native.sh. Prints the same result lines as `krafty perf produce|consume`.
//!
//!   rdkafka-peer produce BOOTSTRAP TOPIC RECORDS RECORD_SIZE [KEY=VALUE ...]
//!   rdkafka-peer consume BOOTSTRAP TOPIC RECORDS [KEY=VALUE ...]
//!
//! KEY=VALUE pairs are librdkafka properties set on top of librdkafka's defaults.
//! Any delivery error, or fewer records consumed than asked for, fails the run (exit 1).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Counts delivery reports (librdkafka calls `delivery` from `BaseProducer::poll`) and
/// prints librdkafka's log lines (`debug=...` turns on more) to stderr.
struct Counting {
    start: Instant,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Default for Counting {
    fn default() -> Self {
        Counting {
            start: Instant::now(),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Default::default(),
        }
    }
}

impl ClientContext for Counting {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        eprintln!("{ms:9.1} ms librdkafka {level:?} {fac}: {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        eprintln!("{ms:9.1} ms librdkafka error {error}: {reason}");
    }
}

impl ConsumerContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                    *self.first_error.lock().unwrap() = Some(e.to_string());
                }
            }
        }
    }
}

fn config(bootstrap: &str, props: &[String]) -> Result<ClientConfig, String> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    for p in props {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("expected KEY=VALUE, got {p:?}"))?;
        c.set(k, v);
    }
    Ok(c)
}

fn num(s: &str, what: &str) -> Result<u64, String> {
    s.parse()
        .map_err(|_| format!("{what}: not a number: {s:?}"))
}

fn produce(
    bootstrap: &str,
    topic: &str,
    records: u64,
    size: usize,
    props: &[String],
) -> Result<(), String> {
    let producer: BaseProducer<Counting> = config(bootstrap, props)?
        .create_with_context(Counting::default())
        .map_err(|e| e.to_string())?;
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let deadline = Instant::now() + Duration::from_secs(600);
    let start = Instant::now();
    for _ in 0..records {
        let mut record = BaseRecord::<(), [u8]>::to(topic).payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                // The local queue (queue.buffering.max.*) is full: serve delivery reports.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(1));
                    if Instant::now() > deadline {
                        return Err("queue stayed full for 600 s".into());
                    }
                }
                Err((e, _)) => return Err(format!("send: {e}")),
            }
        }
        // Serve delivery reports as they come (what librdkafka's own rdkafka_performance does).
        producer.poll(Duration::ZERO);
    }
    // Flush: wait until every record has its delivery report. (Producer::flush polls in
    // 100 ms slices, which would add up to 100 ms to a run.)
    while producer.in_flight_count() > 0 {
        producer.poll(Duration::from_millis(1));
        if Instant::now() > deadline {
            return Err(format!(
                "{} records still in flight after 600 s",
                producer.in_flight_count()
            ));
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .map_err(|e| format!("flush: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    let ctx = producer.context();
    let (ok, failed) = (
        ctx.delivered.load(Ordering::Relaxed),
        ctx.failed.load(Ordering::Relaxed),
    );
    println!(
        "{records} records sent, {:.1} records/sec ({:.2} MB/sec).",
        records as f64 / secs,
        records as f64 * size as f64 / secs / 1048576.0
    );
    if failed > 0 || ok != records {
        let first = ctx.first_error.lock().unwrap().clone().unwrap_or_default();
        return Err(format!(
            "{ok} delivered, {failed} failed (first error: {first})"
        ));
    }
    Ok(())
}

fn consume(bootstrap: &str, topic: &str, records: u64, props: &[String]) -> Result<(), String> {
    let mut c = config(bootstrap, props)?;
    // librdkafka's assign() needs a group.id even without subscribe(): nothing joins the
    // group and nothing is committed.
    if c.get("group.id").is_none() {
        c.set("group.id", "rdkafka-peer");
    }
    let consumer: BaseConsumer<Counting> = c
        .set("enable.auto.commit", "false")
        .create_with_context(Counting::default())
        .map_err(|e| e.to_string())?;
    // Learn the partitions and their leaders first, as `krafty perf consume` does before its clock
    // starts: assigned before its leader is known, librdkafka retries the offset lookup only
    // 500 ms later.
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .map_err(|e| format!("metadata: {e}"))?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(format!("topic {topic} has no partitions"));
    }
    let start = Instant::now();
    // Every partition, from the beginning.
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut last = Instant::now();
    while n < records && last.elapsed() < Duration::from_secs(60) {
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Ok(m)) => {
                if n == 0 {
                    eprintln!(
                        "first record after {:.1} ms",
                        start.elapsed().as_secs_f64() * 1000.0
                    );
                }
                n += 1;
                bytes += (m.payload_len() + m.key().map_or(0, <[u8]>::len)) as u64;
                last = Instant::now();
            }
            Some(Err(e)) => return Err(format!("consume: {e}")),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec");
    println!(
        "{:.4}, {:.4}, {n}, {:.4}",
        bytes as f64 / 1048576.0,
        bytes as f64 / 1048576.0 / secs,
        n as f64 / secs
    );
    if n < records {
        return Err(format!(
            "consumed {n} of {records} records before the 60 s idle timeout"
        ));
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let usage =
        "usage: rdkafka-peer produce BOOTSTRAP TOPIC RECORDS RECORD_SIZE [KEY=VALUE ...]\n       \
                 rdkafka-peer consume BOOTSTRAP TOPIC RECORDS [KEY=VALUE ...]";
    eprintln!("librdkafka {}", rdkafka::util::get_rdkafka_version().1);
    match args {
        [cmd, b, t, n, s, props @ ..] if cmd == "produce" => produce(
            b,
            t,
            num(n, "RECORDS")?,
            num(s, "RECORD_SIZE")? as usize,
            props,
        ),
        [cmd, b, t, n, props @ ..] if cmd == "consume" => consume(b, t, num(n, "RECORDS")?, props),
        _ => Err(usage.into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdkafka-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
