//! Fault injection, so tests can drive a client's retry and failover paths.
//!
//! Every control takes plain integers and strings (API keys and Kafka error codes as numbers)
//! so the Python, Node and C packages can expose it unchanged.

use crate::sync::LockExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct ErrorRule {
    api_key: i16,
    error_code: i16,
    remaining: u32,
    topic: Option<String>,
    partition: Option<i32>,
}

#[derive(Debug, Clone)]
struct ThrottleRule {
    api_key: i16,
    throttle_ms: i32,
    remaining: u32,
}

#[derive(Debug, Default)]
struct State {
    errors: Vec<ErrorRule>,
    throttles: Vec<ThrottleRule>,
    latency_ms: Vec<(i16, u64)>,
    /// Requests (on any connection) until the connection serving the next one is dropped.
    drop_after: Option<u32>,
    /// Injected errors answered so far (each entry of a request counts once).
    errors_fired: u64,
    /// Connections dropped by `drop_connection_after` so far.
    drops_fired: u64,
    /// Responses sent with an injected throttle time.
    throttles_fired: u64,
    /// Requests that arrived on a connection before its throttle time had passed.
    requests_while_throttled: u64,
    /// For each throttled response, how long its connection's next request came after it.
    waits_after_throttle: Vec<Duration>,
}

/// What one connection was last told about throttling; kept by the connection's task.
#[derive(Debug, Default)]
pub(crate) struct ConnectionThrottle {
    /// When the last throttled response was written, until the next request arrives.
    sent: Option<Instant>,
    /// Until when the last throttled response throttled the connection.
    until: Option<Instant>,
}

/// The broker's fault-injection controls; shared by every connection.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<State>,
    /// True while the node is cut off (see [`Faults::set_isolated`]).
    isolated: tokio::sync::watch::Sender<bool>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            state: Mutex::default(),
            isolated: tokio::sync::watch::channel(false).0,
        }
    }
}

