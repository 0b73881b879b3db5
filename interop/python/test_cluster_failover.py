"""Kafka's ReplicationTest shape with clients we did not write: librdkafka (confluent-kafka),
the Java client (Kafka's VerifiableProducer, the tool ReplicationTest drives) and, for
comparison, Krafty's Python producer send with acks=all and idempotence to a replication-factor-3
topic on a three-node dev cluster (`krafty.DevBroker(nodes=3)`, in this process) while the
leader of each partition in turn is stopped and restarted. Afterwards every acknowledged record
is read back: none lost, none twice, none unacknowledged, in send order per partition.

Sizes: KRAFTY_FAILOVER_RECORDS (20,000), KRAFTY_FAILOVER_ROUNDS (6 leader restarts),
KRAFTY_FAILOVER_RATE (records/s each producer is paced at, 2,500, so that the run spans the
restarts), KRAFTY_FAILOVER_FETCH_DELAY_MS (20: see FETCH_DELAY_MS). KRAFTY_FAILOVER_DEBUG=1
turns on librdkafka's `eos,protocol,msg` debug log (shown with a failure).
scripts/cluster-soak.sh runs this file with 200,000 records and 12 rounds.
Dev broker only: skipped with KRAFTY_TEST_BOOTSTRAP set."""
import collections
import json
import logging
import os
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")
krafty = pytest.importorskip("krafty")

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("KRAFTY_TEST_BOOTSTRAP")),
    reason="a multi-node dev cluster test (krafty.DevBroker(nodes=3) stops and starts its nodes)",
)

RECORDS = int(os.environ.get("KRAFTY_FAILOVER_RECORDS", "20000"))
ROUNDS = int(os.environ.get("KRAFTY_FAILOVER_ROUNDS", "6"))
RATE = int(os.environ.get("KRAFTY_FAILOVER_RATE", "2500"))
# Every Fetch (the followers' replication too) waits this long first: acks=all answers take
# that much longer, so a stopped leader nearly always has produce requests in flight, records
# appended that no follower has yet (or only one has) - the case idempotence must get right.
FETCH_DELAY_MS = int(os.environ.get("KRAFTY_FAILOVER_FETCH_DELAY_MS", "20"))
DEBUG = os.environ.get("KRAFTY_FAILOVER_DEBUG", "") not in ("", "0")
PARTITIONS = 3
FETCH_API = 1
# A restarted node must be back in every ISR within this long before the next round.
ISR_DEADLINE = 60.0


@pytest.fixture
def cluster():
    """Three nodes; topics replicated to all three; acks=all needs two in sync, so one node
    down at a time never refuses a write."""
    with krafty.DevBroker(nodes=3, default_replication_factor=3, min_insync_replicas=2,
                          offsets_topic_num_partitions=6) as c:
        yield c


@pytest.fixture
def topic(cluster):
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"failover-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=3)])[name].result(30)
    deadline = time.monotonic() + 30
    while not all(_full(cluster.partition_state(name, p)) for p in range(PARTITIONS)):
        assert time.monotonic() < deadline, [cluster.partition_state(name, p) for p in range(PARTITIONS)]
        time.sleep(0.02)
    return name


def _full(state):
    return bool(state) and state["leader"] != -1 and sorted(state["isr"]) == sorted(state["replicas"]) \
        and len(state["replicas"]) == 3


