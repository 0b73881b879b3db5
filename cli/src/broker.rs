//! `krafty broker`: the dev broker, as the `krafty-broker` binary runs it.

use crate::CliResult;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: String,
    /// Directory for the logs; without it data lives in memory.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// A Kafka `server.properties` file.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// A broker property, `key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

pub async fn run(args: Args) -> CliResult {
    let mut builder = krafty_broker::Broker::builder().listen(&args.listen);
    if let Some(dir) = args.data_dir {
        builder = builder.data_dir(dir);
    }
    if let Some(file) = args.config {
        builder = builder.properties_file(file);
    }
    for (k, v) in crate::props::pairs(&args.set, "--set")? {
        builder = builder.config(k, v);
    }
    let broker = builder.start().await.map_err(|e| e.to_string())?;
    println!(
        "krafty dev broker listening on {}",
        broker.bootstrap_servers()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    broker.shutdown().await;
    Ok(())
}
