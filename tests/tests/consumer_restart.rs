//! A group resumes at its committed offsets across a broker restart. A test binary of its
//! own: restarting the broker (a real Kafka through `KRAFTY_TEST_RESTART_CMD`) would disturb
//! any test running beside it.

mod common_consumer;

use std::collections::BTreeMap;
use std::time::Duration;

use common_consumer::*;
use krafty_tests::{unique_topic, TestCluster};

/// `commit_sync` commits the next offset to read; a new member of the group resumes there,
/// also after the broker restarted (the dev broker restarts in process; a real Kafka only when
/// `KRAFTY_TEST_RESTART_CMD` is set, otherwise the restart is skipped and the rest still runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_close_restart_resumes_at_the_committed_offset() {
    bounded(async {
        let mut cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("resume");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..50).await;
        let group = unique_topic("g-resume");
        let c = consumer(&bs, Some(&group), &[]).await;
        c.subscribe(&[&topic], None).await.unwrap();
        assert_eq!(take_exactly(&c, 20, GROUP_WAIT).await, expected(0, 0..20));
        c.commit_sync().await.unwrap();
        let t = tp(&topic, 0);
        assert_eq!(
            c.committed(std::slice::from_ref(&t)).await.unwrap()[&t].offset,
            20,
            "a commit is the next offset to read"
        );
        close(&c).await;
        if !cluster.restart().await {
            eprintln!("this cluster cannot be restarted from here: resuming without a restart");
        }
        assert_eq!(
            committed(&cluster, &group).await,
            BTreeMap::from([(t.clone(), 20)])
        );
        let c = consumer(&bs, Some(&group), &[]).await;
        c.subscribe(&[&topic], None).await.unwrap();
        assert_eq!(poll_n(&c, 30, GROUP_WAIT).await, expected(0, 20..50));
        assert_quiet(&c, Duration::from_millis(500), "after offset 49").await;
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}