class Chaos(threading.Thread):
    """ReplicationTest's clean-bounce failure, `rounds` times: round r stops the current leader
    of partition r % P (elections happen inside stop_node), sleeps 0.3 s, starts it again and
    waits until every partition's ISR is full, so min.insync.replicas=2 always holds. Round r
    begins once `progress()` (records handed to or acknowledged by the producer) reaches
    (r + 1) / (rounds + 2) of `target`, so the rounds are spread over the run and the last
    ends well before the producer does. While it runs every Fetch waits FETCH_DELAY_MS (set
    again on each restarted node). `log` keeps each round; `error` the first failure."""

    def __init__(self, cluster, topic, rounds, progress, target):
        super().__init__(name="chaos", daemon=True)
        self.cluster, self.topic, self.rounds = cluster, topic, rounds
        self.progress, self.target = progress, target
        self.log = []
        self.error = None
        self.done = threading.Event()
        self.abort = threading.Event()
        self.done_at = None

    def states(self):
        return {p: self.cluster.partition_state(self.topic, p) for p in range(PARTITIONS)}

    def run(self):
        try:
            self.cluster.add_latency(FETCH_API, FETCH_DELAY_MS)
            for r in range(self.rounds):
                threshold = (r + 1) * self.target // (self.rounds + 2)
                while self.progress() < threshold:
                    if self.abort.is_set():
                        return
                    time.sleep(0.01)
                self.round(r)
        except BaseException as e:  # noqa: BLE001 - re-raised by check()
            self.error = e
        finally:
            self.done_at = time.monotonic()
            try:
                self.cluster.add_latency(FETCH_API, 0)
            finally:
                self.done.set()

    def round(self, r):
        p = r % PARTITIONS
        before = self.states()
        old = before[p]["leader"]
        assert old in self.cluster.node_ids(), before
        started = time.monotonic()
        self.cluster.stop_node(old)
        after = self.states()
        # Every partition the stopped node led (p among them) elected a member of its old ISR
        # other than the stopped node, one leader epoch later; the rest kept leader and epoch.
        for q in range(PARTITIONS):
            b, a = before[q], after[q]
            if b["leader"] == old:
                assert a["leader"] != old and a["leader"] in b["isr"], (r, q, b, a)
                assert a["leader_epoch"] == b["leader_epoch"] + 1, (r, q, b, a)
            else:
                assert (a["leader"], a["leader_epoch"]) == (b["leader"], b["leader_epoch"]), (r, q, b, a)
            assert old not in a["isr"] and len(a["isr"]) >= 2, (r, q, b, a)
        time.sleep(0.3)
        self.cluster.start_node(old)
        self.cluster.add_latency(FETCH_API, FETCH_DELAY_MS)
        restarted = time.monotonic()
        deadline = restarted + ISR_DEADLINE
        while True:
            now = self.states()
            if all(_full(s) for s in now.values()):
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"round {r}: node {old} not back in every ISR {ISR_DEADLINE} s after its restart: "
                    f"{now}; replicas: {[self.cluster.replicas(self.topic, q) for q in range(PARTITIONS)]}")
            time.sleep(0.02)
        self.log.append({
            "round": r, "partition": p, "stopped": old, "progress": self.progress(),
            "leader_after": after[p]["leader"],
            "epoch": (before[p]["leader_epoch"], after[p]["leader_epoch"]),
            "isr_before": before[p]["isr"],
            "down_s": round(restarted - started, 3),
            "rejoin_s": round(time.monotonic() - restarted, 3),
        })

    def finish(self, timeout=ROUNDS * (ISR_DEADLINE + 5)):
        """Waits for the rounds (or stops them early when the producer failed first)."""
        self.join(timeout)
        assert not self.is_alive(), f"the chaos thread is stuck after {self.log}"

    def check(self):
        if self.error is not None:
            raise self.error
        assert len(self.log) == self.rounds, f"only {len(self.log)} of {self.rounds} rounds ran: {self.log}"


class Pacer:
    """Sleeps so that record i is handed over no earlier than i / RATE s after the start."""

    def __init__(self, rate=RATE):
        self.rate, self.start = rate, time.monotonic()

    def wait(self, i):
        ahead = self.start + i / self.rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def read_back(bootstrap, topic):
    """Every record of the topic from the beginning with librdkafka, once each partition's
    high watermark is reached (and a quiet second passed): [(partition, offset, value)]."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"failover-check-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in range(PARTITIONS)}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        got, errors = [], []
        next_offset = {p: 0 for p in range(PARTITIONS)}
        deadline = time.monotonic() + 120
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.consume(2000, timeout=0.5)
            for m in batch:
                if m.error() is not None:
                    errors.append(str(m.error()))
                    continue
                got.append((m.partition(), m.offset(), m.value().decode()))
                next_offset[m.partition()] = m.offset() + 1
            if batch:
                quiet_since = time.monotonic()
            elif all(next_offset[p] >= ends[p] for p in ends) and time.monotonic() - quiet_since > 1.0:
                break
        assert not errors, errors[:10]
        assert all(next_offset[p] >= ends[p] for p in ends), (
            f"read up to {next_offset}, the high watermarks are {ends}")
        return got
    finally:
        consumer.close()


def check_read_back(acked, read, what):
    """`acked` and `read` are [(partition, offset, value)]; values are the producer's counters."""
    assert len(set(acked)) == len(acked), f"{what}: the same acknowledgement twice"
    places = collections.Counter((p, o) for p, o, _ in acked)
    assert max(places.values(), default=0) == 1, (
        f"{what}: two records acknowledged at one offset: {[k for k, n in places.items() if n > 1][:10]}")
    values = collections.Counter(v for _, _, v in read)
    twice = sorted((v for v, n in values.items() if n > 1), key=int)
    acked_set, read_set = set(acked), set(read)
    lost = sorted(acked_set - read_set, key=lambda r: (r[0], r[1]))
    extra = sorted(read_set - acked_set, key=lambda r: (r[0], r[1]))
    assert not twice, f"{what}: {len(twice)} values read more than once, e.g. " \
        f"{[(v, [(p, o) for p, o, x in read if x == v]) for v in twice[:5]]}"
    assert not lost and not extra, (
        f"{what}: {len(lost)} acknowledged records not read back (e.g. {lost[:10]}), "
        f"{len(extra)} read that were not acknowledged there (e.g. {extra[:10]})")
    for p in range(PARTITIONS):
        records = sorted((o, int(v)) for q, o, v in read if q == p)
        offsets = [o for o, _ in records]
        assert offsets == list(range(len(records))), f"{what}: partition {p}'s offsets have gaps"
        counters = [v for _, v in records]
        backwards = [(records[i], records[i + 1]) for i in range(len(records) - 1)
                     if counters[i + 1] <= counters[i]]
        assert not backwards, f"{what}: partition {p} out of send order at {backwards[:5]}"


