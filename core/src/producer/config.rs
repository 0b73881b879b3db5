//! Producer configuration: Kafka's property names, Kafka 4.x defaults, Kafka's cross-checks.

use std::time::Duration;

use crate::config::{ClientConfig, Properties};
use crate::error::{KafkaError, Result};
use crate::record::Compression;

/// Which partitioner `partitioner.class` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionerKind {
    /// Explicit partition, else murmur2 of the key, else uniform sticky (KIP-794).
    #[default]
    Default,
    /// `org.apache.kafka.clients.producer.RoundRobinPartitioner`.
    RoundRobin,
}

/// Typed producer settings.
/// `batch.size` when not set (see [`ProducerConfig::batch_size`]).
pub const DEFAULT_BATCH_SIZE: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub client: ClientConfig,
    /// `acks`: 0, 1 or -1 (`all`, the default).
    pub acks: i16,
    /// `linger.ms` (default 5).
    pub linger: Duration,
    /// `batch.size` (default 1,000,000, librdkafka's and franz-go's size; the Java client's is
    /// 16384). Memory is taken as a batch fills (buffers start small and double), so the
    /// larger default costs idle or slow partitions nothing; at 16 KiB one partition carries
    /// at most five 16 KiB requests per round trip.
    pub batch_size: usize,
    /// `buffer.memory` (default 33554432).
    pub buffer_memory: usize,
    /// `max.block.ms` (default 60000): how long `send` waits for metadata or buffer space.
    pub max_block: Duration,
    /// `compression.type` (default none).
    pub compression: Compression,
    /// `compression.gzip.level` / `compression.lz4.level` / `compression.zstd.level`.
    pub compression_level: Option<i32>,
    /// `retries` (default i32::MAX: bounded by `delivery.timeout.ms`).
    pub retries: i32,
    /// `delivery.timeout.ms` (default 120000).
    pub delivery_timeout: Duration,
    /// `max.in.flight.requests.per.connection` (default 5).
    pub max_in_flight: usize,
    /// `max.request.size` (default 1048576).
    pub max_request_size: usize,
    /// `enable.idempotence` (default true).
    pub enable_idempotence: bool,
    /// `partitioner.class`.
    pub partitioner: PartitionerKind,
    /// `partitioner.ignore.keys` (default false).
    pub partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable` (default true): the default partitioner
    /// picks partitions with shorter queues more often for keyless records (KIP-794).
    pub partitioner_adaptive: bool,
    /// `partitioner.availability.timeout.ms` (default 0: off): with adaptive partitioning, a
    /// partition whose leader took no batch for longer than this is not picked for keyless
    /// records.
    pub partitioner_availability_timeout: Duration,
    /// `transactional.id` (default none): makes the producer transactional (it requires
    /// idempotence).
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms` (default 60000): how long the coordinator lets a transaction
    /// stay open before aborting it.
    pub transaction_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            client: ClientConfig::default(),
            acks: -1,
            linger: Duration::from_millis(5),
            batch_size: DEFAULT_BATCH_SIZE,
            buffer_memory: 33_554_432,
            max_block: Duration::from_millis(60_000),
            compression: Compression::None,
            compression_level: None,
            retries: i32::MAX,
            delivery_timeout: Duration::from_millis(120_000),
            max_in_flight: 5,
            max_request_size: 1_048_576,
            enable_idempotence: true,
            partitioner: PartitionerKind::Default,
            partitioner_ignore_keys: false,
            partitioner_adaptive: true,
            partitioner_availability_timeout: Duration::ZERO,
            transactional_id: None,
            transaction_timeout: Duration::from_millis(60_000),
        }
    }
}

