"""librdkafka (confluent-kafka) against a three-node dev cluster (`krafty-broker --nodes 3`):
acks=all with idempotence to a replication-factor-3 topic, consumed back through a group.
Dev broker only: skipped with KRAFTY_TEST_BOOTSTRAP set."""
import os
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from conftest import ROOT

confluent_kafka = pytest.importorskip("confluent_kafka")

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("KRAFTY_TEST_BOOTSTRAP")),
    reason="a multi-node dev cluster test (the dev broker's --nodes)",
)


@pytest.fixture(scope="module")
def three_nodes():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.environ.get("KRAFTY_BROKER_BIN", os.path.join(target, "debug", "krafty-broker"))
    data_dir = tempfile.mkdtemp(prefix="krafty-cluster-")
    proc = subprocess.Popen(
        [binary, "--nodes", "3", "--listen", "127.0.0.1:0", "--data-dir", data_dir,
         "--set", "default.replication.factor=3", "--set", "offsets.topic.num.partitions=10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    found = []
    ready = threading.Event()

    def drain(out):
        for line in out:
            if not found and line.startswith("bootstrap.servers="):
                found.append(line.strip().split("=", 1)[1])
                ready.set()

    threading.Thread(target=drain, args=(proc.stdout,), daemon=True).start()
    if not ready.wait(timeout=30):
        proc.kill()
        raise RuntimeError("the dev cluster did not print its bootstrap list within 30 s")
    yield found[0]
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def test_librdkafka_acks_all_round_trips_through_three_replicas(three_nodes):
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"replicated-{uuid.uuid4().hex[:10]}"
    first_node = three_nodes.split(",")[0]
    admin = AdminClient({"bootstrap.servers": first_node})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(30)
    md = admin.list_topics(topic, timeout=10)
    assert sorted(md.brokers) == [1, 2, 3]
    partitions = md.topics[topic].partitions
    assert sorted(p.leader for p in partitions.values()) == [1, 2, 3]
    for p in partitions.values():
        assert sorted(p.replicas) == [1, 2, 3]
        assert p.leader == p.replicas[0]

    delivered = []
    producer = Producer({"bootstrap.servers": first_node, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5})
    for i in range(2000):
        producer.produce(topic, key=f"k{i % 53}", value=f"v{i}",
                         on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset(), msg.value())))
        producer.poll(0)
    assert producer.flush(60) == 0
    assert all(err is None for err, *_ in delivered), [d for d in delivered if d[0]][:3]
    sent = {}
    for _, p, o, v in delivered:
        sent.setdefault(p, []).append((o, v.decode()))
    for p, records in sent.items():
        records.sort()
        assert [o for o, _ in records] == list(range(len(records))), p

    consumer = Consumer({"bootstrap.servers": first_node, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = {}
    deadline = time.time() + 60
    while sum(len(v) for v in got.values()) < 2000 and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        got.setdefault(msg.partition(), []).append((msg.offset(), msg.value().decode()))
    consumer.commit(asynchronous=False)
    consumer.close()
    assert got == sent, "every record once, in order"
