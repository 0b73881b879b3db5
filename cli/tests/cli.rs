//! Every `krafty` subcommand against an in-process dev broker.

use std::io::Write;
use std::process::{Command, Stdio};

use krafty_broker::{BlockingBroker, Broker};

fn broker() -> BlockingBroker {
    Broker::builder()
        .listen("127.0.0.1:0")
        .start_blocking()
        .expect("broker")
}

/// Runs `krafty` with `args`, optional stdin; returns (success, stdout, stderr).
fn krafty(bs: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_krafty"))
        .args(args)
        .args(["--bootstrap-server", bs])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run krafty");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            // A process that exits early closes its stdin: its stderr says why, below.
            let _ = input.write_all(s.as_bytes());
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
    assert!(ok(
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
    )
    .contains("Created topic orders"));
    assert_eq!(ok(&bs, &["topics", "list"], None).trim(), "orders");
    assert!(ok(&bs, &["topics", "list", "--internal"], None).contains("__consumer_offsets"));
    let (success, _, err) = krafty(
        &bs,
        &["topics", "create", "--topic", "orders", "--partitions", "2"],
        None,
    );
    assert!(!success && err.contains("TOPIC_ALREADY_EXISTS"), "{err}");
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
    );
    let described = ok(&bs, &["topics", "describe", "--topic", "orders"], None);
    assert!(described.contains("PartitionCount: 4"), "{described}");
    assert!(described.contains("retention.ms=60000"), "{described}");
    assert!(described.contains("Partition: 3\tLeader: 1"), "{described}");
    ok(&bs, &["topics", "delete", "--topic", "orders"], None);
    assert_eq!(ok(&bs, &["topics", "list"], None).trim(), "");
    let (success, _, err) = krafty(&bs, &["topics", "describe", "--topic", "orders"], None);
    assert!(
        !success && err.lines().count() == 1 && err.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{err}"
    );
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
    let err = {
        let (success, _, err) = krafty(
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
        assert!(success, "{err}");
        err
    };
    assert!(err.contains("3 records sent"), "{err}");
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
    let fields: Vec<&str> = full.trim().split('\t').collect();
    assert_eq!(
        (fields[0], fields[1], fields[3], fields[4], fields[5]),
        ("0", "1", "b", "src=cli", "2")
    );
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
    assert!(
        json.contains("\"key\":\"a\"")
            && json.contains("\"value\":\"1\"")
            && json.contains(r#"["src","cli"]"#),
        "{json}"
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
        back.trim(),
        r#"{"headers":[["h","x"],["n",null],["h","y"]],"key":"k","offset":0,"partition":1,"timestamp":1600000000123,"topic":"js","value":"v"}"#
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
    ok(
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
    let list = ok(&bs, &["groups", "list"], None);
    assert!(list.starts_with("workers\tEmpty\tconsumer"), "{list}");
    let described = ok(&bs, &["groups", "describe", "--group", "workers"], None);
    let row: Vec<&str> = described
        .lines()
        .find(|l| l.starts_with("workers "))
        .expect("a row")
        .split_whitespace()
        .collect();
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG
    assert_eq!(
        &row[..6],
        &["workers", "work", "0", "4", "10", "6"],
        "{described}"
    );
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
    assert!(plan.contains("dry run"), "{plan}");
    ok(
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
    let described = ok(&bs, &["groups", "describe", "--group", "workers"], None);
    assert!(
        described.lines().any(|l| l
            .split_whitespace()
            .take(6)
            .eq(["workers", "work", "0", "8", "10", "2"])),
        "{described}"
    );
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
    ok(&bs, &["groups", "delete", "--group", "workers"], None);
    assert!(!ok(&bs, &["groups", "list"], None).contains("workers"));
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
        out.contains("2000 records sent") && out.contains("records/sec") && out.contains("99th"),
        "{out}"
    );
    let out = ok(
        &bs,
        &["perf", "consume", "--topic", "perf", "--messages", "2000"],
        None,
    );
    assert!(out.contains(", 2000, "), "{out}");
}

#[test]
fn broker_subcommand_serves_clients() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_krafty"))
        .args(["broker", "--listen", &addr, "--set", "num.partitions=2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ok(&addr, &["produce", "--topic", "auto"], Some("hello\n"));
    let described = ok(&addr, &["topics", "describe", "--topic", "auto"], None);
    assert!(
        described.contains("PartitionCount: 2"),
        "num.partitions applied: {described}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
