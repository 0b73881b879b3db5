//! Core errors to JS errors.
//!
//! napi errors carry only a message, so the message is `KRAFTY_ERROR` followed by the core
//! error's fields as JSON; `lib/errors.js` parses it into a `KraftyError` with `code` (Kafka's
//! numeric code, or a negative local one), `type` (Kafka's error name) and `retriable`.

use krafty::KafkaError;

/// The prefix `lib/errors.js` recognises.
pub const PREFIX: &str = "KRAFTY_ERROR";

/// Kafka's code and name for a core error; errors with no Kafka code get a negative local one.
fn code_and_type(e: &KafkaError) -> (i32, &'static str) {
    match e {
        KafkaError::Broker { code, name, .. } => (i32::from(*code), name),
        KafkaError::RecordTooLarge { .. } => (10, "MESSAGE_TOO_LARGE"),
        KafkaError::Timeout(_) => (7, "REQUEST_TIMED_OUT"),
        KafkaError::Network { .. } => (-1, "NETWORK_ERROR"),
        KafkaError::Config { .. } => (-2, "INVALID_CONFIG"),
        KafkaError::Closed => (-3, "CLIENT_CLOSED"),
        KafkaError::IllegalState(_) => (-4, "ILLEGAL_STATE"),
        KafkaError::Protocol(_) => (-5, "PROTOCOL_ERROR"),
        KafkaError::Serialization(_) => (-6, "SERIALIZATION_ERROR"),
        KafkaError::Fatal(_) => (-7, "FATAL"),
        KafkaError::Tls { .. } => (-8, "TLS_ERROR"),
        KafkaError::Wakeup => (-9, "WAKEUP"),
        _ => (-10, "UNKNOWN_CLIENT_ERROR"),
    }
}

/// The JS error for a core error.
pub fn to_napi(e: &KafkaError) -> napi::Error {
    let (code, kind) = code_and_type(e);
    let (topic, partition, property) = match e {
        KafkaError::Broker {
            topic, partition, ..
        } => (topic.clone(), *partition, None),
        KafkaError::Config { property, .. } => (None, None, Some(property.clone())),
        _ => (None, None, None),
    };
    let fields = serde_json::json!({
        "message": e.to_string(),
        "code": code,
        "type": kind,
        "retriable": e.is_retriable(),
        "fatal": e.is_fatal(),
        "topic": topic,
        "partition": partition,
        "property": property,
    });
    napi::Error::from_reason(format!("{PREFIX}{fields}"))
}

/// A JS argument that is not what the API takes (a local error, not a Kafka one).
pub fn invalid_arg(message: impl Into<String>) -> napi::Error {
    napi::Error::new(napi::Status::InvalidArg, message.into())
}
