/* Produce 100 keyed records (some with headers) and read them back exactly: keys, values,
 * offsets, order, headers; delivery reports with their opaque; seek, pause / resume, commit
 * sync and async, committed offsets. */
#include "test.h"

#define N 100
#define TOPIC "c-produce-consume"

static int reports = 0;
static int report_errors = 0;
static int64_t report_offset[N];
static void *conf_opaque_seen = NULL;

static void dr_cb(krafty_producer_t *p, const krafty_delivery_report_t *r, void *opaque) {
    (void)p;
    conf_opaque_seen = opaque;
    intptr_t i = (intptr_t)r->msg_opaque;
    if (i < 0 || i >= N) FAIL("delivery report with opaque %ld", (long)i);
    if (r->err) report_errors++;
    if (strcmp(r->topic, TOPIC) != 0) FAIL("report topic %s", r->topic);
    if (r->partition != 0) FAIL("report partition %d", r->partition);
    report_offset[i] = r->offset;
    reports++;
}

static int commit_cb_calls = 0;
static krafty_resp_err_t commit_cb_err = -1;
static int64_t commit_cb_offset = -1;

static void commit_cb(krafty_consumer_t *c, krafty_resp_err_t err,
                      const krafty_topic_partition_list_t *offsets, void *opaque) {
    (void)c;
    if (opaque != (void *)&commit_cb_calls) FAIL("commit cb opaque");
    commit_cb_calls++;
    commit_cb_err = err;
    if (offsets->cnt == 1) commit_cb_offset = offsets->elems[0].offset;
}

static krafty_message_t *poll_one(krafty_consumer_t *c, double seconds) {
    double until = now_s() + seconds;
    while (now_s() < until) {
        krafty_message_t *m = krafty_consumer_poll(c, 200);
        if (m) {
            if (m->err) FAIL("poll error %d: %s", m->err, m->errstr);
            return m;
        }
    }
    return NULL;
}

