//! Configuration shared by every client, parsed from Kafka's property names.

mod properties;

use std::time::Duration;

pub use properties::Properties;

use crate::error::{KafkaError, Result};
pub use crate::network::{
    JaasConfig, OAuthBearerToken, OAuthBearerTokenProvider, SaslConfig, SaslMechanism, TlsConfig,
    UnsecuredJwt,
};

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
    /// `security.protocol` SASL_PLAINTEXT or SASL_SSL: the mechanism and credentials every
    /// connection authenticates with (`sasl.mechanism`, `sasl.username` / `sasl.password` or
    /// `sasl.jaas.config`); `None` for PLAINTEXT and SSL.
    pub sasl: Option<SaslConfig>,
    /// `security.protocol` SSL or SASL_SSL: the TLS settings (`ssl.*`) every connection
    /// handshakes with before anything else; `None` for PLAINTEXT and SASL_PLAINTEXT.
    pub tls: Option<TlsConfig>,
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
            tls: None,
        }
    }
}

impl ClientConfig {
    /// Where OAUTHBEARER tokens come from (`sasl.mechanism=OAUTHBEARER`): asked at every
    /// authentication and re-authentication.
    pub fn set_oauthbearer_token_provider(
        &mut self,
        provider: std::sync::Arc<dyn OAuthBearerTokenProvider>,
    ) -> Result<()> {
        match &mut self.sasl {
            Some(s) if s.mechanism == SaslMechanism::OAuthBearer => {
                s.token_provider = Some(provider);
                Ok(())
            }
            _ => Err(KafkaError::config(
                "sasl.mechanism",
                "a token provider needs security.protocol SASL_PLAINTEXT or SASL_SSL with sasl.mechanism=OAUTHBEARER",
            )),
        }
    }

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
        let (tls, sasl) = security_from_properties(p)?;
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
            tls,
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

/// `security.protocol`, the `ssl.*` and the `sasl.*` properties: (TLS, SASL) settings.
/// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. The credentials come from `sasl.username` /
/// `sasl.password` (librdkafka's names) or from `sasl.jaas.config` (Java's `username="..."
/// password="..."`), the former winning when both are given.
fn security_from_properties(p: &mut Properties) -> Result<(Option<TlsConfig>, Option<SaslConfig>)> {
    let protocol = p.string("security.protocol", "PLAINTEXT");
    let (tls, sasl) = match protocol.to_ascii_uppercase().as_str() {
        "PLAINTEXT" => (false, false),
        "SASL_PLAINTEXT" => (false, true),
        "SSL" => (true, false),
        "SASL_SSL" => (true, true),
        _ => {
            return Err(KafkaError::config(
                "security.protocol",
                format!("`{protocol}` is not one of PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL"),
            ))
        }
    };
    let tls = if tls {
        Some(TlsConfig::from_properties(p)?)
    } else {
        // Ignored without TLS, as Java does, so one config serves every listener.
        for k in crate::network::SSL_PROPERTIES {
            p.ignore(k);
        }
        None
    };
    // Read even without SASL (as Java, which ignores them there), so a shared config works.
    let mechanism = p.string("sasl.mechanism", "PLAIN");
    let username = p.optional_string("sasl.username");
    let password = p.optional_string("sasl.password");
    let jaas = p.optional_string("sasl.jaas.config");
    let unsecure_jwt = p.bool("enable.sasl.oauthbearer.unsecure.jwt", false)?;
    let oauth_config = p.optional_string("sasl.oauthbearer.config");
    let oauth_method = p.choice("sasl.oauthbearer.method", "default", &["default", "oidc"])?;
    if !sasl {
        return Ok((tls, None));
    }
    let mechanism = SaslMechanism::parse(&mechanism).ok_or_else(|| {
        KafkaError::config(
            "sasl.mechanism",
            format!("`{mechanism}` is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"),
        )
    })?;
    let jaas = match &jaas {
        Some(j) => Some(JaasConfig::parse(j).ok_or_else(|| {
            KafkaError::config(
                "sasl.jaas.config",
                "expected `<LoginModule> required key=\"value\" ...;`",
            )
        })?),
        None => None,
    };
    if mechanism == SaslMechanism::OAuthBearer {
        if oauth_method == "oidc" {
            return Err(KafkaError::config(
                "sasl.oauthbearer.method",
                "oidc is not built in: fetch tokens in a provider set with ClientConfig::set_oauthbearer_token_provider",
            ));
        }
        let token_provider = oauth_token_provider(unsecure_jwt, oauth_config, jaas.as_ref())?;
        return Ok((
            tls,
            Some(SaslConfig {
                mechanism,
                username: String::new(),
                password: String::new(),
                token_provider,
            }),
        ));
    }
    let from_jaas = match &jaas {
        Some(j) => match (j.get("username"), j.get("password")) {
            (Some(u), Some(pw)) => Some((u.to_string(), pw.to_string())),
            _ => {
                return Err(KafkaError::config(
                    "sasl.jaas.config",
                    "expected `username=\"...\" password=\"...\"` (PlainLoginModule / ScramLoginModule)",
                ))
            }
        },
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
                format!("{protocol} needs credentials: sasl.username and sasl.password, or sasl.jaas.config"),
            ))
        }
    };
    Ok((
        tls,
        Some(SaslConfig {
            mechanism,
            username,
            password,
            token_provider: None,
        }),
    ))
}

