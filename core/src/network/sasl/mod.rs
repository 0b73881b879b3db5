//! SASL authentication of a connection (KIP-43 handshake, KIP-152 SaslAuthenticate).
//!
//! On a `SASL_PLAINTEXT` connection the client sends, right after ApiVersions and before any
//! other request, SaslHandshake v1 naming its mechanism, then one or more SaslAuthenticate
//! requests carrying the mechanism's tokens (`plain.rs`: one message; `scram.rs`: the RFC 5802
//! exchange of two). A broker refusing the credentials answers SASL_AUTHENTICATION_FAILED (58)
//! and closes the connection; the error names the broker and the mechanism and is not
//! retriable, so callers fail fast instead of reconnecting forever.

mod plain;
mod scram;

use std::time::Duration;

use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use super::connection::Connection;
use crate::error::{error_name, KafkaError, Result};

/// SASL_AUTHENTICATION_FAILED.
pub const AUTHENTICATION_FAILED: i16 = 58;

/// The SASL mechanisms this client speaks (`sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    /// Kafka's name for the mechanism, as sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// Parses a mechanism name (case-insensitive).
    pub fn parse(name: &str) -> Option<SaslMechanism> {
        [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// What a `SASL_PLAINTEXT` client authenticates with.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslConfig {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SaslConfig {
    // The password stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Reads `username="..."` and `password="..."` out of a JAAS line as Java's PlainLoginModule
/// and ScramLoginModule take it:
/// `org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b";`
pub fn parse_jaas(jaas: &str) -> Option<(String, String)> {
    let value = |key: &str| -> Option<String> {
        let mut rest = jaas;
        loop {
            let at = rest.find(key)?;
            let before = rest[..at].chars().last();
            let after = rest[at + key.len()..].trim_start();
            rest = &rest[at + key.len()..];
            if before.is_some_and(|c| !c.is_whitespace()) {
                continue;
            }
            let Some(after) = after.strip_prefix('=') else {
                continue;
            };
            let after = after.trim_start();
            if let Some(quoted) = after.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = quoted.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => return Some(out),
                        '\\' => out.push(chars.next()?),
                        c => out.push(c),
                    }
                }
                return None;
            }
            let end = after
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(after.len());
            return Some(after[..end].to_string());
        }
    };
    Some((value("username")?, value("password")?))
}

fn failed(addr: &str, mechanism: SaslMechanism, code: i16, detail: &str) -> KafkaError {
    KafkaError::Broker {
        code,
        name: error_name(code),
        topic: None,
        partition: None,
        message: Some(format!(
            "SASL authentication with broker {addr} using {} failed: {detail}",
            mechanism.name()
        )),
    }
}

/// A mechanism's side of the exchange: the next token to send, given the broker's last one
/// (`None` before the first), or `Done` once the broker's final answer has been checked.
pub(crate) enum Step {
    Send(Vec<u8>),
    Done,
}

pub(crate) trait Exchange: Send {
    fn step(&mut self, challenge: Option<&[u8]>) -> std::result::Result<Step, String>;
}

/// Authenticates `conn` (whose versions are negotiated) with `sasl`.
pub(crate) async fn authenticate(
    conn: &Connection,
    sasl: &SaslConfig,
    timeout: Duration,
) -> Result<()> {
    let addr = conn.addr.as_str();
    let mech = sasl.mechanism;
    let handshake =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mech.name()));
    let version = conn.version_for(ApiKey::SaslHandshake)?.min(1);
    if version < 1 {
        return Err(failed(
            addr,
            mech,
            AUTHENTICATION_FAILED,
            "the broker does not support SaslHandshake v1 (KIP-152)",
        ));
    }
    let resp = conn.request_at(handshake, version, timeout).await?;
    if resp.error_code != 0 {
        let enabled: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
        return Err(failed(
            addr,
            mech,
            resp.error_code,
            &format!(
                "the broker enables only [{}] on this listener",
                enabled.join(", ")
            ),
        ));
    }
    let auth_version = conn.version_for(ApiKey::SaslAuthenticate)?;
    let mut exchange: Box<dyn Exchange> = match mech {
        SaslMechanism::Plain => Box::new(plain::Plain::new(&sasl.username, &sasl.password)),
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => Box::new(
            scram::ScramClient::new(mech, &sasl.username, &sasl.password),
        ),
    };
    let mut challenge: Option<Vec<u8>> = None;
    loop {
        let token = match exchange
            .step(challenge.as_deref())
            .map_err(|e| failed(addr, mech, AUTHENTICATION_FAILED, &e))?
        {
            Step::Done => return Ok(()),
            Step::Send(t) => t,
        };
        let req = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
        let resp = conn.request_at(req, auth_version, timeout).await?;
        if resp.error_code != 0 {
            let detail = resp
                .error_message
                .map(|m| m.to_string())
                .unwrap_or_else(|| error_name(resp.error_code).to_string());
            return Err(failed(addr, mech, resp.error_code, &detail));
        }
        challenge = Some(resp.auth_bytes.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaas_lines_give_username_and_password() {
        let line = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="a \"b\" c";"#;
        assert_eq!(
            parse_jaas(line),
            Some(("alice".into(), r#"a "b" c"#.into()))
        );
        let line = "org.apache.kafka.common.security.plain.PlainLoginModule required password=pw username=bob;";
        assert_eq!(parse_jaas(line), Some(("bob".into(), "pw".into())));
        assert_eq!(
            parse_jaas("PlainLoginModule required username=\"x\";"),
            None
        );
        assert_eq!(
            SaslMechanism::parse("scram-sha-512"),
            Some(SaslMechanism::ScramSha512)
        );
        assert_eq!(SaslMechanism::parse("GSSAPI"), None);
    }
}
