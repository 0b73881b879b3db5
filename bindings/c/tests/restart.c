/* Commits across a dev broker restart: a broker with a data dir, records produced and an
 * offset committed; the broker is stopped and started again on the same port and dir; the
 * records and the committed offset are still there, a new member of the group resumes
 * exactly after the commit, and the producer made before the restart sends again. */
#include "test.h"
#include <stdlib.h>
#include <unistd.h>

#define TOPIC "c-restart"
#define GROUP "c-restart-g"

static int delivered = 0, failed = 0;
static void dr_cb(krafty_producer_t *p, const krafty_delivery_report_t *r, void *o) {
    (void)p; (void)o;
    if (r->err) failed++; else delivered++;
}

static krafty_consumer_t *consumer(const char *bootstrap) {
    const char *cp[] = {"group.id", GROUP, "enable.auto.commit", "false",
                        "auto.offset.reset", "earliest", NULL};
    krafty_conf_t *conf = conf_with(bootstrap, cp);
    char errstr[512];
    krafty_consumer_t *c = krafty_consumer_new(conf, errstr, sizeof errstr);
    if (!c) FAIL("consumer_new: %s", errstr);
    krafty_conf_destroy(conf);
    const char *topics[] = {TOPIC};
    CHECK_OK(krafty_consumer_subscribe(c, topics, 1));
    return c;
}

static krafty_message_t *next(krafty_consumer_t *c) {
    double until = now_s() + 30;
    while (now_s() < until) {
        krafty_message_t *m = krafty_consumer_poll(c, 200);
        if (m && m->err) {
            fprintf(stderr, "poll: %s (retrying)\n", m->errstr);
            krafty_message_destroy(m);
            continue;
        }
        if (m) return m;
    }
    FAIL("no record within 30 s");
}

int main(void) {
    char dir[] = "/tmp/krafty-c-restart-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const char *bcfg[] = {"num.partitions=1", "group.initial.rebalance.delay.ms=0", NULL};
    krafty_dev_broker_t *broker = start_broker("127.0.0.1:0", dir, bcfg);
    char bootstrap[128];
    snprintf(bootstrap, sizeof bootstrap, "%s", krafty_dev_broker_bootstrap(broker));

    krafty_conf_t *pc = conf_with(bootstrap, NULL);
    CHECK_OK(krafty_conf_set_dr_cb(pc, dr_cb, NULL));
    char errstr[512];
    krafty_producer_t *p = krafty_producer_new(pc, errstr, sizeof errstr);
    if (!p) FAIL("producer_new: %s", errstr);
    krafty_conf_destroy(pc);
    for (int i = 0; i < 10; i++) {
        char v[16];
        int n = snprintf(v, sizeof v, "r%d", i);
        CHECK_OK(krafty_producer_send(p, TOPIC, 0, NULL, 0, v, n, NULL, NULL));
    }
    CHECK_OK(krafty_producer_flush(p, 10000));
    CHECK(delivered == 10 && failed == 0);

    krafty_consumer_t *c = consumer(bootstrap);
    for (int i = 0; i < 4; i++) {
        krafty_message_t *m = next(c);
        CHECK(m->offset == i);
        krafty_message_destroy(m);
    }
    CHECK_OK(krafty_consumer_commit(c, NULL, 0)); /* offset 4 */
    krafty_consumer_destroy(c);

    /* Restart on the same port and data dir. */
    krafty_dev_broker_stop(broker);
    broker = start_broker(bootstrap, dir, bcfg);
    CHECK(strcmp(krafty_dev_broker_bootstrap(broker), bootstrap) == 0);

    /* The producer from before the restart reconnects and appends at offset 10. */
    CHECK_OK(krafty_producer_send(p, TOPIC, 0, NULL, 0, "r10", 3, NULL, NULL));
    CHECK_OK(krafty_producer_flush(p, 30000));
    CHECK(delivered == 11 && failed == 0);

    c = consumer(bootstrap);
    krafty_topic_partition_list_t *q = krafty_topic_partition_list_new(1);
    krafty_topic_partition_list_add(q, TOPIC, 0);
    CHECK_OK(krafty_consumer_committed(c, q));
    CHECK(q->elems[0].offset == 4);
    krafty_topic_partition_list_destroy(q);
    for (int i = 4; i <= 10; i++) {
        krafty_message_t *m = next(c);
        if (m->offset != i) FAIL("offset %ld, expected %d", (long)m->offset, i);
        char v[16];
        int n = snprintf(v, sizeof v, "r%d", i);
        CHECK(m->value_len == (size_t)n && memcmp(m->value, v, n) == 0);
        krafty_message_destroy(m);
    }
    krafty_consumer_destroy(c);
    krafty_producer_destroy(p);
    krafty_dev_broker_stop(broker);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    PASS();
}
