//! The v2 record batch format: building batches on the produce path, decoding on the fetch path.

pub mod builder;
pub mod compression;
pub mod decode;
mod varint;

pub use builder::{Append, BatchBuilder};
pub use compression::Compression;
pub use decode::{decode_batches, ConsumerRecordData, DecodeError};

/// A record header: a key and an optional value, as Kafka allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<bytes::Bytes>,
}

impl Header {
    pub fn new(key: impl Into<String>, value: impl Into<bytes::Bytes>) -> Header {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}
