//! Broker throttling (KIP-219): a broker over a client's quota answers at once with
//! `throttle_time_ms` and expects nothing more on that connection until that time has passed.
//! The client holds its requests back meanwhile, and the producer reports the throttle times
//! (`produce-throttle-time-avg` / `-max`).
//!
//! On the dev broker the throttle is injected (`Faults::throttle_next`), and the broker shows
//! when the client's next request came (`waits_after_throttle`) and whether any came early
//! (`requests_while_throttled`). On a real Kafka a `producer_byte_rate` quota for the test's
//! client id makes Kafka throttle, and a proxy ([`ThrottleWatch`]) reads the throttle times
//! and checks that the client writes nothing before they have passed.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    MetadataRequest, MetadataResponse, ProduceResponse, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use krafty::config::ClientConfig;
use krafty::network::NetworkClient;
use krafty::producer::{DeliveryFuture, KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty_tests::{read_all, read_batches, unique_topic, TestCluster};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PRODUCE: i16 = 0;
const METADATA: i16 = 3;

async fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> KafkaProducer<String, String> {
    let mut props = vec![("bootstrap.servers", bootstrap)];
    props.extend_from_slice(extra);
    KafkaProducer::new(
        ProducerConfig::from_properties(props).unwrap(),
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap()
}

/// Awaits `f`, failing the test after `secs` seconds instead of hanging.
async fn within<T>(secs: u64, what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after {secs} s"))
}

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
/// instead), through a [`ThrottleWatch`] proxy. The client writes nothing while throttled,
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
    let watch = ThrottleWatch::start(bs.clone()).await;
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

/// A TCP proxy in front of a one-node cluster that watches throttling from outside the client,
/// on any broker: it notes each throttled Produce answer (v6 and later) and counts the requests
/// the client writes on that connection before the throttle has passed. It names itself as
/// the broker in Metadata answers, so the client reaches the cluster only through it.
struct ThrottleWatch {
    bootstrap: String,
    counts: Arc<WatchCounts>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct WatchCounts {
    throttled_answers: AtomicU64,
    early_requests: AtomicU64,
}

impl ThrottleWatch {
    async fn start(upstream: String) -> ThrottleWatch {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let me = listener.local_addr().unwrap();
        let counts = Arc::new(WatchCounts::default());
        let c = counts.clone();
        let accept = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                connections.spawn(watch_connection(client, upstream.clone(), me, c.clone()));
                while connections.try_join_next().is_some() {}
            }
        });
        ThrottleWatch {
            bootstrap: me.to_string(),
            counts,
            accept,
        }
    }

    fn throttled_answers(&self) -> u64 {
        self.counts.throttled_answers.load(Ordering::SeqCst)
    }

    fn early_requests(&self) -> u64 {
        self.counts.early_requests.load(Ordering::SeqCst)
    }
}

impl Drop for ThrottleWatch {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Relays one client connection until either side closes.
async fn watch_connection(
    client: TcpStream,
    upstream: String,
    me: SocketAddr,
    counts: Arc<WatchCounts>,
) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    // Correlation id -> (API key, version) of the requests awaiting an answer.
    let pending: Mutex<HashMap<i32, (i16, i16)>> = Mutex::new(HashMap::new());
    // Until when the last throttled answer passed on throttles (the client reads it later, so
    // its own deadline is later still).
    let throttle: Mutex<Option<Instant>> = Mutex::new(None);
    let requests = async {
        while let Some(frame) = read_frame(&mut client_rx).await {
            let now = Instant::now();
            let early = throttle.lock().unwrap().is_some_and(|until| now < until);
            if early {
                counts.early_requests.fetch_add(1, Ordering::SeqCst);
            }
            let key = i16::from_be_bytes([frame[0], frame[1]]);
            let version = i16::from_be_bytes([frame[2], frame[3]]);
            let correlation = i32::from_be_bytes(frame[4..8].try_into().unwrap());
            pending.lock().unwrap().insert(correlation, (key, version));
            if write_frame(&mut server_tx, &frame).await.is_none() {
                break;
            }
        }
    };
    let answers = async {
        while let Some(frame) = read_frame(&mut server_rx).await {
            let correlation = i32::from_be_bytes(frame[0..4].try_into().unwrap());
            let request = pending.lock().unwrap().remove(&correlation);
            let frame = match request {
                Some((METADATA, version)) => advertise(frame, version, me),
                Some((PRODUCE, version)) if version >= 6 => {
                    let mut buf = frame.clone();
                    ResponseHeader::decode(&mut buf, ProduceResponse::header_version(version))
                        .unwrap();
                    let ms = ProduceResponse::decode(&mut buf, version)
                        .unwrap()
                        .throttle_time_ms;
                    if ms > 0 {
                        counts.throttled_answers.fetch_add(1, Ordering::SeqCst);
                        let until = Instant::now() + Duration::from_millis(ms as u64);
                        let mut throttle = throttle.lock().unwrap();
                        // A later answer never shortens the throttle (as the client's).
                        *throttle = Some(throttle.map_or(until, |u| u.max(until)));
                    }
                    frame
                }
                _ => frame,
            };
            if write_frame(&mut client_tx, &frame).await.is_none() {
                break;
            }
        }
    };
    tokio::select! {
        _ = requests => {}
        _ = answers => {}
    }
}

/// A Metadata response naming the proxy as the (only) broker's address.
fn advertise(frame: Bytes, version: i16, me: SocketAddr) -> Bytes {
    let mut buf = frame;
    let header_version = MetadataResponse::header_version(version);
    let header = ResponseHeader::decode(&mut buf, header_version).unwrap();
    let mut response = MetadataResponse::decode(&mut buf, version).unwrap();
    for b in &mut response.brokers {
        b.host = StrBytes::from_string(me.ip().to_string());
        b.port = i32::from(me.port());
    }
    let mut out = BytesMut::new();
    header.encode(&mut out, header_version).unwrap();
    response.encode(&mut out, version).unwrap();
    out.freeze()
}

/// One size-prefixed Kafka frame; `None` when the connection closed.
async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> Option<Bytes> {
    let len = usize::try_from(r.read_i32().await.ok()?).ok()?;
    let mut buf = vec![0; len];
    r.read_exact(&mut buf).await.ok()?;
    Some(Bytes::from(buf))
}

async fn write_frame(w: &mut (impl AsyncWrite + Unpin), frame: &[u8]) -> Option<()> {
    let mut out = Vec::with_capacity(4 + frame.len());
    out.extend_from_slice(&(frame.len() as i32).to_be_bytes());
    out.extend_from_slice(frame);
    w.write_all(&out).await.ok()
}
