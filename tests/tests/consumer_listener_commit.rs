//! Commits made *now* from a rebalance listener (`RebalanceContext::commit_positions_now` /
//! `commit_offsets_now`, Java's `commitSync` inside `onPartitionsRevoked`): sent and answered
//! before the listener returns, so the listener learns the broker's refusal and the group
//! holds an accepted offset before the partitions move. On a current-thread runtime, which
//! cannot wait inside `poll`, they are refused and the deferred `commit_sync` still commits;
//! without a `group.id` they fail as the consumer's own commits do. Against whichever cluster
//! `TestCluster` picks (the dev broker, or a real Kafka with `KRAFTY_TEST_BOOTSTRAP`): both
//! enforce `offset.metadata.max.bytes` = 4096.

mod common_consumer;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common_consumer::*;
use krafty::consumer::{ConsumerRebalanceListener, OffsetAndMetadata, RebalanceContext};
use krafty::{KafkaError, TopicPartition};
use krafty_tests::{unique_topic, TestCluster};

/// Kafka's OFFSET_METADATA_TOO_LARGE.
const OFFSET_METADATA_TOO_LARGE: i16 = 12;

/// What the listener saw on its first revocation.
#[derive(Debug, Clone)]
struct Revocation {
    partitions: Vec<TopicPartition>,
    /// `commit_offsets_now` of offset 1 with 4097 bytes of metadata, for the first partition.
    too_large: krafty::Result<()>,
    /// `commit_positions_now` of every revoked partition, after that.
    positions: krafty::Result<()>,
    /// The group's committed offsets, read through another consumer right after, still
    /// inside the listener.
    committed_then: krafty::Result<BTreeMap<TopicPartition, OffsetAndMetadata>>,
}

/// Commits now on its first revocation and reads the group's offsets back at once.
struct CommitNow {
    checker: Consumer,
    seen: Arc<Mutex<Option<Revocation>>>,
}

impl ConsumerRebalanceListener for CommitNow {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        if partitions.is_empty() || self.seen.lock().unwrap().is_some() {
            return;
        }
        let oversized = OffsetAndMetadata {
            offset: 1,
            leader_epoch: None,
            metadata: "m".repeat(4097),
        };
        let too_large =
            ctx.commit_offsets_now(BTreeMap::from([(partitions[0].clone(), oversized)]));
        let positions = ctx.commit_positions_now(partitions);
        // Blocking here is what the test is about: the listener runs inside `poll`.
        let committed_then = krafty::runtime::block_on(self.checker.committed(partitions));
        *self.seen.lock().unwrap() = Some(Revocation {
            partitions: partitions.to_vec(),
            too_large,
            positions,
            committed_then,
        });
    }
}

