"""Type stubs for the extension module (the Rust half of the package)."""

from typing import (Any, AsyncIterator, Callable, Dict, Generator, Iterable, Iterator, List,
                    Mapping, Optional, Sequence, Set, Tuple, Type, Union)

import asyncio

from typing import final

from .admin import (ACL, ACLFilter, AlterConfigsResponse, ConfigResource,
                    DescribeConfigsResponse, NewPartitions, NewTopic)
from .structs import (ConsumerGroupMetadata, GroupInformation, OffsetAndMetadata,
                      OffsetAndTimestamp, TopicPartition)

Value = Union[bytes, bytearray, str, None]
Header = Tuple[str, Optional[bytes]]
Headers = Union[Sequence[Tuple[str, Value]], Mapping[str, Value], None]
Partition = Union[TopicPartition, Tuple[str, int]]

__version__: str

def murmur2_partition(key: bytes, partition_count: int) -> int:
    """The partition Kafka's default partitioner picks for `key` (Java-compatible murmur2)."""

def _after_fork_in_child() -> None:
    """The `os.register_at_fork(after_in_child=...)` hook: a fresh runtime for the child."""

def _set_forwarded_level(level: int) -> None:
    """The lowest `logging` level the core forwards to the `krafty` logger."""

def _flush_at_exit(timeout: float) -> None:
    """The `atexit` hook: flushes the open producers, all within `timeout` seconds."""

def _set_worker_threads(n: int) -> None:
    """The clients' runtime's worker threads (before the first client starts it)."""

def _worker_threads() -> Optional[int]:
    """The clients' runtime's worker threads, None before the first client starts it."""

