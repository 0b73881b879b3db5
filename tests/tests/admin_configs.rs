//! `AdminClient` configs on the dev broker and Apache Kafka: IncrementalAlterConfigs (SET,
//! DELETE, APPEND, SUBTRACT) and the legacy AlterConfigs (replace) on topics and brokers, with
//! `validate_only`, per-resource outcomes carrying Kafka's error codes, and DescribeConfigs
//! of brokers and with synonyms.

use std::collections::BTreeMap;

use krafty::admin::{config_source, AdminClient, AlterConfigOp, ConfigEntry, ConfigResource};
use krafty::KafkaError;
use krafty_tests::{unique_topic, TestCluster};

fn set(k: &str, v: &str) -> AlterConfigOp {
    AlterConfigOp::Set(k.into(), v.into())
}

async fn configs(admin: &AdminClient, r: &ConfigResource, synonyms: bool) -> Vec<ConfigEntry> {
    let mut out = admin
        .describe_configs(std::slice::from_ref(r), synonyms)
        .await
        .expect("DescribeConfigs answers");
    assert_eq!(out.len(), 1);
    out.remove(0).1.expect("the resource is described")
}

async fn entry(admin: &AdminClient, r: &ConfigResource, key: &str) -> ConfigEntry {
    configs(admin, r, false)
        .await
        .into_iter()
        .find(|c| c.name == key)
        .unwrap_or_else(|| panic!("{key} is described"))
}

