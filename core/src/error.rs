//! Errors returned by the client.
//!
//! Every failure a user can act on is a variant of [`KafkaError`]. Broker errors keep Kafka's
//! numeric error code (see the protocol guide's error table) so that callers, and the Python,
//! Node and C bindings, can match on the same codes the Java client exposes.

use kafka_protocol::error::ResponseError;

/// Result alias used throughout the crate.
pub type Result<T, E = KafkaError> = std::result::Result<T, E>;

/// A Kafka client error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// A configuration property is unknown or has an invalid value.
    #[error("invalid configuration `{property}`: {reason}")]
    Config { property: String, reason: String },

    /// The broker answered with a Kafka error code.
    #[error("broker error {code} ({name}){}", context_suffix(.topic, .partition, .message))]
    Broker {
        /// Kafka's numeric error code (e.g. 3 = UNKNOWN_TOPIC_OR_PARTITION).
        code: i16,
        /// Kafka's name for the code, e.g. `UNKNOWN_TOPIC_OR_PARTITION`.
        name: &'static str,
        topic: Option<String>,
        partition: Option<i32>,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },

    /// A record is larger than `max.request.size` or `buffer.memory` (Kafka's RecordTooLargeException).
    #[error("record of {size} bytes exceeds {limit_name} ({limit} bytes)")]
    RecordTooLarge {
        size: usize,
        limit: usize,
        limit_name: &'static str,
    },

    /// The operation did not finish in time (`max.block.ms`, `delivery.timeout.ms`, a poll or commit timeout).
    #[error("timed out: {0}")]
    Timeout(String),

    /// Connecting to or talking with a broker failed.
    #[error("network error talking to {broker}: {reason}")]
    Network { broker: String, reason: String },

    /// TLS with a broker failed for a reason retrying cannot fix: its certificate is not
    /// trusted or not valid for the name connected to, or it refused the client's certificate
    /// (Java's SslAuthenticationException). Not retriable.
    #[error("TLS with broker {broker} failed: {reason}")]
    Tls { broker: String, reason: String },

    /// A protocol-level problem: a response that does not decode, a version no one supports.
    #[error("protocol error: {0}")]
    Protocol(String),

    /// Serializing or deserializing a key or value failed.
    #[error("serialization error: {0}")]
    Serialization(String),

    /// The client was closed.
    #[error("client is closed")]
    Closed,

    /// A blocking call was interrupted by `wakeup()`.
    #[error("wakeup was called")]
    Wakeup,

    /// The API was used in a way Kafka forbids (e.g. committing a partition not assigned).
    #[error("illegal state: {0}")]
    IllegalState(String),

    /// A fatal error: the client cannot continue (e.g. the producer was fenced).
    #[error("fatal error: {0}")]
    Fatal(String),
}

fn context_suffix(
    topic: &Option<String>,
    partition: &Option<i32>,
    message: &Option<String>,
) -> String {
    let mut s = String::new();
    if let Some(t) = topic {
        s.push_str(&format!(" on {t}"));
        if let Some(p) = partition {
            s.push_str(&format!("-{p}"));
        }
    }
    if let Some(m) = message {
        s.push_str(&format!(": {m}"));
    }
    s
}

impl KafkaError {
    /// Builds a broker error from a Kafka error code.
    pub fn broker(code: i16) -> Self {
        KafkaError::Broker {
            code,
            name: error_name(code),
            topic: None,
            partition: None,
            message: None,
        }
    }

    /// Builds a broker error for one topic partition.
    pub fn broker_for(code: i16, topic: &str, partition: i32) -> Self {
        KafkaError::Broker {
            code,
            name: error_name(code),
            topic: Some(topic.to_string()),
            partition: Some(partition),
            message: None,
        }
    }

    /// Kafka's error code, when this error came from a broker (or maps to one).
    pub fn code(&self) -> Option<i16> {
        match self {
            KafkaError::Broker { code, .. } => Some(*code),
            KafkaError::RecordTooLarge { .. } => Some(10), // MESSAGE_TOO_LARGE
            KafkaError::Timeout(_) => Some(7),             // REQUEST_TIMED_OUT
            _ => None,
        }
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            KafkaError::Broker { code, .. } => {
                ResponseError::try_from_code(*code).is_some_and(|e| e.is_retriable())
            }
            KafkaError::Network { .. } | KafkaError::Timeout(_) => true,
            _ => false,
        }
    }

    /// Whether the client can no longer be used: closed, failed for good, or a transactional
    /// producer fenced by a newer instance (PRODUCER_FENCED).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            KafkaError::Fatal(_) | KafkaError::Closed | KafkaError::Broker { code: 90, .. }
        )
    }

    pub(crate) fn config(property: &str, reason: impl Into<String>) -> Self {
        KafkaError::Config {
            property: property.to_string(),
            reason: reason.into(),
        }
    }
}

/// Kafka's upper-snake-case name for an error code, as the Java client prints it.
pub fn error_name(code: i16) -> &'static str {
    if code == 0 {
        return "NONE";
    }
    crate::error_codes::ERROR_NAMES
        .binary_search_by_key(&code, |(c, _)| *c)
        .map(|i| crate::error_codes::ERROR_NAMES[i].1)
        .unwrap_or("UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_error_carries_code_name_and_retriability() {
        let e = KafkaError::broker_for(6, "orders", 2);
        assert_eq!(e.code(), Some(6));
        assert!(e.is_retriable());
        let text = e.to_string();
        assert!(text.contains("NOT_LEADER_OR_FOLLOWER"), "{text}");
        assert!(text.contains("orders-2"), "{text}");
        assert!(!KafkaError::broker(87).is_retriable()); // INVALID_RECORD
    }
}
