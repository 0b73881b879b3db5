//! A broker that accepts connections and never answers (a blackhole: a hung process, a
//! firewall dropping packets) must not stop the producer's clock: records for it fail by
//! `delivery.timeout.ms`, not after every connection attempt has run out.
//!
//! Dev broker only: it advertises the blackhole's address as its own, so the metadata it
//! serves points the producer there (a real Kafka's advertised listeners are fixed).

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
