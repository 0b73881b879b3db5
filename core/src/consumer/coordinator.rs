//! The consumer's side of the classic group protocol: the group coordinator's node, the
//! member's state ([`MemberState`]) and the requests that go to the coordinator.
//!
//! `join` (`join_group.rs`) runs FindCoordinator, JoinGroup (with the member-id-required round
//! trip), the assignor on the leader, and SyncGroup. A background task (`heartbeat.rs`)
//! heartbeats every `heartbeat.interval.ms`; when the coordinator reports a rebalance, a fenced
//! generation or an unknown member, it moves the member to `Joining` or `Lost`, which the next
//! `poll` acts on, on the polling thread. The same task enforces `max.poll.interval.ms` by
//! leaving the group when the application stops polling. Commits and committed-offset lookups
//! are in `offset_commit.rs`.
//!
//! Locks: the member state and the poll clock are `std` mutexes held for a read or one
//! transition, never across an await; the consumer's own state (an async mutex) may be held
//! while they are taken, never the other way round.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::{GroupId, LeaveGroupRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::assignor;
use super::config::ConsumerConfig;
use super::heartbeat::heartbeat_loop;
use super::membership::MemberState;
use super::offset_commit::CommitTurns;
use crate::error::Result;
use crate::network::NetworkClient;

pub(super) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// What the consumer shares with its heartbeat task.
pub(super) struct GroupShared {
    /// This member's place in the group; every transition is one short lock.
    pub member: Mutex<MemberState>,
    /// The assignor the group chose in the last JoinGroup (kept across a lost membership: it
    /// tells whether a rejoin revokes everything first).
    pub protocol: Mutex<Option<String>>,
    /// The coordinator's node id, -1 when it must be looked up (again).
    pub node: AtomicI32,
    /// When `poll` last ran its loop (for `max.poll.interval.ms`).
    pub last_poll: Mutex<Instant>,
}

impl GroupShared {
    pub fn member(&self) -> MutexGuard<'_, MemberState> {
        self.member.lock().unwrap()
    }
}

pub struct Coordinator {
    pub client: NetworkClient,
    pub config: ConsumerConfig,
    pub group_id: String,
    pub(super) shared: Arc<GroupShared>,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Commits take turns in the order they were made (`offset_commit.rs`).
    pub(super) commit_turns: CommitTurns,
}

/// Errors after which the coordinator must be looked up again: COORDINATOR_LOAD_IN_PROGRESS,
/// COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR.
pub(super) fn coordinator_moved(code: i16) -> bool {
    matches!(
        ResponseError::try_from_code(code),
        Some(
            ResponseError::CoordinatorLoadInProgress
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::NotCoordinator
        )
    )
}

impl Coordinator {
    pub fn new(client: NetworkClient, config: ConsumerConfig, group_id: String) -> Coordinator {
        Coordinator {
            client,
            config,
            group_id,
            shared: Arc::new(GroupShared {
                member: Mutex::new(MemberState::Unjoined),
                protocol: Mutex::new(None),
                node: AtomicI32::new(-1),
                last_poll: Mutex::new(Instant::now()),
            }),
            heartbeat: Mutex::new(None),
            commit_turns: CommitTurns::default(),
        }
    }

