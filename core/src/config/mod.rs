//! Configuration shared by every client, parsed from Kafka's property names.

mod properties;

use std::time::Duration;

pub use properties::Properties;

use crate::error::{KafkaError, Result};
pub use crate::network::{SaslConfig, SaslMechanism};

/// Properties every Kafka client has (`bootstrap.servers`, `client.id`, timeouts, backoffs).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `bootstrap.servers`: host:port pairs.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `request.timeout.ms` (producer default 30000; consumer default 30000).
    pub request_timeout: Duration,
    /// `metadata.max.age.ms` (default 300000).
    pub metadata_max_age: Duration,
    /// `reconnect.backoff.ms` (default 50).
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms` (default 1000).
    pub reconnect_backoff_max: Duration,
    /// `retry.backoff.ms` (default 100).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (default 1000).
    pub retry_backoff_max: Duration,
    /// `socket.connection.setup.timeout.ms` (default 10000).
    pub connection_setup_timeout: Duration,
    /// Whether metadata requests for unknown topics may create them (the consumer's
    /// `allow.auto.create.topics`, default true; the broker's `auto.create.topics.enable`
    /// decides too). The producer always asks, as Java's does.
    pub allow_auto_create_topics: bool,
    /// `security.protocol` SASL_PLAINTEXT: the mechanism and credentials every connection
    /// authenticates with (`sasl.mechanism`, `sasl.username` / `sasl.password` or
    /// `sasl.jaas.config`); `None` for PLAINTEXT.
    pub sasl: Option<SaslConfig>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: vec!["localhost:9092".into()],
            client_id: String::new(),
            request_timeout: Duration::from_millis(30_000),
            metadata_max_age: Duration::from_millis(300_000),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_millis(1000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            connection_setup_timeout: Duration::from_millis(10_000),
            allow_auto_create_topics: true,
            sasl: None,
        }
    }
}

impl ClientConfig {
    /// Reads the common client properties; `request_timeout_default` differs per client.
    pub fn from_properties(
        p: &mut Properties,
        request_timeout_default: u64,
    ) -> Result<ClientConfig> {
        let bootstrap_servers = p.list("bootstrap.servers", &[]);
        if bootstrap_servers.is_empty() {
            return Err(KafkaError::config(
                "bootstrap.servers",
                "must list at least one host:port",
            ));
        }
        for s in &bootstrap_servers {
            if s.rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .is_none()
            {
                return Err(KafkaError::config(
                    "bootstrap.servers",
                    format!("`{s}` is not host:port"),
                ));
            }
        }
        let sasl = sasl_from_properties(p)?;
        let c = ClientConfig {
            bootstrap_servers,
            client_id: p.string("client.id", ""),
            request_timeout: p.millis("request.timeout.ms", request_timeout_default)?,
            metadata_max_age: p.millis("metadata.max.age.ms", 300_000)?,
            reconnect_backoff: p.millis("reconnect.backoff.ms", 50)?,
            reconnect_backoff_max: p.millis("reconnect.backoff.max.ms", 1000)?,
            retry_backoff: p.millis("retry.backoff.ms", 100)?,
            retry_backoff_max: p.millis("retry.backoff.max.ms", 1000)?,
            connection_setup_timeout: p.millis("socket.connection.setup.timeout.ms", 10_000)?,
            allow_auto_create_topics: true,
            sasl,
        };
        for k in [
            "client.dns.lookup",
            "connections.max.idle.ms",
            "send.buffer.bytes",
            "receive.buffer.bytes",
            "metrics.sample.window.ms",
            "metrics.num.samples",
            "metrics.recording.level",
            "socket.connection.setup.timeout.max.ms",
        ] {
            p.ignore(k);
        }
        Ok(c)
    }
}

/// `security.protocol` and the `sasl.*` properties. PLAINTEXT or SASL_PLAINTEXT; SSL and
/// SASL_SSL are refused until TLS is supported. The credentials come from `sasl.username` /
/// `sasl.password` (librdkafka's names) or from `sasl.jaas.config` (Java's `username="..."
/// password="..."`), the former winning when both are given.
fn sasl_from_properties(p: &mut Properties) -> Result<Option<SaslConfig>> {
    let protocol = p.string("security.protocol", "PLAINTEXT");
    let sasl = match protocol.to_ascii_uppercase().as_str() {
        "PLAINTEXT" => false,
        "SASL_PLAINTEXT" => true,
        "SSL" | "SASL_SSL" => {
            return Err(KafkaError::config(
                "security.protocol",
                format!("`{protocol}` needs TLS, which is not supported yet (use PLAINTEXT or SASL_PLAINTEXT)"),
            ))
        }
        _ => {
            return Err(KafkaError::config(
                "security.protocol",
                format!("`{protocol}` is not one of PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL"),
            ))
        }
    };
    // Read even for PLAINTEXT (as Java, which ignores them there), so a shared config works.
    let mechanism = p.string("sasl.mechanism", "PLAIN");
    let username = p.optional_string("sasl.username");
    let password = p.optional_string("sasl.password");
    let jaas = p.optional_string("sasl.jaas.config");
    if !sasl {
        return Ok(None);
    }
    let mechanism = SaslMechanism::parse(&mechanism).ok_or_else(|| {
        KafkaError::config(
            "sasl.mechanism",
            format!("`{mechanism}` is not supported (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"),
        )
    })?;
    let from_jaas = match &jaas {
        Some(j) => Some(crate::network::parse_jaas(j).ok_or_else(|| {
            KafkaError::config(
                "sasl.jaas.config",
                "expected `username=\"...\" password=\"...\"` (PlainLoginModule / ScramLoginModule)",
            )
        })?),
        None => None,
    };
    let (username, password) = match (username, password, from_jaas) {
        (Some(u), Some(pw), _) => (u, pw),
        (None, None, Some(j)) => j,
        (Some(_), None, _) => {
            return Err(KafkaError::config(
                "sasl.password",
                "is required with sasl.username",
            ))
        }
        _ => {
            return Err(KafkaError::config(
                "sasl.username",
                "SASL_PLAINTEXT needs credentials: sasl.username and sasl.password, or sasl.jaas.config",
            ))
        }
    };
    Ok(Some(SaslConfig {
        mechanism,
        username,
        password,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ClientConfig> {
        let mut p = Properties::new(
            [("bootstrap.servers", "localhost:9092")]
                .iter()
                .chain(pairs)
                .copied(),
        );
        ClientConfig::from_properties(&mut p, 30_000)
    }

    fn property(e: KafkaError) -> String {
        match e {
            KafkaError::Config { property, .. } => property,
            e => panic!("not a config error: {e}"),
        }
    }

    #[test]
    fn security_protocol_and_sasl_properties() {
        assert!(parse(&[]).unwrap().sasl.is_none());
        let c = parse(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "pw"),
        ])
        .unwrap();
        let s = c.sasl.unwrap();
        assert_eq!(s.mechanism, SaslMechanism::ScramSha512);
        assert_eq!((s.username.as_str(), s.password.as_str()), ("alice", "pw"));
        let c = parse(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"bob\" password=\"x y\";"),
        ])
        .unwrap();
        let s = c.sasl.unwrap();
        assert_eq!(s.mechanism, SaslMechanism::Plain);
        assert_eq!((s.username.as_str(), s.password.as_str()), ("bob", "x y"));
        for protocol in ["SSL", "SASL_SSL"] {
            let e = parse(&[("security.protocol", protocol)]).unwrap_err();
            assert!(e.to_string().contains("TLS"), "{e}");
            assert_eq!(property(e), "security.protocol");
        }
        let e = parse(&[("security.protocol", "SASL_PLAINTEXT")]).unwrap_err();
        assert_eq!(property(e), "sasl.username");
        let e = parse(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "GSSAPI"),
            ("sasl.username", "a"),
            ("sasl.password", "b"),
        ])
        .unwrap_err();
        assert_eq!(property(e), "sasl.mechanism");
    }
}
