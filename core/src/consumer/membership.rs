//! This member's place in its group, as one state machine shared by the polling thread, the
//! join task and the heartbeat task (behind a `std::sync::Mutex`, never held across an await).
//!
//! ```text
//!            begin_join                     joined (JoinGroup)          synced (SyncGroup)
//!  Unjoined ───────────▶ Joining{id, gen} ──────────────────▶ Joining{id, new gen} ─────▶ Stable
//!     ▲                     ▲    │ member_id_required: the id the coordinator gave        │
//!     │                     │    │ rejoin_as_new_member: UNKNOWN_MEMBER_ID, ILLEGAL_GEN.  │
//!     │                     │    ▼                                                        │
//!     │                     └──── request_rejoin: REBALANCE_IN_PROGRESS, new subscription,┤
//!     │                           cooperative revocation (the generation is kept)         │
//!     ├─ take_lost (poll) ── Lost ◀── lose: heartbeat fenced / unknown member, ───────────┤
//!     │                               max.poll.interval.ms passed                         │
//!     ├─ forget_generation ── a commit answered UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION ───┤
//!     └─ left ── Leaving{id, gen} ◀── begin_leave: unsubscribe, close ────────────────────┘
//! ```
//!
//! The generation a member was given stays in use while it rejoins: until JoinGroup answers,
//! its commits and heartbeats carry the previous generation (a group preparing a rebalance
//! accepts them, so a cooperative member commits what it keeps reading meanwhile), and from
//! JoinGroup's answer until SyncGroup's, the new one. A member with no generation cannot commit
//! the partitions the group gave it: REBALANCE_IN_PROGRESS while it rejoins, UNKNOWN_MEMBER_ID
//! once its membership is lost (the Java client's CommitFailed).

use kafka_protocol::error::ResponseError;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum MemberState {
    /// No member id and no generation: before the first join, after leaving, or after the
    /// coordinator answered a commit with UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION. A subscribed
    /// consumer joins on its next poll.
    #[default]
    Unjoined,
    /// A rebalance is due or under way. `member_id`: empty until the coordinator hands one out;
    /// `generation`: the last one the coordinator gave (-1 for none), still used by commits and
    /// heartbeats until the join replaces it.
    Joining { member_id: String, generation: i32 },
    /// A member of `generation`, with its assignment; no rebalance due.
    Stable { member_id: String, generation: i32 },
    /// Membership lost (the heartbeat was answered UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or
    /// FENCED_INSTANCE_ID, or `max.poll.interval.ms` passed): the next poll calls
    /// `on_partitions_lost` (not `on_partitions_revoked`) and rejoins as a new member.
    Lost,
    /// LeaveGroup is on its way (unsubscribe, close); the heartbeat has stopped.
    Leaving { member_id: String, generation: i32 },
}

impl MemberState {
    /// The generation commits and heartbeats carry, -1 without one.
    pub fn generation(&self) -> i32 {
        match self {
            MemberState::Joining { generation, .. }
            | MemberState::Stable { generation, .. }
            | MemberState::Leaving { generation, .. } => *generation,
            MemberState::Unjoined | MemberState::Lost => -1,
        }
    }

    /// The member id the coordinator gave, empty without one.
    pub fn member_id(&self) -> &str {
        match self {
            MemberState::Joining { member_id, .. }
            | MemberState::Stable { member_id, .. }
            | MemberState::Leaving { member_id, .. } => member_id,
            MemberState::Unjoined | MemberState::Lost => "",
        }
    }

    /// `(generation, member id)` when this member holds a generation.
    pub fn generation_and_member(&self) -> Option<(i32, String)> {
        let (generation, member_id) = (self.generation(), self.member_id());
        (generation >= 0 && !member_id.is_empty()).then(|| (generation, member_id.to_string()))
    }

    /// A member with its assignment and no rebalance due.
    pub fn is_stable(&self) -> bool {
        matches!(self, MemberState::Stable { .. })
    }

    /// The `(generation, member id)` the heartbeat task sends; `None` tells it to stop.
    pub fn heartbeat(&self) -> Option<(i32, String)> {
        match self {
            MemberState::Joining { .. } | MemberState::Stable { .. } => {
                self.generation_and_member()
            }
            _ => None,
        }
    }

    /// How a commit of the group's partitions fails without a generation: UNKNOWN_MEMBER_ID once
    /// membership is lost, REBALANCE_IN_PROGRESS otherwise.
    pub fn commit_refusal(&self) -> ResponseError {
        if matches!(self, MemberState::Lost) {
            ResponseError::UnknownMemberId
        } else {
            ResponseError::RebalanceInProgress
        }
    }

