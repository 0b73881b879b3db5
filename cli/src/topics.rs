//! `krafty topics`: create, list, describe, delete, add partitions.

use krafty::admin::{NewTopic, OffsetSpec};
use krafty::TopicPartition;

use crate::{CliResult, ClientArgs};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    Create {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = -1)]
        partitions: i32,
        #[arg(long = "replication-factor", default_value_t = -1)]
        replication_factor: i16,
        /// A topic config, `key=value` (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    List {
        /// Include internal topics such as __consumer_offsets.
        #[arg(long)]
        internal: bool,
    },
    /// Each partition's leader, replicas, ISR, log start offset, the leader's log end offset
    /// and the high watermark; under it one line per replica: its log end offset (asked of
    /// the replica's own node), whether it is in the ISR, and its lag behind the leader.
    Describe {
        /// Only this topic (default: all).
        #[arg(long)]
        topic: Option<String>,
    },
    Delete {
        #[arg(long)]
        topic: String,
    },
    /// Grow a topic to `--partitions` partitions.
    AddPartitions {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partitions: i32,
    },
}

pub async fn run(client: &ClientArgs, command: Command) -> CliResult {
    let admin = crate::props::admin(client).await?;
    let e = |e: krafty::KafkaError| e.to_string();
    match command {
        Command::Create {
            topic,
            partitions,
            replication_factor,
            configs,
        } => {
            let mut t = NewTopic::new(&topic, partitions, replication_factor);
            t.configs = crate::props::pairs(&configs, "--config")?
                .into_iter()
                .collect();
            admin.create_topics(&[t]).await.map_err(e)?;
            println!("Created topic {topic}.");
        }
        Command::List { internal } => {
            for t in admin.list_topics(internal).await.map_err(e)? {
                println!("{t}");
            }
        }
        Command::Describe { topic } => {
            let names = match topic {
                Some(t) => vec![t],
                None => admin.list_topics(false).await.map_err(e)?,
            };
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            for t in admin.describe_topics(&refs).await.map_err(e)? {
                let tps: Vec<TopicPartition> = t
                    .partitions
                    .iter()
                    .map(|p| TopicPartition::new(&t.name, p.partition))
                    .collect();
                let start = admin
                    .list_offsets(&tps, OffsetSpec::Earliest)
                    .await
                    .map_err(e)?;
                // A consumer's latest (replica id -1, read_uncommitted, from the leader) is the
                // high watermark. Read before the replicas' log ends: a leader's log end read
                // after it is never below it.
                let high_watermarks = admin
                    .list_offsets(&tps, OffsetSpec::Latest)
                    .await
                    .map_err(e)?;
                let log_ends = admin.list_replica_log_end_offsets(&tps).await.map_err(e)?;
                let configs = admin.describe_topic_configs(&t.name).await.map_err(e)?;
                let overrides: Vec<String> = configs
                    .iter()
                    .filter(|c| !c.2)
                    .map(|c| format!("{}={}", c.0, c.1))
                    .collect();
                let rf = t.partitions.first().map_or(0, |p| p.replicas.len());
                println!(
                    "Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
                    t.name,
                    t.partitions.len(),
                    rf,
                    overrides.join(",")
                );
                for (p, tp) in t.partitions.iter().zip(&tps) {
                    let list = |v: &[i32]| {
                        v.iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    };
                    let log_end = |node: i32| match log_ends.get(&(tp.clone(), node)) {
                        Some(Ok(offset)) => Some(*offset),
                        Some(Err(err)) => {
                            eprintln!("replica {node} of {tp}: log end offset unavailable: {err}");
                            None
                        }
                        None => None,
                    };
                    // The partition's LogEndOffset is its leader's: past the high watermark it
                    // holds records not yet on every ISR member (on one node the two are equal).
                    let leader_end = log_end(p.leader);
                    println!(
                        "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tLogStartOffset: {}\tLogEndOffset: {}\tHighWatermark: {}",
                        t.name,
                        p.partition,
                        p.leader,
                        list(&p.replicas),
                        list(&p.isr),
                        start.get(tp).copied().unwrap_or(-1),
                        shown(leader_end),
                        high_watermarks.get(tp).copied().unwrap_or(-1)
                    );
                    for replica in &p.replicas {
                        let end = if *replica == p.leader {
                            leader_end
                        } else {
                            log_end(*replica)
                        };
                        println!(
                            "\t\tReplica: {}\tLogEndOffset: {}\tInIsr: {}\tLag: {}",
                            replica,
                            shown(end),
                            p.isr.contains(replica),
                            shown(replica_lag(leader_end, end))
                        );
                    }
                }
            }
        }
        Command::Delete { topic } => {
            admin.delete_topics(&[topic.as_str()]).await.map_err(e)?;
            println!("Deleted topic {topic}.");
        }
        Command::AddPartitions { topic, partitions } => {
            admin
                .create_partitions(&topic, partitions)
                .await
                .map_err(e)?;
            println!("Topic {topic} now has {partitions} partitions.");
        }
    }
    admin.close().await;
    Ok(())
}

/// How many records a replica lacks: the leader's log end offset minus the replica's, as
/// Kafka's ISR check measures it (a follower is caught up when it has reached the leader's log
/// end). Not the high watermark minus it: the high watermark is the minimum over the ISR, so a
/// slow ISR member would show no lag while it is the one holding the high watermark back.
/// The two log ends come from different nodes at different moments; a follower read a moment
/// after the leader can be ahead of that reading, which is no lag, not a negative one.
fn replica_lag(leader_end: Option<i64>, replica_end: Option<i64>) -> Option<i64> {
    Some((leader_end? - replica_end?).max(0))
}

/// An offset or lag, or `unavailable` when its node did not answer: the rest of the
/// partition is still described.
fn shown(value: Option<i64>) -> String {
    value.map_or_else(|| "unavailable".to_string(), |v| v.to_string())
}
