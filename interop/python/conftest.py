"""Fixtures: a dev broker process (the `krafty-broker` binary) or an external cluster.

Set KRAFTY_TEST_BOOTSTRAP=host:port to run the same tests against a real Kafka cluster.
"""
import os
import socket
import struct
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


def _uvarint(buf, at):
    value, shift = 0, 0
    while True:
        b = buf[at]
        at += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, at
        shift += 7


def finalized_feature(bootstrap, name):
    """The level of finalized feature `name` (KIP-584) in an ApiVersions v3 answer from the
    first bootstrap server, 0 when it reports none: read on a raw socket, since no client of
    this suite shows it (e.g. transaction.version: 2 on Kafka 4.x and the dev broker)."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    client = b"interop"
    # request header v2: api key 18, version 3, correlation 1, client id, no tagged fields;
    # body: client software name and version (compact strings), no tagged fields.
    body = (struct.pack(">hhih", 18, 3, 1, len(client)) + client + b"\x00"
            + b"\x08interop" + b"\x021" + b"\x00")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv(s, 4))[0]
        buf = _recv(s, size)
    at = 4  # correlation id (response header v0)
    error = struct.unpack_from(">h", buf, at)[0]
    assert error == 0, f"ApiVersions error {error}"
    at += 2
    keys, at = _uvarint(buf, at)
    for _ in range(keys - 1):
        at += 6
        tags, at = _uvarint(buf, at)
        assert tags == 0
    at += 4  # throttle time
    tags, at = _uvarint(buf, at)
    for _ in range(tags):
        tag, at = _uvarint(buf, at)
        size, at = _uvarint(buf, at)
        field, at = buf[at:at + size], at + size
        if tag != 2:  # FinalizedFeatures
            continue
        count, i = _uvarint(field, 0)
        for _ in range(count - 1):
            n, i = _uvarint(field, i)
            fname = field[i:i + n - 1].decode()
            i += n - 1
            max_level, _min_level = struct.unpack_from(">hh", field, i)
            i += 4
            t, i = _uvarint(field, i)
            assert t == 0
            if fname == name:
                return max_level
    return 0


def _recv(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out
