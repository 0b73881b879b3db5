//! SASL OAUTHBEARER, client side (RFC 7628; Kafka's KIP-255).
//!
//! One message: a GS2 header, then `auth=Bearer <token>` and the token's extensions, each
//! behind a 0x01 separator, ended by two. The broker answers nothing on success; on a token it
//! refuses it answers a JSON error status as a challenge (RFC 7628 §3.2.2), which this client
//! reports as the failure at once rather than finishing the exchange only to be told the same.
//!
//! Tokens come from an [`OAuthBearerTokenProvider`], asked at every authentication and every
//! re-authentication (KIP-368), so a provider hands out fresh tokens by itself being called;
//! one that fetches from an identity provider caches as it sees fit. For tests and local
//! clusters [`UnsecuredJwt`] makes unsigned JWTs (`"alg":"none"`), as Kafka's and
//! librdkafka's unsecured modes do, which brokers accept only when configured to.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;

use super::jaas::JaasConfig;
use super::{Exchange, Step};

/// A bearer token and the SASL extensions sent with it (KIP-342).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthBearerToken {
    /// The compact token, sent as is after `Bearer `.
    pub value: String,
    /// `key=value` pairs the broker's validator may read; keys are letters only, `auth` is
    /// reserved.
    pub extensions: Vec<(String, String)>,
}

impl OAuthBearerToken {
    pub fn new(value: impl Into<String>) -> OAuthBearerToken {
        OAuthBearerToken {
            value: value.into(),
            extensions: Vec::new(),
        }
    }
}

impl std::fmt::Debug for OAuthBearerToken {
    // A bearer token is a credential: it stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &"<redacted>")
            .field("extensions", &self.extensions)
            .finish()
    }
}

/// Where OAUTHBEARER tokens come from (Java's login callback handler, librdkafka's token
/// refresh callback). Called on a blocking thread, once per (re-)authentication; an `Err`
/// fails that authentication with the message given.
pub trait OAuthBearerTokenProvider: Send + Sync {
    fn token(&self) -> Result<OAuthBearerToken, String>;
}

impl<F> OAuthBearerTokenProvider for F
where
    F: Fn() -> Result<OAuthBearerToken, String> + Send + Sync,
{
    fn token(&self) -> Result<OAuthBearerToken, String> {
        self()
    }
}

/// Unsigned JWTs for a principal: librdkafka's `enable.sasl.oauthbearer.unsecure.jwt` with
/// `sasl.oauthbearer.config`, and Java's OAuthBearerLoginModule `unsecuredLogin*` options.
/// Never for production: anyone can make such a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsecuredJwt {
    /// The `sub` claim: who the broker takes the client to be.
    pub principal: String,
    /// The `scope` claim, left out when empty.
    pub scope: Vec<String>,
    /// From `iat` to `exp`.
    pub lifetime: Duration,
    pub extensions: Vec<(String, String)>,
}

/// librdkafka's and Java's default unsecured token lifetime.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

