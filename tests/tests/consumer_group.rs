//! The consumer in a group, against whichever cluster `TestCluster` picks (the dev broker, or a
//! real Kafka with `KRAFTY_TEST_BOOTSTRAP`): eager and cooperative rebalances and their listener
//! calls, commits from the revoke callback, hand-overs, `max.poll.interval.ms`, static
//! membership, auto commit on close, and `poll` returning by its timeout while the group
//! rebalances. Resuming across a broker restart is in `consumer_restart.rs` (a restart would
//! disturb the tests running beside it here).
//!
//! Every test creates its own topics (`unique_topic`, `create_topic`) and groups, since a real
//! Kafka keeps both between runs.

mod common_consumer;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common_consumer::*;
use krafty::consumer::OffsetAndMetadata;
use krafty::TopicPartition;
use krafty_tests::{unique_topic, TestCluster};
use tokio::time::Instant;

/// The assignments of `members`, in order.
async fn assignments(members: &[Member]) -> Vec<Vec<TopicPartition>> {
    let mut out = Vec::new();
    for m in members {
        out.push(m.assignment().await);
    }
    out
}

/// Waits until each member holds `sizes[i]` partitions.
async fn wait_for_sizes(members: &[Member], sizes: &[usize], what: &str) {
    wait_until(GROUP_WAIT, what, || async move {
        let now: Vec<usize> = assignments(members).await.iter().map(Vec::len).collect();
        now == sizes
    })
    .await;
}

/// The range assignor's result for one topic: every member holds a run of consecutive
/// partitions, the runs are disjoint and cover the topic, and their sizes are `sizes`.
fn assert_range_split(assigned: &[Vec<TopicPartition>], topic: &str, total: i32, sizes: &[usize]) {
    let mut all = Vec::new();
    for a in assigned {
        assert!(a.iter().all(|tp| &*tp.topic == topic), "{assigned:?}");
        let ps: Vec<i32> = a.iter().map(|tp| tp.partition).collect();
        assert!(
            ps.windows(2).all(|w| w[1] == w[0] + 1),
            "range assigns consecutive partitions: {assigned:?}"
        );
        all.extend(ps);
    }
    all.sort();
    assert_eq!(all, (0..total).collect::<Vec<_>>(), "{assigned:?}");
    let mut got: Vec<usize> = assigned.iter().map(Vec::len).collect();
    let mut want = sizes.to_vec();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{assigned:?}");
}

/// The eager protocol's contract for one member's listener: it starts with an assignment,
/// then alternates revoke / assign, and every revocation gives up exactly everything the
/// previous assignment gave (revoked before the next assignment, never after).
fn assert_eager_order(events: &[Event], who: &str) {
    assert!(
        matches!(events.first(), Some(Event::Assigned(_))),
        "{who}: {events:?}"
    );
    for pair in events.windows(2) {
        match pair {
            [Event::Assigned(a), Event::Revoked(r)] => {
                assert_eq!(r, a, "{who} revokes all it held: {events:?}")
            }
            [Event::Revoked(_), Event::Assigned(_)] => {}
            _ => panic!("{who}: revoked and assigned must alternate: {events:?}"),
        }
    }
}

/// Records read by a member, per partition, from index `from` of its list on.
fn per_partition(records: &[Rec], from: usize) -> BTreeMap<i32, Vec<Rec>> {
    let mut out: BTreeMap<i32, Vec<Rec>> = BTreeMap::new();
    for r in &records[from..] {
        out.entry(r.0).or_default().push(r.clone());
    }
    out
}

/// What a member must have read of `partitions`: `offsets` of each, in order.
fn expect_per_partition(
    partitions: &[TopicPartition],
    offsets: std::ops::Range<i64>,
) -> BTreeMap<i32, Vec<Rec>> {
    partitions
        .iter()
        .map(|tp| (tp.partition, expected(tp.partition, offsets.clone())))
        .collect()
}

