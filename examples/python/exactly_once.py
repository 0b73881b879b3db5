"""Exactly-once consume-transform-produce in Python, with kafka-python's calls: records of
`orders` are read by a consumer group, transformed, and written to `invoices` in transactions
that also commit the group's offsets, so each order's invoice appears once.

    python examples/python/exactly_once.py                 # on an in-process DevBroker
    KRAFTY_BOOTSTRAP=127.0.0.1:19092 python examples/python/exactly_once.py   # on a cluster

The first transaction is aborted on purpose (a read_committed consumer never sees it, and the
group's offsets do not move). The script checks its own result with a read_committed consumer
and exits non-zero if an invoice is missing or duplicated. It is the Python twin of
examples/examples/exactly_once.rs."""

import os
import sys
import time
from collections import Counter

from krafty import DevBroker, KafkaConsumer, KafkaProducer, TopicPartition
from krafty.admin import KafkaAdminClient, NewTopic
from krafty.errors import FatalError, KafkaError, ProducerFencedError

RECORDS = 1000


def main() -> int:
    broker = None if os.environ.get("KRAFTY_BOOTSTRAP") else DevBroker()
    bootstrap = os.environ.get("KRAFTY_BOOTSTRAP") or broker.bootstrap_servers
    run = int(time.time() * 1000)
    orders, invoices = f"orders-py-{run}", f"invoices-py-{run}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(orders, num_partitions=2, replication_factor=1),
                         NewTopic(invoices, num_partitions=2, replication_factor=1)])
    admin.close()

    seed = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(RECORDS):
        seed.send(orders, f"order {i}".encode(), key=str(i).encode())
    seed.flush()
    seed.close()

    # The copier: a group member and a transactional producer whose id is stable across
    # restarts (a restarted copier fences the instance it replaces).
    consumer = KafkaConsumer(orders, bootstrap_servers=bootstrap, group_id=f"invoicer-{run}",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             isolation_level="read_committed")
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"invoicer-{run}")
    producer.init_transactions()

    copied, aborted_once = 0, False
    deadline = time.monotonic() + 120
    while copied < RECORDS and time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=500)
        records = [r for rs in batch.values() for r in rs]
        if not records:
            continue
        producer.begin_transaction()
        next_offsets = {}
        for r in records:
            producer.send(invoices, r.value.replace(b"order", b"invoice"), key=r.key)
            next_offsets[TopicPartition(r.topic, r.partition)] = r.offset + 1
        producer.send_offsets_to_transaction(next_offsets, consumer.group_metadata())
        if not aborted_once:
            # Abort the first transaction: its invoices stay invisible and the offsets it
            # carried are not committed, so the same orders are read again.
            aborted_once = True
            producer.abort_transaction()
            rewind(consumer, next_offsets)
            continue
        try:
            producer.commit_transaction()
            copied += len(records)
        except (FatalError, ProducerFencedError):
            raise  # fenced by a newer copier: this one must stop
        except KafkaError as e:
            print(f"transaction failed ({e}); aborting and rewinding", file=sys.stderr)
            producer.abort_transaction()
            rewind(consumer, next_offsets)
    producer.close()
    consumer.close()
    print(f"copied {copied} records in transactions (the first one aborted)")

    checker = KafkaConsumer(invoices, bootstrap_servers=bootstrap, group_id=f"checker-{run}",
                            auto_offset_reset="earliest", isolation_level="read_committed")
    seen: Counter = Counter()
    deadline = time.monotonic() + 60
    while sum(seen.values()) < RECORDS and time.monotonic() < deadline:
        for rs in checker.poll(timeout_ms=500).values():
            seen.update(r.value.decode() for r in rs)
    checker.close()
    if broker is not None:
        broker.shutdown()
    duplicated = sum(1 for n in seen.values() if n > 1)
    expected = {f"invoice {i}" for i in range(RECORDS)}
    print(f"{len(seen)} distinct invoices of {RECORDS}, {duplicated} duplicated")
    return 0 if set(seen) == expected and duplicated == 0 else 1


def rewind(consumer, offsets):
    """Back to the group's committed offsets (the start, if none) for these partitions."""
    for tp in offsets:
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


if __name__ == "__main__":
    sys.exit(main())
