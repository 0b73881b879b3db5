"""KafkaAdminClient configs with kafka-python's API: `alter_configs` (AlterConfigs: a
resource's configs become the ones given) and `describe_configs` of topics and brokers, with
synonyms; against the DevBroker or the real Kafka of KRAFTY_TEST_BOOTSTRAP (which applies a
change a moment after answering: reads wait for it)."""

import time
import uuid

import pytest

from krafty.admin import (AlterConfigsResponse, ConfigEntryWithSynonyms, ConfigResource,
                          ConfigResourceType, ConfigSynonym, KafkaAdminClient, NewTopic)

TOPIC, BROKER = ConfigResourceType.TOPIC, ConfigResourceType.BROKER


def unique(what):
    return f"{what}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def admin(bootstrap):
    with KafkaAdminClient(bootstrap_servers=bootstrap, client_id="admin-configs-test") as a:
        yield a


def topic_with(admin, configs):
    name = unique("cfg")
    admin.create_topics([NewTopic(name, 1, 1, topic_configs=configs)])
    deadline = time.monotonic() + 20
    while True:
        try:
            [t] = admin.describe_topics([name])
            if t["partitions"] and t["partitions"][0]["leader"] >= 0:
                return name, t["partitions"][0]["leader"]
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def entries(admin, resource_type, name, include_synonyms=False):
    [response] = admin.describe_configs([ConfigResource(resource_type, name)],
                                        include_synonyms=include_synonyms)
    [(code, _, _, _, found)] = response.resources
    assert code == 0
    return {e.config_names: e for e in found}


def settled(admin, resource_type, name, key, done, timeout=10.0):
    """The entry of `key` once `done(entry)` holds, else its last one for the assert to show."""
    deadline = time.monotonic() + timeout
    while True:
        e = entries(admin, resource_type, name)[key]
        if done(e) or time.monotonic() > deadline:
            return e
        time.sleep(0.05)


def test_alter_configs_replaces_a_topics_configs(admin):
    name, _ = topic_with(admin, {"retention.ms": 1000000, "segment.ms": 70000})
    response = admin.alter_configs([ConfigResource(TOPIC, name,
                                                   configs={"max.message.bytes": 20000})])
    assert isinstance(response, AlterConfigsResponse)
    assert response.resources == [(0, None, 2, name)]
    e = settled(admin, TOPIC, name, "max.message.bytes", lambda e: not e.is_default)
    assert e == ("max.message.bytes", "20000", False, False, False)
    now = entries(admin, TOPIC, name)
    assert now["retention.ms"].is_default and now["segment.ms"].is_default, \
        "configs left out return to their defaults"


def test_a_refused_value_is_reported_and_validate_only_changes_nothing(admin):
    name, _ = topic_with(admin, {"retention.ms": 1000000})
    [(code, message, resource_type, resource_name)] = admin.alter_configs(
        [ConfigResource(TOPIC, name, configs={"retention.ms": "soon"})]).resources
    assert (code, resource_type, resource_name) == (40, 2, name), message  # INVALID_CONFIG

    response = admin.alter_configs([ConfigResource(TOPIC, name, configs={"retention.ms": 5000})],
                                   validate_only=True)
    assert response.resources == [(0, None, 2, name)]
    time.sleep(0.5)  # what a real Kafka would have applied by now, had it
    assert entries(admin, TOPIC, name)["retention.ms"].config_value == "1000000"


def test_broker_configs_are_described_and_altered(admin):
    _, node = topic_with(admin, {})
    before = entries(admin, BROKER, str(node))
    assert before["node.id"] == ("node.id", str(node), True, False, False)
    threads = before["log.cleaner.threads"]
    assert threads.read_only is False

    [(code, _, resource_type, resource_name)] = admin.alter_configs(
        [ConfigResource(BROKER, node, configs={"log.cleaner.threads": 2})]).resources
    assert (code, resource_type, resource_name) == (0, 4, str(node))
    e = settled(admin, BROKER, node, "log.cleaner.threads", lambda e: e.config_value == "2")
    assert e.config_value == "2"

    # A config that needs a restart: INVALID_REQUEST, as Kafka answers.
    [(code, message, _, _)] = admin.alter_configs(
        [ConfigResource(BROKER, node, configs={"node.id": 7})]).resources
    assert code == 42, message

    # Replacing with nothing removes the dynamic value.
    assert admin.alter_configs([ConfigResource(BROKER, node, configs={})]).resources == \
        [(0, None, 4, str(node))]
    e = settled(admin, BROKER, node, "log.cleaner.threads",
                lambda e: e.config_value == threads.config_value)
    assert e.config_value == threads.config_value


def test_describe_configs_with_synonyms(admin):
    name, _ = topic_with(admin, {"segment.bytes": 2000000})
    found = entries(admin, TOPIC, name, include_synonyms=True)
    segment = found["segment.bytes"]
    assert isinstance(segment, ConfigEntryWithSynonyms)
    assert segment[:5] == ("segment.bytes", "2000000", False, 1, False)
    first, default = segment.config_synonyms
    assert first == ConfigSynonym("segment.bytes", "2000000", 1)
    assert (default.config_name, default.config_source) == ("log.segment.bytes", 5)
    assert found["cleanup.policy"].config_synonyms == [
        ("log.cleanup.policy", "delete", 5)]
