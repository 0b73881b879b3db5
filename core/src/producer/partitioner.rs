//! Choosing a partition: Java-compatible murmur2 for keys, uniform sticky for the rest.
//!
//! Keyed records use Kafka's `murmur2` (seed 0x9747b28c) masked positive, modulo the
//! partition count, so a key lands where the Java client and librdkafka's `murmur2_random`
//! put it. Records without a key stick to one partition until `batch.size` bytes went to it,
//! then move to another at random (KIP-480 / KIP-794): batches fill up, load stays even.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::topic_partition::PartitionHasher;

/// The partitions of a topic that have a leader now (empty when unknown).
pub type Availability = Arc<dyn Fn(&str) -> Vec<i32> + Send + Sync>;

/// Picks a partition for a record without an explicit one.
pub trait Partitioner: Send + Sync {
    /// `record_size` is the record's encoded size (for sticky switching).
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        record_size: usize,
        partition_count: i32,
    ) -> i32;
}

/// Kafka's key hash: murmur2 with Kafka's seed, masked positive.
pub fn murmur2_partition(key: &[u8], partition_count: i32) -> i32 {
    let h = murmur2::murmur2(key, murmur2::KAFKA_SEED) as i32;
    (h & 0x7fff_ffff) % partition_count
}

/// The default partitioner (Kafka 3.3+ semantics).
pub struct DefaultPartitioner {
    ignore_keys: bool,
    batch_size: usize,
    /// topic → (current sticky partition, bytes sent to it).
    sticky: Mutex<HashMap<String, (i32, usize), BuildHasherDefault<PartitionHasher>>>,
    /// Consulted when the sticky partition changes: keyless records go to partitions with a
    /// leader (KIP-794), as long as the topic has any.
    available: Option<Availability>,
}

impl std::fmt::Debug for DefaultPartitioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultPartitioner")
            .field("ignore_keys", &self.ignore_keys)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl DefaultPartitioner {
    pub fn new(batch_size: usize, ignore_keys: bool) -> Self {
        DefaultPartitioner {
            ignore_keys,
            batch_size: batch_size.max(1),
            sticky: Mutex::new(HashMap::default()),
            available: None,
        }
    }

    /// Keyless records avoid partitions that `available` does not list.
    pub fn with_availability(mut self, available: Availability) -> Self {
        self.available = Some(available);
        self
    }

    /// A partition other than `current` (when there is one), among those with a leader.
    fn next_sticky(&self, topic: &str, current: Option<i32>, partition_count: i32) -> i32 {
        let mut candidates: Vec<i32> = self
            .available
            .as_ref()
            .map(|f| f(topic))
            .unwrap_or_default();
        candidates.retain(|p| *p < partition_count);
        if candidates.is_empty() {
            candidates = (0..partition_count).collect();
        }
        if candidates.len() > 1 {
            candidates.retain(|p| Some(*p) != current);
        }
        candidates[fastrand::usize(0..candidates.len())]
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        record_size: usize,
        partition_count: i32,
    ) -> i32 {
        if let (Some(key), false) = (key, self.ignore_keys) {
            return murmur2_partition(key, partition_count);
        }
        let mut sticky = self.sticky.lock().unwrap();
        let entry = match sticky.get_mut(topic) {
            Some(e) => e,
            None => {
                let first = self.next_sticky(topic, None, partition_count);
                sticky.entry(topic.to_string()).or_insert((first, 0))
            }
        };
        if entry.0 >= partition_count || entry.1 >= self.batch_size {
            *entry = (self.next_sticky(topic, Some(entry.0), partition_count), 0);
        }
        entry.1 += record_size;
        entry.0
    }
}

/// `RoundRobinPartitioner`: every record goes to the next partition, keys ignored.
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    counters: Mutex<HashMap<String, AtomicUsize>>,
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        _record_size: usize,
        partition_count: i32,
    ) -> i32 {
        let mut c = self.counters.lock().unwrap();
        let n = c
            .entry(topic.to_string())
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
        (n % partition_count as usize) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka_vectors() {
        // Raw hashes from Kafka's UtilsTest.testMurmur2.
        let cases: [(&str, i32); 6] = [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2::murmur2(key.as_bytes(), murmur2::KAFKA_SEED) as i32,
                expected,
                "{key}"
            );
            assert_eq!(
                murmur2_partition(key.as_bytes(), 7),
                (expected & 0x7fff_ffff) % 7
            );
        }
    }

    #[test]
    fn sticky_partitioner_switches_after_batch_size() {
        let p = DefaultPartitioner::new(100, false);
        let first = p.partition("t", None, 60, 4);
        assert_eq!(
            p.partition("t", None, 60, 4),
            first,
            "still under batch.size"
        );
        let next = p.partition("t", None, 60, 4);
        assert_ne!(next, first, "moved after 120 bytes");
        assert_eq!(
            p.partition("t", Some(b"abc"), 60, 4),
            murmur2_partition(b"abc", 4)
        );
        let ignoring = DefaultPartitioner::new(100, true);
        let a = ignoring.partition("t", Some(b"abc"), 1, 1000);
        let b = ignoring.partition("t", Some(b"xyz"), 1, 1000);
        assert_eq!(a, b, "keys ignored: sticky");
    }

    #[test]
    fn keyless_records_avoid_partitions_without_a_leader() {
        let p =
            DefaultPartitioner::new(10, false).with_availability(Arc::new(|_: &str| vec![1, 3]));
        for _ in 0..200 {
            let chosen = p.partition("t", None, 6, 4);
            assert!(chosen == 1 || chosen == 3, "{chosen} has no leader");
        }
        assert_eq!(
            p.partition("t", Some(b"abc"), 6, 4),
            murmur2_partition(b"abc", 4),
            "keys still hash over every partition"
        );
        let none_known =
            DefaultPartitioner::new(10, false).with_availability(Arc::new(|_: &str| Vec::new()));
        let chosen: std::collections::BTreeSet<i32> = (0..400)
            .map(|_| none_known.partition("t", None, 6, 4))
            .collect();
        assert_eq!(chosen.len(), 4, "no availability known: every partition");
    }

    #[test]
    fn round_robin_cycles() {
        let p = RoundRobinPartitioner::default();
        let got: Vec<i32> = (0..6).map(|_| p.partition("t", Some(b"k"), 1, 3)).collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2]);
    }
}
