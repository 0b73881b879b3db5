//! `krafty consume`: print records, in a group or from chosen partitions.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use krafty::consumer::{
    ConsumerConfig, ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, RebalanceContext,
};
use krafty::serialization::BytesSerde;
use krafty::TopicPartition;

use crate::{CliResult, ClientArgs};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The value only.
    Value,
    /// Partition, offset, timestamp, key, headers and value, tab separated.
    Full,
    /// One JSON object per record.
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long)]
    topic: String,
    /// Consume in this group (committing offsets); without it partitions are assigned directly.
    #[arg(long)]
    group: Option<String>,
    /// Start at the earliest offset when there is no committed one.
    #[arg(long = "from-beginning")]
    from_beginning: bool,
    /// Exit after this many records.
    #[arg(long = "max-messages")]
    max_messages: Option<usize>,
    /// Read only this partition.
    #[arg(long)]
    partition: Option<i32>,
    /// Start at this offset (with --partition): a number, `earliest` or `latest`.
    #[arg(long)]
    offset: Option<String>,
    #[arg(long, value_enum, default_value = "value")]
    format: Format,
    /// Exit when no record arrived for this long (ms).
    #[arg(long = "timeout-ms")]
    timeout_ms: Option<u64>,
}

/// What was printed so far: the offsets to commit (next offset to read per partition).
type Printed = Arc<Mutex<BTreeMap<TopicPartition, OffsetAndMetadata>>>;

/// Commits what was printed from partitions about to move, so the next owner does not repeat
/// it (and records fetched but not printed are not skipped).
struct CommitOnRevoke(Printed);

impl ConsumerRebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let printed = self.0.lock().unwrap();
        ctx.commit_offsets(
            partitions
                .iter()
                .filter_map(|tp| printed.get(tp).map(|o| (tp.clone(), o.clone())))
                .collect(),
        );
    }
}

fn text(b: &Option<bytes::Bytes>) -> String {
    b.as_ref().map_or_else(
        || "null".to_string(),
        |b| String::from_utf8_lossy(b).into_owned(),
    )
}

/// Bytes as a JSON string (lossy UTF-8), null as null.
fn json_text(b: &Option<bytes::Bytes>) -> serde_json::Value {
    b.as_ref().map_or(serde_json::Value::Null, |b| {
        String::from_utf8_lossy(b).into_owned().into()
    })
}

pub async fn run(client: &ClientArgs, args: Args) -> CliResult {
    let mut extra = vec![(
        "auto.offset.reset",
        if args.from_beginning {
            "earliest"
        } else {
            "latest"
        }
        .to_string(),
    )];
    if let Some(g) = &args.group {
        extra.push(("group.id", g.clone()));
        // Commit exactly what was printed (see below), not what was fetched.
        extra.push(("enable.auto.commit", "false".to_string()));
    }
    let props = crate::props::client_properties(client, &extra)?;
    let config = ConsumerConfig::from_properties(props).map_err(|e| e.to_string())?;
    let consumer: KafkaConsumer<Option<bytes::Bytes>, Option<bytes::Bytes>> =
        KafkaConsumer::new(config, BytesSerde, BytesSerde)
            .await
            .map_err(|e| e.to_string())?;
    let printed: Printed = Arc::default();
    match (args.partition, &args.group) {
        (Some(p), _) => {
            let tp = TopicPartition::new(&args.topic, p);
            consumer
                .assign(std::slice::from_ref(&tp))
                .await
                .map_err(|e| e.to_string())?;
            match args.offset.as_deref() {
                None => {}
                Some("earliest") => consumer
                    .seek_to_beginning(std::slice::from_ref(&tp))
                    .await
                    .map_err(|e| e.to_string())?,
                Some("latest") => consumer
                    .seek_to_end(std::slice::from_ref(&tp))
                    .await
                    .map_err(|e| e.to_string())?,
                Some(n) => consumer
                    .seek(
                        &tp,
                        n.parse()
                            .map_err(|_| format!("--offset: `{n}` is not a number"))?,
                    )
                    .await
                    .map_err(|e| e.to_string())?,
            }
        }
        (None, Some(_)) => consumer
            .subscribe(
                &[args.topic.as_str()],
                Some(Box::new(CommitOnRevoke(printed.clone()))),
            )
            .await
            .map_err(|e| e.to_string())?,
        (None, None) => {
            let admin = crate::props::admin(client).await?;
            let topic = admin
                .describe_topics(&[args.topic.as_str()])
                .await
                .map_err(|e| e.to_string())?
                .remove(0);
            admin.close().await;
            let tps: Vec<TopicPartition> = topic
                .partitions
                .iter()
                .map(|p| TopicPartition::new(&args.topic, p.partition))
                .collect();
            consumer.assign(&tps).await.map_err(|e| e.to_string())?;
        }
    }
    let mut count = 0usize;
    let mut last_record = Instant::now();
    let stdout = std::io::stdout();
    'outer: loop {
        let records = consumer
            .poll(Duration::from_millis(200))
            .await
            .map_err(|e| e.to_string())?;
        if records.is_empty() {
            if args
                .timeout_ms
                .is_some_and(|t| last_record.elapsed() > Duration::from_millis(t))
            {
                break;
            }
            continue;
        }
        last_record = Instant::now();
        let mut out = stdout.lock();
        for r in records {
            let line = match args.format {
                Format::Value => text(&r.value),
                Format::Full => {
                    let headers: Vec<String> = r
                        .headers
                        .iter()
                        .map(|h| format!("{}={}", h.key, text(&h.value)))
                        .collect();
                    format!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        r.partition,
                        r.offset,
                        r.timestamp,
                        text(&r.key),
                        headers.join(","),
                        text(&r.value)
                    )
                }
                Format::Json => {
                    // `[name, value]` pairs: headers are ordered and may repeat a name.
                    let headers: Vec<serde_json::Value> = r
                        .headers
                        .iter()
                        .map(|h| serde_json::json!([h.key, json_text(&h.value)]))
                        .collect();
                    serde_json::json!({
                        "topic": r.topic,
                        "partition": r.partition,
                        "offset": r.offset,
                        "timestamp": r.timestamp,
                        "key": json_text(&r.key),
                        "headers": headers,
                        "value": json_text(&r.value),
                    })
                    .to_string()
                }
            };
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
            printed.lock().unwrap().insert(
                TopicPartition::new(&r.topic, r.partition),
                OffsetAndMetadata::new(r.offset + 1),
            );
            count += 1;
            if args.max_messages.is_some_and(|m| count >= m) {
                break 'outer;
            }
        }
    }
    let to_commit = printed.lock().unwrap().clone();
    if args.group.is_some() && !to_commit.is_empty() {
        consumer
            .commit_offsets(to_commit)
            .await
            .map_err(|e| e.to_string())?;
    }
    consumer.close().await.map_err(|e| e.to_string())?;
    eprintln!("Processed a total of {count} messages");
    Ok(())
}
