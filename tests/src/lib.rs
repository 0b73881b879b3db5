//! The cluster an integration test runs against: an in-process dev broker by default, or an
//! external cluster (a real Apache Kafka) when `KRAFTY_TEST_BOOTSTRAP=host:port` is set, so the
//! same suite checks both.

use krafty_broker::{Broker, BrokerHandle};

/// A cluster for one test.
pub enum TestCluster {
    Embedded(BrokerHandle),
    External(String),
}

impl TestCluster {
    /// Starts an embedded broker (`num.partitions` as given), unless `KRAFTY_TEST_BOOTSTRAP` is set.
    pub async fn start(partitions: i32) -> TestCluster {
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
        }
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self, TestCluster::Embedded(_))
    }

    pub async fn stop(self) {
        if let TestCluster::Embedded(b) = self {
            b.shutdown().await;
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
