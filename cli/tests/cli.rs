//! Every `krafty` subcommand against an in-process dev broker.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use krafty_broker::{BlockingBroker, Broker};

/// The longest any `krafty` run may take: a child still running then is killed, and the test
/// fails (a hung client never hangs the suite).
const CHILD_LIMIT: Duration = Duration::from_secs(60);

fn broker() -> BlockingBroker {
    Broker::builder()
        .listen("127.0.0.1:0")
        .start_blocking()
        .expect("broker")
}

/// Reads `pipe` to its end on a thread of its own (so that neither pipe can fill and block
/// the child while the test waits for it).
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
}

/// Waits for `child` at most `limit`; past it, kills it and panics with its stderr so far.
fn wait_bounded(
    child: &mut Child,
    limit: Duration,
    stderr: JoinHandle<String>,
    what: &str,
) -> (ExitStatus, JoinHandle<String>) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (status, stderr);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} still running after {limit:?}: killed; stderr: {}",
                stderr.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `krafty` with `args`, optional stdin; returns (success, stdout, stderr). Bounded by
/// `CHILD_LIMIT`.
fn krafty(bs: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_krafty"))
        .args(args)
        .args(["--bootstrap-server", bs])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run krafty");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.unwrap_or_default().to_owned();
    let writer = thread::spawn(move || {
        // A process that exits early closes its stdin: its stderr says why, below. Dropping
        // `input` at the end closes the pipe: the child sees end of input.
        let _ = input.write_all(stdin.as_bytes());
    });
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let (status, stderr) =
        wait_bounded(&mut child, CHILD_LIMIT, stderr, &format!("krafty {args:?}"));
    writer.join().unwrap();
    (
        status.success(),
        stdout.join().unwrap(),
        stderr.join().unwrap(),
    )
}

/// Milliseconds since the epoch, as record timestamps count them.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Each line of `out` as its whitespace-separated words: compares the column layout's content
/// exactly, whatever the padding.
fn words(out: &str) -> Vec<Vec<&str>> {
    out.lines()
        .map(|l| l.split_whitespace().collect())
        .collect()
}

/// The value of the `name: value` column of a tab-separated `topics describe` line.
fn column<'a>(line: &'a str, name: &str) -> &'a str {
    line.split('\t')
        .find_map(|c| c.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name} column in {line:?}"))
}

fn ok(bs: &str, args: &[&str], stdin: Option<&str>) -> String {
    let (success, out, err) = krafty(bs, args, stdin);
    assert!(success, "krafty {args:?} failed: {err}");
    out
}

#[test]
fn topics_create_list_describe_add_partitions_delete() {
    let b = broker();
    let bs = b.bootstrap_servers();
    assert_eq!(
        ok(
            &bs,
            &[
                "topics",
                "create",
                "--topic",
                "orders",
                "--partitions",
                "2",
                "--config",
                "retention.ms=60000"
            ],
            None
        ),
        "Created topic orders.\n"
    );
    assert_eq!(ok(&bs, &["topics", "list"], None), "orders\n");
    let internal = ok(&bs, &["topics", "list", "--internal"], None);
    assert!(
        internal.lines().any(|l| l == "__consumer_offsets"),
        "{internal}"
    );
    let (success, _, err) = krafty(
        &bs,
        &["topics", "create", "--topic", "orders", "--partitions", "2"],
        None,
    );
    assert!(!success && err.contains("TOPIC_ALREADY_EXISTS"), "{err}");
    assert_eq!(
        ok(
            &bs,
            &[
                "topics",
                "add-partitions",
                "--topic",
                "orders",
                "--partitions",
                "4",
            ],
            None,
        ),
        "Topic orders now has 4 partitions.\n"
    );
    // Two records in the new partition 3: its log end offset moves, the others' stay at 0.
    ok(
        &bs,
        &["produce", "--topic", "orders", "--format", "json"],
        Some("{\"value\":\"a\",\"partition\":3}\n{\"value\":\"b\",\"partition\":3}\n"),
    );
    let described = ok(&bs, &["topics", "describe", "--topic", "orders"], None);
    let mut want =
        "Topic: orders\tPartitionCount: 4\tReplicationFactor: 1\tConfigs: retention.ms=60000\n"
            .to_string();
    for (p, end) in [(0, 0), (1, 0), (2, 0), (3, 2)] {
        want += &format!(
            "\tTopic: orders\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1\tLogStartOffset: 0\tLogEndOffset: {end}\tHighWatermark: {end}\n\
             \t\tReplica: 1\tLogEndOffset: {end}\tInIsr: true\tLag: 0\n"
        );
    }
    assert_eq!(described, want);
    assert_eq!(
        ok(&bs, &["topics", "delete", "--topic", "orders"], None),
        "Deleted topic orders.\n"
    );
    assert_eq!(ok(&bs, &["topics", "list"], None), "");
    let (success, _, err) = krafty(&bs, &["topics", "describe", "--topic", "orders"], None);
    assert!(
        !success && err.lines().count() == 1 && err.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{err}"
    );
}

