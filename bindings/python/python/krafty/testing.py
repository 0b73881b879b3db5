"""pytest fixtures: a dev broker per test session, no JVM, no Docker.

Installed as a pytest plugin with the package, so a test just asks for it. The fixture names
start with `krafty_` so they do not collide with other plugins' (`kafka_broker`, ...):

    def test_orders(krafty_broker):
        producer = KafkaProducer(bootstrap_servers=krafty_broker.bootstrap_servers)
"""

import pytest

from ._krafty import DevBroker


@pytest.fixture(scope="session")
def krafty_broker():
    """An in-memory dev broker shared by the session (topics auto-create, 1 partition)."""
    with DevBroker() as broker:
        yield broker


@pytest.fixture
def krafty_broker_per_test():
    """A fresh in-memory dev broker for one test (for fault injection and isolation)."""
    with DevBroker() as broker:
        yield broker
