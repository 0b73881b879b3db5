//! Fault injection, so tests can drive a client's retry and failover paths.
//!
//! Every control takes plain integers and strings (API keys and Kafka error codes as numbers)
//! so the Python, Node and C packages can expose it unchanged.

use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone)]
struct ErrorRule {
    api_key: i16,
    error_code: i16,
    remaining: u32,
    topic: Option<String>,
    partition: Option<i32>,
}

#[derive(Debug, Default)]
struct State {
    errors: Vec<ErrorRule>,
    latency_ms: Vec<(i16, u64)>,
    /// Requests (on any connection) until the connection serving the next one is dropped.
    drop_after: Option<u32>,
    /// Injected errors answered so far (each entry of a request counts once).
    errors_fired: u64,
    /// Connections dropped by `drop_connection_after` so far.
    drops_fired: u64,
}

/// The broker's fault-injection controls; shared by every connection.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    /// The next `count` requests of API `api_key` fail with `error_code`; with `topic` (and
    /// `partition`) only that topic's (partition's) entries fail, where the API has them.
    /// Applies to Produce, Fetch and ListOffsets (per partition) and, for whole requests, to
    /// FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
    /// InitProducerId and ListGroups.
    pub fn fail_next(
        &self,
        api_key: i16,
        error_code: i16,
        count: u32,
        topic: Option<&str>,
        partition: Option<i32>,
    ) {
        self.state.lock().unwrap().errors.push(ErrorRule {
            api_key,
            error_code,
            remaining: count,
            topic: topic.map(str::to_string),
            partition,
        });
    }

    /// Every request of API `api_key` waits `millis` before being handled (0 removes it).
    pub fn add_latency(&self, api_key: i16, millis: u64) {
        let mut s = self.state.lock().unwrap();
        s.latency_ms.retain(|(k, _)| *k != api_key);
        if millis > 0 {
            s.latency_ms.push((api_key, millis));
        }
    }

    /// After `requests` more requests are answered, the next one is handled but its connection
    /// is closed instead of answering (the client sees the connection die mid-flight and cannot
    /// know the request took effect: a produce was appended but never acknowledged).
    pub fn drop_connection_after(&self, requests: u32) {
        self.state.lock().unwrap().drop_after = Some(requests);
    }

    /// Removes every injected fault that has not fired yet (the fired counts are kept).
    pub fn clear(&self) {
        let mut s = self.state.lock().unwrap();
        s.errors.clear();
        s.latency_ms.clear();
        s.drop_after = None;
    }

    /// How many injected errors have been answered: one per request entry (partition, or
    /// whole request) that carried one. Lets a test prove that its fault really fired.
    pub fn errors_fired(&self) -> u64 {
        self.state.lock().unwrap().errors_fired
    }

    /// How many connections `drop_connection_after` has dropped.
    pub fn connections_dropped(&self) -> u64 {
        self.state.lock().unwrap().drops_fired
    }

    /// Injected errors not answered yet (the sum of every rule's remaining count).
    pub fn errors_pending(&self) -> u64 {
        let s = self.state.lock().unwrap();
        s.errors.iter().map(|r| u64::from(r.remaining)).sum()
    }

    pub(crate) fn latency(&self, api_key: i16) -> Option<Duration> {
        let s = self.state.lock().unwrap();
        s.latency_ms
            .iter()
            .find(|(k, _)| *k == api_key)
            .map(|(_, ms)| Duration::from_millis(*ms))
    }

    /// Counts a request; true when its connection must be dropped instead of answered.
    pub(crate) fn should_drop(&self) -> bool {
        let mut s = self.state.lock().unwrap();
        match s.drop_after {
            Some(0) => {
                s.drop_after = None;
                s.drops_fired += 1;
                true
            }
            Some(n) => {
                s.drop_after = Some(n - 1);
                false
            }
            None => false,
        }
    }

    /// The injected error for one entry of a request (`topic`/`partition` when it has them),
    /// consuming one use of the matching rule.
    pub(crate) fn take_error(
        &self,
        api_key: i16,
        topic: Option<&str>,
        partition: Option<i32>,
    ) -> Option<i16> {
        let mut s = self.state.lock().unwrap();
        let i = s.errors.iter().position(|r| {
            r.api_key == api_key
                && r.remaining > 0
                && (r.topic.is_none() || r.topic.as_deref() == topic)
                && (r.partition.is_none() || r.partition == partition)
        })?;
        let rule = &mut s.errors[i];
        rule.remaining -= 1;
        let code = rule.error_code;
        if rule.remaining == 0 {
            s.errors.remove(i);
        }
        s.errors_fired += 1;
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_consumed_per_matching_entry() {
        let f = Faults::default();
        f.fail_next(0, 6, 2, Some("t"), Some(1));
        assert_eq!(f.take_error(0, Some("t"), Some(0)), None);
        assert_eq!(f.take_error(1, Some("t"), Some(1)), None);
        assert_eq!(f.take_error(0, Some("t"), Some(1)), Some(6));
        assert_eq!(f.take_error(0, Some("t"), Some(1)), Some(6));
        assert_eq!(f.take_error(0, Some("t"), Some(1)), None);
        assert_eq!((f.errors_fired(), f.errors_pending()), (2, 0));
        f.drop_connection_after(1);
        assert!(!f.should_drop());
        assert!(f.should_drop());
        assert!(!f.should_drop());
        assert_eq!(f.connections_dropped(), 1);
        f.fail_next(1, 6, 3, None, None);
        assert_eq!(f.errors_pending(), 3);
        f.clear();
        assert_eq!((f.errors_fired(), f.errors_pending()), (2, 0));
    }
}
