"""asyncio clients with aiokafka's API: `AIOKafkaProducer` and `AIOKafkaConsumer`.

    from krafty.aio import AIOKafkaConsumer, AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers="localhost:9092", linger_ms=5)
    await producer.start()
    md = await producer.send_and_wait("events", b"hello", key=b"user-1")
    await producer.stop()

    consumer = AIOKafkaConsumer("events", bootstrap_servers="localhost:9092",
                                group_id="readers", auto_offset_reset="earliest")
    await consumer.start()
    async for record in consumer:
        ...

Nothing here waits on the network while holding the event loop: the core runs on its own
runtime and resolves asyncio futures on the loop (`_krafty._AioProducer` / `_AioConsumer`);
this module gives them aiokafka's names and shapes. Configuration takes aiokafka's (and
Kafka's) names with underscores; aiokafka-only options that have no meaning here (`loop`,
`api_version`) are accepted and ignored.
"""

import asyncio
import collections
import inspect
import logging

from ._krafty import _AioConsumer, _AioProducer
from .structs import TopicPartition

__all__ = ["AIOKafkaConsumer", "AIOKafkaProducer", "BatchBuilder", "ConsumerRebalanceListener"]

_log = logging.getLogger("krafty")

# aiokafka's names that differ from Kafka's, and options without a Kafka property.
_RENAMED = {"max_batch_size": "batch_size"}
_IGNORED = ("loop", "api_version")


def _config(kwargs):
    out = {}
    for name, value in kwargs.items():
        if name in _IGNORED:
            continue
        out[_RENAMED.get(name, name)] = value
    return out


class ConsumerRebalanceListener:
    """Base class for rebalance listeners: override `on_partitions_revoked(revoked)` and
    `on_partitions_assigned(assigned)` with coroutines (or plain functions). They run on the
    event loop's thread while the consumer waits; there they may `await consumer.commit()`,
    `seek`, `await consumer.position(tp)`, `assignment()` and `await seek_to_beginning()`."""

    async def on_partitions_revoked(self, revoked):
        """Called before the partitions `revoked` are taken away (commit here)."""

    async def on_partitions_assigned(self, assigned):
        """Called once the partitions `assigned` are this consumer's."""


def _run_listener(listener, method, partitions, done):
    """Runs a listener callback on the loop (called with `call_soon_threadsafe` by the core's
    rebalance); `done()` lets the rebalance go on."""
    fn = getattr(listener, method, None)
    if fn is None and method == "on_partitions_lost":
        fn = getattr(listener, "on_partitions_revoked", None)
    if fn is None:
        done()
        return
    try:
        result = fn(partitions)
    except Exception:
        _log.exception("rebalance listener %s raised", method)
        done()
        return
    if not inspect.isawaitable(result):
        done()
        return

    def finished(task):
        if not task.cancelled() and task.exception() is not None:
            _log.error("rebalance listener %s raised", method, exc_info=task.exception())
        done()

    asyncio.ensure_future(result).add_done_callback(finished)


class BatchBuilder:
    """Records for one `send_batch` (aiokafka's `create_batch()`): `append` returns None once
    the batch holds `max_batch_size` bytes."""

    def __init__(self, max_size, raw_key=False, raw_value=False):
        self._max = max_size
        # The producer's serializers pass `_Raw` through: batch records are bytes already.
        self._raw_key = raw_key
        self._raw_value = raw_value
        self._records = []
        self._size = 0

    def append(self, *, key, value, timestamp=None, headers=None):
        """Adds already-serialized `key` and `value` (bytes or None)."""
        if timestamp is not None:
            raise NotImplementedError("per-record timestamps in a batch are not supported")
        size = len(key or b"") + len(value or b"") + sum(
            len(k) + len(v or b"") for k, v in (headers or [])) + 20
        if self._records and self._size + size > self._max:
            return None
        if self._raw_key and key is not None:
            key = _Raw(key)
        if self._raw_value and value is not None:
            value = _Raw(value)
        self._records.append((key, value, list(headers or [])))
        self._size += size
        return _BatchAppended(size)

    def size(self):
        """Bytes appended so far (estimated)."""
        return self._size

    def record_count(self):
        """Records appended so far."""
        return len(self._records)


