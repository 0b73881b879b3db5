//! Producer interceptors: `on_send` may replace the record, `on_acknowledgement` sees every
//! outcome, and an interceptor that panics does not fail the send. Against whichever cluster
//! `TestCluster` picks (the dev broker, or a real Kafka with `KRAFTY_TEST_BOOTSTRAP`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use krafty::producer::{
    KafkaProducer, ProducerConfig, ProducerInterceptor, ProducerRecord, RecordMetadata,
};
use krafty::serialization::StringSerde;
use krafty::KafkaError;
use krafty_tests::{read_all, unique_topic, within, TestCluster};

/// What `on_acknowledgement` saw: (topic, partition, offset), or the error's code.
type Outcome = Result<(String, i32, i64), i16>;

/// A stored record: offset, value, headers.
type StoredRecord<'a> = (i64, &'a [u8], Vec<(&'a str, &'a [u8])>);

#[derive(Default)]
struct Audit {
    acks: Mutex<Vec<Outcome>>,
    closed: Mutex<bool>,
}

struct Tagging(Arc<Audit>);

impl ProducerInterceptor<String, String> for Tagging {
    fn on_send(
        &self,
        record: &ProducerRecord<String, String>,
    ) -> Option<ProducerRecord<String, String>> {
        let mut r = record.clone();
        r.value = r.value.map(|v| format!("{v}!"));
        Some(r.with_header("audited", "yes"))
    }
    fn on_acknowledgement(&self, result: Result<&RecordMetadata, &KafkaError>) {
        self.0.acks.lock().unwrap().push(
            result
                .map(|m| (m.topic.clone(), m.partition, m.offset))
                .map_err(|e| e.code().unwrap_or(-1)),
        );
    }
    fn close(&self) {
        *self.0.closed.lock().unwrap() = true;
    }
}

struct Panicky;

impl ProducerInterceptor<String, String> for Panicky {
    fn on_send(
        &self,
        _record: &ProducerRecord<String, String>,
    ) -> Option<ProducerRecord<String, String>> {
        panic!("a buggy interceptor");
    }
}

async fn audited_producer(bootstrap: &str, audit: &Arc<Audit>) -> KafkaProducer<String, String> {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap),
        ("max.block.ms", "10000"),
        ("max.request.size", "10000"),
    ])
    .unwrap();
    let interceptors: Vec<Arc<dyn ProducerInterceptor<String, String>>> =
        vec![Arc::new(Panicky), Arc::new(Tagging(audit.clone()))];
    KafkaProducer::with_interceptors(config, StringSerde, StringSerde, interceptors)
        .await
        .unwrap()
}

/// Successes and the failures a broker reports reach `on_acknowledgement` before the record's
/// future completes: a record over the topic's `max.message.bytes` (MESSAGE_TOO_LARGE, 10, on
/// both brokers) and, on the dev broker, an injected INVALID_RECORD (87).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptors_replace_records_and_see_every_outcome() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("audited");
    let limited = unique_topic("audited-limited");
    cluster.create_topic(&topic, 1, &[]).await;
    cluster
        .create_topic(&limited, 1, &[("max.message.bytes", "2000")])
        .await;
    let audit = Arc::new(Audit::default());
    let p = audited_producer(&bs, &audit).await;
    let mut expected: Vec<Outcome> = Vec::new();
    for i in 0..3 {
        let f = p
            .send(ProducerRecord::new(&topic, format!("v{i}")))
            .await
            .unwrap();
        let md = within(60, "delivery", f).await.unwrap();
        expected.push(Ok((topic.clone(), 0, i)));
        assert_eq!(md.offset, i);
        assert_eq!(
            *audit.acks.lock().unwrap(),
            expected,
            "told before the future"
        );
    }

    // Over the other topic's max.message.bytes: the broker refuses it.
    let f = p
        .send(ProducerRecord::new(&limited, "x".repeat(5000)))
        .await
        .unwrap();
    let err = within(60, "delivery", f).await.unwrap_err();
    assert_eq!(err.code(), Some(10), "{err}");
    expected.push(Err(10));
    assert_eq!(*audit.acks.lock().unwrap(), expected);

    if let Some(faults) = cluster.faults() {
        // A failure the broker reports (INVALID_RECORD, not retriable) reaches it too.
        faults.fail_next(0, 87, 1, Some(&topic), None);
        let f = p
            .send(ProducerRecord::new(&topic, "bad".to_string()))
            .await
            .unwrap();
        let err = within(60, "delivery", f).await.unwrap_err();
        assert_eq!(err.code(), Some(87), "{err}");
        assert_eq!((faults.errors_fired(), faults.errors_pending()), (1, 0));
        expected.push(Err(87));
    }
    p.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!(*audit.acks.lock().unwrap(), expected);
    assert!(
        *audit.closed.lock().unwrap(),
        "close reached the interceptor"
    );

    let stored = read_all(&bs, &topic, 0).await;
    let got: Vec<StoredRecord> = stored
        .iter()
        .map(|r| {
            let headers = r
                .headers
                .iter()
                .map(|h| (h.key.as_str(), h.value.as_deref().unwrap()))
                .collect();
            (r.offset, r.value.as_deref().unwrap(), headers)
        })
        .collect();
    let audited = vec![("audited", &b"yes"[..])];
    assert_eq!(
        got,
        vec![
            (0, &b"v0!"[..], audited.clone()),
            (1, b"v1!", audited.clone()),
            (2, b"v2!", audited)
        ],
        "the panicking interceptor was skipped, the tagging one replaced each record"
    );
    assert!(read_all(&bs, &limited, 0).await.is_empty());
    cluster.stop().await;
}

/// A record that `send` itself refuses is an outcome too: the Java producer hands it to
/// `onAcknowledgement` (`ProducerInterceptors.onSendError`, "we notify interceptor about all
/// exceptions"), as the trait's doc promises ("Sees every outcome").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptors_see_the_records_send_refuses() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("audited-refused");
    cluster.create_topic(&topic, 1, &[]).await;
    let audit = Arc::new(Audit::default());
    let p = audited_producer(&bs, &audit).await;
    let err = p
        .send(ProducerRecord::new(&topic, "x".repeat(20_000)))
        .await
        .err()
        .expect("over max.request.size");
    assert_eq!(err.code(), Some(10), "{err}");
    let err = p
        .send(ProducerRecord::new(&topic, "v".to_string()).with_partition(5))
        .await
        .err()
        .expect("a partition the topic does not have");
    assert_eq!(err.code(), Some(3), "{err}");
    p.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!(*audit.acks.lock().unwrap(), vec![Err(10), Err(3)]);
    cluster.stop().await;
}
