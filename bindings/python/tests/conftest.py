import uuid

import pytest

from krafty import DevBroker


@pytest.fixture
def broker():
    """A fresh in-memory dev broker with 3 partitions per auto-created topic."""
    with DevBroker(num_partitions=3) as b:
        yield b


@pytest.fixture
def topic():
    return "t-" + uuid.uuid4().hex[:10]


@pytest.fixture
def bootstrap(broker):
    return broker.bootstrap_servers
