//! The transaction APIs: InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, DescribeTransactions and ListTransactions, answered by the
//! transaction coordinator (`txn/`). TxnOffsetCommit goes to the group coordinator.

use kafka_protocol::messages::add_partitions_to_txn_response::*;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedState;
use kafka_protocol::messages::*;

use crate::log::now_ms;
use crate::shared::Shared;
use crate::topics::sb;
use crate::txn::{code, Caller, TxnStatus};

/// The fencing error a request of `version` understands: PRODUCER_FENCED from `since` on,
/// INVALID_PRODUCER_EPOCH before (KIP-588).
fn fenced(version: i16, since: i16) -> i16 {
    if version >= since {
        code::PRODUCER_FENCED
    } else {
        code::INVALID_PRODUCER_EPOCH
    }
}

/// The producer a transaction request of `version` (AddPartitionsToTxn, AddOffsetsToTxn,
/// EndTxn: PRODUCER_FENCED from v2) comes from.
fn caller(id: &TransactionalId, producer_id: ProducerId, epoch: i16, version: i16) -> Caller<'_> {
    Caller {
        transactional_id: id.as_str(),
        producer_id: producer_id.0,
        producer_epoch: epoch,
        fenced: fenced(version, 2),
    }
}

/// On a multi-node cluster, whether another node coordinates `transactional_id` (it leads the
/// id's `__transaction_state` partition): the request is answered NOT_COORDINATOR, as Kafka
/// answers it, and the client looks the coordinator up again.
fn elsewhere(shared: &Shared, transactional_id: &str) -> bool {
    shared.coordinated_elsewhere(crate::topics::TRANSACTION_STATE_TOPIC, transactional_id)
}

