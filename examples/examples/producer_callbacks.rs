//! A producer with delivery callbacks: each record's outcome is reported as it is acknowledged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .config("num.partitions", "3")
        .start()
        .await?;
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [
            ("bootstrap.servers", broker.bootstrap_servers().as_str()),
            ("compression.type", "lz4"),
        ],
        StringSerde,
        StringSerde,
    )
    .await?;
    let delivered = Arc::new(AtomicUsize::new(0));
    for i in 0..100 {
        let delivered = delivered.clone();
        let record = ProducerRecord::new("payments", format!("payment {i}"))
            .with_key(format!("account-{}", i % 7));
        producer
            .send_with_callback(record, move |outcome| match outcome {
                Ok(md) => {
                    if delivered.fetch_add(1, Ordering::Relaxed).is_multiple_of(25) {
                        println!(
                            "delivered to {}-{} at offset {}",
                            md.topic, md.partition, md.offset
                        );
                    }
                }
                Err(e) => eprintln!("delivery failed: {e} (code {:?})", e.code()),
            })
            .await?;
    }
    producer.flush().await?;
    let m = producer.metrics();
    println!(
        "{} delivered; {} records acknowledged, avg request latency {:.2} ms",
        delivered.load(Ordering::Relaxed),
        m.record_send_total,
        m.request_latency_avg_ms
    );
    producer.close(Duration::from_secs(5)).await?;
    broker.shutdown().await;
    assert_eq!(delivered.load(Ordering::Relaxed), 100);
    Ok(())
}
