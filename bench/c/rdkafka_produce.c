/* bench/c.sh: librdkafka's C producer loop, the same workload as krafty_produce.c: N keyless
 * records of SIZE bytes (copied: RD_KAFKA_MSG_F_COPY) to TOPIC, acks=1, linger.ms=5, no
 * idempotence, librdkafka's defaults otherwise; rd_kafka_poll every 1000 sends (and while its
 * queue is full), then rd_kafka_flush. Prints kafka-producer-perf-test's summary line.
 *
 *   rdkafka_produce BOOTSTRAP TOPIC N SIZE */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long delivered = 0, failed = 0;

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) failed++; else delivered++;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) return fprintf(stderr, "usage: %s BOOTSTRAP TOPIC N SIZE\n", argv[0]), 2;
    const char *topic = argv[2];
    long n = atol(argv[3]);
    size_t size = (size_t)atol(argv[4]);
    char *payload = malloc(size);
    for (size_t i = 0; i < size; i++) payload[i] = 'a' + i % 26;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *props[][2] = {{"bootstrap.servers", argv[1]}, {"acks", "1"}, {"linger.ms", "5"},
                              {"enable.idempotence", "false"}};
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof errstr))
            return fprintf(stderr, "%s: %s\n", props[i][0], errstr), 1;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) return fprintf(stderr, "producer: %s\n", errstr), 1;

    double start = now_s();
    for (long i = 0; i < n; i++) {
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, size),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (!err) break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                return fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err)), 1;
            rd_kafka_poll(rk, 10);
        }
        if (i % 1000 == 0) rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 120000)) return fprintf(stderr, "flush timed out\n"), 1;
    double secs = now_s() - start;
    if (delivered != n || failed) return fprintf(stderr, "%ld delivered, %ld failed\n", delivered, failed), 1;
    printf("%ld records sent, %.1f records/sec (%.2f MB/sec).\n", n, n / secs,
           n * (double)size / secs / 1048576.0);
    rd_kafka_destroy(rk);
    free(payload);
    return 0;
}
