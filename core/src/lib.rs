//! Krafty: a Kafka client with the Java client's semantics.
//!
//! See `ARCHITECTURE.md` for how a record flows from [`producer::KafkaProducer::send`] to the
//! broker's log and back to [`consumer::KafkaConsumer::poll`].

pub mod config;
pub mod error;
mod error_codes;
pub mod network;
pub mod runtime;

pub use error::{KafkaError, Result};
