//! The consumer's side of fetch sessions (KIP-227), one per broker: the first fetch names
//! every partition (epoch 0) and the broker opens a session; later fetches name only the
//! partitions whose fetch offset changed, and forget the ones no longer fetched from that
//! broker, and the broker answers only partitions with news. Any doubt (a session error, a
//! failed request, a broker that opened no session) starts over with a full fetch.

use std::collections::BTreeMap;

use kafka_protocol::messages::fetch_request::ForgottenTopic;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

use crate::topic_partition::TopicPartition;

/// What the next request to one broker carries.
#[derive(Debug, PartialEq, Eq)]
pub struct SessionRequest {
    pub session_id: i32,
    pub epoch: i32,
    /// The partitions to name (with their fetch offsets): all of them in a full fetch.
    pub partitions: Vec<(TopicPartition, i64)>,
    /// Partitions to drop from the session.
    pub forgotten: Vec<TopicPartition>,
}

/// The session with one broker.
#[derive(Debug, Default)]
pub struct FetchSession {
    /// 0 while none is open.
    id: i32,
    /// The epoch of the next incremental fetch.
    next_epoch: i32,
    /// What the broker holds: each partition with the fetch offset last sent for it.
    held: BTreeMap<TopicPartition, i64>,
}

impl FetchSession {
    /// The request for fetching `wanted` (partition, fetch offset) from this broker.
    pub fn request(&mut self, wanted: &[(TopicPartition, i64)]) -> SessionRequest {
        let wanted_map: BTreeMap<TopicPartition, i64> = wanted.iter().cloned().collect();
        if self.id == 0 {
            self.held = wanted_map;
            return SessionRequest {
                session_id: 0,
                epoch: 0,
                partitions: wanted.to_vec(),
                forgotten: Vec::new(),
            };
        }
        let partitions = wanted
            .iter()
            .filter(|(tp, offset)| self.held.get(tp) != Some(offset))
            .cloned()
            .collect();
        let forgotten = self
            .held
            .keys()
            .filter(|tp| !wanted_map.contains_key(*tp))
            .cloned()
            .collect();
        self.held = wanted_map;
        SessionRequest {
            session_id: self.id,
            epoch: self.next_epoch,
            partitions,
            forgotten,
        }
    }

    /// The broker answered the request made with `epoch`, naming `session_id` (0: none).
    pub fn answered(&mut self, epoch: i32, session_id: i32) {
        if epoch == 0 {
            self.id = session_id;
            self.next_epoch = 1;
        } else {
            self.next_epoch = if self.next_epoch == i32::MAX {
                1
            } else {
                self.next_epoch + 1
            };
        }
    }

    /// Forgets the session: the next fetch is a full one.
    pub fn reset(&mut self) {
        *self = FetchSession::default();
    }
}

/// `forgotten` as the request's per-topic lists.
pub fn forgotten_topics(forgotten: &[TopicPartition]) -> Vec<ForgottenTopic> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in forgotten {
        by_topic
            .entry(tp.topic.as_ref())
            .or_default()
            .push(tp.partition);
    }
    by_topic
        .into_iter()
        .map(|(t, ps)| {
            ForgottenTopic::default()
                .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                .with_partitions(ps)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn a_session_sends_only_what_changed_and_forgets_what_is_no_longer_fetched() {
        let mut s = FetchSession::default();
        let full = s.request(&[(tp(0), 0), (tp(1), 0)]);
        assert_eq!(
            (full.session_id, full.epoch, full.partitions.len()),
            (0, 0, 2)
        );
        s.answered(0, 42);
        let next = s.request(&[(tp(0), 5), (tp(1), 0)]);
        assert_eq!(
            next,
            SessionRequest {
                session_id: 42,
                epoch: 1,
                partitions: vec![(tp(0), 5)],
                forgotten: vec![],
            }
        );
        s.answered(1, 42);
        let next = s.request(&[(tp(0), 5)]);
        assert_eq!((next.epoch, next.partitions.len()), (2, 0));
        assert_eq!(next.forgotten, vec![tp(1)]);
        s.answered(2, 42);
        s.reset();
        let again = s.request(&[(tp(0), 5)]);
        assert_eq!(
            (again.session_id, again.epoch),
            (0, 0),
            "a full fetch after a reset"
        );
        s.answered(0, 0);
        assert_eq!(
            s.request(&[(tp(0), 5)]).epoch,
            0,
            "no session opened: full fetches go on"
        );
    }
}
