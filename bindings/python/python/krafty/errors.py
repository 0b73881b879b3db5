"""The exceptions Krafty raises.

Every one is a `KafkaError` with `code` (Kafka's numeric error code, or None when the error did
not come from a broker; `errno` is the same, kafka-python's name for it), `name` (Kafka's name
for the code) and `retriable` (set per class, as Kafka classifies the code). Broker errors with
a well-known code have their own class (`UnknownTopicOrPartitionError`, ...); the rest are
`BrokerError`. `ConfigError` is also a `ValueError` and names the bad `property`.

kafka-python's names work too, as the same classes or as aliases: `BrokerResponseError`,
`KafkaConnectionError`, `NoBrokersAvailable`, `CommitFailedError`,
`NotLeaderForPartitionError`, `MessageSizeTooLargeError`, `KafkaConfigurationError`,
`RequestTimedOutError`, ... A client-side timeout is `KafkaTimeoutError` (no code); Kafka's
REQUEST_TIMED_OUT (7) from a broker is `RequestTimedOutError`.
"""

from typing import Dict, Optional, Type

__all__ = [
    "KafkaError", "ConfigError", "KafkaConfigurationError", "BrokerError", "BrokerResponseError",
    "KafkaTimeoutError", "NetworkError", "KafkaConnectionError", "NoBrokersAvailable", "TlsError",
    "ProtocolError", "KafkaProtocolError", "SerializationError", "ClosedError", "WakeupError",
    "IllegalStateError", "IllegalArgumentError", "FatalError", "CommitFailedError",
    "RecordTooLargeError", "ForkedClientError", "error_for_code", "for_code",
]


class KafkaError(Exception):
    """Base class of every Krafty error."""

    code: Optional[int] = None
    """Kafka's error code (None for an error that did not come from a broker)."""
    errno: Optional[int] = None
    """kafka-python's name for `code`."""
    name: str = "UNKNOWN"
    """Kafka's name for the code."""
    retriable: bool = False
    """Whether retrying the operation may succeed."""

    def __init__(self, message: str = "", code: Optional[int] = None,
                 retriable: Optional[bool] = None, name: Optional[str] = None):
        super().__init__(message)
        if code is not None:
            self.code = code
            self.errno = code
        if name is not None:
            self.name = name
        if retriable is not None:
            self.retriable = retriable
        self.topic: Optional[str] = None
        self.partition: Optional[int] = None


class ConfigError(KafkaError, ValueError):
    """An unknown property or an invalid value; `property` names it."""

    property: Optional[str] = None


KafkaConfigurationError = ConfigError


class BrokerError(KafkaError):
    """The broker answered with an error code; `topic` / `partition` say where, when known."""


BrokerResponseError = BrokerError


class KafkaTimeoutError(KafkaError, TimeoutError):
    """The operation did not finish in time on the client's side (`max.block.ms`,
    `delivery.timeout.ms`, a timeout argument). Not Kafka's REQUEST_TIMED_OUT: that one comes
    from a broker, as `RequestTimedOutError`."""

    name = "TIMEOUT"
    retriable = True


class NetworkError(KafkaError):
    """Connecting to or talking with a broker failed."""

    retriable = True


KafkaConnectionError = NetworkError


class NoBrokersAvailable(NetworkError):
    """No bootstrap server could be reached when the client was created."""


class TlsError(NetworkError):
    """TLS with a broker failed: its certificate is not trusted (`ssl_cafile` /
    `ssl.ca.location`), does not name the address connected to, or the broker refused the
    client's certificate. Not retriable."""

    retriable = False


class ProtocolError(KafkaError):
    """A response that does not decode, or an API version no one supports."""


KafkaProtocolError = ProtocolError


class SerializationError(KafkaError):
    """A (de)serializer failed, or a value had a type that needs one; `__cause__` is what
    the user's (de)serializer raised."""


class ClosedError(KafkaError):
    """The client was closed."""


class WakeupError(KafkaError):
    """A blocking poll was interrupted by `wakeup()`."""