impl Faults {
    /// The next `count` requests of API `api_key` fail with `error_code`; with `topic` (and
    /// `partition`) only that topic's (partition's) entries fail, where the API has them.
    /// Applies to Produce, Fetch and ListOffsets (per partition), Metadata (per partition of an
    /// existing topic, answered with no leader) and, for whole requests, to
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
        self.state.locked().errors.push(ErrorRule {
            api_key,
            error_code,
            remaining: count,
            topic: topic.map(str::to_string),
            partition,
        });
    }

    /// Every request of API `api_key` waits `millis` before being handled (0 removes it).
    pub fn add_latency(&self, api_key: i16, millis: u64) {
        let mut s = self.state.locked();
        s.latency_ms.retain(|(k, _)| *k != api_key);
        if millis > 0 {
            s.latency_ms.push((api_key, millis));
        }
    }

    /// After `requests` more requests are answered, the next one is handled but its connection
    /// is closed instead of answering (the client sees the connection die mid-flight and cannot
    /// know the request took effect: a produce was appended but never acknowledged).
    pub fn drop_connection_after(&self, requests: u32) {
        self.state.locked().drop_after = Some(requests);
    }

    /// The next `count` responses of API `api_key` carry `throttle_time_ms` (KIP-219: the
    /// client must send nothing more on that connection for that long). The broker answers at
    /// once and delays nothing itself; a request that arrives early is served all the same,
    /// and counted (`requests_while_throttled`). A response whose version has no throttle field
    /// is not counted and leaves the rule in place.
    pub fn throttle_next(&self, api_key: i16, throttle_ms: i32, count: u32) {
        self.state.locked().throttles.push(ThrottleRule {
            api_key,
            throttle_ms,
            remaining: count,
        });
    }

    /// A network partition around this node: every connection, open or new, goes silent (the
    /// broker reads nothing more and answers nothing, and sends no FIN or RST either), so
    /// peers see requests time out, as across a cut link, rather than a refused connection.
    /// Ending it closes those connections.
    pub fn set_isolated(&self, isolated: bool) {
        self.isolated.send_replace(isolated);
    }

    /// Whether the node is cut off now.
    pub fn is_isolated(&self) -> bool {
        *self.isolated.borrow()
    }

    /// Watches [`set_isolated`](Self::set_isolated).
    pub(crate) fn isolation(&self) -> tokio::sync::watch::Receiver<bool> {
        self.isolated.subscribe()
    }

    /// Removes every injected fault that has not fired yet (the fired counts are kept).
    pub fn clear(&self) {
        let mut s = self.state.locked();
        s.errors.clear();
        s.throttles.clear();
        s.latency_ms.clear();
        s.drop_after = None;
    }

    /// How many injected errors have been answered: one per request entry (partition, or
    /// whole request) that carried one. Lets a test prove that its fault really fired.
    pub fn errors_fired(&self) -> u64 {
        self.state.locked().errors_fired
    }

    /// How many connections `drop_connection_after` has dropped.
    pub fn connections_dropped(&self) -> u64 {
        self.state.locked().drops_fired
    }

    /// How many responses carried an injected throttle time.
    pub fn throttles_fired(&self) -> u64 {
        self.state.locked().throttles_fired
    }

    /// How many requests arrived on a connection before the throttle time of the last
    /// throttled response on it had passed: a client that honours throttling sends none.
    pub fn requests_while_throttled(&self) -> u64 {
        self.state.locked().requests_while_throttled
    }

    /// For each throttled response whose connection sent another request, the time between
    /// writing the response and that next request's arrival, in the order they arrived.
    pub fn waits_after_throttle(&self) -> Vec<Duration> {
        self.state.locked().waits_after_throttle.clone()
    }

    /// Injected errors not answered yet (the sum of every rule's remaining count).
    pub fn errors_pending(&self) -> u64 {
        let s = self.state.locked();
        s.errors.iter().map(|r| u64::from(r.remaining)).sum()
    }

    pub(crate) fn latency(&self, api_key: i16) -> Option<Duration> {
        let s = self.state.locked();
        s.latency_ms
            .iter()
            .find(|(k, _)| *k == api_key)
            .map(|(_, ms)| Duration::from_millis(*ms))
    }

    /// Counts a request; true when its connection must be dropped instead of answered.
    pub(crate) fn should_drop(&self) -> bool {
        let mut s = self.state.locked();
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

    /// The throttle time for a response of `api_key` about to be sent, consuming one use of
    /// the matching rule. The caller sets it on the response and, once written, tells the
    /// connection's [`ConnectionThrottle`] with [`Faults::throttle_sent`].
    pub(crate) fn take_throttle(&self, api_key: i16) -> Option<i32> {
        let mut s = self.state.locked();
        let i = s
            .throttles
            .iter()
            .position(|r| r.api_key == api_key && r.remaining > 0)?;
        let rule = &mut s.throttles[i];
        rule.remaining -= 1;
        let ms = rule.throttle_ms;
        if rule.remaining == 0 {
            s.throttles.remove(i);
        }
        s.throttles_fired += 1;
        Some(ms)
    }

    /// A response throttling its connection for `throttle_ms` was written at `now`.
    pub(crate) fn throttle_sent(
        &self,
        conn: &mut ConnectionThrottle,
        now: Instant,
        throttle_ms: i32,
    ) {
        conn.sent = Some(now);
        conn.until = Some(now + Duration::from_millis(throttle_ms.max(0) as u64));
    }

    /// A request was read from the connection at `now`: counted if the connection was still
    /// throttled (the connection's reads are buffered, so a request the client pipelined
    /// before it read the throttled response counts too), and timed if it is the first after
    /// a throttled response.
    pub(crate) fn request_arrived(&self, conn: &mut ConnectionThrottle, now: Instant) {
        let early = conn.until.is_some_and(|until| now < until);
        let first_after = conn.sent.take();
        if !early && first_after.is_none() {
            return;
        }
        let mut s = self.state.locked();
        if let Some(sent) = first_after {
            s.waits_after_throttle
                .push(now.saturating_duration_since(sent));
        }
        if early {
            s.requests_while_throttled += 1;
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
        let mut s = self.state.locked();
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

    #[test]
    fn throttles_are_consumed_per_response_and_early_requests_counted() {
        let f = Faults::default();
        f.throttle_next(0, 1500, 2);
        assert_eq!(f.take_throttle(1), None);
        assert_eq!(f.take_throttle(0), Some(1500));
        let mut conn = ConnectionThrottle::default();
        let t0 = Instant::now();
        f.throttle_sent(&mut conn, t0, 1500);
        f.request_arrived(&mut conn, t0 + Duration::from_millis(100));
        f.request_arrived(&mut conn, t0 + Duration::from_millis(200));
        f.request_arrived(&mut conn, t0 + Duration::from_millis(1600));
        assert_eq!(f.requests_while_throttled(), 2);
        assert_eq!(f.waits_after_throttle(), vec![Duration::from_millis(100)]);
        assert_eq!(f.take_throttle(0), Some(1500));
        assert_eq!(f.take_throttle(0), None);
        assert_eq!(f.throttles_fired(), 2);
        f.throttle_next(0, 10, 1);
        f.clear();
        assert_eq!(f.take_throttle(0), None);
    }
}
