"""The consumer from Python: groups, listeners, commits, positions, and restarts."""

import os
import signal
import threading
import time

import pytest

from conftest import devbroker_only
from krafty import DevBroker, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition, errors


def produce(bootstrap, topic, n, partition=None, prefix="v"):
    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0) as p:
        p.send_batch(topic, [f"{prefix}{i}".encode() for i in range(n)], partition=partition).get(10)


def poll_until(consumer, count, timeout=15.0):
    out, deadline = [], time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            out.extend(records)
    return out


class Listener:
    def __init__(self, consumer=None, commit_on_revoke=False):
        self.consumer = consumer
        self.commit_on_revoke = commit_on_revoke
        self.events = []

    def on_partitions_revoked(self, partitions):
        self.events.append(("revoked", sorted(partitions)))
        if self.commit_on_revoke and partitions:
            self.consumer.commit()

    def on_partitions_assigned(self, partitions):
        self.events.append(("assigned", sorted(partitions)))


def test_poll_returns_records_by_partition_at_most_max_records(bootstrap, topic):
    produce(bootstrap, topic, 30, partition=1)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="g-" + topic,
                             auto_offset_reset="earliest")
    got, deadline = [], time.monotonic() + 20
    while not got and time.monotonic() < deadline:
        got = consumer.poll(timeout_ms=2000, max_records=7).get(TopicPartition(topic, 1), [])
    assert [r.value for r in got] == [f"v{i}".encode() for i in range(7)]
    assert consumer.position(TopicPartition(topic, 1)) == 7, "positions advance only past what was returned"
    rest = poll_until(consumer, 23)
    assert [r.offset for r in rest] == list(range(7, 30))
    assert consumer.poll(timeout_ms=100) == {}
    consumer.close()


def test_two_members_split_partitions_and_listeners_see_the_rebalance(bootstrap, topic):
    produce(bootstrap, topic, 90)
    cfg = dict(bootstrap_servers=bootstrap, group_id="grp-" + topic, auto_offset_reset="earliest",
               enable_auto_commit=False)
    a = KafkaConsumer(**cfg)
    la = Listener(a, commit_on_revoke=True)
    a.subscribe([topic], listener=la)
    read = [r.value for r in poll_until(a, 90)]
    assert len(read) == 90
    assert la.events == [("assigned", [TopicPartition(topic, p) for p in range(3)])]

    b = KafkaConsumer(**cfg)
    lb = Listener(b)
    b.subscribe(topics=[topic], listener=lb)
    lock, stop = threading.Lock(), threading.Event()
    failures = []  # what a polling thread raised: asserted below, on the test's thread

    def keep_polling(consumer):
        try:
            while not stop.is_set():
                for records in consumer.poll(timeout_ms=100).values():
                    with lock:
                        read.extend(r.value for r in records)
        except BaseException as e:  # noqa: B036 - reported to the main thread
            failures.append(e)

    threads = [threading.Thread(target=keep_polling, args=(c,), daemon=True) for c in (a, b)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while (not (lb.events and len(b.assignment()) > 0) and time.monotonic() < deadline
               and not failures):
            time.sleep(0.05)
        produce(bootstrap, topic, 30, prefix="late")
        while len(read) < 120 and time.monotonic() < deadline and not failures:
            time.sleep(0.05)
        time.sleep(0.3)  # time for a record read twice to show up
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not [t for t in threads if t.is_alive()], "a polling thread did not stop"
    assert failures == []
    assert ("revoked", [TopicPartition(topic, p) for p in range(3)]) in la.events
    assert lb.events[-1][0] == "assigned"
    mine_a, mine_b = a.assignment(), b.assignment()
    assert mine_a | mine_b == {TopicPartition(topic, p) for p in range(3)}
    assert not (mine_a & mine_b) and mine_a and mine_b
    # a committed in on_partitions_revoked, so b starts where a stopped: each record once.
    assert sorted(read) == sorted([f"v{i}".encode() for i in range(90)] +
                                  [f"late{i}".encode() for i in range(30)])
    a.close()
    b.close()


@devbroker_only
def test_commit_and_restart_resume_from_the_committed_offset(tmp_path, topic):
    data = str(tmp_path / "broker")
    with DevBroker(data_dir=data) as broker:
        produce(broker.bootstrap_servers, topic, 10, partition=0)
        port = int(broker.bootstrap_servers.rsplit(":", 1)[1])
        c = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap_servers, group_id="resume-" + topic,
                          auto_offset_reset="earliest", enable_auto_commit=False)
        records = poll_until(c, 10)
        assert [r.offset for r in records] == list(range(10))
        tp = TopicPartition(topic, 0)
        c.commit({tp: records[3].offset + 1})
        assert c.committed(tp) == 4
        c.close()
    with DevBroker(data_dir=data, port=port) as broker:
        c = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap_servers, group_id="resume-" + topic,
                          auto_offset_reset="earliest", enable_auto_commit=False)
        again = poll_until(c, 6)
        assert [r.value for r in again] == [f"v{i}".encode() for i in range(4, 10)]
        c.commit()
        assert c.committed(tp) == 10
        c.close()


def test_close_commits_with_auto_commit_on(bootstrap, topic):
    produce(bootstrap, topic, 5, partition=0)
    with KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="auto-" + topic,
                       auto_offset_reset="earliest", auto_commit_interval_ms=60000) as c:
        assert len(poll_until(c, 5)) == 5
    with KafkaConsumer(bootstrap_servers=bootstrap, group_id="auto-" + topic) as c:
        assert c.committed(TopicPartition(topic, 0)) == 5


