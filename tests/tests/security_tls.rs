//! TLS (`security.protocol` SSL and SASL_SSL): against the embedded dev broker (SSL and
//! SASL_SSL listeners with a generated certificate, or certificates this suite makes with
//! rcgen), and against Apache Kafka's SSL and SASL_SSL listeners when
//! `KRAFTY_TEST_SSL_BOOTSTRAP`, `KRAFTY_TEST_SASL_SSL_BOOTSTRAP` and `KRAFTY_TEST_SSL_CA` are
//! set (`scripts/kafka.sh`: PORT+3 and PORT+4, a certificate for 127.0.0.1 signed by the CA at
//! `KRAFTY_TEST_SSL_CA`, user `alice` / `alice-secret`).
//! Records go through admin, producer and a consumer group over TLS; mutual TLS is required
//! and refused without a client certificate; an untrusted CA and a name mismatch each fail
//! fast with a non-retriable TLS error saying so; garbage on a TLS port closes only its own
//! connection; kcat (librdkafka) reads the dev broker's metadata over SSL.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use krafty::admin::{AdminClient, NewTopic};
use krafty::consumer::KafkaConsumer;
use krafty::producer::KafkaProducer;
use krafty::serialization::StringSerde;
use krafty::KafkaError;
use krafty_broker::{Broker, BrokerHandle};
use krafty_tests::clients::round_trip;
use krafty_tests::{kcat_installed, unique_topic, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.is_empty())
}

/// A CA made by this suite, and certificates it signs, as PEM files in a temporary dir.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca = params.self_signed(&ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca, ca_key }
    }

    fn ca_path(&self) -> String {
        path(&self.dir.path().join("ca.pem"))
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by this CA: (cert, key).
    fn issue(&self, file: &str, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, file);
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let cert_path = self.dir.path().join(format!("{file}.pem"));
        let key_path = self.dir.path().join(format!("{file}.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (path(&cert_path), path(&key_path))
    }
}

impl Pki {
    /// `key` (a PEM PKCS#8 file) encrypted with `password` as `openssl pkcs8 -topk8 -v2
    /// aes-256-cbc` does (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC), beside it.
    fn encrypt_key(&self, key: &str, password: &str) -> String {
        use pkcs8::der::pem::LineEnding;
        let pem = std::fs::read_to_string(key).unwrap();
        let (_, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).unwrap();
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).unwrap();
        let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(
            2048,
            b"salt1234",
            b"0123456789abcdef",
        )
        .unwrap();
        let encrypted = info.encrypt_with_params(params, password).unwrap();
        let out = self.dir.path().join("encrypted.key");
        std::fs::write(
            &out,
            encrypted
                .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
                .unwrap(),
        )
        .unwrap();
        path(&out)
    }
}

/// `base` plus a client certificate and its key (and the key's password when it is encrypted).
fn with_client_cert<'a>(
    base: &[(&'a str, &'a str)],
    cert: &'a str,
    key: &'a str,
    password: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut props = base.to_vec();
    props.extend([
        ("ssl.certificate.location", cert),
        ("ssl.key.location", key),
    ]);
    props.extend(password.map(|pw| ("ssl.key.password", pw)));
    props
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// The SSL and SASL_SSL listeners to test against and the CA to trust; holds the embedded
/// broker when there is one.
struct TlsCluster {
    ssl: String,
    sasl_ssl: String,
    ca: String,
    embedded: Option<BrokerHandle>,
    _dir: Option<tempfile::TempDir>,
}

