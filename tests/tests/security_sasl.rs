//! SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512: against the embedded dev broker
//! (a SASL listener beside the plaintext one), and against Apache Kafka's SASL listener when
//! `KRAFTY_TEST_SASL_BOOTSTRAP` is set (`scripts/kafka.sh`: user `alice` / `alice-secret`).
//! Records go through admin, producer and a consumer group over SASL; wrong credentials fail
//! fast with SASL_AUTHENTICATION_FAILED naming the broker and mechanism; `sasl.jaas.config`
//! works in place of the username and password; kcat (librdkafka) authenticates to the dev
//! broker too. SASL over TLS (SASL_SSL) is in `security_tls.rs`.

use std::time::{Duration, Instant};

use krafty::admin::AdminClient;
use krafty::consumer::KafkaConsumer;
use krafty::producer::KafkaProducer;
use krafty::serialization::StringSerde;
use krafty::KafkaError;
use krafty_broker::Broker;
use krafty_tests::clients::round_trip;
use krafty_tests::{external_sasl_bootstrap, kcat_installed, within, ListenerUnderTest};

const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";
const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// The SASL listener to test against: Apache Kafka's, or an embedded broker's.
async fn sasl_cluster() -> ListenerUnderTest {
    ListenerUnderTest::start(external_sasl_bootstrap(), "SASL_PLAINTEXT", || {
        Broker::builder()
            .listeners("PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0")
            .sasl_user(USER, PASSWORD)
            .sasl_user("bob", "bob-secret")
    })
    .await
}

fn props<'a>(
    bootstrap: &'a str,
    mechanism: &'a str,
    user: &'a str,
    password: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("bootstrap.servers", bootstrap),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", mechanism),
        ("sasl.username", user),
        ("sasl.password", password),
    ]
}

/// For each mechanism: a topic created, 10 records produced and consumed back in a group, all
/// over SASL, values and offsets exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_consume_in_a_group_over_each_mechanism() {
    let cluster = sasl_cluster().await;
    let bs = cluster.bootstrap.as_str();
    for mechanism in MECHANISMS {
        round_trip(
            &format!("sasl-{mechanism}"),
            &props(bs, mechanism, USER, PASSWORD),
        )
        .await;
    }
    cluster.stop().await;
}

/// The error of a refused login: SASL_AUTHENTICATION_FAILED (58), not retriable, naming the
/// broker and the mechanism.
fn assert_auth_failed(e: &KafkaError, bootstrap: &str, mechanism: &str) {
    match e {
        KafkaError::Broker {
            code,
            name,
            message,
            ..
        } => {
            assert_eq!(*code, 58, "{e}");
            assert_eq!(*name, "SASL_AUTHENTICATION_FAILED");
            let m = message.as_deref().unwrap_or_default();
            assert!(m.contains(mechanism), "names the mechanism: {e}");
            assert!(m.contains(bootstrap), "names the broker: {e}");
        }
        other => panic!("{mechanism}: expected SASL_AUTHENTICATION_FAILED, got {other:?}"),
    }
    assert_eq!(e.code(), Some(58));
    assert!(
        !e.is_retriable(),
        "an authentication failure is not retried"
    );
}

/// A wrong password and an unknown user fail the producer, the consumer and the admin client
/// at construction, well within the connection timeout, for every mechanism.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_user_fail_fast_with_sasl_authentication_failed() {
    let cluster = sasl_cluster().await;
    let bs = cluster.bootstrap.as_str();
    for mechanism in MECHANISMS {
        for (user, password) in [(USER, "wrong-password"), ("nobody-such", PASSWORD)] {
            let started = Instant::now();
            let e = within(
                60,
                "a refused producer",
                KafkaProducer::<String, String>::from_properties(
                    props(bs, mechanism, user, password),
                    StringSerde,
                    StringSerde,
                ),
            )
            .await
            .err()
            .unwrap_or_else(|| panic!("{mechanism} {user}: a producer was built"));
            assert_auth_failed(&e, bs, mechanism);
            let mut cp = props(bs, mechanism, user, password);
            cp.push(("group.id", "sasl-refused"));
            let e = within(
                60,
                "a refused consumer",
                KafkaConsumer::<String, String>::from_properties(cp, StringSerde, StringSerde),
            )
            .await
            .err()
            .unwrap_or_else(|| panic!("{mechanism} {user}: a consumer was built"));
            assert_auth_failed(&e, bs, mechanism);
            let e = within(
                60,
                "a refused admin",
                AdminClient::from_properties(props(bs, mechanism, user, password)),
            )
            .await
            .err()
            .unwrap_or_else(|| panic!("{mechanism} {user}: an admin client was built"));
            assert_auth_failed(&e, bs, mechanism);
            let took = started.elapsed();
            assert!(
                took < Duration::from_secs(10),
                "{mechanism} {user}: three refusals took {took:?} (must be far below 30 s)"
            );
        }
    }
    cluster.stop().await;
}

/// A JAAS line works in place of sasl.username / sasl.password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_jaas_config_credentials_authenticate() {
    let cluster = sasl_cluster().await;
    let jaas = format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{USER}\" password=\"{PASSWORD}\";"
    );
    let admin = AdminClient::from_properties([
        ("bootstrap.servers", cluster.bootstrap.as_str()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.jaas.config", jaas.as_str()),
    ])
    .await
    .expect("sasl.jaas.config credentials authenticate");
    admin.close().await;
    cluster.stop().await;
}

/// kcat (librdkafka) authenticates to the dev broker's SASL listener with each mechanism and
/// lists its metadata, and is refused with a wrong password. Dev broker only (the Kafka
/// listener is librdkafka's home ground); skipped when kcat is not installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_authenticates_to_the_dev_broker() {
    if !kcat_installed() {
        return;
    }
    let handle = Broker::builder()
        .listeners("PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0")
        .sasl_user(USER, PASSWORD)
        .start()
        .await
        .unwrap();
    let bs = handle.listener_bootstrap("SASL_PLAINTEXT").unwrap();
    let kcat = |mechanism: &str, password: &str| {
        let bs = bs.clone();
        let (mechanism, password) = (mechanism.to_string(), password.to_string());
        async move {
            let out = tokio::process::Command::new("kcat")
                .args(["-b", &bs, "-L", "-m", "10"])
                .args(["-X", "security.protocol=SASL_PLAINTEXT"])
                .args(["-X", &format!("sasl.mechanism={mechanism}")])
                .args(["-X", &format!("sasl.username={USER}")])
                .args(["-X", &format!("sasl.password={password}")])
                .kill_on_drop(true)
                .output();
            within(60, "kcat", out).await.unwrap()
        }
    };
    for mechanism in MECHANISMS {
        let out = kcat(mechanism, PASSWORD).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("broker 1 at {bs}")),
            "{mechanism}: kcat -L failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = kcat("SCRAM-SHA-512", "wrong").await;
    assert!(
        !out.status.success(),
        "kcat with a wrong password must fail"
    );
    handle.shutdown().await;
}
