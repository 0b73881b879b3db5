//! `poll`'s loop and what it hands back: group events, commits, positions and fetches until
//! records are buffered; then the deserializers turn fetched bytes into records.

use std::time::Duration;

use tokio::time::Instant;

use super::{ConsumerRecord, KafkaConsumer, State, TimestampType};
use crate::error::{KafkaError, Result};
use crate::record::ConsumerRecordData;
use crate::topic_partition::TopicPartition;

impl<K: Send + 'static, V: Send + 'static> KafkaConsumer<K, V> {
    /// poll's loop: group events, commits, positions and fetches, until records are buffered
    /// (true) or `deadline` passes (false).
    pub(super) async fn fill(&self, st: &mut State, deadline: Instant) -> Result<bool> {
        loop {
            // `max.poll.interval.ms` bounds the time spent outside poll: every pass of this
            // loop counts as polling (as Java's poll timer), so a long poll on an idle topic
            // keeps the membership.
            if let Some(c) = &self.inner.coordinator {
                c.record_poll();
            }
            self.take_wakeup()?;
            self.maybe_rebalance(st, deadline).await?;
            self.maybe_auto_commit(st).await;
            self.update_fetch_positions(st).await?;
            st.fetcher.collect_ready();
            if let Some(e) = st.fetcher.take_error() {
                return Err(e);
            }
            if st.fetcher.has_buffered() {
                return Ok(true);
            }
            st.fetcher.start_fetches();
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            // Wake for a fetch answer, a rebalance check, or wakeup().
            let recheck = (now + Duration::from_millis(250)).min(deadline);
            let woken = self.inner.wake.notified();
            tokio::select! {
                _ = st.fetcher.await_fetch(recheck) => {}
                _ = woken => {}
            }
        }
    }

    fn take_wakeup(&self) -> Result<()> {
        if self
            .inner
            .woken
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            Err(KafkaError::Wakeup)
        } else {
            Ok(())
        }
    }

    /// Moves partitions awaiting a position on (`fetch_position.rs`): those awaiting their
    /// committed offset get it from the group (OffsetFetch), or else await a reset by
    /// `auto.offset.reset` (with `none`, this fails naming the partition); then those awaiting
    /// a reset get it from ListOffsets. Java's `updateFetchPositions`.
    pub(super) async fn update_fetch_positions(&self, st: &mut State) -> Result<()> {
        let initializing = st.fetcher.awaiting_committed_offset();
        if !initializing.is_empty() {
            if let Some(c) = &self.inner.coordinator {
                for (tp, o) in c.fetch_committed(&initializing).await? {
                    st.fetcher.seek(&tp, o.offset)?;
                }
            }
            st.fetcher.no_committed_offset()?;
        }
        st.fetcher.reset_positions().await
    }

    /// Deserializes drained records. As in the Java client, a record that cannot be
    /// deserialized stops the batch there: the records before it are returned, its position
    /// stays on it, and the next `poll` fails with an error naming its partition and offset
    /// (the application may `seek` past it). Nothing after it is lost.
    pub(super) fn convert(
        &self,
        st: &mut State,
        drained: Vec<(TopicPartition, ConsumerRecordData)>,
    ) -> Result<Vec<ConsumerRecord<K, V>>> {
        let mut out = Vec::with_capacity(drained.len());
        let mut bytes = 0u64;
        let mut rest = drained.into_iter();
        let owned = self.inner.key_deserializer.takes_bytes()
            && self.inner.value_deserializer.takes_bytes();
        while let Some((tp, mut r)) = rest.next() {
            let key_size = r.key.as_ref().map_or(-1, |k| k.len() as i32);
            let value_size = r.value.as_ref().map_or(-1, |v| v.len() as i32);
            let kv = if owned {
                self.deserialize_owned(&tp, &mut r)
            } else {
                self.deserialize(&tp, &r)
            };
            match kv {
                Ok((key, value)) => {
                    bytes += (key_size.max(0) + value_size.max(0)) as u64;
                    out.push(ConsumerRecord {
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                        offset: r.offset,
                        timestamp: r.timestamp,
                        timestamp_type: if r.log_append_time {
                            TimestampType::LogAppendTime
                        } else {
                            TimestampType::CreateTime
                        },
                        serialized_key_size: key_size,
                        serialized_value_size: value_size,
                        key,
                        value,
                        headers: r.headers,
                        leader_epoch: (r.leader_epoch >= 0).then_some(r.leader_epoch),
                    })
                }
                Err(e) => {
                    let offset = r.offset;
                    let mut back = vec![(tp.clone(), r)];
                    back.extend(rest);
                    st.fetcher.undrain(back);
                    if !out.is_empty() {
                        self.inner.metrics.consumed(out.len() as u64, bytes);
                        return Ok(out);
                    }
                    return Err(KafkaError::Serialization(format!(
                        "record {tp}@{offset} could not be deserialized ({e}); seek past it to go on"
                    )));
                }
            }
        }
        self.inner.metrics.consumed(out.len() as u64, bytes);
        Ok(out)
    }

    /// Both deserializers take the record's bytes as they are (`takes_bytes`): moved, not
    /// cloned. They cannot fail, so nothing is lost from a record that would be put back.
    fn deserialize_owned(&self, tp: &TopicPartition, r: &mut ConsumerRecordData) -> Result<(K, V)> {
        let key = self
            .inner
            .key_deserializer
            .deserialize_owned(&tp.topic, r.key.take())?;
        let value = self
            .inner
            .value_deserializer
            .deserialize_owned(&tp.topic, r.value.take())?;
        Ok((key, value))
    }

    fn deserialize(&self, tp: &TopicPartition, r: &ConsumerRecordData) -> Result<(K, V)> {
        let key = self
            .inner
            .key_deserializer
            .deserialize(&tp.topic, r.key.as_ref())?;
        let value = self
            .inner
            .value_deserializer
            .deserialize(&tp.topic, r.value.as_ref())?;
        Ok((key, value))
    }
}
