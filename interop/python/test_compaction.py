"""Log compaction read by consumers we did not write: after the cleaner ran, librdkafka's
consumer and the Java console consumer read each key's latest value from the beginning of a
compacted topic (the dev broker's gaps included), as on Apache Kafka."""
import json
import subprocess
import time

from confluent_kafka import Consumer, Producer

from test_krafty_interop import krafty
from test_transactions import java_classpath


def compacted_view(cluster, topic):
    out = krafty(cluster, "consume", "--topic", topic, "--from-beginning", "--format", "json",
                 "--timeout-ms", "2000")
    return [(r["key"], r["value"]) for r in map(json.loads, out.splitlines())
            if r["key"].startswith("k")]


def test_librdkafka_and_java_read_a_compacted_topic(cluster, topic):
    krafty(cluster, "topics", "create", "--topic", topic, "--partitions", "1",
           "--config", "cleanup.policy=compact", "--config", "segment.ms=100",
           "--config", "min.cleanable.dirty.ratio=0.01", "--config", "delete.retention.ms=0")
    p = Producer({"bootstrap.servers": cluster.bootstrap, "linger.ms": 0})
    for version in ("v1", "v2"):
        for k in range(5):
            p.produce(topic, key=f"k{k}", value=version, partition=0)
            p.flush(10)
    expected = [(f"k{k}", "v2") for k in range(5)]
    deadline = time.monotonic() + 120
    tick = 0
    while compacted_view(cluster, topic) != expected:
        assert time.monotonic() < deadline, compacted_view(cluster, topic)
        # The active segment is never cleaned: later records roll it (segment.ms).
        time.sleep(0.5)
        tick += 1
        p.produce(topic, key="tick", value=str(tick), partition=0)
        p.flush(10)

    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": f"g-{topic}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    seen, last = [], time.monotonic()
    while time.monotonic() - last < 3:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            seen.append((m.key().decode(), m.value().decode()))
            last = time.monotonic()
    c.close()
    assert [kv for kv in seen if kv[0].startswith("k")] == expected

    java = subprocess.run(
        ["java", "-Xmx256M", "-cp", java_classpath(),
         "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
         cluster.bootstrap, "--topic", topic, "--from-beginning", "--timeout-ms", "5000",
         "--property", "print.key=true", "--property", "key.separator=="],
        capture_output=True, text=True, timeout=120)
    lines = [tuple(line.split("=", 1)) for line in java.stdout.splitlines()]
    assert [kv for kv in lines if kv[0].startswith("k")] == expected, java.stderr[-2000:]
