//! Metadata, DescribeCluster and FindCoordinator: on one node, this node leads everything; on
//! a multi-node cluster the controller's record says who leads what (and the coordinator is
//! the leader of the key's internal partition). The broker addresses they give are those of
//! the listener the request came in on (a SASL client is sent back to SASL ports, never to
//! plaintext ones).

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::*;
use kafka_protocol::messages::*;

use crate::shared::{Listener, Shared};
use crate::topics::sb;

/// Metadata: every topic (or the requested ones, auto-creating them when allowed).
pub fn metadata(
    shared: &Shared,
    listener: &Listener,
    req: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let node = BrokerId(shared.config.node_id);
    // In v0 an empty list (there is no null) asks for every topic.
    let all =
        req.topics.is_none() || (version == 0 && req.topics.as_ref().is_some_and(|t| t.is_empty()));
    let topics = match req.topics.as_ref().filter(|_| !all) {
        None => shared
            .topics
            .all()
            .into_iter()
            .map(|t| (t.name.clone(), Some(t)))
            .collect::<Vec<_>>(),
        Some(list) => list
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
            .map(|name| {
                let mut topic = shared.topics.get(&name);
                // Before v4 there is no flag: auto-creation follows the broker setting alone.
                let allowed = version < 4 || req.allow_auto_topic_creation;
                if topic.is_none() && allowed && shared.config.auto_create_topics {
                    topic = shared
                        .create_topic(&name, -1, -1, Default::default(), false)
                        .ok()
                        .or_else(|| shared.topics.get(&name));
                }
                (name, topic)
            })
            .collect(),
    };
    let topics = topics
        .into_iter()
        .map(|(name, topic)| {
            let t = MetadataResponseTopic::default().with_name(Some(TopicName(sb(&name))));
            match topic {
                None => {
                    let code = if crate::topics::validate_topic_name(&name).is_err() {
                        17
                    } else {
                        3
                    };
                    t.with_error_code(code)
                }
                Some(topic) => t
                    .with_topic_id(topic.id)
                    .with_is_internal(topic.internal)
                    .with_partitions(
                        (0..topic.partition_count())
                            .map(|p| {
                                let state = shared
                                    .cluster
                                    .as_ref()
                                    .and_then(|c| c.controller.partition(&name, p));
                                let (leader, epoch, replicas, isr) = match state {
                                    Some(s) => (
                                        BrokerId(s.leader),
                                        s.leader_epoch,
                                        s.replicas.into_iter().map(BrokerId).collect(),
                                        s.isr.into_iter().map(BrokerId).collect(),
                                    ),
                                    None => (node, 0, vec![node], vec![node]),
                                };
                                let part = MetadataResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_leader_epoch(epoch)
                                    .with_replica_nodes(replicas)
                                    .with_isr_nodes(isr);
                                // An injected error (LEADER_NOT_AVAILABLE, say) is answered as
                                // Kafka answers it during an election: no leader.
                                match shared.faults.take_error(
                                    ApiKey::Metadata as i16,
                                    Some(&name),
                                    Some(p),
                                ) {
                                    Some(code) => {
                                        part.with_error_code(code).with_leader_id(BrokerId(-1))
                                    }
                                    // Every in-sync replica is down: no leader until
                                    // one returns.
                                    None if leader.0 < 0 => {
                                        part.with_error_code(5).with_leader_id(leader)
                                    }
                                    None => part.with_leader_id(leader),
                                }
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    let brokers = brokers(shared, listener)
        .into_iter()
        .map(|(id, host, port)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(sb(&host))
                .with_port(port)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(sb(&shared.cluster_id)))
        .with_controller_id(BrokerId(controller_id(shared)))
        .with_topics(topics)
}

/// Every node's address on `listener`: this one node, or each node of the cluster.
fn brokers(shared: &Shared, listener: &Listener) -> Vec<(i32, String, i32)> {
    match &shared.cluster {
        Some(c) => c.controller.endpoints(&listener.name),
        None => vec![(shared.config.node_id, listener.host.clone(), listener.port)],
    }
}

/// The active controller's id: this node, or the cluster's lowest node id.
fn controller_id(shared: &Shared) -> i32 {
    match &shared.cluster {
        Some(c) => c.controller.controller_id(),
        None => shared.config.node_id,
    }
}

pub fn describe_cluster(
    shared: &Shared,
    listener: &Listener,
    _req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    DescribeClusterResponse::default()
        .with_cluster_id(sb(&shared.cluster_id))
        .with_controller_id(BrokerId(controller_id(shared)))
        .with_brokers(
            brokers(shared, listener)
                .into_iter()
                .map(|(id, host, port)| {
                    DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(id))
                        .with_host(sb(&host))
                        .with_port(port)
                })
                .collect(),
        )
}

/// The coordinator of `key` (key type 0: a group, 1: a transactional id) on a cluster: the
/// node leading the key's partition of `__consumer_offsets` or `__transaction_state`
/// (created on the first lookup of a transactional id, as Kafka creates it), with its address
/// on `listener`. `None` on one node (this node) or when it cannot be said yet.
fn cluster_coordinator(
    shared: &Shared,
    listener: &Listener,
    key: &str,
    key_type: i8,
) -> Option<(i32, String, i32)> {
    let c = shared.cluster.as_ref()?;
    let (topic, partitions) = match key_type {
        0 => (
            crate::topics::OFFSETS_TOPIC,
            shared.config.group.offsets_topic_num_partitions,
        ),
        _ => {
            let partitions = shared.config.txn.state_log_num_partitions;
            if shared
                .topics
                .get(crate::topics::TRANSACTION_STATE_TOPIC)
                .is_none()
            {
                let created = c.controller.create_internal(
                    crate::topics::TRANSACTION_STATE_TOPIC,
                    partitions,
                    c.controller
                        .replication
                        .transaction_state_replication_factor,
                    [("cleanup.policy".to_string(), "compact".to_string())].into(),
                );
                if let Err(e) = created {
                    tracing::warn!("creating __transaction_state failed: {}", e.message);
                }
            }
            (crate::topics::TRANSACTION_STATE_TOPIC, partitions)
        }
    };
    let partitions = shared
        .topics
        .get(topic)
        .map_or(partitions, |t| t.partition_count());
    let p = crate::topics::coordinator_partition(key, partitions as usize);
    let leader = c.controller.partition(topic, p)?.leader;
    let (host, port) = c.controller.endpoint(leader, &listener.name)?;
    Some((leader, host, port))
}

/// FindCoordinator: groups (key type 0) and transactional ids (1) are coordinated here (the
/// group coordinator and `txn/`); other key types are unknown.
pub fn find_coordinator(
    shared: &Shared,
    listener: &Listener,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let answer = |key_type: i8| -> (i16, Option<&'static str>) {
        match key_type {
            0 | 1 => (0, None),
            _ => (42, Some("unknown coordinator key type")), // INVALID_REQUEST
        }
    };
    let this = (shared.config.node_id, listener.host.clone(), listener.port);
    let coordinator = |key: &str, code: i16| {
        if code != 0 || shared.cluster.is_none() {
            return Ok(this.clone());
        }
        // COORDINATOR_NOT_AVAILABLE until the cluster can say.
        cluster_coordinator(shared, listener, key, req.key_type).ok_or(15i16)
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let (code, msg) = answer(req.key_type);
                let (code, (node, host, port)) = match coordinator(&k.to_string(), code) {
                    Ok(at) => (code, at),
                    Err(unavailable) => (unavailable, (-1, String::new(), -1)),
                };
                Coordinator::default()
                    .with_key(k.clone())
                    .with_node_id(if code == 0 {
                        BrokerId(node)
                    } else {
                        BrokerId(-1)
                    })
                    .with_host(if code == 0 { sb(&host) } else { sb("") })
                    .with_port(if code == 0 { port } else { -1 })
                    .with_error_code(code)
                    .with_error_message(msg.map(sb))
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (code, msg) = answer(req.key_type);
    let (code, (node, host, port)) = match coordinator(&req.key.to_string(), code) {
        Ok(at) => (code, at),
        Err(unavailable) => (unavailable, (-1, String::new(), -1)),
    };
    let r = FindCoordinatorResponse::default().with_error_code(code);
    let r = if version >= 1 {
        r.with_error_message(msg.map(sb))
    } else {
        r
    };
    if code != 0 {
        return r.with_node_id(BrokerId(-1)).with_host(sb("")).with_port(-1);
    }
    r.with_node_id(BrokerId(node))
        .with_host(sb(&host))
        .with_port(port)
}
