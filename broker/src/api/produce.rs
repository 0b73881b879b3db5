//! Produce and InitProducerId.
//!
//! On a multi-node cluster a Produce goes to each partition's leader (others answer
//! NOT_LEADER_OR_FOLLOWER); acks=all is refused with NOT_ENOUGH_REPLICAS while the ISR is
//! smaller than `min.insync.replicas`, and answered once the high watermark passes the batch
//! (REQUEST_TIMED_OUT after the request's `timeout_ms`). On one node the high watermark is
//! the log end, so every answer goes out after the append, as before.

use crate::sync::LockExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use kafka_protocol::messages::produce_response::*;
use kafka_protocol::messages::*;

use crate::log::now_ms;
use crate::shared::Shared;
use crate::topics::sb;

/// An acks=all answer waiting for the high watermark: where it sits in the response, the
/// leader's log, and the offset the high watermark must reach.
pub struct AckWait {
    topic: usize,
    partition: usize,
    name: String,
    index: i32,
    log: crate::log::SharedLog,
    needed: i64,
}

/// What the appends left to do: the answer (`None` for acks=0), and the acks=all partitions
/// whose high watermark has not passed their batch yet.
pub struct Appended {
    pub response: Option<ProduceResponse>,
    pub waits: Vec<AckWait>,
}

/// Appends each partition's batch (each append wakes the fetches parked on its partition);
/// `None` for acks=0 (Kafka sends no response). Tests' shorthand for [`append_all`], without
/// the acks=all wait.
#[cfg(test)]
pub fn produce(shared: &Shared, req: ProduceRequest, version: i16) -> Option<ProduceResponse> {
    append_all(shared, req, version).response
}

/// Whether the transaction `transactional_id` (any, without one) holds the partition, asked of
/// its coordinator (on a cluster, the node leading its `__transaction_state` partition).
fn in_transaction(
    shared: &Shared,
    transactional_id: Option<&str>,
    producer_id: i64,
    topic: &str,
    partition: i32,
) -> bool {
    match transactional_id {
        Some(id) => shared.on_txn_coordinator(id, |c| {
            c.txns
                .in_transaction(Some(id), producer_id, topic, partition)
        }),
        None => {
            let mut holds = false;
            shared.each_node(|n| {
                holds = holds || n.txns.in_transaction(None, producer_id, topic, partition)
            });
            holds
        }
    }
}

/// Appends each partition's batch, noting the acks=all answers that must wait (see
/// [`await_acks`]).
pub fn append_all(shared: &Shared, req: ProduceRequest, version: i16) -> Appended {
    let now = now_ms();
    let mut waits = Vec::new();
    let transactional_id = req.transactional_id.as_ref().map(|t| t.to_string());
    let acks_ok = matches!(req.acks, -1..=1);
    let acks_all = req.acks == -1;
    let responses = req
        .topic_data
        .into_iter()
        .enumerate()
        .map(|(ti, topic)| {
            let name = topic.name.to_string();
            let partitions = topic
                .partition_data
                .into_iter()
                .enumerate()
                .map(|(pi, p)| {
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
                    if let Some(code) = shared.leader_error(&name, p.index) {
                        return r.with_error_code(code);
                    }
                    // acks=all needs `min.insync.replicas` in sync (a cluster's; one node has
                    // its one replica).
                    if let Some(isr) = shared.cluster.as_ref().and_then(|c| c.isr_size(&name, p.index)).filter(|_| acks_all) {
                        let min = log.locked().config().min_insync_replicas;
                        if (isr as i32) < min {
                            let message = format!("the ISR of {name}-{} has {isr} replicas, fewer than min.insync.replicas {min}", p.index);
                            return r.with_error_code(19).with_error_message(Some(sb(&message)));
                        }
                    }
                    let Some(records) = p.records else {
                        return r.with_error_code(87).with_error_message(Some(sb("no records")));
                    };
                    // A transactional batch belongs to a partition its producer added to its
                    // open transaction (else the batch could never be decided: a hanging
                    // transaction), as Kafka verifies since KIP-890; from v12 (transaction
                    // protocol v2) the Produce adds it.
                    if let Some(h) = crate::log::BatchHeader::parse(&records) {
                        if h.is_transactional() && !h.is_control() && h.producer_id >= 0 && !in_transaction(shared, transactional_id.as_deref(), h.producer_id, &name, p.index) {
                            let code = match &transactional_id {
                                Some(id) if version >= 12 => match shared.on_txn_coordinator(id, |c| super::txn::add_implicitly(c, id, h.producer_id, h.producer_epoch, &name, p.index)) {
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
                            if acks_all && log.locked().high_watermark() <= a.last_offset {
                                waits.push(AckWait { topic: ti, partition: pi, name: name.clone(), index: p.index, log: log.clone(), needed: a.last_offset + 1 });
                            }
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
        return Appended {
            response: None,
            waits: Vec::new(),
        };
    }
    Appended {
        response: Some(ProduceResponse::default().with_responses(responses)),
        waits,
    }
}

/// Holds an acks=all answer until the high watermark of each waiting partition passes its
/// batch (every append and every high watermark move wakes it); a partition still short at
/// `timeout_ms`, or when the broker stops, is answered REQUEST_TIMED_OUT. One whose ISR
/// shrank below `min.insync.replicas` meanwhile is answered NOT_ENOUGH_REPLICAS_AFTER_APPEND,
/// and one whose leadership moved NOT_LEADER_OR_FOLLOWER, as Kafka answers them.
pub async fn await_acks(
    shared: &Shared,
    mut response: ProduceResponse,
    mut waits: Vec<AckWait>,
    timeout_ms: i32,
) -> ProduceResponse {
    if waits.is_empty() {
        return response;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
    let wake = Arc::new(Notify::new());
    let mut stopping = shared.stopping.clone();
    loop {
        let mut pending = Vec::new();
        for w in waits.drain(..) {
            // Leadership moved while waiting: the new leader may not hold the batch (Kafka
            // answers a delayed produce so too; the producer retries there).
            if let Some(code) = shared.leader_error(&w.name, w.index) {
                let p = &mut response.responses[w.topic].partition_responses[w.partition];
                p.error_code = code;
                p.error_message = Some(sb("this node no longer leads the partition"));
                continue;
            }
            let (hw, min_isr) = {
                let mut log = w.log.locked();
                log.notify_on_append(&wake);
                (log.high_watermark(), log.config().min_insync_replicas)
            };
            if hw < w.needed {
                pending.push(w);
                continue;
            }
            let isr = shared
                .cluster
                .as_ref()
                .and_then(|c| c.isr_size(&w.name, w.index));
            if let Some(isr) = isr.filter(|n| (*n as i32) < min_isr) {
                let p = &mut response.responses[w.topic].partition_responses[w.partition];
                p.error_code = 20; // NOT_ENOUGH_REPLICAS_AFTER_APPEND
                p.error_message = Some(sb(&format!(
                    "written, but the ISR shrank to {isr} replicas, fewer than min.insync.replicas {min_isr}"
                )));
            }
        }
        waits = pending;
        if waits.is_empty() {
            return response;
        }
        let expired = tokio::select! {
            _ = wake.notified() => false,
            _ = tokio::time::sleep_until(deadline) => true,
            _ = stopping.changed() => true,
        };
        if expired || *stopping.borrow() {
            break;
        }
    }
    for w in waits {
        let p = &mut response.responses[w.topic].partition_responses[w.partition];
        p.error_code = 7; // REQUEST_TIMED_OUT
        p.error_message = Some(sb(
            "the in-sync replicas did not all acknowledge within timeout_ms",
        ));
    }
    response
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
