//! Transactions across a broker restart. A binary of its own: a restart disrupts every client
//! of the broker, so nothing else may run beside it.
//!
//! An open transaction survives a restart on both brokers (a real Kafka restarts through
//! `KRAFTY_TEST_RESTART_CMD`). On the dev broker a restart also finishes transactions whose
//! end was interrupted after the coordinator's Prepare record: the test writes that record
//! itself while the broker is down, in Kafka's `__transaction_state` layout.

use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::RecordBatchDecoder;
use krafty::producer::{KafkaProducer, ProducerRecord};
use krafty_broker::log::{internal_batch, now_ms, LogConfig, PartitionLog};
use krafty_tests::clients::{isolated_consumer, transactional, values_until_quiet};
use krafty_tests::{unique_topic, within, TestCluster};

/// A broker restart with a transaction open: after it, the open transaction still holds
/// read_committed consumers back (its state and the partition's open transaction are restored
/// from the logs), a new instance of the producer aborts it, and committed data from before
/// and after the restart is all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_survives_a_broker_restart() {
    let mut cluster = TestCluster::start(1).await;
    let bs = cluster.bootstrap();
    let topic = unique_topic("txn-restart");
    cluster.create_topic(&topic, 1, &[]).await;
    let id = unique_topic("txn-restart-id");
    let before = transactional(&bs, &id).await;
    within(60, "init", before.init_transactions())
        .await
        .unwrap();
    before.begin_transaction().unwrap();
    before
        .send(ProducerRecord::new(topic.clone(), "committed".to_string()))
        .await
        .unwrap();
    within(60, "commit", before.commit_transaction())
        .await
        .unwrap();
    before.begin_transaction().unwrap();
    let f = before
        .send(ProducerRecord::new(topic.clone(), "open".to_string()))
        .await
        .unwrap();
    within(30, "the open transaction's record", f)
        .await
        .unwrap();
    if !cluster.restart().await {
        eprintln!("skipped: this cluster cannot be restarted from here");
        return;
    }
    let plain: KafkaProducer<String, String> =
        krafty_tests::clients::string_producer(&bs, &[]).await;
    let f = plain
        .send(ProducerRecord::new(topic.clone(), "plain".to_string()))
        .await
        .unwrap();
    within(60, "a record after the restart", f).await.unwrap();
    let c = isolated_consumer(&bs, &unique_topic("g-restart"), "read_committed").await;
    assert_eq!(
        values_until_quiet(&c, &topic, Duration::from_secs(3)).await,
        vec!["committed".to_string()],
        "the open transaction still holds the last stable offset"
    );
    c.close().await.unwrap();

    let after = transactional(&bs, &id).await;
    within(60, "init after the restart", after.init_transactions())
        .await
        .unwrap();
    after.begin_transaction().unwrap();
    after
        .send(ProducerRecord::new(topic.clone(), "new".to_string()))
        .await
        .unwrap();
    within(60, "commit after the restart", after.commit_transaction())
        .await
        .unwrap();
    let c = isolated_consumer(&bs, &unique_topic("g-restart-2"), "read_committed").await;
    assert_eq!(
        values_until_quiet(&c, &topic, Duration::from_secs(3)).await,
        vec!["committed", "plain", "new"],
        "the open transaction was aborted by the new instance"
    );
    let r = isolated_consumer(&bs, &unique_topic("g-restart-3"), "read_uncommitted").await;
    assert_eq!(
        values_until_quiet(&r, &topic, Duration::from_secs(3)).await,
        vec!["committed", "open", "plain", "new"]
    );
    c.close().await.unwrap();
    r.close().await.unwrap();
    plain.close(Duration::from_secs(10)).await.unwrap();
    after.close(Duration::from_secs(10)).await.unwrap();
    let _ = before.close(Duration::from_secs(5)).await;
    cluster.stop().await;
}

