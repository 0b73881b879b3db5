//! Request handlers, one file per family of APIs, and the versions this broker advertises.
//!
//! The advertised ranges follow what real clients send (see shared PROTOCOL-FACTS): Fetch goes
//! to v17 (topics by id from v13, resolved in `fetch.rs`); Produce stops at v12 because v13
//! addresses topics by id only; OffsetCommit
//! and OffsetFetch stop at v9; no KIP-848 ConsumerGroupHeartbeat (classic groups only). With
//! `transaction.version` 2 (the default, as Kafka 4.x) ApiVersions finalizes that feature and
//! offers KIP-890's transaction protocol v2 (Produce v12, TxnOffsetCommit v5, EndTxn v5);
//! below 2 those APIs stop at their v1 versions. AddPartitionsToTxn v4+ (broker-to-broker
//! verification) is not offered.

mod acls;
mod admin;
mod cluster;
mod fetch;
pub mod fetch_session;
mod fetch_wire;
mod injected;
mod not_coordinator;
mod offsets;
mod produce;
mod txn;

pub use fetch_wire::{encode_fetch_response, Frame};
pub use injected::throttle_field;

use std::sync::Arc;

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::group::ClientInfo;
use crate::shared::{Listener, Shared};

/// `(api key, min, max)` advertised in ApiVersions.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    // Produce v0-2 carry old message formats and are refused; min 0 is advertised as Kafka 4
    // does, because librdkafka before 2.11.1 disables compression otherwise (KAFKA-18659).
    (ApiKey::Produce, 0, 12),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    // No authorizer: SECURITY_DISABLED, as Kafka 4 answers (v0 is gone there).
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    // Handled by the connection (`server.rs`, `sasl.rs`). Min 0 is advertised because
    // librdkafka finds no SASL support without it; after a v0 handshake the pre-KIP-152 client
    // would send raw tokens, which are not spoken here (they close the connection).
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// The highest version of `key` offered at `transaction_version`: the versions KIP-890 gave
/// protocol v2's meaning only where that feature is 2.
fn max_version(key: ApiKey, max: i16, transaction_version: i16) -> i16 {
    if transaction_version >= 2 {
        return max;
    }
    match key {
        ApiKey::Produce => max.min(11),
        ApiKey::EndTxn | ApiKey::TxnOffsetCommit => max.min(4),
        _ => max,
    }
}

/// Whether this broker handles `key` at `version` (Produce below v3 is advertised, not served).
pub fn handles(key: ApiKey, version: i16, transaction_version: i16) -> bool {
    let min_served = |k: ApiKey, min: i16| if k == ApiKey::Produce { 3 } else { min };
    SUPPORTED.iter().any(|(k, min, max)| {
        *k == key
            && version >= min_served(*k, *min)
            && version <= max_version(*k, *max, transaction_version)
    })
}

/// The ApiVersions answer at `version`; `error_code` 35 with v0 for a version this broker
/// does not know. From v3 it carries the `transaction.version` feature (KIP-584), finalized
/// at its level when above 0.
pub fn api_versions(
    error_code: i16,
    version: i16,
    transaction_version: i16,
) -> ApiVersionsResponse {
    let r = ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(
            SUPPORTED
                .iter()
                .filter(|(k, _, _)| error_code == 0 || *k == ApiKey::ApiVersions)
                .map(|(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(*k as i16)
                        .with_min_version(*min)
                        .with_max_version(max_version(*k, *max, transaction_version))
                })
                .collect(),
        );
    if version < 3 || error_code != 0 {
        return r;
    }
    use kafka_protocol::messages::api_versions_response::{
        FinalizedFeatureKey, SupportedFeatureKey,
    };
    let name = StrBytes::from_static_str("transaction.version");
    let r = r.with_supported_features(vec![SupportedFeatureKey::default()
        .with_name(name.clone())
        .with_min_version(0)
        .with_max_version(2)]);
    if transaction_version == 0 {
        return r.with_finalized_features_epoch(-1);
    }
    // One epoch for the only finalization this broker ever makes (at start).
    r.with_finalized_features_epoch(1)
        .with_finalized_features(vec![FinalizedFeatureKey::default()
            .with_name(name)
            .with_min_version_level(transaction_version)
            .with_max_version_level(transaction_version)])
}

/// Runs `f` (which reads or writes log files) on tokio's blocking pool, one hop per request
/// (or per read pass of a fetch), so a slow disk or a big read stalls no other connection's
/// task. An in-memory broker runs it in place: there is no disk to wait for, and the hop
/// would cost more than the work. A panic in `f` goes on in the caller, as if run in place.
pub(crate) async fn off_workers<T, F>(shared: &Arc<Shared>, f: F) -> T
where
    F: FnOnce(&Shared) -> T + Send + 'static,
    T: Send + 'static,
{
    if shared.in_memory {
        return f(shared);
    }
    let shared = shared.clone();
    match tokio::task::spawn_blocking(move || f(&shared)).await {
        Ok(value) => value,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("log I/O task cancelled: {e}"),
        },
    }
}

