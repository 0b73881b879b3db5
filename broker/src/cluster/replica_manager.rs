//! A node's side of replication (Kafka's ReplicaManager): for the partitions it leads, what
//! each follower fetched (`isr.rs`), the high watermark that follows from it
//! (`high_watermark.rs`), and the ISR changes it asks the controller for; for the partitions it
//! follows, the switch that pauses its replica fetchers (a fault for tests).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::controller::Controller;
use super::isr::{self, FollowerProgress};
use crate::log::{now_ms, PartitionLog};
use crate::shared::Shared;
use crate::sync::LockExt;
use crate::topics::{OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC};

/// NOT_LEADER_OR_FOLLOWER: the request went to a node that does not lead the partition.
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// FENCED_LEADER_EPOCH: the request names a leader epoch older than the partition's.
pub const FENCED_LEADER_EPOCH: i16 = 74;
/// UNKNOWN_LEADER_EPOCH: the request names a leader epoch newer than this node knows.
pub const UNKNOWN_LEADER_EPOCH: i16 = 75;

/// One node's replication state.
pub struct ReplicaManager {
    pub node_id: i32,
    pub controller: Arc<Controller>,
    /// Per partition this node leads: each follower's progress.
    followers: Mutex<HashMap<(String, i32), HashMap<i32, FollowerProgress>>>,
    /// True while this node's replica fetchers are paused (a fault: the node falls behind).
    pub fetchers_paused: watch::Sender<bool>,
}

impl ReplicaManager {
    pub fn new(node_id: i32, controller: Arc<Controller>) -> ReplicaManager {
        ReplicaManager {
            node_id,
            controller,
            followers: Mutex::new(HashMap::new()),
            fetchers_paused: watch::channel(false).0,
        }
    }

    /// NOT_LEADER_OR_FOLLOWER when another node leads the partition; `None` when this node
    /// does (or the controller does not know the partition: the caller answers for that).
    pub fn leader_error(&self, topic: &str, partition: i32) -> Option<i16> {
        let state = self.controller.partition(topic, partition)?;
        (state.leader != self.node_id).then_some(NOT_LEADER_OR_FOLLOWER)
    }

    /// A request naming the partition's leader epoch (Fetch, ListOffsets,
    /// OffsetForLeaderEpoch: `CurrentLeaderEpoch`, -1 when unchecked) against the controller's:
    /// FENCED_LEADER_EPOCH (74) when the requester's is older (its metadata is stale),
    /// UNKNOWN_LEADER_EPOCH (75) when newer (this node has not heard of it yet).
    pub fn epoch_error(
        &self,
        topic: &str,
        partition: i32,
        current_leader_epoch: i32,
    ) -> Option<i16> {
        if current_leader_epoch < 0 {
            return None;
        }
        let state = self.controller.partition(topic, partition)?;
        match current_leader_epoch.cmp(&state.leader_epoch) {
            std::cmp::Ordering::Less => Some(FENCED_LEADER_EPOCH),
            std::cmp::Ordering::Greater => Some(UNKNOWN_LEADER_EPOCH),
            std::cmp::Ordering::Equal => None,
        }
    }

    /// The partition's in-sync replica count, when this node leads it.
    pub fn isr_size(&self, topic: &str, partition: i32) -> Option<usize> {
        let state = self.controller.partition(topic, partition)?;
        (state.leader == self.node_id).then_some(state.isr.len())
    }

    /// Sets how this replica's high watermark moves, from the partition's state: a leader
    /// alone in its ISR has it at its log end; other leaders and every follower track it.
    pub fn apply_state(&self, shared: &Shared, topic: &str, partition: i32) {
        let Some(state) = self.controller.partition(topic, partition) else {
            return;
        };
        if !state.replicas.contains(&self.node_id) || state.replicas.len() < 2 {
            return;
        }
        let Some(log) = shared.topics.partition(topic, partition) else {
            return;
        };
        let mut log = log.locked();
        let alone = state.leader == self.node_id && state.isr == [self.node_id];
        if alone {
            log.track_high_watermark(None);
        } else if !log.high_watermark_tracked() {
            let hw = log.high_watermark();
            log.track_high_watermark(Some(hw));
        }
    }

