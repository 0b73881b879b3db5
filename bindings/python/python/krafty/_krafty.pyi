"""Type stubs for the extension module (the Rust half of the package)."""

from typing import (Any, AsyncIterator, Callable, Dict, Generator, Iterable, Iterator, List,
                    Mapping, Optional, Sequence, Set, Tuple, Union)

from .structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

Value = Union[bytes, bytearray, str, None]
Header = Tuple[str, Optional[bytes]]
Headers = Union[Sequence[Tuple[str, Value]], Mapping[str, Value], None]
Partition = Union[TopicPartition, Tuple[str, int]]

__version__: str

def murmur2_partition(key: bytes, partition_count: int) -> int:
    """The partition Kafka's default partitioner picks for `key` (Java-compatible murmur2)."""

class RecordMetadata:
    """Where an acknowledged record landed (kafka-python's fields; constructible, comparable,
    hashable and picklable)."""
    topic: str
    partition: int
    offset: int
    """-1 with acks=0."""
    timestamp: int
    checksum: Optional[int]
    serialized_key_size: int
    serialized_value_size: int
    serialized_header_size: int
    """-1 without headers."""
    @property
    def topic_partition(self) -> TopicPartition: ...
    def __init__(self, topic: str, partition: int, topic_partition: Optional[TopicPartition] = None,
                 offset: int = -1, timestamp: int = -1, checksum: Optional[int] = None,
                 serialized_key_size: int = -1, serialized_value_size: int = -1,
                 serialized_header_size: int = -1) -> None: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class RecordFuture:
    """The outcome of `send` (a RecordMetadata) or `send_batch` (a list of them)."""
    def get(self, timeout: Optional[float] = None) -> Any:
        """Blocks (GIL released) until acknowledged; raises the record's KafkaError or
        KafkaTimeoutError after `timeout` seconds."""
    def add_callback(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "RecordFuture":
        """`fn(*args, metadata, **kwargs)` on success; runs on the client's thread (or at once
        if done)."""
    def add_errback(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "RecordFuture":
        """`fn(*args, exception, **kwargs)` on failure; runs on the client's thread (or at once
        if done)."""
    def add_both(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "RecordFuture":
        """`fn(*args, metadata_or_exception, **kwargs)` with either outcome."""
    def retriable(self) -> bool:
        """True when the send failed with an error a retry may overcome."""
    @property
    def is_done(self) -> bool: ...
    def succeeded(self) -> bool: ...
    def failed(self) -> bool: ...
    @property
    def exception(self) -> Optional[BaseException]: ...
    @property
    def value(self) -> Any: ...
    def __await__(self) -> Generator[Any, None, Any]: ...

class ProducerRecord:
    """A record as a producer interceptor sees it (before serialization)."""
    topic: str
    value: Any
    key: Any
    partition: Optional[int]
    timestamp_ms: Optional[int]
    headers: List[Tuple[str, Optional[bytes]]]
    def __init__(self, topic: str, value: Any = None, key: Any = None,
                 partition: Optional[int] = None, timestamp_ms: Optional[int] = None,
                 headers: Optional[List[Tuple[str, Optional[bytes]]]] = None) -> None: ...

class KafkaProducer:
    """A Kafka producer, configured by Kafka's property names: `linger_ms=5` or
    `{"linger.ms": 5}`. Python-only options: `key_serializer`, `value_serializer` (callables
    returning bytes), `interceptors` (objects with `on_send(record)`,
    `on_acknowledgement(metadata, error)`, `close()`), `partitioner` (an object with
    `partition(topic, key, partition_count)` or such a callable). Raises ConfigError naming
    the property for an unknown name or a bad value."""
    def __init__(self, config: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None: ...
    def send(self, topic: str, value: Any = None, key: Any = None, partition: Optional[int] = None,
             timestamp_ms: Optional[int] = None, headers: Headers = None) -> RecordFuture:
        """Enqueues a record; blocks (GIL released) only while the buffer is full or the
        topic's metadata is missing, up to `max.block.ms`."""
    def send_batch(self, topic: str, records: Iterable[Any],
                   partition: Optional[int] = None) -> RecordFuture:
        """Sends values or `(key, value[, headers])` tuples; one future for all of them."""
    def flush(self, timeout: Optional[float] = None) -> None: ...
    def close(self, timeout: Optional[float] = None) -> None: ...
    def partitions_for(self, topic: str) -> List[int]: ...
    def metrics(self, raw: bool = False) -> Dict[str, Dict[str, float]]:
        """`{"producer-metrics": {"record-send-total": ..., ...}}` (Java's names)."""
    def __enter__(self) -> "KafkaProducer": ...
    def __exit__(self, *exc: Any) -> None: ...

class ConsumerRecord:
    """One record read from a partition (kafka-python's fields; constructible, comparable and
    picklable)."""
    topic: str
    partition: int
    leader_epoch: Optional[int]
    offset: int
    timestamp: int
    timestamp_type: int
    """0 = CreateTime, 1 = LogAppendTime."""
    key: Any
    value: Any
    headers: List[Header]
    checksum: Optional[int]
    serialized_key_size: int
    serialized_value_size: int
    serialized_header_size: int
    """-1 without headers."""
    def __init__(self, topic: str, partition: int, leader_epoch: Optional[int] = None,
                 offset: int = -1, timestamp: int = -1, timestamp_type: int = 0,
                 key: Any = None, value: Any = None, headers: Optional[List[Header]] = None,
                 checksum: Optional[int] = None, serialized_key_size: int = -1,
                 serialized_value_size: int = -1, serialized_header_size: int = -1) -> None: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

Offset = Union[int, OffsetAndMetadata, Tuple[int, str]]

class KafkaConsumer:
    """A Kafka consumer: `KafkaConsumer(*topics, group_id=..., **config)` with Kafka's
    property names, or `KafkaConsumer(*topics, {"group.id": ...})`. Without `group_id` it
    reads every partition of its topics, with no group and no commits. Python-only options:
    `key_deserializer`, `value_deserializer` (callables taking bytes), `consumer_timeout_ms`
    (iteration stops after this long without a record). A rebalance listener has
    `on_partitions_revoked(partitions)`, `on_partitions_assigned(partitions)` and optionally
    `on_partitions_lost(partitions)`; it runs on the polling thread and may call its
    consumer's `commit`, `seek`, `seek_to_beginning`, `seek_to_end`, `position`, `committed`,
    `assignment` and offset lookups (commits and seeks apply before the rebalance goes on)."""
    def __init__(self, *topics: Union[str, Mapping[str, Any]],
                 config: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None: ...
    def subscribe(self, topics: Optional[Sequence[str]] = None, pattern: Optional[str] = None,
                  listener: Any = None) -> None: ...
    def unsubscribe(self) -> None: ...
    def assign(self, partitions: Iterable[Partition]) -> None: ...
    def assignment(self) -> Set[TopicPartition]: ...
    def subscription(self) -> Set[str]: ...
    def poll(self, timeout_ms: Optional[float] = 0, max_records: Optional[int] = None,
             update_offsets: bool = True) -> Dict[TopicPartition, List[ConsumerRecord]]:
        """`timeout_ms=None` waits until records come."""
    def __iter__(self) -> Iterator[ConsumerRecord]: ...
    def __next__(self) -> ConsumerRecord: ...
    def __aiter__(self) -> AsyncIterator[ConsumerRecord]: ...
    async def __anext__(self) -> ConsumerRecord: ...
    def commit(self, offsets: Optional[Mapping[Partition, Offset]] = None,
               timeout_ms: Optional[float] = None) -> None:
        """Raises IllegalStateError without a group_id."""
    def commit_async(self, offsets: Optional[Mapping[Partition, Offset]] = None,
                     callback: Optional[Callable[[Dict[TopicPartition, OffsetAndMetadata],
                                                  Optional[BaseException]], Any]] = None) -> None:
        """`callback(offsets, exception or None)` on the client's thread."""
    def committed(self, partition: Partition, metadata: bool = False,
                  timeout_ms: Optional[float] = None) -> Union[None, int, OffsetAndMetadata]: ...
    def position(self, partition: Partition) -> int: ...
    def seek(self, partition: Partition, offset: int) -> None: ...
    def seek_to_beginning(self, *partitions: Partition) -> None: ...
    def seek_to_end(self, *partitions: Partition) -> None: ...
    def pause(self, *partitions: Partition) -> None: ...
    def resume(self, *partitions: Partition) -> None: ...
    def paused(self) -> Set[TopicPartition]: ...
    def beginning_offsets(self, partitions: Iterable[Partition],
                          timeout_ms: Optional[float] = None) -> Dict[TopicPartition, int]: ...
    def end_offsets(self, partitions: Iterable[Partition],
                    timeout_ms: Optional[float] = None) -> Dict[TopicPartition, int]: ...
    def offsets_for_times(self, timestamps: Mapping[Partition, int],
                          timeout_ms: Optional[float] = None) -> Dict[TopicPartition, Optional[OffsetAndTimestamp]]: ...
    def partitions_for_topic(self, topic: str) -> Optional[Set[int]]: ...
    def topics(self) -> Set[str]: ...
    def highwater(self, partition: Partition) -> Optional[int]:
        """As the last fetch response reported it; None before one did."""
    def bootstrap_connected(self) -> bool: ...
    def metrics(self, raw: bool = False) -> Dict[str, Dict[str, float]]:
        """`{"consumer-fetch-manager-metrics": {"records-consumed-total": ..., ...}}`."""
    def wakeup(self) -> None: ...
    def close(self, autocommit: bool = True, timeout_ms: Optional[float] = None) -> None: ...
    def __enter__(self) -> "KafkaConsumer": ...
    def __exit__(self, *exc: Any) -> None: ...

class DevBroker:
    """The bundled Kafka-protocol dev broker, in this process, on 127.0.0.1 (`port=0`: any
    free port). In memory unless `data_dir` is given. Settings by Kafka's names."""
    def __init__(self, port: int = 0, data_dir: Optional[str] = None,
                 config: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None: ...
    @property
    def bootstrap_servers(self) -> str: ...
    def fail_next(self, api_key: int, error_code: int, count: int = 1, topic: Optional[str] = None,
                  partition: Optional[int] = None) -> None: ...
    def add_latency(self, api_key: int, millis: int) -> None: ...
    def drop_connection_after(self, requests: int) -> None: ...
    def clear_faults(self) -> None: ...
    def errors_fired(self) -> int: ...
    def errors_pending(self) -> int: ...
    def connections_dropped(self) -> int: ...
    def shutdown(self) -> None: ...
    def __enter__(self) -> "DevBroker": ...
    def __exit__(self, *exc: Any) -> None: ...
