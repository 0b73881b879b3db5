"""Clients we did not write against the dev broker's SASL and TLS listeners: librdkafka (through
confluent-kafka) and kafka-python produce and consume over SASL_PLAINTEXT (SCRAM-SHA-512),
SSL and SASL_SSL (PLAIN), and the Java client (Kafka 4.4.0's console tools) over SSL and
SASL_SSL (SCRAM-SHA-512), trusting the CA the broker generated in its data dir; a wrong
password is refused. OAUTHBEARER: librdkafka's unsecured JWT and kafka-python's token provider;
KIP-368: librdkafka renews its sessions on a broker with connections.max.reauth.ms without
reconnecting. Dev broker only: a real Kafka's listeners are tested by the client suites.
"""
import base64
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka import KafkaError as RdError
from kafka import KafkaConsumer as KpConsumer
from kafka import KafkaProducer as KpProducer

from conftest import ROOT

USER, PASSWORD = "alice", "alice-secret"

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("KRAFTY_TEST_BOOTSTRAP")),
    reason="starts a dev broker with SASL and TLS listeners of its own",
)


def _dev_broker(listeners, *settings):
    """A dev broker process with `listeners` and `--set` `settings`: a context manager giving
    ({listener name: address}, CA file)."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.environ.get("KRAFTY_BROKER_BIN", os.path.join(target, "debug", "krafty-broker"))
    data_dir = tempfile.mkdtemp(prefix="krafty-interop-tls-")
    args = [binary, "--data-dir", data_dir, "--set", "num.partitions=1",
            "--set", f"sasl.users={USER}:{PASSWORD}", "--listeners", listeners]
    for s in settings:
        args += ["--set", s]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found, ready = {}, threading.Event()
    expected = len(listeners.split(","))

    def drain(out):
        # "krafty dev broker listening on ADDR", then "NAME listener on ADDR" for the others.
        for line in out:
            m = re.match(r"krafty dev broker listening on (\S+)", line.strip())
            if m:
                found["PLAINTEXT"] = m.group(1)
            m = re.match(r"(\w+) listener on (\S+)", line.strip())
            if m:
                found[m.group(1)] = m.group(2)
            if len(found) == expected:
                ready.set()

    threading.Thread(target=drain, args=(proc.stdout,), daemon=True).start()
    try:
        assert ready.wait(timeout=30), f"the dev broker named only {found} within 30 s"
        yield found, os.path.join(data_dir, "tls-ca.pem")
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def secured():
    """PLAINTEXT, SASL_PLAINTEXT (OAUTHBEARER enabled too), SSL and SASL_SSL listeners."""
    yield from _dev_broker(
        "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER")


def librdkafka_settings(protocol, ca, password=PASSWORD, mechanism="PLAIN"):
    s = {"security.protocol": protocol}
    if "SSL" in protocol:
        s["ssl.ca.location"] = ca
    if "SASL" in protocol:
        s.update({"sasl.mechanism": mechanism, "sasl.username": USER, "sasl.password": password})
    return s


def kafka_python_settings(protocol, ca, mechanism="PLAIN"):
    s = {"security_protocol": protocol}
    if "SSL" in protocol:
        s["ssl_cafile"] = ca
    if "SASL" in protocol:
        s.update({"sasl_mechanism": mechanism, "sasl_plain_username": USER,
                  "sasl_plain_password": PASSWORD})
    return s


CASES = [("SASL_PLAINTEXT", "SCRAM-SHA-512"), ("SSL", None), ("SASL_SSL", "PLAIN")]


@pytest.mark.parametrize("protocol,mechanism", CASES)
def test_librdkafka_produces_and_consumes(secured, protocol, mechanism):
    listeners, ca = secured
    _librdkafka_round_trip(listeners[protocol],
                           librdkafka_settings(protocol, ca, mechanism=mechanism or "PLAIN"),
                           f"rdk-{protocol.lower()}")


@pytest.mark.parametrize("protocol,mechanism", CASES)
def test_kafka_python_produces_and_consumes(secured, protocol, mechanism):
    listeners, ca = secured
    settings = kafka_python_settings(protocol, ca, mechanism=mechanism or "PLAIN")
    topic = f"kp-{protocol.lower()}-{uuid.uuid4().hex[:8]}"
    p = KpProducer(bootstrap_servers=listeners[protocol], **settings)
    offsets = [p.send(topic, f"k{i}".encode(), partition=0).get(timeout=30).offset
               for i in range(5)]
    p.close()
    assert offsets == list(range(5))
    c = KpConsumer(topic, bootstrap_servers=listeners[protocol], group_id=f"g-{uuid.uuid4().hex[:8]}",
                   auto_offset_reset="earliest", consumer_timeout_ms=10000, **settings)
    got = []
    for m in c:
        got.append((m.offset, m.value))
        if len(got) == 5:
            break
    c.close()
    assert got == [(i, f"k{i}".encode()) for i in range(5)]


def test_librdkafka_wrong_password_is_refused(secured):
    listeners, ca = secured
    errors = []
    p = Producer({"bootstrap.servers": listeners["SASL_SSL"],
                  **librdkafka_settings("SASL_SSL", ca, password="wrong"),
                  "error_cb": errors.append, "message.timeout.ms": 5000})
    p.produce("refused", b"x")
    p.flush(10)
    assert any(e.code() == RdError._AUTHENTICATION for e in errors), [e.str() for e in errors]


def _java_classpath():
    """Apache Kafka 4.4.0's jars (scripts/kafka.sh install fetches them), or None without Java."""
    if subprocess.run(["sh", "-c", "command -v java"], capture_output=True).returncode != 0:
        return None
    env = dict(os.environ, KAFKA_VERSION="4.4.0")
    if subprocess.run([os.path.join(ROOT, "scripts", "kafka.sh"), "install"], env=env,
                      capture_output=True, timeout=1200).returncode != 0:
        return None
    return os.path.join(ROOT, ".cache", "kafka", "4.4.0", "lib", "*")


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_java_client_produces_and_consumes(secured, protocol, tmp_path):
    """Kafka 4.4.0's console producer and consumer (the Java client) over TLS, trusting the
    generated CA as a PEM truststore; SCRAM-SHA-512 on SASL_SSL."""
    classpath = _java_classpath()
    if classpath is None:
        pytest.skip("no Java runtime or Kafka jars")
    listeners, ca = secured
    config = tmp_path / "client.properties"
    lines = [f"security.protocol={protocol}", "ssl.truststore.type=PEM",
             f"ssl.truststore.location={ca}"]
    if protocol == "SASL_SSL":
        lines += ["sasl.mechanism=SCRAM-SHA-512",
                  "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule "
                  f'required username="{USER}" password="{PASSWORD}";']
    config.write_text("\n".join(lines) + "\n")
    topic = f"java-{protocol.lower()}-{uuid.uuid4().hex[:8]}"
    java = ["java", "-Xmx256m", "-cp", classpath]
    values = [f"j{i}" for i in range(5)]
    produced = subprocess.run(
        java + ["org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", listeners[protocol],
                "--topic", topic, "--command-config", str(config)],
        input="\n".join(values) + "\n", capture_output=True, text=True, timeout=120)
    assert produced.returncode == 0, produced.stderr[-2000:]
    consumed = subprocess.run(
        java + ["org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
                listeners[protocol], "--topic", topic, "--from-beginning", "--max-messages", "5",
                "--timeout-ms", "30000", "--command-config", str(config)],
        capture_output=True, text=True, timeout=120)
    assert consumed.returncode == 0, consumed.stderr[-2000:]
    assert consumed.stdout.split() == values


