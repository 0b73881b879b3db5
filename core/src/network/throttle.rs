//! Broker throttling (KIP-219): a broker over one of the client's quotas answers at once with
//! `throttle_time_ms > 0` and mutes the connection it answered on for that long, expecting
//! the client to send nothing more on it meanwhile.
//!
//! [`Throttle`] is one connection's deadline: the connection records it after decoding a
//! response and holds every later request until it passes. [`client_throttle`] reads the time
//! from any decoded response, for the APIs and versions where the broker answers first and
//! throttles after (Java's `shouldClientThrottle`). Before those versions the broker delayed
//! the response itself and reported the time for information only: holding back again would
//! double the penalty.

use std::any::Any;
use std::sync::Mutex;
use std::time::Duration;

use kafka_protocol::messages::*;
use tokio::time::Instant;

/// One connection's throttle deadline.
///
/// Kept per connection, as the broker mutes only the connection it answered on. A new
/// connection starts unthrottled; the quota is the client id's, so if it is still exceeded the
/// next answer throttles again.
#[derive(Debug, Default)]
pub struct Throttle {
    /// Written by whichever task decodes a throttled response; read before every write.
    until: Mutex<Option<Instant>>,
}

impl Throttle {
    /// Holds this connection back for `time` from now. The deadline never moves back: a
    /// response with a shorter throttle may be read after one with a longer one.
    pub fn record(&self, time: Duration) {
        let deadline = Instant::now() + time;
        let mut until = self.until.lock().unwrap();
        if until.is_none_or(|u| u < deadline) {
            *until = Some(deadline);
        }
    }

    /// The deadline, while it is in the future.
    pub fn until(&self) -> Option<Instant> {
        let until = *self.until.lock().unwrap();
        until.filter(|u| *u > Instant::now())
    }

    /// Returns once the deadline has passed, including one recorded while waiting.
    pub async fn wait(&self) {
        while let Some(until) = self.until() {
            tokio::time::sleep_until(until).await;
        }
    }
}

/// A response type that carries a throttle time.
pub trait ThrottledResponse {
    /// The first version at which the broker answers before throttling and expects the client
    /// to hold back (Java's `shouldClientThrottle`).
    const CLIENT_THROTTLES_FROM: i16;

    fn throttle_time_ms(&self) -> i32;

    /// How long the client must hold back after this response, decoded at `version`.
    fn client_throttle(&self, version: i16) -> Option<Duration> {
        let ms = self.throttle_time_ms();
        (version >= Self::CLIENT_THROTTLES_FROM && ms > 0).then(|| Duration::from_millis(ms as u64))
    }
}

/// Implements [`ThrottledResponse`] for each listed type and builds [`client_throttle`], which
/// finds a decoded response's type among the same list.
macro_rules! throttled_responses {
    ($($response:ty => $from:literal,)*) => {
        $(
            impl ThrottledResponse for $response {
                const CLIENT_THROTTLES_FROM: i16 = $from;

                fn throttle_time_ms(&self) -> i32 {
                    self.throttle_time_ms
                }
            }
        )*

        /// How long the client must hold back after `response` (any decoded response type),
        /// decoded at `version`; `None` for a type without a throttle time.
        pub fn client_throttle(response: &dyn Any, version: i16) -> Option<Duration> {
            $(
                if let Some(r) = response.downcast_ref::<$response>() {
                    return r.client_throttle(version);
                }
            )*
            None
        }
    };
}

// Every API this client sends (`versions.rs`) whose response has a throttle time, with the
// version from which the client throttles (KIP-219). DescribeCluster and AlterClientQuotas
// responses carry one too, but Kafka leaves the client throttle off for them, as Java does.
throttled_responses! {
    ProduceResponse => 6,
    FetchResponse => 8,
    ListOffsetsResponse => 3,
    MetadataResponse => 6,
    OffsetCommitResponse => 4,
    OffsetFetchResponse => 4,
    FindCoordinatorResponse => 2,
    JoinGroupResponse => 3,
    SyncGroupResponse => 2,
    HeartbeatResponse => 2,
    LeaveGroupResponse => 2,
    InitProducerIdResponse => 1,
    ApiVersionsResponse => 2,
    CreateTopicsResponse => 3,
    DeleteTopicsResponse => 2,
    CreatePartitionsResponse => 1,
    DescribeConfigsResponse => 2,
    DeleteRecordsResponse => 1,
    DescribeGroupsResponse => 2,
    ListGroupsResponse => 2,
    DeleteGroupsResponse => 1,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_applies_from_the_kip_219_version_only() {
        let produce = ProduceResponse::default().with_throttle_time_ms(1500);
        assert_eq!(
            client_throttle(&produce, 5),
            None,
            "v5: the broker delayed it"
        );
        assert_eq!(
            client_throttle(&produce, 6),
            Some(Duration::from_millis(1500))
        );
        let fetch = FetchResponse::default().with_throttle_time_ms(20);
        assert_eq!(client_throttle(&fetch, 7), None);
        assert_eq!(client_throttle(&fetch, 12), Some(Duration::from_millis(20)));
        let unthrottled = HeartbeatResponse::default();
        assert_eq!(client_throttle(&unthrottled, 4), None);
        let not_listed = DescribeClusterResponse::default().with_throttle_time_ms(20);
        assert_eq!(client_throttle(&not_listed, 1), None);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_never_moves_back_and_wait_sees_extensions() {
        let t = Throttle::default();
        assert_eq!(t.until(), None);
        let start = Instant::now();
        t.record(Duration::from_millis(1000));
        t.record(Duration::from_millis(10));
        assert_eq!(t.until(), Some(start + Duration::from_millis(1000)));
        let waited = async {
            t.wait().await;
            Instant::now()
        };
        let extend = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            t.record(Duration::from_millis(1000));
        };
        let (done, ()) = tokio::join!(waited, extend);
        assert_eq!(done, start + Duration::from_millis(1500));
        assert_eq!(t.until(), None);
    }
}
