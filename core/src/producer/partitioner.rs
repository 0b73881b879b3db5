//! Choosing a partition: Java-compatible murmur2 for keys, uniform sticky for the rest.
//!
//! Keyed records use Kafka's `murmur2` (seed 0x9747b28c) masked positive, modulo the
//! partition count, so a key lands where the Java client and librdkafka's `murmur2_random`
//! put it. Records without a key stick to one partition until `batch.size` bytes went to it,
//! then move to another at random (KIP-480 / KIP-794): batches fill up, load stays even.
//!
//! Adaptive partitioning (KIP-794, `partitioner.adaptive.partitioning.enable`, on by default):
//! the next sticky partition is drawn with weight `max queue + 1 - queue`, a partition's queue
//! being the batches waiting for it in the accumulator, so a partition whose leader is slow
//! gets fewer new batches. The accumulator's `drain`, which walks every queue under its lock
//! anyway, publishes the queue lengths into [`LoadStats`] (one atomic per partition); the
//! partitioner reads them only when it moves on, never for a record that stays on the sticky
//! partition. With `partitioner.availability.timeout.ms` > 0, `drain` also marks the partitions
//! of a leader that has taken no batch for longer than that (it had ready batches and was not
//! connected, throttled or at its in-flight limit), and the draw skips them.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::topic_partition::{PartitionHasher, TopicPartition};

/// The partitions of a topic that have a leader now (empty when unknown).
pub type Availability = Arc<dyn Fn(&str) -> Vec<i32> + Send + Sync>;

/// One partition's load, written by the accumulator's `drain` and read by the partitioner
/// when it picks a new sticky partition. Relaxed atomics: a value one pass old only skews one
/// draw.
#[derive(Debug, Default)]
pub(crate) struct PartitionLoad {
    /// Batches queued for the partition at the last drain.
    queued: AtomicU32,
    /// The partition's leader has taken no batch for longer than
    /// `partitioner.availability.timeout.ms`.
    unavailable: AtomicBool,
}

impl PartitionLoad {
    pub(crate) fn set_queued(&self, queued: usize) {
        self.queued
            .store(queued.min(u32::MAX as usize) as u32, Ordering::Relaxed);
    }

    pub(crate) fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::Relaxed);
    }
}

/// The load of every partition the accumulator has a queue for, per topic (indexed by
/// partition; a partition without a queue reads as empty and available). Shared by the
/// accumulator, which registers a partition when it creates its queue (taking this lock
/// under its own: lock order accumulator queues → `topics`), and the default partitioner,
/// which reads it when it moves on (under its sticky lock: sticky → `topics`).
#[derive(Debug, Default)]
pub(crate) struct LoadStats {
    topics: Mutex<HashMap<Arc<str>, Vec<Arc<PartitionLoad>>>>,
}

impl LoadStats {
    /// The load cell of `tp`, created on first use; the accumulator keeps it in the queue.
    pub(crate) fn register(&self, tp: &TopicPartition) -> Arc<PartitionLoad> {
        let mut topics = self.topics.lock().unwrap();
        let cells = topics.entry(tp.topic.clone()).or_default();
        let index = tp.partition.max(0) as usize;
        if cells.len() <= index {
            cells.resize_with(index + 1, Default::default);
        }
        cells[index].clone()
    }

    /// `(queued batches, unavailable)` of each of `partitions` of `topic`.
    pub(crate) fn read(&self, topic: &str, partitions: &[i32]) -> Vec<(u32, bool)> {
        let topics = self.topics.lock().unwrap();
        let cells = topics.get(topic).map_or(&[][..], |c| c.as_slice());
        partitions
            .iter()
            .map(|p| {
                cells.get(*p as usize).map_or((0, false), |c| {
                    (
                        c.queued.load(Ordering::Relaxed),
                        c.unavailable.load(Ordering::Relaxed),
                    )
                })
            })
            .collect()
    }
}

/// KIP-794's cumulative frequency table: partition `i` weighs `max + 1 - queue_sizes[i]`, so
/// the longest queue still weighs 1 and an empty one `max + 1`. `None` when every queue is
/// equally long (the draw is uniform then).
pub(crate) fn frequency_table(queue_sizes: &[u32]) -> Option<Vec<u64>> {
    let first = *queue_sizes.first()?;
    if queue_sizes.iter().all(|q| *q == first) {
        return None;
    }
    let max_plus_one = *queue_sizes.iter().max().expect("not empty") as u64 + 1;
    let mut sum = 0;
    Some(
        queue_sizes
            .iter()
            .map(|q| {
                sum += max_plus_one - *q as u64;
                sum
            })
            .collect(),
    )
}

