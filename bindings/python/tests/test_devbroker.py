"""DevBroker: starts in-process, serves any client, injects faults; the pytest fixture."""

import time

import pytest

from conftest import devbroker_only
from krafty import DevBroker, KafkaConsumer, KafkaProducer, errors


@devbroker_only
def test_starts_fast_on_a_free_port_and_stops():
    started = time.monotonic()
    broker = DevBroker()
    took = time.monotonic() - started
    host, port = broker.bootstrap_servers.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    # It starts in about a millisecond in memory; 2 s is loose enough for any loaded machine.
    assert took < 2.0, f"DevBroker took {took:.3f} s to start"
    broker.shutdown()
    broker.shutdown()  # idempotent
    with pytest.raises(RuntimeError):
        broker.fail_next(0, 6)
    with pytest.raises(RuntimeError):
        broker.errors_fired()


@devbroker_only
def test_broker_settings_use_kafka_names_and_are_validated():
    with DevBroker(config={"num.partitions": "5"}) as b:
        with KafkaProducer(bootstrap_servers=b.bootstrap_servers) as p:
            assert p.partitions_for("five") == [0, 1, 2, 3, 4]
    with pytest.raises(errors.ConfigError) as e:
        DevBroker(no_such_setting=1)
    assert e.value.property == "no.such.setting"


def test_fault_counters_count_what_fired(broker, topic):
    assert (broker.errors_fired(), broker.errors_pending(), broker.connections_dropped()) == (0, 0, 0)
    broker.fail_next(0, 6, 2, topic)
    assert broker.errors_pending() == 2
    with KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=0) as p:
        assert p.send(topic, b"v", partition=0).get(10).offset == 0
    assert (broker.errors_fired(), broker.errors_pending()) == (2, 0), "both errors answered, then retried"
    broker.fail_next(0, 6, 5, topic)
    broker.clear_faults()
    assert (broker.errors_fired(), broker.errors_pending()) == (2, 0), "cleared; the fired count is kept"


def test_dropped_connection_is_survived_by_an_idempotent_producer(broker, topic):
    with KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=0) as p:
        p.send(topic, b"first", partition=0).get(10)
        broker.drop_connection_after(0)
        md = p.send(topic, b"second", partition=0).get(10)
    assert broker.connections_dropped() == 1, "the fault fired"
    assert md.offset == 1
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id="g-" + topic,
                      auto_offset_reset="earliest", consumer_timeout_ms=1500)
    c.subscribe([topic])
    assert [r.value for r in c] == [b"first", b"second"], "appended once despite the retry"
    c.close()


def test_plugin_fixture_names_are_prefixed():
    import krafty.testing

    fixtures = {n for n in dir(krafty.testing) if "broker" in n}
    assert fixtures == {"krafty_broker", "krafty_broker_per_test"}


@devbroker_only
def test_fixture_from_the_plugin(krafty_broker, topic):
    with KafkaProducer(bootstrap_servers=krafty_broker.bootstrap_servers) as p:
        assert p.partitions_for(topic) == [0], "the plugin's broker auto-creates 1 partition"
        mds = [p.send(topic, b"v%d" % i).get(10) for i in range(2)]
    assert [(md.topic, md.partition, md.offset) for md in mds] == [(topic, 0, 0), (topic, 0, 1)]
