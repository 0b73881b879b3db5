//! Where a client's TLS material comes from, under librdkafka's and Java's property names, all
//! PEM: the CA bundle (`ssl.ca.location` or `ssl.ca.pem`; Java's `ssl.truststore.location` or
//! `ssl.truststore.certificates` with `ssl.truststore.type=PEM`) and the client certificate
//! with its key (`ssl.certificate.location` + `ssl.key.location` or `ssl.certificate.pem` +
//! `ssl.key.pem`; Java's `ssl.keystore.location`, one file holding key and chain, or
//! `ssl.keystore.key` + `ssl.keystore.certificate.chain`, with `ssl.keystore.type=PEM`), the
//! key optionally encrypted (PKCS#8 PBES2, `ssl.key.password`). JKS and PKCS#12 stores are
//! refused with the command that converts them. Every failure names the property at fault.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Properties;
use crate::error::{KafkaError, Result};

/// The `ssl.*` properties read here (ignored without TLS, as Java does).
pub const PROPERTIES: [&str; 15] = [
    "ssl.ca.location",
    "ssl.ca.pem",
    "ssl.certificate.location",
    "ssl.certificate.pem",
    "ssl.key.location",
    "ssl.key.pem",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.truststore.password",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.key",
    "ssl.keystore.certificate.chain",
];

/// PEM text and where it came from, for errors.
pub struct Pem {
    /// The property that named it.
    pub property: &'static str,
    /// The file's path in backquotes, or "the inline PEM".
    pub origin: String,
    pub bytes: Vec<u8>,
}

impl Pem {
    fn file(property: &'static str, path: String) -> Result<Pem> {
        let bytes = std::fs::read(&path)
            .map_err(|e| KafkaError::config(property, format!("cannot read `{path}`: {e}")))?;
        Ok(Pem {
            property,
            origin: format!("`{path}`"),
            bytes,
        })
    }

    fn inline(property: &'static str, text: String) -> Pem {
        Pem {
            property,
            origin: "the inline PEM".into(),
            bytes: text.into_bytes(),
        }
    }

    fn error(&self, reason: impl std::fmt::Display) -> KafkaError {
        KafkaError::config(self.property, format!("{}: {reason}", self.origin))
    }

    /// Every certificate in it, at least one.
    pub fn certificates(&self) -> Result<Vec<CertificateDer<'static>>> {
        let chain = CertificateDer::pem_slice_iter(&self.bytes)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))?;
        if chain.is_empty() {
            return Err(self.error(
                "holds no PEM certificate (JKS and PKCS#12 stores are not read: convert with `keytool -importkeystore -deststoretype PKCS12` then `openssl pkcs12 -nodes`)",
            ));
        }
        Ok(chain)
    }

    /// Its private key, decrypted with `password` when it is an encrypted PKCS#8 key.
    pub fn private_key(&self, password: Option<&str>) -> Result<PrivateKeyDer<'static>> {
        let text = String::from_utf8_lossy(&self.bytes);
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            let Some(password) = password else {
                return Err(KafkaError::config(
                    "ssl.key.password",
                    format!("the key in {} is encrypted: give its password", self.origin),
                ));
            };
            return self.decrypt_pkcs8(&text, password);
        }
        // Traditional OpenSSL encryption (`Proc-Type: 4,ENCRYPTED`, MD5-derived keys).
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(self.error(
                "uses OpenSSL's legacy key encryption, which is not read: convert the key with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key.p8.pem`",
            ));
        }
        PrivateKeyDer::from_pem_slice(&self.bytes).map_err(|e| {
            self.error(format!(
                "holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"
            ))
        })
    }

    /// An `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2) decrypted with `password`.
    fn decrypt_pkcs8(&self, pem: &str, password: &str) -> Result<PrivateKeyDer<'static>> {
        let unreadable = |e: &dyn std::fmt::Display| {
            self.error(format!("not a readable encrypted PKCS#8 key: {e}"))
        };
        // The key's own block: a keystore file holds the certificates beside it.
        const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
        let start = pem
            .find("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            .unwrap_or_default();
        let end = pem.find(END).map_or(pem.len(), |e| e + END.len());
        let (_, der) =
            pkcs8::der::pem::decode_vec(&pem.as_bytes()[start..end]).map_err(|e| unreadable(&e))?;
        let encrypted =
            pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|e| unreadable(&e))?;
        let key = encrypted.decrypt(password).map_err(|e| {
            KafkaError::config(
                "ssl.key.password",
                format!(
                    "cannot decrypt the key in {} (a wrong password, or an unsupported cipher): {e}",
                    self.origin
                ),
            )
        })?;
        Ok(PrivateKeyDer::Pkcs8(key.as_bytes().to_vec().into()))
    }
}

/// The TLS material the `ssl.*` properties name.
pub struct PemStore {
    /// `None`: the system's roots.
    pub ca: Option<Pem>,
    /// The client certificate chain and its key, for mutual TLS.
    pub client: Option<(Pem, Pem)>,
    pub key_password: Option<String>,
}

