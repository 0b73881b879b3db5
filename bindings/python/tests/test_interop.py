"""Krafty and confluent-kafka (librdkafka) on the same broker, in the same run."""

import time

import pytest

from krafty import KafkaConsumer, KafkaProducer, TopicPartition, murmur2_partition

confluent_kafka = pytest.importorskip("confluent_kafka")


def test_krafty_reads_what_librdkafka_wrote(bootstrap, topic):
    p = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                                  "enable.idempotence": True})
    delivery_errors = []

    def delivered(err, msg):
        if err is not None:
            delivery_errors.append(err)

    for i in range(100):
        p.produce(topic, value=b"val-%d" % i, key=b"key-%d" % i, headers=[("from", b"rdkafka")],
                  on_delivery=delivered)
    assert p.flush(10) == 0
    assert delivery_errors == []
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="krafty-reader-" + topic,
                      auto_offset_reset="earliest", consumer_timeout_ms=3000)
    records = []
    for r in c:
        records.append(r)
        if len(records) == 100:
            break
    c.close()
    assert sorted(r.value for r in records) == sorted(b"val-%d" % i for i in range(100))
    for r in records:
        assert r.partition == murmur2_partition(r.key, 3), "same key, same partition"
        assert r.headers == [("from", b"rdkafka")]


def test_librdkafka_reads_what_krafty_wrote_with_its_group_commits(bootstrap, topic):
    with KafkaProducer(bootstrap_servers=bootstrap, compression_type="zstd") as p:
        p.send_batch(topic, [(b"k%d" % i, b"v%d" % i) for i in range(100)]).get(10)
    group = "rd-reader-" + topic
    c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + 30
    while len(got) < 100 and time.monotonic() < deadline:
        m = c.poll(1)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append((m.key(), m.value(), m.partition()))
    c.commit(asynchronous=False)
    c.close()
    assert sorted(got) == sorted((b"k%d" % i, b"v%d" % i, murmur2_partition(b"k%d" % i, 3)) for i in range(100))
    # The group's commits, as librdkafka made them, read back by Krafty: each partition's
    # next offset, that is its record count.
    counts = {p: sum(1 for _, _, q in got if q == p) for p in range(3)}
    k = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    assert {p: k.committed(TopicPartition(topic, p)) for p in range(3)} == {
        p: n or None for p, n in counts.items()}
    k.close()
