"""Real Kafka clients against the dev broker: librdkafka (confluent-kafka) and kafka-python.

Each creates a 3-partition topic, produces 10,000 keyed records, consumes them in a group of
two consumers with commits, and must get every record exactly once; committed offsets must
survive a broker restart.
"""
import threading
import time
import uuid

import pytest

N = 10_000


def _expected():
    return {(f"key-{i}", f"value-{i}") for i in range(N)}


# ---------------------------------------------------------------- confluent-kafka (librdkafka)

def test_confluent_kafka_produce_consume_group_commit_restart(cluster, topic):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)]).values():
        f.result(10)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True, "linger.ms": 5})
    partition_of = {}

    def delivered(err, msg):
        assert err is None, err
        partition_of[msg.key().decode()] = msg.partition()

    for i in range(N):
        producer.produce(topic, key=f"key-{i}", value=f"value-{i}", headers=[("n", str(i).encode())], on_delivery=delivered)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    assert len(partition_of) == N

    group = f"g-{uuid.uuid4().hex[:8]}"
    seen = []
    lock = threading.Lock()
    done = threading.Event()

    def member():
        c = Consumer({
            "bootstrap.servers": cluster.bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        })
        c.subscribe([topic])
        while not done.is_set():
            msgs = c.consume(500, 0.5)
            for m in msgs:
                assert m.error() is None, m.error()
                assert m.headers()[0][1] == m.value().split(b"-")[1]
                assert partition_of[m.key().decode()] == m.partition()
                with lock:
                    seen.append((m.key().decode(), m.value().decode()))
            if msgs:
                c.commit(asynchronous=False)
            with lock:
                if len(seen) >= N:
                    done.set()
        c.close()

    threads = [threading.Thread(target=member) for _ in range(2)]
    for t in threads:
        t.start()
    done.wait(60)
    for t in threads:
        t.join(30)
    assert len(seen) == N, f"{len(seen)} records, expected exactly {N}"
    assert set(seen) == _expected()

    if cluster.restart is None:
        return
    cluster.restart()
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group})
    committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    assert sum(tp.offset for tp in committed) == N, committed
    c.close()


# ---------------------------------------------------------------- kafka-python

def test_kafka_python_produce_consume_group_commit_restart(cluster, topic):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, linger_ms=5)
    futures = [
        producer.send(topic, key=f"key-{i}".encode(), value=f"value-{i}".encode(), headers=[("n", str(i).encode())])
        for i in range(N)
    ]
    producer.flush(30)
    partition_of = {f"key-{i}": f.get(10).partition for i, f in enumerate(futures)}
    producer.close()

    group = f"g-{uuid.uuid4().hex[:8]}"
    seen = []
    lock = threading.Lock()
    done = threading.Event()

    def member():
        c = KafkaConsumer(
            topic,
            bootstrap_servers=cluster.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        while not done.is_set():
            batch = c.poll(500)
            for records in batch.values():
                for m in records:
                    assert partition_of[m.key.decode()] == m.partition
                    assert m.headers[0][1] == m.value.split(b"-")[1]
                    with lock:
                        seen.append((m.key.decode(), m.value.decode()))
            if batch:
                c.commit()
            with lock:
                if len(seen) >= N:
                    done.set()
        c.close()

    threads = [threading.Thread(target=member) for _ in range(2)]
    for t in threads:
        t.start()
    done.wait(90)
    for t in threads:
        t.join(30)
    assert len(seen) == N, f"{len(seen)} records, expected exactly {N}"
    assert set(seen) == _expected()

    if cluster.restart is None:
        return
    cluster.restart()
    c = KafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=group)
    assert sum(c.committed(TopicPartition(topic, p)) or 0 for p in range(3)) == N
    c.close()


def test_same_key_same_partition_from_both_clients(cluster, topic):
    """librdkafka's default for keyed records is consistent_random (CRC32); with
    partitioner=murmur2_random it matches the Java client, kafka-python and Krafty."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    from kafka import KafkaProducer

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=5, replication_factor=1)]).values():
        f.result(10)
    ck = {}
    p = Producer({"bootstrap.servers": cluster.bootstrap, "partitioner": "murmur2_random"})
    for i in range(200):
        p.produce(topic, key=f"k{i}", value=b"x", on_delivery=lambda e, m: ck.__setitem__(m.key().decode(), m.partition()))
    p.flush(10)
    kp = KafkaProducer(bootstrap_servers=cluster.bootstrap)
    kpy = {f"k{i}": kp.send(topic, key=f"k{i}".encode(), value=b"x").get(10).partition for i in range(200)}
    kp.close()
    assert ck == kpy