/// `key` once `done` holds for it: a KRaft broker applies an altered config when the change
/// reaches it through the metadata log, a moment after the alter call answers.
async fn settled(
    admin: &AdminClient,
    r: &ConfigResource,
    key: &str,
    done: impl Fn(&ConfigEntry) -> bool,
) -> ConfigEntry {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let e = entry(admin, r, key).await;
        if done(&e) || std::time::Instant::now() > deadline {
            return e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn code_of(r: &krafty::Result<()>) -> Option<i16> {
    match r {
        Err(e @ KafkaError::Broker { .. }) => e.code(),
        Ok(()) => Some(0),
        Err(e) => panic!("not a broker error: {e}"),
    }
}

/// The node id of the (only, on the test clusters) broker.
async fn node_id(cluster: &TestCluster, admin: &AdminClient) -> i32 {
    let topic = unique_topic("node");
    cluster.create_topic(&topic, 1, &[]).await;
    let t = admin.describe_topics(&[topic.as_str()]).await.unwrap();
    t[0].partitions[0].leader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_alter_sets_deletes_appends_and_subtracts() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("incr");
    cluster.create_topic(&topic, 1, &[]).await;
    let admin = cluster.admin().await;
    let r = ConfigResource::topic(&topic);
    let alter = |ops: Vec<AlterConfigOp>| {
        let admin = admin.clone();
        let r = r.clone();
        async move {
            let out = admin
                .incremental_alter_configs(&[(r, ops)], false)
                .await
                .unwrap();
            out.into_iter().next().unwrap().1
        }
    };

    alter(vec![
        set("retention.ms", "3600000"),
        AlterConfigOp::Append("cleanup.policy".into(), "compact".into()),
    ])
    .await
    .expect("SET and APPEND apply");
    let retention = settled(&admin, &r, "retention.ms", |e| !e.is_default()).await;
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, config_source::DYNAMIC_TOPIC_CONFIG);
    assert!(!retention.is_default());
    let policy = entry(&admin, &r, "cleanup.policy").await;
    assert_eq!(policy.value.as_deref(), Some("delete,compact"));

    alter(vec![
        AlterConfigOp::Subtract("cleanup.policy".into(), "delete".into()),
        AlterConfigOp::Delete("retention.ms".into()),
    ])
    .await
    .expect("SUBTRACT and DELETE apply");
    let retention = settled(&admin, &r, "retention.ms", ConfigEntry::is_default).await;
    assert_eq!(
        entry(&admin, &r, "cleanup.policy").await.value.as_deref(),
        Some("compact")
    );
    assert_eq!(retention.value.as_deref(), Some("604800000"));
    assert!(retention.is_default(), "{retention:?}");
    admin.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_values_carry_kafkas_codes_and_change_nothing() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("refused");
    cluster
        .create_topic(&topic, 1, &[("retention.ms", "1000000")])
        .await;
    let admin = cluster.admin().await;
    let r = ConfigResource::topic(&topic);
    let missing = ConfigResource::topic(unique_topic("missing"));
    // INVALID_CONFIG for a bad value and an unknown name; UNKNOWN_TOPIC_OR_PARTITION for a
    // topic that does not exist; each resource its own outcome.
    for (bad, code) in [
        (set("retention.ms", "not-a-number"), 40),
        (set("no.such.config", "1"), 40),
    ] {
        let out = admin
            .incremental_alter_configs(
                &[
                    (r.clone(), vec![bad]),
                    (missing.clone(), vec![set("retention.ms", "1")]),
                ],
                false,
            )
            .await
            .unwrap();
        let codes: Vec<_> = out.iter().map(|(_, o)| code_of(o)).collect();
        assert_eq!(codes, [Some(code), Some(3)], "{out:?}");
        assert_eq!(out[1].0, missing);
    }
    // Kafka refuses a request naming a resource twice: INVALID_REQUEST for both.
    let out = admin
        .incremental_alter_configs(
            &[
                (r.clone(), vec![set("retention.ms", "2000000")]),
                (r.clone(), vec![set("segment.ms", "70000")]),
            ],
            false,
        )
        .await
        .unwrap();
    let codes: Vec<_> = out.iter().map(|(_, o)| code_of(o)).collect();
    assert_eq!(codes, [Some(42), Some(42)], "{out:?}");
    assert_eq!(
        entry(&admin, &r, "retention.ms").await.value.as_deref(),
        Some("1000000")
    );
    admin.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_only_checks_and_changes_nothing() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("validate");
    cluster.create_topic(&topic, 1, &[]).await;
    let admin = cluster.admin().await;
    let r = ConfigResource::topic(&topic);
    let ok = admin
        .incremental_alter_configs(&[(r.clone(), vec![set("retention.ms", "5000")])], true)
        .await
        .unwrap();
    ok[0].1.as_ref().expect("a valid change validates");
    let ok = admin
        .alter_configs(
            &[(
                r.clone(),
                BTreeMap::from([("segment.ms".to_string(), "70000".to_string())]),
            )],
            true,
        )
        .await
        .unwrap();
    ok[0].1.as_ref().expect("a valid replacement validates");
    let bad = admin
        .incremental_alter_configs(&[(r.clone(), vec![set("retention.ms", "x")])], true)
        .await
        .unwrap();
    assert_eq!(code_of(&bad[0].1), Some(40));
    for key in ["retention.ms", "segment.ms"] {
        assert!(entry(&admin, &r, key).await.is_default(), "{key} changed");
    }
    admin.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_alter_configs_replaces_the_overrides() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("replace");
    cluster
        .create_topic(
            &topic,
            1,
            &[("retention.ms", "1000000"), ("segment.ms", "70000")],
        )
        .await;
    let admin = cluster.admin().await;
    let r = ConfigResource::topic(&topic);
    let out = admin
        .alter_configs(
            &[(
                r.clone(),
                BTreeMap::from([("max.message.bytes".to_string(), "20000".to_string())]),
            )],
            false,
        )
        .await
        .unwrap();
    out[0].1.as_ref().expect("replaced");
    settled(&admin, &r, "max.message.bytes", |e| !e.is_default()).await;
    let all = configs(&admin, &r, false).await;
    let get = |k: &str| all.iter().find(|c| c.name == k).unwrap();
    assert_eq!(get("max.message.bytes").value.as_deref(), Some("20000"));
    assert!(
        get("retention.ms").is_default(),
        "{:?}",
        get("retention.ms")
    );
    assert!(get("segment.ms").is_default(), "{:?}", get("segment.ms"));
    admin.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synonyms_show_the_override_before_the_default() {
    let cluster = TestCluster::start(1).await;
    let topic = unique_topic("synonyms");
    cluster
        .create_topic(&topic, 1, &[("segment.bytes", "2000000")])
        .await;
    let admin = cluster.admin().await;
    let all = configs(&admin, &ConfigResource::topic(&topic), true).await;
    let synonyms = |key: &str| {
        let e = all.iter().find(|c| c.name == key).unwrap();
        e.synonyms
            .iter()
            .map(|s| (s.name.clone(), s.value.clone(), s.source))
            .collect::<Vec<_>>()
    };
    // The topic's override, then the broker's default under the broker's name for it.
    let segment = synonyms("segment.bytes");
    assert_eq!(segment.len(), 2, "{segment:?}");
    assert_eq!(
        segment[0],
        (
            "segment.bytes".to_string(),
            Some("2000000".to_string()),
            config_source::DYNAMIC_TOPIC_CONFIG
        )
    );
    assert_eq!(
        (segment[1].0.as_str(), segment[1].2),
        ("log.segment.bytes", config_source::DEFAULT_CONFIG)
    );
    assert_eq!(
        synonyms("cleanup.policy"),
        [(
            "log.cleanup.policy".to_string(),
            Some("delete".to_string()),
            config_source::DEFAULT_CONFIG
        )]
    );
    let without = configs(&admin, &ConfigResource::topic(&topic), false).await;
    assert!(without.iter().all(|c| c.synonyms.is_empty()));
    admin.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_configs_are_described_and_dynamic_ones_altered() {
    let cluster = TestCluster::start(1).await;
    let admin = cluster.admin().await;
    let node = node_id(&cluster, &admin).await;
    let broker = ConfigResource::broker(node);
    let all = configs(&admin, &broker, false).await;
    let threads = |all: &[ConfigEntry]| {
        all.iter()
            .find(|c| c.name == "log.cleaner.threads")
            .cloned()
            .expect("log.cleaner.threads is described")
    };
    assert_ne!(
        threads(&all).source,
        config_source::DYNAMIC_BROKER_CONFIG,
        "left set by an earlier run"
    );
    let node_entry = all.iter().find(|c| c.name == "node.id").expect("node.id");
    assert_eq!(node_entry.value.as_deref(), Some(node.to_string().as_str()));
    assert!(node_entry.read_only);

    // A dynamic per-broker config: set, read back, removed again.
    let out = admin
        .incremental_alter_configs(
            &[(broker.clone(), vec![set("log.cleaner.threads", "2")])],
            false,
        )
        .await
        .unwrap();
    out[0].1.as_ref().expect("a dynamic broker config is set");
    let dynamic = |e: &ConfigEntry| e.source == config_source::DYNAMIC_BROKER_CONFIG;
    let now = settled(&admin, &broker, "log.cleaner.threads", |e| {
        e.value.as_deref() == Some("2")
    })
    .await;
    assert_eq!(now.value.as_deref(), Some("2"));
    assert_eq!(now.source, config_source::DYNAMIC_BROKER_CONFIG);
    let out = admin
        .incremental_alter_configs(
            &[(
                broker.clone(),
                vec![AlterConfigOp::Delete("log.cleaner.threads".into())],
            )],
            false,
        )
        .await
        .unwrap();
    out[0].1.as_ref().expect("removed");
    // Kafka may report the source before the value has caught up: wait for both.
    let before = threads(&all);
    let back = settled(&admin, &broker, "log.cleaner.threads", |e| {
        !dynamic(e) && e.value == before.value
    })
    .await;
    assert_eq!((back.value, back.source), (before.value, before.source));

    // Kafka refuses a config that needs a restart and a value of the wrong type with
    // INVALID_REQUEST, and APPEND to a config that is not a list with INVALID_CONFIG.
    for (op, code) in [
        (set("node.id", "7"), 42),
        (set("log.cleaner.threads", "many"), 42),
        (
            AlterConfigOp::Append("log.cleaner.threads".into(), "3".into()),
            40,
        ),
    ] {
        let out = admin
            .incremental_alter_configs(&[(broker.clone(), vec![op.clone()])], false)
            .await
            .unwrap();
        assert_eq!(code_of(&out[0].1), Some(code), "{op:?}: {out:?}");
    }
    let out = admin
        .alter_configs(
            &[(
                broker.clone(),
                BTreeMap::from([("node.id".to_string(), "7".to_string())]),
            )],
            true,
        )
        .await
        .unwrap();
    assert_eq!(code_of(&out[0].1), Some(42), "{out:?}");
    assert_eq!(
        entry(&admin, &broker, "node.id").await.value,
        Some(node.to_string())
    );
    admin.close().await;
    cluster.stop().await;
}

/// Runs on both brokers: `describe_cluster` names the broker the client bootstrapped from
/// (its host and port), a controller among the cluster's nodes or -1 (KRaft hides it from
/// clients as a random broker), and a cluster id; after `close` it fails with Closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_cluster_names_the_brokers_and_the_cluster() {
    let cluster = TestCluster::start(1).await;
    let admin = cluster.admin().await;
    let d = admin.describe_cluster().await.unwrap();
    let bootstrap = cluster.bootstrap();
    assert!(
        d.brokers
            .iter()
            .any(|b| format!("{}:{}", b.host, b.port) == bootstrap),
        "{bootstrap} among {:?}",
        d.brokers
    );
    assert!(
        d.controller_id == -1 || d.brokers.iter().any(|b| b.node_id == d.controller_id),
        "controller {} among {:?}",
        d.controller_id,
        d.brokers
    );
    assert!(d.cluster_id.as_deref().is_some_and(|id| !id.is_empty()));
    admin.close().await;
    assert!(matches!(
        admin.describe_cluster().await,
        Err(KafkaError::Closed)
    ));
    cluster.stop().await;
}
