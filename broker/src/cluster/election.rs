//! Leader election, as Kafka's controller does it when a broker is fenced or comes back: the
//! new leader is the first replica (in assignment order, so the preferred one when it can)
//! that is in the ISR and alive. When no in-sync replica is alive the partition has no
//! leader (-1) and keeps its last ISR member, so that replica, holding everything the HW
//! covered, is elected when it returns; only with `unclean.leader.election.enable` may a
//! replica outside the ISR take over (losing what it lacks).

use super::controller::PartitionState;

/// The state after `node` is fenced; `None` when the partition does not change.
pub fn on_fenced(
    state: &PartitionState,
    node: i32,
    alive: impl Fn(i32) -> bool,
    unclean: bool,
) -> Option<PartitionState> {
    if !state.replicas.contains(&node) || (state.leader != node && !state.isr.contains(&node)) {
        return None;
    }
    let mut next = state.clone();
    next.partition_epoch += 1;
    let others: Vec<i32> = state.isr.iter().copied().filter(|r| *r != node).collect();
    if state.leader != node {
        next.isr = others;
        return Some(next);
    }
    next.leader_epoch += 1;
    let clean = state
        .replicas
        .iter()
        .copied()
        .find(|r| *r != node && others.contains(r) && alive(*r));
    match clean {
        Some(leader) => {
            next.leader = leader;
            next.isr = others;
        }
        None => {
            let unclean_pick = unclean
                .then(|| {
                    state
                        .replicas
                        .iter()
                        .copied()
                        .find(|r| *r != node && alive(*r))
                })
                .flatten();
            match unclean_pick {
                Some(leader) => {
                    next.leader = leader;
                    next.isr = vec![leader];
                }
                None => {
                    next.leader = -1;
                    // The last in-sync replica stays the ISR: it is the one to elect.
                    if others.is_empty() {
                        next.isr = vec![node];
                    } else {
                        next.isr = others;
                    }
                }
            }
        }
    }
    Some(next)
}

/// The state after `node` comes back: a leaderless partition whose ISR holds it elects it.
pub fn on_unfenced(state: &PartitionState, node: i32) -> Option<PartitionState> {
    if state.leader != -1 || !state.isr.contains(&node) {
        return None;
    }
    let mut next = state.clone();
    next.leader = node;
    next.leader_epoch += 1;
    next.partition_epoch += 1;
    next.isr = vec![node];
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(replicas: &[i32], leader: i32, isr: &[i32]) -> PartitionState {
        PartitionState {
            replicas: replicas.to_vec(),
            leader,
            leader_epoch: 4,
            isr: isr.to_vec(),
            partition_epoch: 9,
        }
    }

    #[test]
    fn a_fenced_leader_hands_over_to_the_first_live_in_sync_replica_with_the_epoch_bumped() {
        let s = state(&[1, 2, 3], 1, &[1, 2, 3]);
        let next = on_fenced(&s, 1, |n| n != 1, false).unwrap();
        assert_eq!(
            (next.leader, next.leader_epoch, next.partition_epoch),
            (2, 5, 10)
        );
        assert_eq!(next.isr, [2, 3]);
        // Node 2 is down too: 3 takes over.
        let next = on_fenced(&s, 1, |n| n == 3, false).unwrap();
        assert_eq!((next.leader, next.isr.clone()), (3, vec![2, 3]));
    }

    #[test]
    fn a_fenced_follower_leaves_the_isr_and_the_leader_stays() {
        let s = state(&[1, 2, 3], 1, &[1, 2, 3]);
        let next = on_fenced(&s, 3, |n| n != 3, false).unwrap();
        assert_eq!((next.leader, next.leader_epoch), (1, 4));
        assert_eq!(next.isr, [1, 2]);
        assert_eq!(
            on_fenced(&state(&[1, 2, 3], 1, &[1, 2]), 3, |_| true, false),
            None
        );
        assert_eq!(
            on_fenced(&state(&[1, 2], 1, &[1, 2]), 3, |_| true, false),
            None
        );
    }

    #[test]
    fn without_a_live_in_sync_replica_the_partition_waits_for_the_last_one_unless_unclean() {
        let s = state(&[1, 2, 3], 1, &[1]);
        let next = on_fenced(&s, 1, |n| n != 1, false).unwrap();
        assert_eq!((next.leader, next.leader_epoch), (-1, 5));
        assert_eq!(next.isr, [1]);
        // Node 2 returning does not lead: it may lack what 1 acknowledged.
        assert_eq!(on_unfenced(&next, 2), None);
        let back = on_unfenced(&next, 1).unwrap();
        assert_eq!(
            (back.leader, back.leader_epoch, back.isr.clone()),
            (1, 6, vec![1])
        );

        let unclean = on_fenced(&s, 1, |n| n != 1, true).unwrap();
        assert_eq!((unclean.leader, unclean.isr.clone()), (2, vec![2]));
    }
}
