//! Krafty: a Kafka client with the Java client's semantics.
//!
//! See `ARCHITECTURE.md` for how a record flows from `KafkaProducer::send` to the broker's log
//! and back to `KafkaConsumer::poll`.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod error;
mod error_codes;
pub mod network;
pub mod producer;
pub mod record;
pub mod runtime;
pub mod serialization;
pub mod topic_partition;

pub use error::{KafkaError, Result};
pub use topic_partition::TopicPartition;