class IllegalStateError(KafkaError):
    """The call is not allowed now (e.g. committing a partition that is not assigned, or any
    commit without a `group_id`)."""


class ForkedClientError(IllegalStateError):
    """The client (or DevBroker) was created before `os.fork()` and used in the child, where
    its threads do not exist: create clients in the child process."""


class IllegalArgumentError(KafkaError, ValueError):
    """An argument the call cannot take."""


class FatalError(KafkaError):
    """The client cannot continue (e.g. the producer was fenced)."""


class CommitFailedError(KafkaError):
    """A commit failed because the group moved on (a rebalance, a new generation, this member
    no longer known): the partitions may now belong to another member. The broker errors that
    mean this (`RebalanceInProgressError`, `IllegalGenerationError`, `UnknownMemberIdError`,
    `FencedInstanceIdError`) are subclasses."""


# code, Kafka's name, class name, retriable, extra base, doc
_BROKER_ERRORS = [
    (0, "NONE", "NoError", False, None, "No error: what kafka-python's admin results hold for a success."),
    (-1, "UNKNOWN_SERVER_ERROR", "UnknownError", False, None, "An unexpected server error."),
    (1, "OFFSET_OUT_OF_RANGE", "OffsetOutOfRangeError", False, None, "The offset is outside the log."),
    (2, "CORRUPT_MESSAGE", "CorruptRecordError", True, None, "A record failed its CRC check."),
    (3, "UNKNOWN_TOPIC_OR_PARTITION", "UnknownTopicOrPartitionError", True, None, "The topic or partition does not exist."),
    (4, "INVALID_FETCH_SIZE", "InvalidFetchRequestError", False, None, "The requested fetch size is invalid."),
    (5, "LEADER_NOT_AVAILABLE", "LeaderNotAvailableError", True, None, "The partition has no leader right now."),
    (6, "NOT_LEADER_OR_FOLLOWER", "NotLeaderOrFollowerError", True, None, "The broker does not lead the partition."),
    (7, "REQUEST_TIMED_OUT", "RequestTimedOutError", True, None, "A broker timed the request out (Kafka's code 7; a client-side timeout is KafkaTimeoutError)."),
    (8, "BROKER_NOT_AVAILABLE", "BrokerNotAvailableError", False, None, "The broker is not available."),
    (9, "REPLICA_NOT_AVAILABLE", "ReplicaNotAvailableError", True, None, "The replica is not available."),
    (10, "MESSAGE_TOO_LARGE", "MessageTooLargeError", False, None, "The record or batch is larger than a limit allows."),
    (12, "OFFSET_METADATA_TOO_LARGE", "OffsetMetadataTooLargeError", False, None, "The commit's metadata string is too large."),
    (13, "NETWORK_EXCEPTION", "NetworkExceptionError", True, None, "The server disconnected before a response was received."),
    (14, "COORDINATOR_LOAD_IN_PROGRESS", "CoordinatorLoadInProgressError", True, None, "The coordinator is loading its state."),
    (15, "COORDINATOR_NOT_AVAILABLE", "CoordinatorNotAvailableError", True, None, "The coordinator is not available."),
    (16, "NOT_COORDINATOR", "NotCoordinatorError", True, None, "This broker is not the group's coordinator."),
    (17, "INVALID_TOPIC_EXCEPTION", "InvalidTopicError", False, None, "The topic name is not valid."),
    (18, "RECORD_LIST_TOO_LARGE", "RecordListTooLargeError", False, None, "The batch is larger than the segment size."),
    (19, "NOT_ENOUGH_REPLICAS", "NotEnoughReplicasError", True, None, "Fewer in-sync replicas than required."),
    (20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "NotEnoughReplicasAfterAppendError", True, None, "Written, but to fewer in-sync replicas than required."),
    (21, "INVALID_REQUIRED_ACKS", "InvalidRequiredAcksError", False, None, "The acks value is invalid."),
    (22, "ILLEGAL_GENERATION", "IllegalGenerationError", False, CommitFailedError, "The group moved to a new generation."),
    (23, "INCONSISTENT_GROUP_PROTOCOL", "InconsistentGroupProtocolError", False, None, "The member's protocols do not match the group's."),
    (24, "INVALID_GROUP_ID", "InvalidGroupIdError", False, None, "The group id is not valid."),
    (25, "UNKNOWN_MEMBER_ID", "UnknownMemberIdError", False, CommitFailedError, "The group does not know this member."),
    (26, "INVALID_SESSION_TIMEOUT", "InvalidSessionTimeoutError", False, None, "The session timeout is outside the broker's range."),
    (27, "REBALANCE_IN_PROGRESS", "RebalanceInProgressError", False, CommitFailedError, "The group is rebalancing."),
    (28, "INVALID_COMMIT_OFFSET_SIZE", "InvalidCommitOffsetSizeError", False, None, "The committed offset's metadata is too large."),
    (29, "TOPIC_AUTHORIZATION_FAILED", "TopicAuthorizationFailedError", False, None, "Not authorized for the topic."),
    (30, "GROUP_AUTHORIZATION_FAILED", "GroupAuthorizationFailedError", False, None, "Not authorized for the group."),
    (31, "CLUSTER_AUTHORIZATION_FAILED", "ClusterAuthorizationFailedError", False, None, "Not authorized for the cluster."),
    (32, "INVALID_TIMESTAMP", "InvalidTimestampError", False, None, "The timestamp is out of the accepted range."),
    (33, "UNSUPPORTED_SASL_MECHANISM", "UnsupportedSaslMechanismError", False, None, "The broker does not enable this SASL mechanism."),
    (34, "ILLEGAL_SASL_STATE", "IllegalSaslStateError", False, None, "A SASL request came out of order."),
    (35, "UNSUPPORTED_VERSION", "UnsupportedVersionError", False, None, "The broker does not support the request's version."),
    (36, "TOPIC_ALREADY_EXISTS", "TopicAlreadyExistsError", False, None, "The topic already exists."),
    (37, "INVALID_PARTITIONS", "InvalidPartitionsError", False, None, "The number of partitions is invalid."),
    (38, "INVALID_REPLICATION_FACTOR", "InvalidReplicationFactorError", False, None, "The replication factor is invalid."),
    (39, "INVALID_REPLICA_ASSIGNMENT", "InvalidReplicaAssignmentError", False, None, "The replica assignment is invalid."),
    (40, "INVALID_CONFIG", "InvalidConfigurationError", False, None, "A configuration value is invalid."),
    (41, "NOT_CONTROLLER", "NotControllerError", True, None, "This broker is not the controller."),
    (42, "INVALID_REQUEST", "InvalidRequestError", False, None, "The request is malformed."),
    (44, "POLICY_VIOLATION", "PolicyViolationError", False, None, "The request violates a broker policy."),
    (45, "OUT_OF_ORDER_SEQUENCE_NUMBER", "OutOfOrderSequenceNumberError", False, None, "The broker got an unexpected sequence number."),
    (46, "DUPLICATE_SEQUENCE_NUMBER", "DuplicateSequenceNumberError", False, None, "The broker got a duplicate sequence number."),
    (47, "INVALID_PRODUCER_EPOCH", "InvalidProducerEpochError", False, None, "The producer's epoch is stale."),
    (54, "SECURITY_DISABLED", "SecurityDisabledError", False, None, "Security features are disabled (no authorizer)."),
    (56, "KAFKA_STORAGE_ERROR", "KafkaStorageError", True, None, "A disk error on the broker."),
    (58, "SASL_AUTHENTICATION_FAILED", "SaslAuthenticationFailedError", False, None, "The broker refused the SASL credentials (wrong password, unknown user)."),
    (59, "UNKNOWN_PRODUCER_ID", "UnknownProducerIdError", False, None, "The broker no longer knows the producer id."),
    (68, "NON_EMPTY_GROUP", "NonEmptyGroupError", False, None, "The group is not empty."),
    (69, "GROUP_ID_NOT_FOUND", "GroupIdNotFoundError", False, None, "The group does not exist."),
    (74, "FENCED_LEADER_EPOCH", "FencedLeaderEpochError", True, None, "The leader epoch is older than the broker's."),
    (75, "UNKNOWN_LEADER_EPOCH", "UnknownLeaderEpochError", True, None, "The leader epoch is newer than the broker's."),
    (78, "OFFSET_NOT_AVAILABLE", "OffsetNotAvailableError", True, None, "The leader's high watermark is not known yet."),
    (79, "MEMBER_ID_REQUIRED", "MemberIdRequiredError", False, None, "The group requires a member id to join."),
    (82, "FENCED_INSTANCE_ID", "FencedInstanceIdError", False, CommitFailedError, "Another member with the same group.instance.id joined."),
    (87, "INVALID_RECORD", "InvalidRecordError", False, None, "The broker refused a record."),
    (88, "UNSTABLE_OFFSET_COMMIT", "UnstableOffsetCommitError", True, None, "A transaction's offsets are pending."),
    (89, "THROTTLING_QUOTA_EXCEEDED", "ThrottlingQuotaExceededError", True, None, "A quota was exceeded."),
    (90, "PRODUCER_FENCED", "ProducerFencedError", False, None, "A newer producer with the same transactional id exists."),
]


