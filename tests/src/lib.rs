//! The cluster an integration test runs against: an in-process dev broker by default, or an
//! external cluster (a real Apache Kafka) when `KRAFTY_TEST_BOOTSTRAP=host:port` is set, so the
//! same suite checks both. Built with the `testcontainers` feature and run with
//! `KRAFTY_TEST_BACKEND=testcontainers`, each test starts the official `apache/kafka` image
//! instead (machines with Docker need neither Java nor Maven for that).
//!
//! Tests create their topics with [`TestCluster::create_topic`] (an external cluster's
//! `num.partitions` is not ours to choose) under [`unique_topic`] names (an external cluster
//! keeps topics between runs).

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use krafty::admin::{AdminClient, NewTopic};
use krafty::config::ClientConfig;
use krafty::network::{NetworkClient, TopicInfo};
use krafty::record::{decode_batches, ConsumerRecordData};
use krafty_broker::{Broker, BrokerHandle, Faults};

pub mod clients;
pub mod proxy;

pub use clients::{string_producer, CollectingSink, Told};

/// A cluster for one test.
pub enum TestCluster {
    Embedded(EmbeddedBroker),
    External(String),
    #[cfg(feature = "testcontainers")]
    Container(Box<container::KafkaContainer>),
}

/// The in-process dev broker, with a durable data dir so a test can restart it.
pub struct EmbeddedBroker {
    handle: BrokerHandle,
    partitions: i32,
    data_dir: tempfile::TempDir,
}

impl EmbeddedBroker {
    async fn start(partitions: i32, data_dir: tempfile::TempDir, listen: &str) -> EmbeddedBroker {
        let handle = Broker::builder()
            .listen(listen)
            .data_dir(data_dir.path())
            .config("num.partitions", partitions.to_string())
            .start()
            .await
            .expect("the embedded dev broker starts");
        EmbeddedBroker {
            handle,
            partitions,
            data_dir,
        }
    }
}

