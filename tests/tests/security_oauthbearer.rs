//! SASL OAUTHBEARER and session re-authentication (KIP-368): against the embedded dev broker
//! (OAUTHBEARER enabled on its SASL listener, `connections.max.reauth.ms` set), and against
//! Apache Kafka's SASL listener when `KRAFTY_TEST_SASL_BOOTSTRAP` is set (`scripts/kafka.sh`:
//! Kafka's unsecured JWT validator, sessions bounded by the token's `exp`).
//! Unsecured tokens from librdkafka's and Java's settings carry a round trip; a token provider
//! whose tokens last 3 s keeps one producer writing for 8 s on the connections it opened first,
//! renewing their sessions; an expired token and a failing provider are authentication errors
//! within the connection timeout.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use krafty::config::{OAuthBearerToken, UnsecuredJwt};
use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::KafkaError;
use krafty_broker::Broker;
use krafty_tests::clients::round_trip;
use krafty_tests::{external_sasl_bootstrap, unique_topic, within, ListenerUnderTest};

/// The SASL listener to test against: Apache Kafka's, or an embedded broker's with
/// OAUTHBEARER enabled and sessions bounded (by the tokens' `exp`).
async fn oauth_cluster() -> ListenerUnderTest {
    ListenerUnderTest::start(external_sasl_bootstrap(), "SASL_PLAINTEXT", || {
        Broker::builder()
            .listeners("PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0")
            .config("sasl.enabled.mechanisms", "PLAIN,OAUTHBEARER")
            .config("connections.max.reauth.ms", "3600000")
    })
    .await
}

fn oauth_props(bootstrap: &str) -> Vec<(&str, &str)> {
    vec![
        ("bootstrap.servers", bootstrap),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
    ]
}

/// Admin, producer and a consumer group over OAUTHBEARER with unsecured tokens, configured
/// the librdkafka way and the Java way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsecured_tokens_from_librdkafka_and_java_settings_carry_a_round_trip() {
    let cluster = oauth_cluster().await;
    let mut librdkafka = oauth_props(&cluster.bootstrap);
    librdkafka.extend([
        ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
        ("sasl.oauthbearer.config", "principal=alice lifeSeconds=600"),
    ]);
    round_trip("oauth-rdkafka-style", &librdkafka).await;
    let mut java = oauth_props(&cluster.bootstrap);
    java.push((
        "sasl.jaas.config",
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"alice\";",
    ));
    round_trip("oauth-java-style", &java).await;
    cluster.stop().await;
}

/// A producer over OAUTHBEARER whose tokens come from `provider`.
async fn producer_with(
    bootstrap: &str,
    provider: impl Fn() -> Result<OAuthBearerToken, String> + Send + Sync + 'static,
) -> krafty::Result<KafkaProducer<String, String>> {
    let mut props = oauth_props(bootstrap);
    props.push(("socket.connection.setup.timeout.ms", "10000"));
    let mut config = ProducerConfig::from_properties(props).unwrap();
    config
        .client
        .set_oauthbearer_token_provider(Arc::new(provider))
        .unwrap();
    KafkaProducer::new(config, StringSerde, StringSerde).await
}

/// KIP-368: tokens last 3 s, so each session does too (Kafka bounds it by `exp`, the dev broker
/// likewise). One producer sends a record every 300 ms for 8 s: every record lands, in order,
/// and the producer never opens another connection, because it renews each session on its
/// connection (asking the provider again) before the broker would close it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_renewed_on_their_connection_before_the_token_expires() {
    let cluster = oauth_cluster().await;
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let jwt = UnsecuredJwt::from_config("principal=alice lifeSeconds=3").unwrap();
    let producer = producer_with(&cluster.bootstrap, move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(jwt.token_at(SystemTime::now()))
    })
    .await
    .expect("the producer authenticates with the provider's token");
    let topic = unique_topic("oauth-reauth");
    let send = |i: u32| {
        let record = ProducerRecord::new(topic.clone(), format!("r{i}")).with_partition(0);
        let producer = &producer;
        async move {
            within(30, "delivery", async {
                producer.send(record).await.unwrap().await
            })
            .await
            .unwrap_or_else(|e| panic!("record {i}: {e}"))
        }
    };
    let first = send(0).await;
    let connections = producer.metrics().connections.connection_creation_total;
    let started = Instant::now();
    let mut i = 1;
    while started.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let meta = send(i).await;
        assert_eq!(meta.offset, first.offset + i as i64, "record {i} in order");
        i += 1;
    }
    let m = producer.metrics().connections;
    assert_eq!(
        m.connection_creation_total, connections,
        "no connection was closed and opened again: {m:?}"
    );
    assert!(
        m.successful_reauthentication_total >= 2,
        "sessions were renewed: {m:?}"
    );
    assert_eq!(m.failed_reauthentication_total, 0, "{m:?}");
    let asked = calls.load(Ordering::SeqCst);
    assert!(
        asked as u64 >= connections + 2,
        "the provider was asked at each renewal: {asked}"
    );
    if let Some(h) = &cluster.embedded {
        assert!(
            h.sasl_authentications() >= connections + 2,
            "the broker saw the renewals"
        );
    }
    producer.close(Duration::from_secs(5)).await.unwrap();
    cluster.stop().await;
}

/// SASL_AUTHENTICATION_FAILED naming OAUTHBEARER and the broker, with `detail` in the message.
fn assert_refused(e: &KafkaError, bootstrap: &str, detail: &str) {
    assert_eq!(e.code(), Some(58), "{e}");
    assert!(!e.is_retriable(), "{e}");
    let text = e.to_string();
    assert!(text.contains("OAUTHBEARER"), "{text}");
    assert!(text.contains(bootstrap), "{text}");
    assert!(text.contains(detail), "{text}");
}

/// A token that expired an hour ago is refused by the broker; a provider that fails fails the
/// authentication with its message. Both well within the connection timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_and_a_failing_provider_fail_fast() {
    let cluster = oauth_cluster().await;
    let bs = cluster.bootstrap.clone();
    let jwt = UnsecuredJwt::from_config("principal=alice lifeSeconds=60").unwrap();
    let started = Instant::now();
    let e = producer_with(&bs, move || {
        Ok(jwt.token_at(SystemTime::now() - Duration::from_secs(3600)))
    })
    .await
    .err()
    .expect("an expired token is refused");
    assert_refused(&e, &bs, "invalid_token");
    let e = producer_with(&bs, || Err("the identity provider is down".into()))
        .await
        .err()
        .expect("no token, no connection");
    assert_refused(&e, &bs, "the identity provider is down");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "failed fast: {:?}",
        started.elapsed()
    );
    cluster.stop().await;
}