int main(void) {
    const char *bcfg[] = {"num.partitions=1", NULL};
    krafty_dev_broker_t *broker = start_broker(NULL, NULL, bcfg);
    const char *bootstrap = krafty_dev_broker_bootstrap(broker);
    CHECK(bootstrap && strncmp(bootstrap, "127.0.0.1:", 10) == 0);

    /* --- produce --- */
    const char *pp[] = {"linger.ms", "5", "acks", "all", NULL};
    krafty_conf_t *conf = conf_with(bootstrap, pp);
    int marker;
    CHECK_OK(krafty_conf_set_dr_cb(conf, dr_cb, &marker));
    char errstr[512];
    krafty_producer_t *p = krafty_producer_new(conf, errstr, sizeof errstr);
    if (!p) FAIL("producer_new: %s", errstr);
    krafty_conf_destroy(conf); /* the producer keeps its own copy */

    krafty_headers_t *h = krafty_headers_new();
    CHECK_OK(krafty_headers_add(h, "trace", "abc", 3));
    CHECK_OK(krafty_headers_add(h, "nil", NULL, 0));
    for (intptr_t i = 0; i < N; i++) {
        char key[32], value[64];
        int kl = snprintf(key, sizeof key, "key-%ld", (long)i);
        int vl = snprintf(value, sizeof value, "value-%ld", (long)i);
        CHECK_OK(krafty_producer_send(p, TOPIC, i % 2 == 0 ? 0 : KRAFTY_PARTITION_UA,
                                      i == 7 ? NULL : key, i == 7 ? 0 : (size_t)kl,
                                      i == 9 ? NULL : value, i == 9 ? 0 : (size_t)vl,
                                      i % 10 == 3 ? h : NULL, (void *)i));
        if (i % 10 == 0) krafty_producer_poll(p, 0);
    }
    krafty_headers_destroy(h); /* copied by send */
    CHECK_OK(krafty_producer_flush(p, 10000));
    CHECK(reports == N);
    CHECK(report_errors == 0);
    CHECK(conf_opaque_seen == &marker);
    CHECK(krafty_producer_outq_len(p) == 0);
    for (int i = 0; i < N; i++)
        if (report_offset[i] != i) FAIL("record %d got offset %ld", i, (long)report_offset[i]);
    krafty_producer_destroy(p);

    /* --- consume: assign from the beginning --- */
    const char *cp[] = {"group.id", "c-pc-group", "enable.auto.commit", "false",
                        "auto.offset.reset", "earliest", NULL};
    conf = conf_with(bootstrap, cp);
    CHECK_OK(krafty_conf_set_offset_commit_cb(conf, commit_cb, &commit_cb_calls));
    krafty_consumer_t *c = krafty_consumer_new(conf, errstr, sizeof errstr);
    if (!c) FAIL("consumer_new: %s", errstr);
    krafty_conf_destroy(conf);
    krafty_topic_partition_list_t *tp = krafty_topic_partition_list_new(1);
    krafty_topic_partition_list_add(tp, TOPIC, 0)->offset = KRAFTY_OFFSET_BEGINNING;
    CHECK_OK(krafty_consumer_assign(c, tp));

    for (int i = 0; i < N; i++) {
        krafty_message_t *m = poll_one(c, 10);
        if (!m) FAIL("record %d not received", i);
        char key[32], value[64];
        int kl = snprintf(key, sizeof key, "key-%d", i);
        int vl = snprintf(value, sizeof value, "value-%d", i);
        CHECK(strcmp(m->topic, TOPIC) == 0);
        CHECK(m->partition == 0);
        if (m->offset != i) FAIL("expected offset %d, got %ld", i, (long)m->offset);
        if (i == 7) CHECK(m->key == NULL && m->key_len == 0);
        else CHECK(m->key_len == (size_t)kl && memcmp(m->key, key, kl) == 0);
        if (i == 9) CHECK(m->value == NULL && m->value_len == 0);
        else CHECK(m->value_len == (size_t)vl && memcmp(m->value, value, vl) == 0);
        CHECK(m->timestamp > 1600000000000LL);
        const krafty_headers_t *mh = krafty_message_headers(m);
        if (i % 10 == 3) {
            CHECK(krafty_headers_count(mh) == 2);
            const char *name;
            const void *val;
            size_t len;
            CHECK_OK(krafty_header_get(mh, 0, &name, &val, &len));
            CHECK(strcmp(name, "trace") == 0 && len == 3 && memcmp(val, "abc", 3) == 0);
            CHECK_OK(krafty_header_get(mh, 1, &name, &val, &len));
            CHECK(strcmp(name, "nil") == 0 && val == NULL && len == 0);
            CHECK_ERR(krafty_header_get(mh, 2, &name, &val, &len), KRAFTY_RESP_ERR__INVALID_ARG);
        } else {
            CHECK(krafty_headers_count(mh) == 0);
        }
        krafty_message_destroy(m);
        if (i == 41) {
            /* Commit exactly what was returned: the position is 42. */
            CHECK_OK(krafty_consumer_commit(c, NULL, 0));
        }
    }
    CHECK(krafty_consumer_poll(c, 300) == NULL); /* nothing more */

    krafty_topic_partition_list_t *q = krafty_topic_partition_list_new(1);
    krafty_topic_partition_list_add(q, TOPIC, 0);
    CHECK_OK(krafty_consumer_committed(c, q));
    CHECK(q->elems[0].offset == 42);
    CHECK_OK(krafty_consumer_position(c, q));
    CHECK(q->elems[0].offset == N);

    /* seek back: the next record is offset 50 */
    CHECK_OK(krafty_consumer_seek(c, TOPIC, 0, 50));
    krafty_message_t *m = poll_one(c, 10);
    CHECK(m && m->offset == 50);
    krafty_message_destroy(m);

    /* pause: nothing arrives; resume: offset 51 */
    CHECK_OK(krafty_consumer_pause(c, q));
    CHECK(krafty_consumer_poll(c, 500) == NULL);
    CHECK_OK(krafty_consumer_resume(c, q));
    m = poll_one(c, 10);
    CHECK(m && m->offset == 51);
    krafty_message_destroy(m);

    /* async commit of an explicit offset: outcome served by poll, on this thread */
    q->elems[0].offset = 60;
    CHECK_OK(krafty_consumer_commit(c, q, 1));
    double until = now_s() + 10;
    while (commit_cb_calls == 0 && now_s() < until) {
        m = krafty_consumer_poll(c, 100);
        krafty_message_destroy(m);
    }
    CHECK(commit_cb_calls == 1);
    CHECK(commit_cb_err == 0);
    CHECK(commit_cb_offset == 60);
    CHECK_OK(krafty_consumer_committed(c, q));
    CHECK(q->elems[0].offset == 60);

    /* seek to the end: nothing more; assignment lists the one partition */
    CHECK_OK(krafty_consumer_seek(c, TOPIC, 0, KRAFTY_OFFSET_END));
    CHECK(krafty_consumer_poll(c, 300) == NULL);
    krafty_topic_partition_list_t *a = NULL;
    CHECK_OK(krafty_consumer_assignment(c, &a));
    CHECK(a && a->cnt == 1 && a->elems[0].partition == 0 && strcmp(a->elems[0].topic, TOPIC) == 0);
    CHECK(krafty_topic_partition_list_find(a, TOPIC, 0) == &a->elems[0]);
    CHECK(krafty_topic_partition_list_find(a, TOPIC, 1) == NULL);
    krafty_topic_partition_list_destroy(a);

    krafty_topic_partition_list_destroy(q);
    krafty_topic_partition_list_destroy(tp);
    CHECK_OK(krafty_consumer_close(c));
    krafty_consumer_destroy(c);
    krafty_dev_broker_stop(broker);
    PASS();
}