    /// Applies [`on_partition_change`](Self::on_partition_change) to every partition this
    /// node holds (at start).
    pub fn apply_all(&self, shared: &Shared) {
        for topic in shared.topics.all() {
            for p in 0..topic.partition_count() {
                self.on_partition_change(shared, &topic.name, p);
            }
        }
    }

    /// The controller changed a partition (a new leader, epoch or ISR): a replica that now
    /// leads stamps the new epoch on its appends and forgets its followers' old progress; every
    /// replica re-tracks its high watermark and wakes what is parked on the log (an acks=all
    /// answer of a leader that lost the partition); a `__consumer_offsets` partition brings
    /// its groups to the new leader's coordinator and out of the old one's, a
    /// `__transaction_state` partition its transactional ids.
    pub fn on_partition_change(&self, shared: &Shared, topic: &str, partition: i32) {
        let Some(state) = self.controller.partition(topic, partition) else {
            return;
        };
        let Some(log) = shared.topics.partition(topic, partition) else {
            return;
        };
        let leads = state.leader == self.node_id;
        if leads {
            let took_over = {
                let mut log = log.locked();
                let new = log.leader_epoch() < state.leader_epoch;
                if new {
                    if let Err(e) = log.become_leader(state.leader_epoch) {
                        tracing::error!(topic, partition, "saving the leader epoch failed: {e}");
                    }
                }
                new
            };
            if took_over {
                self.followers
                    .locked()
                    .remove(&(topic.to_string(), partition));
                tracing::info!(
                    topic,
                    partition,
                    leader_epoch = state.leader_epoch,
                    node = self.node_id,
                    "leading"
                );
            }
        }
        self.apply_state(shared, topic, partition);
        log.locked().wake_parked();
        if topic == OFFSETS_TOPIC {
            if leads {
                shared.groups.take_over(partition as usize, log.clone());
            } else {
                let config = log.locked().config().clone();
                match PartitionLog::open(None, config) {
                    Ok(stand_in) => shared
                        .groups
                        .resign(partition as usize, Arc::new(Mutex::new(stand_in))),
                    Err(e) => tracing::error!("no stand-in offsets log: {e}"),
                }
            }
        }
        if topic == TRANSACTION_STATE_TOPIC {
            if leads {
                shared.txns.take_over(shared, partition);
            } else {
                let count = shared.topics.get(topic).map_or(0, |t| t.partition_count());
                shared.txns.resign(partition, count as usize);
            }
        }
        if leads {
            self.update_high_watermark(shared, topic, partition);
        }
    }

    /// A follower's fetch from `fetch_offset`: records its progress, lets it join the ISR
    /// once it holds everything below the high watermark, and moves the high watermark.
    /// NOT_LEADER_OR_FOLLOWER when this node does not lead the partition or `follower` is
    /// no replica of it.
    pub fn on_follower_fetch(
        &self,
        shared: &Shared,
        topic: &str,
        partition: i32,
        follower: i32,
        fetch_offset: i64,
    ) -> Result<(), i16> {
        let state = self.controller.partition(topic, partition).ok_or(3i16)?;
        if state.leader != self.node_id || !state.replicas.contains(&follower) {
            return Err(NOT_LEADER_OR_FOLLOWER);
        }
        let log = shared.topics.partition(topic, partition).ok_or(3i16)?;
        let (leader_end, hw, epoch_start) = {
            let log = log.locked();
            (
                log.log_end_offset(),
                log.high_watermark(),
                log.latest_epoch_start(),
            )
        };
        let now = now_ms();
        {
            let mut all = self.followers.locked();
            let progress = all
                .entry((topic.to_string(), partition))
                .or_default()
                .entry(follower)
                .or_insert_with(|| FollowerProgress::new(now));
            progress.on_fetch(fetch_offset, leader_end, now);
        }
        // Kafka also asks that it reached the leader's current epoch: below that its log may
        // still diverge from the leader's.
        if !state.isr.contains(&follower)
            && isr::may_join(fetch_offset, hw)
            && fetch_offset >= epoch_start
        {
            let mut isr = state.isr.clone();
            isr.push(follower);
            isr.sort_unstable();
            if self
                .controller
                .alter_isr(topic, partition, self.node_id, isr)
                .is_some()
            {
                self.apply_state(shared, topic, partition);
            }
        }
        self.update_high_watermark(shared, topic, partition);
        Ok(())
    }

