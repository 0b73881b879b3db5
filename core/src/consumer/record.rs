//! What `poll` returns.

use crate::record::Header;

/// Which clock a record's timestamp comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// One record read from a partition.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerRecord<K, V> {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: K,
    pub value: V,
    pub headers: Vec<Header>,
    /// The leader epoch the record was written in, when the broker reports it.
    pub leader_epoch: Option<i32>,
    pub serialized_key_size: i32,
    pub serialized_value_size: i32,
}
