//! `krafty groups`: list, describe (with lag, as kafka-consumer-groups.sh), reset offsets, delete.

use std::collections::BTreeMap;

use krafty::admin::OffsetSpec;
use krafty::TopicPartition;

use crate::{CliResult, ClientArgs};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    List,
    Describe {
        #[arg(long)]
        group: String,
    },
    /// Reset a group's committed offsets (the group must have no active members).
    ResetOffsets {
        #[arg(long)]
        group: String,
        #[arg(long)]
        topic: String,
        #[arg(long = "to-earliest", group = "to")]
        to_earliest: bool,
        #[arg(long = "to-latest", group = "to")]
        to_latest: bool,
        #[arg(long = "to-offset", group = "to")]
        to_offset: Option<i64>,
        /// Milliseconds since the epoch.
        #[arg(long = "to-timestamp", group = "to")]
        to_timestamp: Option<i64>,
        /// Apply the change (without it, only print the plan, as Kafka's tool does).
        #[arg(long)]
        execute: bool,
    },
    Delete {
        #[arg(long)]
        group: String,
    },
}

pub async fn run(client: &ClientArgs, command: Command) -> CliResult {
    let admin = crate::props::admin(client).await?;
    let e = |e: krafty::KafkaError| e.to_string();
    match command {
        Command::List => {
            for g in admin.list_consumer_groups().await.map_err(e)? {
                println!("{}\t{}\t{}", g.group_id, g.state, g.protocol_type);
            }
        }
        Command::Describe { group } => {
            let desc = admin.describe_consumer_group(&group).await.map_err(e)?;
            let committed = admin.list_consumer_group_offsets(&group).await.map_err(e)?;
            let mut owner: BTreeMap<TopicPartition, (&str, &str, &str)> = BTreeMap::new();
            for m in &desc.members {
                for tp in &m.assignment {
                    owner.insert(tp.clone(), (&m.member_id, &m.host, &m.client_id));
                }
            }
            let mut partitions: Vec<TopicPartition> =
                committed.keys().chain(owner.keys()).cloned().collect();
            partitions.sort();
            partitions.dedup();
            let end = admin
                .list_offsets(&partitions, OffsetSpec::Latest)
                .await
                .map_err(e)?;
            println!("Consumer group '{group}' is {}.\n", desc.state);
            println!(
                "{:<20} {:<20} {:>9} {:>15} {:>15} {:>8} {:<40} {:<16} CLIENT-ID",
                "GROUP",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID",
                "HOST",
            );
            for tp in &partitions {
                let current = committed.get(tp);
                let log_end = end.get(tp).copied().unwrap_or(-1);
                let (id, host, client) = owner.get(tp).copied().unwrap_or(("-", "-", "-"));
                println!(
                    "{:<20} {:<20} {:>9} {:>15} {:>15} {:>8} {:<40} {:<16} {}",
                    group,
                    tp.topic,
                    tp.partition,
                    current.map_or("-".to_string(), |c| c.to_string()),
                    log_end,
                    current.map_or("-".to_string(), |c| (log_end - c).to_string()),
                    id,
                    host,
                    client
                );
            }
        }
        Command::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_offset,
            to_timestamp,
            execute,
        } => {
            let t = admin
                .describe_topics(&[topic.as_str()])
                .await
                .map_err(e)?
                .remove(0);
            let tps: Vec<TopicPartition> = t
                .partitions
                .iter()
                .map(|p| TopicPartition::new(&topic, p.partition))
                .collect();
            let target: BTreeMap<TopicPartition, i64> =
                match (to_earliest, to_latest, to_offset, to_timestamp) {
                    (true, _, _, _) => admin
                        .list_offsets(&tps, OffsetSpec::Earliest)
                        .await
                        .map_err(e)?,
                    (_, true, _, _) => admin
                        .list_offsets(&tps, OffsetSpec::Latest)
                        .await
                        .map_err(e)?,
                    (_, _, Some(o), _) => tps.iter().map(|tp| (tp.clone(), o)).collect(),
                    (_, _, _, Some(ts)) => {
                        let at = admin
                            .list_offsets(&tps, OffsetSpec::Timestamp(ts))
                            .await
                            .map_err(e)?;
                        let end = admin
                            .list_offsets(&tps, OffsetSpec::Latest)
                            .await
                            .map_err(e)?;
                        at.into_iter()
                            .map(|(tp, o)| {
                                let o = if o < 0 { end[&tp] } else { o };
                                (tp, o)
                            })
                            .collect()
                    }
                    _ => {
                        return Err(
                            "choose one of --to-earliest, --to-latest, --to-offset, --to-timestamp"
                                .into(),
                        )
                    }
                };
            println!(
                "{:<20} {:<20} {:>9} {:>12}",
                "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"
            );
            for (tp, o) in &target {
                println!(
                    "{:<20} {:<20} {:>9} {:>12}",
                    group, tp.topic, tp.partition, o
                );
            }
            if execute {
                admin
                    .alter_consumer_group_offsets(&group, &target)
                    .await
                    .map_err(e)?;
            } else {
                println!("(dry run: add --execute to apply)");
            }
        }
        Command::Delete { group } => {
            admin
                .delete_consumer_groups(&[group.as_str()])
                .await
                .map_err(e)?;
            println!("Deleted consumer group '{group}'.");
        }
    }
    admin.close().await;
    Ok(())
}
