//! Producer interceptors, as the Java client has them.
//!
//! `on_send` runs on the caller's thread before serialization and may replace the record;
//! `on_acknowledgement` runs on the client's background task for every outcome. A panic in an
//! interceptor is logged and ignored: it never fails the send (as Java logs and continues).

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::record::{ProducerRecord, RecordMetadata};
use crate::error::KafkaError;

pub trait ProducerInterceptor<K, V>: Send + Sync {
    /// May return a replacement for the record (`None` keeps it).
    fn on_send(&self, _record: &ProducerRecord<K, V>) -> Option<ProducerRecord<K, V>> {
        None
    }

    /// Sees every outcome: the metadata on success, the error otherwise.
    fn on_acknowledgement(&self, _result: Result<&RecordMetadata, &KafkaError>) {}

    fn close(&self) {}
}

/// Runs `f`, logging (not propagating) a panic from user code.
pub(crate) fn guarded<T>(what: &str, default: impl FnOnce() -> T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            tracing::warn!("producer interceptor {what} panicked; continuing");
            default()
        }
    }
}
