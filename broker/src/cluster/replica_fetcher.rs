//! A follower's replica fetcher (one per leader node, as Kafka's fetcher threads per source
//! broker): Fetch requests with this node's id as `ReplicaId` over TCP to the leader, from each
//! followed partition's log end; the batches returned are appended as the leader wrote them
//! (`PartitionLog::append_replicated`), and the high watermark the leader answers with is
//! this replica's. Fetch v12 is spoken: topics by name, `ReplicaId` in the body (v15 moved it
//! into `ReplicaState`), the version every node of this process serves. Each partition starts
//! every leader epoch in a `Truncating` phase (`truncation.rs`: OffsetForLeaderEpoch, then the
//! log cut where it diverges) before it fetches; a follower behind the leader's log start
//! starts over there.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::truncation;
use crate::log::now_ms;
use crate::shared::Shared;
use crate::sync::LockExt;

/// The Fetch version followers send.
const FETCH_VERSION: i16 = 12;
/// How long to wait before trying again after a failure or with nothing to fetch.
const BACKOFF: Duration = Duration::from_millis(50);

/// Where a followed partition stands with its current leader epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A new leader epoch: the log is first cut to where the leader's diverges
    /// (`truncation.rs`).
    Truncating,
    /// Fetching from the log end.
    Fetching,
}

