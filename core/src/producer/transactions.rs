//! Transactions (KIP-98, with KIP-447's group metadata).
//!
//! Protocol v1: the client adds each partition to the transaction (AddPartitionsToTxn) before
//! its first batch goes out, adds the consumer group's offsets (AddOffsetsToTxn, then
//! TxnOffsetCommit to the group coordinator), and ends the transaction with EndTxn once every
//! batch is acknowledged.
//!
//! Protocol v2 (KIP-890), where the cluster finalized `transaction.version` 2: the partition
//! leader adds a partition when a Produce v12 names it, the group coordinator adds the offsets
//! on TxnOffsetCommit v5, and every EndTxn (v5) bumps the epoch and answers with it, so a late
//! write of an ended transaction is fenced. The protocol is chosen at `init_transactions` and
//! again after each end, never inside a transaction.
//!
//! ```text
//!  Uninitialized ─init_transactions─▶ Ready ─begin─▶ InTransaction ─commit─▶ Committing ─▶ Ready
//!                                       ▲                │ error              │ abort
//!                                       │                ▼                    ▼
//!                                       └──── Aborting ◀── Abortable ◀────────┘
//!  Fatal: fenced by a newer instance (PRODUCER_FENCED), or an error the coordinator gives for
//!  good; every later call fails with it.
//! ```
//!
//! The sender drains only partitions already added (`may_send`); partitions a send names are
//! queued (`add_partition`) and one AddPartitionsToTxn at a time adds them. A failed add or a
//! failed batch makes the transaction abortable: `commit_transaction` then fails, and
//! `abort_transaction` is the way back to `Ready`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, EndTxnRequest, GroupId,
    InitProducerIdRequest, ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::idempotence::ProducerIdAndEpoch;
use crate::consumer::{ConsumerGroupMetadata, OffsetAndMetadata};
use crate::error::{error_name, KafkaError, Result};
use crate::network::{backoff, versions, NetworkClient};
use crate::topic_partition::TopicPartition;

/// PRODUCER_FENCED: another instance with this transactional id took over.
pub const PRODUCER_FENCED: i16 = 90;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const CONCURRENT_TRANSACTIONS: i16 = 51;
/// How often a coordinator call is tried before its error is returned.
const ATTEMPTS: u32 = 50;

#[derive(Debug, Clone)]
enum Phase {
    Uninitialized,
    Ready,
    InTransaction,
    Committing,
    Aborting,
    /// The transaction cannot commit; `abort_transaction` recovers.
    Abortable(KafkaError),
    /// The producer cannot go on.
    Fatal(KafkaError),
}

struct State {
    phase: Phase,
    /// Partitions sends named, not yet added to the transaction (v1).
    pending: BTreeSet<TopicPartition>,
    /// An AddPartitionsToTxn is under way (v1).
    adding: bool,
    /// Partitions in the transaction: added by AddPartitionsToTxn (v1), or whose batches
    /// went out in a Produce v12 (v2).
    added: HashSet<TopicPartition>,
    /// Whether the group's offsets joined this transaction (EndTxn is needed then too).
    offsets_added: bool,
    /// A batch failed holding sequence numbers: the epoch is bumped after the abort (KIP-360).
    bump_after_abort: bool,
}

pub(crate) struct TransactionManager {
    pub transactional_id: Arc<str>,
    timeout_ms: i32,
    client: NetworkClient,
    retry_backoff: (Duration, Duration),
    state: Mutex<State>,
    /// One user call (init, commit, abort, offsets) at a time.
    call: tokio::sync::Mutex<()>,
    /// A commit's EndTxn that outlived `max.block.ms`: still running, and what the next
    /// `commit_transaction` waits for instead of sending another.
    pending_commit: Mutex<Option<tokio::task::JoinHandle<Result<bool>>>>,
    /// Transaction protocol v2 (KIP-890) for the current transaction; changes only between
    /// transactions. Read by the sender for every Produce request.
    v2: AtomicBool,
}

fn illegal(what: &str, phase: &Phase) -> KafkaError {
    match phase {
        Phase::Fatal(e) => e.clone(),
        Phase::Abortable(e) => KafkaError::IllegalState(format!(
            "{what}: the transaction failed ({e}); call abort_transaction"
        )),
        other => KafkaError::IllegalState(format!("{what} is not allowed in state {other:?}")),
    }
}

fn fenced(transactional_id: &str) -> KafkaError {
    KafkaError::Broker {
        code: PRODUCER_FENCED,
        name: error_name(PRODUCER_FENCED),
        topic: None,
        partition: None,
        message: Some(format!(
            "another producer with transactional.id `{transactional_id}` has started: this one is fenced and must be closed"
        )),
    }
}

