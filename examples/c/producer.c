/* libkrafty example: produce keyed records and count their delivery reports.
 *
 *   cc producer.c $(pkg-config --cflags --libs krafty) -o producer
 *   ./producer [bootstrap.servers] [topic] [count]
 *
 * Without bootstrap.servers it starts a dev broker in this process (no Kafka needed). */
#include <krafty.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long delivered = 0, failed = 0;

/* Runs on the thread calling krafty_producer_poll / krafty_producer_flush. */
static void on_delivery(krafty_producer_t *producer, const krafty_delivery_report_t *report,
                        void *opaque) {
    (void)producer;
    (void)opaque;
    if (report->err) {
        failed++;
        fprintf(stderr, "record %ld failed: %s\n", (long)(intptr_t)report->msg_opaque,
                report->errstr);
    } else {
        delivered++;
    }
}

int main(int argc, char **argv) {
    char errstr[512];
    krafty_dev_broker_t *broker = NULL;
    const char *bootstrap = argc > 1 ? argv[1] : NULL;
    const char *topic = argc > 2 ? argv[2] : "example";
    long count = argc > 3 ? atol(argv[3]) : 1000;
    if (!bootstrap) {
        broker = krafty_dev_broker_start(NULL, NULL, NULL, errstr, sizeof errstr);
        if (!broker) {
            fprintf(stderr, "dev broker: %s\n", errstr);
            return 1;
        }
        bootstrap = krafty_dev_broker_bootstrap(broker);
    }

    krafty_conf_t *conf = krafty_conf_new();
    if (krafty_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr) ||
        krafty_conf_set(conf, "linger.ms", "5", errstr, sizeof errstr)) {
        fprintf(stderr, "config: %s\n", errstr);
        return 1;
    }
    krafty_conf_set_dr_cb(conf, on_delivery, NULL);
    krafty_producer_t *producer = krafty_producer_new(conf, errstr, sizeof errstr);
    krafty_conf_destroy(conf); /* the producer copied it */
    if (!producer) {
        fprintf(stderr, "producer: %s\n", errstr);
        return 1;
    }

    for (long i = 0; i < count; i++) {
        char key[32], value[64];
        int key_len = snprintf(key, sizeof key, "user-%ld", i % 10);
        int value_len = snprintf(value, sizeof value, "event %ld", i);
        krafty_resp_err_t err = krafty_producer_send(producer, topic, KRAFTY_PARTITION_UA, key,
                                                     key_len, value, value_len, NULL,
                                                     (void *)(intptr_t)i);
        if (err) {
            fprintf(stderr, "send %ld: %s: %s\n", i, krafty_err2name(err), krafty_last_error());
            break;
        }
        if (i % 1000 == 0) krafty_producer_poll(producer, 0); /* serve delivery reports */
    }
    krafty_resp_err_t err = krafty_producer_flush(producer, 30000);
    if (err) fprintf(stderr, "flush: %s\n", krafty_last_error());
    printf("%ld delivered, %ld failed\n", delivered, failed);
    krafty_producer_destroy(producer);
    krafty_dev_broker_stop(broker);
    return err || failed || delivered != count;
}
