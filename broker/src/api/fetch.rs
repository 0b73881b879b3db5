//! Fetch: reads batches straight from the logs, long-polling until `min_bytes` arrive.
//!
//! A fetch that finds too little data parks until one of the partitions it reads grows (each
//! read registers the fetch's `Notify` with the partition's log, which every append to that
//! log notifies: `PartitionLog::notify_on_append`), `max_wait_ms` passes or the broker stops,
//! then reads again: no timer loop, and appends to other partitions cost it nothing. Each read
//! pass runs on tokio's blocking pool on a durable broker (`off_workers`: file reads stall no
//! connection's task). Fetch sessions (KIP-227, `fetch_session.rs`) decide which partitions a
//! fetch reads and which its answer carries. A read_committed fetch (isolation level 1) reads
//! up to the last stable offset and lists the aborted transactions in what it returns, so the
//! consumer drops them. The answer is encoded by `fetch_wire.rs`, which sends each
//! partition's records from the buffer the log read them into.
//!
//! On a multi-node cluster only a partition's leader serves it (NOT_LEADER_OR_FOLLOWER
//! elsewhere). A consumer reads below the high watermark; a follower's fetch (a replica id of
//! 0 or more) reads to the log end, and each of its read passes tells the leader's
//! `ReplicaManager` where the follower's log ends, which moves the ISR and the high watermark.

use crate::sync::LockExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_response::*;
use kafka_protocol::messages::*;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::fetch_session::Wanted;
use crate::shared::Shared;
use uuid::Uuid;

/// What every read pass of one fetch needs (moved to the blocking pool by reference count).
struct ReadPass {
    /// The response's byte limit (`max_bytes`; 0 or less: none).
    max_bytes: i32,
    read_committed: bool,
    /// The partitions to read, in order, grouped by topic.
    wanted: Vec<Wanted>,
    /// Notified by every append to a partition this fetch read (while this `Arc` lives).
    wake: Arc<Notify>,
    /// The follower's node id, for a replica fetch on a cluster.
    follower: Option<i32>,
    /// On a cluster, the leader epoch each partition of this request names (-1: unchecked),
    /// for FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH.
    leader_epochs: std::collections::HashMap<(String, i32), i32>,
}

