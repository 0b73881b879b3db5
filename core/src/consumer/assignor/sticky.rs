//! Sticky and cooperative-sticky assignors: balanced, moving as few partitions as possible.
//!
//! Each member keeps the partitions it owns (as its subscription reports) while the group
//! stays balanced (every member gets ⌊N/M⌋ or ⌈N/M⌉ of the partitions it can take); the rest
//! go to the least-loaded members. Cooperative mode (KIP-429) withholds a partition that moves
//! to a new owner while its previous owner still holds it: the previous owner revokes it and
//! rejoins, and the follow-up rebalance hands it over.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{sort_members, Assignor, Member};
use crate::topic_partition::TopicPartition;

pub struct StickyAssignor {
    pub cooperative: bool,
}

impl Assignor for StickyAssignor {
    fn name(&self) -> &'static str {
        if self.cooperative {
            "cooperative-sticky"
        } else {
            "sticky"
        }
    }

    fn cooperative(&self) -> bool {
        self.cooperative
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut sorted: Vec<&Member> = members.iter().collect();
        sort_members(&mut sorted);
        let all: Vec<TopicPartition> = partitions
            .iter()
            .filter(|(t, _)| members.iter().any(|m| m.subscription.topics.contains(t)))
            .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t, p)))
            .collect();
        let total = all.len();
        let m = sorted.len().max(1);
        let (min_quota, mut with_extra) = (total / m, total % m);

        // Previous owners, from the members' own reports (highest generation wins a dispute).
        let mut previous: HashMap<TopicPartition, (&str, i32)> = HashMap::new();
        for member in &sorted {
            for tp in &member.subscription.owned {
                let claim = (member.member_id.as_str(), member.subscription.generation);
                match previous.get(tp) {
                    Some((_, g)) if *g >= claim.1 => {}
                    _ => {
                        previous.insert(tp.clone(), claim);
                    }
                }
            }
        }
        let valid: BTreeSet<&TopicPartition> = all.iter().collect();
        // Keep owned partitions, fullest members first, within the quota.
        let mut assignment: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
        let mut by_owned: Vec<&Member> = sorted.clone();
        by_owned.sort_by_key(|mb| std::cmp::Reverse(mb.subscription.owned.len()));
        let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
        for member in by_owned {
            let mut keep: Vec<TopicPartition> = member
                .subscription
                .owned
                .iter()
                .filter(|tp| {
                    valid.contains(tp)
                        && member.subscription.topics.iter().any(|t| **t == *tp.topic)
                })
                .filter(|tp| {
                    previous
                        .get(*tp)
                        .is_some_and(|(id, _)| *id == member.member_id)
                })
                .cloned()
                .collect();
            keep.sort();
            let quota = if with_extra > 0 && keep.len() > min_quota {
                with_extra -= 1;
                min_quota + 1
            } else {
                min_quota
            };
            keep.truncate(quota);
            taken.extend(keep.iter().cloned());
            assignment.insert(member.member_id.clone(), keep);
        }
        // Deal the rest to the least-loaded member that can take each partition.
        let extra_left = with_extra;
        let mut extras_used = 0;
        for tp in all.iter().filter(|tp| !taken.contains(*tp)) {
            let candidate = sorted
                .iter()
                .filter(|mb| mb.subscription.topics.iter().any(|t| **t == *tp.topic))
                .filter(|mb| {
                    let n = assignment[&mb.member_id].len();
                    n < min_quota || (n == min_quota && extras_used < extra_left)
                })
                .min_by_key(|mb| assignment[&mb.member_id].len())
                .or_else(|| {
                    sorted
                        .iter()
                        .filter(|mb| mb.subscription.topics.iter().any(|t| **t == *tp.topic))
                        .min_by_key(|mb| assignment[&mb.member_id].len())
                });
            if let Some(mb) = candidate {
                let list = assignment.get_mut(&mb.member_id).unwrap();
                if list.len() == min_quota {
                    extras_used += 1;
                }
                list.push(tp.clone());
            }
        }
        if self.cooperative {
            for (member_id, list) in assignment.iter_mut() {
                list.retain(|tp| previous.get(tp).is_none_or(|(owner, _)| owner == member_id));
            }
        }
        for list in assignment.values_mut() {
            list.sort();
        }
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::member;
    use super::*;

    fn six() -> BTreeMap<String, i32> {
        BTreeMap::from([("t".to_string(), 6)])
    }

    fn moved(
        before: &BTreeMap<String, Vec<TopicPartition>>,
        after: &BTreeMap<String, Vec<TopicPartition>>,
    ) -> usize {
        after
            .iter()
            .map(|(m, ps)| {
                ps.iter()
                    .filter(|p| !before.get(m).is_some_and(|b| b.contains(p)))
                    .count()
            })
            .sum()
    }

    #[test]
    fn balanced_from_scratch() {
        let a = StickyAssignor { cooperative: false }.assign(
            &six(),
            &[
                member("a", &["t"], &[]),
                member("b", &["t"], &[]),
                member("c", &["t"], &[]),
            ],
        );
        assert!(a.values().all(|v| v.len() == 2), "{a:?}");
        let all: BTreeSet<_> = a.values().flatten().collect();
        assert_eq!(all.len(), 6);
    }

    #[test]
    fn a_new_member_takes_only_what_balance_requires() {
        let before = BTreeMap::from([
            (
                "a".to_string(),
                (0..3)
                    .map(|p| TopicPartition::new("t", p))
                    .collect::<Vec<_>>(),
            ),
            (
                "b".to_string(),
                (3..6)
                    .map(|p| TopicPartition::new("t", p))
                    .collect::<Vec<_>>(),
            ),
        ]);
        let members = [
            member("a", &["t"], &[("t", 0), ("t", 1), ("t", 2)]),
            member("b", &["t"], &[("t", 3), ("t", 4), ("t", 5)]),
            member("c", &["t"], &[]),
        ];
        let after = StickyAssignor { cooperative: false }.assign(&six(), &members);
        assert!(after.values().all(|v| v.len() == 2), "{after:?}");
        assert_eq!(
            moved(&before, &after),
            2,
            "only the two partitions c needs move"
        );
    }

    #[test]
    fn cooperative_withholds_partitions_still_owned_elsewhere() {
        let members = [
            member("a", &["t"], &[("t", 0), ("t", 1), ("t", 2)]),
            member("b", &["t"], &[("t", 3), ("t", 4), ("t", 5)]),
            member("c", &["t"], &[]),
        ];
        let first = StickyAssignor { cooperative: true }.assign(&six(), &members);
        assert_eq!(
            first["a"].len() + first["b"].len(),
            4,
            "a and b revoke one each: {first:?}"
        );
        assert!(first["c"].is_empty(), "c waits for the revocations");
        // Second round: a and b report what they kept; c now gets the freed partitions.
        let owned = |m: &str| {
            first[m]
                .iter()
                .map(|tp| (tp.topic.to_string(), tp.partition))
                .collect::<Vec<_>>()
        };
        let (oa, ob) = (owned("a"), owned("b"));
        let oa: Vec<(&str, i32)> = oa.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        let ob: Vec<(&str, i32)> = ob.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        let second = StickyAssignor { cooperative: true }.assign(
            &six(),
            &[
                member("a", &["t"], &oa),
                member("b", &["t"], &ob),
                member("c", &["t"], &[]),
            ],
        );
        assert!(second.values().all(|v| v.len() == 2), "{second:?}");
        assert_eq!(second["a"], first["a"]);
        assert_eq!(second["b"], first["b"]);
    }
}
