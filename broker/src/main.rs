//! `krafty-broker`: run the dev broker from the command line.

use clap::Parser;

#[global_allocator]
static ALLOCATOR: krafty_broker::ServerAllocator = krafty_broker::ServerAllocator;

/// A Kafka-protocol broker for development and tests (one node, or `--nodes N` in one process).
#[derive(Parser, Debug)]
#[command(name = "krafty-broker", version)]
struct Cli {
    #[command(flatten)]
    args: krafty_broker::cli::BrokerArgs,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = krafty_broker::cli::run(Cli::parse().args).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