/// The index `random` picks in a cumulative frequency table: the first entry above
/// `random % total`.
pub(crate) fn weighted_index(cumulative: &[u64], random: u64) -> usize {
    let total = *cumulative.last().expect("a non-empty table");
    let x = random % total;
    cumulative.partition_point(|c| *c <= x)
}

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

    /// Partitions consecutive records of one topic, each given as its key and encoded size,
    /// pushing their partitions onto `out` in order. The same as `partition` for each (the
    /// default); the default partitioner answers the whole run under one lock.
    fn partition_all(
        &self,
        topic: &str,
        records: &[(Option<&[u8]>, usize)],
        partition_count: i32,
        out: &mut Vec<i32>,
    ) {
        out.extend(
            records
                .iter()
                .map(|(key, size)| self.partition(topic, *key, *size, partition_count)),
        );
    }
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
    /// Queue lengths and availability published by the accumulator: set when adaptive
    /// partitioning is on (`partitioner.adaptive.partitioning.enable`).
    load: Option<Arc<LoadStats>>,
}

impl std::fmt::Debug for DefaultPartitioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultPartitioner")
            .field("ignore_keys", &self.ignore_keys)
            .field("batch_size", &self.batch_size)
            .field("adaptive", &self.load.is_some())
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
            load: None,
        }
    }

    /// Adaptive partitioning: the next sticky partition favours shorter queues and skips
    /// partitions marked unavailable, as `load` says.
    pub(crate) fn with_load_stats(mut self, load: Arc<LoadStats>) -> Self {
        self.load = Some(load);
        self
    }

    /// Keyless records avoid partitions that `available` does not list.
    pub fn with_availability(mut self, available: Availability) -> Self {
        self.available = Some(available);
        self
    }

    /// The next sticky partition, among those with a leader (all when none has one known).
    /// Adaptive: drawn by queue length (`frequency_table`) among those not marked unavailable
    /// (all with a leader when every one is), `current` included as in the Java client: a
    /// short queue is a good place to stay. Otherwise, or when every queue is equally long,
    /// uniform among them, other than `current` when there is a choice.
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
        if let Some(load) = &self.load {
            let loads = load.read(topic, &candidates);
            // Every candidate unavailable: any of them rather than none (as Java).
            let all_unavailable = loads.iter().all(|(_, unavailable)| *unavailable);
            let mut sizes = Vec::with_capacity(candidates.len());
            let mut usable = Vec::with_capacity(candidates.len());
            for (p, (queued, unavailable)) in candidates.iter().zip(&loads) {
                if all_unavailable || !unavailable {
                    usable.push(*p);
                    sizes.push(*queued);
                }
            }
            candidates = usable;
            if let Some(table) = frequency_table(&sizes) {
                return candidates[weighted_index(&table, fastrand::u64(..))];
            }
        }
        if candidates.len() > 1 {
            candidates.retain(|p| Some(*p) != current);
        }
        candidates[fastrand::usize(0..candidates.len())]
    }
}

impl DefaultPartitioner {
    /// The sticky partition of a keyless record of `size` bytes: the topic's current one,
    /// or the next once the current one has had `batch.size` bytes (KIP-480).
    fn sticky(&self, topic: &str, entry: &mut (i32, usize), size: usize, count: i32) -> i32 {
        if entry.0 >= count || entry.1 >= self.batch_size {
            *entry = (self.next_sticky(topic, Some(entry.0), count), 0);
        }
        entry.1 += size;
        entry.0
    }

    /// Runs `f` on the topic's sticky state, under the lock.
    fn with_sticky<T>(&self, topic: &str, count: i32, f: impl FnOnce(&mut (i32, usize)) -> T) -> T {
        let mut sticky = self.sticky.lock().unwrap();
        let entry = match sticky.get_mut(topic) {
            Some(e) => e,
            None => {
                let first = self.next_sticky(topic, None, count);
                sticky.entry(topic.to_string()).or_insert((first, 0))
            }
        };
        f(entry)
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
        self.with_sticky(topic, partition_count, |entry| {
            self.sticky(topic, entry, record_size, partition_count)
        })
    }

    fn partition_all(
        &self,
        topic: &str,
        records: &[(Option<&[u8]>, usize)],
        partition_count: i32,
        out: &mut Vec<i32>,
    ) {
        self.with_sticky(topic, partition_count, |entry| {
            out.extend(
                records
                    .iter()
                    .map(|(key, size)| match (key, self.ignore_keys) {
                        (Some(key), false) => murmur2_partition(key, partition_count),
                        _ => self.sticky(topic, entry, *size, partition_count),
                    }),
            )
        })
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

    /// A run partitioned in one call lands where record-by-record calls put it: keyed
    /// records by murmur2, keyless ones sticky until batch.size bytes (same random draws).
    #[test]
    fn partition_all_agrees_with_partition_record_by_record() {
        let keys: Vec<Option<Vec<u8>>> = (0..300)
            .map(|i| (i % 4 == 0).then(|| format!("key-{i}").into_bytes()))
            .collect();
        let run: Vec<(Option<&[u8]>, usize)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_deref(), 20 + i % 50))
            .collect();
        fastrand::seed(5);
        let one_by_one = DefaultPartitioner::new(500, false);
        let expected: Vec<i32> = run
            .iter()
            .map(|(key, size)| one_by_one.partition("t", *key, *size, 6))
            .collect();
        let whole = DefaultPartitioner::new(500, false);
        fastrand::seed(5);
        let mut all = Vec::new();
        whole.partition_all("t", &run[..150], 6, &mut all);
        whole.partition_all("t", &run[150..], 6, &mut all);
        assert_eq!(all, expected);
        let keyless: std::collections::BTreeSet<i32> = all
            .iter()
            .zip(&run)
            .filter(|(_, (key, _))| key.is_none())
            .map(|(p, _)| *p)
            .collect();
        assert!(keyless.len() > 1, "sticky partitions moved on: {keyless:?}");
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

