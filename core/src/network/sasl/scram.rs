//! SASL SCRAM-SHA-256 / SCRAM-SHA-512, client side (RFC 5802, RFC 7677; Kafka's KIP-84).
//!
//! Two round trips: client-first (`n,,n=user,r=cnonce`) → server-first (`r=nonce,s=salt,i=n`),
//! then client-final (`c=biws,r=nonce,p=proof`) → server-final (`v=signature`). The proof shows
//! the password without sending it; the server's signature, checked here, shows the broker
//! holds the user's credential (not just anything that answers on the port).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::{Exchange, SaslMechanism, Step};

/// Kafka's ScramMechanism minimum: fewer iterations than this are refused.
const MIN_ITERATIONS: u32 = 4096;
/// Guards against a hostile server making the client spin.
const MAX_ITERATIONS: u32 = 1 << 20;

#[derive(Clone, Copy)]
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

    /// RFC 5802's Hi(): PBKDF2 with HMAC as the PRF and one block of output.
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

/// `=` and `,` escaped in a SCRAM user name (RFC 5802 §5.1).
fn sasl_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// A printable nonce of 32 random bytes.
fn nonce() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source");
    B64.encode(bytes).replace(',', "-")
}

enum State {
    Initial,
    /// client-first sent: its bare part, for the AuthMessage.
    FirstSent {
        client_first_bare: String,
    },
    /// client-final sent: the signature the server must answer with.
    FinalSent {
        server_signature: Vec<u8>,
    },
    Done,
}

pub(super) struct ScramClient {
    hash: Hash,
    user: String,
    password: String,
    client_nonce: String,
    state: State,
}

impl ScramClient {
    pub(super) fn new(mechanism: SaslMechanism, user: &str, password: &str) -> ScramClient {
        Self::with_nonce(mechanism, user, password, nonce())
    }

    fn with_nonce(
        mechanism: SaslMechanism,
        user: &str,
        password: &str,
        client_nonce: String,
    ) -> ScramClient {
        ScramClient {
            hash: match mechanism {
                SaslMechanism::ScramSha512 => Hash::Sha512,
                _ => Hash::Sha256,
            },
            user: user.to_string(),
            password: password.to_string(),
            client_nonce,
            state: State::Initial,
        }
    }

    fn client_final(
        &self,
        client_first_bare: &str,
        server_first: &str,
    ) -> Result<(String, Vec<u8>), String> {
        let attr = |name: char| {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(name).and_then(|a| a.strip_prefix('=')))
        };
        if let Some(e) = attr('e') {
            return Err(format!("the broker refused the first message: {e}"));
        }
        let nonce = attr('r').ok_or("server-first message without a nonce")?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err("the broker's nonce does not extend the client's".into());
        }
        let salt = B64
            .decode(attr('s').ok_or("server-first message without a salt")?)
            .map_err(|_| "the salt is not base64")?;
        let iterations: u32 = attr('i')
            .and_then(|i| i.parse().ok())
            .ok_or("server-first message without an iteration count")?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "iteration count {iterations} outside [{MIN_ITERATIONS}, {MAX_ITERATIONS}]"
            ));
        }
        let salted = self.hash.hi(self.password.as_bytes(), &salt, iterations);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = self.hash.hash(&client_key);
        // "biws" is base64("n,,"): no channel binding, no authorization id.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = self.hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = self.hash.hmac(&salted, b"Server Key");
        let server_signature = self.hash.hmac(&server_key, auth_message.as_bytes());
        Ok((
            format!("{without_proof},p={}", B64.encode(proof)),
            server_signature,
        ))
    }
}

impl Exchange for ScramClient {
    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Step, String> {
        let text = |c: Option<&[u8]>| -> Result<String, String> {
            let c = c.ok_or("the broker sent no challenge")?;
            String::from_utf8(c.to_vec()).map_err(|_| "the broker's message is not UTF-8".into())
        };
        match std::mem::replace(&mut self.state, State::Done) {
            State::Initial => {
                let bare = format!("n={},r={}", sasl_name(&self.user), self.client_nonce);
                let first = format!("n,,{bare}");
                self.state = State::FirstSent {
                    client_first_bare: bare,
                };
                Ok(Step::Send(first.into_bytes()))
            }
            State::FirstSent { client_first_bare } => {
                let server_first = text(challenge)?;
                let (fin, server_signature) =
                    self.client_final(&client_first_bare, &server_first)?;
                self.state = State::FinalSent { server_signature };
                Ok(Step::Send(fin.into_bytes()))
            }
            State::FinalSent { server_signature } => {
                let server_final = text(challenge)?;
                if let Some(e) = server_final.strip_prefix("e=") {
                    return Err(format!("the broker refused the proof: {e}"));
                }
                let v = server_final
                    .split(',')
                    .find_map(|a| a.strip_prefix("v="))
                    .ok_or("server-final message without a signature")?;
                if B64.decode(v).ok().as_deref() != Some(server_signature.as_slice()) {
                    return Err(
                        "the broker's signature is wrong: it does not hold this user's credential"
                            .into(),
                    );
                }
                Ok(Step::Done)
            }
            State::Done => Ok(Step::Done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(s: Step) -> String {
        match s {
            Step::Send(b) => String::from_utf8(b).unwrap(),
            Step::Done => panic!("expected a message"),
        }
    }

    /// RFC 7677 §3: SCRAM-SHA-256, user "user", password "pencil".
    #[test]
    fn rfc7677_exchange() {
        let mut c = ScramClient::with_nonce(
            SaslMechanism::ScramSha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(
            send(c.step(None).unwrap()),
            "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            send(c.step(Some(server_first.as_bytes())).unwrap()),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        assert!(matches!(c.step(Some(server_final)).unwrap(), Step::Done));
    }

    #[test]
    fn a_wrong_server_signature_or_a_foreign_nonce_is_refused() {
        let mut c = ScramClient::with_nonce(
            SaslMechanism::ScramSha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        c.step(None).unwrap();
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        c.step(Some(server_first.as_bytes())).unwrap();
        let err = c
            .step(Some(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
            .err()
            .unwrap();
        assert!(err.contains("signature"), "{err}");

        let mut c =
            ScramClient::with_nonce(SaslMechanism::ScramSha512, "a=b,c", "pw", "abc".into());
        assert_eq!(send(c.step(None).unwrap()), "n,,n=a=3Db=2Cc,r=abc");
        let err = c.step(Some(b"r=xyz123,s=AAAA,i=4096")).err().unwrap();
        assert!(err.contains("nonce"), "{err}");
    }
}
