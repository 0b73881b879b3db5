//! The API versions this client implements (each request is built for every version in its
//! range). The highest version the broker also supports is used.

use kafka_protocol::messages::ApiKey;

/// The highest versions of Produce, EndTxn and TxnOffsetCommit before KIP-890's transaction
/// version 2 changed what they mean: the cap everywhere but a transactional producer on a
/// cluster whose `transaction.version` is 2 or more (the Java client's choice).
pub const PRODUCE_TRANSACTION_V1_MAX: i16 = 11;
pub const END_TXN_TRANSACTION_V1_MAX: i16 = 4;
pub const TXN_OFFSET_COMMIT_TRANSACTION_V1_MAX: i16 = 4;

/// `(min, max)` this client speaks for `key`.
pub fn supported(key: ApiKey) -> (i16, i16) {
    match key {
        ApiKey::ApiVersions => (0, 3),
        ApiKey::Metadata => (1, 12),
        // v12 is KIP-890's transaction version 2 (the leader adds the partition to the
        // transaction): asked for only by a transactional producer on such a cluster.
        ApiKey::Produce => (3, 12),
        ApiKey::Fetch => (4, 12),
        ApiKey::ListOffsets => (1, 8),
        ApiKey::FindCoordinator => (1, 3),
        ApiKey::JoinGroup => (2, 9),
        ApiKey::SyncGroup => (1, 5),
        ApiKey::Heartbeat => (1, 4),
        ApiKey::LeaveGroup => (1, 5),
        ApiKey::OffsetCommit => (2, 9),
        ApiKey::OffsetFetch => (1, 7),
        ApiKey::InitProducerId => (0, 4),
        // Transactions: EndTxn v5 and TxnOffsetCommit v5 are KIP-890's version 2 (the epoch
        // bumped at every end, offsets added implicitly), used only where the cluster
        // finalized `transaction.version` 2 (see `TRANSACTION_V1_MAX`); AddPartitionsToTxn v4
        // is broker-to-broker.
        ApiKey::AddPartitionsToTxn => (0, 3),
        ApiKey::AddOffsetsToTxn => (0, 3),
        ApiKey::EndTxn => (0, 5),
        ApiKey::TxnOffsetCommit => (0, 5),
        ApiKey::CreateTopics => (2, 7),
        ApiKey::DeleteTopics => (1, 5),
        ApiKey::CreatePartitions => (0, 3),
        ApiKey::DescribeConfigs => (1, 4),
        ApiKey::AlterConfigs => (0, 2),
        ApiKey::IncrementalAlterConfigs => (0, 1),
        // v0 (no pattern type) is gone from Kafka 4.
        ApiKey::DescribeAcls => (1, 3),
        ApiKey::CreateAcls => (1, 3),
        ApiKey::DeleteAcls => (1, 3),
        ApiKey::DeleteRecords => (0, 2),
        ApiKey::DescribeGroups => (0, 5),
        ApiKey::ListGroups => (0, 4),
        ApiKey::DeleteGroups => (0, 2),
        ApiKey::DescribeCluster => (0, 1),
        ApiKey::AlterClientQuotas => (0, 1),
        // v0 of the handshake is followed by raw tokens (pre-KIP-152): not spoken.
        ApiKey::SaslHandshake => (1, 1),
        ApiKey::SaslAuthenticate => (0, 2),
        _ => (0, -1),
    }
}
