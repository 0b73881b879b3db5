//! Fetch: reads batches straight from the logs, long-polling until `min_bytes` arrive.
//!
//! A fetch that finds too little data waits on the broker's append signal (a `watch` bumped
//! after every append) or until `max_wait_ms`, then reads again: no timer loop. Fetch sessions
//! (KIP-227) are not kept: every answer has session id 0, which tells clients to keep sending
//! full fetch requests. A read_committed fetch (isolation level 1) reads up to the last stable
//! offset and lists the aborted transactions in what it returns, so the consumer drops them.

use crate::sync::LockExt;
use std::time::Duration;

use kafka_protocol::messages::fetch_response::*;
use kafka_protocol::messages::*;
use tokio::time::Instant;

use crate::shared::Shared;

pub async fn fetch(shared: &Shared, req: FetchRequest, _version: i16) -> FetchResponse {
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let mut appended = shared.appended.subscribe();
    let mut stopping = shared.stopping.clone();
    loop {
        appended.borrow_and_update();
        let (response, bytes, errors) = read_once(shared, &req);
        if bytes >= req.min_bytes.max(0) as usize
            || errors
            || Instant::now() >= deadline
            || *stopping.borrow_and_update()
        {
            return response;
        }
        tokio::select! {
            changed = appended.changed() => if changed.is_err() { return response },
            changed = stopping.changed() => if changed.is_err() { return response },
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// One pass over the requested partitions: (response, bytes returned, any partition error).
fn read_once(shared: &Shared, req: &FetchRequest) -> (FetchResponse, usize, bool) {
    let mut budget = if req.max_bytes <= 0 {
        usize::MAX
    } else {
        req.max_bytes as usize
    };
    let mut total = 0usize;
    let mut errors = false;
    let read_committed = req.isolation_level == 1;
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let name = t.topic.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_aborted_transactions(Some(vec![]));
                    let injected = shared.faults.take_error(
                        ApiKey::Fetch as i16,
                        Some(&name),
                        Some(p.partition),
                    );
                    let log = shared.topics.partition(&name, p.partition);
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
                    let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
                    let below = if read_committed { stable } else { i64::MAX };
                    // Kafka returns at least one batch from the first partition with data, so a
                    // batch larger than the limits never blocks a consumer.
                    match log.read_below(p.fetch_offset, limit, total == 0, below) {
                        Ok(records) if read_committed => {
                            total += records.len();
                            budget = budget.saturating_sub(records.len());
                            let aborted = log
                                .aborted_between(p.fetch_offset, stable)
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
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default().with_responses(responses),
        total,
        errors,
    )
}