/// Handles one decoded request; `None` means no response is sent (Produce with acks=0).
/// Requests that touch log files run their file I/O through [`off_workers`] (OffsetCommit
/// included); the group coordinator's membership records (JoinGroup, SyncGroup, LeaveGroup,
/// the rare writes) and TxnOffsetCommit still write in place.
pub async fn handle(
    shared: &Arc<Shared>,
    listener: &Listener,
    request: RequestKind,
    version: i16,
    client: ClientInfo,
) -> Option<ResponseKind> {
    if let Some(injected) = injected::response(&shared.faults, &request, version) {
        return Some(injected);
    }
    if let Some(elsewhere) = not_coordinator::answer(shared, &request, version) {
        return Some(elsewhere);
    }
    let groups = &shared.groups;
    Some(match request {
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions(
            0,
            version,
            shared.config.txn.transaction_version,
        )),
        RequestKind::Metadata(r) => {
            ResponseKind::Metadata(cluster::metadata(shared, listener, r, version))
        }
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(cluster::describe_cluster(shared, listener, r))
        }
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(cluster::find_coordinator(shared, listener, r, version))
        }
        RequestKind::Produce(r) => {
            let timeout_ms = r.timeout_ms;
            let appended = off_workers(shared, move |s| produce::append_all(s, r, version)).await;
            let response = appended.response?;
            let response = produce::await_acks(shared, response, appended.waits, timeout_ms).await;
            return Some(ResponseKind::Produce(response));
        }
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::fetch(shared, r, version).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(
            off_workers(shared, move |s| offsets::list_offsets(s, r, version)).await,
        ),
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(offsets::offset_for_leader_epoch(shared, r))
        }
        RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(
            off_workers(shared, move |s| offsets::delete_records(s, r)).await,
        ),
        // The transaction coordinator records its state (and may write abort markers).
        RequestKind::InitProducerId(r) if r.transactional_id.is_some() => {
            let id = r
                .transactional_id
                .as_deref()
                .map_or("", |id| id.as_str())
                .to_string();
            let txn_id = id.clone();
            let mut response = off_workers(shared, move |s| {
                txn::init_producer_id(s, &txn_id, &r, version)
            })
            .await;
            txn_state_replicated_or(shared, &id, &mut response.error_code).await;
            ResponseKind::InitProducerId(response)
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(produce::init_producer_id(shared, r))
        }
        RequestKind::AddPartitionsToTxn(r) => {
            let id = r.v3_and_below_transactional_id.to_string();
            let mut response =
                off_workers(shared, move |s| txn::add_partitions_to_txn(s, r, version)).await;
            let added = response
                .results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| &t.results_by_partition)
                .any(|p| p.partition_error_code == 0);
            if added {
                if let Err(code) = txn_state_replicated(shared, &id).await {
                    response
                        .results_by_topic_v3_and_below
                        .iter_mut()
                        .flat_map(|t| &mut t.results_by_partition)
                        .filter(|p| p.partition_error_code == 0)
                        .for_each(|p| p.partition_error_code = code);
                }
            }
            ResponseKind::AddPartitionsToTxn(response)
        }
        RequestKind::AddOffsetsToTxn(r) => {
            let id = r.transactional_id.to_string();
            let mut response =
                off_workers(shared, move |s| txn::add_offsets_to_txn(s, r, version)).await;
            txn_state_replicated_or(shared, &id, &mut response.error_code).await;
            ResponseKind::AddOffsetsToTxn(response)
        }
        RequestKind::EndTxn(r) => {
            let id = r.transactional_id.to_string();
            let mut response = off_workers(shared, move |s| txn::end_txn(s, r, version)).await;
            txn_state_replicated_or(shared, &id, &mut response.error_code).await;
            ResponseKind::EndTxn(response)
        }
        RequestKind::TxnOffsetCommit(r) => {
            // Protocol v2 (KIP-890): the commit adds the group's offsets partition itself.
            let added = if version >= 5 {
                let id = r.transactional_id.clone();
                let (producer_id, producer_epoch) = (r.producer_id.0, r.producer_epoch);
                let partition = groups.partition_for(r.group_id.as_str());
                // Asked of the id's transaction coordinator (another node on a cluster).
                off_workers(shared, move |s| {
                    s.on_txn_coordinator(id.as_str(), |c| {
                        txn::add_implicitly(
                            c,
                            id.as_str(),
                            producer_id,
                            producer_epoch,
                            crate::topics::OFFSETS_TOPIC,
                            partition,
                        )
                    })
                })
                .await
            } else {
                0
            };
            ResponseKind::TxnOffsetCommit(if added == 0 {
                groups.txn_offset_commit(r, version).await
            } else {
                txn::txn_offset_commit_failed(&r, added)
            })
        }
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(txn::describe_transactions(shared, r))
        }
        RequestKind::ListTransactions(r) => {
            ResponseKind::ListTransactions(txn::list_transactions(shared, r))
        }
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(
            off_workers(shared, move |s| admin::create_topics(s, r, version)).await,
        ),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(
            off_workers(shared, move |s| admin::delete_topics(s, r)).await,
        ),
        RequestKind::CreatePartitions(r) => ResponseKind::CreatePartitions(
            off_workers(shared, move |s| admin::create_partitions(s, r)).await,
        ),
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(admin::describe_configs(shared, r))
        }
        RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(
            off_workers(shared, move |s| admin::alter_configs(s, r)).await,
        ),
        RequestKind::IncrementalAlterConfigs(r) => ResponseKind::IncrementalAlterConfigs(
            off_workers(shared, move |s| admin::incremental_alter_configs(s, r)).await,
        ),
        RequestKind::DescribeAcls(r) => ResponseKind::DescribeAcls(acls::describe_acls(r)),
        RequestKind::CreateAcls(r) => ResponseKind::CreateAcls(acls::create_acls(r)),
        RequestKind::DeleteAcls(r) => ResponseKind::DeleteAcls(acls::delete_acls(r)),
        RequestKind::JoinGroup(r) => {
            ResponseKind::JoinGroup(groups.join_group(r, version, client).await)
        }
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(groups.sync_group(r, version).await),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(groups.heartbeat(r, version).await),
        RequestKind::LeaveGroup(r) => {
            ResponseKind::LeaveGroup(groups.leave_group(r, version).await)
        }
        RequestKind::OffsetCommit(r) => {
            let group = r.group_id.to_string();
            let mut response =
                off_workers(shared, move |s| s.groups.offset_commit(r, version)).await;
            if shared.cluster.is_some() {
                commit_replicated(shared, &group, &mut response).await;
            }
            ResponseKind::OffsetCommit(response)
        }
        RequestKind::OffsetFetch(r) => {
            ResponseKind::OffsetFetch(groups.offset_fetch(r, version).await)
        }
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(groups.describe_groups(r, version).await)
        }
        RequestKind::ListGroups(r) => {
            ResponseKind::ListGroups(groups.list_groups(r, version).await)
        }
        RequestKind::DeleteGroups(r) => {
            ResponseKind::DeleteGroups(groups.delete_groups(r, version).await)
        }
        other => {
            tracing::warn!("no handler for {:?}", std::mem::discriminant(&other));
            return None;
        }
    })
}

