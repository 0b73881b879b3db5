"""krafty.aio: aiokafka's API (AIOKafkaProducer, AIOKafkaConsumer) without blocking the loop.

pytest-asyncio is not a dependency: each test runs its coroutine with asyncio.run.
"""

import asyncio
import threading
import time

from conftest import devbroker_only
from krafty import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from krafty.aio import ConsumerRebalanceListener

N = 60


async def produce(bootstrap, topic, n=N):
    """Sends n keyed records over the topic's partitions; returns their metadata by value."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    futures = [await producer.send(topic, b"v%d" % i, key=b"k%d" % (i % 7)) for i in range(n)]
    mds = await asyncio.gather(*futures)
    await producer.stop()
    return {b"v%d" % i: md for i, md in enumerate(mds)}


def by_partition(sent):
    """{partition: [(offset, value)]} in offset order, as a consumer must see them."""
    out = {}
    for value, md in sent.items():
        out.setdefault(md.partition, []).append((md.offset, value))
    return {p: sorted(rs) for p, rs in out.items()}


def test_constructors_take_aiokafkas_names_and_touch_no_network():
    import pytest
    from krafty import errors

    async def main():
        started = time.monotonic()
        # Nothing listens on port 1: a constructor that connected would fail or wait.
        producer = AIOKafkaProducer(loop=None, bootstrap_servers=["127.0.0.1:1"], client_id="c",
                                    acks="all", compression_type="gzip", max_batch_size=32768,
                                    linger_ms=5, enable_idempotence=True, request_timeout_ms=5000,
                                    key_serializer=str.encode, value_serializer=str.encode,
                                    api_version="auto")
        consumer = AIOKafkaConsumer("t", loop=None, bootstrap_servers="127.0.0.1:1",
                                    group_id="g", client_id="c", key_deserializer=bytes.decode,
                                    value_deserializer=bytes.decode, auto_offset_reset="earliest",
                                    enable_auto_commit=False, auto_commit_interval_ms=1000,
                                    max_poll_records=10, session_timeout_ms=10000,
                                    heartbeat_interval_ms=1000, fetch_max_wait_ms=100,
                                    isolation_level="read_committed", consumer_timeout_ms=100,
                                    api_version="auto")
        took = time.monotonic() - started
        with pytest.raises(errors.ConfigError) as e:
            AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", no_such_option=1)
        return producer, consumer, took, e.value.property

    producer, consumer, took, prop = asyncio.run(main())
    assert took < 0.5
    assert prop == "no.such.option"


def test_getmany_reads_back_exactly_what_was_sent(bootstrap, topic):
    async def main():
        sent = await produce(bootstrap, topic)
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="g-" + topic,
                                    auto_offset_reset="earliest")
        await consumer.start()
        got = {}
        deadline = asyncio.get_running_loop().time() + 30
        while sum(map(len, got.values())) < N and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=7)
            assert sum(map(len, batch.values())) <= 7
            for tp, records in batch.items():
                assert all(r.topic == tp.topic and r.partition == tp.partition for r in records)
                got.setdefault(tp.partition, []).extend((r.offset, r.value) for r in records)
        await consumer.stop()
        return sent, got

    sent, got = asyncio.run(main())
    assert got == by_partition(sent)
    assert len({md.partition for md in sent.values()}) > 1, "keys spread over partitions"


def test_async_for_reads_back_exactly_and_ends_after_consumer_timeout(bootstrap, topic):
    async def main():
        sent = await produce(bootstrap, topic)
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="g-" + topic,
                                    auto_offset_reset="earliest", consumer_timeout_ms=3000)
        await consumer.start()
        got = {}
        loop = asyncio.get_running_loop()
        last = loop.time()
        async for r in consumer:
            got.setdefault(r.partition, []).append((r.offset, r.value))
            last = loop.time()
        idle = loop.time() - last
        await consumer.stop()
        return sent, got, idle

    sent, got, idle = asyncio.run(main())
    assert got == by_partition(sent)
    assert 2.9 <= idle < 10, f"async for ended {idle:.2f} s after the last record"


def test_consumer_timeout_ends_async_for_on_an_empty_topic(bootstrap, topic):
    async def main():
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=1000)
        await consumer.start()
        consumer.assign([TopicPartition(topic, 0)])
        loop = asyncio.get_running_loop()
        started = loop.time()
        records = [r async for r in consumer]
        took = loop.time() - started
        await consumer.stop()
        return records, took

    records, took = asyncio.run(main())
    assert records == []
    assert 0.9 <= took < 5, f"ended after {took:.2f} s"


def test_send_and_wait_returns_the_offset_and_batches_append(bootstrap, topic):
    async def main():
        async with AIOKafkaProducer(bootstrap_servers=bootstrap,
                                    value_serializer=lambda v: v.encode()) as producer:
            mds = [await producer.send_and_wait(topic, "m%d" % i, partition=1) for i in range(3)]
            batch = producer.create_batch()
            for i in range(4):
                assert batch.append(key=None, value=b"b%d" % i) is not None
            first = await (await producer.send_batch(batch, topic, partition=1))
            parts = await producer.partitions_for(topic)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        consumer.assign([TopicPartition(topic, 1)])
        await consumer.start()
        values = []
        while len(values) < 7:
            values.append((await asyncio.wait_for(consumer.getone(), 30)).value)
        await consumer.stop()
        return mds, first, parts, values

    mds, first, parts, values = asyncio.run(main())
    assert [(md.topic, md.partition, md.offset) for md in mds] == [(topic, 1, 0), (topic, 1, 1), (topic, 1, 2)]
    assert (first.partition, first.offset) == (1, 3), "the batch's first record"
    assert parts == {0, 1, 2}
    assert values == [b"m0", b"m1", b"m2", b"b0", b"b1", b"b2", b"b3"]


def test_commits_in_a_revoking_listener_wait_for_the_broker_and_raise_its_refusal(bootstrap, topic):
    from krafty import OffsetAndMetadata, errors

    seen = {}

    async def main():
        sent = await produce(bootstrap, topic, 20)
        g = "revoke-commit-" + topic
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=g,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        other = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=g)  # joins nothing
        await other.start()

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                if not revoked:
                    return
                tp = min(revoked)
                # Brokers refuse metadata over 4096 bytes (OFFSET_METADATA_TOO_LARGE, 12).
                try:
                    await consumer.commit({tp: OffsetAndMetadata(1, "m" * 4097, -1)})
                    seen["refused"] = None
                except errors.KafkaError as e:
                    seen["refused"] = e
                seen["after_refusal"] = await other.committed(tp)
                seen["positions"] = {tp: await consumer.position(tp) for tp in revoked}
                await consumer.commit()
                seen["committed"] = {tp: await other.committed(tp) for tp in revoked}

        consumer.subscribe([topic], listener=Listener())
        await consumer.start()
        got = 0
        deadline = asyncio.get_running_loop().time() + 30
        while got < 20 and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            got += sum(map(len, batch.values()))
        await consumer.stop()  # revokes through the listener
        await other.stop()
        return sent

    sent = asyncio.run(main())
    refused = seen["refused"]
    assert isinstance(refused, errors.OffsetMetadataTooLargeError), repr(refused)
    assert refused.errno == 12 and refused.code == 12
    assert seen["after_refusal"] is None
    everything = {TopicPartition(topic, p) for p in range(3)}
    ends = {TopicPartition(topic, p): len(rs) for p, rs in by_partition(sent).items()}
    assert seen["positions"] == {tp: ends.get(tp, 0) for tp in everything}
    assert seen["committed"] == seen["positions"], "commit() resolved after the broker took it"


def test_listener_coroutines_run_on_the_loop_thread_and_see_the_assignment(bootstrap, topic):
    calls = []

    async def main():
        sent = await produce(bootstrap, topic, 20)
        loop_thread = threading.get_ident()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="g-" + topic,
                                    auto_offset_reset="earliest", enable_auto_commit=False)

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                await asyncio.sleep(0.01)  # a real coroutine: the rebalance waits for it
                calls.append(("revoked", threading.get_ident() == loop_thread, set(revoked),
                              consumer.assignment()))
                await consumer.commit()  # lands before the partitions go

            async def on_partitions_assigned(self, assigned):
                await asyncio.sleep(0.01)
                positions = {tp: await consumer.position(tp) for tp in assigned}
                calls.append(("assigned", threading.get_ident() == loop_thread, set(assigned),
                              consumer.assignment(), positions))

        consumer.subscribe([topic], listener=Listener())
        await consumer.start()
        got = 0
        deadline = asyncio.get_running_loop().time() + 30
        while got < 20 and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            got += sum(map(len, batch.values()))
        assigned = consumer.assignment()
        await consumer.stop()
        # A second member of the group sees what the revoking listener committed.
        other = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="g-" + topic)
        await other.start()
        committed = {tp: await other.committed(tp) for tp in assigned}
        await other.stop()
        return sent, assigned, committed

    sent, assigned, committed = asyncio.run(main())
    everything = {TopicPartition(topic, p) for p in range(3)}
    assert assigned == everything
    first = calls[0]
    assert first[:4] == ("assigned", True, everything, everything)
    assert first[4] == {tp: 0 for tp in everything}, "positions from the listener, nothing committed"
    assert calls[-1][:4] == ("revoked", True, everything, everything), "stop() revokes through the listener"
    ends = {tp: len(rs) for tp, rs in
            ((TopicPartition(topic, p), rs) for p, rs in by_partition(sent).items())}
    assert committed == {tp: ends.get(tp, 0) for tp in everything}


def test_commit_then_committed_returns_it(bootstrap, topic):
    async def main():
        await produce(bootstrap, topic, 10)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="g-" + topic,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.start()
        before = await consumer.committed(tp)
        await consumer.commit({tp: 3})
        explicit = await consumer.committed(tp)
        consumer.seek(tp, 5)
        assert await consumer.position(tp) == 5
        await consumer.commit()
        current = await consumer.committed(tp, metadata=True)
        await consumer.seek_to_end(tp)
        end = await consumer.position(tp)
        await consumer.seek_to_beginning(tp)
        start = await consumer.position(tp)
        await consumer.stop()
        return before, explicit, current, end, start

    before, explicit, current, end, start = asyncio.run(main())
    assert (before, explicit, current.offset, start) == (None, 3, 5, 0)
    assert end >= 0


def test_commit_after_async_for_covers_exactly_the_records_yielded(bootstrap, topic):
    async def main():
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
            for i in range(50):
                await producer.send(topic, b"%d" % i, partition=0)
        tp = TopicPartition(topic, 0)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="g-" + topic,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    consumer_timeout_ms=2000)
        consumer.assign([tp])
        await consumer.start()
        first = []
        async for r in consumer:
            first.append(int(r.value))
            if len(first) == 17:
                break
        position = await consumer.position(tp)
        await consumer.commit()
        committed = await consumer.committed(tp)
        rest = [int(r.value) async for r in consumer]
        await consumer.stop()
        return first, position, committed, rest

    first, position, committed, rest = asyncio.run(main())
    assert first == list(range(17))
    assert (position, committed) == (17, 17), "records fetched but not yielded are not counted"
    assert rest == list(range(17, 50)), "nor lost"


@devbroker_only
def test_the_loop_is_never_blocked_while_the_broker_answers_slowly(broker, topic):
    """start, send, send_and_wait, flush, getmany, commit and stop each wait on a broker that
    delays its answers by 400 ms; a task ticking every 10 ms keeps ticking throughout."""
    latency_ms = 400
    # ApiVersions (start's connections), Metadata, Produce, OffsetCommit, OffsetFetch,
    # JoinGroup, LeaveGroup.
    for api in (18, 3, 0, 8, 9, 11, 13):
        broker.add_latency(api, latency_ms)

    async def main():
        loop = asyncio.get_running_loop()
        gaps, stop = [], asyncio.Event()

        async def tick():
            last = loop.time()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = loop.time()
                gaps.append(now - last)
                last = now

        ticker = asyncio.ensure_future(tick())
        timed = {}

        async def timed_step(name, aw):
            started = loop.time()
            result = await aw
            timed[name] = loop.time() - started
            return result

        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=0)
        await timed_step("producer.start", producer.start())
        future = await timed_step("send", producer.send(topic, b"first", partition=0))
        await timed_step("ack", future)
        await timed_step("send_and_wait", producer.send_and_wait(topic, b"second", partition=0))
        await producer.send(topic, b"third", partition=0)
        await timed_step("flush", producer.flush())
        await timed_step("producer.stop", producer.stop())

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap_servers,
                                    group_id="g-" + topic, auto_offset_reset="earliest")
        await timed_step("consumer.start", consumer.start())
        got = []
        while len(got) < 3:
            batch = await timed_step("getmany", consumer.getmany(timeout_ms=1000))
            got.extend(r.value for rs in batch.values() for r in rs)
        await timed_step("commit", consumer.commit())
        await timed_step("consumer.stop", consumer.stop())
        stop.set()
        await ticker
        return gaps, timed, got

    gaps, timed, got = asyncio.run(main())
    print(f"max gap {max(gaps) * 1000:.1f} ms over {len(gaps)} ticks; steps {timed}")
    assert sorted(got) == [b"first", b"second", b"third"]
    # The delays were really waited for (or the test proves nothing) ...
    for step in ("producer.start", "ack", "send_and_wait", "commit", "consumer.stop"):
        assert timed[step] >= latency_ms / 1000 * 0.9, (step, timed)
    # ... while the loop kept running: no gap near the injected latency.
    assert len(gaps) > 100
    assert max(gaps) < 0.15, f"largest gap between ticks {max(gaps) * 1000:.0f} ms; steps {timed}"


def test_a_cancelled_getmany_loses_no_record(bootstrap, topic):
    async def main():
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
            for i in range(30):
                await producer.send(topic, b"%d" % i, partition=2)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        consumer.assign([TopicPartition(topic, 2)])
        await consumer.start()
        got, cancelled = [], 0
        deadline = asyncio.get_running_loop().time() + 20
        timeouts = [0, 0.0002, 0.001, 0.005, 0.05]
        while len(got) < 30 and asyncio.get_running_loop().time() < deadline:
            try:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=200, max_records=3),
                                               timeouts[(len(got) + cancelled) % 5])
                got.extend(int(r.value) for rs in batch.values() for r in rs)
            except asyncio.TimeoutError:
                cancelled += 1
        await consumer.stop()
        return got, cancelled

    got, cancelled = asyncio.run(main())
    assert got == list(range(30)), f"after {cancelled} cancelled steps"
    assert cancelled > 0


@devbroker_only
def test_serializers_run_on_the_loop_thread_even_when_sends_wait(broker, topic):
    """The first sends to a topic wait for its metadata (delayed 300 ms) and the ones after
    queue behind them: every serializer still runs on the loop's thread, none on the clients'
    I/O threads (where the core finishes a send that had to wait)."""
    broker.add_latency(3, 300)  # Metadata
    threads = []

    def serialize(v):
        threads.append(threading.get_ident())
        return v.encode()

    async def main():
        async with AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers,
                                    key_serializer=serialize,
                                    value_serializer=serialize) as producer:
            futures = [await producer.send(topic, "v%d" % i, key="k", partition=0)
                       for i in range(10)]
            batch = producer.create_batch()
            batch.append(key=b"raw", value=b"raw")
            await producer.send_batch(batch, topic, partition=0)
            mds = await asyncio.gather(*futures)
        return threading.get_ident(), mds

    loop_thread, mds = asyncio.run(main())
    assert [md.offset for md in mds] == list(range(10))
    assert len(threads) == 20, "a key and a value per send; the batch's bytes pass as they are"
    assert set(threads) == {loop_thread}, threads


def test_a_serializer_failure_is_raised_by_send_with_its_cause(bootstrap, topic):
    from krafty import errors

    def refuse(v):
        raise ValueError("not this one")

    async def main():
        async with AIOKafkaProducer(bootstrap_servers=bootstrap,
                                    value_serializer=refuse) as producer:
            try:
                await producer.send(topic, "x")
            except errors.SerializationError as e:
                return e

    e = asyncio.run(main())
    assert isinstance(e, errors.SerializationError)
    assert isinstance(e.__cause__, ValueError) and str(e.__cause__) == "not this one"


@devbroker_only
def test_no_aio_call_blocks_the_loop(broker, topic):
    """Every AIOKafkaProducer / AIOKafkaConsumer call that reaches the broker, with each
    answer delayed 250 ms, while a task ticking every 5 ms measures the loop: no gap over
    100 ms. Covers what the test above does not: a first send to a new topic, send_batch,
    partitions_for, getone, async for ended by consumer_timeout_ms, committed, position,
    seek, seek_to_*, end_offsets, topics, and a rebalance listener that commits."""
    latency_ms = 250
    # ApiVersions, Metadata, Produce, Fetch, ListOffsets, OffsetCommit, OffsetFetch,
    # FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup.
    for api in (18, 3, 0, 1, 2, 8, 9, 10, 11, 12, 13, 14):
        broker.add_latency(api, latency_ms)
    bootstrap = broker.bootstrap_servers
    listened = []

    async def main():
        loop = asyncio.get_running_loop()
        gaps, stop = [], asyncio.Event()

        async def tick():
            last = loop.time()
            while not stop.is_set():
                await asyncio.sleep(0.005)
                now = loop.time()
                gaps.append((now - last, step))
                last = now

        step = "constructors"
        ticker = asyncio.ensure_future(tick())
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="g-" + topic,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    consumer_timeout_ms=600)

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_assigned(self, assigned):
                listened.append(("assigned", set(assigned)))
                await consumer.commit({tp: 0 for tp in assigned})

            async def on_partitions_revoked(self, revoked):
                listened.append(("revoked", set(revoked)))
                await consumer.commit()

        timed = {}

        async def timed_step(name, aw):
            nonlocal step
            step = name
            started = loop.time()
            result = await aw
            timed[name] = loop.time() - started
            return result

        await timed_step("producer.start", producer.start())
        first = await timed_step("first send", producer.send(topic, b"first", partition=0))
        await timed_step("ack", first)
        batch = producer.create_batch()
        for i in range(5):
            batch.append(key=None, value=b"b%d" % i)
        await timed_step("send_batch", await producer.send_batch(batch, topic, partition=0))
        parts = await timed_step("partitions_for", producer.partitions_for(topic))
        await producer.send(topic, b"last", partition=0)
        await timed_step("flush", producer.flush())
        await timed_step("producer.stop", producer.stop())

        consumer.subscribe([topic], listener=Listener())
        await timed_step("consumer.start", consumer.start())
        one = await timed_step("getone", consumer.getone())
        rest = []

        async def drain():
            async for r in consumer:
                rest.append(r.value)

        await timed_step("async for", drain())
        tp = TopicPartition(topic, 0)
        await timed_step("commit", consumer.commit())
        committed = await timed_step("committed", consumer.committed(tp))
        position = await timed_step("position", consumer.position(tp))
        consumer.seek(tp, 2)
        await timed_step("seek_to_end", consumer.seek_to_end(tp))
        await timed_step("seek_to_beginning", consumer.seek_to_beginning(tp))
        ends = await timed_step("end_offsets", consumer.end_offsets([tp]))
        names = await timed_step("topics", consumer.topics())
        await timed_step("consumer.stop", consumer.stop())
        step = "done"
        stop.set()
        await ticker
        return gaps, timed, parts, one.value, rest, committed, position, ends, names

    gaps, timed, parts, one, rest, committed, position, ends, names = asyncio.run(main())
    worst = max(gaps)
    print(f"max gap {worst[0] * 1000:.1f} ms (in {worst[1]}) over {len(gaps)} ticks; {timed}")
    assert parts == {0, 1, 2}
    assert [one] + rest == [b"first", b"b0", b"b1", b"b2", b"b3", b"b4", b"last"]
    assert (committed, position) == (7, 7)
    assert ends == {TopicPartition(topic, 0): 7} and topic in names
    assert listened[0][0] == "assigned" and listened[-1][0] == "revoked"
    # The delays were waited for (the calls reached the broker) ...
    for name in ("producer.start", "ack", "send_batch", "flush", "consumer.start", "commit",
                 "committed", "end_offsets", "consumer.stop"):
        assert timed[name] >= latency_ms / 1000 * 0.9, (name, timed)
    # ... while the loop ticked on.
    assert len(gaps) > 200
    assert worst[0] < 0.1, f"a {worst[0] * 1000:.0f} ms gap in {worst[1]}; steps {timed}"


@devbroker_only
def test_send_in_place_resolves_each_delivery_with_its_metadata_or_the_brokers_error(broker, topic):
    """Sends that go in place get their delivery futures resolved per core batch: each with
    its own offset and sizes, and a batch the broker refuses fails its records' futures with
    its error (INVALID_RECORD, not retriable, injected)."""
    from krafty import errors

    async def main():
        async with AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=5,
                                    enable_idempotence=False, retries=0) as producer:
            await (await producer.send(topic, b"warm-up", partition=0))
            futures = [await producer.send(topic, b"v%d" % i, key=b"k" if i % 2 else None,
                                           partition=0, headers=[("h", b"12")] if i == 3 else None)
                       for i in range(50)]
            assert all(isinstance(f, asyncio.Future) for f in futures), "no task per record"
            mds = await asyncio.gather(*futures)
            broker.fail_next(0, 87, 1, topic)  # Produce -> INVALID_RECORD
            refused = await producer.send(topic, b"refused", partition=0)
            try:
                await refused
            except errors.BrokerError as e:
                return mds, e
            return mds, None

    mds, e = asyncio.run(main())
    assert [md.offset for md in mds] == list(range(1, 51))
    assert all(md.topic == topic and md.partition == 0 for md in mds)
    assert [md.serialized_value_size for md in mds] == [len(b"v%d" % i) for i in range(50)]
    assert [md.serialized_key_size for md in mds] == [1 if i % 2 else -1 for i in range(50)]
    assert [md.serialized_header_size for md in mds] == [3 if i == 3 else -1 for i in range(50)]
    assert e is not None and e.code == 87
