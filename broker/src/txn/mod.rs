//! The transaction coordinator (KIP-98): transactional ids, their producer ids and epochs, and
//! the two-phase end of each transaction.
//!
//! State lives in `__transaction_state` (Kafka's record layout, `persist.rs`; the partition of
//! a transactional id is Java's `abs(hashCode) % transaction.state.log.num.partitions`) and is
//! replayed on start. Ending a transaction writes PrepareCommit/PrepareAbort first, then a
//! COMMIT/ABORT marker into every partition of the transaction (data partitions, and the
//! `__consumer_offsets` partitions of its TxnOffsetCommits), then CompleteCommit/CompleteAbort:
//! a broker killed in between finds the Prepare state on start and writes the markers again.
//! Fencing is by epoch: InitProducerId bumps it (aborting the previous instance's open
//! transaction with the bumped epoch, so that instance's next write is refused), and so does
//! aborting a transaction that outlived `transaction.timeout.ms`.
//!
//! Transaction protocol v2 (KIP-890, `transaction.version` 2): a Produce v12 or a
//! TxnOffsetCommit v5 adds its partition itself (`add_partitions` from those handlers), and an
//! EndTxn v5 bumps the epoch before the markers are written and answers with it; a v2 EndTxn
//! retried with the epoch before that bump is answered as the end it repeats (which is also
//! how a producer whose transaction timed out learns the epoch the abort bumped).
//!
//! Markers are appended in the request that ends the transaction, to each partition's leader
//! (this node, or on a multi-node cluster the node leading it, reached in process); all state
//! sits behind one mutex, taken before any log lock. On a cluster each node coordinates the
//! transactional ids whose `__transaction_state` partition it leads.

mod persist;
mod state;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::log::{internal_batch, now_ms, SharedLog};
use crate::shared::Shared;
use crate::sync::{LockExt, RwLockExt};
use crate::topics::{coordinator_partition, OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC};
pub use state::{TxnMetadata, TxnStatus};

/// Transaction coordinator settings, by Kafka's broker property names.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.state.log.num.partitions` (default 50).
    pub state_log_num_partitions: i32,
    /// `transaction.max.timeout.ms` (default 900000): the longest `transaction.timeout.ms` a
    /// producer may ask for.
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often expired
    /// transactions are looked for (Kafka's default is 10000; the dev broker's 1000, so a
    /// test of the timeout is quick).
    pub abort_timed_out_interval_ms: u64,
    /// `transaction.version`, the finalized feature (KIP-584) that Kafka sets when the
    /// cluster is formatted: 2 (Kafka 4.x's default) offers KIP-890's transaction protocol
    /// v2 (Produce v12, TxnOffsetCommit v5, EndTxn v5); 0 or 1 stop those APIs below it, as a
    /// Kafka 3.x cluster.
    pub transaction_version: i16,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            state_log_num_partitions: 50,
            max_timeout_ms: 900_000,
            abort_timed_out_interval_ms: 1_000,
            transaction_version: 2,
        }
    }
}

/// Kafka's error codes the coordinator answers.
pub mod code {
    pub const NOT_COORDINATOR: i16 = 16;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const INVALID_TXN_STATE: i16 = 48;
    pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
    pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
    pub const CONCURRENT_TRANSACTIONS: i16 = 51;
    pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
    pub const PRODUCER_FENCED: i16 = 90;
    pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
}

/// Per topic, each partition with its error code (0: added).
pub type PartitionResults = Vec<(String, Vec<(i32, i16)>)>;

/// The coordinator of every transactional id.
pub struct TransactionCoordinator {
    config: TxnConfig,
    txns: Mutex<HashMap<String, TxnMetadata>>,
    /// The `__transaction_state` partitions whose ids this node has loaded (on a cluster, the
    /// ones it leads; see [`TransactionCoordinator::take_over`]).
    loaded: Mutex<std::collections::HashSet<i32>>,
}

