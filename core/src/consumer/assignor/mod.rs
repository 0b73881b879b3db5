//! Partition assignors, speaking the Java client's embedded protocol so mixed groups work.
//!
//! The group leader decodes every member's `ConsumerProtocolSubscription` (topics, owned
//! partitions, generation), runs the chosen assignor and sends each member a
//! `ConsumerProtocolAssignment`. Both are version-prefixed structs (v3 here, as Java 3.x+).

mod range;
mod roundrobin;
mod sticky;

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

pub use range::RangeAssignor;
pub use roundrobin::RoundRobinAssignor;
pub use sticky::StickyAssignor;

use crate::error::{KafkaError, Result};
use crate::topic_partition::TopicPartition;

/// What a member told the leader.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    pub topics: Vec<String>,
    pub owned: Vec<TopicPartition>,
    pub generation: i32,
    pub user_data: Option<Bytes>,
}

/// A member of the group as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub subscription: Subscription,
}

/// Java's member order: static members by instance id first, then dynamic ones by member id.
pub fn sort_members(members: &mut [&Member]) {
    members.sort_by(|a, b| match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    });
}

/// Computes the group's assignment on the leader.
pub trait Assignor: Send + Sync {
    /// The protocol name members vote with (`range`, `cooperative-sticky`, ...).
    fn name(&self) -> &'static str;

    /// Cooperative assignors (KIP-429) never hand a partition to a new owner in the same
    /// rebalance in which its old owner still holds it.
    fn cooperative(&self) -> bool {
        false
    }

    /// `partitions` maps each subscribed topic to its partition count.
    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> BTreeMap<String, Vec<TopicPartition>>;
}

/// The assignor registered under `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Assignor>> {
    Some(match name {
        "range" => Box::new(RangeAssignor),
        "roundrobin" => Box::new(RoundRobinAssignor),
        "sticky" => Box::new(StickyAssignor { cooperative: false }),
        "cooperative-sticky" => Box::new(StickyAssignor { cooperative: true }),
        _ => return None,
    })
}

const VERSION: i16 = 3;

fn group_by_topic(tps: &[TopicPartition]) -> BTreeMap<String, Vec<i32>> {
    let mut m: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        m.entry(tp.topic.to_string())
            .or_default()
            .push(tp.partition);
    }
    m
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn encode_subscription(s: &Subscription) -> Bytes {
    let msg = ConsumerProtocolSubscription::default()
        .with_topics(s.topics.iter().map(|t| sb(t)).collect())
        .with_user_data(s.user_data.clone())
        .with_owned_partitions(
            group_by_topic(&s.owned)
                .into_iter()
                .map(|(t, ps)| {
                    OwnedTopic::default()
                        .with_topic(TopicName(sb(&t)))
                        .with_partitions(ps)
                })
                .collect(),
        )
        .with_generation_id(s.generation);
    let mut b = BytesMut::new();
    b.put_i16(VERSION);
    msg.encode(&mut b, VERSION).expect("subscription encodes");
    b.freeze()
}

pub fn decode_subscription(bytes: &Bytes) -> Result<Subscription> {
    let mut b = bytes.clone();
    if b.remaining() < 2 {
        return Err(KafkaError::Protocol("empty consumer subscription".into()));
    }
    // Newer versions only append fields: read what this version knows.
    let version = b.get_i16().clamp(0, VERSION);
    let s = ConsumerProtocolSubscription::decode(&mut b, version)
        .map_err(|e| KafkaError::Protocol(format!("bad subscription: {e}")))?;
    Ok(Subscription {
        topics: s.topics.iter().map(|t| t.to_string()).collect(),
        owned: s
            .owned_partitions
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| TopicPartition::new(t.topic.as_str(), *p))
            })
            .collect(),
        generation: s.generation_id,
        user_data: s.user_data,
    })
}

pub fn encode_assignment(partitions: &[TopicPartition]) -> Bytes {
    let msg = ConsumerProtocolAssignment::default().with_assigned_partitions(
        group_by_topic(partitions)
            .into_iter()
            .map(|(t, ps)| {
                AssignedTopic::default()
                    .with_topic(TopicName(sb(&t)))
                    .with_partitions(ps)
            })
            .collect(),
    );
    let mut b = BytesMut::new();
    b.put_i16(VERSION);
    msg.encode(&mut b, VERSION).expect("assignment encodes");
    b.freeze()
}

pub fn decode_assignment(bytes: &Bytes) -> Result<Vec<TopicPartition>> {
    let mut b = bytes.clone();
    if b.remaining() < 2 {
        return Ok(vec![]); // an empty assignment
    }
    let version = b.get_i16().clamp(0, VERSION);
    let a = ConsumerProtocolAssignment::decode(&mut b, version)
        .map_err(|e| KafkaError::Protocol(format!("bad assignment: {e}")))?;
    let mut out: Vec<TopicPartition> = a
        .assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(t.topic.as_str(), *p))
        })
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn member(id: &str, topics: &[&str], owned: &[(&str, i32)]) -> Member {
        Member {
            member_id: id.into(),
            instance_id: None,
            subscription: Subscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                owned: owned
                    .iter()
                    .map(|(t, p)| TopicPartition::new(t, *p))
                    .collect(),
                generation: 1,
                user_data: None,
            },
        }
    }

    pub fn counts(a: &BTreeMap<String, Vec<TopicPartition>>) -> Vec<usize> {
        a.values().map(|v| v.len()).collect()
    }

    #[test]
    fn wire_format_round_trips() {
        let s = Subscription {
            topics: vec!["a".into(), "b".into()],
            owned: vec![TopicPartition::new("a", 0), TopicPartition::new("a", 2)],
            generation: 7,
            user_data: None,
        };
        let bytes = encode_subscription(&s);
        assert_eq!(&bytes[..2], &[0, 3], "version 3 prefix");
        assert_eq!(decode_subscription(&bytes).unwrap(), s);
        let tps = vec![TopicPartition::new("a", 1), TopicPartition::new("b", 0)];
        assert_eq!(decode_assignment(&encode_assignment(&tps)).unwrap(), tps);
        // A Java v0 assignment (no user data field handling differences) decodes too.
        let mut v0 = BytesMut::new();
        v0.put_i16(0);
        ConsumerProtocolAssignment::default()
            .encode(&mut v0, 0)
            .unwrap();
        assert!(decode_assignment(&v0.freeze()).unwrap().is_empty());
    }
}
