//! Writing committed offsets, shared by OffsetCommit and TxnOffsetCommit: each partition is
//! checked (the member's standing, the partition's existence, the metadata's size), the
//! accepted ones are written to the group's `__consumer_offsets` partition in one batch (inside
//! the producer's transaction for TxnOffsetCommit), and only what was written is kept.

use std::collections::HashMap;

use kafka_protocol::messages::TopicName;

use super::state::{Committed, Group};
use super::GroupCoordinator;

/// The (topic, [(partition, offset)]) of an OffsetCommit or TxnOffsetCommit request, whose
/// topic and partition structs have the same fields.
macro_rules! requested_offsets {
    ($topics:expr) => {
        $topics
            .iter()
            .map(|t| {
                let partitions = t.partitions.iter().map(|p| {
                    let metadata = p.committed_metadata.as_ref().map(|m| m.as_str());
                    let c = $crate::group::commit::committed(
                        p.committed_offset,
                        p.committed_leader_epoch,
                        metadata,
                    );
                    (p.partition_index, c)
                });
                (t.name.clone(), partitions.collect())
            })
            .collect()
    };
}

/// [`CommitResults`] as the response's topics (`$topic`, `$partition`: its structs).
macro_rules! commit_response_topics {
    ($results:expr, $topic:ident, $partition:ident) => {
        $results
            .into_iter()
            .map(|(name, codes)| {
                let partitions = codes.into_iter().map(|(p, code)| {
                    $partition::default()
                        .with_partition_index(p)
                        .with_error_code(code)
                });
                $topic::default()
                    .with_name(name)
                    .with_partitions(partitions.collect())
            })
            .collect()
    };
}
pub(super) use {commit_response_topics, requested_offsets};

/// Per topic, each partition with its error code (0: committed, or pending in a transaction).
pub(super) type CommitResults = Vec<(TopicName, Vec<(i32, i16)>)>;

impl GroupCoordinator {
    /// Commits `topics`' offsets for `group_id`, refusing them all with `group_code` when it is
    /// not 0. With `producer` (id, epoch) they are written inside that producer's transaction
    /// and wait in the group's `pending_txn` for its marker.
    pub(super) fn commit_offsets(
        &self,
        groups: &mut HashMap<String, Group>,
        group_id: &str,
        group_code: i16,
        topics: Vec<(TopicName, Vec<(i32, Committed)>)>,
        producer: Option<(i64, i16)>,
    ) -> CommitResults {
        let mut accepted = Vec::new();
        let mut results: CommitResults = topics
            .into_iter()
            .map(|(name, partitions)| {
                let codes = partitions
                    .into_iter()
                    .map(|(p, c)| {
                        let code = if group_code != 0 {
                            group_code
                        } else if !(self.partition_exists)(&name, p) {
                            3
                        } else if c.metadata.len() > 4096 {
                            12 // OFFSET_METADATA_TOO_LARGE
                        } else {
                            accepted.push(((name.to_string(), p), c));
                            0
                        };
                        (p, code)
                    })
                    .collect();
                (name, codes)
            })
            .collect();
        if accepted.is_empty() {
            return results;
        }
        let records = Self::commit_records(group_id, &accepted);
        match self.persist_as(group_id, &records, producer) {
            Ok(()) => {
                let g = groups
                    .entry(group_id.to_string())
                    .or_insert_with(|| Group::new(group_id));
                match producer {
                    None => g.offsets.extend(accepted),
                    Some((id, _)) => g.pending_txn.entry(id).or_default().extend(accepted),
                }
            }
            // Not written, so not committed: every partition it held says why.
            Err(code) => {
                for (_, codes) in &mut results {
                    for (_, c) in codes.iter_mut().filter(|(_, c)| *c == 0) {
                        *c = code;
                    }
                }
            }
        }
        results
    }
}

/// The offset a commit request carries for one partition.
pub(super) fn committed(offset: i64, leader_epoch: i32, metadata: Option<&str>) -> Committed {
    Committed {
        offset,
        leader_epoch,
        metadata: metadata.unwrap_or_default().to_string(),
        committed_at: tokio::time::Instant::now(),
    }
}
