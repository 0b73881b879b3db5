"""KafkaAdminClient with kafka-python's API: topics, partitions, configs, consumer groups and
their offsets, and deleting records; against the DevBroker or the real Kafka of
KRAFTY_TEST_BOOTSTRAP."""

import threading
import time
import uuid

import pytest

import krafty
from conftest import devbroker_only
from krafty import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition, errors
from krafty.admin import (ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions,
                          NewTopic)
from krafty.structs import GroupInformation, MemberInformation


def unique(what):
    return f"{what}-{uuid.uuid4().hex[:10]}"


def eventually(f, expected, timeout=20.0):
    """`f()` once it equals `expected` (a real Kafka propagates metadata asynchronously),
    else its last value, for the assertion to show."""
    deadline = time.monotonic() + timeout
    while True:
        value = f()
        if value == expected or time.monotonic() >= deadline:
            return value
        time.sleep(0.1)


def served(admin, name, partitions):
    """`name` once its metadata shows `partitions` partitions, each with a leader."""
    def look():
        try:
            [t] = admin.describe_topics([name])
        except errors.BrokerError as e:  # not known yet, no leader yet
            if not e.retriable:
                raise
            return None
        return len(t["partitions"]) == partitions and all(p["leader"] >= 0 for p in t["partitions"])
    assert eventually(look, True), f"{name} not served with {partitions} partitions"


@pytest.fixture
def admin(bootstrap):
    with KafkaAdminClient(bootstrap_servers=bootstrap, client_id="admin-test",
                          request_timeout_ms=30000) as a:
        yield a


def produce(bootstrap, topic, n, partition):
    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0) as p:
        p.send_batch(topic, [f"v{i}".encode() for i in range(n)], partition=partition).get(10)


def read(consumer, count, timeout=20.0):
    out, deadline = [], time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            out.extend(records)
    return out


# --- the names ------------------------------------------------------------------------------

def test_importable_as_kafka_python_names_them():
    assert krafty.KafkaAdminClient is KafkaAdminClient
    assert "KafkaAdminClient" in krafty.__all__
    assert ConfigResourceType.TOPIC == 2 and ConfigResourceType.BROKER == 4
    t = NewTopic("t", 3, 1, topic_configs={"retention.ms": "1000"})
    assert (t.name, t.num_partitions, t.replication_factor, t.replica_assignments,
            t.topic_configs) == ("t", 3, 1, {}, {"retention.ms": "1000"})
    assert NewPartitions(5).total_count == 5 and NewPartitions(5).new_assignments is None
    r = ConfigResource("topic", "t")
    assert (r.resource_type, r.name, r.configs) == (ConfigResourceType.TOPIC, "t", None)


# --- topics ---------------------------------------------------------------------------------

def test_create_list_describe_and_delete_topics(admin):
    prefix = unique("adm")
    a, b = prefix + "-a", prefix + "-b"
    assert admin.create_topics([NewTopic(a, 3, 1), NewTopic(b, 1, 1)], timeout_ms=10000) is None
    served(admin, a, 3)
    served(admin, b, 1)

    mine = lambda: sorted(t for t in admin.list_topics() if t.startswith(prefix))  # noqa: E731
    assert eventually(mine, [a, b]) == [a, b]

    described = admin.describe_topics([a, b])
    assert [t["topic"] for t in described] == [a, b]
    for t, count in zip(described, (3, 1)):
        assert (t["error_code"], t["is_internal"]) == (0, False)
        assert [p["partition"] for p in t["partitions"]] == list(range(count))
        for p in t["partitions"]:
            assert set(p) == {"error_code", "partition", "leader", "replicas", "isr"}
            assert p["error_code"] == 0
            assert p["leader"] >= 0
            assert p["replicas"] == [p["leader"]] and p["isr"] == [p["leader"]], "one replica"
    everything = {t["topic"]: t for t in admin.describe_topics()}
    assert everything[a] == described[0] and everything[b] == described[1]

    assert admin.delete_topics([a], timeout_ms=10000) is None
    assert eventually(mine, [b]) == [b]
    with pytest.raises(errors.UnknownTopicOrPartitionError) as e:
        eventually(lambda: admin.describe_topics([a]), None)
    assert e.value.errno == 3 and e.value.topic == a


def test_creating_an_existing_topic_raises_topic_already_exists(admin):
    name = unique("dup")
    admin.create_topics([NewTopic(name, 2, 1)])
    served(admin, name, 2)
    with pytest.raises(errors.TopicAlreadyExistsError) as e:
        admin.create_topics([NewTopic(name, 2, 1)])
    assert e.value.errno == 36 and e.value.code == 36
    assert e.value.topic == name
    assert isinstance(e.value, errors.BrokerResponseError)


