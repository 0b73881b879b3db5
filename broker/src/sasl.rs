//! SASL on `SASL_PLAINTEXT` and `SASL_SSL` listeners: PLAIN, SCRAM-SHA-256/512 and (with
//! unsecured tokens, when enabled) OAUTHBEARER, server side.
//!
//! Users come from configuration (`sasl.users=alice:secret,...` or `BrokerBuilder::sasl_user`).
//! At start every user gets SCRAM credentials as Kafka stores them (RFC 5802: a random salt,
//! 4096 iterations, StoredKey and ServerKey); the password itself is kept only for PLAIN.
//! A connection's [`Authenticator`] follows SaslHandshake (the mechanism) and SaslAuthenticate
//! (one token for PLAIN and OAUTHBEARER; client-first then client-final for SCRAM). Until it
//! succeeds the server accepts nothing but ApiVersions, SaslHandshake and SaslAuthenticate.
//!
//! With `connections.max.reauth.ms` (KIP-368) a session lasts that long at most (and no longer
//! than an OAUTHBEARER token's `exp`); the lifetime goes back in SaslAuthenticate v1+. The
//! client renews it with a new SaslHandshake on the same connection, same mechanism and same
//! principal; a connection whose session ended carries nothing else (`server.rs` closes it).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// SCRAM iterations for the credentials derived at start (Kafka's minimum, and its default).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// The mechanisms this broker implements, by Kafka's names.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// `sasl.enabled.mechanisms` by default: OAUTHBEARER takes unsecured tokens anyone can make,
/// so it is enabled only by name.
pub const DEFAULT_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Hash::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with HMAC as the PRF, one block of output.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut first = salt.to_vec();
        first.extend_from_slice(&1u32.to_be_bytes());
        let mut u = self.hmac(password, &first);
        let mut out = u.clone();
        for _ in 1..iterations {
            u = self.hmac(password, &u);
            out.iter_mut().zip(&u).for_each(|(o, x)| *o ^= x);
        }
        out
    }
}

/// What the broker keeps of a user for one SCRAM mechanism (RFC 5802 §3).
#[derive(Clone, Debug)]
pub struct ScramCredential {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl ScramCredential {
    fn derive(hash: Hash, password: &str, salt: Vec<u8>, iterations: u32) -> ScramCredential {
        let salted = hash.hi(password.as_bytes(), &salt, iterations);
        ScramCredential {
            stored_key: hash.hash(&hash.hmac(&salted, b"Client Key")),
            server_key: hash.hmac(&salted, b"Server Key"),
            salt,
            iterations,
        }
    }
}

struct User {
    password: String,
    scram256: ScramCredential,
    scram512: ScramCredential,
}

/// The users a SASL listener accepts, and the mechanisms it enables.
pub struct SaslUsers {
    users: HashMap<String, User>,
    /// `sasl.enabled.mechanisms`.
    pub mechanisms: Vec<String>,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).expect("the OS random source");
    b
}

impl SaslUsers {
    /// Derives every user's SCRAM credentials (random salts, [`SCRAM_ITERATIONS`]).
    pub fn new(users: &[(String, String)], mechanisms: Vec<String>) -> SaslUsers {
        let users = users
            .iter()
            .map(|(name, password)| {
                let user = User {
                    password: password.clone(),
                    scram256: ScramCredential::derive(
                        Hash::Sha256,
                        password,
                        random_bytes::<16>().to_vec(),
                        SCRAM_ITERATIONS,
                    ),
                    scram512: ScramCredential::derive(
                        Hash::Sha512,
                        password,
                        random_bytes::<16>().to_vec(),
                        SCRAM_ITERATIONS,
                    ),
                };
                (name.clone(), user)
            })
            .collect();
        SaslUsers { users, mechanisms }
    }

    fn scram(&self, hash: Hash, name: &str) -> Option<&ScramCredential> {
        let u = self.users.get(name)?;
        Some(match hash {
            Hash::Sha256 => &u.scram256,
            Hash::Sha512 => &u.scram512,
        })
    }
}

/// The outcome of one SaslAuthenticate token.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthStep {
    /// Answer with these bytes; the exchange goes on.
    Challenge(Vec<u8>),
    /// Answer with these bytes; the connection is authenticated as the named user for
    /// `session_lifetime_ms` (0: without end).
    Success {
        user: String,
        response: Vec<u8>,
        session_lifetime_ms: i64,
    },
    /// Answer SASL_AUTHENTICATION_FAILED with this message, then close.
    Failure(String),
}

