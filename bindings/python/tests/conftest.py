"""Fixtures: an in-process DevBroker per test, or a real Kafka.

With KRAFTY_TEST_BOOTSTRAP=host:port the suite runs against that cluster: `bootstrap` returns
it, `topic` creates its topic there with the partitions the tests expect (a real Kafka
auto-creates topics with num.partitions=1), and the tests that need the DevBroker itself (its
API, fault injection, a restart) skip.
"""

import os
import time
import uuid

import pytest

from krafty import DevBroker

REAL_KAFKA = os.environ.get("KRAFTY_TEST_BOOTSTRAP") or None
# What the DevBroker fixture auto-creates, and what `topic` creates on a real Kafka.
PARTITIONS = 3
DEVBROKER_ONLY = ("needs the in-process DevBroker itself (its API, faults or a restart); "
                  "KRAFTY_TEST_BOOTSTRAP targets a real Kafka")

devbroker_only = pytest.mark.skipif(REAL_KAFKA is not None, reason=DEVBROKER_ONLY)

def create_topic(bootstrap, name, partitions, timeout=30.0):
    """Creates `name` on a real cluster and waits until its metadata shows every partition
    with a leader (a producer's first metadata request then finds it whole)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, num_partitions=partitions,
                                                replication_factor=1)]).values():
        future.result(timeout)
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=name, timeout=5).topics.get(name)
        seen = md
        if (md is not None and md.error is None and len(md.partitions) == partitions
                and all(p.leader >= 0 for p in md.partitions.values())):
            return
        time.sleep(0.1)
    pytest.fail(f"topic {name} not served with {partitions} partitions after {timeout} s: {seen}")


@pytest.fixture
def broker():
    """A fresh in-memory dev broker with 3 partitions per auto-created topic."""
    if REAL_KAFKA is not None:
        pytest.skip(DEVBROKER_ONLY)
    with DevBroker(num_partitions=PARTITIONS) as b:
        yield b


@pytest.fixture
def bootstrap(request):
    """The cluster under test: KRAFTY_TEST_BOOTSTRAP, or a fresh DevBroker's address."""
    if REAL_KAFKA is not None:
        return REAL_KAFKA
    return request.getfixturevalue("broker").bootstrap_servers


@pytest.fixture
def topic():
    """A new topic's name; on a real Kafka the topic is created, with 3 partitions."""
    name = "t-" + uuid.uuid4().hex[:10]
    if REAL_KAFKA is not None:
        create_topic(REAL_KAFKA, name, PARTITIONS)
    return name
