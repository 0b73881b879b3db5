//! Krafty's dev broker: a single-node broker that speaks the Kafka wire protocol.
//!
//! Embed it in a test with [`Broker::builder`], or run the `krafty-broker` binary.

pub mod group;
pub mod log;