/// Replicates the partitions `shared`'s node follows from `leader`, until `stop` flips.
pub async fn run(shared: Arc<Shared>, leader: i32, mut stop: watch::Receiver<bool>) {
    let Some(replicas) = shared.cluster.clone() else {
        return;
    };
    let node = replicas.node_id;
    let controller = replicas.controller.clone();
    let mut paused = replicas.fetchers_paused.subscribe();
    let mut leadership = controller.leadership_changes();
    let mut connection: Option<TcpStream> = None;
    let mut correlation_id = 0i32;
    // Per followed partition: the leader epoch it follows in, and its phase.
    let mut phases: HashMap<(String, i32), (i32, Phase)> = HashMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        if *paused.borrow_and_update() {
            // The fault: nothing is fetched (the connection goes, as a stopped fetcher's).
            connection = None;
            tokio::select! {
                _ = paused.changed() => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let followed: Vec<(String, i32, i32)> = controller
            .followed_from(node, leader)
            .into_iter()
            .filter_map(|(t, p)| {
                let epoch = controller.partition(&t, p)?.leader_epoch;
                Some((t, p, epoch))
            })
            .collect();
        phases.retain(|(t, p), _| followed.iter().any(|f| f.0 == *t && f.1 == *p));
        for (t, p, epoch) in &followed {
            let entry = phases
                .entry((t.clone(), *p))
                .or_insert((*epoch, Phase::Truncating));
            if entry.0 != *epoch {
                *entry = (*epoch, Phase::Truncating);
            }
        }
        let address = controller.replication_address(leader);
        let (Some(address), false) = (address, followed.is_empty()) else {
            if sleep_or_stop(&mut stop, BACKOFF * 2).await {
                return;
            }
            continue;
        };
        if connection.is_none() {
            match TcpStream::connect(address).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    connection = Some(s);
                }
                Err(e) => {
                    tracing::debug!(node, leader, "replica fetcher cannot connect: {e}");
                    if sleep_or_stop(&mut stop, BACKOFF * 4).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let stream = connection.as_mut().expect("connected above");
        let truncating = to_truncate(&shared, &followed, &mut phases);
        if !truncating.is_empty() {
            let request = truncation::request(node, &truncating);
            correlation_id = correlation_id.wrapping_add(1);
            let answered = tokio::select! {
                r = round_trip::<_, OffsetForLeaderEpochResponse>(stream, ApiKey::OffsetForLeaderEpoch, truncation::VERSION, correlation_id, &request) => r,
                _ = leadership.changed() => {
                    connection = None;
                    continue;
                }
                _ = stop.changed() => return,
            };
            match answered {
                Ok(response) => {
                    for tp in truncation::apply(&shared, truncating, response).await {
                        if let Some(entry) = phases.get_mut(&tp) {
                            entry.1 = Phase::Fetching;
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(node, leader, "OffsetForLeaderEpoch failed: {e}");
                    connection = None;
                    if sleep_or_stop(&mut stop, BACKOFF).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let fetching: Vec<(String, i32, i32)> = followed
            .into_iter()
            .filter(|(t, p, _)| {
                phases
                    .get(&(t.clone(), *p))
                    .is_some_and(|e| e.1 == Phase::Fetching)
            })
            .collect();
        if fetching.is_empty() {
            if sleep_or_stop(&mut stop, BACKOFF).await {
                return;
            }
            continue;
        }
        let Some(stream) = connection.as_mut() else {
            continue;
        };
        let request = fetch_request(&shared, node, &fetching);
        correlation_id = correlation_id.wrapping_add(1);
        let answered = tokio::select! {
            r = round_trip::<_, FetchResponse>(stream, ApiKey::Fetch, FETCH_VERSION, correlation_id, &request) => r,
            // The leader changed: this fetch may be parked on a node cut off for good.
            _ = leadership.changed() => {
                connection = None;
                continue;
            }
            _ = stop.changed() => return,
        };
        let response = match answered {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(node, leader, "replica fetch failed: {e}");
                connection = None;
                if sleep_or_stop(&mut stop, BACKOFF).await {
                    return;
                }
                continue;
            }
        };
        if *paused.borrow() {
            continue; // paused while the fetch was out: its records are not taken
        }
        let failed = apply(&shared, response).await;
        if failed && sleep_or_stop(&mut stop, BACKOFF).await {
            return;
        }
    }
}

/// The truncating partitions to ask the leader about: (topic, partition, leader epoch, this
/// log's latest epoch). A log with no epoch yet (empty) has nothing to cut: it fetches.
fn to_truncate(
    shared: &Shared,
    followed: &[(String, i32, i32)],
    phases: &mut HashMap<(String, i32), (i32, Phase)>,
) -> Vec<(String, i32, i32, i32)> {
    let mut out = Vec::new();
    for (t, p, epoch) in followed {
        let key = (t.clone(), *p);
        if phases.get(&key).map(|e| e.1) != Some(Phase::Truncating) {
            continue;
        }
        let latest = shared
            .topics
            .partition(t, *p)
            .and_then(|log| log.locked().latest_epoch());
        match latest {
            Some(latest) => out.push((t.clone(), *p, *epoch, latest)),
            None => {
                phases.insert(key, (*epoch, Phase::Fetching));
            }
        }
    }
    out
}

/// Sleeps; true when the node stops meanwhile.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.changed() => true,
    }
}

/// A Fetch from each followed partition's log end, naming the leader epoch followed.
fn fetch_request(shared: &Shared, node: i32, partitions: &[(String, i32, i32)]) -> FetchRequest {
    let replication = &shared.config.replication;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (topic, p, epoch) in partitions {
        let Some(log) = shared.topics.partition(topic, *p) else {
            continue;
        };
        let (end, start) = {
            let log = log.locked();
            (log.log_end_offset(), log.log_start_offset())
        };
        let partition = FetchPartition::default()
            .with_partition(*p)
            .with_current_leader_epoch(*epoch)
            .with_fetch_offset(end)
            .with_last_fetched_epoch(-1)
            .with_log_start_offset(start)
            .with_partition_max_bytes(replication.replica_fetch_max_bytes);
        match topics.last_mut() {
            Some(t) if t.topic.as_str() == topic => t.partitions.push(partition),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(node))
        // Kafka's docs ask for a wait below the lag time (a parked follower would otherwise
        // look stale and leave the ISR): never more than half of it here.
        .with_max_wait_ms(
            (replication.replica_fetch_wait_max_ms as i64)
                .min(replication.replica_lag_time_max_ms / 2)
                .max(1) as i32,
        )
        .with_min_bytes(1)
        .with_max_bytes(replication.replica_fetch_response_max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// Sends one request to the leader and reads its answer.
async fn round_trip<Req: Encodable, Resp: Decodable>(
    stream: &mut TcpStream,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    request: &Req,
) -> std::io::Result<Resp> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("krafty-replica-fetcher")))
        .encode(&mut out, api_key.request_header_version(version))
        .map_err(|e| bad(e.to_string()))?;
    request
        .encode(&mut out, version)
        .map_err(|e| bad(e.to_string()))?;
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    stream.write_all(&out).await?;
    let size = stream.read_i32().await?;
    if size < 4 {
        return Err(bad(format!("frame of {size} bytes")));
    }
    let mut frame = BytesMut::zeroed(size as usize);
    stream.read_exact(&mut frame).await?;
    let mut frame: Bytes = frame.freeze();
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
        .map_err(|e| bad(e.to_string()))?;
    if header.correlation_id != correlation_id {
        return Err(bad("correlation id mismatch".into()));
    }
    let response = Resp::decode(&mut frame, version).map_err(|e| bad(e.to_string()))?;
    if frame.has_remaining() {
        tracing::debug!("{} bytes after a {api_key:?} response", frame.remaining());
    }
    Ok(response)
}

/// Appends what the leader returned and takes its high watermark; true when a partition
/// answered an error (the fetcher backs off).
async fn apply(shared: &Arc<Shared>, response: FetchResponse) -> bool {
    if response.error_code != 0 {
        return true;
    }
    crate::api::off_workers(shared, move |shared| {
        let mut failed = false;
        for topic in response.responses {
            let name = topic.topic.to_string();
            for p in topic.partitions {
                // OFFSET_OUT_OF_RANGE below the leader's log start: what this replica lacks is
                // gone from the leader too; it starts over at the leader's log start.
                if p.error_code == 1 && p.log_start_offset >= 0 {
                    if let Some(log) = shared.topics.partition(&name, p.partition_index) {
                        let mut log = log.locked();
                        if log.log_end_offset() < p.log_start_offset {
                            if let Err(e) = log.truncate_fully_and_start_at(p.log_start_offset) {
                                tracing::error!(topic = %name, partition = p.partition_index, "emptying the log failed: {e}");
                            }
                            continue;
                        }
                    }
                }
                if p.error_code != 0 {
                    tracing::debug!(topic = %name, partition = p.partition_index, code = p.error_code, "replica fetch error");
                    failed = true;
                    continue;
                }
                let Some(log) = shared.topics.partition(&name, p.partition_index) else {
                    continue;
                };
                let mut log = log.locked();
                if let Some(records) = p.records.filter(|r| !r.is_empty()) {
                    if let Err(e) = log.append_replicated(records, now_ms()) {
                        tracing::warn!(topic = %name, partition = p.partition_index, "replicated append failed: {}", e.message);
                        failed = true;
                        continue;
                    }
                }
                log.advance_high_watermark(p.high_watermark);
                // The leader's log start (DeleteRecords, retention) moves this replica's.
                if p.log_start_offset > log.log_start_offset()
                    && p.log_start_offset <= log.log_end_offset()
                {
                    if let Err(code) = log.delete_records_before(p.log_start_offset) {
                        tracing::warn!(topic = %name, partition = p.partition_index, code, "moving the log start failed");
                    }
                }
            }
        }
        failed
    })
    .await
}
