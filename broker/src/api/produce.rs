//! Produce and InitProducerId.

use crate::sync::LockExt;
use std::sync::atomic::Ordering;

use kafka_protocol::messages::produce_response::*;
use kafka_protocol::messages::*;

use crate::log::now_ms;
use crate::shared::Shared;
use crate::topics::sb;

/// Appends each partition's batch (each append wakes the fetches parked on its partition);
/// `None` for acks=0 (Kafka sends no response).
pub fn produce(shared: &Shared, req: ProduceRequest, version: i16) -> Option<ProduceResponse> {
    let now = now_ms();
    let transactional_id = req.transactional_id.as_ref().map(|t| t.to_string());
    let acks_ok = matches!(req.acks, -1..=1);
    let responses = req
        .topic_data
        .into_iter()
        .map(|topic| {
            let name = topic.name.to_string();
            let partitions = topic
                .partition_data
                .into_iter()
                .map(|p| {
                    let r = PartitionProduceResponse::default().with_index(p.index).with_base_offset(-1).with_log_append_time_ms(-1).with_log_start_offset(-1);
                    if !acks_ok {
                        return r.with_error_code(21); // INVALID_REQUIRED_ACKS
                    }
                    if let Some(code) = shared.faults.take_error(ApiKey::Produce as i16, Some(&name), Some(p.index)) {
                        return r.with_error_code(code).with_error_message(Some(sb("injected fault")));
                    }
                    let Some(log) = shared.topics.partition(&name, p.index) else {
                        return r.with_error_code(3); // UNKNOWN_TOPIC_OR_PARTITION
                    };
                    let Some(records) = p.records else {
                        return r.with_error_code(87).with_error_message(Some(sb("no records")));
                    };
                    // A transactional batch belongs to a partition its producer added to its
                    // open transaction (else the batch could never be decided: a hanging
                    // transaction), as Kafka verifies since KIP-890; from v12 (transaction
                    // protocol v2) the Produce adds it.
                    if let Some(h) = crate::log::BatchHeader::parse(&records) {
                        if h.is_transactional() && !h.is_control() && h.producer_id >= 0 && !shared.txns.in_transaction(transactional_id.as_deref(), h.producer_id, &name, p.index) {
                            let code = match &transactional_id {
                                Some(id) if version >= 12 => match super::txn::add_implicitly(shared, id, h.producer_id, h.producer_epoch, &name, p.index) {
                                    0 => 0,
                                    90 => 47, // a fenced epoch: INVALID_PRODUCER_EPOCH to the producer
                                    51 => 19, // CONCURRENT_TRANSACTIONS: NOT_ENOUGH_REPLICAS, retried
                                    c => c,
                                },
                                _ => 48,
                            };
                            if code != 0 {
                                let message = format!("producer {} has no open transaction holding {name}-{}", h.producer_id, p.index);
                                return r.with_error_code(code).with_error_message(Some(sb(&message)));
                            }
                        }
                    }
                    let result = log.locked().append(records, now);
                    match result {
                        Ok(a) => {
                            r.with_base_offset(a.base_offset)
                                .with_log_append_time_ms(a.log_append_time_ms)
                                .with_log_start_offset(a.log_start_offset)
                        }
                        Err(e) => {
                            tracing::debug!(topic = %name, partition = p.index, code = e.code, "produce rejected: {}", e.message);
                            let r = r.with_error_code(e.code).with_error_message(Some(sb(&e.message)));
                            if matches!(e.code, 2 | 87) {
                                r.with_record_errors(vec![BatchIndexAndErrorMessage::default()
                                    .with_batch_index(0)
                                    .with_batch_index_error_message(Some(sb(&e.message)))])
                            } else {
                                r
                            }
                        }
                    }
                })
                .collect();
            TopicProduceResponse::default().with_name(topic.name).with_partition_responses(partitions)
        })
        .collect();
    if req.acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// InitProducerId for idempotent producers (no transactional id; `txn.rs` has the others): a
/// fresh id, or the same id with a bumped epoch when the producer sends its current id and
/// epoch (KIP-360).
pub fn init_producer_id(shared: &Shared, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let r = InitProducerIdResponse::default();
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return r
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    let id = shared.next_producer_id.fetch_add(1, Ordering::SeqCst);
    r.with_producer_id(ProducerId(id)).with_producer_epoch(0)
}