impl ProducerConfig {
    /// Parses Kafka producer properties; unknown names and invalid values are errors naming
    /// the property.
    pub fn from_properties<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ProducerConfig> {
        let mut p = Properties::new(pairs);
        let client = ClientConfig::from_properties(&mut p, 30_000)?;
        let acks = match p.choice("acks", "all", &["all", "-1", "0", "1"])?.as_str() {
            "0" => 0,
            "1" => 1,
            _ => -1,
        };
        let idempotence_explicit = p.optional_string("enable.idempotence").is_some();
        let compression_name = p.choice(
            "compression.type",
            "none",
            &["none", "gzip", "snappy", "lz4", "zstd"],
        )?;
        let compression = Compression::parse(&compression_name).expect("validated above");
        let gzip = p.int("compression.gzip.level", -1, -1, 9)?;
        let lz4 = p.int("compression.lz4.level", 9, 1, 17)?;
        let zstd = p.int("compression.zstd.level", 3, -131072, 22)?;
        let compression_level = match compression {
            Compression::Gzip if gzip >= 0 => Some(gzip as i32),
            Compression::Lz4 => Some(lz4 as i32),
            Compression::Zstd => Some(zstd as i32),
            _ => None,
        };
        let partitioner = match p.optional_string("partitioner.class").as_deref() {
            None => PartitionerKind::Default,
            Some("org.apache.kafka.clients.producer.RoundRobinPartitioner")
            | Some("round_robin") => PartitionerKind::RoundRobin,
            Some("org.apache.kafka.clients.producer.internals.DefaultPartitioner")
            | Some("default") => PartitionerKind::Default,
            Some(other) => {
                return Err(KafkaError::config(
                    "partitioner.class",
                    format!("`{other}` is not a known partitioner"),
                ))
            }
        };
        let mut c = ProducerConfig {
            client,
            acks,
            linger: p.millis("linger.ms", 5)?,
            batch_size: p.int("batch.size", DEFAULT_BATCH_SIZE as i64, 0, i32::MAX as i64)?
                as usize,
            buffer_memory: p.int("buffer.memory", 33_554_432, 0, i64::MAX)? as usize,
            max_block: p.millis("max.block.ms", 60_000)?,
            compression,
            compression_level,
            retries: p.int("retries", i32::MAX as i64, 0, i32::MAX as i64)? as i32,
            delivery_timeout: p.millis("delivery.timeout.ms", 120_000)?,
            max_in_flight: p.int(
                "max.in.flight.requests.per.connection",
                5,
                1,
                i32::MAX as i64,
            )? as usize,
            max_request_size: p.int("max.request.size", 1_048_576, 1, i32::MAX as i64)? as usize,
            enable_idempotence: p.bool("enable.idempotence", true)?,
            partitioner,
            partitioner_ignore_keys: p.bool("partitioner.ignore.keys", false)?,
            partitioner_adaptive: p.bool("partitioner.adaptive.partitioning.enable", true)?,
            partitioner_availability_timeout: p.millis("partitioner.availability.timeout.ms", 0)?,
            transactional_id: p.optional_string("transactional.id"),
            transaction_timeout: p.millis("transaction.timeout.ms", 60_000)?,
        };
        // Java class names for serializers configure nothing here: serializers are passed to
        // `KafkaProducer::new`. Accept them so Java property files load.
        p.ignore("key.serializer");
        p.ignore("value.serializer");
        if c.transactional_id.as_deref() == Some("") {
            return Err(KafkaError::config("transactional.id", "must not be empty"));
        }
        p.finish()?;
        // As Kafka: idempotence left at its default turns itself off when a setting conflicts;
        // set explicitly, the conflict is an error.
        let conflict = if c.acks != -1 {
            Some(("acks", "enable.idempotence requires acks=all"))
        } else if c.retries == 0 {
            Some(("retries", "enable.idempotence requires retries > 0"))
        } else if c.max_in_flight > 5 {
            Some((
                "max.in.flight.requests.per.connection",
                "enable.idempotence requires at most 5 in-flight requests",
            ))
        } else {
            None
        };
        if c.transactional_id.is_some() {
            // Kafka: a transactional producer is idempotent, whatever else is set.
            if idempotence_explicit && !c.enable_idempotence {
                return Err(KafkaError::config(
                    "enable.idempotence",
                    "transactional.id requires enable.idempotence=true",
                ));
            }
            if let Some((property, reason)) = conflict {
                return Err(KafkaError::config(
                    property,
                    reason.replace("enable.idempotence", "transactional.id"),
                ));
            }
        }
        if let (true, Some((property, reason))) = (c.enable_idempotence, conflict) {
            if idempotence_explicit {
                return Err(KafkaError::config(property, reason));
            }
            c.enable_idempotence = false;
        }
        c.validate()?;
        Ok(c)
    }

