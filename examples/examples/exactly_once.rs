//! Exactly-once consume-transform-produce: records of `orders` are read by a consumer group,
//! transformed, and written to `invoices` in transactions that also commit the group's
//! offsets, so each input record's output appears once, even across a crash and restart.
//!
//! `cargo run -p krafty-examples --example exactly_once` runs it on an embedded dev broker (its
//! transaction coordinator); `KRAFTY_BOOTSTRAP=127.0.0.1:19092` points it at a cluster instead
//! (`scripts/kafka.sh start` gives an Apache Kafka). It checks its own result with a
//! `read_committed` consumer and exits non-zero if any record is missing or duplicated.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use krafty::admin::{AdminClient, NewTopic};
use krafty::consumer::{KafkaConsumer, OffsetAndMetadata};
use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;

const RECORDS: usize = 1000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = match std::env::var("KRAFTY_BOOTSTRAP") {
        Ok(_) => None,
        Err(_) => Some(
            krafty_broker::Broker::builder()
                .listen("127.0.0.1:0")
                .start()
                .await?,
        ),
    };
    let bs = match &broker {
        Some(b) => b.bootstrap_servers(),
        None => std::env::var("KRAFTY_BOOTSTRAP")?,
    };
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let (input, output) = (format!("orders-{run}"), format!("invoices-{run}"));
    let admin = AdminClient::from_properties([("bootstrap.servers", bs.as_str())]).await?;
    admin
        .create_topics(&[NewTopic::new(&input, 2, 1), NewTopic::new(&output, 2, 1)])
        .await?;
    admin.close().await;

    let seed: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str())],
        StringSerde,
        StringSerde,
    )
    .await?;
    for i in 0..RECORDS {
        seed.send(
            ProducerRecord::new(input.clone(), format!("order {i}")).with_key(format!("{i}")),
        )
        .await?;
    }
    seed.close(Duration::from_secs(10)).await?;

    // The copier: a group member and a transactional producer whose id is stable across
    // restarts of this process (a restarted copier fences the one it replaces).
    let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bs.as_str()),
            ("group.id", &format!("invoicer-{run}")),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("isolation.level", "read_committed"),
        ],
        StringSerde,
        StringSerde,
    )
    .await?;
    consumer.subscribe(&[input.as_str()], None).await?;
    let producer = KafkaProducer::new(
        ProducerConfig::from_properties([
            ("bootstrap.servers", bs.as_str()),
            ("transactional.id", &format!("invoicer-{run}")),
        ])?,
        StringSerde,
        StringSerde,
    )
    .await?;
    producer.init_transactions().await?;

    let mut copied = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while copied < RECORDS && Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(500)).await?;
        if records.is_empty() {
            continue;
        }
        producer.begin_transaction()?;
        let mut next: BTreeMap<TopicPartition, OffsetAndMetadata> = BTreeMap::new();
        for r in &records {
            let invoice = r.value.replace("order", "invoice");
            producer
                .send(ProducerRecord::new(output.clone(), invoice).with_key(r.key.clone()))
                .await?;
            next.insert(
                TopicPartition::new(&r.topic, r.partition),
                OffsetAndMetadata::new(r.offset + 1),
            );
        }
        let group = consumer.group_metadata().expect("a group member");
        producer.send_offsets_to_transaction(&next, &group).await?;
        match producer.commit_transaction().await {
            Ok(()) => copied += records.len(),
            Err(e) if e.is_fatal() => return Err(e.into()),
            Err(e) => {
                // Nothing of this transaction counts: abort, and read again from the last
                // committed offsets.
                eprintln!("transaction failed ({e}); aborting and rewinding");
                producer.abort_transaction().await?;
                for (tp, o) in consumer
                    .committed(&next.keys().cloned().collect::<Vec<_>>())
                    .await?
                {
                    consumer.seek(&tp, o.offset).await?;
                }
            }
        }
    }
    producer.close(Duration::from_secs(10)).await?;
    consumer.close().await?;
    println!("copied {copied} records in transactions");

    // Check: every invoice exactly once, as a read_committed consumer sees them.
    let checker: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bs.as_str()),
            ("group.id", &format!("checker-{run}")),
            ("auto.offset.reset", "earliest"),
            ("isolation.level", "read_committed"),
        ],
        StringSerde,
        StringSerde,
    )
    .await?;
    checker.subscribe(&[output.as_str()], None).await?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < RECORDS && Instant::now() < deadline {
        for r in checker.poll(Duration::from_millis(500)).await? {
            *seen.entry(r.value).or_default() += 1;
        }
    }
    checker.close().await?;
    let duplicated = seen.values().filter(|n| **n > 1).count();
    println!(
        "{} distinct invoices of {RECORDS}, {duplicated} duplicated",
        seen.len()
    );
    if seen.len() != RECORDS || duplicated > 0 {
        std::process::exit(1);
    }
    if let Some(b) = broker {
        b.shutdown().await;
    }
    Ok(())
}
