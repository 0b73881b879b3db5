//! `krafty-broker`: run the dev broker from the command line.

use clap::Parser;

/// A single-node Kafka-protocol broker for development and tests.
#[derive(Parser, Debug)]
#[command(name = "krafty-broker", version)]
struct Args {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: String,
    /// Directory for the logs; without it data lives in memory.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// A Kafka `server.properties` file.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// A broker property, `key=value` (repeatable), e.g. `--set num.partitions=3`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut builder = krafty_broker::Broker::builder().listen(&args.listen);
    if let Some(dir) = args.data_dir {
        builder = builder.data_dir(dir);
    }
    if let Some(file) = args.config {
        builder = builder.properties_file(file);
    }
    for kv in &args.set {
        let Some((k, v)) = kv.split_once('=') else {
            eprintln!("error: --set expects key=value, got `{kv}`");
            std::process::exit(2);
        };
        builder = builder.config(k.trim(), v.trim());
    }
    let broker = match builder.start().await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("krafty-broker listening on {}", broker.bootstrap_servers());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    broker.shutdown().await;
}
