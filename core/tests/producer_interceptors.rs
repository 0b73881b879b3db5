//! Producer interceptors: `on_send` may replace the record, `on_acknowledgement` sees every
//! outcome, and an interceptor that panics does not fail the send.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use krafty::producer::{
    KafkaProducer, ProducerConfig, ProducerInterceptor, ProducerRecord, RecordMetadata,
};
use krafty::serialization::StringSerde;
use krafty::KafkaError;

#[derive(Default)]
struct Audit {
    acks: Mutex<Vec<Result<i64, i16>>>,
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
        self.0
            .acks
            .lock()
            .unwrap()
            .push(result.map(|m| m.offset).map_err(|e| e.code().unwrap_or(-1)));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptors_replace_records_and_see_every_outcome() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let audit = Arc::new(Audit::default());
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bs.as_str()),
        ("max.block.ms", "500"),
    ])
    .unwrap();
    let interceptors: Vec<Arc<dyn ProducerInterceptor<String, String>>> =
        vec![Arc::new(Panicky), Arc::new(Tagging(audit.clone()))];
    let p = KafkaProducer::with_interceptors(config, StringSerde, StringSerde, interceptors)
        .await
        .unwrap();
    for i in 0..3 {
        p.send(ProducerRecord::new("audited", format!("v{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // A failure the broker reports (INVALID_RECORD, not retriable) reaches the interceptor too.
    broker.faults().fail_next(0, 87, 1, Some("audited"), None);
    let err = p
        .send(ProducerRecord::new("audited", "bad".to_string()))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(87));
    p.close(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        *audit.acks.lock().unwrap(),
        vec![Ok(0), Ok(1), Ok(2), Err(87)]
    );
    assert!(*audit.closed.lock().unwrap());
    let stored = common::read_all(&bs, "audited", 0).await;
    let values: Vec<&[u8]> = stored.iter().map(|r| r.value.as_deref().unwrap()).collect();
    assert_eq!(values, vec![&b"v0!"[..], b"v1!", b"v2!"]);
    assert!(stored
        .iter()
        .all(|r| r.headers.iter().any(|h| h.key == "audited")));
    broker.shutdown().await;
}
