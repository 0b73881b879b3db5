"""read_committed against a broker with transactions (Apache Kafka; the dev broker has none, see
the README's known differences): librdkafka commits one transaction and aborts another, and the
Krafty consumer sees only the committed records with read_committed, and every data record
(never the control markers) with read_uncommitted."""
import json
import uuid

import pytest

from test_krafty_interop import create, failed_into, krafty


def test_read_committed_skips_aborted_transactions(cluster, topic):
    if cluster.restart is not None:
        pytest.skip("the dev broker has no transactions (README: known differences)")
    from confluent_kafka import Producer

    create(cluster, topic, 1)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex[:8]}"})
    p.init_transactions(30)
    delivery_errors = []
    for outcome, values in (("commit", ["c1", "c2"]), ("abort", ["a1", "a2"]), ("commit", ["c3"])):
        p.begin_transaction()
        for v in values:
            p.produce(topic, value=v, partition=0, on_delivery=failed_into(delivery_errors))
        assert p.flush(10) == 0
        assert delivery_errors == [], outcome
        if outcome == "commit":
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)

    def read(isolation):
        out = krafty(cluster, "consume", "--topic", topic, "--from-beginning", "--format", "json",
                     "--timeout-ms", "5000", "-X", f"isolation.level={isolation}")
        return [(r["offset"], r["value"]) for r in map(json.loads, out.splitlines())]

    # Offsets: c1 0, c2 1, commit marker 2, a1 3, a2 4, abort marker 5, c3 6, marker 7.
    assert read("read_committed") == [(0, "c1"), (1, "c2"), (6, "c3")]
    assert read("read_uncommitted") == [(0, "c1"), (1, "c2"), (3, "a1"), (4, "a2"), (6, "c3")]
