//! The high watermark of a replicated partition: the leader's log end, lowered to the log end
//! of every in-sync follower. Below it every in-sync replica holds the records, so consumers
//! read only there and acks=all answers once it passes a batch.

use std::collections::HashMap;

use super::isr::FollowerProgress;

/// The high watermark for `isr` (the leader included), or `None` when the leader is the only
/// in-sync replica (the high watermark is then its log end, moving with every append). A
/// follower in the ISR not heard from yet counts as holding nothing.
pub fn compute(
    leader: i32,
    leader_end: i64,
    isr: &[i32],
    followers: &HashMap<i32, FollowerProgress>,
) -> Option<i64> {
    let mut followers_in_sync = isr.iter().filter(|id| **id != leader).peekable();
    followers_in_sync.peek()?;
    Some(followers_in_sync.fold(leader_end, |hw, id| {
        hw.min(followers.get(id).map_or(0, |f| f.log_end_offset))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_high_watermark_is_the_lowest_log_end_in_the_isr() {
        let mut followers = HashMap::new();
        let mut at = |id: i32, end: i64| {
            let mut f = FollowerProgress::new(0);
            f.on_fetch(end, end, 0);
            followers.insert(id, f);
        };
        at(2, 7);
        at(3, 4);
        assert_eq!(compute(1, 10, &[1, 2, 3], &followers), Some(4));
        assert_eq!(compute(1, 10, &[1, 2], &followers), Some(7));
        assert_eq!(compute(1, 5, &[1, 2], &followers), Some(5));
        assert_eq!(compute(1, 10, &[1], &followers), None);
        assert_eq!(
            compute(1, 10, &[1, 4], &followers),
            Some(0),
            "not heard from"
        );
    }
}
