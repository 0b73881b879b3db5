//! Where a new partition's replicas go: round-robin over the nodes, as Kafka assigns them
//! without racks. Partition p's leader (its first replica) is the node `start + p` places in
//! the list; its followers are the nodes after it, shifted by one more for every full round of
//! partitions, so the followers of one leader's partitions spread over the other nodes too.

/// Replica lists for partitions `first..first + count` over `nodes` (sorted node ids), each
/// `replication_factor` long (at most the node count). `start` picks the first leader, so
/// topics created one after another do not all lead on the same node.
pub fn assign(
    nodes: &[i32],
    first: i32,
    count: i32,
    replication_factor: usize,
    start: usize,
) -> Vec<Vec<i32>> {
    let n = nodes.len();
    if n == 0 {
        return Vec::new();
    }
    let rf = replication_factor.clamp(1, n);
    (first..first + count)
        .map(|p| {
            let p = p.max(0) as usize;
            let leader = (start + p) % n;
            // One more shift every round, so a leader's followers are not always its neighbours
            // (one node: no followers, no shift).
            let shift = if n > 1 { (start + p / n) % (n - 1) } else { 0 };
            let mut replicas = vec![nodes[leader]];
            for j in 0..rf - 1 {
                let step = 1 + (shift + j) % (n - 1);
                replicas.push(nodes[(leader + step) % n]);
            }
            replicas
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::assign;

    /// Leaders go round the nodes, each partition's replicas are distinct, and every node
    /// leads and follows its share.
    #[test]
    fn replicas_go_round_robin_and_are_distinct() {
        let nodes = [1, 2, 3];
        let a = assign(&nodes, 0, 6, 3, 0);
        let leaders: Vec<i32> = a.iter().map(|r| r[0]).collect();
        assert_eq!(leaders, [1, 2, 3, 1, 2, 3]);
        for r in &a {
            let mut sorted = r.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 3, "{r:?}");
        }
        let two = assign(&nodes, 0, 3, 2, 1);
        assert_eq!(two.iter().map(|r| r[0]).collect::<Vec<_>>(), [2, 3, 1]);
        assert!(two.iter().all(|r| r.len() == 2 && r[0] != r[1]));
        assert_eq!(
            assign(&nodes, 0, 2, 5, 0)[0].len(),
            3,
            "capped at the nodes"
        );
        assert_eq!(assign(&[7], 0, 2, 1, 0), [vec![7], vec![7]]);
    }
}
