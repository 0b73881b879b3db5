"""DevBroker(nodes=3): a replicated dev cluster in this process, and its node faults (stop,
start, isolate, heal) for failover tests."""

import os
import signal
import time
import uuid

import pytest

from conftest import devbroker_only
from krafty import DevBroker, KafkaConsumer, KafkaProducer, TopicPartition, errors
from krafty.admin import KafkaAdminClient, NewTopic

pytestmark = devbroker_only


@pytest.fixture
def cluster():
    """Three nodes, topics replicated to all three by default, acks=all needing two in sync."""
    with DevBroker(nodes=3, default_replication_factor=3, min_insync_replicas=2) as c:
        yield c


@pytest.fixture
def topic(cluster):
    """A new topic on the cluster: 1 partition on all three nodes."""
    name = "c-" + uuid.uuid4().hex[:10]
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(name, 1, 3)], timeout_ms=10000)
    finally:
        admin.close()
    return name


def wait_for(what, check, timeout=10.0):
    """Polls `check()` until it returns something true (returned), failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.02)
    pytest.fail(f"{what}: not within {timeout} s (last seen: {last!r})")


def producer(cluster, **config):
    return KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all", linger_ms=0,
                         **config)


def read_all(cluster, topic, expected, timeout=15.0):
    """Every record of partition 0 from the start, once `expected` of them have arrived."""
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap_servers,
                             auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(topic, 0)])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                out.extend(r.value for r in records)
        return out
    finally:
        consumer.close()


def test_a_cluster_replicates_to_every_node(cluster, topic):
    assert cluster.node_ids() == [1, 2, 3]
    addresses = cluster.bootstrap_servers.split(",")
    assert addresses == [cluster.node_bootstrap(n) for n in (1, 2, 3)]
    assert len(set(addresses)) == 3, "each node on its own port"

    with producer(cluster, enable_idempotence=True) as p:
        offsets = [p.send(topic, b"v%d" % i).get(timeout=10).offset for i in range(10)]
    assert offsets == list(range(10))

    state = cluster.partition_state(topic, 0)
    assert state["leader"] in cluster.node_ids()
    assert sorted(state["replicas"]) == [1, 2, 3]
    assert sorted(state["isr"]) == [1, 2, 3]
    assert state["leader_epoch"] == 0
    # acks=all: every in-sync replica had the records before they were acknowledged.
    replicas = cluster.replicas(topic, 0)
    assert sorted(r["node_id"] for r in replicas) == [1, 2, 3]
    assert [(r["log_start_offset"], r["log_end_offset"]) for r in replicas] == [(0, 10)] * 3
    leader = next(r for r in replicas if r["node_id"] == state["leader"])
    assert leader["high_watermark"] == 10
    assert cluster.partition_state(topic, 1) is None
    assert cluster.replicas(topic, 1) == []


def test_stopping_the_leader_fails_over_without_losing_or_repeating_records(cluster, topic):
    with producer(cluster, enable_idempotence=True, request_timeout_ms=3000) as p:
        for i in range(20):
            p.send(topic, b"v%d" % i).get(timeout=10)
        before = cluster.partition_state(topic, 0)
        old = before["leader"]

        cluster.stop_node(old)

        after = cluster.partition_state(topic, 0)
        assert after["leader"] in before["isr"] and after["leader"] != old
        assert after["leader_epoch"] == before["leader_epoch"] + 1 == 1
        assert sorted(after["isr"]) == sorted(n for n in before["isr"] if n != old)
        # The same producer finds the new leader by itself (metadata refresh, retries).
        offsets = [p.send(topic, b"v%d" % i).get(timeout=15).offset for i in range(20, 40)]
    assert offsets == list(range(20, 40))
    assert read_all(cluster, topic, 40) == [b"v%d" % i for i in range(40)]

    cluster.start_node(old)
    wait_for(f"node {old} back in the ISR",
             lambda: old in cluster.partition_state(topic, 0)["isr"])
    assert sorted(cluster.partition_state(topic, 0)["isr"]) == [1, 2, 3]
    assert cluster.partition_state(topic, 0)["leader"] == after["leader"], "no election on return"
    ends = {r["node_id"]: r["log_end_offset"] for r in cluster.replicas(topic, 0)}
    assert ends == {1: 40, 2: 40, 3: 40}


def test_acks_all_is_refused_below_min_insync_replicas_and_works_again(cluster, topic):
    with producer(cluster, enable_idempotence=False, retries=0, request_timeout_ms=3000,
                  delivery_timeout_ms=6000) as p:
        assert p.send(topic, b"first").get(timeout=10).offset == 0
        leader = cluster.partition_state(topic, 0)["leader"]
        followers = [n for n in cluster.node_ids() if n != leader]
        for n in followers:
            cluster.stop_node(n)
        assert cluster.partition_state(topic, 0)["isr"] == [leader]

        with pytest.raises(errors.KafkaError) as e:
            p.send(topic, b"refused").get(timeout=10)
        assert isinstance(e.value, errors.NotEnoughReplicasError), repr(e.value)
        assert (e.value.code, e.value.name) == (19, "NOT_ENOUGH_REPLICAS")

        cluster.start_node(followers[0])
        wait_for(f"node {followers[0]} back in the ISR",
                 lambda: sorted(cluster.partition_state(topic, 0)["isr"])
                 == sorted([leader, followers[0]]))
        assert p.send(topic, b"accepted").get(timeout=10).offset == 1, "the refused one was not written"
    assert read_all(cluster, topic, 2) == [b"first", b"accepted"]


def test_an_isolated_follower_leaves_the_isr_and_rejoins_after_heal(cluster, topic):
    with producer(cluster, enable_idempotence=True, request_timeout_ms=3000) as p:
        p.send(topic, b"before").get(timeout=10)
        before = cluster.partition_state(topic, 0)
        leader = before["leader"]
        follower = next(n for n in cluster.node_ids() if n != leader)

        cluster.isolate_node(follower)

        during = cluster.partition_state(topic, 0)
        assert sorted(during["isr"]) == sorted(n for n in (1, 2, 3) if n != follower)
        assert (during["leader"], during["leader_epoch"]) == (leader, 0), "a follower: no election"
        assert during["partition_epoch"] > before["partition_epoch"]
        # Two in sync are enough for acks=all; the isolated one misses these.
        offsets = [p.send(topic, b"during-%d" % i).get(timeout=10).offset for i in range(5)]
        assert offsets == [1, 2, 3, 4, 5]
        ends = {r["node_id"]: r["log_end_offset"] for r in cluster.replicas(topic, 0)}
        assert ends[follower] == 1 and ends[leader] == 6

        cluster.heal_node(follower)
        wait_for(f"node {follower} back in the ISR",
                 lambda: follower in cluster.partition_state(topic, 0)["isr"])
    ends = {r["node_id"]: r["log_end_offset"] for r in cluster.replicas(topic, 0)}
    assert ends == {1: 6, 2: 6, 3: 6}
    assert cluster.partition_state(topic, 0)["leader"] == leader


def test_a_follower_with_paused_fetchers_drops_out_of_the_isr_until_resumed():
    # acks=all waits for every in-sync replica: a stalled follower holds writes up until it
    # leaves the ISR, replica.lag.time.max.ms after it fell behind.
    with DevBroker(nodes=3, default_replication_factor=3, min_insync_replicas=2,
                   replica_lag_time_max_ms=500) as c:
        name = "c-" + uuid.uuid4().hex[:10]
        admin = KafkaAdminClient(bootstrap_servers=c.bootstrap_servers)
        admin.create_topics([NewTopic(name, 1, 3)], timeout_ms=10000)
        admin.close()
        with producer(c, enable_idempotence=True) as p:
            p.send(name, b"v0").get(timeout=10)
            leader = c.partition_state(name, 0)["leader"]
            follower = next(n for n in c.node_ids() if n != leader)
            c.pause_replica_fetchers(follower)
            offsets = [p.send(name, b"v%d" % i).get(timeout=10).offset for i in (1, 2, 3)]
            assert offsets == [1, 2, 3]
            assert follower not in c.partition_state(name, 0)["isr"]
            ends = {r["node_id"]: r["log_end_offset"] for r in c.replicas(name, 0)}
            assert (ends[follower], ends[leader]) == (1, 4)

            c.resume_replica_fetchers(follower)
            wait_for(f"node {follower} back in the ISR",
                     lambda: follower in c.partition_state(name, 0)["isr"])
        ends = {r["node_id"]: r["log_end_offset"] for r in c.replicas(name, 0)}
        assert ends == {1: 4, 2: 4, 3: 4}


def test_a_cluster_keeps_each_nodes_logs_in_its_own_dir(tmp_path):
    with DevBroker(nodes=2, data_dir=str(tmp_path), default_replication_factor=2) as c:
        assert len(c.bootstrap_servers.split(",")) == 2
        assert c.listener_bootstrap("PLAINTEXT") == c.bootstrap_servers
        with producer(c) as p:
            assert p.send("kept", b"v").get(timeout=10).offset == 0
        assert [r["log_end_offset"] for r in c.replicas("kept", 0)] == [1, 1]
    assert {"node-1", "node-2"} <= set(os.listdir(tmp_path))


def test_node_methods_refuse_wrong_usage():
    with DevBroker() as single:
        with pytest.raises(RuntimeError, match="nodes=3"):
            single.stop_node(1)
        with pytest.raises(RuntimeError, match="multi-node"):
            single.partition_state("t", 0)
        with pytest.raises(RuntimeError, match="multi-node"):
            single.node_ids()
    with pytest.raises(ValueError, match="nodes"):
        DevBroker(nodes=0)
    with pytest.raises(ValueError, match="nodes"):
        DevBroker(nodes=-1)
    with DevBroker(nodes=3) as c:
        for method in (c.stop_node, c.start_node, c.isolate_node, c.heal_node,
                       c.pause_replica_fetchers, c.resume_replica_fetchers, c.node_bootstrap):
            with pytest.raises(ValueError, match="no node 99"):
                method(99)
        c.stop_node(2)
        c.stop_node(2)  # stopping a stopped node does nothing
        with pytest.raises(RuntimeError, match="stopped"):
            c.isolate_node(2)
        assert c.node_ids() == [1, 2, 3], "a stopped node is still one of the cluster's"
        c.start_node(2)
        c.start_node(2)  # starting a running node does nothing
    with pytest.raises(RuntimeError, match="shut down"):
        c.node_ids()
    c.shutdown()  # idempotent


def test_a_cluster_inherited_through_fork_refuses_to_work():
    c = DevBroker(nodes=2)
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)
        code = 1
        try:
            c.stop_node(1)
        except errors.ForkedClientError:
            code = 0
        except BaseException:  # noqa: BLE001 - any other outcome fails
            pass
        os._exit(code)
    try:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child got no ForkedClientError"
        assert c.node_ids() == [1, 2], "the parent's cluster still works"
    finally:
        c.shutdown()