enum State {
    /// No SaslHandshake yet, or the last exchange finished.
    NoMechanism,
    Plain,
    ScramFirst(Hash),
    ScramFinal {
        hash: Hash,
        user: String,
        credential: ScramCredential,
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    OAuthBearer,
    /// A refused token was answered with an error challenge; the client's 0x01 comes next.
    OAuthRefused(String),
}

/// An authenticated connection's session.
struct Session {
    user: String,
    mechanism: &'static str,
    /// When a session with a lifetime ends.
    ends: Option<Instant>,
}

/// One connection's SASL state.
pub struct Authenticator {
    state: State,
    /// The mechanism of the exchange in progress.
    mechanism: &'static str,
    session: Option<Session>,
    /// For tests: the server nonce part, instead of a random one.
    fixed_nonce: Option<String>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            state: State::NoMechanism,
            mechanism: "",
            session: None,
            fixed_nonce: None,
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn invalid_credentials(mechanism: &str) -> AuthStep {
    AuthStep::Failure(format!(
        "Authentication failed: invalid credentials with SASL mechanism {mechanism}"
    ))
}

impl Authenticator {
    /// Whether a session was established (it stays while a renewal runs).
    pub fn is_authenticated(&self) -> bool {
        self.session.is_some()
    }

    /// Whether the session had a lifetime and it has run out.
    pub fn session_ended(&self, now: Instant) -> bool {
        self.session
            .as_ref()
            .and_then(|s| s.ends)
            .is_some_and(|end| now >= end)
    }

    /// SaslHandshake: picks the mechanism, or begins a renewal of the session with the same
    /// one. `Err` holds the error code to answer with (33 UNSUPPORTED_SASL_MECHANISM,
    /// 34 ILLEGAL_SASL_STATE).
    pub fn handshake(&mut self, users: &SaslUsers, mechanism: &str) -> Result<(), i16> {
        if !matches!(self.state, State::NoMechanism) {
            return Err(34);
        }
        if !users.mechanisms.iter().any(|m| m == mechanism) {
            return Err(33);
        }
        if self
            .session
            .as_ref()
            .is_some_and(|s| s.mechanism != mechanism)
        {
            // KIP-368: a renewal keeps the mechanism.
            return Err(34);
        }
        (self.state, self.mechanism) = match mechanism {
            "PLAIN" => (State::Plain, "PLAIN"),
            "SCRAM-SHA-256" => (State::ScramFirst(Hash::Sha256), "SCRAM-SHA-256"),
            "SCRAM-SHA-512" => (State::ScramFirst(Hash::Sha512), "SCRAM-SHA-512"),
            "OAUTHBEARER" => (State::OAuthBearer, "OAUTHBEARER"),
            _ => return Err(33),
        };
        Ok(())
    }

    /// The exchange succeeded for `user`, whose credential ends at `expires_at_ms` (an
    /// OAUTHBEARER token's `exp`): the session starts, lasting `max_reauth_ms` at most when
    /// that is positive (KIP-368), and not beyond the credential.
    fn succeed(
        &mut self,
        user: String,
        response: Vec<u8>,
        expires_at_ms: Option<i64>,
        max_reauth_ms: i64,
    ) -> AuthStep {
        if let Some(s) = &self.session {
            if s.user != user {
                return AuthStep::Failure(format!(
                    "re-authentication changed the principal from {} to {user}",
                    s.user
                ));
            }
        }
        let lifetime_ms = if max_reauth_ms > 0 {
            let until_expiry = expires_at_ms.map_or(i64::MAX, |exp| exp - now_ms());
            max_reauth_ms.min(until_expiry).max(1)
        } else {
            0
        };
        self.session = Some(Session {
            user: user.clone(),
            mechanism: self.mechanism,
            ends: (lifetime_ms > 0)
                .then(|| Instant::now() + Duration::from_millis(lifetime_ms as u64)),
        });
        AuthStep::Success {
            user,
            response,
            session_lifetime_ms: lifetime_ms,
        }
    }

