//! `krafty`: console tools for Kafka clusters and the Krafty dev broker.
//!
//! The same jobs as Kafka's scripts (console producer and consumer, topics, consumer-groups,
//! perf tests), against the dev broker and a real cluster alike.

mod consume;
mod groups;
mod perf;
mod produce;
mod props;
mod topics;

use clap::{Parser, Subcommand};

/// mimalloc, as the broker's own binary (`ServerAllocator`).
#[global_allocator]
static ALLOCATOR: krafty_broker::ServerAllocator = krafty_broker::ServerAllocator;

/// Options every client subcommand takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// The cluster to talk to.
    #[arg(
        long = "bootstrap-server",
        default_value = "localhost:9092",
        global = true
    )]
    pub bootstrap_server: String,
    /// A properties file of client configs (Kafka's property names).
    #[arg(long = "command-config", global = true)]
    pub command_config: Option<std::path::PathBuf>,
    /// A client property, `key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true)]
    pub properties: Vec<String>,
}

#[derive(Parser, Debug)]
#[command(
    name = "krafty",
    version,
    about = "Kafka console tools and the Krafty dev broker"
)]
struct Cli {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the dev broker.
    Broker(krafty_broker::cli::BrokerArgs),
    /// Send lines from stdin or a file as records.
    Produce(produce::Args),
    /// Print records from a topic.
    Consume(consume::Args),
    /// Create, list, describe, delete topics; add partitions.
    Topics {
        #[command(subcommand)]
        command: topics::Command,
    },
    /// List and describe consumer groups; reset their offsets.
    Groups {
        #[command(subcommand)]
        command: groups::Command,
    },
    /// Producer and consumer throughput and latency tests.
    Perf {
        #[command(subcommand)]
        command: perf::Command,
    },
}

/// Errors are one line on stderr and a non-zero exit code.
pub type CliResult = Result<(), String>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Broker(a) => krafty_broker::cli::run(a).await,
        Command::Produce(a) => produce::run(&cli.client, a).await,
        Command::Consume(a) => consume::run(&cli.client, a).await,
        Command::Topics { command } => topics::run(&cli.client, command).await,
        Command::Groups { command } => groups::run(&cli.client, command).await,
        Command::Perf { command } => perf::run(&cli.client, command).await,
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
