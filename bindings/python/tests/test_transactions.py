"""Transactions with kafka-python's calls, on the DevBroker and on Apache Kafka
(KRAFTY_TEST_BOOTSTRAP): a committed transaction is seen by a read_committed consumer and an
aborted one is not, the group's offsets commit with the transaction (with the consumer's
group_metadata() or kafka-python's bare group id), and a second producer with the same
transactional_id fences the first."""

import time
import uuid

import pytest

from krafty import ConsumerGroupMetadata, KafkaConsumer, KafkaProducer, TopicPartition
from krafty.errors import KafkaError

from conftest import create_topic


def read_committed(bootstrap, topic, n, timeout=30):
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap,
                             group_id=f"g-{uuid.uuid4().hex[:8]}",
                             auto_offset_reset="earliest", isolation_level="read_committed")
    got, deadline, quiet = [], time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        batch = [r.value for rs in consumer.poll(timeout_ms=300).values() for r in rs]
        got.extend(batch)
        if len(got) >= n:
            quiet = quiet or time.monotonic()
            if time.monotonic() - quiet > 1.5:
                break
    consumer.close()
    return got


@pytest.mark.parametrize("by_group_id", [False, True])
def test_consume_transform_produce_commits_once(bootstrap, by_group_id):
    input_topic, output_topic = (f"txn-{x}-{uuid.uuid4().hex[:8]}" for x in ("in", "out"))
    create_topic(bootstrap, input_topic, 1)
    create_topic(bootstrap, output_topic, 1)
    seed = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(3):
        seed.send(input_topic, f"in{i}".encode(), partition=0)
    seed.flush()
    seed.close()
    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = KafkaConsumer(input_topic, bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             isolation_level="read_committed")
    records, deadline = [], time.monotonic() + 30
    while len(records) < 3 and time.monotonic() < deadline:
        records.extend(r for rs in consumer.poll(timeout_ms=300).values() for r in rs)
    assert [r.offset for r in records] == [0, 1, 2]
    meta = consumer.group_metadata()
    assert isinstance(meta, ConsumerGroupMetadata) and meta.group_id == group
    tp = TopicPartition(input_topic, 0)

    producer = KafkaProducer(bootstrap_servers=bootstrap,
                             transactional_id=f"copier-{uuid.uuid4().hex[:8]}")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(output_topic, b"lost").get(timeout=30)
    producer.abort_transaction()
    assert consumer.committed(tp) is None, "an aborted transaction commits no offset"

    producer.begin_transaction()
    for r in records:
        producer.send(output_topic, r.value.upper())
    producer.send_offsets_to_transaction({tp: 3}, group if by_group_id else meta)
    producer.commit_transaction()
    producer.close()
    assert consumer.committed(tp) == 3
    consumer.close()
    assert read_committed(bootstrap, output_topic, 3) == [b"IN0", b"IN1", b"IN2"]


def test_a_second_producer_fences_the_first(bootstrap):
    topic = f"txn-fence-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, 1)
    tid = f"zombie-{uuid.uuid4().hex[:8]}"
    old = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid)
    old.init_transactions()
    old.begin_transaction()
    old.send(topic, b"zombie").get(timeout=30)
    new = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid)
    new.init_transactions()
    with pytest.raises(KafkaError) as caught:
        old.commit_transaction()
    assert caught.value.errno == 90  # PRODUCER_FENCED
    new.begin_transaction()
    new.send(topic, b"new")
    new.commit_transaction()
    new.close()
    old.close()
    assert read_committed(bootstrap, topic, 1) == [b"new"]
