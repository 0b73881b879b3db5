//! The group coordinator has a connection of its own (as Java's, node id `MAX - id`): a
//! JoinGroup the coordinator parks for a whole rebalance must not hold up that member's
//! fetches on the same broker (a broker answers one connection's requests in order), nor its
//! LeaveGroup when it closes mid-rebalance.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use krafty::consumer::KafkaConsumer;
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;
use krafty_tests::{unique_topic, TestCluster};

type Consumer = KafkaConsumer<String, String>;

async fn member(bootstrap: &str, group: &str, max_poll_interval: &str) -> Consumer {
    KafkaConsumer::from_properties(
        [
            ("bootstrap.servers", bootstrap),
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "200"),
            ("max.poll.interval.ms", max_poll_interval),
            ("partition.assignment.strategy", "cooperative-sticky"),
        ],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_keeps_fetching_while_its_join_is_parked() {
    let cluster = TestCluster::start(2).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("coord-conn");
    cluster.create_topic(&topic, 2, &[]).await;
    let group = unique_topic("coord-conn-g");

    // A and C share the topic, one partition each.
    let a = member(&bs, &group, "30000").await;
    let c = member(&bs, &group, "30000").await;
    a.subscribe(&[topic.as_str()], None).await.unwrap();
    c.subscribe(&[topic.as_str()], None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.assignment().await.len() != 1 || c.assignment().await.len() != 1 {
        assert!(
            Instant::now() < deadline,
            "A and C did not split the topic in 60 s"
        );
        let (ra, rc) = tokio::join!(
            a.poll(Duration::from_millis(100)),
            c.poll(Duration::from_millis(100))
        );
        ra.unwrap();
        rc.unwrap();
    }
    let mine: TopicPartition = a.assignment().await[0].clone();

    // A polls all along and counts what it receives.
    let received = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn({
        let (a, received, stop) = (a.clone(), received.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Acquire) {
                let n = a.poll(Duration::from_millis(100)).await.unwrap().len();
                received.fetch_add(n, Ordering::AcqRel);
            }
            a
        }
    });
    // C stops polling (its heartbeats go on), and B joins: the coordinator parks A's
    // JoinGroup until C rejoins, i.e. until C polls again (up to 30 s).
    let b = member(&bs, &group, "30000").await;
    b.subscribe(&[topic.as_str()], None).await.unwrap();
    let b_poller = tokio::spawn({
        let (b, stop) = (b.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Acquire) {
                b.poll(Duration::from_millis(100)).await.unwrap();
            }
            b
        }
    });
    let admin = cluster.admin().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin.describe_consumer_group(&group).await.unwrap().state != "PreparingRebalance" {
        assert!(Instant::now() < deadline, "no rebalance started in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let A's heartbeat see the rebalance and its JoinGroup reach the coordinator. Not a
    // synchronisation: were the join not parked yet, the test could only pass too easily,
    // never fail spuriously.
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // Records for A's own partition, produced while its join is parked, reach A.
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str())],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    for i in 0..10 {
        producer
            .send(ProducerRecord::new(&topic, format!("v{i}")).with_partition(mine.partition))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(8);
    while received.load(Ordering::Acquire) < 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = received.load(Ordering::Acquire);
    let still_rebalancing =
        admin.describe_consumer_group(&group).await.unwrap().state == "PreparingRebalance";
    assert_eq!(
        got, 10,
        "A received its partition's records during the rebalance"
    );
    assert!(still_rebalancing, "the rebalance was still waiting for C");

    stop.store(true, Ordering::Release);
    let a = poller.await.unwrap();
    let b = b_poller.await.unwrap();
    producer.close(Duration::from_secs(10)).await.unwrap();
    // Closing in the middle of the rebalance leaves the group at once: the parked join is
    // abandoned, not waited for (C would hold it up to its 30 s max.poll.interval.ms).
    for consumer in [a, b, c] {
        tokio::time::timeout(Duration::from_secs(10), consumer.close())
            .await
            .expect("close returns within 10 s during a rebalance")
            .unwrap();
    }
    admin.close().await;
    cluster.stop().await;
}
