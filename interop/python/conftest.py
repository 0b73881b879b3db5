"""Fixtures: a dev broker process (the `krafty-broker` binary) or an external cluster.

Set KRAFTY_TEST_BOOTSTRAP=host:port to run the same tests against a real Kafka cluster.
"""
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {port}")


class DevBrokerProcess:
    """The dev broker binary, with a data dir so it can be restarted. It binds port 0 itself
    and says which port it got (no free port picked here, released, then raced for); a
    restart comes back on that port."""

    def __init__(self):
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        self.binary = os.environ.get("KRAFTY_BROKER_BIN", os.path.join(target, "debug", "krafty-broker"))
        self.data_dir = tempfile.mkdtemp(prefix="krafty-interop-")
        self.port = None
        self.proc = None

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        listen = f"127.0.0.1:{self.port or 0}"
        self.proc = subprocess.Popen(
            [self.binary, "--listen", listen, "--data-dir", self.data_dir, "--set", "num.partitions=3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        # It prints "krafty dev broker listening on HOST:PORT" among its log lines; a daemon
        # thread reads them all (so the pipe never fills) and notes the port.
        found = []
        ready = threading.Event()

        def drain(out):
            for line in out:
                if not found and "listening on" in line:
                    found.append(int(line.strip().rsplit(":", 1)[1]))
                    ready.set()

        threading.Thread(target=drain, args=(self.proc.stdout,), daemon=True).start()
        if not ready.wait(timeout=30):
            self.proc.kill()
            raise RuntimeError("the dev broker did not say where it listens within 30 s")
        self.port = found[0]
        _wait_port(self.port)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
                raise RuntimeError("the dev broker ignored SIGTERM for 15 s: killed") from None
            finally:
                self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def crash_restart(self):
        """SIGKILL, as a power cut would stop it (nothing flushed on the way out), then start
        again on the same port and data."""
        self.proc.kill()
        self.proc.wait(timeout=15)
        self.proc = None
        self.start()


@pytest.fixture(scope="session")
def cluster():
    external = os.environ.get("KRAFTY_TEST_BOOTSTRAP")
    if external:
        yield type("External", (), {"bootstrap": external, "restart": None})()
        return
    broker = DevBrokerProcess()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def topic():
    return f"interop-{uuid.uuid4().hex[:10]}"
