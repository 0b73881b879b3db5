"""The cross-client matrix: records produced by X are consumed by Y in a group, for X and Y
in {Krafty Rust (the `krafty` CLI), Krafty Python, librdkafka (confluent-kafka),
kafka-python}. Checks keys, values, headers, timestamps, partitions (a key lands where the
Java client puts it, from every producer) and the group offsets each consumer commits.
Runs against the dev broker, and against real Kafka with KRAFTY_TEST_BOOTSTRAP."""
import json
import time
import uuid

import pytest

from test_krafty_interop import create, failed_into, krafty

krafty_py = pytest.importorskip("krafty")

PARTITIONS = 3
N = 60
CLIENTS = ["krafty-rust", "krafty-python", "librdkafka", "kafka-python"]


def expected_records(producer):
    base = 1_600_000_000_000
    return [
        {"key": f"{producer}-key-{i}", "value": f"value-{i}-{'x' * (i % 7)}",
         "headers": [("seq", str(i).encode()), ("from", producer.encode())],
         "timestamp": base + i * 1000}
        for i in range(N)
    ]


def produce_krafty_rust(bootstrap, topic, records):
    lines = "".join(json.dumps({"key": r["key"], "value": r["value"], "timestamp": r["timestamp"],
                                "headers": [[k, v.decode()] for k, v in r["headers"]]}) + "\n"
                    for r in records)
    krafty(type("C", (), {"bootstrap": bootstrap}), "produce", "--topic", topic, "--format", "json", stdin=lines)


def produce_krafty_python(bootstrap, topic, records):
    with krafty_py.KafkaProducer(bootstrap_servers=bootstrap) as p:
        futures = [p.send(topic, r["value"], key=r["key"], headers=r["headers"], timestamp_ms=r["timestamp"])
                   for r in records]
        for f in futures:
            f.get(timeout=30)


def produce_librdkafka(bootstrap, topic, records):
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "enable.idempotence": True})
    delivery_errors = []
    for r in records:
        p.produce(topic, value=r["value"], key=r["key"], headers=r["headers"], timestamp=r["timestamp"],
                  on_delivery=failed_into(delivery_errors))
    assert p.flush(30) == 0
    assert delivery_errors == []


def produce_kafka_python(bootstrap, topic, records):
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap)
    futures = [p.send(topic, value=r["value"].encode(), key=r["key"].encode(), headers=r["headers"],
                      timestamp_ms=r["timestamp"])
               for r in records]
    p.flush(30)  # raises KafkaTimeoutError if records are still queued then
    for f in futures:
        f.get(10)  # raises the record's delivery error
    p.close()


def consume_krafty_rust(bootstrap, topic, group):
    out = krafty(type("C", (), {"bootstrap": bootstrap}), "consume", "--topic", topic, "--group", group,
                 "--from-beginning", "--max-messages", str(N), "--format", "json", "--timeout-ms", "20000")
    return [{"key": r["key"], "value": r["value"], "partition": r["partition"], "offset": r["offset"],
             "timestamp": r["timestamp"],
             "headers": [(k, v.encode()) for k, v in r["headers"]]}
            for r in map(json.loads, out.splitlines())]


def consume_krafty_python(bootstrap, topic, group):
    c = krafty_py.KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    got, deadline = [], time.time() + 30
    while len(got) < N and time.time() < deadline:
        for records in c.poll(timeout_ms=500).values():
            got.extend({"key": r.key.decode(), "value": r.value.decode(), "partition": r.partition,
                        "offset": r.offset, "timestamp": r.timestamp, "headers": r.headers}
                       for r in records)
    c.commit()
    c.close()
    return got


def consume_librdkafka(bootstrap, topic, group):
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got, deadline = [], time.time() + 30
    while len(got) < N and time.time() < deadline:
        for m in c.consume(100, 0.5):
            assert m.error() is None, m.error()
            got.append({"key": m.key().decode(), "value": m.value().decode(), "partition": m.partition(),
                        "offset": m.offset(), "timestamp": m.timestamp()[1], "headers": m.headers() or []})
    c.commit(asynchronous=False)
    c.close()
    return got


def consume_kafka_python(bootstrap, topic, group):
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=20000)
    got = []
    for m in c:
        got.append({"key": m.key.decode(), "value": m.value.decode(), "partition": m.partition,
                    "offset": m.offset, "timestamp": m.timestamp, "headers": list(m.headers)})
        if len(got) == N:
            break
    c.commit()
    c.close()
    return got


PRODUCE = {"krafty-rust": produce_krafty_rust, "krafty-python": produce_krafty_python,
           "librdkafka": produce_librdkafka, "kafka-python": produce_kafka_python}
CONSUME = {"krafty-rust": consume_krafty_rust, "krafty-python": consume_krafty_python,
           "librdkafka": consume_librdkafka, "kafka-python": consume_kafka_python}


@pytest.fixture(scope="module")
def produced(cluster):
    """One topic per producer, written once and read by every consumer."""
    topics = {}
    for producer in CLIENTS:
        topic = f"matrix-{producer}-{uuid.uuid4().hex[:8]}"
        create(cluster, topic, PARTITIONS)
        PRODUCE[producer](cluster.bootstrap, topic, expected_records(producer))
        topics[producer] = topic
    return topics


@pytest.mark.parametrize("consumer", CLIENTS)
@pytest.mark.parametrize("producer", CLIENTS)
def test_produced_by_x_consumed_by_y(cluster, produced, producer, consumer):
    from kafka.partitioner.default import murmur2

    topic = produced[producer]
    group = f"matrix-{consumer}-{uuid.uuid4().hex[:6]}"
    got = CONSUME[consumer](cluster.bootstrap, topic, group)
    want = {r["key"]: r for r in expected_records(producer)}
    assert sorted(r["key"] for r in got) == sorted(want), "every record exactly once"
    per_partition = {}
    for r in got:
        w = want[r["key"]]
        assert (r["value"], r["timestamp"], r["headers"]) == (w["value"], w["timestamp"], w["headers"]), r
        assert r["partition"] == (murmur2(r["key"].encode()) & 0x7FFFFFFF) % PARTITIONS, "Java's key placement"
        per_partition.setdefault(r["partition"], []).append(r["offset"])
    for offsets in per_partition.values():
        assert offsets == list(range(len(offsets))), "dense offsets, in order"
    # The group's commits, whichever client made them: the next offset of each partition.
    checker = krafty_py.KafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=group)
    committed = {p: checker.committed(krafty_py.TopicPartition(topic, p)) for p in range(PARTITIONS)}
    checker.close()
    assert committed == {p: len(per_partition.get(p, [])) or None for p in range(PARTITIONS)}
