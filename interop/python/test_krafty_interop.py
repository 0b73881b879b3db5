"""Krafty against real clients on the same broker: records produced by Krafty read intact by
librdkafka and kafka-python, and mixed consumer groups (Krafty + librdkafka members)."""
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import ROOT

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
KRAFTY = os.environ.get("KRAFTY_BIN", os.path.join(TARGET, "debug", "krafty"))


def krafty(cluster, *args, stdin=None, timeout=60):
    out = subprocess.run([KRAFTY, *args, "--bootstrap-server", cluster.bootstrap], input=stdin, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out.stdout


def create(cluster, topic, partitions):
    krafty(cluster, "topics", "create", "--topic", topic, "--partitions", str(partitions))


def failed_into(errors):
    """A librdkafka delivery callback that keeps each failed delivery's error in `errors`
    (callbacks run inside poll/flush: the test asserts on the list afterwards)."""
    def delivered(err, msg):
        if err is not None:
            errors.append((msg.topic(), msg.partition(), err))
    return delivered


def test_records_from_krafty_are_read_intact_by_librdkafka_and_kafka_python(cluster, topic):
    from confluent_kafka import Consumer, TopicPartition
    from kafka import KafkaConsumer
    from kafka.partitioner.default import murmur2

    create(cluster, topic, 4)
    lines = "".join(f"key-{i}:value-{i}\n" for i in range(200))
    krafty(cluster, "produce", "--topic", topic, "--key-separator", ":", "--header", "origin=krafty", stdin=lines)

    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": f"g-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(4)])
    got = {}
    deadline = time.time() + 20
    while len(got) < 200 and time.time() < deadline:
        for m in c.consume(500, 0.5):
            assert m.error() is None, m.error()
            got[m.key().decode()] = (m.value().decode(), m.partition(), m.headers(), m.timestamp())
    c.close()
    assert len(got) == 200
    for i in range(200):
        value, partition, headers, (ts_type, ts) = got[f"key-{i}"]
        assert value == f"value-{i}"
        assert headers == [("origin", b"krafty")]
        # Java's murmur2 placement, as kafka-python computes it.
        assert partition == (murmur2(f"key-{i}".encode()) & 0x7FFFFFFF) % 4
        assert ts_type == 1 and abs(ts / 1000 - time.time()) < 120, "CreateTime set by the producer"

    kc = KafkaConsumer(bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000)
    from kafka import TopicPartition as KTP
    kc.assign([KTP(topic, p) for p in range(4)])
    seen = {m.key.decode(): (m.value.decode(), m.headers) for m in kc}
    kc.close()
    assert seen == {f"key-{i}": (f"value-{i}", [("origin", b"krafty")]) for i in range(200)}


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_records_from_librdkafka_are_read_intact_by_krafty(cluster, topic, codec):
    from confluent_kafka import Producer

    create(cluster, topic, 2)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "compression.type": codec, "linger.ms": 5})
    delivery_errors = []
    for i in range(100):
        p.produce(topic, key=f"k{i}", value=f"v{i}", headers=[("n", str(i).encode())], partition=i % 2,
                  on_delivery=failed_into(delivery_errors))
    assert p.flush(10) == 0
    assert delivery_errors == []
    out = krafty(cluster, "consume", "--topic", topic, "--from-beginning", "--max-messages", "100", "--format", "json")
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 100
    by_key = {r["key"]: r for r in records}
    for i in range(100):
        r = by_key[f"k{i}"]
        assert (r["value"], r["partition"], r["headers"]) == (f"v{i}", i % 2, [["n", str(i)]])
    per_partition = {}
    for r in records:
        per_partition.setdefault(r["partition"], []).append(r["offset"])
    assert all(offsets == sorted(offsets) for offsets in per_partition.values())


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_mixed_group_of_krafty_and_librdkafka_members(cluster, topic, strategy):
    from confluent_kafka import Consumer, Producer

    create(cluster, topic, 6)
    group = f"mixed-{strategy}-{uuid.uuid4().hex[:6]}"
    # A Krafty member (the CLI, exits after 12 s without records) and a librdkafka member.
    proc = subprocess.Popen(
        [KRAFTY, "consume", "--topic", topic, "--group", group, "--format", "json", "--timeout-ms", "12000",
         "-X", f"partition.assignment.strategy={strategy}", "-X", "heartbeat.interval.ms=300", "-X", "session.timeout.ms=6000",
         "-X", "auto.offset.reset=earliest", "--bootstrap-server", cluster.bootstrap],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                      "partition.assignment.strategy": strategy, "enable.auto.commit": True})
        c.subscribe([topic])
        assigned = []
        # Let the group settle on the balanced split (cooperative-sticky takes two rounds).
        # Nothing is produced yet: a poll returns no record, and must return no error.
        deadline = time.time() + 20
        while time.time() < deadline:
            m = c.poll(0.2)
            assert m is None, f"before any record was produced: {m.error() or m.value()}"
            assigned = c.assignment()
            if len(assigned) == 3:
                break
        assert len(assigned) == 3, f"librdkafka member got {len(assigned)} of 6 partitions"
        time.sleep(1.0)
        p = Producer({"bootstrap.servers": cluster.bootstrap})
        delivery_errors = []
        for i in range(600):
            p.produce(topic, key=f"k{i}", value=f"v{i}", partition=i % 6, on_delivery=failed_into(delivery_errors))
        assert p.flush(10) == 0
        assert delivery_errors == []
        mine = []
        end = time.time() + 8
        while time.time() < end:
            for m in c.consume(100, 0.3):
                assert m.error() is None, m.error()
                mine.append((m.partition(), m.value().decode()))
        c.close()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    theirs = [(r["partition"], r["value"]) for r in map(json.loads, out.splitlines())]
    both = mine + theirs
    assert len(both) == 600 and len(set(both)) == 600, f"librdkafka {len(mine)} + krafty {len(theirs)}\n{err[-3000:]}"
    assert mine and theirs, "both members consumed"
    assert not ({p for p, _ in mine} & {p for p, _ in theirs}), "no partition read by both"
