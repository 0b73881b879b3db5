"""SASL_PLAINTEXT with kafka-python's settings (`security_protocol`, `sasl_mechanism`,
`sasl_plain_username`, `sasl_plain_password`), on a DevBroker's SASL listener or, with
KRAFTY_TEST_SASL_BOOTSTRAP, on Apache Kafka's (scripts/kafka.sh: alice / alice-secret)."""

import os
import time
import uuid

import pytest

from krafty import DevBroker, KafkaConsumer, KafkaProducer
from krafty.errors import ConfigError, SaslAuthenticationFailedError

from conftest import REAL_KAFKA, create_topic

USER, PASSWORD = "alice", "alice-secret"
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@pytest.fixture(scope="module")
def sasl_bootstrap():
    """The SASL_PLAINTEXT listener under test and the plaintext one (for creating topics)."""
    external = os.environ.get("KRAFTY_TEST_SASL_BOOTSTRAP") or None
    if REAL_KAFKA is not None:
        if external is None:
            pytest.skip("KRAFTY_TEST_SASL_BOOTSTRAP is not set for this Kafka")
        yield external, REAL_KAFKA
        return
    with DevBroker(listeners="PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
                   sasl_users=f"{USER}:{PASSWORD}", num_partitions=1) as b:
        yield b.listener_bootstrap("SASL_PLAINTEXT"), b.listener_bootstrap("PLAINTEXT")


def settings(mechanism, password=PASSWORD, user=USER):
    return dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                sasl_plain_username=user, sasl_plain_password=password)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_produce_and_consume_over_sasl(sasl_bootstrap, mechanism):
    sasl, plain = sasl_bootstrap
    topic = f"sasl-{mechanism.lower()}-{uuid.uuid4().hex[:8]}"
    if REAL_KAFKA is not None:
        create_topic(plain, topic, 1)
    producer = KafkaProducer(bootstrap_servers=sasl, **settings(mechanism))
    offsets = [producer.send(topic, f"v{i}".encode(), partition=0).get(timeout=30).offset
               for i in range(5)]
    producer.close()
    assert offsets == list(range(5))
    consumer = KafkaConsumer(topic, bootstrap_servers=sasl, group_id=f"g-{uuid.uuid4().hex[:8]}",
                             auto_offset_reset="earliest", **settings(mechanism))
    got, deadline = [], time.monotonic() + 30
    while len(got) < 5 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend((r.offset, r.value) for r in records)
    consumer.close()
    assert got == [(i, f"v{i}".encode()) for i in range(5)]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_wrong_password_or_unknown_user_fails_fast(sasl_bootstrap, mechanism):
    sasl, _ = sasl_bootstrap
    for bad in (settings(mechanism, password="wrong"), settings(mechanism, user="mallory")):
        started = time.monotonic()
        with pytest.raises(SaslAuthenticationFailedError) as caught:
            KafkaProducer(bootstrap_servers=sasl, **bad)
        assert time.monotonic() - started < 10
        assert caught.value.errno == 58 and not caught.value.retriable
        assert mechanism in str(caught.value)


def test_tls_is_refused_at_construction():
    with pytest.raises(ConfigError) as caught:
        KafkaProducer(bootstrap_servers="127.0.0.1:9", security_protocol="SASL_SSL",
                      **{k: v for k, v in settings("PLAIN").items() if k != "security_protocol"})
    assert "security.protocol" in str(caught.value)
