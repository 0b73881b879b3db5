//! The delayed-queue pattern: per-delay topics, and a consumer that holds each partition until
//! its head record is due.
//!
//! A record sent with a delay goes to the topic for that delay (`<base>.delay-<ms>`), so each
//! topic's partitions are ordered by due time (timestamp + delay). The consumer reads normally;
//! when a partition's next record is not due yet it seeks back to it and pauses the partition
//! until then, without blocking the other partitions or the group's heartbeats.

use std::collections::BTreeMap;
use std::time::Duration;

use krafty::consumer::{ConsumerRecord, KafkaConsumer};
use krafty::producer::{DeliveryFuture, KafkaProducer, ProducerRecord};
use krafty::{Result, TopicPartition};

/// The topic holding records delayed by `delay`.
pub fn delay_topic(base: &str, delay: Duration) -> String {
    format!("{base}.delay-{}", delay.as_millis())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sends `value` to be delivered after `delay`.
pub async fn send_delayed(
    producer: &KafkaProducer<String, String>,
    base: &str,
    delay: Duration,
    key: Option<String>,
    value: String,
) -> Result<DeliveryFuture> {
    let mut record = ProducerRecord::new(delay_topic(base, delay), value).with_timestamp(now_ms());
    record.key = key;
    producer.send(record).await
}

/// Reads delayed topics, returning each record only once it is due.
pub struct DelayedConsumer {
    consumer: KafkaConsumer<String, String>,
    /// Delay of each subscribed topic.
    delays: BTreeMap<String, i64>,
    /// Paused partitions and when they become due.
    paused_until: BTreeMap<TopicPartition, i64>,
}

impl DelayedConsumer {
    /// Subscribes `consumer` to the topics of `base` for each delay.
    pub async fn subscribe(
        consumer: KafkaConsumer<String, String>,
        base: &str,
        delays: &[Duration],
    ) -> Result<DelayedConsumer> {
        let delays: BTreeMap<String, i64> = delays
            .iter()
            .map(|d| (delay_topic(base, *d), d.as_millis() as i64))
            .collect();
        let topics: Vec<&str> = delays.keys().map(String::as_str).collect();
        consumer.subscribe(&topics, None).await?;
        Ok(DelayedConsumer {
            consumer,
            delays,
            paused_until: BTreeMap::new(),
        })
    }

    /// The records that are due, waiting up to `timeout`.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord<String, String>>> {
        let now = now_ms();
        let due: Vec<TopicPartition> = self
            .paused_until
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(tp, _)| tp.clone())
            .collect();
        if !due.is_empty() {
            self.consumer.resume(&due).await?;
            for tp in &due {
                self.paused_until.remove(tp);
            }
        }
        let mut ready = Vec::new();
        let mut held: BTreeMap<TopicPartition, (i64, i64)> = BTreeMap::new();
        for r in self.consumer.poll(timeout).await? {
            let tp = TopicPartition::new(&r.topic, r.partition);
            if held.contains_key(&tp) {
                continue; // behind a record that is not due yet
            }
            let due_at = r.timestamp + self.delays.get(&r.topic).copied().unwrap_or(0);
            if due_at > now_ms() {
                held.insert(tp, (r.offset, due_at));
            } else {
                ready.push(r);
            }
        }
        for (tp, (offset, due_at)) in held {
            self.consumer.seek(&tp, offset).await?;
            self.consumer.pause(std::slice::from_ref(&tp)).await?;
            self.paused_until.insert(tp, due_at);
        }
        Ok(ready)
    }

    /// Commits what was returned so far.
    pub async fn commit(&self) -> Result<()> {
        self.consumer.commit_sync().await
    }

    pub async fn close(self) -> Result<()> {
        self.consumer.close().await
    }
}