impl TlsCluster {
    async fn start() -> TlsCluster {
        if let (Some(ssl), Some(sasl_ssl), Some(ca)) = (
            env("KRAFTY_TEST_SSL_BOOTSTRAP"),
            env("KRAFTY_TEST_SASL_SSL_BOOTSTRAP"),
            env("KRAFTY_TEST_SSL_CA"),
        ) {
            return TlsCluster {
                ssl,
                sasl_ssl,
                ca,
                embedded: None,
                _dir: None,
            };
        }
        // A data dir, so the generated CA's file is checked too.
        let dir = tempfile::tempdir().unwrap();
        let handle = Broker::builder()
            .data_dir(dir.path())
            .listeners("PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0")
            .sasl_user(USER, PASSWORD)
            .start()
            .await
            .expect("the dev broker starts with TLS listeners");
        let ca = dir.path().join("tls-ca.pem");
        assert_eq!(
            std::fs::read_to_string(&ca).unwrap(),
            handle.tls_ca_pem().unwrap(),
            "the generated CA is written to the data dir"
        );
        TlsCluster {
            ssl: handle.listener_bootstrap("SSL").unwrap(),
            sasl_ssl: handle.listener_bootstrap("SASL_SSL").unwrap(),
            ca: path(&ca),
            embedded: Some(handle),
            _dir: Some(dir),
        }
    }

    async fn stop(self) {
        if let Some(h) = self.embedded {
            h.shutdown().await;
        }
    }
}

/// Over SSL, and over SASL_SSL with SCRAM-SHA-512: 10 records produced and consumed exactly,
/// the broker's certificate verified against the CA, hostname included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_consume_over_ssl_and_sasl_ssl() {
    let cluster = TlsCluster::start().await;
    round_trip(
        "SSL",
        &[
            ("bootstrap.servers", cluster.ssl.as_str()),
            ("security.protocol", "SSL"),
            ("ssl.ca.location", cluster.ca.as_str()),
        ],
    )
    .await;
    round_trip(
        "SASL_SSL",
        &[
            ("bootstrap.servers", cluster.sasl_ssl.as_str()),
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", cluster.ca.as_str()),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", USER),
            ("sasl.password", PASSWORD),
        ],
    )
    .await;
    cluster.stop().await;
}

/// A TLS failure: `KafkaError::Tls` naming the broker and saying `what`, not retriable.
fn assert_tls_failed(e: &KafkaError, broker: &str, what: &str) {
    match e {
        KafkaError::Tls { broker: b, reason } => {
            assert_eq!(b, broker, "{e}");
            assert!(reason.contains(what), "says {what:?}: {e}");
        }
        other => panic!("expected a TLS error saying {what:?}, got {other:?}"),
    }
    assert!(e.to_string().contains(broker), "{e}");
    assert!(!e.is_retriable(), "a certificate problem is not retried");
}

/// Building a producer, a consumer and an admin client with `props` each fails with a TLS
/// error saying `what`; all three together well within the connection timeout.
async fn assert_refused(props: &[(&str, &str)], broker: &str, what: &str) {
    let started = Instant::now();
    let e = within(
        60,
        "a refused producer",
        KafkaProducer::<String, String>::from_properties(props.to_vec(), StringSerde, StringSerde),
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("{what}: a producer was built"));
    assert_tls_failed(&e, broker, what);
    let mut cp = props.to_vec();
    cp.push(("group.id", "tls-refused"));
    let e = within(
        60,
        "a refused consumer",
        KafkaConsumer::<String, String>::from_properties(cp, StringSerde, StringSerde),
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("{what}: a consumer was built"));
    assert_tls_failed(&e, broker, what);
    let e = within(
        60,
        "a refused admin",
        AdminClient::from_properties(props.to_vec()),
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("{what}: an admin client was built"));
    assert_tls_failed(&e, broker, what);
    let took = started.elapsed();
    eprintln!("refused in {took:?}: {e}");
    assert!(
        took < Duration::from_secs(10),
        "{what}: three refusals took {took:?} (the connection timeout is 10 s)"
    );
}

/// A CA the client does not trust fails fast with "certificate not trusted", on the dev broker
/// and on Kafka's SSL listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_fails_fast() {
    let cluster = TlsCluster::start().await;
    let other = Pki::new("some other CA");
    let ca = other.ca_path();
    let bs = cluster.ssl.as_str();
    assert_refused(
        &[
            ("bootstrap.servers", bs),
            ("security.protocol", "SSL"),
            ("ssl.ca.location", ca.as_str()),
        ],
        bs,
        "certificate not trusted",
    )
    .await;
    cluster.stop().await;
}

