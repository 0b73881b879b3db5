"""Safe in real processes: fork, callbacks that block, logging, garbage collection, exit.

Each scenario that could hang runs where a hang fails the test instead of the suite: in a
forked child or a subprocess the parent waits for with a timeout.
"""

import gc
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import krafty
from conftest import devbroker_only
from krafty import KafkaConsumer, KafkaProducer, errors


def read_values(bootstrap, topic, expected, timeout_ms=5000):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="reader-" + topic,
                             auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms)
    consumer.subscribe([topic])
    out = []
    for record in consumer:
        out.append(record.value)
        if len(out) == expected:
            break
    consumer.close()
    return out


def run_in_child(body, timeout=30.0):
    """Forks; the child runs `body()` and exits 0 if it returned True, 1 if it returned
    anything else, 2 if it raised. The parent waits up to `timeout` s (then kills it)."""
    pid = os.fork()
    if pid == 0:
        # Ends a hung child even if the parent is gone (the default action terminates it).
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(timeout) + 5)
        code = 2
        try:
            code = 0 if body() is True else 1
        except BaseException:  # noqa: BLE001 - report anything as a failure
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not finish within {timeout} s (a hang)")


# ---- fork ----------------------------------------------------------------------------------


def test_fork_new_client_in_child_works_and_inherited_one_raises(bootstrap, topic):
    parent = KafkaProducer(bootstrap_servers=bootstrap)
    parent.send(topic, b"from-parent").get(timeout=10)

    def child():
        # The inherited producer refuses every method with a clear error.
        for call in (lambda: parent.send(topic, b"x"), lambda: parent.flush(1),
                     lambda: parent.partitions_for(topic), parent.metrics,
                     lambda: parent.close(1)):
            try:
                call()
            except errors.ForkedClientError as e:
                assert isinstance(e, errors.KafkaError)
                assert "os.fork()" in str(e)
            else:
                return False
        # A new producer made in the child works.
        with KafkaProducer(bootstrap_servers=bootstrap) as p:
            p.send(topic, b"from-child").get(timeout=10)
        return True

    assert run_in_child(child) == 0
    assert sorted(read_values(bootstrap, topic, 2)) == [b"from-child", b"from-parent"]
    parent.close()


def test_fork_inherited_consumer_raises(bootstrap, topic):
    from krafty._krafty import _AioConsumer, _AioProducer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="g-" + topic)
    aio_producer = _AioProducer(bootstrap_servers=bootstrap)
    aio_consumer = _AioConsumer([topic], bootstrap_servers=bootstrap)

    def child():
        for call in (lambda: consumer.subscribe([topic]), lambda: consumer.poll(100),
                     consumer.assignment, consumer.wakeup, lambda: consumer.close(),
                     aio_producer.start, aio_consumer.start, aio_consumer.unsubscribe):
            try:
                call()
            except errors.ForkedClientError:
                pass
            else:
                return False
        return True

    assert run_in_child(child) == 0
    consumer.close()


@devbroker_only
def test_fork_devbroker_in_child(topic):
    inherited = krafty.DevBroker()

    def child():
        try:
            inherited.errors_fired()
        except errors.ForkedClientError:
            pass
        else:
            return False
        with krafty.DevBroker() as b:
            with KafkaProducer(bootstrap_servers=b.bootstrap_servers) as p:
                p.send(topic, b"v").get(timeout=10)
            return read_values(b.bootstrap_servers, topic, 1) == [b"v"]

    assert run_in_child(child) == 0
    inherited.shutdown()


# ---- callbacks -----------------------------------------------------------------------------

CALLBACK_SCRIPT = """
import sys, threading
from krafty import KafkaProducer, errors
producer = KafkaProducer(bootstrap_servers=sys.argv[1])
what = sys.argv[3]
outcome = []
done = threading.Event()

def callback(_metadata):
    try:
        if what == "flush":
            producer.flush(5)
        elif what == "close":
            producer.close(5)
        else:
            producer.send(sys.argv[2], b"later").get(5)
        outcome.append("returned")
    except errors.IllegalStateError as e:
        outcome.append("raised: " + str(e))
    except BaseException as e:
        outcome.append("other: " + repr(e))
    done.set()

producer.send(sys.argv[2], b"first").add_callback(callback)
assert done.wait(15), "the callback never finished"
print(outcome[0])
"""