    /// `Stable` → `Joining` (keeping its generation): the group rebalances, or this member's
    /// subscription or ownership changed. In other states a join is due already.
    pub fn request_rejoin(&mut self) {
        if let MemberState::Stable {
            member_id,
            generation,
        } = self
        {
            *self = MemberState::Joining {
                member_id: std::mem::take(member_id),
                generation: *generation,
            };
        }
    }

    /// The join task starts: `Unjoined` → `Joining` without a member id. `Lost` stays until the
    /// coordinator answers the join (the loss is still reported if the join is cancelled).
    pub fn begin_join(&mut self) {
        match self {
            MemberState::Unjoined => {
                *self = MemberState::Joining {
                    member_id: String::new(),
                    generation: -1,
                }
            }
            MemberState::Stable { .. } => self.request_rejoin(),
            _ => {}
        }
    }

    /// JoinGroup answered MEMBER_ID_REQUIRED (KIP-394): join again with this member id.
    pub fn member_id_required(&mut self, member_id: String) {
        *self = MemberState::Joining {
            member_id,
            generation: self.generation(),
        };
    }

    /// JoinGroup answered UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION: join again as a new member.
    /// A `Lost` member stays `Lost`.
    pub fn rejoin_as_new_member(&mut self) {
        if !matches!(self, MemberState::Lost) {
            *self = MemberState::Joining {
                member_id: String::new(),
                generation: -1,
            };
        }
    }

    /// JoinGroup succeeded: the new generation is in use while SyncGroup completes it.
    pub fn joined(&mut self, generation: i32, member_id: String) {
        *self = MemberState::Joining {
            member_id,
            generation,
        };
    }

    /// SyncGroup succeeded: `Joining` → `Stable`. A member that meanwhile lost or was told to
    /// forget its generation is `Unjoined` (and joins again on its next poll).
    pub fn synced(&mut self) {
        *self = match std::mem::take(self) {
            MemberState::Joining {
                member_id,
                generation,
            } if generation >= 0 && !member_id.is_empty() => MemberState::Stable {
                member_id,
                generation,
            },
            _ => MemberState::Unjoined,
        };
    }

    /// The coordinator answered a commit with UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION: forget the
    /// generation and member id (a `Lost` member stays `Lost`).
    pub fn forget_generation(&mut self) {
        if !matches!(self, MemberState::Lost) {
            *self = MemberState::Unjoined;
        }
    }

    /// Membership lost: any state → `Lost`.
    pub fn lose(&mut self) {
        *self = MemberState::Lost;
    }

    /// The heartbeat of `generation` as `member_id` was answered UNKNOWN_MEMBER_ID,
    /// ILLEGAL_GENERATION or FENCED_INSTANCE_ID: → `Lost`, unless a join has replaced that
    /// generation since the heartbeat went out (as in Java, a stale generation's error is
    /// ignored). True when membership was lost.
    pub fn lose_if_current(&mut self, generation: i32, member_id: &str) -> bool {
        let current = self.generation() == generation && self.member_id() == member_id;
        if current {
            self.lose();
        }
        current
    }

    /// `Lost` → `Unjoined`, true when it was lost: the next poll gives the partitions up as
    /// lost and rejoins.
    pub fn take_lost(&mut self) -> bool {
        let lost = matches!(self, MemberState::Lost);
        if lost {
            *self = MemberState::Unjoined;
        }
        lost
    }

    /// → `Leaving` with the member id LeaveGroup names, when there is one.
    pub fn begin_leave(&mut self) -> Option<String> {
        let member_id = self.member_id().to_string();
        if member_id.is_empty() {
            return None;
        }
        *self = MemberState::Leaving {
            member_id: member_id.clone(),
            generation: self.generation(),
        };
        Some(member_id)
    }