/// A certificate that does not name the address connected to fails fast with "name mismatch";
/// with `ssl.endpoint.identification.algorithm` empty the same connection works (the chain is
/// still checked). Dev broker: a certificate for `kafka.invalid` reached via 127.0.0.1. Kafka:
/// its certificate names 127.0.0.1 only, reached via `localhost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostname_mismatch_fails_fast() {
    let pki = Pki::new("mismatch CA");
    let (bs, ca, handle) = match (env("KRAFTY_TEST_SSL_BOOTSTRAP"), env("KRAFTY_TEST_SSL_CA")) {
        (Some(bs), Some(ca)) => {
            let port = bs.rsplit_once(':').unwrap().1.to_string();
            (format!("localhost:{port}"), ca, None)
        }
        _ => {
            let (cert, key) = pki.issue("broker", &["kafka.invalid"]);
            let handle = Broker::builder()
                .listeners("SSL://127.0.0.1:0")
                .config("ssl.certificate.location", cert)
                .config("ssl.key.location", key)
                .start()
                .await
                .unwrap();
            (
                handle.listener_bootstrap("SSL").unwrap(),
                pki.ca_path(),
                Some(handle),
            )
        }
    };
    let props = [
        ("bootstrap.servers", bs.as_str()),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", ca.as_str()),
    ];
    assert_refused(&props, &bs, "name mismatch").await;
    if let Some(handle) = handle {
        let mut unchecked = props.to_vec();
        unchecked.push(("ssl.endpoint.identification.algorithm", ""));
        let admin = within(30, "admin", AdminClient::from_properties(unchecked))
            .await
            .expect("without hostname verification the same certificate is accepted");
        admin.close().await;
        handle.shutdown().await;
    }
}

/// Apache Kafka's listener that requires client certificates (scripts/kafka.sh: MTLS on
/// PORT+5, a client certificate beside its CA): with the certificate a client produces and
/// consumes; without one it is refused fast, saying the broker wants a client certificate.
/// The dev broker's side is `mutual_tls_against_the_dev_broker`; this one needs
/// KRAFTY_TEST_MTLS_BOOTSTRAP (the test command sets it for each Kafka).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_against_apache_kafka() {
    let (Some(bs), Some(ca)) = (env("KRAFTY_TEST_MTLS_BOOTSTRAP"), env("KRAFTY_TEST_SSL_CA"))
    else {
        eprintln!("skipped: KRAFTY_TEST_MTLS_BOOTSTRAP names no Kafka listener (dev broker run)");
        return;
    };
    let dir = Path::new(&ca).parent().expect("the CA's directory");
    let (cert, key) = (path(&dir.join("client.pem")), path(&dir.join("client.key")));
    let base = [
        ("bootstrap.servers", bs.as_str()),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", ca.as_str()),
    ];
    let with_cert = with_client_cert(&base, &cert, &key, None);
    round_trip("kafka-mTLS", &with_cert).await;
    // The same key encrypted by openssl (PKCS#8, PBES2 with AES-256-CBC), with its password.
    let encrypted = path(&dir.join("client-encrypted.key"));
    let with_encrypted = with_client_cert(&base, &cert, &encrypted, Some("client-secret"));
    round_trip("kafka-mTLS-encrypted-key", &with_encrypted).await;
    assert_refused(&base, &bs, "client certificate").await;
}

