//! The command-line face of the broker, shared by `krafty-broker` and `krafty broker`.

/// How to run the dev broker from the command line.
#[derive(clap::Args, Debug)]
pub struct BrokerArgs {
    /// Address to listen on (loopback by default), a PLAINTEXT listener.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub listen: String,
    /// Listeners, Kafka's way (replaces --listen):
    /// `PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093,SSL://127.0.0.1:9094`. SASL
    /// users come from `--set sasl.users=alice:alice-secret,bob:pw`, mechanisms from
    /// `sasl.enabled.mechanisms`; SSL and SASL_SSL serve `--set ssl.certificate.location=...
    /// --set ssl.key.location=...` or a generated certificate, `ssl.client.auth=required`
    /// asks for client certificates.
    #[arg(long, conflicts_with = "listen")]
    pub listeners: Option<String>,
    /// Directory for the logs; without it data lives in memory.
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// A Kafka `server.properties` file.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// A broker property, `key=value` (repeatable), e.g. `--set num.partitions=3`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Nodes of a dev cluster in this one process (replicated with the Kafka protocol): node
    /// ids from `node.id` (1) up, each on the listener ports plus its index (9092, 9093, ...),
    /// each in `<data-dir>/node-<id>`. Topics get `default.replication.factor` replicas.
    /// Standard input takes fault commands, one per line, each answered with one line:
    /// `stop <id>`, `start <id>`, `isolate <id>`, `heal <id>`, `pause-fetchers <id>`,
    /// `resume-fetchers <id>`, `state <topic> <partition>`, `nodes`, `help`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=64))]
    pub nodes: i32,
}

/// Starts the broker, prints where it listens, and runs until Ctrl-C or SIGTERM, then shuts
/// down cleanly (logs flushed).
pub async fn run(args: BrokerArgs) -> Result<(), String> {
    let mut builder = crate::Broker::builder();
    builder = match &args.listeners {
        Some(spec) => builder.listeners(spec),
        None => builder.listen(&args.listen),
    };
    if let Some(dir) = args.data_dir {
        builder = builder.data_dir(dir);
    }
    if let Some(file) = args.config {
        builder = builder.properties_file(file);
    }
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--set expects key=value, got `{kv}`"))?;
        builder = builder.config(k.trim(), v.trim());
    }
    if args.nodes > 1 {
        return run_cluster(builder.nodes(args.nodes)).await;
    }
    let broker = builder.start().await.map_err(|e| e.to_string())?;
    println!(
        "krafty dev broker listening on {}",
        broker.bootstrap_servers()
    );
    for name in ["SSL", "SASL_PLAINTEXT", "SASL_SSL"] {
        if let Some(addr) = broker.listener_bootstrap(name) {
            println!("{name} listener on {addr}");
        }
    }
    for addr in broker.unauthenticated_listeners() {
        println!(
            "WARNING: {addr} is beyond loopback and needs no authentication: whoever reaches it \
             can read and write every topic (use a SASL_PLAINTEXT or SASL_SSL listener)"
        );
    }
    if let Some(ca) = broker.tls_ca_pem() {
        println!("TLS: generated certificate for localhost and 127.0.0.1, signed by this CA (ssl.ca.location; also tls-ca.pem in the data dir):\n{ca}");
    }
    until_stopped().await?;
    broker.shutdown().await;
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
async fn until_stopped() -> Result<(), String> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// `--nodes N`: starts the cluster, prints each node and the bootstrap list, then runs the
/// fault commands read on standard input (`cluster/control.rs`) until stopped (the end of
/// standard input does not stop it).
async fn run_cluster(builder: crate::BrokerBuilder) -> Result<(), String> {
    let cluster = builder.start_cluster().await.map_err(|e| e.to_string())?;
    for node in cluster.nodes() {
        println!(
            "krafty dev broker node {} listening on {}",
            node.node_id(),
            node.bootstrap_servers()
        );
    }
    println!("bootstrap.servers={}", cluster.bootstrap_servers());
    if let Some(ca) = cluster.nodes().first().and_then(|n| n.tls_ca_pem()) {
        println!(
            "TLS: generated certificate for localhost and 127.0.0.1, signed by this CA:\n{ca}"
        );
    }
    use tokio::io::AsyncBufReadExt;
    let mut commands = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut reading = true;
    let stopped = until_stopped();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            r = &mut stopped => {
                r?;
                break;
            }
            line = commands.next_line(), if reading => match line {
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => println!("{}", crate::cluster::control::execute(&cluster, &line).await),
                // Standard input closed (or unreadable): run on until a signal.
                _ => reading = false,
            },
        }
    }
    cluster.shutdown().await;
    Ok(())
}