    /// Moves a led partition's high watermark to what its ISR holds.
    pub fn update_high_watermark(&self, shared: &Shared, topic: &str, partition: i32) {
        let Some(state) = self.controller.partition(topic, partition) else {
            return;
        };
        if state.leader != self.node_id || state.replicas.len() < 2 {
            return;
        }
        let Some(log) = shared.topics.partition(topic, partition) else {
            return;
        };
        let leader_end = log.locked().log_end_offset();
        let hw = {
            let all = self.followers.locked();
            let none = HashMap::new();
            let progress = all.get(&(topic.to_string(), partition)).unwrap_or(&none);
            super::high_watermark::compute(self.node_id, leader_end, &state.isr, progress)
        };
        if let Some(hw) = hw {
            log.locked().advance_high_watermark(hw);
        }
    }

    /// The ISR check (every half `replica.lag.time.max.ms`, as Kafka's): followers of the
    /// partitions this node leads that stayed behind its log end for longer than the lag time
    /// leave the ISR, and the high watermark moves past them.
    pub fn shrink_isrs(&self, shared: &Shared) {
        let lag_max = self.controller.replication.replica_lag_time_max_ms;
        let now = now_ms();
        for (topic, partition) in self.controller.led_by(self.node_id) {
            let Some(state) = self.controller.partition(&topic, partition) else {
                continue;
            };
            let Some(log) = shared.topics.partition(&topic, partition) else {
                continue;
            };
            let leader_end = log.locked().log_end_offset();
            let out: Vec<i32> = {
                let mut all = self.followers.locked();
                let progress = all.entry((topic.clone(), partition)).or_default();
                state
                    .isr
                    .iter()
                    .filter(|id| **id != self.node_id)
                    .filter(|id| {
                        progress
                            .entry(**id)
                            .or_insert_with(|| FollowerProgress::new(now))
                            .out_of_sync(leader_end, now, lag_max)
                    })
                    .copied()
                    .collect()
            };
            if out.is_empty() {
                continue;
            }
            let isr: Vec<i32> = state
                .isr
                .iter()
                .copied()
                .filter(|id| !out.contains(id))
                .collect();
            tracing::info!(topic, partition, out_of_sync = ?out, "shrinking the ISR");
            if self
                .controller
                .alter_isr(&topic, partition, self.node_id, isr)
                .is_some()
            {
                self.apply_state(shared, &topic, partition);
                self.update_high_watermark(shared, &topic, partition);
            }
        }
    }
}

/// Waits until the high watermark of `topic`/`partition` (led here) reaches `end`: what an
/// internal write (a group's commit) needs before it is answered, as Kafka writes them with
/// acks=all. `Err` with Kafka's answer for a commit: NOT_COORDINATOR (16) when this node lost
/// the partition meanwhile, COORDINATOR_NOT_AVAILABLE (15) after `timeout` or at shutdown.
pub async fn await_high_watermark(
    shared: &Shared,
    topic: &str,
    partition: i32,
    log: &crate::log::SharedLog,
    end: i64,
    timeout: std::time::Duration,
) -> Result<(), i16> {
    let deadline = tokio::time::Instant::now() + timeout;
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut stopping = shared.stopping.clone();
    loop {
        if shared.leader_error(topic, partition).is_some() {
            return Err(16);
        }
        let hw = {
            let mut log = log.locked();
            log.notify_on_append(&wake);
            log.high_watermark()
        };
        if hw >= end {
            return Ok(());
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep_until(deadline) => return Err(15),
            _ = stopping.changed() => return Err(15),
        }
    }
}

/// Runs the ISR check every half `replica.lag.time.max.ms` until the node stops.
pub async fn isr_task(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let Some(replicas) = shared.cluster.clone() else {
        return;
    };
    let half = (replicas.controller.replication.replica_lag_time_max_ms / 2).max(5) as u64;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(half));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => replicas.shrink_isrs(&shared),
            _ = stop.changed() => return,
        }
    }
}
