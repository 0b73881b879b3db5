//! RoundRobinAssignor: all partitions in (topic, partition) order dealt to members in turn.

use std::collections::BTreeMap;

use super::{sort_members, Assignor, Member};
use crate::topic_partition::TopicPartition;

pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut out: BTreeMap<String, Vec<TopicPartition>> = members
            .iter()
            .map(|m| (m.member_id.clone(), vec![]))
            .collect();
        let mut sorted: Vec<&Member> = members.iter().collect();
        sort_members(&mut sorted);
        if sorted.is_empty() {
            return out;
        }
        let mut next = 0usize;
        for (topic, &count) in partitions {
            for p in 0..count {
                // The next member (in circular order) subscribed to this topic.
                for step in 0..sorted.len() {
                    let m = sorted[(next + step) % sorted.len()];
                    if m.subscription.topics.contains(topic) {
                        out.get_mut(&m.member_id)
                            .unwrap()
                            .push(TopicPartition::new(topic, p));
                        next = (next + step + 1) % sorted.len();
                        break;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{counts, member};
    use super::*;

    #[test]
    fn deals_partitions_in_turn() {
        let parts = BTreeMap::from([("a".to_string(), 3), ("b".to_string(), 2)]);
        let a = RoundRobinAssignor.assign(
            &parts,
            &[
                member("m1", &["a", "b"], &[]),
                member("m2", &["a", "b"], &[]),
            ],
        );
        let tp = |t: &str, p| TopicPartition::new(t, p);
        assert_eq!(a["m1"], vec![tp("a", 0), tp("a", 2), tp("b", 1)]);
        assert_eq!(a["m2"], vec![tp("a", 1), tp("b", 0)]);
        assert_eq!(counts(&a), vec![3, 2]);
    }
}