/// Who asks, and which code fences them at this request's version (PRODUCER_FENCED for
/// clients that know it, INVALID_PRODUCER_EPOCH for older ones).
pub struct Caller<'a> {
    pub transactional_id: &'a str,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub fenced: i16,
}

impl TransactionCoordinator {
    pub fn new(config: TxnConfig) -> TransactionCoordinator {
        TransactionCoordinator {
            config,
            txns: Mutex::new(HashMap::new()),
            loaded: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Replays `__transaction_state` (when it exists) and finishes the transactions a crash
    /// left between their Prepare and Complete records. Producer ids handed out later stay
    /// above every id found.
    pub fn load(&self, shared: &Shared) {
        let Some(topic) = shared.topics.get(TRANSACTION_STATE_TOPIC) else {
            return;
        };
        // On a cluster, only the partitions this node leads (it coordinates their ids).
        let led: Vec<i32> = (0..topic.partition_count())
            .filter(|p| shared.leader_error(TRANSACTION_STATE_TOPIC, *p).is_none())
            .collect();
        self.load_partitions(shared, &led);
    }

    /// This node now leads `__transaction_state` partition `partition` (a coordinator move
    /// on a cluster): its transactional ids are loaded from this node's replica, and the
    /// transactions the old coordinator left prepared are finished, as after a restart.
    pub fn take_over(&self, shared: &Shared, partition: i32) {
        self.load_partitions(shared, &[partition]);
    }

    /// This node no longer leads `__transaction_state` partition `partition`: its ids leave
    /// memory (their requests are answered NOT_COORDINATOR by routing, `api/txn.rs`).
    pub fn resign(&self, partition: i32, partitions: usize) {
        if !self.loaded.locked().remove(&partition) {
            return;
        }
        self.txns
            .locked()
            .retain(|id, _| coordinator_partition(id, partitions) != partition);
    }

    /// Replays the given partitions (each once until resigned) and finishes what they left
    /// prepared.
    fn load_partitions(&self, shared: &Shared, partitions: &[i32]) {
        let Some(topic) = shared.topics.get(TRANSACTION_STATE_TOPIC) else {
            return;
        };
        let logs = topic.partitions.read_locked().clone();
        let partitions: Vec<i32> = {
            let mut loaded = self.loaded.locked();
            partitions
                .iter()
                .copied()
                .filter(|p| (*p as usize) < logs.len() && loaded.insert(*p))
                .collect()
        };
        if partitions.is_empty() {
            return;
        }
        let mut txns = self.txns.locked();
        for p in &partitions {
            let log = logs[*p as usize].locked();
            let replayed = log.replay(crate::log::REPLAY_CHUNK, |record| {
                let Some(id) = record.key.as_deref().and_then(persist::decode_key) else {
                    return;
                };
                match record.value.as_deref() {
                    None => {
                        txns.remove(&id);
                    }
                    Some(v) => match persist::decode_value(&id, v) {
                        Some(m) => {
                            txns.insert(id, m);
                        }
                        None => tracing::warn!(id, "skipping an undecodable transaction state"),
                    },
                }
            });
            if let Err(e) = replayed {
                tracing::warn!("__transaction_state replay stopped: {e}");
            }
        }
        if let Some(max) = txns.values().map(|m| m.producer_id).max() {
            shared.next_producer_id.fetch_max(max + 1, Ordering::SeqCst);
        }
        let unfinished: Vec<String> = txns
            .values()
            .filter(|m| matches!(m.status, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort))
            .filter(|m| {
                partitions.contains(&coordinator_partition(&m.transactional_id, logs.len()))
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        for id in unfinished {
            let m = txns.get_mut(&id).expect("listed above");
            let commit = m.status == TxnStatus::PrepareCommit;
            tracing::info!(
                id,
                commit,
                "finishing a transaction ended before the restart"
            );
            if let Err(code) = self.write_markers_and_complete(shared, m, commit) {
                tracing::error!(id, code, "finishing a transaction failed");
            }
        }
        if !txns.is_empty() {
            tracing::info!(
                transactional_ids = txns.len(),
                "loaded transactions from __transaction_state"
            );
        }
    }

    /// The `__transaction_state` partitions, created on first use.
    fn state_logs(&self, shared: &Shared) -> Result<Vec<SharedLog>, i16> {
        // Compacted, as Kafka's: each transactional id's latest state is kept.
        let compact = [("cleanup.policy".to_string(), "compact".to_string())].into();
        let topic = match shared.topics.get(TRANSACTION_STATE_TOPIC) {
            Some(t) => t,
            None => match &shared.cluster {
                Some(c) => c.controller.create_internal(
                    TRANSACTION_STATE_TOPIC,
                    self.config.state_log_num_partitions,
                    c.controller
                        .replication
                        .transaction_state_replication_factor,
                    compact,
                ),
                None => shared.topics.create(
                    TRANSACTION_STATE_TOPIC,
                    self.config.state_log_num_partitions,
                    1,
                    compact,
                    false,
                ),
            }
            .or_else(|_| {
                shared
                    .topics
                    .get(TRANSACTION_STATE_TOPIC)
                    .ok_or(code::NOT_COORDINATOR)
            })?,
        };
        let logs = topic.partitions.read_locked().clone();
        Ok(logs)
    }

    /// Writes `m` to its `__transaction_state` partition; NOT_COORDINATOR when that fails (the
    /// client looks the coordinator up again and retries), as Kafka answers a failed write.
    fn persist(&self, shared: &Shared, m: &mut TxnMetadata) -> Result<(), i16> {
        let logs = self.state_logs(shared)?;
        let log = &logs[coordinator_partition(&m.transactional_id, logs.len()) as usize];
        let now = now_ms();
        m.last_update_ms = now;
        let batch = internal_batch(
            [(persist::key(&m.transactional_id), Some(persist::value(m)))],
            None,
            now,
        );
        let written = log.locked().append_internal(batch, now);
        written.map(|_| ()).map_err(|e| {
            tracing::error!(id = %m.transactional_id, "writing __transaction_state failed: {}", e.message);
            code::NOT_COORDINATOR
        })
    }

    /// InitProducerId with a transactional id: the id's producer id with a bumped epoch (a new
    /// producer id when the epoch is exhausted), aborting an open transaction of the previous
    /// instance first. With `producer` (KIP-360, a producer recovering its own id) the id and
    /// epoch must be the current ones.
    pub fn init_producer_id(
        &self,
        shared: &Shared,
        transactional_id: &str,
        timeout_ms: i32,
        producer: Option<(i64, i16)>,
        fenced: i16,
    ) -> Result<(i64, i16), i16> {
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(code::INVALID_TRANSACTION_TIMEOUT);
        }
        let new_id = || shared.next_producer_id.fetch_add(1, Ordering::SeqCst);
        let mut txns = self.txns.locked();
        let Some(m) = txns.get_mut(transactional_id) else {
            let mut m = TxnMetadata::new(transactional_id, new_id(), 0, timeout_ms, now_ms());
            self.persist(shared, &mut m)?;
            let answer = (m.producer_id, m.producer_epoch);
            txns.insert(transactional_id.to_string(), m);
            return Ok(answer);
        };
        if let Some((id, epoch)) = producer {
            if id != m.producer_id || epoch != m.producer_epoch {
                return Err(fenced);
            }
        }
        match m.status {
            TxnStatus::Ongoing => {
                // The previous instance's transaction is aborted under a bumped epoch, which
                // fences that instance in every partition it wrote to.
                m.producer_epoch = m.producer_epoch.saturating_add(1);
                self.write_markers_and_complete(shared, m, false)?;
            }
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => {
                let commit = m.status == TxnStatus::PrepareCommit;
                self.write_markers_and_complete(shared, m, commit)?;
            }
            _ => {}
        }
        let mut next = m.clone();
        if next.producer_epoch >= i16::MAX - 1 {
            next.producer_id = new_id();
            next.producer_epoch = 0;
        } else {
            next.producer_epoch += 1;
        }
        next.timeout_ms = timeout_ms;
        next.status = TxnStatus::Empty;
        next.partitions.clear();
        next.start_ms = -1;
        self.persist(shared, &mut next)?;
        *m = next;
        Ok((m.producer_id, m.producer_epoch))
    }

    /// The caller's metadata if it is the current producer of its id and no transaction of
    /// that id is ending.
    fn current<'m>(
        txns: &'m mut HashMap<String, TxnMetadata>,
        caller: &Caller,
    ) -> Result<&'m mut TxnMetadata, i16> {
        let m = txns
            .get_mut(caller.transactional_id)
            .filter(|m| m.producer_id == caller.producer_id)
            .ok_or(code::INVALID_PRODUCER_ID_MAPPING)?;
        if caller.producer_epoch != m.producer_epoch {
            return Err(caller.fenced);
        }
        if matches!(
            m.status,
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence
        ) {
            return Err(code::CONCURRENT_TRANSACTIONS);
        }
        Ok(m)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, whose partition is the group's offsets
    /// partition): per partition, 0 or its error. A partition that does not exist fails with
    /// UNKNOWN_TOPIC_OR_PARTITION and the others with OPERATION_NOT_ATTEMPTED; nothing is added.
    pub fn add_partitions(
        &self,
        shared: &Shared,
        caller: &Caller,
        partitions: &[(String, Vec<i32>)],
    ) -> Result<PartitionResults, i16> {
        let mut txns = self.txns.locked();
        let m = Self::current(&mut txns, caller)?;
        let exists = |t: &str, p: i32| shared.topics.partition(t, p).is_some();
        let all_exist = partitions
            .iter()
            .all(|(t, ps)| ps.iter().all(|p| exists(t, *p)));
        let answer = |f: &dyn Fn(&str, i32) -> i16| {
            partitions
                .iter()
                .map(|(t, ps)| (t.clone(), ps.iter().map(|p| (*p, f(t, *p))).collect()))
                .collect()
        };
        if !all_exist {
            return Ok(answer(&|t, p| {
                if exists(t, p) {
                    code::OPERATION_NOT_ATTEMPTED
                } else {
                    3
                }
            }));
        }
        let mut next = m.clone();
        if next.status != TxnStatus::Ongoing {
            next.status = TxnStatus::Ongoing;
            next.start_ms = now_ms();
            next.partitions.clear();
        }
        for (t, ps) in partitions {
            next.partitions
                .entry(t.clone())
                .or_default()
                .extend(ps.iter().copied());
        }
        if next != *m {
            self.persist(shared, &mut next)?;
            *m = next;
        }
        Ok(answer(&|_, _| 0))
    }

    /// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction, so
    /// its TxnOffsetCommit is decided by the transaction's marker.
    pub fn add_offsets(&self, shared: &Shared, caller: &Caller, group_id: &str) -> i16 {
        let partition = shared.groups.partition_for(group_id);
        self.add_partition(shared, caller, OFFSETS_TOPIC, partition)
    }

    /// One partition joins the transaction (AddOffsetsToTxn, and protocol v2's Produce and
    /// TxnOffsetCommit): 0, or its error.
    pub fn add_partition(
        &self,
        shared: &Shared,
        caller: &Caller,
        topic: &str,
        partition: i32,
    ) -> i16 {
        match self.add_partitions(shared, caller, &[(topic.to_string(), vec![partition])]) {
            Ok(results) => results
                .iter()
                .flat_map(|(_, ps)| ps.iter().map(|(_, c)| *c))
                .find(|c| *c != 0)
                .unwrap_or(0),
            Err(code) => code,
        }
    }

    /// EndTxn (protocol v1): commits or aborts the open transaction. A retry of an end that
    /// already completed the same way succeeds; ending a transaction the other way, or one
    /// never begun, is INVALID_TXN_STATE.
    pub fn end_txn(&self, shared: &Shared, caller: &Caller, commit: bool) -> i16 {
        let mut txns = self.txns.locked();
        let m = match Self::current(&mut txns, caller) {
            Ok(m) => m,
            Err(code) => return code,
        };
        match (m.status, commit) {
            (TxnStatus::Ongoing, _) => {}
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => return 0,
            _ => return code::INVALID_TXN_STATE,
        }
        match self.prepare_and_complete(shared, m, commit, None) {
            Ok(()) => 0,
            Err(code) => code,
        }
    }

    /// EndTxn v5 (protocol v2): ends the open transaction under the next epoch (a new
    /// producer id once the epochs run out) and answers with the id and epoch the producer
    /// goes on with; an abort with nothing open bumps the epoch too, a commit with nothing
    /// open is INVALID_TXN_STATE. A retry with the epoch before the bump gets the same answer
    /// when it asks for the same end (CONCURRENT_TRANSACTIONS while that end is under way);
    /// other epochs are fenced, as Kafka's coordinator (4.1, 4.4) answers.
    pub fn end_txn_v2(
        &self,
        shared: &Shared,
        caller: &Caller,
        commit: bool,
    ) -> Result<(i64, i16), i16> {
        let mut txns = self.txns.locked();
        let m = txns
            .get_mut(caller.transactional_id)
            .filter(|m| m.producer_id == caller.producer_id)
            .ok_or(code::INVALID_PRODUCER_ID_MAPPING)?;
        let current = caller.producer_epoch == m.producer_epoch;
        let retry = caller.producer_epoch.checked_add(1) == Some(m.producer_epoch);
        let answer = (m.producer_id, m.producer_epoch);
        match (m.status, commit) {
            (TxnStatus::Ongoing, _) if current => {}
            // Nothing open: an abort still ends "it" under the next epoch (as Kafka 4.x
            // answers), so a producer unsure whether its Produce reached the leader can abort.
            (_, false) if current && m.status.is_idle() => {}
            (_, true) if current && m.status.is_idle() => return Err(code::INVALID_TXN_STATE),
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) if retry => {
                return Ok(answer)
            }
            (TxnStatus::CompleteCommit | TxnStatus::CompleteAbort, _) if retry => {
                return Err(code::INVALID_TXN_STATE)
            }
            (TxnStatus::PrepareCommit | TxnStatus::PrepareAbort, _) if retry => {
                return Err(code::CONCURRENT_TRANSACTIONS)
            }
            _ => return Err(caller.fenced),
        }
        let bumped = m.producer_epoch + 1;
        // The epoch after this one would be exhausted: the producer goes on under a new id.
        let after = (bumped >= i16::MAX - 1)
            .then(|| (shared.next_producer_id.fetch_add(1, Ordering::SeqCst), 0));
        let mut next = m.clone();
        next.producer_epoch = bumped;
        let ended = self.prepare_and_complete(shared, &mut next, commit, after);
        if next.status != TxnStatus::Ongoing {
            *m = next; // the Prepare record (at least) is written
        }
        ended.map(|()| (m.producer_id, m.producer_epoch))
    }

    /// Records the Prepare state, writes the markers and records the Complete state; then,
    /// with `after`, moves the id to that producer id and epoch.
    fn prepare_and_complete(
        &self,
        shared: &Shared,
        m: &mut TxnMetadata,
        commit: bool,
        after: Option<(i64, i16)>,
    ) -> Result<(), i16> {
        let mut prepared = m.clone();
        prepared.status = if commit {
            TxnStatus::PrepareCommit
        } else {
            TxnStatus::PrepareAbort
        };
        self.persist(shared, &mut prepared)?;
        *m = prepared;
        self.write_markers_and_complete(shared, m, commit)?;
        if let Some((id, epoch)) = after {
            let mut next = m.clone();
            (next.producer_id, next.producer_epoch) = (id, epoch);
            self.persist(shared, &mut next)?;
            *m = next;
        }
        Ok(())
    }

    /// Writes the transaction's markers with `m`'s epoch and records it Complete. The
    /// Prepare record (or, for an abort that fences, nothing) is already written.
    fn write_markers_and_complete(
        &self,
        shared: &Shared,
        m: &mut TxnMetadata,
        commit: bool,
    ) -> Result<(), i16> {
        let now = now_ms();
        for (topic, partitions) in &m.partitions {
            for p in partitions {
                // To the partition's leader (WriteTxnMarkers, in process).
                let written = shared.on_leader(topic, *p, |leader| {
                    let log = leader.topics.partition(topic, *p)?;
                    let written =
                        log.locked()
                            .append_marker(m.producer_id, m.producer_epoch, commit, 0, now);
                    if written.is_ok() && topic == OFFSETS_TOPIC {
                        leader
                            .groups
                            .complete_txn_offsets(*p, m.producer_id, commit)
                    }
                    Some(written)
                });
                match written.flatten() {
                    // Deleted since it joined the transaction (or its leader is gone).
                    None | Some(Ok(_)) => {}
                    Some(Err(e)) => tracing::warn!(
                        id = %m.transactional_id, topic, partition = p,
                        "transaction marker not written: {}", e.message
                    ),
                }
            }
        }
        let mut done = m.clone();
        done.status = if commit {
            TxnStatus::CompleteCommit
        } else {
            TxnStatus::CompleteAbort
        };
        done.partitions.clear();
        self.persist(shared, &mut done)?;
        *m = done;
        Ok(())
    }

    /// Aborts every transaction open longer than its timeout, bumping its epoch so the
    /// producer that let it expire is fenced.
    pub fn abort_expired(&self, shared: &Shared, now_ms: i64) {
        let mut txns = self.txns.locked();
        for m in txns.values_mut().filter(|m| m.expired(now_ms)) {
            tracing::info!(id = %m.transactional_id, "aborting a transaction past its transaction.timeout.ms");
            m.producer_epoch = m.producer_epoch.saturating_add(1);
            if let Err(code) = self.write_markers_and_complete(shared, m, false) {
                tracing::error!(id = %m.transactional_id, code, "aborting an expired transaction failed");
            }
        }
    }

    /// How often [`abort_expired`](Self::abort_expired) should run.
    pub fn abort_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.config.abort_timed_out_interval_ms.max(1))
    }

    /// Whether `transactional_id`'s open transaction, under `producer_id`, holds
    /// `topic`-`partition` (Produce refuses a transactional batch for a partition never
    /// added: KIP-890's verification). Without the id (a Produce that names none), any
    /// transactional id's transaction under `producer_id` is looked for.
    pub fn in_transaction(
        &self,
        transactional_id: Option<&str>,
        producer_id: i64,
        topic: &str,
        partition: i32,
    ) -> bool {
        let holds = |m: &TxnMetadata| {
            m.producer_id == producer_id
                && m.status == TxnStatus::Ongoing
                && m.partitions
                    .get(topic)
                    .is_some_and(|ps| ps.contains(&partition))
        };
        let txns = self.txns.locked();
        match transactional_id {
            Some(id) => txns.get(id).is_some_and(holds),
            None => txns.values().any(holds),
        }
    }

    /// A copy of one transactional id's state (DescribeTransactions).
    pub fn describe(&self, transactional_id: &str) -> Option<TxnMetadata> {
        self.txns.locked().get(transactional_id).cloned()
    }

    /// Every transactional id's state (ListTransactions).
    pub fn all(&self) -> Vec<TxnMetadata> {
        self.txns.locked().values().cloned().collect()
    }
}
