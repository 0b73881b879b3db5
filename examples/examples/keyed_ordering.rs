//! Keyed ordering: records with the same key land on the same partition (Kafka's murmur2, as
//! the Java client computes it) and are read back in the order they were sent.

use std::collections::BTreeMap;
use std::time::Duration;

use krafty::consumer::KafkaConsumer;
use krafty::producer::{murmur2_partition, KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .config("num.partitions", "4")
        .start()
        .await?;
    let bs = broker.bootstrap_servers();
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str())],
        StringSerde,
        StringSerde,
    )
    .await?;
    for step in 0..20 {
        for user in ["ana", "bo", "cy"] {
            producer
                .send(
                    ProducerRecord::new("user-events", format!("{user}:{step}"))
                        .with_key(user.to_string()),
                )
                .await?;
        }
    }
    producer.close(Duration::from_secs(5)).await?;
    let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bs.as_str()),
            ("group.id", "ordering"),
            ("auto.offset.reset", "earliest"),
        ],
        StringSerde,
        StringSerde,
    )
    .await?;
    consumer.subscribe(&["user-events"], None).await?;
    let mut per_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    while per_key.values().map(Vec::len).sum::<usize>() < 60 {
        for r in consumer.poll(Duration::from_secs(1)).await? {
            assert_eq!(
                r.partition,
                murmur2_partition(r.key.as_bytes(), 4),
                "same partition as the Java client"
            );
            let step = r.value.split(':').nth(1).unwrap().parse()?;
            per_key.entry(r.key).or_default().push(step);
        }
    }
    for (key, steps) in &per_key {
        assert_eq!(
            *steps,
            (0..20).collect::<Vec<u32>>(),
            "{key} read in send order"
        );
        println!(
            "{key}: partition {}, 20 events in order",
            murmur2_partition(key.as_bytes(), 4)
        );
    }
    consumer.close().await?;
    broker.shutdown().await;
    Ok(())
}
