//! The coordinator's state machine, driven through its request API with paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;

use super::requests::sb;
use super::*;
use crate::log::{LogConfig, PartitionLog};

fn logs(n: usize) -> Vec<SharedLog> {
    (0..n)
        .map(|_| {
            Arc::new(Mutex::new(
                PartitionLog::open(None, LogConfig::default()).unwrap(),
            ))
        })
        .collect()
}

fn coordinator(offsets: Vec<SharedLog>) -> Arc<GroupCoordinator> {
    with_delay(offsets, 0)
}

fn with_delay(offsets: Vec<SharedLog>, initial_rebalance_delay_ms: i32) -> Arc<GroupCoordinator> {
    let config = GroupConfig {
        offsets_topic_num_partitions: offsets.len() as i32,
        initial_rebalance_delay_ms,
        ..GroupConfig::default()
    };
    GroupCoordinator::new(config, offsets, Arc::new(|t: &str, _| t != "missing"))
}

fn join(member: &str, instance: Option<&str>) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(5_000)
        .with_member_id(sb(member))
        .with_group_instance_id(instance.map(sb))
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(sb("range"))
            .with_metadata(Bytes::from_static(b"m"))])
}

fn client() -> ClientInfo {
    ClientInfo {
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
    }
}

/// The KIP-394 round trip: the first join returns a member id to rejoin with.
async fn member_id(c: &GroupCoordinator) -> String {
    let r = c.join_group(join("", None), 7, client()).await;
    assert_eq!(r.error_code, 79, "MEMBER_ID_REQUIRED");
    r.member_id.to_string()
}

fn heartbeat(member: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_member_id(sb(member))
        .with_generation_id(generation)
}

fn sync(member: &str, generation: i32, assignments: &[(&str, &'static [u8])]) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_member_id(sb(member))
        .with_generation_id(generation)
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(sb(m))
                        .with_assignment(Bytes::from_static(a))
                })
                .collect(),
        )
}

#[test]
fn partition_for_matches_java_string_hash() {
    // "abc".hashCode() == 96354 (96354 % 50 == 4; % 100000 keeps it whole);
    // "polygenelubricants".hashCode() == i32::MIN, which Utils.abs maps to 0.
    assert_eq!(crate::topics::coordinator_partition("abc", 100_000), 96354);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = coordinator(logs(50));
        assert_eq!(c.partition_for("abc"), 4);
        assert_eq!(
            c.partition_for("polygenelubricants"),
            0,
            "Utils.abs(MIN_VALUE) is 0"
        );
    });
}

#[tokio::test(start_paused = true)]
async fn three_members_join_sync_heartbeat_and_one_expires() {
    // The initial delay gathers the three joiners into one first generation.
    let c = with_delay(logs(1), 100);
    let ids = [
        member_id(&c).await,
        member_id(&c).await,
        member_id(&c).await,
    ];
    let responses = join_all(&c, &ids).await;
    let generation = responses[0].generation_id;
    assert!(responses
        .iter()
        .all(|r| r.error_code == 0 && r.generation_id == generation));
    let leader = responses[0].leader.to_string();
    let leaders: Vec<_> = responses.iter().filter(|r| r.members.len() == 3).collect();
    assert_eq!(leaders.len(), 1, "only the leader gets the member list");
    assert_eq!(leaders[0].member_id.as_str(), leader);
    // Followers' syncs wait for the leader's assignment.
    let followers: Vec<&String> = ids.iter().filter(|id| **id != leader).collect();
    let f0 = tokio::spawn({
        let c = c.clone();
        let id = followers[0].clone();
        async move { c.sync_group(sync(&id, generation, &[]), 5).await }
    });
    tokio::task::yield_now().await;
    let assignments: Vec<(&str, &'static [u8])> = vec![
        (ids[0].as_str(), b"a0"),
        (ids[1].as_str(), b"a1"),
        (ids[2].as_str(), b"a2"),
    ];
    let lr = c
        .sync_group(sync(&leader, generation, &assignments), 5)
        .await;
    assert_eq!(lr.error_code, 0);
    let fr = f0.await.unwrap();
    let idx = ids.iter().position(|i| i == followers[0]).unwrap();
    assert_eq!(fr.assignment.as_ref(), assignments[idx].1);
    // Heartbeats keep two members alive; the third goes silent and expires.
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for id in &ids[..2] {
            let code = c.heartbeat(heartbeat(id, generation), 4).await.error_code;
            if code != 0 {
                assert_eq!(
                    code, 27,
                    "REBALANCE_IN_PROGRESS once the silent member expired"
                );
            }
        }
    }
    assert_eq!(
        c.heartbeat(heartbeat(&ids[2], generation), 4)
            .await
            .error_code,
        25,
        "the expired member is unknown"
    );
    // The survivors rejoin into the next generation.
    let rejoins = join_all(&c, &ids[..2]).await;
    assert!(rejoins
        .iter()
        .all(|r| r.error_code == 0 && r.generation_id == generation + 1));
    assert_eq!(
        c.heartbeat(heartbeat(&ids[0], generation), 4)
            .await
            .error_code,
        22,
        "ILLEGAL_GENERATION"
    );
}

