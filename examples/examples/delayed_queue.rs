//! The delayed-queue helper in use: jobs delayed by 1 s and 2 s come back when due.

use std::time::{Duration, Instant};

use krafty::consumer::KafkaConsumer;
use krafty::producer::KafkaProducer;
use krafty::serialization::StringSerde;
use krafty_examples::delayed_queue::{send_delayed, DelayedConsumer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .start()
        .await?;
    let bs = broker.bootstrap_servers();
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str())],
        StringSerde,
        StringSerde,
    )
    .await?;
    let start = Instant::now();
    for (delay, job) in [
        (2, "send reminder"),
        (1, "retry payment"),
        (1, "expire cart"),
    ] {
        send_delayed(
            &producer,
            "jobs",
            Duration::from_secs(delay),
            None,
            job.to_string(),
        )
        .await?
        .await?;
    }
    producer.close(Duration::from_secs(5)).await?;
    let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bs.as_str()),
            ("group.id", "scheduler"),
            ("auto.offset.reset", "earliest"),
        ],
        StringSerde,
        StringSerde,
    )
    .await?;
    let mut delayed = DelayedConsumer::subscribe(
        consumer,
        "jobs",
        &[Duration::from_secs(1), Duration::from_secs(2)],
    )
    .await?;
    let mut done = 0;
    while done < 3 && start.elapsed() < Duration::from_secs(15) {
        for r in delayed.poll(Duration::from_millis(100)).await? {
            println!("{:>6.2?}  {} (from {})", start.elapsed(), r.value, r.topic);
            done += 1;
        }
    }
    delayed.commit().await?;
    delayed.close().await?;
    broker.shutdown().await;
    assert_eq!(done, 3);
    Ok(())
}
