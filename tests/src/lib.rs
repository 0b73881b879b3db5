//! The cluster an integration test runs against: an in-process dev broker by default, or an
//! external cluster (a real Apache Kafka) when `KRAFTY_TEST_BOOTSTRAP=host:port` is set, so the
//! same suite checks both. Built with the `testcontainers` feature and run with
//! `KRAFTY_TEST_BACKEND=testcontainers`, each test starts the official `apache/kafka` image
//! instead (machines with Docker need neither Java nor Maven for that).

use krafty_broker::{Broker, BrokerHandle};

/// A cluster for one test.
pub enum TestCluster {
    Embedded(BrokerHandle),
    External(String),
    #[cfg(feature = "testcontainers")]
    Container(Box<container::KafkaContainer>),
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
        match std::env::var("KRAFTY_TEST_BOOTSTRAP") {
            Ok(bootstrap) if !bootstrap.is_empty() => TestCluster::External(bootstrap),
            _ => TestCluster::Embedded(
                Broker::builder()
                    .listen("127.0.0.1:0")
                    .config("num.partitions", partitions.to_string())
                    .start()
                    .await
                    .expect("the embedded dev broker starts"),
            ),
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            TestCluster::Embedded(b) => b.bootstrap_servers(),
            TestCluster::External(s) => s.clone(),
            #[cfg(feature = "testcontainers")]
            TestCluster::Container(c) => c.bootstrap.clone(),
        }
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self, TestCluster::Embedded(_))
    }

    pub async fn stop(self) {
        match self {
            TestCluster::Embedded(b) => b.shutdown().await,
            #[cfg(feature = "testcontainers")]
            TestCluster::Container(c) => c.stop().await,
            TestCluster::External(_) => {}
        }
    }
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

/// A topic name no other run uses (external clusters keep topics between runs).
pub fn unique_topic(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{nanos:x}-{:04x}", fastrand::u16(..))
}