/// Joins every member concurrently (the joins complete together when the rebalance does).
async fn join_all(c: &Arc<GroupCoordinator>, ids: &[String]) -> Vec<JoinGroupResponse> {
    let handles: Vec<_> = ids
        .iter()
        .map(|id| {
            let (c, id) = (c.clone(), id.clone());
            tokio::spawn(async move { c.join_group(join(&id, None), 7, client()).await })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(start_paused = true)]
async fn leave_triggers_a_rebalance_and_unknown_members_are_refused() {
    let c = coordinator(logs(1));
    let a = member_id(&c).await;
    let r = c.join_group(join(&a, None), 7, client()).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        c.sync_group(sync(&a, r.generation_id, &[(a.as_str(), b"x")]), 5)
            .await
            .assignment
            .as_ref(),
        b"x"
    );
    assert_eq!(
        c.join_group(join("made-up", None), 7, client())
            .await
            .error_code,
        25
    );
    let leave = leave_request(&a);
    let resp = c.leave_group(leave, 5).await;
    assert_eq!(resp.members[0].error_code, 0);
    let listed = c.list_groups(ListGroupsRequest::default(), 5).await;
    assert_eq!(listed.groups[0].group_state.as_str(), "Empty");
}

#[tokio::test(start_paused = true)]
async fn static_member_rejoins_without_rebalance_and_fences_its_old_id() {
    let c = coordinator(logs(1));
    let r = c.join_group(join("", Some("i1")), 7, client()).await;
    assert_eq!(r.error_code, 0, "static members skip MEMBER_ID_REQUIRED");
    let (old, generation) = (r.member_id.to_string(), r.generation_id);
    c.sync_group(
        sync(&old, generation, &[(old.as_str(), b"p")]).with_group_instance_id(Some(sb("i1"))),
        5,
    )
    .await;
    let again = c.join_group(join("", Some("i1")), 7, client()).await;
    assert_eq!(
        (again.error_code, again.generation_id),
        (0, generation),
        "same generation: no rebalance"
    );
    assert_ne!(again.member_id.as_str(), old);
    let hb = c
        .heartbeat(
            heartbeat(&old, generation).with_group_instance_id(Some(sb("i1"))),
            4,
        )
        .await;
    assert_eq!(hb.error_code, 25, "the old member id is gone");
    let s = c
        .sync_group(
            sync(again.member_id.as_str(), generation, &[]).with_group_instance_id(Some(sb("i1"))),
            5,
        )
        .await;
    assert_eq!(s.assignment.as_ref(), b"p", "the current assignment");
}

/// LeaveGroup for one member of group `g`.
fn leave_request(member: &str) -> LeaveGroupRequest {
    LeaveGroupRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_members(vec![
            kafka_protocol::messages::leave_group_request::MemberIdentity::default()
                .with_member_id(sb(member)),
        ])
}

fn commit(member: &str, generation: i32, topic: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(sb(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])])
}

async fn fetched(c: &GroupCoordinator) -> i64 {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(sb("t")))
            .with_partition_indexes(vec![0])]));
    c.offset_fetch(req, 7).await.topics[0].partitions[0].committed_offset
}

#[tokio::test(start_paused = true)]
async fn commits_are_checked_persisted_and_reloaded() {
    let offsets = logs(3);
    let c = coordinator(offsets.clone());
    assert_eq!(fetched(&c).await, -1, "nothing committed");
    // A standalone commit (no members, generation -1) is allowed.
    assert_eq!(
        c.offset_commit(commit("", -1, "t", 5), 8).topics[0].partitions[0].error_code,
        0
    );
    let a = member_id(&c).await;
    let r = c.join_group(join(&a, None), 7, client()).await;
    c.sync_group(sync(&a, r.generation_id, &[]), 5).await;
    assert_eq!(
        c.offset_commit(commit(&a, r.generation_id + 1, "t", 9), 8)
            .topics[0]
            .partitions[0]
            .error_code,
        22
    );
    assert_eq!(
        c.offset_commit(commit("stranger", r.generation_id, "t", 9), 8)
            .topics[0]
            .partitions[0]
            .error_code,
        25
    );
    assert_eq!(
        c.offset_commit(commit(&a, r.generation_id, "missing", 9), 8)
            .topics[0]
            .partitions[0]
            .error_code,
        3
    );
    assert_eq!(
        c.offset_commit(commit(&a, r.generation_id, "t", 42), 8)
            .topics[0]
            .partitions[0]
            .error_code,
        0
    );
    assert_eq!(fetched(&c).await, 42);
    // A new coordinator over the same logs (a restart) has the offsets and the group.
    let reloaded = coordinator(offsets);
    assert_eq!(fetched(&reloaded).await, 42);
    let described = reloaded
        .describe_groups(
            DescribeGroupsRequest::default().with_groups(vec![GroupId(sb("g"))]),
            5,
        )
        .await;
    assert_eq!(described.groups[0].protocol_type.as_str(), "consumer");
    // Its member too, in its generation (as Kafka's coordinator loads groups): it commits
    // without rejoining.
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    assert_eq!(described.groups[0].members.len(), 1);
    assert_eq!(described.groups[0].members[0].member_id.as_str(), a);
    assert_eq!(
        reloaded
            .offset_commit(commit(&a, r.generation_id, "t", 43), 8)
            .topics[0]
            .partitions[0]
            .error_code,
        0
    );
    let leave = leave_request(&a);
    assert_eq!(
        reloaded.leave_group(leave, 5).await.members[0].error_code,
        0
    );
    // Deleting the empty group drops its offsets (tombstones survive a reload too).
    let del = reloaded
        .delete_groups(
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb("g"))]),
            2,
        )
        .await;
    assert_eq!(del.results[0].error_code, 0);
    assert_eq!(fetched(&reloaded).await, -1);
    let del = reloaded
        .delete_groups(
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb("g"))]),
            2,
        )
        .await;
    assert_eq!(del.results[0].error_code, 69, "GROUP_ID_NOT_FOUND");
}

