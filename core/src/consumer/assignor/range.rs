//! RangeAssignor: per topic, consecutive ranges of partitions to members in Java's order.

use std::collections::BTreeMap;

use super::{sort_members, Assignor, Member};
use crate::topic_partition::TopicPartition;

pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
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
        for (topic, &count) in partitions {
            let mut subscribed: Vec<&Member> = members
                .iter()
                .filter(|m| m.subscription.topics.contains(topic))
                .collect();
            if subscribed.is_empty() {
                continue;
            }
            sort_members(&mut subscribed);
            let n = subscribed.len() as i32;
            let (per, extra) = (count / n, count % n);
            for (i, m) in subscribed.iter().enumerate() {
                let i = i as i32;
                let start = per * i + i.min(extra);
                let len = per + if i < extra { 1 } else { 0 };
                out.get_mut(&m.member_id)
                    .unwrap()
                    .extend((start..start + len).map(|p| TopicPartition::new(topic, p)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::member;
    use super::*;

    #[test]
    fn ranges_as_java_computes_them() {
        let parts = BTreeMap::from([("t1".to_string(), 3), ("t2".to_string(), 3)]);
        let members = [
            member("c1", &["t1", "t2"], &[]),
            member("c0", &["t1", "t2"], &[]),
        ];
        let a = RangeAssignor.assign(&parts, &members);
        let tp = |t: &str, p| TopicPartition::new(t, p);
        assert_eq!(
            a["c0"],
            vec![tp("t1", 0), tp("t1", 1), tp("t2", 0), tp("t2", 1)]
        );
        assert_eq!(a["c1"], vec![tp("t1", 2), tp("t2", 2)]);
    }
}
