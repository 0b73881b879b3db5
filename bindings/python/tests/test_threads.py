"""Which threads run what: the clients' I/O threads run only the Rust core.

Python callbacks and interceptors' `on_acknowledgement` run on the callback thread, asyncio
futures are resolved from a thread of their own, the DevBroker has its own runtime, and the
clients' worker threads are configurable.
"""

import os
import subprocess
import sys
import textwrap
import threading
import time

from conftest import devbroker_only
from krafty import DevBroker, KafkaConsumer, KafkaProducer


def thread_name():
    """The OS name of this thread (Python calls threads it did not start "Dummy-N"), cut to
    15 bytes as Linux keeps it: "krafty-callbacks" reads "krafty-callback"."""
    with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
        return f.read().strip()


def test_interceptor_acknowledgements_run_on_the_callback_thread_before_get_returns(
        bootstrap, topic):
    acks, closed = [], []

    class Interceptor:
        def on_acknowledgement(self, metadata, error):
            acks.append((thread_name(), metadata.offset, error))

        def close(self):
            closed.append(thread_name())

    producer = KafkaProducer(bootstrap_servers=bootstrap, interceptors=[Interceptor()])
    for i in range(20):
        md = producer.send(topic, b"v%d" % i, partition=0).get(timeout=10)
        # get() returns only after the interceptor saw the outcome, as in Java.
        assert len(acks) == i + 1 and acks[-1][1] == md.offset
    batch = producer.send_batch(topic, [b"a", b"b", b"c"], partition=0).get(timeout=10)
    assert [a[1] for a in acks[-3:]] == [md.offset for md in batch]
    producer.close()
    assert {a[0] for a in acks} == {"krafty-callback"}, "never on an I/O thread"
    assert all(a[2] is None for a in acks)
    assert closed == [thread_name()], "close() runs where close is called"


def test_slow_interceptors_do_not_stall_other_clients(bootstrap, topic):
    """Three producers whose interceptor blocks in on_acknowledgement (more than the clients'
    two worker threads): another producer and a consumer still get their answers."""
    release = threading.Event()
    blocked = []

    class Slow:
        def on_acknowledgement(self, metadata, error):
            blocked.append(thread_name())
            release.wait(20)

    slow = [KafkaProducer(bootstrap_servers=bootstrap, interceptors=[Slow()]) for _ in range(3)]
    fast = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for p in slow:
            p.send(topic, b"slow", partition=1)
            p.flush(timeout=10)
        deadline = time.monotonic() + 5
        while not blocked and time.monotonic() < deadline:
            time.sleep(0.01)
        assert blocked, "an interceptor is blocking"
        started = time.monotonic()
        md = fast.send(topic, b"fast", partition=2).get(timeout=5)
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        from krafty import TopicPartition
        consumer.assign([TopicPartition(topic, 2)])
        got = []
        while not got and time.monotonic() - started < 5:
            got = [r.value for rs in consumer.poll(timeout_ms=200).values() for r in rs]
        consumer.close()
        took = time.monotonic() - started
    finally:
        release.set()
        for p in slow:
            p.close()
        fast.close()
    assert md.offset == 0 and got == [b"fast"]
    assert took < 5, f"{took:.1f} s"
    assert set(blocked) == {"krafty-callback"}


@devbroker_only
def test_slow_callbacks_do_not_stall_heartbeats():
    """While send callbacks and interceptors block for longer than the group's session
    timeout, a consumer's heartbeats go on: it stays in the group (no partition lost)."""
    with DevBroker(num_partitions=2, group_min_session_timeout_ms=1000) as broker:
        bootstrap = broker.bootstrap_servers
        events = []

        class Listener:
            def on_partitions_revoked(self, partitions):
                events.append(("revoked", set(partitions)))

            def on_partitions_assigned(self, partitions):
                events.append(("assigned", set(partitions)))

            def on_partitions_lost(self, partitions):
                events.append(("lost", set(partitions)))

        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="hb",
                                 session_timeout_ms=1500, heartbeat_interval_ms=300,
                                 auto_offset_reset="earliest")
        consumer.subscribe(["hb-topic"], listener=Listener())
        release = threading.Event()

        class Slow:
            def on_acknowledgement(self, metadata, error):
                release.wait(20)

        producers = [KafkaProducer(bootstrap_servers=bootstrap, interceptors=[Slow()])
                     for _ in range(3)]
        try:
            deadline = time.monotonic() + 20
            while not consumer.assignment() and time.monotonic() < deadline:
                consumer.poll(timeout_ms=100)
            assert consumer.assignment(), "joined"
            joined = list(events)
            for p in producers:
                p.send("hb-topic", b"v", partition=0).add_callback(lambda _md: release.wait(20))
            time.sleep(4)  # well over the session timeout, polling nothing meanwhile
            release.set()
            consumer.poll(timeout_ms=500)
            consumer.poll(timeout_ms=500)
        finally:
            release.set()
            for p in producers:
                p.close()
            consumer.close()
        assert events[:len(joined)] == joined
        after = events[len(joined):]
        assert not any(kind in ("lost", "revoked") for kind, _ in after[:-1]), events
        assert after in ([], [("revoked", joined[-1][1])]), events  # the revocation on close


@devbroker_only
def test_the_devbroker_does_not_run_on_the_clients_threads():
    script = textwrap.dedent("""
        import os, time
        from krafty import DevBroker, KafkaProducer, _krafty

        def names():
            # A new thread names itself once running: give it a moment.
            time.sleep(0.2)
            return sorted(open(f"/proc/self/task/{t}/comm").read().strip()
                          for t in os.listdir("/proc/self/task"))

        with DevBroker() as broker:
            # The broker's threads, and the clients' runtime not even started.
            print("before", _krafty._worker_threads(), names().count("krafty-broker") > 0,
                  names().count("krafty-io"))
            with KafkaProducer(bootstrap_servers=broker.bootstrap_servers) as p:
                p.send("t", b"v").get(timeout=10)
                print("after", _krafty._worker_threads(), names().count("krafty-io") >= 2)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["before None True 0", "after 2 True"], r.stdout


def test_worker_threads_are_configurable(bootstrap):
    script = textwrap.dedent("""
        import sys
        import krafty
        from krafty import KafkaProducer, _krafty, errors

        if len(sys.argv) > 2:
            krafty.set_worker_threads(int(sys.argv[2]))
        p = KafkaProducer(bootstrap_servers=sys.argv[1])
        print(_krafty._worker_threads())
        try:
            krafty.set_worker_threads(7)
        except errors.IllegalStateError as e:
            print("refused:", "before the first client" in str(e))
        p.close()
    """)
    bootstrap_arg = bootstrap

    def run(*args, env=None):
        r = subprocess.run([sys.executable, "-c", script, bootstrap_arg, *args],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, **(env or {})})
        assert r.returncode == 0, r.stderr
        return r.stdout.split("\n")[:2]

    assert run() == ["2", "refused: True"]
    assert run("3") == ["3", "refused: True"]
    assert run(env={"KRAFTY_WORKER_THREADS": "1"}) == ["1", "refused: True"]
    assert run("4", env={"KRAFTY_WORKER_THREADS": "1"})[0] == "4", "the call wins"
