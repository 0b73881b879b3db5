//! The fetcher's pipeline: one fetch in flight per leader, so what a fetch holds matters.

mod common_consumer;

use std::time::{Duration, Instant};

use common_consumer::*;
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty_tests::{unique_topic, TestCluster};

/// Both brokers: partition 0 has 2000 records in small batches, partition 1 (same leader) none.
/// While partition 0's records are being handed out, partition 1 is caught up: a fetch for it
/// alone would be parked by the broker for `fetch.max.wait.ms` (10 s here), and partition 0
/// could not be fetched again before it returned. The fetcher holds partition 1 back until it
/// can go with partition 0, so the 15-odd fetches partition 0 needs are never parked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_up_partition_never_parks_the_fetches_of_a_busy_one() {
    const RECORDS: i64 = 2000;
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("fetch-pipeline");
    cluster.create_topic(&topic, 2, &[]).await;
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [
            ("bootstrap.servers", bs.as_str()),
            ("batch.size", "1024"),
            ("linger.ms", "5"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let mut acks = Vec::new();
    for o in 0..RECORDS {
        let record = ProducerRecord::new(&topic, value(0, o)).with_partition(0);
        acks.push(producer.send(record).await.unwrap());
    }
    for (o, ack) in acks.into_iter().enumerate() {
        assert_eq!(ack.await.unwrap().offset, o as i64);
    }
    producer.close(Duration::from_secs(10)).await.unwrap();

    let c = consumer(
        &bs,
        None,
        &[
            ("fetch.max.wait.ms", "10000"),
            ("max.partition.fetch.bytes", "4096"),
            ("max.poll.records", "50"),
        ],
    )
    .await;
    c.assign(&tps(&topic, 0..2)).await.unwrap();
    let started = Instant::now();
    let got = poll_n(&c, RECORDS as usize, Duration::from_secs(60)).await;
    let elapsed = started.elapsed();
    assert_eq!(
        got.len(),
        RECORDS as usize,
        "every record of partition 0 within 60 s (took {elapsed:?})"
    );
    assert!(
        got == expected(0, 0..RECORDS),
        "every record of partition 0, in order"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "no fetch of partition 0 waited behind a parked fetch of partition 1 (fetch.max.wait.ms \
         is 10 s): {elapsed:?}"
    );
    close(&c).await;
    cluster.stop().await;
}

/// The consumer fetches in a fetch session (KIP-227) and reads every record through its
/// incremental fetches, across partitions that start and stop having data; on the dev broker
/// the session is seen open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_run_in_a_session_and_lose_nothing() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("fetch-session");
    cluster.create_topic(&topic, 3, &[]).await;
    produce(&bs, &topic, 0..3, 0..50).await;
    let c = consumer(&bs, None, &[("max.poll.records", "7")]).await;
    c.assign(&tps(&topic, 0..3)).await.unwrap();
    let mut got = take_exactly(&c, 150, Duration::from_secs(30)).await;
    // More records after the session's partitions went quiet: incremental fetches bring them.
    produce(&bs, &topic, 1..2, 50..80).await;
    got.extend(take_exactly(&c, 30, Duration::from_secs(30)).await);
    got.sort();
    let mut want: Vec<Rec> = (0..3).flat_map(|p| expected(p, 0..50)).collect();
    want.extend(expected(1, 50..80));
    want.sort();
    assert_eq!(got, want);
    if let Some(broker) = cluster.embedded() {
        assert_eq!(
            broker.fetch_sessions(),
            1,
            "one session with the one broker"
        );
    }
    c.close().await.unwrap();
    cluster.stop().await;
}