impl UnsecuredJwt {
    /// librdkafka's `sasl.oauthbearer.config`: `principal=<sub> [scope=a,b]
    /// [lifeSeconds=N] [extension_<name>=<value>]...`, separated by spaces.
    pub fn from_config(config: &str) -> Result<UnsecuredJwt, String> {
        let mut jwt = UnsecuredJwt {
            principal: String::new(),
            scope: Vec::new(),
            lifetime: DEFAULT_LIFETIME,
            extensions: Vec::new(),
        };
        for word in config.split_whitespace() {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| format!("`{word}` is not key=value"))?;
            match key {
                "principal" => jwt.principal = value.to_string(),
                "scope" => jwt.scope = value.split(',').map(str::to_string).collect(),
                "lifeSeconds" => jwt.lifetime = seconds(value)?,
                _ => match key.strip_prefix("extension_") {
                    Some(name) => jwt.extensions.push((name.to_string(), value.to_string())),
                    None => return Err(format!("unknown option `{key}`")),
                },
            }
        }
        jwt.checked()
    }

    /// Java's OAuthBearerLoginModule options: `unsecuredLoginStringClaim_sub`,
    /// `unsecuredLoginListClaim_scope` (its first character separates the items),
    /// `unsecuredLoginLifetimeSeconds`, `unsecuredLoginExtension_<name>`.
    pub fn from_jaas(jaas: &JaasConfig) -> Result<UnsecuredJwt, String> {
        let mut jwt = UnsecuredJwt {
            principal: String::new(),
            scope: Vec::new(),
            lifetime: DEFAULT_LIFETIME,
            extensions: Vec::new(),
        };
        for (key, value) in &jaas.options {
            match key.as_str() {
                "unsecuredLoginStringClaim_sub" => jwt.principal = value.clone(),
                "unsecuredLoginListClaim_scope" => {
                    let mut chars = value.chars();
                    if let Some(sep) = chars.next() {
                        jwt.scope = chars
                            .as_str()
                            .split(sep)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect();
                    }
                }
                "unsecuredLoginLifetimeSeconds" => jwt.lifetime = seconds(value)?,
                _ => match key.strip_prefix("unsecuredLoginExtension_") {
                    Some(name) => jwt.extensions.push((name.to_string(), value.clone())),
                    None => return Err(format!("unsupported option `{key}`")),
                },
            }
        }
        jwt.checked()
    }

    fn checked(self) -> Result<UnsecuredJwt, String> {
        if self.principal.is_empty() {
            return Err("the principal (`sub`) is required".into());
        }
        check_extensions(&self.extensions)?;
        Ok(self)
    }

    /// A token issued now.
    pub fn token_at(&self, now: SystemTime) -> OAuthBearerToken {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let exp = iat + self.lifetime.as_secs().max(1);
        let mut claims = format!(
            r#"{{"iat":{iat},"exp":{exp},"sub":{}"#,
            json_string(&self.principal)
        );
        if !self.scope.is_empty() {
            let items: Vec<String> = self.scope.iter().map(|s| json_string(s)).collect();
            claims.push_str(&format!(r#","scope":[{}]"#, items.join(",")));
        }
        claims.push('}');
        OAuthBearerToken {
            value: format!(
                "{}.{}.",
                B64URL.encode(r#"{"alg":"none"}"#),
                B64URL.encode(claims)
            ),
            extensions: self.extensions.clone(),
        }
    }
}

impl OAuthBearerTokenProvider for UnsecuredJwt {
    fn token(&self) -> Result<OAuthBearerToken, String> {
        Ok(self.token_at(SystemTime::now()))
    }
}

fn seconds(value: &str) -> Result<Duration, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{value}` is not a positive number of seconds"))
}

/// RFC 7628 §3.1: keys are letters, `auth` is the token's own key; values exclude the
/// separator.
pub(crate) fn check_extensions(extensions: &[(String, String)]) -> Result<(), String> {
    for (k, v) in extensions {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphabetic()) || k == "auth" {
            return Err(format!(
                "extension name `{k}` must be letters only and not `auth`"
            ));
        }
        if v.contains('\u{1}') {
            return Err(format!("extension `{k}` contains the 0x01 separator"));
        }
    }
    Ok(())
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The client's initial response (RFC 7628 §3.1), no authorization id.
pub(crate) fn initial_response(token: &OAuthBearerToken) -> Vec<u8> {
    let mut m = format!("n,,\u{1}auth=Bearer {}", token.value);
    for (k, v) in &token.extensions {
        m.push('\u{1}');
        m.push_str(k);
        m.push('=');
        m.push_str(v);
    }
    m.push_str("\u{1}\u{1}");
    m.into_bytes()
}

pub(super) struct OAuthBearer {
    message: Option<Vec<u8>>,
}

impl OAuthBearer {
    pub(super) fn new(token: &OAuthBearerToken) -> OAuthBearer {
        OAuthBearer {
            message: Some(initial_response(token)),
        }
    }
}

impl Exchange for OAuthBearer {
    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Step, String> {
        if let Some(m) = self.message.take() {
            return Ok(Step::Send(m));
        }
        match challenge {
            Some(c) if !c.is_empty() => Err(format!(
                "the broker refused the token: {}",
                String::from_utf8_lossy(c)
            )),
            _ => Ok(Step::Done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(token: &OAuthBearerToken) -> String {
        let parts: Vec<&str> = token.value.split('.').collect();
        assert_eq!(parts.len(), 3, "header.claims.signature");
        assert_eq!(parts[2], "", "unsigned");
        assert_eq!(B64URL.decode(parts[0]).unwrap(), br#"{"alg":"none"}"#);
        String::from_utf8(B64URL.decode(parts[1]).unwrap()).unwrap()
    }

    #[test]
    fn librdkafka_config_makes_an_unsigned_jwt() {
        let jwt = UnsecuredJwt::from_config(
            "principal=ad\"min scope=read,write lifeSeconds=60 extension_traceId=x1",
        )
        .unwrap();
        let token = jwt.token_at(UNIX_EPOCH + Duration::from_secs(1_000));
        assert_eq!(
            claims(&token),
            r#"{"iat":1000,"exp":1060,"sub":"ad\"min","scope":["read","write"]}"#
        );
        assert_eq!(token.extensions, vec![("traceId".into(), "x1".into())]);
        assert!(
            UnsecuredJwt::from_config("scope=a").is_err(),
            "no principal"
        );
        assert!(UnsecuredJwt::from_config("principal=a lifeSeconds=0").is_err());
        assert!(UnsecuredJwt::from_config("principal=a colour=red").is_err());
        assert!(UnsecuredJwt::from_config("principal=a extension_auth=x").is_err());
    }

    #[test]
    fn java_unsecured_login_options_make_the_same_token() {
        let jaas = JaasConfig::parse(
            r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice" unsecuredLoginListClaim_scope=",a,b" unsecuredLoginLifetimeSeconds="30";"#,
        )
        .unwrap();
        let jwt = UnsecuredJwt::from_jaas(&jaas).unwrap();
        assert_eq!(
            claims(&jwt.token_at(UNIX_EPOCH + Duration::from_secs(5))),
            r#"{"iat":5,"exp":35,"sub":"alice","scope":["a","b"]}"#
        );
    }

    #[test]
    fn initial_response_is_rfc_7628_and_a_refusal_is_reported() {
        let token = OAuthBearerToken {
            value: "abc.def.".into(),
            extensions: vec![("traceId".into(), "7".into())],
        };
        let mut e = OAuthBearer::new(&token);
        match e.step(None).unwrap() {
            Step::Send(m) => assert_eq!(m, b"n,,\x01auth=Bearer abc.def.\x01traceId=7\x01\x01"),
            Step::Done => panic!("nothing sent"),
        }
        assert!(matches!(e.step(Some(b"")).unwrap(), Step::Done));

        let mut e = OAuthBearer::new(&token);
        e.step(None).unwrap();
        let err = e
            .step(Some(br#"{"status":"invalid_token"}"#))
            .err()
            .unwrap();
        assert!(err.contains("invalid_token"), "{err}");
    }
}
