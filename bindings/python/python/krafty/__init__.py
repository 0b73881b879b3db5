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

from . import errors
from .structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition
from ._krafty import (  # noqa: E402
    ConsumerRecord,
    DevBroker,
    KafkaConsumer,
    KafkaProducer,
    ProducerRecord,
    RecordFuture,
    RecordMetadata,
    __version__,
    murmur2_partition,
)
from .aio import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from .errors import (  # noqa: E402
    ClosedError,
    ConfigError,
    KafkaError,
    KafkaTimeoutError,
    SerializationError,
    WakeupError,
)

__all__ = [
    "AIOKafkaConsumer",
    "AIOKafkaProducer",
    "ClosedError",
    "ConfigError",
    "ConsumerRecord",
    "DevBroker",
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
    "__version__",
]