/// `topics describe` on a three-node dev cluster: the ISR, high watermark and log end offset
/// picture of a replicated partition. With one follower's fetchers paused after 2 acks=all
/// records and 3 more sent with acks=1, the leader and the fetching follower are at 5, the
/// paused follower at 2 with a lag of 3, and the high watermark at 2 (the paused follower is
/// still in the ISR: the lag time is 10 minutes). Once the paused follower's node stops, its
/// line says `unavailable` (stderr says why) and the command still succeeds.
#[test]
fn topics_describe_shows_each_replicas_log_end_on_a_cluster() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = runtime
        .block_on(
            Broker::cluster(3)
                .listen("127.0.0.1:0")
                .config("default.replication.factor", "3")
                .config("replica.lag.time.max.ms", "600000")
                .start_cluster(),
        )
        .expect("the cluster starts");
    let bs = cluster.bootstrap_servers();
    ok(&bs, &["topics", "create", "--topic", "orders"], None);
    let state = cluster.partition_state("orders", 0).unwrap();
    let followers: Vec<i32> = state.followers();
    // The follower paused, then stopped, is not node 1: the admin client's Metadata requests
    // go there (the first of equally loaded brokers), and must still be answered.
    let (paused, fetching) = if followers[0] != 1 {
        (followers[0], followers[1])
    } else {
        (followers[1], followers[0])
    };
    ok(
        &bs,
        &["produce", "--topic", "orders", "--acks", "all"],
        Some("a\nb\n"),
    );
    cluster.pause_replica_fetchers(paused);
    ok(
        &bs,
        &["produce", "--topic", "orders", "--acks", "1"],
        Some("c\nd\ne\n"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cluster
        .replicas("orders", 0)
        .iter()
        .any(|r| r.node_id == fetching && r.log_end_offset == 5)
    {
        assert!(Instant::now() < deadline, "the fetching follower reaches 5");
        thread::sleep(Duration::from_millis(20));
    }
    let list = |v: &[i32]| {
        v.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let want = |paused_end: &str, paused_lag: &str| {
        let mut want = format!(
            "Topic: orders\tPartitionCount: 1\tReplicationFactor: 3\tConfigs: \n\
             \tTopic: orders\tPartition: 0\tLeader: {}\tReplicas: {}\tIsr: {}\tLogStartOffset: 0\tLogEndOffset: 5\tHighWatermark: 2\n",
            state.leader,
            list(&state.replicas),
            list(&state.isr)
        );
        for r in &state.replicas {
            let (end, lag) = if *r == paused {
                (paused_end, paused_lag)
            } else {
                ("5", "0")
            };
            want += &format!("\t\tReplica: {r}\tLogEndOffset: {end}\tInIsr: true\tLag: {lag}\n");
        }
        want
    };
    let (success, described, err) = krafty(&bs, &["topics", "describe", "--topic", "orders"], None);
    assert!(success, "{err}");
    assert_eq!(described, want("2", "3"));
    assert_eq!(err, "");

    runtime.block_on(cluster.node(paused).unwrap().shutdown());
    let (success, described, err) = krafty(&bs, &["topics", "describe", "--topic", "orders"], None);
    assert!(success, "{err}");
    assert_eq!(described, want("unavailable", "unavailable"));
    assert!(
        err.starts_with(&format!(
            "replica {paused} of orders-0: log end offset unavailable: network error"
        )) && err.lines().count() == 1,
        "{err}"
    );
    runtime.block_on(cluster.shutdown());
}

/// `topics describe` on one node, the dev broker or the Apache Kafka `KRAFTY_TEST_BOOTSTRAP`
/// names: each partition's only replica is its leader, in the ISR, with no lag, its log end
/// the high watermark once the acks=all records are acknowledged.
#[test]
fn topics_describe_on_one_node_shows_its_replica_at_the_high_watermark() {
    let embedded;
    let bs = match std::env::var("KRAFTY_TEST_BOOTSTRAP") {
        Ok(bs) if !bs.is_empty() => bs,
        _ => {
            embedded = broker();
            embedded.bootstrap_servers()
        }
    };
    // An external cluster keeps its topics between runs.
    let topic = format!("describe-{:x}", now_ms());
    ok(
        &bs,
        &[
            "topics",
            "create",
            "--topic",
            &topic,
            "--partitions",
            "2",
            "--replication-factor",
            "1",
        ],
        None,
    );
    ok(
        &bs,
        &["produce", "--topic", &topic, "--format", "json", "--acks", "all"],
        Some("{\"value\":\"a\",\"partition\":1}\n{\"value\":\"b\",\"partition\":1}\n{\"value\":\"c\",\"partition\":1}\n"),
    );
    let (success, described, err) = krafty(&bs, &["topics", "describe", "--topic", &topic], None);
    assert!(success, "{err}");
    let (head, partitions) = described.split_once('\n').unwrap();
    // A real Kafka's static broker configs are listed with the overrides.
    assert!(
        head.starts_with(&format!(
            "Topic: {topic}\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: "
        )),
        "{described}"
    );
    let node = column(partitions.lines().next().unwrap(), "Leader");
    let mut want = String::new();
    for (p, end) in [(0, 0), (1, 3)] {
        want += &format!(
            "\tTopic: {topic}\tPartition: {p}\tLeader: {node}\tReplicas: {node}\tIsr: {node}\tLogStartOffset: 0\tLogEndOffset: {end}\tHighWatermark: {end}\n\
             \t\tReplica: {node}\tLogEndOffset: {end}\tInIsr: true\tLag: 0\n"
        );
    }
    assert_eq!(partitions, want);
    assert_eq!(err, "");
    ok(&bs, &["topics", "delete", "--topic", &topic], None);
}

#[test]
fn produce_and_consume_keys_headers_partitions() {
    let b = broker();
    let bs = b.bootstrap_servers();
    ok(
        &bs,
        &["topics", "create", "--topic", "lines", "--partitions", "1"],
        None,
    );
    let sent_from = now_ms();
    let (success, out, err) = krafty(
        &bs,
        &[
            "produce",
            "--topic",
            "lines",
            "--key-separator",
            ":",
            "--header",
            "src=cli",
        ],
        Some("a:1\nb:2\nc:3\n"),
    );
    let sent_until = now_ms();
    assert!(success, "{err}");
    assert_eq!(out, "");
    assert!(err.lines().any(|l| l == "3 records sent to lines"), "{err}");
    let values = ok(
        &bs,
        &[
            "consume",
            "--topic",
            "lines",
            "--from-beginning",
            "--max-messages",
            "3",
        ],
        None,
    );
    assert_eq!(values, "1\n2\n3\n");
    // The producer stamps CreateTime while it runs: within [sent_from, sent_until].
    let stamped = |ts: i64| {
        assert!(
            (sent_from..=sent_until).contains(&ts),
            "timestamp {ts} not within the produce run [{sent_from}, {sent_until}]"
        );
        ts
    };
    let full = ok(
        &bs,
        &[
            "consume",
            "--topic",
            "lines",
            "--partition",
            "0",
            "--offset",
            "1",
            "--max-messages",
            "1",
            "--format",
            "full",
        ],
        None,
    );
    let ts = stamped(full.split('\t').nth(2).unwrap_or("").parse().unwrap_or(-1));
    assert_eq!(full, format!("0\t1\t{ts}\tb\tsrc=cli\t2\n"));
    let json = ok(
        &bs,
        &[
            "consume",
            "--topic",
            "lines",
            "--from-beginning",
            "--max-messages",
            "1",
            "--format",
            "json",
        ],
        None,
    );
    let parsed: serde_json::Value =
        serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {json}"));
    let ts = stamped(parsed["timestamp"].as_i64().unwrap_or(-1));
    assert_eq!(
        json,
        format!(
            "{{\"headers\":[[\"src\",\"cli\"]],\"key\":\"a\",\"offset\":0,\"partition\":0,\"timestamp\":{ts},\"topic\":\"lines\",\"value\":\"1\"}}\n"
        )
    );
    // JSON in, JSON out: key, value, headers, timestamp and partition survive.
    ok(
        &bs,
        &["topics", "create", "--topic", "js", "--partitions", "2"],
        None,
    );
    ok(
        &bs,
        &["produce", "--topic", "js", "--format", "json"],
        Some(concat!(
            r#"{"key":"k","value":"v","headers":[["h","x"],["n",null],["h","y"]],"timestamp":1600000000123,"partition":1}"#,
            "\n"
        )),
    );
    let back = ok(
        &bs,
        &[
            "consume",
            "--topic",
            "js",
            "--partition",
            "1",
            "--offset",
            "earliest",
            "--max-messages",
            "1",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(
        back,
        concat!(
            r#"{"headers":[["h","x"],["n",null],["h","y"]],"key":"k","offset":0,"partition":1,"timestamp":1600000000123,"topic":"js","value":"v"}"#,
            "\n"
        )
    );
    let (success, _, err) = krafty(
        &bs,
        &["produce", "--topic", "js", "--format", "json"],
        Some("{\"value\": 5}\n"),
    );
    assert!(!success && err.contains("`value` is not a string"), "{err}");
    let (success, _, err) = krafty(
        &bs,
        &["produce", "--topic", "lines", "-X", "linger.msec=1"],
        Some("x\n"),
    );
    assert!(
        !success && err.contains("linger.msec"),
        "unknown property named: {err}"
    );
}

#[test]
fn groups_describe_shows_lag_after_a_partial_consume_and_offsets_reset() {
    let b = broker();
    let bs = b.bootstrap_servers();
    ok(
        &bs,
        &["topics", "create", "--topic", "work", "--partitions", "1"],
        None,
    );
    let input: String = (0..10).map(|i| format!("job{i}\n")).collect();
    ok(&bs, &["produce", "--topic", "work"], Some(&input));
    let first = ok(
        &bs,
        &[
            "consume",
            "--topic",
            "work",
            "--group",
            "workers",
            "--from-beginning",
            "--max-messages",
            "4",
        ],
        None,
    );
    assert_eq!(first, "job0\njob1\njob2\njob3\n");
    assert_eq!(
        ok(&bs, &["groups", "list"], None),
        "workers\tEmpty\tconsumer\n"
    );
    let header = [
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ];
    // An empty group: no member owns the partition, so its owner columns are "-".
    let described_with = |current: &'static str, lag: &'static str| {
        vec![
            vec!["Consumer", "group", "'workers'", "is", "Empty."],
            vec![],
            header.to_vec(),
            vec!["workers", "work", "0", current, "10", lag, "-", "-", "-"],
        ]
    };
    let described = ok(&bs, &["groups", "describe", "--group", "workers"], None);
    assert_eq!(words(&described), described_with("4", "6"), "{described}");
    let plan_header = vec!["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"];
    let plan = ok(
        &bs,
        &[
            "groups",
            "reset-offsets",
            "--group",
            "workers",
            "--topic",
            "work",
            "--to-earliest",
        ],
        None,
    );
    assert_eq!(
        words(&plan),
        vec![
            plan_header.clone(),
            vec!["workers", "work", "0", "0"],
            vec!["(dry", "run:", "add", "--execute", "to", "apply)"],
        ],
        "{plan}"
    );
    let described = ok(&bs, &["groups", "describe", "--group", "workers"], None);
    assert_eq!(
        words(&described),
        described_with("4", "6"),
        "a dry run changes nothing: {described}"
    );
    let applied = ok(
        &bs,
        &[
            "groups",
            "reset-offsets",
            "--group",
            "workers",
            "--topic",
            "work",
            "--to-offset",
            "8",
            "--execute",
        ],
        None,
    );
    assert_eq!(
        words(&applied),
        vec![plan_header, vec!["workers", "work", "0", "8"]],
        "{applied}"
    );
    let described = ok(&bs, &["groups", "describe", "--group", "workers"], None);
    assert_eq!(words(&described), described_with("8", "2"), "{described}");
    let rest = ok(
        &bs,
        &[
            "consume",
            "--topic",
            "work",
            "--group",
            "workers",
            "--max-messages",
            "2",
        ],
        None,
    );
    assert_eq!(rest, "job8\njob9\n");
    assert_eq!(
        ok(&bs, &["groups", "delete", "--group", "workers"], None),
        "Deleted consumer group 'workers'.\n"
    );
    assert_eq!(ok(&bs, &["groups", "list"], None), "");
}

#[test]
fn perf_produce_and_consume_report_throughput() {
    let b = broker();
    let bs = b.bootstrap_servers();
    let out = ok(
        &bs,
        &[
            "perf",
            "produce",
            "--topic",
            "perf",
            "--num-records",
            "2000",
            "--record-size",
            "100",
        ],
        None,
    );
    assert!(
        out.starts_with("2000 records sent, ")
            && out.contains("records/sec")
            && out.contains("99th"),
        "{out}"
    );
    let out = ok(
        &bs,
        &["perf", "consume", "--topic", "perf", "--messages", "2000"],
        None,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0],
        "data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec"
    );
    let fields: Vec<&str> = lines[1].split(", ").collect();
    // 2000 values of 100 bytes, no keys: 200000 bytes.
    assert_eq!(
        (fields.len(), fields[0], fields[2]),
        (4, "0.1907", "2000"),
        "{out}"
    );
}

/// Kills (and reaps) the child it holds when dropped: a failing test leaves no process behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn broker_subcommand_serves_clients() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_krafty"))
            .args(["broker", "--listen", &addr, "--set", "num.partitions=2"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the broker exited before listening"
        );
        assert!(
            Instant::now() < deadline,
            "the broker did not listen on {addr} within 10 s"
        );
        thread::sleep(Duration::from_millis(20));
    }
    ok(&addr, &["produce", "--topic", "auto"], Some("hello\n"));
    let described = ok(&addr, &["topics", "describe", "--topic", "auto"], None);
    let ends: Vec<&str> = described
        .lines()
        .filter(|l| l.starts_with("\tTopic: "))
        .map(|l| column(l, "LogEndOffset"))
        .collect();
    assert!(
        described.starts_with("Topic: auto\tPartitionCount: 2\t"),
        "num.partitions applied: {described}"
    );
    let total: i64 = ends.iter().map(|e| e.parse::<i64>().unwrap()).sum();
    assert_eq!(
        (ends.len(), total),
        (2, 1),
        "one record stored: {described}"
    );
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the broker still runs"
    );
}

/// `krafty broker --nodes 3` takes fault commands on standard input, one answer line each: a
/// stopped leader's partition moves (its leader epoch bumped), the node comes back, and a
/// bad command is an error line while the cluster keeps serving.
#[test]
fn broker_cluster_takes_fault_commands_on_stdin() {
    use std::io::{BufRead, BufReader};
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_krafty"))
            .args(["broker", "--nodes", "3", "--listen", "127.0.0.1:0"])
            .args(["--set", "default.replication.factor=3"])
            .args(["--set", "offsets.topic.num.partitions=3"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut input = child.0.stdin.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stdout = child.0.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = |what: &str| {
        lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line from the broker: {what}"))
    };
    let bootstrap = loop {
        let line = next("the bootstrap list");
        if let Some(list) = line.strip_prefix("bootstrap.servers=") {
            break list.to_string();
        }
    };
    let mut ask = |command: &str| {
        writeln!(input, "{command}").unwrap();
        input.flush().unwrap();
        next(command)
    };
    ok(
        &bootstrap,
        &["topics", "create", "--topic", "chaos", "--partitions", "1"],
        None,
    );
    let state = ask("state chaos 0");
    assert!(state.starts_with("ok state chaos 0 leader="), "{state}");
    let leader: i32 = state
        .split_whitespace()
        .find_map(|w| w.strip_prefix("leader="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(state.contains(" leader_epoch=0 isr="), "{state}");
    // Each replica's log end and high watermark: nothing written yet.
    for id in 1..=3 {
        assert!(
            state.contains(&format!(" replica={id}:log_end_offset=0:high_watermark=0")),
            "{state}"
        );
    }
    assert_eq!(ask(&format!("stop {leader}")), format!("ok stop {leader}"));
    let after = ask("state chaos 0");
    assert!(after.contains(" leader_epoch=1 "), "{after}");
    assert!(!after.contains(&format!("leader={leader} ")), "{after}");
    let nodes = ask("nodes");
    assert!(nodes.contains(&format!("{leader}=down")), "{nodes}");
    // The cluster still takes records, on the new leader.
    ok(
        &bootstrap,
        &["produce", "--topic", "chaos"],
        Some("after the stop\n"),
    );
    // The stopped node keeps what it had (nothing); the new leader holds the record.
    let after = ask("state chaos 0");
    assert!(
        after.contains(&format!(" replica={leader}:log_end_offset=0:")),
        "{after}"
    );
    let new_leader = after
        .split_whitespace()
        .find_map(|w| w.strip_prefix("leader="))
        .unwrap()
        .to_string();
    assert!(
        after.contains(&format!(" replica={new_leader}:log_end_offset=1:")),
        "{after}"
    );
    assert_eq!(
        ask(&format!("start {leader}")),
        format!("ok start {leader}")
    );
    assert!(ask("nodes").contains(&format!("{leader}=up")));
    assert_eq!(ask("stop 9"), "error: no node 9 (nodes: [1, 2, 3])");
    assert!(ask("explode 1").starts_with("error: unknown command `explode`"));
    let consumed = ok(
        &bootstrap,
        &[
            "consume",
            "--topic",
            "chaos",
            "--from-beginning",
            "--max-messages",
            "1",
        ],
        None,
    );
    assert_eq!(consumed.trim(), "after the stop");
}