    /// Load cells for `queues.len()` partitions of `topic`, `unavailable` marked so.
    fn stats(topic: &str, queues: &[usize], unavailable: &[i32]) -> Arc<LoadStats> {
        let load = Arc::new(LoadStats::default());
        for (p, q) in queues.iter().enumerate() {
            let cell = load.register(&TopicPartition::new(topic, p as i32));
            cell.set_queued(*q);
            cell.set_unavailable(unavailable.contains(&(p as i32)));
        }
        load
    }

    /// Picks of a partitioner that moves on at every record (batch.size 1).
    fn picks(p: &DefaultPartitioner, n: usize) -> [usize; 4] {
        let mut counts = [0; 4];
        for _ in 0..n {
            counts[p.partition("t", None, 1, 4) as usize] += 1;
        }
        counts
    }

    #[test]
    fn frequency_table_weighs_shorter_queues_more() {
        // Weights max + 1 - queue: 11, 1, 11, 1.
        let table = frequency_table(&[0, 10, 0, 10]).unwrap();
        assert_eq!(table, vec![11, 12, 23, 24]);
        let mut counts = [0; 4];
        for r in 0..24 * 100 {
            counts[weighted_index(&table, r)] += 1;
        }
        assert_eq!(counts, [1100, 100, 1100, 100], "exactly the weights");
        assert_eq!(frequency_table(&[0, 3, 1]).unwrap(), vec![4, 5, 8]);
        assert_eq!(frequency_table(&[3, 3, 3]), None, "equal queues: uniform");
        assert_eq!(frequency_table(&[]), None);
    }

    #[test]
    fn adaptive_choice_favours_short_queues() {
        fastrand::seed(7);
        let p = DefaultPartitioner::new(1, false).with_load_stats(stats("t", &[0, 10, 0, 10], &[]));
        let counts = picks(&p, 24_000);
        // Expected 11000, 1000, 11000, 1000 (the draw includes the current partition).
        for (partition, expected) in [(0, 11_000), (1, 1_000), (2, 11_000), (3, 1_000)] {
            let got = counts[partition] as i64;
            assert!(
                (got - expected).abs() < 500,
                "partition {partition}: {got} picks, about {expected} expected: {counts:?}"
            );
        }
    }

    #[test]
    fn unavailable_partitions_are_never_picked_while_others_are() {
        fastrand::seed(11);
        let p = DefaultPartitioner::new(1, false)
            .with_availability(Arc::new(|_: &str| vec![0, 1, 2, 3]))
            .with_load_stats(stats("t", &[0, 0, 5, 0], &[1]));
        let counts = picks(&p, 4_000);
        assert_eq!(counts[1], 0, "the stalled leader's partition: {counts:?}");
        assert!(
            counts.iter().enumerate().all(|(i, c)| i == 1 || *c > 0),
            "every other partition: {counts:?}"
        );
        // Every partition unavailable: they are all candidates again (better than none).
        let all =
            DefaultPartitioner::new(1, false).with_load_stats(stats("t", &[0; 4], &[0, 1, 2, 3]));
        assert!(picks(&all, 400).iter().all(|c| *c > 0));
        // A partition without a leader stays out, adaptive or not.
        let leaderless = DefaultPartitioner::new(1, false)
            .with_availability(Arc::new(|_: &str| vec![0, 2]))
            .with_load_stats(stats("t", &[0, 0, 9, 0], &[]));
        let counts = picks(&leaderless, 400);
        assert_eq!((counts[1], counts[3]), (0, 0), "{counts:?}");
    }

    #[test]
    fn without_adaptive_the_choice_is_uniform() {
        fastrand::seed(3);
        // The queues exist but nobody reads them: `partitioner.adaptive.partitioning.enable`
        // false builds no load stats.
        let _queues = stats("t", &[0, 10, 0, 10], &[]);
        let p = DefaultPartitioner::new(1, false);
        let counts = picks(&p, 24_000);
        assert!(
            counts.iter().all(|c| (*c as i64 - 6_000).abs() < 400),
            "uniform: {counts:?}"
        );
        // Equal queues under adaptive: uniform too.
        let equal = DefaultPartitioner::new(1, false).with_load_stats(stats("t", &[2; 4], &[]));
        let counts = picks(&equal, 24_000);
        assert!(
            counts.iter().all(|c| (*c as i64 - 6_000).abs() < 400),
            "uniform: {counts:?}"
        );
    }

    #[test]
    fn round_robin_cycles() {
        let p = RoundRobinPartitioner::default();
        let got: Vec<i32> = (0..6).map(|_| p.partition("t", Some(b"k"), 1, 3)).collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2]);
    }
}
