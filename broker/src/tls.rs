//! TLS for the SSL and SASL_SSL listeners (rustls with the `ring` provider).
//!
//! The certificate comes from PEM files (`ssl.certificate.location`: the chain, leaf first;
//! `ssl.key.location`: its unencrypted key) or, when neither is given, is generated at start:
//! a CA of its own and a certificate it signs for `localhost` and `127.0.0.1`. The generated
//! CA's PEM is what clients trust: `BrokerHandle::tls_ca_pem()`, and `tls-ca.pem` in the data
//! dir when there is one. `ssl.client.auth` (`none`, `requested`, `required`) asks for a client
//! certificate signed by `ssl.ca.location` (or, with a generated certificate, by the generated
//! CA). The handshake runs on the connection's own task with a deadline, so a client sending
//! anything but TLS (plaintext Kafka frames, HTTP) fails only its own connection.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use tokio_rustls::TlsAcceptor;

use crate::config::{BrokerConfig, ConfigError};

/// What the broker's TLS listeners serve.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// The generated CA's certificate (PEM); `None` with a certificate from files.
    pub generated_ca_pem: Option<String>,
}

fn bad(property: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        property: property.into(),
        reason: reason.into(),
    }
}

fn certificates(property: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = std::fs::read(path)
        .map_err(|e| bad(property, format!("cannot read `{}`: {e}", path.display())))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(property, format!("`{}`: {e}", path.display())))?;
    if chain.is_empty() {
        return Err(bad(
            property,
            format!("`{}` holds no PEM certificate", path.display()),
        ));
    }
    Ok(chain)
}

/// The CA, certificate and key generated for a broker without certificate files.
struct Generated {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn generate() -> Result<Generated, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "krafty dev broker CA");
    let ca_cert = ca.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "krafty dev broker");
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key)?;
    Ok(Generated {
        ca_pem: ca_cert.pem(),
        chain: vec![cert.der().clone(), ca_cert.der().clone()],
        key: PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| rcgen::Error::PemError(e.to_string()))?,
    })
}

impl Tls {
    /// Builds the TLS side from the broker's `ssl.*` properties; writes a generated CA to
    /// `data_dir/tls-ca.pem`.
    pub fn new(config: &BrokerConfig, data_dir: Option<&Path>) -> Result<Tls, ConfigError> {
        let (chain, key, generated_ca_pem) = match (&config.ssl_certificate, &config.ssl_key) {
            (Some(cert), Some(key)) => {
                let chain = certificates("ssl.certificate.location", cert)?;
                let pem = std::fs::read(key).map_err(|e| {
                    bad(
                        "ssl.key.location",
                        format!("cannot read `{}`: {e}", key.display()),
                    )
                })?;
                let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
                    bad(
                        "ssl.key.location",
                        format!(
                            "`{}` holds no unencrypted PEM private key: {e}",
                            key.display()
                        ),
                    )
                })?;
                (chain, key, None)
            }
            (Some(_), None) => {
                return Err(bad(
                    "ssl.key.location",
                    "is required with ssl.certificate.location",
                ))
            }
            (None, Some(_)) => {
                return Err(bad(
                    "ssl.certificate.location",
                    "is required with ssl.key.location",
                ))
            }
            (None, None) => {
                let g = generate().map_err(|e| {
                    bad(
                        "ssl.certificate.location",
                        format!("generating a certificate failed: {e}"),
                    )
                })?;
                if let Some(dir) = data_dir {
                    let path = dir.join("tls-ca.pem");
                    std::fs::write(&path, &g.ca_pem).map_err(|e| {
                        bad(
                            "ssl.certificate.location",
                            format!("writing {}: {e}", path.display()),
                        )
                    })?;
                }
                (g.chain, g.key, Some(g.ca_pem))
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("ssl.enabled.protocols", e.to_string()))?;
        let builder = match config.ssl_client_auth.as_str() {
            "none" => builder.with_no_client_auth(),
            mode => {
                let mut roots = RootCertStore::empty();
                let trusted = match (&config.ssl_ca, &generated_ca_pem) {
                    (Some(path), _) => certificates("ssl.ca.location", path)?,
                    (None, Some(pem)) => vec![CertificateDer::from_pem_slice(pem.as_bytes())
                        .map_err(|e| bad("ssl.ca.location", e.to_string()))?],
                    (None, None) => {
                        return Err(bad(
                            "ssl.ca.location",
                            "is required with ssl.client.auth and a certificate from files: the CA client certificates must be signed by",
                        ))
                    }
                };
                for c in trusted {
                    roots
                        .add(c)
                        .map_err(|e| bad("ssl.ca.location", e.to_string()))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if mode == "requested" {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(
                    verifier
                        .build()
                        .map_err(|e| bad("ssl.ca.location", e.to_string()))?,
                )
            }
        };
        let server = builder.with_single_cert(chain, key).map_err(|e| {
            bad(
                "ssl.key.location",
                format!("does not fit the certificate: {e}"),
            )
        })?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            generated_ca_pem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BrokerConfig {
        let mut c = BrokerConfig::default();
        for (k, v) in pairs {
            c.set(k, v).unwrap();
        }
        c
    }

    #[test]
    fn generates_a_certificate_or_names_the_property_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let tls = Tls::new(&config(&[]), Some(dir.path())).unwrap();
        let ca = tls.generated_ca_pem.unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("tls-ca.pem")).unwrap(),
            ca
        );
        // Client certificates checked against the generated CA.
        let required = config(&[("ssl.client.auth", "required")]);
        assert!(Tls::new(&required, None).is_ok());

        let e = Tls::new(
            &config(&[
                ("ssl.certificate.location", "/nonexistent/cert.pem"),
                ("ssl.key.location", "/nonexistent/key.pem"),
            ]),
            None,
        )
        .err()
        .unwrap();
        assert_eq!(e.property, "ssl.certificate.location");
        let e = Tls::new(
            &config(&[("ssl.certificate.location", "/nonexistent/cert.pem")]),
            None,
        )
        .err()
        .unwrap();
        assert_eq!(e.property, "ssl.key.location");
        let e = BrokerConfig::default()
            .set("ssl.client.auth", "always")
            .unwrap_err();
        assert_eq!(e.property, "ssl.client.auth");
    }
}