/// The one source given among `sources` (property, value, is a file); two are an error.
fn one_of(p: &mut Properties, sources: &[(&'static str, bool)]) -> Result<Option<Pem>> {
    let mut found: Option<Pem> = None;
    for &(property, is_file) in sources {
        let Some(value) = p.optional_string(property) else {
            continue;
        };
        if let Some(first) = &found {
            return Err(KafkaError::config(
                property,
                format!("conflicts with {}: give one of them", first.property),
            ));
        }
        found = Some(if is_file {
            Pem::file(property, value)?
        } else {
            Pem::inline(property, value)
        });
    }
    Ok(found)
}

/// Java's store types: PEM only.
fn pem_type(p: &mut Properties, property: &str) -> Result<()> {
    let kind = p.string(property, "PEM");
    if !kind.eq_ignore_ascii_case("PEM") {
        return Err(KafkaError::config(
            property,
            format!("`{kind}` stores are not read, only PEM: convert with `keytool -importkeystore -deststoretype PKCS12` then `openssl pkcs12 -nodes`"),
        ));
    }
    Ok(())
}

/// A store password has no use with PEM (Java refuses it too): the key's is `ssl.key.password`.
fn no_store_password(p: &mut Properties, property: &str) -> Result<()> {
    if p.optional_string(property).is_some() {
        return Err(KafkaError::config(
            property,
            "is not used with PEM; an encrypted key takes ssl.key.password",
        ));
    }
    Ok(())
}

impl PemStore {
    pub fn from_properties(p: &mut Properties) -> Result<PemStore> {
        pem_type(p, "ssl.truststore.type")?;
        pem_type(p, "ssl.keystore.type")?;
        no_store_password(p, "ssl.truststore.password")?;
        no_store_password(p, "ssl.keystore.password")?;
        let ca = one_of(
            p,
            &[
                ("ssl.ca.location", true),
                ("ssl.ca.pem", false),
                ("ssl.truststore.location", true),
                ("ssl.truststore.certificates", false),
            ],
        )?;
        let keystore = one_of(p, &[("ssl.keystore.location", true)])?;
        let chain = one_of(
            p,
            &[
                ("ssl.certificate.location", true),
                ("ssl.certificate.pem", false),
                ("ssl.keystore.certificate.chain", false),
            ],
        )?;
        let key = one_of(
            p,
            &[
                ("ssl.key.location", true),
                ("ssl.key.pem", false),
                ("ssl.keystore.key", false),
            ],
        )?;
        let client =
            match (keystore, chain, key) {
                (None, None, None) => None,
                // One file holding the key and its chain.
                (Some(store), None, None) => Some((
                    Pem {
                        property: store.property,
                        origin: store.origin.clone(),
                        bytes: store.bytes.clone(),
                    },
                    store,
                )),
                (Some(store), _, _) => return Err(KafkaError::config(
                    store.property,
                    "holds the key and its chain: give it alone, or the certificate and the key",
                )),
                (None, Some(chain), Some(key)) => Some((chain, key)),
                (None, Some(chain), None) => {
                    return Err(KafkaError::config(
                        "ssl.key.location",
                        format!("is required with {}", chain.property),
                    ))
                }
                (None, None, Some(key)) => {
                    return Err(KafkaError::config(
                        "ssl.certificate.location",
                        format!("is required with {}", key.property),
                    ))
                }
            };
        Ok(PemStore {
            ca,
            client,
            key_password: p.optional_string("ssl.key.password"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(pairs: &[(&str, &str)]) -> Result<PemStore> {
        PemStore::from_properties(&mut Properties::new(pairs.iter().copied()))
    }

    fn property(r: Result<PemStore>) -> String {
        match r {
            Err(KafkaError::Config { property, .. }) => property,
            Err(e) => panic!("not a config error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn sources_by_librdkafka_and_java_names() {
        let s = store(&[
            ("ssl.ca.pem", "CA"),
            ("ssl.keystore.certificate.chain", "CHAIN"),
            ("ssl.keystore.key", "KEY"),
            ("ssl.truststore.type", "pem"),
        ])
        .unwrap();
        assert_eq!(s.ca.unwrap().bytes, b"CA");
        let (chain, key) = s.client.unwrap();
        assert_eq!(
            (chain.bytes, key.bytes),
            (b"CHAIN".to_vec(), b"KEY".to_vec())
        );
        assert!(store(&[]).unwrap().ca.is_none());
    }

    #[test]
    fn conflicts_foreign_stores_and_missing_halves_name_their_property() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[("ssl.ca.pem", "A"), ("ssl.truststore.certificates", "B")],
                "ssl.truststore.certificates",
            ),
            (&[("ssl.truststore.type", "JKS")], "ssl.truststore.type"),
            (&[("ssl.keystore.password", "x")], "ssl.keystore.password"),
            (&[("ssl.certificate.pem", "C")], "ssl.key.location"),
            (&[("ssl.keystore.key", "K")], "ssl.certificate.location"),
            (
                &[("ssl.truststore.location", "/nonexistent/ca.pem")],
                "ssl.truststore.location",
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(property(store(pairs)), expected, "{pairs:?}");
        }
        let s = store(&[("ssl.ca.pem", "not a certificate")]).unwrap();
        let e = s.ca.unwrap().certificates().unwrap_err();
        assert!(e.to_string().contains("JKS"), "{e}");
    }
}
