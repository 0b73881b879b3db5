"""`create_topics(validate_only=...)`, `create_partitions(validate_only=...)`,
`NewTopic(replica_assignments=...)` and `NewPartitions(new_assignments=...)` with kafka-python's
API; against the DevBroker or the real Kafka of KRAFTY_TEST_BOOTSTRAP (one node: a partition's
replicas can only be `[node]`)."""

import time
import uuid

import pytest

from krafty import errors
from krafty.admin import KafkaAdminClient, NewPartitions, NewTopic


def unique(what):
    return f"{what}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def admin(bootstrap):
    with KafkaAdminClient(bootstrap_servers=bootstrap, client_id="admin-create-test") as a:
        yield a


def described(admin, name, partitions, timeout=10.0):
    """`name`'s partitions once there are `partitions` of them, each with a leader."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            [t] = admin.describe_topics([name])
            ps = t["partitions"]
            if len(ps) == partitions and all(p["leader"] >= 0 for p in ps):
                return sorted((p["partition"], p["replicas"]) for p in ps)
        except errors.BrokerError as e:
            if not e.retriable:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not served with {partitions} partitions")
        time.sleep(0.05)


def node_of(admin):
    name = unique("node")
    admin.create_topics([NewTopic(name, 1, 1)])
    [(_, [node])] = described(admin, name, 1)
    return node


def test_validate_only_creates_nothing(admin):
    name = unique("validate")
    assert admin.create_topics([NewTopic(name, 2, 1)], validate_only=True) is None
    time.sleep(0.3)
    assert name not in admin.list_topics()
    with pytest.raises(errors.InvalidConfigurationError) as e:
        admin.create_topics([NewTopic(name, 1, 1, topic_configs={"retention.ms": "soon"})],
                            validate_only=True)
    assert e.value.errno == 40

    admin.create_topics([NewTopic(name, 1, 1)])
    described(admin, name, 1)
    with pytest.raises(errors.TopicAlreadyExistsError):
        admin.create_topics([NewTopic(name, 1, 1)], validate_only=True)
    admin.create_partitions({name: NewPartitions(3)}, validate_only=True)
    time.sleep(0.3)
    assert len(admin.describe_topics([name])[0]["partitions"]) == 1


def test_replica_assignments_and_new_assignments(admin):
    node = node_of(admin)
    name = unique("assigned")
    admin.create_topics([NewTopic(name, -1, -1, replica_assignments={0: [node], 1: [node]})])
    assert described(admin, name, 2) == [(0, [node]), (1, [node])]

    with pytest.raises(errors.InvalidReplicaAssignmentError) as e:
        admin.create_topics([NewTopic(unique("bad"), -1, -1,
                                      replica_assignments={0: [node + 100]})])
    assert e.value.errno == 39
    with pytest.raises(errors.InvalidRequestError):
        admin.create_topics([NewTopic(unique("both"), 1, 1, replica_assignments={0: [node]})])

    admin.create_partitions({name: NewPartitions(3, new_assignments=[[node]])})
    assert described(admin, name, 3)[2] == (2, [node])
    with pytest.raises(errors.InvalidReplicaAssignmentError):
        admin.create_partitions({name: NewPartitions(4, new_assignments=[[node + 100]])})