@final
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
    def __new__(cls, topic: str, partition: int, topic_partition: Optional[TopicPartition] = None,
                 offset: int = ..., timestamp: int = ..., checksum: Optional[int] = None,
                 serialized_key_size: int = ..., serialized_value_size: int = ...,
                 serialized_header_size: int = ...) -> RecordMetadata: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class RecordFuture:
    """The outcome of `send` (a RecordMetadata) or `send_batch` (a list of them)."""
    def get(self, timeout: Optional[float] = None) -> Any:
        """Blocks (GIL released) until acknowledged; raises the record's KafkaError or
        KafkaTimeoutError after `timeout` seconds."""
    def add_callback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> "RecordFuture":
        """`f(*args, metadata, **kwargs)` on success; runs on Krafty's callback thread (never
        an I/O thread), or at once if done. Blocking on the client there (`flush()`, `close()`,
        `get()` of a pending future) raises IllegalStateError instead of deadlocking."""
    def add_errback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> "RecordFuture":
        """`f(*args, exception, **kwargs)` on failure; runs as `add_callback`'s `f`."""
    def add_both(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> "RecordFuture":
        """`f(*args, metadata_or_exception, **kwargs)` with either outcome."""
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

@final
class ProducerRecord:
    """A record as a producer interceptor sees it (before serialization)."""
    topic: str
    value: Any
    key: Any
    partition: Optional[int]
    timestamp_ms: Optional[int]
    headers: List[Tuple[str, Optional[bytes]]]
    def __new__(cls, topic: str, value: Any = None, key: Any = None,
                 partition: Optional[int] = None, timestamp_ms: Optional[int] = None,
                 headers: Optional[List[Tuple[str, Optional[bytes]]]] = None) -> ProducerRecord: ...

@final
class KafkaProducer:
    """A Kafka producer, configured by Kafka's property names: `linger_ms=5` or
    `{"linger.ms": 5}`. Python-only options: `key_serializer`, `value_serializer` (callables
    returning bytes), `interceptors` (objects with `on_send(record)`,
    `on_acknowledgement(metadata, error)`, `close()`), `partitioner` (an object with
    `partition(topic, key, partition_count)` or such a callable). Raises ConfigError naming
    the property for an unknown name or a bad value."""
    def __new__(cls, config: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> KafkaProducer: ...
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
    def init_transactions(self) -> None: ...
    def begin_transaction(self) -> None: ...
    def send_offsets_to_transaction(self, offsets: Mapping[Partition, Offset],
                                    group: Union[str, ConsumerGroupMetadata]) -> None: ...
    def commit_transaction(self) -> None: ...
    def abort_transaction(self) -> None: ...
    def metrics(self, raw: bool = False) -> Dict[str, Dict[str, float]]:
        """`{"producer-metrics": {"record-send-total": ..., ...}}` (Java's names)."""
    def __enter__(self) -> "KafkaProducer": ...
    def __exit__(self, *exc: Any) -> None: ...

@final
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
    def __new__(cls, topic: str, partition: int, leader_epoch: Optional[int] = None,
                 offset: int = ..., timestamp: int = ..., timestamp_type: int = 0,
                 key: Any = None, value: Any = None, headers: Optional[List[Header]] = None,
                 checksum: Optional[int] = None, serialized_key_size: int = ...,
                 serialized_value_size: int = ..., serialized_header_size: int = ...) -> ConsumerRecord: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

Offset = Union[int, OffsetAndMetadata, Tuple[int, str]]

@final
class KafkaConsumer:
    """A Kafka consumer: `KafkaConsumer(*topics, group_id=..., **config)` with Kafka's
    property names, or `KafkaConsumer(*topics, {"group.id": ...})`. Without `group_id` it
    reads every partition of its topics, with no group and no commits. Python-only options:
    `key_deserializer`, `value_deserializer` (callables taking bytes), `consumer_timeout_ms`
    (iteration stops after this long without a record). A rebalance listener has
    `on_partitions_revoked(partitions)`, `on_partitions_assigned(partitions)` and optionally
    `on_partitions_lost(partitions)`; it runs on the polling thread and may call its
    consumer's `commit`, `seek`, `seek_to_beginning`, `seek_to_end`, `position`, `committed`,
    `assignment` and offset lookups (a commit there is made at once and raises the broker's
    refusal; seeks apply when the listener returns, before the rebalance goes on)."""
    def __new__(cls, *topics: Union[str, Mapping[str, Any]],
                 config: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> KafkaConsumer: ...
    def subscribe(self, topics: Optional[Sequence[str]] = None, pattern: Optional[str] = None,
                  listener: Any = None) -> None: ...
    def unsubscribe(self) -> None: ...
    def assign(self, partitions: Iterable[Partition]) -> None: ...
    def assignment(self) -> Set[TopicPartition]: ...
    def subscription(self) -> Set[str]: ...
    def poll(self, timeout_ms: Optional[float] = ..., max_records: Optional[int] = None,
             update_offsets: bool = True) -> Dict[TopicPartition, List[ConsumerRecord]]:
        """`timeout_ms=None` waits until records come."""
    def __iter__(self) -> Iterator[ConsumerRecord]: ...
    def __next__(self) -> ConsumerRecord: ...
    def __aiter__(self) -> AsyncIterator[ConsumerRecord]: ...
    async def __anext__(self) -> ConsumerRecord: ...
    def commit(self, offsets: Optional[Mapping[Partition, Offset]] = None,
               timeout_ms: Optional[float] = None) -> None:
        """Returns once the broker took the offsets; raises its refusal, and IllegalStateError
        without a group_id. In a rebalance listener, `timeout_ms` does not apply."""
    def commit_async(self, offsets: Optional[Mapping[Partition, Offset]] = None,
                     callback: Optional[Callable[[Dict[TopicPartition, OffsetAndMetadata],
                                                  Optional[BaseException]], Any]] = None) -> None:
        """`callback(offsets, exception or None)` on the client's thread. In a rebalance
        listener the commit is made before this returns (the callback still reports it)."""
    def committed(self, partition: Partition, metadata: bool = False,
                  timeout_ms: Optional[float] = None) -> Union[None, int, OffsetAndMetadata]: ...
    def position(self, partition: Partition) -> int: ...
    def group_metadata(self) -> Optional[ConsumerGroupMetadata]: ...
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

@final
class KafkaAdminClient:
    """Cluster administration with kafka-python's API, configured as the producer is
    (`bootstrap_servers`, `client_id`, `request_timeout_ms`, the security settings, or a dict
    of Kafka's names). Broker errors raise their `krafty.errors` class with Kafka's `errno`;
    what is not supported yet raises NotImplementedError. `group_coordinator_id` and `partition_leader_id` are accepted and not
    needed. Every call blocks with the GIL released."""
    def __new__(cls, config: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> KafkaAdminClient: ...
    def create_topics(self, new_topics: Sequence[NewTopic], timeout_ms: Optional[float] = None,
                      validate_only: bool = False) -> None:
        """Creates the topics; `TopicAlreadyExistsError` (36) for one that exists,
        `InvalidReplicaAssignmentError` (39) for a `replica_assignments` on brokers that are
        not there. `timeout_ms` bounds the call on the client's side; with `validate_only` the
        broker checks the topics and creates none."""
    def delete_topics(self, topics: Sequence[str], timeout_ms: Optional[float] = None) -> None: ...
    def list_topics(self) -> List[str]:
        """Every topic's name, internal ones included, sorted."""
    def describe_topics(self, topics: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
        """`[{"topic", "error_code", "is_internal", "partitions": [{"partition", "leader",
        "replicas", "isr", "error_code"}]}]`, for `topics` or every topic."""
    def create_partitions(self, topic_partitions: Mapping[str, Union[NewPartitions, int]],
                          timeout_ms: Optional[float] = None,
                          validate_only: bool = False) -> None:
        """Grows each topic to `NewPartitions.total_count`, its `new_assignments` placing the
        new partitions; with `validate_only` the broker checks and adds none."""
    def describe_configs(self, config_resources: Sequence[ConfigResource],
                         include_synonyms: bool = False) -> List[DescribeConfigsResponse]:
        """Topic and broker configs: one response whose `resources` hold `(error_code,
        error_message, resource_type, resource_name, entries)` per resource, in order; the
        entries `ConfigEntry`, or `ConfigEntryWithSynonyms` with `include_synonyms`."""
    def alter_configs(self, config_resources: Sequence[ConfigResource],
                      validate_only: bool = False) -> AlterConfigsResponse:
        """Replaces each resource's configs with `ConfigResource.configs` (AlterConfigs); a
        refused resource's error code is in the response's `resources`, not raised."""
    def describe_acls(self, acl_filter: ACLFilter) -> Tuple[List[ACL], Type[Exception]]:
        """`([ACL], NoError)` for the ACLs matching the filter; a broker error raises its
        class (`SecurityDisabledError`, 54, on a cluster without an authorizer)."""
    def create_acls(self, acls: Sequence[ACL]) -> Dict[str, List[Any]]:
        """`{"succeeded": [ACL], "failed": [(ACL, error class)]}`."""
    def delete_acls(self, acl_filters: Sequence[ACLFilter]
                    ) -> List[Tuple[ACLFilter, List[ACL], Type[Exception]]]:
        """`[(ACLFilter, [ACL deleted], error class)]`, `NoError` for a filter applied."""
    def list_consumer_groups(self) -> List[Tuple[str, str]]:
        """`[(group_id, protocol_type)]`."""
    def describe_consumer_groups(self, group_ids: Sequence[str],
                                 group_coordinator_id: Optional[int] = None,
                                 include_authorized_operations: bool = False
                                 ) -> List[GroupInformation]: ...
    def list_consumer_group_offsets(self, group_id: str, group_coordinator_id: Optional[int] = None,
                                    partitions: Optional[Sequence[Partition]] = None
                                    ) -> Dict[TopicPartition, OffsetAndMetadata]:
        """The committed offsets (metadata "", leader epoch -1); with `partitions`, just
        those, -1 for one without a commit."""
    def alter_consumer_group_offsets(self, group_id: str, offsets: Mapping[Partition, Offset],
                                     group_coordinator_id: Optional[int] = None) -> None:
        """Commits offsets for a group with no active member."""
    def delete_consumer_groups(self, group_ids: Sequence[str],
                               group_coordinator_id: Optional[int] = None
                               ) -> List[Tuple[str, type]]:
        """`[(group_id, NoError or the broker's error class)]`."""
    def delete_records(self, records_to_delete: Mapping[Partition, int],
                       timeout_ms: Optional[float] = None,
                       partition_leader_id: Optional[int] = None) -> None:
        """Moves each partition's log start offset to the offset given (-1: the high watermark)."""
    def describe_cluster(self) -> Dict[str, Any]:
        """`{"throttle_time_ms", "brokers": [{"node_id", "host", "port", "rack"}],
        "cluster_id", "controller_id"}`, as kafka-python."""
    def close(self) -> None: ...
    def __enter__(self) -> "KafkaAdminClient": ...
    def __exit__(self, *exc: Any) -> None: ...

@final
class DevBroker:
    """The bundled Kafka-protocol dev broker, in this process, on 127.0.0.1 (`port=0`: any
    free port). In memory unless `data_dir` is given. Settings by Kafka's names. `listeners`
    (`"PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"`) replaces the one plaintext
    listener; SASL users come from `sasl_users="alice:secret,..."`.

    `nodes=3` starts a replicated cluster of three nodes in this process (node ids 1 to 3; a
    non-zero `port` is node 1's, the next nodes take the next ports; `data_dir/node-<id>`), whose
    `bootstrap_servers` lists every node. Its node faults script failover tests: `stop_node`,
    `start_node`, `isolate_node`, `heal_node`, `pause_replica_fetchers`; `partition_state` and
    `replicas` show leaders, ISRs and log ends. On a cluster the other faults (`fail_next`, ...)
    apply to every running node and the counters add up the running nodes'. The node methods
    raise `RuntimeError` on a single broker, `ValueError` for an unknown node id."""
    def __new__(cls, port: int = 0, data_dir: Optional[str] = None,
                 config: Optional[Mapping[str, Any]] = None, listeners: Optional[str] = None,
                 nodes: int = 1, **kwargs: Any) -> DevBroker: ...
    @property
    def bootstrap_servers(self) -> str:
        """`host:port` for a client's `bootstrap_servers` (a cluster's: every node's,
        comma-separated, stopped ones too)."""
    def listener_bootstrap(self, name: str) -> Optional[str]: ...
    def tls_ca_pem(self) -> Optional[str]: ...
    def fail_next(self, api_key: int, error_code: int, count: int = 1, topic: Optional[str] = None,
                  partition: Optional[int] = None) -> None: ...
    def add_latency(self, api_key: int, millis: int) -> None: ...
    def drop_connection_after(self, requests: int) -> None: ...
    def clear_faults(self) -> None: ...
    def errors_fired(self) -> int: ...
    def errors_pending(self) -> int: ...
    def connections_dropped(self) -> int: ...
    def node_ids(self) -> List[int]:
        """A cluster's node ids, running or not, ascending."""
    def node_bootstrap(self, node_id: int) -> str:
        """One node's `host:port`, running or not."""
    def stop_node(self, node_id: int) -> None:
        """Stops a node as a killed process stops (its logs stay): the partitions it led elect
        new leaders from their ISRs (leader epoch + 1) before this returns, and it leaves every
        ISR. Stopping a stopped node does nothing."""
    def start_node(self, node_id: int) -> None:
        """Starts a stopped node again on its old ports over its logs; it rejoins each ISR once
        caught up with the leader (not yet when this returns). Starting a running node does
        nothing."""
    def isolate_node(self, node_id: int) -> None:
        """A network partition around a running node: its connections go silent (requests time
        out), it stops replicating and leaves every ISR; its partitions elect other leaders."""
    def heal_node(self, node_id: int) -> None:
        """Ends `isolate_node`: the node follows again and rejoins the ISRs once caught up."""
    def pause_replica_fetchers(self, node_id: int) -> None:
        """Stops a running node's replication: it falls behind, and leaves an ISR after
        `replica.lag.time.max.ms` once the leader has records it lacks."""
    def resume_replica_fetchers(self, node_id: int) -> None:
        """Ends `pause_replica_fetchers`."""
    def partition_state(self, topic: str, partition: int) -> Optional[Dict[str, Any]]:
        """The cluster's record of a partition (None for an unknown one): `leader` (a node id,
        -1 without one), `leader_epoch`, `replicas` (node ids, the preferred leader first),
        `isr` (the leader included) and `partition_epoch` (bumped by every change)."""
    def replicas(self, topic: str, partition: int) -> List[Dict[str, Any]]:
        """Each replica of a partition as its node holds it (a stopped node's as it left it):
        `node_id`, `log_start_offset`, `log_end_offset`, `high_watermark`."""
    def shutdown(self) -> None: ...
    def __enter__(self) -> "DevBroker": ...
    def __exit__(self, *exc: Any) -> None: ...

@final
class _AioProducer:
    """The bridging under `krafty.aio.AIOKafkaProducer`: each method returns an asyncio future
    of the running loop, resolved there when the core is done (never waiting on the loop)."""
    def __new__(cls, config: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> _AioProducer: ...
    def start(self) -> "asyncio.Future[None]": ...
    def send(self, topic: str, value: Any = None, key: Any = None,
             partition: Optional[int] = None, timestamp_ms: Optional[int] = None,
             headers: Headers = None) -> Tuple[bool, "asyncio.Future[Any]"]: ...
    def send_batch(self, topic: str, records: Iterable[Any],
                   partition: Optional[int] = None) -> "asyncio.Future[RecordFuture]": ...
    def flush(self, timeout: Optional[float] = None) -> "asyncio.Future[None]": ...
    def stop(self, timeout: Optional[float] = None) -> "asyncio.Future[None]": ...
    def partitions_for(self, topic: str) -> "asyncio.Future[Set[int]]": ...

@final
class _AioConsumer:
    """The bridging under `krafty.aio.AIOKafkaConsumer` (asyncio futures, as `_AioProducer`;
    `subscribe`, `assign`, `seek`, `pause`, `resume`, `unsubscribe` return at once and take
    effect, in call order, before the next operation)."""
    def __new__(cls, topics: List[str], config: Optional[Mapping[str, Any]] = None,
                 **kwargs: Any) -> _AioConsumer: ...
    def start(self) -> "asyncio.Future[None]": ...
    def subscribe(self, topics: Optional[List[str]] = None, pattern: Optional[str] = None,
                  listener: Any = None) -> None: ...
    def assign(self, partitions: Iterable[Partition]) -> None: ...
    def unsubscribe(self) -> None: ...
    def assignment(self) -> Set[TopicPartition]: ...
    def getmany(self, timeout_ms: float, max_records: Optional[int] = None
                ) -> "asyncio.Future[Dict[TopicPartition, List[ConsumerRecord]]]": ...
    def commit(self, offsets: Optional[Mapping[Partition, Any]] = None) -> "asyncio.Future[None]": ...
    def committed(self, partition: Partition, metadata: bool = False) -> "asyncio.Future[Any]": ...
    def position(self, partition: Partition) -> "asyncio.Future[int]": ...
    def seek(self, partition: Partition, offset: int) -> None: ...
    def seek_to_beginning(self, *partitions: Partition) -> "asyncio.Future[None]": ...
    def seek_to_end(self, *partitions: Partition) -> "asyncio.Future[None]": ...
    def pause(self, *partitions: Partition) -> None: ...
    def resume(self, *partitions: Partition) -> None: ...
    def beginning_offsets(self, partitions: Iterable[Partition]
                          ) -> "asyncio.Future[Dict[TopicPartition, int]]": ...
    def end_offsets(self, partitions: Iterable[Partition]
                    ) -> "asyncio.Future[Dict[TopicPartition, int]]": ...
    def topics(self) -> "asyncio.Future[Set[str]]": ...
    def stop(self, timeout_ms: Optional[float] = None) -> "asyncio.Future[None]": ...