#[tokio::test(start_paused = true)]
async fn inconsistent_protocols_and_bad_session_timeouts_are_refused() {
    let c = coordinator(logs(1));
    assert_eq!(
        c.join_group(join("", None).with_session_timeout_ms(10), 7, client())
            .await
            .error_code,
        26
    );
    let a = member_id(&c).await;
    c.join_group(join(&a, None), 7, client()).await;
    let other = join("", None).with_protocols(vec![JoinGroupRequestProtocol::default()
        .with_name(sb("roundrobin"))
        .with_metadata(Bytes::new())]);
    assert_eq!(
        c.join_group(other, 7, client()).await.error_code,
        23,
        "INCONSISTENT_GROUP_PROTOCOL"
    );
}

/// A commit whose write to `__consumer_offsets` fails is not a commit: the partitions answer
/// INVALID_COMMIT_OFFSET_SIZE (the batch is larger than the offsets topic takes) and a fetch
/// still gives the last offset that was written.
#[tokio::test(start_paused = true)]
async fn a_commit_that_cannot_be_written_fails() {
    let offsets = vec![Arc::new(Mutex::new(
        PartitionLog::open(
            None,
            LogConfig {
                max_message_bytes: 300,
                ..LogConfig::default()
            },
        )
        .unwrap(),
    ))];
    let c = coordinator(offsets);
    let ok = c.offset_commit(commit("", -1, "t", 5), 8);
    assert_eq!(ok.topics[0].partitions[0].error_code, 0);
    assert_eq!(fetched(&c).await, 5);
    let mut big = commit("", -1, "t", 9);
    big.topics[0].partitions[0].committed_metadata = Some(sb(&"m".repeat(1000)));
    let refused = c.offset_commit(big, 8);
    assert_eq!(refused.topics[0].partitions[0].error_code, 28);
    assert_eq!(fetched(&c).await, 5, "the failed commit changed nothing");
}

fn with_retention(offsets: Vec<SharedLog>) -> Arc<GroupCoordinator> {
    let config = GroupConfig {
        offsets_topic_num_partitions: offsets.len() as i32,
        offsets_retention_minutes: 1,
        offsets_retention_check_interval_ms: 1_000,
        ..GroupConfig::default()
    };
    GroupCoordinator::new(config, offsets, Arc::new(|t: &str, _| t != "missing"))
}

#[tokio::test(start_paused = true)]
async fn offsets_expire_after_offsets_retention_minutes() {
    let offsets = logs(3);
    let c = with_retention(offsets.clone());
    // A standalone commit expires a minute after it was made.
    assert_eq!(
        c.offset_commit(commit("", -1, "t", 5), 8).topics[0].partitions[0].error_code,
        0
    );
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert_eq!(fetched(&c).await, 5, "kept within the retention");
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(fetched(&c).await, -1, "expired after a minute");
    assert_eq!(
        fetched(&with_retention(offsets.clone())).await,
        -1,
        "its tombstone was written: a reload does not bring it back"
    );

    // A consumer group keeps its offsets while it has members, and loses them a minute after
    // it became empty.
    let a = member_id(&c).await;
    let r = c.join_group(join(&a, None), 7, client()).await;
    c.sync_group(sync(&a, r.generation_id, &[]), 5).await;
    c.offset_commit(commit(&a, r.generation_id, "t", 42), 8);
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert_eq!(
            c.heartbeat(heartbeat(&a, r.generation_id), 4)
                .await
                .error_code,
            0
        );
    }
    assert_eq!(
        fetched(&c).await,
        42,
        "a group with a member keeps its offsets"
    );
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_member_id(sb(&a));
    c.leave_group(leave, 0).await;
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert_eq!(fetched(&c).await, 42, "empty for less than a minute");
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(fetched(&c).await, -1, "empty for a minute: expired");
    let described = c
        .describe_groups(
            DescribeGroupsRequest::default().with_groups(vec![GroupId(sb("g"))]),
            5,
        )
        .await;
    assert_eq!(
        described.groups[0].group_state.as_str(),
        "Dead",
        "and the group is gone"
    );
}