/// `partition -> offset` for every partition of `topic` in `partitions`.
fn offsets_of(
    topic: &str,
    partitions: &[TopicPartition],
    offset: i64,
) -> BTreeMap<TopicPartition, i64> {
    partitions
        .iter()
        .map(|p| (tp(topic, p.partition), offset))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_consumer_reads_every_partition_in_order_exactly_once() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("in-order");
        cluster.create_topic(&topic, 3, &[]).await;
        produce(&bs, &topic, 0..3, 0..100).await;
        let group = unique_topic("g-order");
        let c = consumer(&bs, Some(&group), &[]).await;
        c.subscribe(&[&topic], None).await.unwrap();
        let got = poll_n(&c, 300, GROUP_WAIT).await;
        for p in 0..3 {
            assert_eq!(
                of_partition(&got, p),
                expected(p, 0..100),
                "partition {p}: every record once, in offset order"
            );
        }
        assert_eq!(got.len(), 300);
        assert_quiet(&c, Duration::from_millis(500), "after the last record").await;
        assert_eq!(assignment(&c).await, tps(&topic, 0..3));
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// Eager rebalancing (range): members join one at a time; at each rebalance every member's
/// listener revokes all it holds before the new assignment arrives, and commits the revoked
/// positions from `on_partitions_revoked`. When a member leaves, its partitions go to the
/// others, who start exactly at the offsets committed in the revoke callbacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_rebalance_revokes_all_first_commits_in_the_callback_and_a_leaver_hands_over() {
    bounded(async {
        let cluster = TestCluster::start(6).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("eager");
        cluster.create_topic(&topic, 6, &[]).await;
        let group = unique_topic("g-eager");
        let mut members = Vec::new();
        let mut recorders = Vec::new();
        for n in 1..=3 {
            let c = consumer(
                &bs,
                Some(&group),
                &[("partition.assignment.strategy", "range")],
            )
            .await;
            let recorder = Recorder::committing();
            c.subscribe(&[&topic], recorder.boxed()).await.unwrap();
            members.push(Member::start(c));
            recorders.push(recorder);
            // The group settles before the next member joins: each join is one rebalance.
            let sizes: &[usize] = match n {
                1 => &[6],
                2 => &[3, 3],
                _ => &[2, 2, 2],
            };
            wait_for_sizes(&members, sizes, &format!("{n} members share 6 partitions")).await;
        }
        assert_eq!(recorders[0].events()[0], Event::Assigned(tps(&topic, 0..6)));
        let split = assignments(&members).await;
        assert_range_split(&split, &topic, 6, &[2, 2, 2]);
        // Nothing was read before those rebalances: what they committed (if anything) is 0.
        let before = committed(&cluster, &group).await;
        assert!(before.values().all(|o| *o == 0), "{before:?}");

        produce(&bs, &topic, 0..6, 0..10).await;
        let m = &members;
        wait_until(READ_WAIT, "the 60 records read", || async move {
            m.iter().map(|m| m.records().len()).sum::<usize>() == 60
        })
        .await;
        let mut read_before: Vec<usize> = members.iter().map(|m| m.records().len()).collect();
        for (m, assigned) in members.iter().zip(&split) {
            assert_eq!(
                per_partition(&m.records(), 0),
                expect_per_partition(assigned, 0..10),
                "each member reads its own partitions, in order"
            );
        }

        // The third member leaves: its revoke callback commits its positions; the two others
        // revoke everything (committing it) and split the six partitions anew.
        let leaver = members.pop().unwrap();
        let leaver_recorder = recorders.pop().unwrap();
        read_before.pop();
        leaver.close().await;
        wait_for_sizes(&members, &[3, 3], "the leaver's partitions handed over").await;
        let after = assignments(&members).await;
        assert_range_split(&after, &topic, 6, &[3, 3]);
        assert_eq!(
            committed(&cluster, &group).await,
            offsets_of(&topic, &tps(&topic, 0..6), 10),
            "every revoke callback committed its partitions' positions"
        );
        assert_eq!(
            leaver_recorder.events().last(),
            Some(&Event::Revoked(split[2].clone())),
            "the leaver revokes on close"
        );
        assert_eager_order(&leaver_recorder.events(), "the leaver");
        for (i, r) in recorders.iter().enumerate() {
            let events = r.events();
            assert_eager_order(&events, &format!("member {i}"));
            let n = events.len();
            assert_eq!(
                events[n - 2..],
                [
                    Event::Revoked(split[i].clone()),
                    Event::Assigned(after[i].clone())
                ],
                "member {i}: the hand-over"
            );
        }

        // The new owners start at the committed offsets: nothing is read twice.
        produce(&bs, &topic, 0..6, 10..15).await;
        let m = &members;
        let rb = &read_before;
        wait_until(READ_WAIT, "the 30 new records read", || async move {
            m.iter().map(|m| m.records().len()).sum::<usize>() == rb.iter().sum::<usize>() + 30
        })
        .await;
        for (i, m) in members.iter().enumerate() {
            assert_eq!(
                per_partition(&m.records(), read_before[i]),
                expect_per_partition(&after[i], 10..15),
                "member {i} after the hand-over"
            );
        }
        for m in members {
            m.close().await;
        }
        assert_eq!(
            committed(&cluster, &group).await,
            offsets_of(&topic, &tps(&topic, 0..6), 15),
            "closing revokes, and the callbacks commit"
        );
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// Cooperative rebalancing (cooperative-sticky), in a group made only of Krafty members: when
/// a second member joins, the first revokes only the partitions that move (committing them in
/// the callback) and keeps reading the others without a revocation; the newcomer starts at
/// the committed offsets; when it leaves, its partitions come back without anything else
/// being revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_rebalance_revokes_only_what_moves() {
    bounded(async {
        let cluster = TestCluster::start(6).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("coop");
        cluster.create_topic(&topic, 6, &[]).await;
        let group = unique_topic("g-coop");
        let cooperative = [("partition.assignment.strategy", "cooperative-sticky")];
        let all = tps(&topic, 0..6);

        let a_recorder = Recorder::committing();
        let a = consumer(&bs, Some(&group), &cooperative).await;
        a.subscribe(&[&topic], a_recorder.boxed()).await.unwrap();
        let a = Member::start(a);
        let ma = std::slice::from_ref(&a);
        wait_for_sizes(ma, &[6], "the first member holds all 6").await;
        produce(&bs, &topic, 0..6, 0..10).await;
        let ar = &a;
        wait_until(READ_WAIT, "the first member reads 60", || async move {
            ar.records().len() == 60
        })
        .await;
        assert_eq!(
            per_partition(&a.records(), 0),
            expect_per_partition(&all, 0..10)
        );

        let b_recorder = Recorder::committing();
        let b = consumer(&bs, Some(&group), &cooperative).await;
        b.subscribe(&[&topic], b_recorder.boxed()).await.unwrap();
        let mut members = vec![a, Member::start(b)];
        wait_for_sizes(&members, &[3, 3], "two members, three partitions each").await;
        let split = assignments(&members).await;
        let (kept, moved) = (split[0].clone(), split[1].clone());
        let union: BTreeSet<_> = kept.iter().chain(&moved).cloned().collect();
        assert_eq!(union.into_iter().collect::<Vec<_>>(), all);
        assert_eq!(
            a_recorder.changes(),
            [Event::Assigned(all.clone()), Event::Revoked(moved.clone())],
            "only the partitions that move are revoked"
        );
        assert_eq!(b_recorder.changes(), [Event::Assigned(moved.clone())]);
        assert_eq!(
            committed(&cluster, &group).await,
            offsets_of(&topic, &moved, 10),
            "the revoke callback committed the moved partitions (and nothing else was committed)"
        );

        produce(&bs, &topic, 0..6, 10..15).await;
        let m = &members;
        wait_until(READ_WAIT, "the 30 new records read", || async move {
            m[0].records().len() == 60 + 15 && m[1].records().len() == 15
        })
        .await;
        assert_eq!(
            per_partition(&members[0].records(), 60),
            expect_per_partition(&kept, 10..15)
        );
        assert_eq!(
            per_partition(&members[1].records(), 0),
            expect_per_partition(&moved, 10..15),
            "the newcomer starts at the offsets committed in the revoke callback"
        );

        // The second member leaves: its partitions come back; nothing else is revoked.
        let b = members.pop().unwrap();
        b.close().await;
        wait_for_sizes(&members, &[6], "the leaver's partitions handed back").await;
        assert_eq!(members[0].assignment().await, all);
        assert_eq!(
            a_recorder.changes(),
            [
                Event::Assigned(all.clone()),
                Event::Revoked(moved.clone()),
                Event::Assigned(moved.clone())
            ]
        );
        assert_eq!(
            b_recorder.changes(),
            [
                Event::Assigned(moved.clone()),
                Event::Revoked(moved.clone())
            ],
            "the leaver revokes what it holds on close"
        );
        assert_eq!(
            committed(&cluster, &group).await,
            offsets_of(&topic, &moved, 15)
        );
        produce(&bs, &topic, 0..6, 15..16).await;
        let m = &members;
        wait_until(READ_WAIT, "the 6 newest records read", || async move {
            m[0].records().len() == 60 + 15 + 6
        })
        .await;
        assert_eq!(
            per_partition(&members[0].records(), 75),
            expect_per_partition(&all, 15..16)
        );
        members.pop().unwrap().close().await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// `max.poll.interval.ms`: a member that stops calling `poll` leaves the group (its heartbeats
/// alone do not keep it in), its partition goes to the member still polling, which starts at
/// the offset the slow one committed; when the slow one polls again its listener is told the
/// partition was lost (not revoked), as the Java client does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_loses_its_partitions() {
    bounded(async {
        let cluster = TestCluster::start(2).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("slow");
        cluster.create_topic(&topic, 2, &[]).await;
        let group = unique_topic("g-slow");
        let props = [("max.poll.interval.ms", "3000")];
        let fast = consumer(&bs, Some(&group), &props).await;
        // It commits what it revokes, so the rebalances re-read nothing of its own partition.
        fast.subscribe(&[&topic], Recorder::committing().boxed())
            .await
            .unwrap();
        let fast = Member::start(fast);
        let slow_recorder = Recorder::default();
        let slow = consumer(&bs, Some(&group), &props).await;
        slow.subscribe(&[&topic], slow_recorder.boxed())
            .await
            .unwrap();
        // Both poll until the group is balanced.
        let (s, f) = (&slow, &fast);
        wait_until(GROUP_WAIT, "one partition each", || async move {
            let got = poll_once(s, Duration::from_millis(100)).await.unwrap();
            assert!(got.is_empty(), "nothing was produced yet: {got:?}");
            assignment(s).await.len() == 1 && f.assignment().await.len() == 1
        })
        .await;
        let x = assignment(&slow).await[0].clone();
        let y = fast.assignment().await[0].clone();
        // Whoever joined first held both partitions for a while: what matters is the last call.
        let settled = slow_recorder.events();
        assert_eq!(settled.last(), Some(&Event::Assigned(vec![x.clone()])));

        produce(&bs, &topic, 0..2, 0..10).await;
        assert_eq!(
            poll_n(&slow, 10, READ_WAIT).await,
            expected(x.partition, 0..10)
        );
        wait_until(READ_WAIT, "the poller reads its 10", || async move {
            f.records().len() == 10
        })
        .await;
        assert_eq!(fast.records(), expected(y.partition, 0..10));
        slow.commit_offsets(BTreeMap::from([(x.clone(), OffsetAndMetadata::new(6))]))
            .await
            .unwrap();

        // `slow` stops polling: after 3 s it must leave, and `fast` takes its partition over.
        wait_for_sizes(
            std::slice::from_ref(&fast),
            &[2],
            "the poller holds both partitions",
        )
        .await;
        assert_eq!(fast.assignment().await, tps(&topic, 0..2));
        wait_until(READ_WAIT, "the poller reads the rest", || async move {
            f.records().len() == 14
        })
        .await;
        assert_eq!(
            of_partition(&fast.records(), x.partition),
            expected(x.partition, 6..10),
            "the taker starts at the offset the slow member committed"
        );
        assert_eq!(
            of_partition(&fast.records(), y.partition),
            expected(y.partition, 0..10)
        );
        assert_eq!(
            slow_recorder.events(),
            settled,
            "not polling, it was told nothing"
        );
        // Polling again, the slow member learns its partition was lost.
        let (sr, settled_len) = (&slow_recorder, settled.len());
        wait_until(
            GROUP_WAIT,
            "the slow member told of the loss",
            || async move {
                poll_once(s, Duration::from_millis(100)).await.unwrap();
                sr.events().len() > settled_len
            },
        )
        .await;
        assert_eq!(
            slow_recorder.events()[settled.len()],
            Event::Lost(vec![x.clone()]),
            "lost, not revoked: another member may own it already"
        );
        close(&slow).await;
        fast.close().await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// Static membership (`group.instance.id`, KIP-345): a static member that closes does not
/// leave; restarted under the same instance id it gets a new member id, the same generation
/// (no rebalance) and its partitions back at their committed offsets. A dynamic member joining
/// does rebalance (once the closed static member's session expired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarts_without_a_rebalance() {
    bounded(async {
        let cluster = TestCluster::start(2).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("static");
        cluster.create_topic(&topic, 2, &[]).await;
        let group = unique_topic("g-static");
        produce(&bs, &topic, 0..2, 0..5).await;
        let both = tps(&topic, 0..2);
        let static_props = [("group.instance.id", "instance-a")];
        let admin = cluster.admin().await;

        let a = consumer(&bs, Some(&group), &static_props).await;
        a.subscribe(&[&topic], None).await.unwrap();
        let got = poll_n(&a, 10, GROUP_WAIT).await;
        assert_eq!(of_partition(&got, 0), expected(0, 0..5));
        assert_eq!(of_partition(&got, 1), expected(1, 0..5));
        assert_eq!(assignment(&a).await, both);
        a.commit_sync().await.unwrap();
        let before = a.group_metadata().unwrap();
        assert_eq!(before.group_instance_id.as_deref(), Some("instance-a"));
        close(&a).await;
        // Closed, the static member is still the group's (no LeaveGroup).
        let described = admin.describe_consumer_group(&group).await.unwrap();
        assert_eq!(described.state, "Stable");
        assert_eq!(
            described
                .members
                .iter()
                .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
                .collect::<Vec<_>>(),
            [(before.member_id.clone(), Some("instance-a".to_string()))]
        );

        produce(&bs, &topic, 0..2, 5..6).await;
        let recorder = Recorder::default();
        let a2 = consumer(&bs, Some(&group), &static_props).await;
        a2.subscribe(&[&topic], recorder.boxed()).await.unwrap();
        let mut got = poll_n(&a2, 2, GROUP_WAIT).await;
        got.sort();
        assert_eq!(
            got,
            [expected(0, 5..6), expected(1, 5..6)].concat(),
            "the restarted instance resumes at the committed offsets"
        );
        assert_eq!(recorder.events(), [Event::Assigned(both.clone())]);
        let after = a2.group_metadata().unwrap();
        assert_eq!(
            after.generation_id, before.generation_id,
            "no new generation"
        );
        assert_ne!(after.member_id, before.member_id);
        let described = admin.describe_consumer_group(&group).await.unwrap();
        assert_eq!(
            described
                .members
                .iter()
                .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
                .collect::<Vec<_>>(),
            [(after.member_id.clone(), Some("instance-a".to_string()))],
            "the new member id replaced the old one"
        );
        a2.commit_sync().await.unwrap();
        close(&a2).await;

        // A dynamic member joining rebalances: the group waits for the static member's session
        // (6 s) to expire, then the newcomer holds both partitions in a new generation.
        let b = consumer(&bs, Some(&group), &[]).await;
        b.subscribe(&[&topic], None).await.unwrap();
        let bb = &b;
        wait_until(GROUP_WAIT, "the dynamic member holds both", || async move {
            let got = poll_once(bb, Duration::from_millis(500)).await.unwrap();
            assert!(got.is_empty(), "everything was committed: {got:?}");
            assignment(bb).await.len() == 2
        })
        .await;
        assert_eq!(
            b.group_metadata().unwrap().generation_id,
            before.generation_id + 1,
            "one rebalance, one new generation"
        );
        let described = admin.describe_consumer_group(&group).await.unwrap();
        assert_eq!(described.members.len(), 1);
        assert_eq!(described.members[0].group_instance_id, None);
        close(&b).await;
        admin.close().await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// With `enable.auto.commit=true`, `close` commits the position: exactly past the records
/// `poll` returned (not the ones fetched and still buffered), and nothing before (the
/// interval is 10 minutes); the group's next member starts there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_commit_on_close_commits_exactly_the_position() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("auto-commit");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..10).await;
        let group = unique_topic("g-auto-commit");
        let auto = [
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "600000"),
        ];
        let c = consumer(&bs, Some(&group), &auto).await;
        c.subscribe(&[&topic], None).await.unwrap();
        assert_eq!(take_exactly(&c, 7, GROUP_WAIT).await, expected(0, 0..7));
        assert_eq!(committed(&cluster, &group).await, BTreeMap::new());
        close(&c).await;
        assert_eq!(
            committed(&cluster, &group).await,
            BTreeMap::from([(tp(&topic, 0), 7)])
        );
        let next = consumer(&bs, Some(&group), &[]).await;
        next.subscribe(&[&topic], None).await.unwrap();
        assert_eq!(poll_n(&next, 3, GROUP_WAIT).await, expected(0, 7..10));
        assert_quiet(&next, Duration::from_millis(500), "after offset 9").await;
        close(&next).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// `poll(timeout)` returns by its timeout while a rebalance waits for another member (the
/// join goes on in the background, as the Java client's does), and picks the assignment up
/// later; the partition that moved starts at its committed offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_returns_by_its_timeout_while_the_group_rebalances() {
    bounded(async {
        let cluster = TestCluster::start(2).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("settle");
        cluster.create_topic(&topic, 2, &[]).await;
        produce(&bs, &topic, 0..2, 0..5).await;
        let group = unique_topic("g-settle");
        // `a` will not rejoin promptly: the group may wait for it up to its 30 s rebalance timeout.
        let slow_rejoin = [
            ("max.poll.interval.ms", "30000"),
            ("session.timeout.ms", "30000"),
        ];
        let a = consumer(&bs, Some(&group), &slow_rejoin).await;
        a.subscribe(&[&topic], None).await.unwrap();
        let mut got = poll_n(&a, 10, GROUP_WAIT).await;
        got.sort();
        assert_eq!(got, [expected(0, 0..5), expected(1, 0..5)].concat());
        a.commit_sync().await.unwrap();

        let b = consumer(&bs, Some(&group), &slow_rejoin).await;
        b.subscribe(&[&topic], None).await.unwrap();
        let admin = cluster.admin().await;
        for _ in 0..3 {
            let started = Instant::now();
            assert_eq!(poll_once(&b, Duration::from_millis(300)).await.unwrap(), []);
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "poll(300 ms) returned after {:?}",
                started.elapsed()
            );
            assert_eq!(assignment(&b).await, []);
        }
        // The group is indeed waiting for `a`, which still holds both partitions.
        let ad = &admin;
        let g = group.as_str();
        wait_until(GROUP_WAIT, "the group rebalancing", || async move {
            ad.describe_consumer_group(g).await.unwrap().state == "PreparingRebalance"
        })
        .await;
        assert_eq!(assignment(&a).await, tps(&topic, 0..2));

        // Once `a` polls (and rejoins), the group settles with one partition each.
        let (aa, bb) = (&a, &b);
        wait_until(GROUP_WAIT, "one partition each", || async move {
            assert_eq!(poll_once(aa, Duration::from_millis(100)).await.unwrap(), []);
            assert_eq!(poll_once(bb, Duration::from_millis(100)).await.unwrap(), []);
            (assignment(aa).await.len(), assignment(bb).await.len()) == (1, 1)
        })
        .await;
        let (pa, pb) = (
            assignment(&a).await[0].partition,
            assignment(&b).await[0].partition,
        );
        produce(&bs, &topic, 0..2, 5..6).await;
        assert_eq!(poll_n(&a, 1, READ_WAIT).await, expected(pa, 5..6));
        assert_eq!(
            poll_n(&b, 1, READ_WAIT).await,
            expected(pb, 5..6),
            "the moved partition starts at its committed offset"
        );
        close(&a).await;
        close(&b).await;
        admin.close().await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// A coordinator that moves or is loading (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
/// COORDINATOR_LOAD_IN_PROGRESS on join, offset fetch, heartbeat and commit) is looked up again
/// and the group carries on: same generation, every record once, commits land.
///
/// Needs injected faults: runs on the dev broker only, and returns early on a real Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_follows_a_coordinator_that_moves() {
    bounded(async {
        const OFFSET_COMMIT: i16 = 8;
        const OFFSET_FETCH: i16 = 9;
        const JOIN_GROUP: i16 = 11;
        const HEARTBEAT: i16 = 12;
        let cluster = TestCluster::start(2).await;
        let Some(faults) = cluster.faults() else {
            eprintln!("skipped on a real Kafka: needs the dev broker's fault injection");
            return;
        };
        let bs = cluster.bootstrap();
        let topic = unique_topic("failover");
        cluster.create_topic(&topic, 2, &[]).await;
        produce(&bs, &topic, 0..2, 0..10).await;
        let group = unique_topic("g-failover");
        faults.fail_next(JOIN_GROUP, 16, 1, None, None);
        faults.fail_next(OFFSET_FETCH, 14, 1, None, None);
        let c = consumer(&bs, Some(&group), &[]).await;
        c.subscribe(&[&topic], None).await.unwrap();
        let mut got = poll_n(&c, 20, GROUP_WAIT).await;
        got.sort();
        assert_eq!(got, [expected(0, 0..10), expected(1, 0..10)].concat());
        assert_eq!(
            faults.errors_fired(),
            2,
            "the join and the offset fetch failed once"
        );
        let generation = c.group_metadata().unwrap().generation_id;

        faults.fail_next(HEARTBEAT, 16, 3, None, None);
        faults.fail_next(OFFSET_COMMIT, 15, 2, None, None);
        c.commit_sync().await.unwrap();
        let cc = &c;
        wait_until(READ_WAIT, "the heartbeat faults fired", || async move {
            assert_eq!(poll_once(cc, Duration::from_millis(150)).await.unwrap(), []);
            faults.errors_pending() == 0
        })
        .await;
        assert_eq!(faults.errors_fired(), 7);
        assert_quiet(&c, Duration::from_millis(600), "no record twice").await;
        assert_eq!(
            c.group_metadata().unwrap().generation_id,
            generation,
            "no rebalance"
        );
        assert_eq!(assignment(&c).await, tps(&topic, 0..2));
        assert_eq!(
            committed(&cluster, &group).await,
            offsets_of(&topic, &tps(&topic, 0..2), 10)
        );
        close(&c).await;
        cluster.stop().await;
    })
    .await
}

/// A group whose committed offset fell below the log start (retention or DeleteRecords moved
/// it) is reset by `auto.offset.reset`, as in the Java client: the fetch at the committed
/// offset answers OFFSET_OUT_OF_RANGE, and the position goes to the log start (earliest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_offset_below_the_log_start_is_reset_by_the_policy() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("below-start");
        cluster.create_topic(&topic, 1, &[]).await;
        produce(&bs, &topic, 0..1, 0..10).await;
        let group = unique_topic("g-below-start");
        let t = tp(&topic, 0);
        let admin = cluster.admin().await;
        admin
            .alter_consumer_group_offsets(&group, &BTreeMap::from([(t.clone(), 3)]))
            .await
            .unwrap();
        admin
            .delete_records(&BTreeMap::from([(t.clone(), 6)]))
            .await
            .unwrap();
        assert_eq!(
            admin
                .list_offsets(
                    std::slice::from_ref(&t),
                    krafty::admin::OffsetSpec::Earliest
                )
                .await
                .unwrap()[&t],
            6
        );
        let c = consumer(&bs, Some(&group), &[]).await;
        c.subscribe(&[&topic], None).await.unwrap();
        assert_eq!(
            poll_n(&c, 4, GROUP_WAIT).await,
            expected(0, 6..10),
            "reset to the log start, not stuck at the committed 3"
        );
        close(&c).await;
        admin.close().await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// A `poll` longer than `max.poll.interval.ms` on an idle topic is still polling: the member
/// keeps its membership (same member id and generation, nothing revoked or lost), as in the
/// Java client, whose poll never waits past the time its next poll is due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_on_an_idle_topic_keeps_the_membership() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let bs = cluster.bootstrap();
        let topic = unique_topic("idle");
        cluster.create_topic(&topic, 1, &[]).await;
        let group = unique_topic("g-idle");
        let recorder = Recorder::default();
        let c = consumer(&bs, Some(&group), &[("max.poll.interval.ms", "6000")]).await;
        c.subscribe(&[&topic], recorder.boxed()).await.unwrap();
        let cc = &c;
        wait_until(GROUP_WAIT, "assigned", || async move {
            assert_eq!(poll_once(cc, Duration::from_millis(100)).await.unwrap(), []);
            assignment(cc).await.len() == 1
        })
        .await;
        let before = c.group_metadata().unwrap();
        assert_eq!(poll_once(&c, Duration::from_secs(15)).await.unwrap(), []);
        let after = c.group_metadata().unwrap();
        assert_eq!(
            (after.generation_id, after.member_id),
            (before.generation_id, before.member_id),
            "still the same member of the same generation"
        );
        assert_eq!(recorder.events(), [Event::Assigned(tps(&topic, 0..1))]);
        close(&c).await;
        delete_topics(&cluster, &[&topic]).await;
        cluster.stop().await;
    })
    .await
}

/// A heartbeat answered UNKNOWN_MEMBER_ID (the coordinator forgot the member, as after a
/// session timeout it did not see): the member's partitions are lost, not revoked (another
/// member may own them already), and it rejoins and gets them back. Needs the dev broker's
/// fault injection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_the_coordinator_forgot_is_told_its_partitions_were_lost() {
    bounded(async {
        let cluster = TestCluster::start(2).await;
        let Some(faults) = cluster.faults() else {
            eprintln!("skipped: needs the dev broker's fault injection");
            return;
        };
        let bs = cluster.bootstrap();
        let topic = unique_topic("forgotten");
        cluster.create_topic(&topic, 2, &[]).await;
        let recorder = Recorder::default();
        let c = consumer(
            &bs,
            Some(&unique_topic("g-forgotten")),
            &[("heartbeat.interval.ms", "200")],
        )
        .await;
        c.subscribe(&[&topic], recorder.boxed()).await.unwrap();
        let r = &recorder;
        let cr = &c;
        wait_until(GROUP_WAIT, "assigned", || async move {
            poll_once(cr, Duration::from_millis(100)).await.unwrap();
            !r.events().is_empty()
        })
        .await;
        faults.fail_next(12, 25, 1, None, None); // Heartbeat: UNKNOWN_MEMBER_ID
        wait_until(GROUP_WAIT, "lost, then assigned again", || async move {
            poll_once(cr, Duration::from_millis(100)).await.unwrap();
            r.events().len() >= 3
        })
        .await;
        let all = tps(&topic, 0..2);
        assert_eq!(
            recorder.events(),
            vec![
                Event::Assigned(all.clone()),
                Event::Lost(all.clone()),
                Event::Assigned(all)
            ]
        );
        close(&c).await;
        cluster.stop().await;
    })
    .await
}
