//! `flush()` as Java defines it: it waits for the records sent before it was called, not for
//! records other tasks send meanwhile (which keep their linger). Against whichever cluster
//! `TestCluster` picks.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty_tests::{read_all, unique_topic, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_earlier_records_only_and_later_ones_keep_their_linger() {
    let cluster = TestCluster::start(2).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("flush");
    cluster.create_topic(&topic, 2, &[]).await;
    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [("bootstrap.servers", bs.as_str()), ("linger.ms", "60000")],
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap();
    let before = producer
        .send(ProducerRecord::new(&topic, "before".to_string()).with_partition(0))
        .await
        .unwrap();
    let mut flush = Box::pin(producer.flush_within(Duration::from_secs(30)));
    // One poll starts the flush (its first step marks what it waits for).
    let early = std::future::poll_fn(|cx| match flush.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(Some(r)),
        Poll::Pending => Poll::Ready(None),
    })
    .await;
    assert!(early.is_none(), "flush returned at once: {early:?}");
    let mut after = producer
        .send(ProducerRecord::new(&topic, "after".to_string()).with_partition(1))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), flush)
        .await
        .expect("flush returned")
        .expect("flush succeeded");
    let md = tokio::time::timeout(Duration::from_secs(5), before)
        .await
        .expect("the record sent before flush is complete")
        .unwrap();
    assert_eq!((md.partition, md.offset), (0, 0));
    // The record sent after the flush began still lingers (60 s): not sent by that flush.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut after)
            .await
            .is_err(),
        "a record sent after flush() began was sent by it"
    );
    assert!(read_all(&bs, &topic, 1).await.is_empty());
    producer
        .flush_within(Duration::from_secs(30))
        .await
        .unwrap();
    let md = tokio::time::timeout(Duration::from_secs(5), after)
        .await
        .expect("delivered by the second flush")
        .unwrap();
    assert_eq!((md.partition, md.offset), (1, 0));
    let stored: Vec<_> = read_all(&bs, &topic, 1)
        .await
        .into_iter()
        .map(|r| r.value.map(|v| v.to_vec()))
        .collect();
    assert_eq!(stored, vec![Some(b"after".to_vec())]);
    producer.close(Duration::from_secs(10)).await.unwrap();
    cluster.stop().await;
}