/// OAUTHBEARER's tokens from the properties: librdkafka's unsecured JWT
/// (`enable.sasl.oauthbearer.unsecure.jwt` with `sasl.oauthbearer.config`) or Java's
/// OAuthBearerLoginModule `unsecuredLogin*` options. `None` when neither is given: the
/// application sets a provider (`ClientConfig::set_oauthbearer_token_provider`).
fn oauth_token_provider(
    unsecure_jwt: bool,
    oauth_config: Option<String>,
    jaas: Option<&JaasConfig>,
) -> Result<Option<std::sync::Arc<dyn OAuthBearerTokenProvider>>> {
    if unsecure_jwt {
        let config = oauth_config.ok_or_else(|| {
            KafkaError::config(
                "sasl.oauthbearer.config",
                "is required with enable.sasl.oauthbearer.unsecure.jwt=true: principal=<name> [scope=a,b] [lifeSeconds=N]",
            )
        })?;
        let jwt = UnsecuredJwt::from_config(&config)
            .map_err(|e| KafkaError::config("sasl.oauthbearer.config", e))?;
        return Ok(Some(std::sync::Arc::new(jwt)));
    }
    let Some(jaas) = jaas else {
        return Ok(None);
    };
    if !jaas.login_module.ends_with("OAuthBearerLoginModule") {
        return Err(KafkaError::config(
            "sasl.jaas.config",
            format!(
                "OAUTHBEARER takes OAuthBearerLoginModule, not {}",
                jaas.login_module
            ),
        ));
    }
    if jaas.options.is_empty() {
        return Ok(None);
    }
    let jwt =
        UnsecuredJwt::from_jaas(jaas).map_err(|e| KafkaError::config("sasl.jaas.config", e))?;
    Ok(Some(std::sync::Arc::new(jwt)))
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
        let e = parse(&[("security.protocol", "TLS")]).unwrap_err();
        assert_eq!(property(e), "security.protocol");
        // TLS files are read at construction; each failure names its property.
        let e = parse(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", "/nonexistent/ca.pem"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        assert_eq!(property(e), "ssl.ca.location");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = parse(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", empty.to_str().unwrap()),
        ])
        .unwrap_err();
        assert_eq!(property(e), "ssl.ca.location");
        let e = parse(&[
            ("security.protocol", "SSL"),
            ("ssl.endpoint.identification.algorithm", "http"),
        ])
        .unwrap_err();
        assert_eq!(property(e), "ssl.endpoint.identification.algorithm");
        let e = parse(&[("security.protocol", "SASL_SSL")]).unwrap_err();
        assert_eq!(property(e), "sasl.username");
        // Ignored without TLS, as Java does.
        let c = parse(&[("ssl.ca.location", "/nonexistent/ca.pem")]).unwrap();
        assert!(c.tls.is_none());
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

    #[test]
    fn oauthbearer_properties() {
        let oauth = |extra: &[(&str, &str)]| {
            let mut pairs = vec![
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "OAUTHBEARER"),
            ];
            pairs.extend_from_slice(extra);
            parse(&pairs)
        };
        // librdkafka's unsecured JWT.
        let c = oauth(&[
            ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
            ("sasl.oauthbearer.config", "principal=admin lifeSeconds=60"),
        ])
        .unwrap();
        let s = c.sasl.unwrap();
        assert_eq!(s.mechanism, SaslMechanism::OAuthBearer);
        let token = s.token_provider.unwrap().token().unwrap();
        assert_eq!(token.value.split('.').count(), 3);
        // Java's unsecured login options.
        let c = oauth(&[(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"admin\";",
        )])
        .unwrap();
        assert!(c.sasl.unwrap().token_provider.is_some());
        // No token source: the application sets a provider before connecting.
        let mut c = oauth(&[]).unwrap();
        assert!(c.sasl.as_ref().unwrap().token_provider.is_none());
        let provider = || Ok(OAuthBearerToken::new("t"));
        c.set_oauthbearer_token_provider(std::sync::Arc::new(provider))
            .unwrap();
        assert!(c.sasl.unwrap().token_provider.is_some());
        let e = oauth(&[("enable.sasl.oauthbearer.unsecure.jwt", "true")]).unwrap_err();
        assert_eq!(property(e), "sasl.oauthbearer.config");
        let e = oauth(&[
            ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
            ("sasl.oauthbearer.config", "scope=x"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("principal"), "{e}");
        assert_eq!(property(e), "sasl.oauthbearer.config");
        let e = oauth(&[("sasl.oauthbearer.method", "oidc")]).unwrap_err();
        assert_eq!(property(e), "sasl.oauthbearer.method");
        let e = oauth(&[(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=a password=b;",
        )])
        .unwrap_err();
        assert_eq!(property(e), "sasl.jaas.config");
        // A provider only goes with OAUTHBEARER.
        let mut c = parse(&[]).unwrap();
        let e = c
            .set_oauthbearer_token_provider(std::sync::Arc::new(provider))
            .unwrap_err();
        assert_eq!(property(e), "sasl.mechanism");
    }
}
