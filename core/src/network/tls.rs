//! TLS for `security.protocol` SSL and SASL_SSL (rustls with the `ring` provider).
//!
//! The configuration is built once, when the client is constructed, from librdkafka's / Java's
//! property names with PEM material (`pem_store.rs`: the CA bundle, the system roots without
//! one; the client certificate and key for mutual TLS, the key possibly encrypted), and
//! `ssl.endpoint.identification.algorithm` (`https`, the default: the broker's certificate must
//! name the host the client connected to; empty: the chain is still verified, the name is
//! not). A missing or unreadable file fails construction naming its property.
//!
//! `Connection::connect` wraps the TCP stream with [`TlsConfig::connect`] before anything else
//! is sent. A certificate the client does not trust, a name mismatch, or a broker that refuses
//! the client's certificate is a [`KafkaError::Tls`], not retriable: retrying cannot fix a
//! certificate, so the call fails at once instead of reconnecting.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::pem_store::PemStore;
use crate::config::Properties;
use crate::error::{KafkaError, Result};

/// How every connection of a client does TLS.
#[derive(Clone)]
pub struct TlsConfig {
    connector: TlsConnector,
    /// `ssl.endpoint.identification.algorithm` is `https`.
    pub verify_hostname: bool,
    /// Whether a client certificate is configured (for the error when a broker refuses).
    pub client_certificate: bool,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("verify_hostname", &self.verify_hostname)
            .field("client_certificate", &self.client_certificate)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    /// Reads the `ssl.*` properties (called for SSL and SASL_SSL only).
    pub fn from_properties(p: &mut Properties) -> Result<TlsConfig> {
        let pems = PemStore::from_properties(p)?;
        let algorithm = p.string("ssl.endpoint.identification.algorithm", "https");
        let verify_hostname = match algorithm.to_ascii_lowercase().as_str() {
            "https" => true,
            "" | "none" => false,
            _ => {
                return Err(KafkaError::config(
                    "ssl.endpoint.identification.algorithm",
                    format!("`{algorithm}` is not `https` or empty"),
                ))
            }
        };

        let mut roots = RootCertStore::empty();
        match &pems.ca {
            Some(ca) => {
                for c in ca.certificates()? {
                    roots.add(c).map_err(|e| {
                        KafkaError::config(ca.property, format!("{}: {e}", ca.origin))
                    })?;
                }
            }
            None => {
                let system = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(system.certs);
                if added == 0 {
                    return Err(KafkaError::config(
                        "ssl.ca.location",
                        "is required: no system CA certificates were found",
                    ));
                }
            }
        }

        let provider = provider();
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| KafkaError::config("ssl.ca.location", e.to_string()))?;
        let verifier: Arc<dyn ServerCertVerifier> = if verify_hostname {
            verifier
        } else {
            Arc::new(ChainOnly(verifier))
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| KafkaError::config("security.protocol", e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let (config, client_certificate) = match &pems.client {
            None => (builder.with_no_client_auth(), false),
            Some((chain, key)) => {
                let certificates = chain.certificates()?;
                let private_key = key.private_key(pems.key_password.as_deref())?;
                let config = builder
                    .with_client_auth_cert(certificates, private_key)
                    .map_err(|e| {
                        KafkaError::config(
                            key.property,
                            format!("does not fit the certificate: {e}"),
                        )
                    })?;
                (config, true)
            }
        };
        Ok(TlsConfig {
            connector: TlsConnector::from(Arc::new(config)),
            verify_hostname,
            client_certificate,
        })
    }

    /// Runs the handshake with the broker at `addr` (`host:port`) over `tcp`.
    pub async fn connect(&self, addr: &str, tcp: TcpStream) -> Result<TlsStream<TcpStream>> {
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|_| KafkaError::Tls {
            broker: addr.to_string(),
            reason: format!("`{host}` is not a valid TLS server name"),
        })?;
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| handshake_error(addr, &e).unwrap_or_else(|| network(addr, e)))
    }
}

fn network(addr: &str, e: std::io::Error) -> KafkaError {
    KafkaError::Network {
        broker: addr.to_string(),
        reason: format!("TLS handshake: {e}"),
    }
}

/// The TLS failure `e` carries, as a non-retriable error saying what failed; `None` for plain
/// I/O errors (a reset, a timeout), which stay retriable network errors.
pub fn handshake_error(addr: &str, e: &std::io::Error) -> Option<KafkaError> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    let reason = match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            // BadSignature: a trusted CA of the same name as the issuer did not sign it (say,
            // another dev broker's generated CA): not trusted either.
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                "certificate not trusted: the broker's certificate is not signed by a trusted CA (ssl.ca.location)".to_string()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("name mismatch: the broker's certificate is not valid for `{}` (ssl.endpoint.identification.algorithm=https)", addr.rsplit_once(':').map_or(addr, |(h, _)| h))
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the broker's certificate has expired".to_string()
            }
            other => format!("the broker's certificate was rejected: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => {
            use rustls::AlertDescription::*;
            match alert {
                CertificateRequired | BadCertificate | UnknownCA | AccessDenied
                | CertificateUnknown | HandshakeFailure => format!(
                    "the broker refused the client ({alert:?} alert): it requires a client certificate signed by a CA it trusts (ssl.certificate.location, ssl.key.location)"
                ),
                _ => format!("the broker ended the handshake ({alert:?} alert)"),
            }
        }
        other => format!("{other}"),
    };
    Some(KafkaError::Tls {
        broker: addr.to_string(),
        reason,
    })
}

/// `ssl.endpoint.identification.algorithm` empty: the chain must still lead to a trusted CA,
/// only the name check is skipped.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
