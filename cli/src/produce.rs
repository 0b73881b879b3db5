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
    /// How lines become records.
    #[arg(long, value_enum, default_value_t = InputFormat::Line)]
    format: InputFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum InputFormat {
    /// The line is the value (or `key<sep>value` with --key-separator).
    Line,
    /// One JSON object per line, as `krafty consume --format json` prints them: `value`, and
    /// optionally `key`, `headers` (`[[name, value], ...]` or an object), `timestamp` (ms)
    /// and `partition`.
    Json,
}

/// A record from one line of `--format json` input.
fn json_record(topic: &str, line: &str) -> Result<ProducerRecord<String, String>, String> {
    let bad = |why: &str| format!("{why} in line: {line}");
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    let text = |name: &str| -> Result<Option<String>, String> {
        match obj.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(&format!("`{name}` is not a string"))),
        }
    };
    let int = |name: &str| -> Result<Option<i64>, String> {
        match obj.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(n) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| bad(&format!("`{name}` is not an integer"))),
        }
    };
    // Headers as `[[name, value], ...]` (what `consume --format json` prints) or an object.
    let pairs: Vec<(&str, &serde_json::Value)> = match obj.get("headers") {
        None | Some(serde_json::Value::Null) => vec![],
        Some(serde_json::Value::Object(h)) => h.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([serde_json::Value::String(k), v]) => Ok((k.as_str(), v)),
                _ => Err(bad("a header is not a [name, value] pair")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("`headers` is not an array or object")),
    };
    let mut headers = Vec::new();
    for (k, v) in pairs {
        headers.push(match v {
            serde_json::Value::String(s) => Header::new(k, s.clone()),
            serde_json::Value::Null => Header {
                key: k.to_string(),
                value: None,
            },
            _ => return Err(bad(&format!("header `{k}` is not a string"))),
        });
    }
    Ok(ProducerRecord {
        topic: topic.to_string(),
        partition: int("partition")?.map(|p| p as i32),
        timestamp: int("timestamp")?,
        key: text("key")?,
        value: text("value")?,
        headers,
    })
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
        if args.format == InputFormat::Json {
            let mut record = json_record(&args.topic, &line)?;
            record.partition = record.partition.or(args.partition);
            record.headers.extend(headers.iter().cloned());
            pending.push(producer.send(record).await.map_err(|e| e.to_string())?);
            continue;
        }
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