def test_assign_seek_pause_resume_and_offsets(bootstrap, topic):
    produce(bootstrap, topic, 20, partition=2)
    tp = TopicPartition(topic, 2)
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id="manual-" + topic, auto_offset_reset="earliest")
    c.assign([tp])
    assert c.assignment() == {tp}
    assert c.beginning_offsets([tp]) == {tp: 0}
    assert c.end_offsets([tp]) == {tp: 20}
    c.seek(tp, 15)
    assert [r.offset for r in poll_until(c, 5)] == [15, 16, 17, 18, 19]
    c.seek_to_beginning()
    assert c.position(tp) == 0
    c.pause(tp)
    assert c.paused() == {tp}
    assert c.poll(timeout_ms=300) == {}
    c.resume(tp)
    assert poll_until(c, 1)[0].offset == 0
    c.seek_to_end(tp)
    assert c.position(tp) == 20
    found = c.offsets_for_times({tp: 0})
    assert found[tp][0] == 0
    assert c.offsets_for_times({tp: 2**62}) == {tp: None}
    with pytest.raises(errors.IllegalStateError):
        c.position(TopicPartition(topic, 0))
    c.close()


def test_wakeup_interrupts_a_blocked_poll(bootstrap, topic):
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="wake-" + topic)
    timer = threading.Timer(0.3, c.wakeup)
    timer.daemon = True
    started = time.monotonic()
    timer.start()
    with pytest.raises(errors.WakeupError):
        c.poll(timeout_ms=20000)
    elapsed = time.monotonic() - started
    timer.join(5)
    c.close()
    assert elapsed < 10, f"poll returned {elapsed:.1f} s in, not at the wakeup"


def test_ctrl_c_interrupts_a_blocked_poll(bootstrap, topic):
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="sigint-" + topic)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.daemon = True
    started = time.monotonic()
    timer.start()
    # A poll that ignored the signal would return {} after 20 s and Python would raise the
    # KeyboardInterrupt then: only the time it took tells the two apart.
    with pytest.raises(KeyboardInterrupt):
        c.poll(timeout_ms=20000)
    elapsed = time.monotonic() - started
    timer.join(5)
    c.close()
    assert elapsed < 5, f"poll returned {elapsed:.1f} s in, not at the SIGINT (0.5 s in)"


def test_iteration_ends_after_consumer_timeout_ms(bootstrap, topic):
    produce(bootstrap, topic, 3, partition=0)
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="it-" + topic, auto_offset_reset="earliest",
                      consumer_timeout_ms=500)
    assert [r.value for r in c] == [b"v0", b"v1", b"v2"]
    c.close()


def test_commit_for_a_partition_not_assigned_is_refused(bootstrap, topic):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id="refuse-" + topic)
    c.assign([TopicPartition(topic, 0)])
    with pytest.raises(errors.IllegalStateError):
        c.commit({TopicPartition(topic, 1): 5})
    c.close()


def test_commit_async_reports_through_its_callback(bootstrap, topic):
    produce(bootstrap, topic, 2, partition=0)
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="async-commit-" + topic,
                      auto_offset_reset="earliest", enable_auto_commit=False)
    poll_until(c, 2)
    done = threading.Event()
    outcome = []
    c.commit_async(callback=lambda offsets, err: (outcome.append((offsets, err)), done.set()))
    assert done.wait(10)
    [(offsets, err)] = outcome
    assert err is None and all(isinstance(o, OffsetAndMetadata) for o in offsets.values())
    assert {tp: o.offset for tp, o in offsets.items()} == {
        TopicPartition(topic, 0): 2, TopicPartition(topic, 1): 0, TopicPartition(topic, 2): 0}
    assert c.committed(TopicPartition(topic, 0)) == 2
    c.close()


def test_listener_may_seek_and_other_calls_are_refused_instead_of_deadlocking(bootstrap, topic):
    produce(bootstrap, topic, 10, partition=0)
    tp = TopicPartition(topic, 0)
    refused = []

    class SeekOnAssign:
        def __init__(self, consumer):
            self.consumer = consumer

        def on_partitions_assigned(self, partitions):
            if tp in partitions:
                self.consumer.seek(tp, 6)
            try:
                self.consumer.poll(timeout_ms=0)  # poll from inside poll
            except errors.IllegalStateError as e:
                refused.append(e)

        def on_partitions_revoked(self, partitions):
            pass

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id="seek-listener-" + topic, auto_offset_reset="earliest")
    c.subscribe([topic], listener=SeekOnAssign(c))
    assert [r.offset for r in poll_until(c, 4)] == [6, 7, 8, 9]
    assert len(refused) == 1
    c.close()


def test_a_record_the_deserializer_refuses_is_not_skipped(bootstrap, topic):
    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0) as p:
        p.send_batch(topic, [b"1", b"2", b"oops", b"4"], partition=0).get(10)
    tp = TopicPartition(topic, 0)
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id="deser-" + topic, auto_offset_reset="earliest",
                      value_deserializer=int)
    c.assign([tp])
    # poll: the records before the bad one come back; the next poll raises on it.
    assert [r.value for r in poll_until(c, 2)] == [1, 2]
    for _ in range(2):
        with pytest.raises(errors.SerializationError, match=f"{topic}-0@2") as raised:
            c.poll(timeout_ms=1000)
        assert isinstance(raised.value.__cause__, ValueError)
        assert c.position(tp) == 2
    # Iteration stops on it the same way.
    with pytest.raises(errors.SerializationError):
        next(iter(c))
    assert c.position(tp) == 2
    c.seek(tp, 3)
    assert [(r.offset, r.value) for r in poll_until(c, 1)] == [(3, 4)]
    c.close()