def _librdkafka_round_trip(bootstrap, settings, prefix):
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    p = Producer({"bootstrap.servers": bootstrap, **settings})
    offsets = []
    for i in range(5):
        p.produce(topic, f"v{i}".encode(), partition=0,
                  on_delivery=lambda err, msg: offsets.append((err, msg.offset())))
    assert p.flush(30) == 0
    assert offsets == [(None, i) for i in range(5)]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", **settings})
    c.subscribe([topic])
    got, deadline = [], time.time() + 30
    while len(got) < 5 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append((m.offset(), m.value()))
    c.close()
    assert got == [(i, f"v{i}".encode()) for i in range(5)]


def test_librdkafka_oauthbearer_with_an_unsecured_jwt(secured):
    listeners, _ = secured
    _librdkafka_round_trip(listeners["SASL_PLAINTEXT"], {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
        "enable.sasl.oauthbearer.unsecure.jwt": True,
        "sasl.oauthbearer.config": f"principal={USER} lifeSeconds=600"}, "rdk-oauth")


try:  # kafka-python 3 moved it
    from kafka.net.sasl.oauth import AbstractTokenProvider
except ImportError:
    from kafka.sasl.oauth import AbstractTokenProvider


class _TokenProvider(AbstractTokenProvider):
    """kafka-python's token provider: token() gives an unsigned JWT."""

    def token(self):
        part = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
        now = int(time.time())
        return f'{part({"alg": "none"})}.{part({"sub": USER, "iat": now, "exp": now + 600})}.'


def test_kafka_python_oauthbearer_with_a_token_provider(secured):
    listeners, _ = secured
    settings = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "OAUTHBEARER",
                "sasl_oauth_token_provider": _TokenProvider()}
    topic = f"kp-oauth-{uuid.uuid4().hex[:8]}"
    p = KpProducer(bootstrap_servers=listeners["SASL_PLAINTEXT"], **settings)
    offsets = [p.send(topic, f"k{i}".encode(), partition=0).get(timeout=30).offset
               for i in range(3)]
    p.close()
    assert offsets == [0, 1, 2]


def test_librdkafka_renews_its_sessions_without_reconnecting():
    """connections.max.reauth.ms=1500: librdkafka (KIP-368 since 2.2) re-authenticates on its
    connection. Over 6 s of producing every record lands and librdkafka reports no error: a
    broker refusing the renewal shows as an authentication error, one closing the connection at
    the session's end regardless as a transport error."""
    for listeners, _ in _dev_broker("PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
                                    "connections.max.reauth.ms=1500"):
        errors = []
        p = Producer({"bootstrap.servers": listeners["SASL_PLAINTEXT"],
                      **librdkafka_settings("SASL_PLAINTEXT", None, mechanism="SCRAM-SHA-512"),
                      "error_cb": errors.append, "linger.ms": 0})
        topic = f"rdk-reauth-{uuid.uuid4().hex[:8]}"
        delivered, started, sent = [], time.time(), 0
        while time.time() - started < 6:
            p.produce(topic, f"r{sent}".encode(), partition=0,
                      on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
            sent += 1
            p.flush(10)
            time.sleep(0.2)
        assert p.flush(30) == 0
        assert delivered == [(None, n) for n in range(sent)]
        assert errors == [], [e.str() for e in errors]