@pytest.mark.parametrize("what", ["flush", "close", "get"])
def test_blocking_call_in_a_callback_raises_instead_of_deadlocking(bootstrap, topic, what):
    r = subprocess.run([sys.executable, "-c", CALLBACK_SCRIPT, bootstrap, topic, what],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("raised: "), r.stdout
    assert "callback" in r.stdout


def test_slow_callback_does_not_stall_other_clients(bootstrap, topic):
    slow = [KafkaProducer(bootstrap_servers=bootstrap) for _ in range(3)]
    other = KafkaProducer(bootstrap_servers=bootstrap)
    for p in slow + [other]:
        p.send(topic, b"warm-up").get(timeout=10)
    release = threading.Event()
    try:
        for p in slow:
            p.send(topic, b"slow").add_callback(lambda _m: release.wait(10))
        time.sleep(0.3)
        # The callbacks hold no I/O thread: another producer's records are acknowledged.
        other.send(topic, b"fast").get(timeout=3)
    finally:
        release.set()
        for p in slow + [other]:
            p.close()


# ---- logging -------------------------------------------------------------------------------


def provoke_broker_warning(broker):
    """Sends the broker a request with API key 999, which no Kafka knows: it logs a warning
    ("closing connection: unknown API key 999") and closes the connection."""
    host, port = broker.bootstrap_servers.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        body = struct.pack(">hhih", 999, 0, 1, -1)
        s.sendall(struct.pack(">i", len(body)) + body)
        s.recv(1)


def logged(caplog, text, wait):
    deadline = time.monotonic() + wait
    while True:
        hits = [r for r in caplog.records if text in r.getMessage()]
        if hits or time.monotonic() > deadline:
            return hits
        time.sleep(0.05)


@devbroker_only
def test_core_warnings_reach_python_logging(caplog):
    caplog.set_level(logging.WARNING, logger="krafty")
    with krafty.DevBroker() as b:
        provoke_broker_warning(b)
        hits = logged(caplog, "unknown API key 999", 5)
    assert hits, [r.getMessage() for r in caplog.records]
    assert hits[0].levelno == logging.WARNING
    assert hits[0].name.startswith("krafty.broker")


@devbroker_only
def test_log_level_filter(caplog):
    krafty.set_log_level(logging.ERROR)
    try:
        assert logging.getLogger("krafty").level == logging.ERROR
        with krafty.DevBroker() as b:
            provoke_broker_warning(b)
            assert not logged(caplog, "unknown API key 999", 1)
    finally:
        krafty.set_log_level(logging.NOTSET)
    caplog.set_level(logging.WARNING, logger="krafty")
    with krafty.DevBroker() as b:
        provoke_broker_warning(b)
        assert logged(caplog, "unknown API key 999", 5)


# ---- garbage collection and exit -----------------------------------------------------------


def test_garbage_collected_producer_stops(bootstrap, topic):
    closed = threading.Event()

    class Interceptor:
        def close(self):
            closed.set()

    p = KafkaProducer(bootstrap_servers=bootstrap, interceptors=[Interceptor()])
    p.send(topic, b"v").get(timeout=10)
    del p
    gc.collect()
    assert closed.wait(10), "the producer's background task kept running"


EXIT_SCRIPT = """
import atexit, sys
futures = []
# Registered before krafty's own hook, so it runs after it: it sees what the exit flush did.
atexit.register(lambda: print("acknowledged at exit:", sum(f.is_done for f in futures)))
from krafty import KafkaProducer
producer = KafkaProducer(bootstrap_servers=sys.argv[1], linger_ms=60_000)
for i in range(200):
    futures.append(producer.send(sys.argv[2], str(i).encode()))
# no flush(), no close(): the exit flush delivers them
"""


def test_atexit_flushes_open_producers(bootstrap, topic):
    r = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, bootstrap, topic],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "acknowledged at exit: 200" in r.stdout, r.stdout + r.stderr
    values = read_values(bootstrap, topic, 200)
    assert sorted(int(v) for v in values) == list(range(200))


def test_atexit_flush_is_bounded():
    # The broker stops answering Produce: the records cannot be delivered; exit still comes.
    script = textwrap.dedent("""
        from krafty import DevBroker, KafkaProducer
        broker = DevBroker()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        producer.send("t", b"first").get(timeout=10)
        broker.add_latency(0, 120_000)
        for i in range(10):
            producer.send("t", b"stuck")
    """)
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start < 15


def test_slow_commit_async_callbacks_do_not_stall_other_clients(bootstrap, topic):
    """commit_async's callback runs on the callback thread, as send callbacks do: slow ones
    hold no I/O thread of the clients."""
    other = KafkaProducer(bootstrap_servers=bootstrap)
    other.send(topic, b"warm-up").get(timeout=10)
    consumers = [KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"slow-{i}-{topic}",
                               auto_offset_reset="earliest", enable_auto_commit=False)
                 for i in range(3)]
    release = threading.Event()
    threads = []
    try:
        for c in consumers:
            deadline = time.monotonic() + 20
            while not c.assignment() and time.monotonic() < deadline:
                c.poll(timeout_ms=200)
            c.commit_async(callback=lambda _offsets, _err: (threads.append(
                threading.current_thread().name), release.wait(10)))
        time.sleep(0.5)
        other.send(topic, b"fast").get(timeout=3)
    finally:
        release.set()
        for c in consumers:
            c.close()
        other.close()
    assert len(threads) == 3 and len(set(threads)) == 1, threads
