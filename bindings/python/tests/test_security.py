"""SASL and TLS with kafka-python's settings (`security_protocol`, `sasl_mechanism`,
`sasl_plain_username`, `sasl_plain_password`, `sasl_oauth_token_provider`, `ssl_cafile`), on a
DevBroker's listeners or, with KRAFTY_TEST_SASL_BOOTSTRAP / KRAFTY_TEST_SSL_BOOTSTRAP, on Apache
Kafka's (scripts/kafka.sh: alice / alice-secret, unsecured OAUTHBEARER tokens, a CA of its
own)."""

import base64
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from krafty import DevBroker, KafkaConsumer, KafkaProducer
from krafty.errors import ConfigError, SaslAuthenticationFailedError, TlsError

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
                   sasl_users=f"{USER}:{PASSWORD}", num_partitions=1,
                   config={"sasl.enabled.mechanisms": ",".join(MECHANISMS + ["OAUTHBEARER"])}) as b:
        yield b.listener_bootstrap("SASL_PLAINTEXT"), b.listener_bootstrap("PLAINTEXT")


def settings(mechanism, password=PASSWORD, user=USER):
    return dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                sasl_plain_username=user, sasl_plain_password=password)


def round_trip(bootstrap, plain, settings, prefix, n=5):
    """n records produced to a new topic and consumed back in a group over `settings`; offsets
    and values exact (`plain`: the listener topics are created through on a real Kafka)."""
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    if REAL_KAFKA is not None:
        create_topic(plain, topic, 1)
    producer = KafkaProducer(bootstrap_servers=bootstrap, **settings)
    offsets = [producer.send(topic, f"v{i}".encode(), partition=0).get(timeout=30).offset
               for i in range(n)]
    producer.close()
    assert offsets == list(range(n))
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g-{uuid.uuid4().hex[:8]}",
                             auto_offset_reset="earliest", **settings)
    got, deadline = [], time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend((r.offset, r.value) for r in records)
    consumer.close()
    assert got == [(i, f"v{i}".encode()) for i in range(n)]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_produce_and_consume_over_sasl(sasl_bootstrap, mechanism):
    sasl, plain = sasl_bootstrap
    round_trip(sasl, plain, settings(mechanism), f"sasl-{mechanism.lower()}")


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


def unsecured_jwt(sub, lifetime_s):
    """An unsigned JWT (`"alg":"none"`), as Kafka's unsecured OAUTHBEARER validator takes it."""
    part = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    now = int(time.time())
    return f'{part({"alg": "none"})}.{part({"sub": sub, "iat": now, "exp": now + lifetime_s})}.'


class TokenProvider:
    """kafka-python's AbstractTokenProvider shape: token(), and extensions()."""

    def __init__(self, lifetime_s=600):
        self.lifetime_s, self.calls = lifetime_s, 0

    def token(self):
        self.calls += 1
        return unsecured_jwt(USER, self.lifetime_s)

    def extensions(self):
        return {"traceId": "t1"}


class AsyncTokenProvider(TokenProvider):
    """aiokafka's shape: token() is a coroutine."""

    async def token(self):
        return TokenProvider.token(self)


def oauth_settings(provider):
    return dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism="OAUTHBEARER",
                sasl_oauth_token_provider=provider)


@pytest.mark.parametrize("provider_class", [TokenProvider, AsyncTokenProvider])
def test_produce_and_consume_over_oauthbearer_with_a_token_provider(sasl_bootstrap, provider_class):
    sasl, plain = sasl_bootstrap
    provider = provider_class()
    round_trip(sasl, plain, oauth_settings(provider), "oauth")
    assert provider.calls >= 2, "asked at each connection's authentication"


def test_an_expired_token_or_a_raising_provider_fails_fast(sasl_bootstrap):
    sasl, _ = sasl_bootstrap

    class Expired(TokenProvider):
        def token(self):
            return unsecured_jwt(USER, -3600)

    class Raising:
        def token(self):
            raise RuntimeError("the identity provider is down")

    for provider, says in ((Expired(), "invalid_token"), (Raising(), "identity provider is down")):
        started = time.monotonic()
        with pytest.raises(SaslAuthenticationFailedError) as caught:
            KafkaProducer(bootstrap_servers=sasl, **oauth_settings(provider))
        assert time.monotonic() - started < 10
        assert caught.value.errno == 58 and not caught.value.retriable
        assert "OAUTHBEARER" in str(caught.value) and says in str(caught.value)
    with pytest.raises(TypeError):
        KafkaProducer(bootstrap_servers=sasl, **oauth_settings(object()))


def test_a_missing_ca_file_is_refused_at_construction(tmp_path):
    with pytest.raises(ConfigError) as caught:
        KafkaProducer(bootstrap_servers="127.0.0.1:9", security_protocol="SSL",
                      ssl_cafile=str(tmp_path / "missing.pem"))
    assert caught.value.property == "ssl.ca.location"


