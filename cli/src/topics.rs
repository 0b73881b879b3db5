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
                let end = admin
                    .list_offsets(&tps, OffsetSpec::Latest)
                    .await
                    .map_err(e)?;
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
                    println!(
                        "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tLogStartOffset: {}\tLogEndOffset: {}",
                        t.name,
                        p.partition,
                        p.leader,
                        list(&p.replicas),
                        list(&p.isr),
                        start.get(tp).copied().unwrap_or(-1),
                        end.get(tp).copied().unwrap_or(-1)
                    );
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