/// On a cluster, a commit is answered once every in-sync replica of its offsets partition holds
/// it (Kafka writes commits with acks=all): until then a failover could lose it. The commits
/// that were written get the wait's error if it fails.
async fn commit_replicated(shared: &Arc<Shared>, group: &str, response: &mut OffsetCommitResponse) {
    let written = response
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .any(|p| p.error_code == 0);
    if !written {
        return;
    }
    let (partition, log) = shared.groups.group_log(group);
    let end = crate::sync::LockExt::locked(&*log).log_end_offset();
    let waited = crate::cluster::replica_manager::await_high_watermark(
        shared,
        crate::topics::OFFSETS_TOPIC,
        partition,
        &log,
        end,
        shared.groups.commit_timeout(),
    )
    .await;
    if let Err(code) = waited {
        for p in response.topics.iter_mut().flat_map(|t| &mut t.partitions) {
            if p.error_code == 0 {
                p.error_code = code;
            }
        }
    }
}

/// `txn_state_replicated` for a request answered with one `error_code`: a change it made
/// (code 0) gets the wait's error if the wait fails.
async fn txn_state_replicated_or(
    shared: &Arc<Shared>,
    transactional_id: &str,
    error_code: &mut i16,
) {
    if *error_code == 0 {
        if let Err(code) = txn_state_replicated(shared, transactional_id).await {
            *error_code = code;
        }
    }
}

/// How long a transaction coordinator's state write waits for its ISR: Kafka's default
/// `request.timeout.ms`, which bounds its coordinator's appends.
const TXN_STATE_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// On a cluster, a transaction request that changed `transactional_id`'s state is answered once
/// every in-sync replica of its `__transaction_state` partition holds the change (Kafka writes
/// it with acks=all): a coordinator failover then finds the state the client was told of.
/// `Err` with the answer Kafka gives for a failed write (NOT_COORDINATOR when the partition
/// moved, COORDINATOR_NOT_AVAILABLE after the timeout).
async fn txn_state_replicated(shared: &Arc<Shared>, transactional_id: &str) -> Result<(), i16> {
    if shared.cluster.is_none() {
        return Ok(());
    }
    let topic = crate::topics::TRANSACTION_STATE_TOPIC;
    let Some(partitions) = shared.topics.get(topic).map(|t| t.partition_count()) else {
        return Ok(());
    };
    let partition = crate::topics::coordinator_partition(transactional_id, partitions as usize);
    let Some(log) = shared.topics.partition(topic, partition) else {
        return Ok(());
    };
    let end = crate::sync::LockExt::locked(&*log).log_end_offset();
    crate::cluster::replica_manager::await_high_watermark(
        shared,
        topic,
        partition,
        &log,
        end,
        TXN_STATE_WRITE_TIMEOUT,
    )
    .await
}