/// Kafka's TransactionLogKey v0 for `id`: version 0, then the id as an i16-length string.
fn transaction_log_key(id: &str) -> Bytes {
    let mut k = BytesMut::new();
    k.extend_from_slice(&0i16.to_be_bytes());
    k.extend_from_slice(&(id.len() as i16).to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k.freeze()
}

/// While the dev broker is down: the coordinator's last record for `id` (Ongoing) is written
/// again as `status` (2 PrepareCommit, 3 PrepareAbort), as if the broker had died right after
/// writing it. In TransactionLogValue v0 the status byte follows the version (2 bytes),
/// producer id (8), epoch (2) and timeout (4).
fn write_prepare(data_dir: &Path, id: &str, status: u8) {
    let partition = krafty_broker::topics::coordinator_partition(id, 50);
    let dir = data_dir.join(format!("__transaction_state-{partition}"));
    let mut log = PartitionLog::open(Some(&dir), LogConfig::default()).unwrap();
    let mut bytes = log.read(log.log_start_offset(), usize::MAX, true).unwrap();
    let key = transaction_log_key(id);
    let last = RecordBatchDecoder::decode_all(&mut bytes)
        .unwrap()
        .into_iter()
        .flat_map(|s| s.records)
        .filter(|r| r.key.as_ref() == Some(&key))
        .last()
        .expect("the coordinator recorded this transactional id");
    let mut value = BytesMut::from(&last.value.expect("not a tombstone")[..]);
    assert_eq!(
        value[16], 1,
        "the transaction is Ongoing (status 1) before the restart"
    );
    value[16] = status;
    let now = now_ms();
    log.append_internal(
        internal_batch([(key, Some(value.freeze()))], None, now),
        now,
    )
    .unwrap();
    log.flush().unwrap();
}

/// A broker that died between a transaction's Prepare record and its markers finishes the
/// transaction when it starts: PrepareCommit's records become visible to read_committed,
/// PrepareAbort's never do (read_uncommitted sees both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_interrupted_after_its_prepare_record_is_finished_on_start() {
    let mut cluster = TestCluster::start(1).await;
    if !cluster.is_embedded() {
        eprintln!("skipped: writes the dev broker's __transaction_state while it is down");
        return;
    }
    let bs = cluster.bootstrap();
    let topic = unique_topic("txn-prepared");
    cluster.create_topic(&topic, 1, &[]).await;
    let (commit_id, abort_id) = (unique_topic("txn-commit"), unique_topic("txn-abort"));
    let mut producers = Vec::new();
    for (id, value) in [(&commit_id, "to-commit"), (&abort_id, "to-abort")] {
        let p = transactional(&bs, id).await;
        within(60, "init", p.init_transactions()).await.unwrap();
        p.begin_transaction().unwrap();
        let f = p
            .send(ProducerRecord::new(topic.clone(), value.to_string()))
            .await
            .unwrap();
        within(30, "written", f).await.unwrap();
        producers.push(p);
    }
    assert!(
        cluster
            .restart_with(|dir| {
                write_prepare(dir, &commit_id, 2);
                write_prepare(dir, &abort_id, 3);
            })
            .await
    );
    let c = isolated_consumer(&bs, &unique_topic("g-prepared"), "read_committed").await;
    assert_eq!(
        values_until_quiet(&c, &topic, Duration::from_secs(3)).await,
        vec!["to-commit"],
        "PrepareCommit was committed on start, PrepareAbort aborted"
    );
    let r = isolated_consumer(&bs, &unique_topic("g-prepared-2"), "read_uncommitted").await;
    assert_eq!(
        values_until_quiet(&r, &topic, Duration::from_secs(3)).await,
        vec!["to-commit", "to-abort"]
    );
    c.close().await.unwrap();
    r.close().await.unwrap();
    for p in producers {
        let _ = p.close(Duration::from_secs(5)).await;
    }
    cluster.stop().await;
}
