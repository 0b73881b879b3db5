"""Real Kafka clients against the dev broker: librdkafka (confluent-kafka) and kafka-python.

Each creates a 3-partition topic, produces 10,000 keyed records, consumes them in a group of
two consumers with commits, and must get every record exactly once; committed offsets must
survive a broker restart.
"""
import threading
import uuid

N = 10_000


def _expected():
    return {(f"key-{i}", f"value-{i}") for i in range(N)}


def run_members(member, count, limit):
    """Runs `member(stop, failures)` on `count` daemon threads until `stop` is set (by a member,
    or after `limit` seconds), joins them with a bound, and returns what they raised: thread
    bodies never assert, the test asserts on what they collected."""
    stop = threading.Event()
    failures = []

    def body():
        try:
            member(stop)
        except BaseException as e:  # noqa: B036 - reported to the main thread
            failures.append(e)
            stop.set()

    threads = [threading.Thread(target=body, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    stop.wait(limit)
    stop.set()
    for t in threads:
        t.join(30)
    assert not [t for t in threads if t.is_alive()], "a member thread did not stop"
    return failures


# ---------------------------------------------------------------- confluent-kafka (librdkafka)

def test_confluent_kafka_produce_consume_group_commit_restart(cluster, topic):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)]).values():
        f.result(10)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True, "linger.ms": 5})
    partition_of = {}
    delivery_errors = []

    def delivered(err, msg):
        if err is not None:
            delivery_errors.append(err)
        else:
            partition_of[msg.key().decode()] = msg.partition()

    for i in range(N):
        producer.produce(topic, key=f"key-{i}", value=f"value-{i}", headers=[("n", str(i).encode())], on_delivery=delivered)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    assert delivery_errors == []
    assert len(partition_of) == N

    group = f"g-{uuid.uuid4().hex[:8]}"
    seen = []  # (key, value, headers, partition) of each record, from both members
    consume_errors = []
    lock = threading.Lock()

    def member(stop):
        c = Consumer({
            "bootstrap.servers": cluster.bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        })
        try:
            c.subscribe([topic])
            while not stop.is_set():
                msgs = c.consume(500, 0.5)
                with lock:
                    for m in msgs:
                        if m.error() is not None:
                            consume_errors.append(m.error())
                            stop.set()
                        else:
                            seen.append((m.key().decode(), m.value().decode(), m.headers(), m.partition()))
                    if len(seen) >= N:
                        stop.set()
                if msgs:
                    c.commit(asynchronous=False)
        finally:
            c.close()

    failures = run_members(member, 2, 60)
    assert failures == []
    assert consume_errors == []
    assert len(seen) == N, f"{len(seen)} records, expected exactly {N}"
    assert {(k, v) for k, v, _, _ in seen} == _expected()
    for key, value, headers, partition in seen:
        assert headers == [("n", value.split("-")[1].encode())], (key, headers)
        assert partition == partition_of[key], key

    if cluster.restart is None:
        return
    cluster.restart()
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group})
    committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    c.close()
    per_partition = {p: sum(1 for q in partition_of.values() if q == p) for p in range(3)}
    assert {tp.partition: tp.offset for tp in committed} == per_partition, committed


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
    producer.flush(30)  # raises KafkaTimeoutError if records are still queued then
    # get() raises the delivery error of a record that failed.
    partition_of = {f"key-{i}": f.get(10).partition for i, f in enumerate(futures)}
    producer.close()

    group = f"g-{uuid.uuid4().hex[:8]}"
    seen = []  # (key, value, headers, partition) of each record, from both members
    lock = threading.Lock()

    def member(stop):
        c = KafkaConsumer(
            topic,
            bootstrap_servers=cluster.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        try:
            while not stop.is_set():
                batch = c.poll(500)
                with lock:
                    for records in batch.values():
                        seen.extend((m.key.decode(), m.value.decode(), m.headers, m.partition) for m in records)
                    if len(seen) >= N:
                        stop.set()
                if batch:
                    c.commit()
        finally:
            c.close()

    failures = run_members(member, 2, 90)
    assert failures == []
    assert len(seen) == N, f"{len(seen)} records, expected exactly {N}"
    assert {(k, v) for k, v, _, _ in seen} == _expected()
    for key, value, headers, partition in seen:
        assert list(headers) == [("n", value.split("-")[1].encode())], (key, headers)
        assert partition == partition_of[key], key

    if cluster.restart is None:
        return
    cluster.restart()
    c = KafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=group)
    committed = {p: c.committed(TopicPartition(topic, p)) for p in range(3)}
    c.close()
    assert committed == {p: sum(1 for q in partition_of.values() if q == p) for p in range(3)}


def test_same_key_same_partition_from_both_clients(cluster, topic):
    """librdkafka's default for keyed records is consistent_random (CRC32); with
    partitioner=murmur2_random it matches the Java client, kafka-python and Krafty."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    from kafka import KafkaProducer

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=5, replication_factor=1)]).values():
        f.result(10)
    ck, delivery_errors = {}, []

    def delivered(err, msg):
        if err is not None:
            delivery_errors.append(err)
        else:
            ck[msg.key().decode()] = msg.partition()

    p = Producer({"bootstrap.servers": cluster.bootstrap, "partitioner": "murmur2_random"})
    for i in range(200):
        p.produce(topic, key=f"k{i}", value=b"x", on_delivery=delivered)
    assert p.flush(10) == 0
    assert delivery_errors == []
    kp = KafkaProducer(bootstrap_servers=cluster.bootstrap)
    kpy = {f"k{i}": kp.send(topic, key=f"k{i}".encode(), value=b"x").get(10).partition for i in range(200)}
    kp.close()
    assert len(ck) == 200 and ck == kpy