def test_create_partitions_grows_a_topic_and_refuses_to_shrink_it(admin):
    name = unique("grow")
    admin.create_topics([NewTopic(name, 2, 1)])
    served(admin, name, 2)
    assert admin.create_partitions({name: NewPartitions(5)}) is None
    served(admin, name, 5)
    [t] = admin.describe_topics([name])
    assert [p["partition"] for p in t["partitions"]] == [0, 1, 2, 3, 4]
    with pytest.raises(errors.InvalidPartitionsError) as e:
        admin.create_partitions({name: NewPartitions(3)})
    assert e.value.errno == 37


def test_describe_configs_shows_the_configs_set_at_creation(admin):
    name = unique("cfg")
    admin.create_topics([NewTopic(name, 1, 1, topic_configs={"retention.ms": 3600000,
                                                              "cleanup.policy": "compact"})])
    served(admin, name, 1)

    [response] = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [(error_code, error_message, resource_type, resource_name, entries)] = response.resources
    assert (error_code, error_message, resource_type, resource_name) == (0, None, 2, name)
    by_name = {e.config_names: e for e in entries}
    assert by_name["retention.ms"] == ("retention.ms", "3600000", False, False, False)
    assert by_name["cleanup.policy"].config_value == "compact"
    assert by_name["cleanup.policy"].is_default is False
    assert by_name["segment.bytes"].is_default is True, "configs not set keep the broker's"

    # Named keys only, as kafka-python's ConfigResource(..., configs={...}) asks.
    [response] = admin.describe_configs(
        [ConfigResource("TOPIC", name, configs={"retention.ms": None})])
    [(_, _, _, _, entries)] = response.resources
    assert entries == [("retention.ms", "3600000", False, False, False)]

    with pytest.raises(errors.UnknownTopicOrPartitionError) as e:
        admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, unique("missing"))])
    assert e.value.errno == 3


# --- consumer groups ------------------------------------------------------------------------

def test_groups_listed_described_and_their_offsets_after_a_commit(bootstrap, topic, admin):
    group = unique("grp")
    produce(bootstrap, topic, 8, partition=0)
    produce(bootstrap, topic, 4, partition=1)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             client_id="reader-1", enable_auto_commit=False,
                             auto_offset_reset="earliest")
    assert len(read(consumer, 12)) == 12
    tp0, tp1, tp2 = (TopicPartition(topic, p) for p in range(3))
    consumer.commit({tp0: 5, tp1: OffsetAndMetadata(3, "", -1)})

    assert (group, "consumer") in admin.list_consumer_groups()
    assert [g for g in admin.list_consumer_groups() if g[0] == group] == [(group, "consumer")]

    [info] = admin.describe_consumer_groups([group])
    assert isinstance(info, GroupInformation)
    assert (info.error_code, info.group, info.state, info.protocol_type, info.protocol) == (
        0, group, "Stable", "consumer", "range")
    [member] = info.members
    assert isinstance(member, MemberInformation)
    assert member.member_id.startswith("reader-1-")
    assert member.client_id == "reader-1"
    assert member.client_host == "/127.0.0.1"
    assert sorted(member.member_assignment) == [tp0, tp1, tp2]
    assert info.authorized_operations is None

    assert admin.list_consumer_group_offsets(group) == {
        tp0: OffsetAndMetadata(5, "", -1), tp1: OffsetAndMetadata(3, "", -1)}
    # Named partitions: one without a commit is -1, as kafka-python documents.
    assert admin.list_consumer_group_offsets(group, partitions=[tp1, tp2]) == {
        tp1: OffsetAndMetadata(3, "", -1), tp2: OffsetAndMetadata(-1, "", -1)}

    # A group with a member cannot be deleted; once it left, it can.
    assert admin.delete_consumer_groups([group]) == [(group, errors.NonEmptyGroupError)]
    consumer.close()
    assert eventually(lambda: admin.describe_consumer_groups([group])[0].state, "Empty") == "Empty"
    [empty] = admin.describe_consumer_groups([group])
    assert (empty.members, empty.protocol_type) == ([], "consumer")
    missing = unique("never")
    assert admin.delete_consumer_groups([group, missing]) == [
        (group, errors.NoError), (missing, errors.GroupIdNotFoundError)]
    assert errors.NoError.errno == 0
    assert [g for g in admin.list_consumer_groups() if g[0] == group] == []
    assert admin.list_consumer_group_offsets(group) == {}


