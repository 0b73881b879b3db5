//! An idempotent producer keeps send order on a partition it has not written to yet. A broker
//! with no state for a producer id takes any first sequence: were a second batch in flight
//! while the first was answered with a retriable error (as Kafka answers the first produce to
//! a topic created a moment ago, about one new topic in forty), the second would land first.

use std::time::Duration;

use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty_tests::{unique_topic, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sent_to_new_topics_land_in_send_order() {
    let cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    for round in 0..100 {
        let topic = unique_topic("order");
        cluster.create_topic(&topic, 1, &[]).await;
        let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
            [("bootstrap.servers", bs.as_str()), ("linger.ms", "0")],
            StringSerde,
            StringSerde,
        )
        .await
        .unwrap();
        let mut deliveries = Vec::new();
        for i in 0..30 {
            let record = ProducerRecord::new(&topic, format!("v{i}")).with_partition(0);
            deliveries.push(producer.send(record).await.unwrap());
        }
        let mut offsets = Vec::new();
        for d in deliveries {
            let md = tokio::time::timeout(Duration::from_secs(30), d)
                .await
                .expect("delivered within 30 s")
                .unwrap();
            offsets.push(md.offset);
        }
        producer.close(Duration::from_secs(10)).await.unwrap();
        assert_eq!(
            offsets,
            (0..30).collect::<Vec<i64>>(),
            "round {round}: send order lost"
        );
    }
    cluster.stop().await;
}
