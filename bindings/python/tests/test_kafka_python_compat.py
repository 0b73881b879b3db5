"""kafka-python code runs unchanged: the consumer without a group, kafka-python's signatures
(commit_async, committed, close, poll, offsets_for_times), its lookups (partitions_for_topic,
topics, highwater, metrics, bootstrap_connected), its future, its records, its error names,
rebalance listeners that use their consumer, and a clean `from krafty import *`."""

import pickle
import threading
import time
import uuid

import pytest

import krafty
from conftest import devbroker_only
from krafty import (KafkaConsumer, KafkaProducer, OffsetAndMetadata, OffsetAndTimestamp,
                    TopicPartition, errors)
from krafty._krafty import ConsumerRecord, RecordMetadata


def produce(bootstrap, topic, per_partition, partitions=(0, 1, 2), headers=None):
    """Sends `p-i` to each partition p, i in 0..per_partition; returns {(p, offset): value}."""
    sent = {}
    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0) as p:
        for part in partitions:
            for i in range(per_partition):
                value = f"{part}-{i}".encode()
                md = p.send(topic, value, partition=part, headers=headers).get(10)
                sent[(part, md.offset)] = value
    return sent


def read(consumer, count, timeout=20.0):
    out, deadline = [], time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            out.extend(records)
    return out


def group(topic, what):
    return f"{what}-{topic}-{uuid.uuid4().hex[:6]}"


# --- the consumer without group_id ------------------------------------------------------------

def test_consumer_without_group_id_reads_every_partition_and_refuses_commits(bootstrap, topic):
    sent = produce(bootstrap, topic, 4)
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    got = read(c, 12)
    assert {(r.partition, r.offset): r.value for r in got} == sent
    assert len(got) == 12, "each record once"
    assert c.assignment() == {TopicPartition(topic, p) for p in range(3)}
    assert c.subscription() == {topic}
    # kafka-python: IllegalStateError('Requires group_id') for every commit and committed().
    with pytest.raises(errors.IllegalStateError, match="group.id"):
        c.commit()
    with pytest.raises(errors.IllegalStateError):
        c.commit_async()
    with pytest.raises(errors.IllegalStateError):
        c.committed(TopicPartition(topic, 0))
    c.close()  # enable_auto_commit defaults to true: closing must not try to commit


# --- commit_async, commit, committed -----------------------------------------------------------

def test_commit_async_takes_offsets_and_a_callback_of_offsets_and_outcome(bootstrap, topic):
    produce(bootstrap, topic, 3, partitions=(0,))
    tp = TopicPartition(topic, 0)
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group(topic, "ca"),
                      auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([tp])
    assert len(read(c, 3)) == 3
    calls, done = [], threading.Event()

    def callback(offsets, response):
        calls.append((offsets, response))
        done.set()

    # Positional, as kafka-python: the dict is the offsets (it was once taken as the callback).
    c.commit_async({tp: OffsetAndMetadata(1, "first", -1)}, callback)
    assert done.wait(10)
    assert calls == [({tp: OffsetAndMetadata(1, "first", -1)}, None)]
    assert c.committed(tp) == 1
    assert c.committed(tp, metadata=True) == OffsetAndMetadata(1, "first", -1)

    done.clear()
    c.commit_async(callback=callback)  # keywords, the current position
    assert done.wait(10)
    offsets, response = calls[1]
    assert response is None and offsets[tp].offset == 3
    assert c.committed(tp) == 3

    with pytest.raises(TypeError, match="callback="):
        c.commit_async(lambda offsets, response: None)  # a callable is not offsets
    c.close()


def test_commit_takes_offset_and_metadata_in_both_forms(bootstrap, topic):
    produce(bootstrap, topic, 2, partitions=(0, 1))
    t0, t1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group(topic, "oam"),
                      auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([t0, t1])
    read(c, 4)
    c.commit({t0: OffsetAndMetadata(2, "three-fields", 0), t1: (1, "two-fields")})
    assert c.committed(t0, metadata=True) == OffsetAndMetadata(2, "three-fields", 0)
    assert c.committed(t1, metadata=True) == OffsetAndMetadata(1, "two-fields", -1)
    c.commit({t1: OffsetAndMetadata(2, "", -1)}, timeout_ms=10000)
    assert (c.committed(t0), c.committed(t1, timeout_ms=10000)) == (2, 2)
    assert OffsetAndMetadata(5) == (5, "", -1), "kafka-python's defaults"
    c.close()