def _broker_error(code: int, name: str, class_name: str, retriable: bool, extra, doc: str):
    bases = (BrokerError,) if extra is None else (BrokerError, extra)
    cls = type(class_name, bases, {"code": code, "errno": code, "name": name,
                                   "retriable": retriable, "__doc__": doc})
    cls.__module__ = __name__
    return cls


_BY_CODE: Dict[int, Type[BrokerError]] = {}
for _code, _name, _class_name, _retriable, _extra, _doc in _BROKER_ERRORS:
    _BY_CODE[_code] = globals()[_class_name] = _broker_error(
        _code, _name, _class_name, _retriable, _extra, _doc)
    __all__.append(_class_name)
del _code, _name, _class_name, _retriable, _extra, _doc

# kafka-python's names for the same classes.
NotLeaderForPartitionError = _BY_CODE[6]
MessageSizeTooLargeError = _BY_CODE[10]
CorruptRecordException = _BY_CODE[2]
__all__ += ["NotLeaderForPartitionError", "MessageSizeTooLargeError", "CorruptRecordException"]


class RecordTooLargeError(_BY_CODE[10]):  # type: ignore[misc,valid-type]
    """The record is larger than `max.request.size` or `buffer.memory` (checked before sending)."""


_BY_KIND: Dict[str, Type[KafkaError]] = {
    "config": ConfigError,
    "record_too_large": RecordTooLargeError,
    "timeout": KafkaTimeoutError,
    "network": NetworkError,
    "no_brokers": NoBrokersAvailable,
    "tls": TlsError,
    "protocol": ProtocolError,
    "serialization": SerializationError,
    "closed": ClosedError,
    "wakeup": WakeupError,
    "illegal_state": IllegalStateError,
    "forked": ForkedClientError,
    "fatal": FatalError,
}


def error_for_code(code: int) -> Type[BrokerError]:
    """The exception class for a Kafka error code (`BrokerError` for one without a class)."""
    return _BY_CODE.get(code, BrokerError)


for_code = error_for_code  # kafka-python's name


def _from_core(kind, message, code, name, retriable, topic, partition, prop):
    """Called by the extension module for every core error."""
    if kind == "broker":
        cls = error_for_code(code)
    else:
        cls = _BY_KIND.get(kind, KafkaError)
        if kind == "timeout":
            # The core gives its client-side timeouts Kafka's code 7; that code belongs to
            # the broker's REQUEST_TIMED_OUT (RequestTimedOutError).
            code, name = None, None
    err = cls(message, code=code, retriable=retriable, name=name)
    err.topic = topic
    err.partition = partition
    if prop is not None:
        err.property = prop
    return err
