//! Quickstart: an embedded dev broker, a consumer group of two that splits the topic's
//! partitions, and a producer whose records both members share, end to end.
//!
//! Run with `cargo run -p krafty-examples --example quickstart`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use krafty::consumer::{ConsumerRebalanceListener, KafkaConsumer, RebalanceContext};
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::TopicPartition;

type Owned = Arc<Mutex<BTreeMap<&'static str, Vec<TopicPartition>>>>;

/// Prints rebalances as they happen and keeps what each member owns.
struct Announce(&'static str, Owned);

impl ConsumerRebalanceListener for Announce {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        ctx.commit_sync(partitions);
        self.1.lock().unwrap().insert(self.0, Vec::new());
        println!("  [{}] revoked  {}", self.0, names(partitions));
    }
    fn on_partitions_assigned(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.1.lock().unwrap().insert(self.0, partitions.to_vec());
        println!("  [{}] assigned {}", self.0, names(partitions));
    }
}

fn names(tps: &[TopicPartition]) -> String {
    tps.iter()
        .map(|tp| tp.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .config("num.partitions", "4")
        .start()
        .await?;
    let bootstrap = broker.bootstrap_servers();
    println!("dev broker up at {bootstrap} in {:?}", started.elapsed());

    // The group first: both members join and split the four partitions between them, so the
    // records produced next are shared (a member alone would read everything).
    let owned: Owned = Arc::default();
    let consumed = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for name in ["alice", "bob"] {
        let consumer: KafkaConsumer<String, String> = KafkaConsumer::from_properties(
            [
                ("bootstrap.servers", bootstrap.as_str()),
                ("group.id", "quickstart-group"),
                ("auto.offset.reset", "earliest"),
                ("enable.auto.commit", "false"),
                ("heartbeat.interval.ms", "200"),
                ("session.timeout.ms", "6000"),
            ],
            StringSerde,
            StringSerde,
        )
        .await?;
        consumer
            .subscribe(
                &["quickstart"],
                Some(Box::new(Announce(name, owned.clone()))),
            )
            .await?;
        let (consumed, stop) = (consumed.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let records = consumer
                    .poll(Duration::from_millis(100))
                    .await
                    .expect("poll");
                if records.is_empty() {
                    continue;
                }
                *consumed
                    .lock()
                    .unwrap()
                    .entry(name.to_string())
                    .or_default() += records.len();
                consumer.commit_sync().await.expect("commit");
            }
            consumer.close().await.expect("close");
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let split =
        |o: &BTreeMap<&str, Vec<TopicPartition>>| o.len() == 2 && o.values().all(|p| p.len() == 2);
    while !split(&owned.lock().unwrap()) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if !split(&owned.lock().unwrap()) {
        return Err("the two members did not split the partitions within 30 s".into());
    }
    println!("group quickstart-group formed: two members, two partitions each");

    let producer: KafkaProducer<String, String> = KafkaProducer::from_properties(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("linger.ms", "5"),
        ],
        StringSerde,
        StringSerde,
    )
    .await?;
    let mut deliveries = Vec::new();
    for i in 0..1000 {
        let record = ProducerRecord::new("quickstart", format!("order #{i}"))
            .with_key(format!("customer-{}", i % 25))
            .with_header("source", "quickstart");
        deliveries.push(producer.send(record).await?);
    }
    let mut per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    for d in deliveries {
        *per_partition.entry(d.await?.partition).or_default() += 1;
    }
    producer.close(Duration::from_secs(5)).await?;
    println!("produced 1000 records (idempotent, acks=all); per partition: {per_partition:?}");

    while consumed.lock().unwrap().values().sum::<usize>() < 1000
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await?;
    }
    let consumed = consumed.lock().unwrap().clone();
    let total: usize = consumed.values().sum();
    println!("consumed {total} records in group quickstart-group: {consumed:?}");
    broker.shutdown().await;
    println!("done in {:?}", started.elapsed());
    if total != 1000 {
        return Err(format!("expected 1000 records, consumed {total}").into());
    }
    if consumed.len() != 2 || consumed.values().any(|&n| n == 0) {
        return Err(format!("both members should have consumed records: {consumed:?}").into());
    }
    Ok(())
}