    /// Kafka's cross-checks between settings.
    pub fn validate(&self) -> Result<()> {
        let needed = self.linger + self.client.request_timeout;
        if self.delivery_timeout < needed {
            return Err(KafkaError::config(
                "delivery.timeout.ms",
                format!(
                    "must be at least linger.ms + request.timeout.ms ({} ms)",
                    needed.as_millis()
                ),
            ));
        }
        if self.enable_idempotence && self.acks != -1 {
            return Err(KafkaError::config(
                "acks",
                "enable.idempotence requires acks=all",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(e: KafkaError) -> String {
        match e {
            KafkaError::Config { property, .. } => property,
            other => panic!("not a config error: {other}"),
        }
    }

    #[test]
    fn defaults_are_kafka_4() {
        let c = ProducerConfig::from_properties([("bootstrap.servers", "localhost:9092")]).unwrap();
        assert_eq!(c.acks, -1);
        assert_eq!(c.linger, Duration::from_millis(5));
        assert_eq!(c.batch_size, 1_000_000, "librdkafka's, not Java's 16384");
        assert_eq!(c.buffer_memory, 33_554_432);
        assert!(c.enable_idempotence);
        assert_eq!(c.max_in_flight, 5);
        assert_eq!(c.delivery_timeout, Duration::from_millis(120_000));
        assert_eq!(c.compression, Compression::None);
        assert!(c.partitioner_adaptive);
        assert_eq!(c.partitioner_availability_timeout, Duration::ZERO);
        assert!(!c.partitioner_ignore_keys);
    }

    #[test]
    fn rejects_unknown_invalid_and_conflicting_settings() {
        let bs = ("bootstrap.servers", "localhost:9092");
        assert_eq!(
            prop(ProducerConfig::from_properties([bs, ("linger.msec", "1")]).unwrap_err()),
            "linger.msec"
        );
        assert_eq!(
            prop(ProducerConfig::from_properties([bs, ("acks", "2")]).unwrap_err()),
            "acks"
        );
        assert_eq!(
            prop(
                ProducerConfig::from_properties([bs, ("compression.type", "brotli")]).unwrap_err()
            ),
            "compression.type"
        );
        assert_eq!(
            prop(ProducerConfig::from_properties([("acks", "1")]).unwrap_err()),
            "bootstrap.servers"
        );
        let explicit = [bs, ("enable.idempotence", "true"), ("acks", "1")];
        assert_eq!(
            prop(ProducerConfig::from_properties(explicit).unwrap_err()),
            "acks"
        );
        // Left at its default, idempotence yields to acks=1.
        assert!(
            !ProducerConfig::from_properties([bs, ("acks", "1")])
                .unwrap()
                .enable_idempotence
        );
        let negative = [bs, ("partitioner.availability.timeout.ms", "-1")];
        assert_eq!(
            prop(ProducerConfig::from_properties(negative).unwrap_err()),
            "partitioner.availability.timeout.ms"
        );
        let not_bool = [bs, ("partitioner.adaptive.partitioning.enable", "yes")];
        assert_eq!(
            prop(ProducerConfig::from_properties(not_bool).unwrap_err()),
            "partitioner.adaptive.partitioning.enable"
        );
        let short = [bs, ("delivery.timeout.ms", "1000")];
        assert_eq!(
            prop(ProducerConfig::from_properties(short).unwrap_err()),
            "delivery.timeout.ms"
        );
    }
}