def test_close_without_autocommit_commits_nothing(bootstrap, topic):
    produce(bootstrap, topic, 3, partitions=(0,))
    tp = TopicPartition(topic, 0)
    g = group(topic, "close")
    cfg = dict(bootstrap_servers=bootstrap, group_id=g, auto_offset_reset="earliest",
               enable_auto_commit=True, auto_commit_interval_ms=600000)
    a = KafkaConsumer(topic, **cfg)
    assert len(read(a, 3)) == 3
    a.close(autocommit=False, timeout_ms=10000)
    b = KafkaConsumer(**cfg)
    assert b.committed(tp) is None
    b.subscribe([topic])
    assert [r.offset for r in read(b, 3)] == [0, 1, 2]
    b.close()  # autocommit=True by default: the position is committed on close
    c = KafkaConsumer(**cfg)
    assert c.committed(tp) == 3
    c.close()


# --- poll, configuration dict, offsets_for_times ---------------------------------------------

def test_poll_takes_float_and_none_timeouts_and_the_consumer_a_config_dict(bootstrap, topic):
    sent = produce(bootstrap, topic, 2)
    c = KafkaConsumer(topic, {"bootstrap.servers": bootstrap, "group.id": group(topic, "dict"),
                              "auto.offset.reset": "earliest"})
    got = []
    got.extend(r for rs in c.poll(timeout_ms=None).values() for r in rs)  # waits for records
    assert got, "poll(None) returns once records come"
    deadline = time.monotonic() + 20
    while len(got) < 6 and time.monotonic() < deadline:
        got.extend(r for rs in c.poll(timeout_ms=150.5).values() for r in rs)
    assert {(r.partition, r.offset): r.value for r in got} == sent
    started = time.monotonic()
    assert c.poll(timeout_ms=0.5) == {}
    assert time.monotonic() - started < 5
    c.close()
    # A dict alone, without topics, then subscribe.
    d = KafkaConsumer({"bootstrap.servers": bootstrap, "group.id": group(topic, "dict2"),
                       "auto.offset.reset": "earliest"})
    d.subscribe([topic])
    assert len(read(d, 6)) == 6
    d.close()


def test_offsets_for_times_returns_offset_and_timestamp(bootstrap, topic):
    tp = TopicPartition(topic, 0)
    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0) as p:
        for ts in (1_000_000, 2_000_000, 3_000_000):
            p.send(topic, b"v", partition=0, timestamp_ms=ts).get(10)
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    found = c.offsets_for_times({tp: 1_500_000, TopicPartition(topic, 1): 0}, timeout_ms=10000)
    hit = found[tp]
    assert isinstance(hit, OffsetAndTimestamp)
    assert (hit.offset, hit.timestamp) == (1, 2_000_000)
    assert found[TopicPartition(topic, 1)] is None, "an empty partition has no such record"
    assert c.offsets_for_times({tp: 4_000_000})[tp] is None
    c.close()


# --- lookups and metrics -----------------------------------------------------------------------

def test_partitions_topics_highwater_metrics_and_bootstrap_connected(bootstrap, topic):
    produce(bootstrap, topic, 4, partitions=(1,))
    tp = TopicPartition(topic, 1)
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      allow_auto_create_topics=False)
    assert c.bootstrap_connected()
    assert c.partitions_for_topic(topic) == {0, 1, 2}
    assert c.partitions_for_topic("missing-" + uuid.uuid4().hex) is None
    assert topic in c.topics() and "__consumer_offsets" not in c.topics()
    c.assign([tp])
    assert c.highwater(tp) is None, "no fetch answered yet"
    got = read(c, 4)
    assert len(got) == 4
    assert c.highwater(tp) == 4
    fetch = c.metrics()["consumer-fetch-manager-metrics"]
    assert fetch["records-consumed-total"] == 4
    assert fetch["bytes-consumed-total"] == sum(len(r.value) for r in got)
    c.close()

    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0) as p:
        p.send_batch(topic, [b"a", b"b", b"c"], partition=0).get(10)
        assert p.metrics()["producer-metrics"]["record-send-total"] == 3


