//! Metadata, DescribeCluster and FindCoordinator: this one node leads everything. The broker
//! address they give is the listener the request came in on (a SASL client is sent back to
//! the SASL port, never to the plaintext one).

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
                        .topics
                        .create(&name, -1, -1, Default::default(), false)
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
                                let part = MetadataResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_leader_epoch(0)
                                    .with_replica_nodes(vec![node])
                                    .with_isr_nodes(vec![node]);
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
                                    None => part.with_leader_id(node),
                                }
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(sb(&listener.host))
            .with_port(listener.port)])
        .with_cluster_id(Some(sb(&shared.cluster_id)))
        .with_controller_id(node)
        .with_topics(topics)
}

pub fn describe_cluster(
    shared: &Shared,
    listener: &Listener,
    _req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    DescribeClusterResponse::default()
        .with_cluster_id(sb(&shared.cluster_id))
        .with_controller_id(BrokerId(shared.config.node_id))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(shared.config.node_id))
            .with_host(sb(&listener.host))
            .with_port(listener.port)])
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
    let node = BrokerId(shared.config.node_id);
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let (code, msg) = answer(req.key_type);
                Coordinator::default()
                    .with_key(k.clone())
                    .with_node_id(if code == 0 { node } else { BrokerId(-1) })
                    .with_host(if code == 0 {
                        sb(&listener.host)
                    } else {
                        sb("")
                    })
                    .with_port(if code == 0 { listener.port } else { -1 })
                    .with_error_code(code)
                    .with_error_message(msg.map(sb))
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (code, msg) = answer(req.key_type);
    let r = FindCoordinatorResponse::default().with_error_code(code);
    let r = if version >= 1 {
        r.with_error_message(msg.map(sb))
    } else {
        r
    };
    if code != 0 {
        return r.with_node_id(BrokerId(-1)).with_host(sb("")).with_port(-1);
    }
    r.with_node_id(node)
        .with_host(sb(&listener.host))
        .with_port(listener.port)
}
