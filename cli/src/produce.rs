//! `krafty produce`: lines from stdin or a file become records.

use std::io::BufRead;
use std::time::Duration;

use krafty::producer::{KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::record::Header;
use krafty::serialization::StringSerde;

use crate::{CliResult, ClientArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long)]
    topic: String,
    /// Read lines from this file instead of stdin.
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Split each line into key and value at the first occurrence of this separator.
    #[arg(long = "key-separator")]
    key_separator: Option<String>,
    /// A header added to every record, `key=value` (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    headers: Vec<String>,
    /// acks: 0, 1 or all.
    #[arg(long)]
    acks: Option<String>,
    /// Send every record to this partition.
    #[arg(long)]
    partition: Option<i32>,
}

pub async fn run(client: &ClientArgs, args: Args) -> CliResult {
    let mut extra = Vec::new();
    if let Some(a) = &args.acks {
        extra.push(("acks", a.clone()));
        if a != "all" && a != "-1" {
            extra.push(("enable.idempotence", "false".to_string()));
        }
    }
    let props = crate::props::client_properties(client, &extra)?;
    let config = ProducerConfig::from_properties(props).map_err(|e| e.to_string())?;
    let producer: KafkaProducer<String, String> =
        KafkaProducer::new(config, StringSerde, StringSerde)
            .await
            .map_err(|e| e.to_string())?;
    let headers: Vec<Header> = crate::props::pairs(&args.headers, "--header")?
        .into_iter()
        .map(|(k, v)| Header::new(k, v))
        .collect();
    let reader: Box<dyn BufRead> = match &args.file {
        Some(f) => Box::new(std::io::BufReader::new(
            std::fs::File::open(f).map_err(|e| format!("{}: {e}", f.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let mut pending = Vec::new();
    for line in reader.lines() {
        let line = line.map_err(|e| e.to_string())?;
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(k.to_string()), v.to_string()),
                None => return Err(format!("no key separator `{sep}` in line: {line}")),
            },
            None => (None, line),
        };
        let mut record = ProducerRecord::new(args.topic.clone(), value);
        record.key = key;
        record.partition = args.partition;
        record.headers = headers.clone();
        pending.push(producer.send(record).await.map_err(|e| e.to_string())?);
    }
    let total = pending.len();
    let mut failed = 0;
    for p in pending {
        if let Err(e) = p.await {
            failed += 1;
            eprintln!("delivery failed: {e}");
        }
    }
    producer
        .close(Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("{} records sent to {}", total - failed, args.topic);
    if failed > 0 {
        return Err(format!("{failed} of {total} records were not delivered"));
    }
    Ok(())
}