    pub(super) fn member(&self) -> MutexGuard<'_, MemberState> {
        self.shared.member()
    }

    pub fn member_id(&self) -> String {
        self.member().member_id().to_string()
    }

    pub fn generation(&self) -> i32 {
        self.member().generation()
    }

    /// A member with its assignment and no rebalance due.
    pub fn is_stable(&self) -> bool {
        self.member().is_stable()
    }

    /// The group rebalances, or this member's subscription or ownership changed: rejoin on the
    /// next poll.
    pub fn request_rejoin(&self) {
        self.member().request_rejoin();
    }

    /// True (once) when membership was lost since the last call.
    pub fn take_lost(&self) -> bool {
        self.member().take_lost()
    }

    /// `poll` is running its loop (for `max.poll.interval.ms`).
    pub fn record_poll(&self) {
        *self.shared.last_poll.lock().unwrap() = Instant::now();
    }

    /// Whether the group's chosen assignor is cooperative (KIP-429).
    pub fn cooperative(&self) -> bool {
        self.shared
            .protocol
            .lock()
            .unwrap()
            .as_deref()
            .and_then(assignor::by_name)
            .is_some_and(|a| a.cooperative())
    }

    /// The coordinator's node id, looking it up when unknown.
    pub async fn coordinator(&self) -> Result<i32> {
        let known = self.shared.node.load(Ordering::Acquire);
        if known >= 0 {
            return Ok(known);
        }
        let mut attempt = 0;
        loop {
            match self.client.find_coordinator(&self.group_id, 0).await {
                Ok(node) => {
                    self.shared.node.store(node, Ordering::Release);
                    return Ok(node);
                }
                Err(e) if e.is_retriable() && attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(super) fn backoff(&self, attempt: u32) -> std::time::Duration {
        crate::network::backoff(
            self.config.client.retry_backoff,
            self.config.client.retry_backoff_max,
            attempt,
        )
    }

    /// Closes the connection to the coordinator; the next request opens a new one.
    pub fn drop_connection(&self) {
        let node = self.shared.node.load(Ordering::Acquire);
        if node >= 0 {
            self.client.disconnect(node);
        }
    }

    pub(super) fn mark_coordinator_unknown(&self) {
        self.shared.node.store(-1, Ordering::Release);
    }

    /// Sends a request to the group coordinator, looking the coordinator up again when the
    /// connection fails or the answer says it moved (`moved`).
    pub(super) async fn send_to_coordinator<R>(
        &self,
        req: R,
        moved: impl Fn(&R::Response) -> bool,
    ) -> Result<R::Response>
    where
        R: kafka_protocol::protocol::Request + Clone + Send + 'static,
        R::Response: Send + 'static,
    {
        // As Java's commitSync and committed(): retried with KIP-580 backoff while the
        // coordinator moves or loads (a broker restart takes seconds), within the request
        // timeout; five immediate attempts used to give up before a restarted broker had
        // loaded its groups.
        let deadline = Instant::now() + self.config.client.request_timeout;
        let mut attempt = 0;
        loop {
            let node = self.coordinator().await?;
            let retry = Instant::now() < deadline;
            match self.client.send(node, req.clone()).await {
                Ok((resp, _)) if !(retry && moved(&resp)) => return Ok(resp),
                Ok(_) => {}
                Err(e) if retry && e.is_retriable() => {}
                Err(e) => return Err(e),
            }
            attempt += 1;
            self.mark_coordinator_unknown();
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// Leaves the group (not for static members: they keep their place until the session
    /// times out, so a restart causes no rebalance).
    pub async fn leave(&self) {
        self.stop_heartbeat();
        if self.config.group_instance_id.is_some() {
            return;
        }
        // A member id is enough (as in Java): a member that leaves mid-join must not hold the
        // group's rebalance until its session times out.
        let Some(member) = self.member().begin_leave() else {
            return;
        };
        if let Ok(node) = self.coordinator().await {
            match self
                .client
                .send_built(node, |v| {
                    leave_request(&self.group_id, &member, "the consumer is being closed", v)
                })
                .await
            {
                Ok((resp, _)) => {
                    if let Some(e) = ResponseError::try_from_code(resp.error_code) {
                        tracing::debug!(code = e.code(), "LeaveGroup refused: {e}")
                    }
                }
                Err(e) => tracing::debug!("LeaveGroup failed: {e}"),
            }
        }
        self.member().left();
    }

    fn stop_heartbeat(&self) {
        if let Some(h) = self.heartbeat.lock().unwrap().take() {
            h.abort();
        }
    }

    /// Starts the heartbeat task unless it runs already.
    pub(super) fn ensure_heartbeat(&self) {
        let mut hb = self.heartbeat.lock().unwrap();
        if hb.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let client = self.client.clone();
        let shared = self.shared.clone();
        let config = self.config.clone();
        let group = self.group_id.clone();
        *hb = Some(tokio::spawn(async move {
            heartbeat_loop(client, shared, config, group).await
        }));
    }
}

/// LeaveGroup for one member: v0-2 name it at the top level, v3+ in the members list.
pub(super) fn leave_request(
    group: &str,
    member: &str,
    reason: &str,
    version: i16,
) -> LeaveGroupRequest {
    let r = LeaveGroupRequest::default().with_group_id(GroupId(sb(group)));
    if version <= 2 {
        return r.with_member_id(sb(member));
    }
    let identity = MemberIdentity::default().with_member_id(sb(member));
    r.with_members(vec![if version >= 5 {
        identity.with_reason(Some(sb(reason)))
    } else {
        identity
    }])
}