impl TestCluster {
    /// Starts an embedded broker (`num.partitions` as given), unless `KRAFTY_TEST_BOOTSTRAP` is set.
    pub async fn start(partitions: i32) -> TestCluster {
        #[cfg(feature = "testcontainers")]
        if std::env::var("KRAFTY_TEST_BACKEND").as_deref() == Ok("testcontainers") {
            return TestCluster::Container(Box::new(
                container::KafkaContainer::start(partitions).await,
            ));
        }
        match external_bootstrap() {
            Some(bootstrap) => TestCluster::External(bootstrap),
            None => {
                let dir = tempfile::tempdir().expect("a temporary data dir");
                TestCluster::Embedded(EmbeddedBroker::start(partitions, dir, "127.0.0.1:0").await)
            }
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            TestCluster::Embedded(b) => b.handle.bootstrap_servers(),
            TestCluster::External(s) => s.clone(),
            #[cfg(feature = "testcontainers")]
            TestCluster::Container(c) => c.bootstrap.clone(),
        }
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self, TestCluster::Embedded(_))
    }

    /// The dev broker's fault injection; `None` on a real Kafka, where a test that needs an
    /// injected fault says so in its doc comment and returns early.
    pub fn faults(&self) -> Option<&Faults> {
        match self {
            TestCluster::Embedded(b) => Some(b.handle.faults()),
            _ => None,
        }
    }

    /// The embedded broker itself (retention on demand, faults); `None` on a real Kafka.
    pub fn embedded(&self) -> Option<&BrokerHandle> {
        match self {
            TestCluster::Embedded(b) => Some(&b.handle),
            _ => None,
        }
    }

    /// Creates `topic` with `partitions` partitions (and topic configs) and waits until every
    /// partition has a leader in the metadata, as a KRaft broker serves it a moment after
    /// CreateTopics answers.
    pub async fn create_topic(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
        let admin = self.admin().await;
        let mut new = NewTopic::new(topic, partitions, 1);
        for (k, v) in configs {
            new.configs.insert(k.to_string(), v.to_string());
        }
        admin
            .create_topics(&[new])
            .await
            .unwrap_or_else(|e| panic!("creating {topic}: {e}"));
        let want = partitions as usize;
        described_when(&admin, topic, "a leader for every partition", |t| {
            t.partitions.len() == want && t.partitions.iter().all(|p| p.leader >= 0)
        })
        .await;
        admin.close().await;
    }

    /// An admin client on this cluster.
    pub async fn admin(&self) -> AdminClient {
        AdminClient::from_properties([("bootstrap.servers", self.bootstrap())])
            .await
            .expect("an admin client connects")
    }

    /// Stops the broker and starts it again on the same address with the same data, as an
    /// operator's restart. The dev broker restarts in process; a real Kafka through the
    /// command in `KRAFTY_TEST_RESTART_CMD` (the test command sets it to `scripts/kafka.sh
    /// restart` for the Kafka it started). False when the cluster cannot be restarted from
    /// here (an external cluster without that command): the caller skips.
    pub async fn restart(&mut self) -> bool {
        self.restart_with(|_| {}).await
    }

    /// [`restart`](Self::restart), running `while_down` on the dev broker's data dir between
    /// its stop and its start (a test's stand-in for a crash at a chosen point). On a real
    /// Kafka `while_down` is not run.
    pub async fn restart_with(&mut self, while_down: impl FnOnce(&std::path::Path)) -> bool {
        match self {
            TestCluster::Embedded(b) => {
                b.handle.shutdown().await;
                while_down(b.data_dir.path());
                let listen = b.handle.local_addr().to_string();
                let dir = std::mem::replace(
                    &mut b.data_dir,
                    tempfile::tempdir().expect("a temporary dir"),
                );
                *b = EmbeddedBroker::start(b.partitions, dir, &listen).await;
                true
            }
            TestCluster::External(_) => {
                let Ok(cmd) = std::env::var("KRAFTY_TEST_RESTART_CMD") else {
                    return false;
                };
                let status = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(&cmd)
                    .stdout(std::process::Stdio::null())
                    .status();
                let status = tokio::time::timeout(Duration::from_secs(180), status)
                    .await
                    .unwrap_or_else(|_| panic!("`{cmd}` did not finish in 180 s"))
                    .unwrap_or_else(|e| panic!("`{cmd}` could not run: {e}"));
                assert!(status.success(), "`{cmd}` failed: {status}");
                true
            }
            #[cfg(feature = "testcontainers")]
            TestCluster::Container(_) => false,
        }
    }

    pub async fn stop(self) {
        match self {
            TestCluster::Embedded(b) => b.handle.shutdown().await,
            #[cfg(feature = "testcontainers")]
            TestCluster::Container(c) => c.stop().await,
            TestCluster::External(_) => {}
        }
    }
}

