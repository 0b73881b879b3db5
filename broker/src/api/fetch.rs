//! Fetch: reads batches straight from the logs, long-polling until `min_bytes` arrive.
//!
//! A fetch that finds too little data waits on the broker's append signal (a `watch` bumped
//! after every append) or until `max_wait_ms`, then reads again: no timer loop. Fetch sessions
//! (KIP-227, `fetch_session.rs`) decide which partitions a fetch reads and which its answer
//! carries. A read_committed fetch (isolation level 1) reads up to the last stable
//! offset and lists the aborted transactions in what it returns, so the consumer drops them.

use crate::sync::LockExt;
use std::time::Duration;

use kafka_protocol::messages::fetch_response::*;
use kafka_protocol::messages::*;
use tokio::time::Instant;

use super::fetch_session::Wanted;
use crate::shared::Shared;
use uuid::Uuid;

pub async fn fetch(shared: &Shared, mut req: FetchRequest, version: i16) -> FetchResponse {
    // From v13 topics are named by id: resolved to names here, answered by id at the end.
    let unknown_ids = if version >= 13 {
        resolve_topic_ids(shared, &mut req)
    } else {
        Vec::new()
    };
    let plan = shared.fetch_sessions.plan(&req, version);
    if plan.error != 0 {
        return FetchResponse::default().with_error_code(plan.error);
    }
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let mut appended = shared.appended.subscribe();
    let mut stopping = shared.stopping.clone();
    let mut response = loop {
        appended.borrow_and_update();
        let (response, bytes, errors) = read_once(shared, &req, &plan.partitions);
        if bytes >= req.min_bytes.max(0) as usize
            || errors
            || Instant::now() >= deadline
            || *stopping.borrow_and_update()
        {
            break response;
        }
        tokio::select! {
            changed = appended.changed() => if changed.is_err() { break response },
            changed = stopping.changed() => if changed.is_err() { break response },
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };
    shared
        .fetch_sessions
        .answered(plan.session_id, plan.incremental, &mut response.responses);
    if version >= 13 {
        for t in &mut response.responses {
            t.topic_id = shared.topics.get(&t.topic).map_or(Uuid::nil(), |t| t.id);
        }
        response.responses.extend(unknown_ids);
    }
    response.with_session_id(plan.session_id)
}

/// Names the request's topics (and forgotten topics) by their ids; the topics whose id this
/// broker does not know, as answered: each partition UNKNOWN_TOPIC_ID (100).
fn resolve_topic_ids(shared: &Shared, req: &mut FetchRequest) -> Vec<FetchableTopicResponse> {
    let mut unknown = Vec::new();
    req.topics
        .retain_mut(|t| match shared.topics.get_by_id(t.topic_id) {
            Some(topic) => {
                t.topic = TopicName(crate::topics::sb(&topic.name));
                true
            }
            None => {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        PartitionData::default()
                            .with_partition_index(p.partition)
                            .with_error_code(100)
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1)
                            .with_log_start_offset(-1)
                    })
                    .collect();
                unknown.push(
                    FetchableTopicResponse::default()
                        .with_topic_id(t.topic_id)
                        .with_partitions(partitions),
                );
                false
            }
        });
    for f in &mut req.forgotten_topics_data {
        if let Some(topic) = shared.topics.get_by_id(f.topic_id) {
            f.topic = TopicName(crate::topics::sb(&topic.name));
        }
    }
    unknown
}

/// One pass over `wanted` (in order, grouped by topic): (response, bytes returned, any
/// partition error).
fn read_once(
    shared: &Shared,
    req: &FetchRequest,
    wanted: &[Wanted],
) -> (FetchResponse, usize, bool) {
    let mut budget = if req.max_bytes <= 0 {
        usize::MAX
    } else {
        req.max_bytes as usize
    };
    let mut total = 0usize;
    let mut errors = false;
    let read_committed = req.isolation_level == 1;
    // Per topic: (partition, fetch offset, partition max bytes).
    type Partitions = Vec<(i32, i64, i32)>;
    let mut by_topic: Vec<(&TopicName, Partitions)> = Vec::new();
    for (topic, partition, offset, max_bytes) in wanted {
        match by_topic.last_mut() {
            Some((t, ps)) if *t == topic => ps.push((*partition, *offset, *max_bytes)),
            _ => by_topic.push((topic, vec![(*partition, *offset, *max_bytes)])),
        }
    }
    let responses = by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            let name = topic.to_string();
            let partitions = partitions
                .into_iter()
                .map(|(partition, fetch_offset, partition_max_bytes)| {
                    let r = PartitionData::default()
                        .with_partition_index(partition)
                        .with_aborted_transactions(Some(vec![]));
                    let injected = shared.faults.take_error(
                        ApiKey::Fetch as i16,
                        Some(&name),
                        Some(partition),
                    );
                    let log = shared.topics.partition(&name, partition);
                    let (code, log) = match (injected, log) {
                        (Some(code), _) => (code, None),
                        (None, None) => (3, None),
                        (None, Some(log)) => (0, Some(log)),
                    };
                    let Some(log) = log else {
                        errors = true;
                        return r
                            .with_error_code(code)
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1)
                            .with_log_start_offset(-1);
                    };
                    let log = log.locked();
                    let (start, end) = (log.log_start_offset(), log.log_end_offset());
                    let stable = log.last_stable_offset();
                    let r = r
                        .with_high_watermark(end)
                        .with_last_stable_offset(stable)
                        .with_log_start_offset(start);
                    let limit = (partition_max_bytes.max(0) as usize).min(budget);
                    let below = if read_committed { stable } else { i64::MAX };
                    // Kafka returns at least one batch from the first partition with data, so a
                    // batch larger than the limits never blocks a consumer.
                    match log.read_below(fetch_offset, limit, total == 0, below) {
                        Ok(records) if read_committed => {
                            total += records.len();
                            budget = budget.saturating_sub(records.len());
                            let aborted = log
                                .aborted_between(fetch_offset, stable)
                                .into_iter()
                                .map(|a| {
                                    AbortedTransaction::default()
                                        .with_producer_id(ProducerId(a.producer_id))
                                        .with_first_offset(a.first_offset)
                                })
                                .collect();
                            r.with_records(Some(records))
                                .with_aborted_transactions(Some(aborted))
                        }
                        Ok(records) => {
                            total += records.len();
                            budget = budget.saturating_sub(records.len());
                            r.with_records(Some(records))
                        }
                        Err(code) => {
                            errors = true;
                            r.with_error_code(code)
                        }
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default().with_responses(responses),
        total,
        errors,
    )
}
