//! The in-sync replica set, as the leader sees its followers (Kafka's rules): a follower is
//! caught up when it fetches from the leader's log end; it falls out of sync when it has been
//! behind the log end for longer than `replica.lag.time.max.ms`, and may join again once it
//! fetches from at or past the high watermark.

/// What the leader knows of one follower, from its fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's log end: the offset of its last fetch.
    pub log_end_offset: i64,
    /// When the follower last held everything the leader had.
    pub last_caught_up_ms: i64,
    /// The leader's log end and the time at the follower's previous fetch.
    last_fetch_leader_end: i64,
    last_fetch_ms: i64,
}

impl FollowerProgress {
    /// A follower not heard from yet: it has the lag time from now to catch up.
    pub fn new(now_ms: i64) -> FollowerProgress {
        FollowerProgress {
            log_end_offset: 0,
            last_caught_up_ms: now_ms,
            last_fetch_leader_end: 0,
            last_fetch_ms: now_ms,
        }
    }

    /// A fetch (or a read pass of a parked fetch) from `fetch_offset` while the leader's log
    /// ends at `leader_end`. Fetching from the end means caught up now; fetching from where
    /// the leader ended at the previous fetch means caught up as of that fetch, or as of now
    /// when it is the same fetch offset (a fetch parked at the end, woken by the append that
    /// moved it: it held everything until that append).
    pub fn on_fetch(&mut self, fetch_offset: i64, leader_end: i64, now_ms: i64) {
        if fetch_offset >= leader_end {
            self.last_caught_up_ms = now_ms;
        } else if fetch_offset >= self.last_fetch_leader_end {
            let held_until = if fetch_offset == self.log_end_offset {
                now_ms
            } else {
                self.last_fetch_ms
            };
            self.last_caught_up_ms = self.last_caught_up_ms.max(held_until);
        }
        self.log_end_offset = fetch_offset;
        self.last_fetch_leader_end = leader_end;
        self.last_fetch_ms = now_ms;
    }

    /// Behind the leader's log end and not caught up within `lag_max_ms`.
    pub fn out_of_sync(&self, leader_end: i64, now_ms: i64, lag_max_ms: i64) -> bool {
        self.log_end_offset < leader_end && now_ms - self.last_caught_up_ms > lag_max_ms
    }
}

/// Whether a follower outside the ISR may join it: it holds everything below the high
/// watermark.
pub fn may_join(follower_end: i64, high_watermark: i64) -> bool {
    follower_end >= high_watermark
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A follower fetching from the end stays in sync however long it takes; one left behind
    /// falls out after the lag time; fetching from the leader's previous end counts as caught
    /// up at that previous fetch.
    #[test]
    fn followers_fall_out_of_sync_after_the_lag_time() {
        let mut f = FollowerProgress::new(0);
        f.on_fetch(10, 10, 1_000);
        assert!(!f.out_of_sync(10, 100_000, 500), "caught up: never out");
        assert!(!f.out_of_sync(20, 1_400, 500));
        assert!(
            f.out_of_sync(20, 1_600, 500),
            "behind for longer than the lag"
        );
        f.on_fetch(10, 20, 2_000);
        assert_eq!(
            f.last_caught_up_ms, 2_000,
            "parked at the end until the append"
        );
        f.on_fetch(10, 20, 2_100);
        assert_eq!(
            f.last_caught_up_ms, 2_000,
            "still behind: no longer caught up"
        );
        f.on_fetch(20, 30, 3_000);
        assert_eq!(
            f.last_caught_up_ms, 2_100,
            "held the end of the previous fetch"
        );
        assert!(may_join(20, 20) && !may_join(19, 20));
    }
}
