"""DevBroker: starts in-process, serves any client, injects faults; the pytest fixture."""

import time

import pytest

from krafty import DevBroker, KafkaConsumer, KafkaProducer, errors


def test_starts_fast_on_a_free_port_and_stops():
    started = time.time()
    broker = DevBroker()
    took = time.time() - started
    host, port = broker.bootstrap_servers.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    broker.shutdown()
    broker.shutdown()  # idempotent
    with pytest.raises(RuntimeError):
        broker.fail_next(0, 6)
    print(f"DevBroker started in {took * 1000:.1f} ms")


def test_broker_settings_use_kafka_names_and_are_validated():
    with DevBroker(config={"num.partitions": "5"}) as b:
        with KafkaProducer(bootstrap_servers=b.bootstrap_servers) as p:
            assert p.partitions_for("five") == [0, 1, 2, 3, 4]
    with pytest.raises(errors.ConfigError) as e:
        DevBroker(no_such_setting=1)
    assert e.value.property == "no.such.setting"


def test_dropped_connection_is_survived_by_an_idempotent_producer(broker, topic):
    with KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=0) as p:
        p.send(topic, b"first", partition=0).get(10)
        broker.drop_connection_after(0)
        md = p.send(topic, b"second", partition=0).get(10)
    assert md.offset == 1
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id="g",
                      auto_offset_reset="earliest", consumer_timeout_ms=1500)
    c.subscribe([topic])
    assert [r.value for r in c] == [b"first", b"second"], "appended once despite the retry"
    c.close()


def test_fixture_from_the_plugin(kafka_broker):
    with KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers) as p:
        assert p.send("fixture-topic", b"v").get(10).offset >= 0