def summary(what, chaos, acked, seconds, retries):
    """One line for the log (pytest -s, as scripts/cluster-soak.sh runs it). `retries`: what the
    client says it resent, evidence that the restarts caught requests in flight."""
    per_partition = collections.Counter(p for p, _, _ in acked)
    epochs = [c["epoch"] for c in chaos.log]
    print(f"\n{what}: {len(acked)} records acknowledged and read back ({dict(sorted(per_partition.items()))}) "
          f"in {seconds:.1f} s through {len(chaos.log)} leader restarts, {retries}; rounds: "
          + "; ".join(f"p{c['partition']} node {c['stopped']}->{c['leader_after']} epoch {c['epoch'][0]}->"
                      f"{c['epoch'][1]} at {c['progress']} rejoined in {c['rejoin_s']} s" for c in chaos.log)
          + f" (epochs {epochs})")


class LibrdkafkaLog(logging.Handler):
    """librdkafka's log (its `msg` debug context on): counts the produce requests that failed
    and were retried and the disconnects, and passes the lines on to pytest's log capture
    (shown with a failure; the debug ones only with KRAFTY_FAILOVER_DEBUG)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.retried = collections.Counter()
        self.disconnects = 0
        self.out = logging.getLogger("librdkafka.failover")

    def emit(self, record):
        message = record.getMessage()
        if "encountered error: " in message:
            self.retried[message.split("encountered error: ", 1)[1].split(" (", 1)[0]] += 1
        elif ": Disconnected" in message:
            self.disconnects += 1
        if DEBUG or record.levelno >= logging.INFO:
            self.out.handle(record)


def test_librdkafka_idempotent_acks_all_producer_loses_nothing_across_leader_restarts(cluster, topic):
    from confluent_kafka import Producer

    log = LibrdkafkaLog()
    source = logging.getLogger(f"librdkafka.failover.{topic}")
    source.setLevel(logging.DEBUG)
    source.propagate = False
    source.addHandler(log)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5, "message.timeout.ms": 120000,
                         "debug": "eos,protocol,msg" if DEBUG else "msg", "logger": source})
    acked, failed = [], []
    sent = [0]

    def delivered(err, msg):
        if err is not None:
            failed.append((msg.partition(), msg.value().decode(), str(err)))
        else:
            acked.append((msg.partition(), msg.offset(), msg.value().decode()))

    chaos = Chaos(cluster, topic, ROUNDS, lambda: sent[0], RECORDS)
    started = time.monotonic()
    chaos.start()
    pacer = Pacer()
    try:
        i = 0
        # Past RECORDS while the rounds still run: the producer is busy when the last one ends.
        while i < RECORDS or not chaos.done.is_set():
            pacer.wait(i)
            while True:
                try:
                    producer.produce(topic, key=str(i % 97), value=f"{i:08d}", on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.1)
            i += 1
            sent[0] = i
            producer.poll(0)
            assert not failed, f"librdkafka failed deliveries: {failed[:10]}"
            assert time.monotonic() - started < 600, "still producing after 600 s"
        last_send = time.monotonic()
        remaining = producer.flush(180)
    finally:
        chaos.abort.set()
        chaos.finish()
    chaos.check()
    assert chaos.done_at <= last_send
    assert remaining == 0, f"{remaining} records without a delivery report after flush(180)"
    assert not failed, f"librdkafka failed {len(failed)} deliveries: {failed[:10]}"
    assert len(acked) == sent[0], (len(acked), sent[0])
    read = read_back(cluster.bootstrap_servers, topic)
    check_read_back(acked, read, "librdkafka")
    summary("librdkafka", chaos, acked, time.monotonic() - started,
            f"{log.disconnects} disconnects, produce requests failed in flight and retried: "
            f"{dict(log.retried) or 'none'}")


def test_java_verifiable_producer_loses_nothing_across_leader_restarts(cluster, topic, tmp_path):
    from test_transactions import java_classpath

    cp = java_classpath()
    config = tmp_path / "producer.properties"
    # VerifiableProducer sets retries=0 itself (refused with idempotence): Kafka's defaults back.
    config.write_text("enable.idempotence=true\nretries=2147483647\nmax.in.flight.requests.per.connection=5\n"
                      "delivery.timeout.ms=120000\nlinger.ms=5\n")
    stderr = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        ["java", "-Xmx256M", "-cp", cp, "org.apache.kafka.tools.VerifiableProducer",
         "--bootstrap-server", cluster.bootstrap_servers, "--topic", topic,
         "--max-messages", str(RECORDS), "--acks", "-1", "--throughput", str(RATE),
         "--repeating-keys", "97", "--command-config", str(config)],
        stdout=subprocess.PIPE, stderr=stderr, text=True)
    acked, failed, other = [], [], []
    last_ack = [None]

    def drain():
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                other.append(line)
                continue
            if event.get("name") == "producer_send_success":
                acked.append((event["partition"], event["offset"], event["value"]))
                last_ack[0] = time.monotonic()
            elif event.get("name") == "producer_send_error":
                failed.append(event)
            else:
                other.append(event)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    chaos = Chaos(cluster, topic, ROUNDS, lambda: len(acked) + len(failed), RECORDS)
    started = time.monotonic()
    chaos.start()

    def java_log(tail=6000):
        stderr.seek(0)
        text = stderr.read()
        return text[-tail:] if tail else text

    try:
        try:
            code = proc.wait(timeout=RECORDS / RATE + 240)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
            pytest.fail(f"VerifiableProducer still running after {RECORDS / RATE + 240:.0f} s: "
                        f"{len(acked)} acked, {len(failed)} failed; {java_log()}")
        reader.join(30)
    finally:
        chaos.abort.set()
        chaos.finish()
    chaos.check()
    assert code == 0, (code, other[-5:], java_log())
    assert not failed, f"the Java producer failed {len(failed)} sends: {failed[:10]}"
    assert chaos.done_at < last_ack[0], "the producer was done before the last restart ended"
    tool = next((e for e in other if isinstance(e, dict) and e.get("name") == "tool_data"), None)
    assert tool is not None and tool["sent"] == tool["acked"] == RECORDS == len(acked), (tool, len(acked))
    assert sorted(int(v) for _, _, v in acked) == list(range(RECORDS))
    read = read_back(cluster.bootstrap_servers, topic)
    check_read_back(acked, read, "Java VerifiableProducer")
    log = java_log(tail=None)
    summary("Java VerifiableProducer", chaos, acked, time.monotonic() - started,
            f"{log.count('Cancelled in-flight PRODUCE')} in-flight produce requests cancelled by a "
            f"disconnect, {log.count('Got error produce response')} produce errors retried")


def test_krafty_python_producer_loses_nothing_across_leader_restarts(cluster, topic):
    producer = krafty.KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all",
                                    enable_idempotence=True, linger_ms=5)
    futures = []
    chaos = Chaos(cluster, topic, ROUNDS, lambda: len(futures), RECORDS)
    started = time.monotonic()
    chaos.start()
    pacer = Pacer()
    try:
        i = 0
        while i < RECORDS or not chaos.done.is_set():
            pacer.wait(i)
            value = f"{i:08d}"
            futures.append((value, producer.send(topic, value=value.encode(), key=str(i % 97).encode())))
            i += 1
            assert time.monotonic() - started < 600, "still producing after 600 s"
        last_send = time.monotonic()
        producer.flush(180)
    finally:
        chaos.abort.set()
        chaos.finish()
    acked, failed = [], []
    for value, future in futures:
        try:
            md = future.get(timeout=60)
        except Exception as e:  # noqa: BLE001 - every failure is collected and reported
            failed.append((value, repr(e)))
        else:
            acked.append((md.partition, md.offset, value))
    retried = producer.metrics()["producer-metrics"].get("record-retry-total")
    producer.close(30)
    chaos.check()
    assert chaos.done_at <= last_send
    assert not failed, f"Krafty failed {len(failed)} sends: {failed[:10]}"
    read = read_back(cluster.bootstrap_servers, topic)
    check_read_back(acked, read, "Krafty")
    summary("Krafty", chaos, acked, time.monotonic() - started, f"record-retry-total {retried}")
