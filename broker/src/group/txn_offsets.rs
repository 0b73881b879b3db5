//! Transactional offset commits (TxnOffsetCommit, KIP-98 and KIP-447): the offsets a
//! transactional producer commits for a group are written to the group's `__consumer_offsets`
//! partition inside the producer's transaction, and become the group's committed offsets only
//! when the transaction coordinator writes the COMMIT marker there (an ABORT drops them).
//! Until then OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT for them.

use crate::sync::LockExt;

use kafka_protocol::messages::txn_offset_commit_response::*;
use kafka_protocol::messages::*;

use super::commit::{commit_response_topics, requested_offsets};
use super::requests::commit_membership_error;
use super::GroupCoordinator;

impl GroupCoordinator {
    pub async fn txn_offset_commit(
        &self,
        req: TxnOffsetCommitRequest,
        version: i16,
    ) -> TxnOffsetCommitResponse {
        let mut groups = self.groups.locked();
        let group_id = req.group_id.to_string();
        let producer = (req.producer_id.0, req.producer_epoch);
        // KIP-447: a zombie of an earlier generation commits nothing. A commit that names no
        // member and no generation (a bare group id, before KIP-447) is not checked, as in
        // Kafka: the producer's epoch fences it instead.
        let unchecked = req.generation_id < 0 && req.member_id.is_empty();
        let mut group_code = if unchecked && !group_id.is_empty() {
            0
        } else {
            commit_membership_error(
                groups.get(&group_id),
                &group_id,
                req.generation_id,
                req.member_id.as_str(),
                req.group_instance_id.as_ref().map(|s| s.as_str()),
            )
        };
        let partition = self.partition_for(&group_id) as usize;
        if group_code == 0 {
            let current = self
                .offsets_log(partition)
                .locked()
                .producer_epoch(producer.0);
            if current.is_some_and(|e| producer.1 < e) {
                // A newer instance (or a timeout) bumped the epoch: this producer is fenced.
                group_code = if version >= 3 { 90 } else { 47 };
            }
        }
        let topics = requested_offsets!(req.topics);
        let results =
            self.commit_offsets(&mut groups, &group_id, group_code, topics, Some(producer));
        let topics = commit_response_topics!(
            results,
            TxnOffsetCommitResponseTopic,
            TxnOffsetCommitResponsePartition
        );
        TxnOffsetCommitResponse::default().with_topics(topics)
    }

    /// After a transaction marker for `producer_id` is written to offsets partition
    /// `partition`: its pending offsets for the groups of that partition become committed
    /// (COMMIT) or are dropped (ABORT).
    pub fn complete_txn_offsets(&self, partition: i32, producer_id: i64, commit: bool) {
        let mut groups = self.groups.locked();
        for g in groups.values_mut() {
            if self.partition_for(&g.id) != partition {
                continue;
            }
            if let Some(pending) = g.pending_txn.remove(&producer_id) {
                if commit {
                    g.offsets.extend(pending);
                }
            }
        }
    }
}