    /// One SaslAuthenticate token; `max_reauth_ms` is `connections.max.reauth.ms`.
    pub fn authenticate(
        &mut self,
        users: &SaslUsers,
        token: &[u8],
        max_reauth_ms: i64,
    ) -> AuthStep {
        match std::mem::replace(&mut self.state, State::NoMechanism) {
            State::NoMechanism => AuthStep::Failure(
                "SaslAuthenticate out of turn: no mechanism is being negotiated".into(),
            ),
            State::OAuthBearer => {
                let valid = crate::oauthbearer::bearer_token(token)
                    .and_then(|t| crate::oauthbearer::validate_unsecured(t, now_ms()));
                match valid {
                    Ok(v) => self.succeed(
                        v.principal,
                        Vec::new(),
                        Some(v.expires_at_ms),
                        max_reauth_ms,
                    ),
                    Err(reason) => {
                        self.state = State::OAuthRefused(reason);
                        AuthStep::Challenge(crate::oauthbearer::INVALID_TOKEN.to_vec())
                    }
                }
            }
            State::OAuthRefused(reason) => AuthStep::Failure(format!(
                "Authentication failed: invalid token with SASL mechanism OAUTHBEARER: {reason}"
            )),
            State::Plain => {
                // authzid NUL authcid NUL password (RFC 4616)
                let parts: Vec<&[u8]> = token.split(|b| *b == 0).collect();
                let [authzid, user, password] = parts[..] else {
                    return AuthStep::Failure("malformed PLAIN message".into());
                };
                let (Ok(user), Ok(password)) =
                    (std::str::from_utf8(user), std::str::from_utf8(password))
                else {
                    return invalid_credentials("PLAIN");
                };
                if !authzid.is_empty() && authzid != user.as_bytes() {
                    return AuthStep::Failure(
                        "Authentication failed: authorization id differs from the user".into(),
                    );
                }
                let ok = users
                    .users
                    .get(user)
                    .is_some_and(|u| u.password == password);
                if !ok {
                    return invalid_credentials("PLAIN");
                }
                self.succeed(user.to_string(), Vec::new(), None, max_reauth_ms)
            }
            State::ScramFirst(hash) => self.scram_first(users, hash, token),
            State::ScramFinal {
                hash,
                user,
                credential,
                gs2_header,
                client_first_bare,
                server_first,
                nonce,
            } => {
                let name = mechanism_name(hash);
                let Ok(fin) = std::str::from_utf8(token) else {
                    return AuthStep::Failure(format!("malformed {name} client-final message"));
                };
                let Some((without_proof, proof)) = fin.rsplit_once(",p=") else {
                    return AuthStep::Failure(format!(
                        "{name} client-final message without a proof"
                    ));
                };
                let attr = |k: &str| without_proof.split(',').find_map(|a| a.strip_prefix(k));
                if attr("c=") != Some(B64.encode(gs2_header.as_bytes()).as_str()) {
                    return AuthStep::Failure(
                        "channel binding does not match the first message".into(),
                    );
                }
                // librdkafka repeats its own nonce before the combined one; Kafka accepts a
                // nonce that ends with the one it sent, and so does this broker.
                if !attr("r=").is_some_and(|r| r.ends_with(nonce.as_str())) {
                    return AuthStep::Failure("the nonce does not match".into());
                }
                let Ok(proof) = B64.decode(proof) else {
                    return invalid_credentials(name);
                };
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let client_signature = hash.hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != client_signature.len() {
                    return invalid_credentials(name);
                }
                let client_key: Vec<u8> = proof
                    .iter()
                    .zip(&client_signature)
                    .map(|(p, s)| p ^ s)
                    .collect();
                if hash.hash(&client_key) != credential.stored_key {
                    return invalid_credentials(name);
                }
                let server_signature = hash.hmac(&credential.server_key, auth_message.as_bytes());
                let response = format!("v={}", B64.encode(server_signature)).into_bytes();
                self.succeed(user, response, None, max_reauth_ms)
            }
        }
    }

