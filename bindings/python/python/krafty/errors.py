"""The exceptions Krafty raises.

Every one is a `KafkaError` with `code` (Kafka's numeric error code, or None when the error did
not come from a broker), `name` (Kafka's name for the code) and `retriable`. Broker errors with
a well-known code have their own class (`UnknownTopicOrPartitionError`, ...); the rest are
`BrokerError`. `ConfigError` is also a `ValueError` and names the bad `property`.
"""

from typing import Dict, Optional, Type


class KafkaError(Exception):
    """Base class of every Krafty error."""

    code: Optional[int] = None
    name: str = "UNKNOWN"
    retriable: bool = False

    def __init__(self, message: str = "", code: Optional[int] = None, retriable: bool = False,
                 name: Optional[str] = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        if name is not None:
            self.name = name
        self.retriable = retriable
        self.topic: Optional[str] = None
        self.partition: Optional[int] = None


class ConfigError(KafkaError, ValueError):
    """An unknown property or an invalid value; `property` names it."""

    property: Optional[str] = None


class BrokerError(KafkaError):
    """The broker answered with an error code; `topic` / `partition` say where, when known."""


class KafkaTimeoutError(KafkaError, TimeoutError):
    """The operation did not finish in time (`max.block.ms`, `delivery.timeout.ms`, a timeout argument)."""

    code = 7
    name = "REQUEST_TIMED_OUT"


class NetworkError(KafkaError):
    """Connecting to or talking with a broker failed."""


class ProtocolError(KafkaError):
    """A response that does not decode, or an API version no one supports."""


class SerializationError(KafkaError):
    """A (de)serializer failed, or a value had a type that needs one."""


class ClosedError(KafkaError):
    """The client was closed."""


class WakeupError(KafkaError):
    """A blocking poll was interrupted by `wakeup()`."""


class IllegalStateError(KafkaError):
    """The call is not allowed now (e.g. committing a partition that is not assigned)."""


class FatalError(KafkaError):
    """The client cannot continue (e.g. the producer was fenced)."""


def _broker_error(class_name: str, code: int, name: str, doc: str) -> Type[BrokerError]:
    cls = type(class_name, (BrokerError,), {"code": code, "name": name, "__doc__": doc})
    cls.__module__ = __name__
    return cls


OffsetOutOfRangeError = _broker_error("OffsetOutOfRangeError", 1, "OFFSET_OUT_OF_RANGE", "The offset is outside the log.")
CorruptRecordError = _broker_error("CorruptRecordError", 2, "CORRUPT_MESSAGE", "A record failed its CRC check.")
UnknownTopicOrPartitionError = _broker_error("UnknownTopicOrPartitionError", 3, "UNKNOWN_TOPIC_OR_PARTITION", "The topic or partition does not exist.")
LeaderNotAvailableError = _broker_error("LeaderNotAvailableError", 5, "LEADER_NOT_AVAILABLE", "The partition has no leader right now.")
NotLeaderOrFollowerError = _broker_error("NotLeaderOrFollowerError", 6, "NOT_LEADER_OR_FOLLOWER", "The broker does not lead the partition.")
MessageTooLargeError = _broker_error("MessageTooLargeError", 10, "MESSAGE_TOO_LARGE", "The record or batch is larger than a limit allows.")
RebalanceInProgressError = _broker_error("RebalanceInProgressError", 27, "REBALANCE_IN_PROGRESS", "The group is rebalancing.")
IllegalGenerationError = _broker_error("IllegalGenerationError", 22, "ILLEGAL_GENERATION", "The group moved to a new generation.")
UnknownMemberIdError = _broker_error("UnknownMemberIdError", 25, "UNKNOWN_MEMBER_ID", "The group does not know this member.")
TopicAlreadyExistsError = _broker_error("TopicAlreadyExistsError", 36, "TOPIC_ALREADY_EXISTS", "The topic already exists.")
InvalidTopicError = _broker_error("InvalidTopicError", 17, "INVALID_TOPIC_EXCEPTION", "The topic name is not valid.")


class RecordTooLargeError(MessageTooLargeError):
    """The record is larger than `max.request.size` or `buffer.memory` (checked before sending)."""


_BY_CODE: Dict[int, Type[BrokerError]] = {
    cls.code: cls  # type: ignore[misc]
    for cls in (OffsetOutOfRangeError, CorruptRecordError, UnknownTopicOrPartitionError,
                LeaderNotAvailableError, NotLeaderOrFollowerError, MessageTooLargeError,
                RebalanceInProgressError, IllegalGenerationError, UnknownMemberIdError,
                TopicAlreadyExistsError, InvalidTopicError)
}

_BY_KIND: Dict[str, Type[KafkaError]] = {
    "config": ConfigError,
    "record_too_large": RecordTooLargeError,
    "timeout": KafkaTimeoutError,
    "network": NetworkError,
    "protocol": ProtocolError,
    "serialization": SerializationError,
    "closed": ClosedError,
    "wakeup": WakeupError,
    "illegal_state": IllegalStateError,
    "fatal": FatalError,
}


def error_for_code(code: int) -> Type[BrokerError]:
    """The exception class for a Kafka error code."""
    return _BY_CODE.get(code, BrokerError)


def _from_core(kind, message, code, name, retriable, topic, partition, prop):
    """Called by the extension module for every core error."""
    cls = error_for_code(code) if kind == "broker" else _BY_KIND.get(kind, KafkaError)
    err = cls(message, code=code, retriable=retriable, name=name)
    err.topic = topic
    err.partition = partition
    if prop is not None:
        err.property = prop
    return err