    /// LeaveGroup answered (or failed): → `Unjoined`.
    pub fn left(&mut self) {
        *self = MemberState::Unjoined;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joining(member_id: &str, generation: i32) -> MemberState {
        MemberState::Joining {
            member_id: member_id.into(),
            generation,
        }
    }

    fn stable(member_id: &str, generation: i32) -> MemberState {
        MemberState::Stable {
            member_id: member_id.into(),
            generation,
        }
    }

    #[test]
    fn a_first_join_goes_through_member_id_required_join_and_sync() {
        let mut s = MemberState::default();
        assert_eq!((s.generation(), s.member_id()), (-1, ""));
        s.request_rejoin();
        assert_eq!(s, MemberState::Unjoined, "a join is due already");
        s.begin_join();
        assert_eq!(s, joining("", -1));
        s.member_id_required("m-1".into());
        assert_eq!(s, joining("m-1", -1));
        assert_eq!(s.generation_and_member(), None, "no generation yet");
        assert_eq!(s.heartbeat(), None);
        s.joined(1, "m-1".into());
        assert_eq!(s.generation_and_member(), Some((1, "m-1".into())));
        assert!(!s.is_stable());
        s.synced();
        assert_eq!(s, stable("m-1", 1));
        assert_eq!(s.heartbeat(), Some((1, "m-1".into())));
    }

    #[test]
    fn a_rejoin_keeps_the_generation_until_join_group_answers() {
        let mut s = stable("m", 3);
        s.request_rejoin();
        assert_eq!(s, joining("m", 3));
        assert_eq!(s.generation_and_member(), Some((3, "m".into())));
        assert_eq!(s.heartbeat(), Some((3, "m".into())));
        s.begin_join();
        assert_eq!(s, joining("m", 3));
        s.joined(4, "m".into());
        s.synced();
        assert_eq!(s, stable("m", 4));
    }

    #[test]
    fn unknown_member_in_a_join_rejoins_as_a_new_member() {
        let mut s = joining("m", 3);
        s.rejoin_as_new_member();
        assert_eq!(s, joining("", -1));
        let mut lost = MemberState::Lost;
        lost.rejoin_as_new_member();
        assert_eq!(lost, MemberState::Lost);
    }

    #[test]
    fn commits_without_a_generation_are_refused_with_kafkas_codes() {
        assert_eq!(
            MemberState::Unjoined.commit_refusal(),
            ResponseError::RebalanceInProgress
        );
        assert_eq!(
            joining("m", -1).commit_refusal(),
            ResponseError::RebalanceInProgress
        );
        assert_eq!(
            MemberState::Lost.commit_refusal(),
            ResponseError::UnknownMemberId
        );
        assert_eq!(MemberState::Lost.commit_refusal().code(), 25);
        assert_eq!(MemberState::Unjoined.commit_refusal().code(), 27);
    }

    #[test]
    fn a_heartbeat_loss_is_reported_once_and_only_for_the_current_generation() {
        let mut s = stable("m", 5);
        assert!(!s.lose_if_current(4, "m"), "a stale generation's error");
        assert!(!s.lose_if_current(5, "other"));
        assert_eq!(s, stable("m", 5));
        assert!(s.lose_if_current(5, "m"));
        assert_eq!(s, MemberState::Lost);
        assert_eq!((s.generation(), s.member_id()), (-1, ""));
        assert_eq!(s.heartbeat(), None, "the heartbeat stops");
        s.request_rejoin();
        assert_eq!(s, MemberState::Lost, "still to be reported");
        assert!(s.take_lost());
        assert_eq!(s, MemberState::Unjoined);
        assert!(!s.take_lost());
    }

    #[test]
    fn a_join_answer_supersedes_a_loss() {
        let mut s = MemberState::Lost;
        s.begin_join();
        assert_eq!(s, MemberState::Lost);
        s.joined(6, "m".into());
        s.synced();
        assert_eq!(s, stable("m", 6));
    }

    #[test]
    fn sync_after_the_generation_was_forgotten_leaves_the_member_unjoined() {
        let mut s = joining("m", 2);
        s.forget_generation();
        assert_eq!(s, MemberState::Unjoined);
        s.synced();
        assert_eq!(s, MemberState::Unjoined);
        let mut lost = MemberState::Lost;
        lost.forget_generation();
        assert_eq!(lost, MemberState::Lost);
        lost.synced();
        assert_eq!(lost, MemberState::Unjoined);
    }

    #[test]
    fn leaving_names_the_member_and_ends_unjoined() {
        let mut s = stable("m", 7);
        assert_eq!(s.begin_leave(), Some("m".into()));
        assert_eq!(
            s,
            MemberState::Leaving {
                member_id: "m".into(),
                generation: 7
            }
        );
        assert_eq!(s.heartbeat(), None, "the heartbeat stops");
        assert_eq!(
            s.generation_and_member(),
            Some((7, "m".into())),
            "commits in flight land"
        );
        s.request_rejoin();
        s.left();
        assert_eq!(s, MemberState::Unjoined);
        assert_eq!(s.begin_leave(), None, "no member id: nothing to leave");
        let mut mid_join = joining("m-2", -1);
        assert_eq!(mid_join.begin_leave(), Some("m-2".into()));
    }
}