# --- the future ---------------------------------------------------------------------------------

def test_future_callbacks_take_extra_arguments_and_add_both(bootstrap, topic):
    seen = []
    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0) as p:
        f = p.send(topic, b"x", partition=2)
        f.add_callback(lambda tag, md, sep="": seen.append(("cb", tag, md.offset, sep)), "t", sep="!")
        f.add_both(lambda tag, outcome: seen.append(("both", tag, outcome.topic_partition)), "b")
        f.add_errback(lambda tag, exc: seen.append(("eb", tag)), "never")
        md = f.get(10)
        assert not f.retriable()
    assert seen == [("cb", "t", md.offset, "!"), ("both", "b", TopicPartition(topic, 2))]


@devbroker_only
def test_failed_future_says_whether_it_is_retriable(broker, topic):
    bs = broker.bootstrap_servers
    with KafkaProducer(bootstrap_servers=bs, linger_ms=0, retries=0, enable_idempotence=False,
                       acks=1) as p:
        p.send(topic, b"warm", partition=0).get(10)
        broker.fail_next(0, 87, 1, topic)  # INVALID_RECORD: not retriable
        f = p.send(topic, b"bad", partition=0)
        errs = []
        f.add_both(lambda outcome: errs.append(outcome))
        with pytest.raises(errors.InvalidRecordError):
            f.get(10)
        assert isinstance(errs[0], errors.InvalidRecordError) and not f.retriable()
        broker.fail_next(0, 6, 1, topic)  # NOT_LEADER_OR_FOLLOWER: retriable
        g = p.send(topic, b"moved", partition=0)
        with pytest.raises(errors.NotLeaderForPartitionError):
            g.get(10)
        assert g.retriable()


# --- records ------------------------------------------------------------------------------------

def test_records_are_constructible_comparable_and_picklable(bootstrap, topic):
    md = RecordMetadata(topic, 1, TopicPartition(topic, 1), 7, 1000, None, 3, 5, -1)
    assert md.topic_partition == TopicPartition(topic, 1)
    assert md == RecordMetadata(topic=topic, partition=1, offset=7, timestamp=1000,
                                serialized_key_size=3, serialized_value_size=5)
    assert md != RecordMetadata(topic, 1, None, 8, 1000, None, 3, 5, -1)
    assert pickle.loads(pickle.dumps(md)) == md and hash(pickle.loads(pickle.dumps(md))) == hash(md)

    rec = ConsumerRecord(topic, 0, None, 4, 1000, 0, b"k", b"v", [("h", b"1")], None, 1, 1, 2)
    assert (rec.offset, rec.key, rec.value, rec.serialized_header_size) == (4, b"k", b"v", 2)
    assert rec == ConsumerRecord(topic, 0, offset=4, timestamp=1000, key=b"k", value=b"v",
                                 headers=[("h", b"1")], serialized_key_size=1,
                                 serialized_value_size=1, serialized_header_size=2)
    assert pickle.loads(pickle.dumps(rec)) == rec

    # Real ones: header sizes as kafka-python counts them (names' UTF-8 bytes + values).
    headers = [("trace", b"abc"), ("empty", None)]
    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0) as p:
        sent = p.send(topic, b"value", key=b"key", partition=0, headers=headers).get(10)
        plain = p.send(topic, b"value", partition=0).get(10)
    assert (sent.serialized_header_size, plain.serialized_header_size) == (13, -1)
    assert sent.topic_partition == TopicPartition(topic, 0)
    assert pickle.loads(pickle.dumps(sent)) == sent
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    c.assign([TopicPartition(topic, 0)])
    got = read(c, 2)
    c.close()
    assert [r.serialized_header_size for r in got] == [13, -1]
    assert got[0].headers == headers and got[0].checksum is None
    assert pickle.loads(pickle.dumps(got[0])) == got[0]
    assert got[0] != got[1]