pub fn init_producer_id(
    shared: &Shared,
    transactional_id: &str,
    req: &InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let r = InitProducerIdResponse::default();
    if transactional_id.is_empty() {
        return r
            .with_error_code(42) // INVALID_REQUEST, as Kafka answers an empty id
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    if elsewhere(shared, transactional_id) {
        return r
            .with_error_code(code::NOT_COORDINATOR)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    let producer = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    match shared.txns.init_producer_id(
        shared,
        transactional_id,
        req.transaction_timeout_ms,
        producer,
        fenced(version, 4),
    ) {
        Ok((id, epoch)) => r
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch),
        Err(code) => r
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    }
}

pub fn add_partitions_to_txn(
    shared: &Shared,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    let caller = caller(
        &req.v3_and_below_transactional_id,
        req.v3_and_below_producer_id,
        req.v3_and_below_producer_epoch,
        version,
    );
    let partitions: Vec<(String, Vec<i32>)> = req
        .v3_and_below_topics
        .iter()
        .map(|t| (t.name.to_string(), t.partitions.clone()))
        .collect();
    let added = if elsewhere(shared, caller.transactional_id) {
        Err(code::NOT_COORDINATOR)
    } else {
        shared.txns.add_partitions(shared, &caller, &partitions)
    };
    let results = match added {
        Ok(results) => results,
        // One error for the request: every partition carries it.
        Err(code) => partitions
            .iter()
            .map(|(t, ps)| (t.clone(), ps.iter().map(|p| (*p, code)).collect()))
            .collect(),
    };
    let topics = results
        .into_iter()
        .map(|(name, ps)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(sb(&name)))
                .with_results_by_partition(
                    ps.into_iter()
                        .map(|(p, code)| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics)
}

pub fn add_offsets_to_txn(
    shared: &Shared,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let caller = caller(
        &req.transactional_id,
        req.producer_id,
        req.producer_epoch,
        version,
    );
    if elsewhere(shared, caller.transactional_id) {
        return AddOffsetsToTxnResponse::default().with_error_code(code::NOT_COORDINATOR);
    }
    AddOffsetsToTxnResponse::default().with_error_code(shared.txns.add_offsets(
        shared,
        &caller,
        req.group_id.as_str(),
    ))
}

pub fn end_txn(shared: &Shared, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let caller = caller(
        &req.transactional_id,
        req.producer_id,
        req.producer_epoch,
        version,
    );
    let r = EndTxnResponse::default();
    if elsewhere(shared, caller.transactional_id) {
        return r
            .with_error_code(code::NOT_COORDINATOR)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    if version < 5 {
        return r
            .with_error_code(shared.txns.end_txn(shared, &caller, req.committed))
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    // Transaction protocol v2 (offered only with transaction.version 2).
    match shared.txns.end_txn_v2(shared, &caller, req.committed) {
        Ok((id, epoch)) => r
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch),
        Err(code) => r
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    }
}

/// Protocol v2 (KIP-890): a Produce v12 or TxnOffsetCommit v5 adds its partition to the
/// producer's transaction itself, checked as AddPartitionsToTxn would be. Returns 0 or the
/// error for that partition.
pub fn add_implicitly(
    shared: &Shared,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    topic: &str,
    partition: i32,
) -> i16 {
    let caller = Caller {
        transactional_id,
        producer_id,
        producer_epoch,
        fenced: code::PRODUCER_FENCED,
    };
    shared.txns.add_partition(shared, &caller, topic, partition)
}

pub fn describe_transactions(
    shared: &Shared,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = req
        .transactional_ids
        .iter()
        .map(|id| {
            let s = TransactionState::default().with_transactional_id(id.clone());
            let Some(m) = shared.txns.describe(id.as_str()) else {
                return s
                    .with_error_code(code::TRANSACTIONAL_ID_NOT_FOUND)
                    .with_transaction_state(sb(""))
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1);
            };
            s.with_transaction_state(sb(m.status.name()))
                .with_transaction_timeout_ms(m.timeout_ms)
                .with_transaction_start_time_ms(if m.status == TxnStatus::Ongoing {
                    m.start_ms
                } else {
                    -1
                })
                .with_producer_id(ProducerId(m.producer_id))
                .with_producer_epoch(m.producer_epoch)
                .with_topics(
                    m.partitions
                        .iter()
                        .map(|(t, ps)| {
                            TopicData::default()
                                .with_topic(TopicName(sb(t)))
                                .with_partitions(ps.iter().copied().collect())
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

/// ListTransactions: ids filtered by state names, producer ids and (v1) how long their
/// transaction has been open; unknown state names are echoed back, as Kafka does.
pub fn list_transactions(
    shared: &Shared,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let known = |s: &str| (0..8).any(|v| TxnStatus::from_i8(v).is_some_and(|t| t.name() == s));
    let unknown: Vec<_> = req
        .state_filters
        .iter()
        .filter(|s| !known(s.as_str()))
        .cloned()
        .collect();
    let now = now_ms();
    let mut listed: Vec<_> = shared
        .txns
        .all()
        .into_iter()
        .filter(|m| {
            req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|s| s.as_str() == m.status.name())
        })
        .filter(|m| {
            req.producer_id_filters.is_empty()
                || req.producer_id_filters.contains(&ProducerId(m.producer_id))
        })
        .filter(|m| {
            req.duration_filter < 0
                || (m.status == TxnStatus::Ongoing && now - m.start_ms >= req.duration_filter)
        })
        .collect();
    listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(
            listed
                .into_iter()
                .map(|m| {
                    ListedState::default()
                        .with_transactional_id(TransactionalId(sb(&m.transactional_id)))
                        .with_producer_id(ProducerId(m.producer_id))
                        .with_transaction_state(sb(m.status.name()))
                })
                .collect(),
        )
}

/// A TxnOffsetCommit refused as a whole: every partition it names gets `code`.
pub fn txn_offset_commit_failed(
    req: &TxnOffsetCommitRequest,
    code: i16,
) -> TxnOffsetCommitResponse {
    use kafka_protocol::messages::txn_offset_commit_response::*;
    TxnOffsetCommitResponse::default().with_topics(
        req.topics
            .iter()
            .map(|t| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