/// A member reads 5 records of each of two partitions; a second member joins, and in the
/// first one's revoke callback a commit with metadata over 4096 bytes returns the broker's
/// OFFSET_METADATA_TOO_LARGE, then a commit of the positions returns Ok and is the group's
/// committed offset (metadata included) before the callback returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_now_in_the_revoke_listener_is_answered_before_the_rebalance_goes_on() {
    bounded(async {
        let cluster = TestCluster::start(2).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("listener-commit-now");
        cluster.create_topic(&topic, 2, &[]).await;
        let group = unique_topic("g-listener-commit-now");
        produce(&bs, &topic, 0..2, 0..5).await;
        let range = [("partition.assignment.strategy", "range")];

        let seen = Arc::new(Mutex::new(None));
        let listener = CommitNow {
            checker: consumer(&bs, Some(&group), &[]).await,
            seen: seen.clone(),
        };
        let checker = listener.checker.clone();
        let a = consumer(&bs, Some(&group), &range).await;
        a.subscribe(&[&topic], Some(Box::new(listener)))
            .await
            .unwrap();
        let a = Member::start(a);
        let am = &a;
        wait_until(
            GROUP_WAIT,
            "the first member reads all 10 records",
            || async move { am.records().len() == 10 },
        )
        .await;
        assert!(seen.lock().unwrap().is_none(), "nothing revoked yet");

        let b = consumer(&bs, Some(&group), &range).await;
        b.subscribe(&[&topic], None).await.unwrap();
        let b = Member::start(b);
        let s = &seen;
        wait_until(
            GROUP_WAIT,
            "the first member's revoke callback",
            || async move { s.lock().unwrap().is_some() },
        )
        .await;
        // Kept in place: the revocation on close finds it there and commits nothing more.
        let r = seen.lock().unwrap().clone().unwrap();
        assert_eq!(
            r.partitions,
            tps(&topic, 0..2),
            "eager: everything is revoked"
        );
        match &r.too_large {
            Err(e) => assert_eq!(
                e.code(),
                Some(OFFSET_METADATA_TOO_LARGE),
                "the broker's refusal of 4097 bytes of metadata: {e}"
            ),
            Ok(()) => panic!("a commit with 4097 bytes of metadata returned Ok"),
        }
        r.positions
            .unwrap_or_else(|e| panic!("the commit of the positions failed: {e}"));
        let committed_then = r
            .committed_then
            .unwrap_or_else(|e| panic!("reading the committed offsets: {e}"));
        let offsets: BTreeMap<TopicPartition, (i64, String)> = committed_then
            .into_iter()
            .map(|(tp, o)| (tp, (o.offset, o.metadata)))
            .collect();
        assert_eq!(
            offsets,
            BTreeMap::from([
                (tp(&topic, 0), (5, String::new())),
                (tp(&topic, 1), (5, String::new())),
            ]),
            "committed before the callback returned"
        );

        b.close().await;
        a.close().await;
        close(&checker).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// Tries a commit now, then falls back to the deferred one.
struct FallBack {
    now: Arc<Mutex<Option<krafty::Result<()>>>>,
}

impl ConsumerRebalanceListener for FallBack {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let now = ctx.commit_positions_now(partitions);
        if now.is_err() {
            ctx.commit_sync(partitions);
        }
        *self.now.lock().unwrap() = Some(now);
    }
}

/// On a current-thread runtime the polling thread is the only one that can send the commit,
/// so a commit now is refused (IllegalState, pointing at `commit_sync`) instead of hanging;
/// the deferred commit made after it is still committed when the listener returns.
#[tokio::test(flavor = "current_thread")]
async fn on_a_current_thread_runtime_a_commit_now_is_refused_and_the_deferred_one_still_commits() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("listener-commit-current-thread");
        cluster.create_topic(&topic, 1, &[]).await;
        let group = unique_topic("g-listener-commit-current-thread");
        produce(&bs, &topic, 0..1, 0..3).await;

        let now = Arc::new(Mutex::new(None));
        let c = consumer(&bs, Some(&group), &[]).await;
        c.subscribe(&[&topic], Some(Box::new(FallBack { now: now.clone() })))
            .await
            .unwrap();
        assert_eq!(take_exactly(&c, 3, READ_WAIT).await, expected(0, 0..3));
        c.unsubscribe().await.unwrap();
        match now.lock().unwrap().take() {
            Some(Err(KafkaError::IllegalState(m))) => {
                assert!(
                    m.contains("commit_sync"),
                    "the error points at commit_sync: {m}"
                )
            }
            other => panic!("a commit now on a current-thread runtime: {other:?}"),
        }
        assert_eq!(
            committed(&cluster, &group).await,
            BTreeMap::from([(tp(&topic, 0), 3)]),
            "the deferred commit"
        );
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// Commits now from `on_partitions_assigned` and keeps the outcome.
struct CommitOnAssign {
    now: Arc<Mutex<Option<krafty::Result<()>>>>,
}

impl ConsumerRebalanceListener for CommitOnAssign {
    fn on_partitions_assigned(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let offsets = partitions
            .iter()
            .map(|tp| (tp.clone(), OffsetAndMetadata::new(0)))
            .collect();
        *self.now.lock().unwrap() = Some(ctx.commit_offsets_now(offsets));
    }
}

/// Without a `group.id` (every partition of the subscription is assigned, and the listener
/// hears of it) a commit now fails with the very error the consumer's own commit gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_group_a_commit_now_fails_as_the_consumers_commit_does() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("listener-commit-no-group");
        cluster.create_topic(&topic, 1, &[]).await;

        let now = Arc::new(Mutex::new(None));
        let c = consumer(&bs, None, &[]).await;
        c.subscribe(
            &[&topic],
            Some(Box::new(CommitOnAssign { now: now.clone() })),
        )
        .await
        .unwrap();
        let n = &now;
        let cc = &c;
        wait_until(GROUP_WAIT, "the partition assigned", || async move {
            poll_once(cc, std::time::Duration::from_millis(100))
                .await
                .unwrap();
            n.lock().unwrap().is_some()
        })
        .await;
        let from_listener = now.lock().unwrap().take().unwrap().unwrap_err();
        let from_consumer = c.commit_sync().await.unwrap_err();
        assert_eq!(from_listener.to_string(), from_consumer.to_string());
        assert!(matches!(from_listener, KafkaError::IllegalState(_)));
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}
