//! The dev cluster's fault API as text commands, one per line: what `krafty-broker --nodes N`
//! (and `krafty broker --nodes N`) reads on its standard input, so a shell script or a test in
//! any language can stop, start, isolate and heal nodes of a running cluster and see the
//! result. Each command answers one line: `ok ...` or `error: ...`.

use super::ClusterHandle;

/// What `help` prints.
pub const HELP: &str = "commands: nodes | stop <id> | start <id> | isolate <id> | heal <id> | \
pause-fetchers <id> | resume-fetchers <id> | state <topic> <partition> (leader, epoch, ISR, and \
each replica's log end offset and high watermark) | help";

/// Runs one command line against `cluster`; the answer line.
pub async fn execute(cluster: &ClusterHandle, line: &str) -> String {
    match run(cluster, line).await {
        Ok(answer) => answer,
        Err(e) => format!("error: {e}"),
    }
}

async fn run(cluster: &ClusterHandle, line: &str) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let node = |at: usize| -> Result<i32, String> {
        let word = words
            .get(at)
            .ok_or_else(|| format!("`{}` needs a node id", words[0]))?;
        let id: i32 = word
            .parse()
            .map_err(|_| format!("`{word}` is not a node id"))?;
        if !cluster.node_ids().contains(&id) {
            return Err(format!("no node {id} (nodes: {:?})", cluster.node_ids()));
        }
        Ok(id)
    };
    let io = |e: std::io::Error| e.to_string();
    match words.first().copied() {
        None => Err("empty command; try `help`".into()),
        Some("help") => Ok(HELP.into()),
        Some("nodes") => {
            let running: Vec<i32> = cluster.nodes().iter().map(|n| n.node_id()).collect();
            let all: Vec<String> = cluster
                .node_ids()
                .into_iter()
                .map(|id| {
                    let state = if running.contains(&id) { "up" } else { "down" };
                    format!("{id}={state}")
                })
                .collect();
            Ok(format!("ok nodes {}", all.join(" ")))
        }
        Some("stop") => {
            let id = node(1)?;
            cluster.stop_node(id).await.map_err(io)?;
            Ok(format!("ok stop {id}"))
        }
        Some("start") => {
            let id = node(1)?;
            cluster.start_node(id).await.map_err(io)?;
            Ok(format!("ok start {id}"))
        }
        Some("isolate") => {
            let id = node(1)?;
            cluster.isolate_node(id).map_err(io)?;
            Ok(format!("ok isolate {id}"))
        }
        Some("heal") => {
            let id = node(1)?;
            cluster.heal_node(id).map_err(io)?;
            Ok(format!("ok heal {id}"))
        }
        Some("pause-fetchers") => {
            let id = node(1)?;
            cluster.pause_replica_fetchers(id);
            Ok(format!("ok pause-fetchers {id}"))
        }
        Some("resume-fetchers") => {
            let id = node(1)?;
            cluster.resume_replica_fetchers(id);
            Ok(format!("ok resume-fetchers {id}"))
        }
        Some("state") => {
            let (Some(topic), Some(partition)) = (words.get(1), words.get(2)) else {
                return Err("`state` needs a topic and a partition".into());
            };
            let partition: i32 = partition
                .parse()
                .map_err(|_| format!("`{partition}` is not a partition"))?;
            let s = cluster
                .partition_state(topic, partition)
                .ok_or_else(|| format!("no partition {topic}-{partition}"))?;
            let list = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            // Each replica's log end and high watermark as its node holds them (a follower's
            // high watermark is the one it last heard from its leader).
            let each: Vec<String> = cluster
                .replicas(topic, partition)
                .iter()
                .map(|r| {
                    format!(
                        " replica={}:log_end_offset={}:high_watermark={}",
                        r.node_id, r.log_end_offset, r.high_watermark
                    )
                })
                .collect();
            Ok(format!(
                "ok state {topic} {partition} leader={} leader_epoch={} isr={} replicas={}{}",
                s.leader,
                s.leader_epoch,
                list(&s.isr),
                list(&s.replicas),
                each.concat()
            ))
        }
        Some(other) => Err(format!("unknown command `{other}`; try `help`")),
    }
}