class _Raw:
    """Bytes a batch holds already serialized."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


def _passing_raw(serializer):
    if serializer is None:
        return None
    return lambda v: v.data if type(v) is _Raw else serializer(v)


class _BatchAppended:
    def __init__(self, size):
        self.size = size


class AIOKafkaProducer:
    """aiokafka's producer over the Rust core. `start()` connects; `send()` enqueues (awaiting
    it returns a future of the `RecordMetadata`); `send_and_wait()` awaits both."""

    def __init__(self, *, key_serializer=None, value_serializer=None, **configs):
        self._key_serializer = key_serializer
        self._value_serializer = value_serializer
        self._max_batch_size = configs.get("max_batch_size", 16384)
        self._p = _AioProducer(key_serializer=_passing_raw(key_serializer),
                               value_serializer=_passing_raw(value_serializer),
                               **_config(configs))

    async def start(self):
        """Connects to the cluster (on the client's runtime: the loop keeps running)."""
        await self._p.start()

    async def stop(self, timeout=None):
        """Delivers what is buffered (within `timeout` seconds, default no limit) and stops."""
        await self._p.stop(timeout)

    async def flush(self, timeout=None):
        """Sends everything buffered now and waits for each outcome."""
        await self._p.flush(timeout)

    async def send(self, topic, value=None, key=None, partition=None, timestamp_ms=None,
                   headers=None):
        """Enqueues the record; returns an awaitable of its `RecordMetadata`."""
        in_place, future = self._p.send(topic, value, key, partition, timestamp_ms, headers)
        return future if in_place else await future

    async def send_and_wait(self, topic, value=None, key=None, partition=None,
                            timestamp_ms=None, headers=None):
        """Enqueues the record and waits for its acknowledgement: its `RecordMetadata`."""
        future = await self.send(topic, value, key, partition, timestamp_ms, headers)
        return await future

    def create_batch(self):
        """An empty `BatchBuilder` for `send_batch`."""
        return BatchBuilder(self._max_batch_size, self._key_serializer is not None,
                            self._value_serializer is not None)

    async def send_batch(self, batch, topic, *, partition):
        """Enqueues a `create_batch()` batch to one partition; returns an awaitable of the
        first record's `RecordMetadata` (the batch's base offset, as aiokafka)."""
        future = await self._p.send_batch(topic, batch._records, partition)

        async def first():
            mds = await future
            return mds[0] if mds else None

        return asyncio.ensure_future(first())

    async def partitions_for(self, topic):
        """The partition numbers of `topic`, as a set."""
        return await self._p.partitions_for(topic)

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.stop()


class AIOKafkaConsumer:
    """aiokafka's consumer over the Rust core. `start()` connects and subscribes to the
    constructor's topics; `async for` ends after `consumer_timeout_ms` without records (by
    default it never ends)."""

    def __init__(self, *topics, key_deserializer=None, value_deserializer=None,
                 consumer_timeout_ms=None, **configs):
        self._timeout_ms = consumer_timeout_ms
        # Records `async for` / `getone` fetched and have not yielded yet. Their positions are
        # already past them, so before any other call they are given back (`_give_back`):
        # commits and positions count only what was yielded.
        self._buffer = collections.deque()
        self._c = _AioConsumer(list(topics), key_deserializer=key_deserializer,
                               value_deserializer=value_deserializer, **_config(configs))

    async def start(self):
        """Connects, and subscribes (or assigns) as asked before; the loop keeps running."""
        await self._c.start()

    async def stop(self, timeout_ms=None):
        """Commits (with auto commit on), revokes through the listener and leaves the group."""
        self._give_back()
        await self._c.stop(timeout_ms)

    def subscribe(self, topics=(), pattern=None, listener=None):
        """Subscribes to `topics` or to the topics matching the regex `pattern`, with an
        optional `ConsumerRebalanceListener`. Returns at once; a failure is raised by the next
        `getmany`/`getone`."""
        self._give_back()
        if pattern is not None:
            self._c.subscribe(pattern=pattern, listener=listener)
        else:
            self._c.subscribe(topics=list(topics), listener=listener)

    def unsubscribe(self):
        """Leaves the subscription and the group (returns at once)."""
        self._give_back()
        self._c.unsubscribe()

    def assign(self, partitions):
        """Reads exactly these `TopicPartition`s, without a group (returns at once)."""
        self._give_back()
        self._c.assign(list(partitions))

    def assignment(self):
        """The partitions assigned now, as a set of `TopicPartition`."""
        return self._c.assignment()

    async def getmany(self, *partitions, timeout_ms=0, max_records=None):
        """`{TopicPartition: [ConsumerRecord]}`, waiting up to `timeout_ms` for some."""
        if partitions:
            raise NotImplementedError("getmany(*partitions) is not supported; pause the others")
        self._give_back()
        return await self._c.getmany(float(timeout_ms), max_records)

    async def getone(self, *partitions):
        """The next record (waiting as long as it takes)."""
        while True:
            record = await self._next(500.0, partitions)
            if record is not None:
                return record

    async def _next(self, timeout_ms, partitions=()):
        """The next record, from the buffer or from one getmany; None after `timeout_ms`."""
        if not self._buffer:
            if partitions:
                raise NotImplementedError("getone(*partitions) is not supported")
            got = await self._c.getmany(float(timeout_ms), None)
            for records in got.values():
                self._buffer.extend(records)
        return self._buffer.popleft() if self._buffer else None

    def _give_back(self):
        """Moves each partition back to its first record fetched but not yielded."""
        first = {}
        for r in self._buffer:
            first.setdefault((r.topic, r.partition), r.offset)
        self._buffer.clear()
        for (topic, partition), offset in first.items():
            self._c.seek(TopicPartition(topic, partition), offset)

    async def commit(self, offsets=None):
        """Commits the positions of the assigned partitions, or `offsets`
        (`{TopicPartition: offset or OffsetAndMetadata}`); returns once the broker took them and
        raises its refusal, from a rebalance listener too (the rebalance waits for it)."""
        self._give_back()
        await self._c.commit(offsets)

    async def committed(self, partition, metadata=False):
        """The committed offset of `partition` (`OffsetAndMetadata` with `metadata=True`), or
        None."""
        return await self._c.committed(partition, metadata)

    async def position(self, partition):
        """The offset of the next record of `partition`."""
        self._give_back()
        return await self._c.position(partition)

    def seek(self, partition, offset):
        """Moves the position of `partition` (returns at once; applied before the next
        `getmany`)."""
        self._give_back()
        self._c.seek(partition, offset)

    async def seek_to_beginning(self, *partitions):
        """Moves `partitions` (all assigned when none) to their first offset."""
        self._give_back()
        await self._c.seek_to_beginning(*partitions)

    async def seek_to_end(self, *partitions):
        """Moves `partitions` (all assigned when none) to their end."""
        self._give_back()
        await self._c.seek_to_end(*partitions)

    async def seek_to_committed(self, *partitions):
        """Moves `partitions` (all assigned when none) to their committed offsets."""
        tps = partitions or tuple(self.assignment())
        for tp in tps:
            offset = await self.committed(tp)
            if offset is not None:
                self.seek(tp, offset)

    def pause(self, *partitions):
        """Stops fetching from `partitions` until `resume` (returns at once)."""
        self._give_back()
        self._c.pause(*partitions)

    def resume(self, *partitions):
        """Fetches from paused `partitions` again (returns at once)."""
        self._c.resume(*partitions)

    async def beginning_offsets(self, partitions):
        """`{TopicPartition: first offset}`."""
        return await self._c.beginning_offsets(list(partitions))

    async def end_offsets(self, partitions):
        """`{TopicPartition: log end offset}`."""
        return await self._c.end_offsets(list(partitions))

    async def topics(self):
        """Every topic's name (internal ones excluded), as a set."""
        return await self._c.topics()

    def __aiter__(self):
        return self

    async def __anext__(self):
        loop = asyncio.get_running_loop()
        deadline = None if self._timeout_ms is None else loop.time() + self._timeout_ms / 1000
        while True:
            wait_ms = 500.0 if deadline is None else max(0.0, min(500.0, (deadline - loop.time()) * 1000))
            record = await self._next(wait_ms)
            if record is not None:
                return record
            if deadline is not None and loop.time() >= deadline:
                raise StopAsyncIteration

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.stop()
