"""Krafty: a Kafka client with a Rust core, and a Kafka-protocol dev broker.

    from krafty import KafkaProducer, KafkaConsumer, DevBroker

    with DevBroker() as broker:
        with KafkaProducer(bootstrap_servers=broker.bootstrap_servers) as producer:
            producer.send("events", b"hello", key=b"user-1").get(timeout=10)
        consumer = KafkaConsumer("events", bootstrap_servers=broker.bootstrap_servers,
                                 group_id="readers", auto_offset_reset="earliest",
                                 consumer_timeout_ms=1000)
        for record in consumer:
            print(record.offset, record.key, record.value)
"""

import atexit as _atexit
import logging as _logging
import os as _os

from . import errors
from .structs import ConsumerGroupMetadata, OffsetAndMetadata, OffsetAndTimestamp, TopicPartition
from ._krafty import (  # noqa: E402
    _after_fork_in_child,
    _flush_at_exit,
    _set_forwarded_level,
    _set_worker_threads,
    ConsumerRecord,
    DevBroker,
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
    ProducerRecord,
    RecordFuture,
    RecordMetadata,
    __version__,
    murmur2_partition,
)
from .aio import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from . import admin  # noqa: E402,F401  (krafty.admin: NewTopic, ConfigResource, ...)
from .errors import (  # noqa: E402
    ClosedError,
    ConfigError,
    KafkaError,
    KafkaTimeoutError,
    SerializationError,
    WakeupError,
)


def set_log_level(level: int) -> None:
    """Sets the level of the `krafty` logger and of what the Rust core forwards to it.

    The core's log records (the client's and the DevBroker's) go to Python's `logging`, under
    the `krafty` logger (`krafty.network.client`, `krafty.broker.server`, ...). Events below
    the `krafty` logger's effective level at import time (WARNING by default) are not even
    formatted; call this to change the level (`logging.NOTSET` makes it the parent logger's
    effective level)."""
    logger = _logging.getLogger("krafty")
    logger.setLevel(level)
    _set_forwarded_level(logger.getEffectiveLevel())


def set_worker_threads(n: int) -> None:
    """Sets how many worker threads run the clients' network I/O (default 2, or the
    `KRAFTY_WORKER_THREADS` environment variable). Call it before the first client is created:
    the threads start with it (in a forked child, before the child's first client).

    These threads run only the Rust core: Python callbacks, interceptors'
    `on_acknowledgement` and asyncio resolutions run on threads of their own, and an
    in-process `DevBroker` on its own runtime."""
    _set_worker_threads(n)


# After fork() the core's runtime and threads do not exist in the child: start fresh ones
# there (clients created before the fork raise ForkedClientError).
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)

_EXIT_FLUSH_TIMEOUT = 5.0
"""Seconds the interpreter's exit waits, in all, for open producers to deliver their records."""


def _flush_open_producers() -> None:
    _flush_at_exit(_EXIT_FLUSH_TIMEOUT)


# As kafka-python: records sent without flush() or close() are delivered at exit, if they
# can be within _EXIT_FLUSH_TIMEOUT.
_atexit.register(_flush_open_producers)

__all__ = [
    "AIOKafkaConsumer",
    "AIOKafkaProducer",
    "ClosedError",
    "ConfigError",
    "ConsumerGroupMetadata",
    "ConsumerRecord",
    "DevBroker",
    "KafkaAdminClient",
    "KafkaConsumer",
    "KafkaError",
    "KafkaProducer",
    "KafkaTimeoutError",
    "OffsetAndMetadata",
    "OffsetAndTimestamp",
    "ProducerRecord",
    "RecordFuture",
    "RecordMetadata",
    "SerializationError",
    "TopicPartition",
    "WakeupError",
    "errors",
    "murmur2_partition",
    "set_log_level",
    "set_worker_threads",
    "__version__",
]