def test_alter_consumer_group_offsets_of_an_empty_group_moves_where_it_resumes(
        bootstrap, topic, admin):
    group = unique("reset")
    produce(bootstrap, topic, 6, partition=2)
    tp2 = TopicPartition(topic, 2)
    assert admin.alter_consumer_group_offsets(group, {tp2: 4}) is None
    assert admin.list_consumer_group_offsets(group) == {tp2: OffsetAndMetadata(4, "", -1)}
    admin.alter_consumer_group_offsets(group, {tp2: OffsetAndMetadata(2, "", -1)})
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    consumer.assign([tp2])
    assert [r.offset for r in read(consumer, 4)] == [2, 3, 4, 5]
    consumer.close()
    with pytest.raises(NotImplementedError, match="metadata"):
        admin.alter_consumer_group_offsets(group, {tp2: OffsetAndMetadata(1, "kept?", -1)})


# --- records --------------------------------------------------------------------------------

def test_delete_records_moves_the_log_start(bootstrap, topic, admin):
    produce(bootstrap, topic, 10, partition=0)
    tp0 = TopicPartition(topic, 0)
    assert admin.delete_records({tp0: 4}) is None
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    consumer.assign([tp0])
    assert consumer.beginning_offsets([tp0]) == {tp0: 4}
    assert [r.offset for r in read(consumer, 6)] == [4, 5, 6, 7, 8, 9]
    consumer.close()
    with pytest.raises(errors.OffsetOutOfRangeError) as e:
        admin.delete_records({tp0: 11})
    assert e.value.errno == 1 and (e.value.topic, e.value.partition) == (topic, 0)


# --- arguments, timeouts, closing -----------------------------------------------------------

def test_invalid_and_unsupported_arguments_name_the_argument(admin):
    with pytest.raises(TypeError, match="new_topics"):
        admin.create_topics("just-a-name")
    with pytest.raises(TypeError, match="new_topics"):
        admin.create_topics([("t", 1, 1)])
    with pytest.raises(TypeError, match="replica_assignments"):
        admin.create_topics([NewTopic(unique("r"), -1, -1, replica_assignments={0: "one"})])
    with pytest.raises(TypeError, match="topic_partitions"):
        admin.create_partitions({"t": "five"})
    with pytest.raises(TypeError, match="new_assignments"):
        admin.create_partitions({"t": NewPartitions(4, "one")})
    with pytest.raises(TypeError, match="config_resources"):
        admin.describe_configs(["topic-name"])
    with pytest.raises(TypeError, match="records_to_delete"):
        admin.delete_records({TopicPartition("t", 0): "x"})
    with pytest.raises(TypeError, match="partitions"):
        admin.list_consumer_group_offsets("g", partitions=[("t", "zero")])
    with pytest.raises(TypeError, match="offsets"):
        admin.alter_consumer_group_offsets("g", {TopicPartition("t", 0): "x"})
    with pytest.raises(errors.ConfigError) as e:
        KafkaAdminClient(bootstrap_servers="127.0.0.1:1", no_such_setting=1)
    assert e.value.property == "no.such.setting"


def test_no_broker_at_bootstrap_raises_no_brokers_available():
    with pytest.raises(errors.NoBrokersAvailable):
        KafkaAdminClient(bootstrap_servers="127.0.0.1:1", request_timeout_ms=2000,
                         socket_connection_setup_timeout_ms=500)


@devbroker_only
def test_timeout_ms_bounds_the_call(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    broker.add_latency(19, 2000)  # CreateTopics
    started = time.monotonic()
    with pytest.raises(errors.KafkaTimeoutError):
        admin.create_topics([NewTopic(unique("slow"), 1, 1)], timeout_ms=300)
    assert time.monotonic() - started < 1.5
    broker.clear_faults()
    admin.close()


@devbroker_only
def test_a_blocking_call_releases_the_gil(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    broker.add_latency(19, 600)  # CreateTopics
    ticks, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = ticks[0]
        admin.create_topics([NewTopic(unique("gil"), 1, 1)])  # waits 600 ms for the broker
        during = ticks[0] - before
    finally:
        stop.set()
        t.join()
    assert during > 1_000_000, "another thread ran Python while the call waited"
    broker.clear_faults()
    admin.close()


def test_closed_client_raises_closed_error(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.close()
    admin.close()  # twice is fine, as kafka-python
    with pytest.raises(errors.ClosedError):
        admin.list_topics()
    with pytest.raises(errors.ClosedError):
        admin.describe_cluster()


def test_describe_cluster_lists_the_brokers_and_the_controller(admin, bootstrap):
    cluster = admin.describe_cluster()
    assert set(cluster) == {"throttle_time_ms", "brokers", "cluster_id", "controller_id"}
    brokers = cluster["brokers"]
    assert brokers and all(set(b) == {"node_id", "host", "port", "rack"} for b in brokers)
    assert cluster["controller_id"] in {b["node_id"] for b in brokers}
    assert isinstance(cluster["cluster_id"], str) and cluster["cluster_id"]
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    assert any(b["port"] == int(port) for b in brokers), (bootstrap, brokers)
