/* bench/c.sh: libkrafty's producer loop. Sends N keyless records of SIZE bytes to TOPIC
 * (acks=1, linger.ms=5, no idempotence, defaults otherwise), serving delivery reports with
 * krafty_producer_poll every 1000 sends, then flushes. Prints kafka-producer-perf-test's
 * summary line; the time runs from the first send to the last delivery report.
 *
 *   krafty_produce BOOTSTRAP TOPIC N SIZE */
#include <krafty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long delivered = 0, failed = 0;

static void dr_cb(krafty_producer_t *p, const krafty_delivery_report_t *r, void *opaque) {
    (void)p;
    (void)opaque;
    if (r->err) failed++; else delivered++;
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
    krafty_conf_t *conf = krafty_conf_new();
    const char *props[][2] = {{"bootstrap.servers", argv[1]}, {"acks", "1"}, {"linger.ms", "5"},
                              {"enable.idempotence", "false"}};
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (krafty_conf_set(conf, props[i][0], props[i][1], errstr, sizeof errstr))
            return fprintf(stderr, "%s: %s\n", props[i][0], errstr), 1;
    krafty_conf_set_dr_cb(conf, dr_cb, NULL);
    krafty_producer_t *p = krafty_producer_new(conf, errstr, sizeof errstr);
    krafty_conf_destroy(conf);
    if (!p) return fprintf(stderr, "producer: %s\n", errstr), 1;

    double start = now_s();
    for (long i = 0; i < n; i++) {
        krafty_resp_err_t err =
            krafty_producer_send(p, topic, KRAFTY_PARTITION_UA, NULL, 0, payload, size, NULL, NULL);
        if (err) return fprintf(stderr, "send: %s\n", krafty_last_error()), 1;
        if (i % 1000 == 0) krafty_producer_poll(p, 0);
    }
    if (krafty_producer_flush(p, 120000)) return fprintf(stderr, "flush: %s\n", krafty_last_error()), 1;
    double secs = now_s() - start;
    if (delivered != n || failed) return fprintf(stderr, "%ld delivered, %ld failed\n", delivered, failed), 1;
    printf("%ld records sent, %.1f records/sec (%.2f MB/sec).\n", n, n / secs,
           n * (double)size / secs / 1048576.0);
    krafty_producer_destroy(p);
    free(payload);
    return 0;
}
