"""asyncio: awaiting sends, `async for` over a consumer."""

import asyncio

import pytest

from krafty import KafkaConsumer, KafkaProducer, errors


def test_await_send_and_async_for(bootstrap, topic):
    async def main():
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        mds = await asyncio.gather(*(producer.send(topic, b"m%d" % i, partition=0) for i in range(20)))
        assert [md.offset for md in mds] == list(range(20))
        batch = await producer.send_batch(topic, [b"x", b"y"], partition=0)
        assert [md.offset for md in batch] == [20, 21]
        producer.close()

        consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="aio-" + topic,
                                 auto_offset_reset="earliest")
        values = []

        async def collect():
            async for record in consumer:
                values.append(record.value)
                if len(values) == 22:
                    break

        try:
            await asyncio.wait_for(collect(), 30)
        except asyncio.TimeoutError:
            pass  # the assertion below says what arrived
        consumer.close()
        return values

    values = asyncio.run(main())
    assert values == [b"m%d" % i for i in range(20)] + [b"x", b"y"]


def test_awaited_failures_raise_kafka_errors(broker, topic):
    async def main():
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, retries=0,
                                 enable_idempotence=False)
        await producer.send(topic, b"ok")
        broker.fail_next(0, 87, 1, topic)
        with pytest.raises(errors.BrokerError) as e:
            await producer.send(topic, b"bad")
        producer.close()
        return e.value.code

    assert asyncio.run(main()) == 87


def test_async_for_stops_on_a_record_the_deserializer_refuses(bootstrap, topic):
    from krafty import TopicPartition

    async def main():
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        await producer.send_batch(topic, [b"1", b"bad", b"3"], partition=0)
        producer.close()
        tp = TopicPartition(topic, 0)
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="aio-deser-" + topic,
                                 auto_offset_reset="earliest", value_deserializer=int)
        consumer.assign([tp])
        values = []

        async def collect():
            async for record in consumer:
                values.append(record.value)

        # Bounded: a loop that never raised would end in asyncio.TimeoutError, not a match.
        with pytest.raises(errors.SerializationError, match=f"{topic}-0@1"):
            await asyncio.wait_for(collect(), 30)
        position = consumer.position(tp)
        consumer.close()
        return values, position

    assert asyncio.run(main()) == ([1], 1)


def test_cancelled_async_for_steps_lose_no_record(bootstrap, topic):
    from krafty import TopicPartition

    async def main():
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        await producer.send_batch(topic, [b"%d" % i for i in range(30)], partition=0)
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="aio-cancel-" + topic,
                                 auto_offset_reset="earliest")
        consumer.assign([TopicPartition(topic, 0)])
        got, cancelled = [], 0
        deadline = asyncio.get_running_loop().time() + 20
        # wait_for with a timeout of 0 always cancels the step; the others race the hand-off.
        timeouts = [0, 0.0002, 0.001, 0.005, 0.05]
        while len(got) < 30 and asyncio.get_running_loop().time() < deadline:
            try:
                record = await asyncio.wait_for(consumer.__anext__(), timeouts[(len(got) + cancelled) % 5])
                got.append(int(record.value))
            except asyncio.TimeoutError:
                cancelled += 1
        consumer.close()
        return got, cancelled

    got, cancelled = asyncio.run(main())
    assert got == list(range(30)), f"after {cancelled} cancelled steps"
    assert cancelled > 0