pub async fn fetch(shared: &Arc<Shared>, mut req: FetchRequest, version: i16) -> FetchResponse {
    // From v13 topics are named by id: resolved to names here, answered by id at the end.
    let unknown_ids = if version >= 13 {
        resolve_topic_ids(shared, &mut req)
    } else {
        Vec::new()
    };
    let leader_epochs = match &shared.cluster {
        Some(_) => req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| ((t.topic.to_string(), p.partition), p.current_leader_epoch))
            })
            .filter(|(_, epoch)| *epoch >= 0)
            .collect(),
        None => Default::default(),
    };
    let plan = shared.fetch_sessions.plan(&req, version);
    if plan.error != 0 {
        return FetchResponse::default().with_error_code(plan.error);
    }
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let min_bytes = req.min_bytes.max(0) as usize;
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    let pass = Arc::new(ReadPass {
        max_bytes: req.max_bytes,
        read_committed: req.isolation_level == 1,
        wanted: plan.partitions,
        wake: Arc::new(Notify::new()),
        follower: (replica_id >= 0 && shared.cluster.is_some()).then_some(replica_id),
        leader_epochs,
    });
    let mut stopping = shared.stopping.clone();
    let mut response = loop {
        let (response, bytes, errors) = {
            let pass = pass.clone();
            super::off_workers(shared, move |shared| read_once(shared, &pass)).await
        };
        if bytes >= min_bytes
            || errors
            || Instant::now() >= deadline
            || *stopping.borrow_and_update()
        {
            break response;
        }
        // An append after this pass read its partition has stored a permit: no wake-up is
        // lost between the read and this wait.
        tokio::select! {
            _ = pass.wake.notified() => {}
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

/// One pass over the fetch's partitions (in order, grouped by topic), registering the fetch
/// with each partition's log for its next append: (response, bytes returned, any partition
/// error).
fn read_once(shared: &Shared, pass: &ReadPass) -> (FetchResponse, usize, bool) {
    shared.fetch_reads.fetch_add(1, Ordering::Relaxed);
    let mut budget = if pass.max_bytes <= 0 {
        usize::MAX
    } else {
        pass.max_bytes as usize
    };
    let mut total = 0usize;
    let mut errors = false;
    let read_committed = pass.read_committed;
    // Per topic: (partition, fetch offset, partition max bytes).
    type Partitions = Vec<(i32, i64, i32)>;
    let mut by_topic: Vec<(&TopicName, Partitions)> = Vec::new();
    for (topic, partition, offset, max_bytes) in &pass.wanted {
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
                    // Only the leader serves; a follower's fetch also tells it where the
                    // follower's log ends.
                    let not_served = || {
                        let epoch = pass.leader_epochs.get(&(name.clone(), partition));
                        if let (Some(epoch), Some(c)) = (epoch, &shared.cluster) {
                            if let Some(code) = c.epoch_error(&name, partition, *epoch) {
                                return Some(code);
                            }
                        }
                        match (pass.follower, &shared.cluster) {
                            (Some(follower), Some(c)) => c
                                .on_follower_fetch(shared, &name, partition, follower, fetch_offset)
                                .err(),
                            _ => shared.leader_error(&name, partition),
                        }
                    };
                    let (code, log) = match (injected, log) {
                        (Some(code), _) => (code, None),
                        (None, None) => (3, None),
                        (None, Some(log)) => match not_served() {
                            Some(code) => (code, None),
                            None => (0, Some(log)),
                        },
                    };
                    let Some(log) = log else {
                        errors = true;
                        return r
                            .with_error_code(code)
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1)
                            .with_log_start_offset(-1);
                    };
                    let mut log = log.locked();
                    log.notify_on_append(&pass.wake);
                    let (start, end) = (log.log_start_offset(), log.log_end_offset());
                    // One node: the high watermark is the log end.
                    let hw = log.high_watermark();
                    let stable = log.last_stable_offset().min(hw);
                    let r = r
                        .with_high_watermark(hw)
                        .with_last_stable_offset(stable)
                        .with_log_start_offset(start);
                    let limit = (partition_max_bytes.max(0) as usize).min(budget);
                    let below = match (pass.follower, read_committed) {
                        (Some(_), _) => i64::MAX,
                        (None, true) => stable,
                        (None, false) if hw < end => hw,
                        (None, false) => i64::MAX,
                    };
                    let read_committed = read_committed && pass.follower.is_none();
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;

    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::*;

    use crate::shared::Shared;

    /// A broker with topic `t` of two partitions, in memory or in `dir`.
    async fn broker(dir: Option<&std::path::Path>) -> (crate::BrokerHandle, Arc<Shared>) {
        let mut builder = crate::Broker::builder().listen("127.0.0.1:0");
        if let Some(dir) = dir {
            builder = builder.data_dir(dir);
        }
        let broker = builder.start().await.unwrap();
        let shared = broker.shared.clone();
        shared
            .topics
            .create("t", 2, 1, Default::default(), false)
            .unwrap();
        (broker, shared)
    }

    fn produce(shared: &Shared, partition: i32) {
        let req = ProduceRequest::default().with_acks(1).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(crate::topics::sb("t")))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(crate::log::batch_for_tests(2)))]),
        ]);
        let answer = super::super::produce::produce(shared, req, 9).unwrap();
        assert_eq!(answer.responses[0].partition_responses[0].error_code, 0);
    }

    fn fetch_request(partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
        FetchRequest::default()
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(crate::topics::sb("t")))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])])
    }

    /// A fetch parked on partition 0 sleeps through appends to partition 1 (no read pass is
    /// made for them) and answers at once when partition 0 grows; in memory (reads in place)
    /// and on disk (reads on the blocking pool) alike.
    #[tokio::test]
    async fn a_parked_fetch_wakes_only_for_its_own_partitions() {
        let dir = tempfile::tempdir().unwrap();
        for dir in [None, Some(dir.path())] {
            parked_fetch_wakes_only_for_its_own_partitions(dir).await;
        }
    }

    async fn parked_fetch_wakes_only_for_its_own_partitions(dir: Option<&std::path::Path>) {
        let (broker, shared) = broker(dir).await;
        let reads = || shared.fetch_reads.load(Ordering::Relaxed);
        let parked = {
            let shared = shared.clone();
            tokio::spawn(async move { super::fetch(&shared, fetch_request(0, 0, 5_000), 12).await })
        };
        while reads() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for _ in 0..3 {
            produce(&shared, 1);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            reads(),
            1,
            "appends to partition 1 woke the fetch parked on 0"
        );
        assert!(!parked.is_finished());
        let appended = std::time::Instant::now();
        produce(&shared, 0);
        let answer = tokio::time::timeout(Duration::from_secs(2), parked)
            .await
            .expect("the append to partition 0 woke the fetch")
            .unwrap();
        assert!(appended.elapsed() < Duration::from_millis(500));
        let p = &answer.responses[0].partitions[0];
        assert_eq!((p.error_code, p.high_watermark), (0, 2));
        assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));
        assert_eq!(reads(), 2);
        broker.shutdown().await;
    }
}
