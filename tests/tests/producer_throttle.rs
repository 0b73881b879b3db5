//! Broker throttling (KIP-219): a broker over a client's quota answers at once with
//! `throttle_time_ms` and expects nothing more on that connection until that time has passed.
//! The client holds its requests back meanwhile, and the producer reports the throttle times
//! (`produce-throttle-time-avg` / `-max`).
//!
//! On the dev broker the throttle is injected (`Faults::throttle_next`), and the broker shows
//! when the client's next request came (`waits_after_throttle`) and whether any came early
//! (`requests_while_throttled`). On a real Kafka a `producer_byte_rate` quota for the test's
//! client id makes Kafka throttle, and a proxy ([`Proxy`]) reads the throttle times
//! and checks that the client writes nothing before they have passed.

use std::time::{Duration, Instant};

use kafka_protocol::messages::MetadataRequest;
use krafty::config::ClientConfig;
use krafty::network::NetworkClient;
use krafty::producer::{DeliveryFuture, KafkaProducer, ProducerRecord};
use krafty_tests::proxy::Proxy;
use krafty_tests::{read_all, read_batches, unique_topic, within, TestCluster};

const PRODUCE: i16 = 0;
const METADATA: i16 = 3;

use krafty_tests::string_producer as producer;

/// Sends `value` to partition 0 and waits for its offset.
async fn send_one(p: &KafkaProducer<String, String>, topic: &str, value: &str) -> i64 {
    let f = p
        .send(ProducerRecord::new(topic, value.to_string()).with_partition(0))
        .await
        .unwrap();
    within(30, "delivery", f).await.unwrap().offset
}

/// Dev broker only (injected throttle): after a Produce answer that throttles for 1500 ms,
/// records sent at once with `linger.ms=0` wait in the accumulator, so they reach the broker
/// in one request no sooner than 1500 ms later; the producer reports the throttle time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_leader_gets_no_produce_request_until_the_throttle_has_passed() {
    let cluster = TestCluster::start(1).await;
    let Some(faults) = cluster.faults() else {
        println!("skipped: needs the dev broker's fault injection");
        return;
    };
    let bs = cluster.bootstrap();
    let topic = unique_topic("throttled");
    cluster.create_topic(&topic, 1, &[]).await;
    let p = producer(&bs, &[("linger.ms", "0")]).await;
    // Warm up (metadata, producer id, connection) unthrottled.
    assert_eq!(send_one(&p, &topic, "r0").await, 0);
    faults.throttle_next(PRODUCE, 1500, 1);
    assert_eq!(send_one(&p, &topic, "r1").await, 1);
    let answered = Instant::now();
    // Spread over 200 ms, so that a sender which drained them would have drained each alone.
    let mut futures = Vec::new();
    for i in 2..12 {
        let record = ProducerRecord::new(&topic, format!("r{i}")).with_partition(0);
        futures.push(p.send(record).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(within(30, "delivery", f).await.unwrap().offset);
    }
    let latency = answered.elapsed();
    assert_eq!(offsets, (2..12).collect::<Vec<i64>>());

    assert_eq!(faults.throttles_fired(), 1, "the injected throttle fired");
    assert_eq!(
        faults.requests_while_throttled(),
        0,
        "nothing reached the broker while the connection was throttled"
    );
    let waits = faults.waits_after_throttle();
    assert_eq!(waits.len(), 1, "one request followed the throttled answer");
    assert!(
        waits[0] >= Duration::from_millis(1500),
        "the next request came {:?} after the throttled answer",
        waits[0]
    );
    // From the client: the first delivery completed after the answer was read, which is when
    // the throttle started; a few ms of scheduling separate the two.
    assert!(
        latency >= Duration::from_millis(1450),
        "the next records were delivered {latency:?} after the first"
    );
    let m = p.metrics();
    assert_eq!(m.produce_throttle_time_max_ms, 1500.0);
    assert_eq!(
        m.produce_throttle_time_avg_ms, 500.0,
        "three Produce answers, one throttled for 1500 ms"
    );
    p.close(Duration::from_secs(10)).await.unwrap();
    let batches: Vec<Vec<String>> = read_batches(&bs, &topic, 0)
        .await
        .iter()
        .map(|b| {
            b.records
                .iter()
                .map(|r| String::from_utf8(r.value.as_deref().unwrap().to_vec()).unwrap())
                .collect()
        })
        .collect();
    let throttled: Vec<String> = (2..12).map(|i| format!("r{i}")).collect();
    assert_eq!(
        batches,
        [vec!["r0".to_string()], vec!["r1".to_string()], throttled],
        "the records sent while throttled stayed in one open batch"
    );
    cluster.stop().await;
}