# --- errors -------------------------------------------------------------------------------------

def test_kafka_python_error_names_codes_and_retriable():
    assert errors.BrokerResponseError is errors.BrokerError
    assert errors.KafkaConfigurationError is errors.ConfigError
    assert errors.NotLeaderForPartitionError is errors.NotLeaderOrFollowerError
    assert errors.MessageSizeTooLargeError is errors.MessageTooLargeError
    assert issubclass(errors.NoBrokersAvailable, errors.KafkaConnectionError)
    for cls in (errors.IllegalGenerationError, errors.UnknownMemberIdError,
                errors.RebalanceInProgressError):
        assert issubclass(cls, errors.CommitFailedError) and issubclass(cls, errors.BrokerResponseError)
    assert errors.NotLeaderForPartitionError.errno == 6 == errors.NotLeaderForPartitionError.code
    assert errors.NotLeaderForPartitionError.retriable and errors.KafkaConnectionError.retriable
    assert not errors.MessageSizeTooLargeError.retriable
    assert not errors.InvalidTopicError.retriable and errors.CoordinatorNotAvailableError.retriable
    assert errors.error_for_code(7) is errors.RequestTimedOutError
    assert not issubclass(errors.RequestTimedOutError, errors.KafkaTimeoutError)
    assert errors.KafkaTimeoutError.code is None and errors.KafkaTimeoutError.retriable
    e = errors.error_for_code(3)("gone")
    assert (e.errno, e.code, e.retriable) == (3, 3, True)


def test_client_side_timeout_is_not_request_timed_out(bootstrap, topic):
    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=60000) as p:
        f = p.send(topic, b"lingering", partition=0)
        with pytest.raises(errors.KafkaTimeoutError) as raised:
            f.get(timeout=0.05)
        assert raised.value.code is None and raised.value.errno is None
        assert raised.value.name != "REQUEST_TIMED_OUT"
        assert not isinstance(raised.value, errors.RequestTimedOutError)
        p.flush(10)


def test_serializer_exceptions_are_the_cause(bootstrap, topic):
    def refuse(value):
        raise ValueError(f"cannot serialize {value!r}")

    with KafkaProducer(bootstrap_servers=bootstrap, value_serializer=refuse) as p:
        with pytest.raises(errors.SerializationError) as raised:
            p.send(topic, {"a": 1})
        assert isinstance(raised.value.__cause__, ValueError)
        assert "cannot serialize" in str(raised.value.__cause__)
        with pytest.raises(errors.SerializationError) as raised:
            p.send_batch(topic, [{"b": 2}])
        assert isinstance(raised.value.__cause__, ValueError)


def test_no_reachable_bootstrap_is_no_brokers_available():
    with pytest.raises(errors.NoBrokersAvailable):
        KafkaConsumer(bootstrap_servers="127.0.0.1:1", socket_connection_setup_timeout_ms=1000)
    with pytest.raises(errors.KafkaConnectionError):
        KafkaProducer(bootstrap_servers="127.0.0.1:1", socket_connection_setup_timeout_ms=1000)


@devbroker_only
def test_commit_rejected_by_the_group_is_commit_failed(broker, topic):
    bs = broker.bootstrap_servers
    produce(bs, topic, 1, partitions=(0,))
    c = KafkaConsumer(topic, bootstrap_servers=bs, group_id="cf-" + topic,
                      auto_offset_reset="earliest", enable_auto_commit=False)
    assert len(read(c, 1)) == 1
    broker.fail_next(8, 22)  # OffsetCommit -> ILLEGAL_GENERATION
    with pytest.raises(errors.CommitFailedError) as raised:
        c.commit()
    assert isinstance(raised.value, errors.IllegalGenerationError) and raised.value.errno == 22
    c.close(autocommit=False)


