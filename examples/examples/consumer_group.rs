//! A consumer group with a rebalance listener and manual commits after processing.
//!
//! Offsets are committed only after a batch is processed (at-least-once), and again from
//! `on_partitions_revoked`, so a partition moving to another member resumes where this one
//! stopped.

use std::time::Duration;

use krafty::consumer::{ConsumerRebalanceListener, KafkaConsumer, RebalanceContext};
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;

struct CommitOnRevoke;

impl ConsumerRebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        println!("revoked {partitions:?}: committing positions");
        ctx.commit_sync(partitions);
    }
    fn on_partitions_assigned(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        println!("assigned {partitions:?}");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .config("num.partitions", "2")
        .start()
        .await?;
    let bs = broker.bootstrap_servers();
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str())],
        StringSerde,
        StringSerde,
    )
    .await?;
    for i in 0..50 {
        producer
            .send(ProducerRecord::new("events", format!("event {i}")))
            .await?;
    }
    producer.close(Duration::from_secs(5)).await?;

    let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bs.as_str()),
            ("group.id", "processors"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ],
        StringSerde,
        StringSerde,
    )
    .await?;
    consumer
        .subscribe(&["events"], Some(Box::new(CommitOnRevoke)))
        .await?;
    let mut processed = 0;
    while processed < 50 {
        let records = consumer.poll(Duration::from_secs(1)).await?;
        for r in &records {
            // Process the record; only then is its offset committed.
            processed += 1;
            if processed % 10 == 0 {
                println!(
                    "processed {}-{}@{}: {}",
                    r.topic, r.partition, r.offset, r.value
                );
            }
        }
        if !records.is_empty() {
            consumer.commit_sync().await?;
        }
    }
    let committed = consumer
        .committed(&[
            TopicPartition::new("events", 0),
            TopicPartition::new("events", 1),
        ])
        .await?;
    let total: i64 = committed.values().map(|o| o.offset).sum();
    println!("processed {processed}; committed offsets sum to {total}");
    consumer.close().await?;
    broker.shutdown().await;
    assert_eq!(total, 50);
    Ok(())
}
