//! A topic partition, the unit of ordering, assignment and offsets.

use std::fmt;
use std::sync::Arc;

/// A topic name and partition index. Cheap to clone (the name is shared).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl AsRef<str>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: Arc::from(topic.as_ref()),
            partition,
        }
    }
}

/// A hasher for maps keyed by topic partition on the per-record path: a multiply-rotate
/// over the bytes (the Fx scheme), several times cheaper than SipHash for short names. Not
/// DoS-resistant, which is fine for keys the application itself chooses.
#[derive(Default, Clone, Copy)]
pub struct PartitionHasher(u64);

impl std::hash::Hasher for PartitionHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail) ^ rest.len() as u64);
    }

    fn write_u8(&mut self, n: u8) {
        self.add(n as u64);
    }

    fn write_i32(&mut self, n: i32) {
        self.add(n as u32 as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl PartitionHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A map keyed by topic partition, hashed with [`PartitionHasher`].
pub type PartitionMap<V> =
    std::collections::HashMap<TopicPartition, V, std::hash::BuildHasherDefault<PartitionHasher>>;

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