# --- rebalance listeners ---------------------------------------------------------------------

def test_rebalance_listener_may_use_its_consumer(bootstrap, topic):
    produce(bootstrap, topic, 6)
    g = group(topic, "listener")
    t0, t1, t2 = (TopicPartition(topic, p) for p in range(3))
    first = KafkaConsumer(bootstrap_servers=bootstrap, group_id=g, enable_auto_commit=False)
    first.assign([t0, t1])
    first.commit({t0: 5, t1: 4})  # where the group left off
    first.close()

    seen = {}

    class UsesConsumer:
        def __init__(self, consumer):
            self.consumer = consumer

        def on_partitions_revoked(self, partitions):
            pass

        def on_partitions_assigned(self, partitions):
            c = self.consumer
            seen["committed"] = (c.committed(t0), c.committed(t2))
            seen["position"] = (c.position(t0), c.position(t2))  # committed, else the reset
            c.seek_to_beginning(t1)
            seen["after_seek_to_beginning"] = c.position(t1)
            c.seek(t0, 2)
            c.commit({t2: OffsetAndMetadata(3, "listener", -1)})
            seen["assignment"] = c.assignment()
            seen["end"] = c.end_offsets([t0])

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=g, auto_offset_reset="latest",
                      enable_auto_commit=False)
    c.subscribe([topic], listener=UsesConsumer(c))
    got = read(c, 4 + 6)
    assert seen["committed"] == (5, None)
    assert seen["position"] == (5, 6)
    assert seen["after_seek_to_beginning"] == 0
    assert seen["assignment"] == {t0, t1, t2}
    assert seen["end"] == {t0: 6}
    by_partition = {}
    for r in got:
        by_partition.setdefault(r.partition, []).append(r.offset)
    # t0 from the listener's seek, t1 from its seek_to_beginning; t2 where the listener's
    # position() put it (as in Java, looking a position up fixes it: the end, by "latest").
    assert by_partition == {0: [2, 3, 4, 5], 1: [0, 1, 2, 3, 4, 5]}
    assert c.position(t2) == 6
    assert c.committed(t2, metadata=True) == OffsetAndMetadata(3, "listener", -1)
    c.close()


def test_commits_in_on_partitions_revoked_wait_for_the_broker_and_raise_its_refusal(bootstrap, topic):
    produce(bootstrap, topic, 3, partitions=(0, 1))
    g = group(topic, "revoke-commit")
    t0, t1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    # Reads the group's commits while the listener runs (it joins nothing).
    other = KafkaConsumer(bootstrap_servers=bootstrap, group_id=g, enable_auto_commit=False)
    seen = {}

    def commit_elsewhere():
        try:
            c.commit({t1: 1})
        except errors.KafkaError:
            pass  # t1 was revoked meanwhile: refused, as any commit of it after the rebalance

    class CommitsOnRevoke:
        def on_partitions_assigned(self, partitions):
            pass

        def on_partitions_revoked(self, partitions):
            # Brokers refuse metadata over 4096 bytes (OFFSET_METADATA_TOO_LARGE, 12).
            try:
                c.commit({t0: OffsetAndMetadata(1, "m" * 4097, -1)})
                seen["refused"] = None
            except errors.KafkaError as e:
                seen["refused"] = e
            seen["after_refusal"] = other.committed(t0)
            seen["positions"] = {tp: c.position(tp) for tp in partitions}
            # Another thread's commit does not go through this listener's context: it waits
            # for the consumer, which the rebalance holds until the listener returns.
            elsewhere = threading.Thread(target=commit_elsewhere)
            elsewhere.start()
            elsewhere.join(0.5)
            seen["elsewhere_waited"] = elsewhere.is_alive()
            seen["thread"] = elsewhere
            c.commit()
            seen["committed"] = {tp: other.committed(tp) for tp in partitions}

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=g, auto_offset_reset="earliest",
                      enable_auto_commit=False)
    c.subscribe([topic], listener=CommitsOnRevoke())
    assert len(read(c, 6)) == 6
    c.close()  # revokes through the listener
    refused = seen["refused"]
    assert isinstance(refused, errors.OffsetMetadataTooLargeError), repr(refused)
    assert refused.errno == 12 and refused.code == 12
    assert seen["after_refusal"] is None
    everything = {TopicPartition(topic, p) for p in range(3)}
    assert seen["positions"] == {tp: 3 if tp in (t0, t1) else 0 for tp in everything}
    assert seen["committed"] == seen["positions"], "commit() returned after the broker took it"
    assert seen["elsewhere_waited"]
    seen["thread"].join(10)
    assert not seen["thread"].is_alive()
    other.close()