/// The dev broker with `ssl.client.auth=required`, its certificate and the CA of client
/// certificates from files: a client with a certificate that CA signed produces and consumes;
/// one without a certificate, or with one from another CA, is refused fast, the error saying
/// the broker wants a client certificate. An encrypted key works with its password, and so do
/// Java's PEM store properties and librdkafka's inline PEM strings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_against_the_dev_broker() {
    let pki = Pki::new("mtls CA");
    let (cert, key) = pki.issue("broker", &["localhost", "127.0.0.1"]);
    let (client_cert, client_key) = pki.issue("client", &["client.example"]);
    let stranger = Pki::new("stranger CA");
    let (stranger_cert, stranger_key) = stranger.issue("stranger", &["stranger.example"]);
    let handle = Broker::builder()
        .listeners("PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0")
        .config("ssl.certificate.location", cert)
        .config("ssl.key.location", key)
        .config("ssl.ca.location", pki.ca_path())
        .config("ssl.client.auth", "required")
        .start()
        .await
        .unwrap();
    assert!(handle.tls_ca_pem().is_none(), "nothing was generated");
    let bs = handle.listener_bootstrap("SSL").unwrap();
    let ca = pki.ca_path();
    let base = [
        ("bootstrap.servers", bs.as_str()),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", ca.as_str()),
    ];
    let with_cert = with_client_cert(&base, &client_cert, &client_key, None);
    round_trip("mTLS", &with_cert).await;

    assert_refused(&base, &bs, "requires a client certificate").await;
    let with_stranger = with_client_cert(&base, &stranger_cert, &stranger_key, None);
    assert_refused(&with_stranger, &bs, "requires a client certificate").await;

    // The client key encrypted (PKCS#8, PBES2): with its password it authenticates; without
    // it, or with a wrong one, construction fails naming ssl.key.password. A legacy
    // OpenSSL-encrypted key is refused naming ssl.key.location, with the command converting it.
    let encrypted = pki.encrypt_key(&client_key, "client-secret");
    let with_encrypted = with_client_cert(&base, &client_cert, &encrypted, Some("client-secret"));
    round_trip("mTLS-encrypted-key", &with_encrypted).await;
    // Java's PEM stores: a truststore file, and a keystore file holding the encrypted key and
    // its chain; then librdkafka's inline PEM strings.
    let keystore = pki.dir.path().join("keystore.pem");
    let keystore_pem = std::fs::read_to_string(&encrypted).unwrap()
        + &std::fs::read_to_string(&client_cert).unwrap();
    std::fs::write(&keystore, keystore_pem).unwrap();
    let keystore = path(&keystore);
    let java_stores = [
        ("bootstrap.servers", bs.as_str()),
        ("security.protocol", "SSL"),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", ca.as_str()),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", keystore.as_str()),
        ("ssl.key.password", "client-secret"),
    ];
    round_trip("mTLS-java-pem-stores", &java_stores).await;
    let (ca_pem, cert_pem, key_pem) = (
        std::fs::read_to_string(&ca).unwrap(),
        std::fs::read_to_string(&client_cert).unwrap(),
        std::fs::read_to_string(&client_key).unwrap(),
    );
    let inline = [
        ("bootstrap.servers", bs.as_str()),
        ("security.protocol", "SSL"),
        ("ssl.ca.pem", ca_pem.as_str()),
        ("ssl.certificate.pem", cert_pem.as_str()),
        ("ssl.key.pem", key_pem.as_str()),
    ];
    round_trip("mTLS-inline-pem", &inline).await;
    let legacy = pki.dir.path().join("legacy.key");
    std::fs::write(
        &legacy,
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let legacy = path(&legacy);
    for (key, password, property, says) in [
        (&encrypted, None, "ssl.key.password", "encrypted"),
        (
            &encrypted,
            Some("wrong"),
            "ssl.key.password",
            "cannot decrypt",
        ),
        (
            &legacy,
            Some("pw"),
            "ssl.key.location",
            "openssl pkcs8 -topk8",
        ),
    ] {
        let props = with_client_cert(&base, &client_cert, key, password);
        match AdminClient::from_properties(props).await {
            Err(KafkaError::Config {
                property: p,
                reason,
            }) => {
                assert_eq!(p, property);
                assert!(reason.contains(says), "{reason}");
            }
            other => panic!(
                "expected a config error naming {property}, got {:?}",
                other.err()
            ),
        }
    }
    // Missing files name their property.
    for property in [
        "ssl.ca.location",
        "ssl.certificate.location",
        "ssl.key.location",
    ] {
        let mut props: Vec<(&str, &str)> = with_cert
            .iter()
            .filter(|(k, _)| *k != property)
            .copied()
            .collect();
        props.push((property, "/nonexistent/file.pem"));
        match AdminClient::from_properties(props).await {
            Err(KafkaError::Config {
                property: p,
                reason,
            }) => {
                assert_eq!(p, property);
                assert!(reason.contains("/nonexistent/file.pem"), "{reason}");
            }
            other => panic!(
                "expected a config error naming {property}, got {:?}",
                other.err()
            ),
        }
    }
    handle.shutdown().await;
}