/// What to do with an error code of a coordinator call.
enum Outcome {
    Retry,
    /// The coordinator moved: look it up again, then retry.
    Relocate,
    Fenced,
    Failed,
}

fn outcome(code: i16) -> Outcome {
    match code {
        COORDINATOR_LOAD_IN_PROGRESS | CONCURRENT_TRANSACTIONS => Outcome::Retry,
        COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR => Outcome::Relocate,
        PRODUCER_FENCED | INVALID_PRODUCER_EPOCH => Outcome::Fenced,
        c if KafkaError::broker(c).is_retriable() => Outcome::Retry,
        _ => Outcome::Failed,
    }
}

impl TransactionManager {
    pub fn new(
        transactional_id: &str,
        timeout: Duration,
        client: NetworkClient,
        retry_backoff: (Duration, Duration),
    ) -> TransactionManager {
        TransactionManager {
            transactional_id: Arc::from(transactional_id),
            timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
            client,
            retry_backoff,
            state: Mutex::new(State {
                phase: Phase::Uninitialized,
                pending: BTreeSet::new(),
                adding: false,
                added: HashSet::new(),
                offsets_added: false,
                bump_after_abort: false,
            }),
            call: tokio::sync::Mutex::new(()),
            pending_commit: Mutex::new(None),
            v2: AtomicBool::new(false),
        }
    }

    /// Whether the transaction follows protocol v2 (KIP-890).
    pub fn protocol_v2(&self) -> bool {
        self.v2.load(Ordering::Relaxed)
    }

    /// Picks the protocol for the transactions to come: v2 when the coordinator reports
    /// `transaction.version` 2 or more finalized and speaks the v2 versions of EndTxn,
    /// TxnOffsetCommit and Produce, as the Java client decides. Keeps the previous choice
    /// when the coordinator cannot be asked now.
    async fn choose_protocol(&self) {
        let Ok(node) = self
            .client
            .find_coordinator(&self.transactional_id, 1)
            .await
        else {
            return;
        };
        let level = self
            .client
            .finalized_feature(node, "transaction.version")
            .await;
        let speaks = |key, v1_max| async move {
            self.client
                .api_version(node, key)
                .await
                .is_ok_and(|v| v > v1_max)
        };
        let v2 = matches!(level, Ok(Some(l)) if l >= 2)
            && speaks(ApiKey::EndTxn, versions::END_TXN_TRANSACTION_V1_MAX).await
            && speaks(
                ApiKey::TxnOffsetCommit,
                versions::TXN_OFFSET_COMMIT_TRANSACTION_V1_MAX,
            )
            .await
            && speaks(ApiKey::Produce, versions::PRODUCE_TRANSACTION_V1_MAX).await;
        if level.is_ok() {
            if v2 != self.protocol_v2() {
                tracing::debug!(
                    transactional_id = %self.transactional_id,
                    "transaction protocol v{}", if v2 { 2 } else { 1 }
                );
            }
            self.v2.store(v2, Ordering::Relaxed);
        }
    }

    /// The highest EndTxn / TxnOffsetCommit version the current protocol allows.
    fn cap(&self, v1_max: i16) -> i16 {
        if self.protocol_v2() {
            v1_max + 1
        } else {
            v1_max
        }
    }

    fn txn_id(&self) -> TransactionalId {
        TransactionalId(StrBytes::from_string(self.transactional_id.to_string()))
    }

    /// A send is allowed only inside a transaction that can still commit.
    pub fn check_send(&self) -> Result<()> {
        match &self.state.lock().unwrap().phase {
            Phase::InTransaction => Ok(()),
            phase => Err(illegal(
                "send outside a transaction (call begin_transaction)",
                phase,
            )),
        }
    }

    /// Queues `tp` to be added before its batches go out (v1; in v2 the Produce adds it).
    pub fn add_partition(&self, tp: &TopicPartition) {
        if self.protocol_v2() {
            return;
        }
        let mut st = self.state.lock().unwrap();
        if !st.added.contains(tp) && !st.pending.contains(tp) {
            st.pending.insert(tp.clone());
        }
    }

    /// Whether `tp`'s batches may be sent: it is part of the transaction (v1), or (v2) it
    /// is from now on, since the Produce about to carry them adds it.
    pub fn may_send(&self, tp: &TopicPartition) -> bool {
        let mut st = self.state.lock().unwrap();
        if st.added.contains(tp) {
            return true;
        }
        if self.protocol_v2() {
            st.added.insert(tp.clone());
            return true;
        }
        false
    }

