//! A broker that stops answering (a hung process, a firewall dropping packets) must not stop
//! the producer's clock: records for it fail by `delivery.timeout.ms` (plus one
//! `request.timeout.ms` for a request already on the wire), not when the broker wakes up.
//!
//! Dev broker only: the first test makes it advertise a blackhole's address as its own (a
//! real Kafka's advertised listeners are fixed), the second injects latency so it stops
//! reading its socket.

use std::time::{Duration, Instant};

use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::KafkaError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_for_a_blackholed_leader_expire_by_delivery_timeout() {
    // Accepts, reads nothing, answers nothing; kept open for the whole test.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole = blackhole.local_addr().unwrap();
    let held: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>> = Default::default();
    std::thread::spawn({
        let held = held.clone();
        move || {
            for s in blackhole.incoming().flatten() {
                held.lock().unwrap().push(s);
            }
        }
    });
    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .config("advertised.listeners", format!("PLAINTEXT://{hole}"))
        .start()
        .await
        .unwrap();
    let bootstrap = broker.local_addr().to_string();
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("linger.ms", "0"),
            ("request.timeout.ms", "5000"),
            ("delivery.timeout.ms", "5000"),
            ("max.block.ms", "20000"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let first = producer
        .send(ProducerRecord::new("blackholed", "first".to_string()))
        .await
        .unwrap();
    // Sent once the sender is busy with the blackhole: it waits in the accumulator, where
    // only the sender's own clock can expire it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = Instant::now();
    let second = producer
        .send(ProducerRecord::new("blackholed", "second".to_string()))
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("an outcome within 60 s");
    let waited = sent.elapsed();
    assert!(
        matches!(outcome, Err(KafkaError::Timeout(_))),
        "a delivery timeout: {outcome:?}"
    );
    assert!(
        waited < Duration::from_secs(9),
        "failed after {waited:?}: delivery.timeout.ms is 5 s"
    );
    let first = tokio::time::timeout(Duration::from_secs(60), first)
        .await
        .expect("an outcome within 60 s");
    assert!(first.is_err(), "{first:?}");
    tokio::time::timeout(
        Duration::from_secs(30),
        producer.close(Duration::from_secs(0)),
    )
    .await
    .expect("close returns")
    .ok();
    broker.shutdown().await;
}

/// A broker that stops reading its socket: the producer's writes block once the socket
/// buffers are full, and only the write timeout (`request.timeout.ms`) frees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_for_a_broker_that_stopped_reading_fail_by_their_timeouts() {
    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    let bootstrap = broker.bootstrap_servers();
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("acks", "1"),
            ("enable.idempotence", "false"),
            ("linger.ms", "500"),
            // Requests far larger than the socket buffers: a write blocks.
            ("batch.size", "16777216"),
            ("max.request.size", "16777216"),
            ("buffer.memory", "104857600"),
            ("request.timeout.ms", "2000"),
            ("delivery.timeout.ms", "4000"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    producer
        .send(ProducerRecord::new("stalled", "warm-up".to_string()))
        .await
        .unwrap()
        .await
        .unwrap();
    // Every Produce now waits 25 s before the broker reads on.
    broker.faults().add_latency(0, 25_000);
    let value = "x".repeat(100_000);
    let mut outcomes = Vec::new();
    let started = Instant::now();
    for _ in 0..400 {
        outcomes.push(
            producer
                .send(ProducerRecord::new("stalled", value.clone()))
                .await
                .unwrap(),
        );
    }
    for outcome in outcomes {
        let outcome = tokio::time::timeout(Duration::from_secs(20), outcome)
            .await
            .expect("every record has an outcome long before the broker reads again");
        assert!(outcome.is_err(), "{outcome:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    tokio::time::timeout(
        Duration::from_secs(30),
        producer.close(Duration::from_secs(0)),
    )
    .await
    .expect("close returns")
    .ok();
    // No graceful shutdown: it would wait for the delayed requests; the runtime's end stops
    // the broker's tasks.
}
