"""Python clients side by side: records/s to produce and consume 100-byte records.

    python bench/python_bench.py BOOTSTRAP [RECORDS [BROKER_PID]]

Every producer uses acks=1, linger.ms=5, no compression; every consumer reads its own topic
from the start in a fresh group. kafka-python and aiokafka are much slower, so they get a
fifth of the records (their rate is what is compared). Each row also gives the process's CPU
seconds per million records (all its threads; with the in-process DevBroker, the broker's
too). The producers run twice: against BOOTSTRAP (an external broker) and against an
in-process `krafty.DevBroker`. Given the external broker's process id, the rows against it
also give the broker's CPU seconds per million records: a row whose broker is near one core
per second measures the broker more than the client.
"""

import asyncio
import os
import sys
import time
import uuid

import confluent_kafka
import kafka

import krafty
import krafty.aio

PAYLOAD = b"x" * 100


def timed(fn, n):
    """(records/s, CPU seconds per million records) of fn(n)."""
    start, cpu = time.perf_counter(), time.process_time()
    fn(n)
    return n / (time.perf_counter() - start), (time.process_time() - cpu) * 1e6 / n


def process_cpu(pid):
    """CPU seconds (user + system) process `pid` has used, or None without one."""
    if pid is None:
        return None
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def async_send_loop(producer_class):
    """`await send()` per record, its delivery futures gathered every 10,000 (the usual
    aiokafka shape); the same code drives krafty.aio and aiokafka."""
    def make(bootstrap, topic):
        async def go(n):
            p = producer_class(bootstrap_servers=bootstrap, acks=1, linger_ms=5,
                               enable_idempotence=False)
            await p.start()
            pending = []
            for _ in range(n):
                pending.append(await p.send(topic, PAYLOAD))
                if len(pending) >= 10_000:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
            await p.stop()
        return lambda n: asyncio.run(go(n))
    return make


def krafty_send_loop(bootstrap, topic):
    def run(n):
        p = krafty.KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5,
                                 enable_idempotence=False)
        send = p.send
        for _ in range(n):
            send(topic, PAYLOAD)
        p.flush()
        p.close()
    return run


def krafty_send_batch(bootstrap, topic):
    def run(n):
        p = krafty.KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5,
                                 enable_idempotence=False)
        chunk = [PAYLOAD] * 10_000
        for _ in range(n // len(chunk)):
            p.send_batch(topic, chunk)
        p.flush()
        p.close()
    return run


def confluent_produce_loop(bootstrap, topic):
    def run(n):
        p = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5})
        produce = p.produce
        for _ in range(n):
            while True:
                try:
                    produce(topic, PAYLOAD)
                    break
                except BufferError:  # queue.buffering.max.messages reached: wait for reports
                    p.poll(0.05)
        p.flush()
    return run


def kafka_python_send_loop(bootstrap, topic):
    def run(n):
        p = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
        for _ in range(n):
            p.send(topic, PAYLOAD)
        p.flush()
        p.close()
    return run


def krafty_iterate(bootstrap, topic):
    def run(n):
        c = krafty.KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=uuid.uuid4().hex,
                                 auto_offset_reset="earliest", enable_auto_commit=False)
        seen = 0
        for _ in c:
            seen += 1
            if seen == n:
                break
        c.close()
    return run


def krafty_poll(bootstrap, topic):
    def run(n):
        c = krafty.KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=uuid.uuid4().hex,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 max_poll_records=10_000)
        seen = 0
        while seen < n:
            for records in c.poll(timeout_ms=1000).values():
                seen += len(records)
        c.close()
    return run


def confluent_consume(bootstrap, topic):
    def run(n):
        c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe([topic])
        seen = 0
        while seen < n:
            for m in c.consume(num_messages=10_000, timeout=1.0):
                if m.error() is None:
                    seen += 1
        c.close()
    return run


def kafka_python_iterate(bootstrap, topic):
    def run(n):
        c = kafka.KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=uuid.uuid4().hex,
                                auto_offset_reset="earliest", enable_auto_commit=False)
        seen = 0
        for _ in c:
            seen += 1
            if seen == n:
                break
        c.close()
    return run


def broker_column(pid, before, count):
    """The broker's CPU seconds per million records since `before`, as a column."""
    if pid is None:
        return ""
    return f"{(process_cpu(pid) - before) * 1e6 / count:>20.2f}"


def main():
    bootstrap = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    broker_pid = int(sys.argv[3]) if len(sys.argv) > 3 else None
    run_id = uuid.uuid4().hex[:6]
    print(f"{n} records of 100 B; broker {bootstrap}; krafty {krafty.__version__}, "
          f"confluent-kafka {confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]}), "
          f"kafka-python {kafka.__version__}")
    try:
        import aiokafka
    except ImportError:
        aiokafka = None
    rows = [
        ("krafty send() loop", krafty_send_loop, krafty_iterate, n),
        ("krafty send_batch()", krafty_send_batch, krafty_poll, n),
        ("confluent-kafka produce() loop", confluent_produce_loop, confluent_consume, n),
        ("kafka-python send() loop", kafka_python_send_loop, kafka_python_iterate, n // 5),
        ("krafty.aio send() loop", async_send_loop(krafty.aio.AIOKafkaProducer), None, n),
    ]
    if aiokafka is not None:
        rows.append(("aiokafka send() loop", async_send_loop(aiokafka.AIOKafkaProducer), None,
                     n // 5))
    else:
        print("aiokafka is not installed: its row is skipped")
    print(f"{'':9}{'client':<40}{'records/s':>12}{'CPU s / 1M':>12}"
          + ("  broker CPU s / 1M" if broker_pid else ""))
    labels = {"krafty send() loop": "krafty iteration",
              "krafty send_batch()": "krafty poll() batches",
              "confluent-kafka produce() loop": "confluent-kafka consume() batches",
              "kafka-python send() loop": "kafka-python iteration"}
    # Each row's topic is deleted once read, so every row meets a broker holding about the
    # same: on this VM a broker that has taken a few hundred MB pays several times the CPU
    # per record for fresh page-cache pages, and the rows after it would measure that.
    admin = krafty.KafkaAdminClient(bootstrap_servers=bootstrap)
    consumed = []
    for i, (name, producer, consumer, count) in enumerate(rows):
        topic = f"pybench-{run_id}-{i}"
        before = process_cpu(broker_pid)
        rate, cpu = timed(producer(bootstrap, topic), count)
        print(f"produce  {name:<40}{rate:>12,.0f}{cpu:>12.2f}"
              f"{broker_column(broker_pid, before, count)}", flush=True)
        if consumer is not None:
            before = process_cpu(broker_pid)
            rate, cpu = timed(consumer(bootstrap, topic), count)
            consumed.append(f"consume  {labels[name]:<40}{rate:>12,.0f}{cpu:>12.2f}"
                            f"{broker_column(broker_pid, before, count)}")
        admin.delete_topics([topic])
    admin.close()
    print("\n".join(consumed))
    with krafty.DevBroker(num_partitions=1) as broker:
        local = broker.bootstrap_servers
        admin = krafty.KafkaAdminClient(bootstrap_servers=local)
        for i, (name, producer, _, count) in enumerate(rows[:3] + rows[4:5]):
            topic = f"pybench-{run_id}-dev-{i}"
            rate, cpu = timed(producer(local, topic), count)
            print(f"produce  {name + ' (DevBroker)':<40}{rate:>12,.0f}{cpu:>12.2f}", flush=True)
            admin.delete_topics([topic])
        admin.close()

if __name__ == "__main__":
    main()