    /// The partitions to add now, when no add is under way.
    pub fn take_pending(&self) -> Option<Vec<TopicPartition>> {
        let mut st = self.state.lock().unwrap();
        if st.adding
            || st.pending.is_empty()
            || !matches!(st.phase, Phase::InTransaction | Phase::Committing)
        {
            return None;
        }
        st.adding = true;
        Some(st.pending.iter().cloned().collect())
    }

    /// A batch of the transaction failed for good: it cannot commit. Fencing is fatal.
    pub fn batch_failed(&self, error: &KafkaError, holds_sequences: bool) {
        let mut st = self.state.lock().unwrap();
        st.bump_after_abort |= holds_sequences;
        let next = match error.code() {
            Some(PRODUCER_FENCED | INVALID_PRODUCER_EPOCH) => {
                Phase::Fatal(fenced(&self.transactional_id))
            }
            _ => Phase::Abortable(error.clone()),
        };
        if !matches!(st.phase, Phase::Fatal(_) | Phase::Abortable(_)) {
            st.phase = next;
        }
    }

    fn fail(&self, error: KafkaError) -> KafkaError {
        let mut st = self.state.lock().unwrap();
        let fatal = error.code() == Some(PRODUCER_FENCED);
        if fatal {
            st.phase = Phase::Fatal(error.clone());
        } else if !matches!(st.phase, Phase::Fatal(_)) {
            st.phase = Phase::Abortable(error.clone());
        }
        error
    }

    fn pause(&self, attempt: u32) -> Duration {
        backoff(self.retry_backoff.0, self.retry_backoff.1, attempt)
    }

