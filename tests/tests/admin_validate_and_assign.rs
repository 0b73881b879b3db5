//! `create_topics_with` / `create_partitions_with` on the dev broker and Apache Kafka:
//! `validate_only` checks a request and creates nothing, and replica assignments place
//! partitions on the brokers named (on one node: `[node]` per partition), anything else
//! refused with INVALID_REPLICA_ASSIGNMENT (39) as Kafka answers.

use std::collections::BTreeMap;

use krafty::admin::{AdminClient, CreateOptions, NewTopic};
use krafty::KafkaError;
use krafty_tests::{described_when, unique_topic, TestCluster};

const VALIDATE: CreateOptions = CreateOptions {
    validate_only: true,
};

fn code(r: krafty::Result<()>) -> Option<i16> {
    match r {
        Ok(()) => Some(0),
        Err(e @ KafkaError::Broker { .. }) => e.code(),
        Err(e) => panic!("not a broker error: {e}"),
    }
}

/// The node id of the (only) broker.
async fn node_id(cluster: &TestCluster, admin: &AdminClient) -> i32 {
    let topic = unique_topic("node");
    cluster.create_topic(&topic, 1, &[]).await;
    admin.describe_topics(&[topic.as_str()]).await.unwrap()[0].partitions[0].leader
}

async fn exists(admin: &AdminClient, topic: &str) -> bool {
    admin
        .list_topics(false)
        .await
        .unwrap()
        .iter()
        .any(|t| t == topic)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_only_creates_no_topic_and_still_refuses_a_taken_name() {
    let cluster = TestCluster::start(1).await;
    let admin = cluster.admin().await;
    let topic = unique_topic("validate");
    admin
        .create_topics_with(&[NewTopic::new(&topic, 3, 1)], &VALIDATE)
        .await
        .expect("a valid topic validates");
    assert!(
        !exists(&admin, &topic).await,
        "validate_only created {topic}"
    );
    // An invalid config is refused as the real creation would be.
    let mut bad = NewTopic::new(&topic, 1, 1);
    bad.configs.insert("retention.ms".into(), "soon".into());
    assert_eq!(
        code(admin.create_topics_with(&[bad], &VALIDATE).await),
        Some(40)
    );

    let taken = unique_topic("taken");
    cluster.create_topic(&taken, 1, &[]).await;
    assert_eq!(
        code(
            admin
                .create_topics_with(&[NewTopic::new(&taken, 1, 1)], &VALIDATE)
                .await
        ),
        Some(36)
    );
    admin.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_assignments_place_partitions_on_the_broker_named() {
    let cluster = TestCluster::start(1).await;
    let admin = cluster.admin().await;
    let node = node_id(&cluster, &admin).await;
    let topic = unique_topic("assigned");
    let placed = BTreeMap::from([(0, vec![node]), (1, vec![node])]);
    admin
        .create_topics(&[NewTopic::with_assignments(&topic, placed)])
        .await
        .expect("created where assigned");
    let described = described_when(&admin, &topic, "2 led partitions", |t| {
        t.partitions.len() == 2 && t.partitions.iter().all(|p| p.leader >= 0)
    })
    .await;
    let replicas: Vec<_> = described
        .partitions
        .iter()
        .map(|p| (p.partition, p.replicas.clone()))
        .collect();
    assert_eq!(replicas, [(0, vec![node]), (1, vec![node])]);

    // A broker that does not exist, two replicas on one node: INVALID_REPLICA_ASSIGNMENT.
    for bad in [vec![node + 100], vec![node, node + 100]] {
        let t = NewTopic::with_assignments(unique_topic("bad"), BTreeMap::from([(0, bad)]));
        let name = t.name.clone();
        assert_eq!(code(admin.create_topics(&[t]).await), Some(39));
        assert!(!exists(&admin, &name).await);
    }
    // Partitions must be numbered 0, 1, ...: INVALID_REPLICA_ASSIGNMENT.
    let gap = NewTopic::with_assignments(
        unique_topic("gap"),
        BTreeMap::from([(0, vec![node]), (2, vec![node])]),
    );
    assert_eq!(code(admin.create_topics(&[gap]).await), Some(39));
    // A count and assignments together: INVALID_REQUEST.
    let mut both =
        NewTopic::with_assignments(unique_topic("both"), BTreeMap::from([(0, vec![node])]));
    both.partitions = 1;
    assert_eq!(code(admin.create_topics(&[both]).await), Some(42));
    admin.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_partitions_validates_and_places_new_partitions() {
    let cluster = TestCluster::start(1).await;
    let admin = cluster.admin().await;
    let node = node_id(&cluster, &admin).await;
    let topic = unique_topic("grow");
    cluster.create_topic(&topic, 1, &[]).await;
    let count = || async {
        admin.describe_topics(&[topic.as_str()]).await.unwrap()[0]
            .partitions
            .len()
    };

    admin
        .create_partitions_with(&topic, 3, None, &VALIDATE)
        .await
        .expect("growing validates");
    assert_eq!(count().await, 1, "validate_only added partitions");
    assert_eq!(
        code(
            admin
                .create_partitions_with(&topic, 3, Some(&[vec![node + 100], vec![node]]), &VALIDATE)
                .await
        ),
        Some(39)
    );

    // Two replicas on one node.
    assert_eq!(
        code(
            admin
                .create_partitions_with(
                    &topic,
                    3,
                    Some(&[vec![node, node], vec![node]]),
                    &CreateOptions::default()
                )
                .await
        ),
        Some(39)
    );
    assert_eq!(count().await, 1);
    admin
        .create_partitions_with(
            &topic,
            3,
            Some(&[vec![node], vec![node]]),
            &CreateOptions::default(),
        )
        .await
        .expect("grown where assigned");
    described_when(&admin, &topic, "3 partitions", |t| t.partitions.len() >= 3).await;
    assert_eq!(count().await, 3);
    // One assignment for two new partitions.
    assert_eq!(
        code(
            admin
                .create_partitions_with(&topic, 5, Some(&[vec![node]]), &CreateOptions::default())
                .await
        ),
        Some(39)
    );
    admin.close().await;
    cluster.stop().await;
}