/// Dev broker only (injected throttle): every request on a throttled connection waits, not
/// only the producer's: a Metadata answer that throttles holds back the next request, which
/// is written once the throttle has passed (its request timeout starts then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_request_on_a_throttled_connection_waits_for_the_throttle() {
    let cluster = TestCluster::start(1).await;
    let Some(faults) = cluster.faults() else {
        println!("skipped: needs the dev broker's fault injection");
        return;
    };
    let client = NetworkClient::connect(ClientConfig {
        bootstrap_servers: vec![cluster.bootstrap()],
        request_timeout: Duration::from_millis(500),
        ..ClientConfig::default()
    })
    .await
    .unwrap();
    let node = client.metadata().brokers[0].node_id;
    let metadata = || MetadataRequest::default().with_topics(Some(vec![]));
    faults.throttle_next(METADATA, 800, 1);
    let (resp, version) = client.send(node, metadata()).await.unwrap();
    assert!(version >= 6, "Metadata v{version} throttles on the client");
    assert_eq!(resp.throttle_time_ms, 800);
    let until = client
        .throttled_until(node)
        .expect("the connection is throttled");
    assert!(until > tokio::time::Instant::now() + Duration::from_millis(700));
    let started = Instant::now();
    // Longer than the request timeout: the wait is not counted against it.
    client.send(node, metadata()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(750),
        "the request waited {:?}",
        started.elapsed()
    );
    assert_eq!(client.throttled_until(node), None);
    assert_eq!(faults.throttles_fired(), 1);
    assert_eq!(faults.requests_while_throttled(), 0);
    let waits = faults.waits_after_throttle();
    assert!(
        waits.len() == 1 && waits[0] >= Duration::from_millis(800),
        "{waits:?}"
    );
    client.close().await;
    cluster.stop().await;
}

/// Both brokers: about 400 KB from one client id under a 20 KB/s `producer_byte_rate`
/// quota (real Kafka; on the dev broker the next five Produce answers throttle for 300 ms
/// instead), through a [`Proxy`] proxy. The client writes nothing while throttled,
/// the producer reports the throttle, and every record lands once, in order, at the offset
/// its acknowledgement gave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_over_its_quota_is_throttled_and_delivers_everything_in_order() {
    const RECORDS: usize = 400;
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("quota");
    let client_id = unique_topic("krafty-throttled");
    cluster.create_topic(&topic, 1, &[]).await;
    let admin = cluster.admin().await;
    let entity = [("client-id", Some(client_id.as_str()))];
    match cluster.faults() {
        Some(faults) => faults.throttle_next(PRODUCE, 300, 5),
        None => admin
            .alter_client_quotas(&entity, &[("producer_byte_rate", Some(20_000.0))])
            .await
            .unwrap(),
    }
    let watch = Proxy::start(bs.clone()).await;
    // One request in flight: a request the proxy sees between a throttled answer and the end
    // of its throttle was written after the client had that answer (with more in flight, one
    // written just as the answer arrived would look early, and Kafka's muted connection would
    // hide a client that sends too soon behind a full pipeline).
    let p = producer(
        &watch.bootstrap,
        &[
            ("client.id", client_id.as_str()),
            ("linger.ms", "5"),
            // Many requests (about 16 records each), so throttled answers have requests after them.
            ("batch.size", "16384"),
            ("max.in.flight.requests.per.connection", "1"),
        ],
    )
    .await;
    let started = Instant::now();
    let mut futures: Vec<DeliveryFuture> = Vec::new();
    for i in 0..RECORDS {
        let value = format!("{i:06}-{}", "x".repeat(1000));
        let record = ProducerRecord::new(&topic, value).with_partition(0);
        futures.push(p.send(record).await.unwrap());
    }
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(within(120, "delivery", f).await.map(|m| m.offset));
    }
    let elapsed = started.elapsed();
    let m = p.metrics();
    p.close(Duration::from_secs(10)).await.unwrap();
    if cluster.faults().is_none() {
        admin
            .alter_client_quotas(&entity, &[("producer_byte_rate", None)])
            .await
            .unwrap();
    }
    admin.close().await;

    let offsets: Vec<i64> = offsets.into_iter().map(Result::unwrap).collect();
    assert_eq!(offsets, (0..RECORDS as i64).collect::<Vec<_>>());
    assert!(
        m.produce_throttle_time_max_ms > 0.0 && m.produce_throttle_time_avg_ms > 0.0,
        "the broker throttled the producer: {m:?}"
    );
    let (throttled, early) = (watch.throttled_answers(), watch.early_requests());
    assert!(throttled > 0, "the proxy saw throttled Produce answers");
    assert_eq!(
        early, 0,
        "requests written while throttled ({throttled} throttled answers)"
    );
    assert!(
        elapsed >= Duration::from_millis(m.produce_throttle_time_max_ms as u64),
        "the producer waited out its longest throttle ({} ms) in {elapsed:?}",
        m.produce_throttle_time_max_ms
    );
    if let Some(faults) = cluster.faults() {
        assert_eq!(faults.throttles_fired(), 5);
        assert_eq!(throttled, 5);
        assert_eq!(m.produce_throttle_time_max_ms, 300.0);
    }
    let stored: Vec<String> = read_all(&bs, &topic, 0)
        .await
        .iter()
        .map(|r| String::from_utf8(r.value.as_deref().unwrap()[..6].to_vec()).unwrap())
        .collect();
    let expected: Vec<String> = (0..RECORDS).map(|i| format!("{i:06}")).collect();
    assert_eq!(stored, expected, "every record once, in send order");
    cluster.stop().await;
}
