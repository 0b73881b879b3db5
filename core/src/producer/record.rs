//! What the application sends, and what it gets back.

use bytes::Bytes;

use crate::record::Header;

/// A record to send: topic, optional partition and timestamp, key, value, headers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerRecord<K, V> {
    pub topic: String,
    /// Send to this partition instead of asking the partitioner.
    pub partition: Option<i32>,
    /// CreateTime in ms since the epoch; `None` = now.
    pub timestamp: Option<i64>,
    pub key: Option<K>,
    pub value: Option<V>,
    pub headers: Vec<Header>,
}

impl<K, V> ProducerRecord<K, V> {
    pub fn new(topic: impl Into<String>, value: V) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            timestamp: None,
            key: None,
            value: Some(value),
            headers: vec![],
        }
    }

    pub fn with_key(mut self, key: K) -> Self {
        self.key = Some(key);
        self
    }

    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }
}

/// One of many records sent to one topic in one call (`KafkaProducer::try_send_many_to_sink`):
/// its topic and partition are the call's.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord<K, V> {
    /// CreateTime in ms since the epoch; `None` = now.
    pub timestamp: Option<i64>,
    pub key: Option<K>,
    pub value: Option<V>,
    pub headers: Vec<Header>,
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// -1 with acks=0 (the broker does not say).
    pub offset: i64,
    /// The record's CreateTime, or the broker's time for LogAppendTime topics.
    pub timestamp: i64,
    pub serialized_key_size: i32,
    pub serialized_value_size: i32,
}
