"""librdkafka (confluent-kafka) side of the benchmarks, shaped like kafka-*-perf-test.

usage: peer_librdkafka.py produce BOOTSTRAP TOPIC N SIZE ACKS LINGER_MS COMPRESSION
       peer_librdkafka.py consume BOOTSTRAP TOPIC N
"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def produce(bootstrap, topic, n, size, acks, linger, compression):
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "linger.ms": int(linger),
        "compression.type": compression,
        "enable.idempotence": acks == "all",
        "queue.buffering.max.messages": 1_000_000,
        "partitioner": "murmur2_random",
    }
    p = Producer(conf)
    payload = bytes((97 + i % 26) for i in range(size))
    lat = []
    start = time.perf_counter()

    def make_cb(sent):
        return lambda err, msg: lat.append(time.perf_counter() - sent) if err is None else None

    for i in range(n):
        while True:
            try:
                p.produce(topic, payload, on_delivery=make_cb(time.perf_counter()))
                break
            except BufferError:
                p.poll(0.001)
        if i % 1000 == 0:
            p.poll(0)
    p.flush(60)
    elapsed = time.perf_counter() - start
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] * 1000 if lat else 0
    print(
        f"{n} records sent, {n / elapsed:.1f} records/sec ({n * size / elapsed / 1048576:.2f} MB/sec), "
        f"{sum(lat) / max(1, len(lat)) * 1000:.2f} ms avg latency, {pct(1.0 - 1e-9):.2f} ms max latency, "
        f"{pct(0.5):.0f} ms 50th, {pct(0.95):.0f} ms 95th, {pct(0.99):.0f} ms 99th, {pct(0.999):.0f} ms 99.9th."
    )


def consume(bootstrap, topic, n):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{time.time()}", "enable.auto.commit": False})
    md = c.list_topics(topic, timeout=10)
    c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
    got, nbytes = 0, 0
    start = time.perf_counter()
    while got < n and time.perf_counter() - start < 120:
        for m in c.consume(10000, 0.5):
            if m.error() is None:
                got += 1
                nbytes += len(m.value() or b"")
    elapsed = time.perf_counter() - start
    c.close()
    print("data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec")
    print(f"{nbytes / 1048576:.4f}, {nbytes / 1048576 / elapsed:.4f}, {got}, {got / elapsed:.4f}")


if __name__ == "__main__":
    if sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7], sys.argv[8])
    else:
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