    fn scram_first(&mut self, users: &SaslUsers, hash: Hash, token: &[u8]) -> AuthStep {
        let name = mechanism_name(hash);
        let Ok(first) = std::str::from_utf8(token) else {
            return AuthStep::Failure(format!("malformed {name} client-first message"));
        };
        // gs2-header: "n,," or "y,," (no channel binding), optionally "a=authzid".
        let mut parts = first.splitn(3, ',');
        let (Some(cb), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
        else {
            return AuthStep::Failure(format!("malformed {name} client-first message"));
        };
        if cb != "n" && cb != "y" {
            return AuthStep::Failure("channel binding is not supported".into());
        }
        let attr = |k: &str| bare.split(',').find_map(|a| a.strip_prefix(k));
        let (Some(user), Some(client_nonce)) = (attr("n="), attr("r=")) else {
            return AuthStep::Failure(format!("malformed {name} client-first message"));
        };
        let user = user.replace("=2C", ",").replace("=3D", "=");
        if !authzid.is_empty() && authzid.strip_prefix("a=") != Some(user.as_str()) {
            return AuthStep::Failure(
                "Authentication failed: authorization id differs from the user".into(),
            );
        }
        let Some(credential) = users.scram(hash, &user).cloned() else {
            return invalid_credentials(name);
        };
        let server_nonce = self
            .fixed_nonce
            .clone()
            .unwrap_or_else(|| B64.encode(random_bytes::<24>()).replace(',', "-"));
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        self.state = State::ScramFinal {
            hash,
            user,
            credential,
            gs2_header: format!("{cb},{authzid},"),
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
        };
        AuthStep::Challenge(server_first.into_bytes())
    }
}

fn mechanism_name(hash: Hash) -> &'static str {
    match hash {
        Hash::Sha256 => "SCRAM-SHA-256",
        Hash::Sha512 => "SCRAM-SHA-512",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<String> {
        MECHANISMS.iter().map(|m| m.to_string()).collect()
    }

    /// RFC 7677 §3: SCRAM-SHA-256, user "user", password "pencil", with the RFC's salt and
    /// server nonce: the server's messages match the RFC's byte for byte.
    #[test]
    fn rfc7677_scram_sha_256_exchange() {
        let mut users = SaslUsers::new(&[], all());
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        users.users.insert(
            "user".into(),
            User {
                password: "pencil".into(),
                scram256: ScramCredential::derive(Hash::Sha256, "pencil", salt.clone(), 4096),
                scram512: ScramCredential::derive(Hash::Sha512, "pencil", salt, 4096),
            },
        );
        let mut a = Authenticator {
            fixed_nonce: Some("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into()),
            ..Default::default()
        };
        a.handshake(&users, "SCRAM-SHA-256").unwrap();
        assert_eq!(
            a.authenticate(&users, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", 0),
            AuthStep::Challenge(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".to_vec()
            )
        );
        assert!(!a.is_authenticated());
        let fin = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            a.authenticate(&users, fin, 0),
            AuthStep::Success {
                user: "user".into(),
                response: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec(),
                session_lifetime_ms: 0,
            }
        );
        assert!(a.is_authenticated());

        // The same exchange with a proof made from another password fails.
        let mut a = Authenticator {
            fixed_nonce: Some("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into()),
            ..Default::default()
        };
        a.handshake(&users, "SCRAM-SHA-256").unwrap();
        a.authenticate(&users, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", 0);
        let bad = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert!(
            matches!(a.authenticate(&users, bad, 0), AuthStep::Failure(m) if m.contains("SCRAM-SHA-256"))
        );
        assert!(!a.is_authenticated());
    }

    #[test]
    fn plain_checks_user_and_password_and_handshake_checks_the_mechanism() {
        let users = SaslUsers::new(
            &[("alice".into(), "alice-secret".into())],
            vec!["PLAIN".into()],
        );
        let mut a = Authenticator::default();
        assert_eq!(a.handshake(&users, "SCRAM-SHA-512"), Err(33));
        a.handshake(&users, "PLAIN").unwrap();
        assert!(matches!(
            a.authenticate(&users, b"\0alice\0wrong", 0),
            AuthStep::Failure(_)
        ));
        let mut a = Authenticator::default();
        a.handshake(&users, "PLAIN").unwrap();
        assert!(matches!(
            a.authenticate(&users, b"\0mallory\0alice-secret", 0),
            AuthStep::Failure(_)
        ));
        let mut a = Authenticator::default();
        a.handshake(&users, "PLAIN").unwrap();
        assert!(matches!(
            a.authenticate(&users, b"\0alice\0alice-secret", 0),
            AuthStep::Success { ref user, .. } if user == "alice"
        ));
        assert!(a.is_authenticated());
        // A handshake after success renews the session (KIP-368).
        assert_eq!(a.handshake(&users, "PLAIN"), Ok(()));
        assert_eq!(
            a.handshake(&users, "PLAIN"),
            Err(34),
            "one exchange at a time"
        );
    }

    fn unsecured_jwt(sub: &str, exp_ms: i64) -> Vec<u8> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
        let claims = format!(r#"{{"sub":"{sub}","exp":{}}}"#, exp_ms as f64 / 1000.0);
        format!(
            "n,,\x01auth=Bearer {}.{}.\x01\x01",
            B64URL.encode(r#"{"alg":"none"}"#),
            B64URL.encode(claims)
        )
        .into_bytes()
    }

    /// A session lasts connections.max.reauth.ms at most, and no longer than the token; a
    /// renewal must keep the principal; without connections.max.reauth.ms it never ends.
    #[test]
    fn sessions_end_and_renew_with_the_same_principal() {
        let users = SaslUsers::new(
            &[("alice".into(), "pw".into()), ("bob".into(), "pw".into())],
            all(),
        );
        let mut a = Authenticator::default();
        a.handshake(&users, "PLAIN").unwrap();
        let step = a.authenticate(&users, b"\0alice\0pw", 60_000);
        assert!(matches!(
            step,
            AuthStep::Success {
                session_lifetime_ms: 60_000,
                ..
            }
        ));
        assert!(!a.session_ended(Instant::now()));
        assert!(a.session_ended(Instant::now() + Duration::from_secs(61)));
        assert_eq!(
            a.handshake(&users, "SCRAM-SHA-512"),
            Err(34),
            "a renewal keeps the mechanism"
        );
        a.handshake(&users, "PLAIN").unwrap();
        let step = a.authenticate(&users, b"\0bob\0pw", 60_000);
        assert!(
            matches!(step, AuthStep::Failure(ref m) if m.contains("principal")),
            "{step:?}"
        );

        // An OAUTHBEARER token ending in 5 s bounds the session below the configured minute.
        let mut a = Authenticator::default();
        a.handshake(&users, "OAUTHBEARER").unwrap();
        match a.authenticate(&users, &unsecured_jwt("carol", now_ms() + 5_000), 60_000) {
            AuthStep::Success {
                user,
                session_lifetime_ms,
                ..
            } => {
                assert_eq!(user, "carol");
                assert!(
                    (4_000..=5_000).contains(&session_lifetime_ms),
                    "{session_lifetime_ms}"
                );
            }
            other => panic!("{other:?}"),
        }
        let mut a = Authenticator::default();
        a.handshake(&users, "OAUTHBEARER").unwrap();
        let step = a.authenticate(&users, &unsecured_jwt("carol", now_ms() + 5_000), 0);
        assert!(matches!(
            step,
            AuthStep::Success {
                session_lifetime_ms: 0,
                ..
            }
        ));
        assert!(!a.session_ended(Instant::now() + Duration::from_secs(3600)));
    }

    /// RFC 7628: a refused token gets an error challenge, and the failure after the client's
    /// 0x01 names the reason.
    #[test]
    fn an_expired_token_is_refused_with_an_error_challenge() {
        let users = SaslUsers::new(&[], all());
        let mut a = Authenticator::default();
        a.handshake(&users, "OAUTHBEARER").unwrap();
        let step = a.authenticate(&users, &unsecured_jwt("carol", now_ms() - 1_000), 0);
        assert_eq!(
            step,
            AuthStep::Challenge(br#"{"status":"invalid_token"}"#.to_vec())
        );
        match a.authenticate(&users, b"\x01", 0) {
            AuthStep::Failure(m) => {
                assert!(m.contains("OAUTHBEARER") && m.contains("expired"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(!a.is_authenticated());
    }

    #[test]
    fn scram_unknown_user_fails_at_the_first_message() {
        let users = SaslUsers::new(&[("alice".into(), "pw".into())], all());
        let mut a = Authenticator::default();
        a.handshake(&users, "SCRAM-SHA-512").unwrap();
        assert!(matches!(
            a.authenticate(&users, b"n,,n=bob,r=abcdef", 0),
            AuthStep::Failure(m) if m.contains("SCRAM-SHA-512")
        ));
    }
}
