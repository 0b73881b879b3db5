//! The delayed queue returns records no earlier than their due time, in order per partition.

use std::time::{Duration, Instant};

use krafty::consumer::KafkaConsumer;
use krafty::producer::KafkaProducer;
use krafty::serialization::StringSerde;
use krafty_examples::delayed_queue::{delay_topic, send_delayed, DelayedConsumer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_come_back_after_their_delay() {
    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    let bs = broker.bootstrap_servers();
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str())],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let (short, long) = (Duration::from_millis(300), Duration::from_millis(1200));
    let sent_at = Instant::now();
    for i in 0..3 {
        send_delayed(&producer, "jobs", short, None, format!("short-{i}"))
            .await
            .unwrap()
            .await
            .unwrap();
        send_delayed(&producer, "jobs", long, None, format!("long-{i}"))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    producer.close(Duration::from_secs(5)).await.unwrap();
    assert_eq!(delay_topic("jobs", short), "jobs.delay-300");
    let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bs.as_str()),
            ("group.id", "delayed"),
            ("auto.offset.reset", "earliest"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let mut delayed = DelayedConsumer::subscribe(consumer, "jobs", &[short, long])
        .await
        .unwrap();
    let mut got: Vec<(String, Duration)> = Vec::new();
    while got.len() < 6 && sent_at.elapsed() < Duration::from_secs(20) {
        for r in delayed.poll(Duration::from_millis(100)).await.unwrap() {
            got.push((r.value, sent_at.elapsed()));
        }
    }
    delayed.commit().await.unwrap();
    delayed.close().await.unwrap();
    assert_eq!(got.len(), 6);
    for (value, at) in &got {
        let delay = if value.starts_with("short") {
            short
        } else {
            long
        };
        assert!(
            *at >= delay,
            "{value} came back after {at:?}, before its {delay:?} delay"
        );
    }
    let shorts: Vec<&str> = got
        .iter()
        .filter(|g| g.0.starts_with("short"))
        .map(|g| g.0.as_str())
        .collect();
    assert_eq!(shorts, ["short-0", "short-1", "short-2"], "in order");
    let first_long = got.iter().position(|g| g.0.starts_with("long")).unwrap();
    assert!(
        got[..first_long].iter().all(|g| g.0.starts_with("short")),
        "short delays are not held behind long ones: {got:?}"
    );
    broker.shutdown().await;
}