def test_commit_async_in_on_partitions_revoked_commits_before_the_rebalance_goes_on(bootstrap, topic):
    produce(bootstrap, topic, 2, partitions=(0,))
    g = group(topic, "revoke-commit-async")
    t0 = TopicPartition(topic, 0)
    other = KafkaConsumer(bootstrap_servers=bootstrap, group_id=g, enable_auto_commit=False)
    calls, seen = [], {}
    both = threading.Semaphore(0)

    def callback(offsets, exception):
        calls.append((offsets, exception))
        both.release()

    class CommitsAsyncOnRevoke:
        def on_partitions_assigned(self, partitions):
            pass

        def on_partitions_revoked(self, partitions):
            c.commit_async({t0: OffsetAndMetadata(1, "m" * 4097, -1)}, callback)
            c.commit_async(callback=callback)
            seen["committed"] = other.committed(t0)

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=g, auto_offset_reset="earliest",
                      enable_auto_commit=False)
    c.subscribe([topic], listener=CommitsAsyncOnRevoke())
    assert len(read(c, 2)) == 2
    c.close()
    assert both.acquire(timeout=10) and both.acquire(timeout=10)
    (refused_offsets, refused), (offsets, ok) = calls
    assert refused_offsets == {t0: OffsetAndMetadata(1, "m" * 4097, -1)}
    assert isinstance(refused, errors.OffsetMetadataTooLargeError) and refused.errno == 12
    assert ok is None and offsets[t0] == OffsetAndMetadata(2, "", -1)
    assert seen["committed"] == 2, "committed before the partitions were given up"
    other.close()


def test_listener_scope_is_per_consumer(bootstrap, topic):
    produce(bootstrap, topic, 3, partitions=(0,))
    t0 = TopicPartition(topic, 0)
    other = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    other.assign([t0])
    seen = []

    class CallsAnotherConsumer:
        def on_partitions_revoked(self, partitions):
            pass

        def on_partitions_assigned(self, partitions):
            other.seek(t0, 1)
            seen.append((other.position(t0), other.assignment()))

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group(topic, "scope"),
                      auto_offset_reset="earliest")
    c.subscribe([topic], listener=CallsAnotherConsumer())
    assert len(read(c, 3)) == 3
    assert seen == [(1, {t0})]
    assert [r.offset for r in read(other, 2)] == [1, 2], "the seek went to the other consumer"
    c.close()
    other.close()


# --- the package's namespace ----------------------------------------------------------------

def test_star_import_exports_exactly_all():
    namespace = {}
    exec("from krafty import *", namespace)
    exported = set(namespace) - {"__builtins__"}
    assert exported == set(krafty.__all__)
    assert {"OffsetAndMetadata", "OffsetAndTimestamp", "TopicPartition"} <= exported
    assert not hasattr(krafty, "namedtuple")
    stray = {n for n in dir(krafty) if n.isidentifier() and not n.startswith("_")} - set(krafty.__all__)
    assert stray <= {"admin", "aio", "structs", "testing"}, stray  # submodules only
    errors_namespace = {}
    exec("from krafty.errors import *", errors_namespace)
    assert {"Dict", "Optional", "Type"}.isdisjoint(errors_namespace)
    assert {"CommitFailedError", "NoBrokersAvailable", "RequestTimedOutError"} <= set(errors_namespace)