@pytest.fixture(scope="module")
def tls_listeners(tmp_path_factory):
    """(SSL address, SASL_SSL address, CA file): a DevBroker's generated certificate, or with
    KRAFTY_TEST_SSL_BOOTSTRAP Apache Kafka's (scripts/kafka.sh, certificate for 127.0.0.1)."""
    if REAL_KAFKA is not None:
        ssl = os.environ.get("KRAFTY_TEST_SSL_BOOTSTRAP") or None
        if ssl is None:
            pytest.skip("KRAFTY_TEST_SSL_BOOTSTRAP is not set for this Kafka")
        yield (ssl, os.environ["KRAFTY_TEST_SASL_SSL_BOOTSTRAP"], os.environ["KRAFTY_TEST_SSL_CA"],
               REAL_KAFKA)
        return
    with DevBroker(listeners="PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
                   sasl_users=f"{USER}:{PASSWORD}", num_partitions=1) as b:
        ca = tmp_path_factory.mktemp("tls") / "ca.pem"
        ca.write_text(b.tls_ca_pem())
        yield (b.listener_bootstrap("SSL"), b.listener_bootstrap("SASL_SSL"), str(ca),
               b.listener_bootstrap("PLAINTEXT"))


@pytest.mark.parametrize("protocol,mechanism",
                         [("SSL", None), ("SASL_SSL", "PLAIN"), ("SASL_SSL", "SCRAM-SHA-512")])
def test_produce_and_consume_over_tls(tls_listeners, protocol, mechanism):
    ssl, sasl_ssl, ca, plain = tls_listeners
    extra = dict(security_protocol=protocol, ssl_cafile=ca)
    if protocol == "SASL_SSL":
        extra.update(sasl_mechanism=mechanism, sasl_plain_username=USER,
                     sasl_plain_password=PASSWORD)
    round_trip(ssl if protocol == "SSL" else sasl_ssl, plain, extra, f"tls-{protocol.lower()}")


def test_an_untrusted_certificate_fails_fast(tls_listeners, tmp_path):
    ssl, _, _, _ = tls_listeners
    # Another broker's generated CA did not sign this one's certificate.
    with DevBroker(listeners="SSL://127.0.0.1:0") as other:
        foreign = tmp_path / "foreign-ca.pem"
        foreign.write_text(other.tls_ca_pem())
    started = time.monotonic()
    with pytest.raises(TlsError) as caught:
        KafkaProducer(bootstrap_servers=ssl, security_protocol="SSL", ssl_cafile=str(foreign))
    assert time.monotonic() - started < 10
    assert not caught.value.retriable
    assert "not trusted" in str(caught.value)


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def mtls_listener(tmp_path_factory):
    """(address, CA file, client certificate, client key, key password, plaintext address): an
    SSL listener requiring client certificates. Apache Kafka's MTLS listener
    (KRAFTY_TEST_MTLS_BOOTSTRAP; scripts/kafka.sh keeps a client certificate and its encrypted
    key beside the CA), or a DevBroker with ssl.client.auth=required and certificates made
    with openssl."""
    if REAL_KAFKA is not None:
        mtls = os.environ.get("KRAFTY_TEST_MTLS_BOOTSTRAP") or None
        if mtls is None:
            pytest.skip("KRAFTY_TEST_MTLS_BOOTSTRAP is not set for this Kafka")
        ca = os.environ["KRAFTY_TEST_SSL_CA"]
        d = os.path.dirname(ca)
        yield (mtls, ca, os.path.join(d, "client.pem"), os.path.join(d, "client-encrypted.key"),
               "client-secret", REAL_KAFKA)
        return
    if shutil.which("openssl") is None:
        pytest.skip("openssl makes this test's certificates")
    d = tmp_path_factory.mktemp("mtls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    for name, ext in (("broker", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(ext)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
                 cwd=d)
    _openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "client.key",
             "-out", "client-encrypted.key", "-passout", "pass:client-secret", cwd=d)
    with DevBroker(listeners="PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", num_partitions=1,
                   config={"ssl.certificate.location": str(d / "broker.pem"),
                           "ssl.key.location": str(d / "broker.key"),
                           "ssl.ca.location": str(d / "ca.pem"),
                           "ssl.client.auth": "required"}) as b:
        yield (b.listener_bootstrap("SSL"), str(d / "ca.pem"), str(d / "client.pem"),
               str(d / "client-encrypted.key"), "client-secret", b.listener_bootstrap("PLAINTEXT"))


def test_mutual_tls_with_an_encrypted_client_key(mtls_listener):
    """kafka-python's ssl_certfile / ssl_keyfile / ssl_password: a client certificate (its key
    encrypted) authenticates; without one the broker refuses, fast and saying so."""
    bootstrap, ca, cert, key, password, plain = mtls_listener
    extra = dict(security_protocol="SSL", ssl_cafile=ca, ssl_certfile=cert, ssl_keyfile=key,
                 ssl_password=password)
    round_trip(bootstrap, plain, extra, "mtls", n=3)
    started = time.monotonic()
    with pytest.raises(TlsError) as caught:
        KafkaProducer(bootstrap_servers=bootstrap, security_protocol="SSL", ssl_cafile=ca)
    assert time.monotonic() - started < 10
    assert "client certificate" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        KafkaProducer(bootstrap_servers=bootstrap, security_protocol="SSL", ssl_cafile=ca,
                      ssl_certfile=cert, ssl_keyfile=key, ssl_password="wrong")
    assert caught.value.property == "ssl.key.password"