    /// Runs a coordinator call (`key_type` 1: the transaction's, 0: a group's) until it
    /// answers something other than a retriable error. `call` gives the error code.
    async fn with_coordinator<F, Fut>(&self, key: &str, key_type: i8, mut call: F) -> Result<()>
    where
        F: FnMut(i32) -> Fut,
        Fut: std::future::Future<Output = Result<i16>>,
    {
        let mut attempt = 0;
        let mut last = KafkaError::broker(COORDINATOR_NOT_AVAILABLE);
        while attempt < ATTEMPTS {
            attempt += 1;
            let code = match self.client.find_coordinator(key, key_type).await {
                Ok(node) => call(node).await,
                Err(e) => Err(e),
            };
            let code = match code {
                Ok(0) => return Ok(()),
                Ok(code) => code,
                Err(e) if e.is_retriable() => {
                    last = e;
                    tokio::time::sleep(self.pause(attempt)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match outcome(code) {
                Outcome::Retry | Outcome::Relocate => {
                    last = KafkaError::broker(code);
                    tokio::time::sleep(self.pause(attempt)).await;
                }
                Outcome::Fenced => return Err(fenced(&self.transactional_id)),
                Outcome::Failed => return Err(KafkaError::broker(code)),
            }
        }
        Err(last)
    }

    /// InitProducerId with the transactional id: a new epoch for this id, which fences any
    /// older instance and aborts its open transaction. `current` is NONE at first, the id and
    /// epoch to bump after an abort that needs it.
    async fn init_producer_id(&self, current: ProducerIdAndEpoch) -> Result<ProducerIdAndEpoch> {
        let assigned: Mutex<Option<ProducerIdAndEpoch>> = Mutex::new(None);
        let id = self.transactional_id.clone();
        self.with_coordinator(&id, 1, |node| {
            let req = InitProducerIdRequest::default()
                .with_transactional_id(Some(self.txn_id()))
                .with_transaction_timeout_ms(self.timeout_ms)
                .with_producer_id(ProducerId(current.id))
                .with_producer_epoch(current.epoch);
            let assigned = &assigned;
            async move {
                let (resp, _) = self.client.send(node, req).await?;
                if resp.error_code == 0 {
                    *assigned.lock().unwrap() = Some(ProducerIdAndEpoch {
                        id: resp.producer_id.0,
                        epoch: resp.producer_epoch,
                    });
                }
                Ok(resp.error_code)
            }
        })
        .await?;
        Ok(assigned.into_inner().unwrap().expect("set on success"))
    }

    /// `init_transactions`: the producer id and epoch of this transactional id.
    pub async fn init(&self) -> Result<ProducerIdAndEpoch> {
        let _one = self.call.lock().await;
        {
            let st = self.state.lock().unwrap();
            if !matches!(st.phase, Phase::Uninitialized) {
                return Err(illegal("init_transactions", &st.phase));
            }
        }
        let ids = self.init_producer_id(ProducerIdAndEpoch::NONE).await?;
        self.choose_protocol().await;
        self.state.lock().unwrap().phase = Phase::Ready;
        Ok(ids)
    }

    pub fn begin(&self) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        match st.phase {
            Phase::Ready => {
                st.phase = Phase::InTransaction;
                Ok(())
            }
            ref phase => Err(illegal("begin_transaction", phase)),
        }
    }

    /// AddPartitionsToTxn for `partitions` under `ids`; then they may be sent. A failure makes
    /// the transaction abortable (or fatal when fenced) and returns the error for the
    /// partitions' queued batches.
    pub async fn add_partitions(
        &self,
        partitions: Vec<TopicPartition>,
        ids: ProducerIdAndEpoch,
    ) -> std::result::Result<(), KafkaError> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in &partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let topics: Vec<AddPartitionsToTxnTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(ps)
            })
            .collect();
        let id = self.transactional_id.clone();
        let result = self
            .with_coordinator(&id, 1, |node| {
                let req = AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(self.txn_id())
                    .with_v3_and_below_producer_id(ProducerId(ids.id))
                    .with_v3_and_below_producer_epoch(ids.epoch)
                    .with_v3_and_below_topics(topics.clone());
                async move {
                    let (resp, _) = self.client.send(node, req).await?;
                    if resp.error_code != 0 {
                        return Ok(resp.error_code);
                    }
                    // The first failing partition's code (OPERATION_NOT_ATTEMPTED marks the
                    // partitions skipped because of another one's error).
                    Ok(resp
                        .results_by_topic_v3_and_below
                        .iter()
                        .flat_map(|t| t.results_by_partition.iter())
                        .map(|p| p.partition_error_code)
                        .find(|c| *c != 0 && *c != 55)
                        .unwrap_or(0))
                }
            })
            .await;
        let mut st = self.state.lock().unwrap();
        st.adding = false;
        match result {
            Ok(()) => {
                for tp in partitions {
                    st.pending.remove(&tp);
                    st.added.insert(tp);
                }
                Ok(())
            }
            Err(e) => {
                drop(st);
                Err(self.fail(e))
            }
        }
    }

    /// `send_offsets_to_transaction`: the group's offsets commit with the transaction.
    pub async fn send_offsets(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        group: &ConsumerGroupMetadata,
        ids: ProducerIdAndEpoch,
    ) -> Result<()> {
        let _one = self.call.lock().await;
        {
            let st = self.state.lock().unwrap();
            if !matches!(st.phase, Phase::InTransaction) {
                return Err(illegal("send_offsets_to_transaction", &st.phase));
            }
        }
        let id = self.transactional_id.clone();
        let group_id = GroupId(StrBytes::from_string(group.group_id.clone()));
        if !self.protocol_v2() {
            self.with_coordinator(&id, 1, |node| {
                let req = AddOffsetsToTxnRequest::default()
                    .with_transactional_id(self.txn_id())
                    .with_producer_id(ProducerId(ids.id))
                    .with_producer_epoch(ids.epoch)
                    .with_group_id(group_id.clone());
                async move { Ok(self.client.send(node, req).await?.0.error_code) }
            })
            .await
            .map_err(|e| self.fail(e))?;
        }
        // In v2 the TxnOffsetCommit below adds the offsets: from here on EndTxn is due.
        self.state.lock().unwrap().offsets_added = true;
        let cap = self.cap(versions::TXN_OFFSET_COMMIT_TRANSACTION_V1_MAX);
        let mut by_topic: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, om) in offsets {
            by_topic.entry(&tp.topic).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_committed_offset(om.offset)
                    .with_committed_leader_epoch(om.leader_epoch.unwrap_or(-1))
                    .with_committed_metadata(Some(StrBytes::from_string(om.metadata.clone()))),
            );
        }
        let topics: Vec<TxnOffsetCommitRequestTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(ps)
            })
            .collect();
        self.with_coordinator(&group.group_id, 0, |node| {
            let req = TxnOffsetCommitRequest::default()
                .with_transactional_id(self.txn_id())
                .with_group_id(group_id.clone())
                .with_producer_id(ProducerId(ids.id))
                .with_producer_epoch(ids.epoch)
                .with_generation_id(group.generation_id)
                .with_member_id(StrBytes::from_string(group.member_id.clone()))
                .with_group_instance_id(group.group_instance_id.clone().map(StrBytes::from_string))
                .with_topics(topics.clone());
            async move {
                let (resp, _) = self.client.send_up_to(node, cap, req).await?;
                Ok(resp
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| p.error_code)
                    .find(|c| *c != 0)
                    .unwrap_or(0))
            }
        })
        .await
        .map_err(|e| self.fail(e))
    }

    /// Moves to Committing (`commit`) or Aborting; the sender's batches are flushed next.
    pub fn start_end(&self, commit: bool) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        match (&st.phase, commit) {
            // Committing again: an earlier commit timed out (max.block.ms) and is resumed,
            // as Java's commitTransaction after a TimeoutException.
            (Phase::InTransaction | Phase::Committing, true) => st.phase = Phase::Committing,
            (Phase::InTransaction | Phase::Abortable(_) | Phase::Aborting, false) => {
                st.phase = Phase::Aborting
            }
            (phase, true) => return Err(illegal("commit_transaction", phase)),
            (phase, false) => return Err(illegal("abort_transaction", phase)),
        }
        Ok(())
    }

    /// The EndTxn a timed-out commit left running, if any (taken: the caller waits for it).
    pub fn take_pending_commit(&self) -> Option<tokio::task::JoinHandle<Result<bool>>> {
        self.pending_commit.lock().unwrap().take()
    }

    /// Keeps a commit's EndTxn that outlived the caller's wait, for the next commit call.
    pub fn keep_pending_commit(&self, task: tokio::task::JoinHandle<Result<bool>>) {
        *self.pending_commit.lock().unwrap() = Some(task);
    }

    /// The partitions not added to the transaction (their queued batches are dropped on abort).
    pub fn not_added(&self, tp: &TopicPartition) -> bool {
        !self.state.lock().unwrap().added.contains(tp)
    }

    /// Whether the transaction failed and only `abort_transaction` leads back to `Ready`.
    pub fn requires_abort(&self) -> bool {
        matches!(self.state.lock().unwrap().phase, Phase::Abortable(_))
    }

    /// The error that keeps the transaction from committing, once its batches are flushed.
    pub fn commit_blocked(&self) -> Option<KafkaError> {
        match &self.state.lock().unwrap().phase {
            Phase::Abortable(e) | Phase::Fatal(e) => Some(e.clone()),
            _ => None,
        }
    }

    /// EndTxn (when anything was added), then back to Ready. In v2 the coordinator bumped the
    /// epoch: `adopt` gets the id and epoch the next transaction writes under, before any
    /// other call can begin one. Returns whether the epoch must be bumped before the next
    /// transaction (v1: an abort after a batch failed holding sequences, KIP-360).
    pub async fn end(
        &self,
        commit: bool,
        ids: ProducerIdAndEpoch,
        adopt: impl FnOnce(ProducerIdAndEpoch),
    ) -> Result<bool> {
        let _one = self.call.lock().await;
        let needed = {
            let st = self.state.lock().unwrap();
            !st.added.is_empty() || st.offsets_added
        };
        let v2 = self.protocol_v2();
        let next: Mutex<Option<ProducerIdAndEpoch>> = Mutex::new(None);
        if needed {
            let id = self.transactional_id.clone();
            let cap = self.cap(versions::END_TXN_TRANSACTION_V1_MAX);
            self.with_coordinator(&id, 1, |node| {
                let req = EndTxnRequest::default()
                    .with_transactional_id(self.txn_id())
                    .with_producer_id(ProducerId(ids.id))
                    .with_producer_epoch(ids.epoch)
                    .with_committed(commit);
                let next = &next;
                async move {
                    let (resp, version) = self.client.send_up_to(node, cap, req).await?;
                    match resp.error_code {
                        0 if version > versions::END_TXN_TRANSACTION_V1_MAX
                            && resp.producer_id.0 >= 0 =>
                        {
                            *next.lock().unwrap() = Some(ProducerIdAndEpoch {
                                id: resp.producer_id.0,
                                epoch: resp.producer_epoch,
                            });
                            Ok(0)
                        }
                        code => Ok(code),
                    }
                }
            })
            .await
            .map_err(|e| self.fail(e))?;
        }
        if let Some(n) = next.into_inner().unwrap() {
            adopt(n);
        }
        self.choose_protocol().await;
        let mut st = self.state.lock().unwrap();
        st.added.clear();
        st.pending.clear();
        st.offsets_added = false;
        st.phase = Phase::Ready;
        // v2 bumped the epoch already.
        Ok(std::mem::take(&mut st.bump_after_abort) && !commit && !v2)
    }

    /// KIP-360: a new epoch for the same producer id after an abort that left a sequence gap.
    pub async fn bump_epoch(&self, current: ProducerIdAndEpoch) -> Result<ProducerIdAndEpoch> {
        let _one = self.call.lock().await;
        self.init_producer_id(current)
            .await
            .map_err(|e| self.fail(e))
    }
}
