//! SASL authentication of a connection (KIP-43 handshake, KIP-152 SaslAuthenticate).
//!
//! On a `SASL_PLAINTEXT` connection the client sends, right after ApiVersions and before any
//! other request, SaslHandshake v1 naming its mechanism, then one or more SaslAuthenticate
//! requests carrying the mechanism's tokens (`plain.rs`: one message; `scram.rs`: the RFC 5802
//! exchange of two; `oauthbearer.rs`: one message carrying a provider's token). A broker
//! refusing the credentials answers SASL_AUTHENTICATION_FAILED (58) and closes the connection;
//! the error names the broker and the mechanism and is not retriable, so callers fail fast
//! instead of reconnecting forever.
//!
//! SaslAuthenticate v1 and later tell the session's lifetime when the broker sets
//! `connections.max.reauth.ms` (KIP-368): the connection runs the same exchange again before
//! it ends (`Connection::reauthenticate_if_due`), on the same socket.

mod jaas;
mod oauthbearer;
mod plain;
mod scram;

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use super::connection::Connection;
use crate::error::{error_name, KafkaError, Result};

pub use jaas::{parse_jaas, JaasConfig};
pub use oauthbearer::{OAuthBearerToken, OAuthBearerTokenProvider, UnsecuredJwt};

/// SASL_AUTHENTICATION_FAILED.
pub const AUTHENTICATION_FAILED: i16 = 58;

/// The SASL mechanisms this client speaks (`sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
}

impl SaslMechanism {
    /// Kafka's name for the mechanism, as sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Parses a mechanism name (case-insensitive).
    pub fn parse(name: &str) -> Option<SaslMechanism> {
        [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
            SaslMechanism::OAuthBearer,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// What a SASL client authenticates with.
#[derive(Clone)]
pub struct SaslConfig {
    pub mechanism: SaslMechanism,
    /// PLAIN and SCRAM.
    pub username: String,
    /// PLAIN and SCRAM.
    pub password: String,
    /// OAUTHBEARER: where tokens come from (`UnsecuredJwt` from the properties, or one set with
    /// `ClientConfig::set_oauthbearer_token_provider`); a client without one refuses to start.
    pub token_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
}

impl std::fmt::Debug for SaslConfig {
    // The password stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("token_provider", &self.token_provider.is_some())
            .finish()
    }
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

/// Authenticates `conn` (whose versions are negotiated) with `sasl`, at connect and again
/// for a re-authentication. Returns the session's lifetime when the broker set one (KIP-368).
pub(crate) async fn authenticate(
    conn: &Connection,
    sasl: &SaslConfig,
    timeout: Duration,
) -> Result<Option<Duration>> {
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
    let resp = conn
        .authentication_request(handshake, version, timeout)
        .await?;
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
        SaslMechanism::OAuthBearer => {
            let token = oauth_token(sasl)
                .await
                .map_err(|e| failed(addr, mech, AUTHENTICATION_FAILED, &e))?;
            Box::new(oauthbearer::OAuthBearer::new(&token))
        }
    };
    let mut challenge: Option<Vec<u8>> = None;
    let mut session_lifetime = None;
    loop {
        let token = match exchange
            .step(challenge.as_deref())
            .map_err(|e| failed(addr, mech, AUTHENTICATION_FAILED, &e))?
        {
            Step::Done => return Ok(session_lifetime),
            Step::Send(t) => t,
        };
        let req = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
        let resp = conn
            .authentication_request(req, auth_version, timeout)
            .await?;
        if resp.error_code != 0 {
            let detail = resp
                .error_message
                .map(|m| m.to_string())
                .unwrap_or_else(|| error_name(resp.error_code).to_string());
            return Err(failed(addr, mech, resp.error_code, &detail));
        }
        // Zero (and v0, which lacks the field) means the session never expires.
        if resp.session_lifetime_ms > 0 {
            session_lifetime = Some(Duration::from_millis(resp.session_lifetime_ms as u64));
        }
        challenge = Some(resp.auth_bytes.to_vec());
    }
}

/// A token from the provider, asked on a blocking thread: a provider may call out to an
/// identity provider, or into Python.
async fn oauth_token(sasl: &SaslConfig) -> std::result::Result<OAuthBearerToken, String> {
    let provider = sasl
        .token_provider
        .clone()
        .ok_or("no token provider is set")?;
    let token = tokio::task::spawn_blocking(move || provider.token())
        .await
        .map_err(|e| format!("the token provider panicked: {e}"))?
        .map_err(|e| format!("the token provider failed: {e}"))?;
    oauthbearer::check_extensions(&token.extensions)?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_by_name() {
        assert_eq!(
            SaslMechanism::parse("scram-sha-512"),
            Some(SaslMechanism::ScramSha512)
        );
        assert_eq!(
            SaslMechanism::parse("OAUTHBEARER"),
            Some(SaslMechanism::OAuthBearer)
        );
        assert_eq!(SaslMechanism::parse("GSSAPI"), None);
    }
}