/// `KRAFTY_TEST_SASL_BOOTSTRAP` when set and not empty: an external cluster's SASL_PLAINTEXT
/// listener (`scripts/kafka.sh` opens one on PORT+2, user `alice` / `alice-secret` for PLAIN,
/// SCRAM-SHA-256 and SCRAM-SHA-512).
pub fn external_sasl_bootstrap() -> Option<String> {
    std::env::var("KRAFTY_TEST_SASL_BOOTSTRAP")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A secured listener under test: Apache Kafka's (`external`, from the environment), or
/// the listener named `listener` of an embedded dev broker that `builder` configures.
pub struct ListenerUnderTest {
    pub bootstrap: String,
    pub embedded: Option<BrokerHandle>,
}

impl ListenerUnderTest {
    pub async fn start(
        external: Option<String>,
        listener: &str,
        builder: impl FnOnce() -> krafty_broker::BrokerBuilder,
    ) -> ListenerUnderTest {
        if let Some(bootstrap) = external {
            return ListenerUnderTest {
                bootstrap,
                embedded: None,
            };
        }
        let handle = builder()
            .start()
            .await
            .unwrap_or_else(|e| panic!("the dev broker starts with a {listener} listener: {e}"));
        ListenerUnderTest {
            bootstrap: handle.listener_bootstrap(listener).unwrap(),
            embedded: Some(handle),
        }
    }

    pub async fn stop(self) {
        if let Some(h) = self.embedded {
            h.shutdown().await;
        }
    }
}

/// Whether kcat (librdkafka's CLI) runs here; says so when a test is skipped for want of it.
pub fn kcat_installed() -> bool {
    let found = std::process::Command::new("kcat")
        .arg("-V")
        .output()
        .is_ok();
    if !found {
        eprintln!("kcat is not installed: skipped");
    }
    found
}

/// `KRAFTY_TEST_BOOTSTRAP` when set and not empty.
pub fn external_bootstrap() -> Option<String> {
    std::env::var("KRAFTY_TEST_BOOTSTRAP")
        .ok()
        .filter(|s| !s.is_empty())
}

#[cfg(feature = "testcontainers")]
mod container {
    use testcontainers::core::{IntoContainerPort, WaitFor};
    use testcontainers::runners::AsyncRunner;
    use testcontainers::{ContainerAsync, GenericImage, ImageExt};

    /// Apache Kafka 4.1.1 (KRaft, one node) in Docker, the version the test command runs.
    pub struct KafkaContainer {
        container: ContainerAsync<GenericImage>,
        pub bootstrap: String,
    }

    impl KafkaContainer {
        pub async fn start(partitions: i32) -> KafkaContainer {
            // Kafka advertises the address clients must use, so the host port is fixed first.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let bootstrap = format!("127.0.0.1:{port}");
            let settings = [
                ("KAFKA_NODE_ID", "1".to_string()),
                ("KAFKA_PROCESS_ROLES", "broker,controller".into()),
                (
                    "KAFKA_LISTENERS",
                    "PLAINTEXT://:9092,CONTROLLER://:9093".into(),
                ),
                (
                    "KAFKA_ADVERTISED_LISTENERS",
                    format!("PLAINTEXT://{bootstrap}"),
                ),
                ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER".into()),
                (
                    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                    "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".into(),
                ),
                ("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093".into()),
                ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1".into()),
                ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1".into()),
                ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1".into()),
                ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0".into()),
                ("KAFKA_NUM_PARTITIONS", partitions.to_string()),
            ];
            let mut request = GenericImage::new("apache/kafka", "4.1.1")
                .with_wait_for(WaitFor::message_on_stdout("Kafka Server started"))
                .with_mapped_port(port, 9092.tcp());
            for (name, value) in settings {
                request = request.with_env_var(name, value);
            }
            let container = request
                .start()
                .await
                .expect("the apache/kafka container starts (is Docker running?)");
            KafkaContainer {
                container,
                bootstrap,
            }
        }

        pub async fn stop(self) {
            let _ = self.container.stop().await;
        }
    }
}

/// An admin client on `bootstrap`, with `topic` created (`partitions`, replication factor 3:
/// the multi-node suites' topics).
pub async fn admin_with_replicated_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> AdminClient {
    let admin = within(
        30,
        "admin",
        AdminClient::from_properties([("bootstrap.servers", bootstrap)]),
    )
    .await
    .unwrap();
    admin
        .create_topics(&[NewTopic::new(topic, partitions, 3)])
        .await
        .unwrap();
    admin
}

/// A three-node dev cluster (`Broker::cluster`) in a temporary data dir with `configs`, or
/// `None` (saying so) when the suites run against an external cluster: the multi-node tests
/// are about the dev broker's replication itself.
pub async fn dev_cluster(
    configs: &[(&str, &str)],
) -> Option<(krafty_broker::ClusterHandle, tempfile::TempDir)> {
    if external_bootstrap().is_some() {
        println!("a multi-node dev cluster test: skipped with KRAFTY_TEST_BOOTSTRAP set");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut builder = Broker::cluster(3)
        .listen("127.0.0.1:0")
        .data_dir(dir.path());
    for (k, v) in configs {
        builder = builder.config(*k, *v);
    }
    let cluster = builder.start_cluster().await.expect("the cluster starts");
    Some((cluster, dir))
}

/// `topic` as described once `ready` holds for it, asking again every 100 ms for up to 30 s
/// (a KRaft broker serves a topic's new partitions a moment after the controller answered
/// CreateTopics or CreatePartitions; Kafka's admin makes no promise that the next Metadata
/// shows them).
pub async fn described_when(
    admin: &AdminClient,
    topic: &str,
    what: &str,
    ready: impl Fn(&TopicInfo) -> bool,
) -> TopicInfo {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match admin.describe_topics(&[topic]).await {
            Ok(mut t) if t.len() == 1 && ready(&t[0]) => return t.remove(0),
            Ok(_) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => panic!("{topic}: not {what} after 30 s: {other:?}"),
        }
    }
}

/// A topic name no other run uses (external clusters keep topics between runs).
/// Awaits `f`, failing the test after `secs` seconds instead of hanging.
pub async fn within<T>(secs: u64, what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after {secs} s"))
}

pub fn unique_topic(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{nanos:x}-{:04x}", fastrand::u16(..))
}

/// One record batch as stored in the log, read with raw Fetch requests (independent of the
/// consumer): what a test needs to check the producer's framing.
#[derive(Debug, Clone)]
pub struct StoredBatch {
    pub base_offset: i64,
    /// The batch's attributes: bits 0-2 the codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
    /// bit 4 transactional, bit 5 control.
    pub attributes: i16,
    /// The batch's size on the wire and in the log, header included.
    pub size_bytes: usize,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records: Vec<ConsumerRecordData>,
}

impl StoredBatch {
    pub fn codec(&self) -> i16 {
        self.attributes & 0x7
    }
}

/// Every batch of `topic`-`partition` up to its high watermark, read with raw Fetch requests.
pub async fn read_batches(bootstrap: &str, topic: &str, partition: i32) -> Vec<StoredBatch> {
    let config = ClientConfig {
        bootstrap_servers: vec![bootstrap.to_string()],
        ..ClientConfig::default()
    };
    let client = NetworkClient::connect(config).await.expect("connects");
    let leader = client
        .metadata()
        .topic(topic)
        .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
        .map(|p| p.leader);
    let node = match leader {
        Some(l) if l >= 0 => l,
        _ => client.metadata().brokers[0].node_id,
    };
    let mut offset = 0;
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "reading {topic}-{partition} took over 60 s"
        );
        let req = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(50 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(50 << 20)])]);
        let (resp, _) = client.send(node, req).await.expect("fetch");
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch error on {topic}-{partition}");
        let data: Bytes = p.records.clone().unwrap_or_default();
        let mut at = 0;
        while data.len() - at >= 61 {
            let len = i32::from_be_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
            if data.len() - at < 12 + len {
                break; // a partial batch at the end of the response
            }
            let raw = data.slice(at..at + 12 + len);
            let be16 = |o: usize| i16::from_be_bytes(raw[o..o + 2].try_into().unwrap());
            let be32 = |o: usize| i32::from_be_bytes(raw[o..o + 4].try_into().unwrap());
            let be64 = |o: usize| i64::from_be_bytes(raw[o..o + 8].try_into().unwrap());
            let (records, _) = decode_batches(&raw, 0, true, None).expect("a valid batch");
            out.push(StoredBatch {
                base_offset: be64(0),
                attributes: be16(21),
                size_bytes: raw.len(),
                producer_id: be64(43),
                producer_epoch: be16(51),
                base_sequence: be32(53),
                records,
            });
            let last_offset_delta = be32(23);
            offset = be64(0) + i64::from(last_offset_delta) + 1;
            at += 12 + len;
        }
        if offset >= p.high_watermark || data.is_empty() {
            break;
        }
    }
    client.close().await;
    out
}

/// Every record of `topic`-`partition`, read with raw Fetch requests.
pub async fn read_all(bootstrap: &str, topic: &str, partition: i32) -> Vec<ConsumerRecordData> {
    read_batches(bootstrap, topic, partition)
        .await
        .into_iter()
        .flat_map(|b| b.records)
        .collect()
}