/// Reads until the peer closes (`Ok(bytes read)`) or `secs` pass (`Err`).
async fn read_to_close(stream: &mut tokio::net::TcpStream, secs: u64) -> Result<usize, ()> {
    let mut buf = Vec::new();
    match tokio::time::timeout(Duration::from_secs(secs), stream.read_to_end(&mut buf)).await {
        Ok(_) => Ok(buf.len()),
        Err(_) => Err(()),
    }
}

/// A plaintext Kafka frame and an HTTP request on the TLS port each close their own
/// connection; a TLS client connected before keeps working, and one connecting after too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_tls_port_closes_only_that_connection() {
    let cluster = TlsCluster::start().await;
    let Some(handle) = cluster.embedded.as_ref() else {
        cluster.stop().await;
        return;
    };
    let bs = handle.listener_bootstrap("SSL").unwrap();
    let props = [
        ("bootstrap.servers", bs.as_str()),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", cluster.ca.as_str()),
    ];
    let admin = AdminClient::from_properties(props.to_vec()).await.unwrap();
    // ApiVersions v0 in plaintext: size, key 18, version 0, correlation 1, client id "x".
    let kafka_frame: &[u8] = &[0, 0, 0, 11, 0, 18, 0, 0, 0, 0, 0, 1, 0, 1, b'x'];
    let http: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for garbage in [kafka_frame, http] {
        let mut raw = tokio::net::TcpStream::connect(&bs).await.unwrap();
        raw.write_all(garbage).await.unwrap();
        assert!(
            read_to_close(&mut raw, 10).await.is_ok(),
            "the broker closes a connection that does not speak TLS"
        );
    }
    // A connection that sends nothing at all holds no one up.
    let _silent = tokio::net::TcpStream::connect(&bs).await.unwrap();
    let topic = unique_topic("tls-after-garbage");
    within(
        30,
        "create",
        admin.create_topics(&[NewTopic::new(&topic, 1, 1)]),
    )
    .await
    .expect("the earlier TLS connection still works");
    admin.close().await;
    round_trip("after-garbage", &props).await;
    cluster.stop().await;
}

/// kcat (librdkafka) lists the dev broker's metadata over SSL and over SASL_SSL, trusting the
/// generated CA; skipped when kcat is not installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_over_ssl_to_the_dev_broker() {
    if !kcat_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let handle = Broker::builder()
        .data_dir(dir.path())
        .listeners("PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0")
        .sasl_user(USER, PASSWORD)
        .start()
        .await
        .unwrap();
    let ca: PathBuf = dir.path().join("tls-ca.pem");
    for protocol in ["SSL", "SASL_SSL"] {
        let bs = handle.listener_bootstrap(protocol).unwrap();
        let mut cmd = tokio::process::Command::new("kcat");
        cmd.args(["-b", &bs, "-L", "-m", "10"])
            .args(["-X", &format!("security.protocol={protocol}")])
            .args(["-X", &format!("ssl.ca.location={}", path(&ca))]);
        if protocol == "SASL_SSL" {
            cmd.args(["-X", "sasl.mechanism=SCRAM-SHA-512"])
                .args(["-X", &format!("sasl.username={USER}")])
                .args(["-X", &format!("sasl.password={PASSWORD}")]);
        }
        let out = within(60, "kcat", cmd.kill_on_drop(true).output())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("broker 1 at {bs}")),
            "{protocol}: kcat -L failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    handle.shutdown().await;
}
