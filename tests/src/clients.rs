//! Clients with the suites' settings, shared by the test files.

use krafty::producer::{KafkaProducer, ProducerConfig};
use krafty::serialization::StringSerde;

/// A producer of strings to `bootstrap`, with `extra` properties over Kafka's defaults.
pub async fn string_producer(
    bootstrap: &str,
    extra: &[(&str, &str)],
) -> KafkaProducer<String, String> {
    let mut props = vec![("bootstrap.servers", bootstrap)];
    props.extend_from_slice(extra);
    KafkaProducer::new(
        ProducerConfig::from_properties(props).expect("valid producer settings"),
        StringSerde,
        StringSerde,
    )
    .await
    .expect("a producer connects")
}
